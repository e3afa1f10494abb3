//! Databases that need a remedy (issue #19), shared by `tests/remedy_cli.rs` and
//! `mount-tests/remedy_tests.rs`.

use super::*;

/// The remedy every kdb+tick-shaped database here takes: `ts` derived from `time`.
pub const DERIVE_TS: &str = "derive-prtncol:*=time";

/// Adds to every partitioned table of the assembly at `config` a `prtnCol: ts` and a column
/// `ts` of type timestamp, configured first: the column SM needs and the data lacks. Works on
/// what `smstage gen` writes (block columns) and what `smstage schema` prints (flow columns).
pub fn configure_ts(config: &Path) {
    let yaml = fs::read_to_string(config).unwrap();
    let flow = yaml.contains("      - {name: ");
    // Table blocks start at a two-space key below `tables:`; one that has a prtnCol keeps it.
    let lines: Vec<&str> = yaml.lines().collect();
    let tables_at = lines.iter().position(|l| *l == "tables:").expect("tables:");
    let mut out: Vec<String> = lines[..=tables_at].iter().map(|l| l.to_string()).collect();
    let mut block: Vec<&str> = Vec::new();
    let mut tables = 0;
    let mut flush = |block: &mut Vec<&str>, out: &mut Vec<String>| {
        let has = block.iter().any(|l| l.starts_with("    prtnCol:"));
        let partitioned = block.contains(&"    type: partitioned");
        for l in block.drain(..) {
            if l.trim_start()
                .starts_with("# no partition column (prtnCol) printed")
            {
                continue;
            }
            out.push(l.to_string());
            if has || !partitioned {
                continue;
            }
            if l == "    type: partitioned" {
                out.push("    prtnCol: ts".into());
            }
            if l == "    columns:" {
                out.push(if flow {
                    "      - {name: ts, type: timestamp}".into()
                } else {
                    "    - name: ts\n      type: timestamp".into()
                });
                tables += 1;
            }
        }
    };
    for l in &lines[tables_at + 1..] {
        if l.starts_with("  ") && !l.starts_with("   ") && !block.is_empty() {
            flush(&mut block, &mut out);
        }
        block.push(l);
    }
    flush(&mut block, &mut out);
    assert!(tables > 0, "no table to configure in {yaml}");
    fs::write(config, out.join("\n") + "\n").unwrap();
}

/// Configures `fee` (a float) right after the configured `ts` of every partitioned table (what
/// [`configure_ts`] writes in block style): a column no partition has, for add-columns.
pub fn configure_fee(config: &Path) {
    configure_after_ts(config, &[("fee", "float")]);
}

/// Configures `columns` (name, type) right after the configured `ts` of every partitioned
/// table, in order: columns no partition has, for add-columns.
pub fn configure_after_ts(config: &Path, columns: &[(&str, &str)]) {
    let yaml = fs::read_to_string(config).unwrap();
    let ts = "    - name: ts\n      type: timestamp\n";
    assert!(yaml.contains(ts), "no block-style ts in {yaml}");
    let added: String = columns
        .iter()
        .map(|(n, t)| format!("    - name: {n}\n      type: {t}\n"))
        .collect();
    let yaml = yaml.replace(ts, &format!("{ts}{added}"));
    fs::write(config, yaml).unwrap();
}

/// Configures `mkt` (a symbol) right after the configured `ts` of every partitioned table (what
/// [`configure_ts`] writes in block style): a symbol column no partition has, whose nulls
/// add-columns enumerates to the empty symbol, which the generated `sym` lacks.
pub fn configure_mkt(config: &Path) {
    let yaml = fs::read_to_string(config).unwrap();
    let ts = "    - name: ts\n      type: timestamp\n";
    assert!(yaml.contains(ts), "no block-style ts in {yaml}");
    let yaml = yaml.replace(ts, &format!("{ts}    - name: mkt\n      type: symbol\n"));
    fs::write(config, yaml).unwrap();
}

