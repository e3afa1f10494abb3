//! The approval flow with the view: `mount --plan` serves the saved plan and refuses a changed
//! database (before serving, or per file on first open), the commit of that plan writes exactly
//! what its view listed, and a crashed `commit --plan` resumes only with the same plan.

#[allow(clippy::duplicate_mod)]
#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Paths, kinds, link targets, sizes and content hashes of `dirs` under `base` (manifest lines
/// cut before ` mode=`: a view and a committed tree legitimately differ in times).
fn listing(base: &Path, dirs: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for d in dirs {
        for line in manifest(&base.join(d)) {
            let cut = line.find(" mode=").unwrap_or(line.len());
            out.push(format!("{d}/{}", &line[..cut]));
        }
    }
    out
}

fn save(b: &Base, config: &Path, tag: &str) -> (PathBuf, String) {
    let file = b.path().join(format!("plan-{tag}.json"));
    let out = smstage(&[
        "plan",
        "--config",
        config.to_str().unwrap(),
        "--save",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let id = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("plan_id: "))
        .unwrap_or_else(|| panic!("no plan_id line: {}", out.all()))
        .to_string();
    (file, id)
}

fn mount_plan(file: &Path, mnt: &Path) -> Out {
    fs::create_dir_all(mnt).unwrap();
    smstage(&[
        "mount",
        "--plan",
        file.to_str().unwrap(),
        mnt.to_str().unwrap(),
        "--background",
    ])
}

fn is_mounted(p: &Path) -> bool {
    fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(p.to_str().unwrap()))
}

#[test]
fn approval_committed_tree_lists_exactly_what_the_view_of_the_plan_listed() {
    let b = generated(4, 3, 6, 200);
    let (file, id) = save(&b, &b.config(), "a");
    let mnt = b.path().join("view");
    let out = mount_plan(&file, &mnt);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains(&format!("serving plan {id}")),
        "{}",
        out.all()
    );
    let guard = Unmount(mnt.clone());
    let view = listing(&mnt, &["data", "db"]);
    let out = smstage(&[
        "verify",
        mnt.join("db").to_str().unwrap(),
        "--config",
        &b.config_str(),
    ]);
    assert_eq!(out.code, 0, "the view does not verify: {}", out.all());
    drop(guard);
    assert!(!is_mounted(&mnt));

    let out = smstage(&[
        "commit",
        "--plan",
        file.to_str().unwrap(),
        "--no-backup-check",
        "--yes",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains(&format!("plan_id: {id}")),
        "{}",
        out.all()
    );
    assert_eq!(
        view,
        listing(b.path(), &["data", "db"]),
        "the commit wrote something else than the view of the plan showed"
    );
}

#[test]
fn approval_mount_refuses_a_database_changed_since_the_plan_was_saved() {
    let b = generated(3, 2, 4, 50);
    let (file, id) = save(&b, &b.config(), "a");
    // A late write-down: a new partition, a column file added to an existing table, and one
    // removed from another.
    copy_tree(&first_partition(&b.data()), &b.data().join("2030.01.01"));
    let tables = tables_in(&first_partition(&b.data()));
    let table = tables[0].clone();
    fs::write(table.join("late"), b"x").unwrap();
    let gone = tables[1].join(&dotd(&tables[1])[1]);
    fs::remove_file(&gone).unwrap();
    let before = manifest(b.path());
    let outside = tempfile::tempdir().unwrap();
    let mnt = outside.path().join("view");
    let out = mount_plan(&file, &mnt);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(!is_mounted(&mnt));
    let drift: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("error[plan-drift]"))
        .collect();
    assert_eq!(drift.len(), 3, "{}", out.all());
    assert!(
        drift.iter().any(|l| l.contains("data/2030.01.01: added")),
        "{drift:?}"
    );
    // The directory-level check sees the table directory's mtime move, and names the entry.
    let late = table.join("late").display().to_string();
    assert!(
        drift.iter().any(|l| l.contains(&format!("{late}: added"))),
        "{drift:?}"
    );
    let gone = gone.display().to_string();
    assert!(
        drift
            .iter()
            .any(|l| l.contains(&format!("{gone}: removed"))),
        "{drift:?}"
    );
    assert!(out.stderr.contains(&id), "{}", out.all());
    assert_eq!(before, manifest(b.path()));
}

