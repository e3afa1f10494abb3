//! The metadata prefetch: lists the directories below the moved nodes in the background, ahead
//! of a walk, many at a time (a cold disk answers concurrent small reads far faster than one
//! after another), into the listing cache.
//!
//! It goes depth first in name order, the order of `find`, `ls -R` or q's partition scan
//! through the view's name-sorted listings, and stays a bounded distance ahead: listings it
//! made and no reader used yet hold at most half the cache budget (and number at most
//! [`AHEAD`]). A walk that
//! follows consumes them and lets it go on; one that does not leaves it waiting, holding
//! little. A directory listed already (by a reader, or before an eviction) is not listed
//! again: its record knows its subdirectories, so the prefetch walks through it for free.

use super::tree::Tree;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

/// Listings made ahead and not used yet, at most; half the cache budget bounds them first in
/// practice (~17,000 table listings at the default budget). The further ahead, the more of the
/// listing is done while the originals are still in the page cache from the mount's checks,
/// and the more a cold walk has to wait out before catching up.
pub const AHEAD: usize = 65_536;

/// What [`run`] walked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrefetchStats {
    /// Directories walked (listed by it, or listed already).
    pub dirs: u64,
    /// Their entries.
    pub entries: u64,
    /// Directories that could not be listed (left to the on-demand path, which reports why).
    pub failed: u64,
}

struct Queue {
    /// Slots still to walk; the next one is at the end (pushed in reverse name order).
    todo: Vec<u32>,
    busy: usize,
}

/// Walks every directory below the moved nodes of `tree`, `threads` at a time. Returns when
/// done, or early, with what was done, once `stop` is set.
pub fn run(tree: &Tree, threads: usize, stop: &AtomicBool) -> PrefetchStats {
    let mut roots = tree.dir_roots();
    roots.reverse();
    let queue = Mutex::new(Queue {
        todo: roots,
        busy: 0,
    });
    let wake = Condvar::new();
    let (dirs, entries, failed) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let lock = || queue.lock().unwrap_or_else(|p| p.into_inner());
    let worker = || loop {
        let slot = {
            let mut q = lock();
            loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if let Some(s) = q.todo.pop() {
                    q.busy += 1;
                    break s;
                }
                if q.busy == 0 {
                    return;
                }
                q = wake.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        };
        let walked = match tree.listed_subs(slot) {
            Some(known) => Some(known),
            None => {
                let Some(permit) = tree.listings().wait_for_room(AHEAD, stop) else {
                    let mut q = lock();
                    q.busy -= 1;
                    wake.notify_all();
                    return;
                };
                // Unreadable here is unreadable on demand too: the request will say why.
                let listed = tree.list_ahead(slot);
                drop(permit);
                match listed {
                    Ok(()) => tree.listed_subs(slot),
                    Err(_) => None,
                }
            }
        };
        let mut q = lock();
        match walked {
            Some((len, subs)) => {
                dirs.fetch_add(1, Ordering::Relaxed);
                entries.fetch_add(len as u64, Ordering::Relaxed);
                q.todo.extend(subs.rev());
            }
            None => {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        q.busy -= 1;
        wake.notify_all();
    };
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(worker);
        }
    });
    PrefetchStats {
        dirs: dirs.into_inner(),
        entries: entries.into_inner(),
        failed: failed.into_inner(),
    }
}
