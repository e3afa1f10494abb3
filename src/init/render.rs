//! The assembly text `smstage init` writes, built purely from what was read off the database:
//! where it sits, its `tables:` (from `schema_export`) and the notes about it. No I/O here.

use super::derived::{derived_tables, Derived};
use super::InitError;
use crate::config::{AssemblyConfig, StoreUri};
use crate::kdb::{LogicalType, T_TIMESTAMP};
use crate::remedy::spec::Remedy;
use std::fmt::Write;
use std::path::Path;

/// What `init` knows about the database, all of it read already.
pub struct InitInput<'a> {
    /// The HDB mount's baseURI: the directory holding the database's `data` directory.
    pub base_dir: &'a Path,
    /// The `tables:` section, as `smstage schema` prints it.
    pub tables_yaml: &'a str,
    /// What `schema` could not print faithfully (tables left out, untyped columns…).
    pub schema_notes: &'a [String],
    /// The HDB mount's tiers, in order: name and `store` URI (None: the default store,
    /// `<baseURI>/data`). A plain database has one; a segmented one a local tier per segment,
    /// then an object tier per `s3://` line (docs/sm-layout.md, "Segmented databases").
    pub hdb_tiers: &'a [(String, Option<String>)],
    /// `--remedy derive-prtncol:…` given to init: the tables that get a derived prtnCol.
    pub derive: &'a [Remedy],
}

/// The HDB tiers of a plain (non-segmented) database: one, with the default store.
pub fn plain_tiers() -> Vec<(String, Option<String>)> {
    vec![(HDB_TIER.to_string(), None)]
}

/// The assembly text and, one line each, what SM needs that the database does not have.
#[derive(Debug)]
pub struct Assembly {
    pub yaml: String,
    pub missing: Vec<String>,
    pub notes: Vec<String>,
    /// The parsed configuration (what `check` will read).
    pub config: AssemblyConfig,
    /// The tables given a derived prtnCol (absent on disk: `--remedy` writes it).
    pub derived: Vec<Derived>,
}

/// Mount names, tier names and the HDB tier's store, as KX writes them (docs/examples/): a
/// stream mount without baseURI, an interval mount beside the HDB mount, and the HDB mount
/// whose `<baseURI>/data` is the database. The only HDB tier keeps the default store, which is
/// what the in-place import requires (`tier-unsupported` otherwise).
const HDB_TIER: &str = "recent";

