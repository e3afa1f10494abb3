//! `verify --against ROOT2`: the root entries of ROOT2 that are symbolic links, followed as q
//! follows them when `\l` loads the root. A committed SM root, or a user's copy, may hold
//! `sym` as a link to the real file; compared as a link, it would be a false difference
//! ("of a different kind"), and its columns' symbols would resolve against no domain.
//!
//! ROOT2 is only read, never imported or written, so following a link out of it is safe
//! (the import's own walk never follows one: `inventory`). A link that leads nowhere (missing
//! target, loop), or to something that is not a file (a directory, a FIFO…), is an error
//! naming it; the comparison is then not made (it would report the link, not the data).

use crate::dates::{classify, PartitionName};
use crate::finding::{code, Finding};
use crate::inventory::{FileError, Inventory, Overlay, PartitionDir, PartitionInv, RootKind};
use crate::kdb::{self, FileFormat};
use std::fs;
use std::path::Path;
use std::sync::Arc;

/// What one root link of ROOT2 leads to.
#[derive(Debug)]
enum Followed {
    /// A regular file: read as `\l` reads it (a symbol list is an enumeration domain).
    File(RootKind),
    /// A directory named like a date, in a root without `par.txt`: a partition, read where
    /// it leads (its canonical path).
    Partition(std::path::PathBuf),
    /// Leads nowhere, or to no file: why, for the finding.
    Refused { why: String, hint: &'static str },
}

fn follow(path: &Path, partition_name: bool) -> Followed {
    let md = match fs::metadata(path) {
        Ok(md) => md,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Followed::Refused {
                why: "a symbolic link loop: following it never reaches a file (q's `\\l` of that root fails on it too)".into(),
                hint: "point the link at the file it stands for (or put the file in its place), then run verify again",
            }
        }
        Err(e) => {
            return Followed::Refused {
                why: format!(
                    "a symbolic link that leads nowhere ({}: q's `\\l` of that root fails on it too)",
                    e.kind()
                ),
                hint: "point the link at the file it stands for (or put the file in its place), then run verify again",
            }
        }
    };
    if md.is_dir() && partition_name {
        if let Ok(dir) = fs::canonicalize(path) {
            return Followed::Partition(dir);
        }
    }
    if md.is_dir() {
        return Followed::Refused {
            why: "a symbolic link to a directory: verify --against follows links to root files (an enumeration domain such as sym, a serialized object) and to date partitions, not to other directories (a splayed table) yet".into(),
            hint: "compare against a copy of ROOT2 with the directory in place of the link (`cp -rL`), or against the directory's own root",
        };
    }
    if !md.is_file() {
        return Followed::Refused {
            why: "a symbolic link to a special file (a FIFO, socket or device), not a file".into(),
            hint: "point the link at the file it stands for (or put the file in its place), then run verify again",
        };
    }
    let kind = match crate::inventory::read_file_header(path) {
        Ok((h, _)) if h.format == FileFormat::SymbolList => match kdb::read_symbols(path) {
            Ok(symbols) => RootKind::Domain { symbols },
            Err(e) => RootKind::File {
                header: Err(FileError::from_kdb(&e)),
            },
        },
        header => RootKind::File {
            header: header.map(|(h, _)| h),
        },
    };
    Followed::File(kind)
}

