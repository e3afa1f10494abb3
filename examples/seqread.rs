//! Benchmark reader for `scripts/bench-view.sh`: reads every file named in LIST (one path per
//! line, relative to ROOT) from start to end, in list order, as a column reader would: `read(2)`
//! with a 1 MiB buffer, or with `--mmap` a read-only shared mapping summed word by word (kdb+
//! maps columns). Prints files, bytes, seconds and MB/s.

use std::io::Read;
use std::path::Path;
use std::time::Instant;

fn read_all(path: &Path, buf: &mut [u8]) -> std::io::Result<(u64, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut n = 0u64;
    let mut sum = 0u64;
    loop {
        let k = f.read(buf)?;
        if k == 0 {
            return Ok((n, sum));
        }
        sum = sum.wrapping_add(buf[k - 1] as u64);
        n += k as u64;
    }
}

fn map_all(path: &Path) -> std::io::Result<(u64, u64)> {
    let f = std::fs::File::open(path)?;
    let len = f.metadata()?.len() as usize;
    if len == 0 {
        return Ok((0, 0));
    }
    // SAFETY: a fresh read-only shared mapping of a file we opened; unmapped below, and the
    // slice does not outlive it. Nothing writes these files while the benchmark runs.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            std::os::fd::AsRawFd::as_raw_fd(&f),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `ptr` maps `len` readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(ptr as *const u8, len) };
    let sum = bytes
        .chunks(8)
        .map(|c| {
            c.iter()
                .fold(0u64, |a, &b| a.wrapping_mul(31).wrapping_add(b as u64))
        })
        .fold(0u64, |a, b| a ^ b);
    // SAFETY: unmapping exactly what we mapped.
    unsafe { libc::munmap(ptr, len) };
    Ok((len as u64, sum))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mmap = args.iter().any(|a| a == "--mmap");
    let pos: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let [root, list] = pos.as_slice() else {
        eprintln!("usage: seqread [--mmap] ROOT LIST");
        std::process::exit(2);
    };
    let names = match std::fs::read_to_string(list) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("seqread: {list}: {e}");
            std::process::exit(1);
        }
    };
    let root = Path::new(root.as_str());
    let mut buf = vec![0u8; 1 << 20];
    let (mut files, mut bytes, mut sum) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    for name in names.lines().filter(|l| !l.is_empty()) {
        let path = root.join(name);
        let got = if mmap {
            map_all(&path)
        } else {
            read_all(&path, &mut buf)
        };
        match got {
            Ok((n, s)) => {
                files += 1;
                bytes += n;
                sum ^= s;
            }
            Err(e) => {
                eprintln!("seqread: {}: {e}", path.display());
                std::process::exit(1);
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{files} files {bytes} bytes {secs:.4} s {:.1} MB/s (check {sum:x})",
        bytes as f64 / secs / 1e6
    );
}
