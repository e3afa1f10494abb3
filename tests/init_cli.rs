//! `smstage init`: an assembly derived from the database, accepted by `check` when the database
//! meets SM's prerequisites, naming what is missing otherwise; refusals that lose nothing.

mod common;

use common::*;
use std::fs;

#[test]
fn init_on_a_generated_database_then_check_passes() {
    let b = generated(3, 2, 8, 50);
    // Init's own file, not gen's: remove gen's so only init's can be read.
    fs::remove_file(b.config()).unwrap();
    let out = smstage(&["init", b.data().to_str().unwrap(), "--out", &b.config_str()]);
    assert_eq!(out.code, 0, "{}", out.all());
    let yaml = fs::read_to_string(b.config()).unwrap();
    // A timestamp `time` gets prtnCol; a kdb+tick-style timespan `time` is named as missing.
    let schema = smstage(&["schema", b.data().to_str().unwrap()]);
    if schema.stdout.contains("{name: time, type: timestamp}") {
        assert!(yaml.contains("prtnCol: time"), "{yaml}");
        assert!(
            out.stdout.contains("missing for Storage Manager: nothing"),
            "{}",
            out.stdout
        );
    } else {
        assert!(
            yaml.contains("no timestamp column, so no prtnCol"),
            "{yaml}"
        );
    }
    let backup = b.backup();
    let check = smstage(&[
        "check",
        "--config",
        &b.config_str(),
        "--backup",
        backup.to_str().unwrap(),
    ]);
    assert_eq!(check.code, 0, "{}\n--- assembly:\n{yaml}", check.all());
}

#[test]
fn init_refuses_to_overwrite_without_force_and_keeps_the_file() {
    let b = generated(1, 1, 3, 5);
    fs::write(b.config(), "mine\n").unwrap();
    let out = smstage(&["init", b.data().to_str().unwrap(), "--out", &b.config_str()]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("--force"), "{}", out.stderr);
    assert_eq!(fs::read_to_string(b.config()).unwrap(), "mine\n");
    let forced = smstage(&[
        "init",
        b.data().to_str().unwrap(),
        "--out",
        &b.config_str(),
        "--force",
    ]);
    assert_eq!(forced.code, 0, "{}", forced.all());
    assert!(fs::read_to_string(b.config()).unwrap().contains("tables:"));
}

#[test]
fn init_refuses_an_out_inside_the_database() {
    let b = generated(1, 1, 3, 5);
    let inside = b.data().join("assembly.yaml");
    let out = smstage(&[
        "init",
        b.data().to_str().unwrap(),
        "--out",
        inside.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("inside the database"), "{}", out.stderr);
    assert!(!inside.exists());
}

#[test]
fn init_on_a_database_not_named_data_says_how_to_move_it() {
    let b = generated(1, 1, 3, 5);
    let other = b.path().join("hdb");
    fs::rename(b.data(), &other).unwrap();
    let out_file = b.path().join("a.yaml");
    let out = smstage(&[
        "init",
        other.to_str().unwrap(),
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("mkdir ") && out.stderr.contains("/data"),
        "{}",
        out.stderr
    );
    assert!(!out_file.exists());
}

/// Every real fixture: a config that parses and names what is missing, or (for a directory
/// holding no kdb+ table) a refusal that says so.
#[test]
fn init_on_every_real_fixture_parses_and_names_what_is_missing() {
    let Some(root) = fixture("") else { return };
    let mut names: Vec<String> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&root.join(&name), &dir.path().join("data"));
        let cfg = dir.path().join("assembly.yaml");
        let out = smstage(&[
            "init",
            dir.path().join("data").to_str().unwrap(),
            "--out",
            cfg.to_str().unwrap(),
        ]);
        if name == "dolphindb-sample-csv" {
            assert_eq!(out.code, 2, "{name}: {}", out.all());
            assert!(
                out.stderr.contains("no kdb+ table"),
                "{name}: {}",
                out.stderr
            );
            continue;
        }
        assert_eq!(out.code, 0, "{name}: {}", out.all());
        // It parses: plan reads it (exit 0 or 1 by the database); a configuration error (2)
        // only for KX's prerequisite the data misses, a timestamp prtnCol, which init named.
        let plan = smstage(&["plan", "--config", cfg.to_str().unwrap()]);
        let yaml = fs::read_to_string(&cfg).unwrap();
        if yaml.contains("no timestamp column") {
            assert_eq!(plan.code, 2, "{name}: {}", plan.all());
            assert!(
                plan.stderr.contains("has no prtnCol"),
                "{name}: {}",
                plan.all()
            );
        } else {
            assert_ne!(plan.code, 2, "{name}: {}", plan.all());
        }
        // What is missing is named in the file exactly as init printed it.
        for line in out.stdout.lines().filter(|l| l.starts_with("    - ")) {
            let item = line.trim_start_matches("    - ");
            assert!(yaml.contains(item), "{name}: {item} not in\n{yaml}");
        }
        if name == "bitmex-nested" {
            assert!(
                yaml.contains("table trade: no timestamp column") && !yaml.contains("prtnCol:"),
                "{name}: {yaml}"
            );
        }
        if name == "torq-air" {
            assert!(yaml.contains("prtnCol: time"), "{yaml}");
        }
        if name == "advkdb-ipc" {
            assert!(
                yaml.contains("MarketInfo"),
                "{name}: the hidden table is noted: {yaml}"
            );
        }
    }
}

