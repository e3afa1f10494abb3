//! derive-prtncol, planned purely: which tables get a derived partition column (from the
//! configuration and the remedies given), what each partition's table needs (from its `.d` and
//! its source column's header), and the table as it will be (what `check --remedy` judges).

use super::spec::{Remedy, TableSel};
use crate::config::{AssemblyConfig, TableSchema};
use crate::inventory::{FileInv, TableInv};
use crate::kdb::{
    Header, LogicalType, T_DATETIME, T_MINUTE, T_SECOND, T_TIME, T_TIMESPAN, T_TIMESTAMP,
};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A table whose `prtnCol` is derived from `source`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub table: String,
    /// The configured `prtnCol` (a timestamp).
    pub column: String,
    pub source: String,
    /// The configured columns, in order: where the derived column goes in `.d`.
    pub configured: Vec<String>,
}

/// The derivation of one table of one partition, before anything is written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeriveAction {
    pub date: String,
    pub table: String,
    /// The table directory, relative to the baseURI (`data/2024.01.02/trade`).
    pub dir: String,
    pub source: String,
    pub column: String,
    /// The table's `.d` after the remedy.
    pub dotd: Vec<String>,
}

/// A remedy the configuration alone refuses (exit 2: nothing was read or written).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("--remedy {given}: table `{table}` is not in the configuration {config}; configured partitioned tables: {known}")]
    UnknownTable {
        given: String,
        table: String,
        config: String,
        known: String,
    },
    #[error("--remedy {given}: table `{table}` is {kind} in {config}: only partitioned tables have a prtnCol")]
    NotPartitioned {
        given: String,
        table: String,
        kind: String,
        config: String,
    },
    #[error("--remedy {given}: table `{table}` configures no prtnCol in {config}: add `prtnCol: ts` and a column `ts` of type timestamp to its columns (where it should stand in .d), then derive it")]
    NoPrtnCol {
        given: String,
        table: String,
        config: String,
    },
    #[error("--remedy {given}: the prtnCol `{column}` of table `{table}` is configured as {found} in {config}; a derived partition column is a timestamp: configure `type: timestamp`")]
    PrtnColType {
        given: String,
        table: String,
        column: String,
        found: String,
        config: String,
    },
    #[error("--remedy {given}: the source `{src}` is not a configured column of table `{table}` in {config}; name one of: {known}")]
    UnknownSource {
        given: String,
        table: String,
        src: String,
        config: String,
        known: String,
    },
    #[error("--remedy {given}: the source `{src}` of table `{table}` is configured as {found}: the source must be a time of day (timespan, time, second, minute) or a datetime")]
    SourceType {
        given: String,
        table: String,
        src: String,
        found: String,
    },
    #[error("--remedy {given}: the source `{src}` is the prtnCol itself")]
    SourceIsPrtnCol { given: String, src: String },
    #[error("--remedy {given}: no partitioned table of {config} configures a timestamp prtnCol with a column `{src}` to derive it from")]
    NothingToDerive {
        given: String,
        src: String,
        config: String,
    },
}

/// Whether a column of type byte `t` can give a timestamp on its partition's day.
pub fn is_derivable(t: u8) -> bool {
    matches!(t, T_TIMESPAN | T_TIME | T_SECOND | T_MINUTE | T_DATETIME)
}

