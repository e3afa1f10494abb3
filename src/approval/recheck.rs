//! What `commit --plan` must still check once the saved fingerprint compared equal to the world.
//!
//! `plan --save` saves a plan only when the checks pass, and takes the fingerprint before they
//! read anything. When every regular file's stamp is unchanged since, ctime included (a write
//! moves it even when the mtime is set back after: see [`crate::plan::fingerprint`]), every
//! header is the one those checks read, every directory lists the same names, and the plan the
//! checks would derive again is the saved one (which [`super::refuse_edited`] proved is derived
//! from that fingerprint and the assembly file). Reading every header again would only repeat
//! their verdict, at one `open` + `pread` per file. What the fingerprint does not cover is
//! checked again: the backup, which is outside the database.

use crate::check::BackupCheck;
use crate::finding::Report;
use crate::plan::fingerprint::{Fingerprint, FsKind};
use crate::plan::SavedPlan;

/// Whether every regular file of the fingerprint carries its ctime: false for plan files saved
/// before ctimes were recorded, whose stamps cannot see a write hidden by restoring the mtime.
pub fn stamps_see_in_place_writes(fp: &Fingerprint) -> bool {
    let all = |entries: &crate::plan::fingerprint::Entries| {
        entries
            .iter()
            .all(|e| e.kind != FsKind::File || e.ctime_ns.is_some())
    };
    all(&fp.entries) && fp.segments.iter().all(|s| all(&s.entries))
}

/// The findings of the checks that the unchanged fingerprint does not stand for, or None when
/// the full checks must run: the plan file predates ctimes, or the database is segmented (its
/// backup is compared segment by segment by the full checks). Call only after the whole
/// fingerprint compared equal to the world.
pub fn remaining_checks(saved: &SavedPlan, backup: &BackupCheck) -> Option<Report> {
    if !stamps_see_in_place_writes(&saved.fingerprint)
        || !saved.fingerprint.segments.is_empty()
        || crate::check::is_segmented(&saved.fingerprint.database)
    {
        return None;
    }
    let mut findings = Vec::new();
    if let BackupCheck::Dir(dir) = backup {
        let source = &saved.fingerprint.database;
        findings.extend(crate::backup::check_backup(source, dir, false));
        crate::check::advice::enum_domain_advice(&mut findings, source, dir);
    }
    Some(Report::new(findings))
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
}
