//! Remedies on a segmented database (`data/par.txt`, each segment the store of one local tier).
//!
//! The plan names a segment's partitions through the store's anchor (`stores/<tier>/<date>`,
//! docs/sm-layout.md "Segmented databases"), which only the commit creates: here a partition's
//! directory on disk and its plan path are translated both ways ([`Anchors`]), and what the
//! remedies cannot do on a segmented database yet is refused by name ([`refusals`]).
//!
//! Where a segment's staged files live: in the one staging area of the baseURI
//! (`<baseURI>/.smstage/stage/<stage_id>/stores/<tier>/<date>/…`), not inside the segment. A
//! segment holds only date partitions (kdb+ requires it; `check` refuses anything else there
//! and the commit's preflight refuses an entry of a store the plan does not move), and its
//! entries are in the plan's fingerprint: a staging directory inside it would be all three. So
//! a segment's remedies are staged only when the segment shares the baseURI's filesystem, where
//! each commit step stays one rename(2); a segment on another filesystem is refused with
//! `remedy-refused` (naming it) before anything is written.

use super::spec::Remedy;
use crate::config::{AssemblyConfig, StoreUri};
use crate::finding::{code, Finding};
use crate::plan::{Plan, TierKind};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Each local segment's directory (symlinks resolved) and its anchor, relative to the baseURI
/// (`stores/<tier>`). Empty for a plain database: every path is then the baseURI's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Anchors(Vec<(PathBuf, String)>);

impl Anchors {
    /// The anchors of `config`'s local HDB tiers when the database under `base` is segmented.
    pub fn of_config(config: &AssemblyConfig, base: &Path) -> Anchors {
        if !crate::check::is_segmented(&base.join(crate::plan::SOURCE_DIR)) {
            return Anchors::default();
        }
        let Ok(tiers) = crate::check::hdb_tiers(config) else {
            return Anchors::default();
        };
        Anchors(
            tiers
                .iter()
                .filter(|t| t.kind == TierKind::Local)
                .filter_map(|t| match StoreUri::parse(&t.store) {
                    Ok(StoreUri::File(p)) => Some((
                        fs::canonicalize(&p).unwrap_or(p),
                        crate::plan::store_anchor(&t.name),
                    )),
                    _ => None,
                })
                .collect(),
        )
    }

    /// The anchors of a segmented plan (its stores).
    pub fn of_plan(plan: &Plan) -> Anchors {
        Anchors(
            plan.stores
                .iter()
                .map(|s| (s.dir.clone(), s.path.clone()))
                .collect(),
        )
    }

    /// `abs` (a directory on disk) as the plan names it: below a segment, through its anchor;
    /// otherwise relative to `base`.
    pub fn rel(&self, base: &Path, abs: &Path) -> String {
        for (dir, anchor) in &self.0 {
            if let Ok(rest) = abs.strip_prefix(dir) {
                return if rest.as_os_str().is_empty() {
                    anchor.clone()
                } else {
                    format!("{anchor}/{}", rest.to_string_lossy())
                };
            }
        }
        abs.strip_prefix(base)
            .unwrap_or(abs)
            .to_string_lossy()
            .into_owned()
    }

    /// Where the plan path `rel` is on disk before the commit (below an anchor, which does not
    /// exist yet, it is in the segment itself).
    pub fn original(&self, base: &Path, rel: &str) -> PathBuf {
        for (dir, anchor) in &self.0 {
            if let Some(rest) = rel.strip_prefix(anchor.as_str()) {
                if rest.is_empty() {
                    return dir.clone();
                }
                if let Some(rest) = rest.strip_prefix('/') {
                    return dir.join(rest);
                }
            }
        }
        base.join(rel)
    }

    /// Whether `rel` lies strictly below one of the anchors.
    pub fn contains(&self, rel: &str) -> bool {
        self.0.iter().any(|(_, a)| {
            rel.len() > a.len() && rel.starts_with(a.as_str()) && rel.as_bytes()[a.len()] == b'/'
        })
    }

