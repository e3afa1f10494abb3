//! `--remedy` through `check` and `plan` (issue #19): what each remedy will do, the database
//! judged as it will be, bad remedies refused before anything is written, a derivation the
//! data refuses stopping the staging with the database untouched, staged files bound to the
//! plan (`plan-drift`). The view, the commit and rollback of remedies: mount-tests/remedy_tests.rs.

mod common;

use common::remedied::*;
use common::*;
use std::fs;

fn check(b: &Base, remedies: &[&str], json: bool) -> Out {
    let config = b.config_str();
    let mut args = vec!["check", "--config", &config, "--no-backup-check"];
    for r in remedies {
        args.extend(["--remedy", r]);
    }
    if json {
        args.extend(["--format", "json"]);
    }
    smstage(&args)
}

#[test]
fn check_judges_the_database_as_the_remedy_will_leave_it() {
    let b = tick_style(2, 2, 50);
    // Without the remedy: the configured ts is absent from every table of every partition.
    let bare = check(&b, &[], true);
    assert_eq!(bare.code, 1, "{}", bare.all());
    let v: serde_json::Value = serde_json::from_str(&bare.stdout).unwrap();
    assert_eq!(
        corpus::finding_counts(&v),
        vec![("schema-columns-mismatch".to_string(), 4)]
    );
    let before = manifest(&b.data());

    let out = check(&b, &[DERIVE_TS], true);
    assert_eq!(out.code, 0, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["findings"].as_array().unwrap().len(), 0, "{}", out.stdout);
    let r = &v["remedies"][0];
    assert_eq!(r["remedy"], DERIVE_TS);
    let actions: Vec<&str> = r["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(actions.len(), 4, "{actions:?}");
    assert!(
        actions[0].starts_with("derive-prtncol: data/2024.01.02/quote/ts = 2024.01.02 + time")
            && actions[0].ends_with(".d rewritten as: ts time sym price size active orderId)"),
        "{actions:?}"
    );
    let text = check(&b, &[DERIVE_TS], false);
    assert!(
        text.stdout
            .contains("remedy derive-prtncol:*=time: 4 actions"),
        "{}",
        text.all()
    );
    // check writes nothing, remedies or not.
    assert_eq!(manifest(&b.data()), before);
    assert!(!b.path().join(".smstage").exists());
}

/// fill-tables on the real advkdb-ipc: MarketInfo and Quote exist only in 2019.06.02; filled,
/// the load-table-absent findings are gone and each filled partition's table is judged as the
/// producers write it (its columns named where they will be).
#[test]
fn check_judges_advkdb_ipc_as_fill_tables_will_leave_it() {
    let Some(b) = corpus::corpus_base("advkdb-ipc") else {
        return;
    };
    let before = manifest(&b.data());
    let bare = check(&b, &[], true);
    assert_eq!(bare.code, 1, "{}", bare.all());
    let v: serde_json::Value = serde_json::from_str(&bare.stdout).unwrap();
    let errors: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        errors,
        ["load-table-absent", "load-table-absent"],
        "{}",
        bare.stdout
    );

    let out = check(&b, &["fill-tables"], true);
    assert_eq!(out.code, 0, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let codes = json_codes(&v);
    assert!(!codes.contains(&"load-table-absent"), "{codes:?}");
    // The configured `sym: parted` is written on the empty tables' sym columns too (p# with
    // its empty index data), so no filled table misses its attribute.
    assert!(!codes.contains(&"schema-attr-mismatch"), "{codes:?}");
    // A finding on a filled table names its file where it will be, not the template's.
    let data = b.data().display().to_string();
    for f in v["findings"].as_array().unwrap() {
        if let Some(p) = f["path"].as_str() {
            assert!(p.starts_with(&data), "{p} is not in {data}");
        }
    }
    let r = &v["remedies"][0];
    assert_eq!(r["remedy"], "fill-tables");
    let actions: Vec<&str> = r["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(actions.len(), 6, "{actions:?}");
    assert!(
        actions.contains(
            &"fill-tables: data/2019.03.17/Quote = empty table (new directory; .d: sym time bid ask; columns: sym symbol p#, time timestamp, bid float, ask float)"
        ),
        "{actions:?}"
    );
    assert!(
        !actions.iter().any(|a| a.contains("2019.06.02")),
        "2019.06.02 holds both tables already: {actions:?}"
    );
    // check writes nothing into the database, remedies or not.
    assert_eq!(manifest(&b.data()), before);
    assert!(!b.path().join(".smstage").exists());
}

/// add-columns: a configured `fee` no partition has is judged as written (null-filled, the
/// table's rows), with derive-prtncol on the same tables; a symbol column is refused naming the
/// table and partition, nothing written.
#[test]
fn check_judges_added_columns_and_refuses_a_symbol_column() {
    let b = tick_style(2, 2, 50);
    configure_fee(&b.config());
    let before = manifest(&b.data());
    let out = check(&b, &[DERIVE_TS], true);
    assert_eq!(
        out.code,
        1,
        "without add-columns fee is missing: {}",
        out.all()
    );
    let out = check(&b, &[DERIVE_TS, "add-columns"], true);
    assert_eq!(out.code, 0, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 0, "{}", out.stdout);
    let actions: Vec<&str> = v["remedies"][1]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(actions.len(), 4, "{actions:?}");
    assert!(
        actions[0].starts_with("add-columns: data/2024.01.02/quote/{fee float} = 50 nulls each")
            && actions[0].ends_with(".d rewritten as: ts fee time sym price size active orderId)"),
        "{actions:?}"
    );
    // The derivation's .d lists fee too: one new .d per table.
    let derive: Vec<&str> = v["remedies"][0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        derive[0].ends_with("as: ts fee time sym price size active orderId)"),
        "{derive:?}"
    );

    // A symbol column: refused, naming what to do.
    let yaml = fs::read_to_string(b.config()).unwrap().replace(
        "    - name: fee\n      type: float\n",
        "    - name: venue\n      type: symbol\n",
    );
    fs::write(b.config(), yaml).unwrap();
    let out = check(&b, &[DERIVE_TS, "add-columns"], false);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout
            .contains("error[remedy-refused]: add-columns: column `venue`"),
        "{}",
        out.all()
    );
    assert!(out.stdout.contains("addcol"), "{}", out.all());
    let (_, out) = save_remedies(&b, &[DERIVE_TS, "add-columns"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(!b.path().join("remedied.plan").exists());
    assert_eq!(manifest(&b.data()), before);
    assert!(staged_files(&b).is_empty());
}

/// An empty table needs a partitioned table configured to fill: a configuration without one is
/// refused before anything is read.
#[test]
fn fill_tables_without_a_partitioned_table_is_refused() {
    let Some(b) = from_fixture(
        "advkdb-ipc",
        "  ref:\n    type: splayed\n    columns:\n      - {name: a, type: long}\n",
    ) else {
        return;
    };
    let out = check(&b, &["fill-tables"], false);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("configures no partitioned table"),
        "{}",
        out.all()
    );
}

#[test]
fn bad_remedies_are_refused_before_anything_is_read_or_written() {
    let b = tick_style(1, 2, 10);
    let before = manifest(&b.data());
    for (remedy, says) in [
        ("derive-ts:trade=time", "unknown remedy kind `derive-ts`"),
        ("derive-prtncol:trade", "needs TABLE=SOURCE"),
        (
            "derive-prtncol:nope=time",
            "table `nope` is not in the configuration",
        ),
        (
            "derive-prtncol:trade=price",
            "the source must be a time of day",
        ),
        (
            "derive-prtncol:trade=nope",
            "is not a configured column of table `trade`",
        ),
        ("fill-tables:x", "takes no arguments"),
    ] {
        let out = check(&b, &[remedy], false);
        assert_eq!(out.code, 2, "{remedy}: {}", out.all());
        assert!(out.stderr.contains(says), "{remedy}: {}", out.all());
        let (plan, out) = save_remedied(&b, remedy);
        assert_eq!(out.code, 2, "{remedy}: {}", out.all());
        assert!(!plan.exists());
    }
    assert_eq!(manifest(&b.data()), before);
    assert!(staged_files(&b).is_empty());
}

/// kdb+ column file with a 16-byte header and i64 values (gen's uncompressed timespans).
fn set_i64(path: &std::path::Path, row: usize, v: i64) {
    let mut bytes = fs::read(path).unwrap();
    let at = 16 + 8 * row;
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
    fs::write(path, bytes).unwrap();
}

#[test]
fn a_time_of_day_past_midnight_is_refused_while_staging_and_nothing_is_left() {
    let b = tick_style(2, 1, 20);
    // Row 7 of the second partition's trade.time: 1D + 1ns, which would land on the next day.
    let time = b.data().join("2024.01.03/trade/time");
    set_i64(&time, 7, 86_400_000_000_001);
    let before = manifest(&b.data());
    // check reads headers only: it passes; the values are read while staging.
    assert_eq!(check(&b, &[DERIVE_TS], false).code, 0);
    let (plan, out) = save_remedied(&b, DERIVE_TS);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stdout.contains("remedy-refused"), "{}", out.all());
    assert!(
        out.stdout.contains("row 7") && out.stdout.contains("2024.01.03/trade/time"),
        "names file and row: {}",
        out.all()
    );
    assert!(!plan.exists());
    assert!(staged_files(&b).is_empty(), "{:?}", staged_files(&b));
    assert_eq!(manifest(&b.data()), before);
}

/// `check --deep --remedy`: the remedied database decoded as it will be. Every derived value
/// is computed from its source and checked (nothing written), so the row staging would refuse
/// is named by check first; the files the remedies write are not on disk yet and are not read;
/// every other column is decoded as `--deep` always does.
#[test]
fn check_deep_with_remedies_derives_every_row_and_writes_nothing() {
    let b = tick_style(2, 2, 30);
    configure_fee(&b.config());
    let before = manifest(&b.data());
    let deep = |b: &Base| {
        let config = b.config_str();
        smstage(&[
            "check",
            "--config",
            &config,
            "--no-backup-check",
            "--deep",
            "--remedy",
            DERIVE_TS,
            "--remedy",
            "add-columns",
            "--format",
            "json",
        ])
    };
    let out = deep(&b);
    assert_eq!(out.code, 0, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(json_codes(&v).is_empty(), "{}", out.stdout);
    assert_eq!(v["remedies"][0]["actions"].as_array().unwrap().len(), 4);

    // A time of day past midnight (row 7 of the second partition's trade.time): found by
    // check --deep, which without --deep passes (headers only).
    set_i64(
        &b.data().join("2024.01.03/trade/time"),
        7,
        86_400_000_000_001,
    );
    assert_eq!(check(&b, &[DERIVE_TS, "add-columns"], false).code, 0);
    let out = deep(&b);
    assert_eq!(out.code, 1, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json_codes(&v), ["remedy-refused"], "{}", out.stdout);
    let f = &v["findings"][0];
    assert_eq!(f["partition"], "2024.01.03");
    assert_eq!(f["table"], "trade");
    let m = f["message"].as_str().unwrap();
    assert!(
        m.contains("row 7") && m.contains("2024.01.03/trade/time"),
        "{m}"
    );
    // A column the remedies leave alone is still decoded: a corrupt enumeration index.
    set_i64(&b.data().join("2024.01.03/trade/time"), 7, 1);
    let sym = b.data().join("2024.01.02/quote/sym");
    let mut bytes = fs::read(&sym).unwrap();
    // Row 0 of the enumeration, after its 4 KiB header.
    bytes[4096..4104].copy_from_slice(&1_000_000i64.to_le_bytes());
    fs::write(&sym, bytes).unwrap();
    let out = deep(&b);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(
        json_codes(&v).contains(&"load-enum-beyond-domain"),
        "{}",
        out.all()
    );
    assert!(
        !b.path().join(".smstage").exists(),
        "check --deep wrote a stage"
    );
    let after = manifest(&b.data());
    assert_eq!(after.len(), before.len());
}

#[test]
fn a_staged_file_changed_after_the_plan_was_saved_is_plan_drift() {
    let b = tick_style(2, 1, 20);
    let (plan, out) = save_remedied(&b, DERIVE_TS);
    assert_eq!(out.code, 0, "{}", out.all());
    let staged = staged_files(&b);
    assert_eq!(staged.len(), 4, "{staged:?}");
    let saved: serde_json::Value = serde_json::from_slice(&fs::read(&plan).unwrap()).unwrap();
    let files = saved["plan"]["remedies"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 4);
    assert!(files
        .iter()
        .all(|f| f["sha256"].as_str().unwrap().len() == 64 && f["size"].as_u64().unwrap() > 0));
    let before = manifest(&b.data());

    // Same size, one byte different: the sha256 tells.
    let ts = stage_dir(&b).join(staged.iter().find(|s| s.ends_with("/ts")).unwrap());
    let mut bytes = fs::read(&ts).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&ts, &bytes).unwrap();
    let out = smstage(&[
        "commit",
        "--plan",
        plan.to_str().unwrap(),
        "--no-backup-check",
        "--yes",
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("plan-drift") && out.stdout.contains("content changed"),
        "{}",
        out.all()
    );
    // Shorter: the size tells.
    fs::write(&ts, &bytes[..last]).unwrap();
    let out = smstage(&[
        "commit",
        "--plan",
        plan.to_str().unwrap(),
        "--no-backup-check",
        "--yes",
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stdout.contains("size changed"), "{}", out.all());
    assert_eq!(manifest(&b.data()), before);
    assert!(!b.path().join("db").exists());
}

#[test]
fn a_killed_staging_leaves_no_plan_and_a_rerun_stages_the_same() {
    let b = tick_style(2, 2, 30);
    let before = manifest(&b.data());
    let (plan, out) = save_remedied(&b, DERIVE_TS);
    assert_eq!(out.code, 0, "{}", out.all());
    let reference = fs::read(&plan).unwrap();
    let staged = staged_files(&b);
    assert_eq!(staged.len(), 8);
    let stage_bytes = |b: &Base| -> Vec<String> {
        manifest(&b.path().join(".smstage/stage"))
            .into_iter()
            .map(|l| l[..l.find(" mode=").unwrap()].to_string())
            .collect()
    };
    let reference_stage = stage_bytes(&b);
    for k in 1..=staged.len() {
        fs::remove_file(&plan).unwrap();
        let mut c = std::process::Command::new(bin());
        c.args([
            "plan",
            "--config",
            &b.config_str(),
            "--remedy",
            DERIVE_TS,
            "--save",
        ])
        .arg(&plan)
        .env("SMSTAGE_CRASH_IN_STAGE", k.to_string());
        let out = run(c);
        assert_eq!(out.code, 86, "crash after {k} staged files: {}", out.all());
        assert!(!plan.exists(), "a plan after a crash at {k}");
        assert_eq!(manifest(&b.data()), before, "crash at {k}");
        let (_, out) = save_remedied(&b, DERIVE_TS);
        assert_eq!(out.code, 0, "{}", out.all());
        assert_eq!(
            fs::read(&plan).unwrap(),
            reference,
            "re-run after a crash at {k}"
        );
        assert_eq!(
            stage_bytes(&b),
            reference_stage,
            "re-run after a crash at {k}"
        );
    }
}

/// Every real database through the remedies the corpus table says it needs: those whose
/// remedies are all built pass `check --remedy` and stage with `plan --save`; the others are
/// refused naming the remedy not built yet (this fails once it is: update the table).
#[test]
fn each_real_database_takes_the_remedies_the_corpus_table_names() {
    for n in NEEDS {
        if n.remedies.is_empty() {
            continue;
        }
        let Some(b) = corpus::corpus_base(n.name) else {
            continue;
        };
        if !n.only.is_empty() {
            keep_tables(&b.config(), n.only);
        }
        if n.configure_ts {
            configure_ts(&b.config());
        }
        let before = manifest(&b.data());
        let out = check(&b, n.remedies, false);
        if n.passes {
            assert_eq!(out.code, 0, "{}: {}\n{}", n.name, n.why, out.all());
            let plan = b.path().join("p.plan");
            let config = b.config_str();
            let mut args = vec![
                "plan",
                "--config",
                &config,
                "--save",
                plan.to_str().unwrap(),
            ];
            for r in n.remedies {
                args.extend(["--remedy", r]);
            }
            let out = smstage(&args);
            assert_eq!(out.code, 0, "{}: {}", n.name, out.all());
            // set-aside stages nothing: its entries move at the commit.
            let stages = n.remedies.iter().any(|r| *r != "set-aside");
            assert_eq!(!staged_files(&b).is_empty(), stages, "{}", n.name);
        } else {
            assert_eq!(out.code, 2, "{}: {}\n{}", n.name, n.why, out.all());
            assert!(
                out.stderr.contains("not available in this smstage yet"),
                "{}: {}",
                n.name,
                out.all()
            );
        }
        assert_eq!(manifest(&b.data()), before, "{}", n.name);
    }
    // Every fixture of the corpus is in the table.
    for e in corpus::CORPUS {
        assert!(
            NEEDS.iter().any(|n| n.name == e.name),
            "{} not in NEEDS",
            e.name
        );
    }
}

/// A new `plan --save` removes the stages of earlier saves when no commit needs them (here the
/// database changed in between, so the new plan has a new stage id), so staged copies of
/// columns do not pile up beside the database; the new plan's own stage is whole.
#[test]
fn a_new_save_removes_the_stages_of_earlier_saves() {
    let b = tick_style(2, 2, 50);
    let stages = || -> Vec<std::path::PathBuf> {
        fs::read_dir(b.path().join(".smstage/stage"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect()
    };
    let (_, first) = save_remedied(&b, DERIVE_TS);
    assert_eq!(first.code, 0, "{}", first.all());
    let old = stages();
    assert_eq!(old.len(), 1, "{old:?}");
    // A late change to the database: the next plan is another plan, with another stage.
    let sym = b.data().join("sym");
    let bytes = fs::read(&sym).unwrap();
    fs::write(&sym, &bytes).unwrap();
    let (_, second) = save_remedied(&b, DERIVE_TS);
    assert_eq!(second.code, 0, "{}", second.all());
    let now = stages();
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now, old, "the database changed: a new stage id");
    assert!(!staged_files(&b).is_empty());
}

/// The set-aside actions of a `--format json` check report.
fn aside_actions(v: &serde_json::Value) -> Vec<String> {
    v["remedies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["remedy"] == "set-aside")
        .flat_map(|r| r["actions"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// set-aside on the real advkdb-ipc configured with Trade only: MarketInfo and Quote (in
/// 2019.06.02) are tables SM refuses; set aside, check passes (without --deep) and lists the
/// two moves; nothing is written.
#[test]
fn check_judges_advkdb_ipc_with_trade_only_as_set_aside_will_leave_it() {
    let Some(b) = advkdb_trade_only() else {
        return;
    };
    let before = manifest(&b.data());
    let bare = check(&b, &[], true);
    assert_eq!(bare.code, 1, "{}", bare.all());
    let v: serde_json::Value = serde_json::from_str(&bare.stdout).unwrap();
    let codes = json_codes(&v);
    assert_eq!(
        codes
            .iter()
            .filter(|c| **c == "schema-table-unexpected")
            .count(),
        2,
        "{codes:?}"
    );

    let out = check(&b, &["set-aside"], true);
    assert_eq!(out.code, 0, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(
        !json_codes(&v).contains(&"schema-table-unexpected"),
        "{}",
        out.stdout
    );
    assert_eq!(
        aside_actions(&v),
        [
            "set-aside: sets aside data/2019.06.02/MarketInfo → smstage-aside/2019.06.02/MarketInfo (table MarketInfo is not configured)",
            "set-aside: sets aside data/2019.06.02/Quote → smstage-aside/2019.06.02/Quote (table Quote is not configured)",
        ]
    );
    let text = check(&b, &["set-aside"], false);
    assert!(
        text.stdout.contains("remedy set-aside: 2 actions"),
        "{}",
        text.all()
    );
    assert_eq!(manifest(&b.data()), before);
    assert!(!b.path().join(".smstage").exists());
    assert!(!b.path().join("smstage-aside").exists());
}

/// A file a configured table's `.d` does not list (load-extra-file) and a stray root file
/// (sm-root-stray, load-root-not-kdb) are set aside, each named where it goes; the enumeration
/// domain `sym` and Trade's listed columns never move.
#[test]
fn set_aside_moves_unlisted_files_and_root_strays_and_nothing_configured() {
    let Some(b) = advkdb_trade_only() else {
        return;
    };
    fs::write(b.data().join("2019.03.17/Trade/notes"), "not a column\n").unwrap();
    fs::write(b.data().join("README"), "stray\n").unwrap();
    let bare = check(&b, &[], true);
    let v: serde_json::Value = serde_json::from_str(&bare.stdout).unwrap();
    let codes = json_codes(&v);
    for c in ["load-extra-file", "sm-root-stray", "load-root-not-kdb"] {
        assert!(codes.contains(&c), "{c}: {codes:?}");
    }
    let out = check(&b, &["set-aside"], true);
    assert_eq!(out.code, 0, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let codes = json_codes(&v);
    for c in ["load-extra-file", "sm-root-stray", "load-root-not-kdb"] {
        assert!(!codes.contains(&c), "{c}: {codes:?}");
    }
    let actions = aside_actions(&v);
    assert_eq!(actions.len(), 4, "{actions:?}");
    assert!(actions.contains(
        &"set-aside: sets aside data/2019.03.17/Trade/notes → smstage-aside/2019.03.17/Trade/notes (not listed in Trade's .d)".to_string()
    ), "{actions:?}");
    assert!(actions.contains(
        &"set-aside: sets aside data/README → smstage-aside/README (SM refuses it in the root: a file that is no configured basic table)".to_string()
    ), "{actions:?}");
    assert!(
        !actions
            .iter()
            .any(|a| a.contains("data/sym ") || a.contains("Trade/price")),
        "{actions:?}"
    );
}

/// Refused before anything is written: a destination under smstage-aside/ that is taken
/// (named, with what to do); a symbolic link out of the database in the root is set aside as
/// the link itself, and says so.
#[test]
fn set_aside_refuses_a_taken_destination_and_moves_a_link_itself() {
    let Some(b) = advkdb_trade_only() else {
        return;
    };
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), b.data().join("elsewhere")).unwrap();
    let bare = check(&b, &[], true);
    let v: serde_json::Value = serde_json::from_str(&bare.stdout).unwrap();
    assert!(
        json_codes(&v).contains(&"symlink-outside-database"),
        "{}",
        bare.stdout
    );
    let out = check(&b, &["set-aside"], true);
    assert_eq!(out.code, 0, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(
        !json_codes(&v).contains(&"symlink-outside-database"),
        "{}",
        out.stdout
    );
    let link = aside_actions(&v)
        .into_iter()
        .find(|a| a.contains("data/elsewhere"))
        .expect("the link is set aside");
    assert!(
        link.contains(&format!(
            "a symbolic link to {}: the link itself moves, never what it points at",
            outside.path().display()
        )),
        "{link}"
    );

    // Taken: smstage-aside/2019.06.02/Quote exists already.
    let taken = b.path().join("smstage-aside/2019.06.02/Quote");
    fs::create_dir_all(&taken).unwrap();
    let before = manifest(&b.data());
    let out = check(&b, &["set-aside"], false);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains(&format!(
            "error[remedy-refused]: set-aside: {} would move to {}, which already exists",
            b.data().join("2019.06.02/Quote").display(),
            taken.display()
        )),
        "{}",
        out.all()
    );
    assert!(out.stdout.contains("then run this again"), "{}", out.all());
    let (plan, out) = save_remedied(&b, "set-aside");
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(!plan.exists());
    assert_eq!(manifest(&b.data()), before);
}

/// A saved set-aside plan whose moved entry changed afterwards is plan-drift: the fingerprint
/// stamps every entry of the database, those set aside included.
#[test]
fn an_entry_set_aside_that_changed_after_the_plan_was_saved_is_plan_drift() {
    let Some(b) = advkdb_trade_only() else {
        return;
    };
    let (plan, out) = save_remedied(&b, "set-aside");
    assert_eq!(out.code, 0, "{}", out.all());
    let bid = b.data().join("2019.06.02/Quote/bid");
    let bytes = fs::read(&bid).unwrap();
    fs::write(&bid, &bytes).unwrap();
    let out = smstage(&[
        "commit",
        "--plan",
        plan.to_str().unwrap(),
        "--no-backup-check",
        "--yes",
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("plan-drift") && out.stdout.contains("2019.06.02/Quote/bid"),
        "{}",
        out.all()
    );
    assert!(!b.path().join("db").exists());
    assert!(!b.path().join("smstage-aside").exists());
}

/// A destination taken after the plan was saved (outside the database, so no drift): the
/// commit's checks, remedies applied, refuse it before its first step.
#[test]
fn commit_refuses_a_destination_taken_after_the_plan_was_saved() {
    let Some(b) = advkdb_trade_only() else {
        return;
    };
    let (plan, out) = save_remedied(&b, "set-aside");
    assert_eq!(out.code, 0, "{}", out.all());
    let before = manifest(&b.data());
    let taken = b.path().join("smstage-aside/2019.06.02/MarketInfo");
    fs::create_dir_all(&taken).unwrap();
    let out = smstage(&[
        "commit",
        "--plan",
        plan.to_str().unwrap(),
        "--no-backup-check",
        "--yes",
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains(&format!(
            "error[remedy-refused]: set-aside: {} would move to {}, which already exists",
            b.data().join("2019.06.02/MarketInfo").display(),
            taken.display()
        )),
        "{}",
        out.all()
    );
    assert_eq!(manifest(&b.data()), before);
    assert!(!b.path().join("db").exists());
}

/// dolphindb-sample configured without Daily, Syms and the root tables: set-aside moves those
/// two tables (Daily's stray `binary` inside it) and the five root tables, never the
/// enumeration domains; with derive-prtncol and fill-tables what still blocks it is one-sym's
/// (the sym_* domains), named.
#[test]
fn set_aside_on_dolphindb_sample_leaves_only_what_one_sym_covers() {
    let Some(b) = corpus::corpus_base("dolphindb-sample") else {
        return;
    };
    keep_tables(&b.config(), &["quote_cffex", "ORD", "TRANSACTION"]);
    configure_ts(&b.config());
    let before = manifest(&b.data());
    let out = check(&b, &["set-aside", DERIVE_TS, "fill-tables"], true);
    assert_eq!(out.code, 1, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let mut moved: Vec<String> = aside_actions(&v)
        .iter()
        .map(|a| {
            a.split(" → ")
                .next()
                .unwrap()
                .replace("set-aside: sets aside ", "")
        })
        .collect();
    moved.sort();
    assert_eq!(
        moved,
        [
            "data/2022.06.17/Daily",
            "data/2022.06.17/Syms",
            "data/allDataTypes",
            "data/charArrayVector",
            "data/compressCharArrayVector",
            "data/intArrayVector",
            "data/widetable",
        ]
    );
    let errors: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        errors,
        [
            "sm-root-stray",
            "sm-enum-not-sym",
            "sm-enum-not-sym",
            "sm-enum-not-sym"
        ],
        "{}",
        out.stdout
    );
    let stray = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "sm-root-stray")
        .unwrap();
    let m = stray["message"].as_str().unwrap();
    assert!(
        m.contains("sym_ORD") && !m.contains("widetable") && !m.contains("allDataTypes"),
        "{m}"
    );
    assert_eq!(manifest(&b.data()), before);
}
