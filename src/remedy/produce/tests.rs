//! Producers against our own readers (every file read back through `kdb::chunked`, the whole
//! decode and the header read) and against the real files that show each layout.

use std::path::{Path, PathBuf};

use super::*;
use crate::kdb::write::{vector_bytes, HeaderCount};
use crate::kdb::zip::{ALG_GZIP, ALG_QIPC};
use crate::kdb::*;

pub(super) fn fixtures() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/real");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "WARNING: fixtures not found at {}: fixture test skipped",
            p.display()
        );
        None
    }
}

pub(super) fn sha_hex(b: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// The one file a job produced, checked against what is on disk.
pub(super) fn one(produced: Vec<Produced>) -> (Produced, Vec<u8>) {
    assert_eq!(produced.len(), 1, "{produced:?}");
    let p = produced.into_iter().next().unwrap();
    let bytes = std::fs::read(&p.path).unwrap();
    assert_eq!(p.size, bytes.len() as u64, "size of {}", p.path.display());
    assert_eq!(p.sha256, sha_hex(&bytes), "sha256 of {}", p.path.display());
    (p, bytes)
}

fn write_vec(dir: &Path, name: &str, ty: u8, attr: Attr, data: &[u8], c: HeaderCount) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, vector_bytes(ty, attr, data, c).unwrap()).unwrap();
    p
}

fn le<T: Copy, const N: usize>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    v.iter().flat_map(|&x| f(x)).collect()
}

/// Every row of a column through the chunked reader, in small chunks.
pub(super) fn chunked_rows(path: &Path) -> (Header, Vec<ColumnData>) {
    let src = LocalFile::open(path).unwrap();
    let open = |p: &str| -> Result<Box<dyn ReadAt>, KdbError> {
        Ok(Box::new(LocalFile::open(Path::new(p))?))
    };
    let mut c = chunked::ColumnChunks::open(&src, &open, 4096).unwrap();
    let h = c.header().clone();
    let mut out = Vec::new();
    while let Some(d) = c.next_rows(usize::MAX).unwrap() {
        out.push(d);
    }
    (h, out)
}

