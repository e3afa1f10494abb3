//! Fuzzing the kdb+ reader (header reads and deep decodes, through `MemSource`) with
//! arbitrary bytes and with mutated copies of real files from ../shared/fixtures/real: bit
//! flips, truncations, count fields set to huge values. Nothing may panic, no allocation may
//! be sized from a claim instead of the bytes present (the capped allocator below aborts the
//! test on one), and every error names its file and a byte offset.
//!
//! Bounded for CI: `READER_FUZZ_CASES` (default 160 per property) sets the case count.

use proptest::prelude::*;
use smstage::kdb::{self, KdbError, MemSource, ReadAt};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

/// No single allocation may pass this: the inputs are at most a few hundred KiB, so anything
/// bigger was sized from a count the bytes do not back (a header claiming 2^60 items).
const ALLOC_CAP: usize = 64 << 20;

struct Capped;

// SAFETY: forwards to the system allocator; refusing (null) a request is allowed by the
// GlobalAlloc contract and makes the runtime abort, which fails the test.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if l.size() > ALLOC_CAP {
            return std::ptr::null_mut();
        }
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if l.size() > ALLOC_CAP {
            return std::ptr::null_mut();
        }
        System.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > ALLOC_CAP {
            return std::ptr::null_mut();
        }
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static ALLOC: Capped = Capped;

/// Real files, each with its companions (`#`, `##`): every kind the reader knows.
const SEEDS: &[&[&str]] = &[
    &["advkdb-ipc/2019.03.17/Trade/price"],
    &["advkdb-ipc/2019.03.17/Trade/sym"],
    &["advkdb-ipc/2019.03.17/Trade/time"],
    &["advkdb-ipc/2019.03.17/Trade/.d"],
    &[
        "torq-crypto-gzip/2019.08.29/zb/bid",
        "torq-crypto-gzip/2019.08.29/zb/bid#",
    ],
    &[
        "sewio-nested-sym/AXSTATE/parents",
        "sewio-nested-sym/AXSTATE/parents#",
        "sewio-nested-sym/AXSTATE/parents##",
    ],
    &[
        "sewio-nested-sym/AXSTATE/content",
        "sewio-nested-sym/AXSTATE/content#",
    ],
    &["sewio-nested-sym/AXSTATE/objID"],
    &["sewio-nested-sym/AXSTATE_VERSION"],
    &["sewio-nested-sym/AXSTATE_UX_ACCESSTIME"],
    &["torq-gateway-empty/2022.01.03/packets/data"],
    &["torq-gateway-empty/2022.01.03/packets/src"],
    &[
        "dolphindb-sample/intArrayVector/d",
        "dolphindb-sample/intArrayVector/d#",
    ],
    &[
        "dolphindb-sample/compressCharArrayVector/nestChar",
        "dolphindb-sample/compressCharArrayVector/nestChar#",
    ],
    &["dolphindb-sample/2022.06.17/Daily/close"],
    &["dolphindb-sample/2022.06.17/Daily/sym"],
    &["dolphindb-sample/sym_ORD"],
    &["torq-air/2020.11.14/flights/sym"],
    &[
        "torq-monthly/2000.01/xmonthly/id",
        "torq-monthly/2000.01/xmonthly/id#",
    ],
    // Anymap items: empty general lists (fb 00 4d), small and large float lists; asks carry
    // the s# attribute byte on every item.
    &[
        "bitmex-nested/2022.03.25/bitmexbook/bids",
        "bitmex-nested/2022.03.25/bitmexbook/bids#",
    ],
    &[
        "bitmex-nested/2022.03.25/bitmexbook/asks",
        "bitmex-nested/2022.03.25/bitmexbook/asks#",
    ],
    &["bitmex-nested/2022.03.25/bitmexbook/time"],
    &["bitmex-nested/sym"],
];

/// A column file and its companions: (name, bytes), the column first.
type Group = Vec<(String, Vec<u8>)>;

/// The seed files' bytes by name (empty when the fixtures are absent).
fn seeds() -> &'static Vec<Group> {
    static S: OnceLock<Vec<Group>> = OnceLock::new();
    S.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/real");
        if !root.is_dir() {
            eprintln!("WARNING: fixtures not found -- mutation fuzzing runs on no seeds");
            return Vec::new();
        }
        SEEDS
            .iter()
            .map(|group| {
                group
                    .iter()
                    .map(|rel| {
                        let b =
                            std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
                        (rel.to_string(), b)
                    })
                    .collect()
            })
            .collect()
    })
}

