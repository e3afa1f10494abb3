//! The streamed checks (`check::read_and_evaluate`: each partition checked as it is read, its
//! file records released) against the reference: the whole inventory taken first, then
//! `evaluate` and `deep_checks`. Same findings, in the same order, for every real database of
//! the corpus and for generated databases broken in each way a partition's checks look at.

mod common;

use common::*;
use smstage::check;
use smstage::config::AssemblyConfig;
use smstage::finding::Finding;
use smstage::inventory::{self, RootMode};
use std::fs;
use std::path::Path;

/// Findings of the reference (whole inventory) and of the streamed run, and whether the
/// streamed run kept any file record of a local partition.
fn both(db: &Path, config: Option<&AssemblyConfig>) -> (Vec<Finding>, Vec<Finding>, usize) {
    let inv = inventory::take(db).expect("inventory");
    let mut reference = check::evaluate(config, &inv);
    reference.extend(check::deep_checks(&inv));

    let (mut inv, dirs) = inventory::scan_root(db, RootMode::Partitioned).expect("root scan");
    let streamed = check::read_and_evaluate(config, &mut inv, dirs, true);
    let kept: usize = inv
        .partitions
        .iter()
        .flat_map(|p| &p.tables)
        .map(|t| t.files.len() + t.columns().len())
        .sum();
    (reference, streamed, kept)
}

fn assert_same(what: &str, db: &Path, config: Option<&AssemblyConfig>) {
    let (reference, streamed, kept) = both(db, config);
    assert_eq!(
        streamed, reference,
        "{what}: the streamed checks differ from the whole-inventory reference"
    );
    assert_eq!(
        kept, 0,
        "{what}: file records kept after the streamed checks"
    );
}

#[test]
fn every_real_database_gets_the_same_findings_streamed() {
    let mut ran = 0;
    for e in common::corpus::CORPUS {
        // Read only: nothing here writes, so the fixture is read in place.
        let Some(db) = fixture(e.name) else {
            continue;
        };
        ran += 1;
        assert_same(e.name, &db, None);
    }
    if ran == 0 {
        eprintln!("WARNING: ../shared/fixtures/real is absent: the real corpus was NOT compared");
    }
}

#[test]
fn broken_generated_databases_get_the_same_findings_streamed() {
    let b = generated(6, 3, 6, 20);
    let data = b.data();
    let config = AssemblyConfig::load(&b.config()).expect("config");
    assert_same("intact", &data, Some(&config));
    assert!(
        both(&data, Some(&config)).0.is_empty(),
        "an intact generated database has findings"
    );

    let parts = dates(&data);
    let first = data.join(&parts[0]);
    let last = data.join(parts.last().unwrap());
    let mid = data.join(&parts[2]);
    let t0 = tables_in(&first)[0].clone();
    let cols = dotd(&t0);
    // A truncated column, a corrupt header, a missing column file.
    let f = fs::OpenOptions::new()
        .write(true)
        .open(t0.join(&cols[2]))
        .unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len - 8).unwrap();
    let t1 = tables_in(&mid)[1].clone();
    let c1 = dotd(&t1);
    fs::write(t1.join(&c1[3]), b"\xfe\x20\x09garbage-not-a-header").unwrap();
    fs::remove_file(t1.join(&c1[4])).unwrap();
    // A stray file, a table missing from one partition, a table only in an early partition
    // (hidden from q), a .d in another order in an early partition, and one in the last.
    fs::write(tables_in(&mid)[0].join("notes.txt"), b"x").unwrap();
    fs::remove_dir_all(tables_in(&data.join(&parts[3]))[2].clone()).unwrap();
    copy_tree(&t0, &first.join("only_here"));
    for (part, what) in [(&first, "early"), (&last, "last")] {
        let t = tables_in(part)[1].clone();
        let mut c = dotd(&t);
        c.swap(0, 1);
        smstage::kdb::write::write_symbols(&t.join(".d"), &c, Default::default())
            .unwrap_or_else(|e| panic!("{what} .d: {e}"));
    }
    // A missing enumeration domain, and a stray file in the root (SM refuses it).
    fs::rename(data.join("sym"), b.path().join("sym.away")).unwrap();
    fs::write(data.join("init.q"), b"show 1\n").unwrap();

    let (reference, _, _) = both(&data, Some(&config));
    let codes: std::collections::BTreeSet<&str> = reference.iter().map(|f| f.code).collect();
    for want in [
        "load-corrupt-file",
        "load-column-missing",
        "load-extra-file",
        "load-table-absent",
        // The table only in an early partition: with a configuration SM's "not configured".
        "schema-table-unexpected",
        "sm-root-stray",
        "schema-column-order",
        "schema-columns-mismatch",
        "load-domain-missing",
    ] {
        assert!(
            codes.contains(want),
            "the broken database does not exercise {want}: {codes:?}"
        );
    }
    let (unconfigured, _, _) = both(&data, None);
    assert!(
        unconfigured.iter().any(|f| f.code == "load-table-hidden"),
        "without a configuration the early-only table is q's hidden table"
    );
    assert_same("broken, configured", &data, Some(&config));
    assert_same("broken, no configuration", &data, None);
}

