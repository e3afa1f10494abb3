//! Taking fingerprints: the walk of the database (in parallel, one task per top-level entry),
//! the listing of the object tiers, and the quick stat of the structural entries a mount checks.

use super::ApprovalError;
use crate::config::{AssemblyConfig, StoreUri};
use crate::plan::fingerprint::{
    compare_entry, ConfigStamp, Drift, DriftWhat, Entries, Fingerprint, FsEntry, FsKind,
    ObjectStamp, SegmentStamp, DATABASE_ENTRY, FINGERPRINT_VERSION,
};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub(crate) fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn kind_of(md: &Metadata) -> FsKind {
    let ft = md.file_type();
    if ft.is_symlink() {
        FsKind::Symlink
    } else if ft.is_dir() {
        FsKind::Dir
    } else if ft.is_file() {
        FsKind::File
    } else {
        FsKind::Other
    }
}

/// A symlink's target as the fingerprint records it (None for any other kind).
pub(super) fn link_target(abs: &Path, kind: FsKind) -> Result<Option<String>, ApprovalError> {
    if kind != FsKind::Symlink {
        return Ok(None);
    }
    let t = fs::read_link(abs).map_err(|source| ApprovalError::Database {
        path: abs.to_path_buf(),
        source,
    })?;
    Ok(Some(t.to_string_lossy().into_owned()))
}

/// The entry for `abs` (named `rel` in the fingerprint), from its `lstat`.
pub(super) fn entry_of(abs: &Path, rel: String, md: &Metadata) -> Result<FsEntry, ApprovalError> {
    let kind = kind_of(md);
    let target = link_target(abs, kind)?;
    Ok(FsEntry {
        path: rel,
        kind,
        size: md.len(),
        mtime_ns: md.mtime().saturating_mul(1_000_000_000) + md.mtime_nsec(),
        inode: md.ino(),
        target,
        // Files only: what an in-place write with the mtime set back still moves.
        ctime_ns: (kind == FsKind::File)
            .then(|| md.ctime().saturating_mul(1_000_000_000) + md.ctime_nsec()),
    })
}

/// Every entry of the subtree at `database/top` (never following a symlink, never into
/// another filesystem mounted inside the database: the checks refuse it, and what is mounted
/// there may be a view of this very database), sorted by path bytes and packed: only one
/// subtree per thread is ever held unpacked.
pub(super) fn walk_top(
    db: &std::os::fd::OwnedFd,
    database: &Path,
    db_dev: u64,
    top: &std::ffi::OsStr,
) -> Result<Entries, ApprovalError> {
    let mut out = super::walk::walk_top(db, database, db_dev, top)?;
    out.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Ok(out.into_iter().collect())
}

/// Every entry of the database directory `database` (itself included, as `.`), sorted.
pub fn database_entries(database: &Path) -> Result<(Entries, u64, u64), ApprovalError> {
    crate::io_pool::install(|| database_entries_here(database))
}

/// [`database_entries`] on the rayon pool it is called in.
pub(super) fn database_entries_here(database: &Path) -> Result<(Entries, u64, u64), ApprovalError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ApprovalError::Database { path, source }
    };
    let md = fs::symlink_metadata(database).map_err(io(database))?;
    // Listed through the descriptor the walk opens its top-level entries in, as every
    // directory below is (`crate::dirents`), not opened a second time by path.
    let db = super::walk::open_dir(database).map_err(io(database))?;
    let tops = crate::dirents::list(db.as_fd()).map_err(io(database))?;
    let mut walked: Vec<Entries> = tops
        .par_iter()
        .map(|t| walk_top(&db, database, md.dev(), OsStr::from_bytes(t.name_bytes())))
        .collect::<Result<_, _>>()?;
    walked.push(std::iter::once(entry_of(database, DATABASE_ENTRY.to_string(), &md)?).collect());
    Ok((merge_sorted(&walked), md.dev(), md.ino()))
}

