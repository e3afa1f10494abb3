//! Builds the [`Plan`] from what the inventory found and what the configuration says: pure, no I/O.

use super::model::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use thiserror::Error;

/// The directory under the baseURI that holds the original database (and, afterwards, the
/// versioned backing store of the HDB tier): the default store `<baseURI>/data`.
pub const SOURCE_DIR: &str = "data";
/// The kdb+ root after the import, relative to the baseURI.
pub const ROOT_DIR: &str = "db";
/// Directory of the versioned backing store, relative to the baseURI.
pub const VERSIONS_DIR: &str = "data/versions";
/// Version number given to every imported partition.
pub const FIRST_VERSION: u32 = 1;

/// One entry of the original database root that is not a partition (domain files, splayed
/// tables, serialized objects): it moves into the new root unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootEntry {
    pub name: String,
    pub is_dir: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierInput {
    pub name: String,
    pub kind: TierKind,
    /// Store URI as text (`file:///…` or `s3://bucket/prefix`, no trailing `/`).
    pub store: String,
}

/// Everything the layout depends on. The inventory and config produce it; tests write it by hand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanInput {
    pub base: PathBuf,
    pub root_entries: Vec<RootEntry>,
    /// The HDB tiers in configuration order; the first local one holds the database in `data/`.
    pub tiers: Vec<TierInput>,
    /// Date partitions found on local disk (in `data/`), `YYYY.MM.DD`.
    pub local_partitions: Vec<String>,
    /// Date partitions found in object tiers: (date, tier name).
    pub object_partitions: Vec<(String, String)>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("no local tier on the HDB mount: the database in {0}/data needs a tier whose store is a file:// directory; add one to the sm tiers")]
    NoLocalTier(String),
    #[error("partition {date} appears in tier {first} and in tier {second}: each date must live in exactly one tier; remove one copy")]
    DuplicateDate {
        date: String,
        first: String,
        second: String,
    },
    #[error(
        "object partition {date} names tier {tier}, which is not an object tier of the HDB mount"
    )]
    UnknownTier { date: String, tier: String },
    #[error("root entry data/{name} would clash with the generated {generated} in the new root; rename or remove it")]
    NameClash { name: String, generated: String },
    #[error("local tier {tier} (store {store}) is no segment of the database: in a segmented database every local HDB tier's store must be a directory listed in data/par.txt; add it to par.txt or remove the tier")]
    NotASegment { tier: String, store: String },
}

pub fn segment_dir_name(tier: &str) -> String {
    format!("{tier}$")
}

/// Builds the plan. Deterministic: the same input gives the same plan, byte for byte.
pub fn build(input: &PlanInput) -> Result<Plan, PlanError> {
    let base_text = input.base.display().to_string();
    let primary = input
        .tiers
        .iter()
        .find(|t| t.kind == TierKind::Local)
        .ok_or_else(|| PlanError::NoLocalTier(base_text.clone()))?;

    // date -> tier, refusing a date in two places (the SM import forbids it even though kdb+
    // would accept a date in several segments).
    let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
    for date in &input.local_partitions {
        claim(&mut owner, date, &primary.name)?;
    }
    claim_object_partitions(&mut owner, &input.tiers, &input.object_partitions)?;

    let mut tiers = Vec::new();
    let mut par_txt = String::new();
    let mut nodes = vec![
        dir(SOURCE_DIR),
        dir(VERSIONS_DIR),
        dir(ROOT_DIR),
        Node {
            path: format!("{ROOT_DIR}/par.txt"),
            kind: NodeKind::File {
                contents: String::new(),
            },
        },
    ];
    let mut generated_names = vec!["par.txt".to_string()];
    for tier in &input.tiers {
        let par_entry = match tier.kind {
            TierKind::Local => {
                let seg = segment_dir_name(&tier.name);
                nodes.push(dir(&format!("{ROOT_DIR}/{seg}")));
                generated_names.push(seg.clone());
                seg
            }
            TierKind::Object => tier.store.trim_end_matches('/').to_string(),
        };
        add_tier(tier, par_entry, &owner, &mut par_txt, &mut tiers);
    }
    for node in nodes.iter_mut() {
        if let NodeKind::File { contents } = &mut node.kind {
            contents.clone_from(&par_txt);
        }
    }

    move_root_entries(&input.root_entries, &generated_names, &mut nodes)?;
    let partitions = place_partitions(&owner, &input.tiers, &mut nodes, |tier| {
        (tier == primary.name).then(|| (SOURCE_DIR.to_string(), VERSIONS_DIR.to_string()))
    });

    Ok(assemble(
        &input.base,
        par_txt,
        tiers,
        partitions,
        nodes,
        Vec::new(),
    ))
}

