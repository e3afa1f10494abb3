//! Commit tests on real directories: crash at every step (in a child process) then resume or
//! roll back, injected failures, locks, already-committed and foreign journals, copy mode.

use sha2::{Digest, Sha256};
use smstage::commit::{
    self, commit, rollback, status, CommitError, CommitOptions, Fault, RollbackOptions, State,
};
use smstage::plan::{
    build, Node, NodeKind, Plan, PlanInput, PlanPartition, PlanTier, RootEntry, TierInput,
    TierKind, PLAN_VERSION,
};
use std::collections::BTreeMap;
use std::fs::{self, File, FileTimes};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

// ---------------------------------------------------------------------------------------------
// A small database and its plan (built by hand per docs/sm-layout.md until plan::build lands).

fn write(p: &Path, bytes: &[u8]) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, bytes).unwrap();
}

/// B/data with two partitions, an enumeration domain, a root splayed table with a nested
/// directory, a serialized root file; distinct modes and fixed mtimes everywhere.
fn make_db(b: &Path) {
    let d = b.join("data");
    write(&d.join("sym"), b"\xff\x01sym-domain-bytes");
    for (date, n) in [("2024.01.02", 3u8), ("2024.01.03", 5u8)] {
        write(&d.join(date).join("trade/.d"), b"trade-d");
        write(
            &d.join(date).join("trade/price"),
            &vec![n; 100 + n as usize],
        );
        write(&d.join(date).join("trade/size"), &[n + 1; 40]);
        write(&d.join(date).join("quote/.d"), b"quote-d");
        write(&d.join(date).join("quote/bid"), &[n + 2; 64]);
    }
    write(&d.join("splay/.d"), b"splay-d");
    write(&d.join("splay/a"), b"column a");
    write(&d.join("splay/nested/x"), b"nested x");
    write(&d.join("widetable"), b"serialized table");
    fs::set_permissions(d.join("widetable"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::set_permissions(d.join("splay/nested"), fs::Permissions::from_mode(0o750)).unwrap();
    fix_times(&d);
}

/// Fixed, distinct mtimes for every entry (children first so directories keep theirs).
fn fix_times(root: &Path) {
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let entries: Vec<_> = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .contents_first(true)
        .into_iter()
        .map(|e| e.unwrap())
        .collect();
    for (i, e) in entries.iter().enumerate() {
        if e.path_is_symlink() {
            continue;
        }
        let t = base + Duration::from_millis(1000 * i as u64 + 123);
        let f = File::open(e.path()).unwrap();
        f.set_times(FileTimes::new().set_modified(t).set_accessed(t))
            .unwrap();
    }
}

fn is_date(name: &str) -> bool {
    name.len() == 10
        && name.chars().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '.'
            } else {
                c.is_ascii_digit()
            }
        })
}

fn node(path: &str, kind: NodeKind) -> Node {
    Node {
        path: path.into(),
        kind,
    }
}

/// The plan for a pristine `B/data` from the real builder (one local tier `hdb`).
fn make_plan(b: &Path) -> Plan {
    make_plan_with(b, &[])
}

/// Same, with object tiers `(name, store, dates)` after the local one.
fn make_plan_with(b: &Path, objects: &[(&str, &str, &[&str])]) -> Plan {
    let mut input = PlanInput {
        base: b.to_path_buf(),
        root_entries: vec![],
        tiers: vec![TierInput {
            name: "hdb".into(),
            kind: TierKind::Local,
            store: format!("file://{}/data", b.display()),
        }],
        local_partitions: vec![],
        object_partitions: vec![],
    };
    let mut names: Vec<_> = fs::read_dir(b.join("data"))
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let name = e.file_name().to_string_lossy().into_owned();
        if is_date(&name) {
            input.local_partitions.push(name);
        } else {
            input.root_entries.push(RootEntry {
                name,
                is_dir: e.file_type().unwrap().is_dir(),
            });
        }
    }
    for (name, store, dates) in objects {
        input.tiers.push(TierInput {
            name: name.to_string(),
            kind: TierKind::Object,
            store: store.to_string(),
        });
        for d in *dates {
            input
                .object_partitions
                .push((d.to_string(), name.to_string()));
        }
    }
    build(&input).unwrap()
}

