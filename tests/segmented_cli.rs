//! Segmented databases through the CLI, without mounting: `gen --segments` usage errors, what
//! `check` says of an SM root, a segment inside the root and segments nested in each other,
//! segments followed by an object tier (and a date in both), and the simple plan's JSON staying
//! free of the segmented additions.

mod common;

use common::*;
use std::fs;
use std::path::Path;

fn gen_segmented(out: &Path, extra: &[&str]) -> Out {
    let mut a = vec![
        "gen",
        "--out",
        out.to_str().unwrap(),
        "--partitions",
        "4",
        "--tables",
        "1",
        "--rows",
        "20",
    ];
    a.extend_from_slice(extra);
    smstage(&a)
}

fn check_json(cfg: &Path) -> (i32, Vec<String>) {
    let o = smstage(&[
        "check",
        "--config",
        cfg.to_str().unwrap(),
        "--no-backup-check",
        "--format",
        "json",
    ]);
    let v: serde_json::Value =
        serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", o.all()));
    let codes = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect();
    (o.code, codes)
}

#[test]
fn gen_refuses_inconsistent_segment_flags_before_writing() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("b");
    let o = gen_segmented(&out, &["--segments", "0"]);
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(o.stderr.contains("at least 1"), "{}", o.stderr);
    let o = gen_segmented(
        &out,
        &[
            "--segments",
            "3",
            "--segment-dir",
            t.path().join("x").to_str().unwrap(),
        ],
    );
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(o.stderr.contains("--segment-dir"), "{}", o.stderr);
    assert!(!out.join("data").exists(), "gen wrote before refusing");
}

#[test]
fn gen_segments_writes_par_txt_tiers_and_a_database_that_checks() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().canonicalize().unwrap().join("b");
    let o = gen_segmented(&out, &["--segments", "3"]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert_eq!(
        fs::read_to_string(out.join("data/par.txt")).unwrap(),
        "../seg1\n../seg2\n../seg3\n"
    );
    let yaml = fs::read_to_string(out.join("assembly.yaml")).unwrap();
    for i in 1..=3 {
        assert!(yaml.contains(&format!("store: file://{}/seg{i}", out.display())));
        assert!(fs::read_dir(out.join(format!("seg{i}"))).unwrap().count() >= 1);
    }
    let (code, codes) = check_json(&out.join("assembly.yaml"));
    assert_eq!((code, codes.len()), (0, 0), "{codes:?}");
}

#[test]
fn an_sm_root_a_segment_in_the_root_and_nested_segments_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().canonicalize().unwrap().join("b");
    assert_eq!(gen_segmented(&out, &["--segments", "2"]).code, 0);
    let cfg = out.join("assembly.yaml");
    let par = out.join("data/par.txt");

    fs::write(&par, "seg1$\nseg2$\n").unwrap();
    let (code, codes) = check_json(&cfg);
    assert_eq!(code, 1);
    assert!(
        codes.contains(&"sm-already-imported".to_string()),
        "{codes:?}"
    );

    fs::create_dir(out.join("data/inner")).unwrap();
    fs::write(&par, "../seg1\n../seg2\ninner\n").unwrap();
    let (code, codes) = check_json(&cfg);
    assert_eq!(code, 1);
    assert!(codes.contains(&"segment-nested".to_string()), "{codes:?}");
    fs::remove_dir(out.join("data/inner")).unwrap();

    // seg2's store moved inside seg1: the two stores are nested.
    let yaml = fs::read_to_string(&cfg).unwrap();
    fs::rename(out.join("seg2"), out.join("seg1/seg2")).unwrap();
    fs::write(
        &cfg,
        yaml.replace(
            &format!("{}/seg2", out.display()),
            &format!("{}/seg1/seg2", out.display()),
        ),
    )
    .unwrap();
    fs::write(&par, "../seg1\n../seg1/seg2\n").unwrap();
    let (code, codes) = check_json(&cfg);
    assert_eq!(code, 1);
    assert!(codes.contains(&"segment-nested".to_string()), "{codes:?}");
}

#[test]
fn a_simple_plan_has_no_segmented_fields() {
    let b = generated(2, 1, 3, 10);
    let o = smstage(&["plan", "--config", &b.config_str(), "--format", "json"]);
    assert_eq!(o.code, 0, "{}", o.all());
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert!(v.get("stores").is_none(), "{}", o.stdout);
    assert_eq!(v["par_txt"], "recent$\n");
}

/// Uploads `seg/<date>` under `s3://<test bucket>/<pfx>/<date>` of the test server (removing
/// it locally when `remove`); returns the store URI.
fn upload(
    env: &std::collections::HashMap<String, String>,
    pfx: &str,
    seg: &Path,
    date: &str,
    remove: bool,
) -> String {
    use smstage::object::{open_s3_with, upload_tree, S3Options, S3Settings};
    let bucket = env
        .get("SMSTAGE_TEST_BUCKET")
        .cloned()
        .unwrap_or_else(|| "smstage-test".into());
    let settings = S3Settings::from_lookup(|k| env.get(k).cloned());
    let tier = open_s3_with(&bucket, pfx, &settings, &S3Options::default()).unwrap();
    upload_tree(&tier, &seg.join(date), date).unwrap();
    if remove {
        fs::remove_dir_all(seg.join(date)).unwrap();
    }
    format!("s3://{bucket}/{pfx}")
}

