//! Positional reads of whole byte ranges from a file, a buffer, or (later) an object store,
//! so header parsing never depends on where the bytes live.

use super::error::KdbError;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::fs::OpenOptionsExt;
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
}

impl LocalFile {
    pub fn open(path: &Path) -> Result<LocalFile, KdbError> {
        let name = path.display().to_string();
        // Non-blocking, so that a FIFO put where a file was listed cannot hang the open (the
        // walks skip special files by type first; this guards the race). Regular files ignore
        // the flag.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
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
