//! The real-database corpus: every database under `../shared/fixtures/real`, the verdict
//! `check --deep` must give it with the schema `smstage schema` derives, the exact findings
//! (code and count: nothing more, nothing less) and why each is the right reason.
//!
//! Shared by `tests/real_corpus.rs` (check, plan, schema, verify) and
//! `mount-tests/corpus_tests.rs` (view, commit, rollback).

use super::*;

pub struct Expect {
    pub name: &'static str,
    /// Exit code of `check --deep` with the derived schema: 0 passes, 1 refused, 2 the
    /// configuration refused (a prerequisite the data itself misses), with the database's own
    /// findings beside it.
    pub exit: i32,
    /// Every finding code and how many times it appears, sorted by code (`config-invalid`
    /// for exit 2, as `--format json` reports it, then the database's own).
    pub findings: &'static [(&'static str, usize)],
    /// Words `check` must print (SM's own where SM has a message).
    pub says: &'static [&'static str],
    /// Exit code of `verify --deep` (what q's `\l` makes of it, no configuration).
    pub verify_exit: i32,
    /// Why this is the right verdict, for the reader of a failure.
    pub reason: &'static str,
}

pub const CORPUS: &[Expect] = &[
    Expect {
        name: "advkdb-ipc",
        exit: 1,
        findings: &[
            ("load-table-absent", 2),
            ("schema-column-order", 1),
            ("sm-compression-over-time", 1),
            ("sm-compression-tier-mismatch", 1),
            ("sm-prtncol-date-mismatch", 4),
        ],
        says: &[
            "The table is missing from the database: partitions=2019.03.17..2019.03.18, 2019.08.24 (table MarketInfo",
            "144 of 144 rows of Trade have a prtnCol time that, rounded down, is not the partition's date 2019.03.17 (first: row 0, 2019.08.25D18:15:08.313998000)",
            "72 of 78 rows of Trade have a prtnCol time that, rounded down, is not the partition's date 2019.06.02",
            "uncompressed + qipc (algorithm 1) level 0, logical block 2^16: partitions=2019.03.17..2019.03.18",
        ],
        verify_exit: 0,
        reason: "q loads it (kdb+ 3.x, q IPC compressed price/qty, stale header counts: every \
                 file readable; 2019.06.02's Trade in another column order, which q does not \
                 mind), but SM validates every partition: MarketInfo and Quote, configured \
                 because they are on disk, are missing from 3 of 4 partitions (SM: \"The table is \
                 missing from the database\"). Its two first partitions compress price/qty with \
                 qipc, the later ones nothing (a warning naming the dates), and the tier \
                 declares no compression (a warning). With --deep: Trade's timestamps are \
                 2019.08.25 in every partition (the data was written under other dates), so \
                 SM would not keep the rows in their partitions: one finding per partition",
    },
    Expect {
        name: "bitmex-nested",
        exit: 2,
        findings: &[("config-invalid", 1)],
        says: &["partitioned table 'bitmexbook' has no prtnCol", "has no timestamp column"],
        verify_exit: 0,
        reason: "q loads it: kdb+ 4.x anymap nested columns (bitmexbook bids, bidsizes, asks, \
                 asksizes) whose col# items are float lists and empty general lists, every row \
                 decodes (verify --deep). But it has kdb+tick's shape: `time` is a timespan and \
                 no table has a timestamp column, so no partition column (KX's first \
                 prerequisite): schema prints none, and the configuration is refused naming \
                 the table. Read beside that error (as verify reads it), the data itself has \
                 no finding",
    },
    Expect {
        name: "dolphindb-sample",
        exit: 2,
        findings: &[
            ("config-invalid", 1),
            ("load-extra-file", 1),
            ("load-table-absent", 1),
            ("load-table-hidden", 4),
        ],
        // What commit says too (it stops at the configuration error, mount-tests/corpus_tests.rs);
        // the findings beside it are `check`'s alone (their codes above).
        says: &["partitioned table 'Daily' has no prtnCol", "table 'Daily' has no timestamp column"],
        verify_exit: 1,
        reason: "Daily (and Syms, ORD, TRANSACTION) have no timestamp column, so no partition \
                 column: the configuration is refused (exit 2). Beside it, check reports the \
                 database's own findings as verify reads it without a configuration: the last \
                 partition's quote_cffex is absent from the earlier ones (an error q and SM \
                 both refuse), the tables of earlier partitions only are invisible to q (4 \
                 warnings) and Daily holds a file `binary` not in its .d (a warning)",
    },
    Expect {
        name: "sewio-nested-sym",
        exit: 1,
        findings: &[("partition-none", 1), ("sm-root-stray", 1)],
        says: &[
            "Stray files in DB root: Tables must be listed in schema and symbol file must be called 'sym'",
            "AXSTATE_UX_ACCESSTIME (a file that is no configured basic table), AXSTATE_VERSION",
        ],
        verify_exit: 0,
        reason: "q loads the root (one splayed table with anymap strings, nested symbols with \
                 their ## domain file, guids), but its two serialized objects beside the table \
                 are not tables SM is configured for: SM's validator calls them stray files",
    },
    Expect {
        name: "torq-air",
        exit: 0,
        findings: &[("load-enum-beyond-domain", 8)],
        says: &[],
        verify_exit: 0,
        reason: "timestamp `time` as prtnCol, one domain `sym`, uncompressed: SM's prerequisites \
                 hold. The root sym holds 129 symbols while the enum columns index up to 301: q \
                 reads those values as null, which --deep reports per column and partition (2 × 4)",
    },
    Expect {
        name: "torq-crypto-gzip",
        exit: 0,
        findings: &[("sm-compression-tier-mismatch", 1)],
        says: &["53 files are gzip (algorithm 2) level 9, logical block 2^16, but tier hdb has no `compression`"],
        verify_exit: 0,
        reason: "kdb+ 3.x, gzip level 9 with stored blocks, compound float-list columns: all \
                 readable and consistent, every table compressed alike; the tier declares no \
                 compression, which KX says it should (a warning)",
    },
    Expect {
        name: "torq-gateway-empty",
        exit: 0,
        findings: &[],
        says: &[],
        verify_exit: 0,
        reason: "the empty table packets stores its untyped columns as empty general lists: \
                 schema prints them as `mixed`, which they satisfy; timestamp `time` everywhere",
    },
    Expect {
        name: "torq-monthly",
        exit: 1,
        findings: &[("partition-not-date", 1)],
        says: &["month partitions"],
        verify_exit: 1,
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