pub fn render(input: &InitInput, out_path: &Path) -> Result<Assembly, InitError> {
    let base = StoreUri::File(input.base_dir.to_path_buf());
    let idb = match input.base_dir.parent() {
        Some(p) if p != input.base_dir => StoreUri::File(p.join("idb")),
        _ => StoreUri::File(input.base_dir.join("idb")),
    };
    let name = assembly_name(input.base_dir);
    let mut hdb_tiers = String::new();
    for (tier, store) in input.hdb_tiers {
        let _ = write!(
            hdb_tiers,
            "    - name: {}\n      mount: hdb\n",
            yaml_scalar(tier)
        );
        if let Some(store) = store {
            let _ = writeln!(hdb_tiers, "      store: {}", yaml_scalar(store));
        }
    }
    let mut body = String::new();
    let _ = write!(
        body,
        "name: {name}\n\
         mounts:\n  \
           rdb:\n    type: stream\n    baseURI: none\n    partition: none\n  \
           idb:\n    type: local\n    baseURI: {idb}\n    partition: ordinal\n  \
           hdb:\n    type: local\n    baseURI: {base}\n    partition: date\n\
         sm:\n  \
           tiers:\n    \
             - name: streaming\n      mount: rdb\n    \
             - name: interval\n      mount: idb\n\
         {hdb_tiers}\
         {}",
        input.tables_yaml
    );
    let first = AssemblyConfig::parse_draft(&body, out_path)?;
    let derived = derived_tables(&first, input.derive)?;
    let (body, missing) = add_prtn_cols(&body, &first, &derived);
    // schema's note on a table without a timestamp no longer holds for a derived one.
    let notes: Vec<String> = input
        .schema_notes
        .iter()
        .filter(|n| {
            !derived
                .iter()
                .any(|d| n.starts_with(&format!("table {} has no timestamp column", d.table)))
        })
        .cloned()
        .collect();

    let mut text = String::new();
    let _ = writeln!(
        text,
        "# KX Storage Manager assembly for the kdb+ database in {}/data,\n\
         # written by smstage init from the database as it stands. Review the tables' types\n\
         # and attributes; `smstage check --config {} --backup BACKUP_DIR` says what\n\
         # still stands in the way of the import.",
        input.base_dir.display(),
        out_path.display()
    );
    if !missing.is_empty() {
        text.push_str(
            "#\n# Missing for Storage Manager (not added: the data has no column for it):\n",
        );
        for m in &missing {
            let _ = writeln!(text, "#   - {m}");
        }
    }
    if !derived.is_empty() {
        text.push_str(
            "#\n# Partition columns smstage derives (absent on disk: pass the same --remedy to\n# check and plan, which write them; docs/cli.md \"Remedies\"):\n",
        );
        for d in &derived {
            let _ = writeln!(
                text,
                "#   - {}.{} = partition date + {} (--remedy derive-prtncol:{}={})",
                d.table, d.column, d.source, d.table, d.source
            );
        }
    }
    if !notes.is_empty() {
        text.push_str("#\n# Notes on the tables below:\n");
        for n in &notes {
            let _ = writeln!(text, "#   - {n}");
        }
    }
    text.push_str(&body);
    let config = AssemblyConfig::parse_draft(&text, out_path)?;
    Ok(Assembly {
        yaml: text,
        missing,
        notes,
        config,
        derived,
    })
}

/// How to get a prtnCol for a table without a timestamp column when it has a time of day or a
/// datetime to derive one from (docs/cli.md, "Remedies"); empty otherwise. The configuration is
/// left without a prtnCol: the derived column is the user's choice (its name and its place).
fn derivable_hint(t: &crate::config::TableSchema) -> String {
    let source = t
        .columns
        .iter()
        .find(|c| matches!(c.ty, LogicalType::Simple(x) if crate::remedy::derive::is_derivable(x)));
    match source {
        Some(c) => format!(
            "; smstage can derive one from `{src}`: make `ts` the table's prtnCol and add a column `{{name: ts, type: timestamp}}`, then pass `--remedy derive-prtncol:{t}={src}` to check and plan",
            src = c.name,
            t = t.name
        ),
        None => String::new(),
    }
}

