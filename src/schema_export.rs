//! Derives the `tables:` section of an assembly configuration from an existing database, so a
//! user starts from what is on disk instead of typing dozens of column types by hand.

use crate::inventory::{Inventory, RootKind, TableInv};
use crate::kdb::{self, Attr};
use std::collections::BTreeMap;
use std::fmt::Write;

/// YAML for every table: partitioned tables as found in the LAST partition that holds them
/// (kdb+ reads the schema from the last partition), splayed tables from the root.
pub fn tables_yaml(inv: &Inventory) -> String {
    let mut last: BTreeMap<&str, &TableInv> = BTreeMap::new();
    for p in &inv.partitions {
        for t in &p.tables {
            last.insert(t.name.as_str(), t);
        }
    }
    let mut out = String::from("tables:\n");
    for t in last.values() {
        table(&mut out, t, "partitioned");
    }
    for r in &inv.root {
        if let RootKind::Splayed(t) = &r.kind {
            table(&mut out, t, "splayed");
        }
    }
    out
}

fn table(out: &mut String, t: &TableInv, kind: &str) {
    let _ = writeln!(out, "  {}:\n    type: {kind}\n    columns:", quote(&t.name));
    for c in t.columns() {
        let file = t.file(c);
        let (ty, attr) = match file.map(|f| (&f.header, f.nested_item)) {
            Some((Ok(h), item)) => (kdb::logical_type(h, item).config_name(), h.attr),
            _ => ("unknown".to_string(), Attr::None),
        };
        let _ = write!(out, "      - {{name: {}, type: {ty}", quote(c));
        let a = match attr {
            Attr::None => None,
            Attr::Sorted => Some("sorted"),
            Attr::Unique => Some("unique"),
            Attr::Parted => Some("parted"),
            Attr::Grouped => Some("grouped"),
        };
        if let Some(a) = a {
            let _ = write!(out, ", attrDisk: {a}");
        }
        out.push_str("}\n");
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
