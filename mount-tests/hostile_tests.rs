//! Hostile inputs that involve a mount (issue 16, items 1, 2 and 4): a mountpoint inside what
//! the view serves is refused before anything is mounted; a forged plan file (edited, with a
//! recomputed plan_id) is never served; a FIFO in the database never hangs `mount`. Every
//! command runs under a watchdog, so a regression fails instead of hanging CI.

#[allow(clippy::duplicate_mod)]
#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};

const WATCHDOG: u64 = 60;

fn is_mounted(p: &Path) -> bool {
    fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(p.to_str().unwrap()))
}

/// Mounts in the background; if a mount happened anyway, it is removed before the test fails.
fn mount(args: &[&str], mnt: &Path) -> Out {
    fs::create_dir_all(mnt).unwrap();
    let mut all = vec!["mount"];
    all.extend(args);
    all.extend([mnt.to_str().unwrap(), "--background"]);
    let out = smstage_within(&all, WATCHDOG);
    if is_mounted(mnt) {
        let _ = smstage_within(&["unmount", mnt.to_str().unwrap()], WATCHDOG);
        panic!("{} was mounted: {}", mnt.display(), out.all());
    }
    out
}

fn save(b: &Base, to: &Path) {
    let out = smstage_within(
        &[
            "plan",
            "--config",
            &b.config_str(),
            "--save",
            to.to_str().unwrap(),
        ],
        WATCHDOG,
    );
    assert_eq!(out.code, 0, "{}", out.all());
}

#[test]
fn hostile_mountpoint_inside_the_database_or_a_segment_is_refused_before_mounting() {
    let b = generated(2, 1, 4, 20);
    let outside = tempfile::tempdir().unwrap();
    let plan = outside.path().join("plan.json");
    save(&b, &plan);
    let part = first_partition(&b.data());
    let places: Vec<(PathBuf, &str)> = vec![
        (b.data().join(".preview"), "inside the database"),
        (part.join("view"), "inside the database"),
        (b.path().join("db"), "inside the future kdb+ root"),
        (
            b.path().join(".db.smstage-staging/v"),
            "inside the commit's staging area",
        ),
    ];
    for (mnt, says) in &places {
        for args in [
            vec!["--config", b.config().to_str().unwrap()],
            vec!["--plan", plan.to_str().unwrap()],
        ] {
            let out = mount(&args, mnt);
            assert_eq!(out.code, 2, "{} {args:?}: {}", mnt.display(), out.all());
            assert!(
                out.all().contains(says) && out.all().contains("nothing mounted"),
                "{} {args:?}: {}",
                mnt.display(),
                out.all()
            );
        }
        fs::remove_dir_all(mnt).unwrap();
    }

    // A segment of a segmented database.
    let s = generated_with(2, 1, 4, 10, &["--segments", "2"]);
    let mnt = s.path().join("seg2/view");
    let out = mount(
        &["--config", s.path().join("assembly.yaml").to_str().unwrap()],
        &mnt,
    );
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.all().contains("segment"), "{}", out.all());
}

#[test]
fn hostile_forged_plans_are_never_served() {
    let b = generated(3, 1, 4, 20);
    let outside = tempfile::tempdir().unwrap();
    let plan = outside.path().join("plan.json");
    save(&b, &plan);
    let mnt = outside.path().join("view");
    for (what, forged) in forged_plans::forgeries(&plan, outside.path()) {
        let out = mount(&["--plan", forged.to_str().unwrap()], &mnt);
        assert_eq!(out.code, 2, "{what}: {}", out.all());
        assert!(
            out.all().contains("was edited after it was saved"),
            "{what}: {}",
            out.all()
        );
    }
    // The plan as saved is served.
    fs::create_dir_all(&mnt).unwrap();
    let out = smstage_within(
        &[
            "mount",
            "--plan",
            plan.to_str().unwrap(),
            mnt.to_str().unwrap(),
            "--background",
        ],
        WATCHDOG,
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(mnt.join("db/sym").is_file());
    let out = smstage_within(&["unmount", mnt.to_str().unwrap()], WATCHDOG);
    assert_eq!(out.code, 0, "{}", out.all());
}

#[test]
fn hostile_fifo_in_the_database_never_hangs_mount() {
    let b = generated(2, 1, 4, 20);
    let table = tables_in(&first_partition(&b.data()))[0].clone();
    mkfifo(&table.join("pipe"));
    let outside = tempfile::tempdir().unwrap();
    let mnt = outside.path().join("view");
    let out = mount(&["--config", b.config().to_str().unwrap()], &mnt);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.all().contains("error[special-file]") && out.all().contains("FIFO"),
        "{}",
        out.all()
    );
}

