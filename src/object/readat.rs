//! One object read through `kdb::ReadAt` with ranged GETs, so the kdb+ reader parses headers,
//! trailers and blocks of objects exactly as of local files, fetching only what it reads.

use super::block_on;
use super::store::{ObjectError, ObjectTier};
use crate::kdb::{KdbError, ReadAt};
use object_store::path::Path as ObjPath;
use object_store::ObjectStoreExt;
use std::sync::Mutex;

/// Bytes fetched at once from the start of an object: a header read looks at 4 KiB.
pub const HEAD_PREFIX: u64 = crate::kdb::header::HEADER_READ as u64;
/// Ranges up to this size are remembered (at most [`RECENT`] of them).
const RECENT_MAX: usize = 256 << 10;
const RECENT: usize = 4;
/// Prefix for a nested data file (`col#`): its 4 KiB header plus the first item's header.
pub const NESTED_PREFIX: u64 = crate::kdb::header::NESTED_HEAD as u64;

/// An object of a tier, as a random-access byte source.
///
/// The first `prefix` bytes are fetched by the first read that starts inside them and kept,
/// since the reader looks at the magic, then the header, of the same 4 KiB. Reads elsewhere
/// (a `kxzipped` trailer, a compressed block) are one ranged GET each. The first store error
/// is kept: a `KdbError` cannot carry it, and callers must tell "the store failed" from "the
/// file is corrupt" ([`ObjectFile::take_store_error`]).
#[derive(Debug)]
pub struct ObjectFile {
    tier: ObjectTier,
    key: ObjPath,
    url: String,
    len: u64,
    prefix: u64,
    head: Mutex<Option<Vec<u8>>>,
    /// A few recent small ranges (trailer, first block): a header read and a nested-item
    /// read of the same object ask for them twice.
    recent: Mutex<Vec<(u64, Vec<u8>)>>,
    failure: Mutex<Option<ObjectError>>,
}

impl ObjectFile {
    /// `len` is the object's size from a listing (no HEAD request needed).
    pub fn new(tier: &ObjectTier, key: ObjPath, len: u64) -> ObjectFile {
        let prefix = if key.as_ref().ends_with('#') {
            NESTED_PREFIX
        } else {
            HEAD_PREFIX
        };
        ObjectFile {
            url: tier.url_of(&key),
            tier: tier.clone(),
            key,
            len,
            prefix,
            head: Mutex::new(None),
            recent: Mutex::new(Vec::new()),
            failure: Mutex::new(None),
        }
    }

    /// Opens with one HEAD request for the size.
    pub fn open(tier: &ObjectTier, key: ObjPath) -> Result<ObjectFile, ObjectError> {
        let meta = block_on(tier.store().head(&key)).map_err(|e| tier.err("HEAD", &key, &e))?;
        Ok(ObjectFile::new(tier, key, meta.size))
    }

    /// Serves the first bytes from memory (tests, or bytes fetched in a batch).
    pub fn with_head(self, head: Vec<u8>) -> ObjectFile {
        *lock(&self.head) = Some(head);
        self
    }

    pub fn key(&self) -> &ObjPath {
        &self.key
    }

    /// The store error behind the last failed read, if a read failed for that reason.
    pub fn take_store_error(&self) -> Option<ObjectError> {
        lock(&self.failure).take()
    }

    /// One ranged GET of `[start, end)`.
    pub fn fetch(&self, start: u64, end: u64) -> Result<Vec<u8>, ObjectError> {
        if start >= end {
            return Ok(Vec::new());
        }
        block_on(self.tier.store().get_range(&self.key, start..end))
            .map(|b| b.to_vec())
            .map_err(|e| self.tier.err("GET range", &self.key, &e))
    }

