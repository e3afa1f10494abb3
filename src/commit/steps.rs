//! The commit as a list of steps, derived purely from the [`Plan`] (no I/O).
//!
//! The executor (`exec.rs`) runs these in order; every step is idempotent or detectably done
//! and has an inverse (`rollback.rs`). The order keeps the database loadable at every instant:
//! see docs/journal.md.

use super::fsutil::{normalize, parent_of, relative};
use super::CommitError;
use crate::plan::{NodeKind, Plan};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One durable change of the tree. Paths are relative to the plan's `base`, `/`-separated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Step {
    /// Create a directory (no-op if it already existed before the commit started).
    Mkdir { path: String },
    /// Write a generated file: temporary name, fsync, rename.
    WriteFileAtomic { path: String, contents: String },
    /// Create a symbolic link.
    Symlink { path: String, target: String },
    /// Give the tree at `from` a second name `to`: hard links (same filesystem) or verified
    /// copies (across filesystems). Directories are created, never linked.
    Replicate { from: String, to: String },
    /// Atomically rename `from` to `to`, failing if `to` exists (RENAME_NOREPLACE).
    Rename { from: String, to: String },
    /// Atomically swap `a` (a real directory) and `b` (a symlink) with RENAME_EXCHANGE.
    Exchange { a: String, b: String },
    /// Point the symlink `path` at `target` (was `old_target`): temporary symlink + rename.
    ReplaceSymlink {
        path: String,
        target: String,
        old_target: String,
    },
    /// Remove the symlink `path` (whose target is `target`).
    UnlinkSymlink { path: String, target: String },
    /// Remove the original names of the tree at `path`, each checked against `replica` first.
    RemoveTree { path: String, replica: String },
}

impl Step {
    /// Short human label for logs and progress.
    pub fn label(&self) -> String {
        match self {
            Step::Mkdir { path } => format!("mkdir {path}"),
            Step::WriteFileAtomic { path, .. } => format!("write {path}"),
            Step::Symlink { path, target } => format!("symlink {path} -> {target}"),
            Step::Replicate { from, to } => format!("replicate {from} as {to}"),
            Step::Rename { from, to } => format!("rename {from} to {to}"),
            Step::Exchange { a, b } => format!("exchange {a} <-> {b}"),
            Step::ReplaceSymlink { path, target, .. } => format!("repoint {path} -> {target}"),
            Step::UnlinkSymlink { path, .. } => format!("unlink {path}"),
            Step::RemoveTree { path, .. } => format!("remove original names of {path}"),
        }
    }
}

/// Name under which the new root is built before its atomic publication (in `base`, next to
/// the root, never inside the original database).
pub fn staging_name(root: &str) -> String {
    format!(".{root}.smstage-staging")
}

fn bad(msg: String) -> CommitError {
    CommitError::Plan(msg)
}

fn under(path: &str, dir: &str) -> bool {
    path == dir || path.starts_with(&format!("{dir}/"))
}

