//! The backup precondition: a copy of the database holding the same files with the same sizes
//! (and, when asked, the same bytes).

use crate::finding::{code, Finding};
use crate::special::{self, SpecialKind};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// Relative path, kind and size of every entry of a tree (symlinks not followed), sorted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub rel: PathBuf,
    pub is_dir: bool,
    pub size: u64,
    /// A FIFO, socket or device node: never opened (a FIFO would block the compare).
    pub special: Option<SpecialKind>,
}

pub fn list_tree(root: &Path) -> Result<Vec<Entry>, (PathBuf, String)> {
    // `walk_sorted` yields in path order already.
    walk_sorted(root).collect()
}

/// Every entry of the tree at `root` (symlinks not followed), in `Path` order (component by
/// component, as `Entry`'s `Ord`): each directory's entries sorted by name, a directory before
/// its contents. Two trees walked this way can be compared in one pass, holding nothing.
pub fn walk_sorted(root: &Path) -> impl Iterator<Item = Result<Entry, (PathBuf, String)>> + '_ {
    WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .map(move |e| {
            let e = e.map_err(|e| {
                (
                    e.path().map(Path::to_path_buf).unwrap_or_default(),
                    e.to_string(),
                )
            })?;
            let meta = e
                .metadata()
                .map_err(|err| (e.path().to_path_buf(), err.to_string()))?;
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap_or(e.path())
                .to_path_buf();
            Ok(Entry {
                rel,
                is_dir: meta.is_dir(),
                size: if meta.is_file() { meta.len() } else { 0 },
                special: SpecialKind::of(&meta.file_type()),
            })
        })
}