/// Appends an object tier `archive` with `store` after the segment tiers.
fn add_object_tier(cfg: &Path, store: &str) {
    let yaml = fs::read_to_string(cfg).unwrap();
    let at = yaml.find("tables:").unwrap();
    let yaml = format!(
        "{}    - name: archive\n      mount: hdb\n      store: {store}\n{}",
        &yaml[..at],
        &yaml[at..]
    );
    fs::write(cfg, yaml).unwrap();
}

#[test]
fn segments_followed_by_an_object_tier_and_a_date_in_both_is_refused() {
    let Some(env) = s3_server() else { return };
    let t = tempfile::tempdir().unwrap();
    let out = t.path().canonicalize().unwrap().join("b");
    assert_eq!(gen_segmented(&out, &["--segments", "2"]).code, 0);
    let cfg = out.join("assembly.yaml");
    let cfg_s = cfg.to_str().unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let pfx = format!("tests/segmented-{}-{nanos}", std::process::id());
    let oldest = dates(&out.join("seg1"))[0].clone();
    let store = upload(env, &pfx, &out.join("seg1"), &oldest, true);
    add_object_tier(&cfg, &store);

    let o = smstage_env(&["plan", "--config", cfg_s, "--format", "json"], env);
    assert_eq!(o.code, 0, "{}", o.all());
    let plan: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(plan["par_txt"], format!("seg1$\nseg2$\n{store}\n").as_str());
    let tiers: Vec<(String, u64)> = plan["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["partitions"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tiers,
        [
            ("seg1".into(), 1),
            ("seg2".into(), 2),
            ("archive".into(), 1)
        ]
    );
    let o = smstage_env(
        &["commit", "--config", cfg_s, "--no-backup-check", "--yes"],
        env,
    );
    assert_eq!(o.code, 0, "{}", o.all());
    assert_eq!(
        fs::read_to_string(out.join("db/par.txt")).unwrap(),
        format!("seg1$\nseg2$\n{store}\n")
    );
    let o = smstage_env(&["rollback", "--config", cfg_s], env);
    assert_eq!(o.code, 0, "{}", o.all());

    // The same date in a segment and in the bucket.
    let again = dates(&out.join("seg2"))[0].clone();
    upload(env, &pfx, &out.join("seg2"), &again, false);
    let o = smstage_env(
        &[
            "check",
            "--config",
            cfg_s,
            "--no-backup-check",
            "--format",
            "json",
        ],
        env,
    );
    assert_eq!(o.code, 1, "{}", o.all());
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let overlap = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "tier-date-overlap" && f["partition"] == again.as_str())
        .unwrap_or_else(|| panic!("no overlap finding: {}", o.stdout));
    let msg = overlap["message"].as_str().unwrap();
    assert!(
        msg.contains("tier seg2") && msg.contains("tier archive"),
        "{msg}"
    );
}

#[test]
fn real_fixture_split_into_two_segments_commits_verifies_and_rolls_back() {
    let Some(b) = from_fixture("torq-air", TORQ_TABLES) else {
        return;
    };
    let base = b.path().canonicalize().unwrap();
    let parts = dates(&b.data());
    assert_eq!(parts.len(), 2, "{parts:?}");
    // Segment a inside the base (relative line), segment b elsewhere (absolute line).
    let outside = tempfile::tempdir().unwrap();
    let seg_b = outside.path().canonicalize().unwrap().join("b");
    let segs = [base.join("seg-a"), seg_b.clone()];
    for (seg, date) in segs.iter().zip(&parts) {
        fs::create_dir_all(seg).unwrap();
        fs::rename(b.data().join(date), seg.join(date)).unwrap();
    }
    fs::write(
        b.data().join("par.txt"),
        format!("../seg-a\n{}\n", seg_b.display()),
    )
    .unwrap();
    let yaml = fs::read_to_string(b.config()).unwrap().replace(
        "    - name: hdb\n      mount: hdb\n",
        &format!(
            "    - name: b\n      mount: hdb\n      store: file://{}\n    - name: a\n      mount: hdb\n      store: file://{}/seg-a\n",
            seg_b.display(),
            base.display()
        ),
    );
    fs::write(b.config(), yaml).unwrap();
    // The reference: a loadable copy (and the backup).
    let reference = outside.path().join("ref");
    copy_tree(&b.data(), &reference);
    copy_tree(&segs[0], &reference.join("a$"));
    copy_tree(&segs[1], &reference.join("b$"));
    fs::write(reference.join("par.txt"), "a$\nb$\n").unwrap();
    let snapshot = || {
        let mut m = manifest(&base);
        m.retain(|l| !l.starts_with(".smstage") && !l.starts_with(' '));
        m.extend(manifest(&seg_b));
        m
    };
    let original = snapshot();
    let cfg = b.config_str();
    let r = reference.to_str().unwrap();
    let o = smstage(&["check", "--config", &cfg, "--backup", r]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert_eq!(
        smstage(&["verify", b.data().to_str().unwrap(), "--against", r]).code,
        0
    );
    let o = smstage(&["commit", "--config", &cfg, "--backup", r, "--yes"]);
    assert_eq!(o.code, 0, "{}", o.all());
    // Configuration order: b before a.
    assert_eq!(
        fs::read_to_string(base.join("db/par.txt")).unwrap(),
        "b$\na$\n"
    );
    let o = smstage(&["verify", base.join("db").to_str().unwrap(), "--against", r]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(seg_b.join("versions").join(&parts[1]).join("1").is_dir());
    let o = smstage(&["rollback", "--config", &cfg]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert_eq!(snapshot(), original);
}
