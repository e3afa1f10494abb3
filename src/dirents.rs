//! The entries of an open directory, read with `getdents64(2)` straight from its descriptor.
//!
//! `opendir`/`fdopendir` cost three `fcntl`s, a `dup` and a second `close` per directory on
//! top of the `getdents64` calls, and `std::fs::read_dir` (or `walkdir`) opens the directory
//! again by its full path: at a million files in 125,000 directories those were about a fifth
//! of the fingerprint walk's system calls (docs/performance.md, issue #17). The names come back
//! NUL-terminated, ready for `fstatat`/`openat` on the same descriptor without a copy.

use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// One entry: its name and the `d_type` the filesystem reported (`DT_UNKNOWN` where it
/// reports none: the caller must then `lstat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEnt {
    pub name: CString,
    pub d_type: u8,
}

impl DirEnt {
    pub fn name_bytes(&self) -> &[u8] {
        self.name.to_bytes()
    }
}

// One buffer per thread: the walks list 125,000 directories at a million files.
thread_local! {
    static BUF: RefCell<Vec<u8>> = RefCell::new(vec![0u8; 32 * 1024]);
}

/// Every entry of `dir` but `.` and `..`, in the order the filesystem lists them. Reads from the
/// descriptor's current position: pass a directory just opened (the walks do).
pub fn list(dir: BorrowedFd<'_>) -> io::Result<Vec<DirEnt>> {
    BUF.with(|b| {
        let mut buf = b.borrow_mut();
        let mut out = Vec::new();
        loop {
            // SAFETY: valid descriptor; the kernel writes at most buf.len() bytes into buf.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_getdents64,
                    dir.as_raw_fd(),
                    buf.as_mut_ptr(),
                    buf.len(),
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if n == 0 {
                return Ok(out);
            }
            parse(&buf[..n as usize], &mut out)?;
        }
    })
}

/// The `linux_dirent64` records of one `getdents64` result: `d_ino` (8 bytes), `d_off` (8),
/// `d_reclen` (2), `d_type` (1), then the NUL-terminated name, padded to `d_reclen`.
fn parse(mut recs: &[u8], out: &mut Vec<DirEnt>) -> io::Result<()> {
    let bad = || io::Error::other("getdents64 returned a malformed record");
    while !recs.is_empty() {
        let head = recs.get(..19).ok_or_else(bad)?;
        let reclen = usize::from(u16::from_ne_bytes([head[16], head[17]]));
        let rec = recs.get(..reclen).filter(|_| reclen > 19).ok_or_else(bad)?;
        let name = CStr::from_bytes_until_nul(&rec[19..]).map_err(|_| bad())?;
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            out.push(DirEnt {
                name: name.to_owned(),
                d_type: head[18],
            });
        }
        recs = &recs[reclen..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn lists_every_name_with_its_type_and_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("f"), b"x").unwrap();
        std::os::unix::fs::symlink("f", d.path().join("l")).unwrap();
        // Enough names to need several getdents64 calls through the 32 KiB buffer.
        for i in 0..3000 {
            std::fs::write(
                d.path().join(format!("many-{i:05}-{}", "x".repeat(20))),
                b"",
            )
            .unwrap();
        }
        let dir = std::fs::File::open(d.path()).unwrap();
        let mut got = list(dir.as_fd()).unwrap();
        got.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(got.len(), 3003);
        let kind = |n: &str| {
            got.iter()
                .find(|e| e.name_bytes() == n.as_bytes())
                .map(|e| e.d_type)
        };
        assert_eq!(kind("sub"), Some(libc::DT_DIR));
        assert_eq!(kind("f"), Some(libc::DT_REG));
        assert_eq!(kind("l"), Some(libc::DT_LNK));
        assert_eq!(kind("."), None);
        let mut want: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        want.sort();
        let names: Vec<String> = got
            .iter()
            .map(|e| String::from_utf8(e.name_bytes().to_vec()).unwrap())
            .collect();
        assert_eq!(names, want);
    }

    #[test]
    fn a_malformed_record_is_an_error_not_a_loop() {
        let mut out = Vec::new();
        // d_reclen 0 would never advance.
        let mut rec = vec![0u8; 24];
        rec[19] = b'a';
        assert!(parse(&rec, &mut out).is_err());
        // A name without its NUL.
        let mut rec = vec![b'a'; 24];
        rec[16..18].copy_from_slice(&24u16.to_ne_bytes());
        assert!(parse(&rec, &mut out).is_err());
        // A record longer than what was returned.
        let mut rec = vec![0u8; 24];
        rec[16..18].copy_from_slice(&64u16.to_ne_bytes());
        assert!(parse(&rec, &mut out).is_err());
        assert!(out.is_empty());
    }
}