/// The lists joined end to end, when some order of them is already sorted as a whole: the
/// usual case (date partitions never extend each other's names), where a heap merge of 25,000
/// subtrees cost ~20 million path comparisons at 1.1M entries. None when two interleave.
fn concatenated_if_sorted(lists: &[Entries]) -> Option<Entries> {
    let mut order: Vec<(String, &Entries)> = lists
        .iter()
        .filter_map(|l| Some((l.first_path()?, l)))
        .collect();
    order.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let sorted = order.iter().all(|(_, l)| l.is_sorted())
        && order
            .windows(2)
            .all(|w| w[0].1.last_path().as_bytes() < w[1].0.as_bytes());
    if !sorted {
        return None;
    }
    let mut out = Entries::new();
    for (_, l) in &order {
        out.append(l);
    }
    out.shrink_to_fit();
    Some(out)
}

/// One list of sorted lists, sorted. The subtrees of two top-level entries interleave when
/// one's name extends the other's with a byte below `/` (`2024.01.02` and `2024.01.02.bak`),
/// so they are merged rather than concatenated.
pub(super) fn merge_sorted(lists: &[Entries]) -> Entries {
    if let Some(joined) = concatenated_if_sorted(lists) {
        return joined;
    }
    struct Head(FsEntry, usize);
    impl PartialEq for Head {
        fn eq(&self, o: &Self) -> bool {
            self.cmp(o) == std::cmp::Ordering::Equal
        }
    }
    impl Eq for Head {}
    impl PartialOrd for Head {
        fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(o))
        }
    }
    impl Ord for Head {
        fn cmp(&self, o: &Self) -> std::cmp::Ordering {
            (self.0.path.as_bytes(), self.1).cmp(&(o.0.path.as_bytes(), o.1))
        }
    }
    let mut iters: Vec<_> = lists.iter().map(Entries::in_path_order).collect();
    let mut heap = BinaryHeap::with_capacity(iters.len());
    for (i, it) in iters.iter_mut().enumerate() {
        if let Some(e) = it.next() {
            heap.push(Reverse(Head(e, i)));
        }
    }
    let mut out = Entries::new();
    while let Some(Reverse(Head(e, i))) = heap.pop() {
        out.push(&e);
        if let Some(next) = iters[i].next() {
            heap.push(Reverse(Head(next, i)));
        }
    }
    out.shrink_to_fit();
    out
}

/// Every object of every object tier of the HDB mount, with its ETag.
pub(super) fn object_stamps(
    cfg: &AssemblyConfig,
    s3: &crate::object::S3Options,
) -> Result<Vec<ObjectStamp>, ApprovalError> {
    let mut out = Vec::new();
    for t in cfg.tiers_of_mount(&cfg.hdb_mount()?.name) {
        if let Some(StoreUri::S3 { bucket, prefix }) = &t.store {
            let tier = crate::object::open_s3(bucket, prefix, s3).map_err(|source| {
                ApprovalError::Object {
                    tier: t.name.clone(),
                    source,
                }
            })?;
            let listed = tier
                .list_with_etags()
                .map_err(|source| ApprovalError::Object {
                    tier: t.name.clone(),
                    source,
                })?;
            out.extend(listed.into_iter().map(|(key, size, etag)| ObjectStamp {
                tier: t.name.clone(),
                key,
                size,
                etag,
            }));
        }
    }
    Ok(out)
}

/// The fingerprint of the database `cfg` describes now; `config_path` and `config_bytes` are
/// the assembly file `cfg` was parsed from.
pub fn take(
    cfg: &AssemblyConfig,
    config_path: &Path,
    config_bytes: &[u8],
    s3: &crate::object::S3Options,
) -> Result<Fingerprint, ApprovalError> {
    take_with(cfg, config_path, config_bytes, s3, None)
}

