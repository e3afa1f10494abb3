//! Benchmark baseline for `scripts/bench-check.sh`: a plain walk of a database that opens every
//! file and reads its first 4 KiB, nothing else. `--parallel` splits the walk by top-level
//! directory over smstage's I/O pool (`smstage::io_pool`), as `smstage check` does with partitions.

use rayon::prelude::*;
use std::io::Read;
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

fn walk(dir: &Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    let mut buf = [0u8; 4096];
    for e in WalkDir::new(dir).follow_links(false).into_iter().flatten() {
        if e.file_type().is_file() {
            if let Ok(mut f) = std::fs::File::open(e.path()) {
                let n = f.read(&mut buf).unwrap_or(0);
                files += 1;
                bytes += n as u64;
            }
        }
    }
    (files, bytes)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let parallel = args.iter().any(|a| a == "--parallel");
    let Some(root) = args.iter().skip(1).find(|a| !a.starts_with("--")) else {
        eprintln!("usage: walk4k [--parallel] DIR");
        std::process::exit(2);
    };
    let root = PathBuf::from(root);
    let (files, bytes) = if parallel {
        let tops: Vec<PathBuf> = std::fs::read_dir(&root)
            .expect("readable root")
            .flatten()
            .map(|e| e.path())
            .collect();
        // The same pool (and so the same I/O concurrency) as `smstage check`'s inventory.
        smstage::io_pool::install(|| {
            tops.par_iter()
                .map(|p| walk(p))
                .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
        })
    } else {
        walk(&root)
    };
    println!("{files} files, {bytes} header bytes");
}
