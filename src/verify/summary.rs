//! What `verify` looked at, for a reader who wants to know what "passed" covers: tables ×
//! partitions, rows, columns, bytes, how deep it read, and with `--against` what was compared
//! and the first difference. Counted from the records the load reads anyway (no extra I/O).

use crate::finding::{code, Finding};
use crate::inventory::{Inventory, PartitionInv, RootKind, TableInv};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;

/// Counts of one partition (or of the root's splayed tables), gathered while it is in memory.
#[derive(Debug, Default, Clone)]
pub struct PartCounts {
    /// Table names present.
    pub tables: Vec<String>,
    /// `table.column` names present.
    pub columns: Vec<String>,
    pub rows: u64,
    pub column_files: u64,
    pub bytes: u64,
}

impl PartCounts {
    pub fn of_partition(p: &PartitionInv) -> PartCounts {
        let mut c = PartCounts::default();
        for t in &p.tables {
            c.add_table(t);
        }
        c
    }

    fn add_table(&mut self, t: &TableInv) {
        self.tables.push(t.name.clone());
        self.columns
            .extend(t.columns().iter().map(|c| format!("{}.{c}", t.name)));
        // A table's row count is its first column's (a mismatch is a finding of its own).
        self.rows += t
            .columns()
            .first()
            .and_then(|c| t.file(c))
            .and_then(|f| f.header.as_ref().ok())
            .map(|h| h.count)
            .unwrap_or(0);
        self.column_files += t.files.len() as u64;
        self.bytes += t.files.iter().map(|f| f.size).sum::<u64>() + t.dotd_size.unwrap_or(0);
    }
}

/// How far the values were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Depth {
    /// Headers and sizes: types, attributes, row counts.
    Headers,
    /// Every value decoded (`--deep`).
    Values,
}

const COMPARED: &str =
    "decoded values of every column, symbols as text; domains; root files' bytes";

/// `--against`: what was compared with what.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub other: PathBuf,
    /// Decoded values of every column of every table and partition (symbols as text), the
    /// enumeration domains' symbols, other root files' bytes.
    pub compared: &'static str,
    pub equal: bool,
    /// The first difference in (root entries, partition, table, column) order; the
    /// comparison stops there.
    pub first_difference: Option<String>,
    /// The root entries of the other root that are symbolic links, followed as q follows them
    /// (`sym -> /real/sym`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub followed: Vec<String>,
    /// Why the roots were not compared at all (a root link of the other root that leads to no
    /// file); `equal` is then false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_compared: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub root: PathBuf,
    pub depth: Depth,
    /// Date partitions, local and in object tiers.
    pub partitions: usize,
    /// Distinct partitioned tables, and (table, partition) pairs read.
    pub partitioned_tables: usize,
    pub table_partitions: usize,
    pub splayed_tables: usize,
    /// Distinct `table.column` names.
    pub columns: usize,
    /// Rows of every table in every partition, plus the splayed tables'.
    pub rows: u64,
    pub column_files: u64,
    pub bytes: u64,
    /// Enumeration domains in the root (`sym`, …).
    pub domains: Vec<String>,
    pub against: Option<Comparison>,
}

impl Summary {
    /// Sums the per-partition counts and the root's, as they stand after the load.
    pub fn new(
        root: PathBuf,
        inv: &Inventory,
        local: &[PartCounts],
        partitions: usize,
        deep: bool,
    ) -> Summary {
        let mut objects: Vec<PartCounts> = inv
            .object_tiers
            .iter()
            .flat_map(|t| t.partitions.iter().map(PartCounts::of_partition))
            .collect();
        objects.extend(local.iter().cloned());
        let mut splayed = PartCounts::default();
        let mut domains = Vec::new();
        for r in &inv.root {
            match &r.kind {
                RootKind::Splayed(t) => splayed.add_table(t),
                RootKind::Domain { .. } => domains.push(r.name.clone()),
                _ => {}
            }
        }
        let tables: BTreeSet<&str> = objects
            .iter()
            .flat_map(|p| p.tables.iter().map(String::as_str))
            .collect();
        let columns: BTreeSet<&str> = objects
            .iter()
            .chain(std::iter::once(&splayed))
            .flat_map(|p| p.columns.iter().map(String::as_str))
            .collect();
        let sum = |f: fn(&PartCounts) -> u64| objects.iter().map(f).sum::<u64>() + f(&splayed);
        Summary {
            root,
            depth: if deep { Depth::Values } else { Depth::Headers },
            partitions,
            partitioned_tables: tables.len(),
            table_partitions: objects.iter().map(|p| p.tables.len()).sum(),
            splayed_tables: splayed.tables.len(),
            columns: columns.len(),
            rows: sum(|p| p.rows),
            column_files: sum(|p| p.column_files),
            bytes: sum(|p| p.bytes),
            domains,
            against: None,
        }
    }

