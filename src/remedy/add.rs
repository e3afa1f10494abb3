//! add-columns, planned purely: a configured column absent from a partition's table is written
//! there null-filled (dbmaint's addcol) to the table's row count, read from its other columns'
//! headers (never guessed), and `.d` lists it where the configuration places it.

use super::derive::dotd_with;
use super::fill::FillColumn;
use super::spec::Remedy;
use crate::config::AssemblyConfig;
use crate::inventory::{FileInv, TableInv};
use crate::kdb::{Attr, LogicalType, T_ENUM, T_MIXED, T_SYMBOL};
use thiserror::Error;

/// A configured partitioned table whose absent columns add-columns writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddTarget {
    pub table: String,
    /// The configured columns, in order.
    pub columns: Vec<FillColumn>,
    /// Its `prtnCol`: never null-filled (a null timestamp is on no date; derive it instead).
    pub prtn_col: Option<String>,
}

/// The columns added to one table of one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddAction {
    pub date: String,
    pub table: String,
    /// The table directory, relative to the baseURI.
    pub dir: String,
    pub columns: Vec<FillColumn>,
    /// Rows of every added column: the table's, read from its other columns' headers.
    pub rows: u64,
    /// The table's `.d` after the remedy.
    pub dotd: Vec<String>,
    /// False when another action on this table (derive-prtncol) writes the `.d`, which then
    /// lists these columns too: one table has one new `.d`.
    pub writes_dotd: bool,
    /// The index of the empty symbol in the new `sym`, which the symbol columns' nulls
    /// enumerate to: known once every remedy's appends to `sym` are (the session fills it in).
    pub null_sym_index: Option<u32>,
}

impl AddAction {
    /// Whether a column it adds is a symbol column (enumerated against `sym`).
    pub fn has_symbols(&self) -> bool {
        self.columns
            .iter()
            .any(|c| c.ty == LogicalType::Simple(T_SYMBOL))
    }
}

/// Why one partition's table cannot get its columns (a `remedy-refused` finding).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AddRefusal {
    #[error("add-columns: column `{column}` of table {table} is configured as {ty}: a list of symbols or of general items has no null item to repeat (nothing was written); add the column with dbmaint's addcol, or configure it out")]
    List {
        table: String,
        column: String,
        ty: String,
    },
    #[error("add-columns: table {table} has a file `{column}` that its .d does not list: remove or rename it, then add {column}")]
    Occupied { table: String, column: String },
    #[error("add-columns: the columns of table {table} disagree on its row count ({counts}): the rows of the added columns cannot be known; repair the table first")]
    RowsDisagree { table: String, counts: String },
    #[error("add-columns: table {table} has no readable column to read its row count from (.d: {columns}): the rows of the added columns cannot be known")]
    NoSibling { table: String, columns: String },
}

/// The tables add-columns may add to (every configured partitioned table), when it is given.
pub fn targets(config: &AssemblyConfig, remedies: &[Remedy]) -> Vec<AddTarget> {
    if !remedies.iter().any(|r| matches!(r, Remedy::AddColumns)) {
        return Vec::new();
    }
    config
        .tables
        .iter()
        .filter(|t| t.kind == "partitioned")
        .map(|t| AddTarget {
            table: t.name.clone(),
            columns: FillColumn::all_of(t),
            prtn_col: t.prtn_col.clone(),
        })
        .collect()
}

