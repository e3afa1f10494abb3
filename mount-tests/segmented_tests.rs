//! Segmented databases (issue #11) through the `smstage` binary: 2 and 3 segments, one of them
//! on a second filesystem (a tmpfs mounted by the test), checked, viewed, committed and rolled
//! back; every refusal leaves the database unchanged; a crash at every step (and in every
//! rollback step) and kill -9 at random instants keep a root loadable with the complete
//! content, resume equals an uninterrupted run and rollback is byte-identical (root and every
//! segment, mtimes included).

#[allow(clippy::duplicate_mod)]
#[path = "../tests/common/mod.rs"]
mod common;

use crate::commit_fault_tests::Mount;
use common::*;
use smstage::check::{self, BackupCheck, CheckOptions};
use smstage::commit::{self, Step};
use smstage::config::AssemblyConfig;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// A generated segmented database: `seg1` inside the base (a relative `par.txt` line), `seg2`
/// on a tmpfs of its own, `seg3` (if any) outside the base on the same filesystem (absolute
/// lines). Fields drop in order: the tmpfs is unmounted before the temp dir is removed.
struct Seg {
    _fs: Mount,
    _t: tempfile::TempDir,
    t: PathBuf,
    base: PathBuf,
    cfg: String,
    segs: Vec<PathBuf>,
    /// A loadable copy (and the backup): the root, `seg<i>$` copies, a par.txt naming them.
    reference: PathBuf,
}

fn segmented(n: usize, partitions: u32) -> Option<Seg> {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().canonicalize().unwrap();
    let fs2 = Mount::tmpfs(&root.join("fs2"), "size=64m")?;
    let base = root.join("b");
    let mut segs = vec![base.join("seg1"), root.join("fs2/seg2")];
    if n > 2 {
        segs.push(root.join("other/seg3"));
    }
    let mut args: Vec<String> = [
        "gen",
        "--out",
        base.to_str().unwrap(),
        "--partitions",
        &partitions.to_string(),
        "--tables",
        "2",
        "--columns",
        "6",
        "--rows",
        "100",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for s in &segs {
        args.push("--segment-dir".into());
        args.push(s.display().to_string());
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = smstage(&a);
    assert_eq!(o.code, 0, "gen: {}", o.all());
    let reference = root.join("reference");
    copy_tree(&base.join("data"), &reference);
    let mut par = String::new();
    for (i, s) in segs.iter().enumerate() {
        copy_tree(s, &reference.join(format!("seg{}$", i + 1)));
        par.push_str(&format!("seg{}$\n", i + 1));
    }
    fs::write(reference.join("par.txt"), par).unwrap();
    Some(Seg {
        _fs: fs2,
        cfg: base.join("assembly.yaml").display().to_string(),
        t: root,
        _t: t,
        base,
        segs,
        reference,
    })
}

impl Seg {
    /// Every entry of the base and of each segment outside it (`.smstage` and the base's own
    /// line left out: rollback restores neither), with modes, mtimes and content hashes.
    fn state(&self) -> Vec<String> {
        let mut out: Vec<String> = manifest(&self.base)
            .into_iter()
            .filter(|l| !l.starts_with(".smstage") && !l.starts_with(' '))
            .collect();
        for s in self.segs.iter().filter(|s| !s.starts_with(&self.base)) {
            out.extend(
                manifest(s)
                    .into_iter()
                    .map(|l| format!("{}/{l}", s.display())),
            );
        }
        out
    }

    fn run(&self, cmd: &str, extra: &[&str]) -> Out {
        let mut a = vec![cmd, "--config", &self.cfg];
        a.extend_from_slice(extra);
        smstage(&a)
    }

    fn commit(&self) -> Out {
        self.run("commit", &["--no-backup-check", "--yes"])
    }

    /// `verify ROOT --against` the reference copy.
    fn verify(&self, root: &Path) -> Out {
        smstage(&[
            "verify",
            root.to_str().unwrap(),
            "--against",
            self.reference.to_str().unwrap(),
        ])
    }

    /// The root a reader uses right now: the published `db` once it exists, else the
    /// original `data`.
    fn live_root(&self) -> PathBuf {
        if self.base.join("db").exists() {
            self.base.join("db")
        } else {
            self.base.join("data")
        }
    }

    fn status(&self) -> serde_json::Value {
        let o = self.run("status", &["--format", "json"]);
        serde_json::from_str(&o.stdout).unwrap_or_else(|_| panic!("status: {}", o.all()))
    }

    fn waves(&self) -> Vec<Vec<Step>> {
        let c = AssemblyConfig::load(Path::new(&self.cfg)).unwrap();
        let o = check::run(
            &c,
            &CheckOptions {
                backup: BackupCheck::Skip,
                deep: false,
                s3: Default::default(),
                keep_object_files: false,
            },
        )
        .unwrap();
        assert!(o.report.ok, "check failed: {:?}", o.report.findings);
        commit::waves(&o.plan.unwrap()).unwrap()
    }
}

fn without_mtimes(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l[..l.find(" mtime=").unwrap_or(l.len())].to_string())
        .collect()
}

fn codes(out: &Out) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.all()));
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

