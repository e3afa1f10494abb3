//! Positional reads of whole byte ranges from a file, a buffer, or (later) an object store,
//! so header parsing never depends on where the bytes live.

use super::error::KdbError;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A random-access byte source. `read_at` fills the whole buffer or fails: a short read is
/// reported as truncation, never returned as partial data.
pub trait ReadAt {
    /// Total length in bytes.
    fn len(&self) -> Result<u64, KdbError>;
    /// Fill `buf` from `offset`; error if the source ends before `offset + buf.len()`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), KdbError>;
    /// Where the bytes come from, for error messages.
    fn path(&self) -> &str;

    fn is_empty(&self) -> Result<bool, KdbError> {
        Ok(self.len()? == 0)
    }
}

/// Read `[offset, offset+len)` into a new buffer.
pub fn read_vec(src: &dyn ReadAt, offset: u64, len: usize) -> Result<Vec<u8>, KdbError> {
    let mut v = vec![0u8; len];
    src.read_at(offset, &mut v)?;
    Ok(v)
}

/// Read the whole source.
pub fn read_all(src: &dyn ReadAt) -> Result<Vec<u8>, KdbError> {
    let len = src.len()?;
    let len = usize::try_from(len).map_err(|_| {
        KdbError::unsupported(src.path(), 0, &[], format!("{len} bytes do not fit memory"))
    })?;
    read_vec(src, 0, len)
}

/// A local file read with `pread`; its size is taken once at open (one `fstat`).
#[derive(Debug)]
pub struct LocalFile {
    file: File,
    path: String,
    len: u64,
    stamp: FileStamp,
}

/// What the `fstat` taken at open says of the file beside its size: a fingerprint's stamps, so
/// a walk that reads the headers need not `stat` each file again (`commit --config`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    pub inode: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

impl FileStamp {
    fn of(md: &std::fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000) + n;
        FileStamp {
            inode: md.ino(),
            mtime_ns: ns(md.mtime(), md.mtime_nsec()),
            ctime_ns: ns(md.ctime(), md.ctime_nsec()),
        }
    }
}

impl LocalFile {
    pub fn open(path: &Path) -> Result<LocalFile, KdbError> {
        let name = path.display().to_string();
        // Non-blocking, so that a FIFO put where a file was listed cannot hang the open (the
        // walks skip special files by type first; this guards the race). Regular files ignore
        // the flag.
        // Without writing its access time (crate::noatime).
        let file = crate::noatime::open(path, libc::O_NONBLOCK | libc::O_NOCTTY)
            .map_err(|e| KdbError::io(name.clone(), e))?;
        let md = file.metadata().map_err(|e| KdbError::io(name.clone(), e))?;
        if let Some(kind) = crate::special::SpecialKind::of(&md.file_type()) {
            return Err(KdbError::io(name, crate::special::open_refused(kind)));
        }
        let len = md.len();
        Ok(LocalFile {
            file,
            path: name,
            len,
            stamp: FileStamp::of(&md),
        })
    }

    /// The stamps of the `fstat` taken when the file was opened.
    pub fn stamp(&self) -> FileStamp {
        self.stamp
    }

    /// [`LocalFile::open`] of the entry `name` of the open directory `dir` (whose path is
    /// `path`'s parent: `path` names the file in errors). The kernel resolves one name instead
    /// of every component of `path`: at a million files the path walks of the header reads
    /// were the largest single cost of `check` (docs/performance.md, issue #17).
    pub fn open_at(
        dir: std::os::fd::BorrowedFd<'_>,
        name: &std::ffi::OsStr,
        path: &Path,
    ) -> Result<LocalFile, KdbError> {
        use std::os::fd::AsRawFd;
        use std::os::unix::ffi::OsStrExt;
        // The same text as `display()`, without the formatting machinery (once per file).
        let shown = || path.to_string_lossy().into_owned();
        let c = std::ffi::CString::new(name.as_bytes())
            .map_err(|_| KdbError::io(shown(), std::io::Error::from_raw_os_error(libc::EINVAL)))?;
        // The same flags as `open`: symlinks are followed alike (the walks report them by type
        // before opening anything), no access time written.
        let fd = crate::noatime::openat(
            dir.as_raw_fd(),
            &c,
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY,
        )
        .map_err(|e| KdbError::io(shown(), e))?;
        let file = File::from(fd);
        let md = file.metadata().map_err(|e| KdbError::io(shown(), e))?;
        if let Some(kind) = crate::special::SpecialKind::of(&md.file_type()) {
            return Err(KdbError::io(shown(), crate::special::open_refused(kind)));
        }
        Ok(LocalFile {
            file,
            path: shown(),
            len: md.len(),
            stamp: FileStamp::of(&md),
        })
    }
}

