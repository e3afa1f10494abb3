//! Empty and null columns: each layout against the real file that shows it, each read back.

use super::tests::{chunked_rows, fixtures, one};
use super::*;
use crate::kdb::zip::ALG_GZIP;
use crate::kdb::*;

fn empty(ty: LogicalType, domain: Option<&str>, out: &Path) -> Vec<Produced> {
    produce(&Job::EmptyColumn {
        ty,
        domain: domain.map(String::from),
        attr: Attr::None,
        out: out.to_path_buf(),
        zip: None,
    })
    .unwrap()
}

fn nulls(
    ty: LogicalType,
    rows: u64,
    out: &Path,
    zip: Option<ZipParams>,
) -> Result<Vec<Produced>, ProduceError> {
    produce(&Job::NullColumn {
        ty,
        rows,
        domain: Some("sym".into()),
        null_sym_index: Some(7),
        out: out.to_path_buf(),
        zip,
    })
}

#[test]
fn empty_columns_are_torq_gateway_empty_byte_for_byte() {
    let Some(fx) = fixtures() else { return };
    let dir = tempfile::tempdir().unwrap();
    let packets = fx.join("torq-gateway-empty/2022.01.03/packets");
    let mut simple = 0;
    for e in std::fs::read_dir(&packets).unwrap() {
        let p = e.unwrap().path();
        let real = std::fs::read(&p).unwrap();
        let out = dir.path().join("c");
        let ty = match &real[..2] {
            [0xfe, 0x20] => LogicalType::Simple(real[2]),
            // `sym` carries `p#` (with its index data): an attribute is not the producer's.
            [0xfd, 0x20] if real[4083] == 0 => LogicalType::Simple(T_SYMBOL),
            [0xff, 0x01] if real[2] == 0 => LogicalType::Simple(T_MIXED),
            _ => continue, // .d
        };
        let (_, ours) = one(empty(ty, Some("sym"), &out));
        assert_eq!(ours, real, "{}", p.display());
        assert_eq!(read_column(&out).unwrap().data.len(), 0);
        simple += 1;
    }
    assert!(simple >= 14, "{simple}");
}

#[test]
fn empty_nested_columns_are_a_header_only_pair() {
    let Some(fx) = fixtures() else { return };
    let dir = tempfile::tempdir().unwrap();
    // No real file holds an empty nested pair: the headers are torq-air `registration`'s
    // (a string column) with no entries and no items.
    let reg = std::fs::read(fx.join("torq-air/2020.11.14/flights/registration")).unwrap();
    let reg_data = std::fs::read(fx.join("torq-air/2020.11.14/flights/registration#")).unwrap();
    for ty in [
        LogicalType::List(Some(T_CHAR)),
        LogicalType::List(Some(T_LONG)),
        LogicalType::List(None),
    ] {
        let out = dir.path().join("s");
        let produced = empty(ty, None, &out);
        assert_eq!(produced.len(), 2);
        let index = std::fs::read(&out).unwrap();
        let data = std::fs::read(hash_sibling(&out)).unwrap();
        assert_eq!(&index[..4088], &reg[..4088]);
        assert_eq!(&index[4088..], &[0; 8], "count 0");
        assert_eq!(data, reg_data[..4096]);
        assert_eq!(produced[1].sha256, super::tests::sha_hex(&data));
        let c = read_column(&out).unwrap();
        assert!(c.header.nested && c.data.is_empty(), "{c:?}");
    }
}

#[test]
fn empty_symbol_column_needs_its_domain_and_unknown_types_are_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let e = produce(&Job::EmptyColumn {
        ty: LogicalType::Simple(T_SYMBOL),
        domain: None,
        attr: Attr::None,
        out: dir.path().join("s"),
        zip: None,
    })
    .unwrap_err();
    assert!(matches!(e, ProduceError::Invalid { .. }), "{e}");
    let e = produce(&Job::EmptyColumn {
        ty: LogicalType::Simple(3),
        domain: None,
        attr: Attr::None,
        out: dir.path().join("s"),
        zip: None,
    })
    .unwrap_err();
    assert!(e.is_unsupported(), "{e}");
    assert!(!dir.path().join("s").exists());
}