/// Partitions in an object tier are read a chunk at a time and checked as they come, like
/// local ones: the same findings (tier-tagged, deep included) as the whole inventories, and no
/// object's record kept afterwards.
#[test]
fn object_tier_partitions_get_the_same_findings_streamed() {
    use smstage::finding::Report;
    use smstage::inventory::ObjectTierInv;
    use smstage::object::{open_s3_with, take_object_inventory, S3Options, S3Settings};
    let Some(env) = s3_server() else {
        return;
    };
    let b = generated(8, 2, 6, 20);
    let parts = dates(&b.data());
    // Broken before the upload, in partitions that go to the bucket: a corrupt header, a
    // missing column file, a stray file, and a .d in another order.
    let t1 = tables_in(&b.data().join(&parts[1]))[0].clone();
    let c1 = dotd(&t1);
    fs::write(t1.join(&c1[3]), b"\xfe\x20\x09garbage-not-a-header").unwrap();
    fs::remove_file(t1.join(&c1[4])).unwrap();
    fs::write(
        tables_in(&b.data().join(&parts[2]))[1].join("notes.txt"),
        b"x",
    )
    .unwrap();
    let t3 = tables_in(&b.data().join(&parts[3]))[1].clone();
    let mut c3 = dotd(&t3);
    c3.swap(0, 1);
    smstage::kdb::write::write_symbols(&t3.join(".d"), &c3, Default::default()).unwrap();
    let store = move_to_object_tier(&b, env, "streamed", &parts[..5], true);
    let config = AssemblyConfig::load(&b.config()).expect("config");

    // The reference: both inventories whole, then evaluate and deep_checks.
    let (bucket, prefix) = store
        .trim_start_matches("s3://")
        .split_once('/')
        .expect("s3://bucket/prefix");
    let settings = S3Settings::from_lookup(|k| env.get(k).cloned());
    let tier = open_s3_with(bucket, prefix, &settings, &S3Options::default()).unwrap();
    let oi = take_object_inventory(&tier, "archive").unwrap();
    let mut reference: Vec<Finding> = oi
        .findings
        .iter()
        .cloned()
        .map(|f| f.tier("archive"))
        .collect();
    let mut inv = inventory::take(&b.data()).unwrap();
    inv.object_tiers.push(ObjectTierInv {
        name: "archive".into(),
        tier,
        partitions: oi.partitions,
    });
    reference.extend(check::evaluate(Some(&config), &inv));
    reference.extend(check::deep_checks(&inv));
    assert!(
        reference
            .iter()
            .any(|f| f.tier.as_deref() == Some("archive") && f.code == "load-corrupt-file"),
        "the object tier's partitions are not exercised: {reference:#?}"
    );
    let want = serde_json::to_value(&Report::new(reference).findings).unwrap();

    // Streamed, through the command.
    let out = smstage_env(
        &[
            "check",
            "--config",
            &b.config_str(),
            "--no-backup-check",
            "--deep",
            "--format",
            "json",
        ],
        env,
    );
    let got: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.all()));
    assert_eq!(
        got["findings"], want,
        "streamed check differs from the reference"
    );

    // And no object's record is kept once checked.
    for (k, v) in env {
        std::env::set_var(k, v);
    }
    let opts = check::CheckOptions {
        backup: check::BackupCheck::Skip,
        deep: false,
        s3: S3Options::default(),
        keep_object_files: false,
    };
    let outcome = check::run(&config, &opts).unwrap();
    let inv = outcome.inventory.expect("an inventory");
    let kept: usize = inv
        .object_tiers
        .iter()
        .flat_map(|t| &t.partitions)
        .flat_map(|p| &p.tables)
        .map(|t| t.files.len())
        .sum();
    assert_eq!(inv.object_tiers[0].partitions.len(), 5);
    assert_eq!(kept, 0, "object records kept after the streamed checks");
}
