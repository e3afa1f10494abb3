//! The producers' files as the checker sees them: a derived `ts` (and its `.d`) written by
//! `remedy::produce` straight into a copy of a kdb+tick-style database passes `check --deep`
//! (every row read, the prtnCol's dates checked against the partition), plain and compressed
//! like the table's siblings; the same database without them is refused.

mod common;

use common::remedied::configure_ts;
use common::*;
use smstage::kdb::read_symbols;
use smstage::remedy::produce::{produce, sibling_compression, Job};
use std::fs;

fn gen_tick(compress: &str) -> Base {
    let dir = tempfile::tempdir().unwrap();
    let out = smstage(&[
        "gen",
        "--out",
        dir.path().to_str().unwrap(),
        "--tick-style",
        "--partitions",
        "2",
        "--tables",
        "2",
        "--rows",
        "3000",
        "--compress",
        compress,
    ]);
    assert_eq!(out.code, 0, "gen failed: {}", out.all());
    let b = Base { dir };
    configure_ts(&b.config());
    b
}

/// Writes `ts` beside every table's `time`, compressed like the siblings, and `.d` with `ts`
/// first (where the configuration puts it). Returns how many tables were derived.
fn derive_in_place(b: &Base) -> usize {
    let mut n = 0;
    for part in fs::read_dir(b.data()).unwrap() {
        let part = part.unwrap().path();
        let Some(date) = smstage::dates::parse_date(&part.file_name().unwrap().to_string_lossy())
        else {
            continue;
        };
        for table in fs::read_dir(&part).unwrap() {
            let table = table.unwrap().path();
            if !table.join("time").is_file() {
                continue;
            }
            let zip = sibling_compression(&table).unwrap();
            produce(&Job::DerivedTimestamp {
                source: table.join("time"),
                date,
                out: table.join("ts"),
                zip,
            })
            .unwrap();
            let mut columns = read_symbols(&table.join(".d")).unwrap();
            columns.insert(0, "ts".to_string());
            produce(&Job::DotD {
                columns,
                out: table.join(".d"),
            })
            .unwrap();
            n += 1;
        }
    }
    n
}

#[test]
fn derived_columns_pass_check_deep_plain_and_compressed() {
    for compress in ["none", "gzip", "qipc"] {
        let b = gen_tick(compress);
        let config = b.config_str();
        let before = smstage(&["check", "--config", &config, "--no-backup-check"]);
        assert_eq!(before.code, 1, "{compress}: ts is absent: {}", before.all());
        assert_eq!(derive_in_place(&b), 4, "{compress}");
        let deep = smstage(&["check", "--deep", "--config", &config, "--no-backup-check"]);
        assert_eq!(deep.code, 0, "{compress}: {}", deep.all());
        if compress != "none" {
            let ts = b.data().join("2024.01.02/trade/ts");
            assert!(
                fs::read(&ts).unwrap().starts_with(b"kxzipped"),
                "{compress}"
            );
        }
    }
}
