//! What a saved plan was derived from, and how the world now differs from it: pure, no I/O
//! (`crate::approval` takes fingerprints and stats).
//!
//! A fingerprint names the machine and the database, holds the sha256 of the assembly file's
//! bytes, every entry of the database directory (relative path, kind, size, mtime in ns, inode,
//! link target, and for regular files the ctime in ns) and every object of the object tiers (key,
//! size, ETag). Comparing two gives one [`Drift`] per difference.
//!
//! What the stamps can see: a file added, removed, renamed or replaced (path, inode), resized,
//! or written in any way, even with its mtime set back afterwards (`touch -d`, `utimensat`): a
//! write or a `utimensat` moves the ctime to the current time, and no system call sets it. What
//! they cannot see: a write made by stepping the system clock back to the saved ctime first, a
//! write to the block device under the filesystem, or a filesystem that does not keep ctimes.

mod entries;
pub mod file_form;
pub mod packed;

pub use entries::{Entries, EntryRef, Iter};

use crate::finding::{code, Finding};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::PathBuf;

/// Version of the fingerprint's shape (part of the plan file format, docs/sm-layout.md): 3
/// carries the entries packed, as one string ([`file_form`]); 2 (still read) carried them as a
/// list of objects; both stamp every regular file with its ctime; 1 (still read) did not.
pub const FINGERPRINT_VERSION: u32 = 3;

/// The oldest fingerprint version still read: its plans are committed after the full checks.
pub const OLDEST_FINGERPRINT_VERSION: u32 = 1;

/// The path of the database directory itself among the entries.
pub const DATABASE_ENTRY: &str = ".";

/// Serialised as [`file_form`] says: the form of its entries follows its `version`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    pub version: u32,
    /// Host name of the machine the plan was saved on.
    pub host: String,
    /// Absolute path of the database directory (`<baseURI>/data`).
    pub database: PathBuf,
    /// Identity of that directory (it keeps its inode through the import's renames).
    pub database_dev: u64,
    pub database_ino: u64,
    pub config: ConfigStamp,
    /// Every entry below the database directory, and the directory itself as `.`, sorted by
    /// path bytes; paths are relative to the database directory, `/`-separated. Packed in
    /// memory, and in the file from version 3 on.
    pub entries: Entries,
    /// Every object of every object tier of the HDB mount, sorted by tier then key.
    pub objects: Vec<ObjectStamp>,
    /// Segmented databases: each segment `par.txt` lists outside the database directory, with
    /// every entry below it (absent for a plain database, so its plan files are unchanged).
    pub segments: Vec<SegmentStamp>,
}

/// One segment of a segmented database that lies outside the database directory: its data is
/// converted in place there, so a change to it is drift like a change in the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentStamp {
    /// Absolute path of the segment directory (symlinks resolved).
    pub dir: PathBuf,
    /// Every entry below it, and the directory itself as `.`, as in [`Fingerprint::entries`].
    pub entries: Entries,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigStamp {
    /// The assembly file, as an absolute path.
    pub path: PathBuf,
    /// sha256 (hex) of its bytes.
    pub sha256: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsKind {
    Dir,
    File,
    Symlink,
    /// FIFOs, sockets, devices (recorded so that one appearing or going is drift too).
    Other,
}

impl fmt::Display for FsKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FsKind::Dir => "directory",
            FsKind::File => "file",
            FsKind::Symlink => "symlink",
            FsKind::Other => "special file",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsEntry {
    pub path: String,
    pub kind: FsKind,
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    pub inode: u64,
    /// Symlinks only: the target as stored (never resolved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Regular files only: the inode's change time, nanoseconds since the epoch. It moves on
    /// every write and every mtime change, so an unchanged ctime proves the bytes are those
    /// stamped even when the mtime was set back; `commit --plan` relies on it to skip reading
    /// the headers again. Absent in plan files saved before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctime_ns: Option<i64>,
}

impl FsEntry {
    /// The entry's directory, relative to the database (`.` for top-level entries).
    pub fn parent(&self) -> &str {
        match self.path.rsplit_once('/') {
            Some((p, _)) => p,
            None if self.path == DATABASE_ENTRY => "",
            None => DATABASE_ENTRY,
        }
    }

    /// Directories and the entries of the database's top level: what a mount stats before
    /// serving (a directory's mtime changes when an entry is added, removed or renamed in it).
    pub fn is_structural(&self) -> bool {
        self.kind == FsKind::Dir || self.parent() == DATABASE_ENTRY
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectStamp {
    pub tier: String,
    /// Key relative to the tier's prefix.
    pub key: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

/// What differs about one path (the stable words of the `plan-drift` findings).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DriftWhat {
    Added,
    Removed,
    Kind,
    Size,
    Mtime,
    Inode,
    LinkTarget,
    Configuration,
    Object,
    /// A file's ctime moved while its size, mtime and inode stayed: written in place (or its
    /// metadata changed) with the mtime set back.
    Ctime,
    /// A staged remedy file whose sha256 is not the saved one.
    Content,
}

impl DriftWhat {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftWhat::Added => "added",
            DriftWhat::Removed => "removed",
            DriftWhat::Kind => "kind",
            DriftWhat::Size => "size",
            DriftWhat::Mtime => "mtime",
            DriftWhat::Inode => "inode",
            DriftWhat::LinkTarget => "link target",
            DriftWhat::Configuration => "configuration",
            DriftWhat::Object => "object",
            DriftWhat::Ctime => "ctime",
            DriftWhat::Content => "content",
        }
    }
}

/// One difference between the saved fingerprint and the world now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    /// Absolute path, or `s3://…` URL of an object, or the assembly file.
    pub path: String,
    pub what: DriftWhat,
    /// Saved value → value now, in words.
    pub detail: String,
}

