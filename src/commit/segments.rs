//! What the commit checks and records for the segment stores of a segmented database (their
//! partitions are renamed in place, inside each store, on the store's own filesystem).

use super::fsutil::{io_err, times_of, Times};
use super::CommitError;
use crate::plan::Plan;
use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

/// Where the original entry `rel` (a plan path, relative to `base`) is before the commit: below
/// a store's anchor, which does not exist yet, it is in the store itself.
pub(crate) fn original_path(plan: &Plan, rel: &str) -> PathBuf {
    for s in &plan.stores {
        if let Some(rest) = rel.strip_prefix(s.path.as_str()) {
            if rest.is_empty() {
                return s.dir.clone();
            }
            if let Some(rest) = rest.strip_prefix('/') {
                return s.dir.join(rest);
            }
        }
    }
    plan.base.join(rel)
}

/// Preflight of the stores: each is a directory holding nothing but the partitions the plan
/// moves (anything else would be left behind, and the end state would not be the plan).
/// Returns the times rollback restores: each store directory and each partition's top.
///
/// They are recorded by ABSOLUTE path: rollback restores times last, after it has removed the
/// anchors (`stores/<tier>`) through which the steps reach the stores.
pub(crate) fn preflight_stores(
    plan: &Plan,
    covered: &BTreeSet<String>,
) -> Result<Vec<(String, Times)>, CommitError> {
    let mut times = Vec::new();
    for store in &plan.stores {
        let dir = &store.dir;
        let md = fs::symlink_metadata(dir).map_err(io_err("lstat store", dir))?;
        if !md.is_dir() {
            return Err(CommitError::Preflight(format!(
                "the store of tier {} at {} is not a directory",
                store.tier,
                dir.display()
            )));
        }
        times.push((dir.display().to_string(), times_of(&md)));
        for e in fs::read_dir(dir).map_err(io_err("readdir", dir))? {
            let e = e.map_err(io_err("readdir", dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = format!("{}/{name}", store.path);
            if !covered.contains(&rel) {
                return Err(CommitError::Preflight(format!(
                    "{} (segment of tier {}) is not accounted for by the plan; the commit would leave it behind",
                    e.path().display(),
                    store.tier
                )));
            }
            let p = e.path();
            let md = fs::symlink_metadata(&p).map_err(io_err("lstat", &p))?;
            if md.is_dir() {
                times.push((p.display().to_string(), times_of(&md)));
            }
        }
    }
    Ok(times)
}

#[cfg(test)]
mod tests {
    use crate::commit::{waves, Step};
    use crate::plan::{
        build_segmented, RootEntry, SegmentInput, SegmentedInput, TierInput, TierKind,
    };

    fn plan() -> crate::plan::Plan {
        build_segmented(&SegmentedInput {
            base: "/b".into(),
            root_entries: vec![RootEntry {
                name: "sym".into(),
                is_dir: false,
            }],
            tiers: ["s1", "s2"]
                .iter()
                .map(|t| TierInput {
                    name: t.to_string(),
                    kind: TierKind::Local,
                    store: format!("file:///x/{t}"),
                })
                .collect(),
            segments: vec![
                SegmentInput {
                    tier: "s1".into(),
                    dir: "/b/seg1".into(),
                    par_entry: "../seg1".into(),
                    partitions: vec!["2024.01.02".into()],
                },
                SegmentInput {
                    tier: "s2".into(),
                    dir: "/mnt/seg2".into(),
                    par_entry: "/mnt/seg2".into(),
                    partitions: vec!["2024.01.03".into()],
                },
            ],
            object_partitions: vec![],
        })
        .unwrap()
    }

    #[test]
    fn anchors_come_first_and_partitions_move_inside_their_store() {
        let w = waves(&plan()).unwrap();
        assert_eq!(
            w[0],
            [Step::Mkdir {
                path: "stores".into()
            }]
        );
        assert_eq!(
            w[1],
            [
                Step::Symlink {
                    path: "stores/s1".into(),
                    target: "../seg1".into()
                },
                Step::Symlink {
                    path: "stores/s2".into(),
                    target: "/mnt/seg2".into()
                }
            ]
        );
        let all = w.concat();
        // Staged links point where the partition is now, through the anchor.
        assert!(all.contains(&Step::Symlink {
            path: ".db.smstage-staging/s2$/2024.01.03".into(),
            target: "../../stores/s2/2024.01.03".into()
        }));
        assert!(all.contains(&Step::Symlink {
            path: "stores/s2/versions/2024.01.03/1".into(),
            target: "versions/2024.01.03/1".into()
        }));
        assert!(all.contains(&Step::Exchange {
            a: "stores/s2/2024.01.03".into(),
            b: "stores/s2/versions/2024.01.03/1".into()
        }));
        // The original par.txt is never touched.
        assert!(!all
            .iter()
            .any(|s| s.label().contains("par.txt") && !s.label().contains("db")));
        let publish = all
            .iter()
            .position(|s| matches!(s, Step::Rename { .. }))
            .unwrap();
        let first_exchange = all
            .iter()
            .position(|s| matches!(s, Step::Exchange { .. }))
            .unwrap();
        assert!(publish < first_exchange);
    }
}
