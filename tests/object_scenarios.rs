//! Both import scenarios with a real local S3 server, through the `smstage` binary:
//! (1) local partitions + an object tier holding the older ones; (2) only `sym` local.

mod common;

use common::*;
use smstage::object::{open_s3_with, S3Options, S3Settings};
use std::collections::HashMap;
use std::fs;
use std::path::Path;

fn plan(b: &Base, env: &HashMap<String, String>) -> serde_json::Value {
    let out = smstage_env(
        &["plan", "--config", &b.config_str(), "--format", "json"],
        env,
    );
    assert_eq!(out.code, 0, "{}", out.all());
    serde_json::from_str(&out.stdout).unwrap()
}

/// check → plan → mount + verify the view → commit → verify, against a pristine copy.
fn end_to_end(
    b: &Base,
    env: &HashMap<String, String>,
    pristine: &Path,
    store: &str,
    local_dates: usize,
) {
    let out = smstage_env(
        &[
            "check",
            "--config",
            &b.config_str(),
            "--no-backup-check",
            "--deep",
        ],
        env,
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let p = plan(b, env);
    let local = p["tiers"][0]["name"].as_str().unwrap().to_string();
    let par = format!("{local}$\n{store}\n");
    assert_eq!(p["par_txt"], par.as_str());
    let parts = p["partitions"].as_array().unwrap();
    assert_eq!(
        parts.iter().filter(|x| x["tier"] == local.as_str()).count(),
        local_dates
    );
    assert_eq!(parts.len(), dates(pristine).len());

    let outside = tempfile::tempdir().unwrap();
    let mnt = outside.path().join("view");
    fs::create_dir(&mnt).unwrap();
    let out = smstage_env(
        &[
            "mount",
            "--config",
            &b.config_str(),
            mnt.to_str().unwrap(),
            "--background",
        ],
        env,
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let guard = Unmount(mnt.clone());
    assert_eq!(fs::read_to_string(mnt.join("db/par.txt")).unwrap(), par);
    let out = smstage_env(
        &[
            "verify",
            mnt.join("db").to_str().unwrap(),
            "--against",
            pristine.to_str().unwrap(),
            "--config",
            &b.config_str(),
        ],
        env,
    );
    assert_eq!(out.code, 0, "view: {}", out.all());
    drop(guard);

    let out = smstage_env(
        &[
            "commit",
            "--config",
            &b.config_str(),
            "--no-backup-check",
            "--yes",
        ],
        env,
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let out = smstage_env(
        &[
            "verify",
            b.path().join("db").to_str().unwrap(),
            "--against",
            pristine.to_str().unwrap(),
            "--deep",
        ],
        env,
    );
    assert_eq!(out.code, 0, "committed: {}", out.all());
}

#[test]
fn scenario_1_local_partitions_plus_older_ones_in_object_storage() {
    let Some(env) = s3_server() else { return };
    let b = generated(5, 2, 8, 200);
    let pristine = b.path().join("pristine");
    copy_tree(&b.data(), &pristine);
    let older: Vec<String> = dates(&b.data())[..2].to_vec();
    let store = move_to_object_tier(&b, env, "s1", &older, true);
    end_to_end(&b, env, &pristine, &store, 3);
}

#[test]
fn scenario_2_only_sym_local_every_partition_in_object_storage() {
    let Some(env) = s3_server() else { return };
    let b = generated(3, 2, 8, 200);
    let pristine = b.path().join("pristine");
    copy_tree(&b.data(), &pristine);
    let all = dates(&b.data());
    let store = move_to_object_tier(&b, env, "s2", &all, true);
    let left: Vec<_> = fs::read_dir(b.data())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["sym"]);
    end_to_end(&b, env, &pristine, &store, 0);
}

#[test]
fn torq_air_fixture_with_one_partition_in_object_storage() {
    let Some(env) = s3_server() else { return };
    let Some(b) = from_fixture("torq-air", TORQ_TABLES) else {
        return;
    };
    let pristine = b.path().join("pristine");
    copy_tree(&b.data(), &pristine);
    let store = move_to_object_tier(&b, env, "torq", &["2020.11.14".to_string()], true);
    end_to_end(&b, env, &pristine, &store, 1);
}

#[test]
fn same_date_locally_and_in_object_storage_is_refused() {
    let Some(env) = s3_server() else { return };
    let b = generated(3, 1, 6, 50);
    let d = dates(&b.data())[0].clone();
    move_to_object_tier(&b, env, "overlap", std::slice::from_ref(&d), false);
    let before = manifest(b.path());
    let out = smstage_env(
        &[
            "check",
            "--config",
            &b.config_str(),
            "--no-backup-check",
            "--format",
            "json",
        ],
        env,
    );
    assert_eq!(out.code, 1, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "tier-date-overlap")
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert_eq!(f["partition"], d.as_str());
    assert!(
        f["message"].as_str().unwrap().contains("tier archive"),
        "{f}"
    );
    let out = smstage_env(
        &[
            "commit",
            "--config",
            &b.config_str(),
            "--no-backup-check",
            "--yes",
        ],
        env,
    );
    assert_eq!(out.code, 1, "{}", out.all());
    assert_eq!(before, manifest(b.path()));
}

#[test]
fn domain_at_the_bucket_root_is_refused() {
    let Some(env) = s3_server() else { return };
    let b = generated(3, 1, 6, 50);
    let older = vec![dates(&b.data())[0].clone()];
    let store = move_to_object_tier(&b, env, "domain", &older, true);
    let (bucket, pfx) = store.trim_start_matches("s3://").split_once('/').unwrap();
    let settings = S3Settings::from_lookup(|k| env.get(k).cloned());
    let tier = open_s3_with(bucket, pfx, &settings, &S3Options::default()).unwrap();
    tier.put("sym", fs::read(b.data().join("sym")).unwrap())
        .unwrap();
    let out = smstage_env(
        &["check", "--config", &b.config_str(), "--no-backup-check"],
        env,
    );
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("object-domain-in-bucket"),
        "{}",
        out.all()
    );
}

#[test]
fn unreachable_endpoint_and_missing_credentials_are_clear_and_change_nothing() {
    let Some(env) = s3_server() else { return };
    let b = generated(2, 1, 6, 50);
    let older = vec![dates(&b.data())[0].clone()];
    move_to_object_tier(&b, env, "unreach", &older, true);
    let before = manifest(b.path());

    let mut dead = env.clone();
    dead.insert("AWS_ENDPOINT".into(), "http://127.0.0.1:9".into());
    let t = std::time::Instant::now();
    let out = smstage_env(
        &["check", "--config", &b.config_str(), "--no-backup-check"],
        &dead,
    );
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("tier-unreachable") && out.stdout.contains("127.0.0.1:9"),
        "{}",
        out.all()
    );
    assert!(t.elapsed().as_secs() < 30, "took {:?}", t.elapsed());

    let mut nocreds = env.clone();
    nocreds.remove("AWS_ACCESS_KEY_ID");
    nocreds.remove("AWS_SECRET_ACCESS_KEY");
    let o = std::process::Command::new(bin())
        .args(["check", "--config", &b.config_str(), "--no-backup-check"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .envs(&nocreds)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("AWS_ACCESS_KEY_ID"), "{text}");
    assert_eq!(before, manifest(b.path()));
}