/// A kdb+tick-shaped database: init leaves prtnCol out (no guess) and says how the
/// derive-prtncol remedy gets one, naming each table's time-of-day column.
#[test]
fn init_names_the_remedy_for_a_missing_timestamp() {
    let b = common::remedied::tick_style(1, 2, 10);
    fs::remove_file(b.config()).unwrap();
    let out = smstage(&["init", b.data().to_str().unwrap(), "--out", &b.config_str()]);
    assert_eq!(out.code, 0, "{}", out.all());
    let yaml = fs::read_to_string(b.config()).unwrap();
    assert!(!yaml.contains("prtnCol:"), "{yaml}");
    for t in ["trade", "quote"] {
        let hint = format!("--remedy derive-prtncol:{t}=time");
        assert!(yaml.contains(&hint), "{hint}: {yaml}");
        assert!(out.stdout.contains(&hint), "{}", out.stdout);
    }
}

/// `init --remedy derive-prtncol:*=time` on a kdb+tick-shaped database: each table gets `ts`
/// (timestamp) as its first column and its prtnCol, and the check init prints — with the same
/// --remedy — passes, as does staging the plan: no YAML written by hand.
#[test]
fn init_with_derive_prtncol_writes_an_assembly_that_check_and_plan_accept() {
    let b = common::remedied::tick_style(2, 2, 50);
    fs::remove_file(b.config()).unwrap();
    let data = b.data().to_str().unwrap().to_string();
    let remedy = "derive-prtncol:*=time";
    let out = smstage(&["init", &data, "--out", &b.config_str(), "--remedy", remedy]);
    assert_eq!(out.code, 0, "{}", out.all());
    let yaml = fs::read_to_string(b.config()).unwrap();
    for t in ["trade", "quote"] {
        let at = yaml.find(&format!("  {t}:\n")).expect(t);
        let table = &yaml[at..];
        assert!(table.contains("prtnCol: ts\n"), "{t}: {yaml}");
        let cols = &table[table.find("columns:").unwrap()..];
        let first = cols.lines().nth(1).unwrap().trim();
        assert_eq!(first, "- {name: ts, type: timestamp}", "{t}: {yaml}");
    }
    assert!(
        !yaml.contains("no partition column (prtnCol) printed"),
        "{yaml}"
    );
    assert!(
        out.stdout.contains("nothing that init can see"),
        "{}",
        out.stdout
    );
    // The printed check line carries the remedy, so it judges the database as it will be.
    let check_line = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("smstage check"))
        .unwrap();
    assert!(
        check_line.ends_with(&format!("--remedy '{remedy}'")),
        "{check_line}"
    );
    let cfg = b.config_str();
    let check = smstage(&[
        "check",
        "--config",
        &cfg,
        "--no-backup-check",
        "--remedy",
        remedy,
    ]);
    assert_eq!(check.code, 0, "{}", check.all());
    let plan = b.path().join("init.plan");
    let save = smstage(&[
        "plan",
        "--config",
        &cfg,
        "--remedy",
        remedy,
        "--save",
        plan.to_str().unwrap(),
    ]);
    assert_eq!(save.code, 0, "{}", save.all());
    // Without the remedy the same file is refused: the derived column is not on disk yet.
    let bare = smstage(&["check", "--config", &cfg, "--no-backup-check"]);
    assert_ne!(bare.code, 0, "{}", bare.all());
}