/// The plan written by hand from docs/sm-layout.md: the builder must agree with the contract.
fn hand_plan(b: &Path) -> Plan {
    let mut names: Vec<(String, bool)> = fs::read_dir(b.join("data"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.file_type().unwrap().is_dir(),
            )
        })
        .collect();
    names.sort();
    let mut nodes = vec![
        node("data", NodeKind::Dir),
        node("data/versions", NodeKind::Dir),
        node("db", NodeKind::Dir),
        node("db/hdb$", NodeKind::Dir),
        node(
            "db/par.txt",
            NodeKind::File {
                contents: "hdb$\n".into(),
            },
        ),
    ];
    let mut partitions = vec![];
    for (n, is_dir) in &names {
        if is_date(n) {
            nodes.push(node(&format!("data/versions/{n}"), NodeKind::Dir));
            nodes.push(node(
                &format!("data/versions/{n}/1"),
                NodeKind::Moved {
                    from: format!("data/{n}"),
                    is_dir: true,
                },
            ));
            nodes.push(node(
                &format!("db/hdb$/{n}"),
                NodeKind::Symlink {
                    target: format!("../../data/versions/{n}/1"),
                },
            ));
            partitions.push(PlanPartition {
                date: n.clone(),
                tier: "hdb".into(),
                from: format!("data/{n}"),
                to: Some(format!("data/versions/{n}/1")),
                link: Some(format!("db/hdb$/{n}")),
            });
        } else {
            nodes.push(node(
                &format!("db/{n}"),
                NodeKind::Moved {
                    from: format!("data/{n}"),
                    is_dir: *is_dir,
                },
            ));
        }
    }
    nodes.sort_by(|a, b| a.path.cmp(&b.path));
    Plan {
        version: PLAN_VERSION,
        base: b.to_path_buf(),
        source: "data".into(),
        root: "db".into(),
        par_txt: "hdb$\n".into(),
        tiers: vec![PlanTier {
            name: "hdb".into(),
            kind: TierKind::Local,
            par_entry: "hdb$".into(),
            store: format!("file://{}/data", b.display()),
            partitions: partitions.len(),
        }],
        partitions,
        nodes,
        stores: Vec::new(),
        remedies: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Manifests.

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    kind: char,
    mode: u32,
    size: u64,
    hash: String,
    target: String,
    mtime: Option<(i64, i64)>,
}

fn sha(p: &Path) -> String {
    let h = Sha256::digest(fs::read(p).unwrap());
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every entry under B except B/.smstage: kind, mode, size, content hash, link target, mtime
/// (files and directories; a symlink's own mtime is not part of what we preserve).
fn manifest(b: &Path) -> BTreeMap<String, Entry> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    let walker = walkdir::WalkDir::new(b)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !(e.depth() == 1 && e.file_name() == ".smstage"));
    for e in walker {
        let e = e.unwrap();
        let md = e.path().symlink_metadata().unwrap();
        let rel = e
            .path()
            .strip_prefix(b)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let ft = md.file_type();
        let entry = Entry {
            kind: if ft.is_symlink() {
                'l'
            } else if ft.is_dir() {
                'd'
            } else {
                'f'
            },
            mode: md.mode(),
            size: if ft.is_file() { md.len() } else { 0 },
            hash: if ft.is_file() {
                sha(e.path())
            } else {
                String::new()
            },
            target: if ft.is_symlink() {
                fs::read_link(e.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            } else {
                String::new()
            },
            mtime: (!ft.is_symlink()).then(|| (md.mtime(), md.mtime_nsec())),
        };
        out.insert(rel, entry);
    }
    out
}

fn without_mtimes(m: &BTreeMap<String, Entry>) -> BTreeMap<String, Entry> {
    m.iter()
        .map(|(k, v)| {
            let mut v = v.clone();
            v.mtime = None;
            (k.clone(), v)
        })
        .collect()
}