impl Drift {
    pub fn finding(&self) -> Finding {
        Finding::error(
            code::PLAN_DRIFT,
            match self.what {
                DriftWhat::Added | DriftWhat::Removed => format!(
                    "{}: {} since the plan was saved: {}",
                    self.path,
                    self.what.as_str(),
                    self.detail
                ),
                what => format!(
                    "{}: {} changed since the plan was saved: {}",
                    self.path,
                    what.as_str(),
                    self.detail
                ),
            },
        )
        .path(&self.path)
        .hint("the saved plan no longer describes the database: review the change, then save a new plan (`smstage plan --config FILE --save PLANFILE`), validate its view and commit that one")
    }
}

/// An mtime in ns as seconds since the epoch, to the nanosecond.
fn secs(ns: i64) -> String {
    format!(
        "{}.{:09} s",
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000)
    )
}

/// Compares one saved entry with what is there now (None: gone). `abs` names it in findings.
/// Directory sizes are not compared (they follow the filesystem's bookkeeping, and an added or
/// removed entry shows in the mtime).
pub fn compare_entry(abs: &str, saved: &FsEntry, now: Option<&FsEntry>) -> Vec<Drift> {
    let d = |what, detail: String| Drift {
        path: abs.to_string(),
        what,
        detail,
    };
    let Some(now) = now else {
        return vec![d(DriftWhat::Removed, format!("the {} is gone", saved.kind))];
    };
    if now.kind != saved.kind {
        return vec![d(
            DriftWhat::Kind,
            format!("was a {}, is now a {}", saved.kind, now.kind),
        )];
    }
    let mut out = Vec::new();
    if saved.kind != FsKind::Dir && now.size != saved.size {
        out.push(d(
            DriftWhat::Size,
            format!("{} bytes -> {} bytes", saved.size, now.size),
        ));
    }
    if now.mtime_ns != saved.mtime_ns {
        out.push(d(
            DriftWhat::Mtime,
            format!("{} -> {}", secs(saved.mtime_ns), secs(now.mtime_ns)),
        ));
    }
    if now.inode != saved.inode {
        out.push(d(
            DriftWhat::Inode,
            format!("inode {} -> {} (replaced)", saved.inode, now.inode),
        ));
    }
    if now.target != saved.target {
        out.push(d(
            DriftWhat::LinkTarget,
            format!(
                "{} -> {}",
                saved.target.as_deref().unwrap_or("?"),
                now.target.as_deref().unwrap_or("?")
            ),
        ));
    }
    out
}

