//! Every real database under ../shared/fixtures/real through `schema`, `check --deep`,
//! `plan` and `verify --deep`: each gets its verdict for the reason in `common::corpus::CORPUS`, exactly those
//! findings, and not one byte of it changes. (The view, commit and rollback of the same
//! corpus are in mount-tests/corpus_tests.rs.)

mod common;

use common::corpus::*;
use common::*;
use std::fs;

#[test]
fn every_real_database_gets_its_verdict_for_the_right_reason() {
    let mut failures = Vec::new();
    let mut ran = 0;
    let corpus = selected();
    for e in corpus.iter().copied() {
        let Some(b) = corpus_base(e.name) else {
            continue;
        };
        ran += 1;
        let bak = b.backup();
        let before = manifest(&b.data());
        let out = smstage(&[
            "check",
            "--config",
            &b.config_str(),
            "--backup",
            bak.to_str().unwrap(),
            "--deep",
            "--format",
            "json",
        ]);
        let v: serde_json::Value = match serde_json::from_str(&out.stdout) {
            Ok(v) => v,
            Err(err) => {
                failures.push(format!("{}: not JSON ({err}): {}", e.name, out.all()));
                continue;
            }
        };
        let got = finding_counts(&v);
        let want: Vec<(String, usize)> = e
            .findings
            .iter()
            .map(|(c, n)| (c.to_string(), *n))
            .collect();
        if out.code != e.exit || got != want {
            failures.push(format!(
                "{}: exit {} (want {}), findings {got:?} (want {want:?})\n  why: {}\n{}",
                e.name, out.code, e.exit, e.reason, out.stdout
            ));
        }
        // A database kdb+ wrote is never told to restore from its backup.
        if out.stdout.contains("restore the file from the backup") {
            failures.push(format!(
                "{}: told to restore from backup:\n{}",
                e.name, out.stdout
            ));
        }
        for w in e.says {
            let text = smstage(&[
                "check",
                "--config",
                &b.config_str(),
                "--no-backup-check",
                "--deep",
            ]);
            if !text.all().contains(w) {
                failures.push(format!(
                    "{}: check does not say {w:?}:\n{}",
                    e.name,
                    text.all()
                ));
            }
        }
        if v["ok"] != serde_json::Value::Bool(e.exit == 0) {
            failures.push(format!("{}: JSON ok is {}", e.name, v["ok"]));
        }

        // `plan` agrees: a plan for what passes, none for what is refused.
        let plan = smstage(&["plan", "--config", &b.config_str(), "--format", "json"]);
        if plan.code != e.exit {
            failures.push(format!(
                "{}: plan exit {} (want {}): {}",
                e.name,
                plan.code,
                e.exit,
                plan.all()
            ));
        } else if e.exit == 0 {
            let p: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
            assert_eq!(p["root"], "db", "{}", e.name);
            let dates = dates(&b.data());
            assert_eq!(
                p["partitions"].as_array().unwrap().len(),
                dates.len(),
                "{}: every date partition is planned",
                e.name
            );
        }
        // `verify` loads the database as `\\l` does, without the configuration: q's verdict,
        // which SM's prerequisites may be stricter than.
        let v = smstage(&["verify", b.data().to_str().unwrap(), "--deep"]);
        if v.code != e.verify_exit {
            failures.push(format!(
                "{}: verify exit {} (want {}): {}",
                e.name,
                v.code,
                e.verify_exit,
                v.all()
            ));
        }
        assert_eq!(
            before,
            manifest(&b.data()),
            "{}: the database changed",
            e.name
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    if ran < corpus.len() {
        eprintln!(
            "\n!!!!!!!! WARNING: only {ran} of {} real databases were present !!!!!!!!\n",
            corpus.len()
        );
    }
}

/// Configured with the types its other tables suggest instead of `mixed`, the empty table's
/// untyped columns are compatible: a warning each, never a blocker.
#[test]
fn empty_untyped_columns_are_compatible_with_any_configured_type() {
    let Some(b) = corpus_base("torq-gateway-empty") else {
        return;
    };
    let text = fs::read_to_string(b.config()).unwrap();
    let mixed = text.matches("type: mixed").count();
    assert!(mixed >= 2, "schema printed no mixed columns:\n{text}");
    fs::write(b.config(), text.replace("type: mixed", "type: bytes")).unwrap();
    let out = smstage(&[
        "check",
        "--config",
        &b.config_str(),
        "--no-backup-check",
        "--deep",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        finding_counts(&v),
        [("schema-type-untyped-empty".to_string(), mixed)]
    );
    for f in v["findings"].as_array().unwrap() {
        assert_eq!(f["severity"], "warning");
        assert_eq!(f["table"], "packets");
    }
}

/// `schema` prints every table SM validates: what q sees (the last partition's tables) and
/// the tables only earlier partitions hold, which SM refuses unless configured; stderr says
/// which ones q does not see.
#[test]
fn schema_prints_every_table_sm_validates_and_notes_what_q_misses() {
    let Some(src) = fixture("advkdb-ipc") else {
        return;
    };
    let out = smstage(&["schema", src.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("  Trade:\n"), "{}", out.stdout);
    assert!(out.stdout.contains("  MarketInfo:\n"), "{}", out.stdout);
    assert!(out.stdout.contains("  Quote:\n"), "{}", out.stdout);
    assert!(out.stderr.contains("table MarketInfo"), "{}", out.stderr);
    assert!(out.stderr.contains("q does not see it"), "{}", out.stderr);
    // Trade's columns in the last partition's order (what q shows).
    let trade = out.stdout.split("  Trade:\n").nth(1).unwrap();
    let cols: Vec<&str> = trade
        .lines()
        .take_while(|l| l.starts_with("    "))
        .filter_map(|l| l.trim().strip_prefix("- {name: "))
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(cols, ["time", "sym", "price", "qty"]);

    let Some(src) = fixture("torq-monthly") else {
        return;
    };
    let out = smstage(&["schema", src.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("  xmonthly:\n"), "{}", out.stdout);
    assert!(out.stderr.contains("month partition"), "{}", out.stderr);
}