/// What q would load: files reachable from the root, following symlinks, keyed by their
/// database path (`<date>/<table>/<col>` for partitions, `<name>` for root entries). Uses the
/// published root `B/db` (par.txt + segment links) when it exists, `B/data` otherwise.
fn logical(b: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let add_tree = |dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>| {
        for e in walkdir::WalkDir::new(dir).follow_links(true) {
            let e = e.unwrap_or_else(|err| panic!("unresolvable entry under {dir:?}: {err}"));
            if e.file_type().is_file() {
                let rel = e
                    .path()
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let key = if rel.is_empty() {
                    prefix.to_string()
                } else {
                    format!("{prefix}/{rel}")
                };
                out.insert(key, sha(e.path()));
            }
        }
    };
    let db = b.join("db");
    if db.exists() {
        let par = fs::read_to_string(db.join("par.txt")).unwrap();
        for seg in par.lines() {
            for e in fs::read_dir(db.join(seg)).unwrap() {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                assert!(is_date(&name), "stray entry {name} in segment {seg}");
                add_tree(&e.path(), &name, &mut out);
            }
        }
        for e in fs::read_dir(&db).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name != "par.txt" && !name.ends_with('$') {
                add_tree(&db.join(&name), &name, &mut out);
            }
        }
    } else {
        for e in fs::read_dir(b.join("data")).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            add_tree(&b.join("data").join(&name), &name, &mut out);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Child processes: the crash must kill a real process mid-commit.

fn fault_arg(f: Fault) -> String {
    match f {
        Fault::CrashAfterIntent(k) => format!("intent:{k}"),
        Fault::CrashAfterAction(k) => format!("action:{k}"),
        Fault::FailAt(k) => format!("fail:{k}"),
        Fault::CrashInRollback(k) => format!("rollback:{k}"),
    }
}

fn parse_fault(s: &str) -> Fault {
    let (w, k) = s.split_once(':').unwrap();
    let k: usize = k.parse().unwrap();
    match w {
        "intent" => Fault::CrashAfterIntent(k),
        "action" => Fault::CrashAfterAction(k),
        "fail" => Fault::FailAt(k),
        _ => Fault::CrashInRollback(k),
    }
}

/// Run `what` (commit | rollback | hold-lock) on `b` in a child process; returns its status.
fn child(what: &str, b: &Path, fault: Option<Fault>, copy: bool) -> std::process::Child {
    child_with(what, b, fault, copy, &[])
}

/// [`child`] with extra environment variables (e.g. the barrier mode).
fn child_with(
    what: &str,
    b: &Path,
    fault: Option<Fault>,
    copy: bool,
    env: &[(&str, &str)],
) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "commit_tests::child_entry",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("SMSTAGE_TEST_CHILD", what)
    .env("SMSTAGE_TEST_BASE", b)
    .env("SMSTAGE_TEST_COPY", if copy { "1" } else { "0" })
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .envs(env.iter().copied());
    if let Some(f) = fault {
        cmd.env("SMSTAGE_TEST_FAULT", fault_arg(f));
    }
    cmd.spawn().unwrap()
}

fn run_child(what: &str, b: &Path, fault: Option<Fault>, copy: bool) -> i32 {
    child(what, b, fault, copy)
        .wait()
        .unwrap()
        .code()
        .unwrap_or(-1)
}

#[test]
#[ignore = "helper: runs only as a child process of the commit tests"]
fn child_entry() {
    let Ok(what) = std::env::var("SMSTAGE_TEST_CHILD") else {
        return;
    };
    let b = PathBuf::from(std::env::var("SMSTAGE_TEST_BASE").unwrap());
    let fault = std::env::var("SMSTAGE_TEST_FAULT")
        .ok()
        .map(|s| parse_fault(&s));
    let copy = std::env::var("SMSTAGE_TEST_COPY").as_deref() == Ok("1");
    match what.as_str() {
        "commit" => {
            let opts = CommitOptions {
                force_copy: copy,
                fault,
                ..Default::default()
            };
            let r = commit(&make_plan(&b), &opts);
            std::process::exit(if r.is_ok() { 0 } else { 1 });
        }
        "rollback" => {
            let opts = RollbackOptions {
                fault,
                ..Default::default()
            };
            let r = rollback(&b, &opts);
            std::process::exit(if r.is_ok() { 0 } else { 1 });
        }
        "hold-lock" => {
            use std::os::unix::io::AsRawFd;
            let sm = b.join(".smstage");
            fs::create_dir_all(&sm).unwrap();
            let f = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(sm.join("lock"))
                .unwrap();
            // SAFETY: flock on our open fd.
            assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
            fs::write(
                sm.join("lock"),
                format!("{} testhost 1\n", std::process::id()),
            )
            .unwrap();
            std::thread::sleep(Duration::from_secs(30));
        }
        other => panic!("unknown child mode {other}"),
    }
}

// ---------------------------------------------------------------------------------------------

/// A fresh database in a temp dir. The big matrices run on tmpfs when there is one (fsync is
/// free there, which keeps them fast); `fresh_on_disk` keeps the real-filesystem coverage.
fn fresh() -> (tempfile::TempDir, PathBuf) {
    let shm = Path::new("/dev/shm");
    let t = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap_or_else(|_| tempfile::tempdir().unwrap())
    } else {
        tempfile::tempdir().unwrap()
    };
    let b = t.path().join("B");
    fs::create_dir(&b).unwrap();
    make_db(&b);
    (t, b)
}

