//! `smstage init --remedy derive-prtncol:TABLE=SOURCE`: which tables get a derived timestamp
//! partition column in the assembly init writes, and under which name. Pure: it reads the
//! draft configuration only, so what init writes is exactly what `check --remedy` and
//! `plan --remedy` will then derive (docs/cli.md, "Remedies").
//!
//! Why init takes the remedy at all: a kdb+tick database has no timestamp column, so without
//! it the user must hand-edit the YAML (add the column, name it as prtnCol) before any check can
//! run. The derived column is written first among the table's columns: that is where kdb+tick
//! keeps its `time`, and where the remedy puts it in `.d`.

use crate::config::{AssemblyConfig, TableSchema};
use crate::kdb::{LogicalType, T_TIMESTAMP};
use crate::remedy::derive::is_derivable;
use crate::remedy::spec::{Remedy, TableSel};
use thiserror::Error;

/// The name init gives a derived partition column, unless the table already uses it.
pub const DERIVED_NAME: &str = "ts";

/// One table that gets `prtnCol: <column>` and a `{name: <column>, type: timestamp}` column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Derived {
    pub table: String,
    pub column: String,
    pub source: String,
    /// 1-based line of the table's key in the draft.
    pub table_line: usize,
    /// 1-based line of the table's first column in the draft.
    pub first_column_line: usize,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DerivedError {
    #[error("--remedy {given}: init writes the configuration and only derive-prtncol changes it; pass `--remedy {given}` to check and plan instead")]
    NotForInit { given: String },
    #[error("--remedy {given}: the database has no partitioned table {table:?} (its partitioned tables: {known})")]
    UnknownTable {
        given: String,
        table: String,
        known: String,
    },
    #[error("--remedy {given}: table {table} already has a timestamp column ({column}), which init makes its prtnCol: drop this --remedy")]
    HasTimestamp {
        given: String,
        table: String,
        column: String,
    },
    #[error("--remedy {given}: table {table} has no column {src:?}; its time-of-day or datetime columns: {candidates}")]
    NoSource {
        given: String,
        table: String,
        src: String,
        candidates: String,
    },
    #[error("--remedy {given}: {table}.{src} is a {type_name}, not a time of day (timespan, time, second, minute) or a datetime: a timestamp cannot be derived from it")]
    SourceType {
        given: String,
        table: String,
        src: String,
        type_name: String,
    },
    #[error("--remedy {given}: no partitioned table without a timestamp column has a column {src:?} to derive one from")]
    NothingMatches { given: String, src: String },
}

