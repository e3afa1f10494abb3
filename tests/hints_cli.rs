//! Hints that depend on what is on disk: advice to restore from the backup only when the
//! backup would change something.

mod common;

use common::*;

/// torq-air's `sym` holds 129 symbols while its columns index up to 301: the backup (a copy)
/// has the same `sym`, so "restore `sym` from the backup" would change nothing.
#[test]
fn deep_check_does_not_advise_restoring_a_domain_the_backup_holds_identically() {
    let Some(src) = fixture("torq-air") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_tree(&src, &data);
    let cfg = dir.path().join("assembly.yaml");
    let init = smstage(&[
        "init",
        data.to_str().unwrap(),
        "--out",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(init.code, 0, "{}", init.all());
    let backup = dir.path().join("backup");
    copy_tree(&data, &backup);
    for args in [
        vec![
            "check",
            "--config",
            cfg.to_str().unwrap(),
            "--backup",
            backup.to_str().unwrap(),
            "--deep",
        ],
        vec![
            "verify",
            data.to_str().unwrap(),
            "--against",
            backup.to_str().unwrap(),
            "--deep",
        ],
    ] {
        let out = smstage(&args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.all());
        assert!(
            out.stdout.contains("warning[load-enum-beyond-domain]"),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout
                .contains("is the same file, so restoring it changes nothing")
                && !out
                    .stdout
                    .contains("restore the complete `sym` file from the backup"),
            "{args:?}: {}",
            out.stdout
        );
    }
    // A backup whose `sym` differs is worth restoring from: then the hint says so.
    let mut sym = std::fs::read(backup.join("sym")).unwrap();
    sym.extend_from_slice(b"extra\0");
    std::fs::write(backup.join("sym"), sym).unwrap();
    let out = smstage(&[
        "verify",
        data.to_str().unwrap(),
        "--against",
        backup.to_str().unwrap(),
        "--deep",
    ]);
    assert!(
        out.stdout.contains("differs from the database's"),
        "{}",
        out.stdout
    );
}

/// After a rollback, `.smstage` stays and the message lists exactly what is in it (each file
/// with its size and why it stays); a new import then follows with it in place.
#[test]
fn rollback_names_exactly_what_it_keeps_and_a_new_import_may_follow() {
    let b = generated(3, 1, 3, 10);
    let cfg = b.config_str();
    let out = smstage(&["commit", "--config", &cfg, "--no-backup-check", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = smstage(&["rollback", "--config", &cfg]);
    assert_eq!(out.code, 0, "{}", out.all());
    let dir = b.path().join(".smstage");
    let mut names: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    names.sort();
    assert!(!names.is_empty());
    for (n, len) in &names {
        assert!(
            out.stdout.contains(&format!("{n} ({len} bytes: ")),
            "{n} not named with its size:\n{}",
            out.stdout
        );
    }
    assert!(
        out.stdout
            .contains("a rollback interrupted by a crash resumes from"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!("rm -r {}", dir.display())),
        "{}",
        out.stdout
    );
    // A new import may follow: check passes and commit commits again.
    let out = smstage(&["check", "--config", &cfg, "--no-backup-check"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = smstage(&["commit", "--config", &cfg, "--no-backup-check", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.all());
}
