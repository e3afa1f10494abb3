//! The SM assembly configuration (YAML, as KX writes it): mounts, SM tiers and table schemas.
//! What is read, ignored and defaulted is described in docs/config.md.

mod error;
mod locate;
mod parse;
mod types;
mod uri;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use error::{ConfigError, Invalid, InvalidKind};
pub use locate::{KeyPath, Seg};
pub use parse::ALGORITHMS as COMPRESSION_ALGORITHMS;
pub use types::{parse_attr, parse_type};
pub use uri::StoreUri;

use crate::kdb::{Attr, LogicalType};

/// One parsed assembly file. Mounts, tiers, tables and columns keep declaration order.
#[derive(Clone, Debug, PartialEq)]
pub struct AssemblyConfig {
    pub path: PathBuf,
    pub mounts: Vec<Mount>,
    pub tiers: Vec<Tier>,
    pub tables: Vec<TableSchema>,
    /// `initialImport` of the SM section, when present.
    pub initial_import: Option<bool>,
    /// `encryption` of the SM section: whether the assembly declares encrypted storage (the
    /// import keeps encrypted files as they are, so SM must have the same settings and key).
    pub encryption: Option<Encryption>,
}

/// The SM section's `encryption` mapping as far as the import needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encryption {
    pub enabled: bool,
    pub line: Option<usize>,
}

/// A tier's `compression` setting: what SM writes the tier's partitions with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierCompression {
    /// kdb+ algorithm number: 0 none, 1 qipc, 2 gzip, 3 snappy, 4 lz4hc, 5 zstd.
    pub algorithm: u8,
    pub level: u8,
    /// `blockSize`: the logical block size as a power of 2, when given.
    pub block_log2: Option<u8>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Mount {
    pub name: String,
    pub kind: MountKind,
    /// `None` when the file gives no baseURI or `baseURI: none` (KX writes that for stream
    /// mounts); the HDB mount always has one (checked at parse time).
    pub base_uri: Option<StoreUri>,
    pub partition: Partitioning,
    /// 1-based line of the mount's key in the file.
    pub line: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountKind {
    Stream,
    Local,
    Object,
    Other(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Partitioning {
    None,
    Ordinal,
    Date,
    Other(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tier {
    pub name: String,
    pub mount: String,
    /// The explicit `store`, else `<baseURI of the mount>/data`; `None` only when neither
    /// exists (a stream tier with `baseURI: none`).
    pub store: Option<StoreUri>,
    /// True when `store` was not written and comes from the mount's baseURI.
    pub store_defaulted: bool,
    /// `compression`, when given.
    pub compression: Option<TierCompression>,
    pub line: Option<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TableSchema {
    pub name: String,
    /// `partitioned`, `splayed`, `basic` or `splayed_mem`.
    pub kind: String,
    pub columns: Vec<ColumnSchema>,
    /// `prtnCol`, checked to name a column.
    pub prtn_col: Option<String>,
    /// `sortColsDisk` (a list or a single name), checked to name columns.
    pub sort_cols_disk: Vec<String>,
    pub line: Option<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ColumnSchema {
    pub name: String,
    /// The type as written (`long`, `string`, `j`…).
    pub type_name: String,
    pub ty: LogicalType,
    pub attr_disk: Option<Attr>,
    pub line: Option<usize>,
}

impl AssemblyConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            crate::special::read_regular_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        Self::parse(&text, path)
    }

    /// Parses and validates `text`; `path` is only used in error messages and kept in `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        parse::parse(text, path)
    }

    /// The HDB mount's baseURI (the directory holding the database's `data`) of the assembly
    /// at `path`, read even when the assembly as a whole is refused: `check` still reports the
    /// database's own findings beside the configuration error. None when the file cannot be
    /// read or its mounts name no single local HDB mount.
    pub fn hdb_base_dir_lenient(path: &Path) -> Option<PathBuf> {
        let text = crate::special::read_regular_to_string(path).ok()?;
        parse::hdb_base_only(&text, path)
    }

    /// [`Self::parse`] without KX's import prerequisites on the configuration (a partitioned
    /// table's timestamp `prtnCol`): what `smstage init` writes for a database that misses
    /// one still parses, and `check` names what is missing.
    pub fn parse_draft(text: &str, path: &Path) -> Result<Self, ConfigError> {
        parse::parse_draft(text, path)
    }

    /// The mount with type local and partition date — exactly one, else an error listing what
    /// was found.
    pub fn hdb_mount(&self) -> Result<&Mount, ConfigError> {
        let hdb: Vec<&Mount> = self.mounts.iter().filter(|m| m.is_hdb()).collect();
        match hdb.as_slice() {
            [one] => Ok(one),
            [] => Err(parse::no_hdb_error(&self.path, None, &self.mounts)),
            [_, second, ..] => Err(parse::many_hdb_error(
                &self.path,
                second.line,
                &format!("mounts.{}", second.name),
                &hdb,
            )),
        }
    }

    /// The HDB mount's baseURI as a local directory (it must be `file://`).
    pub fn hdb_base_dir(&self) -> Result<PathBuf, ConfigError> {
        let m = self.hdb_mount()?;
        match &m.base_uri {
            Some(StoreUri::File(p)) => Ok(p.clone()),
            other => Err(parse::hdb_not_local_error(&self.path, m, other.as_ref())),
        }
    }

    /// Tiers that use `mount`, in declaration order.
    pub fn tiers_of_mount(&self, mount: &str) -> Vec<&Tier> {
        self.tiers.iter().filter(|t| t.mount == mount).collect()
    }

    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.iter().find(|t| t.name == name)
    }

    pub fn mount(&self, name: &str) -> Option<&Mount> {
        self.mounts.iter().find(|m| m.name == name)
    }
}

impl Mount {
    /// Local and date-partitioned: the mount holding the historical database.
    pub fn is_hdb(&self) -> bool {
        self.kind == MountKind::Local && self.partition == Partitioning::Date
    }
}

impl TableSchema {
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns.iter().find(|c| c.name == name)
    }
}

impl std::fmt::Display for MountKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MountKind::Stream => "stream",
            MountKind::Local => "local",
            MountKind::Object => "object",
            MountKind::Other(s) => s,
        })
    }
}

impl std::fmt::Display for Partitioning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Partitioning::None => "none",
            Partitioning::Ordinal => "ordinal",
            Partitioning::Date => "date",
            Partitioning::Other(s) => s,
        })
    }
}
