//! The commit as a list of steps, derived purely from the [`Plan`] (no I/O).
//!
//! The executor (`exec.rs`) runs these in order; every step is idempotent or detectably done
//! and has an inverse (`rollback.rs`). The order keeps the database loadable at every instant:
//! see docs/journal.md.

use super::fsutil::{normalize, parent_of, relative, under};
use super::CommitError;
use crate::plan::{NodeKind, Plan, STORES_DIR};
use crate::remedy::aside::ASIDE_DIR;
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
    /// A remedy's new file: rename the staged file `staged` to `path` in the database
    /// (RENAME_NOREPLACE). Undone by renaming it back.
    PlaceStaged { staged: String, path: String },
    /// A remedy's new directory (fill-tables' empty table), staged complete: rename it to
    /// `path` in one step (RENAME_NOREPLACE), so the table appears whole or not at all. Undone
    /// by renaming it back.
    PlaceStagedDir { staged: String, path: String },
    /// A remedy's replacement of an original (a `.d`): swap the staged file and the original
    /// with RENAME_EXCHANGE, so the original lands in the staging area, kept for rollback. Done
    /// when `path` holds the staged bytes (`sha256`); undone by swapping again.
    SwapStaged {
        staged: String,
        path: String,
        sha256: String,
    },
    /// set-aside: move the database entry `path` (file, directory or symlink, whole) to
    /// `aside` under `smstage-aside/` (RENAME_NOREPLACE). Done when `path` is absent and
    /// `aside` present; undone by renaming it back.
    SetAside { path: String, aside: String },
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
            Step::PlaceStaged { staged, path } => format!("place {staged} as {path}"),
            Step::PlaceStagedDir { staged, path } => format!("place directory {staged} as {path}"),
            Step::SwapStaged { staged, path, .. } => format!("swap {staged} with {path}"),
            Step::SetAside { path, aside } => format!("set aside {path} as {aside}"),
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

/// Derive the steps of the commit from the plan, in execution order: [`waves`] concatenated.
/// Fails on a plan shape the commit does not know how to render (e.g. a moved entry that is
/// neither a partition nor a root entry).
pub fn steps(plan: &Plan) -> Result<Vec<Step>, CommitError> {
    Ok(waves(plan)?.concat())
}

/// Lengths of the waves, in order (what the journal header stores).
pub fn wave_lens(waves: &[Vec<Step>]) -> Vec<usize> {
    waves.iter().map(Vec::len).collect()
}

/// Where a step goes: the staging tree is built in waves of rising directory depth, then every
/// other staging entry at once; after publication, each partition's sequence is cut by kind so
/// that wave `i` holds every partition's `i`-th kind of step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    /// Remedies replacing a root file (one-sym's `sym`), first of all: the new `sym` only
    /// appends, so every column stays valid against it, and the root built next links it.
    RootSwap,
    /// Segmented databases: `stores/` (depth 0), then each store's anchor symlink (depth 1),
    /// durable before anything points through them.
    Anchor(usize),
    StagingDir(usize),
    StagingEntry,
    Publish,
    /// Remedies: every new file first, then every replacement, so a `.d` never lists a
    /// column before its file is in place.
    RemedyPlace,
    RemedySwap,
    /// set-aside: the directories under smstage-aside/ (by depth), then the entries of the
    /// last partition and of the root, then those of the other partitions, so q never lists
    /// a table that some partition lacks (docs/journal.md, "set-aside").
    AsideDir(usize),
    AsideLast,
    AsideRest,
    SourceDir(usize),
    Placeholder,
    Exchange,
    Repoint,
    Unlink,
    LateDir(usize),
    Removal,
}

fn depth(p: &str) -> usize {
    p.matches('/').count()
}

