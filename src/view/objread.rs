//! Reads of object files served as local files (`--object-tiers-local`): block-aligned ranged
//! GETs through one shared, byte-bounded [`BlockCache`], on a runtime and S3 clients owned by
//! the process that serves the view.
//!
//! Why a runtime of its own: the background server is forked after `check` used the object
//! module's runtime and HTTP client, and a forked child has none of their threads (their
//! pooled connections belong to tasks that will never run again). So the serving process
//! builds a fresh runtime and, through `reopen`, fresh tiers on its first read.

use super::blockcache::{BlockCache, BlockKey};
use crate::object::{ObjectError, ObjectFile, ObjectTier, Place};
use object_store::path::Path as ObjPath;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Unit of fetching and caching: one ranged GET per block missing from the cache.
pub const BLOCK_SIZE: u64 = 1 << 20;
/// Default bound of the block cache (`--object-cache-mb`).
pub const DEFAULT_CACHE_MB: u64 = 256;

/// Opens a fresh handle on the same bucket/prefix (new HTTP client) in the serving process.
pub type Reopen = Arc<dyn Fn(&ObjectTier) -> Result<ObjectTier, ObjectError> + Send + Sync>;

/// One object served as a file of the view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectLeaf {
    /// Index of its tier in the reader's tiers.
    pub tier: usize,
    pub key: ObjPath,
    /// `s3://bucket/key`, for messages.
    pub url: String,
    /// From the listing.
    pub size: u64,
}

struct Live {
    pid: u32,
    rt: tokio::runtime::Runtime,
    tiers: Vec<ObjectTier>,
}

/// Serves byte ranges of [`ObjectLeaf`]s; shared by every open file of the view.
pub struct ObjectReader {
    tiers: Vec<ObjectTier>,
    reopen: Option<Reopen>,
    block: u64,
    cache: BlockCache,
    live: Mutex<Option<Arc<Live>>>,
    /// One loader per missing block: concurrent readers of a block (kernel readahead runs
    /// several requests at once) wait for its single GET instead of each fetching it.
    inflight: Mutex<HashMap<BlockKey, Arc<Mutex<()>>>>,
    fetched: AtomicU64,
    gets: AtomicU64,
}