/// Every error must name one of the files in play and a byte offset.
fn check_err(e: &KdbError, names: &[String]) -> Result<(), TestCaseError> {
    let msg = e.to_string();
    prop_assert!(
        names.iter().any(|n| n == e.path()),
        "error names {} not one of {names:?}: {msg}",
        e.path()
    );
    prop_assert!(msg.starts_with(e.path()), "{msg}");
    prop_assert!(msg.contains("offset"), "no offset in: {msg}");
    prop_assert!(msg.contains(&e.offset().to_string()), "{msg}");
    Ok(())
}

/// Every read the reader offers, over `files` (the first is the column, the others its
/// companions, opened by name).
fn read_everything(files: &[(String, Vec<u8>)]) -> Result<(), TestCaseError> {
    let names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    let by_name: BTreeMap<&str, &[u8]> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let open = |p: &str| -> Result<Box<dyn ReadAt>, KdbError> {
        match by_name.get(p) {
            Some(b) => Ok(Box::new(MemSource::new(p, b.to_vec()))),
            None => Err(KdbError::io(
                p,
                std::io::Error::new(std::io::ErrorKind::NotFound, "absent"),
            )),
        }
    };
    let (name, bytes) = &files[0];
    let src = MemSource::new(name.as_str(), bytes.as_slice());
    let header = kdb::read_header_from(&src);
    if let Err(e) = &header {
        check_err(e, &names)?;
    }
    match kdb::read_column_from(&src, &open) {
        Ok(c) => {
            // Rendering every decoded value must not panic either.
            for i in 0..c.data.len().min(5000) {
                let _ = c.data.fmt_value(i);
            }
        }
        Err(e) => check_err(&e, &names)?,
    }
    for (n, b) in files {
        let s = MemSource::new(n.as_str(), b.as_slice());
        for r in [
            kdb::header::nested_item_type_from(&s).map(|_| ()),
            kdb::compound::data_header(&s, kdb::T_FLOAT).map(|_| ()),
            kdb::symbols::read_symbols_from(&s).map(|_| ()),
        ] {
            if let Err(e) = r {
                check_err(&e, &names)?;
            }
        }
    }
    Ok(())
}

/// A way to damage one file.
#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: usize,
        bit: u8,
    },
    Truncate {
        keep: usize,
    },
    /// Write a 64-bit value (a count, a length, an offset) at an offset.
    Put64 {
        at: usize,
        value: u64,
    },
    Put32 {
        at: usize,
        value: u32,
    },
}

fn apply(b: &mut Vec<u8>, m: &Mutation) {
    let n = b.len();
    if n == 0 {
        return;
    }
    match *m {
        Mutation::Flip { at, bit } => b[at % n] ^= 1 << (bit % 8),
        Mutation::Truncate { keep } => b.truncate(keep % n),
        Mutation::Put64 { at, value } => {
            let at = at % n;
            let end = (at + 8).min(n);
            b[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
        }
        Mutation::Put32 { at, value } => {
            let at = at % n;
            let end = (at + 4).min(n);
            b[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
        }
    }
}

/// Offsets of fields worth hitting with huge values: header counts, the kxzipped trailer's
/// fields (counted from the end), nested item headers.
fn hot_offset() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(2usize),
        Just(4),
        Just(8),
        Just(16),
        Just(4082),
        Just(4088),
        Just(4096),
        Just(4104),
        0usize..200_000,
    ]
}

fn huge() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(1u64 << 60),
        Just(u64::MAX),
        Just(i64::MAX as u64),
        Just(1u64 << 31),
        Just(0),
        any::<u64>(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        any::<usize>().prop_map(|keep| Mutation::Truncate { keep }),
        (hot_offset(), huge()).prop_map(|(at, value)| Mutation::Put64 { at, value }),
        (hot_offset(), any::<u32>()).prop_map(|(at, value)| Mutation::Put32 { at, value }),
    ]
}

