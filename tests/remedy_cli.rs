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
/// table's rows), with derive-prtncol on the same tables; a list column is refused naming the
/// table and partition, nothing written (a symbol column is written: see
/// add_columns_of_a_symbol_column_appends_the_empty_symbol_once).
#[test]
fn check_judges_added_columns_and_refuses_a_list_column() {
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

    // A list of symbols (no null item to repeat): refused, naming what to do.
    let yaml = fs::read_to_string(b.config()).unwrap().replace(
        "    - name: fee\n      type: float\n",
        "    - name: venue\n      type: symbols\n",
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
    let out = commit_plan(&plan);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("plan-drift") && out.stdout.contains("content changed"),
        "{}",
        out.all()
    );
    // Shorter: the size tells.
    fs::write(&ts, &bytes[..last]).unwrap();
    let out = commit_plan(&plan);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stdout.contains("size changed"), "{}", out.all());
    assert_eq!(manifest(&b.data()), before);
    assert!(!b.path().join("db").exists());
}

/// Stops `plan --remedy … --save` after each staged file (as kill -9 would: `_exit` with every
/// worker mid-write), then re-runs it: no plan after a crash, the database untouched, and the
/// re-run stages exactly the files (and plan) of an uninterrupted run.
fn killed_staging_restages_the_same(b: &Base, remedies: &[&str]) {
    let before = manifest(&b.data());
    let (plan, out) = save_remedies(b, remedies);
    assert_eq!(out.code, 0, "{}", out.all());
    let reference = fs::read(&plan).unwrap();
    let staged = staged_files(b);
    let stage_bytes = |b: &Base| -> Vec<String> {
        manifest(&b.path().join(".smstage/stage"))
            .into_iter()
            .map(|l| l[..l.find(" mode=").unwrap()].to_string())
            .collect()
    };
    let reference_stage = stage_bytes(b);
    for k in 1..=staged.len() {
        fs::remove_file(&plan).unwrap();
        let mut c = std::process::Command::new(bin());
        c.args(["plan", "--config", &b.config_str()]);
        for r in remedies {
            c.args(["--remedy", r]);
        }
        c.arg("--save")
            .arg(&plan)
            .env("SMSTAGE_CRASH_IN_STAGE", k.to_string());
        let out = run(c);
        assert_eq!(
            out.code,
            86,
            "{remedies:?}: crash after {k} of {} staged files: {}",
            staged.len(),
            out.all()
        );
        assert!(!plan.exists(), "a plan after a crash at {k}");
        assert_eq!(manifest(&b.data()), before, "crash at {k}");
        let (_, out) = save_remedies(b, remedies);
        assert_eq!(out.code, 0, "{}", out.all());
        assert_eq!(
            fs::read(&plan).unwrap(),
            reference,
            "{remedies:?}: re-run after a crash at {k}"
        );
        assert_eq!(
            stage_bytes(b),
            reference_stage,
            "{remedies:?}: re-run after a crash at {k}"
        );
    }
}

#[test]
fn a_killed_staging_leaves_no_plan_and_a_rerun_stages_the_same() {
    let b = tick_style(2, 2, 30);
    killed_staging_restages_the_same(&b, &[DERIVE_TS]);
    assert_eq!(staged_files(&b).len(), 8);
}

