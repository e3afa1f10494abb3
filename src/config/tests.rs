//! Tests of parsing whole assembly files: KX-style examples, defaults, and error messages.

use std::path::{Path, PathBuf};

use super::*;
use crate::kdb::*;

/// The SM section as KX writes it, with keys smstage does not read.
const SM: &str = "\
sm:
  source: south
  initialImport: true
  sgrc:
    enabled: false
  resources:
    limits: {cpu: 2, memory: 4Gi}
  tiers:
    - name: streaming
      mount: rdb
    - name: interval
      mount: idb
      schedule:
        freq: 00:10:00
    - name: recent
      mount: hdb
      schedule:
        freq: 1D00:00:00
        snap: 01:35:00
      retain:
        time: 2 weeks
      compression:
        frequency: 0
        algorithm: zstd
        level: 5
    - name: archive
      mount: hdb
      store: s3://fin-archive/hdb/
      retain:
        time: 5 years
";

const TABLES: &str = "\
tables:
  trade:
    description: Trade data
    type: partitioned
    blockSize: 10000
    prtnCol: time
    sortColsOrd: [sym]
    sortColsDisk: [sym]
    columns:
      - name: time
        description: Trade time
        type: timestamp
      - name: sym
        type: symbol
        attrMem: grouped
        attrOrd: parted
        attrDisk: parted
      - name: price
        type: float
        foreign: ''
      - name: size
        type: long
      - name: cond
        type: string
  quote:
    type: partitioned
    prtnCol: time
    sortColsDisk: sym
    columns:
      - {name: time, type: p}
      - {name: sym, type: s, attrDisk: p}
      - {name: bid, type: f}
      - {name: sizes, type: J}
  exchanges:
    type: basic
    columns:
      - name: code
        type: symbol
        attrDisk: unique
      - name: names
        type: symbols
";

const MOUNTS: &str = "\
mounts:
  rdb:
    type: stream
    baseURI: none
    partition: none
  idb:
    type: local
    baseURI: file:///data/fin/idb
    partition: ordinal
    volume:
      size: 20Gi
  hdb:
    type: local
    baseURI: file:///data/fin/hdb
    partition: date
    dependency:
      - idb
";

const OTHER: &str = "\
dbSettings:
  gc: true
resources:
  requests: {cpu: 1}
bus:
  south:
    protocol: rt
    topic: fin
";

fn indent(block: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    block
        .lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{pad}{l}\n")
            }
        })
        .collect()
}

/// The same assembly with the SM section (and tables/mounts) in each accepted place.
fn placements() -> Vec<(&'static str, String)> {
    vec![
        (
            "top-level",
            format!("name: fin\nlabels:\n  region: emea\n{TABLES}{MOUNTS}{OTHER}{SM}"),
        ),
        (
            "elements",
            format!(
                "name: fin\n{TABLES}{MOUNTS}{OTHER}elements:\n  dap:\n    instances: {{}}\n{}",
                indent(SM, 2)
            ),
        ),
        (
            "spec.elements",
            format!(
                "apiVersion: insights.kx.com/v1\nkind: Assembly\nmetadata:\n  name: fin\n\
                 spec:\n  attach: false\n{}{}  elements:\n{}{}",
                indent(MOUNTS, 2),
                indent(OTHER, 2),
                indent(SM, 4),
                indent(TABLES, 4)
            ),
        ),
        (
            "spec.tables",
            format!(
                "kind: Assembly\nspec:\n{}{}  elements:\n{}",
                indent(TABLES, 2),
                indent(MOUNTS, 2),
                indent(SM, 4)
            ),
        ),
    ]
}

fn file() -> PathBuf {
    PathBuf::from("/etc/kx/fin-assembly.yaml")
}

fn line_of(text: &str, needle: &str) -> usize {
    let hits: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(hits.len(), 1, "needle {needle:?} must occur once: {hits:?}");
    hits[0]
}

