//! View-only nodes of validation mode (`smstage mount --object-tiers-local`): each object tier
//! of the plan becomes a local segment `<root>/<tier>$` whose partitions, tables and files are
//! listed from the object inventory, and the view's `par.txt` names that segment instead of the
//! tier's `s3://` line, so a kdb+ without the object-storage module can load those partitions.
//!
//! The plan itself is untouched: the committed `par.txt` keeps the `s3://` line.

use super::objread::{ObjectLeaf, ObjectReader, Reopen};
use super::ViewError;
use crate::inventory::ObjectTierInv;
use crate::object::ObjectTier;
use crate::plan::{segment_dir_name, Plan, TierKind};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OverlayKind {
    Dir,
    /// A file whose bytes are those of an object.
    Object(ObjectLeaf),
}

/// One entry added to the view, its path relative to the base like a plan node's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverlayNode {
    pub path: String,
    pub kind: OverlayKind,
}

/// An object tier shown as a local segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalSegment {
    pub tier: String,
    /// `<root>/<tier>$`.
    pub path: String,
    /// The `s3://` line it replaces in the view's `par.txt`.
    pub url: String,
    pub partitions: usize,
}

#[derive(Debug)]
pub struct ObjectOverlay {
    /// The view's `par.txt` (differs from the plan's).
    pub par_txt: String,
    /// Parents before children.
    pub nodes: Vec<OverlayNode>,
    /// The tiers the leaves' `tier` indexes point into.
    pub tiers: Vec<ObjectTier>,
    pub segments: Vec<LocalSegment>,
}

/// Validation mode as the tree needs it: the extra nodes and the reader of their bytes.
#[derive(Debug)]
pub struct ObjectView {
    pub overlay: ObjectOverlay,
    pub reader: Arc<ObjectReader>,
}

impl ObjectView {
    /// A reader over the overlay's tiers with a block cache of `cache_bytes`; `reopen` gives
    /// the serving process fresh S3 clients (None: use the tiers as they are).
    pub fn new(overlay: ObjectOverlay, cache_bytes: u64, reopen: Option<Reopen>) -> ObjectView {
        let reader = Arc::new(ObjectReader::new(
            overlay.tiers.clone(),
            cache_bytes,
            reopen,
        ));
        ObjectView { overlay, reader }
    }
}

