//! The remedies in the plan (`plan --remedy … --save`): what was asked for, the files staged
//! for it, and the layout with those files in place. Pure: the staged files and the listings of
//! the directories they land in come in; the plan's nodes go out (docs/sm-layout.md,
//! "Remedies").

use super::model::{Node, NodeKind, Plan};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Where staged files live, relative to the baseURI: `<STAGE_DIR>/<stage_id>/…`, mirroring the
/// paths they will have in the database (same filesystem, so each commit step is a rename).
pub const STAGE_DIR: &str = ".smstage/stage";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRemedies {
    /// Every `--remedy` as given, in order.
    pub given: Vec<String>,
    /// The staging directory, relative to the baseURI (`.smstage/stage/<stage_id>`).
    pub stage: String,
    /// What the remedies do, one line per table of each partition.
    pub actions: Vec<String>,
    /// Every staged file, sorted by `path`.
    pub files: Vec<StagedFile>,
    /// The derived partition columns, one per table of each partition (what `verify
    /// --against` checks row by row).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived: Vec<DerivedColumn>,
    /// The empty tables written where they were absent (fill-tables), one per table of each
    /// partition: what `verify --against` checks (0 rows, the configured columns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filled: Vec<FilledTable>,
    /// The new table directories, each staged complete (its files are in `files` too) and
    /// placed by the commit with one rename, so the table appears whole or not at all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirs: Vec<StagedDir>,
    /// The null-filled columns (add-columns), one per column of each table of each partition:
    /// what `verify --against` checks (every row null, the table's rows).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<AddedColumn>,
    /// one-sym: the symbols appended to the root `sym` (the new `sym` is the old one byte for
    /// byte, then these): what `verify --against` allows between the two roots' `sym`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sym_appended: Vec<String>,
    /// The entries set-aside moves out of the database (to `smstage-aside/`), sorted by
    /// `path`: no longer in the layout, each a node of its own under `smstage-aside/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aside: Vec<AsideEntry>,
}

/// An entry of the database moved aside whole by one rename: `path` becomes `aside` (both
/// relative to the baseURI).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsideEntry {
    pub path: String,
    pub aside: String,
    pub is_dir: bool,
}

/// A column add-columns writes null-filled into a partition's table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddedColumn {
    pub date: String,
    pub table: String,
    pub column: String,
}

/// An empty table that fill-tables writes into a partition that lacked it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilledTable {
    pub date: String,
    pub table: String,
    /// Its columns, as its `.d` lists them (the configured ones, in configured order).
    pub columns: Vec<String>,
}

/// A new directory staged whole: `staged` becomes `path` (both relative to the baseURI).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedDir {
    pub path: String,
    pub staged: String,
}

impl PlanRemedies {
    /// The staged directory `file` (a database path) lies in, if it is inside a new one.
    pub fn new_dir_of(&self, file: &str) -> Option<&StagedDir> {
        self.dirs.iter().find(|d| {
            file.len() > d.path.len()
                && file.starts_with(&d.path)
                && file.as_bytes()[d.path.len()] == b'/'
        })
    }
}

/// A column derived as its partition's date + `source` (derive-prtncol).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivedColumn {
    pub date: String,
    pub table: String,
    pub column: String,
    pub source: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedFile {
    /// Where the file goes in the original database before its partition moves, relative to
    /// the baseURI (`data/2024.01.02/trade/ts`).
    pub path: String,
    /// Where it is staged, relative to the baseURI.
    pub staged: String,
    pub size: u64,
    /// sha256 of its bytes, lowercase hex.
    pub sha256: String,
    /// True when it takes the place of an original file (a `.d`): the commit swaps the two and
    /// the original is kept in the staging area for rollback.
    pub replaces: bool,
}

/// Whether `p` lies strictly below the directory `dir`.
fn under_dir(p: &str, dir: &str) -> bool {
    p.len() > dir.len() && p.starts_with(dir) && p.as_bytes()[dir.len()] == b'/'
}

fn parent(p: &str) -> &str {
    p.rfind('/').map_or("", |i| &p[..i])
}

/// The directories whose listing [`apply`] needs: each remedied partition (`from`) and each
/// table directory that receives a staged file.
/// A new table directory (`dirs`) is not listed: it does not exist in the database.
pub fn listings_needed(plan: &Plan, files: &[StagedFile], dirs: &[StagedDir]) -> BTreeSet<String> {
    listings_needed_with(plan, files, dirs, &[])
}

