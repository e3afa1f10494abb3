//! The plan a saved plan file must hold, derived again from the file's own fingerprint and the
//! configuration by the planner: a plan file is served and committed for what it says only if
//! the planner says the same. `plan_id` is a sha256 of the file's content, which anyone can
//! recompute after an edit; the fingerprint cannot be edited without the view or the commit
//! seeing drift, so the plan is checked against it.
//!
//! Pure but for `par.txt` of a segmented database (one small file; the fingerprint holds only
//! its size and time) and the `realpath` of each local tier store: no header is read and
//! nothing is walked, so `mount --plan` stays fast.

use crate::check::hdb_tiers;
use crate::config::AssemblyConfig;
use crate::dates::{classify, PartitionName};
use crate::plan::fingerprint::{Entries, FsKind, DATABASE_ENTRY};
use crate::plan::SavedPlan;
use crate::plan::{
    build, build_segmented, Plan, PlanInput, RootEntry, SegmentInput, SegmentedInput, TierInput,
    TierKind,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Why the saved plan is not the one its fingerprint and configuration give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    /// The first difference, in words.
    pub why: String,
}

/// Top-level entries of a fingerprint: (name, kind).
fn top_level(entries: &Entries) -> Vec<(String, FsKind)> {
    let mut out = Vec::new();
    entries.for_each_ref(|e| {
        if e.path != DATABASE_ENTRY && !e.path.contains('/') {
            out.push((e.path.to_string(), e.kind));
        }
    });
    out
}

fn is_date_dir(name: &str, kind: FsKind) -> bool {
    kind == FsKind::Dir && classify(name) == PartitionName::Date
}

/// Entries of the root that move into the new root, as the inventory lists them: everything
/// but partition-like directories (date partitions are placed; other partition names are
/// refused by the checks), and in a segmented root `par.txt` and names ending in `$`.
fn root_entries(top: &[(String, FsKind)], segmented: bool) -> Vec<RootEntry> {
    top.iter()
        .filter(|(n, k)| !(*k == FsKind::Dir && classify(n) != PartitionName::Other))
        .filter(|(n, _)| !(segmented && (n == "par.txt" || n.ends_with('$'))))
        .map(|(name, kind)| RootEntry {
            name: name.clone(),
            is_dir: *kind == FsKind::Dir,
        })
        .collect()
}

/// (date, tier) of every partition the object stamps hold, as the object inventory finds them
/// (the first component of a key below the prefix, when it is a date).
fn object_partitions(saved: &SavedPlan) -> Vec<(String, String)> {
    let set: BTreeSet<(String, String)> = saved
        .fingerprint
        .objects
        .iter()
        .filter_map(|o| {
            let (date, _) = o.key.split_once('/')?;
            (classify(date) == PartitionName::Date).then(|| (date.to_string(), o.tier.clone()))
        })
        .collect();
    // The planner sorts what it is given by date; keep the tiers' order for equal dates.
    set.into_iter().collect()
}

fn segments(
    saved: &SavedPlan,
    tiers: &[TierInput],
    source: &Path,
) -> Result<Vec<SegmentInput>, String> {
    let text = crate::special::read_regular_to_string(&source.join("par.txt"))
        .map_err(|e| format!("{}/par.txt cannot be read: {e}", source.display()))?;
    let mut out = Vec::new();
    for seg in crate::verify::parse_par_txt(source, &text) {
        let Some(dir) = seg.dir else { continue };
        let canon = std::fs::canonicalize(&dir).unwrap_or(dir);
        let tier = tiers.iter().find(|t| {
            t.kind == TierKind::Local
                && crate::config::StoreUri::parse(&t.store)
                    .ok()
                    .and_then(|u| match u {
                        crate::config::StoreUri::File(p) => std::fs::canonicalize(p).ok(),
                        _ => None,
                    })
                    == Some(canon.clone())
        });
        let Some(tier) = tier else { continue };
        let partitions = saved
            .fingerprint
            .segments
            .iter()
            .find(|s| s.dir == canon)
            .map(|s| {
                top_level(&s.entries)
                    .into_iter()
                    .filter(|(n, k)| is_date_dir(n, *k))
                    .map(|(n, _)| n)
                    .collect()
            })
            .unwrap_or_default();
        out.push(SegmentInput {
            tier: tier.name.clone(),
            dir: canon,
            par_entry: seg.entry,
            partitions,
        });
    }
    Ok(out)
}

