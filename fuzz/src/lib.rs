//! What every fuzz target shares: the capped allocator, the split of one input into a column
//! file and its companions, and the checks every reader error must pass. The invariants are
//! those of tests/reader_fuzz.rs (docs/fuzzing.md lists them).

use smstage::kdb::{KdbError, MemSource, ReadAt};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;

/// No single allocation may pass this. Inputs are at most `-max_len` (512 KiB in
/// scripts/fuzz.sh), so anything bigger was sized from a count the bytes do not back.
pub const ALLOC_CAP: usize = 64 << 20;

pub struct Capped;

/// Said before aborting, so the crash log tells an over-cap allocation from other aborts
/// (written with `write_all` on unbuffered stderr: no allocation while refusing one).
fn refuse() -> ! {
    let _ = std::io::stderr().write_all(
        b"smstage-fuzz: allocation over ALLOC_CAP (64 MiB): sized from an unbacked count\n",
    );
    std::process::abort()
}

// SAFETY: forwards to the system allocator; a request over the cap never returns.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if l.size() > ALLOC_CAP {
            refuse();
        }
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if l.size() > ALLOC_CAP {
            refuse();
        }
        System.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > ALLOC_CAP {
            refuse();
        }
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static ALLOC: Capped = Capped;

/// Separates the files of one input: `column SEP col# SEP col##`. A marker rather than
/// length prefixes, so that libFuzzer's byte mutations keep the split (the marker is in
/// fuzz/dict/kdb.dict) and seeds stay readable.
pub const SEP: &[u8] = b"%%smstage-fuzz-file%%";

/// The names the pieces of an input get, in order: a column, its data file, its domain file.
pub const NAMES: [&str; 3] = [
    "db/2024.01.02/t/c",
    "db/2024.01.02/t/c#",
    "db/2024.01.02/t/c##",
];

/// Splits `data` at [`SEP`] into at most three named files (a fourth piece stays in the third).
pub fn split(data: &[u8]) -> Vec<(String, &[u8])> {
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() < NAMES.len() - 1 {
        match find(rest, SEP) {
            Some(i) => {
                out.push((NAMES[out.len()].to_string(), &rest[..i]));
                rest = &rest[i + SEP.len()..];
            }
            None => break,
        }
    }
    out.push((NAMES[out.len()].to_string(), rest));
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Joins files as [`split`] reads them (the seed builder's inverse).
pub fn join(files: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(SEP);
        }
        out.extend_from_slice(f);
    }
    out
}

/// Opens a companion by name, as check/verify/mount do through their opener: a name not
/// present is `NotFound`, which the readers turn into their own error. Call it from a closure
/// written at the call site (`|p: &str| -> Result<Box<dyn ReadAt>, KdbError> { open(&files,
/// p) }`), whose return type the reader's `Opener` then fixes.
pub fn open<'a>(
    files: &'a [(String, &'a [u8])],
    p: &str,
) -> Result<Box<dyn ReadAt + 'a>, KdbError> {
    match files.iter().find(|(n, _)| n == p) {
        Some((n, b)) => Ok(Box::new(MemSource::new(n.as_str(), *b))),
        None => Err(KdbError::io(
            p,
            std::io::Error::new(std::io::ErrorKind::NotFound, "absent"),
        )),
    }
}

/// Every error must name one of the files in play and a byte offset (what, where); an
/// `Unsupported` must name the bytes it does not read, and for a file read as it is (not
/// `kxzipped`, whose offsets are in the uncompressed image) they must be the bytes found at
/// that offset.
pub fn check_err(e: &KdbError, files: &[(String, &[u8])]) {
    let msg = e.to_string();
    // A companion the input does not hold is still a file in play: its absence is reported.
    let file = files.iter().find(|(n, _)| n == e.path());
    assert!(
        file.is_some() || NAMES.contains(&e.path()),
        "error names {} (not a file in play): {msg}",
        e.path()
    );
    assert!(
        msg.starts_with(e.path()),
        "message does not start with the path: {msg}"
    );
    assert!(msg.contains("offset"), "no offset in: {msg}");
    assert!(
        msg.contains(&e.offset().to_string()),
        "offset {} not in: {msg}",
        e.offset()
    );
    if let KdbError::Unsupported { bytes, offset, .. } = e {
        assert!(!bytes.is_empty(), "unsupported names no bytes: {msg}");
        let b = file.map(|(_, b)| *b).unwrap_or(&[]);
        if !b.starts_with(b"kxzipped") {
            let at = (*offset as usize).min(b.len());
            let want = smstage::kdb::error::hex(&b[at..b.len().min(at + 16)]);
            assert!(
                want.starts_with(bytes.as_str()),
                "unsupported names bytes {bytes} but the file holds {want} at offset {offset}: {msg}"
            );
        }
    }
}

/// [`check_err`] on the error of `r`, if any.
pub fn check<T>(r: &Result<T, KdbError>, files: &[(String, &[u8])]) {
    if let Err(e) = r {
        check_err(e, files);
    }
}