impl fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectReader")
            .field("tiers", &self.tiers.len())
            .field("block", &self.block)
            .field("cache", &self.cache)
            .field("fetched", &self.fetched_bytes())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ObjectReader {
    /// `cache_bytes` bounds the blocks kept in memory; `reopen` (None: use `tiers` as they are,
    /// e.g. in-memory stores) gives the serving process its own clients.
    pub fn new(tiers: Vec<ObjectTier>, cache_bytes: u64, reopen: Option<Reopen>) -> ObjectReader {
        ObjectReader {
            tiers,
            reopen,
            // A block must fit in the cache, or nothing would ever be kept.
            block: BLOCK_SIZE.min(cache_bytes.max(1)),
            cache: BlockCache::new(cache_bytes),
            live: Mutex::new(None),
            inflight: Mutex::new(HashMap::new()),
            fetched: AtomicU64::new(0),
            gets: AtomicU64::new(0),
        }
    }

    /// Another block size (tests use small ones).
    pub fn with_block_size(mut self, block: u64) -> ObjectReader {
        self.block = block.clamp(1, self.cache.capacity().max(1));
        self
    }

    pub fn block_size(&self) -> u64 {
        self.block
    }

    pub fn cache(&self) -> &BlockCache {
        &self.cache
    }

    /// Bytes returned by the store so far.
    pub fn fetched_bytes(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    /// Ranged GETs made so far.
    pub fn gets(&self) -> u64 {
        self.gets.load(Ordering::Relaxed)
    }

    /// The runtime and tiers of this process, made on first use (and again after a fork).
    fn live(&self) -> Result<Arc<Live>, ObjectError> {
        let pid = std::process::id();
        let mut g = lock(&self.live);
        if let Some(l) = g.as_ref() {
            if l.pid == pid {
                return Ok(l.clone());
            }
            // Made by the parent before a fork: its threads do not exist here, so dropping it
            // would wait for them forever.
            if let Some(old) = g.take() {
                std::mem::forget(old);
            }
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("smstage-view-object")
            .enable_all()
            .build()
            .map_err(|e| self.setup_error(&e.to_string()))?;
        let tiers = {
            let _in_rt = rt.enter();
            match &self.reopen {
                Some(reopen) => self
                    .tiers
                    .iter()
                    .map(|t| reopen(t))
                    .collect::<Result<Vec<_>, _>>()?,
                None => self.tiers.clone(),
            }
        };
        let l = Arc::new(Live { pid, rt, tiers });
        *g = Some(l.clone());
        Ok(l)
    }

    fn setup_error(&self, why: &str) -> ObjectError {
        let place = self
            .tiers
            .first()
            .map(|t| t.place().clone())
            .unwrap_or_else(|| Place {
                endpoint: String::new(),
                bucket: String::new(),
                prefix: String::new(),
            });
        ObjectError::Other {
            place: Box::new(place),
            op: "starting the object reader of the view".into(),
            detail: why.to_string(),
        }
    }

    /// Up to `size` bytes of `leaf` at `offset` (short only at its end). `id` names the leaf
    /// in the cache.
    pub fn read(
        &self,
        id: u64,
        leaf: &ObjectLeaf,
        offset: u64,
        size: u32,
    ) -> Result<Vec<u8>, ObjectError> {
        let end = offset.saturating_add(size as u64).min(leaf.size);
        if offset >= end {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity((end - offset) as usize);
        let mut at = offset;
        while at < end {
            let b = at / self.block;
            let data = self.block(id, leaf, b)?;
            let from = (at - b * self.block) as usize;
            let to = ((end - b * self.block) as usize).min(data.len());
            out.extend_from_slice(&data[from..to]);
            at = b * self.block + to as u64;
        }
        Ok(out)
    }

    fn block(&self, id: u64, leaf: &ObjectLeaf, b: u64) -> Result<Arc<[u8]>, ObjectError> {
        let key = (id, b);
        if let Some(d) = self.cache.get(key) {
            return Ok(d);
        }
        let slot = lock(&self.inflight).entry(key).or_default().clone();
        let _loading = lock(&slot);
        // Another reader may have loaded it while we waited.
        if let Some(d) = self.cache.get(key) {
            return Ok(d);
        }
        let r = self.fetch(leaf, b);
        lock(&self.inflight).remove(&key);
        let d = r?;
        self.cache.insert(key, d.clone());
        Ok(d)
    }

    fn fetch(&self, leaf: &ObjectLeaf, b: u64) -> Result<Arc<[u8]>, ObjectError> {
        let live = self.live()?;
        let tier = live
            .tiers
            .get(leaf.tier)
            .ok_or_else(|| self.setup_error(&format!("no tier #{} for {}", leaf.tier, leaf.url)))?;
        let start = b * self.block;
        let end = (start + self.block).min(leaf.size);
        let file = ObjectFile::new(tier, leaf.key.clone(), leaf.size);
        self.gets.fetch_add(1, Ordering::Relaxed);
        let bytes = {
            // ObjectFile blocks on the runtime of the current context: ours.
            let _in_rt = live.rt.enter();
            file.fetch(start, end)?
        };
        self.fetched
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if bytes.len() as u64 != end - start {
            return Err(ObjectError::Other {
                place: Box::new(tier.place().clone()),
                op: format!("GET range {start}..{end} of {}", leaf.url),
                detail: format!(
                    "the store returned {} bytes instead of {} (the object changed since it was listed?)",
                    bytes.len(),
                    end - start
                ),
            });
        }
        Ok(Arc::from(bytes))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::object::faulty::{FaultPlan, FaultyStore};
    use object_store::memory::InMemory;

    pub(crate) fn mem_tier() -> ObjectTier {
        ObjectTier::from_store(Arc::new(InMemory::new()), "mem", "bkt", "pfx")
    }

    fn leaf(t: &ObjectTier, rel: &str, size: u64) -> ObjectLeaf {
        let key = t.key(rel).unwrap();
        ObjectLeaf {
            tier: 0,
            url: t.url_of(&key),
            key,
            size,
        }
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn ranges_across_blocks_match_the_object_and_hit_the_cache() {
        let plan = FaultPlan::new();
        let t = FaultyStore::wrap(mem_tier(), &plan);
        let bytes = data(10_000);
        t.put("d/t/c", bytes.clone()).unwrap();
        let r = ObjectReader::new(vec![t.clone()], 1 << 20, None).with_block_size(1000);
        let l = leaf(&t, "d/t/c", bytes.len() as u64);
        plan.reset_counts();
        for (off, n) in [
            (0u64, 10u32),
            (995, 10),
            (1000, 1000),
            (2500, 4000),
            (9990, 100),
        ] {
            let got = r.read(7, &l, off, n).unwrap();
            let end = (off as usize + n as usize).min(bytes.len());
            assert_eq!(got, &bytes[off as usize..end], "at {off}+{n}");
        }
        assert!(r.read(7, &l, 10_000, 5).unwrap().is_empty());
        // Blocks 0, 1, 2..6, 9 were fetched once each; the rest came from the cache.
        assert_eq!(plan.bytes_fetched(), r.fetched_bytes());
        assert_eq!(r.gets(), 8);
        assert_eq!(r.fetched_bytes(), 8 * 1000);
        let all = r.read(7, &l, 0, 10_000).unwrap();
        assert_eq!(all, bytes);
        assert_eq!(r.gets(), 10, "only blocks 7 and 8 were still missing");
        // The last block is short: it is fetched to the object's end, not beyond.
        let by_key = plan.fetched_by_key();
        assert_eq!(by_key["pfx/d/t/c"].1, 10_000);
    }

    #[test]
    fn the_cache_bound_forces_refetches() {
        let t = mem_tier();
        let bytes = data(8_000);
        t.put("c", bytes.clone()).unwrap();
        let l = leaf(&t, "c", 8_000);
        let small = ObjectReader::new(vec![t.clone()], 2_000, None).with_block_size(1000);
        for _ in 0..2 {
            assert_eq!(small.read(1, &l, 0, 8_000).unwrap(), bytes);
            assert!(small.cache().bytes() <= 2_000);
        }
        assert_eq!(small.fetched_bytes(), 16_000);
        let big = ObjectReader::new(vec![t.clone()], 1 << 20, None).with_block_size(1000);
        for _ in 0..2 {
            assert_eq!(big.read(1, &l, 0, 8_000).unwrap(), bytes);
        }
        assert_eq!(big.fetched_bytes(), 8_000);
        // Distinct ids are distinct files in the cache.
        assert_eq!(big.read(2, &l, 0, 10).unwrap(), &bytes[..10]);
        assert_eq!(big.fetched_bytes(), 9_000);
    }

    #[test]
    fn store_failures_and_short_objects_are_errors_naming_the_object() {
        let plan = FaultPlan::new();
        let t = FaultyStore::wrap(mem_tier(), &plan);
        t.put("a/b", data(3000)).unwrap();
        let r = ObjectReader::new(vec![t.clone()], 1 << 20, None).with_block_size(1000);
        plan.fail_from(1);
        let l = leaf(&t, "a/b", 3000);
        let e = r.read(1, &l, 0, 100).unwrap_err();
        assert!(e.to_string().contains("pfx/a/b"), "{e}");
        plan.fail_from(0);
        assert_eq!(r.read(1, &l, 0, 100).unwrap(), &data(3000)[..100]);
        // Listed larger than it is now: the short answer is refused.
        let whole = ObjectReader::new(vec![t.clone()], 1 << 20, None).with_block_size(4000);
        let long = leaf(&t, "a/b", 3500);
        let e = whole.read(2, &long, 0, 10).unwrap_err();
        assert!(e.to_string().contains("s3://bkt/pfx/a/b"), "{e}");
        assert!(e.to_string().contains("3000 bytes instead of 3500"), "{e}");
        let gone = leaf(&t, "a/nope", 10);
        let e = r.read(3, &gone, 0, 10).unwrap_err();
        assert!(matches!(e, ObjectError::NotFound { .. }), "{e}");
    }

    #[test]
    fn concurrent_readers_of_a_block_fetch_it_once() {
        let plan = FaultPlan::new();
        let t = FaultyStore::wrap(mem_tier(), &plan);
        let bytes = data(4000);
        t.put("x", bytes.clone()).unwrap();
        plan.delay(std::time::Duration::from_millis(50));
        plan.reset_counts();
        let r = Arc::new(ObjectReader::new(vec![t.clone()], 1 << 20, None).with_block_size(4000));
        let l = leaf(&t, "x", 4000);
        let hs: Vec<_> = (0..4u64)
            .map(|i| {
                let (r, l) = (r.clone(), l.clone());
                std::thread::spawn(move || r.read(1, &l, i * 1000, 1000).unwrap())
            })
            .collect();
        for (i, h) in hs.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), &bytes[i * 1000..(i + 1) * 1000]);
        }
        assert_eq!(r.gets(), 1);
        assert_eq!(plan.bytes_fetched(), 4000);
    }
}