fn fresh_on_disk() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let b = t.path().join("B");
    fs::create_dir(&b).unwrap();
    make_db(&b);
    (t, b)
}

fn n_steps(b: &Path) -> usize {
    commit::steps(&make_plan(b)).unwrap().len()
}

/// First step of the group (a wave, or a chunk of one) that step `k` runs in: a crash anywhere
/// in the group leaves the steps before it done and the group's own steps pending.
fn group_start(waves: &[Vec<commit::Step>], k: usize) -> usize {
    let mut start = 0;
    for w in waves {
        if k < start + w.len() {
            return start + (k - start) / commit::MAX_BATCH_STEPS * commit::MAX_BATCH_STEPS;
        }
        start += w.len();
    }
    panic!("step {k} is in no wave");
}

/// Reference results: the original manifest and an uninterrupted commit's.
fn reference(copy: bool) -> (BTreeMap<String, Entry>, BTreeMap<String, Entry>) {
    let (_t, b) = fresh();
    let original = manifest(&b);
    let opts = CommitOptions {
        force_copy: copy,
        ..Default::default()
    };
    let r = commit(&make_plan(&b), &opts).unwrap();
    assert_eq!(r.copy_mode, copy);
    (original, manifest(&b))
}

#[test]
fn uninterrupted_commit_renders_the_plan_and_keeps_data() {
    let (_t, b) = fresh_on_disk();
    let original = manifest(&b);
    let before = logical(&b);
    let plan = make_plan(&b);
    let r = commit(&plan, &CommitOptions::default()).unwrap();
    assert!(!r.already_committed && !r.resumed && !r.copy_mode);
    assert_eq!(r.steps_run, r.steps_total);
    let after = manifest(&b);
    // Exactly the plan's nodes plus the moved subtrees: nothing else.
    let mut expected: Vec<String> = Vec::new();
    for n in &plan.nodes {
        expected.push(n.path.clone());
        if let NodeKind::Moved { from, is_dir: true } = &n.kind {
            for k in original.keys() {
                if let Some(rest) = k.strip_prefix(&format!("{from}/")) {
                    expected.push(format!("{}/{rest}", n.path));
                }
            }
        }
    }
    expected.sort();
    assert_eq!(after.keys().cloned().collect::<Vec<_>>(), expected);
    assert_eq!(fs::read_to_string(b.join("db/par.txt")).unwrap(), "hdb$\n");
    assert_eq!(
        fs::read_link(b.join("db/hdb$/2024.01.02")).unwrap(),
        Path::new("../../data/versions/2024.01.02/1")
    );
    // Moved entries keep contents, modes and mtimes.
    for n in &plan.nodes {
        if let NodeKind::Moved { from, .. } = &n.kind {
            for (k, v) in &original {
                if k == from || k.starts_with(&format!("{from}/")) {
                    let moved = format!("{}{}", n.path, &k[from.len()..]);
                    assert_eq!(after.get(&moved), Some(v), "{moved} differs from {k}");
                }
            }
        }
    }
    assert_eq!(logical(&b), before);
    let s = status(&b).unwrap();
    assert_eq!(s.state, State::Committed);
    assert_eq!(s.steps_done, s.steps_total);
    assert_eq!(s.lock, None);
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["state"], "committed");
    assert_eq!(json["steps_total"], s.steps_total);
    assert!(json["lock"].is_null());
    assert!(json["journal"]
        .as_str()
        .unwrap()
        .ends_with(".smstage/journal"));

    // Rollback of a completed commit restores the original exactly, mtimes included.
    let rb = rollback(&b, &RollbackOptions::default()).unwrap();
    assert_eq!(rb.steps_undone, r.steps_total);
    assert_eq!(manifest(&b), original);
    assert_eq!(status(&b).unwrap().state, State::RolledBack);
    assert!(
        rollback(&b, &RollbackOptions::default())
            .unwrap()
            .already_rolled_back
    );
    // After a rollback, a new commit starts afresh.
    let again = commit(&make_plan(&b), &CommitOptions::default()).unwrap();
    assert!(!again.resumed && !again.already_committed);
    assert_eq!(without_mtimes(&manifest(&b)), without_mtimes(&after));
}

