//! The real-database corpus (tests/common/corpus.rs) through the view and the commit: each
//! database that passes its checks is mounted, verified value by value against a pristine
//! copy, committed to exactly the tree the view listed, verified again, and rolled back to its
//! original bytes and names; each refused one is refused by `mount` and `commit` with nothing
//! changed.

// cli_flow_tests.rs includes the same helpers; each test module keeps its own copy.
#[allow(clippy::duplicate_mod)]
#[path = "../tests/common/mod.rs"]
mod common;

use common::corpus::*;
use common::*;
use std::fs;
use std::path::Path;

fn run_ok(what: &str, args: &[&str]) -> Out {
    let out = smstage(args);
    assert_eq!(out.code, 0, "{what}: {}", out.all());
    out
}

fn passing(e: &Expect, b: &Base, pristine: &Path, outside: &Path) {
    let cfg = b.config_str();
    let mnt = outside.join("view");
    fs::create_dir(&mnt).unwrap();
    run_ok(
        &format!("{}: mount", e.name),
        &[
            "mount",
            "--config",
            &cfg,
            mnt.to_str().unwrap(),
            "--background",
        ],
    );
    let guard = Unmount(mnt.clone());
    let view = listing(&mnt, &["data", "db"]);
    // The view loads as \l would and holds the same values as the original, column by column.
    run_ok(
        &format!("{}: verify of the view", e.name),
        &[
            "verify",
            mnt.join("db").to_str().unwrap(),
            "--against",
            pristine.to_str().unwrap(),
            "--deep",
        ],
    );
    run_ok(
        &format!("{}: unmount", e.name),
        &["unmount", mnt.to_str().unwrap()],
    );
    drop(guard);

    run_ok(
        &format!("{}: commit", e.name),
        &[
            "commit",
            "--config",
            &cfg,
            "--backup",
            pristine.to_str().unwrap(),
            "--yes",
        ],
    );
    assert_eq!(
        view,
        listing(b.path(), &["data", "db"]),
        "{}: the commit wrote something else than the view showed",
        e.name
    );
    run_ok(
        &format!("{}: verify of the committed root", e.name),
        &[
            "verify",
            b.path().join("db").to_str().unwrap(),
            "--config",
            &cfg,
            "--against",
            pristine.to_str().unwrap(),
            "--deep",
        ],
    );

    run_ok(
        &format!("{}: rollback", e.name),
        &["rollback", "--config", &cfg],
    );
    assert!(!b.path().join("db").exists(), "{}", e.name);
    let mut want = listing_with_modes(pristine.parent().unwrap(), &["pristine"]);
    for x in want.iter_mut() {
        *x = x.replacen("pristine/", "data/", 1);
    }
    assert_eq!(
        listing_with_modes(b.path(), &["data"]),
        want,
        "{}: rollback is not byte-identical",
        e.name
    );
}

fn refused(e: &Expect, b: &Base, pristine: &Path, outside: &Path) {
    let cfg = b.config_str();
    let before = manifest(b.path());
    let mnt = outside.join("view");
    fs::create_dir(&mnt).unwrap();
    let out = smstage(&[
        "mount",
        "--config",
        &cfg,
        mnt.to_str().unwrap(),
        "--background",
    ]);
    let _guard = Unmount(mnt.clone());
    assert_eq!(
        out.code,
        e.exit,
        "{}: mount of a refused database: {}",
        e.name,
        out.all()
    );
    let out = smstage(&[
        "commit",
        "--config",
        &cfg,
        "--backup",
        pristine.to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(
        out.code,
        e.exit,
        "{}: commit of a refused database: {}",
        e.name,
        out.all()
    );
    // A configuration error (exit 2) is printed as text, without its JSON code; commit does
    // not run the `--deep` rules.
    let deep_only = |code: &str| {
        smstage::check::rules::rule(code).is_some_and(|r| r.doc.starts_with("(`--deep`)"))
    };
    if e.exit == 2 {
        for w in e.says {
            assert!(
                out.all().contains(w),
                "{}: commit does not say {w:?}",
                e.name
            );
        }
    }
    for (code, _) in e
        .findings
        .iter()
        .filter(|(c, _)| e.exit != 2 && !deep_only(c))
    {
        assert!(
            out.all().contains(code),
            "{}: commit does not say {code}",
            e.name
        );
    }
    assert_eq!(before, manifest(b.path()), "{}: something changed", e.name);
}

#[test]
fn every_real_database_through_view_commit_and_rollback() {
    let mut ran = 0;
    let corpus = selected();
    for e in corpus.iter().copied() {
        let Some(b) = corpus_base(e.name) else {
            continue;
        };
        ran += 1;
        let outside = tempfile::tempdir().unwrap();
        let pristine = outside.path().join("pristine");
        copy_tree(&b.data(), &pristine);
        if e.exit == 0 {
            passing(e, &b, &pristine, outside.path());
        } else {
            refused(e, &b, &pristine, outside.path());
        }
    }
    if ran < corpus.len() {
        eprintln!(
            "\n!!!!!!!! WARNING: only {ran} of {} real databases were present !!!!!!!!\n",
            corpus.len()
        );
    }
}