/// A file whose ctime moved while everything [`compare_entry`] sees stayed: the write that
/// `touch -d` hid. Only where both stamps hold a ctime (a plan file saved before ctimes were
/// recorded compares as before). Kept out of [`compare_entry`], which the mount's quick check
/// also uses on directories and top-level entries.
pub fn compare_ctime(abs: &str, saved: &FsEntry, now: &FsEntry) -> Option<Drift> {
    let (Some(was), Some(is)) = (saved.ctime_ns, now.ctime_ns) else {
        return None;
    };
    (saved.kind == FsKind::File && was != is).then(|| Drift {
        path: abs.to_string(),
        what: DriftWhat::Ctime,
        detail: format!(
            "{} -> {} with the same size, mtime and inode: written in place (or its mode or owner changed) and its mtime set back",
            secs(was),
            secs(is)
        ),
    })
}

/// Every difference between `saved` and `now`, in a stable order. An added or removed
/// directory is one difference (not one per entry inside it), and a directory's mtime is not
/// reported when an entry directly inside it was added, removed or replaced (that is the
/// difference that changed it).
pub fn diff(saved: &Fingerprint, now: &Fingerprint) -> Vec<Drift> {
    let mut out = Vec::new();
    if saved.config.sha256 != now.config.sha256 {
        out.push(Drift {
            path: saved.config.path.display().to_string(),
            what: DriftWhat::Configuration,
            detail: format!(
                "the assembly file's sha256 was {}, is now {}",
                saved.config.sha256, now.config.sha256
            ),
        });
    }
    out.extend(diff_entries(
        &saved.database,
        &saved.entries,
        &now.database,
        &now.entries,
    ));
    for seg in &saved.segments {
        match now.segments.iter().find(|n| n.dir == seg.dir) {
            Some(n) => out.extend(diff_entries(&seg.dir, &seg.entries, &n.dir, &n.entries)),
            None => out.push(Drift {
                path: seg.dir.display().to_string(),
                what: DriftWhat::Removed,
                detail: "this segment is no longer listed in par.txt".to_string(),
            }),
        }
    }
    for n in &now.segments {
        if !saved.segments.iter().any(|s| s.dir == n.dir) {
            out.push(Drift {
                path: n.dir.display().to_string(),
                what: DriftWhat::Added,
                detail: "a segment newly listed in par.txt".to_string(),
            });
        }
    }
    out.extend(diff_objects(&saved.objects, &now.objects));
    out
}

/// The absolute path of entry `rel` of the tree rooted at `root`.
pub fn abs_in(root: &std::path::Path, rel: &str) -> String {
    if rel == DATABASE_ENTRY {
        root.display().to_string()
    } else {
        root.join(rel).display().to_string()
    }
}

/// The entries of both trees are walked together in path order (a merge join), so that no
/// map of either is built. Both are whole trees (every entry's parent is listed, as a walk
/// lists them): a parent is then on the other side unless it is a directory found on one
/// side only, and only those, and the directories a change explains, are remembered.
fn diff_entries(
    saved_root: &std::path::Path,
    saved: &Entries,
    now_root: &std::path::Path,
    now: &Entries,
) -> Vec<Drift> {
    use std::cmp::Ordering;
    // Equal packed lists hold equal entries (the packing is a function of the entries), so
    // an unchanged database is told in one comparison of ~12 bytes per entry.
    if saved == now {
        return Vec::new();
    }
    let mut old = saved.in_path_order().peekable();
    let mut new = now.in_path_order().peekable();
    let mut added_dirs: HashSet<String> = HashSet::new();
    let mut removed_dirs: HashSet<String> = HashSet::new();
    // Directories whose own entries changed: their mtime drift is explained by those.
    let mut touched: HashSet<String> = HashSet::new();
    // Mtime drift of directories, kept until all their entries have been seen.
    let mut dir_mtimes: Vec<(String, Drift)> = Vec::new();
    let mut out = Vec::new();
    loop {
        let order = match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(o), Some(n)) => o.path.as_bytes().cmp(n.path.as_bytes()),
        };
        let (o, n) = match order {
            Ordering::Less => (old.next(), None),
            Ordering::Greater => (None, new.next()),
            Ordering::Equal => (old.next(), new.next()),
        };
        match (o, n) {
            (None, Some(e)) => {
                if e.kind == FsKind::Dir {
                    added_dirs.insert(e.path.clone());
                }
                if added_dirs.contains(e.parent()) {
                    continue; // inside an added directory: that directory is the difference
                }
                touched.insert(e.parent().to_string());
                out.push(Drift {
                    path: abs_in(now_root, &e.path),
                    what: DriftWhat::Added,
                    detail: format!("a new {} ({} bytes)", e.kind, e.size),
                });
            }
            (Some(e), None) => {
                if e.kind == FsKind::Dir {
                    removed_dirs.insert(e.path.clone());
                }
                if !removed_dirs.contains(e.parent()) {
                    touched.insert(e.parent().to_string());
                    out.extend(compare_entry(&abs_in(saved_root, &e.path), &e, None));
                }
            }
            // Every stamp the same (the usual case: a million of them at 1.1M files): no drift,
            // and no absolute path built to say so.
            (Some(e), Some(n)) if e == n => {}
            (Some(e), Some(n)) => {
                let mut drifts = compare_entry(&abs_in(saved_root, &e.path), &e, Some(&n));
                if drifts.is_empty() {
                    drifts.extend(compare_ctime(&abs_in(saved_root, &e.path), &e, &n));
                }
                if drifts
                    .iter()
                    .any(|d| matches!(d.what, DriftWhat::Inode | DriftWhat::Kind))
                {
                    touched.insert(e.parent().to_string());
                }
                for d in drifts {
                    if e.kind == FsKind::Dir && d.what == DriftWhat::Mtime {
                        dir_mtimes.push((e.path.clone(), d));
                    } else {
                        out.push(d);
                    }
                }
            }
            (None, None) => break,
        }
    }
    out.extend(
        dir_mtimes
            .into_iter()
            .filter(|(path, _)| !touched.contains(path))
            .map(|(_, d)| d),
    );
    out.sort_by(|a, b| (&a.path, a.what).cmp(&(&b.path, b.what)));
    out
}

