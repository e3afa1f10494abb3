//! Opening what smstage only reads without updating its access time (`O_NOATIME`).
//!
//! Under `relatime` (Linux's default mount option) the first read of a file or directory in a
//! day, or the first since it was modified, writes its access time: a dirty inode, a journal
//! block. A database whose files were last read yesterday had every one of them dirtied by
//! `check`'s header reads: at 1,125,001 files `check` took 6.0 s with access times three days
//! old and 4.0 s right after (docs/performance.md, issue #17), and the fingerprint walk dirtied
//! every directory it listed beside the commit's first steps. `check` promises to change
//! nothing; an access time is not a byte, but it is not ours to write either.
//!
//! The kernel allows `O_NOATIME` to the file's owner and to a caller with `CAP_FOWNER` only,
//! and refuses it (`EPERM`) to anyone else: the open is then made again without it, and the
//! flag is not asked for again in this process (one refused open at most, never an error).
//! `SMSTAGE_NOATIME=0` leaves the flag off (for `scripts/bench-check.sh`, which measures what
//! it saves).

use std::ffi::CStr;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

static REFUSED: AtomicBool = AtomicBool::new(false);
static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// `O_NOATIME`, or nothing once the kernel refused it in this process (or it is turned off).
pub fn flag() -> libc::c_int {
    let off = *OFF.get_or_init(|| std::env::var("SMSTAGE_NOATIME").as_deref() == Ok("0"));
    if off || REFUSED.load(Ordering::Relaxed) {
        0
    } else {
        libc::O_NOATIME
    }
}

/// Whether an open made with `flags` failed only for its `O_NOATIME` (then never asked again):
/// the caller opens again without it.
pub fn refused(flags: libc::c_int, err: &io::Error) -> bool {
    let refused = flags & libc::O_NOATIME != 0 && err.raw_os_error() == Some(libc::EPERM);
    if refused {
        REFUSED.store(true, Ordering::Relaxed);
    }
    refused
}

/// `openat(dir, name, flags | O_NOATIME | O_CLOEXEC)`, again without `O_NOATIME` if refused.
pub fn openat(dir: RawFd, name: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    let open = |f: libc::c_int| {
        // SAFETY: a NUL-terminated name; the descriptor returned is owned by the caller.
        let fd = unsafe { libc::openat(dir, name.as_ptr(), f | libc::O_CLOEXEC) };
        if fd < 0 {
            Err(io::Error::last_os_error())
        } else {
            // SAFETY: a fresh descriptor nobody else owns.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        }
    };
    let with = flags | flag();
    match open(with) {
        Err(e) if refused(with, &e) => open(flags),
        r => r,
    }
}

/// `path` opened for reading with `flags | O_NOATIME` (std adds `O_CLOEXEC`), again without
/// `O_NOATIME` if refused.
pub fn open(path: &std::path::Path, flags: libc::c_int) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let open = |f| {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(f)
            .open(path)
    };
    let with = flags | flag();
    match open(with) {
        Err(e) if refused(with, &e) => open(flags),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn atime_ns(p: &std::path::Path) -> i64 {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(p).unwrap();
        m.atime() * 1_000_000_000 + m.atime_nsec()
    }

    /// A read through a descriptor opened here leaves the access time as it was, where a plain
    /// open's read would write it (relatime: the access time is older than the modification).
    #[test]
    fn a_file_read_through_openat_keeps_its_access_time() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("col");
        std::fs::write(&f, b"0123456789").unwrap();
        let old = std::fs::FileTimes::new()
            .set_accessed(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1));
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_times(old)
            .unwrap();
        let before = atime_ns(&f);
        let dir = std::fs::File::open(t.path()).unwrap();
        let fd = openat(dir.as_raw_fd(), c"col", libc::O_RDONLY).unwrap();
        let mut buf = [0u8; 4];
        use std::os::unix::fs::FileExt;
        std::fs::File::from(fd).read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"0123");
        assert_eq!(atime_ns(&f), before, "O_NOATIME was not honoured");
        // A refusal is told apart from any other error, and only for a flag that asked for it.
        let eperm = io::Error::from_raw_os_error(libc::EPERM);
        assert!(!refused(libc::O_RDONLY, &eperm));
        assert!(!refused(
            libc::O_NOATIME,
            &io::Error::from_raw_os_error(libc::EACCES)
        ));
    }
}
