//! `check --deep` holds a chunk of a column, not the column: the bytes allocated while one
//! large column is scanned are counted by a global allocator and bounded; the whole-column
//! decode (what `--deep` did before) is measured the same way and exceeds the bound.

use smstage::kdb::write::{enum_bytes, vector_bytes, HeaderCount};
use smstage::kdb::zip::{compress, ZipParams};
use smstage::kdb::{Attr, T_LONG};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Relaxed) + l.size();
            PEAK.fetch_max(now, Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Relaxed);
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Most bytes live at once while `f` runs, above what was live before it.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let r = f();
    (r, PEAK.load(Relaxed).saturating_sub(base))
}

const MIB: usize = 1 << 20;

// One test function: the counters are process-wide, so nothing else may run beside it.
#[test]
fn deep_scan_of_a_large_column_allocates_a_chunk_not_the_column() {
    let tmp = tempfile::tempdir().unwrap();
    let rows: usize = 8 << 20; // 64 MiB of values
    let vals: Vec<u8> = (0..rows as i64)
        .flat_map(|i| (i % 977).to_le_bytes())
        .collect();
    let long = vector_bytes(T_LONG, Attr::None, &vals, HeaderCount::Set).unwrap();
    let plain = tmp.path().join("size");
    std::fs::write(&plain, &long).unwrap();
    let zipped = tmp.path().join("size_zstd");
    std::fs::write(&zipped, compress(&long, ZipParams::new(5, 3)).unwrap()).unwrap();
    drop(long);
    // An enumeration, so the range counting runs chunk by chunk too: 500 symbols known.
    let idx: Vec<i64> = (0..rows as i64).map(|i| i % 977).collect();
    let e = enum_bytes("sym", Attr::None, &idx, HeaderCount::Set).unwrap();
    drop((vals, idx));
    let en = tmp.path().join("sym_col");
    std::fs::write(&en, &e).unwrap();
    drop(e);

    let chunk = MIB;
    for p in [&plain, &zipped, &en] {
        let (r, peak) = peak_during(|| smstage::check::deep_scan::scan_local(p, &|_| 500, chunk));
        let r = r.unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        // A chunk of raw values, its decoded copy, one logical block (128 KiB) and the
        // reader's small buffers.
        assert!(peak <= 3 * MIB, "{}: {peak} bytes at peak", p.display());
        if p == &en {
            let r = r.unwrap();
            assert_eq!(
                (r.beyond, r.max),
                (rows / 977 * 477 + (rows % 977).saturating_sub(500), 976)
            );
        }
        // The whole-column decode of the same file holds the column at least once.
        let (c, whole) = peak_during(|| smstage::kdb::read_column(p));
        assert_eq!(c.unwrap().data.len(), rows);
        assert!(
            whole >= 64 * MIB,
            "{}: whole decode peaked at {whole}",
            p.display()
        );
    }
}
