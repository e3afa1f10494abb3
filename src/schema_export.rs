//! Derives the `tables:` section of an assembly configuration from an existing database, so a
//! user starts from what is on disk instead of typing dozens of column types by hand.
//!
//! It prints what q sees: the partitioned tables of the last partition (q discovers tables
//! there), each column typed from the newest partition where its type is known, and the
//! splayed tables of the root. Every type it prints is one `check` accepts; what it cannot
//! print faithfully it says on the side (`notes`), never as a made-up schema.

use crate::inventory::{
    self, Detail, FileInv, InventoryError, PartitionDir, PartitionInv, RootKind, RootMode, TableInv,
};
use crate::kdb::{self, Attr, LogicalType};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;

/// The YAML and what the user should know about it.
#[derive(Debug, Default)]
pub struct SchemaExport {
    pub yaml: String,
    /// One line each: tables left out or typed by a fallback, and why.
    pub notes: Vec<String>,
}

/// Partitions read at once while looking back for a column's type.
const LOOKBACK_BATCH: usize = 64;

/// The `tables:` YAML of the database at `source` and the notes (see the module comment).
/// Only the last partition is read whole; older ones are listed for their table names, and
/// read (a batch at a time, newest first) only while a column still has no type: most
/// databases are typed by their last partition alone, whatever their size.
pub fn export(source: &Path) -> Result<SchemaExport, InventoryError> {
    let (inv, dirs) = inventory::scan_root(source, RootMode::Partitioned)?;
    Ok(export_from(&inv, dirs))
}

/// [`export`] of a segmented database: the root's own tables from `source`, the partitioned
/// tables from the partitions of every segment (local directories `segments`), the newest
/// date of all of them being the last partition, as `\l` takes it.
pub fn export_segmented(
    source: &Path,
    segments: &[std::path::PathBuf],
) -> Result<SchemaExport, InventoryError> {
    let (inv, _) = inventory::scan_root(source, RootMode::Segmented)?;
    let mut dirs = Vec::new();
    for seg in segments {
        dirs.extend(inventory::scan_root(seg, RootMode::Partitioned)?.1);
    }
    dirs.sort_by(|a, b| a.date.cmp(&b.date));
    Ok(export_from(&inv, dirs))
}

fn export_from(inv: &inventory::Inventory, dirs: Vec<PartitionDir>) -> SchemaExport {
    let mut notes = Vec::new();
    // Month/year/int partitions are refused by `check`, but the user still needs the schema
    // to get that far: read the tables of those directories the same way.
    let parts: Vec<PartitionDir> = if dirs.is_empty() && !inv.other_partitions.is_empty() {
        let canonical = std::fs::canonicalize(&inv.source).unwrap_or_else(|_| inv.source.clone());
        let anchor: Arc<Path> = Arc::from(canonical.as_path());
        let others: Vec<PartitionDir> = inv
            .other_partitions
            .iter()
            .map(|o| PartitionDir {
                date: o.name.clone(),
                path: o.path.clone(),
                anchor: anchor.clone(),
                tier: None,
                overlay: None,
                stamp: false,
            })
            .collect();
        notes.push(format!(
            "the partitions of this database are not dates ({} is {}): `check` will refuse it; the tables below are read from {}",
            inv.other_partitions[0].name,
            inv.other_partitions[0].shape,
            others.last().map(|p| p.date.as_str()).unwrap_or("")
        ));
        others
    } else {
        dirs
    };

    let mut out = String::from("tables:\n");
    if let Some((last_dir, older)) = parts.split_last() {
        // Its walk's findings are `check`'s business.
        let (last, _) = last_dir.read();
        let mut hidden: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for p in older {
            for name in inventory::table_names(&p.path) {
                if !last.tables.iter().any(|l| l.name == name) {
                    hidden.entry(name).or_default().push(&p.date);
                }
            }
        }
        let older_types = look_back(&last, older);
        for t in &last.tables {
            table(&mut out, &mut notes, t, "partitioned", |col| {
                t.file(col)
                    .and_then(definite)
                    .or_else(|| older_types.get(&(t.name.clone(), col.to_string())).copied())
            });
        }
        // SM validates every partition, not only the last one q takes its tables from: a
        // table that only earlier partitions hold must be configured too ("The table has not
        // been configured in the assembly"), so it is printed from the newest partition
        // holding it.
        for (name, dates) in &hidden {
            notes.push(format!(
                "table {name} (in {}) is not in the last partition {}: q does not see it, but SM's import validates every partition, so it is printed from {}; `check` reports the partitions that lack it",
                dates.join(", "),
                last.date,
                dates.last().copied().unwrap_or("")
            ));
        }
        let newest: Vec<PartitionDir> = hidden
            .values()
            .filter_map(|dates| {
                older
                    .iter()
                    .find(|p| Some(&p.date.as_str()) == dates.last())
            })
            .fold(Vec::<PartitionDir>::new(), |mut v, p| {
                if !v.iter().any(|x| x.date == p.date) {
                    v.push(p.clone());
                }
                v
            });
        let read = inventory::read_partitions(newest, |_| (), Detail::Files);
        for (name, dates) in &hidden {
            let Some(t) = read
                .iter()
                .find(|(p, _, _)| Some(&p.date.as_str()) == dates.last())
                .and_then(|(p, _, _)| p.tables.iter().find(|t| &t.name == name))
            else {
                continue;
            };
            table(&mut out, &mut notes, t, "partitioned", |col| {
                t.file(col).and_then(definite)
            });
        }
    }
    for r in &inv.root {
        if let RootKind::Splayed(t) = &r.kind {
            table(&mut out, &mut notes, t, "splayed", |col| {
                t.file(col).and_then(definite)
            });
        }
    }
    SchemaExport { yaml: out, notes }
}

