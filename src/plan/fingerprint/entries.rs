//! The entries of a fingerprint, packed: a fingerprint of a million-file database is held for
//! the whole run of the checks (and two are compared by `commit --plan`), so as a list of
//! [`FsEntry`] (~170 bytes each with its path) it would cost more than the checks themselves.
//!
//! Each entry is one record in a byte buffer: a header byte (kind, whether a link target
//! follows), the path as the number of leading bytes it shares with the previous path and the
//! rest, the size, the mtime and the inode as zigzag differences from the previous entry's (files
//! written together have close mtimes and inodes), then the ctime if any as a zigzag difference
//! from the entry's own mtime (equal when a file was last written in place, close when copied),
//! then the target if any; all numbers as
//! LEB128 varints. Entries sorted by path share most of each path with the previous one, so a
//! database of generated partitions costs ~12 bytes per entry.
//!
//! The order given is kept exactly (it is part of what `plan_id` hashes). A plan file of
//! fingerprint version 3 carries these very bytes ([`super::packed`] reads them back, checking
//! every record); versions 1 and 2 carry the list of [`FsEntry`] objects
//! ([`super::file_form`]).

use super::{FsEntry, FsKind};
use std::fmt;

pub(super) const KIND_BITS: u8 = 0b011;
pub(super) const HAS_TARGET: u8 = 0b100;
pub(super) const HAS_CTIME: u8 = 0b1000;

/// Entries in the order they were pushed, packed (module docs).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Entries {
    bytes: Vec<u8>,
    len: usize,
    /// Whether every path is greater (by bytes) than the one before it, as a walk gives them.
    sorted: bool,
    /// The last entry's path, mtime and inode: what the next record is encoded against.
    last: Last,
    /// Regular files without a ctime (a fingerprint of version 1): counted as they come, so
    /// `commit --plan` knows without a pass over a million entries whether stamps see
    /// in-place writes.
    files_without_ctime: usize,
}

#[derive(Clone, Default, PartialEq, Eq)]
struct Last {
    path: String,
    mtime_ns: i64,
    inode: u64,
}

fn kind_code(k: FsKind) -> u8 {
    match k {
        FsKind::Dir => 0,
        FsKind::File => 1,
        FsKind::Symlink => 2,
        FsKind::Other => 3,
    }
}