fn timestamps(path: &Path) -> Vec<i64> {
    let whole = read_column(path).unwrap();
    let ColumnData::Timestamp(v) = whole.data else {
        panic!("{}: {:?}", path.display(), whole.header)
    };
    // The chunked reader agrees with the whole decode.
    let (_, chunks) = chunked_rows(path);
    let streamed: Vec<i64> = chunks
        .into_iter()
        .flat_map(|d| match d {
            ColumnData::Timestamp(v) => v,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(streamed, v);
    v
}

const D: i64 = 86_400_000_000_000;
const DAY_2024_01_02: i64 = 8767; // days from 2000.01.01

fn derive(
    source: &Path,
    out: &Path,
    zip: Option<ZipParams>,
) -> Result<Vec<Produced>, ProduceError> {
    produce(&Job::DerivedTimestamp {
        source: source.to_path_buf(),
        date: (2024, 1, 2),
        out: out.to_path_buf(),
        zip,
    })
}

#[test]
fn derived_from_every_time_of_day_type() {
    let dir = tempfile::tempdir().unwrap();
    let base = DAY_2024_01_02 * D;
    let ns = [0i64, 1, 34_200_000_000_123, D - 1];
    let cases: Vec<(u8, Vec<u8>, Vec<i64>)> = vec![
        (T_TIMESPAN, le(&ns, i64::to_le_bytes), ns.to_vec()),
        (
            T_TIME,
            le(&[0i32, 1, 34_200_123, 86_399_999], i32::to_le_bytes),
            vec![0, 1_000_000, 34_200_123_000_000, 86_399_999_000_000],
        ),
        (
            T_SECOND,
            le(&[0i32, 59, 86_399], i32::to_le_bytes),
            vec![0, 59_000_000_000, 86_399_000_000_000],
        ),
        (
            T_MINUTE,
            le(&[0i32, 570, 1439], i32::to_le_bytes),
            vec![0, 570 * 60_000_000_000, 1439 * 60_000_000_000],
        ),
        (
            T_DATETIME,
            // 2024.01.02T00:00:00.000, T12:00:00.123 (not exact in binary), T23:59:59.999.
            le(
                &[
                    8767.0f64,
                    8767.0 + 43_200_123.0 / 86_400_000.0,
                    8767.0 + 86_399_999.0 / 86_400_000.0,
                ],
                f64::to_le_bytes,
            ),
            vec![0, 43_200_123_000_000, 86_399_999_000_000],
        ),
    ];
    for (ty, data, want_ns) in cases {
        for count in [HeaderCount::Set, HeaderCount::Zero] {
            let src = write_vec(dir.path(), "src", ty, Attr::None, &data, count);
            let out = dir.path().join(format!("stage/2024.01.02/t/ts{ty}"));
            let (p, bytes) = one(derive(&src, &out, None).unwrap());
            assert_eq!(p.path, out);
            let want: Vec<i64> = want_ns.iter().map(|x| base + x).collect();
            assert_eq!(timestamps(&out), want, "type {ty}");
            // fe 20 0c, no attribute, the source's header-count convention.
            assert_eq!(&bytes[..4], &[0xfe, 0x20, T_TIMESTAMP, 0]);
            let hc = u64::from_le_bytes(bytes[8..16].try_into().unwrap());
            let expect = if count == HeaderCount::Set {
                want.len() as u64
            } else {
                0
            };
            assert_eq!(hc, expect, "type {ty} {count:?}");
            assert_eq!(bytes.len(), 16 + 8 * want.len());
        }
    }
}

#[test]
fn sorted_source_stays_sorted_and_other_attributes_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let v = le(&[1i64, 5, 5, 9], i64::to_le_bytes);
    let src = write_vec(
        dir.path(),
        "time",
        T_TIMESPAN,
        Attr::Sorted,
        &v,
        HeaderCount::Set,
    );
    let out = dir.path().join("ts");
    let (_, bytes) = one(derive(&src, &out, None).unwrap());
    assert_eq!(bytes[3], 1, "s# kept");
    assert_eq!(read_header(&out).unwrap().attr, Attr::Sorted);
    // A source that claims s# but is not sorted is corrupt: the derived file would lie.
    let bad = le(&[5i64, 1], i64::to_le_bytes);
    let src = write_vec(
        dir.path(),
        "bad",
        T_TIMESPAN,
        Attr::Sorted,
        &bad,
        HeaderCount::Set,
    );
    let e = derive(&src, &dir.path().join("ts2"), None).unwrap_err();
    assert!(e.is_corrupt(), "{e}");
    assert!(e.to_string().contains("row 1"), "{e}");
    // The offset of row 1's bytes: after the 16-byte header, 8 bytes a row.
    assert!(e.to_string().contains("corrupt at offset 24:"), "{e}");
    assert!(
        !dir.path().join("ts2").exists(),
        "no half-written file left"
    );
}

#[test]
fn refusals_name_file_row_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, u8, Vec<u8>, &str)> = vec![
        (
            "null",
            T_TIMESPAN,
            le(&[1i64, 2, i64::MIN], i64::to_le_bytes),
            "row 2 is null",
        ),
        (
            "neg",
            T_TIMESPAN,
            le(&[1i64, -1], i64::to_le_bytes),
            "row 1 value -0D00:00:00.000000001 is negative",
        ),
        (
            "oneday",
            T_TIMESPAN,
            le(&[D], i64::to_le_bytes),
            "row 0 value 1D00:00:00.000000000 is one day",
        ),
        (
            "inf",
            T_TIMESPAN,
            le(&[0, i64::MAX], i64::to_le_bytes),
            "row 1 value 0W is one day",
        ),
        (
            "time",
            T_TIME,
            le(&[0i32, 86_400_000], i32::to_le_bytes),
            "row 1 value 24:00:00.000 is one day",
        ),
        (
            "tnull",
            T_TIME,
            le(&[i32::MIN], i32::to_le_bytes),
            "row 0 is null",
        ),
        (
            "minute",
            T_MINUTE,
            le(&[1440i32], i32::to_le_bytes),
            "row 0 value 24:00 is one day",
        ),
        (
            "second",
            T_SECOND,
            le(&[-5i32], i32::to_le_bytes),
            "row 0 value -00:00:05 is negative",
        ),
        (
            "zday",
            T_DATETIME,
            le(&[8767.5f64, 8768.25], f64::to_le_bytes),
            "row 1 value 2024.01.03T06:00:00.000 is on another day",
        ),
        (
            "znull",
            T_DATETIME,
            le(&[f64::NAN], f64::to_le_bytes),
            "row 0 is null",
        ),
        (
            "zinf",
            T_DATETIME,
            le(&[f64::INFINITY], f64::to_le_bytes),
            "row 0 value 0W is infinite",
        ),
        // Rounds to the next midnight: not on the partition's day.
        (
            "zround",
            T_DATETIME,
            le(&[8768.0 - 1e-10], f64::to_le_bytes),
            "is on another day",
        ),
    ];
    for (name, ty, data, msg) in cases {
        let src = write_vec(dir.path(), name, ty, Attr::None, &data, HeaderCount::Set);
        let out = dir.path().join(format!("out-{name}"));
        let e = derive(&src, &out, None).unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(
                e,
                ProduceError::DeriveNull { .. } | ProduceError::DeriveOffDay { .. }
            ),
            "{name}: {e:?}"
        );
        assert!(text.contains(msg), "{name}: {text}");
        assert!(text.contains(&src.display().to_string()), "{name}: {text}");
        assert!(!e.is_corrupt() && !e.is_unsupported(), "{name}");
        assert!(!out.exists(), "{name}: nothing left behind");
    }
    // Rows are counted across chunks: a bad row far into a large column is named exactly.
    let mut v = vec![5i64; 100_000];
    v[77_777] = -3;
    let src = write_vec(
        dir.path(),
        "big",
        T_TIMESPAN,
        Attr::None,
        &le(&v, i64::to_le_bytes),
        HeaderCount::Set,
    );
    let e = derive(&src, &dir.path().join("o"), None).unwrap_err();
    assert!(e.to_string().contains("row 77777 value"), "{e}");
}