/// Types of the last partition's untyped columns, each from the newest older partition
/// that knows it.
fn look_back(
    last: &PartitionInv,
    older: &[PartitionDir],
) -> HashMap<(String, String), LogicalType> {
    let mut needed: Vec<(String, String)> = last
        .tables
        .iter()
        .flat_map(|t| {
            t.columns()
                .iter()
                .filter(|c| t.file(c).and_then(definite).is_none())
                .map(|c| (t.name.clone(), c.clone()))
        })
        .collect();
    let mut found = HashMap::new();
    let newest_first: Vec<PartitionDir> = older.iter().rev().cloned().collect();
    for batch in newest_first.chunks(LOOKBACK_BATCH) {
        if needed.is_empty() {
            break;
        }
        let read = inventory::read_partitions(
            batch.to_vec(),
            |p| {
                needed
                    .iter()
                    .filter_map(|(t, c)| {
                        let ty = p
                            .tables
                            .iter()
                            .find(|x| &x.name == t)
                            .and_then(|x| x.file(c))
                            .and_then(definite)?;
                        Some(((t.clone(), c.clone()), ty))
                    })
                    .collect::<Vec<_>>()
            },
            Detail::Tables,
        );
        // Newest first within the batch too: the first type found for a column wins.
        for (_, _, types) in read {
            for (key, ty) in types {
                found.entry(key).or_insert(ty);
            }
        }
        needed.retain(|k| !found.contains_key(k));
    }
    found
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

/// Writes one table. `type_of(col)` is the column's type: its own file's, else an older
/// partition's (None when no file says it).
fn table(
    out: &mut String,
    notes: &mut Vec<String>,
    t: &TableInv,
    kind: &str,
    type_of: impl Fn(&str) -> Option<LogicalType>,
) {
    if t.columns().is_empty() {
        notes.push(format!(
            "table {} at {} has no readable .d (or an empty one): left out; `check` reports it",
            t.name,
            t.path.display()
        ));
        return;
    }
    let _ = writeln!(out, "  {}:\n    type: {kind}", quote(&t.name));
    let attr_of = |c: &str| {
        t.file(c)
            .and_then(|f| f.header.as_ref().ok())
            .map(|h| h.attr)
            .unwrap_or(Attr::None)
    };
    if kind == "partitioned" {
        // KX's import needs a timestamp partition column; prefer a sorted one (its first and
        // last values bound the rest), else the first. No guess when there is none.
        let stamps: Vec<&String> = t
            .columns()
            .iter()
            .filter(|c| type_of(c) == Some(LogicalType::Simple(kdb::T_TIMESTAMP)))
            .collect();
        match stamps
            .iter()
            .find(|c| attr_of(c) == Attr::Sorted)
            .or(stamps.first())
        {
            Some(c) => {
                let _ = writeln!(out, "    prtnCol: {}", quote(c));
            }
            None => {
                let _ = writeln!(
                    out,
                    "    # no partition column (prtnCol) printed: {} has no timestamp column, and KX's import needs one (`smstage check --config FILE --no-backup-check` says: partitioned table '{}' has no prtnCol)",
                    t.name, t.name
                );
                notes.push(format!(
                    "table {} has no timestamp column: no prtnCol printed; KX's import needs one (see `smstage check --config FILE --no-backup-check`)",
                    t.name
                ));
            }
        }
    }
    // Columns the data is sorted by on disk: a sorted or parted attribute says so.
    let sorted: Vec<String> = t
        .columns()
        .iter()
        .filter(|c| matches!(attr_of(c), Attr::Sorted | Attr::Parted))
        .map(|c| quote(c))
        .collect();
    if !sorted.is_empty() {
        let _ = writeln!(out, "    sortColsDisk: [{}]", sorted.join(", "));
    }
    out.push_str("    columns:\n");
    for c in t.columns() {
        let own_attr = t
            .file(c)
            .and_then(|f| f.header.as_ref().ok())
            .map(|h| h.attr)
            .unwrap_or(Attr::None);
        let (ty, comment) = match type_of(c) {
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
