//! What a saved plan was derived from, and how the world now differs from it: pure, no I/O
//! (`crate::approval` takes fingerprints and stats).
//!
//! A fingerprint names the machine and the database, holds the sha256 of the assembly file's
//! bytes, every entry of the database directory (relative path, kind, size, mtime in ns, inode,
//! link target) and every object of the object tiers (key, size, ETag). Comparing two gives one
//! [`Drift`] per difference.

use crate::finding::{code, Finding};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

/// Version of the fingerprint's shape (part of the plan file format, docs/sm-layout.md).
pub const FINGERPRINT_VERSION: u32 = 1;

/// The path of the database directory itself among the entries.
pub const DATABASE_ENTRY: &str = ".";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// path bytes; paths are relative to the database directory, `/`-separated.
    pub entries: Vec<FsEntry>,
    /// Every object of every object tier of the HDB mount, sorted by tier then key.
    pub objects: Vec<ObjectStamp>,
    /// Segmented databases: each segment `par.txt` lists outside the database directory, with
    /// every entry below it (absent for a plain database, so its plan files are unchanged).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<SegmentStamp>,
}

/// One segment of a segmented database that lies outside the database directory: its data is
/// converted in place there, so a change to it is drift like a change in the root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentStamp {
    /// Absolute path of the segment directory (symlinks resolved).
    pub dir: PathBuf,
    /// Every entry below it, and the directory itself as `.`, as in [`Fingerprint::entries`].
    pub entries: Vec<FsEntry>,
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
        .hint("the saved plan no longer describes the database: review the change, then save a new plan (`smstage plan --save`), validate its view and commit that one")
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

fn diff_entries(
    saved_root: &std::path::Path,
    saved: &[FsEntry],
    now_root: &std::path::Path,
    now: &[FsEntry],
) -> Vec<Drift> {
    let old: BTreeMap<&str, &FsEntry> = saved.iter().map(|e| (e.path.as_str(), e)).collect();
    let new: BTreeMap<&str, &FsEntry> = now.iter().map(|e| (e.path.as_str(), e)).collect();
    // Directories whose own entries changed: their mtime drift is explained by those.
    let mut touched: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    for (path, e) in &new {
        if !old.contains_key(path) {
            touched.insert(e.parent());
            if !old.contains_key(e.parent()) && e.parent() != "" {
                continue; // inside an added directory: that directory is the difference
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
mod tests {
    use super::*;

    fn e(path: &str, kind: FsKind, size: u64, mtime_ns: i64, inode: u64) -> FsEntry {
        FsEntry {
            path: path.into(),
            kind,
            size,
            mtime_ns,
            inode,
            target: None,
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
            entries,
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