/// The plan the planner derives from `saved`'s fingerprint and `cfg`.
pub fn derive(saved: &SavedPlan, cfg: &AssemblyConfig) -> Result<Plan, String> {
    let base: PathBuf = cfg.hdb_base_dir().map_err(|e| e.to_string())?;
    let tiers = hdb_tiers(cfg).map_err(|e| e.to_string())?;
    let mut plan = derive_from(saved, base, tiers)?;
    // The remedies' staged files go where the saved plan says (each checked for its size and
    // sha256 by the drift check, and each must lie in the plan's own staging directory).
    crate::remedy::run::reapply(&mut plan, &saved.plan, &saved.fingerprint)?;
    Ok(plan)
}

/// [`derive`] with the configuration's baseURI and HDB tiers given.
fn derive_from(saved: &SavedPlan, base: PathBuf, tiers: Vec<TierInput>) -> Result<Plan, String> {
    let top = top_level(&saved.fingerprint.entries);
    let segmented = top.iter().any(|(n, _)| n == "par.txt");
    let object_partitions = object_partitions(saved);
    let built = if segmented {
        let source = saved.fingerprint.database.clone();
        build_segmented(&SegmentedInput {
            base,
            root_entries: root_entries(&top, true),
            segments: segments(saved, &tiers, &source)?,
            tiers,
            object_partitions,
        })
    } else {
        build(&PlanInput {
            base,
            root_entries: root_entries(&top, false),
            local_partitions: top
                .iter()
                .filter(|(n, k)| is_date_dir(n, *k))
                .map(|(n, _)| n.clone())
                .collect(),
            tiers,
            object_partitions,
        })
    };
    built.map_err(|e| e.to_string())
}

/// The first difference between the saved plan and the derived one, in words.
fn first_difference(saved: &Plan, derived: &Plan) -> String {
    if saved.base != derived.base || saved.source != derived.source || saved.root != derived.root {
        return format!(
            "it converts {}/{} into {}/{}, the database is {}/{} into {}/{}",
            saved.base.display(),
            saved.source,
            saved.base.display(),
            saved.root,
            derived.base.display(),
            derived.source,
            derived.base.display(),
            derived.root
        );
    }
    if saved.par_txt != derived.par_txt {
        return format!(
            "its par.txt is {:?}, the configuration gives {:?}",
            saved.par_txt, derived.par_txt
        );
    }
    if saved.partitions != derived.partitions {
        let s: BTreeSet<_> = saved.partitions.iter().map(|p| &p.date).collect();
        let d: BTreeSet<_> = derived.partitions.iter().map(|p| &p.date).collect();
        if let Some(gone) = d.difference(&s).next() {
            return format!("it leaves out partition {gone}, which the database holds");
        }
        if let Some(extra) = s.difference(&d).next() {
            return format!("it lists partition {extra}, which the database does not hold");
        }
        if let Some((a, _)) = saved
            .partitions
            .iter()
            .zip(&derived.partitions)
            .find(|(a, b)| a != b)
        {
            return format!(
                "partition {} is placed differently (from {} to {})",
                a.date,
                a.from,
                a.to.as_deref().unwrap_or("-")
            );
        }
    }
    for (a, b) in saved.nodes.iter().zip(&derived.nodes) {
        if a != b {
            return format!(
                "its node {} is {:?}, the planner makes {} {:?}",
                a.path, a.kind, b.path, b.kind
            );
        }
    }
    if saved.nodes.len() != derived.nodes.len() {
        return format!(
            "it has {} nodes, the planner makes {}",
            saved.nodes.len(),
            derived.nodes.len()
        );
    }
    "its tiers or segment stores differ from the configuration's".into()
}