/// Crash at both points of every step `only` selects, then resume (equals an uninterrupted
/// commit) or roll back (equals the original, mtimes included).
fn crash_matrix(copy: bool, only: impl Fn(&commit::Step) -> bool) {
    let (original, committed) = reference(copy);
    let (_t0, b0) = fresh();
    let waves = commit::waves(&make_plan(&b0)).unwrap();
    let all = waves.concat();
    let n = all.len();
    assert!(
        waves.iter().any(|w| w.len() > 1),
        "no wave of several steps"
    );
    let logical_original = logical(&b0);
    assert!(n > 15, "only {n} steps");
    for k in (0..n).filter(|&k| only(&all[k])) {
        for fault in [Fault::CrashAfterIntent(k), Fault::CrashAfterAction(k)] {
            // Crash, check the database still loads, then resume.
            let (_t, b) = fresh();
            // The plan is made from the pristine tree; resume uses the same plan.
            let plan = make_plan(&b);
            // Both barriers: directory fsyncs in the crashing run, syncfs (the default here) in
            // the resumed one.
            let code = child_with(
                "commit",
                &b,
                Some(fault),
                copy,
                &[("SMSTAGE_BARRIER", "dirs")],
            )
            .wait()
            .unwrap()
            .code()
            .unwrap_or(-1);
            assert_eq!(code, commit::CRASH_EXIT_CODE, "{fault:?}");
            assert_eq!(
                logical(&b),
                logical_original,
                "not loadable after {fault:?}"
            );
            let s = status(&b).unwrap();
            assert_eq!(s.state, State::InProgress, "{fault:?}");
            assert_eq!(s.lock.as_ref().map(|l| l.alive), Some(false), "{fault:?}");
            let expect_done = group_start(&waves, k);
            assert_eq!(s.steps_done, expect_done, "{fault:?}");
            let opts = CommitOptions {
                force_copy: copy,
                ..Default::default()
            };
            let r = commit(&plan, &opts).unwrap();
            assert!(r.resumed, "{fault:?}");
            assert_eq!(r.steps_run, n - expect_done, "{fault:?}");
            assert_eq!(
                without_mtimes(&manifest(&b)),
                without_mtimes(&committed),
                "resume after {fault:?} differs from an uninterrupted commit"
            );
            assert_eq!(logical(&b), logical_original);

            // Same crash point, then roll back: the original, mtimes included.
            let (_t2, b2) = fresh();
            assert_eq!(
                run_child("commit", &b2, Some(fault), copy),
                commit::CRASH_EXIT_CODE
            );
            let rb = rollback(&b2, &RollbackOptions::default()).unwrap();
            assert!(!rb.already_rolled_back);
            assert_eq!(manifest(&b2), original, "rollback after {fault:?}");
        }
    }
}

#[test]
fn crash_after_every_step_then_resume_or_rollback() {
    crash_matrix(false, |_| true);
}

#[test]
fn crash_in_every_copying_step_in_copy_mode() {
    // Only the steps whose behaviour depends on the mode (the rest is covered above), to keep
    // the test fast: every copy is fsynced and hashed.
    crash_matrix(true, |s| {
        matches!(
            s,
            commit::Step::Replicate { .. } | commit::Step::RemoveTree { .. }
        )
    });
}

/// Undo the effect of `step` on disk by hand, as if a power cut had kept it from reaching the
/// disk while other steps of its wave did (the barrier had not run yet).
fn lose(b: &Path, step: &commit::Step) {
    use commit::Step::*;
    let p = |r: &str| b.join(r);
    match step {
        Mkdir { path } => fs::remove_dir(p(path)).unwrap(),
        Symlink { path, .. } | WriteFileAtomic { path, .. } => fs::remove_file(p(path)).unwrap(),
        Replicate { to, .. } => {
            if p(to).symlink_metadata().unwrap().is_dir() {
                fs::remove_dir_all(p(to)).unwrap()
            } else {
                fs::remove_file(p(to)).unwrap()
            }
        }
        Exchange { a, b: bb } => {
            let (x, y) = (
                std::ffi::CString::new(p(a).to_str().unwrap()).unwrap(),
                std::ffi::CString::new(p(bb).to_str().unwrap()).unwrap(),
            );
            // SAFETY: valid NUL-terminated paths.
            let rc = unsafe {
                libc::renameat2(
                    libc::AT_FDCWD,
                    x.as_ptr(),
                    libc::AT_FDCWD,
                    y.as_ptr(),
                    libc::RENAME_EXCHANGE,
                )
            };
            assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
        }
        ReplaceSymlink {
            path, old_target, ..
        } => {
            fs::remove_file(p(path)).unwrap();
            std::os::unix::fs::symlink(old_target, p(path)).unwrap();
        }
        UnlinkSymlink { path, target } => std::os::unix::fs::symlink(target, p(path)).unwrap(),
        RemoveTree { path, replica } => {
            let ok = Command::new("cp")
                .arg("-a")
                .arg("--link")
                .arg(p(replica))
                .arg(p(path))
                .status()
                .unwrap();
            assert!(ok.success());
        }
        Rename { .. } => panic!("the publication is a wave of its own"),
        // This plan has no remedies.
        PlaceStaged { .. } | PlaceStagedDir { .. } | SwapStaged { .. } | SetAside { .. } => {
            panic!("no remedy in this plan")
        }
    }
}