/// The columns one partition's table needs: `None` when it lacks none (or its `.d` is
/// unreadable, which the load checks report).
pub fn plan_table(
    target: &AddTarget,
    date: &str,
    dir: &str,
    table: &TableInv,
) -> Result<Option<AddAction>, AddRefusal> {
    let Some(Ok(cols)) = &table.dotd else {
        return Ok(None);
    };
    let missing: Vec<&FillColumn> = target
        .columns
        .iter()
        .filter(|c| !cols.contains(&c.name) && target.prtn_col.as_ref() != Some(&c.name))
        .collect();
    if missing.is_empty() {
        return Ok(None);
    }
    for c in &missing {
        let refuse = |ty: &str| (target.table.clone(), c.name.clone(), ty.to_string());
        if table.file(&c.name).is_some() {
            return Err(AddRefusal::Occupied {
                table: target.table.clone(),
                column: c.name.clone(),
            });
        }
        match c.ty {
            LogicalType::List(Some(t))
                if t != T_SYMBOL && super::produce::null_value(t).is_some() => {}
            LogicalType::List(_) | LogicalType::Simple(T_MIXED) => {
                let (table, column, ty) = refuse(&c.type_name);
                return Err(AddRefusal::List { table, column, ty });
            }
            LogicalType::Simple(_) => {}
        }
    }
    let rows = rows_of(&target.table, cols, table)?;
    let configured: Vec<String> = target.columns.iter().map(|c| c.name.clone()).collect();
    let mut dotd = cols.clone();
    for c in &missing {
        dotd = dotd_with(&dotd, &c.name, &configured);
    }
    Ok(Some(AddAction {
        date: date.into(),
        table: target.table.clone(),
        dir: dir.into(),
        columns: missing.into_iter().cloned().collect(),
        rows,
        dotd,
        writes_dotd: true,
        null_sym_index: None,
    }))
}

/// The table's row count: every column of `.d` with a readable header must agree.
fn rows_of(table: &str, cols: &[String], t: &TableInv) -> Result<u64, AddRefusal> {
    let counts: Vec<(&str, u64)> = cols
        .iter()
        .filter_map(|c| {
            let h = t.file(c)?.header.as_ref().ok()?;
            Some((c.as_str(), h.count))
        })
        .collect();
    let Some(&(_, first)) = counts.first() else {
        return Err(AddRefusal::NoSibling {
            table: table.into(),
            columns: cols.join(" "),
        });
    };
    if counts.iter().any(|(_, n)| *n != first) {
        return Err(AddRefusal::RowsDisagree {
            table: table.into(),
            counts: counts
                .iter()
                .map(|(c, n)| format!("{c}={n}"))
                .collect::<Vec<_>>()
                .join(" "),
        });
    }
    Ok(first)
}

/// The table as it will be after `action`: each added column a file record of its type with
/// the table's rows (compressed as its siblings when they all agree), and the new `.d`.
pub fn apply(action: &AddAction, table: &mut TableInv) {
    let sibling = action
        .dotd
        .iter()
        .filter(|c| !action.columns.iter().any(|a| &a.name == *c))
        .find_map(|c| {
            table
                .file(c)
                .and_then(|f| f.header.as_ref().ok().map(|h| (f, h)))
        });
    let Some((sib, h)) = sibling else {
        return;
    };
    let compressions: Vec<_> = table
        .files
        .iter()
        .filter_map(|f| f.header.as_ref().ok().map(|h| h.compression.clone()))
        .collect();
    let compression = if compressions.windows(2).all(|w| w[0] == w[1]) {
        h.compression.clone()
    } else {
        None
    };
    let dir = sib.dir.clone();
    let mut new = Vec::new();
    for c in &action.columns {
        match c.ty {
            LogicalType::Simple(t) => {
                // A symbol column is an enumeration against sym, in the 4.x layout the
                // producer writes (a 4096-byte header, 8 bytes an index).
                let symbol = t == T_SYMBOL;
                let (value_type, domain, head) = if symbol {
                    (T_ENUM, Some(super::onesym::SYM.to_string()), 4096)
                } else {
                    (t, None, 16)
                };
                let format = if symbol {
                    crate::kdb::FileFormat::Vector4k
                } else {
                    h.format
                };
                new.push(FileInv {
                    name: c.name.clone(),
                    dir: dir.clone(),
                    size: head + crate::kdb::type_width(t).unwrap_or(8) as u64 * action.rows,
                    header: Ok(crate::kdb::Header {
                        format,
                        value_type,
                        attr: Attr::None,
                        count: action.rows,
                        domain,
                        nested: false,
                        item_type: None,
                        compression: compression.clone(),
                    }),
                    nested_item: None,
                })
            }
            LogicalType::List(Some(item)) => new.extend(nested_records(
                &c.name,
                item,
                action.rows,
                &dir,
                &compression,
            )),
            LogicalType::List(None) => {}
        }
    }
    for f in new {
        let at = table.files.partition_point(|x| x.name < f.name);
        table.files.insert(at, f);
    }
    table.dotd = Some(Ok(action.dotd.clone()));
}

