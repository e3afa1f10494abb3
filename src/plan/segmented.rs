//! The plan of a segmented database (the root `data/` holds `par.txt`, each segment is the store
//! of one local tier): pure, no I/O. Layout and reasons: docs/sm-layout.md, "Segmented
//! databases".

use super::build::{
    add_tier, assemble, claim, claim_object_partitions, dir, move_root_entries, place_partitions,
    segment_dir_name, PlanError, RootEntry, TierInput, ROOT_DIR, SOURCE_DIR,
};
use super::model::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Directory of `base` holding one anchor per segment store (`stores/<tier>`).
pub const STORES_DIR: &str = "stores";
/// Directory of a store holding the versioned partitions (`<store>/versions/<date>/<n>`).
pub const STORE_VERSIONS: &str = "versions";

/// One segment of the original database: the store of local tier `tier`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInput {
    pub tier: String,
    /// Absolute path of the segment directory, symlinks resolved.
    pub dir: PathBuf,
    /// Its line in the original `par.txt`, as written.
    pub par_entry: String,
    /// Date partitions found in it, `YYYY.MM.DD`.
    pub partitions: Vec<String>,
}

/// Everything the segmented layout depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentedInput {
    pub base: PathBuf,
    /// Entries of the root other than `par.txt`: they move into the new root.
    pub root_entries: Vec<RootEntry>,
    /// The HDB tiers in configuration order.
    pub tiers: Vec<TierInput>,
    pub segments: Vec<SegmentInput>,
    /// Date partitions found in object tiers: (date, tier name).
    pub object_partitions: Vec<(String, String)>,
}

/// The anchor of `tier`'s store, relative to `base`.
pub fn store_anchor(tier: &str) -> String {
    format!("{STORES_DIR}/{tier}")
}

/// Target of the committed anchor `stores/<tier>`: relative when the store lies inside `base`
/// (the tree stays movable as a whole), absolute otherwise.
pub fn anchor_link(base: &Path, dir: &Path) -> String {
    match dir.strip_prefix(base) {
        Ok(rel) if !rel.as_os_str().is_empty() => format!("../{}", rel.display()),
        _ => dir.display().to_string(),
    }
}