/// The symbols a second domain `domain` holds (see [`second_domain`]): the root `sym`'s first
/// `n` symbols in reverse order, then three that `sym` lacks.
pub fn second_domain_symbols(sym: &[String], n: usize) -> Vec<String> {
    let mut d: Vec<String> = sym[..n].iter().rev().cloned().collect();
    d.extend(["ZZA", "ZZB", "ZZC"].map(String::from));
    d
}

/// Re-enumerates the `sym` column of `table` in every partition against a new root domain
/// `domain` (what dolphindb-sample's `sym_ORD` is): the same symbols row by row, except the
/// last row of each partition, which becomes `ZZA`, a symbol the root `sym` lacks (the
/// column stays `p#`: one more run at the end). Returns, per partition, the column's symbols.
pub fn second_domain(b: &Base, table: &str, domain: &str) -> Vec<Vec<String>> {
    use smstage::kdb::write::{enum_bytes, write_symbols, HeaderCount};
    use smstage::kdb::{read_column, read_symbols, Attr, ColumnData};
    let sym = read_symbols(&b.data().join("sym")).unwrap();
    let n = 40.min(sym.len());
    let dom = second_domain_symbols(&sym, n);
    write_symbols(&b.data().join(domain), &dom, HeaderCount::Zero).unwrap();
    let mut out = Vec::new();
    for d in dates(&b.data()) {
        let col = b.data().join(&d).join(table).join("sym");
        let ColumnData::Enum { indices, .. } = read_column(&col).unwrap().data else {
            panic!("{} is no enumeration", col.display());
        };
        let mut words: Vec<String> = indices.iter().map(|&i| sym[i as usize].clone()).collect();
        *words.last_mut().unwrap() = "ZZA".into();
        // Rows whose symbol the domain lacks (beyond its first n) keep their meaning through
        // an entry appended to it.
        let mut dom_now = read_symbols(&b.data().join(domain)).unwrap();
        let mut idx = Vec::with_capacity(words.len());
        for w in &words {
            let i = match dom_now.iter().position(|x| x == w) {
                Some(i) => i,
                None => {
                    dom_now.push(w.clone());
                    dom_now.len() - 1
                }
            };
            idx.push(i as i64);
        }
        write_symbols(&b.data().join(domain), &dom_now, HeaderCount::Zero).unwrap();
        let bytes = enum_bytes(domain, Attr::Parted, &idx, HeaderCount::Set).unwrap();
        fs::write(&col, bytes).unwrap();
        out.push(words);
    }
    out
}

/// The remedies that make dolphindb-sample's three enumerated tables (as
/// [`configure_dolphindb_enumerated`] configures them) what SM needs, but for set-aside's.
pub const DOLPHINDB_ENUMERATED: &[&str] = &[
    "derive-prtncol:ORD=time",
    "derive-prtncol:TRANSACTION=time",
    "one-sym",
    "fill-tables",
];

/// Keeps, of the assembly `corpus::corpus_base` wrote for dolphindb-sample (every table of
/// `smstage schema`), the three tables enumerated against other domains than sym: quote_cffex
/// (whose `time` is a timestamp, its prtnCol), ORD and TRANSACTION (given a `ts` prtnCol,
/// configured first, since their `time` is a time of day).
pub fn configure_dolphindb_enumerated(config: &Path) {
    let yaml = fs::read_to_string(config).unwrap();
    let (head, tables) = yaml.split_once("tables:\n").expect("tables:");
    let mut out = format!("{head}tables:\n");
    let mut keep = false;
    let mut ts = false;
    for l in tables.lines() {
        if l.starts_with("  ") && !l.starts_with("   ") {
            let name = l.trim().trim_end_matches(':');
            keep = ["quote_cffex", "ORD", "TRANSACTION"].contains(&name);
            ts = name != "quote_cffex";
        }
        if !keep || l.trim_start().starts_with('#') {
            continue;
        }
        out.push_str(l);
        out.push('\n');
        if ts && l == "    type: partitioned" {
            out.push_str("    prtnCol: ts\n");
        }
        if ts && l == "    columns:" {
            out.push_str("      - {name: ts, type: timestamp}\n");
        }
    }
    fs::write(config, out).unwrap();
}

