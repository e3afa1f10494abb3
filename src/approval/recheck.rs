//! What `commit --plan` must still check once the saved fingerprint compared equal to the world.
//!
//! `plan --save` saves a plan only when the checks pass, and takes the fingerprint before they
//! read anything. When every regular file's stamp is unchanged since, ctime included (a write
//! moves it even when the mtime is set back after: see [`crate::plan::fingerprint`]), every
//! header is the one those checks read, every directory lists the same names, and the plan the
//! checks would derive again is the saved one (which [`super::refuse_edited`] proved is derived
//! from that fingerprint and the assembly file). Reading every header again would only repeat
//! their verdict, at one `open` + `pread` per file. What the fingerprint does not cover is
//! checked again: the backup, which is outside the database, and the space of the filesystems
//! the first tier and the root's copy need (`sm-first-tier-space`), which other writers change.

use crate::check::BackupCheck;
use crate::finding::Report;
use crate::plan::fingerprint::{Fingerprint, FsKind};
use crate::plan::SavedPlan;

/// Whether every regular file of the fingerprint carries its ctime: false for plan files saved
/// before ctimes were recorded, whose stamps cannot see a write hidden by restoring the mtime.
pub fn stamps_see_in_place_writes(fp: &Fingerprint) -> bool {
    fp.entries.every_file_has_ctime()
        && fp.segments.iter().all(|s| s.entries.every_file_has_ctime())
}

/// Whether an unchanged `fp` stands for the checks it was saved with, so that
/// [`remaining_checks`] gives their verdict: its files carry ctimes, and the database is not
/// segmented (its backup is compared segment by segment by the full checks).
pub fn stamps_stand_for_the_checks(fp: &Fingerprint) -> bool {
    stamps_see_in_place_writes(fp)
        && fp.segments.is_empty()
        && !crate::check::is_segmented(&fp.database)
}

/// The findings of the checks that the unchanged fingerprint does not stand for, or None when
/// the full checks must run: the plan file predates ctimes, or the database is segmented (its
/// backup is compared segment by segment by the full checks). Call only after the whole
/// fingerprint compared equal to the world.
pub fn remaining_checks(saved: &SavedPlan, backup: &BackupCheck) -> Option<Report> {
    if !stamps_stand_for_the_checks(&saved.fingerprint) {
        return None;
    }
    let mut findings = first_tier_space(saved);
    if let BackupCheck::Dir(dir) = backup {
        let source = &saved.fingerprint.database;
        findings.extend(crate::backup::check_backup(source, dir, false));
        crate::check::advice::enum_domain_advice(&mut findings, source, dir);
    }
    Some(Report::new(findings))
}

/// `sm-first-tier-space` judged again from the fingerprint's byte counts.
fn first_tier_space(saved: &SavedPlan) -> Vec<crate::finding::Finding> {
    let Some(tier) = saved
        .plan
        .tiers
        .iter()
        .find(|t| t.kind == crate::plan::TierKind::Local)
    else {
        return Vec::new();
    };
    let (partitions, root) = partition_and_root_bytes(&saved.fingerprint);
    crate::check::tier_space::judge_at(
        &tier.name,
        &saved.plan.base,
        &saved.fingerprint.database,
        partitions,
        root,
    )
}

/// Bytes of the files inside date partitions, and of the other files (the root's), as the
/// fingerprint stamped them.
fn partition_and_root_bytes(fp: &Fingerprint) -> (u64, u64) {
    use crate::dates::{classify, PartitionName};
    let (mut partitions, mut root) = (0u64, 0u64);
    // The top-level name of consecutive entries repeats: classified once per run of it.
    let mut last_top = (String::new(), false);
    fp.entries.for_each_ref(|e| {
        if e.kind != FsKind::File {
            return;
        }
        let top = e.path.split('/').next().unwrap_or_default();
        if top != last_top.0 {
            last_top = (top.to_string(), classify(top) == PartitionName::Date);
        }
        if last_top.1 {
            partitions += e.size;
        } else {
            root += e.size;
        }
    });
    (partitions, root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fingerprint::{ConfigStamp, FsEntry, FINGERPRINT_VERSION};

    fn fp(entries: Vec<FsEntry>) -> Fingerprint {
        Fingerprint {
            version: FINGERPRINT_VERSION,
            host: "h".into(),
            database: "/nonexistent/data".into(),
            database_dev: 1,
            database_ino: 2,
            config: ConfigStamp {
                path: "/nonexistent/a.yaml".into(),
                sha256: "00".into(),
            },
            entries: entries.into(),
            objects: vec![],
            segments: vec![],
        }
    }

    fn entry(path: &str, kind: FsKind, ctime_ns: Option<i64>) -> FsEntry {
        FsEntry {
            path: path.into(),
            kind,
            size: 8,
            mtime_ns: 5,
            inode: 3,
            target: None,
            ctime_ns,
        }
    }

    #[test]
    fn only_a_fingerprint_with_every_files_ctime_stands_for_the_header_reads() {
        let with = fp(vec![
            entry(".", FsKind::Dir, None),
            entry("a", FsKind::File, Some(7)),
            entry("l", FsKind::Symlink, None),
        ]);
        assert!(stamps_see_in_place_writes(&with));
        // One file stamped without its ctime (a plan file saved before ctimes): the full
        // checks must read the headers again.
        let without = fp(vec![
            entry(".", FsKind::Dir, None),
            entry("a", FsKind::File, Some(7)),
            entry("b", FsKind::File, None),
        ]);
        assert!(!stamps_see_in_place_writes(&without));
    }

    #[test]
    fn the_first_tiers_bytes_are_the_partitions_files_and_the_roots() {
        let f = fp(vec![
            entry(".", FsKind::Dir, None),
            entry("2024.01.02", FsKind::Dir, None),
            entry("2024.01.02/trade", FsKind::Dir, None),
            entry("2024.01.02/trade/price", FsKind::File, Some(1)),
            entry("2024.01.02/trade/.d", FsKind::File, Some(1)),
            entry("sym", FsKind::File, Some(1)),
            entry("ref", FsKind::Dir, None),
            entry("ref/id", FsKind::File, Some(1)),
            entry("link", FsKind::Symlink, None),
        ]);
        // Every entry is 8 bytes: two files in the partition, two in the root; directories
        // and symlinks hold no data of their own.
        assert_eq!(partition_and_root_bytes(&f), (16, 16));
    }
}