    /// The segments (directory, anchor).
    pub fn iter(&self) -> impl Iterator<Item = &(PathBuf, String)> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What the remedies `given` cannot do on the segmented database under `base` yet, each a
/// `remedy-refused` finding saying which and why (nothing is read or written for them):
/// set-aside and one-sym (their moves and rewrites are planned for a plain root only), and any
/// remedy while a segment is on another filesystem than the baseURI (its staged files could not
/// be renamed into it: see the module's note).
pub fn refusals(base: &Path, anchors: &Anchors, given: &[Remedy]) -> Vec<Finding> {
    let mut out = Vec::new();
    if anchors.is_empty() || given.is_empty() {
        return out;
    }
    let source = base.join(crate::plan::SOURCE_DIR);
    for r in given {
        let why = match r {
            Remedy::SetAside => "set-aside moves stray entries of a plain database's root and partitions into <baseURI>/smstage-aside/; on a segmented database a segment's strays would have to move across segments (and filesystems)",
            Remedy::OneSym => "one-sym rewrites columns of every partition against the root's sym; on a segmented database that is not planned yet",
            _ => continue,
        };
        out.push(
            Finding::error(
                code::REMEDY_REFUSED,
                format!("--remedy {r}: not available for a segmented database (par.txt) yet: {why}"),
            )
            .path(source.join("par.txt").display())
            .hint("drop this --remedy (derive-prtncol, fill-tables and add-columns work on segmented databases), or fix the database by hand"),
        );
    }
    let base_dev = fs::metadata(base).map(|m| m.dev()).ok();
    for (dir, anchor) in anchors.iter() {
        let dev = fs::metadata(dir).map(|m| m.dev()).ok();
        if base_dev.is_some() && dev.is_some() && dev != base_dev {
            out.push(
                Finding::error(
                    code::REMEDY_REFUSED,
                    format!(
                        "segment {} ({anchor}) is on another filesystem than the baseURI {}: the remedies stage their files under {}/.smstage/stage/ and the commit places each with rename(2), which cannot cross filesystems",
                        dir.display(),
                        base.display(),
                        base.display()
                    ),
                )
                .tier(anchor.rsplit('/').next().unwrap_or_default())
                .path(dir.display())
                .hint("import without --remedy (fix the tables with q first), or move the segment onto the baseURI's filesystem"),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchors() -> Anchors {
        Anchors(vec![
            ("/mnt/ssd/seg".into(), "stores/fast".into()),
            ("/srv/hdb/seg2".into(), "stores/slow".into()),
        ])
    }

    #[test]
    fn a_segment_path_is_named_through_its_anchor_and_back() {
        let a = anchors();
        let base = Path::new("/srv/hdb");
        let abs = Path::new("/mnt/ssd/seg/2024.01.02/trade");
        let rel = a.rel(base, abs);
        assert_eq!(rel, "stores/fast/2024.01.02/trade");
        assert_eq!(a.original(base, &rel), abs);
        assert_eq!(a.rel(base, Path::new("/srv/hdb/seg2")), "stores/slow");
        assert!(a.contains("stores/slow/2024.01.03"));
        assert!(!a.contains("stores/slow"));
        assert!(!a.contains("stores/slowest/x"));
        // Outside every segment: relative to the baseURI, as for a plain database.
        assert_eq!(a.rel(base, Path::new("/srv/hdb/data/sym")), "data/sym");
        assert_eq!(
            a.original(base, "data/2024.01.02/t"),
            Path::new("/srv/hdb/data/2024.01.02/t")
        );
        // A prefix of a name is not its segment.
        assert_eq!(
            a.original(base, "stores/slower/x"),
            Path::new("/srv/hdb/stores/slower/x")
        );
    }

    #[test]
    fn set_aside_and_one_sym_are_refused_by_name_on_a_segmented_database_only() {
        let tmp = tempfile::tempdir().unwrap();
        let seg = tmp.path().join("seg1");
        fs::create_dir(&seg).unwrap();
        let a = Anchors(vec![(seg, "stores/seg1".into())]);
        let given = vec![
            Remedy::SetAside,
            Remedy::OneSym,
            Remedy::FillTables,
            Remedy::AddColumns,
        ];
        let r = refusals(tmp.path(), &a, &given);
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(
            r[0].message.contains("--remedy set-aside"),
            "{}",
            r[0].message
        );
        assert!(
            r[1].message.contains("--remedy one-sym"),
            "{}",
            r[1].message
        );
        assert!(r.iter().all(|f| f.code == code::REMEDY_REFUSED));
        // Plain database: nothing refused here.
        assert!(refusals(tmp.path(), &Anchors::default(), &given).is_empty());
    }
}