/// Paths, kinds, sizes, hashes and link targets under `dir` (no modes, no times: a view and a
/// committed tree legitimately differ there).
fn listing(dir: &Path) -> Vec<String> {
    manifest(dir)
        .into_iter()
        .map(|l| l[..l.find(" mode=").unwrap_or(l.len())].to_string())
        .collect()
}

#[test]
fn two_and_three_segments_check_view_commit_rollback() {
    for n in [2, 3] {
        let Some(s) = segmented(n, 7) else { return };
        let original = s.state();
        let backup = s.reference.to_str().unwrap().to_string();

        let out = s.run("check", &["--backup", &backup, "--format", "json"]);
        assert_eq!(out.code, 0, "{n} segments: {}", out.all());
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let other_fs: Vec<&serde_json::Value> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"] == "segment-other-filesystem")
            .collect();
        assert_eq!(other_fs.len(), 1, "{}", out.stdout);
        assert_eq!(other_fs[0]["tier"], "seg2");
        assert_eq!(other_fs[0]["severity"], "warning");

        let out = s.run("plan", &["--format", "json"]);
        assert_eq!(out.code, 0, "{}", out.all());
        let plan: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let expect_par: String = (1..=n).map(|i| format!("seg{i}$\n")).collect();
        assert_eq!(plan["par_txt"], expect_par.as_str());
        assert_eq!(plan["stores"].as_array().unwrap().len(), n);
        assert_eq!(plan["stores"][0]["link"], "../seg1");
        assert_eq!(plan["stores"][1]["link"], s.segs[1].to_str().unwrap());

        // The view loads and equals the original; it prints the one detail that differs.
        let mnt = s.t.join("view");
        fs::create_dir_all(&mnt).unwrap();
        let out = s.run("mount", &[mnt.to_str().unwrap(), "--background"]);
        assert_eq!(out.code, 0, "{}", out.all());
        let guard = Unmount(mnt.clone());
        assert!(
            out.stderr.contains("stores/seg2") && out.stderr.contains("symlink"),
            "mount does not say how the view differs: {}",
            out.stderr
        );
        let v = s.verify(&mnt.join("db"));
        assert_eq!(v.code, 0, "view of {n} segments: {}", v.all());
        assert_eq!(
            fs::read_to_string(mnt.join("db/par.txt")).unwrap(),
            expect_par
        );
        assert!(fs::symlink_metadata(mnt.join("stores/seg2"))
            .unwrap()
            .is_dir());
        let view_db = listing(&mnt.join("db"));
        let view_stores: Vec<Vec<String>> = (1..=n)
            .map(|i| listing(&mnt.join(format!("stores/seg{i}"))))
            .collect();
        drop(guard);
        assert_eq!(s.state(), original, "mount changed the database");

        let out = s.run("commit", &["--backup", &backup, "--yes"]);
        assert_eq!(out.code, 0, "{}", out.all());
        let v = s.verify(&s.base.join("db"));
        assert_eq!(v.code, 0, "committed root of {n} segments: {}", v.all());
        // The committed tree is the view's, the anchors being symlinks to the stores.
        assert_eq!(listing(&s.base.join("db")), view_db);
        for (i, seg) in s.segs.iter().enumerate() {
            let anchor = s.base.join(format!("stores/seg{}", i + 1));
            let target = fs::read_link(&anchor).unwrap();
            assert_eq!(
                s.base.join("stores").join(&target).canonicalize().unwrap(),
                *seg
            );
            assert_eq!(listing(seg), view_stores[i], "store of seg{}", i + 1);
            // The data stayed on the segment's filesystem.
            let dev = fs::metadata(seg).unwrap().dev();
            for e in fs::read_dir(seg.join("versions")).unwrap() {
                let p = e.unwrap().path().join("1");
                assert_eq!(fs::metadata(&p).unwrap().dev(), dev, "{}", p.display());
            }
        }
        assert_ne!(
            fs::metadata(&s.segs[1]).unwrap().dev(),
            fs::metadata(&s.base).unwrap().dev()
        );
        let root_left: Vec<String> = fs::read_dir(s.base.join("data"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            root_left,
            ["par.txt"],
            "the original root keeps its par.txt only"
        );
        assert_eq!(s.status()["state"], "committed");

        let out = s.run("rollback", &[]);
        assert_eq!(out.code, 0, "{}", out.all());
        assert_eq!(s.state(), original, "rollback of {n} segments");
        assert_eq!(s.verify(&s.base.join("data")).code, 0);
    }
}

/// Each refusal of issue #11: `check`, `plan` and `commit` exit 1 with the finding, and the
/// database (root and segments) is unchanged.
#[test]
fn each_refusal_leaves_the_database_unchanged() {
    type Change = fn(&Seg);
    let cases: Vec<(&str, Change, &str)> = vec![
        (
            "a par.txt segment that is no tier's store",
            |s| {
                let y = fs::read_to_string(&s.cfg).unwrap();
                let block = format!(
                    "    - name: seg2\n      mount: hdb\n      store: file://{}\n",
                    s.segs[1].display()
                );
                assert!(y.contains(&block), "{y}");
                fs::write(&s.cfg, y.replace(&block, "")).unwrap();
            },
            "segment-no-tier",
        ),
        (
            "a local tier whose store is not in par.txt",
            |s| {
                let par = s.base.join("data/par.txt");
                let text = fs::read_to_string(&par).unwrap();
                let kept: String = text.lines().take(1).map(|l| format!("{l}\n")).collect();
                fs::write(&par, kept).unwrap();
            },
            "tier-not-segment",
        ),
        (
            "a par.txt segment that does not exist",
            |s| {
                let par = s.base.join("data/par.txt");
                let text = fs::read_to_string(&par).unwrap();
                fs::write(&par, format!("{text}../nowhere\n")).unwrap();
            },
            "segment-missing",
        ),
        (
            "a file in a segment",
            |s| fs::write(s.segs[0].join("notes.txt"), b"x").unwrap(),
            "segment-not-partition",
        ),
        (
            "a date in two segments",
            |s| {
                let p = first(&s.segs[0]);
                copy_tree(&p, &s.segs[1].join(p.file_name().unwrap()));
            },
            "tier-date-overlap",
        ),
        (
            "a partition directory in the root beside par.txt",
            |s| {
                let p = first(&s.segs[1]);
                copy_tree(&p, &s.base.join("data/2023.12.29"));
            },
            "segment-root-partition",
        ),
        (
            "a column file missing in the second segment",
            |s| {
                let p = first(&s.segs[1]);
                fs::remove_file(p.join("trade/price")).unwrap();
            },
            "load-column-missing",
        ),
        (
            "a backup without the copy of a segment",
            |s| fs::remove_dir_all(s.reference.join("seg2$")).unwrap(),
            "backup-missing",
        ),
        (
            "a backup whose copy of a segment lacks a partition",
            |s| fs::remove_dir_all(first(&s.reference.join("seg2$"))).unwrap(),
            "backup-mismatch",
        ),
        (
            "stores/ already in the base",
            |s| fs::create_dir(s.base.join("stores")).unwrap(),
            "layout-name-clash",
        ),
    ];
    for (what, change, code) in cases {
        let Some(s) = segmented(2, 4) else { return };
        change(&s);
        let before = s.state();
        let backup = s.reference.to_str().unwrap().to_string();
        let out = s.run("check", &["--backup", &backup, "--format", "json"]);
        assert_eq!(out.code, 1, "{what}: {}", out.all());
        let found = codes(&out);
        assert!(
            found.iter().any(|c| c == code),
            "{what}: {code} not in {found:?}"
        );
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let f = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == code)
            .unwrap();
        assert!(
            f["path"].is_string() || f["tier"].is_string(),
            "{what}: the finding names no place: {f}"
        );
        if !code.starts_with("backup-") {
            assert_eq!(s.run("plan", &[]).code, 1, "{what}: plan");
        }
        let out = s.run("commit", &["--backup", &backup, "--yes"]);
        assert_eq!(out.code, 1, "{what}: commit: {}", out.all());
        assert_eq!(s.state(), before, "{what}: the database changed");
        assert!(!s.base.join("db").exists(), "{what}");
    }
}