pub(super) fn kind_of_code(c: u8) -> FsKind {
    match c & KIND_BITS {
        0 => FsKind::Dir,
        1 => FsKind::File,
        2 => FsKind::Symlink,
        _ => FsKind::Other,
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(super) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(super) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// The length of the longest common prefix of `a` and `b` that ends on a character boundary
/// of both (so that the rest of a path is a string of its own).
pub(super) fn shared_prefix(a: &str, b: &str) -> usize {
    let mut n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !b.is_char_boundary(n) {
        n -= 1;
    }
    n
}

impl Entries {
    pub fn new() -> Entries {
        Entries {
            sorted: true,
            ..Entries::default()
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held on the heap (what the packing is measured by).
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.last.path.capacity()
    }

    /// Whether the paths are strictly increasing by bytes.
    pub fn is_sorted(&self) -> bool {
        self.sorted
    }

    /// Releases the spare capacity of the buffer (once no more entries come).
    pub fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
    }

    /// Whether every regular file among the entries carries its ctime.
    pub fn every_file_has_ctime(&self) -> bool {
        self.files_without_ctime == 0
    }

    /// An empty list whose buffer holds `bytes` bytes before it grows.
    pub(super) fn with_capacity(bytes: usize) -> Entries {
        Entries {
            bytes: Vec::with_capacity(bytes),
            ..Entries::new()
        }
    }

    /// The records, back to back (module docs): what a plan file of fingerprint version 3
    /// carries.
    pub fn packed_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn push(&mut self, e: &FsEntry) {
        self.push_ref(EntryRef::from(e));
    }

    /// [`Entries::push`] of a borrowed entry.
    pub fn push_ref(&mut self, e: EntryRef<'_>) {
        if self.len > 0 && e.path.as_bytes() <= self.last.path.as_bytes() {
            self.sorted = false;
        }
        if e.kind == FsKind::File && e.ctime_ns.is_none() {
            self.files_without_ctime += 1;
        }
        let mut header = kind_code(e.kind);
        if e.target.is_some() {
            header |= HAS_TARGET;
        }
        if e.ctime_ns.is_some() {
            header |= HAS_CTIME;
        }
        self.bytes.push(header);
        let shared = shared_prefix(&self.last.path, e.path);
        put_varint(&mut self.bytes, shared as u64);
        let rest = &e.path.as_bytes()[shared..];
        put_varint(&mut self.bytes, rest.len() as u64);
        self.bytes.extend_from_slice(rest);
        put_varint(&mut self.bytes, e.size);
        put_varint(
            &mut self.bytes,
            zigzag(e.mtime_ns.wrapping_sub(self.last.mtime_ns)),
        );
        put_varint(
            &mut self.bytes,
            zigzag(e.inode.wrapping_sub(self.last.inode) as i64),
        );
        if let Some(c) = e.ctime_ns {
            put_varint(&mut self.bytes, zigzag(c.wrapping_sub(e.mtime_ns)));
        }
        if let Some(t) = e.target {
            put_varint(&mut self.bytes, t.len() as u64);
            self.bytes.extend_from_slice(t.as_bytes());
        }
        self.last.path.truncate(shared);
        self.last.path.push_str(&e.path[shared..]);
        self.last.mtime_ns = e.mtime_ns;
        self.last.inode = e.inode;
        self.len += 1;
    }

    /// Appends every entry of `other` after these, in its order: its first record is encoded
    /// again (against this list's last entry), the rest copied as they are, since each is
    /// encoded against its predecessor, which does not change. What the fingerprint walk uses
    /// to join the sorted lists of the database's top-level entries without decoding them.
    pub fn append(&mut self, other: &Entries) {
        let mut it = other.iter();
        let Some(first) = it.next() else {
            return;
        };
        self.push(&first);
        self.bytes.extend_from_slice(it.bytes);
        self.len += other.len - 1;
        // push() counted the first already.
        let first_counted = usize::from(first.kind == FsKind::File && first.ctime_ns.is_none());
        self.files_without_ctime += other.files_without_ctime - first_counted;
        self.sorted &= other.sorted;
        self.last = other.last.clone();
    }

    /// The first entry's path, if any.
    pub fn first_path(&self) -> Option<String> {
        self.iter().next().map(|e| e.path)
    }

    /// The last entry's path ("" when empty).
    pub fn last_path(&self) -> &str {
        &self.last.path
    }

    /// Calls `f` with every entry in order, borrowing its path and target instead of
    /// allocating them: for passes over a million entries that keep nothing of most.
    pub fn for_each_ref(&self, mut f: impl FnMut(EntryRef<'_>)) {
        let mut it = self.iter();
        while it.left > 0 {
            match it.decode_ref() {
                Some(e) => f(e),
                None => {
                    debug_assert!(false, "a packed fingerprint entry does not decode");
                    return;
                }
            }
            it.left -= 1;
        }
    }

    /// The entries in the order they were pushed.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            bytes: &self.bytes,
            left: self.len,
            path: String::new(),
            mtime_ns: 0,
            inode: 0,
        }
    }

    /// The entries sorted by path bytes: as stored when they are (always, for a walk), else a
    /// sorted copy.
    pub fn in_path_order(&self) -> Box<dyn Iterator<Item = FsEntry> + '_> {
        if self.sorted {
            Box::new(self.iter())
        } else {
            let mut v: Vec<FsEntry> = self.iter().collect();
            v.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
            Box::new(v.into_iter())
        }
    }
}

impl FromIterator<FsEntry> for Entries {
    fn from_iter<I: IntoIterator<Item = FsEntry>>(iter: I) -> Entries {
        let mut out = Entries::new();
        for e in iter {
            out.push(&e);
        }
        out.shrink_to_fit();
        out
    }
}

impl From<Vec<FsEntry>> for Entries {
    fn from(v: Vec<FsEntry>) -> Entries {
        v.into_iter().collect()
    }
}

/// Decodes [`Entries`] one by one.
pub struct Iter<'a> {
    bytes: &'a [u8],
    left: usize,
    path: String,
    mtime_ns: i64,
    inode: u64,
}

