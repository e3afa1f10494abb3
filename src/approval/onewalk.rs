//! `commit --config`'s fingerprint taken by its checks' own read of the database, instead of a
//! walk of its own before them (issue #17: at a million files that walk, one `fstatat` per
//! entry plus a second listing of every directory, was a third of what the commit spent
//! before its first step).
//!
//! The fingerprint must stamp each entry no later than the checks read it, so that the
//! plan_id never names a state newer than the plan (`plan --save` takes its fingerprint before
//! its checks for the same reason). Split accordingly:
//!
//! - [`begin`], before the checks: the database directory itself, every top-level entry that
//!   is not a date partition directory (walked whole: the root's files and directories are
//!   few), the `lstat` of each date partition directory (before the checks list it), and the
//!   object tiers' listings;
//! - the checks ([`crate::check::run_stamped`]): each table directory's `lstat` before it is
//!   listed, each file's `fstat` on the descriptor its header is then read through;
//! - [`finish`]: the same entries as [`super::take`] would give, merged in path order; or
//!   None whenever a partition held anything the checks' read does not stamp as the walk
//!   would (a symlink, a special file, a nested directory, an unreadable entry) or the
//!   partitions read are not those listed: the caller then takes the fingerprint the old
//!   way (and runs the checks after it again). A segmented database is never stamped so.

use super::scan;
use super::ApprovalError;
use crate::config::AssemblyConfig;
use crate::dates::{classify, PartitionName};
use crate::plan::fingerprint::{
    ConfigStamp, Entries, Fingerprint, ObjectStamp, DATABASE_ENTRY, FINGERPRINT_VERSION,
};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What [`begin`] stamped; [`finish`] completes it with the checks' stamps.
pub struct Pending {
    database: PathBuf,
    dev: u64,
    ino: u64,
    config: ConfigStamp,
    /// The database directory, each top-level entry walked whole, and each date partition
    /// directory alone (its contents come from the checks).
    lists: Vec<Entries>,
    /// Names of the date partition directories, sorted: what the checks must have read.
    partitions: Vec<String>,
    objects: Vec<ObjectStamp>,
}

/// Stamps what the checks will not (module docs). None for a segmented database (its segments
/// lie outside the database directory: [`super::take`] walks them).
pub fn begin(
    cfg: &AssemblyConfig,
    config_path: &Path,
    config_bytes: &[u8],
    s3: &crate::object::S3Options,
) -> Result<Option<Pending>, ApprovalError> {
    let database = cfg.hdb_base_dir()?.join(crate::plan::SOURCE_DIR);
    if fs::symlink_metadata(database.join("par.txt")).is_ok() {
        return Ok(None);
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ApprovalError::Database { path, source }
    };
    let md = fs::symlink_metadata(&database).map_err(io(&database))?;
    let root = scan::entry_of(&database, DATABASE_ENTRY.to_string(), &md)?;
    let db = super::walk::open_dir(&database).map_err(io(&database))?;
    let mut lists = vec![std::iter::once(root).collect::<Entries>()];
    let mut partitions = Vec::new();
    for e in fs::read_dir(&database).map_err(io(&database))? {
        let e = e.map_err(io(&database))?;
        let name = e.file_name();
        let abs = database.join(&name);
        let top = fs::symlink_metadata(&abs).map_err(io(&abs))?;
        // What the inventory reads as a date partition (scan_root): a directory, on the
        // database's filesystem, named as a date.
        let partition = name
            .to_str()
            .filter(|n| top.is_dir() && top.dev() == md.dev() && classify(n) == PartitionName::Date)
            .map(str::to_string);
        match partition {
            Some(date) => {
                lists.push(std::iter::once(scan::entry_of(&abs, date.clone(), &top)?).collect());
                partitions.push(date);
            }
            None => {
                let mut walked = super::walk::walk_top(&db, &database, md.dev(), &name)?;
                walked.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
                lists.push(walked.into_iter().collect());
            }
        }
    }
    partitions.sort();
    let objects = scan::object_stamps(cfg, s3)?;
    Ok(Some(Pending {
        database,
        dev: md.dev(),
        ino: md.ino(),
        config: ConfigStamp {
            path: fs::canonicalize(config_path).unwrap_or_else(|_| config_path.to_path_buf()),
            sha256: scan::hex_sha256(config_bytes),
        },
        lists,
        partitions,
        objects,
    }))
}

