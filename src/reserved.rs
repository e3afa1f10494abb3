//! The directories an import reads or writes: the database (`<baseURI>/data`), the future
//! kdb+ root, the segment anchors, the commit's staging area and every local tier store (a
//! segment). A plan file saved there would change what it describes; a view mounted there would
//! contain itself (its server would walk into its own mount and hang its readers). Both are
//! refused before anything else runs.
//!
//! The baseURI directory itself is not reserved: it is where `smstage gen` and `smstage init`
//! put the assembly file, and the import never lists it.

use crate::config::{AssemblyConfig, StoreUri};
use std::path::{Path, PathBuf};

/// One reserved directory, canonical when it exists, with what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reserved {
    pub what: &'static str,
    pub dir: PathBuf,
}

/// Every reserved directory of the configuration, plus `segments` (a segmented database's
/// segment directories, from a plan).
pub fn reserved_dirs(cfg: &AssemblyConfig, segments: &[PathBuf]) -> Vec<Reserved> {
    let mut out = Vec::new();
    if let Ok(base) = cfg.hdb_base_dir() {
        out.push(("the database", base.join(crate::plan::SOURCE_DIR)));
        out.push(("the future kdb+ root", base.join(crate::plan::ROOT_DIR)));
        out.push(("the segment anchors", base.join(crate::plan::STORES_DIR)));
        out.push((
            "the commit's staging area",
            base.join(crate::commit::staging_name(crate::plan::ROOT_DIR)),
        ));
    }
    for t in &cfg.tiers {
        if let Some(StoreUri::File(dir)) = &t.store {
            out.push(("a local tier's store (segment)", dir.clone()));
        }
    }
    for s in segments {
        out.push(("a segment of the database", s.clone()));
    }
    out.into_iter()
        .map(|(what, d)| Reserved {
            what,
            dir: std::fs::canonicalize(&d).unwrap_or(d),
        })
        .collect()
}

/// `path` made absolute with the symlinks of its existing ancestors resolved: the path (and
/// some of its directories) may not exist yet, and a link at the path itself is kept as is.
pub fn resolved(path: &Path) -> PathBuf {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut rest = Vec::new();
    let mut cur = abs.parent().map(Path::to_path_buf);
    if let Some(name) = abs.file_name() {
        rest.push(name.to_os_string());
    }
    while let Some(dir) = cur {
        if let Ok(c) = std::fs::canonicalize(&dir) {
            let mut out = c;
            for r in rest.iter().rev() {
                out.push(r);
            }
            return out;
        }
        if let Some(name) = dir.file_name() {
            rest.push(name.to_os_string());
        }
        cur = dir.parent().map(Path::to_path_buf);
    }
    abs
}

/// The reserved directory `path` lies in (or is), if any.
pub fn containing<'a>(path: &Path, reserved: &'a [Reserved]) -> Option<&'a Reserved> {
    let abs = resolved(path);
    reserved.iter().find(|r| abs.starts_with(&r.dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_placed_through_its_existing_ancestors_links() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, d.path().join("link")).unwrap();
        let canon = std::fs::canonicalize(&real).unwrap();
        assert_eq!(resolved(&d.path().join("link/a/b")), canon.join("a/b"));
        let reserved = vec![Reserved {
            what: "the database",
            dir: canon.join("a"),
        }];
        assert!(containing(&d.path().join("link/a/b"), &reserved).is_some());
        assert!(containing(&d.path().join("link/a"), &reserved).is_some());
        assert!(containing(&d.path().join("link/ab"), &reserved).is_none());
    }
}