#[test]
fn sources_that_are_not_a_time_of_day_are_refused_by_type() {
    let dir = tempfile::tempdir().unwrap();
    let long = write_vec(
        dir.path(),
        "size",
        T_LONG,
        Attr::None,
        &[0; 16],
        HeaderCount::Set,
    );
    let ts = write_vec(
        dir.path(),
        "ts",
        T_TIMESTAMP,
        Attr::None,
        &[0; 16],
        HeaderCount::Set,
    );
    let en = dir.path().join("sym");
    std::fs::write(
        &en,
        write::enum_bytes("sym", Attr::None, &[0, 1], HeaderCount::Set).unwrap(),
    )
    .unwrap();
    let st = dir.path().join("s");
    let (i, d) = write::nested_chars_bytes(&[b"ab"], HeaderCount::Set);
    std::fs::write(&st, i).unwrap();
    std::fs::write(dir.path().join("s#"), d).unwrap();
    for (src, found) in [
        (long, "long"),
        (ts, "timestamp"),
        (en, "symbol"),
        (st, "nested"),
    ] {
        let e = derive(&src, &dir.path().join("o"), None).unwrap_err();
        assert!(matches!(e, ProduceError::DeriveSourceType { .. }), "{e:?}");
        assert!(e.to_string().contains(found), "{e}");
        assert!(
            e.to_string().contains("timespan, time, second or minute"),
            "{e}"
        );
    }
    let e = produce(&Job::DerivedTimestamp {
        source: dir.path().join("size"),
        date: (2023, 2, 29),
        out: dir.path().join("o"),
        zip: None,
    })
    .unwrap_err();
    assert!(e.to_string().contains("not a calendar date"), "{e}");
}