/// Unmounts a test's own helper mount (tmpfs, bind) when the test ends, however it ends.
struct Umount(PathBuf);

impl Drop for Umount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

fn sys_mount(args: &[&str], at: &Path) -> Umount {
    let st = std::process::Command::new("mount")
        .args(args)
        .arg(at)
        .status()
        .unwrap();
    assert!(st.success(), "mount {args:?} {}", at.display());
    Umount(at.to_path_buf())
}

#[test]
fn hostile_other_filesystem_inside_the_database_is_reported_and_never_walked() {
    let b = generated(2, 1, 4, 20);
    let extra = b.data().join("extra");
    fs::create_dir_all(&extra).unwrap();
    let _m = sys_mount(&["-t", "tmpfs", "none"], &extra);
    // What is mounted there is not the database's: a walk into it would meet this FIFO.
    mkfifo(&extra.join("pipe"));
    let outside = tempfile::tempdir().unwrap();
    for args in [
        vec!["check", "--config", &b.config_str(), "--no-backup-check"],
        vec!["plan", "--config", &b.config_str()],
    ] {
        let out = smstage_within(&args, WATCHDOG);
        assert_eq!(out.code, 1, "{args:?}: {}", out.all());
        assert!(
            out.all().contains("error[mount-inside-database]")
                && out.all().contains(&extra.display().to_string()),
            "{args:?}: {}",
            out.all()
        );
        assert!(
            !out.all().contains("special-file"),
            "{args:?} walked into the mount: {}",
            out.all()
        );
    }
    let out = mount(
        &["--config", b.config().to_str().unwrap()],
        &outside.path().join("view"),
    );
    assert_eq!(out.code, 1, "{}", out.all());
}

#[test]
fn hostile_view_never_crosses_into_a_mount_made_inside_the_database_after_it_was_served() {
    let b = generated(2, 1, 4, 20);
    // A table directory of the first partition (a directory of its own in the root would be a
    // stray SM's import refuses, and the view would never be served).
    let extra = b.data().join("2024.01.02/trade");
    let seen = "data/versions/2024.01.02/1/trade";
    let outside = tempfile::tempdir().unwrap();
    let mnt = outside.path().join("view");
    fs::create_dir_all(&mnt).unwrap();
    // `--config`: a saved plan's view would also refuse the directory for its changed stamp.
    // No prefetcher: it would list the directory before the bind mount below is made.
    let out = smstage_within_env(
        &[
            "mount",
            "--config",
            &b.config_str(),
            mnt.to_str().unwrap(),
            "--background",
        ],
        &[("SMSTAGE_PREFETCH_THREADS", "0")],
        WATCHDOG,
    );
    assert_eq!(out.code, 0, "{}", out.all());
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = smstage_within(&["unmount", self.0.to_str().unwrap()], WATCHDOG);
        }
    }
    let _view = Unmount(mnt.clone());
    assert!(
        mnt.join(seen).join("price").is_file(),
        "the view serves the table before the mount"
    );
    // Someone else's filesystem appears over a directory the view passes through, after the
    // checks passed.
    let other = outside.path().join("other");
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("secret"), "not the database's\n").unwrap();
    let _m = sys_mount(&["--bind", other.to_str().unwrap()], &extra);
    let listed: Vec<String> = fs::read_dir(mnt.join(seen))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !listed.iter().any(|n| n == "secret"),
        "the view served a file of another mount: {listed:?}"
    );
    assert!(fs::read_to_string(mnt.join(seen).join("secret")).is_err());
}