fn check_full(cfg: &AssemblyConfig, text: &str, what: &str) {
    assert_eq!(cfg.path, file());
    assert_eq!(cfg.initial_import, Some(true), "{what}");
    let names: Vec<&str> = cfg.mounts.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["rdb", "idb", "hdb"], "{what}");
    assert_eq!(cfg.mounts[0].kind, MountKind::Stream);
    assert_eq!(cfg.mounts[0].base_uri, None);
    assert_eq!(cfg.mounts[1].partition, Partitioning::Ordinal);
    let hdb = cfg.hdb_mount().unwrap();
    assert_eq!(hdb.name, "hdb");
    assert_eq!(hdb.line, Some(line_of(text, "  hdb:")), "{what}");
    assert_eq!(
        cfg.hdb_base_dir().unwrap(),
        PathBuf::from("/data/fin/hdb"),
        "{what}"
    );

    let tiers: Vec<&str> = cfg.tiers.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tiers, ["streaming", "interval", "recent", "archive"]);
    assert_eq!(cfg.tiers[0].store, None);
    assert!(cfg.tiers[0].store_defaulted);
    assert_eq!(
        cfg.tiers[1].store,
        Some(StoreUri::File("/data/fin/idb/data".into()))
    );
    let hdb_tiers = cfg.tiers_of_mount("hdb");
    assert_eq!(hdb_tiers.len(), 2);
    assert_eq!(
        hdb_tiers[0].store.as_ref().unwrap().to_string(),
        "file:///data/fin/hdb/data"
    );
    assert!(hdb_tiers[0].store_defaulted);
    assert_eq!(
        hdb_tiers[1].store,
        Some(StoreUri::S3 {
            bucket: "fin-archive".into(),
            prefix: "hdb".into()
        })
    );
    assert!(!hdb_tiers[1].store_defaulted);
    assert_eq!(hdb_tiers[1].line, Some(line_of(text, "- name: archive")));

    let tables: Vec<&str> = cfg.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tables, ["trade", "quote", "exchanges"], "{what}");
    let trade = cfg.table("trade").unwrap();
    assert_eq!(trade.kind, "partitioned");
    assert_eq!(trade.prtn_col.as_deref(), Some("time"));
    assert_eq!(trade.sort_cols_disk, ["sym"]);
    let cols: Vec<(&str, LogicalType, Option<Attr>)> = trade
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.ty, c.attr_disk))
        .collect();
    assert_eq!(
        cols,
        [
            ("time", LogicalType::Simple(T_TIMESTAMP), None),
            ("sym", LogicalType::Simple(T_SYMBOL), Some(Attr::Parted)),
            ("price", LogicalType::Simple(T_FLOAT), None),
            ("size", LogicalType::Simple(T_LONG), None),
            ("cond", LogicalType::List(Some(T_CHAR)), None),
        ]
    );
    assert_eq!(trade.column("cond").unwrap().type_name, "string");
    assert_eq!(
        trade.column("cond").unwrap().line,
        Some(line_of(text, "- name: cond"))
    );
    let quote = cfg.table("quote").unwrap();
    assert_eq!(quote.sort_cols_disk, ["sym"]);
    assert_eq!(quote.columns[1].attr_disk, Some(Attr::Parted));
    assert_eq!(quote.columns[3].ty, LogicalType::List(Some(T_LONG)));
    assert_eq!(quote.columns[3].type_name, "J");
    assert_eq!(
        quote.columns[3].line,
        Some(line_of(text, "{name: sizes, type: J}"))
    );
    let ex = cfg.table("exchanges").unwrap();
    assert_eq!(ex.kind, "basic");
    assert_eq!(ex.columns[0].attr_disk, Some(Attr::Unique));
    assert_eq!(ex.columns[1].ty, LogicalType::List(Some(T_SYMBOL)));
    assert!(cfg.table("nope").is_none());
}

#[test]
fn full_example_in_every_placement() {
    let all = placements();
    let mut parsed = Vec::new();
    for (what, text) in &all {
        let cfg = AssemblyConfig::parse(text, &file())
            .unwrap_or_else(|e| panic!("{what}: {e}\n---\n{text}"));
        check_full(&cfg, text, what);
        parsed.push(cfg);
    }
    // Apart from line numbers, every placement yields the same configuration.
    let strip = |c: &AssemblyConfig| {
        let mut c = c.clone();
        c.mounts.iter_mut().for_each(|m| m.line = None);
        c.tiers.iter_mut().for_each(|t| t.line = None);
        for t in &mut c.tables {
            t.line = None;
            t.columns.iter_mut().for_each(|x| x.line = None);
        }
        c
    };
    for p in &parsed[1..] {
        assert_eq!(strip(p), strip(&parsed[0]));
    }
}

