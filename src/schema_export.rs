//! Derives the `tables:` section of an assembly configuration from an existing database, so a
//! user starts from what is on disk instead of typing dozens of column types by hand.
//!
//! It prints what q sees: the partitioned tables of the last partition (q discovers tables
//! there), each column typed from the newest partition where its type is known, and the
//! splayed tables of the root. Every type it prints is one `check` accepts; what it cannot
//! print faithfully it says on the side (`notes`), never as a made-up schema.

use crate::inventory::{self, FileInv, Inventory, PartitionInv, RootKind, TableInv};
use crate::kdb::{self, Attr, LogicalType};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The YAML and what the user should know about it.
#[derive(Debug, Default)]
pub struct SchemaExport {
    pub yaml: String,
    /// One line each: tables left out or typed by a fallback, and why.
    pub notes: Vec<String>,
}

/// YAML for every table q sees (see the module comment).
pub fn tables_yaml(inv: &Inventory) -> String {
    export(inv).yaml
}

/// [`tables_yaml`] plus the notes.
pub fn export(inv: &Inventory) -> SchemaExport {
    let mut notes = Vec::new();
    // Month/year/int partitions are refused by `check`, but the user still needs the schema
    // to get that far: read the tables of those directories the same way.
    let others: Vec<PartitionInv>;
    let parts: &[PartitionInv] = if inv.partitions.is_empty() && !inv.other_partitions.is_empty() {
        let canonical = std::fs::canonicalize(&inv.source).unwrap_or_else(|_| inv.source.clone());
        let mut ignored = Vec::new();
        others = inv
            .other_partitions
            .iter()
            .map(|o| PartitionInv {
                date: o.name.clone(),
                path: o.path.clone(),
                tables: inventory::read_partition(&o.name, &o.path, &canonical, &mut ignored),
            })
            .collect();
        notes.push(format!(
            "the partitions of this database are not dates ({} is {}): `check` will refuse it; the tables below are read from {}",
            inv.other_partitions[0].name,
            inv.other_partitions[0].shape,
            others.last().map(|p| p.date.as_str()).unwrap_or("")
        ));
        &others
    } else {
        &inv.partitions
    };

    let mut out = String::from("tables:\n");
    if let Some(last) = parts.last() {
        let mut hidden: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for p in parts {
            for t in &p.tables {
                if !last.tables.iter().any(|l| l.name == t.name) {
                    hidden.entry(t.name.as_str()).or_default().push(&p.date);
                }
            }
        }
        for (name, dates) in hidden {
            notes.push(format!(
                "table {name} (in {}) is not in the last partition {}: q does not see it, so it is left out",
                dates.join(", "),
                last.date
            ));
        }
        for t in &last.tables {
            table(&mut out, &mut notes, t, "partitioned", |col| {
                parts
                    .iter()
                    .rev()
                    .filter_map(|p| p.tables.iter().find(|x| x.name == t.name))
                    .filter_map(|x| x.file(col))
                    .collect()
            });
        }
    }
    for r in &inv.root {
        if let RootKind::Splayed(t) = &r.kind {
            table(&mut out, &mut notes, t, "splayed", |col| {
                t.file(col).into_iter().collect()
            });
        }
    }
    SchemaExport { yaml: out, notes }
}

/// A column type worth printing: known, and not a 0-row placeholder.
fn definite(f: &FileInv) -> Option<LogicalType> {
    let h = f.header.as_ref().ok()?;
    let ty = kdb::logical_type(h, f.nested_item);
    if crate::check::is_untyped_empty(h) || ty == LogicalType::List(None) {
        return None;
    }
    Some(ty)
}

/// Writes one table. `files(col)` yields the column's files, the authoritative one first
/// (the last partition's), then older ones to take the type from when that one has none.
fn table<'a>(
    out: &mut String,
    notes: &mut Vec<String>,
    t: &TableInv,
    kind: &str,
    files: impl Fn(&str) -> Vec<&'a FileInv>,
) {
    if t.columns().is_empty() {
        notes.push(format!(
            "table {} at {} has no readable .d (or an empty one): left out; `check` reports it",
            t.name,
            t.path.display()
        ));
        return;
    }
    let _ = writeln!(out, "  {}:\n    type: {kind}\n    columns:", quote(&t.name));
    for c in t.columns() {
        let own_attr = t
            .file(c)
            .and_then(|f| f.header.as_ref().ok())
            .map(|h| h.attr)
            .unwrap_or(Attr::None);
        let (ty, comment) = match files(c).into_iter().find_map(definite) {
            Some(ty) => (ty.config_name(), None),
            None => {
                notes.push(format!(
                    "{}.{c}: no partition says its type (empty or untyped everywhere): printed as `mixed`, which `check` accepts; set the type its data will have",
                    t.name
                ));
                ("mixed".to_string(), Some("no rows on disk say its type"))
            }
        };
        let _ = write!(out, "      - {{name: {}, type: {ty}", quote(c));
        let a = match own_attr {
            Attr::None => None,
            Attr::Sorted => Some("sorted"),
            Attr::Unique => Some("unique"),
            Attr::Parted => Some("parted"),
            Attr::Grouped => Some("grouped"),
        };
        if let Some(a) = a {
            let _ = write!(out, ", attrDisk: {a}");
        }
        out.push('}');
        if let Some(cmt) = comment {
            let _ = write!(out, "  # {cmt}");
        }
        out.push('\n');
    }
}

/// Quotes a name that YAML would otherwise read as something else.
fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.chars().next().is_some_and(|c| c.is_ascii_digit())
        && !matches!(
            s,
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        );
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}