#[test]
fn nulls_of_every_simple_type_read_back_as_q_nulls() {
    let dir = tempfile::tempdir().unwrap();
    for t in [1u8, 2, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17, 18, 19] {
        let out = dir.path().join(format!("n{t}"));
        let (_, bytes) = one(nulls(LogicalType::Simple(t), 5, &out, None).unwrap());
        let w = type_width(t).unwrap();
        assert_eq!(&bytes[..16], &write::vector_header_bytes(t, Attr::None, 0));
        assert_eq!(bytes.len(), 16 + 5 * w);
        let c = read_column(&out).unwrap();
        assert_eq!(c.data.len(), 5);
        for i in 0..5 {
            let v = c.data.fmt_value(i);
            match t {
                1 => assert_eq!(v, "0"),
                4 => assert_eq!(v, "00"),
                10 => assert_eq!(v, " "),
                // q's CSV shows a null as an empty field; 0Ng as the zero guid.
                2 => assert_eq!(v, "00000000-0000-0000-0000-000000000000"),
                _ => assert_eq!(v, "", "type {t} row {i}"),
            }
        }
    }
}

#[test]
fn null_bit_patterns_are_the_ones_in_real_files() {
    let Some(fx) = fixtures() else { return };
    // dolphindb-sample's splayed table holds one column of every simple type, with nulls.
    let dir = fx.join("dolphindb-sample/allDataTypes/splayedTable");
    let mut matched = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let b = std::fs::read(e.unwrap().path()).unwrap();
        if b.len() < 16 || b[..2] != [0xfe, 0x20] || matches!(b[2], 1 | 2 | 4 | 10) {
            continue;
        }
        let t = b[2];
        let Some(null) = columns::null_value(t) else {
            continue;
        };
        if b[16..]
            .chunks_exact(null.len())
            .any(|x| x == null.as_slice())
        {
            matched.push(t);
        }
    }
    matched.sort();
    // float (real) and double and datetime NaNs, at least, and the integer 0Ns.
    for t in [T_REAL, T_FLOAT, T_DATETIME] {
        assert!(matched.contains(&t), "{t} not matched: {matched:?}");
    }
    assert!(matched.len() >= 6, "{matched:?}");
}

#[test]
fn null_symbols_strings_and_lists() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sym");
    let (_, bytes) = one(nulls(LogicalType::Simple(T_SYMBOL), 3, &out, None).unwrap());
    assert_eq!(bytes.len(), 4096 + 24);
    let c = read_column(&out).unwrap();
    assert_eq!(
        c.data,
        ColumnData::Enum {
            domain: "sym".into(),
            indices: vec![7, 7, 7]
        }
    );
    for (t, item) in [
        (T_CHAR, ColumnData::Char(vec![])),
        (T_LONG, ColumnData::Long(vec![])),
    ] {
        let out = dir.path().join(format!("l{t}"));
        let p = nulls(LogicalType::List(Some(t)), 4, &out, None).unwrap();
        assert_eq!(p.len(), 2);
        let c = read_column(&out).unwrap();
        assert_eq!(c.data, ColumnData::Nested(vec![item.clone(); 4]), "{t}");
        let (h, chunks) = chunked_rows(&out);
        assert!(h.nested);
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), 4);
    }
    // "" is written as nested_chars_bytes writes it (torq-air's short items).
    let (i, d) = write::nested_chars_bytes(&[b"", b"", b""], write::HeaderCount::Zero);
    let out = dir.path().join("str");
    nulls(LogicalType::List(Some(T_CHAR)), 3, &out, None).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), i);
    assert_eq!(std::fs::read(hash_sibling(&out)).unwrap(), d);
    for ty in [
        LogicalType::Simple(T_MIXED),
        LogicalType::List(None),
        LogicalType::List(Some(T_SYMBOL)),
    ] {
        let e = nulls(ty, 3, &dir.path().join("x"), None).unwrap_err();
        assert!(e.is_unsupported(), "{ty:?}: {e}");
        assert!(!dir.path().join("x").exists() && !dir.path().join("x#").exists());
    }
    let e = produce(&Job::NullColumn {
        ty: LogicalType::Simple(T_SYMBOL),
        rows: 3,
        domain: Some("sym".into()),
        null_sym_index: None,
        out: dir.path().join("y"),
        zip: None,
    })
    .unwrap_err();
    assert!(matches!(e, ProduceError::Invalid { .. }), "{e}");
}