/// [`listings_needed`], with the partitions (and tables) set-aside takes entries out of.
pub fn listings_needed_with(
    plan: &Plan,
    files: &[StagedFile],
    dirs: &[StagedDir],
    aside: &[AsideEntry],
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for a in aside {
        for p in &plan.partitions {
            if under_dir(&a.path, &p.from) {
                out.insert(p.from.clone());
                let table = parent(&a.path);
                if table != p.from {
                    out.insert(table.to_string());
                }
            }
        }
    }
    for f in files {
        let table = parent(&f.path);
        if let Some(p) = plan.partitions.iter().find(|p| parent(table) == p.from) {
            out.insert(p.from.clone());
            if !dirs.iter().any(|d| d.path == table) {
                out.insert(table.to_string());
            }
        }
    }
    out
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RemediedError {
    #[error("staged file {0} is neither inside a table of a local partition of the plan nor a root file it replaces")]
    Outside(String),
    #[error("no listing of {0} (the fingerprint does not hold it)")]
    NoListing(String),
}

/// Puts the staged files in the plan: each partition that receives one is shown entry by entry
/// (a `dir` node at its destination, its untouched tables `moved` whole, each remedied table a
/// `dir` whose original files are `moved` one by one and whose staged files are `moved` from
/// the staging area; a replaced original is not shown; a new table directory is `moved` whole
/// from the staging area). `children` lists, for every directory
/// of [`listings_needed`], its entries as (name, is_dir).
pub fn apply(
    plan: &mut Plan,
    remedies: PlanRemedies,
    children: &BTreeMap<String, Vec<(String, bool)>>,
) -> Result<(), RemediedError> {
    // partition from -> (to, table dir -> staged files)
    let mut by_part: BTreeMap<String, (String, BTreeMap<String, Vec<&StagedFile>>)> =
        BTreeMap::new();
    for f in &remedies.files {
        let table = parent(&f.path);
        if table == plan.source {
            // A replaced root file (one-sym's `sym`): the root entry the plan moves from the
            // original is served from the staged file instead.
            let node = plan.nodes.iter_mut().find(
                |n| matches!(&n.kind, NodeKind::Moved { from, is_dir: false } if *from == f.path),
            );
            match node {
                Some(Node {
                    kind: NodeKind::Moved { from, .. },
                    ..
                }) if f.replaces => *from = f.staged.clone(),
                _ => return Err(RemediedError::Outside(f.path.clone())),
            }
            continue;
        }
        let p = plan
            .partitions
            .iter()
            .find(|p| parent(table) == p.from && p.to.is_some())
            .ok_or_else(|| RemediedError::Outside(f.path.clone()))?;
        let to = p.to.clone().unwrap_or_default();
        by_part
            .entry(p.from.clone())
            .or_insert_with(|| (to, BTreeMap::new()))
            .1
            .entry(table.to_string())
            .or_default()
            .push(f);
    }
    // set-aside: each partition it takes an entry out of is shown entry by entry too, a
    // table it takes a file out of file by file.
    for a in &remedies.aside {
        let Some(p) = plan
            .partitions
            .iter()
            .find(|p| p.to.is_some() && under_dir(&a.path, &p.from))
        else {
            continue;
        };
        let to = p.to.clone().unwrap_or_default();
        let tables = &mut by_part
            .entry(p.from.clone())
            .or_insert_with(|| (to, BTreeMap::new()))
            .1;
        let table = parent(&a.path);
        if table != p.from {
            tables.entry(table.to_string()).or_default();
        }
    }
    let aside: BTreeSet<&str> = remedies.aside.iter().map(|a| a.path.as_str()).collect();
    let list = |d: &str| {
        children
            .get(d)
            .ok_or_else(|| RemediedError::NoListing(d.to_string()))
    };
    let mut new_nodes = Vec::new();
    for (from, (to, tables)) in &by_part {
        plan.nodes.retain(|n| &n.path != to);
        new_nodes.push(Node {
            path: to.clone(),
            kind: NodeKind::Dir,
        });
        for d in &remedies.dirs {
            if parent(&d.path) == from {
                new_nodes.push(Node {
                    path: format!("{to}/{}", &d.path[from.len() + 1..]),
                    kind: NodeKind::Moved {
                        from: d.staged.clone(),
                        is_dir: true,
                    },
                });
            }
        }
        for (name, is_dir) in list(from)? {
            let orig = format!("{from}/{name}");
            let dest = format!("{to}/{name}");
            if aside.contains(orig.as_str()) {
                continue;
            }
            let Some(staged) = tables.get(&orig) else {
                new_nodes.push(Node {
                    path: dest,
                    kind: NodeKind::Moved {
                        from: orig,
                        is_dir: *is_dir,
                    },
                });
                continue;
            };
            new_nodes.push(Node {
                path: dest.clone(),
                kind: NodeKind::Dir,
            });
            for (file, is_dir) in list(&orig)? {
                let path = format!("{orig}/{file}");
                if staged.iter().any(|s| s.path == path) || aside.contains(path.as_str()) {
                    continue;
                }
                new_nodes.push(Node {
                    path: format!("{dest}/{file}"),
                    kind: NodeKind::Moved {
                        from: path,
                        is_dir: *is_dir,
                    },
                });
            }
            for s in staged {
                let file = &s.path[orig.len() + 1..];
                new_nodes.push(Node {
                    path: format!("{dest}/{file}"),
                    kind: NodeKind::Moved {
                        from: s.staged.clone(),
                        is_dir: false,
                    },
                });
            }
        }
    }
    // A root entry set aside is no longer moved into the new root; each entry set aside is
    // a node of its own under smstage-aside/, below the directories that hold it there.
    plan.nodes.retain(
        |n| !matches!(&n.kind, NodeKind::Moved { from, .. } if aside.contains(from.as_str())),
    );
    let mut aside_dirs: BTreeSet<String> = BTreeSet::new();
    for a in &remedies.aside {
        let mut d = parent(&a.aside);
        while !d.is_empty() {
            aside_dirs.insert(d.to_string());
            d = parent(d);
        }
        new_nodes.push(Node {
            path: a.aside.clone(),
            kind: NodeKind::Moved {
                from: a.path.clone(),
                is_dir: a.is_dir,
            },
        });
    }
    new_nodes.extend(aside_dirs.into_iter().map(|path| Node {
        path,
        kind: NodeKind::Dir,
    }));
    plan.nodes.extend(new_nodes);
    plan.nodes
        .sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    plan.remedies = Some(remedies);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remedied_partition_is_shown_entry_by_entry() {
        let mut plan = crate::plan::build(&crate::plan::PlanInput {
            base: "/srv/hdb".into(),
            root_entries: vec![],
            tiers: vec![crate::plan::TierInput {
                name: "hdb".into(),
                kind: crate::plan::TierKind::Local,
                store: "file:///srv/hdb/data".into(),
            }],
            local_partitions: vec!["2024.01.02".into(), "2024.01.03".into()],
            object_partitions: vec![],
        })
        .unwrap();
        let d = "2024.01.02";
        let files = vec![
            StagedFile {
                path: format!("data/{d}/trade/.d"),
                staged: format!(".smstage/stage/x/data/{d}/trade/.d"),
                size: 10,
                sha256: "a".into(),
                replaces: true,
            },
            StagedFile {
                path: format!("data/{d}/trade/ts"),
                staged: format!(".smstage/stage/x/data/{d}/trade/ts"),
                size: 32,
                sha256: "b".into(),
                replaces: false,
            },
        ];
        let need = listings_needed(&plan, &files, &[]);
        assert_eq!(
            need.iter().cloned().collect::<Vec<_>>(),
            vec![format!("data/{d}"), format!("data/{d}/trade")]
        );
        let mut children = BTreeMap::new();
        children.insert(
            format!("data/{d}"),
            vec![("quote".to_string(), true), ("trade".to_string(), true)],
        );
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
        let to = format!("data/versions/{d}/1");
        let got: Vec<(String, NodeKind)> = plan
            .nodes
            .iter()
            .filter(|n| n.path.starts_with(&to))
            .map(|n| (n.path.clone(), n.kind.clone()))
            .collect();
        let mv = |f: String| NodeKind::Moved {
            from: f,
            is_dir: false,
        };
        assert_eq!(
            got,
            vec![
                (to.clone(), NodeKind::Dir),
                (
                    format!("{to}/quote"),
                    NodeKind::Moved {
                        from: format!("data/{d}/quote"),
                        is_dir: true
                    }
                ),
                (format!("{to}/trade"), NodeKind::Dir),
                (
                    format!("{to}/trade/.d"),
                    mv(format!(".smstage/stage/x/data/{d}/trade/.d"))
                ),
                (
                    format!("{to}/trade/time"),
                    mv(format!("data/{d}/trade/time"))
                ),
                (
                    format!("{to}/trade/ts"),
                    mv(format!(".smstage/stage/x/data/{d}/trade/ts"))
                ),
            ]
        );
        // The other partition is untouched.
        assert!(plan
            .nodes
            .iter()
            .any(|n| n.path == "data/versions/2024.01.03/1"
                && matches!(n.kind, NodeKind::Moved { is_dir: true, .. })));
    }
}