#[test]
fn load_reads_the_file_and_reports_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("assembly.yaml");
    std::fs::write(&p, &placements()[0].1).unwrap();
    let cfg = AssemblyConfig::load(&p).unwrap();
    assert_eq!(cfg.path, p);
    assert_eq!(cfg.tables.len(), 3);
    let missing = dir.path().join("nope.yaml");
    let e = AssemblyConfig::load(&missing).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    assert!(e.to_string().contains("nope.yaml"), "{e}");
}

#[test]
fn anchors_merge_keys_and_tags_are_resolved() {
    let text = "\
defaults: &local
  type: local
  partition: date
mounts:
  hdb:
    <<: *local
    baseURI: !!str file:///srv/hdb
sm:
  tiers: [{name: hdb, mount: hdb}]
tables:
  t: {type: splayed, columns: [{name: a, type: j}]}
";
    let cfg = AssemblyConfig::parse(text, &file()).unwrap();
    assert_eq!(cfg.hdb_base_dir().unwrap(), PathBuf::from("/srv/hdb"));
    assert_eq!(
        cfg.tiers[0].store,
        Some(StoreUri::File("/srv/hdb/data".into()))
    );
    assert_eq!(cfg.initial_import, None);
    assert_eq!(cfg.tables[0].columns[0].ty, LogicalType::Simple(T_LONG));
}

#[test]
fn s3_store_and_s3_mount_defaults() {
    let text = "\
mounts:
  hdb: {type: local, baseURI: 'file:///srv/my%20hdb/', partition: date}
  obj: {type: object, baseURI: 's3://bucket/root', partition: date}
sm:
  tiers:
    - {name: hdb, mount: hdb}
    - {name: cold, mount: obj}
    - {name: colder, mount: hdb, store: 's3://other'}
tables:
  t: {type: partitioned, prtnCol: ts, columns: [{name: ts, type: timestamp}, {name: a, type: j}]}
";
    let cfg = AssemblyConfig::parse(text, &file()).unwrap();
    assert_eq!(cfg.hdb_base_dir().unwrap(), PathBuf::from("/srv/my hdb"));
    assert_eq!(
        cfg.tiers[0].store.as_ref().unwrap().to_string(),
        "file:///srv/my%20hdb/data"
    );
    assert_eq!(cfg.mounts[1].kind, MountKind::Object);
    assert_eq!(
        cfg.tiers[1].store,
        Some(StoreUri::S3 {
            bucket: "bucket".into(),
            prefix: "root/data".into()
        })
    );
    assert_eq!(
        cfg.tiers[2].store.as_ref().unwrap().to_string(),
        "s3://other"
    );
    assert_eq!(cfg.tiers_of_mount("obj").len(), 1);
    assert_eq!(cfg.tiers_of_mount("hdb").len(), 2);
    assert!(cfg.tiers_of_mount("none").is_empty());
}

#[test]
fn hdb_mount_on_hand_built_configs() {
    let m = |name: &str, partition: Partitioning, uri: Option<&str>| Mount {
        name: name.into(),
        kind: MountKind::Local,
        base_uri: uri.map(|u| StoreUri::parse(u).unwrap()),
        partition,
        line: Some(3),
    };
    let mut cfg = AssemblyConfig {
        path: file(),
        mounts: vec![m("idb", Partitioning::Ordinal, None)],
        tiers: vec![],
        tables: vec![],
        initial_import: None,
        encryption: None,
    };
    let e = cfg.hdb_mount().unwrap_err().to_string();
    assert!(e.contains("found: idb (local, ordinal)"), "{e}");
    assert!(e.contains("fin-assembly.yaml"), "{e}");
    cfg.mounts
        .push(m("hdb", Partitioning::Date, Some("s3://b/p")));
    let e = cfg.hdb_base_dir().unwrap_err();
    assert_eq!(e.kind(), Some(InvalidKind::HdbNotLocal));
    assert!(e.to_string().contains("s3://b/p"), "{e}");
    cfg.mounts
        .push(m("hdb2", Partitioning::Date, Some("file:///x")));
    let e = cfg.hdb_mount().unwrap_err();
    assert_eq!(e.kind(), Some(InvalidKind::ManyHdbMounts));
    assert!(e.to_string().contains("hdb, hdb2") || e.to_string().contains("hdb (line 3), hdb2"));
}