/// `smstage gen --tick-style` (time a timespan, no timestamp) configured with `ts` as prtnCol.
pub fn tick_style(partitions: u32, tables: u32, rows: u32) -> Base {
    tick_style_with(partitions, tables, rows, &[])
}

/// [`tick_style`] with more `gen` arguments (`--compress zstd`…).
pub fn tick_style_with(partitions: u32, tables: u32, rows: u32, extra: &[&str]) -> Base {
    let dir = tempfile::tempdir().unwrap();
    let (p, t, r) = (partitions.to_string(), tables.to_string(), rows.to_string());
    let mut args = vec![
        "gen",
        "--out",
        dir.path().to_str().unwrap(),
        "--tick-style",
        "--partitions",
        &p,
        "--tables",
        &t,
        "--rows",
        &r,
    ];
    args.extend_from_slice(extra);
    let out = smstage(&args);
    assert_eq!(out.code, 0, "gen failed: {}", out.all());
    let b = Base { dir };
    configure_ts(&b.config());
    b
}

/// `plan --remedy REMEDY --save PLANFILE` (PLANFILE beside the base's database); the plan file.
pub fn save_remedied(b: &Base, remedy: &str) -> (PathBuf, Out) {
    save_remedies(b, &[remedy])
}

/// [`save_remedied`] with every remedy of `remedies` given.
pub fn save_remedies(b: &Base, remedies: &[&str]) -> (PathBuf, Out) {
    let plan = b.path().join("remedied.plan");
    let config = b.config_str();
    let mut args = vec!["plan", "--config", &config];
    for r in remedies {
        args.extend(["--remedy", r]);
    }
    args.extend(["--save", plan.to_str().unwrap(), "--force"]);
    let out = smstage(&args);
    (plan, out)
}

/// Every staged file under `<base>/.smstage/stage/<stage id>`, relative to the stage, sorted
/// (the stage id names the database's fingerprint, which differs between copies).
pub fn staged_files(b: &Base) -> Vec<String> {
    let root = b.path().join(".smstage/stage");
    if !root.exists() {
        return Vec::new();
    }
    let mut v: Vec<String> = walkdir::WalkDir::new(&root)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(&root).unwrap().display().to_string();
            rel.split_once('/')
                .map_or(rel.clone(), |(_, r)| r.to_string())
        })
        .collect();
    v.sort();
    v
}

/// The `tables:` body configuring advkdb-ipc's `Trade` only (what `smstage schema` prints for
/// it): MarketInfo and Quote, in 2019.06.02, are then unconfigured tables, which set-aside moves.
pub const ADVKDB_TRADE_ONLY: &str = "  Trade:
    type: partitioned
    prtnCol: time
    columns:
      - {name: time, type: timestamp}
      - {name: sym, type: symbol}
      - {name: price, type: float}
      - {name: qty, type: long}
";

/// A copy of advkdb-ipc whose assembly configures `Trade` only (None without the fixtures).
pub fn advkdb_trade_only() -> Option<Base> {
    from_fixture("advkdb-ipc", ADVKDB_TRADE_ONLY)
}

/// Keeps in the assembly at `config` only the tables named in `only` (blocks of two-space keys
/// below `tables:`, as `smstage schema` prints them).
pub fn keep_tables(config: &Path, only: &[&str]) {
    let yaml = fs::read_to_string(config).unwrap();
    let (head, tables) = yaml.split_once("tables:\n").expect("tables:");
    let mut out = format!("{head}tables:\n");
    let mut keep = false;
    for l in tables.lines() {
        if l.starts_with("  ") && !l.starts_with("   ") {
            keep = only.contains(&l.trim().trim_end_matches(':'));
        }
        if keep {
            out.push_str(l);
            out.push('\n');
        }
    }
    fs::write(config, out).unwrap();
}

