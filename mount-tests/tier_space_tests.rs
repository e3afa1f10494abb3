//! KX's "The entire database must be able to fit into the first HDB storage tier" on real
//! filesystems: `<baseURI>` a tiny tmpfs, `<baseURI>/data` another one, so the commit would
//! copy the root files across and `<baseURI>` must have room for them.

#[allow(clippy::duplicate_mod)]
#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Umount(PathBuf);
impl Drop for Umount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn tmpfs(at: &Path, size: &str) -> Option<Umount> {
    fs::create_dir_all(at).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "smstage-test"])
        .arg(at)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok.then(|| Umount(at.to_path_buf()))
}

/// `<baseURI>` = B, a 1 MiB tmpfs, and B/data a 64 MiB one holding a generated database;
/// the assembly file beside them. None (said loudly) where tmpfs cannot be mounted.
fn two_filesystems(t: &Path) -> Option<(Umount, Umount, PathBuf, PathBuf)> {
    let b = t.join("B");
    let Some(base) = tmpfs(&b, "1m") else {
        eprintln!("WARNING: cannot mount a tmpfs here; first-tier space test skipped");
        return None;
    };
    let Some(data) = tmpfs(&b.join("data"), "64m") else {
        eprintln!("WARNING: cannot mount a tmpfs here; first-tier space test skipped");
        return None;
    };
    let g = generated(2, 2, 3, 50);
    copy_tree(&g.data(), &b.join("data"));
    let yaml = fs::read_to_string(g.config())
        .unwrap()
        .replace(g.path().to_str().unwrap(), b.to_str().unwrap());
    let cfg = t.join("assembly.yaml");
    fs::write(&cfg, yaml).unwrap();
    Some((data, base, b, cfg))
}

#[test]
fn root_files_copied_to_a_full_base_filesystem_are_sm_first_tier_space() {
    let t = tempfile::tempdir().unwrap();
    let Some((_data, _base, b, cfg)) = two_filesystems(t.path()) else {
        return;
    };
    let cfg = cfg.to_str().unwrap();

    let args = [
        "check",
        "--config",
        cfg,
        "--no-backup-check",
        "--format",
        "json",
    ];
    let out = smstage(&args);
    assert_eq!(out.code, 0, "room to spare: {}", out.all());

    // Fill <baseURI>'s filesystem: the root's sym no longer fits there.
    let _ = fs::write(b.join("filler"), vec![0u8; 2 << 20]);
    let out = smstage(&args);
    assert_eq!(out.code, 1, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let f: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "sm-first-tier-space")
        .collect();
    assert_eq!(f.len(), 1, "{}", out.stdout);
    let msg = f[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("The entire database must be able to fit into the first HDB storage tier"),
        "{msg}"
    );
    assert!(
        msg.contains("another filesystem") && msg.contains("free"),
        "{msg}"
    );
    assert_eq!(f[0]["path"], b.to_str().unwrap(), "{}", out.stdout);

    fs::remove_file(b.join("filler")).unwrap();
    assert_eq!(smstage(&args).code, 0);
}

/// The space is outside what a saved plan stamps: `commit --plan`, whose unchanged fingerprint
/// spares it the header reads, still judges it before the first step, and changes nothing.
#[test]
fn commit_plan_judges_the_space_again_after_the_plan_was_saved() {
    let t = tempfile::tempdir().unwrap();
    let Some((_data, _base, b, cfg)) = two_filesystems(t.path()) else {
        return;
    };
    let cfg = cfg.to_str().unwrap();
    let plan = t.path().join("approved.plan");
    let plan = plan.to_str().unwrap();
    let save = smstage(&["plan", "--config", cfg, "--save", plan]);
    assert_eq!(save.code, 0, "{}", save.all());
    let _ = fs::write(b.join("filler"), vec![0u8; 2 << 20]);
    let out = smstage(&["commit", "--plan", plan, "--no-backup-check", "--yes"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.all().contains("sm-first-tier-space"), "{}", out.all());
    assert!(!b.join("db").exists(), "the commit began: {}", out.all());
    let st = smstage(&["status", "--config", cfg]);
    assert!(st.stdout.contains("none"), "{}", st.all());
    fs::remove_file(b.join("filler")).unwrap();
    let out = smstage(&["commit", "--plan", plan, "--no-backup-check", "--yes"]);
    assert_eq!(out.code, 0, "room again: {}", out.all());
}