#[test]
fn example_files_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples");
    let load = |n: &str| AssemblyConfig::load(&dir.join(n)).unwrap_or_else(|e| panic!("{n}: {e}"));

    let local = load("local-only.yaml");
    assert_eq!(local.hdb_base_dir().unwrap(), PathBuf::from("/data/kx/hdb"));
    let hdb = local.hdb_mount().unwrap().name.clone();
    let t = local.tiers_of_mount(&hdb);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].store, Some(StoreUri::File("/data/kx/hdb/data".into())));
    assert_eq!(local.initial_import, Some(true));
    assert!(local.table("trade").is_some());

    let mixed = load("local-and-s3.yaml");
    let hdb = mixed.hdb_mount().unwrap().name.clone();
    let t = mixed.tiers_of_mount(&hdb);
    assert_eq!(t.len(), 2);
    assert!(t[0].store.as_ref().unwrap().is_local());
    assert!(t[0].store_defaulted);
    assert_eq!(
        t[1].store.as_ref().unwrap().to_string(),
        "s3://historical-data/db"
    );

    let s3 = load("s3-only.yaml");
    let hdb = s3.hdb_mount().unwrap().name.clone();
    let t = s3.tiers_of_mount(&hdb);
    assert!(t.first().unwrap().store.as_ref().unwrap().is_local());
    assert!(!t.last().unwrap().store.as_ref().unwrap().is_local());
    assert!(!s3.tables.is_empty());
}

// ---- errors ----------------------------------------------------------------------------

const BASE: &str = "\
mounts:
  rdb:
    type: stream
    baseURI: none
    partition: none
  hdb:
    type: local
    baseURI: file:///data/hdb
    partition: date
sm:
  tiers:
    - name: rdb
      mount: rdb
    - name: hdb
      mount: hdb
tables:
  trade:
    type: partitioned
    prtnCol: time
    columns:
      - name: time
        type: timestamp
      - name: sym
        type: symbol
        attrDisk: parted
      - name: price
        type: float
";

fn bad_path() -> PathBuf {
    PathBuf::from("/cfg/bad-assembly.yaml")
}

fn edit(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from:?} not in BASE");
    BASE.replacen(from, to, 1)
}

struct Case {
    text: String,
    kind: Option<InvalidKind>,
    key: &'static str,
    /// Text of the line the error must point at; `None` when no line can be known.
    at: Option<&'static str>,
    says: &'static [&'static str],
    /// Which occurrence of `at` is meant (0 = it must be unique).
    nth: usize,
}

fn case(
    text: String,
    kind: Option<InvalidKind>,
    key: &'static str,
    at: Option<&'static str>,
    says: &'static [&'static str],
) -> Case {
    Case {
        text,
        kind,
        key,
        at,
        says,
        nth: 0,
    }
}

#[test]
fn base_is_valid() {
    let cfg = AssemblyConfig::parse(BASE, &bad_path()).unwrap();
    assert_eq!(cfg.tables[0].columns.len(), 3);
}