/// Adds `prtnCol` (the first timestamp column: SM writes partitions down by it) to each
/// partitioned table that has none yet, and lists the tables without a timestamp column.
/// `schema` may already print `prtnCol`; a table that has one is left as it is.
/// A derived table (`--remedy derive-prtncol`) gets its derived column as prtnCol and as its
/// first column, and loses schema's comment saying it has none.
fn add_prtn_cols(body: &str, cfg: &AssemblyConfig, derived: &[Derived]) -> (String, Vec<String>) {
    let mut inserts: Vec<(usize, String)> = Vec::new();
    let mut missing = Vec::new();
    for t in cfg.tables.iter().filter(|t| t.kind == "partitioned") {
        if t.prtn_col.is_some() {
            continue;
        }
        if let Some(d) = derived.iter().find(|d| d.table == t.name) {
            inserts.push((d.table_line, d.column.clone()));
            continue;
        }
        let ts = t
            .columns
            .iter()
            .find(|c| c.ty == LogicalType::Simple(T_TIMESTAMP));
        match (ts, t.line) {
            (Some(c), Some(line)) => inserts.push((line, c.name.clone())),
            _ => missing.push(format!(
                "table {}: no timestamp column, so no prtnCol (SM partitions write-downs by a timestamp column; {})",
                t.name,
                match t.columns.iter().find(|c| c.name == "time") {
                    Some(c) => format!("its `time` is a {}, not a timestamp", c.type_name),
                    None => "none of its columns is one".to_string(),
                }
            ) + &derivable_hint(t)),
        }
    }
    let lines: Vec<&str> = body.lines().collect();
    let mut out = String::with_capacity(body.len() + 32 * inserts.len());
    let in_derived = |line: usize| {
        derived
            .iter()
            .any(|d| line > d.table_line && line < d.first_column_line)
    };
    for (i, l) in lines.iter().enumerate() {
        if in_derived(i + 1) && l.trim_start().starts_with(NO_PRTN_COL_COMMENT) {
            continue;
        }
        if let Some(d) = derived.iter().find(|d| d.first_column_line == i + 1) {
            let indent = l.len() - l.trim_start().len();
            let _ = writeln!(
                out,
                "{:indent$}- {{name: {}, type: timestamp}}",
                "",
                yaml_scalar(&d.column)
            );
        }
        out.push_str(l);
        out.push('\n');
        if let Some((_, col)) = inserts.iter().find(|(line, _)| *line == i + 1) {
            // The table's keys sit one level below its name, as the next line shows.
            let indent = lines
                .get(i + 1)
                .map(|n| n.len() - n.trim_start().len())
                .unwrap_or(4);
            let _ = writeln!(out, "{:indent$}prtnCol: {}", "", yaml_scalar(col));
        }
    }
    (out, missing)
}

/// How `schema` begins its comment on a table without a timestamp column.
const NO_PRTN_COL_COMMENT: &str = "# no partition column (prtnCol) printed";

/// A name as a YAML plain or quoted scalar (column names may be YAML words such as `on`).
fn yaml_scalar(s: &str) -> String {
    serde_yaml::to_string(s)
        .map(|y| y.trim_end().to_string())
        .unwrap_or_else(|_| format!("'{}'", s.replace('\'', "''")))
}