impl ReadAt for LocalFile {
    fn len(&self) -> Result<u64, KdbError> {
        Ok(self.len)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), KdbError> {
        check_range(&self.path, self.len, offset, buf.len())?;
        self.file.read_exact_at(buf, offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                // The file shrank after open.
                KdbError::truncated(
                    self.path.clone(),
                    offset,
                    format!(
                        "wanted {} bytes at offset {offset} but the file ended first",
                        buf.len()
                    ),
                )
            } else {
                KdbError::io_at(self.path.clone(), offset, e)
            }
        })
    }

    fn path(&self) -> &str {
        &self.path
    }
}

/// Bytes in memory posing as a file (tests, and files already decompressed).
#[derive(Debug, Clone)]
pub struct MemSource<B: AsRef<[u8]>> {
    path: String,
    bytes: B,
}

impl<B: AsRef<[u8]>> MemSource<B> {
    pub fn new(path: impl Into<String>, bytes: B) -> Self {
        MemSource {
            path: path.into(),
            bytes,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }
}

impl<B: AsRef<[u8]>> ReadAt for MemSource<B> {
    fn len(&self) -> Result<u64, KdbError> {
        Ok(self.bytes.as_ref().len() as u64)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), KdbError> {
        let b = self.bytes.as_ref();
        check_range(&self.path, b.len() as u64, offset, buf.len())?;
        // check_range guarantees the range lies inside `b`.
        let start = offset as usize;
        buf.copy_from_slice(&b[start..start + buf.len()]);
        Ok(())
    }

    fn path(&self) -> &str {
        &self.path
    }
}

fn check_range(path: &str, len: u64, offset: u64, want: usize) -> Result<(), KdbError> {
    match offset.checked_add(want as u64) {
        Some(end) if end <= len => Ok(()),
        _ => Err(KdbError::truncated(
            path,
            len.min(offset),
            format!("wanted {want} bytes at offset {offset} but the file holds {len} bytes"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn mem_source_reads_exact_ranges() {
        let m = MemSource::new("mem", vec![1u8, 2, 3, 4, 5]);
        assert_eq!(m.len().unwrap(), 5);
        let mut b = [0u8; 2];
        m.read_at(3, &mut b).unwrap();
        assert_eq!(b, [4, 5]);
        let err = m.read_at(4, &mut b).unwrap_err();
        assert!(matches!(err, KdbError::Truncated { .. }), "{err}");
        assert!(err.to_string().contains("holds 5 bytes"));
    }

    #[test]
    fn local_file_preads() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"hello world").unwrap();
        f.flush().unwrap();
        let lf = LocalFile::open(f.path()).unwrap();
        assert_eq!(lf.len().unwrap(), 11);
        let mut b = [0u8; 5];
        lf.read_at(6, &mut b).unwrap();
        assert_eq!(&b, b"world");
        assert!(lf.read_at(7, &mut b).is_err());
        assert_eq!(read_all(&lf).unwrap(), b"hello world");
    }

    #[test]
    fn missing_file_is_io_error_with_path() {
        let err = LocalFile::open(Path::new("/nonexistent/kdb/file")).unwrap_err();
        assert!(matches!(err, KdbError::Io { .. }));
        assert!(err.to_string().starts_with("/nonexistent/kdb/file"));
    }
}