#[test]
fn large_null_columns_stream_and_compress() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 1_000_003u64; // not a multiple of the fill buffer
    let out = dir.path().join("big");
    let (_, plain) = one(nulls(LogicalType::Simple(T_LONG), rows, &out, None).unwrap());
    assert_eq!(plain.len() as u64, 16 + 8 * rows);
    let (_, chunks) = chunked_rows(&out);
    let mut n = 0;
    for c in chunks {
        let ColumnData::Long(v) = c else { panic!() };
        assert!(v.iter().all(|&x| x == i64::MIN));
        n += v.len();
    }
    assert_eq!(n as u64, rows);
    let params = ZipParams::new(ALG_GZIP, 6);
    let zout = dir.path().join("bigz");
    let (_, z) = one(nulls(LogicalType::Simple(T_LONG), rows, &zout, Some(params)).unwrap());
    assert_eq!(z, zip::compress(&plain, params).unwrap());
    let p = nulls(
        LogicalType::List(Some(T_CHAR)),
        rows,
        &dir.path().join("s"),
        Some(params),
    )
    .unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!(read_header(&dir.path().join("s")).unwrap().count, rows);
    assert_eq!(
        read_column(&dir.path().join("s")).unwrap().data.len() as u64,
        rows
    );
}

/// An empty table's `p#` symbol column is written as kdb+ wrote quote_cffex's (0 rows and the
/// 80 bytes of empty index data); `s#` on a vector is the attribute byte alone; an attribute
/// whose empty layout no real file shows us is refused, never guessed.
#[test]
fn empty_columns_carry_their_configured_attribute_as_kdb_writes_it() {
    let Some(fx) = fixtures() else { return };
    let dir = tempfile::tempdir().unwrap();
    let real = fx.join("dolphindb-sample/2023.03.24/quote_cffex/sym");
    let out = dir.path().join("sym");
    let (_, ours) = one(produce(&Job::EmptyColumn {
        ty: LogicalType::Simple(T_SYMBOL),
        domain: Some("sym_quote_cffex".into()),
        attr: Attr::Parted,
        out: out.clone(),
        zip: None,
    })
    .unwrap());
    assert_eq!(ours, std::fs::read(&real).unwrap());
    assert_eq!(read_header(&out).unwrap().attr, Attr::Parted);
    let out = dir.path().join("t");
    let (_, ours) = one(produce(&Job::EmptyColumn {
        ty: LogicalType::Simple(T_TIMESTAMP),
        domain: None,
        attr: Attr::Sorted,
        out: out.clone(),
        zip: None,
    })
    .unwrap());
    assert_eq!(
        ours,
        write::vector_header_bytes(T_TIMESTAMP, Attr::Sorted, 0)
    );
    let e = produce(&Job::EmptyColumn {
        ty: LogicalType::Simple(T_LONG),
        domain: None,
        attr: Attr::Grouped,
        out: dir.path().join("g"),
        zip: None,
    })
    .unwrap_err();
    assert!(e.is_unsupported(), "{e}");
    assert!(!dir.path().join("g").exists());
}