/// [`take`], with the database's entries from the walk `early` already started, when it walks
/// the very directory `cfg` names.
pub fn take_with(
    cfg: &AssemblyConfig,
    config_path: &Path,
    config_bytes: &[u8],
    s3: &crate::object::S3Options,
    early: Option<super::early::EarlyWalk>,
) -> Result<Fingerprint, ApprovalError> {
    let database = cfg.hdb_base_dir()?.join(crate::plan::SOURCE_DIR);
    let (entries, dev, ino) = match early.and_then(|w| w.entries_of(&database)) {
        Some(walked) => walked?,
        None => database_entries(&database)?,
    };
    let segments = segment_stamps(&database)?;
    let objects = object_stamps(cfg, s3)?;
    Ok(Fingerprint {
        version: FINGERPRINT_VERSION,
        host: crate::commit::hostname(),
        database,
        database_dev: dev,
        database_ino: ino,
        config: ConfigStamp {
            path: fs::canonicalize(config_path).unwrap_or_else(|_| config_path.to_path_buf()),
            sha256: hex_sha256(config_bytes),
        },
        entries,
        objects,
        segments,
    })
}

/// The segments a segmented database's `par.txt` lists outside its directory (those inside
/// are walked with it), each with all its entries. Lines kdb+ cannot open are left to the
/// checks, which refuse them.
fn segment_stamps(database: &Path) -> Result<Vec<SegmentStamp>, ApprovalError> {
    let Ok(text) = fs::read_to_string(database.join("par.txt")) else {
        return Ok(Vec::new());
    };
    let inside = fs::canonicalize(database).unwrap_or_else(|_| database.to_path_buf());
    let mut out: Vec<SegmentStamp> = Vec::new();
    for seg in crate::par_txt::parse_par_txt(database, &text) {
        let Some(dir) = seg.dir.and_then(|d| fs::canonicalize(d).ok()) else {
            continue;
        };
        if dir.starts_with(&inside) || out.iter().any(|s| s.dir == dir) {
            continue;
        }
        let (entries, _, _) = database_entries(&dir)?;
        out.push(SegmentStamp { dir, entries });
    }
    out.sort_by(|a, b| a.dir.cmp(&b.dir));
    Ok(out)
}

/// The mount's quick check: one `lstat` per directory and per top-level entry of the saved
/// fingerprint, in parallel. A directory's mtime moves when an entry is added, removed or
/// renamed in it, so this sees every change but a file rewritten in place (which the view
/// catches when the file is first opened); only a directory whose mtime moved is listed, to
/// name what was added or removed in it.
pub fn stat_structural(saved: &Fingerprint) -> Vec<Drift> {
    let mut out = stat_structural_in(&saved.database, &saved.entries);
    // A segment's data is converted where it lies: it is checked like the root.
    for seg in &saved.segments {
        out.extend(stat_structural_in(&seg.dir, &seg.entries));
    }
    out
}