impl<'a> Iter<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.bytes.split_first()?;
            self.bytes = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn str(&mut self, len: usize) -> Option<&'a str> {
        let bytes: &'a [u8] = self.bytes;
        let (s, rest) = bytes.split_at_checked(len)?;
        self.bytes = rest;
        std::str::from_utf8(s).ok()
    }

    /// The next record, borrowing the path from the iterator and the target from the buffer.
    fn decode_ref(&mut self) -> Option<EntryRef<'_>> {
        let (&header, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        let shared = usize::try_from(self.varint()?).ok()?;
        let len = usize::try_from(self.varint()?).ok()?;
        if shared > self.path.len() || !self.path.is_char_boundary(shared) {
            return None;
        }
        let mut path = std::mem::take(&mut self.path);
        path.truncate(shared);
        path.push_str(self.str(len)?);
        self.path = path;
        let size = self.varint()?;
        self.mtime_ns = self.mtime_ns.wrapping_add(unzigzag(self.varint()?));
        self.inode = self.inode.wrapping_add(unzigzag(self.varint()?) as u64);
        let ctime_ns = if header & HAS_CTIME != 0 {
            Some(self.mtime_ns.wrapping_add(unzigzag(self.varint()?)))
        } else {
            None
        };
        let target = if header & HAS_TARGET != 0 {
            let len = usize::try_from(self.varint()?).ok()?;
            Some(self.str(len)?)
        } else {
            None
        };
        Some(EntryRef {
            path: &self.path,
            kind: kind_of_code(header),
            size,
            mtime_ns: self.mtime_ns,
            inode: self.inode,
            target,
            ctime_ns,
        })
    }

    fn decode(&mut self) -> Option<FsEntry> {
        self.decode_ref().map(FsEntry::from)
    }
}

/// An entry as [`Entries::for_each_ref`] lends it: [`FsEntry`]'s fields, the strings borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryRef<'a> {
    pub path: &'a str,
    pub kind: FsKind,
    pub size: u64,
    pub mtime_ns: i64,
    pub inode: u64,
    pub target: Option<&'a str>,
    pub ctime_ns: Option<i64>,
}

impl<'a> From<&'a FsEntry> for EntryRef<'a> {
    fn from(e: &'a FsEntry) -> EntryRef<'a> {
        EntryRef {
            path: &e.path,
            kind: e.kind,
            size: e.size,
            mtime_ns: e.mtime_ns,
            inode: e.inode,
            target: e.target.as_deref(),
            ctime_ns: e.ctime_ns,
        }
    }
}

impl From<EntryRef<'_>> for FsEntry {
    fn from(e: EntryRef<'_>) -> FsEntry {
        FsEntry {
            path: e.path.to_string(),
            kind: e.kind,
            size: e.size,
            mtime_ns: e.mtime_ns,
            inode: e.inode,
            target: e.target.map(str::to_string),
            ctime_ns: e.ctime_ns,
        }
    }
}

