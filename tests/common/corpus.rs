//! The real-database corpus: every database under `../shared/fixtures/real`, the verdict
//! `check --deep` must give it with the schema `smstage schema` derives, the exact findings
//! (code and count: nothing more, nothing less) and why each is the right reason.
//!
//! Shared by `tests/real_corpus.rs` (check, plan, schema, verify) and
//! `mount-tests/corpus_tests.rs` (view, commit, rollback).

use super::*;

pub struct Expect {
    pub name: &'static str,
    /// Exit code of `check --deep` with the derived schema: 0 passes, 1 refused.
    pub exit: i32,
    /// Every finding code and how many times it appears, sorted by code.
    pub findings: &'static [(&'static str, usize)],
    /// Why this is the right verdict, for the reader of a failure.
    pub reason: &'static str,
}

pub const CORPUS: &[Expect] = &[
    Expect {
        name: "advkdb-ipc",
        exit: 0,
        findings: &[("load-table-hidden", 2), ("schema-column-order", 1)],
        reason:
            "kdb+ 3.x, q IPC compressed price/qty, stale header counts (q maps by size): every \
                 file is readable. MarketInfo and Quote exist only in 2019.06.02, not in the last \
                 partition, so q does not see them (warning, they move unchanged); 2019.06.02's \
                 Trade lists its columns in another order, which q does not mind (it reads \
                 columns by name)",
    },
    Expect {
        name: "bitmex-nested",
        exit: 0,
        findings: &[],
        reason: "kdb+ 4.x anymap nested columns (bitmexbook bids, bidsizes, asks, asksizes) whose \
                 col# items are float lists, small and large, and empty general lists stored as \
                 anymap items (fb 00 4d, count 0): q loads it, every row decodes",
    },
    Expect {
        name: "dolphindb-sample",
        exit: 1,
        findings: &[
            ("load-extra-file", 1),
            ("load-table-absent", 1),
            ("load-table-hidden", 4),
        ],
        reason: "q sees only the last partition's table quote_cffex, and the two earlier \
                 partitions lack it: queries over them fail (the one blocker; .Q.chk fixes it). \
                 Daily, Syms, ORD, TRANSACTION are in earlier partitions only (invisible to q); \
                 the stray text file Daily/binary is not in .d",
    },
    Expect {
        name: "sewio-nested-sym",
        exit: 0,
        findings: &[("partition-none", 1)],
        reason: "a root with one splayed table (anymap strings, nested symbols with their ## \
                 domain file, guids) and two serialized objects: q loads it; no date partitions",
    },
    Expect {
        name: "torq-air",
        exit: 0,
        findings: &[("load-enum-beyond-domain", 8)],
        reason: "the root sym holds 129 symbols while the enum columns index up to 301: q reads \
                 those values as null, which --deep reports per column and partition (2 × 4)",
    },
    Expect {
        name: "torq-crypto-gzip",
        exit: 0,
        findings: &[],
        reason: "kdb+ 3.x, gzip level 9 with stored blocks, compound float-list columns (fe 20, \
                 type 86, items raw in col#): all readable and consistent",
    },
    Expect {
        name: "torq-gateway-empty",
        exit: 0,
        findings: &[],
        reason: "the empty table packets stores its untyped columns as empty general lists: \
                 schema prints them as `mixed`, which they satisfy",
    },
    Expect {
        name: "torq-monthly",
        exit: 1,
        findings: &[("partition-not-date", 1)],
        reason: "month partitions 2000.01..2000.05: the SM import takes date partitions only, \
                 named as month partitions in one finding",
    },
];

/// The corpus, or only the databases named in `SMSTAGE_CORPUS` (comma-separated) when set:
/// a debugging aid; CI leaves it unset and runs all of them.
pub fn selected() -> Vec<&'static Expect> {
    let only = std::env::var("SMSTAGE_CORPUS").unwrap_or_default();
    let names: Vec<&str> = only.split(',').filter(|s| !s.is_empty()).collect();
    CORPUS
        .iter()
        .filter(|e| names.is_empty() || names.contains(&e.name))
        .collect()
}

/// The fixture at `data/` of a fresh base, with an assembly whose `tables:` is what
/// `smstage schema` prints for it. None (loudly) when the fixture is absent.
pub fn corpus_base(name: &str) -> Option<Base> {
    let b = from_fixture(name, "")?;
    let schema = smstage(&["schema", b.data().to_str().unwrap()]);
    assert_eq!(schema.code, 0, "{name}: schema: {}", schema.all());
    assert!(
        !schema.stdout.contains("unknown"),
        "{name}: schema printed an unknown type:\n{}",
        schema.stdout
    );
    let yaml = fs::read_to_string(b.config())
        .unwrap()
        .replace("tables:\n", &schema.stdout);
    fs::write(b.config(), yaml).unwrap();
    Some(b)
}

/// Finding codes of a `--format json` report with their counts, sorted by code.
pub fn finding_counts(report: &serde_json::Value) -> Vec<(String, usize)> {
    let mut m = std::collections::BTreeMap::new();
    for f in report["findings"].as_array().expect("findings array") {
        *m.entry(f["code"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    m.into_iter().collect()
}