#[test]
fn power_loss_mid_wave_with_any_subset_of_the_wave_on_disk() {
    // Every step of a wave has acted, none is synced: a power cut may keep any subset. Keep
    // only the last step (not a prefix: the steps ran in order) or only the first; the database
    // must load, resume must converge to the uninterrupted result, rollback to the original.
    let (original, committed) = reference(false);
    let (_t0, b0) = fresh();
    let waves = commit::waves(&make_plan(&b0)).unwrap();
    let all = waves.concat();
    let logical_original = logical(&b0);
    let mut start = 0;
    let mut tested = 0;
    for w in &waves {
        let last = start + w.len() - 1;
        if w.len() >= 2 {
            for lost in [vec![start], (start + 1..=last).collect::<Vec<_>>()] {
                for then_rollback in [false, true] {
                    let what = format!("wave at {start}, lost {lost:?}, rollback {then_rollback}");
                    let (_t, b) = fresh();
                    let plan = make_plan(&b);
                    let code = run_child("commit", &b, Some(Fault::CrashAfterAction(last)), false);
                    assert_eq!(code, commit::CRASH_EXIT_CODE, "{what}");
                    for &k in &lost {
                        lose(&b, &all[k]);
                    }
                    assert_eq!(logical(&b), logical_original, "not loadable: {what}");
                    let s = status(&b).unwrap();
                    assert_eq!(
                        (s.state, s.steps_done),
                        (State::InProgress, start),
                        "{what}"
                    );
                    if then_rollback {
                        rollback(&b, &RollbackOptions::default()).unwrap();
                        assert_eq!(manifest(&b), original, "{what}");
                    } else {
                        let r = commit(&plan, &CommitOptions::default()).unwrap();
                        assert!(r.resumed, "{what}");
                        assert_eq!(r.steps_run, all.len() - start, "{what}");
                        assert_eq!(
                            without_mtimes(&manifest(&b)),
                            without_mtimes(&committed),
                            "{what}"
                        );
                    }
                }
            }
            tested += 1;
        }
        start = last + 1;
    }
    assert!(tested >= 6, "only {tested} waves of several steps");
}

#[test]
fn crash_during_rollback_resumes_the_rollback() {
    let (_t0, b0) = fresh();
    let n = n_steps(&b0);
    let original = manifest(&b0);
    for j in (0..n).step_by(3) {
        let (_t, b) = fresh();
        // A completed commit, then a rollback that dies after undoing step j.
        let plan = make_plan(&b);
        commit(&plan, &CommitOptions::default()).unwrap();
        let code = run_child("rollback", &b, Some(Fault::CrashInRollback(j)), false);
        assert_eq!(code, commit::CRASH_EXIT_CODE);
        assert_eq!(status(&b).unwrap().state, State::RollingBack);
        // commit refuses to go forward while a rollback is half done
        let e = commit(&plan, &CommitOptions::default()).unwrap_err();
        assert!(matches!(e, CommitError::RollbackInProgress { .. }), "{e}");
        rollback(&b, &RollbackOptions::default()).unwrap();
        assert_eq!(
            manifest(&b),
            original,
            "rollback resumed after crash at undo {j}"
        );
    }
}

