//! Errors from the real world in the middle of a commit, through the `smstage` binary: a full
//! disk (bytes and inodes), a filesystem remounted read-only, an immutable partition, a journal
//! filesystem that dies (ext4 shutdown). Each ends in an automatic rollback and a clear error,
//! or, where the rollback itself cannot run, a clear instruction followed by a manual
//! `smstage rollback` (or resume) that restores the original.

// cli_flow_tests includes the same helpers: one copy each keeps both files self-contained.
#[allow(clippy::duplicate_mod)]
#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use smstage::check::{self, BackupCheck, CheckOptions};
use smstage::commit::{self, Step};
use smstage::config::AssemblyConfig;
use std::fs;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A filesystem mounted for one test, unmounted (lazily if still busy) when dropped.
pub(crate) struct Mount {
    at: PathBuf,
    args: Vec<String>,
}

impl Mount {
    fn new(args: &[&str], at: &Path) -> Option<Mount> {
        fs::create_dir_all(at).unwrap();
        let m = Mount {
            at: at.to_path_buf(),
            args: args.iter().map(|s| s.to_string()).collect(),
        };
        if m.mount() {
            Some(m)
        } else {
            eprintln!(
                "\n!!!!!!!! WARNING: cannot mount {args:?} at {}: this test is SKIPPED !!!!!!!!\n",
                at.display()
            );
            // Not mounted: nothing to undo.
            std::mem::forget(m);
            None
        }
    }
    pub(crate) fn tmpfs(at: &Path, opts: &str) -> Option<Mount> {
        Mount::new(&["-t", "tmpfs", "-o", opts, "smstage-fault"], at)
    }
    fn mount(&self) -> bool {
        Command::new("mount")
            .args(&self.args)
            .arg(&self.at)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
    fn remount(&self, opts: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(&self.at)
            .status()
            .unwrap();
        assert!(st.success(), "remount,{opts} {}", self.at.display());
    }
    /// Unmount and mount again, as an administrator does after a filesystem failure.
    fn cycle(&self) {
        let st = Command::new("umount").arg(&self.at).status().unwrap();
        assert!(st.success(), "umount {}", self.at.display());
        assert!(self.mount(), "mount again {}", self.at.display());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.at)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.at).status();
        }
    }
}

/// A child process killed if the test fails before it finishes.
struct Running(Option<Child>);

