//! Schema family: configured tables that the database does not hold where their kind says.

use crate::config::TableSchema;
use crate::finding::{code, Finding};
use crate::inventory::{self, Inventory, RootKind};
use std::collections::BTreeSet;

pub(crate) fn is_splayed(t: &TableSchema) -> bool {
    t.kind.eq_ignore_ascii_case("splayed")
}

pub(crate) fn is_basic(t: &TableSchema) -> bool {
    t.kind.eq_ignore_ascii_case("basic")
}

/// No date partition at all, or configured partitioned tables in none of them.
pub(crate) fn partitioned_tables_missing(
    tables: &[TableSchema],
    inv: &Inventory,
    all: &[inventory::PartRef],
    seen: &BTreeSet<&str>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    if all.is_empty() {
        // Non-date partitions have their own finding: "no partitions" would mislead there.
        if inv.other_partitions.is_empty() {
            out.push(
                Finding::warning(
                    code::PARTITION_NONE,
                    format!(
                        "no date partitions in {}: only the root files will be imported",
                        inv.source.display()
                    ),
                )
                .path(inv.source.display()),
            );
        }
    } else {
        for t in tables.iter().filter(|t| !is_splayed(t) && !is_basic(t)) {
            if !seen.contains(t.name.as_str()) {
                out.push(
                    Finding::error(
                        code::SCHEMA_TABLE_MISSING,
                        format!("table {} is in the configuration but in no partition of the database", t.name),
                    )
                    .table(&t.name)
                    .path(inv.source.display())
                    .hint("remove the table from the assembly configuration, or check that the database path is right"),
                );
            }
        }
    }
    out
}

/// Configured splayed tables that are not in the database root.
pub(crate) fn splayed_tables_missing(tables: &[TableSchema], inv: &Inventory) -> Vec<Finding> {
    let mut out = Vec::new();
    let root_tables: BTreeSet<&str> = inv
        .root
        .iter()
        .filter_map(|r| match &r.kind {
            RootKind::Splayed(t) => Some(t.name.as_str()),
            _ => None,
        })
        .collect();
    for t in tables.iter().filter(|t| is_splayed(t)) {
        if !root_tables.contains(t.name.as_str()) {
            out.push(
                Finding::error(
                    code::SCHEMA_TABLE_MISSING,
                    format!(
                        "splayed table {} is in the configuration but not in the database root",
                        t.name
                    ),
                )
                .table(&t.name)
                .path(inv.source.join(&t.name).display())
                .hint("remove it from the configuration or restore the table directory"),
            );
        }
    }
    out
}