#[test]
fn injected_failure_at_every_step_rolls_back_automatically() {
    let (_t0, b0) = fresh();
    let n = n_steps(&b0);
    let original = manifest(&b0);
    for k in 0..n {
        let (_t, b) = fresh();
        let opts = CommitOptions {
            fault: Some(Fault::FailAt(k)),
            ..Default::default()
        };
        let e = commit(&make_plan(&b), &opts).unwrap_err();
        match &e {
            CommitError::RolledBack { source } => {
                assert!(matches!(**source, CommitError::Injected { step } if step == k))
            }
            other => panic!("step {k}: {other}"),
        }
        assert!(e.to_string().contains("rolled back"), "{e}");
        assert_eq!(manifest(&b), original, "after failure at step {k}");
        assert_eq!(status(&b).unwrap().state, State::RolledBack);
    }
}

#[test]
fn real_io_error_mid_commit_rolls_back() {
    // An immutable file cannot be hard-linked (EPERM even for root): a genuine error partway.
    let (_t, b) = fresh_on_disk();
    let original = manifest(&b);
    let target = b.join("data/widetable");
    let ok = Command::new("chattr")
        .arg("+i")
        .arg(&target)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("WARNING: chattr +i unavailable here; skipping the real I/O error test");
        return;
    }
    let r = commit(&make_plan(&b), &CommitOptions::default());
    let _ = Command::new("chattr").arg("-i").arg(&target).status();
    match r {
        Err(CommitError::RolledBack { source }) => {
            assert!(source.to_string().contains("widetable"), "{source}")
        }
        Err(e) => panic!("unexpected error {e}"),
        // Root without CAP_LINUX_IMMUTABLE enforcement: nothing to test.
        Ok(_) => return eprintln!("WARNING: immutable flag not enforced; test skipped"),
    }
    assert_eq!(manifest(&b), original);
}