/// The tables `remedies` give a derived prtnCol, in the configuration's table order.
/// A named table must exist, lack a timestamp column and have a derivable `source`; `*` takes
/// every partitioned table without a timestamp column that has a derivable `source`, and must
/// take at least one.
pub fn derived_tables(
    cfg: &AssemblyConfig,
    remedies: &[Remedy],
) -> Result<Vec<Derived>, DerivedError> {
    let mut out: Vec<Derived> = Vec::new();
    for r in remedies {
        let given = r.to_string();
        let Remedy::DerivePrtnCol { table, source } = r else {
            return Err(DerivedError::NotForInit { given });
        };
        let partitioned = || cfg.tables.iter().filter(|t| t.kind == "partitioned");
        match table {
            TableSel::Named(name) => {
                let Some(t) = partitioned().find(|t| &t.name == name) else {
                    return Err(DerivedError::UnknownTable {
                        given,
                        table: name.clone(),
                        known: partitioned()
                            .map(|t| t.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                };
                if let Some(c) = timestamp_column(t) {
                    return Err(DerivedError::HasTimestamp {
                        given,
                        table: t.name.clone(),
                        column: c.to_string(),
                    });
                }
                push(&mut out, derive_one(t, source, &given)?);
            }
            TableSel::All => {
                let before = out.len();
                for t in partitioned().filter(|t| timestamp_column(t).is_none()) {
                    let derivable = t.columns.iter().any(|c| {
                        &c.name == source
                            && matches!(c.ty, LogicalType::Simple(x) if is_derivable(x))
                    });
                    if derivable {
                        push(&mut out, derive_one(t, source, &given)?);
                    }
                }
                if out.len() == before {
                    return Err(DerivedError::NothingMatches {
                        given,
                        src: source.clone(),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// A table named twice (by name and by `*`) is derived once, from the first remedy naming it.
fn push(out: &mut Vec<Derived>, d: Derived) {
    if !out.iter().any(|o| o.table == d.table) {
        out.push(d);
    }
}

fn timestamp_column(t: &TableSchema) -> Option<&str> {
    t.columns
        .iter()
        .find(|c| c.ty == LogicalType::Simple(T_TIMESTAMP))
        .map(|c| c.name.as_str())
}

fn derive_one(t: &TableSchema, source: &str, given: &str) -> Result<Derived, DerivedError> {
    let Some(src) = t.columns.iter().find(|c| c.name == source) else {
        return Err(DerivedError::NoSource {
            given: given.into(),
            table: t.name.clone(),
            src: source.into(),
            candidates: {
                let c: Vec<&str> = t
                    .columns
                    .iter()
                    .filter(|c| matches!(c.ty, LogicalType::Simple(x) if is_derivable(x)))
                    .map(|c| c.name.as_str())
                    .collect();
                if c.is_empty() {
                    "none".into()
                } else {
                    c.join(", ")
                }
            },
        });
    };
    if !matches!(src.ty, LogicalType::Simple(x) if is_derivable(x)) {
        return Err(DerivedError::SourceType {
            given: given.into(),
            table: t.name.clone(),
            src: source.into(),
            type_name: src.type_name.clone(),
        });
    }
    // The draft comes from init's own rendering, which always records lines; a table without
    // them would be a bug in the parser, not in the database.
    let table_line = t.line.unwrap_or(0);
    let first_column_line = t.columns.first().and_then(|c| c.line).unwrap_or(0);
    Ok(Derived {
        table: t.name.clone(),
        column: free_name(t),
        source: source.into(),
        table_line,
        first_column_line,
    })
}

/// `ts`, or `ts1`, `ts2`… when the table already has a column of that name.
fn free_name(t: &TableSchema) -> String {
    let taken = |n: &str| t.columns.iter().any(|c| c.name == n);
    if !taken(DERIVED_NAME) {
        return DERIVED_NAME.to_string();
    }
    (1..)
        .map(|i| format!("{DERIVED_NAME}{i}"))
        .find(|n| !taken(n))
        .unwrap_or_else(|| DERIVED_NAME.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const TICK: &str = "name: t\nmounts:\n  hdb:\n    type: local\n    baseURI: file:///srv/b\n    partition: date\nsm:\n  tiers:\n    - name: recent\n      mount: hdb\ntables:\n  trade:\n    type: partitioned\n    columns:\n      - {name: time, type: timespan}\n      - {name: ts, type: long}\n      - {name: price, type: float}\n  quote:\n    type: partitioned\n    columns:\n      - {name: time, type: timespan}\n      - {name: bid, type: float}\n  ref:\n    type: partitioned\n    columns:\n      - {name: stamp, type: timestamp}\n      - {name: time, type: timespan}\n  meta:\n    type: partitioned\n    columns:\n      - {name: id, type: long}\n";

    fn cfg() -> AssemblyConfig {
        AssemblyConfig::parse_draft(TICK, Path::new("/tmp/a.yaml")).unwrap()
    }

    fn remedies(given: &[&str]) -> Vec<Remedy> {
        given.iter().map(|g| Remedy::parse(g).unwrap()).collect()
    }

    #[test]
    fn star_takes_each_table_without_a_timestamp_that_has_the_source() {
        let d = derived_tables(&cfg(), &remedies(&["derive-prtncol:*=time"])).unwrap();
        let names: Vec<(&str, &str)> = d
            .iter()
            .map(|d| (d.table.as_str(), d.column.as_str()))
            .collect();
        // trade already has a long `ts`: its derived column is ts1; ref has a timestamp;
        // meta has no `time`.
        assert_eq!(names, vec![("trade", "ts1"), ("quote", "ts")]);
        assert!(d
            .iter()
            .all(|d| d.table_line > 0 && d.first_column_line > d.table_line));
    }

    #[test]
    fn a_named_table_is_checked_and_refused_with_what_to_do() {
        let e = |g: &str| derived_tables(&cfg(), &remedies(&[g])).unwrap_err();
        assert!(matches!(
            e("derive-prtncol:nope=time"),
            DerivedError::UnknownTable { .. }
        ));
        assert!(matches!(
            e("derive-prtncol:ref=time"),
            DerivedError::HasTimestamp { .. }
        ));
        assert!(matches!(
            e("derive-prtncol:quote=bid"),
            DerivedError::SourceType { .. }
        ));
        let m = e("derive-prtncol:meta=time").to_string();
        assert!(
            m.contains("no column \"time\"") && m.contains("none"),
            "{m}"
        );
        assert!(matches!(e("fill-tables"), DerivedError::NotForInit { .. }));
        assert!(matches!(
            e("derive-prtncol:*=bid"),
            DerivedError::NothingMatches { .. }
        ));
    }

    #[test]
    fn a_table_named_twice_is_derived_once() {
        let d = derived_tables(
            &cfg(),
            &remedies(&["derive-prtncol:quote=time", "derive-prtncol:*=time"]),
        )
        .unwrap();
        assert_eq!(d.iter().filter(|d| d.table == "quote").count(), 1);
    }
}