/// A remedy init cannot honour is refused before anything is written, saying what to do.
#[test]
fn init_refuses_a_remedy_it_cannot_write_and_writes_nothing() {
    let b = common::remedied::tick_style(1, 1, 10);
    fs::remove_file(b.config()).unwrap();
    let data = b.data().to_str().unwrap().to_string();
    for (remedy, says) in [
        (
            "fill-tables",
            "pass `--remedy fill-tables` to check and plan",
        ),
        ("derive-prtncol:trade=price", "not a time of day"),
        (
            "derive-prtncol:nosuch=time",
            "no partitioned table \"nosuch\"",
        ),
        (
            "derive-prtncol:*=nosuch",
            "no partitioned table without a timestamp column has a column \"nosuch\"",
        ),
        ("derive-prtncol", "needs TABLE=SOURCE"),
    ] {
        let out = smstage(&["init", &data, "--out", &b.config_str(), "--remedy", remedy]);
        assert_eq!(out.code, 2, "{remedy}: {}", out.all());
        assert!(out.stderr.contains(says), "{remedy}: {}", out.stderr);
        assert!(!b.config().exists(), "{remedy}: a file was written");
    }
}

/// A segmented database (par.txt): one local tier per segment, in par.txt's order, its store
/// the segment's real directory (one segment outside the base, named by an absolute line);
/// the backup commands init prints, run as printed, make a backup `check --deep` accepts.
#[test]
fn init_on_a_segmented_database_writes_a_tier_per_segment_that_check_accepts() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().canonicalize().unwrap();
    let b = root.join("b");
    let o = smstage(&[
        "gen",
        "--out",
        b.to_str().unwrap(),
        "--partitions",
        "5",
        "--tables",
        "2",
        "--rows",
        "30",
        "--segments",
        "3",
    ]);
    assert_eq!(o.code, 0, "{}", o.all());
    fs::remove_file(b.join("assembly.yaml")).unwrap();
    // The last segment elsewhere, named by an absolute path.
    let far = root.join("disk2/hdb");
    fs::create_dir_all(far.parent().unwrap()).unwrap();
    fs::rename(b.join("seg3"), &far).unwrap();
    fs::write(
        b.join("data/par.txt"),
        format!("../seg1\n../seg2\n{}\n", far.display()),
    )
    .unwrap();

    let cfg = root.join("init.yaml");
    let out = smstage(&[
        "init",
        b.join("data").to_str().unwrap(),
        "--out",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let yaml = fs::read_to_string(&cfg).unwrap();
    let want = format!(
        "    - name: seg1\n      mount: hdb\n      store: file://{b}/seg1\n    - name: seg2\n      mount: hdb\n      store: file://{b}/seg2\n    - name: seg3\n      mount: hdb\n      store: file://{far}\n",
        b = b.display(),
        far = far.display()
    );
    assert!(yaml.contains(&want), "{yaml}");

    // The printed backup commands, as a user pastes them.
    let script: String = out
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("mkdir ") || l.starts_with("cp ") || l.starts_with("printf "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(script.lines().count(), 5, "{}", out.stdout);
    let sh = std::process::Command::new("bash")
        .arg("-ec")
        .arg(&script)
        .status()
        .unwrap();
    assert!(sh.success(), "{script}");
    let backup = format!("{}-backup", b.display());
    let check = smstage(&[
        "check",
        "--config",
        cfg.to_str().unwrap(),
        "--backup",
        &backup,
        "--deep",
        "--format",
        "json",
    ]);
    assert_eq!(check.code, 0, "{}\n--- assembly:\n{yaml}", check.all());
    let v: serde_json::Value = serde_json::from_str(&check.stdout).unwrap();
    assert_eq!(
        v["findings"].as_array().unwrap().len(),
        0,
        "{}",
        check.stdout
    );

    // A segment that does not resolve: refused, naming the line, nothing written.
    fs::write(b.join("data/par.txt"), "../seg1\n../gone\n").unwrap();
    let cfg2 = root.join("init2.yaml");
    let out = smstage(&[
        "init",
        b.join("data").to_str().unwrap(),
        "--out",
        cfg2.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("\"../gone\""), "{}", out.stderr);
    assert!(!cfg2.exists());
}