/// Trailer fields of a kxzipped file, from its end: the count, the block table, the fixed
/// part (version, algorithm, lengths, offset, block size).
fn trailer_mutation(len: usize, blocks: usize, pick: usize, value: u64) -> Mutation {
    let fixed = len.saturating_sub(8 + 8 * blocks + 32);
    let spots = [
        len.saturating_sub(8),
        fixed,
        fixed + 8,
        fixed + 16,
        fixed + 24,
        fixed + 32,
        fixed + 36,
    ];
    Mutation::Put64 {
        at: spots[pick % spots.len()],
        value,
    }
}

fn cases() -> u32 {
    std::env::var("READER_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(160)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Arbitrary bytes, alone and behind each kind's magic.
    #[test]
    fn arbitrary_bytes(
        magic in prop_oneof![
            Just(Vec::new()),
            Just(vec![0xff, 0x01]),
            Just(vec![0xfe, 0x20]),
            Just(b"kxzipped".to_vec()),
            Just({ let mut v = vec![0u8; 4080]; v[0] = 0xfd; v[1] = 0x20; v.push(0xfd); v }),
        ],
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        data in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut b = magic;
        b.extend_from_slice(&body);
        read_everything(&[
            ("f".to_string(), b),
            ("f#".to_string(), data.clone()),
            ("f##".to_string(), data),
        ])?;
    }

    /// Real files with one or two mutations, in the column file or a companion.
    #[test]
    fn mutated_real_files(
        seed in any::<prop::sample::Index>(),
        which in any::<prop::sample::Index>(),
        muts in proptest::collection::vec(mutation(), 1..3),
    ) {
        let seeds = seeds();
        if seeds.is_empty() {
            return Ok(());
        }
        let mut files = seeds[seed.index(seeds.len())].clone();
        let k = which.index(files.len());
        for m in &muts {
            apply(&mut files[k].1, m);
        }
        read_everything(&files)?;
    }

    /// Huge values in the trailer fields of real compressed files.
    #[test]
    fn mutated_trailers(
        seed in any::<prop::sample::Index>(),
        pick in any::<usize>(),
        value in huge(),
    ) {
        let seeds = seeds();
        let zipped: Vec<&Group> = seeds
            .iter()
            .filter(|g| g[0].1.starts_with(b"kxzipped"))
            .collect();
        if zipped.is_empty() {
            return Ok(());
        }
        let mut files = zipped[seed.index(zipped.len())].clone();
        let b = &files[0].1;
        let n = u64::from_le_bytes(b[b.len() - 8..].try_into().unwrap_or([0; 8])) as usize;
        let m = trailer_mutation(b.len(), n.min(b.len() / 8), pick, value);
        apply(&mut files[0].1, &m);
        read_everything(&files)?;
    }
}

/// The count field of every seed set to 2^60 (and the nested item count of the large items):
/// each read fails, names the file and an offset, and allocates nothing near that size.
#[test]
fn huge_counts_fail_before_allocating() {
    for group in seeds() {
        for (k, (name, bytes)) in group.iter().enumerate() {
            for at in [8usize, 16, 4088, 4096 + 8, 4096 + 16 + 8] {
                if at + 8 > bytes.len() {
                    continue;
                }
                let mut files = group.clone();
                files[k].1[at..at + 8].copy_from_slice(&(1u64 << 60).to_le_bytes());
                read_everything(&files).unwrap_or_else(|e| panic!("{name} @{at}: {e}"));
            }
        }
    }
    // A kxzipped trailer claiming 2^60 bytes in one block of 2^60.
    let mut z = b"kxzipped".to_vec();
    z.extend_from_slice(&[0x78, 0x9c, 3, 0, 0, 0, 0, 1]);
    let t = z.len() as i64;
    z.extend_from_slice(&3i32.to_le_bytes());
    z.extend_from_slice(&[2, 6, 0, 0]);
    z.extend_from_slice(&(1i64 << 60).to_le_bytes());
    z.extend_from_slice(&t.to_le_bytes());
    z.extend_from_slice(&(1i64 << 60).to_le_bytes());
    z.extend_from_slice(&8i32.to_le_bytes());
    z.extend_from_slice(&2i32.to_le_bytes());
    z.extend_from_slice(&1i64.to_le_bytes());
    let e = kdb::read_header_from(&MemSource::new("z", z.clone())).unwrap_err();
    assert!(e.to_string().contains("offset"), "{e}");
    read_everything(&[("z".to_string(), z)]).unwrap();
}