/// The records the reader makes of a null-filled nested pair of `rows` empty items
/// (`columns::nested_empty_items`): `col` a 4 KiB index of one int64 per row, `col#` a 4 KiB
/// byte vector of the two-byte short items; the item type is read from the first item, so an
/// empty column has none.
fn nested_records(
    name: &str,
    item: u8,
    rows: u64,
    dir: &std::sync::Arc<std::path::Path>,
    compression: &Option<Box<crate::kdb::Compression>>,
) -> [FileInv; 2] {
    let header = |value_type, count, nested| crate::kdb::Header {
        format: crate::kdb::FileFormat::Vector4k,
        value_type,
        attr: Attr::None,
        count,
        domain: None,
        nested,
        item_type: None,
        compression: compression.clone(),
    };
    [
        FileInv {
            name: name.to_string(),
            dir: dir.clone(),
            size: 4096 + 8 * rows,
            header: Ok(header(crate::kdb::T_MIXED, rows, true)),
            nested_item: (rows > 0).then_some(item),
        },
        FileInv {
            name: format!("{name}#"),
            dir: dir.clone(),
            size: 4096 + 2 * rows,
            header: Ok(header(crate::kdb::T_BYTE, 2 * rows, false)),
            nested_item: None,
        },
    ]
}

/// One line: what the action writes.
pub fn describe(a: &AddAction) -> String {
    format!(
        "add-columns: {}/{{{}}} = {} nulls each (new column files; .d rewritten as: {})",
        a.dir,
        a.columns
            .iter()
            .map(|c| format!("{} {}", c.name, c.type_name))
            .collect::<Vec<_>>()
            .join(", "),
        a.rows,
        a.dotd.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::FileError;
    use crate::kdb::{FileFormat, Header, T_FLOAT, T_LONG};
    use std::path::Path;
    use std::sync::Arc;

    fn col(name: &str, ty: LogicalType, type_name: &str) -> FillColumn {
        FillColumn {
            name: name.into(),
            type_name: type_name.into(),
            ty,
            attr: None,
        }
    }

    fn table(cols: &[(&str, u64)]) -> TableInv {
        let dir: Arc<Path> = Arc::from(Path::new("/db/data/2024.01.02/trade"));
        TableInv {
            name: "trade".into(),
            path: dir.to_path_buf(),
            dotd: Some(Ok(cols.iter().map(|(c, _)| c.to_string()).collect())),
            dotd_size: Some(1),
            files: cols
                .iter()
                .map(|(c, n)| FileInv {
                    name: c.to_string(),
                    dir: dir.clone(),
                    size: 16 + 8 * n,
                    header: Ok::<_, FileError>(Header {
                        format: FileFormat::Serialized,
                        value_type: T_LONG,
                        attr: Attr::None,
                        count: *n,
                        domain: None,
                        nested: false,
                        item_type: None,
                        compression: None,
                    }),
                    nested_item: None,
                })
                .collect(),
            links: Vec::new(),
        }
    }

    fn target() -> AddTarget {
        AddTarget {
            table: "trade".into(),
            columns: vec![
                col(
                    "ts",
                    LogicalType::Simple(crate::kdb::T_TIMESTAMP),
                    "timestamp",
                ),
                col("size", LogicalType::Simple(T_LONG), "long"),
                col("fee", LogicalType::Simple(T_FLOAT), "float"),
                col("price", LogicalType::Simple(T_FLOAT), "float"),
            ],
            prtn_col: Some("ts".into()),
        }
    }

    #[test]
    fn an_absent_column_gets_the_tables_rows_and_its_configured_place() {
        let mut t = table(&[("size", 7), ("price", 7)]);
        let a = plan_table(&target(), "2024.01.02", "data/2024.01.02/trade", &t)
            .unwrap()
            .unwrap();
        // The prtnCol is not null-filled (derive it); fee goes between size and price.
        assert_eq!(a.columns.len(), 1);
        assert_eq!(a.columns[0].name, "fee");
        assert_eq!(a.rows, 7);
        assert_eq!(a.dotd, ["size", "fee", "price"]);
        apply(&a, &mut t);
        let f = t.file("fee").unwrap().header.as_ref().unwrap();
        assert_eq!((f.value_type, f.count), (T_FLOAT, 7));
        assert_eq!(t.columns(), ["size", "fee", "price"]);
        // Nothing absent any more: nothing to do.
        assert_eq!(plan_table(&target(), "d", "x", &t).unwrap(), None);
    }

    #[test]
    fn rows_are_read_never_guessed() {
        let t = table(&[("size", 7), ("price", 8)]);
        let e = plan_table(&target(), "d", "x", &t).unwrap_err();
        assert!(matches!(e, AddRefusal::RowsDisagree { .. }), "{e}");
        assert!(e.to_string().contains("size=7 price=8"), "{e}");
        let t = table(&[]);
        let e = plan_table(&target(), "d", "x", &t).unwrap_err();
        assert!(matches!(e, AddRefusal::NoSibling { .. }), "{e}");
    }

    #[test]
    fn a_symbol_column_is_an_enumeration_against_sym() {
        let mut tg = target();
        tg.columns
            .push(col("venue", LogicalType::Simple(T_SYMBOL), "symbol"));
        let mut t = table(&[("size", 7), ("fee", 7), ("price", 7)]);
        let a = plan_table(&tg, "d", "x", &t).unwrap().unwrap();
        assert!(a.has_symbols());
        // The index of "" in the new sym comes from the session, once sym is planned.
        assert_eq!(a.null_sym_index, None);
        apply(&a, &mut t);
        let h = t.file("venue").unwrap().header.as_ref().unwrap();
        assert_eq!(
            (h.value_type, h.domain.as_deref(), h.count),
            (T_ENUM, Some("sym"), 7)
        );
    }

    #[test]
    fn list_and_occupied_columns_are_refused() {
        let t = table(&[("size", 7), ("fee", 7), ("price", 7)]);
        // Lists whose items have no null to repeat: nested symbols, general lists.
        for (ty, name) in [
            (LogicalType::List(Some(T_SYMBOL)), "symbols"),
            (LogicalType::List(None), "mixed"),
            (LogicalType::Simple(T_MIXED), "mixed"),
        ] {
            let mut tg = target();
            tg.columns.push(col("note", ty, name));
            let e = plan_table(&tg, "d", "x", &t).unwrap_err();
            assert!(matches!(e, AddRefusal::List { .. }), "{e}");
        }
        // A file named like the column that .d does not list.
        let mut t = table(&[("size", 7), ("price", 7)]);
        let mut extra = table(&[("fee", 7)]).files;
        t.files.append(&mut extra);
        let e = plan_table(&target(), "d", "x", &t).unwrap_err();
        assert!(matches!(e, AddRefusal::Occupied { .. }), "{e}");
    }

    /// A list column (string, longs…) is added as the producer writes it, and `apply` records
    /// it exactly as the reader then reads the produced pair, so check judges what is staged.
    #[test]
    fn an_added_list_column_is_recorded_as_the_reader_reads_what_is_produced() {
        use crate::kdb::{T_CHAR, T_LONG};
        use crate::remedy::produce::{produce, Job};
        for (item, name) in [(T_CHAR, "string"), (T_LONG, "longs"), (T_FLOAT, "floats")] {
            for rows in [0u64, 1, 3] {
                let mut tg = target();
                tg.columns
                    .push(col("note", LogicalType::List(Some(item)), name));
                let mut t = table(&[("size", rows), ("fee", rows), ("price", rows)]);
                let a = plan_table(&tg, "d", "x", &t).unwrap().unwrap();
                assert_eq!(a.dotd, ["size", "fee", "price", "note"]);
                apply(&a, &mut t);
                let dir = tempfile::tempdir().unwrap();
                produce(&Job::NullColumn {
                    ty: LogicalType::List(Some(item)),
                    rows,
                    domain: None,
                    null_sym_index: None,
                    out: dir.path().join("note"),
                    zip: None,
                })
                .unwrap();
                let read = crate::inventory::read_table("x", dir.path(), dir.path(), &mut vec![]);
                for f in &read.files {
                    let ours = t.file(&f.name).unwrap();
                    assert_eq!(
                        (ours.size, &ours.header, ours.nested_item),
                        (f.size, &f.header, f.nested_item),
                        "{name} × {rows}: {}",
                        f.name
                    );
                }
                assert_eq!(read.files.len(), 2);
            }
        }
    }
}