#[test]
fn every_error_names_file_line_and_key() {
    use InvalidKind as K;
    let cases = vec![
        case(
            edit("    type: local\n", "\ttype: local\n"),
            None,
            "",
            Some("\ttype: local"),
            &["YAML error", "spaces, not tabs"],
        ),
        case(
            edit(
                "      - name: price\n        type: float",
                "      - name: price\n        type: lng",
            ),
            Some(K::UnknownValue),
            "tables.trade.columns[2].type",
            Some("type: lng"),
            &[
                "unknown type name 'lng'",
                "did you mean 'long'",
                "timespan",
                "'string'/'longs'",
            ],
        ),
        case(
            edit("attrDisk: parted", "attrDisk: sortd"),
            Some(K::UnknownValue),
            "tables.trade.columns[1].attrDisk",
            Some("attrDisk: sortd"),
            &[
                "unknown attrDisk 'sortd'",
                "sorted, unique, parted, grouped",
            ],
        ),
        case(
            edit("partition: date", "partition: ordinal"),
            Some(K::NoHdbMount),
            "mounts",
            Some("mounts:"),
            &["found: rdb (stream, none), hdb (local, ordinal)"],
        ),
        case(
            edit(
                "sm:\n",
                "  hdb2:\n    type: local\n    baseURI: file:///x\n    partition: date\nsm:\n",
            ),
            Some(K::ManyHdbMounts),
            "mounts.hdb2",
            Some("hdb2:"),
            &["2 mounts", "hdb (line 6)"],
        ),
        case(
            edit("      mount: hdb", "      mount: hbd"),
            Some(K::UnknownMount),
            "sm.tiers[1].mount",
            Some("mount: hbd"),
            &["'hbd'", "one of the mounts: rdb, hdb"],
        ),
        case(
            edit("    - name: rdb", "    - name: hdb"),
            Some(K::Duplicate),
            "sm.tiers[1].name",
            Some("    - name: hdb"),
            &["duplicate tier name 'hdb'", "sm.tiers[0] at line 12"],
        )
        .at_nth(1),
        case(
            format!("{BASE}  trade:\n    type: basic\n"),
            None,
            "",
            Some("  trade:\n    type: basic"),
            &[
                "duplicate key 'trade' under tables (first at line 17)",
                "only once",
            ],
        ),
        case(
            edit("name: price", "name: time"),
            Some(K::Duplicate),
            "tables.trade.columns[2].name",
            Some("name: time"),
            &["duplicate column name 'time'", "columns[0] at line 21"],
        )
        .at_nth(1),
        case(
            BASE.split("    columns:").next().unwrap().to_string() + "    columns: []\n",
            Some(K::NoColumns),
            "tables.trade.columns",
            Some("columns: []"),
            &["table 'trade' has no columns"],
        ),
        case(
            edit("    baseURI: file:///data/hdb\n", ""),
            Some(K::MissingKey),
            "mounts.hdb",
            Some("  hdb:"),
            &["has no baseURI", "file:///"],
        ),
        case(
            edit("file:///data/hdb", "http://server/data/hdb"),
            Some(K::BadUri),
            "mounts.hdb.baseURI",
            Some("http://server"),
            &["'http://'", "file:///absolute/path", "s3://bucket/prefix"],
        ),
        case(
            edit(
                "      mount: hdb\n",
                "      mount: hdb\n      store: file://relative/dir\n",
            ),
            Some(K::BadUri),
            "sm.tiers[1].store",
            Some("store: file://"),
            &["not an absolute local path", "three slashes"],
        ),
        case(
            edit(
                "      mount: hdb\n",
                "      mount: hdb\n      store: s3:///db\n",
            ),
            Some(K::BadUri),
            "sm.tiers[1].store",
            Some("store: s3:"),
            &["empty bucket"],
        ),
        case(
            edit("sm:\n  tiers:", "other:\n  tiers:"),
            Some(K::NoSmSection),
            "sm",
            None,
            &["no SM section", "elements", "spec.elements"],
        ),
        case(
            edit("    - name: hdb", "    - name: .hdb"),
            Some(K::BadName),
            "sm.tiers[1].name",
            Some("name: .hdb"),
            &["'.hdb'", "directory name"],
        ),
        case(
            format!("{BASE}elements:\n  tables:\n    q:\n      type: basic\n"),
            Some(K::Ambiguous),
            "elements.tables",
            Some("  tables:"),
            &["`tables` appears in 2 places", "tables (line 16)"],
        ),
        case(
            format!("{BASE}spec:\n  elements:\n    sm:\n      tiers: []\n"),
            Some(K::Ambiguous),
            "spec.elements.sm",
            Some("    sm:"),
            &["`sm` appears in 2 places"],
        ),
        case(
            BASE.split("    columns:").next().unwrap().to_string() + "    columns: 5\n",
            Some(K::WrongType),
            "tables.trade.columns",
            Some("columns: 5"),
            &["the number 5", "a list"],
        ),
        case(
            edit("        type: timestamp\n", ""),
            Some(K::MissingKey),
            "tables.trade.columns[0].type",
            Some("- name: time"),
            &["missing `type`"],
        ),
        case(
            edit("file:///data/hdb", "s3://bucket/hdb"),
            Some(K::HdbNotLocal),
            "mounts.hdb.baseURI",
            Some("s3://bucket/hdb"),
            &["not a local directory"],
        ),
        case(
            edit("prtnCol: time", "prtnCol: ts"),
            Some(K::UnknownColumn),
            "tables.trade.prtnCol",
            Some("prtnCol: ts"),
            &["'ts' is not a column", "time, sym, price"],
        ),
        case(
            edit("sm:\n", "sm:\n  initialImport: 'yes'\n"),
            Some(K::WrongType),
            "sm.initialImport",
            Some("initialImport"),
            &["the text 'yes'", "true or false"],
        ),
        case(
            edit(
                "    - name: hdb\n      mount: hdb\n",
                "    - name: hdb\n      mount: rdb\n",
            ),
            Some(K::HdbWithoutTier),
            "sm.tiers",
            Some("  tiers:"),
            &["no tier uses the HDB mount 'hdb'"],
        ),
        case(
            edit("    type: local\n", ""),
            Some(K::MissingKey),
            "mounts.hdb.type",
            Some("  hdb:"),
            &["missing `type`"],
        ),
        case(
            edit("type: partitioned", "type: partitoned"),
            Some(K::UnknownValue),
            "tables.trade.type",
            Some("type: partitoned"),
            &[
                "unknown table type 'partitoned'",
                "partitioned, splayed, basic",
            ],
        ),
        case(
            edit(
                "  tiers:\n    - name: rdb\n      mount: rdb\n    - name: hdb\n      mount: hdb\n",
                "  tiers: []\n",
            ),
            Some(K::NoTiers),
            "sm.tiers",
            Some("tiers: []"),
            &["no tiers"],
        ),
        case(
            edit("  trade:\n", "  trade/x:\n"),
            Some(K::BadName),
            "tables.\"trade/x\"",
            Some("trade/x:"),
            &["table name 'trade/x'"],
        ),
        case(
            String::new(),
            Some(K::NoSmSection),
            "(document root)",
            None,
            &["the file is empty"],
        ),
        // KX's import prerequisite: a partitioned table's prtnCol is a timestamp column.
        case(
            edit("    prtnCol: time\n", ""),
            Some(K::MissingKey),
            "tables.trade",
            Some("  trade:"),
            &[
                "partitioned table 'trade' has no prtnCol",
                "a timestamp column which, when rounded down, is equal to the date",
                "set `prtnCol: time`",
            ],
        ),
        case(
            edit("        type: timestamp\n", "        type: timespan\n"),
            Some(K::UnknownValue),
            "tables.trade.prtnCol",
            Some("prtnCol: time"),
            &[
                "prtnCol 'time' of table 'trade' is configured as timespan, not timestamp",
                "table 'trade' has no timestamp column",
            ],
        ),
        case(
            edit(
                "      mount: hdb\n",
                "      mount: hdb\n      compression: {algorithm: brotli}\n",
            ),
            Some(K::UnknownValue),
            "sm.tiers[1].compression.algorithm",
            Some("algorithm: brotli"),
            &[
                "unknown compression algorithm the text 'brotli'",
                "0 none, 1 qipc, 2 gzip",
            ],
        ),
        case(
            edit("sm:\n", "sm:\n  encryption: {enabled: 'yes'}\n"),
            Some(K::WrongType),
            "sm.encryption.enabled",
            Some("enabled"),
            &["encryption.enabled is the text 'yes'", "true or false"],
        ),
    ];
    assert!(cases.len() >= 15);
    let mut kinds = std::collections::HashSet::new();
    for (n, c) in cases.iter().enumerate() {
        let e = match AssemblyConfig::parse(&c.text, &bad_path()) {
            Ok(_) => panic!("case {n} parsed:\n{}", c.text),
            Err(e) => e,
        };
        let msg = e.to_string();
        let ctx = format!("case {n}: {msg}\n---\n{}", c.text);
        assert_eq!(e.kind(), c.kind, "{ctx}");
        kinds.insert(format!("{:?}", e.kind()));
        assert!(msg.starts_with("/cfg/bad-assembly.yaml"), "{ctx}");
        if !c.key.is_empty() {
            assert!(msg.contains(&format!("(at {})", c.key)), "{ctx}");
        }
        match c.at {
            Some(at) => {
                let want = c.line(at);
                assert_eq!(e.line(), Some(want), "{ctx}");
                assert!(
                    msg.starts_with(&format!("/cfg/bad-assembly.yaml:{want}:")),
                    "{ctx}"
                );
            }
            None => assert_eq!(e.line(), None, "{ctx}"),
        }
        for s in c.says {
            assert!(msg.contains(s), "missing {s:?} in {ctx}");
        }
        assert!(msg.contains("fix: "), "{ctx}");
    }
    assert!(kinds.len() >= 15, "{kinds:?}");
}