/// The view-only nodes showing every object tier of `plan` as a local segment, from the
/// inventory of those tiers (names and sizes from the listings; nothing is read here).
pub fn object_overlay(plan: &Plan, inv: &[ObjectTierInv]) -> Result<ObjectOverlay, ViewError> {
    let bad = |path: &str, why: String| ViewError::BadPlan {
        path: path.to_string(),
        why,
    };
    let mut par_txt = String::new();
    let mut nodes = Vec::new();
    let mut tiers = Vec::new();
    let mut segments = Vec::new();
    for pt in &plan.tiers {
        if pt.kind == TierKind::Local {
            par_txt.push_str(&pt.par_entry);
            par_txt.push('\n');
            continue;
        }
        let seg_name = segment_dir_name(&pt.name);
        let seg = format!("{}/{seg_name}", plan.root);
        if plan.nodes.iter().any(|n| n.path == seg) {
            return Err(bad(
                &seg,
                format!("object tier {} cannot be shown as the local segment {seg_name}: the view already has an entry of that name", pt.name),
            ));
        }
        let ti = inv
            .iter()
            .find(|t| t.name == pt.name)
            .ok_or_else(|| bad(&seg, format!("object tier {} has no inventory", pt.name)))?;
        par_txt.push_str(&seg_name);
        par_txt.push('\n');
        let index = tiers.len();
        let tier = &ti.tier;
        let leaf = |rel: String, size: u64| -> Result<OverlayKind, ViewError> {
            let key = tier
                .key(&rel)
                .map_err(|e| bad(&format!("{seg}/{rel}"), e.to_string()))?;
            Ok(OverlayKind::Object(ObjectLeaf {
                tier: index,
                url: tier.url_of(&key),
                key,
                size,
            }))
        };
        nodes.push(OverlayNode {
            path: seg.clone(),
            kind: OverlayKind::Dir,
        });
        for p in &ti.partitions {
            nodes.push(OverlayNode {
                path: format!("{seg}/{}", p.date),
                kind: OverlayKind::Dir,
            });
            for t in &p.tables {
                let tdir = format!("{seg}/{}/{}", p.date, t.name);
                nodes.push(OverlayNode {
                    path: tdir.clone(),
                    kind: OverlayKind::Dir,
                });
                if let Some(size) = t.dotd_size {
                    nodes.push(OverlayNode {
                        path: format!("{tdir}/.d"),
                        kind: leaf(format!("{}/{}/.d", p.date, t.name), size)?,
                    });
                }
                for f in &t.files {
                    nodes.push(OverlayNode {
                        path: format!("{tdir}/{}", f.name),
                        kind: leaf(format!("{}/{}/{}", p.date, t.name, f.name), f.size)?,
                    });
                }
            }
        }
        segments.push(LocalSegment {
            tier: pt.name.clone(),
            path: seg,
            url: pt.par_entry.clone(),
            partitions: ti.partitions.len(),
        });
        tiers.push(tier.clone());
    }
    Ok(ObjectOverlay {
        par_txt,
        nodes,
        tiers,
        segments,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::plan::{build, PlanInput, RootEntry, TierInput};
    use object_store::memory::InMemory;
    use std::path::Path;

    /// The fake database of the tree tests plus an `archive` tier in memory holding two older
    /// partitions (uploaded as kdb+ would find them), inventoried for real.
    pub(crate) fn fake_db_with_archive(base: &Path) -> (Plan, Vec<ObjectTierInv>) {
        let local = crate::view::tree::tests::fake_db(base);
        let tier = ObjectTier::from_store(Arc::new(InMemory::new()), "mem", "bkt", "arch");
        use crate::kdb::write::{nested_chars_bytes, symbols_bytes, vector_bytes, HeaderCount};
        for (date, n) in [("2023.12.28", 4usize), ("2023.12.29", 6)] {
            let (index, items) = nested_chars_bytes(&[b"ab", b"cde"], HeaderCount::Set);
            let longs: Vec<u8> = (0..n as i64).flat_map(|v| v.to_le_bytes()).collect();
            let put = |name: &str, bytes: Vec<u8>| {
                tier.put(&format!("{date}/trade/{name}"), bytes).unwrap();
            };
            put(
                ".d",
                symbols_bytes(&["price", "note"], HeaderCount::Set).unwrap(),
            );
            put(
                "price",
                vector_bytes(
                    crate::kdb::T_LONG,
                    crate::kdb::Attr::None,
                    &longs,
                    HeaderCount::Set,
                )
                .unwrap(),
            );
            put("note", index);
            put("note#", items);
        }
        let oi = crate::object::take_object_inventory(&tier, "archive").unwrap();
        assert!(oi.findings.is_empty(), "{:?}", oi.findings);
        let plan = build(&PlanInput {
            base: local.base.clone(),
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
                    name: "hdb".into(),
                    kind: TierKind::Local,
                    store: format!("file://{}/data", base.display()),
                },
                TierInput {
                    name: "archive".into(),
                    kind: TierKind::Object,
                    store: "s3://bkt/arch".into(),
                },
            ],
            local_partitions: vec!["2024.01.02".into(), "2024.01.03".into()],
            object_partitions: oi
                .partitions
                .iter()
                .map(|p| (p.date.clone(), "archive".to_string()))
                .collect(),
        })
        .unwrap();
        let inv = vec![ObjectTierInv {
            name: "archive".into(),
            tier,
            partitions: oi.partitions,
        }];
        (plan, inv)
    }

    #[test]
    fn object_tier_becomes_a_local_segment_with_every_object() {
        let tmp = tempfile::tempdir().unwrap();
        let (plan, inv) = fake_db_with_archive(tmp.path());
        assert_eq!(plan.par_txt, "hdb$\ns3://bkt/arch\n");
        let o = object_overlay(&plan, &inv).unwrap();
        assert_eq!(o.par_txt, "hdb$\narchive$\n");
        assert_eq!(
            o.segments,
            vec![LocalSegment {
                tier: "archive".into(),
                path: "db/archive$".into(),
                url: "s3://bkt/arch".into(),
                partitions: 2,
            }]
        );
        let listed: Vec<(String, Option<u64>)> = o
            .nodes
            .iter()
            .map(|n| {
                let size = match &n.kind {
                    OverlayKind::Dir => None,
                    OverlayKind::Object(l) => Some(l.size),
                };
                (n.path.clone(), size)
            })
            .collect();
        // Every object of the tier, with its listed size, under the segment.
        let objects = inv[0].tier.list_all("").unwrap();
        let mut want: Vec<(String, Option<u64>)> = vec![("db/archive$".into(), None)];
        for d in ["2023.12.28", "2023.12.29"] {
            want.push((format!("db/archive$/{d}"), None));
            want.push((format!("db/archive$/{d}/trade"), None));
            for (rel, size) in objects.iter().filter(|(r, _)| r.starts_with(d)) {
                want.push((format!("db/archive$/{rel}"), Some(*size)));
            }
        }
        assert_eq!(listed, want);
        // Parents come first and leaves name their objects.
        for (i, n) in o.nodes.iter().enumerate().skip(1) {
            let parent = n.path.rsplit_once('/').unwrap().0;
            assert!(o.nodes[..i].iter().any(|p| p.path == parent), "{}", n.path);
            if let OverlayKind::Object(l) = &n.kind {
                let rel = n.path.strip_prefix("db/archive$/").unwrap();
                assert_eq!(l.url, format!("s3://bkt/arch/{rel}"));
                assert_eq!(l.tier, 0);
            }
        }
        // The plan is not changed by any of this.
        assert_eq!(plan.par_txt, "hdb$\ns3://bkt/arch\n");
    }

    #[test]
    fn a_clash_or_a_missing_inventory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let (plan, inv) = fake_db_with_archive(tmp.path());
        let e = object_overlay(&plan, &[]).unwrap_err();
        assert!(e.to_string().contains("no inventory"), "{e}");
        let mut p2 = plan.clone();
        p2.nodes.push(crate::plan::Node {
            path: "db/archive$".into(),
            kind: crate::plan::NodeKind::Dir,
        });
        let e = object_overlay(&p2, &inv).unwrap_err();
        assert!(e.to_string().contains("archive$"), "{e}");
    }
}
