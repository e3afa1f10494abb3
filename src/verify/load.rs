//! Loads a kdb+ root the way `\l` does: `par.txt` and its segments, or a plain partitioned root.

use crate::dates::{classify, PartitionName};
use crate::finding::{code, Finding};
use crate::inventory::{self, Inventory, RootMode};
pub use crate::par_txt::{parse_par_txt, Segment};
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct Loaded {
    pub root: PathBuf,
    /// Empty for a plain partitioned root.
    pub segments: Vec<Segment>,
    pub inventory: Inventory,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0} is not a directory: give the kdb+ root (the directory you would pass to q)")]
    NotARoot(String),
    #[error(transparent)]
    Inventory(#[from] inventory::InventoryError),
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Loads `root` except its local partitions, which are returned to be read (and checked one
/// by one: `check::read_and_evaluate`) by the caller.
pub fn load_root(
    root: &Path,
    s3: &crate::object::S3Options,
) -> Result<(Loaded, Vec<inventory::PartitionDir>), LoadError> {
    if !root.is_dir() {
        return Err(LoadError::NotARoot(root.display().to_string()));
    }
    // A root given as a symbolic link is loaded where it leads, as `q LINK` loads it (q
    // changes into the directory: relative par.txt entries resolve from there). The import's
    // own walk refuses a linked database (`InventoryError::Symlink`); verify only reads.
    let resolved;
    let dir = if fs::symlink_metadata(root).is_ok_and(|m| m.file_type().is_symlink()) {
        resolved = fs::canonicalize(root).map_err(|e| LoadError::Io {
            path: root.display().to_string(),
            source: e,
        })?;
        resolved.as_path()
    } else {
        root
    };
    let par = dir.join("par.txt");
    if !par.exists() {
        let (inventory, dirs) = inventory::scan_root(dir, RootMode::Partitioned)?;
        return Ok((
            Loaded {
                root: root.to_path_buf(),
                segments: Vec::new(),
                inventory,
            },
            dirs,
        ));
    }
    let text = crate::special::read_regular_to_string(&par).map_err(|e| LoadError::Io {
        path: par.display().to_string(),
        source: e,
    })?;
    let segments = parse_par_txt(dir, &text);
    let mut inventory = inventory::take_with(dir, RootMode::Segmented)?;
    let mut part_dirs: Vec<(String, PathBuf)> = Vec::new();
    if segments.is_empty() {
        inventory.findings.push(
            Finding::error(code::VERIFY_PAR_TXT, "par.txt lists no segment").path(par.display()),
        );
    }
    for seg in &segments {
        let Some(dir) = &seg.dir else {
            match load_object_segment(&seg.entry, s3) {
                Ok((oi, f)) => {
                    inventory.findings.extend(f);
                    inventory.object_tiers.push(oi);
                }
                Err(e) => inventory.findings.push(
                    Finding::error(
                        code::TIER_UNREACHABLE,
                        format!("segment {} in par.txt cannot be read: {e}", seg.entry),
                    )
                    .path(par.display()),
                ),
            }
            continue;
        };
        let entries = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) => {
                inventory.findings.push(
                    Finding::error(
                        code::VERIFY_PAR_TXT,
                        format!("segment {} listed in par.txt cannot be opened ({}): \\l fails", seg.entry, e),
                    )
                    .path(dir.display())
                    .hint("par.txt entries resolve from the root directory; check the path or symlink"),
                );
                continue;
            }
        };
        let mut names: Vec<_> = entries.filter_map(Result::ok).collect();
        names.sort_by_key(|e| e.file_name());
        for e in names {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with('$') {
                continue;
            }
            let p = e.path();
            // Segment entries are often symlinks (SM publishes partitions that way): follow them.
            let is_dir = p.is_dir();
            if is_dir && classify(&name) == PartitionName::Date {
                part_dirs.push((name, p));
            } else {
                inventory.findings.push(
                    Finding::error(
                        code::VERIFY_SEGMENT,
                        format!("segment {} holds {name}, which is not a date partition directory: a segment may hold only partitions, \\l fails", seg.entry),
                    )
                    .path(p.display())
                    .hint("move it out of the segment (names ending in $ are ignored)"),
                );
            }
        }
    }
    part_dirs.sort();
    for w in part_dirs.windows(2) {
        if w[0].0 == w[1].0 {
            inventory.findings.push(
                Finding::warning(
                    code::TIER_OVERLAP,
                    format!("partition {} appears in two segments; kdb+ combines them, the SM layout never does this", w[0].0),
                )
                .partition(&w[0].0),
            );
        }
    }
    let dirs = part_dirs
        .into_iter()
        .map(|(date, path)| {
            // Each partition is its own anchor: a segment's partitions are often symlinks.
            let anchor = fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            inventory::PartitionDir {
                date,
                path,
                anchor: anchor.into(),
                tier: None,
                overlay: None,
                stamp: false,
            }
        })
        .collect();
    Ok((
        Loaded {
            root: root.to_path_buf(),
            segments,
            inventory,
        },
        dirs,
    ))
}

/// An `s3://bucket/prefix` line of `par.txt`: listed and read through object_store.
fn load_object_segment(
    entry: &str,
    s3: &crate::object::S3Options,
) -> Result<(inventory::ObjectTierInv, Vec<Finding>), String> {
    let (bucket, prefix) = match crate::config::StoreUri::parse(entry) {
        Ok(crate::config::StoreUri::S3 { bucket, prefix }) => (bucket, prefix),
        Ok(_) | Err(_) => {
            return Err(format!(
                "{entry} is not an s3://bucket/prefix URI (the only object store kdb+ segments use here)"
            ))
        }
    };
    let tier = crate::object::open_s3(&bucket, &prefix, s3).map_err(|e| e.to_string())?;
    let oi = crate::object::take_object_inventory(&tier, entry).map_err(|e| e.to_string())?;
    Ok((
        inventory::ObjectTierInv {
            name: entry.to_string(),
            tier,
            partitions: oi.partitions,
        },
        oi.findings,
    ))
}
