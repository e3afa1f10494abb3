//! Cross-file readahead for the view: a reader that opens the files of a directory in name
//! order (q reading a table's `.d` and then its columns, `verify --deep`, `cp -r`) finds the
//! next files already in the page cache.
//!
//! The kernel reads ahead within a file; across files only the server sees the order, and on
//! a cold disk the reader otherwise waits for one FUSE round trip and then one disk read per
//! file, one after the other. [`Streams`] decides what to read ahead (pure, unit-tested);
//! [`Readahead`] does it: worker threads open each file below the original's base and
//! `posix_fadvise(WILLNEED)` its head, which queues the reads and returns. A request is never
//! delayed by it: advice that does not fit the queue is dropped.

use super::origin::Origin;
use super::tree::Ino;
use std::collections::HashMap;
use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

/// Directory entries read ahead of the last one opened (`SMSTAGE_READAHEAD_FILES`, 0 = off).
pub const WINDOW: usize = 32;
/// Bytes advised per file: small columns whole, the head of a large one (the kernel's own
/// readahead takes over once the reader streams it).
pub const FILE_HEAD: u64 = 1 << 20;
/// Directories followed at once; beyond that the table is reset (streams simply restart).
const MAX_STREAMS: usize = 4096;
/// Files waiting to be advised; more than a window for every stream a reader can drive.
const QUEUE: usize = 1024;
/// Advice mostly queues I/O and returns; two threads keep a cold inode read from stalling it.
const WORKERS: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stream {
    /// Index of the entry opened last; None for a directory read ahead before any open (the
    /// next one of a scan).
    last: Option<usize>,
    /// End (exclusive) of the entries already read ahead; beyond `last`.
    ahead: usize,
}

/// Sequential-open detection per directory, on entry indexes of its name-sorted listing.
#[derive(Debug, Default)]
pub struct Streams {
    by_dir: HashMap<Ino, Stream>,
}

impl Streams {
    /// Entry `idx` of directory `dir` (which has `len` entries) was opened. None when the open
    /// is random access; else the entries of `dir` to read ahead now (possibly none: already
    /// read ahead). A stream starts at the directory's first entry (a reader starting there is
    /// about to scan it), or with the second of two consecutive opens anywhere; it goes on while
    /// each open is the next entry or one already read ahead, `window` entries ahead of the
    /// reader (the caller carries what lies past the end of `dir` over to the directories that
    /// follow, with [`Streams::extend`]). Reopening the last entry opened reads nothing more.
    pub fn opened(
        &mut self,
        dir: Ino,
        idx: usize,
        len: usize,
        window: usize,
    ) -> Option<Range<usize>> {
        let prev = self.by_dir.get(&dir).copied();
        let sequential = match prev {
            None => idx == 0,
            Some(s) if s.last == Some(idx) => return Some(0..0),
            Some(s) => {
                let next = s.last.map_or(0, |l| l + 1);
                next <= idx && idx < s.ahead.max(next + 1)
            }
        };
        if prev.is_none() {
            self.make_room();
        }
        if !sequential {
            self.by_dir.insert(
                dir,
                Stream {
                    last: Some(idx),
                    ahead: idx + 1,
                },
            );
            return None;
        }
        let from = prev.map_or(0, |s| s.ahead).max(idx + 1);
        let to = len.min(idx + 1 + window).max(from);
        self.by_dir.insert(
            dir,
            Stream {
                last: Some(idx),
                ahead: to,
            },
        );
        Some(from..to)
    }

    /// A scan is about to reach directory `dir`: its first `upto` entries should be read ahead.
    /// Returns those not read ahead yet (and records them), so that the reader's first open
    /// there continues the stream and nothing is read twice.
    pub fn extend(&mut self, dir: Ino, upto: usize) -> Range<usize> {
        if !self.by_dir.contains_key(&dir) {
            self.make_room();
        }
        let s = self.by_dir.entry(dir).or_insert(Stream {
            last: None,
            ahead: 0,
        });
        let from = s.ahead;
        s.ahead = s.ahead.max(upto);
        from..s.ahead
    }

    fn make_room(&mut self) {
        if self.by_dir.len() >= MAX_STREAMS {
            self.by_dir.clear();
        }
    }
}

/// What the readahead did, for tests and the server's log.
#[derive(Debug, Default)]
pub struct ReadaheadStats {
    /// Files advised into the page cache.
    pub advised: AtomicU64,
    /// Files not advised: the queue was full, or opening the file failed.
    pub skipped: AtomicU64,
}

/// The readahead workers of one view; they stop when this is dropped.
#[derive(Debug)]
pub struct Readahead {
    tx: SyncSender<(PathBuf, u64)>,
    stats: Arc<ReadaheadStats>,
}