/// The staging crash matrix over every kind of staged file: empty tables (fill-tables, a
/// directory staged whole), null columns of simple, list and symbol types (add-columns), the
/// new sym (its empty symbol and one-sym's appends) and re-enumerated columns (one-sym).
#[test]
fn a_killed_staging_of_every_remedy_kind_leaves_no_plan_and_a_rerun_stages_the_same() {
    let b = tick_style(2, 2, 30);
    configure_after_ts(
        &b.config(),
        &[("fee", "float"), ("note", "string"), ("mkt", "symbol")],
    );
    second_domain(&b, "quote", "sym2");
    let last = b.data().join("2024.01.03");
    fs::remove_dir_all(last.join("trade")).unwrap();
    killed_staging_restages_the_same(
        &b,
        &[
            DERIVE_TS,
            "fill-tables",
            "add-columns",
            "one-sym",
            "set-aside",
        ],
    );
    let staged = staged_files(&b);
    for kind in ["/fee", "/note#", "/mkt", "2024.01.03/trade/.d", "data/sym"] {
        assert!(
            staged.iter().any(|s| s.ends_with(kind) || s.contains(kind)),
            "no staged {kind}: {staged:?}"
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

/// A partition entry that is a symbolic link to a table directory (outside the database, or
/// inside it by a relative link) whose table the assembly does not configure is set aside like
/// any unconfigured table: the link itself, its symlink finding covered by the remedy. A link
/// in place of a CONFIGURED table keeps its error (moving it would drop data the assembly asks
/// for), and so does a link that leads to no directory (it stands for no table). Before the
/// fix, both unconfigured links kept their errors and `check --remedy set-aside` failed.
#[test]
fn set_aside_moves_a_partition_link_to_an_unconfigured_table_itself() {
    let b = generated(3, 2, 3, 20);
    let d = dates(&b.data());
    let outside = tempfile::tempdir().unwrap();
    copy_tree(
        &b.data().join(&d[0]).join("quote"),
        &outside.path().join("extra"),
    );
    std::os::unix::fs::symlink(
        outside.path().join("extra"),
        b.data().join(&d[0]).join("extra"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        format!("../{}/trade", d[0]),
        b.data().join(&d[1]).join("other"),
    )
    .unwrap();
    let bare = check(&b, &[], true);
    assert_eq!(bare.code, 1, "{}", bare.all());
    let v: serde_json::Value = serde_json::from_str(&bare.stdout).unwrap();
    let codes = json_codes(&v);
    for c in ["symlink-outside-database", "symlink-in-database"] {
        assert!(codes.contains(&c), "{c}: {codes:?}");
    }
    let before = manifest(&b.data());

    let out = check(&b, &["set-aside"], true);
    assert_eq!(out.code, 0, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 0, "{}", out.stdout);
    assert_eq!(
        aside_actions(&v),
        [
            format!(
                "set-aside: sets aside data/{0}/extra → smstage-aside/{0}/extra (table extra is not configured; a symbolic link to {1}: the link itself moves, never what it points at)",
                d[0],
                outside.path().join("extra").display()
            ),
            format!(
                "set-aside: sets aside data/{1}/other → smstage-aside/{1}/other (table other is not configured; a symbolic link to ../{0}/trade: the link itself moves, never what it points at)",
                d[0], d[1]
            ),
        ]
    );
    assert_eq!(manifest(&b.data()), before);
    assert!(!b.path().join("smstage-aside").exists());

    // A configured table (quote) that is a link, and a link to a file: each keeps its error,
    // and neither is set aside.
    let last = b.data().join(&d[2]);
    fs::rename(last.join("quote"), outside.path().join("quote")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("quote"), last.join("quote")).unwrap();
    fs::write(outside.path().join("notes"), "text\n").unwrap();
    std::os::unix::fs::symlink(outside.path().join("notes"), last.join("notes")).unwrap();
    let out = check(&b, &["set-aside"], true);
    assert_eq!(out.code, 1, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let linked: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "symlink-outside-database")
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let (quote, notes) = (last.join("quote"), last.join("notes"));
    assert_eq!(
        linked,
        [notes.to_str().unwrap(), quote.to_str().unwrap()],
        "{}",
        out.stdout
    );
    // The link of a configured table stands for its data: the hint keeps the data (a copy in
    // place of the link), never "remove it" alone.
    for f in v["findings"].as_array().unwrap() {
        if f["code"] == "symlink-outside-database" {
            let hint = f["hint"].as_str().unwrap_or("");
            assert!(
                hint.contains("replace the link with a copy of the data"),
                "{hint}"
            );
            assert!(!hint.ends_with("or remove it"), "{hint}");
        }
    }
    let actions = aside_actions(&v);
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert!(
        !actions
            .iter()
            .any(|a| a.contains("/quote") || a.contains("/notes")),
        "{actions:?}"
    );
}

/// Links inside tables. A link in a configured table that its `.d` does not list is a stray
/// like any unlisted file: set aside (the link itself), its symlink finding covered. An
/// unconfigured table set aside whole takes the links inside it along, with their findings.
/// A listed column's link stays, with its symlink error only: the column is there, so it is
/// not also "missing: restore from the backup" (and a linked `.d` is not "no .d file").
/// Before: both stray links kept their errors, and the linked column and `.d` got
/// `load-column-missing`/`load-dotd-missing` besides.
#[test]
fn set_aside_moves_stray_links_in_tables_and_a_linked_column_is_not_missing() {
    let b = generated(3, 2, 3, 20);
    let d = dates(&b.data());
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("notes"), "text\n").unwrap();
    let notes = b.data().join(&d[1]).join("trade/notes");
    std::os::unix::fs::symlink(outside.path().join("notes"), &notes).unwrap();
    let extra = b.data().join(&d[0]).join("extra");
    copy_tree(&b.data().join(&d[0]).join("quote"), &extra);
    std::os::unix::fs::symlink(outside.path().join("notes"), extra.join("notes")).unwrap();
    let bare = check(&b, &[], true);
    let v: serde_json::Value = serde_json::from_str(&bare.stdout).unwrap();
    assert_eq!(
        json_codes(&v)
            .iter()
            .filter(|c| **c == "symlink-outside-database")
            .count(),
        2,
        "{}",
        bare.stdout
    );

    let out = check(&b, &["set-aside"], true);
    assert_eq!(out.code, 0, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 0, "{}", out.stdout);
    assert_eq!(
        aside_actions(&v),
        [
            format!(
                "set-aside: sets aside data/{0}/extra → smstage-aside/{0}/extra (table extra is not configured)",
                d[0]
            ),
            format!(
                "set-aside: sets aside data/{0}/trade/notes → smstage-aside/{0}/trade/notes (not listed in trade's .d; a symbolic link to {1}: the link itself moves, never what it points at)",
                d[1],
                outside.path().join("notes").display()
            ),
        ]
    );

    // A listed column and a .d that are links: the symlink error only.
    let (price, dotd) = (
        b.data().join(&d[2]).join("trade/price"),
        b.data().join(&d[2]).join("quote/.d"),
    );
    for (f, to) in [(&price, "price"), (&dotd, "d")] {
        fs::rename(f, outside.path().join(to)).unwrap();
        std::os::unix::fs::symlink(outside.path().join(to), f).unwrap();
    }
    let out = check(&b, &["set-aside"], true);
    assert_eq!(out.code, 1, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let findings: Vec<(&str, &str)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["code"].as_str().unwrap(), f["path"].as_str().unwrap()))
        .collect();
    assert_eq!(
        findings,
        [
            ("symlink-outside-database", dotd.to_str().unwrap()),
            ("symlink-outside-database", price.to_str().unwrap()),
        ],
        "{}",
        out.stdout
    );
}

/// A configured table that a partition holds as a symbolic link (to its data elsewhere) is not
/// absent: fill-tables does not plan an empty table over the link's name, and the partition
/// is not reported `load-table-absent`; the link's own error is the one finding. Before,
/// fill-tables planned "empty table (new directory)" there and check said the table was
/// missing (whose fix, "write an empty table", would have hidden the data behind the link).
#[test]
fn fill_tables_never_fills_a_configured_table_that_is_a_link() {
    let b = generated(2, 2, 3, 20);
    let d = dates(&b.data());
    let outside = tempfile::tempdir().unwrap();
    fs::rename(
        b.data().join(&d[0]).join("quote"),
        outside.path().join("quote"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("quote"),
        b.data().join(&d[0]).join("quote"),
    )
    .unwrap();
    for remedies in [&[][..], &["fill-tables"][..]] {
        let out = check(&b, remedies, true);
        assert_eq!(out.code, 1, "{}", out.all());
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(
            json_codes(&v),
            ["symlink-outside-database"],
            "{remedies:?}: {}",
            out.stdout
        );
        if !remedies.is_empty() {
            assert_eq!(
                v["remedies"][0]["actions"],
                serde_json::json!([]),
                "{}",
                out.stdout
            );
        }
    }
}

/// A root symbolic link that stands for data the import is asked for is never set aside: a
/// date partition's directory (before, set-aside moved the link and check passed, the
/// partition silently left out of the import) and `sym` (before, moved, then misreported as
/// `load-domain-missing`: "restore sym from the backup"). Each keeps its symlink error, whose
/// fix is to put the directory or file in its place; a stray root link still moves.
#[test]
fn set_aside_never_moves_a_root_link_to_a_partition_or_sym() {
    let b = generated(3, 2, 3, 20);
    let d = dates(&b.data());
    let outside = tempfile::tempdir().unwrap();
    let last = outside.path().join(&d[2]);
    fs::rename(b.data().join(&d[2]), &last).unwrap();
    std::os::unix::fs::symlink(&last, b.data().join(&d[2])).unwrap();
    let sym = outside.path().join("sym");
    fs::rename(b.data().join("sym"), &sym).unwrap();
    std::os::unix::fs::symlink(&sym, b.data().join("sym")).unwrap();
    std::os::unix::fs::symlink(outside.path(), b.data().join("stray")).unwrap();
    let before = manifest(&b.data());

    let out = check(&b, &["set-aside"], true);
    assert_eq!(out.code, 1, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let linked: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "symlink-outside-database")
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let (part, symlink) = (b.data().join(&d[2]), b.data().join("sym"));
    assert_eq!(
        linked,
        [part.to_str().unwrap(), symlink.to_str().unwrap()],
        "{}",
        out.stdout
    );
    assert!(
        !json_codes(&v).contains(&"load-domain-missing"),
        "{}",
        out.stdout
    );
    assert_eq!(
        aside_actions(&v),
        [format!(
            "set-aside: sets aside data/stray → smstage-aside/stray (SM refuses it in the root: a symbolic link; a symbolic link to {}: the link itself moves, never what it points at)",
            outside.path().display()
        )]
    );
    let (plan, out) = save_remedied(&b, "set-aside");
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(!plan.exists());
    assert_eq!(manifest(&b.data()), before);
}

/// dolphindb-sample with its `sym_ORD` moved out of the database and linked back: set-aside
/// keeps the link, as it keeps a domain file (ORD's columns are enumerated against it), so
/// check reports the link (its fix: put the file in its place), not `load-domain-missing`
/// (before: the link moved, then "restore the enumeration domain file sym_ORD from the
/// backup"). With one-sym the symbols are read through the link (4 appended from sym_ORD, as
/// from the file), the domain is then unused and its link moves like the other two domains:
/// check passes and the plan saves.
#[test]
fn set_aside_keeps_a_root_link_to_a_domain_and_one_sym_reads_through_it() {
    let Some(b) = corpus::corpus_base("dolphindb-sample") else {
        return;
    };
    keep_tables(&b.config(), &["quote_cffex", "ORD", "TRANSACTION"]);
    configure_ts(&b.config());
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("sym_ORD");
    let link = b.data().join("sym_ORD");
    fs::rename(&link, &target).unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let before = manifest(&b.data());

    let out = check(&b, &["set-aside", DERIVE_TS, "fill-tables"], true);
    assert_eq!(out.code, 1, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let codes = json_codes(&v);
    assert!(!codes.contains(&"load-domain-missing"), "{}", out.stdout);
    let linked: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "symlink-outside-database")
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(linked, [link.to_str().unwrap()], "{}", out.stdout);
    let moves = aside_actions(&v);
    assert!(
        !moves.iter().any(|a| a.contains("data/sym_ORD")),
        "{moves:?}"
    );

    let all = [DERIVE_TS, "one-sym", "fill-tables", "set-aside"];
    let out = check(&b, &all, true);
    assert_eq!(out.code, 0, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(
        v["remedies"].to_string().contains("4 from sym_ORD"),
        "{}",
        out.stdout
    );
    assert!(
        aside_actions(&v).contains(&format!(
            "set-aside: sets aside data/sym_ORD → smstage-aside/sym_ORD (SM refuses it in the root: a symbolic link; a symbolic link to {}: the link itself moves, never what it points at)",
            target.display()
        )),
        "{:?}",
        aside_actions(&v)
    );
    let (plan, out) = save_remedies(&b, &all);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(plan.exists());
    assert_eq!(manifest(&b.data()), before);

    // The linked domain rewritten after the plan was saved (outside the database, so no
    // fingerprint sees it): the commit's checks read it again through the link, and the
    // remedies derived from it no longer fit the plan. Refused before any step.
    let saved_target = fs::read(&target).unwrap();
    fs::copy(b.data().join("sym"), &target).unwrap();
    let out = commit_plan(&plan);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("error[plan-drift]")
            && out
                .stdout
                .contains("the remedies derived from the database now differ from plan")
            && out.stdout.contains("sym_ORD")
            && out.stderr.contains("nothing was changed"),
        "{}",
        out.all()
    );
    assert_eq!(manifest(&b.data()), before);
    assert!(!b.path().join("db").exists());
    fs::write(&target, saved_target).unwrap();

    // A link that leads nowhere is no domain: one-sym cannot read it, and says it is a link.
    fs::remove_file(&link).unwrap();
    let gone = outside.path().join("gone");
    std::os::unix::fs::symlink(&gone, &link).unwrap();
    let out = check(&b, &all, true);
    assert_eq!(out.code, 1, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let refused: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "remedy-refused")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(refused.len(), 1, "{}", out.stdout);
    assert!(
        refused[0].starts_with("one-sym: the enumeration domain `sym_ORD` cannot be read")
            && refused[0].contains(&format!("sym_ORD is a symbolic link to {}", gone.display())),
        "{refused:?}"
    );
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
    let out = commit_plan(&plan);
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
    let out = commit_plan(&plan);
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

/// A tick-style database whose `quote` tables enumerate `sym` against a second root domain
/// `sym2` (see `second_domain`); the symbols each partition's column stands for.
fn two_domains() -> (Base, Vec<Vec<String>>) {
    let b = tick_style(2, 2, 60);
    let words = second_domain(&b, "quote", "sym2");
    (b, words)
}

/// one-sym: the several-domains finding gone, and the now-unused domain file reported as
/// what SM sees it as (a root entry it refuses), which is what still blocks the plan
/// (set-aside moves such files).
#[test]
fn one_sym_check_judges_the_columns_enumerated_against_sym() {
    let (b, _) = two_domains();
    let bare = check(&b, &[DERIVE_TS], true);
    assert_eq!(bare.code, 1, "{}", bare.all());
    let v: serde_json::Value = serde_json::from_str(&bare.stdout).unwrap();
    assert_eq!(
        corpus::finding_counts(&v),
        vec![
            ("sm-enum-not-sym".to_string(), 1),
            ("sm-root-stray".to_string(), 1)
        ]
    );
    let before = manifest(&b.data());

    let out = check(&b, &[DERIVE_TS, "one-sym"], true);
    assert_eq!(out.code, 1, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        corpus::finding_counts(&v),
        vec![("sm-root-stray".to_string(), 1)]
    );
    let stray = v["findings"][0]["message"].as_str().unwrap();
    assert!(
        stray.contains("sym2 (an enumeration domain not named sym)"),
        "{stray}"
    );
    let r = &v["remedies"][1];
    assert_eq!(r["remedy"], "one-sym");
    let actions: Vec<&str> = r["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    // The new sym first (it sorts before the partitions), then each partition's quote.
    assert_eq!(actions.len(), 3, "{actions:?}");
    assert!(
        actions[0].starts_with(
            "one-sym: data/sym = its 106 symbols byte for byte + 3 appended (3 from sym2)"
        ),
        "{actions:?}"
    );
    assert_eq!(
        actions[1],
        "one-sym: data/2024.01.02/quote/{sym from sym2} re-enumerated onto sym (rewritten, same attribute and compression)"
    );
    // The plan is refused while the unused domain file is in the root; nothing is staged.
    let (_, out) = save_remedies(&b, &[DERIVE_TS, "one-sym"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.all().contains("sm-root-stray"), "{}", out.all());
    assert!(staged_files(&b).is_empty());
    assert_eq!(manifest(&b.data()), before);
}

/// What one-sym stages, read back: the new sym is the old one byte for byte + the symbols sym2
/// adds (in sym2's order), and each re-enumerated column stands, row by row, for the symbols
/// the original stood for through sym2, with its p# kept. (Through the library: plan --save
/// is refused while sym2 stays in the root; see the test above.)
#[test]
fn one_sym_stages_a_sym_that_only_appends_and_columns_that_decode_alike() {
    use smstage::kdb::{read_column, read_header, read_symbols, Attr, ColumnData};
    use smstage::remedy::{run, session::Session, spec::Remedy, stage};
    let (b, words) = two_domains();
    let cfg = smstage::config::AssemblyConfig::load(&b.config()).unwrap();
    let session = Session::new(&cfg, b.path(), vec![Remedy::OneSym]).unwrap();
    let opts = smstage::check::CheckOptions {
        backup: smstage::check::BackupCheck::Skip,
        deep: false,
        s3: Default::default(),
        keep_object_files: false,
    };
    let (_, actions) = run::check(&cfg, &opts, &session).unwrap();
    let (files, _) = stage::stage(b.path(), "data", ".smstage/stage/t", &actions).unwrap();
    let st = b.path().join(".smstage/stage/t/data");
    let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        names,
        [
            "data/2024.01.02/quote/sym",
            "data/2024.01.03/quote/sym",
            "data/sym"
        ]
    );
    assert!(files.iter().all(|f| f.replaces));
    let old = fs::read(b.data().join("sym")).unwrap();
    let new = fs::read(st.join("sym")).unwrap();
    assert_eq!(
        &new[..old.len()],
        &old[..],
        "the new sym starts with the old one"
    );
    assert_eq!(&new[old.len()..], b"ZZA\0ZZB\0ZZC\0");
    let sym = read_symbols(&st.join("sym")).unwrap();
    for (d, want) in dates(&b.data()).iter().zip(&words) {
        let col = st.join(d).join("quote/sym");
        let h = read_header(&col).unwrap();
        assert_eq!((h.domain.as_deref(), h.attr), (Some("sym"), Attr::Parted));
        let ColumnData::Enum { indices, .. } = read_column(&col).unwrap().data else {
            panic!("not an enumeration");
        };
        let got: Vec<&str> = indices.iter().map(|&i| sym[i as usize].as_str()).collect();
        assert_eq!(got, *want, "{d}");
    }
}

/// An index beyond its domain (q reads it as null: dolphindb's and advkdb's stale domains show
/// such values) stays null after one-sym: it becomes the null index, not the sym index of
/// the same number, which would name a real symbol; the other rows keep their symbols.
#[test]
fn one_sym_keeps_an_index_beyond_its_domain_null() {
    use smstage::kdb::write::{enum_bytes, HeaderCount};
    use smstage::kdb::{read_column, read_symbols, Attr, ColumnData};
    let (b, _) = two_domains();
    let first = dates(&b.data())[0].clone();
    let col = b.data().join(&first).join("quote/sym");
    let ColumnData::Enum { mut indices, .. } = read_column(&col).unwrap().data else {
        panic!("not an enumeration");
    };
    let domain_len = read_symbols(&b.data().join("sym2")).unwrap().len() as i64;
    // The last run (ZZA) becomes an index past the end of sym2: still one run, p# holds.
    *indices.last_mut().unwrap() = domain_len + 5;
    fs::write(
        &col,
        enum_bytes("sym2", Attr::Parted, &indices, HeaderCount::Set).unwrap(),
    )
    .unwrap();
    assert_eq!(stage_and_compare(&b, &["one-sym"]), 2);
    let staged = b
        .path()
        .join(".smstage/stage/t")
        .join(format!("data/{first}/quote/sym"));
    let ColumnData::Enum { indices: got, .. } = read_column(&staged).unwrap().data else {
        panic!("not an enumeration");
    };
    assert_eq!(*got.last().unwrap(), i64::MIN);
    assert!(got[..got.len() - 1].iter().all(|&i| i >= 0));
}

/// one-sym appends to the root sym; without one it refuses, saying so, and writes nothing.
#[test]
fn one_sym_without_a_root_sym_is_refused() {
    let (b, _) = two_domains();
    fs::remove_file(b.data().join("sym")).unwrap();
    let before = manifest(&b.data());
    let out = check(&b, &[DERIVE_TS, "one-sym"], false);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains(
            "error[remedy-refused]: one-sym: the database root has no `sym` to append the other domains' symbols to (sym2)"
        ),
        "{}",
        out.all()
    );
    let (_, out) = save_remedies(&b, &[DERIVE_TS, "one-sym"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(staged_files(&b).is_empty());
    assert_eq!(manifest(&b.data()), before);
}

/// add-columns on a symbol column: its nulls enumerate to the empty symbol, which the
/// generated sym lacks, so one new sym is staged with "" appended; the staged column holds
/// that index on every row. A sym changed after the save is plan-drift.
#[test]
fn add_columns_of_a_symbol_column_appends_the_empty_symbol_once() {
    use smstage::kdb::{read_column, read_symbols, ColumnData};
    let b = tick_style(2, 2, 30);
    configure_mkt(&b.config());
    let out = check(&b, &[DERIVE_TS, "add-columns"], false);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("add-columns: data/sym = its 106 symbols byte for byte + 1 appended (the empty symbol, for add-columns' null symbols)"),
        "{}",
        out.stdout
    );
    let (plan, out) = save_remedies(&b, &[DERIVE_TS, "add-columns"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let stage = stage_dir(&b);
    let old = fs::read(b.data().join("sym")).unwrap();
    let new = fs::read(stage.join("data/sym")).unwrap();
    assert_eq!(new, [old.as_slice(), b"\0"].concat());
    let empty = read_symbols(&stage.join("data/sym")).unwrap().len() as i64 - 1;
    let mkt = stage.join("data/2024.01.02/trade/mkt");
    match read_column(&mkt).unwrap().data {
        ColumnData::Enum { domain, indices } => {
            assert_eq!(domain, "sym");
            assert_eq!(indices, vec![empty; 30]);
        }
        other => panic!("{other:?}"),
    }
    // The sym the plan was saved against changes: the commit refuses, nothing changed.
    let before = manifest(&b.data());
    let mut sym = old.clone();
    sym.extend_from_slice(b"NEW\0");
    fs::write(b.data().join("sym"), &sym).unwrap();
    let out = commit_plan(&plan);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.all().contains("plan-drift"), "{}", out.all());
    assert!(out.all().contains("sym"), "{}", out.all());
    assert!(!b.path().join("db").exists());
    let after = manifest(&b.data());
    assert_eq!(before.len(), after.len());
}

/// dolphindb-sample, its three tables enumerated against sym_ORD, sym_TRANSACTION and
/// sym_quote_cffex configured: one-sym removes every enumeration-domain finding (89 symbols
/// appended, each table's enumerated columns re-enumerated); what is left is exactly what
/// set-aside is for (unconfigured tables and root entries SM refuses, the three now-unused
/// domain files among them).
#[test]
fn one_sym_on_dolphindb_sample_removes_every_enumeration_domain_finding() {
    let Some(b) = corpus::corpus_base("dolphindb-sample") else {
        return;
    };
    configure_dolphindb_enumerated(&b.config());
    let before = manifest(&b.data());
    let without: Vec<&str> = DOLPHINDB_ENUMERATED
        .iter()
        .copied()
        .filter(|r| *r != "one-sym")
        .collect();
    let errors = |remedies: &[&str]| -> (Vec<(String, usize)>, serde_json::Value) {
        let out = check(&b, remedies, true);
        assert_eq!(out.code, 1, "{}", out.all());
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let errs = serde_json::json!({"findings": v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] == "error")
            .cloned()
            .collect::<Vec<_>>()});
        (corpus::finding_counts(&errs), v)
    };
    let (bare, _) = errors(&without);
    assert!(
        bare.contains(&("sm-enum-not-sym".to_string(), 3)),
        "{bare:?}"
    );
    let (left, v) = errors(DOLPHINDB_ENUMERATED);
    assert_eq!(
        left,
        vec![
            ("schema-table-unexpected".to_string(), 5),
            ("sm-root-stray".to_string(), 1)
        ]
    );
    let stray = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "sm-root-stray")
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    for d in ["sym_ORD", "sym_TRANSACTION", "sym_quote_cffex"] {
        assert!(
            stray.contains(&format!("{d} (an enumeration domain not named sym)")),
            "{stray}"
        );
    }
    let one_sym = v["remedies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["remedy"] == "one-sym")
        .unwrap();
    let actions: Vec<&str> = one_sym["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(actions.len(), 4, "{actions:?}");
    assert_eq!(
        actions[0],
        "one-sym: data/sym = its 56106 symbols byte for byte + 89 appended (4 from sym_ORD, 2 from sym_TRANSACTION, 83 from sym_quote_cffex); the old domain files are then used by no column (with set-aside they move to smstage-aside/, else they stay in the root, where SM refuses them)"
    );
    assert!(
        actions[3].starts_with("one-sym: data/2023.03.24/quote_cffex/{sym from sym_quote_cffex"),
        "{actions:?}"
    );
    assert_eq!(manifest(&b.data()), before);
    // Staged (through the library: plan --save is refused until set-aside takes the rest),
    // every re-enumerated column stands for the original's symbols row by row.
    let staged = stage_and_compare(&b, DOLPHINDB_ENUMERATED);
    assert_eq!(staged, 5 + 6 + 4, "re-enumerated columns");
    assert_eq!(manifest(&b.data()), before);
}

/// Stages `remedies` on `b` through the library into `.smstage/stage/t`, then checks what
/// one-sym wrote: the new sym is the old one byte for byte, then its appends; each
/// re-enumerated column (an original enumerated against another domain) holds, row by row,
/// the symbols the original held through its domain, with the same attribute and
/// compression. Returns how many columns were re-enumerated.
fn stage_and_compare(b: &Base, remedies: &[&str]) -> usize {
    use smstage::kdb::{read_column, read_header, read_symbols, resolve_enum, ColumnData};
    use smstage::remedy::{run, session::Session, spec, stage};
    let cfg = smstage::config::AssemblyConfig::load(&b.config()).unwrap();
    let given: Vec<String> = remedies.iter().map(|r| r.to_string()).collect();
    let session = Session::new(&cfg, b.path(), spec::parse_all(&given).unwrap()).unwrap();
    let opts = smstage::check::CheckOptions {
        backup: smstage::check::BackupCheck::Skip,
        deep: false,
        s3: Default::default(),
        keep_object_files: false,
    };
    let (_, actions) = run::check(&cfg, &opts, &session).unwrap();
    let (files, _) = stage::stage(b.path(), "data", ".smstage/stage/t", &actions).unwrap();
    let st = b.path().join(".smstage/stage/t");
    let old = fs::read(b.data().join("sym")).unwrap();
    let new = fs::read(st.join("data/sym")).unwrap();
    let sym = read_symbols(&st.join("data/sym")).unwrap();
    let old_n = read_symbols(&b.data().join("sym")).unwrap().len();
    // Byte for byte but the int32 count at offset 4, which a non-zero count grows by the
    // appends (dolphindb's says 47174 of its 56106 symbols: kdb+ does not trust it).
    assert_eq!(&new[..4], &old[..4]);
    assert_eq!(
        &new[8..old.len()],
        &old[8..],
        "the new sym starts with the old one"
    );
    let count = |b: &[u8]| u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
    if count(&old) != 0 {
        assert_eq!(count(&new), count(&old) + sym.len() - old_n);
    } else {
        assert_eq!(count(&new), 0);
    }
    let mut n = 0;
    for f in &files {
        let orig = b.path().join(&f.path);
        let Ok(h) = read_header(&orig) else { continue };
        let Some(dom) = h.domain.clone().filter(|d| d != "sym") else {
            continue;
        };
        let staged = st.join(&f.path);
        let hs = read_header(&staged).unwrap();
        assert_eq!(hs.domain.as_deref(), Some("sym"), "{}", f.path);
        assert_eq!(
            (hs.attr, hs.compression.is_some(), hs.count),
            (h.attr, h.compression.is_some(), h.count),
            "{}",
            f.path
        );
        let domain = read_symbols(&b.data().join(&dom)).unwrap();
        let (ColumnData::Enum { indices: a, .. }, ColumnData::Enum { indices: z, .. }) = (
            read_column(&orig).unwrap().data,
            read_column(&staged).unwrap().data,
        ) else {
            panic!("{} is no enumeration", f.path);
        };
        assert_eq!(
            resolve_enum(&a, &domain),
            resolve_enum(&z, &sym),
            "{}",
            f.path
        );
        n += 1;
    }
    n
}

/// Each finding a remedy covers names it in its hint (what to pass, what it does), so a user
/// reading check's report finds the remedy without knowing it exists: on dolphindb-sample
/// configured with quote_cffex, ORD and TRANSACTION only.
#[test]
fn a_finding_a_remedy_covers_names_the_remedy_in_its_hint() {
    let Some(b) = corpus::corpus_base("dolphindb-sample") else {
        return;
    };
    configure_dolphindb_enumerated(&b.config());
    let out = check(&b, &[], true);
    assert_eq!(out.code, 1, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for f in v["findings"].as_array().unwrap() {
        let code = f["code"].as_str().unwrap();
        let remedy = match code {
            "load-table-absent" => "--remedy fill-tables",
            "schema-table-unexpected" | "sm-root-stray" => "--remedy set-aside",
            "sm-enum-not-sym" => "--remedy one-sym",
            // Its missing column is the configured prtnCol ts: derived, not null-filled.
            "schema-columns-mismatch" => "--remedy derive-prtncol:",
            _ => continue,
        };
        let hint = f["hint"].as_str().unwrap_or_default();
        assert!(hint.contains(remedy), "{code}: {hint}");
        seen.insert(code);
    }
    assert_eq!(
        seen.len(),
        5,
        "every covered finding kind is on dolphindb-sample: {seen:?}"
    );
}

/// Replaces the symbol `from` of the symbol-list file `path` by the raw bytes `to` (same
/// length: the other symbols keep their places).
fn replace_symbol(path: &std::path::Path, from: &[u8], to: &[u8]) {
    let mut bytes = fs::read(path).unwrap();
    let (from, to) = ([from, b"\0"].concat(), [to, b"\0"].concat());
    let i = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("the symbol is in the file");
    bytes[i..i + from.len()].copy_from_slice(&to);
    fs::write(path, bytes).unwrap();
}

/// Appends raw symbols to the symbol-list file `path` (its header count left as it is: kdb+
/// counts the NULs).
fn append_raw_symbols(path: &std::path::Path, symbols: &[&[u8]]) {
    let mut bytes = fs::read(path).unwrap();
    for s in symbols {
        bytes.extend_from_slice(s);
        bytes.push(0);
    }
    fs::write(path, bytes).unwrap();
}

/// kdb+ symbols are bytes (a latin-1 `Z\xe9A` is a symbol q reads and writes as it is): one-sym
/// matches a domain's symbol to sym's by its bytes. `Z\xe8A` and `Z\xe9A` are two symbols,
/// though both read as the same text when the bytes are decoded as UTF-8 (U+FFFD): each row
/// of sym2's `Z\xe9A` must map to sym's `Z\xe9A`, not to the `Z\xe8A` before it.
#[test]
fn one_sym_matches_symbols_by_their_bytes_not_as_text() {
    use smstage::kdb::{read_column, ColumnData};
    use smstage::remedy::{run, session::Session, spec::Remedy, stage};
    let (b, _) = two_domains();
    let old_n = smstage::kdb::read_symbols(&b.data().join("sym"))
        .unwrap()
        .len() as i64;
    append_raw_symbols(&b.data().join("sym"), &[b"Z\xe8A", b"Z\xe9A"]);
    // The last row of each partition's column names ZZA: now Z\xe9A.
    replace_symbol(&b.data().join("sym2"), b"ZZA", b"Z\xe9A");
    let cfg = smstage::config::AssemblyConfig::load(&b.config()).unwrap();
    let session = Session::new(&cfg, b.path(), vec![Remedy::OneSym]).unwrap();
    let opts = smstage::check::CheckOptions {
        backup: smstage::check::BackupCheck::Skip,
        deep: false,
        s3: Default::default(),
        keep_object_files: false,
    };
    let (outcome, actions) = run::check(&cfg, &opts, &session).unwrap();
    let refused: Vec<&str> = outcome
        .report
        .findings
        .iter()
        .filter(|f| f.code == "remedy-refused")
        .map(|f| f.message.as_str())
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
    let (_, _) = stage::stage(b.path(), "data", ".smstage/stage/t", &actions).unwrap();
    let st = b.path().join(".smstage/stage/t/data");
    // Only ZZB and ZZC are new: Z\xe9A is sym's already.
    let old = fs::read(b.data().join("sym")).unwrap();
    let new = fs::read(st.join("sym")).unwrap();
    assert_eq!(&new[old.len()..], b"ZZB\0ZZC\0");
    for d in dates(&b.data()) {
        let ColumnData::Enum { indices, .. } =
            read_column(&st.join(&d).join("quote/sym")).unwrap().data
        else {
            panic!("not an enumeration");
        };
        assert_eq!(
            *indices.last().unwrap(),
            old_n + 1,
            "{d}: the row of Z\\xe9A"
        );
    }
}

/// A symbol one-sym would have to append that is not UTF-8 text: the plan records appended
/// symbols as text (`sym_appended`), so it cannot bind them byte for byte; check refuses it,
/// naming the domain, the symbol's bytes and how to proceed, where it used to append the
/// bytes of U+FFFD instead (and merge two such symbols into one).
#[test]
fn one_sym_refuses_to_append_a_symbol_that_is_not_utf8() {
    let (b, _) = two_domains();
    append_raw_symbols(&b.data().join("sym"), &[b"Z\xe8A"]);
    replace_symbol(&b.data().join("sym2"), b"ZZA", b"Z\xe9A");
    let before = manifest(&b.data());
    let remedies = [DERIVE_TS, "one-sym", "set-aside"];
    let out = check(&b, &remedies, false);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("error[remedy-refused]: one-sym: symbol 40 of the domain `sym2` (bytes 5a e9 41) is not UTF-8 text and sym lacks it"),
        "{}",
        out.all()
    );
    let (_, out) = save_remedies(&b, &remedies);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(staged_files(&b).is_empty());
    assert_eq!(manifest(&b.data()), before);
}

/// A compressed root `sym` (kdb+ writes one when `.z.zd` is set) that a remedy must append
/// to: staging refuses it (not written yet), so check refuses it too, before the user saves
/// a plan; the message names the bytes and the q that decompresses it.
#[test]
fn a_compressed_sym_that_must_grow_is_refused_by_check() {
    let b = tick_style(2, 2, 30);
    configure_mkt(&b.config());
    let sym = b.data().join("sym");
    let image = fs::read(&sym).unwrap();
    smstage::kdb::write::write_image(&sym, &image, Some(smstage::kdb::zip::ZipParams::new(2, 6)))
        .unwrap();
    let remedies = [DERIVE_TS, "add-columns"];
    let out = check(&b, &remedies, false);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout
            .contains("error[remedy-refused]: add-columns: the root sym is compressed (bytes 6b 78 7a 69 70 70 65 64, `kxzipped`)"),
        "{}",
        out.all()
    );
    assert!(out.stdout.contains("`:sym set get `:sym"), "{}", out.all());
    let before = manifest(&b.data());
    let (_, out) = save_remedies(&b, &remedies);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(staged_files(&b).is_empty());
    assert_eq!(manifest(&b.data()), before);
}

/// `<baseURI>/smstage-aside` (or a directory below it) that is a file or a symbolic link: the
/// commit could not create the directories set-aside moves entries into (a file), or would
/// move the database's tables through the link out of the baseURI; it used to fail half-way
/// through the commit (rolled back) after check and plan passed. check refuses it, naming the
/// entry and what to do; plan saves nothing.
#[test]
fn set_aside_refuses_a_smstage_aside_that_is_a_file_or_a_link() {
    let Some(b) = advkdb_trade_only() else {
        return;
    };
    let aside = b.path().join("smstage-aside");
    let outside = tempfile::tempdir().unwrap();
    type Make<'a> = Box<dyn Fn() + 'a>;
    let cases: [(&str, Make); 3] = [
        (
            "a file, not a directory",
            Box::new(|| fs::write(&aside, b"notes").unwrap()),
        ),
        (
            "a symbolic link (to ",
            Box::new(|| std::os::unix::fs::symlink(outside.path(), &aside).unwrap()),
        ),
        (
            "a file, not a directory",
            Box::new(|| {
                fs::create_dir(&aside).unwrap();
                fs::write(aside.join("2019.06.02"), b"").unwrap();
            }),
        ),
    ];
    for (what, make) in cases {
        make();
        let blocker = if aside.is_dir() && !aside.is_symlink() {
            aside.join("2019.06.02")
        } else {
            aside.clone()
        };
        let before = manifest(&b.data());
        let out = check(&b, &["set-aside"], false);
        assert_eq!(out.code, 1, "{what}: {}", out.all());
        let want = format!(
            "error[remedy-refused]: set-aside: {} is {what}",
            blocker.display()
        );
        assert!(out.stdout.contains(&want), "{want}\n{}", out.all());
        // One finding for the two tables it blocks.
        assert_eq!(out.stdout.matches(&want).count(), 1, "{}", out.all());
        assert!(out.stdout.contains("then run this again"), "{}", out.all());
        let (plan, out) = save_remedied(&b, "set-aside");
        assert_eq!(out.code, 1, "{what}: {}", out.all());
        assert!(!plan.exists());
        assert_eq!(manifest(&b.data()), before);
        assert!(fs::read_dir(outside.path()).unwrap().next().is_none());
        if aside.is_symlink() || aside.is_file() {
            fs::remove_file(&aside).unwrap();
        } else {
            fs::remove_dir_all(&aside).unwrap();
        }
    }
    // A directory smstage-aside (the user's, empty) is fine.
    fs::create_dir(&aside).unwrap();
    assert_eq!(check(&b, &["set-aside"], false).code, 0);
}

/// A generated kdb+tick-style database spread over two segments (`gen --tick-style --segments
/// 2`: `data/par.txt` naming `../seg1` and `../seg2`, one local tier each), `ts` configured.
fn segmented_tick_style() -> Base {
    tick_style_with(4, 2, 60, &["--segments", "2"])
}

/// Every entry of the root and of both segments, modes, mtimes and content hashes included.
fn segmented_state(b: &Base) -> Vec<String> {
    ["data", "seg1", "seg2"]
        .iter()
        .flat_map(|d| {
            manifest(&b.path().join(d))
                .into_iter()
                .map(move |l| format!("{d}/{l}"))
        })
        .collect()
}

/// check --remedy on a segmented database judges every segment's partitions as the remedy
/// will leave them (was: one `remedy-refused` for the whole database), and names each table
/// through its segment's store anchor (`stores/<tier>/<date>/<table>`), as the plan does.
#[test]
fn check_judges_a_segmented_tick_style_database_as_derive_prtncol_will_leave_it() {
    let b = segmented_tick_style();
    let bare = check(&b, &[], true);
    assert_eq!(bare.code, 1, "{}", bare.all());
    let v: serde_json::Value = serde_json::from_str(&bare.stdout).unwrap();
    assert_eq!(
        corpus::finding_counts(&v),
        vec![("schema-columns-mismatch".to_string(), 8)]
    );
    let before = segmented_state(&b);

    let out = check(&b, &[DERIVE_TS], true);
    assert_eq!(out.code, 0, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 0, "{}", out.stdout);
    let actions: Vec<&str> = v["remedies"][0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(actions.len(), 8, "{actions:?}");
    assert!(
        actions[0]
            .starts_with("derive-prtncol: stores/seg1/2024.01.02/quote/ts = 2024.01.02 + time"),
        "{actions:?}"
    );
    assert!(
        actions[7]
            .starts_with("derive-prtncol: stores/seg2/2024.01.05/trade/ts = 2024.01.05 + time"),
        "{actions:?}"
    );
    assert_eq!(segmented_state(&b), before, "check wrote something");
    assert!(!b.path().join(".smstage").exists());
}

/// plan --remedy --save on a segmented database stages each segment's files in the baseURI's
/// one staging area, mirroring the plan paths through the anchors (`stores/seg1/…`,
/// `stores/seg2/…`), and nothing inside a segment or the root; the plan moves each staged
/// file to its partition's version in its own store.
#[test]
fn plan_save_on_a_segmented_database_stages_each_segment_under_its_anchor() {
    let b = segmented_tick_style();
    let before = segmented_state(&b);
    let (plan, out) = save_remedied(&b, DERIVE_TS);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        segmented_state(&b),
        before,
        "plan --save changed the database"
    );
    let staged = staged_files(&b);
    let mut want = Vec::new();
    for (seg, dates) in [
        ("seg1", ["2024.01.02", "2024.01.03"]),
        ("seg2", ["2024.01.04", "2024.01.05"]),
    ] {
        for d in dates {
            for t in ["quote", "trade"] {
                for f in [".d", "ts"] {
                    want.push(format!("stores/{seg}/{d}/{t}/{f}"));
                }
            }
        }
    }
    assert_eq!(staged, want);
    let saved = smstage::approval::load(&plan).unwrap();
    let rem = saved.plan.remedies.as_ref().unwrap();
    assert_eq!(rem.derived.len(), 8);
    let ts = rem
        .files
        .iter()
        .find(|f| f.path == "stores/seg2/2024.01.05/trade/ts")
        .unwrap();
    assert!(!ts.replaces);
    let node = saved
        .plan
        .nodes
        .iter()
        .find(|n| n.path == "stores/seg2/versions/2024.01.05/1/trade/ts")
        .expect("the derived column in its partition's version");
    assert_eq!(
        node.kind,
        smstage::plan::NodeKind::Moved {
            from: ts.staged.clone(),
            is_dir: false
        }
    );
}

/// set-aside and one-sym are not available on a segmented database: each refused by name
/// (`remedy-refused`, exit 1), and nothing is written.
#[test]
fn set_aside_and_one_sym_on_a_segmented_database_are_refused_by_name() {
    let b = segmented_tick_style();
    let before = segmented_state(&b);
    let out = check(&b, &[DERIVE_TS, "set-aside", "one-sym"], true);
    assert_eq!(out.code, 1, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let refused: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "remedy-refused")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(refused.len(), 2, "{}", out.stdout);
    assert!(
        refused[0].starts_with("--remedy set-aside: not available for a segmented database"),
        "{refused:?}"
    );
    assert!(
        refused[1].starts_with("--remedy one-sym: not available for a segmented database"),
        "{refused:?}"
    );
    let (_, out) = save_remedies(&b, &[DERIVE_TS, "set-aside"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.all().contains("--remedy set-aside: not available"),
        "{}",
        out.all()
    );
    assert_eq!(segmented_state(&b), before);
    assert!(staged_files(&b).is_empty());
}

/// A partition in an object tier (an `s3://` line after the segments) that derive-prtncol would
/// write into is refused by name: one `remedy-refused` per table, naming the tier, the partition
/// and the object store (smstage never writes to object storage); the segments' partitions are
/// remedied as before, and nothing is written.
#[test]
fn an_object_tier_partition_a_remedy_would_write_into_is_refused_by_name() {
    let Some(env) = s3_server() else { return };
    let b = segmented_tick_style();
    let (tier, store) = open_test_tier(env, "segrem");
    let seg1 = b.path().join("seg1");
    let oldest = dates(&seg1)[0].clone();
    smstage::object::upload_tree(&tier, &seg1.join(&oldest), &oldest).unwrap();
    fs::remove_dir_all(seg1.join(&oldest)).unwrap();
    let yaml = fs::read_to_string(b.config()).unwrap();
    let at = yaml.find("tables:").unwrap();
    let yaml = format!(
        "{}    - name: archive\n      mount: hdb\n      store: {store}\n{}",
        &yaml[..at],
        &yaml[at..]
    );
    fs::write(b.config(), yaml).unwrap();
    let before = segmented_state(&b);

    let config = b.config_str();
    let out = smstage_env(
        &[
            "check",
            "--config",
            &config,
            "--no-backup-check",
            "--remedy",
            DERIVE_TS,
            "--format",
            "json",
        ],
        env,
    );
    assert_eq!(out.code, 1, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let refused: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "remedy-refused")
        .collect();
    let tables: Vec<&str> = refused
        .iter()
        .map(|f| f["table"].as_str().unwrap())
        .collect();
    assert_eq!(tables, ["quote", "trade"], "{}", out.stdout);
    for f in &refused {
        assert_eq!(f["partition"], oldest.as_str(), "{f}");
        assert_eq!(f["tier"], "archive", "{f}");
        let msg = f["message"].as_str().unwrap();
        assert!(
            msg.contains(&format!("{store}/{oldest}"))
                && msg.contains("derive-prtncol would write its ts")
                && msg.contains("never writes to object storage"),
            "{msg}"
        );
    }
    // The local segments' partitions are remedied as before.
    assert_eq!(
        v["remedies"][0]["actions"].as_array().unwrap().len(),
        6,
        "{}",
        out.stdout
    );
    assert_eq!(segmented_state(&b), before);
    assert!(!b.path().join(".smstage").exists());
}

/// On a segmented database too, a staged file of a segment changed after the save (one byte)
/// is `plan-drift`, and so is a change inside a segment (its fingerprint entries): commit
/// --plan refuses, nothing changes.
#[test]
fn a_staged_file_or_a_segment_changed_after_the_save_is_plan_drift_on_a_segmented_database() {
    let b = segmented_tick_style();
    let (plan, out) = save_remedied(&b, DERIVE_TS);
    assert_eq!(out.code, 0, "{}", out.all());
    let commit = || commit_plan(&plan);
    let rel = "stores/seg2/2024.01.05/trade/ts";
    let ts = stage_dir(&b).join(rel);
    let original = fs::read(&ts).unwrap();
    let mut bytes = original.clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&ts, &bytes).unwrap();
    let out = commit();
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("plan-drift") && out.stdout.contains(rel),
        "{}",
        out.all()
    );
    fs::write(&ts, &original).unwrap();
    // A file of a segment's table changed after the save: drift of the segment's entries.
    let time = b.path().join("seg1/2024.01.02/quote/time");
    let mut col = fs::read(&time).unwrap();
    col.push(0);
    fs::write(&time, &col).unwrap();
    let out = commit();
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("plan-drift") && out.stdout.contains("seg1/2024.01.02/quote/time"),
        "{}",
        out.all()
    );
    assert!(!b.path().join("db").exists());
    assert!(!b.path().join("stores").exists());
}
