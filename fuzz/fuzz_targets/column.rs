//! A column file with its `col#` and `col##` (input: the three joined by `SEP`), read as
//! check, verify and mount read it: the header, then the whole-column decode (verify, object
//! tiers) and the chunked deep decode (`check --deep`, 256-byte chunks so every column spans
//! many), plus the companion readers the inventory calls. Beyond "no panic, no unbacked
//! allocation, every error names its file and offset", the two decodes must agree, as
//! src/kdb/chunked.rs promises: the same rows, the same header, and on damage both fail with
//! the same verdict (corrupt, or a variant not read).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smstage::kdb::{self, chunked::ColumnChunks, MemSource};
use smstage::kdb::{KdbError, ReadAt};
use smstage_fuzz::{check, split};

fuzz_target!(|data: &[u8]| {
    let files = split(data);
    let open = |p: &str| -> Result<Box<dyn ReadAt>, KdbError> { smstage_fuzz::open(&files, p) };
    let (name, bytes) = &files[0];
    let src = MemSource::new(name.as_str(), *bytes);

    check(&kdb::read_header_from(&src), &files);
    for (n, b) in &files {
        let s = MemSource::new(n.as_str(), *b);
        check(&kdb::header::nested_item_type_from(&s), &files);
        check(&kdb::compound::data_header(&s, kdb::T_FLOAT), &files);
    }

    let whole = kdb::read_column_from(&src, &open);
    check(&whole, &files);
    if let Ok(c) = &whole {
        // Rendering decoded values must not panic either.
        for i in 0..c.data.len().min(2000) {
            let _ = c.data.fmt_value(i);
        }
    }

    let mut rows = Vec::new();
    let chunked = ColumnChunks::open(&src, &open, 256).and_then(|mut c| {
        while let Some(d) = c.next_rows(usize::MAX)? {
            assert!(!d.is_empty(), "an empty chunk");
            rows.push(d);
        }
        Ok(c.header().clone())
    });
    check(&chunked, &files);

    match (&whole, &chunked) {
        (Ok(w), Ok(h)) => {
            assert_eq!(
                h, &w.header,
                "chunked header differs from the whole decode's"
            );
            let mut at = 0;
            for d in &rows {
                let want = kdb::chunked::slice_rows(&w.data, at..at + d.len());
                // NaN (a null float) is not equal to itself: compare how they print.
                if d != &want {
                    assert_eq!(format!("{d:?}"), format!("{want:?}"), "rows {at}..");
                }
                at += d.len();
            }
            assert_eq!(at, w.data.len(), "chunked rows != whole rows");
        }
        // Two damaged files (the column and `col#`): the whole decode reads the column's
        // every block before opening `col#`, the chunked one opens `col#` first; each reports
        // a true fault, so the verdict is compared only about one file.
        (Err(w), Err(c)) if w.path() == c.path() => assert_eq!(
            w.is_corrupt(),
            c.is_corrupt(),
            "verdicts differ: whole {w} / chunked {c}"
        ),
        (Err(_), Err(_)) => {}
        (Ok(_), Err(c)) => panic!("whole decode reads it, chunked fails: {c}"),
        (Err(w), Ok(_)) => panic!("chunked decode reads it, whole fails: {w}"),
    }
});
