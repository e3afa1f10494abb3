//! Re-enumeration against real enum columns of every attribute and both layouts.

use std::sync::Arc;

use super::tests::{chunked_rows, fixtures, one};
use super::*;
use crate::kdb::write::{enum_bytes, HeaderCount};
use crate::kdb::*;

fn reenum(
    column: &Path,
    remap: Vec<u32>,
    out: &Path,
    zip: Option<ZipParams>,
) -> Result<Vec<Produced>, ProduceError> {
    produce(&Job::Reenumerate {
        column: column.to_path_buf(),
        remap: Arc::new(remap),
        domain: "sym".into(),
        out: out.to_path_buf(),
        zip,
    })
}

fn indices(p: &Path) -> Vec<i64> {
    match read_column(p).unwrap().data {
        ColumnData::Enum { indices, .. } => indices,
        other => panic!("{other:?}"),
    }
}

fn zip_of(p: &Path) -> Option<ZipParams> {
    read_header(p).unwrap().compression.map(|c| ZipParams {
        algorithm: c.algorithm,
        level: c.level,
        block_log2: c.block_size.trailing_zeros() as u8,
    })
}

/// An identity remap onto the column's own domain name rewrites the real file byte for byte:
/// p# (torq-air), u# and g# (dolphindb Daily/Syms, gzip), none, in both header-count styles.
#[test]
fn identity_remap_rewrites_real_enum_columns_byte_for_byte() {
    let Some(fx) = fixtures() else { return };
    let dir = tempfile::tempdir().unwrap();
    for rel in [
        "torq-air/2020.11.14/flights/sym",
        "torq-air/2020.11.14/flights/aircraftType",
        "dolphindb-sample/2022.06.17/Daily/sym",
        "dolphindb-sample/2022.06.17/Syms/sym",
        "dolphindb-sample/2022.06.17/Syms/SW1",
        "dolphindb-sample/2023.03.24/quote_cffex/sym",
    ] {
        let src = fx.join(rel);
        let h = read_header(&src).unwrap();
        let domain = h.domain.clone().unwrap();
        let out = dir.path().join("re");
        let (_, ours) = one(produce(&Job::Reenumerate {
            column: src.clone(),
            remap: Arc::new((0..100_000).collect()),
            domain,
            out: out.clone(),
            zip: zip_of(&src),
        })
        .unwrap());
        assert_eq!(ours, std::fs::read(&src).unwrap(), "{rel} ({:?})", h.attr);
    }
}

#[test]
fn remapped_indices_read_back_with_the_same_attribute_and_compression() {
    let Some(fx) = fixtures() else { return };
    let dir = tempfile::tempdir().unwrap();
    for rel in [
        "torq-air/2020.11.15/flights/sym",
        "torq-air/2020.11.15/flights/aircraftType",
        "dolphindb-sample/2022.06.17/Daily/status",
        "dolphindb-sample/2022.12.05/ORD/code",
        "advkdb-ipc/2019.03.17/Trade/sym",
    ] {
        let src = fx.join(rel);
        let old = indices(&src);
        // Old symbol i becomes sym index 1000 + 3i (order kept, so p#/s# stay valid).
        let remap: Vec<u32> = (0..100_000).map(|i| 1000 + 3 * i).collect();
        let out = dir.path().join("re");
        let _ = one(reenum(&src, remap.clone(), &out, zip_of(&src)).unwrap());
        let (h, _) = chunked_rows(&out);
        let src_h = read_header(&src).unwrap();
        assert_eq!(
            (h.attr, h.domain.as_deref()),
            (src_h.attr, Some("sym")),
            "{rel}"
        );
        assert_eq!(h.format, src_h.format, "{rel}: same layout");
        assert_eq!(
            h.compression.is_some(),
            src_h.compression.is_some(),
            "{rel}"
        );
        // Nulls (0N; int32 0N in a 3.x file) stay null.
        let want: Vec<i64> = old
            .iter()
            .map(|&i| match i {
                i64::MIN => i,
                i if i == i64::from(i32::MIN) => i,
                i => i64::from(remap[i as usize]),
            })
            .collect();
        assert_eq!(indices(&out), want, "{rel}");
    }
}

#[test]
fn reenumeration_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let col = dir.path().join("c");
    std::fs::write(
        &col,
        enum_bytes("sym_X", Attr::None, &[0, 1, 5], HeaderCount::Set).unwrap(),
    )
    .unwrap();
    // Index 5 is beyond a 3-symbol domain (q reads it as null): it becomes the null index,
    // not sym's index 5, which would name a real symbol.
    reenum(&col, vec![7, 8, 9], &dir.path().join("o"), None).unwrap();
    assert_eq!(indices(&dir.path().join("o")), [7, 8, i64::MIN]);
    std::fs::remove_file(dir.path().join("o")).unwrap();
    // A negative index that is not the null one is refused.
    std::fs::write(
        &col,
        enum_bytes("sym_X", Attr::None, &[0, -3], HeaderCount::Set).unwrap(),
    )
    .unwrap();
    let e = reenum(&col, vec![0], &dir.path().join("o"), None).unwrap_err();
    assert!(
        e.to_string().contains("row 1 holds the negative index -3"),
        "{e}"
    );
    assert!(!dir.path().join("o").exists());
    // s# that the new order breaks.
    std::fs::write(
        &col,
        enum_bytes("sym_X", Attr::Sorted, &[0, 1, 2], HeaderCount::Set).unwrap(),
    )
    .unwrap();
    let e = reenum(&col, vec![5, 4, 9], &dir.path().join("o"), None).unwrap_err();
    assert!(e.to_string().contains("row 1"), "{e}");
    // p# broken by a remap that merges two symbols' runs apart.
    std::fs::write(
        &col,
        enum_bytes("sym_X", Attr::Parted, &[0, 1, 2], HeaderCount::Set).unwrap(),
    )
    .unwrap();
    let e = reenum(&col, vec![7, 8, 7], &dir.path().join("o"), None).unwrap_err();
    assert!(matches!(e, ProduceError::Invalid { .. }), "{e}");
    // Not an enum at all.
    std::fs::write(
        &col,
        write::vector_bytes(T_LONG, Attr::None, &[0; 8], HeaderCount::Set).unwrap(),
    )
    .unwrap();
    let e = reenum(&col, vec![0], &dir.path().join("o"), None).unwrap_err();
    assert!(
        e.to_string().contains("not an enumerated symbol column"),
        "{e}"
    );
    // Hostile: truncated enum, huge header count.
    let mut b = enum_bytes("sym_X", Attr::None, &[0, 1], HeaderCount::Set).unwrap();
    b.truncate(b.len() - 3);
    std::fs::write(&col, &b).unwrap();
    let e = reenum(&col, vec![0, 1], &dir.path().join("o"), None).unwrap_err();
    assert!(e.is_corrupt(), "{e}");
    let mut b = enum_bytes("sym_X", Attr::Grouped, &[0, 1], HeaderCount::Set).unwrap();
    b[4088..4096].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&col, &b).unwrap();
    let e = reenum(&col, vec![0, 1], &dir.path().join("o"), None).unwrap_err();
    assert!(e.is_corrupt(), "{e}");
    assert!(!dir.path().join("o").exists());
}

#[test]
fn kdb3_enums_with_index_data_are_unsupported() {
    let Some(fx) = fixtures() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = fx.join("torq-crypto-gzip/2019.08.29/zb/sym");
    let e = reenum(&src, (0..10_000).collect(), &dir.path().join("o"), None).unwrap_err();
    assert!(e.is_unsupported() && !e.is_corrupt(), "{e}");
}
