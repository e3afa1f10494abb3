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
    l.extend(staged_files(b));
    l
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
            let original = manifest(&b.data());
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
            let original2 = manifest(&b2.data());
            let staged2 = staged_files(&b2);
            let out = commit_env(&plan2, &[("SMSTAGE_CRASH_AT", &crash)]);
            assert_eq!(out.code, 86, "crash at {crash}: {}", out.all());
            let out = smstage(&["rollback", "--config", &b2.config_str()]);
            assert_eq!(out.code, 0, "rollback after {crash}: {}", out.all());
            assert_eq!(
                manifest(&b2.data()),
                original2,
                "rollback after a crash at {crash} ({})",
                step.label()
            );
            assert_eq!(staged_files(&b2), staged2, "rollback after {crash}");
            drop(original);
        }
    }
}