/// The first entry of `dir` by name (a partition of a segment).
fn first(dir: &Path) -> PathBuf {
    let mut d: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    d.sort();
    d.remove(0)
}

fn group_start(waves: &[Vec<Step>], k: usize) -> usize {
    let mut start = 0;
    for w in waves {
        if k < start + w.len() {
            return start + (k - start) / commit::MAX_BATCH_STEPS * commit::MAX_BATCH_STEPS;
        }
        start += w.len();
    }
    panic!("step {k} is in no wave");
}

fn with_env(s: &Seg, args: &[&str], env: &[(&str, String)]) -> Out {
    let mut c = Command::new(bin());
    c.arg(args[0]).args(["--config", &s.cfg]).args(&args[1..]);
    for (k, v) in env {
        c.env(k, v);
    }
    run(c)
}

/// The crash matrix of the simple scenario, on two segments (one on another filesystem):
/// crash before and after every step's action; the live root loads with the complete content;
/// resume equals the uninterrupted commit; rollback (from the crash, and after a crash in
/// every step of a rollback) is byte-identical for the root and every segment.
#[test]
fn segmented_crash_at_every_step_then_resume_or_roll_back() {
    let Some(s) = segmented(2, 3) else { return };
    let original = s.state();
    let waves = s.waves();
    let all: Vec<Step> = waves.concat();
    let n = all.len();
    assert!(
        all.iter()
            .any(|st| matches!(st, Step::Exchange { a, .. } if a.starts_with("stores/seg2/"))),
        "no exchange inside the second segment: {all:?}"
    );
    let out = s.commit();
    assert_eq!(out.code, 0, "{}", out.all());
    let committed = without_mtimes(&s.state());
    assert_eq!(s.run("rollback", &[]).code, 0);
    assert_eq!(s.state(), original);

    for (k, step) in all.iter().enumerate() {
        for at in ["intent", "action"] {
            let what = format!("crash at {k}:{at} ({})", step.label());
            let crash = || {
                let o = with_env(
                    &s,
                    &["commit", "--no-backup-check", "--yes"],
                    &[
                        ("SMSTAGE_CRASH_AT", format!("{k}:{at}")),
                        ("SMSTAGE_BARRIER", "dirs".into()),
                    ],
                );
                assert_eq!(o.code, commit::CRASH_EXIT_CODE, "{what}: {}", o.all());
            };
            crash();
            let v = s.verify(&s.live_root());
            assert_eq!(
                v.code,
                0,
                "{what}: the live root does not load: {}",
                v.all()
            );
            let st = s.status();
            assert_eq!(st["state"], "in_progress", "{what}");
            assert_eq!(st["steps_done"], group_start(&waves, k), "{what}");
            let out = s.commit();
            assert_eq!(out.code, 0, "{what}: resume: {}", out.all());
            assert_eq!(
                without_mtimes(&s.state()),
                committed,
                "{what}: resume differs from an uninterrupted commit"
            );
            assert_eq!(s.verify(&s.base.join("db")).code, 0, "{what}");
            assert_eq!(s.run("rollback", &[]).code, 0, "{what}");
            assert_eq!(s.state(), original, "{what}: rollback after resume");

            crash();
            let out = s.run("rollback", &[]);
            assert_eq!(out.code, 0, "{what}: rollback: {}", out.all());
            assert_eq!(s.state(), original, "{what}: rollback after the crash");
        }
    }

    // A crash in every step of the rollback of a completed commit: a root still loads, and the
    // next rollback finishes byte-identical.
    for k in 0..n {
        assert_eq!(s.commit().code, 0);
        let o = with_env(
            &s,
            &["rollback"],
            &[("SMSTAGE_CRASH_IN_ROLLBACK", k.to_string())],
        );
        assert_eq!(
            o.code,
            commit::CRASH_EXIT_CODE,
            "rollback crash {k}: {}",
            o.all()
        );
        let v = s.verify(&s.live_root());
        assert_eq!(
            v.code,
            0,
            "rollback crash at {k}: no loadable root: {}",
            v.all()
        );
        assert_eq!(s.run("rollback", &[]).code, 0, "rollback crash {k}");
        assert_eq!(s.state(), original, "rollback crash at {k}");
    }
}