impl Readahead {
    /// Starts the workers, reading the original through `origin` (below its base only).
    pub fn start(origin: Origin, stats: Arc<ReadaheadStats>) -> io::Result<Readahead> {
        let (tx, rx) = sync_channel::<(PathBuf, u64)>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let origin = Arc::new(origin);
        for i in 0..WORKERS {
            let (rx, origin, stats) = (rx.clone(), origin.clone(), stats.clone());
            std::thread::Builder::new()
                .name(format!("smstage-ra-{i}"))
                .spawn(move || work(&rx, &origin, &stats))?;
        }
        Ok(Readahead { tx, stats })
    }

    /// Queues `len` bytes of `rel` (relative to the base) for reading ahead; never blocks.
    pub fn advise(&self, rel: PathBuf, len: u64) {
        match self.tx.try_send((rel, len)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.skipped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn work(rx: &Mutex<Receiver<(PathBuf, u64)>>, origin: &Origin, stats: &ReadaheadStats) {
    loop {
        let next = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok((rel, len)) = next else {
            return; // the view is gone
        };
        // A file that cannot be opened here is reported by the reader's own open, if it comes.
        let Ok(f) = origin.open_file(&rel) else {
            stats.skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        // SAFETY: plain syscall on a descriptor we own; WILLNEED only populates the page cache.
        unsafe {
            libc::posix_fadvise(
                f.as_raw_fd(),
                0,
                len as libc::off_t,
                libc::POSIX_FADV_WILLNEED,
            )
        };
        stats.advised.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_from_the_first_entry_stays_a_window_ahead() {
        let mut s = Streams::default();
        assert_eq!(s.opened(7, 0, 20, 4), Some(1..5));
        assert_eq!(s.opened(7, 1, 20, 4), Some(5..6));
        assert_eq!(s.opened(7, 2, 20, 4), Some(6..7));
        // Skipping forward inside what was read ahead keeps the stream.
        assert_eq!(s.opened(7, 5, 20, 4), Some(7..10));
        // The end of the directory bounds the window; the stream goes on.
        assert_eq!(s.opened(7, 6, 8, 4), Some(10..10));
        assert_eq!(s.opened(7, 7, 8, 4), Some(10..10));
        assert_eq!(s.opened(7, 7, 8, 4), Some(0..0), "reopen");
    }

    #[test]
    fn random_opens_read_nothing_ahead_until_two_are_consecutive() {
        let mut s = Streams::default();
        assert_eq!(s.opened(1, 9, 20, 4), None);
        assert_eq!(s.opened(1, 3, 20, 4), None, "backwards");
        assert_eq!(
            s.opened(1, 4, 20, 4),
            Some(5..9),
            "second of two consecutive opens"
        );
        assert_eq!(s.opened(1, 15, 20, 4), None, "jump past the window");
        assert_eq!(s.opened(1, 16, 20, 4), Some(17..20));
    }

    #[test]
    fn directories_are_followed_independently_and_the_table_is_bounded() {
        let mut s = Streams::default();
        assert_eq!(s.opened(1, 0, 3, 8), Some(1..3));
        assert_eq!(s.opened(2, 0, 3, 8), Some(1..3));
        assert_eq!(s.opened(1, 1, 3, 8), Some(3..3));
        for d in 10..10 + MAX_STREAMS as Ino {
            s.opened(d, 5, 9, 1);
        }
        assert!(s.by_dir.len() <= MAX_STREAMS);
        // A window of 0 never reads ahead.
        assert_eq!(Streams::default().opened(1, 0, 5, 0), Some(1..1));
    }

    #[test]
    fn an_extended_directory_continues_the_scan_without_reading_twice() {
        let mut s = Streams::default();
        assert_eq!(s.extend(3, 4), 0..4);
        assert_eq!(s.extend(3, 4), 4..4, "extended once");
        assert_eq!(s.extend(3, 6), 4..6, "further");
        assert_eq!(
            s.opened(3, 0, 10, 4),
            Some(6..6),
            "entries 1..5 were read ahead already"
        );
        assert_eq!(s.opened(3, 1, 10, 6), Some(6..8));
        assert_eq!(
            s.extend(3, 8),
            8..8,
            "a directory being read is not read twice"
        );
        let mut s = Streams::default();
        s.extend(4, 4);
        assert_eq!(
            s.opened(4, 2, 10, 4),
            Some(4..7),
            "an open inside the extended window"
        );
        let mut s = Streams::default();
        s.extend(5, 2);
        assert_eq!(
            s.opened(5, 6, 10, 4),
            None,
            "a jump past it is random access"
        );
    }
}