/// Which real database needs which remedy (issue #19), and what it gives.
pub struct Needs {
    pub name: &'static str,
    /// The `--remedy` arguments it needs, in order (empty: none needed, or none can help).
    pub remedies: &'static [&'static str],
    /// Configure `ts` as every partitioned table's prtnCol first (what derive-prtncol needs).
    pub configure_ts: bool,
    /// Configure only these of the tables `smstage schema` prints (empty: all of them).
    pub only: &'static [&'static str],
    /// Every remedy it needs is built: `check --remedy …` passes and `plan --save` stages.
    pub passes: bool,
    pub why: &'static str,
}

pub const NEEDS: &[Needs] = &[
    Needs {
        name: "advkdb-ipc",
        remedies: &["fill-tables"],
        configure_ts: false,
        only: &[],
        passes: true,
        why: "MarketInfo and Quote, configured, are absent from 3 of its 4 partitions: \
              fill-tables writes them empty there (end to end in mount-tests/remedy_tests.rs). \
              SM still refuses it under --deep: Trade's timestamps are 2019.08.25 in every \
              partition, a data problem no remedy covers",
    },
    Needs {
        name: "advkdb-ipc",
        remedies: &["set-aside"],
        configure_ts: false,
        only: &["Trade"],
        passes: true,
        why: "with only Trade configured, MarketInfo and Quote (in 2019.06.02 only) are tables \
              SM refuses: set-aside moves them to smstage-aside/2019.06.02/ (end to end in \
              mount-tests/remedy_tests.rs)",
    },
    Needs {
        name: "bitmex-nested",
        remedies: &[DERIVE_TS],
        configure_ts: true,
        only: &[],
        passes: true,
        why: "kdb+tick shape: `time` a timespan in its three tables, no timestamp; with `ts` \
              configured as prtnCol, derive-prtncol:*=time makes it importable (end to end in \
              mount-tests/remedy_tests.rs)",
    },
    Needs {
        name: "dolphindb-sample",
        remedies: &[DERIVE_TS, "one-sym", "fill-tables", "set-aside"],
        configure_ts: true,
        only: &["quote_cffex", "ORD", "TRANSACTION"],
        passes: true,
        why: "Daily and Syms have no time-of-day column at all, which no remedy derives from: \
              left unconfigured, set-aside moves them (Daily's stray `binary` with it) and the \
              root tables (allDataTypes, charArrayVector, compressCharArrayVector, \
              intArrayVector, widetable) to smstage-aside/; ORD and TRANSACTION have a `time` of \
              type time (derive-prtncol), quote_cffex, ORD and TRANSACTION are absent from some \
              partitions (fill-tables); their enumerations against sym_ORD, sym_TRANSACTION, \
              sym_quote_cffex are re-enumerated onto sym (one-sym), after which set-aside moves \
              the three unused domain files too (end to end in mount-tests/remedy_tests.rs)",
    },
    Needs {
        name: "sewio-nested-sym",
        remedies: &["set-aside"],
        configure_ts: false,
        only: &[],
        passes: true,
        why: "its two serialized objects beside the splayed AXSTATE are stray root files \
              (sm-root-stray): set-aside moves them to smstage-aside/. No date partition at \
              all: partition-none stays, a warning as without the remedy (only the root is \
              imported; end to end in mount-tests/remedy_tests.rs)",
    },
    Needs {
        name: "torq-air",
        remedies: &[],
        configure_ts: false,
        only: &[],
        passes: true,
        why: "passes as it is (tests/real_corpus.rs)",
    },
    Needs {
        name: "torq-crypto-gzip",
        remedies: &[],
        configure_ts: false,
        only: &[],
        passes: true,
        why: "passes as it is",
    },
    Needs {
        name: "torq-gateway-empty",
        remedies: &[],
        configure_ts: false,
        only: &[],
        passes: true,
        why: "passes as it is",
    },
    Needs {
        name: "torq-monthly",
        remedies: &[],
        configure_ts: false,
        only: &[],
        passes: false,
        why: "month partitions: not a date-partitioned database, which no remedy changes",
    },
];

/// The one staging directory `<base>/.smstage/stage/<stage id>`.
pub fn stage_dir(b: &Base) -> PathBuf {
    let mut d: Vec<PathBuf> = fs::read_dir(b.path().join(".smstage/stage"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(d.len(), 1, "{d:?}");
    d.remove(0)
}
