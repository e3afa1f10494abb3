//! Hostile inputs, without mounting (issue 16, items 1, 3, 4 and 5): special files anywhere in
//! the database never hang a command and block the import with a finding of their own;
//! `plan --save` never overwrites what is not a plan file; an edited plan file with a recomputed
//! plan_id is refused as edited. Every command that could hang runs under a watchdog.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};

/// Seconds before a command is declared hung (each takes well under one here).
const WATCHDOG: u64 = 60;

fn first_table(b: &Base) -> PathBuf {
    tables_in(&first_partition(&b.data()))[0].clone()
}

/// Runs check (headers, then --deep with the backup), plan and commit on `b`; each must end,
/// exit 1, and report `code` naming `what` and `place`; the database and backup are unchanged.
fn assert_refused_everywhere(b: &Base, code: &str, what: &str, place: &Path) {
    let backup = b.path().join("backup");
    let before = (manifest_lenient(&b.data()), manifest_lenient(&backup));
    let cfg = b.config_str();
    let backup_s = backup.to_str().unwrap().to_string();
    let runs: Vec<Vec<&str>> = vec![
        vec!["check", "--config", &cfg, "--no-backup-check"],
        vec!["check", "--config", &cfg, "--deep", "--backup", &backup_s],
        vec!["plan", "--config", &cfg],
        vec!["commit", "--config", &cfg, "--backup", &backup_s, "--yes"],
    ];
    for args in runs {
        let out = smstage_within(&args, WATCHDOG);
        assert_eq!(out.code, 1, "{args:?}: {}", out.all());
        let all = out.all();
        assert!(
            all.contains(&format!("error[{code}]")) && all.contains(what),
            "{args:?} does not report {code} ({what}): {all}"
        );
        assert!(
            all.contains(&place.display().to_string()),
            "{args:?} does not name {}: {all}",
            place.display()
        );
        assert!(
            !all.contains("load-extra-file"),
            "{args:?} calls a special file an extra file: {all}"
        );
    }
    assert_eq!(
        (manifest_lenient(&b.data()), manifest_lenient(&backup)),
        before,
        "a refused import changed the database or the backup"
    );
}

/// `manifest`, listing special files by kind instead of reading them (reading a FIFO blocks).
fn manifest_lenient(root: &Path) -> Vec<String> {
    use std::os::unix::fs::FileTypeExt;
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(root).sort_by_file_name() {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(root).unwrap().display().to_string();
        let ft = e.file_type();
        let what = if ft.is_fifo() || ft.is_socket() || ft.is_char_device() {
            "special".to_string()
        } else if ft.is_file() {
            format!("file {}", fs::read(e.path()).unwrap().len())
        } else if ft.is_dir() {
            "dir".into()
        } else {
            "other".into()
        };
        out.push(format!("{rel} {what}"));
    }
    out
}

#[test]
fn a_fifo_anywhere_is_a_special_file_error_and_no_command_hangs() {
    // (where, relative to data/ or backup/, in the backup?)
    let places: [(&str, bool); 6] = [
        ("pipe", false),
        ("{part}/pipe", false),
        ("{table}/pipe", false),
        ("{table}/.d.pipe", false),
        ("extra/deep/pipe", false),
        ("{table}/bpipe", true),
    ];
    for (rel, in_backup) in places {
        let b = generated(2, 2, 4, 20);
        fs::create_dir_all(b.data().join("extra/deep")).unwrap();
        b.backup();
        let table = first_table(&b);
        let part = first_partition(&b.data());
        let rel = rel
            .replace(
                "{table}",
                table.strip_prefix(b.data()).unwrap().to_str().unwrap(),
            )
            .replace(
                "{part}",
                part.strip_prefix(b.data()).unwrap().to_str().unwrap(),
            );
        let root = if in_backup { b.backup() } else { b.data() };
        let fifo = root.join(&rel);
        mkfifo(&fifo);
        if in_backup {
            // Only the deep check and the commit compare the backup.
            let cfg = b.config_str();
            let bk = b.backup();
            for args in [
                vec![
                    "check",
                    "--config",
                    &cfg,
                    "--deep",
                    "--backup",
                    bk.to_str().unwrap(),
                ],
                vec![
                    "commit",
                    "--config",
                    &cfg,
                    "--backup",
                    bk.to_str().unwrap(),
                    "--yes",
                ],
            ] {
                let out = smstage_within(&args, WATCHDOG);
                assert_eq!(out.code, 1, "{rel} in the backup, {args:?}: {}", out.all());
                assert!(
                    out.all().contains("error[special-file]") && out.all().contains("FIFO"),
                    "{args:?}: {}",
                    out.all()
                );
            }
            assert!(b
                .data()
                .join(table.strip_prefix(b.data()).unwrap())
                .is_dir());
        } else {
            assert_refused_everywhere(&b, "special-file", "FIFO", &fifo);
        }
    }
}

#[test]
fn sockets_and_devices_in_a_table_are_special_files_not_extra_files() {
    let b = generated(2, 1, 4, 20);
    b.backup();
    let table = first_table(&b);
    let sock = table.join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    assert_refused_everywhere(&b, "special-file", "socket", &sock);
    drop(_listener);
    fs::remove_file(&sock).unwrap();

    // A character device (root only: mknod); /dev/null's numbers, so reading it is harmless
    // if the guard fails.
    let dev = table.join("nulldev");
    let before = manifest_lenient(&b.path().join("backup"));
    let c = std::ffi::CString::new(dev.to_str().unwrap()).unwrap();
    // SAFETY: valid path; makedev(1, 3) is /dev/null.
    let made = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o644, libc::makedev(1, 3)) };
    if made != 0 {
        eprintln!("!!! mknod is not permitted here: the device case is SKIPPED");
        return;
    }
    assert_eq!(manifest_lenient(&b.path().join("backup")), before);
    assert_refused_everywhere(&b, "special-file", "character device", &dev);
}