/// The fingerprint [`super::take`] would have given, from `pending` and the checks' stamps of
/// each partition; None when those do not cover the database (module docs).
pub fn finish(pending: Pending, stamps: crate::check::PartitionStamps) -> Option<Fingerprint> {
    let Pending {
        database,
        dev,
        ino,
        config,
        mut lists,
        partitions,
        objects,
    } = pending;
    let mut read: Vec<(String, Entries)> = stamps
        .into_iter()
        .map(|(date, s)| s.map(|s| (date, s)))
        .collect::<Option<_>>()?;
    read.sort_by(|a, b| a.0.cmp(&b.0));
    if read.len() != partitions.len() || read.iter().zip(&partitions).any(|(r, p)| &r.0 != p) {
        return None;
    }
    lists.extend(read.into_iter().map(|(_, s)| s));
    Some(Fingerprint {
        version: FINGERPRINT_VERSION,
        host: crate::commit::hostname(),
        database,
        database_dev: dev,
        database_ino: ino,
        config,
        entries: scan::merge_sorted(&lists),
        objects,
        segments: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{BackupCheck, CheckOptions};

    /// A generated database at `<tmp>/data` and its assembly configuration.
    fn generated() -> (tempfile::TempDir, AssemblyConfig, PathBuf, Vec<u8>) {
        let t = tempfile::tempdir().unwrap();
        let spec = crate::gen::GenSpec {
            partitions: 4,
            tables: 3,
            columns: 6,
            rows: 20,
            ..Default::default()
        };
        crate::gen::generate(&t.path().join("data"), &spec).unwrap();
        let yaml = crate::gen::assembly_yaml(&spec, &format!("file://{}", t.path().display()));
        let path = t.path().join("assembly.yaml");
        std::fs::write(&path, &yaml).unwrap();
        let cfg = AssemblyConfig::parse(&yaml, &path).unwrap();
        (t, cfg, path, yaml.into_bytes())
    }

    /// The fingerprint taken with the checks, or None when it fell back; and the walk's.
    fn both(cfg: &AssemblyConfig, path: &Path, bytes: &[u8]) -> (Option<Fingerprint>, Fingerprint) {
        let s3 = crate::object::S3Options::default();
        let pending = begin(cfg, path, bytes, &s3).unwrap();
        let opts = CheckOptions {
            backup: BackupCheck::Skip,
            deep: false,
            s3: s3.clone(),
            keep_object_files: false,
        };
        let (_, stamps) = crate::check::run_stamped(cfg, &opts).unwrap();
        let one = pending.and_then(|p| finish(p, stamps));
        (one, super::super::take(cfg, path, bytes, &s3).unwrap())
    }

    #[test]
    fn the_checks_stamp_every_entry_as_the_fingerprint_walk_does() {
        let (t, cfg, path, bytes) = generated();
        // Beside the partitions: a root directory and a root file the walk stamps up front,
        // nested columns (`col#`, read through the descriptor their item type was read from),
        // and a file no `.d` lists.
        std::fs::create_dir_all(t.path().join("data/notes/deeper")).unwrap();
        std::fs::write(t.path().join("data/notes/deeper/x"), b"x").unwrap();
        std::fs::write(t.path().join("data/README"), b"r").unwrap();
        let table = t.path().join("data/2024.01.02/trade");
        std::fs::write(table.join("stray"), b"not kdb").unwrap();
        assert!(std::fs::read_dir(&table).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with('#')));
        let (one, walked) = both(&cfg, &path, &bytes);
        let one = one.expect("a database of tables of regular files is stamped by its checks");
        assert!(walked.entries.len() > 4 * 3 * 6, "{}", walked.entries.len());
        assert_eq!(one, walked);
        // The plan_id names the same fingerprint either way.
        let plan = crate::check::run(
            &cfg,
            &CheckOptions {
                backup: BackupCheck::Skip,
                deep: false,
                s3: Default::default(),
                keep_object_files: false,
            },
        )
        .unwrap()
        .plan;
        if let Some(plan) = plan {
            assert_eq!(
                crate::plan::saved::plan_id(&plan, &one),
                crate::plan::saved::plan_id(&plan, &walked)
            );
        }
    }

    #[test]
    fn what_the_checks_do_not_stamp_falls_back_to_the_walk() {
        // A symlink in a table, a directory in a table, a file in a partition: each is left
        // to the walk (its stamp is not the one an `fstat` after open would give).
        type Spoil = fn(&Path);
        let spoils: [(&str, Spoil); 3] = [
            ("symlink in a table", |d| {
                std::os::unix::fs::symlink("price", d.join("2024.01.03/quote/alias")).unwrap()
            }),
            ("directory in a table", |d| {
                std::fs::create_dir(d.join("2024.01.03/quote/sub")).unwrap()
            }),
            ("file in a partition", |d| {
                std::fs::write(d.join("2024.01.03/loose"), b"x").unwrap()
            }),
        ];
        for (what, spoil) in spoils {
            let (t, cfg, path, bytes) = generated();
            spoil(&t.path().join("data"));
            let (one, _) = both(&cfg, &path, &bytes);
            assert!(one.is_none(), "{what}: stamped by the checks");
        }
    }

    #[test]
    fn a_partition_read_but_not_listed_before_falls_back() {
        let (_t, cfg, path, bytes) = generated();
        let s3 = crate::object::S3Options::default();
        let pending = begin(&cfg, &path, &bytes, &s3).unwrap().unwrap();
        let opts = CheckOptions {
            backup: BackupCheck::Skip,
            deep: false,
            s3,
            keep_object_files: false,
        };
        let (_, mut stamps) = crate::check::run_stamped(&cfg, &opts).unwrap();
        // A partition that appeared between the listing and the checks.
        stamps.push(("2030.01.01".into(), Some(Entries::new())));
        assert!(finish(pending, stamps).is_none());
    }

    #[test]
    fn the_real_fixtures_are_stamped_as_the_walk_does_or_fall_back() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/real");
        let mut stamped = 0;
        for f in std::fs::read_dir(&root).unwrap() {
            let f = f.unwrap().path();
            if !f.join("sym").exists() {
                continue;
            }
            let t = tempfile::tempdir().unwrap();
            let ok = std::process::Command::new("cp")
                .arg("-a")
                .arg(&f)
                .arg(t.path().join("data"))
                .status()
                .unwrap();
            assert!(ok.success());
            let spec = crate::gen::GenSpec::default();
            let yaml = crate::gen::assembly_yaml(&spec, &format!("file://{}", t.path().display()));
            let path = t.path().join("assembly.yaml");
            std::fs::write(&path, &yaml).unwrap();
            let cfg = AssemblyConfig::parse(&yaml, &path).unwrap();
            let (one, walked) = both(&cfg, &path, yaml.as_bytes());
            if let Some(one) = one {
                assert_eq!(one, walked, "{}", f.display());
                stamped += 1;
            }
        }
        assert!(stamped >= 3, "{stamped} fixtures stamped by their checks");
    }
}
