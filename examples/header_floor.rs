//! Benchmark floor for `scripts/bench-commit.sh`: the least work any command does that must,
//! before the first step of a commit, either read every file's header (`commit --config`, whose
//! checks prove each column's type and length) or stamp every entry (`commit --plan`, whose
//! fingerprint proves nothing changed since the plan was saved). No checks, no records, no
//! allocation per file beyond the name: just the system calls, on the same threads as smstage's.
//!
//! - `header_floor --headers DIR`: for every regular file below DIR, `openat` relative to its
//!   open parent + `fstat` + `pread` of 64 bytes + `close` (4 system calls: the stamp, then the
//!   header through the same descriptor, as `commit --config` must), every directory listed once.
//! - `header_floor --stamps DIR`: one `fstatat` per entry relative to its open parent, every
//!   directory listed once (the fingerprint walk of `commit --plan`).
//!
//! Split by top-level entry over smstage's I/O pool, as `check` splits by partition. Prints
//! `<files> files, <entries> entries`.

use rayon::prelude::*;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Headers,
    Stamps,
}

fn open_dir_at(dir: libc::c_int, name: &CStr) -> Option<OwnedFd> {
    // SAFETY: valid fd and NUL-terminated name; the descriptor is owned below.
    let fd = unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    // SAFETY: a fresh descriptor we own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Names and `d_type`s of the open directory: smstage's own listing (`getdents64` on the
/// descriptor), so the floor lists directories exactly as `check` and the fingerprint walk do.
fn list(dir: &OwnedFd) -> Vec<(CString, u8)> {
    smstage::dirents::list(dir.as_fd())
        .map(|v| v.into_iter().map(|e| (e.name, e.d_type)).collect())
        .unwrap_or_default()
}

/// Walks the open directory `dir`: returns (files, entries).
fn walk(dir: &OwnedFd, mode: Mode) -> (u64, u64) {
    list(dir)
        .iter()
        .map(|(name, ty)| visit(dir, name, *ty, mode))
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// One entry `name` (of type `ty`) of the open directory `dir`, and everything below it.
fn visit(dir: &OwnedFd, name: &CStr, ty: u8, mode: Mode) -> (u64, u64) {
    // SAFETY (every block below): valid descriptors and NUL-terminated names; each descriptor
    // opened here is closed exactly once.
    let stamp = || {
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        unsafe {
            libc::fstatat(
                dir.as_raw_fd(),
                name.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
    };
    if ty == libc::DT_DIR {
        if mode == Mode::Stamps {
            stamp();
        }
        let (files, entries) =
            open_dir_at(dir.as_raw_fd(), name).map_or((0, 0), |d| walk(&d, mode));
        return (files, entries + 1);
    }
    match mode {
        Mode::Stamps => stamp(),
        Mode::Headers if ty == libc::DT_REG => {
            let fd = unsafe {
                libc::openat(
                    dir.as_raw_fd(),
                    name.as_ptr(),
                    libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC,
                )
            };
            if fd >= 0 {
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                let mut buf = [0u8; 64];
                unsafe {
                    libc::fstat(fd, &mut st);
                    libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), 0);
                    libc::close(fd);
                }
            }
        }
        Mode::Headers => {}
    }
    (u64::from(ty == libc::DT_REG), 1)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = if args.iter().any(|a| a == "--stamps") {
        Mode::Stamps
    } else if args.iter().any(|a| a == "--headers") {
        Mode::Headers
    } else {
        eprintln!("usage: header_floor --headers|--stamps DIR");
        std::process::exit(2);
    };
    let Some(root) = args.iter().skip(1).find(|a| !a.starts_with("--")) else {
        eprintln!("usage: header_floor --headers|--stamps DIR");
        std::process::exit(2);
    };
    let root = PathBuf::from(root);
    let Ok(c) = CString::new(root.as_os_str().as_bytes()) else {
        eprintln!("header_floor: bad path");
        std::process::exit(2);
    };
    let Some(top) = open_dir_at(libc::AT_FDCWD, &c) else {
        eprintln!("header_floor: cannot open {}", root.display());
        std::process::exit(2);
    };
    let tops: Vec<(CString, u8)> = list(&top);
    let (files, entries) = smstage::io_pool::install(|| {
        tops.par_iter()
            .map(|(name, ty)| visit(&top, name, *ty, mode))
            .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    println!("{files} files, {entries} entries");
}