fn diff_objects(saved: &[ObjectStamp], now: &[ObjectStamp]) -> Vec<Drift> {
    let key = |o: &ObjectStamp| (o.tier.clone(), o.key.clone());
    let old: BTreeMap<_, &ObjectStamp> = saved.iter().map(|o| (key(o), o)).collect();
    let new: BTreeMap<_, &ObjectStamp> = now.iter().map(|o| (key(o), o)).collect();
    let mut out = Vec::new();
    let name = |(tier, k): &(String, String)| format!("object tier {tier}: {k}");
    for (k, o) in &old {
        let detail = match new.get(k) {
            None => "removed".to_string(),
            Some(n) if n.size != o.size => format!("size {} -> {} bytes", o.size, n.size),
            Some(n) if n.etag != o.etag => format!(
                "ETag {} -> {} (rewritten)",
                o.etag.as_deref().unwrap_or("none"),
                n.etag.as_deref().unwrap_or("none")
            ),
            Some(_) => continue,
        };
        out.push(Drift {
            path: name(k),
            what: DriftWhat::Object,
            detail,
        });
    }
    for (k, n) in &new {
        if !old.contains_key(k) {
            out.push(Drift {
                path: name(k),
                what: DriftWhat::Object,
                detail: format!("added ({} bytes)", n.size),
            });
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An entry without a link target.
    pub(crate) fn e(path: &str, kind: FsKind, size: u64, mtime_ns: i64, inode: u64) -> FsEntry {
        FsEntry {
            path: path.into(),
            kind,
            size,
            mtime_ns,
            inode,
            target: None,
            ctime_ns: None,
        }
    }

    fn fp(entries: Vec<FsEntry>) -> Fingerprint {
        Fingerprint {
            version: FINGERPRINT_VERSION,
            host: "h".into(),
            database: PathBuf::from("/b/data"),
            database_dev: 1,
            database_ino: 2,
            config: ConfigStamp {
                path: "/b/a.yaml".into(),
                sha256: "aa".into(),
            },
            entries: entries.into(),
            objects: vec![],
            segments: Vec::new(),
        }
    }

    fn base() -> Vec<FsEntry> {
        vec![
            e(".", FsKind::Dir, 4096, 10, 1),
            e("2024.01.02", FsKind::Dir, 4096, 10, 2),
            e("2024.01.02/t", FsKind::Dir, 4096, 10, 3),
            e("2024.01.02/t/a", FsKind::File, 8, 10, 4),
            e("sym", FsKind::File, 20, 10, 5),
        ]
    }

    fn whats(d: &[Drift]) -> Vec<(String, &'static str)> {
        d.iter()
            .map(|d| (d.path.clone(), d.what.as_str()))
            .collect()
    }

    #[test]
    fn same_fingerprint_has_no_drift() {
        assert!(diff(&fp(base()), &fp(base())).is_empty());
    }

    /// A file's ctime is drift only when nothing else about it moved (the write that `touch -d`
    /// hid), only for files, and only when both stamps hold one (a plan file saved before
    /// ctimes compares as before).
    #[test]
    fn a_moved_ctime_is_drift_of_a_file_whose_other_stamps_stayed() {
        let with_ctimes = |c: i64| -> Vec<FsEntry> {
            base()
                .into_iter()
                .map(|mut x| {
                    if x.kind == FsKind::File {
                        x.ctime_ns = Some(c);
                    }
                    x
                })
                .collect()
        };
        assert!(diff(&fp(with_ctimes(7)), &fp(with_ctimes(7))).is_empty());
        let files = base().iter().filter(|x| x.kind == FsKind::File).count();
        let d = diff(&fp(with_ctimes(7)), &fp(with_ctimes(8)));
        assert_eq!(d.len(), files, "{d:?}");
        assert!(d.iter().all(|x| x.what == DriftWhat::Ctime), "{d:?}");
        assert!(d[0].finding().message.contains("ctime changed"), "{d:?}");
        // The mtime moved too: that is the difference reported, once.
        let mut now = with_ctimes(8);
        let f = now.iter().position(|x| x.kind == FsKind::File).unwrap();
        now[f].mtime_ns += 1;
        let d = diff(&fp(with_ctimes(7)), &fp(now));
        assert_eq!(d.iter().filter(|x| x.what == DriftWhat::Mtime).count(), 1);
        assert_eq!(d.len(), files, "{d:?}");
        // A stamp without a ctime on either side: not compared.
        assert!(diff(&fp(base()), &fp(with_ctimes(8))).is_empty());
        assert!(diff(&fp(with_ctimes(7)), &fp(base())).is_empty());
        // Directories carry none; were one there, it would not count.
        let mut dirs = base();
        dirs[0].ctime_ns = Some(1);
        let mut dirs_now = base();
        dirs_now[0].ctime_ns = Some(2);
        assert!(diff(&fp(dirs), &fp(dirs_now)).is_empty());
    }

    #[test]
    fn an_added_partition_is_one_difference_and_explains_the_mtime_of_its_parent() {
        let mut now = base();
        now[0].mtime_ns = 11;
        now.push(e("2024.01.03", FsKind::Dir, 4096, 11, 9));
        now.push(e("2024.01.03/t", FsKind::Dir, 4096, 11, 10));
        now.push(e("2024.01.03/t/a", FsKind::File, 8, 11, 11));
        let d = diff(&fp(base()), &fp(now));
        assert_eq!(whats(&d), [("/b/data/2024.01.03".to_string(), "added")]);
    }

    #[test]
    fn a_removed_file_a_resized_file_and_a_replaced_file() {
        let mut now = base();
        now.retain(|x| x.path != "sym");
        now[0].mtime_ns = 12;
        now[3].size = 16;
        now[3].mtime_ns = 12;
        let d = diff(&fp(base()), &fp(now.clone()));
        assert_eq!(
            whats(&d),
            [
                ("/b/data/2024.01.02/t/a".to_string(), "size"),
                ("/b/data/2024.01.02/t/a".to_string(), "mtime"),
                ("/b/data/sym".to_string(), "removed"),
            ]
        );
        // Replaced by a rename: new inode; its directory's mtime is explained by it.
        let mut now = base();
        now[3].inode = 99;
        now[2].mtime_ns = 13;
        let d = diff(&fp(base()), &fp(now));
        assert_eq!(whats(&d), [("/b/data/2024.01.02/t/a".to_string(), "inode")]);
    }

    #[test]
    fn link_targets_configuration_and_objects() {
        let mut old = base();
        old.push(FsEntry {
            target: Some("x".into()),
            ..e("l", FsKind::Symlink, 1, 10, 7)
        });
        let mut now = old.clone();
        now[5].target = Some("y".into());
        let mut new_fp = fp(now);
        new_fp.config.sha256 = "bb".into();
        let mut old_fp = fp(old);
        let obj = |k: &str, size, etag: &str| ObjectStamp {
            tier: "arch".into(),
            key: k.into(),
            size,
            etag: Some(etag.into()),
        };
        old_fp.objects = vec![
            obj("2023.01.01/t/a", 8, "e1"),
            obj("2023.01.01/t/b", 8, "e2"),
        ];
        new_fp.objects = vec![
            obj("2023.01.01/t/a", 8, "e9"),
            obj("2023.01.01/t/c", 8, "e3"),
        ];
        let d = diff(&old_fp, &new_fp);
        assert_eq!(
            whats(&d),
            [
                ("/b/a.yaml".to_string(), "configuration"),
                ("/b/data/l".to_string(), "link target"),
                ("object tier arch: 2023.01.01/t/a".to_string(), "object"),
                ("object tier arch: 2023.01.01/t/b".to_string(), "object"),
                ("object tier arch: 2023.01.01/t/c".to_string(), "object"),
            ]
        );
        assert!(d[2].detail.contains("ETag e1 -> e9"), "{}", d[2].detail);
        let f = d[1].finding();
        assert_eq!(f.code, "plan-drift");
        assert_eq!(f.path.as_deref(), Some("/b/data/l"));
        assert!(f.message.contains("link target"), "{}", f.message);
    }

    /// The comparison as it was before the merge join (29d6b03): a map of each side.
    fn diff_entries_by_maps(saved: &[FsEntry], now: &[FsEntry]) -> Vec<Drift> {
        use std::collections::BTreeSet;
        let (saved_root, now_root) = (std::path::Path::new("/b"), std::path::Path::new("/b"));
        let old: BTreeMap<&str, &FsEntry> = saved.iter().map(|e| (e.path.as_str(), e)).collect();
        let new: BTreeMap<&str, &FsEntry> = now.iter().map(|e| (e.path.as_str(), e)).collect();
        let mut touched: BTreeSet<&str> = BTreeSet::new();
        let mut out = Vec::new();
        for (path, e) in &new {
            if !old.contains_key(path) {
                touched.insert(e.parent());
                if !old.contains_key(e.parent()) && e.parent() != "" {
                    continue;
                }
                out.push(Drift {
                    path: abs_in(now_root, path),
                    what: DriftWhat::Added,
                    detail: format!("a new {} ({} bytes)", e.kind, e.size),
                });
            }
        }
        let mut per_path = Vec::new();
        for (path, e) in &old {
            match new.get(path) {
                None => {
                    touched.insert(e.parent());
                    if new.contains_key(e.parent()) || e.parent().is_empty() {
                        per_path.push((*path, compare_entry(&abs_in(saved_root, path), e, None)));
                    }
                }
                Some(n) => {
                    let drifts = compare_entry(&abs_in(saved_root, path), e, Some(n));
                    if drifts
                        .iter()
                        .any(|d| matches!(d.what, DriftWhat::Inode | DriftWhat::Kind))
                    {
                        touched.insert(e.parent());
                    }
                    per_path.push((*path, drifts));
                }
            }
        }
        for (path, drifts) in per_path {
            let is_dir = old.get(path).is_some_and(|e| e.kind == FsKind::Dir);
            out.extend(
                drifts
                    .into_iter()
                    .filter(|d| !(is_dir && d.what == DriftWhat::Mtime && touched.contains(path))),
            );
        }
        out.sort_by(|a, b| (&a.path, a.what).cmp(&(&b.path, b.what)));
        out
    }

    /// A small database whose partition names interleave in path order (`p1`, `p1.bak`,
    /// `p1/…`), with a symlink and a special file.
    fn tree() -> Vec<FsEntry> {
        let mut v = vec![e(".", FsKind::Dir, 4096, 1, 1)];
        let mut ino = 1;
        for p in ["p1", "p1.bak", "p2", "p2-x"] {
            ino += 1;
            v.push(e(p, FsKind::Dir, 4096, 1, ino));
            for t in ["t", "t.old", "u"] {
                ino += 1;
                v.push(e(&format!("{p}/{t}"), FsKind::Dir, 4096, 1, ino));
                for c in [".d", "a", "a#", "b"] {
                    ino += 1;
                    v.push(e(&format!("{p}/{t}/{c}"), FsKind::File, 8, 1, ino));
                }
            }
        }
        v.push(FsEntry {
            target: Some("p1".into()),
            ..e("l", FsKind::Symlink, 2, 1, 900)
        });
        v.push(e("q", FsKind::Other, 0, 1, 901));
        v.push(e("sym", FsKind::File, 20, 1, 902));
        v.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        v
    }

    /// Changes `v` as a user could: each step picks an entry by `r` and adds next to it,
    /// removes it (with its subtree), rewrites or replaces it, or turns it into another kind.
    fn mutate(v: &mut Vec<FsEntry>, r: &mut u64, steps: usize) {
        let mut next = || {
            *r = r
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (*r >> 33) as usize
        };
        for step in 0..steps {
            if v.len() < 2 {
                break;
            }
            let i = 1 + next() % (v.len() - 1);
            let x = v[i].clone();
            let bump_parent = |v: &mut Vec<FsEntry>, path: &str| {
                let parent = FsEntry {
                    path: path.into(),
                    ..x.clone()
                }
                .parent()
                .to_string();
                if let Some(p) = v.iter_mut().find(|e| e.path == parent) {
                    p.mtime_ns += 1;
                }
            };
            match next() % 9 {
                0 => {
                    let name = format!(
                        "{}/n{step}",
                        if x.kind == FsKind::Dir {
                            &x.path
                        } else {
                            x.parent()
                        }
                    );
                    let name = name.trim_start_matches("./").to_string();
                    v.push(e(&name, FsKind::File, 3, 5, 5000 + step as u64));
                    bump_parent(v, &name);
                }
                1 => {
                    let name = format!("{}.n{step}", x.path);
                    v.push(e(&name, FsKind::Dir, 4096, 5, 6000 + step as u64));
                    v.push(e(
                        &format!("{name}/f"),
                        FsKind::File,
                        1,
                        5,
                        7000 + step as u64,
                    ));
                    bump_parent(v, &name);
                }
                2 => {
                    let sub = format!("{}/", x.path);
                    v.retain(|e| e.path != x.path && !e.path.starts_with(&sub));
                    bump_parent(v, &x.path);
                }
                3 => v[i].size += 1,
                4 => v[i].mtime_ns += 7,
                5 => {
                    v[i].inode += 10_000;
                    bump_parent(v, &x.path);
                }
                6 => {
                    let sub = format!("{}/", x.path);
                    v.retain(|e| !e.path.starts_with(&sub));
                    if let Some(y) = v.iter_mut().find(|e| e.path == x.path) {
                        y.kind = if x.kind == FsKind::Dir {
                            FsKind::File
                        } else {
                            FsKind::Dir
                        };
                        y.target = None;
                    }
                    if x.kind != FsKind::Dir {
                        v.push(e(
                            &format!("{}/in", x.path),
                            FsKind::File,
                            1,
                            5,
                            8000 + step as u64,
                        ));
                    }
                }
                7 => v[i].target = Some(format!("t{step}")),
                _ => {}
            }
        }
        v.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        v.dedup_by(|a, b| a.path == b.path);
    }

    #[test]
    fn the_merge_join_finds_what_the_maps_found() {
        let detailed = |d: Vec<Drift>| -> Vec<(String, DriftWhat, String)> {
            d.into_iter().map(|d| (d.path, d.what, d.detail)).collect()
        };
        let root = std::path::Path::new("/b");
        let mut r = 7u64;
        let mut nonempty = 0;
        for round in 0..400 {
            let mut saved = tree();
            let mut now = tree();
            // Both sides change: a saved plan and the world are both whole trees.
            mutate(&mut saved, &mut r, round % 3);
            mutate(&mut now, &mut r, 1 + round % 5);
            let want = detailed(diff_entries_by_maps(&saved, &now));
            let got = detailed(diff_entries(
                root,
                &saved.clone().into(),
                root,
                &now.clone().into(),
            ));
            assert_eq!(got, want, "round {round}");
            nonempty += usize::from(!want.is_empty());
        }
        assert!(nonempty > 300, "{nonempty}");
    }

    #[test]
    fn structural_entries_are_directories_and_top_level_entries() {
        let entries = base();
        let s: Vec<&str> = entries
            .iter()
            .filter(|e| e.is_structural())
            .map(|e| e.path.as_str())
            .collect();
        assert_eq!(s, [".", "2024.01.02", "2024.01.02/t", "sym"]);
    }
}