/// The tables the derive-prtncol remedies name, checked against the configuration.
pub fn targets(config: &AssemblyConfig, remedies: &[Remedy]) -> Result<Vec<Target>, TargetError> {
    let cfg = config.path.display().to_string();
    let mut out: Vec<Target> = Vec::new();
    for r in remedies {
        let Remedy::DerivePrtnCol { table, source } = r else {
            continue;
        };
        let given = r.to_string();
        let candidates: Vec<&TableSchema> = match table {
            TableSel::Named(name) => match config.table(name) {
                Some(t) if t.kind == "partitioned" => vec![t],
                Some(t) => {
                    return Err(TargetError::NotPartitioned {
                        given,
                        table: name.clone(),
                        kind: t.kind.clone(),
                        config: cfg,
                    })
                }
                None => {
                    return Err(TargetError::UnknownTable {
                        given,
                        table: name.clone(),
                        config: cfg,
                        known: config
                            .tables
                            .iter()
                            .filter(|t| t.kind == "partitioned")
                            .map(|t| t.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
                }
            },
            TableSel::All => config
                .tables
                .iter()
                .filter(|t| t.kind == "partitioned")
                .collect(),
        };
        let named = matches!(table, TableSel::Named(_));
        for t in candidates {
            if out.iter().any(|o| o.table == t.name) {
                // A named derivation wins over `*` for its table.
                if named {
                    out.retain(|o| o.table != t.name);
                } else {
                    continue;
                }
            }
            match target_of(t, source, &given, &cfg) {
                Ok(x) => out.push(x),
                // `*` takes the tables it can; a named table must be derivable.
                Err(e) if named => return Err(e),
                Err(_) => {}
            }
        }
        if !named && !out.iter().any(|o| &o.source == source) {
            return Err(TargetError::NothingToDerive {
                given,
                src: source.clone(),
                config: cfg,
            });
        }
    }
    Ok(out)
}

fn target_of(t: &TableSchema, source: &str, given: &str, cfg: &str) -> Result<Target, TargetError> {
    let Some(column) = &t.prtn_col else {
        return Err(TargetError::NoPrtnCol {
            given: given.into(),
            table: t.name.clone(),
            config: cfg.into(),
        });
    };
    let col = t.columns.iter().find(|c| &c.name == column);
    if let Some(c) = col {
        if c.ty != LogicalType::Simple(T_TIMESTAMP) {
            return Err(TargetError::PrtnColType {
                given: given.into(),
                table: t.name.clone(),
                column: column.clone(),
                found: c.type_name.clone(),
                config: cfg.into(),
            });
        }
    }
    if column == source {
        return Err(TargetError::SourceIsPrtnCol {
            given: given.into(),
            src: source.into(),
        });
    }
    let Some(src) = t.columns.iter().find(|c| c.name == source) else {
        return Err(TargetError::UnknownSource {
            given: given.into(),
            table: t.name.clone(),
            src: source.into(),
            config: cfg.into(),
            known: t
                .columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    match src.ty {
        LogicalType::Simple(x) if is_derivable(x) => {}
        _ => {
            return Err(TargetError::SourceType {
                given: given.into(),
                table: t.name.clone(),
                src: source.into(),
                found: src.type_name.clone(),
            })
        }
    }
    Ok(Target {
        table: t.name.clone(),
        column: column.clone(),
        source: source.into(),
        configured: t.columns.iter().map(|c| c.name.clone()).collect(),
    })
}

/// Why one partition's table cannot be derived (a `remedy-refused` finding).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("derive-prtncol: the source column `{src}` of table {table} is not in its .d (columns: {columns}): this partition has nothing to derive {column} from")]
    SourceAbsent {
        table: String,
        src: String,
        column: String,
        columns: String,
    },
    #[error("derive-prtncol: the source column `{src}` of table {table} is of type {found} on disk: the source must be a time of day (timespan, time, second, minute) or a datetime")]
    SourceType {
        table: String,
        src: String,
        found: String,
    },
    #[error("derive-prtncol: table {table} has a file `{column}` that its .d does not list: remove or rename it, then derive {column}")]
    Occupied { table: String, column: String },
}

/// The derivation one partition's table needs: `None` when its `prtnCol` is already there (or
/// its `.d` is unreadable, which the load checks report).
pub fn plan_table(
    target: &Target,
    date: &str,
    dir: &str,
    table: &TableInv,
) -> Result<Option<DeriveAction>, Refusal> {
    let Some(Ok(cols)) = &table.dotd else {
        return Ok(None);
    };
    if cols.contains(&target.column) {
        return Ok(None);
    }
    if table.file(&target.column).is_some() {
        return Err(Refusal::Occupied {
            table: target.table.clone(),
            column: target.column.clone(),
        });
    }
    let src = match table.file(&target.source) {
        Some(f) if cols.contains(&target.source) => f,
        _ => {
            return Err(Refusal::SourceAbsent {
                table: target.table.clone(),
                src: target.source.clone(),
                column: target.column.clone(),
                columns: cols.join(" "),
            })
        }
    };
    if let Ok(h) = &src.header {
        if !is_derivable(h.value_type) {
            return Err(Refusal::SourceType {
                table: target.table.clone(),
                src: target.source.clone(),
                found: crate::kdb::type_name(h.value_type)
                    .unwrap_or("unknown")
                    .to_string(),
            });
        }
    }
    Ok(Some(DeriveAction {
        date: date.into(),
        table: target.table.clone(),
        dir: dir.into(),
        source: target.source.clone(),
        column: target.column.clone(),
        dotd: dotd_with(cols, &target.column, &target.configured),
    }))
}

/// `.d` with `column` inserted where the configuration puts it: right after the last column of
/// `.d` that the configuration lists before it (first when none is).
pub fn dotd_with(dotd: &[String], column: &str, configured: &[String]) -> Vec<String> {
    let before: Vec<&String> = configured
        .iter()
        .take_while(|c| c.as_str() != column)
        .collect();
    let at = dotd
        .iter()
        .rposition(|c| before.contains(&c))
        .map_or(0, |i| i + 1);
    let mut out = dotd.to_vec();
    out.insert(at, column.to_string());
    out
}

/// The table as it will be after `action`: the derived column in `.d` and a file record of a
/// timestamp column with the source's rows (what `check --remedy` judges).
pub fn apply(action: &DeriveAction, table: &mut TableInv) {
    let Some(src) = table.file(&action.source) else {
        return;
    };
    let header = src.header.clone().map(|h| Header {
        value_type: T_TIMESTAMP,
        domain: None,
        nested: false,
        item_type: None,
        ..h
    });
    let rows = header.as_ref().map_or(0, |h| h.count);
    let file = FileInv {
        name: action.column.clone(),
        dir: src.dir.clone(),
        size: 16 + 8 * rows,
        header,
        nested_item: None,
    };
    let at = table.files.partition_point(|f| f.name < file.name);
    table.files.insert(at, file);
    table.dotd = Some(Ok(action.dotd.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn the_derived_column_takes_its_configured_place_in_dotd() {
        let conf = s(&["ts", "time", "sym", "price"]);
        assert_eq!(
            dotd_with(&s(&["time", "sym", "price"]), "ts", &conf),
            s(&["ts", "time", "sym", "price"])
        );
        let conf = s(&["sym", "time", "ts", "price"]);
        assert_eq!(
            dotd_with(&s(&["sym", "time", "price"]), "ts", &conf),
            s(&["sym", "time", "ts", "price"])
        );
        // Configured last, .d has an extra column at the end: after the last configured one.
        let conf = s(&["sym", "price", "ts"]);
        assert_eq!(
            dotd_with(&s(&["sym", "price", "extra"]), "ts", &conf),
            s(&["sym", "price", "ts", "extra"])
        );
    }

    fn config(yaml_tables: &str) -> AssemblyConfig {
        let text = format!(
            "name: t\nmounts:\n  hdb:\n    type: local\n    baseURI: file:///tmp/x\n    partition: date\nelements:\n  sm:\n    tiers:\n    - name: hdb\n      mount: hdb\ntables:\n{yaml_tables}"
        );
        AssemblyConfig::parse(&text, std::path::Path::new("a.yaml")).unwrap()
    }

    const TRADE: &str = "  trade:\n    type: partitioned\n    prtnCol: ts\n    columns:\n    - name: ts\n      type: timestamp\n    - name: time\n      type: timespan\n    - name: price\n      type: float\n";

    #[test]
    fn targets_are_checked_against_the_configuration() {
        let c = config(TRADE);
        let r = |g: &str| targets(&c, &[Remedy::parse(g).unwrap()]);
        let t = r("derive-prtncol:*=time").unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].table.as_str(), t[0].column.as_str()), ("trade", "ts"));
        assert!(matches!(
            r("derive-prtncol:quote=time"),
            Err(TargetError::UnknownTable { .. })
        ));
        assert!(matches!(
            r("derive-prtncol:trade=price"),
            Err(TargetError::SourceType { .. })
        ));
        assert!(matches!(
            r("derive-prtncol:trade=nope"),
            Err(TargetError::UnknownSource { .. })
        ));
        assert!(matches!(
            r("derive-prtncol:trade=ts"),
            Err(TargetError::SourceIsPrtnCol { .. })
        ));
        assert!(matches!(
            r("derive-prtncol:*=nope"),
            Err(TargetError::NothingToDerive { .. })
        ));
        let e = r("derive-prtncol:trade=price").unwrap_err().to_string();
        assert!(e.contains("time of day"), "{e}");
    }
}
