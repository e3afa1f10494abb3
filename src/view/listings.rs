//! The listing cache: the one owner of the view's memory budget for directory listings.
//!
//! Listings of directories below moved nodes (names, inode numbers, frozen attributes) are
//! kept here, keyed by directory slot (`super::inodes`), while their accounted bytes fit the
//! budget; beyond it the least recently used is dropped and listed again from the disk when next
//! needed (the directory's digest then proves it unchanged). Listings the prefetcher made ahead
//! of the readers are kept apart until a reader uses them and are evicted only after every
//! consumed one: a walk then finds what was listed for it, instead of the prefetcher evicting
//! its own work (thrashing). The prefetcher stays a bounded distance ahead
//! ([`ListingCache::wait_for_room`]), so the two never fight for the whole budget.

use super::tree::{Attr, Ino, Kind};
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// The default budget of the listing cache (`mount --cache-budget`), in MiB.
pub const DEFAULT_BUDGET_MB: u64 = 128;
/// What the listings keep at least when the saved plan's stamps take most of the budget
/// (`mount --plan` of a very large database): a few thousand directories.
pub const MIN_BUDGET: usize = 8 << 20;

#[derive(Clone, Debug)]
pub struct Child {
    pub name: OsString,
    pub ino: Ino,
    pub kind: Kind,
    /// Originals only: the `lstat` taken when the directory was listed (the view is frozen).
    pub attr: Option<Attr>,
}

pub type Listing = Arc<Vec<Child>>;

/// Bookkeeping per cached listing (map entry, recency entry, `Arc` header), counted with it.
const PER_LISTING: usize = 160;

/// What a listing costs in memory: its entries (by capacity), each name's heap block (malloc
/// rounds small blocks up to 32 bytes) and the bookkeeping.
pub fn listing_bytes(kids: &Vec<Child>) -> usize {
    let names: usize = kids
        .iter()
        .map(|c| match c.name.capacity() {
            0 => 0,
            n => (n + 8).next_multiple_of(16).max(32),
        })
        .sum();
    PER_LISTING + kids.capacity() * std::mem::size_of::<Child>() + names
}

#[derive(Debug)]
struct Entry {
    listing: Listing,
    bytes: usize,
    stamp: u64,
    /// Listed by the prefetcher and not used by a reader yet.
    ahead: bool,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<u32, Entry>,
    /// Recency of the listings readers used (evicted first, oldest first).
    used: BTreeMap<u64, u32>,
    /// Listings made ahead of the readers, oldest first.
    ahead: BTreeMap<u64, u32>,
    bytes: usize,
    ahead_bytes: usize,
    tick: u64,
    peak: usize,
    evictions: u64,
    /// Listings the prefetcher is making ahead right now (permits held): counted with the
    /// listings made ahead, so that its workers cannot all pass the same room check at once.
    in_flight: usize,
}

/// Figures of the cache (tests and logs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub listings: usize,
    pub bytes: usize,
    pub peak_bytes: usize,
    pub ahead: usize,
    pub evictions: u64,
    pub budget: usize,
}

#[derive(Debug)]
pub struct ListingCache {
    budget: usize,
    inner: Mutex<Inner>,
    /// Signalled when a listing made ahead is used or evicted (the prefetcher may go on).
    room: Condvar,
}