/// Builds the plan of a segmented database. Deterministic, like [`super::build`].
pub fn build_segmented(input: &SegmentedInput) -> Result<Plan, PlanError> {
    let by_tier: BTreeMap<&str, &SegmentInput> = input
        .segments
        .iter()
        .map(|s| (s.tier.as_str(), s))
        .collect();
    let segment_of = |tier: &TierInput| {
        by_tier
            .get(tier.name.as_str())
            .copied()
            .ok_or_else(|| PlanError::NotASegment {
                tier: tier.name.clone(),
                store: tier.store.clone(),
            })
    };
    let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
    for tier in input.tiers.iter().filter(|t| t.kind == TierKind::Local) {
        for date in &segment_of(tier)?.partitions {
            claim(&mut owner, date, &tier.name)?;
        }
    }
    claim_object_partitions(&mut owner, &input.tiers, &input.object_partitions)?;

    // The original par.txt stays where it is: the commit never changes it (so rollback has
    // nothing to restore), and `data/` is not a root anyone loads after the import.
    let par_path = format!("{SOURCE_DIR}/par.txt");
    let mut nodes = vec![
        dir(SOURCE_DIR),
        Node {
            path: par_path.clone(),
            kind: NodeKind::Moved {
                from: par_path,
                is_dir: false,
            },
        },
        dir(ROOT_DIR),
        dir(STORES_DIR),
    ];
    let mut par_txt = String::new();
    let mut tiers = Vec::new();
    let mut stores = Vec::new();
    let mut generated = vec!["par.txt".to_string()];
    for tier in &input.tiers {
        let par_entry = match tier.kind {
            TierKind::Local => {
                let seg_dir = segment_dir_name(&tier.name);
                nodes.push(dir(&format!("{ROOT_DIR}/{seg_dir}")));
                generated.push(seg_dir.clone());
                let seg = segment_of(tier)?;
                let anchor = store_anchor(&tier.name);
                nodes.push(dir(&anchor));
                if !seg.partitions.is_empty() {
                    nodes.push(dir(&format!("{anchor}/{STORE_VERSIONS}")));
                }
                stores.push(PlanStore {
                    tier: tier.name.clone(),
                    path: anchor,
                    dir: seg.dir.clone(),
                    link: anchor_link(&input.base, &seg.dir),
                    par_entry: seg.par_entry.clone(),
                });
                seg_dir
            }
            TierKind::Object => tier.store.trim_end_matches('/').to_string(),
        };
        add_tier(tier, par_entry, &owner, &mut par_txt, &mut tiers);
    }
    nodes.push(Node {
        path: format!("{ROOT_DIR}/par.txt"),
        kind: NodeKind::File {
            contents: par_txt.clone(),
        },
    });
    move_root_entries(&input.root_entries, &generated, &mut nodes)?;
    let partitions = place_partitions(&owner, &input.tiers, &mut nodes, |tier| {
        by_tier.contains_key(tier).then(|| {
            let anchor = store_anchor(tier);
            let versions = format!("{anchor}/{STORE_VERSIONS}");
            (anchor, versions)
        })
    });
    Ok(assemble(
        &input.base,
        par_txt,
        tiers,
        partitions,
        nodes,
        stores,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SegmentedInput {
        let seg = |tier: &str, dir: &str, entry: &str, dates: &[&str]| SegmentInput {
            tier: tier.into(),
            dir: dir.into(),
            par_entry: entry.into(),
            partitions: dates.iter().map(|d| d.to_string()).collect(),
        };
        SegmentedInput {
            base: "/srv/hdb".into(),
            root_entries: vec![RootEntry {
                name: "sym".into(),
                is_dir: false,
            }],
            tiers: vec![
                TierInput {
                    name: "fast".into(),
                    kind: TierKind::Local,
                    store: "file:///mnt/ssd/seg".into(),
                },
                TierInput {
                    name: "slow".into(),
                    kind: TierKind::Local,
                    store: "file:///srv/hdb/seg2".into(),
                },
                TierInput {
                    name: "cold".into(),
                    kind: TierKind::Object,
                    store: "s3://b/db".into(),
                },
            ],
            // par.txt order differs from the configuration's: the plan follows the latter.
            segments: vec![
                seg("slow", "/srv/hdb/seg2", "../seg2", &["2024.01.02"]),
                seg(
                    "fast",
                    "/mnt/ssd/seg",
                    "/mnt/ssd/seg",
                    &["2024.01.04", "2024.01.03"],
                ),
            ],
            object_partitions: vec![("2023.12.29".into(), "cold".into())],
        }
    }

    #[test]
    fn par_txt_follows_the_configuration_and_anchors_point_at_the_stores() {
        let plan = build_segmented(&input()).unwrap();
        assert_eq!(plan.par_txt, "fast$\nslow$\ns3://b/db\n");
        let links: Vec<(&str, &str)> = plan
            .stores
            .iter()
            .map(|s| (s.path.as_str(), s.link.as_str()))
            .collect();
        assert_eq!(
            links,
            [("stores/fast", "/mnt/ssd/seg"), ("stores/slow", "../seg2")]
        );
        assert_eq!(plan.tiers[0].partitions, 2);
        assert_eq!(plan.tiers[1].partitions, 1);
        assert_eq!(plan.tiers[2].partitions, 1);
    }

    #[test]
    fn partitions_move_inside_their_own_store() {
        let plan = build_segmented(&input()).unwrap();
        let p = plan
            .partitions
            .iter()
            .find(|p| p.date == "2024.01.03")
            .unwrap();
        assert_eq!(p.from, "stores/fast/2024.01.03");
        assert_eq!(p.to.as_deref(), Some("stores/fast/versions/2024.01.03/1"));
        assert_eq!(p.link.as_deref(), Some("db/fast$/2024.01.03"));
        let link = plan.nodes.iter().find(|n| n.path == "db/fast$/2024.01.03");
        assert_eq!(
            link.map(|n| &n.kind),
            Some(&NodeKind::Symlink {
                target: "../../stores/fast/versions/2024.01.03/1".into()
            })
        );
        // parents first, unique
        for (i, n) in plan.nodes.iter().enumerate() {
            if let Some((parent, _)) = n.path.rsplit_once('/') {
                let pi = plan.nodes.iter().position(|p| p.path == parent);
                assert!(matches!(pi, Some(pi) if pi < i), "{}", n.path);
            }
        }
    }

    #[test]
    fn a_date_in_two_segments_or_a_segment_and_a_bucket_is_refused() {
        let mut i = input();
        i.segments[0].partitions.push("2024.01.03".into());
        assert!(matches!(
            build_segmented(&i),
            Err(PlanError::DuplicateDate { .. })
        ));
        let mut i = input();
        i.object_partitions
            .push(("2024.01.02".into(), "cold".into()));
        assert!(matches!(
            build_segmented(&i),
            Err(PlanError::DuplicateDate { .. })
        ));
    }

    #[test]
    fn a_local_tier_without_segment_is_refused() {
        let mut i = input();
        i.segments.remove(0);
        assert_eq!(
            build_segmented(&i),
            Err(PlanError::NotASegment {
                tier: "slow".into(),
                store: "file:///srv/hdb/seg2".into()
            })
        );
    }

    #[test]
    fn simple_plans_serialise_without_stores() {
        let plan = build_segmented(&input()).unwrap();
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["stores"].as_array().map(Vec::len), Some(2));
        let mut simple = plan.clone();
        simple.stores.clear();
        let json = serde_json::to_value(&simple).unwrap();
        assert!(json.get("stores").is_none());
        let back: Plan = serde_json::from_value(json).unwrap();
        assert_eq!(back, simple);
    }
}