/// The assembly's `name`: the base directory's name, as KX names assemblies (lower case
/// letters, digits and dashes).
fn assembly_name(base: &Path) -> String {
    let raw = base
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mut name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name = name.trim_matches('-').to_string();
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name = format!("hdb-{name}").trim_end_matches('-').to_string();
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(tables: &'a str, notes: &'a [String]) -> InitInput<'a> {
        InitInput {
            base_dir: Path::new("/srv/kx/hdb"),
            tables_yaml: tables,
            schema_notes: notes,
            hdb_tiers: Box::leak(Box::new(plain_tiers())),
            derive: &[],
        }
    }

    #[test]
    fn a_segmented_database_gets_one_tier_per_segment_then_its_object_tiers() {
        let t = "tables:\n  trade:\n    type: partitioned\n    columns:\n      - {name: time, type: timestamp}\n";
        let tiers = vec![
            ("seg1".to_string(), Some("file:///disk1/hdb".to_string())),
            (
                "seg2".to_string(),
                Some("file:///srv/kx/hdb/seg 2".to_string()),
            ),
            ("object1".to_string(), Some("s3://bucket/db".to_string())),
        ];
        let a = render(
            &InitInput {
                hdb_tiers: &tiers,
                ..input(t, &[])
            },
            Path::new("a.yaml"),
        )
        .unwrap();
        let hdb = a.config.tiers_of_mount("hdb");
        assert_eq!(
            hdb[1].store,
            Some(StoreUri::File("/srv/kx/hdb/seg 2".into())),
            "a space in a segment's path survives the URI"
        );
        let got: Vec<(String, String)> = hdb
            .iter()
            .map(|t| (t.name.clone(), t.store.as_ref().unwrap().to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("seg1".to_string(), "file:///disk1/hdb".to_string()),
                ("seg2".to_string(), "file:///srv/kx/hdb/seg%202".to_string()),
                ("object1".to_string(), "s3://bucket/db".to_string()),
            ]
        );
    }

    #[test]
    fn a_timestamp_column_becomes_prtn_col_and_the_hdb_mount_is_the_parent() {
        let t = "tables:\n  trade:\n    type: partitioned\n    columns:\n      - {name: sym, type: symbol}\n      - {name: time, type: timestamp}\n";
        let a = render(&input(t, &[]), Path::new("a.yaml")).unwrap();
        assert!(a.missing.is_empty(), "{:?}", a.missing);
        let trade = a.config.table("trade").unwrap();
        assert_eq!(trade.prtn_col.as_deref(), Some("time"));
        assert_eq!(
            a.config.hdb_base_dir().unwrap(),
            Path::new("/srv/kx/hdb").to_path_buf()
        );
        let hdb_tiers = a.config.tiers_of_mount("hdb");
        assert_eq!(hdb_tiers.len(), 1);
        assert_eq!(
            hdb_tiers[0].store,
            Some(StoreUri::File("/srv/kx/hdb/data".into()))
        );
        let rdb = a.config.mount("rdb").unwrap();
        assert_eq!(
            rdb.base_uri, None,
            "KX writes `baseURI: none` for stream mounts"
        );
        assert_eq!(
            a.config.mount("idb").unwrap().base_uri,
            Some(StoreUri::File("/srv/kx/idb".into()))
        );
    }

    #[test]
    fn a_table_without_timestamp_is_named_in_a_comment_and_gets_no_prtn_col() {
        let t = "tables:\n  trade:\n    type: partitioned\n    columns:\n      - {name: sym, type: symbol}\n      - {name: time, type: timespan}\n";
        let a = render(&input(t, &[]), Path::new("a.yaml")).unwrap();
        assert_eq!(a.config.table("trade").unwrap().prtn_col, None);
        assert_eq!(a.missing.len(), 1);
        assert!(a.missing[0].contains("table trade: no timestamp column"));
        assert!(a.missing[0].contains("`time` is a timespan"));
        assert!(a.yaml.contains("#   - table trade: no timestamp column"));
    }

    #[test]
    fn a_prtn_col_already_printed_by_schema_is_kept_not_doubled() {
        let t = "tables:\n  trade:\n    type: partitioned\n    prtnCol: ts2\n    columns:\n      - {name: ts1, type: timestamp}\n      - {name: ts2, type: timestamp}\n";
        let a = render(&input(t, &[]), Path::new("a.yaml")).unwrap();
        assert_eq!(
            a.config.table("trade").unwrap().prtn_col.as_deref(),
            Some("ts2")
        );
        assert_eq!(a.yaml.matches("prtnCol").count(), 1);
    }

    #[test]
    fn splayed_tables_need_no_prtn_col_and_notes_become_comments() {
        let t =
            "tables:\n  ref:\n    type: splayed\n    columns:\n      - {name: id, type: long}\n";
        let notes = vec!["table q (in 2020.01.01) is not in the last partition".to_string()];
        let a = render(&input(t, &notes), Path::new("a.yaml")).unwrap();
        assert!(a.missing.is_empty());
        assert!(a.yaml.contains("#   - table q (in 2020.01.01)"));
    }

    #[test]
    fn a_column_named_like_a_yaml_word_is_quoted_in_prtn_col() {
        let t = "tables:\n  t:\n    type: partitioned\n    columns:\n      - {name: 'on', type: timestamp}\n";
        let a = render(&input(t, &[]), Path::new("a.yaml")).unwrap();
        assert_eq!(a.config.table("t").unwrap().prtn_col.as_deref(), Some("on"));
    }

    #[test]
    fn no_tables_is_a_configuration_error_not_a_file_check_cannot_read() {
        assert!(render(&input("tables:\n", &[]), Path::new("a.yaml")).is_err());
    }

    #[test]
    fn assembly_names_follow_kx_rules() {
        assert_eq!(assembly_name(Path::new("/srv/Torq_Air")), "torq-air");
        assert_eq!(assembly_name(Path::new("/tmp/2024")), "hdb-2024");
        assert_eq!(assembly_name(Path::new("/")), "hdb");
    }
}