impl Running {
    fn finish(mut self) -> Out {
        self.0.take().unwrap().wait_with_output().unwrap().into()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn gen(out: &Path, args: &[&str]) {
    let mut a = vec!["gen", "--out", out.to_str().unwrap()];
    a.extend_from_slice(args);
    let o = smstage(&a);
    assert_eq!(o.code, 0, "gen: {}", o.all());
}

const SMALL: &[&str] = &[
    "--partitions",
    "4",
    "--tables",
    "2",
    "--columns",
    "6",
    "--rows",
    "100",
];

fn commit_args(cfg: &Path) -> Vec<String> {
    ["commit", "--config", cfg.to_str().unwrap()]
        .iter()
        .map(|s| s.to_string())
        .chain(["--no-backup-check".into(), "--yes".into()])
        .collect()
}

fn commit_cli(cfg: &Path) -> Out {
    let a = commit_args(cfg);
    smstage(&a.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Start a commit that pauses once step `k` is done, and wait until it has paused.
fn commit_paused_at(cfg: &Path, k: usize, pause: &Path) -> Running {
    let child = Command::new(bin())
        .args(commit_args(cfg))
        .env("SMSTAGE_PAUSE_AT_STEP", k.to_string())
        .env("SMSTAGE_PAUSE_FILE", pause)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut run = Running(Some(child));
    let t0 = Instant::now();
    while !pause.exists() {
        if let Some(st) = run.0.as_mut().unwrap().try_wait().unwrap() {
            let out = run.finish();
            panic!(
                "commit ended ({st}) before pausing at step {k}: {}",
                out.all()
            );
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no pause at step {k}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    run
}

/// The steps the commit will run for this configuration (same derivation as the CLI).
fn steps_of(cfg: &Path) -> Vec<Step> {
    let c = AssemblyConfig::load(cfg).unwrap();
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
    commit::steps(&o.plan.unwrap()).unwrap()
}

fn first_exchange(steps: &[Step]) -> usize {
    steps
        .iter()
        .position(|s| matches!(s, Step::Exchange { .. }))
        .unwrap()
}

fn state(cfg: &Path) -> String {
    let st = smstage(&[
        "status",
        "--config",
        cfg.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap_or_default();
    match v["state"].as_str() {
        Some(s) => s.to_string(),
        None => panic!("status: {}", st.all()),
    }
}

/// Names directly in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

/// After a rollback: `data/` is the original to the mtime (docs/journal.md: rollback restores
/// directory times; files are never rewritten), and nothing smstage built is left in `B`.
fn assert_original(b: &Path, original: &[String], keep: &[&str]) {
    assert_eq!(
        manifest(&b.join("data")),
        original,
        "data/ differs from the original"
    );
    let mut expect: Vec<String> = keep.iter().map(|s| s.to_string()).collect();
    expect.extend([".smstage".to_string(), "data".to_string()]);
    expect.sort();
    assert_eq!(names(b), expect, "leftovers in {}", b.display());
}

fn inodes_used(p: &Path) -> u64 {
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
    (st.f_files - st.f_ffree) as u64
}

#[test]
fn enospc_while_copying_a_root_file_rolls_back() {
    // B on a 256 KiB tmpfs and B/data on another tmpfs: root entries are copied (copy mode),
    // and the 580 KB `sym` cannot fit, after the staging dirs, links and par.txt were made.
    let t = tempfile::tempdir().unwrap();
    let g = t.path().join("gen");
    let mut args = SMALL.to_vec();
    args.extend(["--symbols", "100000"]);
    gen(&g, &args);
    assert!(fs::metadata(g.join("data/sym")).unwrap().len() > 400_000);
    let b = t.path().join("B");
    let Some(_mb) = Mount::tmpfs(&b, "size=256k") else {
        return;
    };
    let Some(_md) = Mount::tmpfs(&b.join("data"), "size=16m") else {
        return;
    };
    copy_tree(&g.join("data"), &b.join("data"));
    let cfg = t.path().join("assembly.yaml");
    let g_uri = format!("file://{}", g.canonicalize().unwrap().display());
    let yaml = fs::read_to_string(g.join("assembly.yaml")).unwrap();
    assert!(yaml.contains(&g_uri));
    fs::write(
        &cfg,
        yaml.replace(&g_uri, &format!("file://{}", b.display())),
    )
    .unwrap();
    let original = manifest(&b.join("data"));

    // `check` (which commit runs first) sees it coming: KX's "fit into the first HDB storage
    // tier" (sm-first-tier-space), refused before anything is written.
    let out = commit_cli(&cfg);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.all().contains("sm-first-tier-space"), "{}", out.all());
    assert_eq!(manifest(&b.join("data")), original);
    assert!(!b.join("db").exists());
    assert_eq!(state(&cfg), "none");

    // The same commit with the checks bypassed (the library, given the plan the checks would
    // build): the copy really runs out of space, and the automatic rollback restores it all.
    let c = AssemblyConfig::load(&cfg).unwrap();
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
    let codes: Vec<&str> = o.report.findings.iter().map(|f| f.code).collect();
    assert_eq!(
        codes,
        vec!["sm-first-tier-space"],
        "{:?}",
        o.report.findings
    );
    let plan = smstage::plan::build(&check::plan_input(
        &b,
        o.inventory.as_ref().unwrap(),
        check::hdb_tiers(&c).unwrap(),
    ))
    .unwrap();
    let e = commit::commit(&plan, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("No space left on device"), "{e}");
    assert!(e.contains("sym.smstage-copy"), "{e}");
    assert!(e.contains("commit failed and was rolled back"), "{e}");
    assert_original(&b, &original, &[]);
    assert_eq!(state(&cfg), "rolled_back");
}

#[test]
fn inode_exhaustion_mid_commit_rolls_back() {
    // Same filesystem (hard links: no data written), but every directory and symlink the commit
    // makes needs an inode: leave room for the journal, the staging dirs and two of the four
    // segment links.
    let t = tempfile::tempdir().unwrap();
    let b = t.path().join("B");
    let Some(mb) = Mount::tmpfs(&b, "size=64m") else {
        return;
    };
    gen(&b, SMALL);
    let cfg = b.join("assembly.yaml");
    let original = manifest(&b.join("data"));
    // .smstage, lock, plan.json, journal, staging root, hdb$ (6), then two symlinks.
    mb.remount(&format!("nr_inodes={}", inodes_used(&b) + 8));

    let out = commit_cli(&cfg);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains("No space left on device"),
        "{}",
        out.all()
    );
    assert!(
        out.stderr.contains("symlink /")
            && out.stderr.contains(".db.smstage-staging/recent$/2024.01."),
        "not a segment link: {}",
        out.all()
    );
    assert!(
        out.stderr.contains("rolled back") && out.stderr.contains("back in its original state"),
        "{}",
        out.all()
    );
    assert_original(&b, &original, &["assembly.yaml"]);
    assert_eq!(state(&cfg), "rolled_back");
}

#[test]
fn read_only_remount_mid_commit_then_manual_rollback() {
    // The database on its own tmpfs, smstage's journal on another one (a filesystem with files
    // open for writing cannot be remounted read-only: the journal has to stay writable for the
    // database to go read-only under a running commit).
    let t = tempfile::tempdir().unwrap();
    let b = t.path().join("B");
    let Some(mb) = Mount::tmpfs(&b, "size=64m") else {
        return;
    };
    gen(&b, SMALL);
    let Some(_ms) = Mount::tmpfs(&b.join(".smstage"), "size=4m") else {
        return;
    };
    let cfg = b.join("assembly.yaml");
    let original = manifest(&b.join("data"));
    let k = first_exchange(&steps_of(&cfg));
    let pause = t.path().join("paused");

    // Paused after the first partition moved behind its link (published, half converted).
    let run = commit_paused_at(&cfg, k, &pause);
    assert!(b.join("db/par.txt").exists());
    mb.remount("ro");
    fs::remove_file(&pause).unwrap();
    let out = run.finish();
    assert_eq!(out.code, 1, "{}", out.all());
    let err = &out.stderr;
    assert!(err.contains("Read-only file system"), "{}", out.all());
    assert!(
        err.contains("the rollback failed too") && err.contains("could not complete"),
        "{}",
        out.all()
    );
    let hint = format!(
        "the filesystem is read-only: once it is writable again, run `smstage rollback --config {}`",
        cfg.display()
    );
    assert!(err.contains(&hint), "no clear instruction: {}", out.all());
    assert_eq!(state(&cfg), "rolling_back");

    // While read-only, a rollback is refused before touching anything, and says why.
    let out = smstage(&["rollback", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("read-only filesystem"), "{}", out.all());
    // A commit is refused too: the rollback must finish first.
    let out = commit_cli(&cfg);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("smstage rollback"), "{}", out.all());

    mb.remount("rw");
    let out = smstage(&["rollback", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("original state"), "{}", out.all());
    assert_original(&b, &original, &["assembly.yaml"]);
    assert_eq!(state(&cfg), "rolled_back");
}

#[test]
fn read_only_from_the_start_is_refused_before_any_change() {
    let t = tempfile::tempdir().unwrap();
    let b = t.path().join("B");
    let Some(mb) = Mount::tmpfs(&b, "size=64m") else {
        return;
    };
    gen(&b, SMALL);
    let cfg = b.join("assembly.yaml");
    let original = manifest(&b.join("data"));
    let ro_msg = format!(
        "{} is on a read-only filesystem: nothing was changed",
        b.display()
    );

    // Everything read-only.
    mb.remount("ro");
    let out = commit_cli(&cfg);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains(&ro_msg), "{}", out.all());
    assert_eq!(manifest(&b.join("data")), original);
    assert!(!b.join(".smstage").exists());

    // The journal's directory writable, the database not: still refused before the journal
    // exists (else step 0 would fail, and the rollback's restoring of times with it).
    mb.remount("rw");
    fs::create_dir(b.join(".smstage")).unwrap();
    let Some(_ms) = Mount::tmpfs(&b.join(".smstage"), "size=4m") else {
        return;
    };
    mb.remount("ro");
    let out = commit_cli(&cfg);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains(&ro_msg), "{}", out.all());
    assert_eq!(manifest(&b.join("data")), original);
    assert!(!b.join(".smstage/journal").exists());
    assert_eq!(state(&cfg), "none");
    mb.remount("rw");
}

/// Shut an ext4 filesystem down: every later operation on it fails with EIO, as when its disk
/// dies (EXT4_IOC_SHUTDOWN, what xfstests' `godown` uses; NOLOGFLUSH: nothing more reaches the
/// disk, so only what was fsynced survives).
fn shutdown_ext4(dir: &Path) {
    const EXT4_IOC_SHUTDOWN: libc::c_ulong = 0x8004_587D; // _IOR('X', 125, __u32)
    const EXT4_GOING_FLAGS_NOLOGFLUSH: u32 = 2;
    let f = fs::File::open(dir).unwrap();
    let flags = EXT4_GOING_FLAGS_NOLOGFLUSH;
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), EXT4_IOC_SHUTDOWN as _, &flags) };
    assert_eq!(rc, 0, "ext4 shutdown: {}", std::io::Error::last_os_error());
}

#[test]
fn journal_filesystem_failure_is_fatal_then_the_next_commit_resumes() {
    // The whole base on an ext4 loop filesystem that dies between two steps after publication:
    // the next journal write fails, which is fatal (no rollback: it would need more writes on a
    // filesystem that just failed). After the filesystem is mounted again, `commit` resumes.
    let t = tempfile::tempdir().unwrap();
    let img = t.path().join("disk.img");
    fs::File::create(&img).unwrap().set_len(64 << 20).unwrap();
    let mk = Command::new("mkfs.ext4")
        .args(["-q", "-F"])
        .arg(&img)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mk {
        return eprintln!("\n!!!!!!!! WARNING: no mkfs.ext4: this test is SKIPPED !!!!!!!!\n");
    }
    let b = t.path().join("B");
    let Some(mb) = Mount::new(&["-o", "loop", img.to_str().unwrap()], &b) else {
        return;
    };
    gen(&b, SMALL);
    let cfg = b.join("assembly.yaml");
    let pristine = t.path().join("pristine");
    copy_tree(&b.join("data"), &pristine);
    let k = first_exchange(&steps_of(&cfg));
    let pause = t.path().join("paused");
    // A real database was on disk long before the import; what `gen` just wrote may not be,
    // and the shutdown below drops everything not yet on disk.
    unsafe { libc::sync() };

    let run = commit_paused_at(&cfg, k, &pause);
    shutdown_ext4(&b);
    fs::remove_file(&pause).unwrap();
    let out = run.finish();
    assert_eq!(out.code, 1, "{}", out.all());
    let err = &out.stderr;
    assert!(
        err.contains("writing the journal") && err.contains("Input/output error"),
        "{}",
        out.all()
    );
    assert!(err.contains("fatal"), "{}", out.all());
    assert!(
        !err.contains("step failed") && !err.contains("was rolled back"),
        "a fatal error must not start a rollback: {}",
        out.all()
    );
    let hint = format!(
        "stopped without rolling back (a failed write or fsync is never retried); the device \
         reported an I/O error: once that is fixed, run `smstage commit --config {}` to resume",
        cfg.display()
    );
    assert!(err.contains(&hint), "no clear instruction: {}", out.all());

    mb.cycle();
    assert_eq!(state(&cfg), "in_progress");
    let out = commit_cli(&cfg);
    assert_eq!(out.code, 0, "resume: {}", out.all());
    assert!(out.stderr.contains("resuming"), "{}", out.all());
    assert_eq!(state(&cfg), "committed");
    let out = smstage(&[
        "verify",
        b.join("db").to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--against",
        pristine.to_str().unwrap(),
        "--deep",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
}

/// Clears the immutable flag even if the test fails.
struct Immutable(PathBuf);
impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

#[test]
fn immutable_last_partition_fails_late_and_everything_rolls_back() {
    // An immutable directory cannot be renamed (EPERM, even for root): the last partition's
    // exchange fails after publication and after every other partition moved, so the rollback
    // has the most to undo.
    let b = generated(4, 2, 6, 100);
    let cfg = b.config();
    let last = {
        let mut p: Vec<String> = names(&b.data())
            .into_iter()
            .filter(|n| n.starts_with("20"))
            .collect();
        p.pop().unwrap()
    };
    let target = b.data().join(&last);
    let ok = Command::new("chattr")
        .arg("+i")
        .arg(&target)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        return eprintln!(
            "\n!!!!!!!! WARNING: chattr +i unavailable: this test is SKIPPED !!!!!!!!\n"
        );
    }
    let _guard = Immutable(target.clone());
    let original = manifest(&b.data());

    let out = commit_cli(&cfg);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains("Operation not permitted") && out.stderr.contains(&last),
        "{}",
        out.all()
    );
    assert!(
        out.stderr.contains("commit failed and was rolled back")
            && out.stderr.contains("back in its original state"),
        "{}",
        out.all()
    );
    assert_original(b.path(), &original, &["assembly.yaml"]);
    drop(_guard);
    // Once the cause is gone the import works.
    let out = commit_cli(&cfg);
    assert_eq!(out.code, 0, "{}", out.all());
}
