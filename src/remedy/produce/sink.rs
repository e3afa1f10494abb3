//! One output file of a job: created (parents too) under the staging area, written through a
//! buffer, compressed block by block when the job says so, hashed as the bytes go out, then
//! fsync'd so what the plan records is what a crash leaves. Writeback is started as the file
//! grows (`sync_file_range`), so the final fsync waits for the last few MiB only, not the whole
//! file. The directory entries are the caller's to make durable, once for all its files
//! (`remedy::stage` fsyncs every staged directory): one fsync per directory, not per file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{ProduceError, Produced};
use crate::kdb::zip::{BlockWriter, ZipParams};

/// Output buffer for the small writes (headers, symbols). Smaller than a producer's chunk
/// (256 KiB), so chunks go straight to the file instead of being copied through it.
const BUF_BYTES: usize = 64 << 10;

/// Bytes after which writeback of what was written so far is started.
const WRITEBACK_BYTES: u64 = 1 << 20;

/// Counts and hashes every byte on its way to the file.
struct Hashing {
    file: BufWriter<File>,
    hash: Sha256,
    size: u64,
    /// Bytes handed to writeback so far.
    started: u64,
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        if self.size - self.started >= WRITEBACK_BYTES {
            self.file.flush()?;
            start_writeback(self.file.get_ref(), self.started, self.size - self.started);
            self.started = self.size;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

enum Out {
    Plain(Hashing),
    Zipped(BlockWriter<Hashing>),
}

pub(crate) struct Sink {
    path: PathBuf,
    out: Out,
}

impl Sink {
    /// Creates (or truncates: a staging run resumed after a crash rewrites its files) `path`.
    pub(crate) fn create(path: &Path, zip: Option<ZipParams>) -> Result<Sink, ProduceError> {
        let werr = |source| ProduceError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(werr)?;
        }
        let file = File::create(path).map_err(werr)?;
        let hashing = Hashing {
            file: BufWriter::with_capacity(BUF_BYTES, file),
            hash: Sha256::new(),
            size: 0,
            started: 0,
        };
        let out = match zip {
            None => Out::Plain(hashing),
            Some(params) => Out::Zipped(BlockWriter::new(hashing, params).map_err(|source| {
                ProduceError::Compress {
                    path: path.to_path_buf(),
                    source,
                }
            })?),
        };
        Ok(Sink {
            path: path.to_path_buf(),
            out,
        })
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), ProduceError> {
        let r = match &mut self.out {
            Out::Plain(h) => h.write_all(bytes),
            Out::Zipped(z) => z.write_all(bytes),
        };
        r.map_err(|source| ProduceError::Write {
            path: self.path.clone(),
            source,
        })
    }

    /// Finishes the compressed stream, flushes, fsyncs the file and its directory.
    pub(crate) fn finish(self) -> Result<Produced, ProduceError> {
        let path = self.path;
        let werr = |source| ProduceError::Write {
            path: path.clone(),
            source,
        };
        let hashing = match self.out {
            Out::Plain(h) => h,
            Out::Zipped(z) => z.finish().map_err(werr)?,
        };
        let Hashing {
            file, hash, size, ..
        } = hashing;
        let file = file.into_inner().map_err(|e| werr(e.into_error()))?;
        file.sync_all().map_err(werr)?;
        Ok(Produced {
            sha256: hex(&hash.finalize()),
            path,
            size,
        })
    }
}

/// Asks the kernel to start writing `[from, from + len)` out, without waiting: a hint, so a
/// failure is ignored (the fsync at the end is what guarantees durability).
fn start_writeback(file: &File, from: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(from), Ok(len)) = (i64::try_from(from), i64::try_from(len)) else {
        return;
    };
    // SAFETY: a plain syscall on an open descriptor we own; no memory is passed.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), from, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