/// [`stat_structural`] of one tree: the entries of `saved` (sorted), rooted at `root`.
fn stat_structural_in(root: &Path, saved: &Entries) -> Vec<Drift> {
    let structural: Vec<FsEntry> = saved
        .in_path_order()
        .filter(|e| e.is_structural())
        .collect();
    let abs_of = |rel: &str| {
        if rel == DATABASE_ENTRY {
            root.to_path_buf()
        } else {
            root.join(rel)
        }
    };
    let per_entry: Vec<(&FsEntry, Vec<Drift>)> = crate::io_pool::install(|| {
        structural
            .par_iter()
            .map(|e| {
                let abs = abs_of(&e.path);
                let now = match fs::symlink_metadata(&abs) {
                    Ok(md) => entry_of(&abs, e.path.clone(), &md).ok(),
                    Err(_) => None,
                };
                (
                    e,
                    compare_entry(&abs.display().to_string(), e, now.as_ref()),
                )
            })
            .collect()
    });
    let moved_dirs: Vec<&str> = per_entry
        .iter()
        .filter(|(e, d)| e.kind == FsKind::Dir && d.iter().any(|d| d.what == DriftWhat::Mtime))
        .map(|(e, _)| e.path.as_str())
        .collect();
    let mut out = Vec::new();
    let mut explained: BTreeSet<&str> = BTreeSet::new();
    if !moved_dirs.is_empty() {
        let wanted: BTreeSet<&str> = moved_dirs.iter().copied().collect();
        let mut children: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for e in saved.iter() {
            if let Some(dir) = wanted.get(e.parent()) {
                let name = e.path.rsplit('/').next().unwrap_or(&e.path).to_string();
                children.entry(*dir).or_default().insert(name);
            }
        }
        for dir in moved_dirs {
            let abs = abs_of(dir);
            let Ok(rd) = fs::read_dir(&abs) else { continue };
            let now: BTreeSet<String> = rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            let empty = BTreeSet::new();
            let before = children.get(dir).unwrap_or(&empty);
            for name in now.difference(before) {
                out.push(Drift {
                    path: abs.join(name).display().to_string(),
                    what: DriftWhat::Added,
                    detail: "a new entry".to_string(),
                });
                explained.insert(dir);
            }
            for name in before.difference(&now) {
                explained.insert(dir);
                let rel = if dir == DATABASE_ENTRY {
                    name.clone()
                } else {
                    format!("{dir}/{name}")
                };
                // Structural entries that went are reported by their own lstat.
                let is_structural = structural
                    .binary_search_by(|e| e.path.as_bytes().cmp(rel.as_bytes()))
                    .is_ok();
                if !is_structural {
                    out.push(Drift {
                        path: abs.join(name).display().to_string(),
                        what: DriftWhat::Removed,
                        detail: "the entry is gone".to_string(),
                    });
                }
            }
        }
    }
    for (e, drifts) in per_entry {
        let is_explained = explained.contains(e.path.as_str());
        out.extend(
            drifts
                .into_iter()
                .filter(|d| !(is_explained && d.what == DriftWhat::Mtime)),
        );
    }
    out.sort_by(|a, b| (&a.path, a.what).cmp(&(&b.path, b.what)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Top-level names that extend one another with bytes below `/` interleave in path order:
    /// the walk merges the subtrees into the one order a whole sorted listing has.
    #[test]
    fn the_entries_are_in_path_byte_order_across_top_level_entries() {
        let t = tempfile::tempdir().unwrap();
        let db = t.path();
        for d in ["p/t", "p.bak/t", "p-x/t", "p/t.old", "q"] {
            fs::create_dir_all(db.join(d)).unwrap();
        }
        for f in [
            "p/t/a",
            "p/t/a#",
            "p.bak/t/a",
            "p-x/t/b",
            "p/t.old/a",
            "p!",
            "sym",
        ] {
            fs::write(db.join(f), b"x").unwrap();
        }
        std::os::unix::fs::symlink("p", db.join("p+l")).unwrap();
        let (entries, _, _) = database_entries(db).unwrap();
        assert!(entries.is_sorted());
        let mut want = vec![entry_of(
            db,
            DATABASE_ENTRY.into(),
            &fs::symlink_metadata(db).unwrap(),
        )
        .unwrap()];
        for w in walkdir::WalkDir::new(db).min_depth(1) {
            let w = w.unwrap();
            let rel = w
                .path()
                .strip_prefix(db)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            want.push(entry_of(w.path(), rel, &w.metadata().unwrap()).unwrap());
        }
        want.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        assert_eq!(entries.iter().collect::<Vec<_>>(), want);
        let paths: Vec<String> = want.iter().map(|e| e.path.clone()).collect();
        let at = |p: &str| paths.iter().position(|x| x == p).unwrap();
        assert!(at("p") < at("p!") && at("p!") < at("p-x") && at("p-x") < at("p.bak"));
        assert!(at("p.bak/t/a") < at("p/t") && at("p/t.old/a") < at("p/t/a"));
    }
}