#[test]
fn derived_column_compressed_block_by_block() {
    let dir = tempfile::tempdir().unwrap();
    // 300k rows: 2.4 MB of values, 19 blocks of 128 KiB.
    let v: Vec<i64> = (0..300_000i64)
        .map(|i| 30_000_000_000_000 + (i / 16) * 1_000_000_000)
        .collect();
    let src = write_vec(
        dir.path(),
        "time",
        T_TIMESPAN,
        Attr::Sorted,
        &le(&v, i64::to_le_bytes),
        HeaderCount::Set,
    );
    let base = DAY_2024_01_02 * D;
    let want: Vec<i64> = v.iter().map(|x| base + x).collect();
    let plain = dir.path().join("plain");
    let (_, plain_bytes) = one(derive(&src, &plain, None).unwrap());
    for (alg, level) in [
        (ALG_GZIP, 6),
        (ALG_QIPC, 0),
        (zip::ALG_ZSTD, 3),
        (zip::ALG_LZ4HC, 9),
        (zip::ALG_SNAPPY, 0),
    ] {
        let params = ZipParams::new(alg, level);
        let out = dir.path().join(format!("z{alg}"));
        let (_, bytes) = one(derive(&src, &out, Some(params)).unwrap());
        assert!(bytes.starts_with(zip::ZIP_MAGIC));
        assert!(
            bytes.len() < plain_bytes.len(),
            "algorithm {alg} compresses"
        );
        // Byte-identical to compressing the whole uncompressed image at once.
        assert_eq!(
            bytes,
            zip::compress(&plain_bytes, params).unwrap(),
            "algorithm {alg}"
        );
        let h = read_header(&out).unwrap();
        let c = h.compression.as_ref().unwrap();
        assert_eq!((c.algorithm, c.level, c.block_size), (alg, level, 131_072));
        assert_eq!((h.attr, h.count), (Attr::Sorted, 300_000));
        assert_eq!(timestamps(&out), want, "algorithm {alg}");
    }
}

#[test]
fn derived_from_real_timespan_and_datetime_columns() {
    let Some(fx) = fixtures() else { return };
    let dir = tempfile::tempdir().unwrap();
    // bitmex-nested: kdb+tick's `time` a timespan, 4 KiB header, header count 0.
    // torq-air: `depTime` a datetime (fe 20, count set).
    for (rel, date) in [
        ("bitmex-nested/2022.03.25/trade/time", (2022, 3, 25)),
        ("bitmex-nested/2022.03.25/orderbook/time", (2022, 3, 25)),
        ("torq-air/2020.11.14/flights/depTime", (2020, 11, 14)),
    ] {
        let src = fx.join(rel);
        let out = dir.path().join("ts");
        let r = produce(&Job::DerivedTimestamp {
            source: src.clone(),
            date,
            out: out.clone(),
            zip: None,
        });
        let source = read_column(&src).unwrap();
        let midnight = crate::dates::days_from_civil(date.0 as i64, date.1, date.2) * D;
        match source.data {
            ColumnData::Timespan(ref v) => {
                let (_, bytes) = one(r.unwrap());
                let got = timestamps(&out);
                assert_eq!(got.len(), v.len());
                assert!(got.iter().zip(v).all(|(g, s)| *g == midnight + s), "{rel}");
                // Same header form and header count as the source (kdb+ 4.x `fe 20`).
                let real = std::fs::read(&src).unwrap();
                assert_eq!(bytes.len(), real.len(), "{rel}");
                assert_eq!(&bytes[..2], &real[..2], "{rel}");
                assert_eq!(&bytes[2..4], &[T_TIMESTAMP, real[3]], "{rel}");
                assert_eq!(&bytes[4..16], &real[4..16], "{rel}: header count");
            }
            ColumnData::Datetime(ref v) => match r {
                Ok(p) => {
                    let _ = one(p);
                    let got = timestamps(&out);
                    for (g, z) in got.iter().zip(v) {
                        // Same instant as the datetime, to the millisecond q prints.
                        assert_eq!(*g / 1_000_000, (z * 86_400_000.0).round() as i64, "{rel}");
                    }
                }
                // Flights depart on the partition's day or not: either is the right answer
                // as long as a refusal names a row on another day.
                Err(e) => {
                    assert!(matches!(e, ProduceError::DeriveOffDay { .. }), "{e}");
                    assert!(e.to_string().contains("another day"), "{e}");
                }
            },
            other => panic!("{rel}: {other:?}"),
        }
    }
}