impl Case {
    /// Points the expected line at the 2nd occurrence of `at` instead of requiring uniqueness.
    fn at_nth(mut self, n: usize) -> Case {
        self.nth = n;
        self
    }

    fn line(&self, at: &str) -> usize {
        // Multi-line needles match where they start.
        let starts: Vec<usize> = self
            .text
            .match_indices(at)
            .map(|(i, _)| self.text[..i].matches('\n').count() + 1)
            .collect();
        if self.nth == 0 {
            assert_eq!(starts.len(), 1, "needle {at:?} must occur once: {starts:?}");
        }
        starts[self.nth]
    }
}

#[test]
fn errors_are_located_in_other_layouts() {
    let locate = |text: &str, key: &str, at: &str| {
        let e = AssemblyConfig::parse(text, &bad_path()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(&format!("(at {key})")), "{msg}");
        let want = line_of(text, at);
        assert!(
            msg.starts_with(&format!("/cfg/bad-assembly.yaml:{want}:")),
            "want line {want}: {msg}\n{text}"
        );
    };
    // Kubernetes layout: the key path carries the real prefix.
    let spec = placements()[2].1.replacen("mount: idb", "mount: idbx", 1);
    locate(&spec, "spec.elements.sm.tiers[1].mount", "mount: idbx");
    let spec = placements()[2].1.replacen("type: long", "type: lng", 1);
    locate(
        &spec,
        "spec.elements.tables.trade.columns[3].type",
        "type: lng",
    );
    // Sequence dashes at the key's own column.
    let compact = BASE.replacen(
        "    - name: rdb\n      mount: rdb\n    - name: hdb\n      mount: hdb",
        "  - name: rdb\n    mount: rdb\n  - name: hdb\n    mount: hbd",
        1,
    );
    locate(&compact, "sm.tiers[1].mount", "mount: hbd");
    // A whole column list in flow style on one line.
    let flow = format!(
        "{}tables:\n  t:\n    type: basic\n    columns: [{{name: a, type: j}}, {{name: b, type: lng}}]\n",
        BASE.split("tables:").next().unwrap()
    );
    locate(&flow, "tables.t.columns[1].type", "columns: [");
}