#[test]
fn concurrent_commit_is_refused_and_a_stale_lock_is_taken_over() {
    let (_t, b) = fresh();
    let original = manifest(&b);
    let mut holder = child("hold-lock", &b, None, false);
    let pid = holder.id();
    let lockf = b.join(".smstage/lock");
    for _ in 0..500 {
        if fs::read_to_string(&lockf).is_ok_and(|s| s.starts_with(&format!("{pid} "))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let e = commit(&make_plan(&b), &CommitOptions::default()).unwrap_err();
    match &e {
        CommitError::Locked { pid: p, .. } => assert_eq!(*p, pid),
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains(&format!("pid {pid}")), "{e}");
    let e = rollback(&b, &RollbackOptions::default()).unwrap_err();
    assert!(matches!(e, CommitError::NoJournal { .. }), "{e}");
    let s = status(&b).unwrap();
    assert_eq!(s.state, State::None);
    let l = s.lock.unwrap();
    assert_eq!((l.pid, l.alive, l.host.as_str()), (pid, true, "testhost"));
    assert_eq!(manifest(&b), original);

    holder.kill().unwrap();
    holder.wait().unwrap();
    let s = status(&b).unwrap();
    assert_eq!(s.lock.map(|l| (l.pid, l.alive)), Some((pid, false)));
    let r = commit(&make_plan(&b), &CommitOptions::default()).unwrap();
    assert_eq!(r.stale_lock_pid, Some(pid));
    assert_eq!(status(&b).unwrap().lock, None);
}

#[test]
fn committing_twice_changes_nothing_and_foreign_journals_are_refused() {
    let (_t, b) = fresh();
    let plan = make_plan(&b);
    commit(&plan, &CommitOptions::default()).unwrap();
    let after = manifest(&b);
    let journal = fs::read(b.join(".smstage/journal")).unwrap();
    let again = commit(&plan, &CommitOptions::default()).unwrap();
    assert!(again.already_committed);
    assert_eq!(again.steps_run, 0);
    assert_eq!(manifest(&b), after);
    assert_eq!(fs::read(b.join(".smstage/journal")).unwrap(), journal);

    // The same journal next to another database (another data/ inode) is refused.
    let (_t2, b2) = fresh();
    let original2 = manifest(&b2);
    fs::create_dir(b2.join(".smstage")).unwrap();
    fs::write(b2.join(".smstage/journal"), &journal).unwrap();
    let e = commit(&make_plan(&b2), &CommitOptions::default()).unwrap_err();
    assert!(matches!(e, CommitError::ForeignJournal { .. }), "{e}");
    let e = rollback(&b2, &RollbackOptions::default()).unwrap_err();
    assert!(matches!(e, CommitError::ForeignJournal { .. }), "{e}");
    assert_eq!(manifest(&b2), original2);

    // An interrupted journal is not resumed with another plan.
    let (_t3, b3) = fresh();
    let mut other = make_plan(&b3);
    assert_eq!(
        run_child("commit", &b3, Some(Fault::CrashAfterAction(3)), false),
        commit::CRASH_EXIT_CODE
    );
    other.par_txt = "other$\n".into();
    let e = commit(&other, &CommitOptions::default()).unwrap_err();
    assert!(matches!(e, CommitError::ForeignJournal { .. }), "{e}");
}

#[test]
fn preflight_refuses_entries_the_plan_does_not_cover() {
    let (_t, b) = fresh();
    let plan = make_plan(&b);
    write(&b.join("data/stray.txt"), b"x");
    let e = commit(&plan, &CommitOptions::default()).unwrap_err();
    assert!(e.to_string().contains("stray.txt"), "{e}");
    assert!(!b.join("db").exists());
    assert!(!b.join(".db.smstage-staging").exists());
}

#[test]
fn cross_filesystem_data_is_copied_verified_and_rolled_back() {
    let t = tempfile::tempdir().unwrap();
    let b = t.path().join("B");
    fs::create_dir_all(b.join("data")).unwrap();
    let mounted = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "smstage-test",
            b.join("data").to_str().unwrap(),
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        eprintln!("WARNING: cannot mount a tmpfs here; cross-filesystem commit test skipped");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(b.join("data"));
    make_db(&b);
    let original = manifest(&b);
    let before = logical(&b);
    let r = commit(&make_plan(&b), &CommitOptions::default()).unwrap();
    assert!(r.copy_mode, "data on tmpfs must be copied to the root");
    assert_eq!(logical(&b), before);
    rollback(&b, &RollbackOptions::default()).unwrap();
    assert_eq!(manifest(&b), original);
}

#[test]
fn real_fixtures_commit_and_roll_back() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/real");
    if !fixtures.exists() {
        eprintln!(
            "WARNING: {} missing; fixture commit test skipped",
            fixtures.display()
        );
        return;
    }
    for name in ["torq-air", "dolphindb-sample"] {
        let src = fixtures.join(name);
        if !src.exists() {
            eprintln!("WARNING: fixture {name} missing; skipped");
            continue;
        }
        let t = tempfile::tempdir().unwrap();
        let b = t.path().join("B");
        fs::create_dir(&b).unwrap();
        let ok = Command::new("cp")
            .arg("-a")
            .arg(&src)
            .arg(b.join("data"))
            .status()
            .unwrap();
        assert!(ok.success());
        // Copies of read-only fixtures are read-only: the commit needs to rename inside.
        for e in walkdir::WalkDir::new(b.join("data")) {
            let e = e.unwrap();
            if e.file_type().is_dir() {
                let mut p = e.metadata().unwrap().permissions();
                p.set_mode(p.mode() | 0o700);
                fs::set_permissions(e.path(), p).unwrap();
            }
        }
        fix_times(&b.join("data"));
        let original = manifest(&b);
        let before = logical(&b);
        let r = commit(&make_plan(&b), &CommitOptions::default()).unwrap();
        assert!(r.steps_total > 5, "{name}");
        assert_eq!(logical(&b), before, "{name}");
        rollback(&b, &RollbackOptions::default()).unwrap();
        assert_eq!(manifest(&b), original, "{name}");
    }
}

#[test]
fn builder_agrees_with_the_layout_contract() {
    let (_t, b) = fresh();
    assert_eq!(make_plan(&b), hand_plan(&b));
}

#[test]
fn object_tier_plan_commits_an_empty_local_segment() {
    // Scenario 2: only the root entries are local, every partition is in object storage.
    let (_t, b) = fresh_on_disk();
    for d in ["2024.01.02", "2024.01.03"] {
        fs::remove_dir_all(b.join("data").join(d)).unwrap();
    }
    fix_times(&b.join("data"));
    let original = manifest(&b);
    let plan = make_plan_with(&b, &[("s3", "s3://bucket/hdb", &["2024.01.02"])]);
    commit(&plan, &CommitOptions::default()).unwrap();
    assert_eq!(
        fs::read_to_string(b.join("db/par.txt")).unwrap(),
        "hdb$\ns3://bucket/hdb\n"
    );
    assert_eq!(fs::read_dir(b.join("db/hdb$")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(b.join("data/versions")).unwrap().count(), 0);
    let left: Vec<_> = fs::read_dir(b.join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("versions")]);
    rollback(&b, &RollbackOptions::default()).unwrap();
    assert_eq!(manifest(&b), original);
}