/// Small deterministic PRNG (splitmix64) for the kill instants.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E3779B97F4A7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
    z ^ (z >> 31)
}

#[test]
fn segmented_kill_9_at_random_instants_then_resume_or_roll_back() {
    let Some(s) = segmented(3, 60) else { return };
    let original = s.state();
    let t0 = Instant::now();
    assert_eq!(s.commit().code, 0);
    let full = t0.elapsed();
    let committed = without_mtimes(&s.state());
    assert_eq!(s.run("rollback", &[]).code, 0);
    assert_eq!(s.state(), original);

    let mut seed = 0x5e9_u64;
    let mut scale = 1.0_f64;
    let (mut landed, mut attempts) = (0, 0);
    while landed < 12 {
        attempts += 1;
        assert!(
            attempts <= 60,
            "only {landed} of 12 kills landed in 60 attempts"
        );
        let frac = (splitmix(&mut seed) % 1000) as f64 / 1000.0;
        let delay = full.mul_f64(frac * scale);
        let mut child = Command::new(bin())
            .args(["commit", "--config", &s.cfg, "--no-backup-check", "--yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let finished = child.try_wait().unwrap().is_some();
        // SAFETY: plain kill(2) of our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        if finished {
            scale *= 0.7;
            assert_eq!(s.run("rollback", &[]).code, 0);
            assert_eq!(s.state(), original);
            continue;
        }
        landed += 1;
        let i = landed;
        let v = s.verify(&s.live_root());
        assert_eq!(
            v.code,
            0,
            "kill #{i} at {delay:?}: root incomplete: {}",
            v.all()
        );
        if i % 2 == 0 {
            let out = s.commit();
            assert_eq!(out.code, 0, "resume after kill #{i}: {}", out.all());
            assert_eq!(without_mtimes(&s.state()), committed, "kill #{i}: resumed");
        }
        let state = s.status()["state"].as_str().unwrap_or_default().to_string();
        if state != "none" {
            let out = s.run("rollback", &[]);
            assert_eq!(out.code, 0, "rollback after kill #{i}: {}", out.all());
        }
        assert_eq!(s.state(), original, "kill #{i} at {delay:?}: rollback");
    }
}