#[test]
fn tier_compression_and_encryption_as_kx_writes_them() {
    let text = BASE
        .replace(
            "      mount: hdb\n",
            "      mount: hdb\n      compression: {frequency: 0, blockSize: 17, algorithm: 2, level: 6}\n",
        )
        .replace("sm:\n", "sm:\n  encryption:\n    enabled: true\n");
    let cfg = AssemblyConfig::parse(&text, &file()).unwrap();
    assert_eq!(
        cfg.tiers[1].compression,
        Some(TierCompression {
            algorithm: 2,
            level: 6,
            block_log2: Some(17)
        })
    );
    assert_eq!(cfg.encryption.as_ref().map(|e| e.enabled), Some(true));
    let named = BASE.replace(
        "      mount: hdb\n",
        "      mount: hdb\n      compression: {algorithm: zstd, level: 3}\n",
    );
    let cfg = AssemblyConfig::parse(&named, &file()).unwrap();
    assert_eq!(
        cfg.tiers[1].compression,
        Some(TierCompression {
            algorithm: 5,
            level: 3,
            block_log2: None
        })
    );
    assert_eq!(cfg.encryption, None);
}

/// A refused assembly still names its database when its mounts parse: `check` reads the
/// database beside the configuration error.
#[test]
fn the_hdb_base_of_a_refused_assembly_is_still_known() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.yaml");
    let refused = BASE.replace("    prtnCol: time\n", "");
    std::fs::write(&p, &refused).unwrap();
    assert!(AssemblyConfig::load(&p).is_err());
    assert_eq!(
        AssemblyConfig::hdb_base_dir_lenient(&p),
        Some(PathBuf::from("/data/hdb"))
    );
    let no_sm = BASE.replace("sm:\n", "smx:\n");
    std::fs::write(&p, no_sm).unwrap();
    assert_eq!(
        AssemblyConfig::hdb_base_dir_lenient(&p),
        Some(PathBuf::from("/data/hdb"))
    );
    for broken in [
        BASE.replace("partition: date", "partition: ordinal"),
        BASE.replace("file:///data/hdb", "s3://bucket/hdb"),
        "mounts: [1, 2]\n".to_string(),
        "{not yaml".to_string(),
    ] {
        std::fs::write(&p, &broken).unwrap();
        assert_eq!(AssemblyConfig::hdb_base_dir_lenient(&p), None, "{broken}");
    }
    assert_eq!(
        AssemblyConfig::hdb_base_dir_lenient(&dir.path().join("missing.yaml")),
        None
    );
}
