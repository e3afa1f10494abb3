//! Layout family: what sits in the database root (splayed tables, files, scripts).

use super::load::{check_table, file_error, ColumnOrder};
use super::schema::is_splayed;
use crate::config::{AssemblyConfig, TableSchema};
use crate::finding::{code, Finding};
use crate::inventory::{FileError, Inventory, RootKind};
use std::collections::BTreeMap;

/// Every entry of the root: its splayed tables checked as tables, its files as kdb+ data.
pub(crate) fn root_entries(config: Option<&AssemblyConfig>, inv: &Inventory) -> Vec<Finding> {
    let mut out = Vec::new();
    let tables: &[TableSchema] = config.map(|c| c.tables.as_slice()).unwrap_or(&[]);
    let configured: BTreeMap<&str, &TableSchema> =
        tables.iter().map(|t| (t.name.as_str(), t)).collect();
    for r in &inv.root {
        match &r.kind {
            RootKind::Splayed(t) => {
                let schema = configured.get(t.name.as_str()).copied();
                match schema {
                    Some(s) if is_splayed(s) => check_table(t, Some(s), None, ColumnOrder::Strict, inv, &mut out),
                    Some(_) => {
                        out.push(Finding::error(
                            code::SCHEMA_TABLE_UNEXPECTED,
                            format!("{} is a splayed table in the database root, but the configuration declares it partitioned", t.name),
                        ).table(&t.name).path(r.path.display()).hint("set its type to splayed in the assembly configuration"));
                        check_table(t, None, None, ColumnOrder::Strict, inv, &mut out);
                    }
                    None if config.is_none() => check_table(t, None, None, ColumnOrder::Strict, inv, &mut out),
                    None => {
                        out.push(Finding::error(
                            code::SCHEMA_TABLE_UNEXPECTED,
                            format!("splayed table {} in the database root is not in the configuration", t.name),
                        ).table(&t.name).path(r.path.display()).hint(format!("add {} with type: splayed and its columns to the assembly configuration, or pass `--remedy set-aside` to check and plan: smstage moves it to <baseURI>/smstage-aside/", t.name)));
                        check_table(t, None, None, ColumnOrder::Strict, inv, &mut out);
                    }
                }
            }
            RootKind::File { header: Err(FileError::NotKdb(m)) } => out.push(
                Finding::error(
                    code::LOAD_ROOT_NOT_KDB,
                    format!("{} in the database root is not kdb+ data ({m}): `\\l` loads every file of the root, so loading the database fails on it", r.name),
                )
                .path(r.path.display())
                .hint("move it out of the database root (it stays in the backup); if it is a script, give it the .q extension"),
            ),
            RootKind::File { header: Err(e) } => out.push(file_error(e, &r.path).table(&r.name)),
            // With a configuration SM's import judges the root, and a script is one of its
            // stray files (sm-root-stray); without one (`verify`) it is q's concern only.
            RootKind::Script if config.is_none() => out.push(
                Finding::warning(
                    code::LOAD_ROOT_SCRIPT,
                    format!("{} is a q script in the database root: `\\l` of the database executes it on every load; it moves with the root unchanged", r.name),
                )
                .path(r.path.display())
                .hint("review what it does: it runs in every process that loads this database, before and after the import"),
            ),
            _ => {}
        }
    }
    out
}
