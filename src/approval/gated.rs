//! `commit --plan`'s proof split at the commit's gate (`commit::gate`): what the steps before
//! the gate leave marks on is proved before the first step, everything else beside them.
//!
//! The steps before the gate create `versions/` in the database (moving its directory's
//! mtime) and hard-link the root entries into the new root (moving their files' ctimes).
//! Those fields are compared here before the first step, against a fresh `lstat`; of the
//! compare of the walk that runs beside the steps, the differences in exactly those fields,
//! and in what the steps created, are left out. Every other field of every entry is compared
//! as a walk before the first step would compare it.

use super::ApprovalError;
use crate::commit::{under, ProofGate};
use crate::plan::fingerprint::{
    abs_in, compare_ctime, compare_entry, diff, Drift, DriftWhat, Fingerprint, FsEntry, FsKind,
};
use std::collections::{BTreeMap, BTreeSet};

/// The saved entries whose stamps the steps before `gate` move: each directory they create
/// entries in, and every entry of each tree they hard-link. Also whether the fingerprint
/// holds anything the steps would create (then the overlap is not safe: prove first).
pub fn marked_entries(saved: &Fingerprint, gate: &ProofGate) -> (BTreeMap<String, FsEntry>, bool) {
    let mut marked = BTreeMap::new();
    let mut clash = false;
    saved.entries.for_each_ref(|e| {
        if gate.created.iter().any(|c| c != "." && under(e.path, c)) {
            clash = true;
        }
        let touched = gate.touched.iter().any(|t| t == e.path);
        let linked = gate.linked.iter().any(|l| l != "." && under(e.path, l));
        if touched || linked {
            marked.insert(e.path.to_string(), FsEntry::from(e));
        }
    });
    (marked, clash)
}