#[test]
fn hostile_sources_give_typed_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let good = vector_bytes(
        T_TIMESPAN,
        Attr::None,
        &le(&[1i64, 2, 3], i64::to_le_bytes),
        HeaderCount::Set,
    )
    .unwrap();
    let mut huge = good.clone();
    huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut badattr = good.clone();
    badattr[3] = 9;
    let zipped = zip::compress(&good, ZipParams::new(ALG_GZIP, 6)).unwrap();
    let mut zbad = zipped.clone();
    zbad[12] ^= 0xff;
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("empty", vec![], true),
        ("cut-header", good[..10].to_vec(), true),
        ("cut-value", good[..good.len() - 3].to_vec(), true),
        ("huge-count", huge, true),
        ("bad-attr", badattr, true),
        ("garbage", vec![0x30; 64], true),
        ("zip-block", zbad, true),
        ("zip-cut", zipped[..zipped.len() - 5].to_vec(), true),
        ("encrypted", b"kxzippEd\0\0\0\0\0\0\0\0".to_vec(), false),
    ];
    for (name, bytes, corrupt) in cases {
        let src = dir.path().join(name);
        std::fs::write(&src, &bytes).unwrap();
        let out = dir.path().join(format!("o-{name}"));
        let e = derive(&src, &out, None).unwrap_err();
        assert_eq!(e.is_corrupt(), corrupt, "{name}: {e}");
        assert!(e.to_string().contains(name), "{name}: {e}");
        assert!(!out.exists(), "{name}");
    }
    // A missing source is an i/o error, neither corrupt nor unsupported.
    let e = derive(&dir.path().join("absent"), &dir.path().join("o"), None).unwrap_err();
    assert!(!e.is_corrupt() && !e.is_unsupported(), "{e}");
}

#[test]
fn an_output_that_is_an_input_is_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let v = le(&[1i64], i64::to_le_bytes);
    let src = write_vec(
        dir.path(),
        "time",
        T_TIMESPAN,
        Attr::None,
        &v,
        HeaderCount::Set,
    );
    let before = std::fs::read(&src).unwrap();
    let e = derive(&src, &src, None).unwrap_err();
    assert!(matches!(e, ProduceError::Invalid { .. }), "{e}");
    assert_eq!(std::fs::read(&src).unwrap(), before, "source untouched");
    std::os::unix::fs::symlink(&src, dir.path().join("link")).unwrap();
    assert!(derive(&src, &dir.path().join("link"), None).is_err());
    assert_eq!(std::fs::read(&src).unwrap(), before, "source untouched");
}

