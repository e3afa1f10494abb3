//! Findings: what `check` and `verify` report, with a stable code and the exact place.

use serde::Serialize;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Blocks the import.
    Error,
    /// Reported; does not block.
    Warning,
}

/// Stable finding codes: other tools match on these strings, so never rename one.
pub mod code {
    pub const SCHEMA_TABLE_MISSING: &str = "schema-table-missing";
    pub const SCHEMA_TABLE_UNEXPECTED: &str = "schema-table-unexpected";
    pub const SCHEMA_COLUMNS: &str = "schema-columns-mismatch";
    pub const SCHEMA_TYPE: &str = "schema-type-mismatch";
    pub const SCHEMA_ATTR: &str = "schema-attr-mismatch";
    pub const LOAD_DOTD_MISSING: &str = "load-dotd-missing";
    pub const LOAD_COLUMN_MISSING: &str = "load-column-missing";
    pub const LOAD_ROW_COUNT: &str = "load-row-count-mismatch";
    pub const LOAD_TABLE_ABSENT: &str = "load-table-absent";
    pub const LOAD_DOMAIN_MISSING: &str = "load-domain-missing";
    pub const LOAD_CORRUPT: &str = "load-corrupt-file";
    pub const LOAD_UNREADABLE: &str = "load-unreadable";
    pub const LOAD_ENCRYPTED: &str = "load-encrypted";
    pub const LOAD_NESTED_DATA_MISSING: &str = "load-nested-data-missing";
    pub const LOAD_EXTRA_FILE: &str = "load-extra-file";
    pub const LOAD_ENUM_RANGE: &str = "load-enum-beyond-domain";
    pub const LOAD_HIDDEN_FILE: &str = "load-hidden-file";
    pub const LOAD_NOT_A_TABLE: &str = "load-not-a-table";
    pub const PARTITION_NOT_DATE: &str = "partition-not-date";
    pub const PARTITION_NONE: &str = "partition-none";
    /// Int sub-directories below a date (a tailer's intraday layout).
    pub const PARTITION_INT_SUBDIRS: &str = "partition-int-subdirs";
    /// A serialized (flat) table file inside a date partition.
    pub const LOAD_FLAT_TABLE: &str = "load-flat-table-in-partition";
    /// A column file that holds a serialized atom, dictionary or table, not a vector.
    pub const LOAD_COLUMN_NOT_VECTOR: &str = "load-column-not-vector";
    /// Valid-looking kdb+ data of a variant smstage does not read yet (not corruption).
    pub const LOAD_UNSUPPORTED: &str = "load-unsupported-variant";
    /// A root file that is not kdb+ data: `\l` of the root fails on it.
    pub const LOAD_ROOT_NOT_KDB: &str = "load-root-not-kdb";
    /// A q/k script in the root: `\l` executes it.
    pub const LOAD_ROOT_SCRIPT: &str = "load-root-script";
    /// A table that is in some partitions but not in the last one: q does not see it.
    pub const LOAD_TABLE_HIDDEN: &str = "load-table-hidden";
    /// A partition whose `.d` lists the configured columns in another order (q reads columns
    /// by name, so queries are unaffected).
    pub const SCHEMA_COLUMN_ORDER: &str = "schema-column-order";
    /// An empty untyped column (a 0-row table's general list): compatible with any type.
    pub const SCHEMA_UNTYPED_EMPTY: &str = "schema-type-untyped-empty";
    pub const TIER_OVERLAP: &str = "tier-date-overlap";
    pub const TIER_UNSUPPORTED: &str = "tier-unsupported";
    pub const TIER_UNREACHABLE: &str = "tier-unreachable";
    /// An enumeration domain (`sym`…) stored at the root of an object tier's partitions.
    pub const OBJECT_DOMAIN_IN_BUCKET: &str = "object-domain-in-bucket";
    pub const BACKUP_MISSING: &str = "backup-missing";
    pub const BACKUP_MISMATCH: &str = "backup-mismatch";
    pub const SM_ALREADY: &str = "sm-already-imported";
    pub const SM_PENDING: &str = "sm-import-pending";
    pub const SYMLINK_OUTSIDE: &str = "symlink-outside-database";
    pub const SYMLINK_INSIDE: &str = "symlink-in-database";
    pub const DATABASE_MISSING: &str = "database-missing";
    pub const LAYOUT_CLASH: &str = "layout-name-clash";
    pub const VERIFY_DIFFERENT: &str = "verify-content-differs";
    pub const VERIFY_PAR_TXT: &str = "verify-par-txt";
    pub const VERIFY_SEGMENT: &str = "verify-segment";
    /// The database, the assembly file or an object tier changed since the plan was saved.
    pub const PLAN_DRIFT: &str = "plan-drift";
    /// A `--remedy` the database refuses (a source column of the wrong type or absent…).
    pub const REMEDY_REFUSED: &str = "remedy-refused";
    /// Segmented databases (`data/par.txt`): a local `par.txt` entry that cannot be opened.
    pub const SEGMENT_MISSING: &str = "segment-missing";
    /// A `par.txt` entry that is the store of no HDB tier, or of several.
    pub const SEGMENT_NO_TIER: &str = "segment-no-tier";
    /// A local HDB tier whose store is not listed in `par.txt`.
    pub const TIER_NOT_SEGMENT: &str = "tier-not-segment";
    /// A segment inside the root, inside another segment, or holding the baseURI.
    pub const SEGMENT_NESTED: &str = "segment-nested";
    /// Something in a segment that is not a date partition directory.
    pub const SEGMENT_NOT_PARTITION: &str = "segment-not-partition";
    /// A partition directory in the root of a segmented database, beside `par.txt`.
    pub const SEGMENT_ROOT_PARTITION: &str = "segment-root-partition";
    /// A segment on another filesystem than the baseURI (warning: it is converted there).
    pub const SEGMENT_OTHER_FS: &str = "segment-other-filesystem";
    /// KX's import prerequisites and validation errors (check/prerequisites.rs).
    /// "Stray files in DB root": anything in the root but sym, configured tables, partitions.
    pub const SM_ROOT_STRAY: &str = "sm-root-stray";
    /// An enumerated column whose domain is not `sym`.
    pub const SM_ENUM_NOT_SYM: &str = "sm-enum-not-sym";
    /// A partitioned table's prtnCol is not a timestamp on disk.
    pub const SM_PRTNCOL_NOT_TIMESTAMP: &str = "sm-prtncol-not-timestamp";
    /// (`--deep`) rows whose prtnCol, rounded down, is not their partition's date.
    pub const SM_PRTNCOL_DATE: &str = "sm-prtncol-date-mismatch";
    /// Tables of the same partitions compressed with different settings.
    pub const SM_COMPRESSION_TABLES: &str = "sm-compression-tables-differ";
    /// Partitions compressed differently over time, every table alike in each.
    pub const SM_COMPRESSION_OVER_TIME: &str = "sm-compression-over-time";
    /// Files compressed otherwise than the `compression` of the tier that will hold them.
    pub const SM_COMPRESSION_TIER: &str = "sm-compression-tier-mismatch";
    /// Encrypted files while the assembly declares no encryption.
    pub const SM_ENCRYPTED: &str = "sm-encrypted-undeclared";
    /// The database does not fit the first HDB tier's filesystem (or the root files it copies
    /// do not fit the baseURI's free space).
    pub const SM_FIRST_TIER_SPACE: &str = "sm-first-tier-space";
    /// A FIFO, socket or device node in the database, a segment or the backup (never opened).
    pub const SPECIAL_FILE: &str = "special-file";
    /// A directory of the database that is the mountpoint of another filesystem.
    pub const MOUNT_INSIDE: &str = "mount-inside-database";
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    /// The file or directory concerned (`null` in JSON when the finding has no single place).
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Finding {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message)
    }

    fn new(severity: Severity, code: &'static str, message: impl Into<String>) -> Self {
        Finding {
            severity,
            code,
            message: message.into(),
            path: None,
            tier: None,
            partition: None,
            table: None,
            column: None,
            hint: None,
        }
    }

    pub fn path(mut self, p: impl fmt::Display) -> Self {
        self.path = Some(p.to_string());
        self
    }
    pub fn tier(mut self, t: impl Into<String>) -> Self {
        self.tier = Some(t.into());
        self
    }
    pub fn partition(mut self, p: impl Into<String>) -> Self {
        self.partition = Some(p.into());
        self
    }
    pub fn table(mut self, t: impl Into<String>) -> Self {
        self.table = Some(t.into());
        self
    }
    pub fn column(mut self, c: impl Into<String>) -> Self {
        self.column = Some(c.into());
        self
    }
    pub fn hint(mut self, h: impl Into<String>) -> Self {
        self.hint = Some(h.into());
        self
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{sev}[{}]: {}", self.code, self.message)?;
        let mut place = Vec::new();
        for (k, v) in [
            ("tier", &self.tier),
            ("partition", &self.partition),
            ("table", &self.table),
            ("column", &self.column),
        ] {
            if let Some(v) = v {
                place.push(format!("{k} {v}"));
            }
        }
        if !place.is_empty() {
            write!(f, "\n    at {}", place.join(", "))?;
        }
        if let Some(p) = &self.path {
            write!(f, "\n    file {p}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n    fix: {h}")?;
        }
        Ok(())
    }
}

/// The result of `check` or `verify`, as printed with `--format json`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub ok: bool,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn new(mut findings: Vec<Finding>) -> Self {
        // Errors first, then in the order found (stable sort keeps walk order within a class).
        findings.sort_by_key(|f| f.severity);
        let ok = !findings.iter().any(|f| f.severity == Severity::Error);
        Report { ok, findings }
    }

    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.findings.len() - self.errors()
    }
}