    fn to_kdb(&self, e: ObjectError) -> KdbError {
        let k = KdbError::io(self.url.clone(), std::io::Error::other(e.to_string()));
        *lock(&self.failure) = Some(e);
        k
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep using it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ReadAt for ObjectFile {
    fn len(&self) -> Result<u64, KdbError> {
        Ok(self.len)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), KdbError> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= self.len);
        let Some(end) = end else {
            return Err(KdbError::truncated(
                self.url.clone(),
                offset.min(self.len),
                format!(
                    "wanted {} bytes at offset {offset} but the object holds {} bytes",
                    buf.len(),
                    self.len
                ),
            ));
        };
        if buf.is_empty() {
            return Ok(());
        }
        let head_len = self.prefix.min(self.len);
        if end <= head_len {
            let mut head = lock(&self.head);
            if head.is_none() {
                *head = Some(self.fetch(0, head_len).map_err(|e| self.to_kdb(e))?);
            }
            let h = head.as_deref().unwrap_or_default();
            if (h.len() as u64) < end {
                return Err(KdbError::truncated(
                    self.url.clone(),
                    h.len() as u64,
                    format!("the store returned {} bytes of {head_len}", h.len()),
                ));
            }
            buf.copy_from_slice(&h[offset as usize..end as usize]);
            return Ok(());
        }
        {
            let recent = lock(&self.recent);
            if let Some((at, b)) = recent
                .iter()
                .find(|(at, b)| *at <= offset && end <= at + b.len() as u64)
            {
                let from = (offset - at) as usize;
                buf.copy_from_slice(&b[from..from + buf.len()]);
                return Ok(());
            }
        }
        let bytes = self.fetch(offset, end).map_err(|e| self.to_kdb(e))?;
        if bytes.len() != buf.len() {
            return Err(KdbError::truncated(
                self.url.clone(),
                offset,
                format!(
                    "asked for {} bytes at offset {offset}, the store returned {}",
                    buf.len(),
                    bytes.len()
                ),
            ));
        }
        buf.copy_from_slice(&bytes);
        if bytes.len() <= RECENT_MAX {
            let mut recent = lock(&self.recent);
            if recent.len() == RECENT {
                recent.remove(0);
            }
            recent.push((offset, bytes));
        }
        Ok(())
    }

    fn path(&self) -> &str {
        &self.url
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use std::sync::Arc;

    fn tier_with(key: &str, bytes: Vec<u8>) -> ObjectTier {
        let t = ObjectTier::from_store(Arc::new(InMemory::new()), "mem", "b", "p");
        t.put(key, bytes).unwrap();
        t
    }

    #[test]
    fn reads_ranges_and_reports_truncation() {
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let t = tier_with("x/col", data.clone());
        let f = ObjectFile::open(&t, t.key("x/col").unwrap()).unwrap();
        assert_eq!(f.len().unwrap(), 10_000);
        assert_eq!(f.path(), "s3://b/p/x/col");
        let mut b = [0u8; 4];
        f.read_at(10, &mut b).unwrap();
        assert_eq!(b, [10, 11, 12, 13]);
        f.read_at(9_000, &mut b).unwrap();
        assert_eq!(b, [data[9000], data[9001], data[9002], data[9003]]);
        // Served from the remembered range, not fetched again.
        let mut two = [0u8; 2];
        f.read_at(9_001, &mut two).unwrap();
        assert_eq!(two, [data[9001], data[9002]]);
        let err = f.read_at(9_998, &mut b).unwrap_err();
        assert!(matches!(err, KdbError::Truncated { .. }), "{err}");
        assert!(f.take_store_error().is_none());
    }

    #[test]
    fn missing_object_keeps_the_store_error() {
        let t = tier_with("a", vec![1, 2, 3]);
        let f = ObjectFile::new(&t, t.key("gone").unwrap(), 3);
        let mut b = [0u8; 2];
        let err = f.read_at(0, &mut b).unwrap_err();
        assert!(err.to_string().contains("s3://b/p/gone"), "{err}");
        let se = f.take_store_error().unwrap();
        assert!(matches!(se, ObjectError::NotFound { .. }), "{se}");
    }

    #[test]
    fn header_of_an_object_matches_the_local_reader() {
        let (image, _) = crate::kdb::write::nested_chars_bytes(
            &[b"ab", b"cde"],
            crate::kdb::write::HeaderCount::Set,
        );
        let t = tier_with("t/c", image.clone());
        let f = ObjectFile::open(&t, t.key("t/c").unwrap()).unwrap();
        let h = crate::kdb::read_header_from(&f).unwrap();
        let local = crate::kdb::read_header_from(&crate::kdb::MemSource::new("m", image)).unwrap();
        assert_eq!(h, local);
    }
}