impl Iterator for Iter<'_> {
    type Item = FsEntry;

    fn next(&mut self) -> Option<FsEntry> {
        if self.left == 0 {
            return None;
        }
        // Only `Entries::push` writes the buffer, so every record decodes.
        let e = self.decode();
        debug_assert!(e.is_some(), "a packed fingerprint entry does not decode");
        self.left = if e.is_some() { self.left - 1 } else { 0 };
        e
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl fmt::Debug for Entries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::tests::e;
    use super::*;

    /// Edge values: extremes of every number, shared prefixes that end inside a multi-byte
    /// character, targets on a symlink and (as a file may say) on another kind, and an order
    /// that is not sorted.
    pub(crate) fn awkward() -> Vec<FsEntry> {
        vec![
            e(".", FsKind::Dir, 4096, 1_700_000_000_123_456_789, 2),
            e("a", FsKind::File, 0, i64::MIN, u64::MAX),
            e("aé", FsKind::File, u64::MAX, i64::MAX, 0),
            e("aè/x", FsKind::Other, 1, -1, 1 << 63),
            FsEntry {
                target: Some("../../elsewhere/ü".into()),
                ..e("aè/l", FsKind::Symlink, 17, 0, 5)
            },
            FsEntry {
                target: Some(String::new()),
                ctime_ns: Some(i64::MIN),
                ..e("", FsKind::File, 3, 3, 3)
            },
            FsEntry {
                ctime_ns: Some(i64::MAX),
                ..e("b", FsKind::File, 3, i64::MIN, 3)
            },
            FsEntry {
                ctime_ns: Some(1_700_000_000_123_456_790),
                ..e("c", FsKind::File, 3, 1_700_000_000_123_456_789, 4)
            },
            e("a", FsKind::Dir, 4096, 1, 1),
        ]
    }

    #[test]
    fn entries_come_back_as_pushed() {
        let v = awkward();
        let packed = Entries::from(v.clone());
        assert_eq!(packed.len(), v.len());
        assert!(!packed.is_sorted());
        assert_eq!(packed.iter().collect::<Vec<_>>(), v);
        let mut sorted = v.clone();
        sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        assert_eq!(packed.in_path_order().collect::<Vec<_>>(), sorted);
        sorted.dedup_by(|a, b| a.path == b.path);
        let packed_sorted = Entries::from(sorted.clone());
        assert!(packed_sorted.is_sorted());
        assert_eq!(packed_sorted.in_path_order().collect::<Vec<_>>(), sorted);
        assert!(Entries::new().is_sorted() && Entries::new().iter().next().is_none());
    }

    #[test]
    fn appending_packs_as_pushing_one_by_one_and_lends_the_same_entries() {
        let all = awkward();
        let whole: Entries = all.iter().cloned().collect();
        for k in 0..=all.len() {
            let mut a: Entries = all[..k].iter().cloned().collect();
            let b: Entries = all[k..].iter().cloned().collect();
            a.append(&b);
            a.shrink_to_fit();
            // Same bytes, same order flag, same last entry: equal as the diff compares them.
            assert_eq!(a, whole, "split at {k}");
            assert_eq!(a.iter().collect::<Vec<_>>(), all);
        }
        let mut lent = Vec::new();
        whole.for_each_ref(|e| lent.push(FsEntry::from(e)));
        assert_eq!(lent, all);
        assert_eq!(whole.first_path().as_deref(), Some(all[0].path.as_str()));
        assert_eq!(whole.last_path(), all[all.len() - 1].path);
        // Files without a ctime are counted through appends as through pushes.
        let bare = all
            .iter()
            .filter(|e| e.kind == FsKind::File && e.ctime_ns.is_none())
            .count();
        assert!(bare > 0 && bare < all.iter().filter(|e| e.kind == FsKind::File).count());
        assert!(!whole.every_file_has_ctime());
        let with: Entries = all
            .iter()
            .filter(|e| e.kind != FsKind::File || e.ctime_ns.is_some())
            .cloned()
            .collect();
        assert!(with.every_file_has_ctime());
    }

    #[test]
    fn a_generated_partition_packs_to_a_few_bytes_per_entry() {
        // One partition as `smstage gen` writes it: 10 tables of 20 columns, files of 96
        // bytes written a few microseconds apart, inodes allocated in order; a file's ctime is
        // its mtime (written, never touched since).
        let mut v = vec![e(".", FsKind::Dir, 4096, 0, 1000)];
        let mut t = 1_700_000_000_000_000_000i64;
        let mut ino = 1000u64;
        for p in 0..50 {
            let part = format!("2024.01.{:02}", p + 1);
            v.push(e(&part, FsKind::Dir, 4096, t, ino));
            for tab in 0..10 {
                let dir = format!("{part}/t{tab}");
                v.push(e(&dir, FsKind::Dir, 4096, t, ino + 1));
                v.push(FsEntry {
                    ctime_ns: Some(t),
                    ..e(&format!("{dir}/.d"), FsKind::File, 120, t, ino + 2)
                });
                for c in 0..20 {
                    t += 7_919;
                    ino += 1;
                    v.push(FsEntry {
                        ctime_ns: Some(t),
                        ..e(&format!("{dir}/c{c:02}"), FsKind::File, 96, t, ino)
                    });
                }
            }
        }
        let packed = Entries::from(v.clone());
        let per_entry = packed.heap_bytes() as f64 / v.len() as f64;
        assert!(per_entry <= 16.0, "{per_entry} bytes per entry");
        assert_eq!(packed.iter().collect::<Vec<_>>(), v);
    }
}
