//! Benchmark workload for `scripts/bench-view.sh`: what q does when it loads a database and
//! then runs queries over a date range, without q.
//!
//! Load (once, as `\l`): read `par.txt`, list the date partitions of every segment, take the
//! tables of the last partition and their columns from its `.d`. Query (PASSES times): for
//! every date in [FIRST, LAST], every table and every column, open the column file, `fstat`,
//! map it (`mmap` shared, read-only), close the descriptor and touch every page, as a
//! `select` faults them in; a nested column (its header says so) maps its `col#` too. q
//! resolves columns by name from the last partition's list and reads no `.d` per query. A
//! partition's maps are kept until the partition is done, as q keeps them for the query. The
//! first pass shows the cold cost when the caches were dropped before, the others the warm
//! re-runs. Prints: load seconds, then the seconds of each pass, then files and bytes mapped.
//!
//! Usage: qlike ROOT FIRST LAST PASSES   (dates as YYYY.MM.DD; `-` for no bound)

use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

struct Map {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in `map_file`.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// Maps a column file and touches every page; returns the mapping and a checksum byte sum.
fn map_file(path: &Path) -> std::io::Result<(Option<Map>, u64)> {
    let f = fs::File::open(path)?;
    let len = f.metadata()?.len() as usize;
    if len == 0 {
        return Ok((None, 0));
    }
    // SAFETY: a fresh read-only shared mapping of a file we opened; the slice below does not
    // outlive the `Map` that unmaps it, and nothing writes these files during the benchmark.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `ptr` maps `len` readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(ptr as *const u8, len) };
    let sum = bytes.iter().step_by(4096).map(|&b| b as u64).sum::<u64>() + bytes[len - 1] as u64;
    Ok((Some(Map { ptr, len }), sum))
}

/// Column names of a `.d` file (a serialized symbol list: 8-byte header, NUL-terminated names).
fn dotd(path: &Path) -> std::io::Result<Vec<String>> {
    let b = fs::read(path)?;
    Ok(b.get(8..)
        .unwrap_or(&[])
        .split(|&c| c == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect())
}

fn is_date(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 10
        && b[4] == b'.'
        && b[7] == b'.'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// Date partitions of the root (through `par.txt` when present), sorted by date.
fn partitions(root: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let segments: Vec<PathBuf> = match fs::read_to_string(root.join("par.txt")) {
        Ok(t) => t
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with("s3://"))
            .map(|l| root.join(l))
            .collect(),
        Err(_) => vec![root.to_path_buf()],
    };
    let mut parts = Vec::new();
    for s in segments {
        for e in fs::read_dir(&s)? {
            let name = e?.file_name().to_string_lossy().into_owned();
            if is_date(&name) {
                parts.push((name.clone(), s.join(&name)));
            }
        }
    }
    parts.sort();
    Ok(parts)
}

/// Whether a mapped column file is nested (its data in `col#`): a 4.x anymap column (`fd 20`,
/// inner header flag 1 type 77) or a 3.x compound one (`fe 20`, type 77 + item type).
fn is_nested(m: &Map) -> bool {
    // SAFETY: `m` maps `m.len` readable bytes.
    let b = unsafe { std::slice::from_raw_parts(m.ptr as *const u8, m.len) };
    (b.len() >= 4096 && b[0] == 0xfd && b[1] == 0x20 && b[4081] == 1 && b[4082] == 77)
        || (b.len() >= 16 && b[0] == 0xfe && b[1] == 0x20 && b[2] >= 77)
}

/// What `\l` learns once: the partitions, and the tables and columns of the last one.
struct Loaded {
    parts: Vec<(String, PathBuf)>,
    tables: Vec<(String, Vec<String>)>,
}

fn load(root: &Path) -> std::io::Result<Loaded> {
    let parts = partitions(root)?;
    let Some((_, newest)) = parts.last() else {
        return Err(std::io::Error::other("no date partitions"));
    };
    let mut names: Vec<String> = fs::read_dir(newest)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    let mut tables = Vec::new();
    for t in names {
        let cols = dotd(&newest.join(&t).join(".d"))?;
        tables.push((t, cols));
    }
    Ok(Loaded { parts, tables })
}

fn run(root: &Path, first: &str, last: &str, passes: usize) -> std::io::Result<()> {
    let start = Instant::now();
    let db = load(root)?;
    let load_s = start.elapsed().as_secs_f64();
    let mut times = Vec::new();
    let (mut files, mut bytes, mut sum) = (0u64, 0u64, 0u64);
    for pass in 0..passes {
        let start = Instant::now();
        for (date, dir) in &db.parts {
            if (first != "-" && date.as_str() < first) || (last != "-" && date.as_str() > last) {
                continue;
            }
            let mut maps = Vec::new();
            for (t, cols) in &db.tables {
                let tdir = dir.join(t);
                for c in cols {
                    let (m, s) = map_file(&tdir.join(c))?;
                    let mut mapped = vec![(m, s)];
                    if mapped[0].0.as_ref().is_some_and(is_nested) {
                        mapped.push(map_file(&tdir.join(format!("{c}#")))?);
                    }
                    for (m, s) in mapped {
                        if pass == 0 {
                            files += 1;
                            bytes += m.as_ref().map_or(0, |m| m.len as u64);
                        }
                        sum = sum.wrapping_add(s);
                        maps.push(m);
                    }
                }
            }
            drop(maps);
        }
        times.push(start.elapsed().as_secs_f64());
    }
    let shown: Vec<String> = times.iter().map(|t| format!("{t:.4}")).collect();
    println!(
        "{load_s:.4} {} files {files} bytes {bytes} sum {sum}",
        shown.join(" ")
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, first, last, passes] = args.as_slice() else {
        eprintln!("usage: qlike ROOT FIRST LAST PASSES");
        std::process::exit(2);
    };
    let Ok(passes) = passes.parse::<usize>() else {
        eprintln!("qlike: PASSES must be a number");
        std::process::exit(2);
    };
    if let Err(e) = run(Path::new(root), first, last, passes.max(1)) {
        eprintln!("qlike: {e}");
        std::process::exit(1);
    }
}
