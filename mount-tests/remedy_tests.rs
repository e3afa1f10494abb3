//! Remedies through the view, the commit and rollback (issue #19), with the binary:
//! derive-prtncol on a kdb+tick-shaped database and on the real bitmex-nested, end to end
//! (plan --save → mount --plan → verify --against → commit --plan → verify → rollback
//! byte-identical), fill-tables on the real advkdb-ipc likewise, and a kill -9 after every step
//! of a commit remedied by both (resume equals an uninterrupted commit; rollback restores every
//! byte, mtimes included, and the staged files).

#[allow(clippy::duplicate_mod)]
#[path = "../tests/common/mod.rs"]
mod common;

use common::remedied::*;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};

/// The committed tree's data and root without times (a resumed commit and an uninterrupted
/// one legitimately differ there), plus the staging area's files.
fn committed_listing(b: &Base) -> Vec<String> {
    let mut l = listing(b.path(), &["data", "db"]);
    let segs = segment_dirs(b);
    l.extend(listing(
        b.path(),
        &segs.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    l.extend(staged_files(b));
    l
}

/// The segments `gen --segments N` writes beside the root (`seg1`, `seg2`, …); none for a
/// plain database.
fn segment_dirs(b: &Base) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(b.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("seg") && b.path().join(n).is_dir())
        .collect();
    v.sort();
    v
}

/// Every entry of the database (the root, and each segment of a segmented one), modes,
/// mtimes and content hashes included: what rollback restores byte for byte.
fn database(b: &Base) -> Vec<String> {
    let mut out = manifest(&b.data());
    for s in segment_dirs(b) {
        out.extend(
            manifest(&b.path().join(&s))
                .into_iter()
                .map(|l| format!("{s}/{l}")),
        );
    }
    out
}

fn verify_against(root: &Path, other: &Path, plan: Option<&Path>) -> Out {
    let mut args = vec![
        "verify".to_string(),
        root.display().to_string(),
        "--against".into(),
        other.display().to_string(),
        "--deep".into(),
    ];
    if let Some(p) = plan {
        args.extend(["--plan".into(), p.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    smstage(&args)
}

/// The whole flow on `b` (configured with `ts` as prtnCol, absent on disk).
fn end_to_end(b: &Base, tables_per_partition: usize) {
    let parts = dates(&b.data()).len();
    end_to_end_with(
        b,
        &[DERIVE_TS],
        2 * tables_per_partition * parts,
        "\"ts\"",
        |root| {
            for t in tables_in(root) {
                assert_eq!(
                    dotd(&t).first().map(String::as_str),
                    Some("ts"),
                    "{}",
                    t.display()
                );
            }
        },
    );
}

/// plan --save with `remedies` (staging `staged` files) → mount --plan → verify --against
/// (equal with the plan; without it, different, naming `unremedied`) → commit --plan (the
/// tree the view showed) → verify → `committed` on the first partition's committed directory
/// → rollback byte-identical, the staged files back in the stage.
fn end_to_end_with(
    b: &Base,
    remedies: &[&str],
    staged: usize,
    unremedied: &str,
    committed: impl Fn(&Path),
) {
    let outside = tempfile::tempdir().unwrap();
    let backup = outside.path().join("backup");
    copy_tree(&b.data(), &backup);
    let original = manifest(&b.data());

    let (plan, out) = save_remedies(b, remedies);
    assert_eq!(out.code, 0, "{}", out.all());
    // What the remedies write, and nothing in the database.
    assert_eq!(staged_files(b).len(), staged, "{:?}", staged_files(b));
    assert_eq!(
        manifest(&b.data()),
        original,
        "plan --save changed the database"
    );

    // The view: q (and verify) sees the remedied database; the original is untouched.
    let mnt = outside.path().join("view");
    fs::create_dir(&mnt).unwrap();
    let out = smstage(&[
        "mount",
        "--plan",
        plan.to_str().unwrap(),
        mnt.to_str().unwrap(),
        "--background",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let guard = Unmount(mnt.clone());
    let view_root = mnt.join("db");
    let v = verify_against(&view_root, &backup, Some(&plan));
    assert_eq!(
        v.code,
        0,
        "view vs backup, knowing the remedies: {}",
        v.all()
    );
    // Without the plan the derived column is a difference: the view shows the remedy.
    let v = verify_against(&view_root, &backup, None);
    assert_eq!(v.code, 1, "{}", v.all());
    assert!(v.stdout.contains(unremedied), "{}", v.all());
    let seen_in_view = listing(&mnt, &["data/versions", "db"]);
    drop(guard);
    assert_eq!(
        manifest(&b.data()),
        original,
        "the view changed the database"
    );

    // The commit renders what the view showed.
    let staged_before = staged_files(b);
    let out = smstage(&[
        "commit",
        "--plan",
        plan.to_str().unwrap(),
        "--backup",
        backup.to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        listing(b.path(), &["data/versions", "db"]),
        seen_in_view,
        "committed tree differs from the view"
    );
    let v = verify_against(&b.path().join("db"), &backup, Some(&plan));
    assert_eq!(v.code, 0, "committed vs backup: {}", v.all());
    committed(
        &b.path()
            .join("data/versions")
            .join(&dates(&backup)[0])
            .join("1"),
    );

    // Rollback: every byte, mode and mtime of the database back; the staged files back in
    // the staging area (the replaced .d files left it for the database and came back).
    let out = smstage(&["rollback", "--config", &b.config_str()]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        manifest(&b.data()),
        original,
        "rollback is not byte-identical"
    );
    assert!(!b.path().join("db").exists());
    assert_eq!(staged_files(b), staged_before);
}

#[test]
fn derive_prtncol_on_a_tick_style_database_end_to_end() {
    end_to_end(&tick_style(3, 2, 300), 2);
}

/// Compressed columns: the derived column is compressed as its siblings are (the producer's
/// `sibling_compression`), and the flow is the same.
#[test]
fn derive_prtncol_on_a_compressed_tick_style_database_end_to_end() {
    let b = tick_style_with(2, 2, 5000, &["--compress", "zstd"]);
    end_to_end(&b, 2);
    let (_, out) = save_remedied(&b, DERIVE_TS);
    assert_eq!(out.code, 0, "{}", out.all());
    let stage = stage_dir(&b);
    for f in staged_files(&b).iter().filter(|f| f.ends_with("/ts")) {
        let bytes = fs::read(stage.join(f)).unwrap();
        assert!(bytes.starts_with(b"kxzipped"), "{f} is not compressed");
    }
}

#[test]
fn derive_prtncol_on_bitmex_nested_end_to_end() {
    let Some(b) = corpus::corpus_base("bitmex-nested") else {
        return;
    };
    configure_ts(&b.config());
    end_to_end(&b, 3);
}

/// fill-tables on the real advkdb-ipc: MarketInfo and Quote (configured from 2019.06.02) are
/// written empty into the three partitions that lack them, each a new directory placed whole.
#[test]
fn fill_tables_on_advkdb_ipc_end_to_end() {
    let Some(b) = corpus::corpus_base("advkdb-ipc") else {
        return;
    };
    // Two tables x three partitions, each 8 or 4 configured columns + .d.
    let staged = 3 * ((8 + 1) + (4 + 1));
    end_to_end_with(&b, &["fill-tables"], staged, "holds tables", |first| {
        // 2019.03.17 had Trade only; committed, it holds the two empty tables too.
        assert_eq!(
            tables_in(first)
                .iter()
                .map(|t| t.file_name().unwrap().to_string_lossy().into_owned())
                .collect::<Vec<_>>(),
            ["MarketInfo", "Quote", "Trade"]
        );
        let quote = first.join("Quote");
        assert_eq!(dotd(&quote), ["sym", "time", "bid", "ask"]);
    });
}

/// add-columns with derive-prtncol on a tick-style database: `fee` (configured, in no
/// partition) written null-filled to each table's rows, `ts` derived, one new `.d` per table
/// listing both where the configuration puts them.
#[test]
fn add_columns_with_derive_prtncol_end_to_end() {
    let b = tick_style(2, 2, 300);
    configure_fee(&b.config());
    // ts + fee + one .d per table of each partition.
    end_to_end_with(
        &b,
        &[DERIVE_TS, "add-columns"],
        3 * 2 * 2,
        "\"fee\"",
        |first| {
            for t in tables_in(first) {
                let d = dotd(&t);
                assert_eq!(&d[..3], ["ts", "fee", "time"], "{}", t.display());
                // 300 rows of 0n, uncompressed as its siblings: header + 8 bytes a row.
                assert_eq!(fs::metadata(t.join("fee")).unwrap().len(), 16 + 8 * 300);
            }
        },
    );
}

/// add-columns of list columns: `note` (a string) and `legs` (longs), configured in no
/// partition, written as nested pairs of empty items (`col` + `col#`) to each table's rows;
/// verify --plan checks every item is empty; rollback byte-identical.
#[test]
fn add_columns_of_list_columns_end_to_end() {
    let b = tick_style(2, 2, 300);
    configure_after_ts(&b.config(), &[("note", "string"), ("legs", "longs")]);
    // note + note# + legs + legs# + ts + one .d per table of each partition.
    end_to_end_with(
        &b,
        &[DERIVE_TS, "add-columns"],
        6 * 2 * 2,
        "\"note\"",
        |first| {
            for t in tables_in(first) {
                let d = dotd(&t);
                assert_eq!(&d[..4], ["ts", "note", "legs", "time"], "{}", t.display());
                // 300 empty items: an index of 8 bytes a row, two bytes an item.
                assert_eq!(fs::metadata(t.join("note")).unwrap().len(), 4096 + 8 * 300);
                assert_eq!(fs::metadata(t.join("legs#")).unwrap().len(), 4096 + 2 * 300);
            }
        },
    );
}

/// add-columns of a symbol column with derive-prtncol: `mkt` (configured, in no partition)
/// written as nulls enumerated to the empty symbol, which the generated sym lacks, so a new
/// sym (the old one + "") is staged and swapped in by the commit: the view and the committed
/// root load it (verify), and rollback puts the original sym back byte for byte.
#[test]
fn add_columns_of_a_symbol_column_swaps_in_a_new_sym_end_to_end() {
    let b = tick_style(2, 2, 300);
    configure_mkt(&b.config());
    let sym_before = fs::read(b.data().join("sym")).unwrap();
    // ts + mkt + one .d per table of each partition, and the one new sym.
    end_to_end_with(
        &b,
        &[DERIVE_TS, "add-columns"],
        3 * 2 * 2 + 1,
        "enumeration domain sym holds different symbols",
        |first| {
            for t in tables_in(first) {
                assert_eq!(&dotd(&t)[..3], ["ts", "mkt", "time"], "{}", t.display());
            }
            // The root q loads holds the new sym: the old one byte for byte, then "".
            let base = first.ancestors().nth(4).unwrap();
            assert_eq!(
                fs::read(base.join("db/sym")).unwrap(),
                [sym_before.as_slice(), b"\0"].concat()
            );
        },
    );
    assert_eq!(fs::read(b.data().join("sym")).unwrap(), sym_before);
}

fn commit_env(plan: &Path, env: &[(&str, &str)]) -> Out {
    let mut c = std::process::Command::new(bin());
    c.args(["commit", "--plan"])
        .arg(plan)
        .args(["--no-backup-check", "--yes"])
        .envs(env.iter().copied());
    run(c)
}

/// A fresh tick-style base (2 partitions x 2 tables, the second table absent from the last
/// partition, a configured float `fee` in no partition) and its plan remedied by
/// derive-prtncol, fill-tables and add-columns: every remedy step kind, and a table whose one
/// new `.d` lists both a derived and an added column.
fn remedied_base() -> (Base, PathBuf) {
    let b = tick_style(2, 2, 40);
    configure_fee(&b.config());
    let last = dates(&b.data()).pop().unwrap();
    let tables = tables_in(&b.data().join(last));
    fs::remove_dir_all(&tables[1]).unwrap();
    let (plan, out) = save_remedies(&b, &[DERIVE_TS, "fill-tables", "add-columns"]);
    assert_eq!(out.code, 0, "{}", out.all());
    (b, plan)
}

#[test]
fn kill_at_every_step_of_a_remedied_commit_then_resume_or_roll_back() {
    let (_b, plan) = remedied_base();
    let saved = smstage::approval::load(&plan).unwrap();
    let steps = smstage::commit::steps(&saved.plan).unwrap();
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, smstage::commit::Step::PlaceStaged { .. }))
            && steps
                .iter()
                .any(|s| matches!(s, smstage::commit::Step::SwapStaged { .. }))
            && steps
                .iter()
                .any(|s| matches!(s, smstage::commit::Step::PlaceStagedDir { .. })),
        "{steps:?}"
    );
    kill_at_every_step(remedied_base);
}

/// A fresh tick-style base (2 partitions x 1 table, a configured symbol `mkt` in no
/// partition) and its plan remedied by derive-prtncol and add-columns: the commit swaps a new
/// sym into the root first (the empty symbol appended), places the null `mkt` columns and
/// swaps each table's `.d`.
fn sym_swapping_base() -> (Base, PathBuf) {
    let b = tick_style(2, 1, 40);
    configure_mkt(&b.config());
    let (plan, out) = save_remedies(&b, &[DERIVE_TS, "add-columns"]);
    assert_eq!(out.code, 0, "{}", out.all());
    (b, plan)
}

/// The root sym swap killed after every step (and after its intent): resume equals the
/// uninterrupted commit, rollback restores every byte (sym included) and the staged files.
#[test]
fn kill_at_every_step_of_a_sym_swapping_commit_then_resume_or_roll_back() {
    let (_b, plan) = sym_swapping_base();
    let saved = smstage::approval::load(&plan).unwrap();
    let steps = smstage::commit::steps(&saved.plan).unwrap();
    assert!(
        matches!(&steps[0], smstage::commit::Step::SwapStaged { path, .. } if path == "data/sym"),
        "{steps:?}"
    );
    kill_at_every_step(sym_swapping_base);
}

/// A crash after every step's action of the commit of `base()`'s plan, and for the remedy
/// steps also after their intent; then
/// resume (the same tree as an uninterrupted commit) or roll back (the original, mtimes
/// included, and the staged files back in the stage).
fn kill_at_every_step(base: fn() -> (Base, PathBuf)) {
    // The uninterrupted commit, for comparison.
    let (b, plan) = base();
    let saved = smstage::approval::load(&plan).unwrap();
    let steps = smstage::commit::steps(&saved.plan).unwrap();
    let out = commit_env(&plan, &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    let committed = committed_listing(&b);

    // A crash after every step's action; for the remedy steps also after their intent
    // (journaled, not run). The commit's own matrix covers both points of every other kind.
    for (k, step) in steps.iter().enumerate() {
        let remedy_step = matches!(
            step,
            smstage::commit::Step::PlaceStaged { .. }
                | smstage::commit::Step::SwapStaged { .. }
                | smstage::commit::Step::PlaceStagedDir { .. }
        );
        let points: &[&str] = if remedy_step {
            &["intent", "action"]
        } else {
            &["action"]
        };
        for at in points {
            let crash = format!("{k}:{at}");
            // Crash, then resume: the same tree as the uninterrupted commit.
            let (b, plan) = base();
            let original = database(&b);
            let out = commit_env(&plan, &[("SMSTAGE_CRASH_AT", &crash)]);
            assert_eq!(out.code, 86, "crash at {crash}: {}", out.all());
            let out = commit_env(&plan, &[]);
            assert_eq!(out.code, 0, "resume after {crash}: {}", out.all());
            assert_eq!(
                committed_listing(&b),
                committed,
                "resume after a crash at {crash} ({})",
                step.label()
            );
            // The same crash, then roll back: the original, mtimes included.
            let (b2, plan2) = base();
            let original2 = database(&b2);
            let staged2 = staged_files(&b2);
            let out = commit_env(&plan2, &[("SMSTAGE_CRASH_AT", &crash)]);
            assert_eq!(out.code, 86, "crash at {crash}: {}", out.all());
            let out = smstage(&["rollback", "--config", &b2.config_str()]);
            assert_eq!(out.code, 0, "rollback after {crash}: {}", out.all());
            assert_eq!(
                database(&b2),
                original2,
                "rollback after a crash at {crash} ({})",
                step.label()
            );
            assert_eq!(staged_files(&b2), staged2, "rollback after {crash}");
            drop(original);
        }
    }
}

/// set-aside on the real advkdb-ipc configured with Trade only: MarketInfo and Quote (in
/// 2019.06.02) move to smstage-aside/2019.06.02/, each by one rename; the view shows them
/// there beside db/, the committed tree too, byte for byte; rollback puts them back
/// (byte-identical, mtimes included) and removes the smstage-aside/ it created.
#[test]
fn set_aside_on_advkdb_ipc_end_to_end() {
    let Some(b) = advkdb_trade_only() else {
        return;
    };
    let tables = |d: &Path| -> Vec<String> {
        tables_in(d)
            .iter()
            .map(|t| t.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    // The two tables as they are, for the tree under smstage-aside/ to equal.
    let moved = listing(&b.data(), &["2019.06.02/MarketInfo", "2019.06.02/Quote"]);
    let (plan, out) = save_remedied(&b, "set-aside");
    assert_eq!(out.code, 0, "{}", out.all());
    let outside = tempfile::tempdir().unwrap();
    let mnt = outside.path().join("view");
    fs::create_dir(&mnt).unwrap();
    let out = smstage(&[
        "mount",
        "--plan",
        plan.to_str().unwrap(),
        mnt.to_str().unwrap(),
        "--background",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let guard = Unmount(mnt.clone());
    let in_view = listing(&mnt, &["smstage-aside"]);
    assert_eq!(
        listing(
            &mnt.join("smstage-aside"),
            &["2019.06.02/MarketInfo", "2019.06.02/Quote"]
        ),
        moved
    );
    assert_eq!(tables(&mnt.join("db/hdb$/2019.06.02")), ["Trade"]);
    drop(guard);

    end_to_end_with(&b, &["set-aside"], 0, "holds tables", |first| {
        let base = first.ancestors().nth(4).unwrap();
        assert_eq!(
            listing(base, &["smstage-aside"]),
            in_view,
            "committed smstage-aside/ differs from the view"
        );
        let june = base.join("data/versions/2019.06.02/1");
        assert_eq!(tables(&june), ["Trade"]);
    });
    assert!(!b.path().join("smstage-aside").exists());
}

/// set-aside on the real sewio-nested-sym, a database with no date partition (SM imports its
/// root: the splayed AXSTATE with nested symbol columns; `partition-none` is a warning): its two
/// serialized objects (AXSTATE_UX_ACCESSTIME, AXSTATE_VERSION) are stray root files SM refuses,
/// moved to smstage-aside/. The whole flow: plan --save → view (verify --plan equal) → commit →
/// verify → rollback byte-identical, smstage-aside/ removed.
#[test]
fn set_aside_on_sewio_nested_sym_end_to_end() {
    let Some(b) = corpus::corpus_base("sewio-nested-sym") else {
        return;
    };
    let outside = tempfile::tempdir().unwrap();
    let backup = outside.path().join("backup");
    copy_tree(&b.data(), &backup);
    let original = manifest(&b.data());
    let strays = ["AXSTATE_UX_ACCESSTIME", "AXSTATE_VERSION"];
    let bytes: Vec<Vec<u8>> = strays
        .iter()
        .map(|s| fs::read(b.data().join(s)).unwrap())
        .collect();

    let (plan, out) = save_remedied(&b, "set-aside");
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        manifest(&b.data()),
        original,
        "plan --save changed the database"
    );

    let mnt = outside.path().join("view");
    fs::create_dir(&mnt).unwrap();
    let out = smstage(&[
        "mount",
        "--plan",
        plan.to_str().unwrap(),
        mnt.to_str().unwrap(),
        "--background",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let guard = Unmount(mnt.clone());
    let v = verify_against(&mnt.join("db"), &backup, Some(&plan));
    assert_eq!(v.code, 0, "view vs backup, knowing the plan: {}", v.all());
    let v = verify_against(&mnt.join("db"), &backup, None);
    assert_eq!(
        v.code,
        1,
        "without the plan the strays are missing: {}",
        v.all()
    );
    for (s, want) in strays.iter().zip(&bytes) {
        assert!(
            !mnt.join("db").join(s).exists(),
            "{s} still in the view's root"
        );
        assert_eq!(&fs::read(mnt.join("smstage-aside").join(s)).unwrap(), want);
    }
    let seen_in_view = listing(&mnt, &["data", "db", "smstage-aside"]);
    drop(guard);

    let out = smstage(&[
        "commit",
        "--plan",
        plan.to_str().unwrap(),
        "--backup",
        backup.to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        listing(b.path(), &["data", "db", "smstage-aside"]),
        seen_in_view,
        "committed tree differs from the view"
    );
    let v = verify_against(&b.path().join("db"), &backup, Some(&plan));
    assert_eq!(v.code, 0, "committed vs backup: {}", v.all());
    for (s, want) in strays.iter().zip(&bytes) {
        assert_eq!(
            &fs::read(b.path().join("smstage-aside").join(s)).unwrap(),
            want
        );
    }

    let out = smstage(&["rollback", "--config", &b.config_str()]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        manifest(&b.data()),
        original,
        "rollback is not byte-identical"
    );
    assert!(!b.path().join("smstage-aside").exists());
    assert!(!b.path().join("db").exists());
}

/// set-aside of partition entries that are symbolic links to tables the assembly does not
/// configure (one to a table directory outside the database, one relative to another
/// partition's table), and of a link in a configured table that its `.d` does not list:
/// plan --save → the view (neither link in its partition, each under
/// smstage-aside/ with its target text intact; verify --plan equal) → commit (the tree the
/// view showed: the links moved, what they point at untouched) → verify → rollback
/// byte-identical, each link back with its target text and mtime.
#[test]
fn set_aside_of_partition_links_end_to_end() {
    let b = generated(3, 2, 3, 20);
    let d = dates(&b.data());
    let outside = tempfile::tempdir().unwrap();
    let elsewhere = outside.path().join("extra");
    copy_tree(&b.data().join(&d[0]).join("quote"), &elsewhere);
    std::os::unix::fs::symlink(&elsewhere, b.data().join(&d[0]).join("extra")).unwrap();
    let relative = format!("../{}/trade", d[0]);
    std::os::unix::fs::symlink(&relative, b.data().join(&d[1]).join("other")).unwrap();
    let notes = outside.path().join("notes");
    fs::write(&notes, "text\n").unwrap();
    std::os::unix::fs::symlink(&notes, b.data().join(&d[2]).join("trade/notes")).unwrap();
    let backup = outside.path().join("backup");
    copy_tree(&b.data(), &backup);
    let original = manifest(&b.data());
    let pointed_at = manifest(&elsewhere);

    let (plan, out) = save_remedied(&b, "set-aside");
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        manifest(&b.data()),
        original,
        "plan --save changed the database"
    );

    let mnt = outside.path().join("view");
    fs::create_dir(&mnt).unwrap();
    let out = smstage(&[
        "mount",
        "--plan",
        plan.to_str().unwrap(),
        mnt.to_str().unwrap(),
        "--background",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let guard = Unmount(mnt.clone());
    for (date, name, target) in [
        (&d[0], "extra", elsewhere.display().to_string()),
        (&d[1], "other", relative.clone()),
    ] {
        let part = mnt.join("data/versions").join(date).join("1");
        let mut names: Vec<String> = fs::read_dir(&part)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["quote", "trade"], "{}", part.display());
        let aside = mnt.join("smstage-aside").join(date).join(name);
        assert!(fs::symlink_metadata(&aside)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_link(&aside).unwrap().display().to_string(), target);
    }
    let trade = mnt.join("data/versions").join(&d[2]).join("1/trade");
    assert!(trade.join("price").exists() && !trade.join("notes").exists());
    assert_eq!(
        fs::read_link(mnt.join("smstage-aside").join(&d[2]).join("trade/notes")).unwrap(),
        notes
    );
    let v = verify_against(&mnt.join("db"), &backup, Some(&plan));
    assert_eq!(v.code, 0, "view vs backup, knowing the plan: {}", v.all());
    // Without the plan, the backup's linked table is one q loads there (verify follows the
    // other root's links as q does): the view lacks it.
    let v = verify_against(&mnt.join("db"), &backup, None);
    assert_eq!(v.code, 1, "{}", v.all());
    assert!(
        v.stdout.contains(&format!(
            "partition {} holds tables [\"quote\", \"trade\"] vs [\"extra\", \"quote\", \"trade\"]",
            d[0]
        )),
        "{}",
        v.all()
    );
    let seen_in_view = listing(&mnt, &["data/versions", "db", "smstage-aside"]);
    drop(guard);

    let out = smstage(&[
        "commit",
        "--plan",
        plan.to_str().unwrap(),
        "--backup",
        backup.to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        listing(b.path(), &["data/versions", "db", "smstage-aside"]),
        seen_in_view,
        "committed tree differs from the view"
    );
    let v = verify_against(&b.path().join("db"), &backup, Some(&plan));
    assert_eq!(v.code, 0, "committed vs backup: {}", v.all());
    assert_eq!(
        manifest(&elsewhere),
        pointed_at,
        "the commit followed a link"
    );

    let out = smstage(&["rollback", "--config", &b.config_str()]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        manifest(&b.data()),
        original,
        "rollback is not byte-identical"
    );
    assert!(!b.path().join("smstage-aside").exists());
    assert!(!b.path().join("db").exists());
    assert_eq!(manifest(&elsewhere), pointed_at);
}

/// A base for the set-aside kill matrix: advkdb-ipc with Trade only (two tables of
/// 2019.06.02 set aside), a stray root file and a file Trade's .d does not list in the last
/// partition (2019.08.24): every kind of entry set-aside moves, in both of its waves.
fn aside_base() -> Option<(Base, PathBuf)> {
    let b = advkdb_trade_only()?;
    fs::write(b.data().join("README"), "stray\n").unwrap();
    fs::write(b.data().join("2019.08.24/Trade/notes"), "not a column\n").unwrap();
    let (plan, out) = save_remedied(&b, "set-aside");
    assert_eq!(out.code, 0, "{}", out.all());
    Some((b, plan))
}

fn aside_listing(b: &Base) -> Vec<String> {
    listing(b.path(), &["data", "db", "smstage-aside"])
}

#[test]
fn kill_at_every_step_of_a_set_aside_commit_then_resume_or_roll_back() {
    let Some((b, plan)) = aside_base() else {
        return;
    };
    let saved = smstage::approval::load(&plan).unwrap();
    let steps = smstage::commit::steps(&saved.plan).unwrap();
    let asides = steps
        .iter()
        .filter(|s| matches!(s, smstage::commit::Step::SetAside { .. }))
        .count();
    assert_eq!(asides, 4, "{steps:?}");
    let outside = tempfile::tempdir().unwrap();
    let backup = outside.path().join("backup");
    copy_tree(&b.data(), &backup);
    let out = commit_env(&plan, &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    // The stray root file and the unlisted file are left out of the comparison, knowing the
    // plan; without it the root entries differ.
    let v = verify_against(&b.path().join("db"), &backup, Some(&plan));
    assert_eq!(v.code, 0, "committed vs backup: {}", v.all());
    let v = verify_against(&b.path().join("db"), &backup, None);
    assert!(v.stdout.contains("root entries"), "{}", v.all());
    let committed = aside_listing(&b);
    assert!(
        committed
            .iter()
            .any(|l| l.starts_with("smstage-aside/2019.08.24/Trade/notes file")),
        "{committed:?}"
    );

    for (k, step) in steps.iter().enumerate() {
        let points: &[&str] = if matches!(step, smstage::commit::Step::SetAside { .. }) {
            &["intent", "action"]
        } else {
            &["action"]
        };
        for at in points {
            let crash = format!("{k}:{at}");
            let (b, plan) = aside_base().unwrap();
            let out = commit_env(&plan, &[("SMSTAGE_CRASH_AT", &crash)]);
            assert_eq!(out.code, 86, "crash at {crash}: {}", out.all());
            let out = commit_env(&plan, &[]);
            assert_eq!(out.code, 0, "resume after {crash}: {}", out.all());
            assert_eq!(
                aside_listing(&b),
                committed,
                "resume after a crash at {crash} ({})",
                step.label()
            );

            let (b2, plan2) = aside_base().unwrap();
            let original = manifest(&b2.data());
            let out = commit_env(&plan2, &[("SMSTAGE_CRASH_AT", &crash)]);
            assert_eq!(out.code, 86, "crash at {crash}: {}", out.all());
            let out = smstage(&["rollback", "--config", &b2.config_str()]);
            assert_eq!(out.code, 0, "rollback after {crash}: {}", out.all());
            assert_eq!(
                manifest(&b2.data()),
                original,
                "rollback after a crash at {crash} ({})",
                step.label()
            );
            assert!(
                !b2.path().join("smstage-aside").exists(),
                "rollback after {crash} left smstage-aside/"
            );
        }
    }
}

/// one-sym end to end on the real dolphindb-sample, its three enumerated tables configured
/// (with derive-prtncol for ORD and TRANSACTION, fill-tables, and set-aside for the rest, the
/// three domain files one-sym leaves unused included): the view and the committed root load
/// the new sym (the old one + 89 symbols) and every re-enumerated column stands for the
/// original's symbols row by row (verify --against --plan); rollback restores every byte, sym
/// and the domain files included.
#[test]
fn one_sym_on_dolphindb_sample_end_to_end() {
    let Some(b) = corpus::corpus_base("dolphindb-sample") else {
        return;
    };
    keep_tables(&b.config(), &["quote_cffex", "ORD", "TRANSACTION"]);
    configure_ts(&b.config());
    let sym_before = fs::read(b.data().join("sym")).unwrap();
    let domains: Vec<Vec<u8>> = ["sym_ORD", "sym_TRANSACTION", "sym_quote_cffex"]
        .iter()
        .map(|d| fs::read(b.data().join(d)).unwrap())
        .collect();
    // sym; ORD: ts, .d, 5 columns; TRANSACTION: ts, .d, 6 columns; quote_cffex: 4 columns;
    // fill-tables: quote_cffex (47 columns + .d) in 2 partitions, ORD (ts + 12 + .d) and
    // TRANSACTION (ts + 14 + .d) in 2 each.
    let staged = 1 + 7 + 8 + 4 + 2 * 48 + 2 * 14 + 2 * 16;
    end_to_end_with(
        &b,
        &[DERIVE_TS, "one-sym", "fill-tables", "set-aside"],
        staged,
        "root entries",
        |first| {
            let base = first.ancestors().nth(4).unwrap();
            let sym = fs::read(base.join("db/sym")).unwrap();
            assert!(sym.len() > sym_before.len());
            assert_eq!(&sym[8..sym_before.len()], &sym_before[8..]);
            let n = smstage::kdb::read_symbols(&base.join("db/sym"))
                .unwrap()
                .len();
            assert_eq!(n, 56106 + 89);
            // The old domains are set aside, unchanged; the root holds sym only.
            for (d, bytes) in ["sym_ORD", "sym_TRANSACTION", "sym_quote_cffex"]
                .iter()
                .zip(&domains)
            {
                assert_eq!(
                    &fs::read(base.join("smstage-aside").join(d)).unwrap(),
                    bytes
                );
                assert!(!base.join("db").join(d).exists());
            }
        },
    );
    assert_eq!(fs::read(b.data().join("sym")).unwrap(), sym_before);
}

/// A fresh tick-style base (2 partitions x 2 tables) whose `quote` tables enumerate `sym`
/// against a second domain `sym2` (three symbols sym lacks), and its plan remedied by
/// derive-prtncol, one-sym and set-aside (which moves the unused sym2): the commit swaps in
/// the new sym, then the re-enumerated columns, and sets sym2 aside.
fn one_sym_base() -> (Base, PathBuf) {
    let b = tick_style(2, 2, 40);
    second_domain(&b, "quote", "sym2");
    let (plan, out) = save_remedies(&b, &[DERIVE_TS, "one-sym", "set-aside"]);
    assert_eq!(out.code, 0, "{}", out.all());
    (b, plan)
}

/// one-sym on a generated database with a second domain, end to end: the re-enumerated
/// columns decode as before through the new sym (verify --against --plan, in the view and
/// committed), sym2 set aside unchanged; rollback byte-identical, sym and sym2 included.
#[test]
fn one_sym_on_a_generated_second_domain_end_to_end() {
    let b = tick_style(2, 2, 300);
    let words = second_domain(&b, "quote", "sym2");
    let sym2 = fs::read(b.data().join("sym2")).unwrap();
    // sym; ts + .d per table of each partition; quote's sym column in each partition.
    end_to_end_with(
        &b,
        &[DERIVE_TS, "one-sym", "set-aside"],
        1 + 2 * 2 * 2 + 2,
        "root entries",
        |first| {
            let base = first.ancestors().nth(4).unwrap();
            let sym = smstage::kdb::read_symbols(&base.join("db/sym")).unwrap();
            assert_eq!(&sym[sym.len() - 3..], ["ZZA", "ZZB", "ZZC"]);
            let col = smstage::kdb::read_column(&first.join("quote/sym")).unwrap();
            let smstage::kdb::ColumnData::Enum { domain, indices } = col.data else {
                panic!("not an enumeration");
            };
            assert_eq!(domain, "sym");
            let got: Vec<&str> = indices.iter().map(|&i| sym[i as usize].as_str()).collect();
            assert_eq!(got, words[0]);
            assert_eq!(fs::read(base.join("smstage-aside/sym2")).unwrap(), sym2);
        },
    );
    assert_eq!(fs::read(b.data().join("sym2")).unwrap(), sym2);
}

/// one-sym's commit killed after every step (the sym swap, each column swap, the set-aside
/// of sym2; the remedy steps also after their intent): resume equals the uninterrupted
/// commit, rollback restores every byte (sym, sym2 and the columns included) and the stage.
#[test]
fn kill_at_every_step_of_a_one_sym_commit_then_resume_or_roll_back() {
    let (_b, plan) = one_sym_base();
    let saved = smstage::approval::load(&plan).unwrap();
    let steps = smstage::commit::steps(&saved.plan).unwrap();
    let swaps: Vec<&str> = steps
        .iter()
        .filter_map(|s| match s {
            smstage::commit::Step::SwapStaged { path, .. } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(swaps[0], "data/sym", "{steps:?}");
    assert!(swaps.iter().any(|p| p.ends_with("/quote/sym")), "{swaps:?}");
    kill_at_every_step(one_sym_base);
}

/// The commit's own preflight, below the checks `commit --plan` runs first: a destination
/// under smstage-aside/ taken after the plan was saved is refused before the first step
/// (a NOREPLACE rename would otherwise fail half-way), naming both paths.
#[test]
fn the_commit_preflight_refuses_a_taken_set_aside_destination() {
    let Some(b) = advkdb_trade_only() else {
        return;
    };
    let (plan, out) = save_remedied(&b, "set-aside");
    assert_eq!(out.code, 0, "{}", out.all());
    let saved = smstage::approval::load(&plan).unwrap();
    let taken = b.path().join("smstage-aside/2019.06.02/Quote");
    fs::create_dir_all(&taken).unwrap();
    let before = manifest(&b.data());
    let e = smstage::commit::commit(&saved.plan, &smstage::commit::CommitOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "{} is to be set aside as {}, which already exists",
            b.data().join("2019.06.02/Quote").display(),
            taken.display()
        )),
        "{e}"
    );
    assert_eq!(manifest(&b.data()), before);
    assert!(!b.path().join("db").exists());
    assert!(!b.path().join(".smstage/journal").exists());
}

/// `<baseURI>/smstage-aside` on another filesystem than the database (here a tmpfs mounted
/// there): the commit's rename(2) of each entry set aside would fail with EXDEV half-way
/// through the commit. check refuses it before anything is written, naming both places.
#[test]
fn set_aside_refuses_a_smstage_aside_on_another_filesystem() {
    let Some(b) = advkdb_trade_only() else {
        return;
    };
    let aside = b.path().join("smstage-aside");
    let Some(_m) = crate::commit_fault_tests::Mount::tmpfs(&aside, "size=1m") else {
        return;
    };
    let before = manifest(&b.data());
    let config = b.config_str();
    let out = smstage(&[
        "check",
        "--config",
        &config,
        "--no-backup-check",
        "--remedy",
        "set-aside",
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    let want = format!(
        "error[remedy-refused]: set-aside: {} is on another filesystem than the database {}",
        aside.display(),
        b.data().join("2019.06.02").display()
    );
    assert!(out.stdout.contains(&want), "{want}\n{}", out.all());
    let (plan, out) = save_remedied(&b, "set-aside");
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(!plan.exists());
    assert_eq!(manifest(&b.data()), before);
    assert!(fs::read_dir(&aside).unwrap().next().is_none());
}

/// A kdb+tick-style database over two segments (`gen --tick-style --segments 2`), `ts`
/// configured: `seg1` holds the first half of the dates, `seg2` the rest.
fn segmented_tick_style(partitions: u32, tables: u32, rows: u32) -> Base {
    tick_style_with(partitions, tables, rows, &["--segments", "2"])
}

/// derive-prtncol on a segmented kdb+tick-style database, end to end: plan --save (each
/// segment's files staged in the baseURI's stage under its anchor) → mount --plan → verify
/// --against --plan (equal; without the plan, `ts` differs) → commit --plan (each segment's
/// versions as the view showed them) → verify → rollback byte-identical across the root and
/// every segment, the staged files back in the stage.
#[test]
fn derive_prtncol_on_a_segmented_tick_style_database_end_to_end() {
    let b = segmented_tick_style(4, 2, 300);
    let segs = segment_dirs(&b);
    assert_eq!(segs, ["seg1", "seg2"]);
    // The backup of a segmented database: the root, and each segment as <tier>$.
    let outside = tempfile::tempdir().unwrap();
    let backup = outside.path().join("backup");
    copy_tree(&b.data(), &backup);
    for s in &segs {
        copy_tree(&b.path().join(s), &backup.join(format!("{s}$")));
    }
    fs::write(backup.join("par.txt"), "seg1$\nseg2$\n").unwrap();
    let original = database(&b);

    let (plan, out) = save_remedied(&b, DERIVE_TS);
    assert_eq!(out.code, 0, "{}", out.all());
    let staged = staged_files(&b);
    assert_eq!(staged.len(), 2 * 2 * 4, "{staged:?}");
    assert!(
        staged
            .iter()
            .all(|f| f.starts_with("stores/seg1/2024.01.0")
                || f.starts_with("stores/seg2/2024.01.0")),
        "{staged:?}"
    );
    assert_eq!(database(&b), original, "plan --save changed the database");

    let mnt = outside.path().join("view");
    fs::create_dir(&mnt).unwrap();
    let out = smstage(&[
        "mount",
        "--plan",
        plan.to_str().unwrap(),
        mnt.to_str().unwrap(),
        "--background",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let guard = Unmount(mnt.clone());
    let view_root = mnt.join("db");
    let v = verify_against(&view_root, &backup, Some(&plan));
    assert_eq!(
        v.code,
        0,
        "view vs backup, knowing the remedies: {}",
        v.all()
    );
    let v = verify_against(&view_root, &backup, None);
    assert_eq!(v.code, 1, "{}", v.all());
    assert!(v.stdout.contains("\"ts\""), "{}", v.all());
    // The view shows each store's future contents below its anchor (a directory there).
    let versions: Vec<String> = segs.iter().map(|s| format!("{s}/versions")).collect();
    let versions: Vec<&str> = versions.iter().map(String::as_str).collect();
    let mut seen_in_view = listing(&mnt.join("stores"), &versions);
    seen_in_view.extend(listing(&mnt, &["db"]));
    drop(guard);
    assert_eq!(database(&b), original, "the view changed the database");

    let staged_before = staged_files(&b);
    let out = smstage(&[
        "commit",
        "--plan",
        plan.to_str().unwrap(),
        "--backup",
        backup.to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let mut committed = listing(b.path(), &versions);
    committed.extend(listing(b.path(), &["db"]));
    assert_eq!(
        committed, seen_in_view,
        "committed tree differs from the view"
    );
    let v = verify_against(&b.path().join("db"), &backup, Some(&plan));
    assert_eq!(v.code, 0, "committed vs backup: {}", v.all());
    for (s, d) in [("seg1", "2024.01.02"), ("seg2", "2024.01.05")] {
        for t in tables_in(&b.path().join(s).join("versions").join(d).join("1")) {
            assert_eq!(
                dotd(&t).first().map(String::as_str),
                Some("ts"),
                "{}",
                t.display()
            );
        }
    }

    let out = smstage(&["rollback", "--config", &b.config_str()]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(database(&b), original, "rollback is not byte-identical");
    assert!(!b.path().join("db").exists());
    assert!(!b.path().join("stores").exists());
    assert_eq!(staged_files(&b), staged_before);
}

/// A fresh segmented tick-style base (2 partitions x 2 tables, one per segment; the second
/// table absent from seg2's partition, a configured float `fee` in no partition) and its plan
/// remedied by derive-prtncol, fill-tables and add-columns: every remedy step kind, each
/// reaching its segment through the store anchor.
fn segmented_remedied_base() -> (Base, PathBuf) {
    let b = segmented_tick_style(2, 2, 40);
    configure_fee(&b.config());
    let last = dates(&b.path().join("seg2")).pop().unwrap();
    let tables = tables_in(&b.path().join("seg2").join(last));
    fs::remove_dir_all(&tables[1]).unwrap();
    let (plan, out) = save_remedies(&b, &[DERIVE_TS, "fill-tables", "add-columns"]);
    assert_eq!(out.code, 0, "{}", out.all());
    (b, plan)
}

/// The segmented remedied commit killed after every step (and after each remedy step's
/// intent): resume equals the uninterrupted commit (root, segments and stage), rollback
/// restores every byte of the root and of both segments, mtimes included, and the staged files.
#[test]
fn kill_at_every_step_of_a_segmented_remedied_commit_then_resume_or_roll_back() {
    let (_b, plan) = segmented_remedied_base();
    let saved = smstage::approval::load(&plan).unwrap();
    let steps = smstage::commit::steps(&saved.plan).unwrap();
    let in_store = |p: &str| p.starts_with("stores/seg1/") || p.starts_with("stores/seg2/");
    assert!(
        steps.iter().any(|s| matches!(s, smstage::commit::Step::PlaceStaged { path, .. } if in_store(path)))
            && steps.iter().any(|s| matches!(s, smstage::commit::Step::SwapStaged { path, .. } if in_store(path)))
            && steps.iter().any(|s| matches!(s, smstage::commit::Step::PlaceStagedDir { path, .. } if path.starts_with("stores/seg2/"))),
        "{steps:?}"
    );
    kill_at_every_step(segmented_remedied_base);
}

/// A segment on another filesystem than the baseURI (a tmpfs mounted by the test): the staged
/// files could not be renamed into it, so check --remedy and plan --remedy --save refuse by
/// name (`remedy-refused` naming the segment), exit 1, and nothing is written (no stage).
#[test]
fn remedies_with_a_segment_on_another_filesystem_are_refused_by_name() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().canonicalize().unwrap();
    let fs2 = root.join("fs2");
    fs::create_dir(&fs2).unwrap();
    let Some(_fs) = crate::commit_fault_tests::Mount::tmpfs(&fs2, "size=16m") else {
        eprintln!("skipped: cannot mount a tmpfs");
        return;
    };
    let base = root.join("b");
    let seg2 = fs2.join("seg2");
    let out = smstage(&[
        "gen",
        "--out",
        base.to_str().unwrap(),
        "--tick-style",
        "--partitions",
        "2",
        "--tables",
        "1",
        "--rows",
        "20",
        "--segment-dir",
        base.join("seg1").to_str().unwrap(),
        "--segment-dir",
        seg2.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let config = base.join("assembly.yaml");
    configure_ts(&config);
    let before = manifest(&seg2);
    let cfg = config.to_str().unwrap();
    let out = smstage(&[
        "check",
        "--config",
        cfg,
        "--no-backup-check",
        "--remedy",
        DERIVE_TS,
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    let want = format!(
        "segment {} (stores/seg2) is on another filesystem than the baseURI",
        seg2.display()
    );
    assert!(out.stdout.contains(&want), "{}", out.all());
    assert!(out.stdout.contains("remedy-refused"), "{}", out.all());
    let plan = root.join("p.plan");
    let out = smstage(&[
        "plan",
        "--config",
        cfg,
        "--remedy",
        DERIVE_TS,
        "--save",
        plan.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.all().contains(&want), "{}", out.all());
    assert!(!plan.exists());
    assert!(!base.join(".smstage/stage").exists());
    assert_eq!(manifest(&seg2), before);
}