/// The plan from its parts, `nodes` sorted by path (parents first, as the view and the
/// commit read them).
pub(super) fn assemble(
    base: &std::path::Path,
    par_txt: String,
    tiers: Vec<PlanTier>,
    partitions: Vec<PlanPartition>,
    mut nodes: Vec<Node>,
    stores: Vec<PlanStore>,
) -> Plan {
    nodes.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Plan {
        version: PLAN_VERSION,
        base: base.to_path_buf(),
        source: SOURCE_DIR.to_string(),
        root: ROOT_DIR.to_string(),
        par_txt,
        tiers,
        partitions,
        nodes,
        stores,
        remedies: None,
    }
}

/// Records `tier` in the plan: its `par.txt` line (appended to `par_txt`) and how many of the
/// claimed partitions are its.
pub(super) fn add_tier(
    tier: &TierInput,
    par_entry: String,
    owner: &BTreeMap<&str, &str>,
    par_txt: &mut String,
    tiers: &mut Vec<PlanTier>,
) {
    par_txt.push_str(&par_entry);
    par_txt.push('\n');
    tiers.push(PlanTier {
        name: tier.name.clone(),
        kind: tier.kind,
        par_entry,
        store: tier.store.clone(),
        partitions: owner.values().filter(|t| **t == tier.name).count(),
    });
}

/// Claims every object partition for its tier, refusing an unknown tier or a date already
/// claimed.
pub(super) fn claim_object_partitions<'a>(
    owner: &mut BTreeMap<&'a str, &'a str>,
    tiers: &[TierInput],
    object_partitions: &'a [(String, String)],
) -> Result<(), PlanError> {
    for (date, tier) in object_partitions {
        let known = tiers
            .iter()
            .any(|t| &t.name == tier && t.kind == TierKind::Object);
        if !known {
            return Err(PlanError::UnknownTier {
                date: date.clone(),
                tier: tier.clone(),
            });
        }
        claim(owner, date, tier)?;
    }
    Ok(())
}

/// The root's entries move from the source into the new root, under their own names, unless a
/// name is one the layout generates there.
pub(super) fn move_root_entries(
    root_entries: &[RootEntry],
    generated: &[String],
    nodes: &mut Vec<Node>,
) -> Result<(), PlanError> {
    for entry in root_entries {
        if let Some(g) = generated.iter().find(|g| **g == entry.name) {
            return Err(PlanError::NameClash {
                name: entry.name.clone(),
                generated: g.clone(),
            });
        }
        nodes.push(Node {
            path: format!("{ROOT_DIR}/{}", entry.name),
            kind: NodeKind::Moved {
                from: format!("{SOURCE_DIR}/{}", entry.name),
                is_dir: entry.is_dir,
            },
        });
    }
    Ok(())
}

/// Every claimed partition: a local tier's (`local(tier)` gives the directory it is in and the
/// versions directory it moves to) becomes version 1 there, linked from the tier's segment
/// directory in the root; an object tier's stays in its store.
pub(super) fn place_partitions(
    owner: &BTreeMap<&str, &str>,
    tiers: &[TierInput],
    nodes: &mut Vec<Node>,
    local: impl Fn(&str) -> Option<(String, String)>,
) -> Vec<PlanPartition> {
    let mut partitions = Vec::new();
    for (date, tier) in owner {
        if let Some((source, versions)) = local(tier) {
            let from = format!("{source}/{date}");
            let to = format!("{versions}/{date}/{FIRST_VERSION}");
            let link = format!("{ROOT_DIR}/{}/{date}", segment_dir_name(tier));
            nodes.push(dir(&format!("{versions}/{date}")));
            nodes.push(Node {
                path: to.clone(),
                kind: NodeKind::Moved {
                    from: from.clone(),
                    is_dir: true,
                },
            });
            nodes.push(Node {
                path: link.clone(),
                kind: NodeKind::Symlink {
                    target: format!("../../{to}"),
                },
            });
            partitions.push(PlanPartition {
                date: date.to_string(),
                tier: tier.to_string(),
                from,
                to: Some(to),
                link: Some(link),
            });
        } else {
            let store = tiers
                .iter()
                .find(|t| t.name == *tier)
                .map(|t| t.store.trim_end_matches('/').to_string())
                .unwrap_or_default();
            partitions.push(PlanPartition {
                date: date.to_string(),
                tier: tier.to_string(),
                from: format!("{store}/{date}"),
                to: None,
                link: None,
            });
        }
    }
    partitions
}

pub(super) fn claim<'a>(
    owner: &mut BTreeMap<&'a str, &'a str>,
    date: &'a str,
    tier: &'a str,
) -> Result<(), PlanError> {
    if let Some(first) = owner.insert(date, tier) {
        return Err(PlanError::DuplicateDate {
            date: date.to_string(),
            first: first.to_string(),
            second: tier.to_string(),
        });
    }
    Ok(())
}