/// Replaces each root link of `inv` (ROOT2's) by what it leads to: a file by its root entry,
/// a date partition's directory (in a root without `par.txt`, `segmented` false) by a
/// partition of `dirs`. Returns the links followed (`name -> target`, for the summary) and
/// one error per link that leads to no file.
pub fn follow_root_links(
    inv: &mut Inventory,
    dirs: &mut Vec<PartitionDir>,
    segmented: bool,
) -> (Vec<String>, Vec<Finding>) {
    let mut followed = Vec::new();
    let mut refused = Vec::new();
    let mut root = Vec::with_capacity(inv.root.len());
    for mut r in std::mem::take(&mut inv.root) {
        if !matches!(r.kind, RootKind::Symlink) {
            root.push(r);
            continue;
        }
        let target = fs::read_link(&r.path)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "?".into());
        let partition_name = !segmented && classify(&r.name) == PartitionName::Date;
        match follow(&r.path, partition_name) {
            Followed::File(kind) => {
                r.kind = kind;
                followed.push(format!("{} -> {target}", r.name));
                root.push(r);
            }
            Followed::Partition(dir) => {
                followed.push(format!("{} -> {target}", r.name));
                dirs.push(PartitionDir {
                    date: r.name,
                    path: r.path,
                    anchor: Arc::from(dir.as_path()),
                    tier: None,
                    overlay: None,
                    stamp: false,
                });
            }
            Followed::Refused { why, hint } => {
                refused.push(
                    Finding::error(
                        code::LOAD_UNREADABLE,
                        format!(
                            "cannot compare with {}: its root entry {} (-> {target}) is {why}",
                            inv.source.display(),
                            r.name
                        ),
                    )
                    .path(r.path.display())
                    .hint(hint),
                );
                root.push(r);
            }
        }
    }
    inv.root = root;
    dirs.sort_by(|a, b| a.date.cmp(&b.date));
    (followed, refused)
}

/// The overlay that reads each partition of ROOT2 with its table links followed, as q follows
/// them: a link to a directory is read as the table it leads to (under the link's name).
/// Followed where it leads (its canonical path), so that no read goes through a link.
pub fn follow_table_links() -> Overlay {
    Overlay(Arc::new(|part: &mut PartitionInv| {
        for l in std::mem::take(&mut part.links) {
            match fs::canonicalize(&l.path) {
                Ok(dir) if l.leads_to_dir => {
                    let mut walk = Vec::new();
                    part.tables
                        .push(crate::inventory::read_table(&l.name, &dir, &dir, &mut walk));
                }
                _ => part.links.push(l),
            }
        }
        part.tables
            .sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn inv_of(root: &Path) -> Inventory {
        crate::inventory::scan_root(root, crate::inventory::RootMode::Partitioned)
            .unwrap()
            .0
    }

    /// A link to a symbol list becomes the domain it leads to; a link to another file becomes
    /// that file; links that lead nowhere, in a loop or to a directory are refused by name.
    #[test]
    fn links_to_files_are_followed_and_the_others_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let (root, real) = (dir.path().join("root"), dir.path().join("real"));
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&real).unwrap();
        let syms = vec!["a".to_string(), "b".to_string()];
        kdb::write::write_symbols(&real.join("sym"), &syms, kdb::write::HeaderCount::Set).unwrap();
        fs::write(real.join("notes"), "text\n").unwrap();
        symlink(real.join("sym"), root.join("sym")).unwrap();
        symlink("../real/notes", root.join("notes")).unwrap();
        symlink(real.join("missing"), root.join("gone")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        symlink(&real, root.join("dir")).unwrap();
        let mut inv = inv_of(&root);
        let (followed, refused) = follow_root_links(&mut inv, &mut Vec::new(), false);
        assert_eq!(
            followed,
            [
                "notes -> ../real/notes".to_string(),
                format!("sym -> {}", real.join("sym").display())
            ]
        );
        assert_eq!(inv.domain("sym"), Some(syms.as_slice()));
        let notes = inv.root.iter().find(|r| r.name == "notes").unwrap();
        assert!(matches!(notes.kind, RootKind::File { .. }));
        let refused: Vec<(&str, &str)> = refused
            .iter()
            .map(|f| {
                let m = f.message.as_str();
                let name = ["dir", "gone", "loop"]
                    .into_iter()
                    .find(|n| m.contains(&format!("root entry {n} (-> ")))
                    .unwrap_or("?");
                let why = if m.contains("leads nowhere") {
                    "nowhere"
                } else if m.contains("loop") {
                    "loop"
                } else if m.contains("to a directory") {
                    "directory"
                } else {
                    "?"
                };
                (name, why)
            })
            .collect();
        assert_eq!(
            refused,
            [("dir", "directory"), ("gone", "nowhere"), ("loop", "loop")]
        );
    }
}
