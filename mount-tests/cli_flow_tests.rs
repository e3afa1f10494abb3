//! The whole job through the `smstage` binary: mount → commit lists the same tree; kill -9 at
//! random instants of a commit, verify the root in between, then resume or roll back.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

#[test]
fn committed_tree_lists_exactly_what_the_view_listed() {
    let b = generated(4, 3, 9, 500);
    let outside = tempfile::tempdir().unwrap();
    let backup = outside.path().join("backup");
    copy_tree(&b.data(), &backup);
    let mnt = outside.path().join("view");
    fs::create_dir(&mnt).unwrap();

    let out = smstage(&[
        "mount",
        "--config",
        &b.config_str(),
        mnt.to_str().unwrap(),
        "--background",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let guard = Unmount(mnt.clone());
    let view = listing(&mnt, &["data", "db"]);
    let out = smstage(&[
        "verify",
        mnt.join("db").to_str().unwrap(),
        "--against",
        backup.to_str().unwrap(),
        "--deep",
    ]);
    assert_eq!(out.code, 0, "view does not verify: {}", out.all());
    let out = smstage(&["unmount", mnt.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.all());
    drop(guard);

    let out = smstage(&[
        "commit",
        "--config",
        &b.config_str(),
        "--backup",
        backup.to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let committed = listing(b.path(), &["data", "db"]);
    assert_eq!(
        view, committed,
        "the commit wrote something else than the view showed"
    );
    let out = smstage(&[
        "verify",
        b.path().join("db").to_str().unwrap(),
        "--config",
        &b.config_str(),
        "--against",
        backup.to_str().unwrap(),
        "--deep",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());

    // Status says committed; a second commit changes nothing.
    let st = smstage(&["status", "--config", &b.config_str(), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(v["state"], "committed");
    assert_eq!(v["steps_done"], v["steps_total"]);
    assert!(v["lock"].is_null());
    let before = manifest(b.path());
    let out = smstage(&[
        "commit",
        "--config",
        &b.config_str(),
        "--backup",
        backup.to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("already committed"), "{}", out.all());
    assert_eq!(before, manifest(b.path()));

    // Rollback restores the original names, modes, link targets and bytes.
    let out = smstage(&["rollback", "--config", &b.config_str()]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!b.path().join("db").exists());
    // What stays of smstage is named, with why and whether it may go.
    let kept = b.path().join(".smstage");
    assert!(kept.is_dir());
    assert!(
        out.stdout.contains(&format!("kept {}", kept.display()))
            && out.stdout.contains("a new import may start"),
        "{}",
        out.stdout
    );
    let leftovers: Vec<String> = fs::read_dir(b.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "data" && n != "assembly.yaml" && n != "backup" && n != ".smstage")
        .collect();
    assert!(
        leftovers.is_empty(),
        "rollback left {leftovers:?} in the baseURI"
    );
    assert_eq!(listing_with_modes(b.path(), &["data"]), {
        let mut l = listing_with_modes(outside.path(), &["backup"]);
        for x in l.iter_mut() {
            *x = x.replacen("backup/", "data/", 1);
        }
        l
    });
    let st = smstage(&["status", "--config", &b.config_str(), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(v["state"], "rolled_back");
    // After a rollback the database may be checked and imported again.
    let out = smstage(&[
        "check",
        "--config",
        &b.config_str(),
        "--backup",
        backup.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
}

/// Small deterministic PRNG (splitmix64) for the kill instants.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E3779B97F4A7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
    z ^ (z >> 31)
}

fn reset(pristine: &Path, base: &Path) {
    for d in ["data", "db", ".smstage", ".db.smstage-staging"] {
        let p = base.join(d);
        if p.exists() {
            fs::remove_dir_all(&p).unwrap();
        }
    }
    copy_tree(pristine, &base.join("data"));
}

#[test]
fn kill_9_at_random_instants_then_verify_resume_or_roll_back() {
    let b = generated(150, 2, 6, 200);
    let outside = tempfile::tempdir().unwrap();
    let pristine = outside.path().join("pristine");
    copy_tree(&b.data(), &pristine);
    let original = listing_with_modes(outside.path(), &["pristine"]);
    let cfg = b.config_str();

    // Reference: one uninterrupted commit, timed.
    let t0 = Instant::now();
    let out = smstage(&["commit", "--config", &cfg, "--no-backup-check", "--yes"]);
    let full = t0.elapsed();
    assert_eq!(out.code, 0, "{}", out.all());
    let reference = listing(b.path(), &["data", "db"]);

    // Twenty kills must land inside a running commit. The machine is shared, so the reference
    // time only sets the scale: a child that finished before its kill does not count, and the
    // scale shrinks until kills land.
    let mut seed = 0x5eed_u64;
    let mut scale = 1.0_f64;
    let (mut landed, mut attempts) = (0, 0);
    while landed < 20 {
        attempts += 1;
        assert!(
            attempts <= 80,
            "only {landed} of 20 kills landed inside a commit in 80 attempts"
        );
        let i = landed;
        reset(&pristine, b.path());
        let frac = (splitmix(&mut seed) % 1000) as f64 / 1000.0;
        let delay = full.mul_f64(frac * scale);
        let mut child = Command::new(bin())
            .args(["commit", "--config", &cfg, "--no-backup-check", "--yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let finished = child.try_wait().unwrap().is_some();
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        if finished {
            scale *= 0.7;
            continue;
        }
        landed += 1;

        // (c) Between the crash and the resume, a root loads with the complete original content.
        let published = b.path().join("db").join("par.txt").exists();
        let root = if published {
            b.path().join("db")
        } else {
            b.data()
        };
        let out = smstage(&[
            "verify",
            root.to_str().unwrap(),
            "--against",
            pristine.to_str().unwrap(),
        ]);
        assert_eq!(
            out.code,
            0,
            "kill #{i} at {delay:?} (published: {published}): root incomplete:\n{}",
            out.all()
        );

        if i % 2 == 0 {
            let out = smstage(&["commit", "--config", &cfg, "--no-backup-check", "--yes"]);
            assert_eq!(
                out.code,
                0,
                "resume after kill #{i} at {delay:?}: {}",
                out.all()
            );
            assert_eq!(
                listing(b.path(), &["data", "db"]),
                reference,
                "kill #{i} at {delay:?}: resumed tree differs"
            );
        } else {
            let st = smstage(&["status", "--config", &cfg, "--format", "json"]);
            let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
            let out = smstage(&["rollback", "--config", &cfg]);
            if v["state"] == "none" {
                // Killed before the journal existed: nothing to roll back, nothing changed.
                assert_eq!(out.code, 1, "{}", out.all());
            } else {
                assert_eq!(
                    out.code,
                    0,
                    "rollback after kill #{i} at {delay:?}: {}",
                    out.all()
                );
            }
            assert!(!b.path().join("db").exists());
            let mut now = listing_with_modes(b.path(), &["data"]);
            for x in now.iter_mut() {
                *x = x.replacen("data/", "pristine/", 1);
            }
            assert_eq!(
                now, original,
                "kill #{i} at {delay:?}: rollback differs from the original"
            );
        }
    }
}

#[cfg(feature = "fault-injection")]
#[test]
fn binary_crash_points_resume_to_the_same_tree() {
    let b = generated(3, 2, 6, 100);
    let outside = tempfile::tempdir().unwrap();
    let pristine = outside.path().join("pristine");
    copy_tree(&b.data(), &pristine);
    let cfg = b.config_str();
    let out = smstage(&["commit", "--config", &cfg, "--no-backup-check", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let reference = listing(b.path(), &["data", "db"]);
    let total: usize = {
        let st = smstage(&["status", "--config", &cfg, "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
        v["steps_total"].as_u64().unwrap() as usize
    };
    for k in 0..total {
        for at in ["intent", "action"] {
            reset(&pristine, b.path());
            let o = Command::new(bin())
                .args(["commit", "--config", &cfg, "--no-backup-check", "--yes"])
                .env("SMSTAGE_CRASH_AT", format!("{k}:{at}"))
                .output()
                .unwrap();
            assert_eq!(o.status.code(), Some(86), "crash at {k}:{at}");
            let st = smstage(&["status", "--config", &cfg, "--format", "json"]);
            let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
            assert_eq!(v["state"], "in_progress", "{k}:{at}");
            assert_eq!(v["lock"]["alive"], false, "{k}:{at}: {}", st.stdout);
            let out = smstage(&["commit", "--config", &cfg, "--no-backup-check", "--yes"]);
            assert_eq!(out.code, 0, "resume {k}:{at}: {}", out.all());
            assert_eq!(listing(b.path(), &["data", "db"]), reference, "{k}:{at}");
        }
    }
    // An injected error mid-commit rolls back by itself and says so.
    reset(&pristine, b.path());
    let o = Command::new(bin())
        .args(["commit", "--config", &cfg, "--no-backup-check", "--yes"])
        .env("SMSTAGE_FAIL_AT_STEP", (total / 2).to_string())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("rolled back"), "{err}");
    assert!(!b.path().join("db").exists());
}

fn is_mounted(p: &Path) -> bool {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = p.to_str().unwrap();
    text.lines().any(|l| l.split(' ').nth(4) == Some(p))
}

/// Pid of the process serving `mnt` (a background server re-parents away from us).
fn server_pid(mnt: &Path) -> Option<i32> {
    for e in fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        if args.iter().any(|a| a == "mount") && args.iter().any(|a| Path::new(a) == mnt) {
            return Some(pid);
        }
    }
    None
}

/// A dead view: `statfs` always reaches the server (stat and even directory listings may be
/// answered from the kernel's caches), so it fails with ENOTCONN once the server is gone.
fn is_stale(mnt: &Path) -> bool {
    let c = std::ffi::CString::new(mnt.as_os_str().as_encoded_bytes()).unwrap();
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOTCONN)
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed().as_secs() < 20, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn binary_mount_lifecycle_sigterm_and_stale_after_kill_9() {
    let b = generated(2, 1, 6, 50);
    let outside = tempfile::tempdir().unwrap();
    let mnt = outside.path().join("view");
    fs::create_dir(&mnt).unwrap();
    let _guard = Unmount(mnt.clone());

    // Foreground: serves until SIGTERM, then unmounts cleanly and exits 0.
    let mut fg = Command::new(bin())
        .args(["mount", "--config", &b.config_str(), mnt.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the foreground mount", || mnt.join("db/par.txt").exists());
    unsafe { libc::kill(fg.id() as i32, libc::SIGTERM) };
    let status = fg.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(!is_mounted(&mnt), "SIGTERM left the view mounted");

    // Background: kill -9 the server, leaving a stale mount.
    let out = smstage(&[
        "mount",
        "--config",
        &b.config_str(),
        mnt.to_str().unwrap(),
        "--background",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let pid = server_pid(&mnt).expect("background server process");
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_until("the stale mount", || is_stale(&mnt));
    // The next mount recognises its own stale mount, clears it and mounts again.
    let out = smstage(&[
        "mount",
        "--config",
        &b.config_str(),
        mnt.to_str().unwrap(),
        "--background",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(mnt.join("db/par.txt").exists());
    let pid = server_pid(&mnt).expect("background server process");
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_until("the stale mount", || is_stale(&mnt));
    // And `unmount` clears a stale mount too.
    let out = smstage(&["unmount", mnt.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!is_mounted(&mnt));
    // Unmounting again: a clear error, exit 1.
    let out = smstage(&["unmount", mnt.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("not a mount point"), "{}", out.all());
}

#[test]
fn mount_refuses_bad_mountpoints_and_failing_databases() {
    let b = generated(2, 1, 6, 50);
    let outside = tempfile::tempdir().unwrap();
    let full = outside.path().join("full");
    fs::create_dir(&full).unwrap();
    fs::write(full.join("x"), b"x").unwrap();
    let out = smstage(&[
        "mount",
        "--config",
        &b.config_str(),
        full.to_str().unwrap(),
        "--background",
    ]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("not empty"), "{}", out.all());
    let out = smstage(&[
        "mount",
        "--config",
        &b.config_str(),
        "/nonexistent/mnt",
        "--background",
    ]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("does not exist"), "{}", out.all());
    // A database that fails its checks has no plan, so nothing is mounted.
    fs::remove_file(b.data().join("sym")).unwrap();
    let empty = outside.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let out = smstage(&[
        "mount",
        "--config",
        &b.config_str(),
        empty.to_str().unwrap(),
        "--background",
    ]);
    assert_eq!(out.code, 1);
    assert!(out.all().contains("load-domain-missing"), "{}", out.all());
    assert!(!is_mounted(&empty));
}

#[test]
fn mount_takes_a_cache_budget_and_refuses_a_zero_one() {
    let b = generated(2, 1, 6, 50);
    let outside = tempfile::tempdir().unwrap();
    let mnt = outside.path().join("view");
    fs::create_dir(&mnt).unwrap();
    let _guard = Unmount(mnt.clone());
    let mount = |budget: &str| {
        smstage(&[
            "mount",
            "--config",
            &b.config_str(),
            mnt.to_str().unwrap(),
            "--background",
            "--cache-budget",
            budget,
        ])
    };
    let out = mount("0");
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(!is_mounted(&mnt));
    let out = mount("1");
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(mnt.join("db/par.txt").exists());
    let mut files = 0;
    for e in walkdir::WalkDir::new(&mnt) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let md = e.path().symlink_metadata().unwrap();
            assert_eq!(fs::read(e.path()).unwrap().len() as u64, md.len());
            files += 1;
        }
    }
    assert!(files > 10, "{files} files served");
    let out = smstage(&["unmount", mnt.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.all());
}

/// `smstage ARGS` started with its open-file limit set to `soft`/`hard` (`ulimit -S -n` / `-H -n`).
fn smstage_with_nofile(args: &[&str], soft: u64, hard: u64) -> Out {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(bin());
    c.args(args);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        c.pre_exec(move || {
            let r = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    run(c)
}

/// The soft open-file limit of process `pid`.
fn soft_nofile(pid: i32) -> u64 {
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

#[test]
fn a_low_open_file_limit_does_not_fail_reads_through_the_view() {
    // 12 partitions x 2 tables x (10 columns + .d): 264 partition files, more than the limit.
    let b = generated(12, 2, 10, 20);
    let outside = tempfile::tempdir().unwrap();
    let mnt = outside.path().join("view");
    fs::create_dir(&mnt).unwrap();
    let _guard = Unmount(mnt.clone());
    let mount = [
        "mount",
        "--config",
        &b.config_str(),
        mnt.to_str().unwrap(),
        "--background",
        "--cache-mode",
        "no-open",
    ];

    // A hard limit of 128: the server cannot raise it, keeps fewer descriptors for its READs
    // (it used to keep up to 1,024 and then fail opens with EMFILE) and serves every file.
    let out = smstage_with_nofile(&mount, 128, 128);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(soft_nofile(server_pid(&mnt).unwrap()), 128);
    let seg = fs::read_to_string(mnt.join("db/par.txt")).unwrap();
    let seg = mnt.join("db").join(seg.lines().next().unwrap());
    let mut n = 0;
    for e in walkdir::WalkDir::new(b.data()).min_depth(3).max_depth(3) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(b.data()).unwrap();
        let through = fs::read(seg.join(rel)).unwrap_or_else(|err| panic!("{rel:?}: {err}"));
        assert!(through == fs::read(e.path()).unwrap(), "{rel:?}");
        n += 1;
    }
    assert!(
        n > 128,
        "only {n} files read: the limit was never in the way"
    );
    let out = smstage(&["unmount", mnt.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.all());

    // A soft limit under a higher hard one: the server raises it, as servers do.
    let out = smstage_with_nofile(&mount, 128, 4096);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(soft_nofile(server_pid(&mnt).unwrap()), 4096);
    let out = smstage(&["unmount", mnt.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.all());
}
