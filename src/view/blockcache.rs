//! A byte-bounded LRU of fixed-size blocks of objects, shared by every object file the view
//! serves in validation mode (`--object-tiers-local`), so memory stays bounded whatever q maps.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A block: (file id, block index).
pub type BlockKey = (u64, u64);

#[derive(Debug, Default)]
struct Inner {
    /// Block → (bytes, last-use tick).
    map: HashMap<BlockKey, (Arc<[u8]>, u64)>,
    /// Last-use tick → block: the first entry is the least recently used.
    order: BTreeMap<u64, BlockKey>,
    bytes: u64,
    tick: u64,
}

/// Least-recently-used blocks, at most `capacity` bytes in all.
#[derive(Debug)]
pub struct BlockCache {
    capacity: u64,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic in another request must not take the whole view down; the data stays consistent
    // because every update below is finished before the guard drops.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl BlockCache {
    pub fn new(capacity: u64) -> BlockCache {
        BlockCache {
            capacity,
            inner: Mutex::new(Inner::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes held now (never above the capacity).
    pub fn bytes(&self) -> u64 {
        lock(&self.inner).bytes
    }

    pub fn len(&self) -> usize {
        lock(&self.inner).map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (hits, misses) of [`BlockCache::get`] so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// The block, marked as just used.
    pub fn get(&self, key: BlockKey) -> Option<Arc<[u8]>> {
        let mut g = lock(&self.inner);
        let inner = &mut *g;
        inner.tick += 1;
        let tick = inner.tick;
        match inner.map.get_mut(&key) {
            Some((data, used)) => {
                inner.order.remove(used);
                *used = tick;
                inner.order.insert(tick, key);
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(data.clone())
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Keeps `data` for `key`, evicting least recently used blocks to stay within the
    /// capacity. A block larger than the whole capacity is not kept.
    pub fn insert(&self, key: BlockKey, data: Arc<[u8]>) {
        let len = data.len() as u64;
        if len > self.capacity {
            return;
        }
        let mut g = lock(&self.inner);
        let inner = &mut *g;
        if let Some((old, used)) = inner.map.remove(&key) {
            inner.order.remove(&used);
            inner.bytes -= old.len() as u64;
        }
        while inner.bytes + len > self.capacity {
            let Some((_, victim)) = inner.order.pop_first() else {
                break;
            };
            if let Some((old, _)) = inner.map.remove(&victim) {
                inner.bytes -= old.len() as u64;
            }
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.order.insert(tick, key);
        inner.map.insert(key, (data, tick));
        inner.bytes += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(n: usize, v: u8) -> Arc<[u8]> {
        Arc::from(vec![v; n])
    }

    #[test]
    fn evicts_the_least_recently_used_within_the_byte_bound() {
        let c = BlockCache::new(30);
        c.insert((1, 0), block(10, 1));
        c.insert((1, 1), block(10, 2));
        c.insert((2, 0), block(10, 3));
        assert_eq!(c.bytes(), 30);
        // Touch (1, 0): (1, 1) becomes the oldest.
        assert_eq!(c.get((1, 0)).unwrap()[0], 1);
        c.insert((3, 0), block(10, 4));
        assert_eq!(c.bytes(), 30);
        assert!(c.get((1, 1)).is_none());
        assert_eq!(c.get((1, 0)).unwrap()[0], 1);
        assert_eq!(c.get((2, 0)).unwrap()[0], 3);
        assert_eq!(c.get((3, 0)).unwrap()[0], 4);
        // A big block pushes out as many as needed.
        c.insert((4, 0), block(25, 5));
        assert!(c.bytes() <= 30);
        assert_eq!(c.len(), 1);
        assert_eq!(c.get((4, 0)).unwrap().len(), 25);
        let (hits, misses) = c.counts();
        assert_eq!((hits, misses), (5, 1));
    }

    #[test]
    fn replacing_a_block_and_oversized_blocks_keep_the_accounting_right() {
        let c = BlockCache::new(16);
        c.insert((1, 0), block(8, 1));
        c.insert((1, 0), block(6, 2));
        assert_eq!(c.bytes(), 6);
        assert_eq!(c.len(), 1);
        c.insert((9, 9), block(17, 0));
        assert!(c.get((9, 9)).is_none());
        assert_eq!(c.bytes(), 6);
        for i in 0..100 {
            c.insert((2, i), block(5, i as u8));
            assert!(c.bytes() <= 16);
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.get((2, 99)).unwrap()[0], 99);
    }
}