#[test]
fn approval_view_refuses_a_file_rewritten_in_place_after_the_plan_was_saved() {
    let b = generated(2, 2, 4, 50);
    let (file, _) = save(&b, &b.config(), "a");
    let table = tables_in(&first_partition(&b.data()))[0].clone();
    let col = dotd(&table)[0].clone();
    let changed = table.join(&col);
    let other = table.join(&dotd(&table)[1]);
    // Same size, other bytes, written in place: no directory changes, so the mount starts.
    let len = fs::metadata(&changed).unwrap().len() as usize;
    fs::write(&changed, vec![0u8; len]).unwrap();
    let mnt = b.path().join("view");
    let out = mount_plan(&file, &mnt);
    assert_eq!(out.code, 0, "{}", out.all());
    let _guard = Unmount(mnt.clone());
    // Where the view shows an original partition file: data/<date>/… moves to
    // data/versions/<date>/1/….
    let rel = |p: &Path| {
        let r = p.strip_prefix(b.data()).unwrap();
        let mut c = r.components();
        let date = c.next().unwrap();
        Path::new("data/versions")
            .join(date)
            .join("1")
            .join(c.as_path())
    };
    let mut buf = Vec::new();
    let err = fs::File::open(mnt.join(rel(&changed)))
        .and_then(|mut f| f.read_to_end(&mut buf))
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    // Its unchanged neighbour reads as the original.
    assert_eq!(
        fs::read(mnt.join(rel(&other))).unwrap(),
        fs::read(&other).unwrap()
    );
    // The detached server's log is named by mount and says which file changed.
    let log = b.path().join(".view.smstage-view.log");
    assert!(
        out.stderr.contains(&log.display().to_string()),
        "{}",
        out.all()
    );
    let logged = fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains(&col),
        "the log names the changed file: {logged}"
    );
    // verify of the view reads it as plan drift, not as a permission problem.
    let v = smstage(&["verify", mnt.join("db").to_str().unwrap()]);
    assert_eq!(v.code, 1, "{}", v.all());
    assert!(v.stdout.contains("plan drift"), "{}", v.stdout);
    assert!(!v.stdout.contains("fix the permissions"), "{}", v.stdout);
}

#[test]
fn approval_view_refuses_a_file_rewritten_in_place_with_its_mtime_set_back() {
    let b = generated(2, 2, 4, 50);
    let (file, _) = save(&b, &b.config(), "a");
    let table = tables_in(&first_partition(&b.data()))[0].clone();
    let col = dotd(&table)[0].clone();
    let changed = table.join(&col);
    let other = table.join(&dotd(&table)[1]);
    // Same size, other bytes, written in place, then the mtime set back (`touch -d`): size,
    // mtime and inode are the saved ones; only the ctime says the bytes are not.
    let md = fs::metadata(&changed).unwrap();
    let mtime = md.modified().unwrap();
    let len = md.len() as usize;
    fs::write(&changed, vec![0u8; len]).unwrap();
    fs::File::options()
        .write(true)
        .open(&changed)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(fs::metadata(&changed).unwrap().modified().unwrap(), mtime);
    let mnt = b.path().join("view");
    let out = mount_plan(&file, &mnt);
    assert_eq!(out.code, 0, "{}", out.all());
    let _guard = Unmount(mnt.clone());
    let rel = |p: &Path| {
        let r = p.strip_prefix(b.data()).unwrap();
        let mut c = r.components();
        let date = c.next().unwrap();
        Path::new("data/versions")
            .join(date)
            .join("1")
            .join(c.as_path())
    };
    let mut buf = Vec::new();
    let read = fs::File::open(mnt.join(rel(&changed))).and_then(|mut f| f.read_to_end(&mut buf));
    let err = read.expect_err("the rewritten bytes were served as the approved ones");
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    assert_eq!(
        fs::read(mnt.join(rel(&other))).unwrap(),
        fs::read(&other).unwrap()
    );
    let logged = fs::read_to_string(b.path().join(".view.smstage-view.log")).unwrap();
    assert!(
        logged.contains(&col) && logged.contains("ctime"),
        "the log names the changed file and the ctime: {logged}"
    );
}