fn save_plan(b: &Base, to: &Path, extra: &[&str]) -> Out {
    let cfg = b.config_str();
    let mut args = vec!["plan", "--config", &cfg];
    args.extend(["--save", to.to_str().unwrap()]);
    args.extend(extra);
    smstage_within(&args, WATCHDOG)
}

#[test]
fn plan_save_refuses_the_assembly_the_database_and_any_file_that_is_not_a_plan() {
    let b = generated(2, 1, 4, 20);
    let backup = b.backup();
    let outside = tempfile::tempdir().unwrap();
    let stray = outside.path().join("notes.txt");
    fs::write(&stray, "my notes\n").unwrap();
    let fifo = outside.path().join("pipe");
    mkfifo(&fifo);
    let cases: Vec<(PathBuf, &str)> = vec![
        (b.config(), "is the assembly file itself"),
        (backup.join("sym"), "not an smstage plan file"),
        (b.data().join("sym"), "inside the database"),
        (b.data().join("new-plan.json"), "inside the database"),
        (b.path().join("db/plan.json"), "inside the future kdb+ root"),
        (stray.clone(), "not an smstage plan file"),
        (fifo.clone(), "FIFO"),
        (outside.path().to_path_buf(), "a directory"),
    ];
    for (target, says) in &cases {
        let before = manifest_lenient(b.path());
        let out = save_plan(&b, target, &[]);
        assert_eq!(out.code, 2, "--save {}: {}", target.display(), out.all());
        assert!(
            out.all().contains(says) && out.all().contains("plan not saved"),
            "--save {}: {}",
            target.display(),
            out.all()
        );
        assert_eq!(
            manifest_lenient(b.path()),
            before,
            "--save {}",
            target.display()
        );
    }
    // --force replaces only an earlier plan file.
    let out = save_plan(&b, &stray, &["--force"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.all().contains("not an smstage plan file"),
        "{}",
        out.all()
    );
    assert_eq!(fs::read_to_string(&stray).unwrap(), "my notes\n");

    // A new file is written; the same name again needs --force, which replaces a plan file.
    let plan = outside.path().join("plan.json");
    assert_eq!(save_plan(&b, &plan, &[]).code, 0);
    let out = save_plan(&b, &plan, &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.all().contains("--force"), "{}", out.all());
    let out = save_plan(&b, &plan, &["--force"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(fs::read_to_string(&plan)
        .unwrap()
        .starts_with("{\"format\":\"smstage-plan\""));
}

#[test]
fn commit_of_an_edited_plan_with_a_recomputed_id_says_the_plan_file_was_edited() {
    let b = generated(3, 1, 4, 20);
    let outside = tempfile::tempdir().unwrap();
    let file = outside.path().join("plan.json");
    assert_eq!(save_plan(&b, &file, &[]).code, 0);
    let before = manifest(b.path());
    for (what, forged) in forged_plans::forgeries(&file, outside.path()) {
        let out = smstage_within(
            &[
                "commit",
                "--plan",
                forged.to_str().unwrap(),
                "--no-backup-check",
                "--yes",
            ],
            WATCHDOG,
        );
        assert_eq!(out.code, 2, "{what}: {}", out.all());
        assert!(
            out.all().contains("was edited after it was saved"),
            "{what}: {}",
            out.all()
        );
        assert!(
            !out.all().contains("changed while it was being checked"),
            "{what}: {}",
            out.all()
        );
        assert_eq!(
            manifest(b.path()),
            before,
            "{what}: the commit changed something"
        );
    }
    // The unedited plan is still accepted by the same derivation.
    let out = smstage_within(
        &[
            "commit",
            "--plan",
            file.to_str().unwrap(),
            "--no-backup-check",
            "--yes",
        ],
        WATCHDOG,
    );
    assert_eq!(out.code, 0, "{}", out.all());
}

#[test]
fn a_fifo_as_par_txt_or_as_the_assembly_file_fails_at_once() {
    let s = generated_with(2, 1, 4, 10, &["--segments", "2"]);
    let par = s.path().join("data/par.txt");
    fs::remove_file(&par).unwrap();
    mkfifo(&par);
    let cfg = s.path().join("assembly.yaml");
    let out = smstage_within(
        &[
            "check",
            "--config",
            cfg.to_str().unwrap(),
            "--no-backup-check",
        ],
        WATCHDOG,
    );
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.all().contains("par.txt") && out.all().contains("FIFO"),
        "{}",
        out.all()
    );
    let out = smstage_within(
        &["verify", s.path().join("data").to_str().unwrap()],
        WATCHDOG,
    );
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(out.all().contains("FIFO"), "{}", out.all());

    let fifo_cfg = s.path().join("fifo.yaml");
    mkfifo(&fifo_cfg);
    let out = smstage_within(
        &[
            "check",
            "--config",
            fifo_cfg.to_str().unwrap(),
            "--no-backup-check",
        ],
        WATCHDOG,
    );
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.all().contains("FIFO"), "{}", out.all());
}