impl ListingCache {
    pub fn new(budget: usize) -> ListingCache {
        ListingCache {
            budget,
            inner: Mutex::new(Inner::default()),
            room: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The listing of `slot` for a reader: marks it used and most recent.
    pub fn get(&self, slot: u32) -> Option<Listing> {
        let mut g = self.lock();
        let inner = &mut *g;
        inner.tick += 1;
        let tick = inner.tick;
        let e = inner.map.get_mut(&slot)?;
        if e.ahead {
            e.ahead = false;
            inner.ahead.remove(&e.stamp);
            inner.ahead_bytes -= e.bytes;
            // One listing used makes room for one more: wake one lister, not all.
            self.room.notify_one();
        } else {
            inner.used.remove(&e.stamp);
        }
        e.stamp = tick;
        inner.used.insert(tick, slot);
        Some(e.listing.clone())
    }

    /// The listing of `slot` if cached, changing nothing (readahead looks without I/O).
    pub fn peek(&self, slot: u32) -> Option<Listing> {
        self.lock().map.get(&slot).map(|e| e.listing.clone())
    }

    /// Keeps `listing` of `slot` if it fits the budget (evicting what it must), and returns the
    /// listing to serve: the one already cached if another lister won the race. `ahead`: made
    /// by the prefetcher, not used yet.
    pub fn insert(&self, slot: u32, listing: Listing, ahead: bool) -> Listing {
        let bytes = listing_bytes(&listing);
        let mut g = self.lock();
        if g.map.contains_key(&slot) {
            drop(g);
            return match ahead {
                true => self.peek(slot),
                false => self.get(slot),
            }
            .unwrap_or(listing);
        }
        // A listing larger than the whole budget is served but not kept.
        if bytes > self.budget {
            return listing;
        }
        let inner = &mut *g;
        while inner.bytes + bytes > self.budget {
            let victim = match inner.used.pop_first() {
                Some((_, s)) => s,
                None => match inner.ahead.pop_first() {
                    Some((_, s)) => s,
                    None => break,
                },
            };
            if let Some(e) = inner.map.remove(&victim) {
                inner.bytes -= e.bytes;
                if e.ahead {
                    inner.ahead_bytes -= e.bytes;
                    // One listing used makes room for one more: wake one lister, not all.
                    self.room.notify_one();
                }
                inner.evictions += 1;
            }
        }
        inner.tick += 1;
        let stamp = inner.tick;
        match ahead {
            true => {
                inner.ahead.insert(stamp, slot);
                inner.ahead_bytes += bytes;
            }
            false => {
                inner.used.insert(stamp, slot);
            }
        }
        inner.bytes += bytes;
        inner.peak = inner.peak.max(inner.bytes);
        inner.map.insert(
            slot,
            Entry {
                listing: listing.clone(),
                bytes,
                stamp,
                ahead,
            },
        );
        listing
    }

    /// Waits until the prefetcher may list one more directory ahead: fewer than `max_ahead`
    /// listings made ahead and unused or being made, holding at most half the budget (always
    /// at least one, or a tiny budget would stop it for good). A listing being made counts at
    /// the mean size of those made ahead; none made yet, only one is made at a time. The
    /// permit is held while the directory is listed and inserted, and released after: without
    /// it, several workers could pass the check at once and list past the bound, evicting
    /// their own work. None once `stop` is set.
    pub fn wait_for_room(&self, max_ahead: usize, stop: &AtomicBool) -> Option<AheadPermit<'_>> {
        let mut g = self.lock();
        loop {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            let made = g.ahead.len();
            let n = made + g.in_flight;
            let room = n == 0
                || (made > 0
                    && n < max_ahead
                    && g.ahead_bytes + g.in_flight * (g.ahead_bytes / made) < self.budget / 2);
            if room {
                g.in_flight += 1;
                return Some(AheadPermit { cache: self });
            }
            g = self
                .room
                .wait_timeout(g, Duration::from_millis(50))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    pub fn stats(&self) -> CacheStats {
        let g = self.lock();
        CacheStats {
            listings: g.map.len(),
            bytes: g.bytes,
            peak_bytes: g.peak,
            ahead: g.ahead.len(),
            evictions: g.evictions,
            budget: self.budget,
        }
    }
}

/// Leave to list one directory ahead ([`ListingCache::wait_for_room`]); released on drop,
/// once the listing is in the cache (or failed).
#[derive(Debug)]
pub struct AheadPermit<'a> {
    cache: &'a ListingCache,
}

impl Drop for AheadPermit<'_> {
    fn drop(&mut self) {
        self.cache.lock().in_flight -= 1;
        self.cache.room.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(n: usize) -> Listing {
        Arc::new(
            (0..n)
                .map(|i| Child {
                    name: OsString::from(format!("f{i}")),
                    ino: i as Ino + 100,
                    kind: Kind::File,
                    attr: None,
                })
                .collect(),
        )
    }

    #[test]
    fn the_budget_holds_and_used_listings_go_before_listings_made_ahead() {
        let one = listing_bytes(&listing(10));
        let c = ListingCache::new(3 * one);
        c.insert(1, listing(10), false);
        c.insert(2, listing(10), true);
        c.insert(3, listing(10), false);
        assert_eq!(c.stats().listings, 3);
        // Full: the oldest used listing goes, not the one made ahead (older still).
        c.insert(4, listing(10), false);
        assert!(c.peek(1).is_none());
        assert!(c.peek(2).is_some());
        // Used once, it is an ordinary listing again.
        assert!(c.get(2).is_some());
        assert_eq!(c.stats().ahead, 0);
        c.insert(5, listing(10), false);
        assert!(c.peek(3).is_none());
        let s = c.stats();
        assert!(s.peak_bytes <= s.budget && s.bytes <= s.budget, "{s:?}");
        assert_eq!(s.evictions, 2);
        // Too big for the whole budget: served, not kept.
        let big = c.insert(9, listing(100), false);
        assert_eq!(big.len(), 100);
        assert!(c.peek(9).is_none());
        // A racing second lister gets the first one's listing.
        let first = c.peek(5).unwrap();
        let got = c.insert(5, listing(10), false);
        assert!(Arc::ptr_eq(&first, &got));
    }

    #[test]
    fn the_prefetcher_waits_for_readers_to_use_what_it_listed() {
        let one = listing_bytes(&listing(10));
        let c = ListingCache::new(100 * one);
        let stop = AtomicBool::new(false);
        c.insert(1, listing(10), true);
        c.insert(2, listing(10), true);
        let permit = c.wait_for_room(3, &stop).expect("room for a third");
        c.insert(3, listing(10), true);
        drop(permit);
        std::thread::scope(|s| {
            let h = s.spawn(|| c.wait_for_room(3, &stop).is_some());
            std::thread::sleep(Duration::from_millis(120));
            assert!(!h.is_finished(), "three made ahead and unused: waits");
            c.get(2);
            assert!(h.join().unwrap());
        });
        // Unmount ends the wait.
        c.insert(4, listing(10), true);
        stop.store(true, Ordering::Relaxed);
        assert!(c.wait_for_room(3, &stop).is_none());
    }

    /// Prefetch workers check for room concurrently: a listing being made counts, so they
    /// cannot all pass one check and list past half the budget (they did: a tiny budget then
    /// evicted listings nobody had used yet).
    #[test]
    fn listings_being_made_count_against_the_room_ahead() {
        let one = listing_bytes(&listing(10));
        // Half the budget: 2.25 listings.
        let c = ListingCache::new(4 * one + one / 2);
        let stop = AtomicBool::new(false);
        let first = c.wait_for_room(100, &stop).expect("nothing ahead: room");
        std::thread::scope(|s| {
            let h = s.spawn(|| c.wait_for_room(100, &stop).map(drop).is_some());
            std::thread::sleep(Duration::from_millis(120));
            assert!(
                !h.is_finished(),
                "one being made, none made: its size is unknown, a second waits"
            );
            c.insert(1, listing(10), true);
            drop(first);
            assert!(h.join().unwrap());
        });
        // One made: a second and a third may start (1 and 2 listings' worth before each)...
        let a = c.wait_for_room(100, &stop).expect("1 listing ahead: room");
        let b = c
            .wait_for_room(100, &stop)
            .expect("1 made + 1 being made: room");
        std::thread::scope(|s| {
            let h = s.spawn(|| c.wait_for_room(100, &stop).map(drop).is_some());
            std::thread::sleep(Duration::from_millis(120));
            assert!(!h.is_finished(), "1 made + 2 being made: past half, waits");
            c.insert(2, listing(10), true);
            drop(a);
            c.insert(3, listing(10), true);
            drop(b);
            std::thread::sleep(Duration::from_millis(120));
            assert!(!h.is_finished(), "3 made, none used: still waits");
            c.get(1);
            c.get(2);
            assert!(h.join().unwrap(), "used listings make room");
        });
        let st = c.stats();
        assert_eq!(st.evictions, 0, "{st:?}");
        assert!(st.peak_bytes <= 4 * one + one / 2, "{st:?}");
    }
}