#[cfg(feature = "fault-injection")]
#[test]
fn approval_crashed_commit_resumes_with_the_same_plan_and_refuses_another() {
    let b = generated(3, 2, 4, 50);
    // Another plan of the same database: same content, saved through another assembly file.
    let other_cfg = b.path().join("assembly-copy.yaml");
    fs::copy(b.config(), &other_cfg).unwrap();
    let (file, id) = save(&b, &b.config(), "a");
    let (other, other_id) = save(&b, &other_cfg, "b");
    assert_ne!(id, other_id);
    let mnt = b.path().join("view");
    assert_eq!(mount_plan(&file, &mnt).code, 0);
    let view = listing(&mnt, &["data", "db"]);
    let out = smstage(&["unmount", mnt.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.all());

    let commit = commit_plan_crashing;
    let out = commit(&file, Some("5:action"));
    assert_eq!(out.code, 86, "{}", out.all());
    let st = smstage(&["status", "--config", &b.config_str(), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(v["state"], "in_progress");
    assert_eq!(v["plan_id"], id.as_str());

    // Another plan is refused, and changes nothing; so is a view of the plan being committed.
    let before = manifest(b.path());
    let out = mount_plan(&file, &mnt);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("an import of"), "{}", out.all());
    assert!(!is_mounted(&mnt));
    let out = commit(&other, None);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr
            .contains(&format!("is of plan {id}, not of plan {other_id}")),
        "{}",
        out.all()
    );
    assert_eq!(before, manifest(b.path()));

    // The same plan resumes to exactly the tree its view listed.
    let out = commit(&file, None);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stderr.contains("resuming"), "{}", out.all());
    assert_eq!(view, listing(b.path(), &["data", "db"]));
    let st = smstage(&["status", "--config", &b.config_str(), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(v["state"], "committed");
    assert_eq!(v["plan_id"], id.as_str());
}

#[test]
fn approval_object_tiers_local_view_of_a_saved_plan_shows_the_objects() {
    let Some(env) = s3_server() else { return };
    let b = generated(3, 2, 4, 50);
    let outside = tempfile::tempdir().unwrap();
    let pristine = outside.path().join("pristine");
    copy_tree(&b.data(), &pristine);
    let first = dates(&b.data())[0].clone();
    move_to_object_tier(&b, env, "approval-view", std::slice::from_ref(&first), true);
    let file = b.path().join("plan.json");
    let out = smstage_env(
        &[
            "plan",
            "--config",
            &b.config_str(),
            "--save",
            file.to_str().unwrap(),
        ],
        env,
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let mnt = outside.path().join("view");
    fs::create_dir(&mnt).unwrap();
    let out = smstage_env(
        &[
            "mount",
            "--plan",
            file.to_str().unwrap(),
            mnt.to_str().unwrap(),
            "--background",
            "--object-tiers-local",
        ],
        env,
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let _guard = Unmount(mnt.clone());
    let par = fs::read_to_string(mnt.join("db/par.txt")).unwrap();
    assert!(par.ends_with("$\narchive$\n"), "{par}");
    let strip = |v: Vec<String>| -> Vec<String> {
        v.into_iter()
            .map(|l| l[..l.find(" mode=").unwrap_or(l.len())].to_string())
            .collect()
    };
    assert_eq!(
        strip(manifest(&mnt.join("db/archive$").join(&first))),
        strip(manifest(&pristine.join(&first)))
    );
}

/// The background server's log cannot be created (here: a directory sits at its path): the
/// view still mounts and serves, mount warns that the server's messages are discarded and its
/// banner does not name a log that is not there; a drifted file still reads as EIO (the server
/// survives writing its message to nowhere) and `verify` still names plan drift.
#[test]
fn approval_background_view_without_a_server_log_says_so_and_still_serves() {
    let b = generated(2, 2, 4, 50);
    let (file, _) = save(&b, &b.config(), "a");
    let table = tables_in(&first_partition(&b.data()))[0].clone();
    let changed = table.join(&dotd(&table)[0]);
    let len = fs::metadata(&changed).unwrap().len() as usize;
    fs::write(&changed, vec![0u8; len]).unwrap();
    let mnt = b.path().join("view");
    let log = b.path().join(".view.smstage-view.log");
    fs::create_dir(&log).unwrap();
    let out = mount_plan(&file, &mnt);
    assert_eq!(out.code, 0, "{}", out.all());
    let _guard = Unmount(mnt.clone());
    assert!(
        out.stderr.contains("cannot create the server log")
            && out.stderr.contains("messages are discarded"),
        "{}",
        out.all()
    );
    assert!(
        !out.stderr.contains("server log (files refused"),
        "the banner names a log that does not exist: {}",
        out.all()
    );
    let r = changed.strip_prefix(b.data()).unwrap();
    let mut c = r.components();
    let date = c.next().unwrap();
    let in_view = mnt
        .join("data/versions")
        .join(date)
        .join("1")
        .join(c.as_path());
    let err = fs::read(&in_view).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    // The server is alive after logging to /dev/null: the view still answers.
    assert!(fs::read_dir(mnt.join("db")).unwrap().count() > 0);
    let v = smstage(&["verify", mnt.join("db").to_str().unwrap()]);
    assert_eq!(v.code, 1, "{}", v.all());
    assert!(v.stdout.contains("plan drift"), "{}", v.stdout);
    assert!(
        fs::read_dir(&log).unwrap().next().is_none(),
        "nothing written into the directory"
    );
}

/// `commit --plan` of `file`, killed (as a power cut would) at `crash` (SMSTAGE_CRASH_AT).
#[cfg(feature = "fault-injection")]
fn commit_plan_crashing(file: &Path, crash: Option<&str>) -> Out {
    let mut c = Command::new(bin());
    c.args([
        "commit",
        "--plan",
        file.to_str().unwrap(),
        "--no-backup-check",
        "--yes",
    ]);
    if let Some(at) = crash {
        c.env("SMSTAGE_CRASH_AT", at);
    }
    run(c)
}

#[cfg(feature = "fault-injection")]
fn state_of(b: &Base) -> String {
    let st = smstage(&["status", "--config", &b.config_str(), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    v["state"].as_str().unwrap_or_default().to_string()
}

/// The first steps of `commit --plan` run beside its proof (commit::gate): killed among them,
/// the import resumes only through a proof. `commit --config` (which has none) refuses to go
/// past the gate; `commit --plan` proves again before the first exchange, and a change made
/// meanwhile is refused there, every step taken undone.
#[cfg(feature = "fault-injection")]
#[test]
fn approval_commit_killed_before_its_proof_passed_resumes_only_through_a_proof() {
    // Resumed with no change: committed, exactly as a commit that was never killed.
    let b = generated(3, 2, 4, 50);
    let (file, _) = save(&b, &b.config(), "a");
    let out = commit_plan_crashing(&file, Some("1:action"));
    assert_eq!(out.code, 86, "{}", out.all());
    assert_eq!(state_of(&b), "in_progress");
    let st = smstage(&["status", "--config", &b.config_str(), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(v["proof_pending"], true, "{}", st.stdout);
    let st = smstage(&["status", "--config", &b.config_str()]);
    assert!(
        st.stdout.contains("smstage commit --plan PLANFILE"),
        "{}",
        st.stdout
    );
    // Everything but the lock, which any command that commits takes (and clears) first.
    let unlocked = |b: &Base| -> Vec<String> {
        manifest(b.path())
            .into_iter()
            .filter(|l| !l.starts_with(".smstage/lock "))
            .collect()
    };
    let before = unlocked(&b);
    let out = smstage(&[
        "commit",
        "--config",
        &b.config_str(),
        "--no-backup-check",
        "--yes",
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains(
            "whose proof that the database is as the plan file stamped it had not finished"
        ) && out.stderr.contains("smstage commit --plan FILE"),
        "{}",
        out.all()
    );
    assert_eq!(before, unlocked(&b), "the refusal changed something");
    let out = commit_plan_crashing(&file, None);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stderr.contains("resuming"), "{}", out.all());
    assert_eq!(state_of(&b), "committed");
    let st = smstage(&["status", "--config", &b.config_str(), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(v["proof_pending"], false, "{}", st.stdout);
    let reference = generated(3, 2, 4, 50);
    let (rfile, _) = save(&reference, &reference.config(), "a");
    assert_eq!(commit_plan_crashing(&rfile, None).code, 0);
    assert_eq!(
        listing(b.path(), &["data", "db"]),
        listing(reference.path(), &["data", "db"])
    );

    // A column rewritten while the import was stopped: the resumed proof finds it before
    // any partition moves, and the first run's steps are rolled back.
    let b = generated(3, 2, 4, 50);
    let (file, _) = save(&b, &b.config(), "a");
    let pristine = listing(b.path(), &["data"]);
    assert_eq!(commit_plan_crashing(&file, Some("1:action")).code, 86);
    let t = tables_in(&first_partition(&b.data()))[0].clone();
    let col = t.join(&dotd(&t)[0]);
    let mut bytes = fs::read(&col).unwrap();
    bytes.extend_from_slice(&[0; 8]);
    fs::write(&col, bytes).unwrap();
    let out = commit_plan_crashing(&file, None);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("error[plan-drift]")
                && l.contains(&col.display().to_string())
                && l.contains("size")),
        "{}",
        out.all()
    );
    assert!(out.stderr.contains("rolled back"), "{}", out.all());
    assert_eq!(state_of(&b), "rolled_back");
    assert!(!b.path().join("db").exists());
    // Every name as it was; only the column differs, as changed.
    let now = listing(b.path(), &["data"]);
    let differ: Vec<_> = pristine.iter().filter(|l| !now.contains(l)).collect();
    assert_eq!(differ.len(), 1, "{differ:?}");
    assert_eq!(pristine.len(), now.len());
}
