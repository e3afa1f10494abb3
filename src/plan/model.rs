//! The SM layout as data: the one value that the staging view and the commit both render.
//!
//! Every path is relative to the HDB mount's baseURI directory and uses `/` separators. The
//! future tree under the baseURI is exactly the set of [`Node`]s plus, below each
//! [`NodeKind::Moved`] node, the unchanged subtree of the original entry it names.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Version of the plan format (bumped when the JSON shape or the layout changes).
pub const PLAN_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    /// Absolute path of the HDB mount's baseURI directory (`file://` URI decoded).
    pub base: PathBuf,
    /// The original database, relative to `base` (always `data`, the tier store of the HDB tier).
    pub source: String,
    /// The kdb+ root q loads after the import, relative to `base`.
    pub root: String,
    /// Exact bytes of the generated `par.txt`.
    pub par_txt: String,
    pub tiers: Vec<PlanTier>,
    /// Every date partition of the database, in date order.
    pub partitions: Vec<PlanPartition>,
    /// Every entry of the future tree that is not inside a moved subtree, parents first,
    /// sorted by path.
    pub nodes: Vec<Node>,
    /// Segmented databases only (empty, and absent from the JSON, otherwise): the tier stores
    /// that are segments of the original, each reached from `base` through an anchor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stores: Vec<PlanStore>,
    /// `plan --remedy … --save` only (absent from the JSON otherwise): the remedies and the
    /// files staged for them (see `plan::remedied`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedies: Option<super::remedied::PlanRemedies>,
}

/// A local tier whose store is one segment of a segmented database (docs/sm-layout.md,
/// "Segmented databases"). Its partitions are converted inside the store, on the store's own
/// filesystem; the root reaches them through the anchor `path`.
///
/// The anchor is the one place where the committed tree and the staging view differ: the
/// commit makes `path` a symlink to `link`, the view shows `path` as a directory holding the
/// store's future contents (a symlink out of the mount would resolve outside the view, to a
/// tree that does not exist before the commit). The plan's node at `path` is a `dir`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanStore {
    pub tier: String,
    /// The anchor, relative to `base` (`stores/<tier>`).
    pub path: String,
    /// Absolute path of the store (the segment directory, symlinks resolved).
    pub dir: PathBuf,
    /// Target of the committed anchor symlink: relative when the store is inside `base` (the
    /// tree stays relocatable), else the absolute `dir`.
    pub link: String,
    /// The `par.txt` line of the original root that names this segment, as written.
    pub par_entry: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanTier {
    pub name: String,
    /// `local` (a segment symlink in the root) or `object` (an `s3://` line in `par.txt`).
    pub kind: TierKind,
    /// The line this tier contributes to `par.txt`.
    pub par_entry: String,
    /// Store URI as configured (or defaulted).
    pub store: String,
    /// Number of partitions the tier holds.
    pub partitions: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TierKind {
    Local,
    Object,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanPartition {
    /// `YYYY.MM.DD`.
    pub date: String,
    pub tier: String,
    /// Where the partition is now: relative to `base` for a local tier, the object URI otherwise.
    pub from: String,
    /// Where its data lives after the import (relative to `base`), for local tiers.
    pub to: Option<String>,
    /// The segment symlink that publishes it (relative to `base`), for local tiers.
    pub link: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub path: String,
    #[serde(flatten)]
    pub kind: NodeKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum NodeKind {
    /// A directory of the future tree (created by the commit if absent; its children are other
    /// nodes). `data` already exists in the original and keeps its inode.
    Dir,
    /// A symbolic link with a relative target.
    Symlink { target: String },
    /// A file generated from the plan (e.g. `par.txt`).
    File { contents: String },
    /// The original entry at `base/from` (file or whole directory subtree), unchanged,
    /// under a new name. The view passes it through; the commit renames it.
    Moved { from: String, is_dir: bool },
}
