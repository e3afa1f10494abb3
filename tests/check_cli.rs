//! `smstage check` and `smstage plan` on generated databases and real fixtures: every bad input
//! gets its exit code and a message naming the place, and no byte of the database changes.

mod common;

use common::*;
use std::fs;
use std::path::Path;

struct Case {
    name: &'static str,
    /// Mutates the base (database and/or config); returns extra args for `check`.
    setup: fn(&Base) -> Vec<String>,
    code: i32,
    /// Every one of these must appear in stdout+stderr.
    expect: &'static [&'static str],
}

fn first_table(b: &Base) -> std::path::PathBuf {
    tables_in(&first_partition(&b.data()))[0].clone()
}

/// The first table of the last partition: the one q takes the schema from.
fn last_table(b: &Base) -> std::path::PathBuf {
    let last = dates(&b.data()).pop().expect("a partition");
    tables_in(&b.data().join(last))[0].clone()
}

fn replace_in_config(b: &Base, from: &str, to: &str) {
    let text = fs::read_to_string(b.config()).unwrap();
    assert!(text.contains(from), "config has no {from:?}:\n{text}");
    fs::write(b.config(), text.replacen(from, to, 1)).unwrap();
}

fn nobackup(_: &Base) -> Vec<String> {
    vec!["--no-backup-check".into()]
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "bad yaml syntax",
            setup: |b| {
                let mut t = fs::read_to_string(b.config()).unwrap();
                t.push_str("\n  broken: [unclosed\n");
                fs::write(b.config(), t).unwrap();
                nobackup(b)
            },
            code: 2,
            expect: &["assembly.yaml", "line"],
        },
        Case {
            name: "unknown type name",
            setup: |b| {
                replace_in_config(b, "type: float", "type: flaot");
                nobackup(b)
            },
            code: 2,
            expect: &["flaot", "assembly.yaml"],
        },
        Case {
            name: "no hdb mount",
            setup: |b| {
                replace_in_config(b, "partition: date", "partition: ordinal");
                nobackup(b)
            },
            code: 2,
            expect: &["partition: date"],
        },
        Case {
            name: "no backup flag",
            setup: |_| vec![],
            code: 2,
            expect: &["--backup"],
        },
        Case {
            name: "database directory missing",
            setup: |b| {
                fs::rename(b.data(), b.path().join("elsewhere")).unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["database-missing", "data"],
        },
        // Before: "does not exist", for a directory that is there behind a link.
        Case {
            name: "database directory is a symbolic link",
            setup: |b| {
                fs::rename(b.data(), b.path().join("elsewhere")).unwrap();
                std::os::unix::fs::symlink(b.path().join("elsewhere"), b.data()).unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &[
                "database-missing",
                "/data is a symbolic link (-> ",
                "/elsewhere): smstage imports the database directory itself, never through a link",
            ],
        },
        Case {
            name: "database directory is a file",
            setup: |b| {
                fs::rename(b.data(), b.path().join("elsewhere")).unwrap();
                fs::write(b.data(), "not a database\n").unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["database-missing", "/data is not a directory"],
        },
        Case {
            name: "configured table missing on disk",
            setup: |b| {
                let t = fs::read_to_string(b.config()).unwrap();
                let t = t.replacen(
                    "tables:\n",
                    "tables:\n  ghost:\n    type: partitioned\n    prtnCol: ts\n    columns:\n      - {name: ts, type: timestamp}\n      - {name: a, type: long}\n",
                    1,
                );
                fs::write(b.config(), t).unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["schema-table-missing", "ghost"],
        },
        Case {
            name: "table on disk not in config",
            setup: |b| {
                for p in fs::read_dir(b.data()).unwrap().flatten() {
                    let t = p.path().join(first_table(b).file_name().unwrap());
                    if t.is_dir() {
                        let dst = p.path().join("extra");
                        fs::create_dir(&dst).unwrap();
                        for f in fs::read_dir(&t).unwrap().flatten() {
                            fs::copy(f.path(), dst.join(f.file_name())).unwrap();
                        }
                    }
                }
                nobackup(b)
            },
            code: 1,
            expect: &["schema-table-unexpected", "extra"],
        },
        Case {
            name: "column order differs from config in the last partition",
            setup: |b| {
                let t = last_table(b);
                let mut cols = dotd(&t);
                cols.swap(1, 2);
                write_dotd(&t, &cols);
                nobackup(b)
            },
            code: 1,
            expect: &["schema-columns-mismatch", ".d"],
        },
        Case {
            name: "type differs from config",
            setup: |b| {
                replace_in_config(b, "type: float", "type: real");
                nobackup(b)
            },
            code: 1,
            expect: &["schema-type-mismatch", "float", "real"],
        },
        Case {
            name: ".d missing",
            setup: |b| {
                fs::remove_file(first_table(b).join(".d")).unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["load-dotd-missing", ".d"],
        },
        Case {
            name: "column listed in .d without its file",
            setup: |b| {
                let t = first_table(b);
                let c = dotd(&t)[2].clone();
                fs::remove_file(t.join(&c)).unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["load-column-missing"],
        },
        Case {
            name: "row counts differ (column cut at an element boundary)",
            setup: |b| {
                // A consistent but shorter float vector: two rows fewer, header count to match.
                let t = first_table(b);
                let f = t.join(price_column(&t));
                let mut bytes = fs::read(&f).unwrap();
                bytes.truncate(bytes.len() - 16);
                let rows = ((bytes.len() - 16) / 8) as u64;
                bytes[8..16].copy_from_slice(&rows.to_le_bytes());
                fs::write(&f, bytes).unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["load-row-count-mismatch", "price=48"],
        },
        Case {
            name: "truncated column (mid-element)",
            setup: |b| {
                let t = first_table(b);
                let f = t.join(price_column(&t));
                let len = fs::metadata(&f).unwrap().len();
                fs::OpenOptions::new()
                    .write(true)
                    .open(&f)
                    .unwrap()
                    .set_len(len - 3)
                    .unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["load-corrupt-file"],
        },
        Case {
            name: "corrupt header",
            setup: |b| {
                let t = first_table(b);
                let f = t.join(price_column(&t));
                let mut bytes = fs::read(&f).unwrap();
                bytes[0] = 0x12;
                bytes[1] = 0x34;
                fs::write(&f, bytes).unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["load-corrupt-file", "12 34"],
        },
        Case {
            name: "table absent from one partition",
            setup: |b| {
                fs::remove_dir_all(first_table(b)).unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["load-table-absent"],
        },
        Case {
            name: "enumeration domain missing",
            setup: |b| {
                fs::remove_file(b.data().join("sym")).unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["load-domain-missing", "sym"],
        },
        Case {
            name: "partition that is not a calendar date",
            setup: |b| {
                fs::rename(first_partition(&b.data()), b.data().join("2023.02.30")).unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["partition-not-date", "2023.02.30"],
        },
        Case {
            name: "partition without dots",
            setup: |b| {
                fs::rename(first_partition(&b.data()), b.data().join("20230101")).unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["partition-not-date", "20230101"],
        },
        Case {
            name: "month 13 and int partitions",
            setup: |b| {
                fs::create_dir(b.data().join("2023.13.01")).unwrap();
                fs::create_dir(b.data().join("42")).unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["2023.13.01", "42", "partition-not-date"],
        },
        Case {
            name: "backup missing",
            setup: |b| {
                vec![
                    "--backup".into(),
                    b.path().join("nope").display().to_string(),
                ]
            },
            code: 1,
            expect: &["backup-missing", "nope"],
        },
        Case {
            name: "backup differs in size",
            setup: |b| {
                let bak = b.backup();
                let t = first_table(b);
                let rel = t.strip_prefix(b.data()).unwrap().join(".d");
                fs::write(bak.join(&rel), b"x").unwrap();
                vec!["--backup".into(), bak.display().to_string()]
            },
            code: 1,
            expect: &["backup-mismatch", ".d"],
        },
        Case {
            name: "backup differs in bytes (--deep)",
            setup: |b| {
                let bak = b.backup();
                let t = first_table(b);
                let rel = t.strip_prefix(b.data()).unwrap().join(price_column(&t));
                let mut bytes = fs::read(bak.join(&rel)).unwrap();
                let n = bytes.len();
                bytes[n - 1] ^= 0xff;
                fs::write(bak.join(&rel), bytes).unwrap();
                vec![
                    "--backup".into(),
                    bak.display().to_string(),
                    "--deep".into(),
                ]
            },
            code: 1,
            expect: &["backup-mismatch", "different bytes"],
        },
        Case {
            name: "already in SM format",
            setup: |b| {
                fs::create_dir(b.path().join("db")).unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["sm-already-imported"],
        },
        Case {
            name: "unfinished import pending",
            setup: |b| {
                fs::create_dir(b.path().join(".smstage")).unwrap();
                fs::write(b.path().join(".smstage/journal"), b"not a journal").unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["sm-import-pending", "smstage status"],
        },
        Case {
            name: "symlink pointing outside the database",
            setup: |b| {
                let t = first_table(b);
                fs::write(b.path().join("outside"), b"x").unwrap();
                std::os::unix::fs::symlink(b.path().join("outside"), t.join("linked")).unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["symlink-outside-database", "linked"],
        },
        Case {
            name: "stray file in a partition",
            setup: |b| {
                fs::write(first_partition(&b.data()).join("notes.txt"), b"hi").unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["load-not-a-table", "notes.txt"],
        },
        Case {
            name: "nested column without its data file",
            setup: |b| {
                let nested = tables_in(&first_partition(&b.data()))
                    .iter()
                    .flat_map(|t| fs::read_dir(t).unwrap().flatten())
                    .find(|e| e.file_name().to_string_lossy().ends_with('#'))
                    .expect("generated tables carry a nested column");
                fs::remove_file(nested.path()).unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["load-nested-data-missing"],
        },
        Case {
            name: "HDB tier store is not where the database is",
            setup: |b| {
                replace_in_config(
                    b,
                    "mount: hdb\n",
                    "mount: hdb\n      store: file:///elsewhere/data\n",
                );
                nobackup(b)
            },
            code: 1,
            expect: &["tier-unsupported", "file:///elsewhere/data", "recent"],
        },
        Case {
            name: "extra file not in .d is only a warning",
            setup: |b| {
                fs::write(first_table(b).join("binary"), b"stray").unwrap();
                nobackup(b)
            },
            code: 0,
            expect: &["load-extra-file", "binary"],
        },
        Case {
            name: "column order differs only in an earlier partition (q reads by name)",
            setup: |b| {
                let t = first_table(b);
                let mut cols = dotd(&t);
                cols.swap(1, 2);
                write_dotd(&t, &cols);
                nobackup(b)
            },
            code: 0,
            expect: &["schema-column-order", "queries are unaffected"],
        },
        Case {
            name: "table only in an earlier partition is unconfigured: SM refuses it",
            setup: |b| {
                let t = first_table(b);
                let hidden = t.parent().unwrap().join("audit");
                fs::create_dir(&hidden).unwrap();
                for f in fs::read_dir(&t).unwrap().flatten() {
                    fs::copy(f.path(), hidden.join(f.file_name())).unwrap();
                }
                nobackup(b)
            },
            code: 1,
            expect: &[
                "schema-table-unexpected",
                "The table has not been configured in the assembly: partitions=2024.01.02",
                "audit",
                "not in the last partition",
            ],
        },
        Case {
            name: "q script in the root is a stray file for SM",
            setup: |b| {
                fs::write(b.data().join("init.q"), b"show `loaded\n").unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &[
                "sm-root-stray",
                "Stray files in DB root: Tables must be listed in schema and symbol file must be called 'sym'",
                "init.q (a q script)",
            ],
        },
        Case {
            name: "root file that is not kdb+ data",
            setup: |b| {
                fs::write(b.data().join("README.txt"), b"# our hdb\n").unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["load-root-not-kdb", "README.txt", "move it out"],
        },
        Case {
            name: "month partitions are named as such",
            setup: |b| {
                for (i, d) in dates(&b.data()).iter().enumerate() {
                    fs::rename(b.data().join(d), b.data().join(format!("2024.0{}", i + 1)))
                        .unwrap();
                }
                nobackup(b)
            },
            code: 1,
            expect: &["partition-not-date", "month partitions", "2024.01, 2024.02"],
        },
        Case {
            name: "int sub-directories below a date (tailer layout)",
            setup: |b| {
                let p = first_partition(&b.data());
                let t = first_table(b);
                let sub = p.join("0");
                fs::create_dir(&sub).unwrap();
                fs::rename(&t, sub.join(t.file_name().unwrap())).unwrap();
                fs::create_dir(p.join("1")).unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["partition-int-subdirs", "tailer", "0, 1"],
        },
        Case {
            name: "flat serialized table inside a partition",
            setup: |b| {
                // flip `a!enlist enlist 7j: ff 01 | 62 00 | 63 | 0b 00 n=1 "a\0" | 00 00 n=1 | 07 00 n=1 7
                let mut t = vec![0xff, 0x01, 0x62, 0x00, 0x63, 0x0b, 0x00];
                t.extend(1i32.to_le_bytes());
                t.extend(b"a\0");
                t.extend([0x00, 0x00]);
                t.extend(1i32.to_le_bytes());
                t.extend([0x07, 0x00]);
                t.extend(1i32.to_le_bytes());
                t.extend(7i64.to_le_bytes());
                fs::write(first_partition(&b.data()).join("flat"), t).unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["load-flat-table-in-partition", "flat", "splayed"],
        },
        Case {
            name: "column file holding a serialized atom",
            setup: |b| {
                let t = first_table(b);
                let mut atom = vec![0xff, 0x01, 0xf9];
                atom.extend(42i64.to_le_bytes());
                fs::write(t.join(price_column(&t)), atom).unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &["load-column-not-vector", "serialized atom (type -7)"],
        },
        Case {
            name: "encrypted file without encryption in the assembly",
            setup: |b| {
                let t = first_table(b);
                let f = t.join(price_column(&t));
                let mut bytes = b"kxzippEd".to_vec();
                bytes.extend(vec![0u8; 64]);
                fs::write(&f, bytes).unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &[
                "sm-encrypted-undeclared",
                "1 encrypted file",
                "partitions=2024.01.02",
                "Encrypted databases must use the same encryption settings and encryption key",
                "encryption: {enabled: true}",
                "load-encrypted",
            ],
        },
        Case {
            name: "encrypted file with encryption declared in the assembly",
            setup: |b| {
                let t = first_table(b);
                let f = t.join(price_column(&t));
                let mut bytes = b"kxzippEd".to_vec();
                bytes.extend(vec![0u8; 64]);
                fs::write(&f, bytes).unwrap();
                replace_in_config(b, "  sm:\n", "  sm:\n    encryption: {enabled: true}\n");
                nobackup(b)
            },
            code: 0,
            expect: &["load-encrypted"],
        },
        Case {
            name: "prtnCol absent from a partitioned table",
            setup: |b| {
                replace_in_config(b, "    prtnCol: time\n", "");
                nobackup(b)
            },
            code: 2,
            expect: &[
                "assembly.yaml:",
                "partitioned table 'trade' has no prtnCol",
                "a timestamp column which, when rounded down, is equal to the date",
                "set `prtnCol: time`",
            ],
        },
        Case {
            name: "prtnCol configured as a timespan",
            setup: |b| {
                replace_in_config(b, "type: timestamp", "type: timespan");
                nobackup(b)
            },
            code: 2,
            expect: &[
                "assembly.yaml:",
                "prtnCol 'time' of table 'trade' is configured as timespan, not timestamp",
            ],
        },
        Case {
            name: "prtnCol not a timestamp on disk",
            setup: |b| {
                // The `time` file of one partition's trade rewritten as a timespan (type 16).
                let f = first_table(b).join("time");
                let mut bytes = fs::read(&f).unwrap();
                assert_eq!(bytes[2], 12, "gen writes time as a timestamp");
                bytes[2] = 16;
                fs::write(&f, bytes).unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &[
                "sm-prtncol-not-timestamp",
                "prtnCol time of table quote is timespan on disk",
                "partitions=2024.01.02",
            ],
        },
        Case {
            name: "prtnCol rows off the partition's date (--deep)",
            setup: |b| {
                // quote's time in 2024.01.02: row 5 on the day before, row 7 null.
                let f = first_table(b).join("time");
                let mut bytes = fs::read(&f).unwrap();
                let row = |r: usize| 16 + 8 * r;
                let v = i64::from_le_bytes(bytes[row(5)..row(5) + 8].try_into().unwrap());
                let day_before = v - 86_400_000_000_000;
                bytes[row(5)..row(5) + 8].copy_from_slice(&day_before.to_le_bytes());
                bytes[row(7)..row(7) + 8].copy_from_slice(&i64::MIN.to_le_bytes());
                fs::write(&f, bytes).unwrap();
                vec!["--no-backup-check".into(), "--deep".into()]
            },
            code: 1,
            expect: &[
                "sm-prtncol-date-mismatch",
                "2 of 50 rows of quote have a prtnCol time that, rounded down, is not the partition's date 2024.01.02 (first: row 5, 2024.01.01D",
                "a timestamp column which, when rounded down, is equal to the date",
            ],
        },
        Case {
            name: "sorted prtnCol judged from its ends (--deep)",
            setup: |b| {
                // s# on quote's time, its first value (the smallest) a day early.
                let f = first_table(b).join("time");
                let mut bytes = fs::read(&f).unwrap();
                bytes[3] = 1;
                let v = i64::from_le_bytes(bytes[16..24].try_into().unwrap());
                bytes[16..24].copy_from_slice(&(v - 86_400_000_000_000).to_le_bytes());
                fs::write(&f, bytes).unwrap();
                vec!["--no-backup-check".into(), "--deep".into()]
            },
            code: 1,
            expect: &[
                "sm-prtncol-date-mismatch",
                "1 of 50 rows of quote have a prtnCol time",
                "(first: row 0, 2024.01.01D",
            ],
        },
        Case {
            name: "a column on disk the configuration lacks, in SM's words",
            setup: |b| {
                replace_in_config(b, "    - name: size\n      type: long\n", "");
                nobackup(b)
            },
            code: 1,
            expect: &[
                "schema-columns-mismatch",
                "The table has the following extra columns: columns=size partitions=2024.01.02",
            ],
        },
        Case {
            name: "column enumerated against a domain other than sym",
            setup: |b| {
                fs::copy(b.data().join("sym"), b.data().join("sxm")).unwrap();
                for d in dates(&b.data()) {
                    let f = b.data().join(d).join("trade").join("sym");
                    let mut bytes = fs::read(&f).unwrap();
                    // The 4.x enum header names its domain at byte 16.
                    assert_eq!(&bytes[16..20], b"sym\0");
                    bytes[17] = b'x';
                    fs::write(&f, bytes).unwrap();
                }
                nobackup(b)
            },
            code: 1,
            expect: &[
                "sm-enum-not-sym",
                "column sym of table trade is enumerated against `sxm`",
                "The database must have a single enumeration file named sym",
                "partitions=2024.01.02..2024.01.03",
                "sm-root-stray",
                "sxm (an enumeration domain not named sym)",
            ],
        },
        Case {
            name: "hidden entry and extra directory in the root are strays",
            setup: |b| {
                fs::write(b.data().join(".DS_Store"), b"junk").unwrap();
                fs::create_dir(b.data().join("scratch")).unwrap();
                nobackup(b)
            },
            code: 1,
            expect: &[
                "sm-root-stray",
                ".DS_Store (a file that is no configured basic table), scratch (a directory",
                "load-hidden-file",
            ],
        },
        Case {
            name: "tables of one partition compressed differently",
            setup: |b| {
                // The same database compressed (same seed and shape), its trade of the first
                // partition put in place of the plain one.
                let z = gzip_twin(b);
                let d = dates(&b.data()).remove(0);
                let t = b.data().join(&d).join("trade");
                fs::remove_dir_all(&t).unwrap();
                copy_tree(&z.join(&d).join("trade"), &t);
                nobackup(b)
            },
            code: 1,
            expect: &[
                "sm-compression-tables-differ",
                "\"compression settings must be the same for all tables\"",
                "partitions=2024.01.02",
                "gzip (algorithm 2) level 6, logical block 2^17: trade",
                "uncompressed: quote",
                "sm-compression-tier-mismatch",
            ],
        },
        Case {
            name: "partitions compressed differently over time",
            setup: |b| {
                let z = gzip_twin(b);
                let d = dates(&b.data()).remove(0);
                fs::remove_dir_all(b.data().join(&d)).unwrap();
                copy_tree(&z.join(&d), &b.data().join(&d));
                nobackup(b)
            },
            code: 0,
            expect: &[
                "sm-compression-over-time",
                "gzip (algorithm 2) level 6, logical block 2^17: partitions=2024.01.02",
                "uncompressed: partitions=2024.01.03",
                "sm-compression-tier-mismatch",
                "files are gzip (algorithm 2) level 6, logical block 2^17, but tier recent has no `compression`",
            ],
        },
        Case {
            name: "compressed files and a tier that says the same",
            setup: |b| {
                let z = gzip_twin(b);
                for d in dates(&b.data()) {
                    fs::remove_dir_all(b.data().join(&d)).unwrap();
                    copy_tree(&z.join(&d), &b.data().join(&d));
                }
                replace_in_config(
                    b,
                    "mount: hdb\n",
                    "mount: hdb\n      compression: {frequency: 0, blockSize: 17, algorithm: 2, level: 6}\n",
                );
                nobackup(b)
            },
            code: 0,
            expect: &["0 errors, 0 warnings"],
        },
    ]
}

/// The base's database generated again with gzip (`smstage gen` is deterministic: same
/// seed and shape, same values), in a directory that lives as long as the base.
fn gzip_twin(b: &Base) -> std::path::PathBuf {
    let out = b.path().join("gzip-twin");
    let (parts, tables) = (
        dates(&b.data()).len(),
        tables_in(&first_partition(&b.data())).len(),
    );
    let cols = dotd(&first_table(b)).len();
    let rows = fs::read(first_table(b).join("price"))
        .unwrap()
        .len()
        .saturating_sub(16)
        / 8;
    let gen = smstage(&[
        "gen",
        "--out",
        out.to_str().unwrap(),
        "--partitions",
        &parts.to_string(),
        "--tables",
        &tables.to_string(),
        "--columns",
        &cols.to_string(),
        "--rows",
        &rows.to_string(),
        "--compress",
        "gzip",
    ]);
    assert_eq!(gen.code, 0, "{}", gen.all());
    out.join("data")
}

/// The first float column of a generated table (its file is a plain `fe 20` vector).
fn price_column(t: &Path) -> String {
    for c in dotd(t) {
        let b = fs::read(t.join(&c)).unwrap();
        if b.len() > 16 && b[0] == 0xfe && b[1] == 0x20 && b[2] == 9 {
            return c;
        }
    }
    panic!("no float column in {}", t.display());
}

fn write_dotd(t: &Path, cols: &[String]) {
    let mut b = vec![0xff, 0x01, 0x0b, 0x00];
    b.extend((cols.len() as i32).to_le_bytes());
    for c in cols {
        b.extend(c.as_bytes());
        b.push(0);
    }
    fs::write(t.join(".d"), b).unwrap();
}

#[test]
fn generated_database_passes_check_and_plans() {
    let b = generated(3, 2, 8, 200);
    let bak = b.backup();
    let out = smstage(&[
        "check",
        "--config",
        &b.config_str(),
        "--backup",
        bak.to_str().unwrap(),
        "--deep",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = smstage(&["plan", "--config", &b.config_str(), "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["root"], "db");
    assert_eq!(v["partitions"].as_array().unwrap().len(), 3);
    assert!(v["par_txt"].as_str().unwrap().ends_with("$\n"));
}

#[test]
fn every_bad_input_is_reported_with_its_place_and_changes_nothing() {
    let cases = cases();
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for c in &cases {
        let b = generated(2, 2, 8, 50);
        let args = (c.setup)(&b);
        let before = manifest(b.path());
        let mut argv = vec!["check".to_string(), "--config".into(), b.config_str()];
        argv.extend(args);
        let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = smstage(&refs);
        let after = manifest(b.path());
        if out.code != c.code {
            failures.push(format!(
                "{}: exit {} (want {})\n{}",
                c.name,
                out.code,
                c.code,
                out.all()
            ));
            continue;
        }
        for e in c.expect {
            if !out.all().contains(e) {
                failures.push(format!("{}: output lacks {e:?}\n{}", c.name, out.all()));
            }
        }
        if before != after {
            failures.push(format!("{}: check changed the tree", c.name));
        }
        // JSON carries the same verdict and stable codes.
        let mut jargv = refs.clone();
        jargv.extend(["--format", "json"]);
        let j = smstage(&jargv);
        assert_eq!(j.code, c.code, "{}: json exit", c.name);
        let v: serde_json::Value = serde_json::from_str(&j.stdout)
            .unwrap_or_else(|e| panic!("{}: bad json {e}: {}", c.name, j.stdout));
        assert_eq!(v["ok"], serde_json::Value::Bool(c.code == 0), "{}", c.name);
        assert!(v["findings"].is_array());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn torq_air_passes_with_enum_range_warning_when_deep() {
    let Some(b) = from_fixture("torq-air", TORQ_TABLES) else {
        return;
    };
    let bak = b.backup();
    let out = smstage(&[
        "check",
        "--config",
        &b.config_str(),
        "--backup",
        bak.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = smstage(&[
        "check",
        "--config",
        &b.config_str(),
        "--no-backup-check",
        "--deep",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let range: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "load-enum-beyond-domain")
        .collect();
    assert!(!range.is_empty(), "{}", out.stdout);
    assert!(range
        .iter()
        .all(|f| f["message"].as_str().unwrap().contains("129 symbols")));
}

/// A dolphindb copy whose assembly `tables:` come from `smstage schema` (46-column tables are
/// not typed by hand); `keep` limits the partitions kept.
fn dolphindb(keep: Option<&str>) -> Option<Base> {
    let b = from_fixture("dolphindb-sample", "")?;
    if let Some(keep) = keep {
        for e in fs::read_dir(b.data()).unwrap().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("20") && n != keep {
                fs::remove_dir_all(e.path()).unwrap();
            }
        }
    }
    let schema = smstage(&["schema", b.data().to_str().unwrap()]);
    assert_eq!(schema.code, 0, "{}", schema.all());
    let yaml = fs::read_to_string(b.config())
        .unwrap()
        .replace("tables:\n", &schema.stdout);
    fs::write(b.config(), yaml).unwrap();
    Some(b)
}

/// What q sees of dolphindb (verify, no configuration): the last partition's table absent
/// from the earlier ones, the others invisible. What SM's import says (check, with the schema
/// `smstage schema` derives): its tables Daily, Syms, ORD and TRANSACTION have no timestamp
/// column, so no partition column: a configuration error naming the first, before any
/// partition is read.
#[test]
fn dolphindb_q_view_and_the_prerequisite_it_misses() {
    let Some(b) = dolphindb(None) else { return };
    let before = manifest(b.path());
    let out = smstage(&[
        "verify",
        b.data().to_str().unwrap(),
        "--deep",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let tables = |code: &str| {
        let mut t: Vec<String> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"] == code)
            .map(|f| f["table"].as_str().unwrap_or("").to_string())
            .collect();
        t.sort();
        t
    };
    // q sees only the last partition's table (quote_cffex), which the two earlier partitions
    // lack: that is what breaks queries. The other tables are invisible to q (warnings).
    assert_eq!(tables("load-table-absent"), ["quote_cffex"]);
    assert_eq!(
        tables("load-table-hidden"),
        ["Daily", "ORD", "Syms", "TRANSACTION"]
    );
    let extra: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "load-extra-file")
        .collect();
    assert_eq!(extra.len(), 1);
    assert!(extra[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("2022.06.17/Daily/binary"));

    let out = smstage(&["check", "--config", &b.config_str(), "--no-backup-check"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("assembly.yaml:")
            && out
                .stderr
                .contains("partitioned table 'Daily' has no prtnCol")
            && out.stderr.contains("table 'Daily' has no timestamp column"),
        "{}",
        out.all()
    );
    assert_eq!(before, manifest(b.path()));
}

/// One partition of dolphindb: every file reads clean with --deep (verify), and SM's
/// prerequisites it misses are the ones its data misses: no timestamp column in Daily.
#[test]
fn dolphindb_single_partition_reads_clean_and_misses_a_partition_column() {
    let Some(b) = dolphindb(Some("2022.06.17")) else {
        return;
    };
    let out = smstage(&["verify", b.data().to_str().unwrap(), "--deep"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let bak = b.backup();
    let out = smstage(&[
        "check",
        "--config",
        &b.config_str(),
        "--backup",
        bak.to_str().unwrap(),
        "--deep",
    ]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .contains("partitioned table 'Daily' has no prtnCol"),
        "{}",
        out.all()
    );
}

#[test]
fn schema_export_matches_hand_typed_torq_schema() {
    let Some(src) = fixture("torq-air") else {
        return;
    };
    let out = smstage(&["schema", src.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.all());
    // The timestamp `time` as prtnCol, and the parted `sym` as the column sorted on disk.
    let want = TORQ_TABLES.replace(
        "    prtnCol: time\n",
        "    prtnCol: time\n    sortColsDisk: [sym]\n",
    );
    assert_eq!(out.stdout.trim_end(), format!("tables:\n{want}").trim_end());
}

/// Root reads everything, so the unreadable case runs `check` as `nobody` over a tree that is
/// world-readable except for one column file.
#[test]
fn unreadable_file_is_reported_by_name() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let b = generated(2, 1, 6, 50);
    for e in walkdir::WalkDir::new(b.path()) {
        let e = e.unwrap();
        let mode = if e.file_type().is_dir() { 0o755 } else { 0o644 };
        fs::set_permissions(e.path(), fs::Permissions::from_mode(mode)).unwrap();
    }
    let t = first_table(&b);
    let victim = t.join(price_column(&t));
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o000)).unwrap();
    let before = manifest(b.path());
    let o = std::process::Command::new(bin())
        .args(["check", "--config", &b.config_str(), "--no-backup-check"])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("load-unreadable"), "{text}");
    assert!(text.contains(victim.to_str().unwrap()), "{text}");
    assert!(text.contains("Permission denied"), "{text}");
    assert_eq!(before, manifest(b.path()));
}

/// `schema` types a column the last partition leaves untyped (0 rows, an empty general list)
/// from the newest older partition that has a type, looking back in batches, and prints
/// `mixed` (with a note) only when no partition has one.
#[test]
fn schema_looks_back_for_a_type_newest_first() {
    // The 8 bytes kdb+ writes for an empty untyped column (torq-gateway-empty's packets/data).
    const EMPTY_UNTYPED: &[u8] = &[0xff, 0x01, 0x00, 0x00, 0, 0, 0, 0];
    let b = generated(70, 1, 6, 10);
    let parts = dates(&b.data());
    let table = |i: usize| tables_in(&b.data().join(&parts[i]))[0].clone();
    let price = price_column(&table(0));
    let schema_line = || {
        let out = smstage(&["schema", b.data().to_str().unwrap()]);
        assert_eq!(out.code, 0, "{}", out.all());
        let line = out
            .stdout
            .lines()
            .find(|l| l.contains(&format!("{{name: {price},")))
            .unwrap_or_else(|| panic!("no {price} in {}", out.stdout))
            .to_string();
        (line, out.stderr)
    };
    // Untyped in the newest 66 partitions: more than one look-back batch.
    for i in 4..70 {
        fs::write(table(i).join(&price), EMPTY_UNTYPED).unwrap();
    }
    // The newest typed partition (3) holds another type than the older ones (0-2): its
    // type wins.
    let size = dotd(&table(3))
        .into_iter()
        .find(|c| c == "size")
        .expect("a size column");
    fs::copy(table(3).join(&size), table(3).join(&price)).unwrap();
    let (line, _) = schema_line();
    assert!(!line.contains("type: float"), "{line}");
    assert!(!line.contains("type: mixed"), "{line}");
    // Without it, the older float.
    fs::write(table(3).join(&price), EMPTY_UNTYPED).unwrap();
    let (line, _) = schema_line();
    assert!(line.contains("type: float"), "{line}");
    // Untyped everywhere: mixed, and a note that says so.
    for i in 0..3 {
        fs::write(table(i).join(&price), EMPTY_UNTYPED).unwrap();
    }
    let (line, stderr) = schema_line();
    assert!(line.contains("type: mixed"), "{line}");
    assert!(stderr.contains("no partition says its type"), "{stderr}");
}

/// A configuration error (exit 2) does not hide the database's own findings: with the
/// configuration refused (no prtnCol) and a column file missing, check still names the missing
/// file, after `config-invalid` in JSON and under its own heading in text; nothing changes.
#[test]
fn a_configuration_error_reports_the_databases_own_findings_beside_it() {
    let b = generated(2, 1, 4, 20);
    replace_in_config(&b, "    prtnCol: time\n", "");
    let table = first_table(&b);
    let col = dotd(&table)[1].clone();
    fs::remove_file(table.join(&col)).unwrap();
    let before = manifest(b.path());
    let args = ["check", "--config", &b.config_str(), "--no-backup-check"];
    let out = smstage(&args);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("has no prtnCol"), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("the database's own findings, read without the configuration"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("load-column-missing") && out.stdout.contains(&col),
        "{}",
        out.stdout
    );
    let json = smstage(&[&args[..], &["--format", "json"]].concat());
    assert_eq!(json.code, 2, "{}", json.all());
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let codes = json_codes(&v);
    assert_eq!(
        codes,
        vec!["config-invalid", "load-column-missing"],
        "{}",
        json.stdout
    );
    assert_eq!(v["ok"], false);
    assert_eq!(before, manifest(b.path()));
}

/// `smstage … | head -1`: the reader went away before the output was written. The command
/// ends with the status of a SIGPIPE death (141) and no panic message, instead of Rust's
/// "failed printing to stdout: Broken pipe" panic (exit 101).
#[test]
fn a_closed_stdout_ends_the_command_quietly_with_141() {
    use std::os::fd::FromRawFd;
    let base = common::generated(2, 1, 3, 3);
    let mut fds = [0; 2];
    // SAFETY: pipe fills two fresh descriptors; each is owned exactly once below.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // The read end is closed before smstage writes anything: its first write fails (EPIPE).
    // SAFETY: fds[0] is ours and closed once here.
    unsafe { libc::close(fds[0]) };
    // SAFETY: fds[1] is ours; Stdio takes ownership.
    let stdout = unsafe { std::process::Stdio::from_raw_fd(fds[1]) };
    let out = std::process::Command::new(common::bin())
        .args(["status", "--config", &base.config_str()])
        .stdout(stdout)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}