pub(super) fn dir(path: &str) -> Node {
    Node {
        path: path.to_string(),
        kind: NodeKind::Dir,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> PlanInput {
        PlanInput {
            base: PathBuf::from("/srv/hdb"),
            root_entries: vec![
                RootEntry {
                    name: "sym".into(),
                    is_dir: false,
                },
                RootEntry {
                    name: "splayed".into(),
                    is_dir: true,
                },
            ],
            tiers: vec![
                TierInput {
                    name: "recent".into(),
                    kind: TierKind::Local,
                    store: "file:///srv/hdb/data".into(),
                },
                TierInput {
                    name: "archive".into(),
                    kind: TierKind::Object,
                    store: "s3://bucket/db/".into(),
                },
            ],
            local_partitions: vec!["2024.01.03".into(), "2024.01.02".into()],
            object_partitions: vec![("2023.12.29".into(), "archive".into())],
        }
    }

    #[test]
    fn par_txt_lists_segment_then_object_store_without_trailing_slash() {
        let plan = build(&input()).unwrap();
        assert_eq!(plan.par_txt, "recent$\ns3://bucket/db\n");
        assert_eq!(plan.root, "db");
        let par = plan.nodes.iter().find(|n| n.path == "db/par.txt").unwrap();
        assert_eq!(
            par.kind,
            NodeKind::File {
                contents: plan.par_txt.clone()
            }
        );
    }

    #[test]
    fn partitions_move_behind_relative_symlinks() {
        let plan = build(&input()).unwrap();
        let link = plan
            .nodes
            .iter()
            .find(|n| n.path == "db/recent$/2024.01.02")
            .unwrap();
        assert_eq!(
            link.kind,
            NodeKind::Symlink {
                target: "../../data/versions/2024.01.02/1".into()
            }
        );
        let moved = plan
            .nodes
            .iter()
            .find(|n| n.path == "data/versions/2024.01.02/1")
            .unwrap();
        assert_eq!(
            moved.kind,
            NodeKind::Moved {
                from: "data/2024.01.02".into(),
                is_dir: true
            }
        );
        let dates: Vec<_> = plan.partitions.iter().map(|p| p.date.as_str()).collect();
        assert_eq!(dates, ["2023.12.29", "2024.01.02", "2024.01.03"]);
        assert_eq!(plan.partitions[0].from, "s3://bucket/db/2023.12.29");
        assert_eq!(plan.tiers[0].partitions, 2);
        assert_eq!(plan.tiers[1].partitions, 1);
    }

    #[test]
    fn symlink_targets_resolve_to_moved_nodes() {
        let plan = build(&input()).unwrap();
        for node in &plan.nodes {
            if let NodeKind::Symlink { target } = &node.kind {
                let parent = node.path.rsplit_once('/').unwrap().0;
                let resolved = normalize(&format!("{parent}/{target}"));
                assert!(
                    plan.nodes.iter().any(|n| n.path == resolved),
                    "{} -> {target} resolves to {resolved}, not a plan node",
                    node.path
                );
            }
        }
    }

    fn normalize(p: &str) -> String {
        let mut out: Vec<&str> = Vec::new();
        for c in p.split('/') {
            match c {
                ".." => {
                    out.pop();
                }
                "." | "" => {}
                c => out.push(c),
            }
        }
        out.join("/")
    }

    #[test]
    fn nodes_sorted_parents_first_and_unique() {
        let plan = build(&input()).unwrap();
        for (i, n) in plan.nodes.iter().enumerate() {
            if let Some((parent, _)) = n.path.rsplit_once('/') {
                let pi = plan.nodes.iter().position(|p| p.path == parent);
                assert!(
                    matches!(pi, Some(pi) if pi < i),
                    "parent of {} missing/after",
                    n.path
                );
            }
        }
        let mut paths: Vec<_> = plan.nodes.iter().map(|n| &n.path).collect();
        paths.dedup();
        assert_eq!(paths.len(), plan.nodes.len());
    }

    #[test]
    fn same_date_in_two_tiers_is_refused() {
        let mut i = input();
        i.object_partitions
            .push(("2024.01.02".into(), "archive".into()));
        let err = build(&i).unwrap_err();
        assert_eq!(
            err,
            PlanError::DuplicateDate {
                date: "2024.01.02".into(),
                first: "recent".into(),
                second: "archive".into()
            }
        );
    }

    #[test]
    fn root_entry_clashing_with_generated_name_is_refused() {
        let mut i = input();
        i.root_entries.push(RootEntry {
            name: "par.txt".into(),
            is_dir: false,
        });
        assert!(matches!(build(&i), Err(PlanError::NameClash { .. })));
    }

    #[test]
    fn objects_only_scenario_keeps_an_empty_local_segment() {
        let mut i = input();
        i.local_partitions.clear();
        let plan = build(&i).unwrap();
        assert!(plan.nodes.iter().any(|n| n.path == "db/recent$"));
        assert_eq!(plan.par_txt, "recent$\ns3://bucket/db\n");
        assert_eq!(plan.tiers[0].partitions, 0);
    }

    #[test]
    fn no_local_tier_is_an_error() {
        let mut i = input();
        i.tiers.remove(0);
        assert!(matches!(build(&i), Err(PlanError::NoLocalTier(_))));
    }

    #[test]
    fn deterministic() {
        assert_eq!(build(&input()).unwrap(), build(&input()).unwrap());
    }
}
