//! The generated part of the view: the plan's nodes (and, in validation mode, the object
//! tiers' entries) as entries served from memory, numbered `i + 2` in order after the root.
//! Built once, checked (plain relative paths, parents before children, moved originals that
//! exist and are what the plan says), never changed.

use super::listings::{Child, Listing};
use super::objects::{ObjectView, OverlayKind};
use super::objread::ObjectLeaf;
use super::origin::{plain_relative, OrigKind, Origin};
use super::tree::{attr_of, kind_of, Attr, Ino, Kind, ROOT_INO};
use super::{inodes, ViewError};
use crate::plan::{NodeKind, Plan};
use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug)]
pub(super) enum GenBody {
    Dir(Listing),
    Symlink(Vec<u8>),
    File(Arc<[u8]>),
    Moved {
        from: PathBuf,
        /// The original's attributes when the view was built (the view serves them frozen).
        attr: Attr,
        /// A moved directory's slot in the directory table.
        slot: Option<u32>,
    },
    /// Validation mode: a file whose bytes are an object's.
    Object(ObjectLeaf),
}

#[derive(Debug)]
pub(super) struct GenEntry {
    pub(super) parent: Ino,
    pub(super) body: GenBody,
}

/// What one entry of the generated part of the tree is made from.
enum Spec<'a> {
    Plan(&'a NodeKind),
    Dir,
    Object(&'a ObjectLeaf),
}

/// The entries of `plan` (index `i` is inode `i + 1`: the root, then the nodes in order), with
/// the moved originals' attributes taken through `origin` now, frozen for the mount.
pub(super) fn entries(
    plan: &Plan,
    objects: Option<&ObjectView>,
    origin: &Origin,
) -> Result<Vec<GenEntry>, ViewError> {
    let bad = |path: &str, why: &str| ViewError::BadPlan {
        path: path.to_string(),
        why: why.to_string(),
    };
    let mut by_path: HashMap<&str, Ino> = HashMap::new();
    let mut children: Vec<Vec<Child>> = vec![Vec::new()];
    let mut gen = vec![GenEntry {
        parent: ROOT_INO,
        body: GenBody::Dir(Arc::new(Vec::new())),
    }];
    let plan_items = plan
        .nodes
        .iter()
        .map(|n| (n.path.as_str(), Spec::Plan(&n.kind)));
    let extra_items = objects.into_iter().flat_map(|o| {
        o.overlay.nodes.iter().map(|n| {
            let spec = match &n.kind {
                OverlayKind::Dir => Spec::Dir,
                OverlayKind::Object(l) => Spec::Object(l),
            };
            (n.path.as_str(), spec)
        })
    });
    let par_txt = format!("{}/par.txt", plan.root);
    for (i, (path, spec)) in plan_items.chain(extra_items).enumerate() {
        let ino = i as Ino + 2;
        if ino >= inodes::MAX_GEN {
            return Err(bad(
                path,
                "too many plan nodes for the view's inode numbers",
            ));
        }
        if path.is_empty() || !plain_relative(Path::new(path)) || path.contains("//") {
            return Err(bad(path, "not a plain relative path"));
        }
        if by_path.insert(path, ino).is_some() {
            return Err(bad(path, "listed twice"));
        }
        let (parent_path, name) = match path.rsplit_once('/') {
            Some((p, n)) => (Some(p), n),
            None => (None, path),
        };
        let parent = match parent_path {
            None => ROOT_INO,
            Some(p) => *by_path
                .get(p)
                .ok_or_else(|| bad(path, "its parent is not an earlier node"))?,
        };
        let (body, kind) = match spec {
            Spec::Dir | Spec::Plan(NodeKind::Dir) => {
                (GenBody::Dir(Arc::new(Vec::new())), Kind::Dir)
            }
            Spec::Object(leaf) => (GenBody::Object(leaf.clone()), Kind::File),
            Spec::Plan(NodeKind::Symlink { target }) => {
                (GenBody::Symlink(target.as_bytes().to_vec()), Kind::Symlink)
            }
            Spec::Plan(NodeKind::File { contents }) => {
                // Validation mode serves its own par.txt; the plan keeps the committed one.
                let contents = match objects {
                    Some(o) if path == par_txt => &o.overlay.par_txt,
                    _ => contents,
                };
                (
                    GenBody::File(Arc::from(contents.as_bytes().to_vec())),
                    Kind::File,
                )
            }
            Spec::Plan(NodeKind::Moved { from, is_dir }) => {
                let from_p = PathBuf::from(from);
                if from.is_empty() || !plain_relative(&from_p) {
                    return Err(bad(
                        path,
                        "moved from a path that is not plain and relative",
                    ));
                }
                let st = origin
                    .lstat(&from_p)
                    .map_err(|source| ViewError::Original {
                        path: plan.base.join(from),
                        source,
                    })?;
                let kind = kind_of(OrigKind::from_mode(st.st_mode))
                    .ok_or_else(|| bad(path, "moved entry is not a file, directory or symlink"))?;
                if (kind == Kind::Dir) != *is_dir {
                    return Err(bad(path, "is_dir disagrees with the original entry"));
                }
                let attr = attr_of(ino, &st)
                    .ok_or_else(|| bad(path, "moved entry is not a file, directory or symlink"))?;
                (
                    GenBody::Moved {
                        from: from_p,
                        attr,
                        slot: None,
                    },
                    kind,
                )
            }
        };
        let parent_idx = (parent - 1) as usize;
        match gen[parent_idx].body {
            GenBody::Dir(_) => {}
            _ => return Err(bad(path, "its parent is not a directory node")),
        }
        children[parent_idx].push(Child {
            name: OsString::from(name),
            ino,
            kind,
            attr: None,
        });
        children.push(Vec::new());
        gen.push(GenEntry { parent, body });
    }
    for (entry, mut kids) in gen.iter_mut().zip(children) {
        if let GenBody::Dir(d) = &mut entry.body {
            kids.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
            *d = Arc::new(kids);
        }
    }
    Ok(gen)
}