/// The streaming sink, given a real compressed file's image and parameters, writes the real
/// file byte for byte: gzip level 9 with 64 KiB blocks and stored blocks (torq-crypto-gzip,
/// kdb+ 3.x) and q IPC (advkdb-ipc). Every compressed layout a producer writes is this one.
#[test]
fn sink_writes_real_compressed_files_byte_for_byte() {
    let Some(fx) = fixtures() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for d in [
        "torq-crypto-gzip/2019.08.29/zb",
        "torq-crypto-gzip/2019.08.29/okex",
    ] {
        for e in std::fs::read_dir(fx.join(d)).unwrap() {
            files.push(e.unwrap().path());
        }
    }
    for f in ["price", "qty"] {
        files.push(fx.join("advkdb-ipc/2019.03.17/Trade").join(f));
    }
    let mut checked = 0;
    for f in files {
        let real = std::fs::read(&f).unwrap();
        if !real.starts_with(zip::ZIP_MAGIC) {
            continue;
        }
        let u = crate::kdb::zip::tests::unzip(&real);
        let params = ZipParams {
            algorithm: u.algorithm,
            level: u.level,
            block_log2: u.block_size.trailing_zeros() as u8,
        };
        let out = dir.path().join("copy");
        let mut sink = sink::Sink::create(&out, Some(params)).unwrap();
        for c in u.image.chunks(10_007) {
            sink.write(c).unwrap();
        }
        let p = sink.finish().unwrap();
        let ours = std::fs::read(&out).unwrap();
        assert_eq!(ours, real, "{}", f.display());
        assert_eq!((p.size, p.sha256), (real.len() as u64, sha_hex(&real)));
        checked += 1;
    }
    assert!(checked >= 10, "{checked}");
}

/// Mutated sources (byte flips anywhere, including the header's type, attribute and count, and
/// truncation) never make a producer panic or leave a file behind on failure; corrupt and
/// unsupported stay apart (never both).
mod hostile {
    use super::*;
    use std::sync::Arc;

    fn sources() -> Vec<Vec<u8>> {
        let ts = le(&[1i64, 2, 3, 4, 5, 6, 7, 8], i64::to_le_bytes);
        let plain = vector_bytes(T_TIMESPAN, Attr::Sorted, &ts, HeaderCount::Set).unwrap();
        let zipped = zip::compress(&plain, ZipParams::new(ALG_GZIP, 6)).unwrap();
        let en =
            write::enum_bytes("sym_X", Attr::Parted, &[0, 0, 1, 2, 2], HeaderCount::Set).unwrap();
        let sym = write::symbols_bytes(&["a", "b", "c"], HeaderCount::Zero).unwrap();
        vec![plain, zipped, en, sym]
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(200))]
        #[test]
        fn producers_survive_mutated_sources(
            which in 0usize..4,
            flips in proptest::collection::vec((0usize..5000, proptest::num::u8::ANY), 0..6),
            cut in proptest::option::of(0usize..5000),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut b = sources().swap_remove(which);
            for (at, x) in flips {
                if !b.is_empty() {
                    let i = at % b.len();
                    b[i] ^= x;
                }
            }
            if let Some(c) = cut {
                b.truncate(c.min(b.len()));
            }
            let src = dir.path().join("src");
            std::fs::write(&src, &b).unwrap();
            let out = dir.path().join("out");
            let jobs = [
                Job::DerivedTimestamp { source: src.clone(), date: (2024, 1, 2), out: out.clone(), zip: None },
                Job::DerivedTimestamp { source: src.clone(), date: (2024, 1, 2), out: out.clone(), zip: Some(ZipParams::new(ALG_QIPC, 0)) },
                Job::Reenumerate { column: src.clone(), remap: Arc::new(vec![5, 6, 7]), domain: "sym".into(), out: out.clone(), zip: None },
                Job::SymAppend { sym: src.clone(), append: vec!["z".into()], out: out.clone() },
            ];
            for job in &jobs {
                match produce(job) {
                    Ok(p) => { let _ = one(p); }
                    Err(e) => {
                        proptest::prop_assert!(!(e.is_corrupt() && e.is_unsupported()), "{e}");
                        proptest::prop_assert!(!out.exists(), "{}: {e}", job.kind());
                    }
                }
                let _ = std::fs::remove_file(&out);
            }
        }
    }
}
