//! Open handles and the original files behind them: what an OPEN hands out, and the descriptors
//! kept for READs that come without one (no-open mode). All bounded by what the kernel holds
//! open, plus a fixed LRU.

use super::lru::Lru;
use super::tree::{Errno, Ino};
use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// Original files kept open for READs that come without an OPEN (no-open mode): enough for a
/// reader's working set, bounded so a full scan does not exhaust descriptors.
pub const READ_FDS: usize = 1024;

/// How many descriptors [`READ_FDS`] may really take under a soft open-file limit of `soft`:
/// a quarter of it, so open handles (one per file q has open in pread mode) keep the rest.
pub fn read_fd_cap(soft: u64) -> usize {
    (soft / 4).clamp(8, READ_FDS as u64) as usize
}

/// This process's limits on open files (`RLIMIT_NOFILE`: soft, hard).
pub(crate) fn open_file_limits() -> Option<libc::rlimit> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain data out-parameter.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0).then_some(r)
}

#[derive(Clone, Debug)]
pub enum Handle {
    Mem(Arc<[u8]>),
    File { ino: Ino, file: Arc<File> },
    Object(Ino),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another request must not take the whole view down.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug)]
pub struct Handles {
    handles: Mutex<HashMap<u64, Handle>>,
    next_fh: AtomicU64,
    /// One descriptor per original while any handle on it is open.
    open_files: Mutex<HashMap<Ino, Weak<File>>>,
    read_fds: Mutex<Lru<Ino, Arc<File>>>,
}

impl Default for Handles {
    fn default() -> Handles {
        Handles {
            handles: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            open_files: Mutex::new(HashMap::new()),
            read_fds: Mutex::new(Lru::new(read_fd_cap(
                open_file_limits().map_or(1024, |r| r.rlim_cur),
            ))),
        }
    }
}

impl Handles {
    /// A fresh handle number with nothing behind it.
    pub fn new_fh(&self) -> u64 {
        self.next_fh.fetch_add(1, Ordering::Relaxed)
    }

    pub fn add(&self, h: Handle) -> u64 {
        let fh = self.new_fh();
        lock(&self.handles).insert(fh, h);
        fh
    }

    pub fn get(&self, fh: u64) -> Option<Handle> {
        lock(&self.handles).get(&fh).cloned()
    }

    pub fn release(&self, fh: u64) {
        let h = lock(&self.handles).remove(&fh);
        if let Some(Handle::File { ino, file }) = h {
            drop(file);
            let mut files = lock(&self.open_files);
            if files.get(&ino).is_some_and(|w| w.strong_count() == 0) {
                files.remove(&ino);
            }
        }
    }

    pub fn open_handles(&self) -> usize {
        lock(&self.handles).len()
    }

    /// The descriptor of original `ino` shared by its open handles, else one from `open`
    /// (which checks it), shared from now on.
    pub fn shared(
        &self,
        ino: Ino,
        open: impl FnOnce() -> Result<File, Errno>,
    ) -> Result<Arc<File>, Errno> {
        let mut files = lock(&self.open_files);
        if let Some(f) = files.get(&ino).and_then(Weak::upgrade) {
            return Ok(f);
        }
        let f = Arc::new(open()?);
        files.insert(ino, Arc::downgrade(&f));
        Ok(f)
    }

    /// A descriptor for a READ without a handle: an open handle's, a kept one, else one from
    /// `open` (which checks it), kept in the LRU.
    pub fn reader(
        &self,
        ino: Ino,
        open: impl FnOnce() -> Result<File, Errno>,
    ) -> Result<Arc<File>, Errno> {
        if let Some(f) = lock(&self.open_files).get(&ino).and_then(Weak::upgrade) {
            return Ok(f);
        }
        if let Some(f) = lock(&self.read_fds).get(&ino) {
            return Ok(f);
        }
        let f = Arc::new(open()?);
        lock(&self.read_fds).put(ino, f.clone());
        Ok(f)
    }

    /// Descriptors kept for READs without a handle.
    pub fn kept(&self) -> usize {
        lock(&self.read_fds).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_descriptors_leave_most_of_the_open_file_limit_to_open_handles() {
        assert_eq!(read_fd_cap(1024), 256);
        assert_eq!(read_fd_cap(256), 64);
        assert_eq!(read_fd_cap(20), 8);
        assert_eq!(read_fd_cap(1 << 20), READ_FDS);
    }
}