/// Derive the steps of the commit from the plan. Fails on a plan shape the commit does not
/// know how to render (e.g. a moved entry that is neither a partition nor a root entry).
pub fn steps(plan: &Plan) -> Result<Vec<Step>, CommitError> {
    let root = plan.root.as_str();
    let src = plan.source.as_str();
    if root.is_empty() || root.contains('/') || src.is_empty() || src.contains('/') {
        return Err(bad(format!(
            "root `{root}` and source `{src}` must be single names below base"
        )));
    }
    if root == src {
        return Err(bad(format!("root and source are both `{root}`")));
    }
    let staging = staging_name(root);
    let to_staging = |p: &str| format!("{staging}{}", &p[root.len()..]);

    // Local partitions by their final location.
    let mut parts: BTreeMap<String, &str> = BTreeMap::new();
    for p in &plan.partitions {
        if let Some(to) = &p.to {
            if !under(&p.from, src) || parent_of(&p.from) != src || !under(to, src) {
                return Err(bad(format!(
                    "partition {} moves {} to {to}: both must be inside {src}/",
                    p.date, p.from
                )));
            }
            parts.insert(to.clone(), p.from.as_str());
        }
    }

    let mut out = Vec::new();
    let mut repoint: BTreeMap<String, Vec<Step>> = BTreeMap::new();
    let mut removals = Vec::new();
    let mut src_dirs: Vec<&str> = Vec::new();
    let mut moved_parts: BTreeSet<&str> = BTreeSet::new();

    for node in &plan.nodes {
        let path = node.path.as_str();
        if under(path, root) {
            let st = to_staging(path);
            match &node.kind {
                NodeKind::Dir => out.push(Step::Mkdir { path: st }),
                NodeKind::File { contents } => out.push(Step::WriteFileAtomic {
                    path: st,
                    contents: contents.clone(),
                }),
                NodeKind::Symlink { target } => {
                    let dir = parent_of(path);
                    let resolved = normalize(&format!("{dir}/{target}"));
                    match parts.get(&resolved) {
                        // Until the partition moves, the link points at where it is now.
                        Some(from) => {
                            let initial = relative(dir, from);
                            out.push(Step::Symlink {
                                path: st,
                                target: initial.clone(),
                            });
                            repoint
                                .entry(resolved)
                                .or_default()
                                .push(Step::ReplaceSymlink {
                                    path: path.to_string(),
                                    target: target.clone(),
                                    old_target: initial,
                                });
                        }
                        None => out.push(Step::Symlink {
                            path: st,
                            target: target.clone(),
                        }),
                    }
                }
                NodeKind::Moved { from, .. } => {
                    if !under(from, src) || from == src {
                        return Err(bad(format!(
                            "{path} is moved from {from}, which is not inside {src}/"
                        )));
                    }
                    out.push(Step::Replicate {
                        from: from.clone(),
                        to: st,
                    });
                    removals.push(Step::RemoveTree {
                        path: from.clone(),
                        replica: path.to_string(),
                    });
                }
            }
        } else if under(path, src) {
            match &node.kind {
                NodeKind::Dir if path == src => {}
                NodeKind::Dir => src_dirs.push(path),
                NodeKind::Moved { from, is_dir: true }
                    if parts.get(path) == Some(&from.as_str()) =>
                {
                    moved_parts.insert(path);
                }
                other => {
                    return Err(bad(format!(
                        "unsupported node {path} ({other:?}) inside the source {src}/"
                    )))
                }
            }
        } else {
            return Err(bad(format!(
                "node {path} is neither inside the root {root}/ nor the source {src}/"
            )));
        }
    }
    if !plan
        .nodes
        .iter()
        .any(|n| n.path == root && n.kind == NodeKind::Dir)
    {
        return Err(bad(format!(
            "the plan has no directory node for the root {root}"
        )));
    }
    // The new root exists completely (pointing at the partitions where they are): publish it.
    out.push(Step::Rename {
        from: staging.clone(),
        to: root.to_string(),
    });

    let mut made: BTreeSet<&str> = BTreeSet::new();
    for (to, from) in &parts {
        if !moved_parts.contains(to.as_str()) {
            return Err(bad(format!(
                "partition {from} has no moved node at its destination {to}"
            )));
        }
        for d in &src_dirs {
            if to.starts_with(&format!("{d}/")) && made.insert(d) {
                out.push(Step::Mkdir {
                    path: d.to_string(),
                });
            }
        }
        let placeholder = relative(parent_of(from), to);
        out.push(Step::Symlink {
            path: to.clone(),
            target: placeholder.clone(),
        });
        out.push(Step::Exchange {
            a: from.to_string(),
            b: to.clone(),
        });
        out.extend(repoint.remove(to).unwrap_or_default());
        out.push(Step::UnlinkSymlink {
            path: from.to_string(),
            target: placeholder,
        });
    }
    for d in &src_dirs {
        if made.insert(d) {
            out.push(Step::Mkdir {
                path: d.to_string(),
            });
        }
    }
    out.extend(removals);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Node, PlanPartition, PlanTier, TierKind, PLAN_VERSION};

    fn node(path: &str, kind: NodeKind) -> Node {
        Node {
            path: path.into(),
            kind,
        }
    }

    fn sample_plan() -> Plan {
        let dates = ["2024.01.02", "2024.01.03"];
        let mut nodes = vec![
            node("data", NodeKind::Dir),
            node("data/versions", NodeKind::Dir),
            node("db", NodeKind::Dir),
            node("db/hdb$", NodeKind::Dir),
            node(
                "db/par.txt",
                NodeKind::File {
                    contents: "hdb$\n".into(),
                },
            ),
            node(
                "db/sym",
                NodeKind::Moved {
                    from: "data/sym".into(),
                    is_dir: false,
                },
            ),
        ];
        let mut partitions = vec![];
        for d in dates {
            nodes.push(node(&format!("data/versions/{d}"), NodeKind::Dir));
            nodes.push(node(
                &format!("data/versions/{d}/1"),
                NodeKind::Moved {
                    from: format!("data/{d}"),
                    is_dir: true,
                },
            ));
            nodes.push(node(
                &format!("db/hdb$/{d}"),
                NodeKind::Symlink {
                    target: format!("../../data/versions/{d}/1"),
                },
            ));
            partitions.push(PlanPartition {
                date: d.into(),
                tier: "hdb".into(),
                from: format!("data/{d}"),
                to: Some(format!("data/versions/{d}/1")),
                link: Some(format!("db/hdb$/{d}")),
            });
        }
        nodes.sort_by(|a, b| a.path.cmp(&b.path));
        Plan {
            version: PLAN_VERSION,
            base: "/b".into(),
            source: "data".into(),
            root: "db".into(),
            par_txt: "hdb$\n".into(),
            tiers: vec![PlanTier {
                name: "hdb".into(),
                kind: TierKind::Local,
                par_entry: "hdb$".into(),
                store: "file:///b/data".into(),
                partitions: 2,
            }],
            partitions,
            nodes,
        }
    }

    #[test]
    fn steps_of_a_two_partition_plan() {
        let s = steps(&sample_plan()).unwrap();
        let labels: Vec<String> = s.iter().map(|s| s.label()).collect();
        let st = ".db.smstage-staging";
        let expect = vec![
            format!("mkdir {st}"),
            format!("mkdir {st}/hdb$"),
            format!("symlink {st}/hdb$/2024.01.02 -> ../../data/2024.01.02"),
            format!("symlink {st}/hdb$/2024.01.03 -> ../../data/2024.01.03"),
            format!("write {st}/par.txt"),
            format!("replicate data/sym as {st}/sym"),
            format!("rename {st} to db"),
            "mkdir data/versions".to_string(),
            "mkdir data/versions/2024.01.02".to_string(),
            "symlink data/versions/2024.01.02/1 -> versions/2024.01.02/1".to_string(),
            "exchange data/2024.01.02 <-> data/versions/2024.01.02/1".to_string(),
            "repoint db/hdb$/2024.01.02 -> ../../data/versions/2024.01.02/1".to_string(),
            "unlink data/2024.01.02".to_string(),
            "mkdir data/versions/2024.01.03".to_string(),
            "symlink data/versions/2024.01.03/1 -> versions/2024.01.03/1".to_string(),
            "exchange data/2024.01.03 <-> data/versions/2024.01.03/1".to_string(),
            "repoint db/hdb$/2024.01.03 -> ../../data/versions/2024.01.03/1".to_string(),
            "unlink data/2024.01.03".to_string(),
            "remove original names of data/sym".to_string(),
        ];
        assert_eq!(labels, expect);
        match &s[11] {
            Step::ReplaceSymlink { old_target, .. } => {
                assert_eq!(old_target, "../../data/2024.01.02")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn steps_are_deterministic_and_reject_foreign_moves() {
        let p = sample_plan();
        assert_eq!(steps(&p).unwrap(), steps(&p).unwrap());
        let mut bad = p.clone();
        bad.nodes.push(node(
            "db/x",
            NodeKind::Moved {
                from: "elsewhere/x".into(),
                is_dir: false,
            },
        ));
        assert!(matches!(steps(&bad), Err(CommitError::Plan(_))));
        let mut noroot = p;
        noroot.nodes.retain(|n| n.path != "db");
        assert!(matches!(steps(&noroot), Err(CommitError::Plan(_))));
    }

    #[test]
    fn scenario_two_without_local_partitions_still_makes_versions() {
        let mut p = sample_plan();
        p.partitions.clear();
        p.nodes.retain(|n| !n.path.contains("2024"));
        let s = steps(&p).unwrap();
        assert!(s.contains(&Step::Mkdir {
            path: "data/versions".into()
        }));
        assert!(!s.iter().any(|s| matches!(s, Step::Exchange { .. })));
    }
}