    /// Records `--against`'s outcome from its findings.
    pub fn compared_with(&mut self, other: PathBuf, findings: &[Finding], followed: Vec<String>) {
        let first = findings.iter().find(|f| f.code == code::VERIFY_DIFFERENT);
        self.against = Some(Comparison {
            other,
            compared: COMPARED,
            equal: first.is_none(),
            first_difference: first.map(|f| f.message.clone()),
            followed,
            not_compared: None,
        });
    }

    /// Records that `--against` could not compare, for the first of `refused`'s reasons.
    pub fn not_compared_with(
        &mut self,
        other: PathBuf,
        refused: &[Finding],
        followed: Vec<String>,
    ) {
        self.against = Some(Comparison {
            other,
            compared: COMPARED,
            equal: false,
            first_difference: None,
            followed,
            not_compared: Some(
                refused
                    .first()
                    .map(|f| f.message.clone())
                    .unwrap_or_default(),
            ),
        });
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "verified {}:", self.root.display())?;
        writeln!(
            f,
            "  partitioned tables: {} × {} partitions ({} table-partitions){}",
            self.partitioned_tables,
            self.partitions,
            self.table_partitions,
            if self.splayed_tables > 0 {
                format!("; splayed tables in the root: {}", self.splayed_tables)
            } else {
                String::new()
            }
        )?;
        writeln!(
            f,
            "  rows: {}   columns: {}   column files: {}   bytes: {}",
            self.rows,
            self.columns,
            self.column_files,
            human_bytes(self.bytes)
        )?;
        if !self.domains.is_empty() {
            writeln!(f, "  enumeration domains: {}", self.domains.join(", "))?;
        }
        writeln!(
            f,
            "  read: {}",
            match self.depth {
                Depth::Headers =>
                    "headers and sizes (types, attributes, row counts); --deep decodes every value",
                Depth::Values => "every value decoded (--deep)",
            }
        )?;
        if let Some(c) = &self.against {
            writeln!(f, "  compared with {}: {}", c.other.display(), c.compared)?;
            for l in &c.followed {
                writeln!(f, "  followed in {} (as q does): {l}", c.other.display())?;
            }
            match (&c.not_compared, &c.first_difference) {
                (Some(why), _) => writeln!(f, "  result: not compared: {why}")?,
                (None, None) => writeln!(f, "  result: equal")?,
                (None, Some(d)) => writeln!(f, "  first difference: {d}")?,
            }
        }
        Ok(())
    }
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {} ({b} B)", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_shown_in_units_a_reader_scans_with_the_exact_count() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB (1536 B)");
    }

    #[test]
    fn the_first_difference_is_the_first_content_finding() {
        let mut s = Summary::new(
            "/r".into(),
            &Inventory {
                source: "/r".into(),
                partitions: Vec::new(),
                root: Vec::new(),
                findings: Vec::new(),
                object_tiers: Vec::new(),
                other_partitions: Vec::new(),
            },
            &[],
            0,
            false,
        );
        s.compared_with(
            "/o".into(),
            &[
                Finding::warning(code::LOAD_EXTRA_FILE, "extra".to_string()),
                Finding::error(code::VERIFY_DIFFERENT, "column price differs".to_string()),
            ],
            Vec::new(),
        );
        let c = s.against.as_ref().unwrap();
        assert!(!c.equal);
        assert_eq!(c.first_difference.as_deref(), Some("column price differs"));
        assert!(s
            .to_string()
            .contains("first difference: column price differs"));
    }
}