/// Compares the marked entries with the world now: the part of the proof that must come
/// before the first step (the steps are about to move these stamps).
pub fn drift_before_steps(
    saved: &Fingerprint,
    marked: &BTreeMap<String, FsEntry>,
) -> Result<Vec<Drift>, ApprovalError> {
    let database = &saved.database;
    let mut out = Vec::new();
    for (rel, was) in marked {
        let abs = if rel == "." {
            database.to_path_buf()
        } else {
            database.join(rel)
        };
        let now = match std::fs::symlink_metadata(&abs) {
            Ok(md) => Some(super::scan::entry_of(&abs, rel.clone(), &md)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(ApprovalError::Database { path: abs, source }),
        };
        let abs = abs_in(database, rel);
        let differs = compare_entry(&abs, was, now.as_ref());
        // The ctime is what the steps move on a linked file: compared as the walk's diff
        // compares it, where nothing else differs.
        match now.as_ref().filter(|_| differs.is_empty()) {
            Some(now) => out.extend(compare_ctime(&abs, was, now)),
            None => out.extend(differs),
        }
    }
    Ok(out)
}

/// The drift of `now` (a fingerprint taken beside the steps before the gate) from the saved
/// one, less what those steps explain: what they created, the mtime of a directory they
/// created it in and the ctime of a file they hard-linked (both compared before the first
/// step). The whole diff is taken and only those differences are dropped, rather than the
/// 1.25M entries rebuilt with the saved values in: the same verdict (a directory's mtime is
/// reported only when no entry added in it explains it, a ctime only when nothing else of the
/// file differs), without a second pass over every entry. (Remedied plans, whose staged files
/// are compared too, are not gated: `commit::proof_gate`.)
pub fn drift_beside_steps(
    saved: &Fingerprint,
    now: Fingerprint,
    gate: &ProofGate,
    marked: &BTreeMap<String, FsEntry>,
) -> Vec<Drift> {
    let db = &saved.database;
    let created: Vec<String> = gate.created.iter().map(|c| abs_in(db, c)).collect();
    let touched: BTreeSet<String> = gate.touched.iter().map(|t| abs_in(db, t)).collect();
    let linked: BTreeSet<String> = marked
        .iter()
        .filter(|(_, e)| e.kind == FsKind::File)
        .map(|(rel, _)| abs_in(db, rel))
        .collect();
    diff(saved, &now)
        .into_iter()
        .filter(|d| {
            let made = created.iter().any(|c| under(&d.path, c));
            let moved = match d.what {
                DriftWhat::Mtime => touched.contains(&d.path),
                DriftWhat::Ctime => linked.contains(&d.path),
                _ => false,
            };
            !(made || moved)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fingerprint::{ConfigStamp, FINGERPRINT_VERSION};
    use std::fs;
    use std::path::Path;

    fn fingerprint_of(db: &Path) -> Fingerprint {
        let (entries, dev, ino) = super::super::scan::database_entries(db).unwrap();
        Fingerprint {
            version: FINGERPRINT_VERSION,
            host: "h".into(),
            database: db.to_path_buf(),
            database_dev: dev,
            database_ino: ino,
            config: ConfigStamp {
                path: "/c".into(),
                sha256: "0".into(),
            },
            entries,
            objects: Vec::new(),
            segments: Vec::new(),
        }
    }

    /// The gate of a simple plan: what `commit::proof_gate` derives (tested there).
    fn gate() -> ProofGate {
        ProofGate {
            at_step: 3,
            created: vec!["versions".into()],
            touched: vec![".".into()],
            linked: vec!["sym".into()],
        }
    }

    /// A database of one partition and a root `sym`, in `t/data`, with `t/db` beside it.
    fn database(t: &Path) -> std::path::PathBuf {
        let db = t.join("data");
        fs::create_dir_all(db.join("2024.01.02/trade")).unwrap();
        fs::write(db.join("2024.01.02/trade/price"), [1u8; 16]).unwrap();
        fs::write(db.join("sym"), b"abc").unwrap();
        fs::create_dir(t.join("db")).unwrap();
        db
    }

    /// What the steps before the gate do to the database: `versions/` with a placeholder,
    /// and `sym` hard-linked into the new root (after a pause, so the times the kernel gives
    /// surely move).
    fn first_steps(t: &Path, db: &Path) {
        std::thread::sleep(std::time::Duration::from_millis(30));
        fs::create_dir_all(db.join("versions/2024.01.02")).unwrap();
        std::os::unix::fs::symlink("../../2024.01.02", db.join("versions/2024.01.02/1")).unwrap();
        fs::hard_link(db.join("sym"), t.join("db/sym")).unwrap();
    }

    #[test]
    fn the_marks_of_the_first_steps_are_not_drift_and_every_other_change_is() {
        let t = tempfile::tempdir().unwrap();
        let db = database(t.path());
        let saved = fingerprint_of(&db);
        let (marked, clash) = marked_entries(&saved, &gate());
        assert!(!clash);
        assert_eq!(
            marked.keys().map(String::as_str).collect::<Vec<_>>(),
            [".", "sym"]
        );
        assert!(drift_before_steps(&saved, &marked).unwrap().is_empty());
        first_steps(t.path(), &db);
        // To a plain compare, the steps' marks are drift: the database's mtime, `sym`'s ctime
        // and everything below `versions/`.
        let now = fingerprint_of(&db);
        let plain = diff(&saved, &now);
        assert!(plain.iter().any(|d| d.path.ends_with("/sym")), "{plain:?}");
        assert!(
            plain.iter().any(|d| d.path.contains("versions")),
            "{plain:?}"
        );
        assert_eq!(
            drift_beside_steps(&saved, now, &gate(), &marked),
            Vec::new()
        );
        // What they were taken as saved for is what drift_before_steps compares.
        assert_eq!(drift_before_steps(&saved, &marked).unwrap().len(), 2);

        // Anything else still differs: a column rewritten in a partition...
        let price = db.join("2024.01.02/trade/price");
        fs::write(&price, [2u8; 24]).unwrap();
        let d = drift_beside_steps(&saved, fingerprint_of(&db), &gate(), &marked);
        assert!(
            d.iter()
                .any(|d| d.path.ends_with("trade/price") && d.what == DriftWhat::Size),
            "{d:?}"
        );
        // ... and `sym` itself rewritten: only its ctime is taken as saved.
        fs::write(db.join("sym"), b"abcd").unwrap();
        let d = drift_beside_steps(&saved, fingerprint_of(&db), &gate(), &marked);
        assert!(
            d.iter()
                .any(|d| d.path.ends_with("/sym") && d.what == DriftWhat::Size),
            "{d:?}"
        );
    }

    #[test]
    fn a_fingerprint_holding_what_the_first_steps_create_is_not_overlapped() {
        let t = tempfile::tempdir().unwrap();
        let db = database(t.path());
        fs::create_dir(db.join("versions")).unwrap();
        let (_, clash) = marked_entries(&fingerprint_of(&db), &gate());
        assert!(clash);
    }
}