/// The commit's steps grouped into WAVES. Steps of one wave are independent (they touch
/// different partitions or entries, none inside another's path), so the executor journals them
/// together and makes them durable with one barrier; waves run in order, each only after the
/// previous one is durable. Every partition goes through exactly the sequence of states of the
/// one-step-at-a-time order (mkdirs, placeholder, exchange, repoint, unlink), and the root
/// entries, the staging tree and the publication keep their relative order. Empty waves are
/// left out. Why every instant stays loadable: docs/journal.md.
pub fn waves<'a>(plan: &'a Plan) -> Result<Vec<Vec<Step>>, CommitError> {
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

    // The directories partitions move inside: the source, or (segmented databases) each
    // store's anchor. A partition never leaves the one it starts in.
    let anchors: Vec<&str> = plan.stores.iter().map(|s| s.path.as_str()).collect();
    for a in &anchors {
        if parent_of(a) != STORES_DIR {
            return Err(bad(format!("store anchor {a} is not inside {STORES_DIR}/")));
        }
    }
    let containers: Vec<&str> = std::iter::once(src)
        .chain(anchors.iter().copied())
        .collect();
    let container_of = |p: &str| containers.iter().copied().find(|c| under(p, c));

    // Local partitions by their final location.
    let mut parts: BTreeMap<String, &str> = BTreeMap::new();
    for p in &plan.partitions {
        if let Some(to) = &p.to {
            let home = container_of(&p.from);
            if home.is_none_or(|c| parent_of(&p.from) != c || !under(to, c)) {
                return Err(bad(format!(
                    "partition {} moves {} to {to}: both must be inside {src}/ or inside one store anchor",
                    p.date, p.from
                )));
            }
            parts.insert(to.clone(), p.from.as_str());
        }
    }

    // Partitions a remedy changes: the plan shows them entry by entry (a `dir` node at their
    // destination), the commit still moves each whole, after putting the staged files in.
    let dir_nodes: BTreeSet<&str> = plan
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Dir)
        .map(|n| n.path.as_str())
        .collect();
    let expanded: BTreeMap<&'a str, &'a str> = plan
        .partitions
        .iter()
        .filter_map(|p| Some((p.to.as_deref()?, p.from.as_str())))
        .filter(|(to, _)| dir_nodes.contains(to))
        .collect();
    let staged: BTreeMap<&str, &crate::plan::StagedFile> = plan
        .remedies
        .iter()
        .flat_map(|r| r.files.iter())
        .map(|f| (f.path.as_str(), f))
        .collect();
    let new_dirs: BTreeMap<&str, &crate::plan::StagedDir> = plan
        .remedies
        .iter()
        .flat_map(|r| r.dirs.iter())
        .map(|d| (d.path.as_str(), d))
        .collect();
    // Root files a remedy replaces, by their staged path: a root node moved from one of these
    // is the replacement (anything else moved from the staging area is refused below).
    let staged_roots: BTreeMap<&str, &crate::plan::StagedFile> = staged
        .values()
        .filter(|f| parent_of(&f.path) == src && f.replaces)
        .map(|f| (f.staged.as_str(), *f))
        .collect();
    let mut swapped_roots: BTreeSet<&str> = BTreeSet::new();
    let inside_expanded = |p: &'a str| -> Option<(&'a str, &'a str)> {
        expanded
            .range::<&str, _>(..=p)
            .next_back()
            .filter(|(to, _)| p.len() > to.len() && under(p, to))
            .map(|(to, from)| (*to, *from))
    };

    let mut out: BTreeMap<Slot, Vec<Step>> = BTreeMap::new();
    let mut put = |slot: Slot, step: Step| out.entry(slot).or_default().push(step);
    let mut repoint: BTreeMap<String, Vec<Step>> = BTreeMap::new();
    let mut src_dirs: Vec<&str> = Vec::new();
    let mut moved_parts: BTreeSet<&str> = BTreeSet::new();

    let aside: BTreeMap<&str, &crate::plan::AsideEntry> = plan
        .remedies
        .iter()
        .flat_map(|r| r.aside.iter())
        .map(|a| (a.aside.as_str(), a))
        .collect();
    let last_partition = plan.partitions.iter().max_by(|a, b| a.date.cmp(&b.date));
    for node in &plan.nodes {
        let path = node.path.as_str();
        if under(path, ASIDE_DIR) {
            match &node.kind {
                NodeKind::Dir => put(
                    Slot::AsideDir(depth(path)),
                    Step::Mkdir { path: path.into() },
                ),
                NodeKind::Moved { from, .. }
                    if aside.get(path).is_some_and(|a| &a.path == from) =>
                {
                    let in_part = plan.partitions.iter().find(|p| under(from, &p.from));
                    let slot = match in_part {
                        Some(p) if Some(p) != last_partition => Slot::AsideRest,
                        _ => Slot::AsideLast,
                    };
                    put(
                        slot,
                        Step::SetAside {
                            path: from.clone(),
                            aside: path.into(),
                        },
                    );
                }
                other => {
                    return Err(bad(format!(
                    "{path} ({other:?}) is under {ASIDE_DIR}/ but is no entry the plan sets aside"
                )))
                }
            }
            continue;
        }
        if let Some((to, from)) = inside_expanded(path) {
            // Shown entry by entry, moved with its partition: each entry must be the
            // original's, or a staged file of the plan at the original's place.
            if let NodeKind::Moved { from: f, .. } = &node.kind {
                let orig = format!("{from}{}", &path[to.len()..]);
                let ok = *f == orig
                    || staged.get(orig.as_str()).is_some_and(|s| &s.staged == f)
                    || new_dirs.get(orig.as_str()).is_some_and(|d| &d.staged == f);
                if !ok {
                    return Err(bad(format!(
                        "{path} is moved from {f}, which is neither {orig} nor its staged file"
                    )));
                }
            }
            continue;
        }
        if expanded.contains_key(path) {
            moved_parts.insert(path);
            continue;
        }
        if under(path, root) {
            let st = to_staging(path);
            match &node.kind {
                NodeKind::Dir => put(Slot::StagingDir(depth(path)), Step::Mkdir { path: st }),
                NodeKind::File { contents } => put(
                    Slot::StagingEntry,
                    Step::WriteFileAtomic {
                        path: st,
                        contents: contents.clone(),
                    },
                ),
                NodeKind::Symlink { target } => {
                    let dir = parent_of(path);
                    let resolved = normalize(&format!("{dir}/{target}"));
                    match parts.get(&resolved) {
                        // Until the partition moves, the link points at where it is now.
                        Some(from) => {
                            let initial = relative(dir, from);
                            put(
                                Slot::StagingEntry,
                                Step::Symlink {
                                    path: st,
                                    target: initial.clone(),
                                },
                            );
                            repoint
                                .entry(resolved)
                                .or_default()
                                .push(Step::ReplaceSymlink {
                                    path: path.to_string(),
                                    target: target.clone(),
                                    old_target: initial,
                                });
                        }
                        None => put(
                            Slot::StagingEntry,
                            Step::Symlink {
                                path: st,
                                target: target.clone(),
                            },
                        ),
                    }
                }
                NodeKind::Moved { from, .. } if staged_roots.contains_key(from.as_str()) => {
                    // A root file a remedy replaces: swapped in place first, then linked into
                    // the new root and its original name removed like any root entry's.
                    let f = staged_roots[from.as_str()];
                    swapped_roots.insert(f.path.as_str());
                    put(
                        Slot::RootSwap,
                        Step::SwapStaged {
                            staged: f.staged.clone(),
                            path: f.path.clone(),
                            sha256: f.sha256.clone(),
                        },
                    );
                    put(
                        Slot::StagingEntry,
                        Step::Replicate {
                            from: f.path.clone(),
                            to: st,
                        },
                    );
                    put(
                        Slot::Removal,
                        Step::RemoveTree {
                            path: f.path.clone(),
                            replica: path.to_string(),
                        },
                    );
                }
                NodeKind::Moved { from, .. } => {
                    if !under(from, src) || from == src {
                        return Err(bad(format!(
                            "{path} is moved from {from}, which is not inside {src}/"
                        )));
                    }
                    put(
                        Slot::StagingEntry,
                        Step::Replicate {
                            from: from.clone(),
                            to: st,
                        },
                    );
                    put(
                        Slot::Removal,
                        Step::RemoveTree {
                            path: from.clone(),
                            replica: path.to_string(),
                        },
                    );
                }
            }
        } else if !anchors.is_empty() && path == STORES_DIR {
            if node.kind != NodeKind::Dir {
                return Err(bad(format!("{path} must be a directory node")));
            }
            put(Slot::Anchor(0), Step::Mkdir { path: path.into() });
        } else if let Some(store) = plan.stores.iter().find(|s| s.path == path) {
            // The plan shows the anchor as a directory (what the view renders); committed, it
            // is a symlink to the store, through which every later step reaches the segment.
            if node.kind != NodeKind::Dir {
                return Err(bad(format!("store anchor {path} must be a directory node")));
            }
            put(
                Slot::Anchor(1),
                Step::Symlink {
                    path: path.into(),
                    target: store.link.clone(),
                },
            );
        } else if let Some(home) = container_of(path) {
            match &node.kind {
                NodeKind::Dir if path == home => {}
                // An original entry that keeps its place (a segmented root's par.txt).
                NodeKind::Moved { from, .. } if from == path && parent_of(path) == src => {}
                NodeKind::Dir => src_dirs.push(path),
                NodeKind::Moved { from, is_dir: true }
                    if parts.get(path) == Some(&from.as_str()) =>
                {
                    moved_parts.insert(path);
                }
                other => {
                    return Err(bad(format!(
                        "unsupported node {path} ({other:?}) inside the source {home}/"
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
    put(
        Slot::Publish,
        Step::Rename {
            from: staging.clone(),
            to: root.to_string(),
        },
    );

    for d in new_dirs.values() {
        if !expanded.values().any(|from| parent_of(&d.path) == *from) {
            return Err(bad(format!(
                "staged directory {} is not a table of a partition the plan shows remedied",
                d.path
            )));
        }
        put(
            Slot::RemedyPlace,
            Step::PlaceStagedDir {
                staged: d.staged.clone(),
                path: d.path.clone(),
            },
        );
    }
    for f in staged.values() {
        if swapped_roots.contains(f.path.as_str()) {
            continue;
        }
        // Placed with its directory.
        if new_dirs.keys().any(|d| parent_of(&f.path) == *d) {
            continue;
        }
        if !expanded.values().any(|from| under(&f.path, from)) {
            return Err(bad(format!(
                "staged file {} is not inside a partition the plan shows remedied",
                f.path
            )));
        }
        if f.replaces {
            put(
                Slot::RemedySwap,
                Step::SwapStaged {
                    staged: f.staged.clone(),
                    path: f.path.clone(),
                    sha256: f.sha256.clone(),
                },
            );
        } else {
            put(
                Slot::RemedyPlace,
                Step::PlaceStaged {
                    staged: f.staged.clone(),
                    path: f.path.clone(),
                },
            );
        }
    }

    let mut made: BTreeSet<&str> = BTreeSet::new();
    let src_set: BTreeSet<&str> = src_dirs.iter().copied().collect();
    for (to, from) in &parts {
        if !moved_parts.contains(to.as_str()) {
            return Err(bad(format!(
                "partition {from} has no moved node at its destination {to}"
            )));
        }
        // The source dirs above this partition, outermost first (a scan of every source dir
        // per partition would be quadratic: 2,000 partitions make 2,001 source dirs).
        let mut above: Vec<&str> = Vec::new();
        let mut d = parent_of(to);
        while !d.is_empty() {
            above.push(d);
            d = parent_of(d);
        }
        for d in above.into_iter().rev() {
            if let Some(d) = src_set.get(d) {
                if made.insert(d) {
                    put(
                        Slot::SourceDir(depth(d)),
                        Step::Mkdir {
                            path: d.to_string(),
                        },
                    );
                }
            }
        }
        let placeholder = relative(parent_of(from), to);
        put(
            Slot::Placeholder,
            Step::Symlink {
                path: to.clone(),
                target: placeholder.clone(),
            },
        );
        put(
            Slot::Exchange,
            Step::Exchange {
                a: from.to_string(),
                b: to.clone(),
            },
        );
        for r in repoint.remove(to).unwrap_or_default() {
            put(Slot::Repoint, r);
        }
        put(
            Slot::Unlink,
            Step::UnlinkSymlink {
                path: from.to_string(),
                target: placeholder,
            },
        );
    }
    for d in &src_dirs {
        if made.insert(d) {
            put(
                Slot::LateDir(depth(d)),
                Step::Mkdir {
                    path: d.to_string(),
                },
            );
        }
    }
    Ok(out.into_values().collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::plan::{Node, PlanPartition, PlanTier, TierKind, PLAN_VERSION};

    fn node(path: &str, kind: NodeKind) -> Node {
        Node {
            path: path.into(),
            kind,
        }
    }

    pub(crate) fn sample_plan() -> Plan {
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
            stores: Vec::new(),
            remedies: None,
        }
    }

    #[test]
    fn steps_of_a_two_partition_plan() {
        let w = waves(&sample_plan()).unwrap();
        let labels: Vec<Vec<String>> = w
            .iter()
            .map(|w| w.iter().map(|s| s.label()).collect())
            .collect();
        let st = ".db.smstage-staging";
        let (d2, d3) = ("2024.01.02", "2024.01.03");
        let expect: Vec<Vec<String>> = vec![
            vec![format!("mkdir {st}")],
            vec![format!("mkdir {st}/hdb$")],
            vec![
                format!("symlink {st}/hdb$/{d2} -> ../../data/{d2}"),
                format!("symlink {st}/hdb$/{d3} -> ../../data/{d3}"),
                format!("write {st}/par.txt"),
                format!("replicate data/sym as {st}/sym"),
            ],
            vec![format!("rename {st} to db")],
            vec!["mkdir data/versions".to_string()],
            vec![
                format!("mkdir data/versions/{d2}"),
                format!("mkdir data/versions/{d3}"),
            ],
            vec![
                format!("symlink data/versions/{d2}/1 -> versions/{d2}/1"),
                format!("symlink data/versions/{d3}/1 -> versions/{d3}/1"),
            ],
            vec![
                format!("exchange data/{d2} <-> data/versions/{d2}/1"),
                format!("exchange data/{d3} <-> data/versions/{d3}/1"),
            ],
            vec![
                format!("repoint db/hdb$/{d2} -> ../../data/versions/{d2}/1"),
                format!("repoint db/hdb$/{d3} -> ../../data/versions/{d3}/1"),
            ],
            vec![format!("unlink data/{d2}"), format!("unlink data/{d3}")],
            vec!["remove original names of data/sym".to_string()],
        ];
        assert_eq!(labels, expect);
        assert_eq!(wave_lens(&w), vec![1, 1, 4, 1, 1, 2, 2, 2, 2, 2, 1]);
        assert_eq!(steps(&sample_plan()).unwrap(), w.concat());
        match &w[8][0] {
            Step::ReplaceSymlink { old_target, .. } => {
                assert_eq!(old_target, &format!("../../data/{d2}"))
            }
            other => panic!("{other:?}"),
        }
    }

    /// Every partition goes through the same kinds of step in the same order as it would one
    /// partition at a time, and no wave holds two steps of one partition.
    #[test]
    fn waves_keep_each_partitions_sequence_and_touch_a_partition_once() {
        let w = waves(&sample_plan()).unwrap();
        for d in ["2024.01.02", "2024.01.03"] {
            let mut kinds = vec![];
            for wave in &w {
                let mine: Vec<&Step> = wave.iter().filter(|s| s.label().contains(d)).collect();
                assert!(mine.len() <= 1, "{d} twice in one wave: {mine:?}");
                if let Some(s) = mine.first() {
                    kinds.push(s.label().split(' ').next().unwrap().to_string());
                }
            }
            assert_eq!(
                kinds,
                ["symlink", "mkdir", "symlink", "exchange", "repoint", "unlink"],
                "{d}"
            );
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

    /// A plan with a derived column in one partition: the staged files go in (new files, then
    /// replacements) after the publication and before the partition moves, as a whole.
    pub(crate) fn remedied_plan() -> Plan {
        use crate::plan::remedied::{apply, PlanRemedies};
        use crate::plan::StagedFile;
        let mut plan = sample_plan();
        let d = "2024.01.02";
        let st = |f: &str| format!(".smstage/stage/x/data/{d}/trade/{f}");
        let files = vec![
            StagedFile {
                path: format!("data/{d}/trade/.d"),
                staged: st(".d"),
                size: 1,
                sha256: "aa".into(),
                replaces: true,
            },
            StagedFile {
                path: format!("data/{d}/trade/ts"),
                staged: st("ts"),
                size: 2,
                sha256: "bb".into(),
                replaces: false,
            },
        ];
        let mut children = BTreeMap::new();
        children.insert(format!("data/{d}"), vec![("trade".to_string(), true)]);
        children.insert(
            format!("data/{d}/trade"),
            vec![(".d".to_string(), false), ("time".to_string(), false)],
        );
        let rem = PlanRemedies {
            given: vec!["derive-prtncol:*=time".into()],
            stage: ".smstage/stage/x".into(),
            actions: vec![],
            files,
            derived: vec![],
            filled: vec![],
            dirs: vec![],
            added: vec![],
            sym_appended: vec![],
            aside: vec![],
        };
        apply(&mut plan, rem, &children).unwrap();
        plan
    }

    /// A plan with an empty table filled into one partition (a new directory of two files).
    fn filled_plan() -> Plan {
        use crate::plan::remedied::{apply, PlanRemedies};
        use crate::plan::{StagedDir, StagedFile};
        let mut plan = sample_plan();
        let d = "2024.01.02";
        let file = |f: &str| StagedFile {
            path: format!("data/{d}/quote/{f}"),
            staged: format!(".smstage/stage/x/data/{d}/quote/{f}"),
            size: 1,
            sha256: "aa".into(),
            replaces: false,
        };
        let mut children = BTreeMap::new();
        children.insert(format!("data/{d}"), vec![("trade".to_string(), true)]);
        let rem = PlanRemedies {
            given: vec!["fill-tables".into()],
            stage: ".smstage/stage/x".into(),
            actions: vec![],
            files: vec![file(".d"), file("sym")],
            derived: vec![],
            filled: vec![],
            added: vec![],
            sym_appended: vec![],
            dirs: vec![StagedDir {
                path: format!("data/{d}/quote"),
                staged: format!(".smstage/stage/x/data/{d}/quote"),
            }],
            aside: vec![],
        };
        apply(&mut plan, rem, &children).unwrap();
        plan
    }

    #[test]
    fn a_filled_table_is_placed_whole_by_one_rename_before_its_partition_moves() {
        let plan = filled_plan();
        let d = "2024.01.02";
        // The view shows the new table moved whole from the stage, beside the untouched one.
        let to = format!("data/versions/{d}/1");
        assert!(plan.nodes.iter().any(|n| n.path == format!("{to}/quote")
            && n.kind
                == NodeKind::Moved {
                    from: format!(".smstage/stage/x/data/{d}/quote"),
                    is_dir: true
                }));
        let w = waves(&plan).unwrap();
        let labels: Vec<Vec<String>> = w
            .iter()
            .map(|w| w.iter().map(|s| s.label()).collect())
            .collect();
        let at = |l: &str| labels.iter().position(|w| w.iter().any(|x| x == l));
        let place = at(&format!(
            "place directory .smstage/stage/x/data/{d}/quote as data/{d}/quote"
        ))
        .expect("one rename of the directory");
        let publish = at("rename .db.smstage-staging to db").unwrap();
        let exchange = at(&format!("exchange data/{d} <-> data/versions/{d}/1")).unwrap();
        assert!(publish < place && place < exchange, "{labels:?}");
        // Its files are not placed one by one.
        assert!(
            !labels
                .concat()
                .iter()
                .any(|l| l.starts_with("place .smstage")),
            "{labels:?}"
        );
        let plain = steps(&sample_plan()).unwrap().len();
        assert_eq!(labels.concat().len(), plain + 1);
    }

    #[test]
    fn a_filled_table_outside_the_remedied_partitions_is_refused() {
        let mut p = filled_plan();
        // A directory placed into a partition the plan moves whole, unseen by the view.
        p.nodes.retain(|n| !n.path.ends_with("/quote"));
        if let Some(r) = &mut p.remedies {
            r.dirs[0].path = "data/2024.01.03/quote".into();
            r.dirs[0].staged = ".smstage/stage/x/data/2024.01.03/quote".into();
        }
        let e = steps(&p).unwrap_err().to_string();
        assert!(e.contains("staged directory"), "{e}");
    }

    #[test]
    fn remedies_place_then_swap_between_publication_and_the_partition_moves() {
        let w = waves(&remedied_plan()).unwrap();
        let labels: Vec<Vec<String>> = w
            .iter()
            .map(|w| w.iter().map(|s| s.label()).collect())
            .collect();
        let d = "2024.01.02";
        let at = |l: &str| {
            labels
                .iter()
                .position(|w| w.iter().any(|x| x == l))
                .unwrap()
        };
        let publish = at("rename .db.smstage-staging to db");
        let place = at(&format!(
            "place .smstage/stage/x/data/{d}/trade/ts as data/{d}/trade/ts"
        ));
        let swap = at(&format!(
            "swap .smstage/stage/x/data/{d}/trade/.d with data/{d}/trade/.d"
        ));
        let exchange = at(&format!("exchange data/{d} <-> data/versions/{d}/1"));
        assert!(
            publish < place && place < swap && swap < exchange,
            "{labels:?}"
        );
        assert_eq!(labels[place].len(), 1);
        assert_eq!(labels[swap].len(), 1);
        // Nothing inside the remedied partition became a step of its own.
        assert!(
            !labels
                .concat()
                .iter()
                .any(|l| l.contains(&format!("data/versions/{d}/1/"))),
            "{labels:?}"
        );
        // The unremedied plan's steps are all still there.
        let plain: BTreeSet<String> = steps(&sample_plan())
            .unwrap()
            .iter()
            .map(|s| s.label())
            .collect();
        let now: BTreeSet<String> = labels.concat().into_iter().collect();
        assert!(plain.is_subset(&now), "{:?}", plain.difference(&now));
        assert_eq!(now.len(), plain.len() + 2);
    }

    /// set-aside of a table in each partition: the directories under smstage-aside/ first,
    /// then the last partition's move, then the other's, all before the partitions move; the
    /// table is no longer in the layout.
    #[test]
    fn set_aside_moves_the_last_partitions_entries_first_then_the_others() {
        use crate::plan::remedied::{apply, PlanRemedies};
        use crate::plan::AsideEntry;
        let mut plan = sample_plan();
        let (d2, d3) = ("2024.01.02", "2024.01.03");
        let mut children = BTreeMap::new();
        for d in [d2, d3] {
            children.insert(
                format!("data/{d}"),
                vec![("quote".to_string(), true), ("trade".to_string(), true)],
            );
        }
        let aside = [d2, d3]
            .iter()
            .map(|d| AsideEntry {
                path: format!("data/{d}/quote"),
                aside: format!("smstage-aside/{d}/quote"),
                is_dir: true,
            })
            .collect();
        let rem = PlanRemedies {
            given: vec!["set-aside".into()],
            stage: ".smstage/stage/x".into(),
            actions: vec![],
            files: vec![],
            derived: vec![],
            filled: vec![],
            dirs: vec![],
            added: vec![],
            sym_appended: vec![],
            aside,
        };
        apply(&mut plan, rem, &children).unwrap();
        assert!(!plan
            .nodes
            .iter()
            .any(|n| n.path.starts_with("data/versions/") && n.path.ends_with("/quote")));
        let w = waves(&plan).unwrap();
        let labels: Vec<Vec<String>> = w
            .iter()
            .map(|w| w.iter().map(|s| s.label()).collect())
            .collect();
        let at = |l: &str| {
            labels
                .iter()
                .position(|w| w.iter().any(|x| x == l))
                .unwrap_or_else(|| panic!("{l} not in {labels:?}"))
        };
        let publish = at("rename .db.smstage-staging to db");
        let top = at("mkdir smstage-aside");
        let dir = at(&format!("mkdir smstage-aside/{d3}"));
        let last = at(&format!(
            "set aside data/{d3}/quote as smstage-aside/{d3}/quote"
        ));
        let other = at(&format!(
            "set aside data/{d2}/quote as smstage-aside/{d2}/quote"
        ));
        let exchange = at(&format!("exchange data/{d2} <-> data/versions/{d2}/1"));
        assert!(
            publish < top && top < dir && dir < last && last < other && other < exchange,
            "{labels:?}"
        );
        let plain = steps(&sample_plan()).unwrap().len();
        assert_eq!(labels.concat().len(), plain + 5, "{labels:?}");
        // A node under smstage-aside/ that the plan does not set aside is refused.
        let mut forged = plan.clone();
        forged.nodes.push(node(
            "smstage-aside/x",
            NodeKind::Moved {
                from: "data/sym".into(),
                is_dir: false,
            },
        ));
        let e = steps(&forged).unwrap_err().to_string();
        assert!(e.contains("no entry the plan sets aside"), "{e}");
    }

    #[test]
    fn a_remedied_partition_moving_a_foreign_file_is_refused() {
        let mut p = remedied_plan();
        for n in &mut p.nodes {
            if n.path.ends_with("/trade/ts") {
                n.kind = NodeKind::Moved {
                    from: ".smstage/stage/x/elsewhere".into(),
                    is_dir: false,
                };
            }
        }
        let e = steps(&p).unwrap_err().to_string();
        assert!(e.contains("neither"), "{e}");
    }

    /// [`remedied_plan`] with one-sym's new `sym` staged too: the root entry `db/sym` is then
    /// moved from the staged file.
    fn sym_plan() -> Plan {
        let mut plan = remedied_plan();
        let mut rem = plan.remedies.take().unwrap();
        rem.files.insert(
            0,
            crate::plan::StagedFile {
                path: "data/sym".into(),
                staged: ".smstage/stage/x/data/sym".into(),
                size: 3,
                sha256: "cc".into(),
                replaces: true,
            },
        );
        let mut children = BTreeMap::new();
        children.insert(
            "data/2024.01.02".to_string(),
            vec![("trade".to_string(), true)],
        );
        children.insert(
            "data/2024.01.02/trade".to_string(),
            vec![(".d".to_string(), false), ("time".to_string(), false)],
        );
        let mut plain = sample_plan();
        crate::plan::remedied::apply(&mut plain, rem, &children).unwrap();
        plain
    }

    #[test]
    fn a_new_sym_is_swapped_in_first_then_linked_into_the_root_and_its_old_name_removed() {
        let plan = sym_plan();
        assert!(plan.nodes.iter().any(|n| n.path == "db/sym"
            && n.kind
                == NodeKind::Moved {
                    from: ".smstage/stage/x/data/sym".into(),
                    is_dir: false
                }));
        let w = waves(&plan).unwrap();
        let labels: Vec<Vec<String>> = w
            .iter()
            .map(|w| w.iter().map(|s| s.label()).collect())
            .collect();
        // The first wave is the swap alone, durable before the root links the new sym.
        assert_eq!(labels[0], ["swap .smstage/stage/x/data/sym with data/sym"]);
        let at = |l: &str| {
            labels
                .iter()
                .position(|w| w.iter().any(|x| x == l))
                .unwrap_or_else(|| panic!("{l} not in {labels:?}"))
        };
        let link = at("replicate data/sym as .db.smstage-staging/sym");
        let publish = at("rename .db.smstage-staging to db");
        let columns =
            at("swap .smstage/stage/x/data/2024.01.02/trade/.d with data/2024.01.02/trade/.d");
        let removal = at("remove original names of data/sym");
        assert!(
            0 < link && link < publish && publish < columns && columns < removal,
            "{labels:?}"
        );
        // Nothing else of the plan changed: one step more than the remedied plan without sym.
        assert_eq!(
            labels.concat().len(),
            steps(&remedied_plan()).unwrap().len() + 1
        );
    }

    #[test]
    fn a_root_entry_moved_from_a_staged_file_that_does_not_replace_it_is_refused() {
        // db/sym served from the staged .d of a partition: not the replacement of data/sym.
        let mut p = sym_plan();
        for n in &mut p.nodes {
            if n.path == "db/sym" {
                n.kind = NodeKind::Moved {
                    from: ".smstage/stage/x/data/2024.01.02/trade/.d".into(),
                    is_dir: false,
                };
            }
        }
        assert!(
            matches!(steps(&p), Err(CommitError::Plan(_))),
            "{:?}",
            steps(&p)
        );
        // A staged root file no root entry is moved from: it would never be swapped in.
        let mut p = sym_plan();
        for n in &mut p.nodes {
            if n.path == "db/sym" {
                n.kind = NodeKind::Moved {
                    from: "data/sym".into(),
                    is_dir: false,
                };
            }
        }
        let e = steps(&p).unwrap_err().to_string();
        assert!(e.contains("staged file data/sym"), "{e}");
        // Marked as not replacing: refused too (a new root file is not something it places).
        let mut p = sym_plan();
        if let Some(r) = &mut p.remedies {
            r.files[0].replaces = false;
        }
        assert!(matches!(steps(&p), Err(CommitError::Plan(_))));
    }
}
