//! fill-tables, planned purely: every configured partitioned table absent from a partition gets
//! there an empty (0-row) table of its configured schema, as `.Q.chk` writes one (every column
//! empty, `.d` in configured order), so each partition holds every table SM imports.

use super::spec::Remedy;
use crate::config::AssemblyConfig;
use crate::kdb::{Attr, LogicalType, T_MIXED, T_SYMBOL};
use thiserror::Error;

/// A configured partitioned table that fill-tables writes wherever it is absent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FillTarget {
    pub table: String,
    /// The configured columns, in order.
    pub columns: Vec<FillColumn>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FillColumn {
    pub name: String,
    /// The configured type, as written (`symbol`, `float`, `string`…).
    pub type_name: String,
    pub ty: LogicalType,
    /// The configured `attrDisk`.
    pub attr: Option<Attr>,
}

impl FillColumn {
    /// Every configured column of `t`, in configured order.
    pub fn all_of(t: &crate::config::TableSchema) -> Vec<FillColumn> {
        t.columns
            .iter()
            .map(|c| FillColumn {
                name: c.name.clone(),
                type_name: c.type_name.clone(),
                ty: c.ty,
                attr: c.attr_disk,
            })
            .collect()
    }

    /// The enumeration domain of an empty column: kdb+ enumerates a partitioned table's symbol
    /// columns against the root `sym`.
    pub fn domain(&self) -> Option<String> {
        (self.ty == LogicalType::Simple(T_SYMBOL)).then(|| "sym".to_string())
    }

    /// The attribute an empty column of this column gets: the configured `attrDisk` where we
    /// write its layout as kdb+ does (any on a symbol column, `s#` on a simple vector), else
    /// none, which check then reports as `schema-attr-mismatch` rather than us guessing the
    /// index data of a layout no real file shows us.
    pub fn empty_attr(&self) -> Attr {
        match (self.ty, self.attr) {
            (_, None) => Attr::None,
            (LogicalType::Simple(T_SYMBOL), Some(a)) => a,
            (LogicalType::Simple(t), Some(Attr::Sorted)) if t != T_MIXED => Attr::Sorted,
            _ => Attr::None,
        }
    }
}

/// One empty table to write into one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FillAction {
    pub date: String,
    pub table: String,
    /// The new table directory, relative to the baseURI (`data/2019.03.17/Quote`).
    pub dir: String,
    pub columns: Vec<FillColumn>,
}

impl FillAction {
    /// The new `.d`: the configured columns in configured order.
    pub fn dotd(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FillError {
    #[error(
        "--remedy fill-tables: {config} configures no partitioned table: there is nothing to fill"
    )]
    NoTable { config: String },
    #[error("--remedy fill-tables: table `{table}` configures no columns in {config}: an empty table is written from its configured columns; list them")]
    NoColumns { table: String, config: String },
}

/// The tables fill-tables writes (every configured partitioned table), when it is given.
pub fn targets(config: &AssemblyConfig, remedies: &[Remedy]) -> Result<Vec<FillTarget>, FillError> {
    if !remedies.iter().any(|r| matches!(r, Remedy::FillTables)) {
        return Ok(Vec::new());
    }
    let cfg = config.path.display().to_string();
    let mut out = Vec::new();
    for t in config.tables.iter().filter(|t| t.kind == "partitioned") {
        if t.columns.is_empty() {
            return Err(FillError::NoColumns {
                table: t.name.clone(),
                config: cfg,
            });
        }
        out.push(FillTarget {
            table: t.name.clone(),
            columns: FillColumn::all_of(t),
        });
    }
    if out.is_empty() {
        return Err(FillError::NoTable { config: cfg });
    }
    Ok(out)
}

/// The empty tables one partition needs: one per target it does not hold. `present` are the
/// names of the tables it holds; `part_dir` is the partition, relative to the baseURI.
pub fn plan_partition(
    targets: &[FillTarget],
    date: &str,
    part_dir: &str,
    present: &[&str],
) -> Vec<FillAction> {
    targets
        .iter()
        .filter(|t| !present.contains(&t.table.as_str()))
        .map(|t| FillAction {
            date: date.into(),
            table: t.table.clone(),
            dir: format!("{part_dir}/{}", t.table),
            columns: t.columns.clone(),
        })
        .collect()
}

/// One line: what the action writes.
pub fn describe(a: &FillAction) -> String {
    format!(
        "fill-tables: {} = empty table (new directory; .d: {}; columns: {})",
        a.dir,
        a.dotd().join(" "),
        a.columns
            .iter()
            .map(|c| match c.empty_attr() {
                Attr::None => format!("{} {}", c.name, c.type_name),
                a => format!("{} {} {}#", c.name, c.type_name, a.q_letter()),
            })
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml_tables: &str) -> AssemblyConfig {
        let text = format!(
            "name: t\nmounts:\n  hdb:\n    type: local\n    baseURI: file:///tmp/x\n    partition: date\nelements:\n  sm:\n    tiers:\n    - name: hdb\n      mount: hdb\ntables:\n{yaml_tables}"
        );
        AssemblyConfig::parse(&text, std::path::Path::new("a.yaml")).unwrap()
    }

    const TABLES: &str = "  trade:\n    type: partitioned\n    prtnCol: ts\n    columns:\n    - name: ts\n      type: timestamp\n    - name: sym\n      type: symbol\n    - name: price\n      type: float\n  quote:\n    type: partitioned\n    prtnCol: ts\n    columns:\n    - name: ts\n      type: timestamp\n    - name: sym\n      type: symbol\n    - name: note\n      type: string\n  ref:\n    type: splayed\n    columns:\n    - name: a\n      type: long\n";

    #[test]
    fn every_configured_partitioned_table_absent_from_a_partition_is_filled_there() {
        let c = config(TABLES);
        assert!(targets(&c, &[]).unwrap().is_empty());
        let t = targets(&c, &[Remedy::FillTables]).unwrap();
        assert_eq!(
            t.iter().map(|t| t.table.as_str()).collect::<Vec<_>>(),
            ["trade", "quote"],
            "the splayed table is not a partition's"
        );
        let a = plan_partition(&t, "2024.01.02", "data/2024.01.02", &["trade"]);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].dir, "data/2024.01.02/quote");
        assert_eq!(a[0].dotd(), ["ts", "sym", "note"]);
        assert_eq!(a[0].columns[1].domain().as_deref(), Some("sym"));
        assert_eq!(a[0].columns[2].domain(), None);
        assert!(plan_partition(&t, "d", "data/d", &["quote", "trade"]).is_empty());
        assert_eq!(plan_partition(&t, "d", "data/d", &[]).len(), 2);
        assert!(describe(&a[0]).contains("data/2024.01.02/quote = empty table"));
    }

    #[test]
    fn nothing_to_fill_is_refused_naming_the_configuration() {
        let c =
            config("  ref:\n    type: splayed\n    columns:\n    - name: a\n      type: long\n");
        let e = targets(&c, &[Remedy::FillTables]).unwrap_err();
        assert!(matches!(e, FillError::NoTable { .. }), "{e}");
        assert!(e.to_string().contains("a.yaml"), "{e}");
    }
}
