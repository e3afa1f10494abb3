//! `.d`, `sym` and sibling compression, against the real files that show them.

use std::path::Path;

use super::tests::{fixtures, one};
use super::*;
use crate::kdb::write::{symbols_bytes, HeaderCount};
use crate::kdb::*;

/// Names of a real symbol list, split on NUL independently of our reader.
fn names(b: &[u8]) -> Vec<String> {
    let body = &b[8..];
    let n = body.iter().filter(|&&c| c == 0).count();
    body.split(|&c| c == 0)
        .take(n)
        .map(|s| String::from_utf8(s.to_vec()).unwrap())
        .collect()
}

#[test]
fn dot_d_is_the_torq_air_layout() {
    let Some(fx) = fixtures() else { return };
    let dir = tempfile::tempdir().unwrap();
    for rel in [
        "torq-air/2020.11.14/flights/.d",
        "torq-gateway-empty/2022.01.03/packets/.d",
    ] {
        let real = std::fs::read(fx.join(rel)).unwrap();
        let out = dir.path().join("p/t/.d");
        let (_, ours) = one(produce(&Job::DotD {
            columns: names(&real),
            out: out.clone(),
        })
        .unwrap());
        assert_eq!(ours, real, "{rel}");
        assert_eq!(read_symbols(&out).unwrap(), names(&real));
    }
    for bad in [
        vec!["a".to_string(), "a".to_string()],
        vec!["x\0y".to_string()],
        vec![String::new()],
    ] {
        let e = produce(&Job::DotD {
            columns: bad.clone(),
            out: dir.path().join("bad.d"),
        })
        .unwrap_err();
        assert!(matches!(e, ProduceError::Invalid { .. }), "{bad:?}: {e}");
        assert!(!dir.path().join("bad.d").exists());
    }
}

#[test]
fn sym_append_copies_the_real_sym_and_appends() {
    let Some(fx) = fixtures() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sym = fx.join("torq-air/sym");
    let real = std::fs::read(&sym).unwrap();
    let old = read_symbols(&sym).unwrap();
    let out = dir.path().join("sym");
    let append = vec!["NEWSYM".to_string(), String::new(), "é".to_string()];
    let (_, ours) = one(produce(&Job::SymAppend {
        sym: sym.clone(),
        append: append.clone(),
        out: out.clone(),
    })
    .unwrap());
    assert_eq!(
        &ours[..real.len()],
        &real[..],
        "existing symbols byte for byte, count 0 kept"
    );
    assert_eq!(&ours[real.len()..], "NEWSYM\0\0é\0".as_bytes());
    let mut want = old.clone();
    want.extend(append);
    assert_eq!(read_symbols(&out).unwrap(), want);
    // Nothing to append: the file is the original.
    let (_, same) = one(produce(&Job::SymAppend {
        sym: sym.clone(),
        append: vec![],
        out: dir.path().join("sym2"),
    })
    .unwrap());
    assert_eq!(same, real);
    // A sym whose header count is kept grows by the symbols appended.
    let counted = dir.path().join("counted");
    std::fs::write(
        &counted,
        symbols_bytes(&["a", "b"], HeaderCount::Set).unwrap(),
    )
    .unwrap();
    let (_, grown) = one(produce(&Job::SymAppend {
        sym: counted,
        append: vec!["c".into()],
        out: dir.path().join("sym3"),
    })
    .unwrap());
    assert_eq!(
        grown,
        symbols_bytes(&["a", "b", "c"], HeaderCount::Set).unwrap()
    );
}

#[test]
fn sym_append_refuses_what_it_cannot_copy() {
    let dir = tempfile::tempdir().unwrap();
    let good = symbols_bytes(&["a", "b"], HeaderCount::Zero).unwrap();
    let zipped = zip::compress(&good, zip::ZipParams::new(zip::ALG_GZIP, 6)).unwrap();
    let cases: Vec<(&str, Vec<u8>, bool, bool)> = vec![
        // (name, bytes, corrupt, unsupported)
        ("cut", good[..good.len() - 1].to_vec(), true, false),
        ("short", good[..5].to_vec(), true, false),
        (
            "vector",
            write::vector_bytes(T_LONG, Attr::None, &[0; 8], HeaderCount::Set).unwrap(),
            true,
            false,
        ),
        ("zipped", zipped, false, true),
    ];
    for (name, bytes, corrupt, unsupported) in cases {
        let sym = dir.path().join(name);
        std::fs::write(&sym, &bytes).unwrap();
        let out = dir.path().join(format!("out-{name}"));
        let e = produce(&Job::SymAppend {
            sym,
            append: vec!["x".into()],
            out: out.clone(),
        })
        .unwrap_err();
        assert_eq!(
            (e.is_corrupt(), e.is_unsupported()),
            (corrupt, unsupported),
            "{name}: {e}"
        );
        assert!(e.to_string().contains(name), "{name}: {e}");
        assert!(!out.exists(), "{name}");
    }
    let e = produce(&Job::SymAppend {
        sym: dir.path().join("cut"),
        append: vec!["a\0".into()],
        out: dir.path().join("o"),
    })
    .unwrap_err();
    assert!(matches!(e, ProduceError::Invalid { .. }), "{e}");
}

#[test]
fn sibling_compression_reads_the_real_tables() {
    let Some(fx) = fixtures() else { return };
    let z = sibling_compression(&fx.join("torq-crypto-gzip/2019.08.29/zb")).unwrap();
    let z = z.expect("every zb column is gzip 9, 64 KiB blocks");
    assert_eq!((z.algorithm, z.level, z.block_log2), (zip::ALG_GZIP, 9, 16));
    let z = sibling_compression(&fx.join("dolphindb-sample/2022.06.17/Daily")).unwrap();
    // Its stray text file `binary` is not in `.d`, so not a sibling.
    assert_eq!(z.map(|z| z.algorithm), Some(zip::ALG_GZIP));
    assert_eq!(
        sibling_compression(&fx.join("torq-air/2020.11.14/flights")).unwrap(),
        None
    );
    // advkdb-ipc's Trade mixes q IPC files with plain ones: no single answer.
    assert_eq!(
        sibling_compression(&fx.join("advkdb-ipc/2019.03.17/Trade")).unwrap(),
        None
    );
    assert!(sibling_compression(Path::new("/nonexistent/table")).is_err());
}
