//! A small bounded least-recently-used map, used by the view to keep kernel backing ids and
//! original file descriptors alive between opens without holding one per file of the database.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// Keys are recency-stamped; the oldest stamp is evicted when full. O(log n) per operation.
#[derive(Debug)]
pub struct Lru<K, V> {
    cap: usize,
    tick: u64,
    map: HashMap<K, (V, u64)>,
    order: BTreeMap<u64, K>,
}

impl<K: Hash + Eq + Clone, V: Clone> Lru<K, V> {
    /// `cap` 0 keeps nothing.
    pub fn new(cap: usize) -> Lru<K, V> {
        Lru {
            cap,
            tick: 0,
            map: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The value of `k`, marking it most recently used.
    pub fn get(&mut self, k: &K) -> Option<V> {
        self.tick += 1;
        let tick = self.tick;
        let (v, stamp) = self.map.get_mut(k)?;
        self.order.remove(stamp);
        *stamp = tick;
        self.order.insert(tick, k.clone());
        Some(v.clone())
    }

    /// Inserts or replaces `k`; returns the evicted value, if the map was full.
    pub fn put(&mut self, k: K, v: V) -> Option<V> {
        if self.cap == 0 {
            return Some(v);
        }
        self.tick += 1;
        if let Some((_, old)) = self.map.insert(k.clone(), (v, self.tick)) {
            self.order.remove(&old);
        }
        self.order.insert(self.tick, k);
        if self.map.len() <= self.cap {
            return None;
        }
        let (_, oldest) = self.order.pop_first()?;
        self.map.remove(&oldest).map(|(v, _)| v)
    }

    pub fn remove(&mut self, k: &K) -> Option<V> {
        let (v, stamp) = self.map.remove(k)?;
        self.order.remove(&stamp);
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used() {
        let mut l = Lru::new(2);
        assert_eq!(l.put(1, "a"), None);
        assert_eq!(l.put(2, "b"), None);
        assert_eq!(l.get(&1), Some("a")); // 2 is now the oldest
        assert_eq!(l.put(3, "c"), Some("b"));
        assert_eq!(l.get(&2), None);
        assert_eq!(l.get(&1), Some("a"));
        assert_eq!(l.get(&3), Some("c"));
        assert_eq!(l.len(), 2);
        // Replacing a key does not evict anything.
        assert_eq!(l.put(3, "C"), None);
        assert_eq!(l.get(&3), Some("C"));
        assert_eq!(l.remove(&1), Some("a"));
        assert_eq!(l.len(), 1);
        assert_eq!(l.order.len(), 1);
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut l = Lru::new(0);
        assert_eq!(l.put(1, 1), Some(1));
        assert!(l.is_empty());
    }
}