pub fn sha256_file(path: &Path) -> std::io::Result<[u8; 32]> {
    // Non-blocking and type-checked: the walks skip special files, this guards the race.
    let mut f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    if let Some(kind) = SpecialKind::of(&f.metadata()?.file_type()) {
        return Err(special::open_refused(kind));
    }
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// Compares the database at `source` with its backup at `backup`. Reports at most a handful
/// of differences by name, then a count, so a wrong directory does not print a million lines.
pub fn check_backup(source: &Path, backup: &Path, deep: bool) -> Vec<Finding> {
    check_backup_except(source, backup, deep, |_| false)
}

/// [`check_backup`], leaving out the entries of `source` for which `skip(relative path)` holds
/// (a segmented root's `par.txt`, which the import never changes).
pub fn check_backup_except(
    source: &Path,
    backup: &Path,
    deep: bool,
    skip: impl Fn(&Path) -> bool,
) -> Vec<Finding> {
    const SHOWN: usize = 10;
    let hint = "make a full copy of the database first, e.g. `cp -a <db> <backup>`, and pass it with --backup; or pass --no-backup-check if you have another backup";
    if !backup.is_dir() {
        return vec![Finding::error(
            code::BACKUP_MISSING,
            format!("backup directory {} does not exist", backup.display()),
        )
        .path(backup.display())
        .hint(hint)];
    }
    if let (Ok(a), Ok(b)) = (fs::canonicalize(source), fs::canonicalize(backup)) {
        if a == b || a.starts_with(&b) || b.starts_with(&a) {
            return vec![Finding::error(
                code::BACKUP_MISSING,
                format!(
                    "backup {} is the database itself (or inside it): a backup must be a separate copy",
                    backup.display()
                ),
            )
            .path(backup.display())
            .hint(hint)];
        }
    }
    // One pass over both trees in the same order (a merge join): memory stays flat whatever
    // the number of files, where two listings and a map cost ~170 bytes per file.
    let mut problems = Vec::new();
    let mut to_hash = Vec::new();
    let mut src = walk_sorted(source).filter(|e| !matches!(e, Ok(e) if skip(&e.rel)));
    let bak = walk_sorted(backup);
    let unreadable = |(p, e): (PathBuf, String)| {
        vec![Finding::error(
            code::LOAD_UNREADABLE,
            format!("cannot list {}: {e}", p.display()),
        )
        .path(p.display())]
    };
    let mut specials = Vec::new();
    let mut bak = bak.inspect(|e| {
        if let Ok(Entry {
            rel,
            special: Some(kind),
            ..
        }) = e
        {
            specials.push(special::finding(&backup.join(rel), *kind, "the backup"));
        }
    });
    let (mut a, mut b) = (src.next(), bak.next());
    loop {
        let (e, k) = match (a.take(), b.take()) {
            (None, _) => break,
            (Some(Err(err)), _) | (_, Some(Err(err))) => return unreadable(err),
            (Some(Ok(e)), None) => {
                problems.push(format!("{} is missing from the backup", e.rel.display()));
                (a, b) = (src.next(), None);
                continue;
            }
            (Some(Ok(e)), Some(Ok(k))) => (e, k),
        };
        match e.rel.cmp(&k.rel) {
            // Only in the backup: not a problem (a backup may hold more).
            std::cmp::Ordering::Greater => {
                (a, b) = (Some(Ok(e)), bak.next());
                continue;
            }
            std::cmp::Ordering::Less => {
                problems.push(format!("{} is missing from the backup", e.rel.display()));
                (a, b) = (src.next(), Some(Ok(k)));
                continue;
            }
            std::cmp::Ordering::Equal => {}
        }
        if k.is_dir != e.is_dir {
            problems.push(format!(
                "{} is a {} in the database but a {} in the backup",
                e.rel.display(),
                kind(e.is_dir),
                kind(k.is_dir)
            ));
        } else if k.size != e.size {
            problems.push(format!(
                "{} has {} bytes in the database but {} in the backup",
                e.rel.display(),
                e.size,
                k.size
            ));
        } else if deep && !e.is_dir && e.special.is_none() && k.special.is_none() {
            to_hash.push(e.rel);
        }
        (a, b) = (src.next(), bak.next());
    }
    drop(bak);
    if deep {
        let mut differing: Vec<String> = to_hash
            .par_iter()
            .filter_map(|rel| {
                let a = sha256_file(&source.join(rel));
                let b = sha256_file(&backup.join(rel));
                match (a, b) {
                    (Ok(a), Ok(b)) if a == b => None,
                    (Ok(_), Ok(_)) => Some(format!(
                        "{} has different bytes in the backup",
                        rel.display()
                    )),
                    (Err(e), _) | (_, Err(e)) => {
                        Some(format!("{}: cannot read to compare: {e}", rel.display()))
                    }
                }
            })
            .collect();
        differing.sort();
        problems.extend(differing);
    }
    if problems.is_empty() {
        return specials;
    }
    let total = problems.len();
    let mut msg = format!(
        "backup {} does not match the database {} ({total} difference{}):",
        backup.display(),
        source.display(),
        if total == 1 { "" } else { "s" }
    );
    for p in problems.iter().take(SHOWN) {
        msg.push_str("\n      ");
        msg.push_str(p);
    }
    if total > SHOWN {
        msg.push_str(&format!("\n      … and {} more", total - SHOWN));
    }
    specials.push(
        Finding::error(code::BACKUP_MISMATCH, msg)
            .path(backup.display())
            .hint(hint),
    );
    specials
}

fn kind(is_dir: bool) -> &'static str {
    if is_dir {
        "directory"
    } else {
        "file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("db/2024.01.02/t")).unwrap();
        fs::write(d.path().join("db/sym"), b"abc").unwrap();
        fs::write(d.path().join("db/2024.01.02/t/a"), b"12345678").unwrap();
        d
    }

    fn copy(from: &Path, to: &Path) {
        for e in list_tree(from).unwrap() {
            if e.is_dir {
                fs::create_dir_all(to.join(&e.rel)).unwrap();
            } else {
                fs::copy(from.join(&e.rel), to.join(&e.rel)).unwrap();
            }
        }
    }

    #[test]
    fn identical_copy_passes_even_deep() {
        let d = tree();
        copy(&d.path().join("db"), &d.path().join("bak"));
        assert!(check_backup(&d.path().join("db"), &d.path().join("bak"), true).is_empty());
    }

    #[test]
    fn missing_file_size_and_bytes_are_reported() {
        let d = tree();
        let (db, bak) = (d.path().join("db"), d.path().join("bak"));
        copy(&db, &bak);
        fs::write(bak.join("2024.01.02/t/a"), b"12345679").unwrap();
        assert!(check_backup(&db, &bak, false).is_empty());
        let deep = check_backup(&db, &bak, true);
        assert_eq!(deep.len(), 1);
        assert!(deep[0]
            .message
            .contains("2024.01.02/t/a has different bytes"));
        fs::remove_file(bak.join("sym")).unwrap();
        let f = check_backup(&db, &bak, false);
        assert!(
            f[0].message.contains("sym is missing from the backup"),
            "{}",
            f[0].message
        );
        assert_eq!(f[0].code, code::BACKUP_MISMATCH);
    }

    /// The one-pass comparison relies on both walks using `Path` order: a directory's contents
    /// (`a/x`) come before a sibling whose name extends it (`a.b`), and entries only in the
    /// backup are skipped over.
    #[test]
    fn one_pass_comparison_follows_path_order_and_allows_extra_backup_entries() {
        let t = tempfile::tempdir().unwrap();
        let (db, bak) = (t.path().join("db"), t.path().join("bak"));
        for root in [&db, &bak] {
            fs::create_dir_all(root.join("a")).unwrap();
            fs::write(root.join("a/x"), b"1").unwrap();
            fs::write(root.join("a.b"), b"22").unwrap();
            fs::write(root.join("b"), b"333").unwrap();
        }
        fs::write(bak.join("a0"), b"extra").unwrap();
        fs::create_dir(bak.join("zz")).unwrap();
        assert!(check_backup(&db, &bak, true).is_empty());
        fs::remove_file(bak.join("a/x")).unwrap();
        fs::remove_file(bak.join("b")).unwrap();
        fs::create_dir(bak.join("b")).unwrap();
        let f = check_backup(&db, &bak, false);
        assert_eq!(f.len(), 1);
        let m = &f[0].message;
        assert!(m.contains("(2 differences)"), "{m}");
        assert!(m.contains("a/x is missing from the backup"), "{m}");
        assert!(
            m.contains("b is a file in the database but a directory in the backup"),
            "{m}"
        );
    }

    #[test]
    fn missing_or_self_backup_is_refused() {
        let d = tree();
        let db = d.path().join("db");
        assert_eq!(
            check_backup(&db, &d.path().join("nope"), false)[0].code,
            code::BACKUP_MISSING
        );
        assert_eq!(check_backup(&db, &db, false)[0].code, code::BACKUP_MISSING);
    }
}