/// Refuses a saved plan that is not what its fingerprint and the configuration give.
pub fn check_not_edited(saved: &SavedPlan, cfg: &AssemblyConfig) -> Result<(), Edited> {
    compare(saved, derive(saved, cfg))
}

fn compare(saved: &SavedPlan, derived: Result<Plan, String>) -> Result<(), Edited> {
    let derived = derived.map_err(|e| Edited {
        why: format!("the planner cannot derive a plan from its fingerprint: {e}"),
    })?;
    if derived == saved.plan {
        return Ok(());
    }
    Err(Edited {
        why: first_difference(&saved.plan, &derived),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fingerprint::{ConfigStamp, Fingerprint, FsEntry, FINGERPRINT_VERSION};
    use crate::plan::NodeKind;

    fn entry(path: &str, kind: FsKind) -> FsEntry {
        FsEntry {
            path: path.into(),
            kind,
            size: 0,
            mtime_ns: 0,
            inode: 1,
            target: None,
            ctime_ns: None,
        }
    }

    fn tiers() -> Vec<TierInput> {
        vec![TierInput {
            name: "hdb".into(),
            kind: TierKind::Local,
            store: "file:///b/data".into(),
        }]
    }

    /// A database with two partitions, a domain and a splayed table, and its true plan.
    fn saved() -> SavedPlan {
        let plan = build(&PlanInput {
            base: "/b".into(),
            root_entries: vec![
                RootEntry {
                    name: "splay".into(),
                    is_dir: true,
                },
                RootEntry {
                    name: "sym".into(),
                    is_dir: false,
                },
            ],
            tiers: tiers(),
            local_partitions: vec!["2024.01.02".into(), "2024.01.03".into()],
            object_partitions: vec![],
        })
        .unwrap();
        let entries = [
            entry(".", FsKind::Dir),
            entry("2024.01.02", FsKind::Dir),
            entry("2024.01.02/t", FsKind::Dir),
            entry("2024.01.02/t/a", FsKind::File),
            entry("2024.01.03", FsKind::Dir),
            entry("splay", FsKind::Dir),
            entry("splay/.d", FsKind::File),
            entry("sym", FsKind::File),
        ]
        .into_iter()
        .collect();
        SavedPlan::new(
            plan,
            Fingerprint {
                version: FINGERPRINT_VERSION,
                host: "h".into(),
                database: "/b/data".into(),
                database_dev: 1,
                database_ino: 1,
                config: ConfigStamp {
                    path: "/b/a.yaml".into(),
                    sha256: String::new(),
                },
                entries,
                objects: vec![],
                segments: vec![],
            },
        )
    }

    fn check(s: &SavedPlan) -> Result<(), Edited> {
        compare(s, derive_from(s, "/b".into(), tiers()))
    }

    #[test]
    fn the_saved_plan_is_what_its_fingerprint_gives() {
        assert_eq!(check(&saved()), Ok(()));
    }

    #[test]
    fn an_edited_plan_is_refused_naming_the_first_difference() {
        let mut s = saved();
        s.plan.partitions.remove(0);
        assert!(check(&s)
            .unwrap_err()
            .why
            .contains("leaves out partition 2024.01.02"));

        let mut s = saved();
        s.plan.par_txt = "/etc\n".into();
        assert!(check(&s).unwrap_err().why.contains("par.txt"));

        let mut s = saved();
        for n in &mut s.plan.nodes {
            if let NodeKind::Moved { from, .. } = &mut n.kind {
                if from == "data/sym" {
                    *from = "a.yaml".into();
                }
            }
        }
        let why = check(&s).unwrap_err().why;
        assert!(why.contains("db/sym") && why.contains("a.yaml"), "{why}");

        let mut s = saved();
        s.plan.base = "/elsewhere".into();
        assert!(check(&s).unwrap_err().why.contains("/elsewhere"));
    }
}
