//! Inode numbers of the entries below moved nodes, derived instead of remembered, and the one
//! small record per directory that makes them derivable.
//!
//! A table keyed by path (one entry per file ever seen) grows with the database: 1.1 million
//! files cost ~500 MB. Here a number says where its entry stands: a directory below a moved node
//! has a *slot* in [`DirTable`], and an entry is (slot of its directory, index in that
//! directory's name-sorted listing). The listing itself can then be dropped and listed again
//! (the cache is bounded, `super::listings`): as long as the directory is unchanged, which its
//! digest proves, the same name sits at the same index and gets the same number. The kernel
//! may hold a node id for as long as it likes, whatever we evict, and still find it valid.
//!
//! A number below a moved node is `2^63 | mix(place)`, where `place` (63 bits) is
//! - `slot` (below 2^30): a directory below a moved node (moved directories keep their plan ino);
//! - `2^62 | parent_slot << 32 | index`: any other entry below a moved node;
//!
//! and `mix` is a bijection of 63-bit values (xor-shifts and odd multipliers, each invertible),
//! so a number still decodes to its place and two places never share a number. Generated
//! entries (from the plan) stay below 2^32, so they never meet these.
//!
//! Why mixed: the kernel keeps a FUSE inode in its global inode hash under the node id itself
//! (`iget5_locked(sb, nodeid, ..)`), and `fs/inode.c` `hash()` reduces it with
//! `(v * sb) ^ ((GOLDEN_RATIO_PRIME + v) / L1_CACHE_BYTES)` then folds in the bits just above
//! the table mask: a multiplication only carries upwards, so in the bare structured number the
//! parent slot (bits 32 and up) barely reaches the bucket and the entries of many directories
//! share the few buckets that their small indexes select. How badly depends on the alignment
//! of the superblock's address (`tests::kernel_hash_*` measures it); mixed numbers fill the
//! table like random ones whatever the alignment.

use super::tree::{Errno, Ino};
use std::ffi::{OsStr, OsString};
use std::hash::Hasher;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

/// Set in every number below a moved node: keeps them clear of the plan's numbers.
const PASS_TAG: u64 = 1 << 63;
/// In a place (before mixing): an entry rather than a directory.
const ENTRY_TAG: u64 = 1 << 62;
const MASK63: u64 = (1 << 63) - 1;
/// Odd multipliers of the mix (those of SplitMix64's finaliser); their inverses modulo 2^63
/// are computed at compile time.
const M1: u64 = 0xbf58_476d_1ce4_e5b9;
const M2: u64 = 0x94d0_49bb_1331_11eb;
const M1_INV: u64 = inverse_odd(M1);
const M2_INV: u64 = inverse_odd(M2);
/// Slots stay below 2^30 so that `slot << 32` never reaches the tag bits.
pub const MAX_SLOTS: usize = 1 << 30;
/// Generated entries (plan nodes) are numbered below this.
pub const MAX_GEN: u64 = 1 << 32;

/// What an inode number below a moved node designates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    Dir(u32),
    Entry { dir: u32, idx: u32 },
}

/// The inverse of an odd number modulo 2^64 (hence modulo 2^63): Newton's iteration doubles
/// the correct low bits each round, from 3 (an odd number is its own inverse modulo 8).
const fn inverse_odd(m: u64) -> u64 {
    let mut x = m;
    let mut i = 0;
    while i < 5 {
        x = x.wrapping_mul(2u64.wrapping_sub(m.wrapping_mul(x)));
        i += 1;
    }
    x
}

/// `x ^ (x >> s)` within 63 bits is undone by applying the shift until it covers all bits.
fn unshift(y: u64, s: u32) -> u64 {
    let mut x = y;
    let mut covered = s;
    while covered < 63 {
        x = y ^ (x >> s);
        covered += s;
    }
    x
}

/// A bijection of 63-bit values whose low bits depend on every input bit.
fn mix(place: u64) -> u64 {
    let mut x = place & MASK63;
    x ^= x >> 31;
    x = x.wrapping_mul(M1) & MASK63;
    x ^= x >> 29;
    x = x.wrapping_mul(M2) & MASK63;
    x ^ (x >> 32)
}

fn unmix(mixed: u64) -> u64 {
    let mut x = unshift(mixed & MASK63, 32);
    x = x.wrapping_mul(M2_INV) & MASK63;
    x = unshift(x, 29);
    x = x.wrapping_mul(M1_INV) & MASK63;
    unshift(x, 31)
}

pub fn dir_ino(slot: u32) -> Ino {
    PASS_TAG | mix(slot as u64)
}

pub fn entry_ino(dir: u32, idx: u32) -> Ino {
    PASS_TAG | mix(ENTRY_TAG | (dir as u64) << 32 | idx as u64)
}

/// None for a generated entry's number (below [`MAX_GEN`]) or a number never handed out.
pub fn decode(ino: Ino) -> Option<Pass> {
    if ino & PASS_TAG == 0 {
        return None;
    }
    let place = unmix(ino);
    if place & ENTRY_TAG != 0 {
        let dir = (place & !ENTRY_TAG) >> 32;
        (dir < MAX_SLOTS as u64).then_some(Pass::Entry {
            dir: dir as u32,
            idx: place as u32,
        })
    } else {
        (place < MAX_SLOTS as u64).then_some(Pass::Dir(place as u32))
    }
}

/// The facts of one listed entry that the digest covers: everything the view serves of it
/// except atime (which reads through the view itself move), plus the original's inode.
#[derive(Clone, Copy, Debug)]
pub struct Stamp<'a> {
    pub name: &'a OsStr,
    pub st: &'a libc::stat,
}

/// A digest of a directory's listing as served: names, kinds, sizes, mtimes, ctimes, modes,
/// owners, link counts, blocks and original inode numbers. Stable for the process (SipHash with
/// fixed keys), which is all it needs: it is compared only within one mount.
pub fn digest<'a>(entries: impl Iterator<Item = Stamp<'a>>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for e in entries {
        let st = e.st;
        h.write(e.name.as_bytes());
        h.write_u8(0);
        for v in [
            st.st_mode as i64,
            st.st_ino as i64,
            st.st_size,
            st.st_mtime,
            st.st_mtime_nsec,
            st.st_ctime,
            st.st_ctime_nsec,
            st.st_nlink as i64,
            st.st_uid as i64,
            st.st_gid as i64,
            st.st_blocks,
        ] {
            h.write_i64(v);
        }
    }
    h.finish()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Unlisted,
    Listed,
    /// Listed again and found different from what was served: refused for the mount.
    Changed,
}

/// One directory below (or at) a moved node. Kept for the life of the mount: ~40 bytes plus
/// its name, so 550,000 directories (10 million files) cost ~25 MB.
#[derive(Clone, Copy, Debug)]
struct DirRec {
    /// Slot of the directory holding it; `u32::MAX` for a moved node (a root of the table).
    parent: u32,
    /// Its index in the parent's listing; for a root, its plan inode number.
    idx: u32,
    /// Its name (a root: its path in the original) in [`DirTable::names`].
    name_at: u32,
    name_len: u32,
    state: State,
    /// Its subdirectories have the consecutive slots `first_sub..first_sub + subs` (in name
    /// order), handed out when it is first listed.
    first_sub: u32,
    subs: u32,
    /// Entries in its listing (not counting `.` and `..`).
    len: u32,
    digest: u64,
}

/// What the first listing of a directory registers.
#[derive(Debug)]
pub struct Registered {
    pub first_sub: u32,
}

/// Why a listing was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// It differs from the listing served earlier (the directory changed on disk); `first`
    /// when this listing found it out.
    Changed { first: bool },
    /// Too many directories for the inode layout.
    Full,
}

/// The per-directory records, never evicted. Every operation takes `&mut self`: the caller
/// holds it behind one lock.
#[derive(Debug, Default)]
pub struct DirTable {
    recs: Vec<DirRec>,
    names: Vec<u8>,
}

impl DirTable {
    /// Slot of a moved directory node whose plan inode is `ino`, at `from` in the original.
    /// Roots are added before anything is listed.
    pub fn add_root(&mut self, ino: Ino, from: &std::path::Path) -> u32 {
        let slot = self.recs.len() as u32;
        let name_at = self.push_name(from.as_os_str());
        self.recs.push(DirRec {
            parent: u32::MAX,
            idx: ino as u32,
            name_at,
            name_len: from.as_os_str().len() as u32,
            state: State::Unlisted,
            first_sub: 0,
            subs: 0,
            len: 0,
            digest: 0,
        });
        slot
    }

    fn push_name(&mut self, name: &OsStr) -> u32 {
        let at = self.names.len() as u32;
        self.names.extend_from_slice(name.as_bytes());
        at
    }

    fn rec(&self, slot: u32) -> Result<&DirRec, Errno> {
        self.recs.get(slot as usize).ok_or(Errno::ENOENT)
    }

    /// The inode number the view gives directory `slot`.
    pub fn ino_of(&self, slot: u32) -> Result<Ino, Errno> {
        let r = self.rec(slot)?;
        Ok(if r.parent == u32::MAX {
            r.idx as Ino
        } else {
            dir_ino(slot)
        })
    }

    /// Directory `slot`'s parent slot and index there; None for a moved node.
    pub fn position(&self, slot: u32) -> Result<Option<(u32, u32)>, Errno> {
        let r = self.rec(slot)?;
        Ok((r.parent != u32::MAX).then_some((r.parent, r.idx)))
    }

    /// The path of directory `slot` in the original, relative to the base.
    pub fn path(&self, slot: u32) -> Result<PathBuf, Errno> {
        let mut parts = Vec::new();
        let mut cur = slot;
        loop {
            let r = self.rec(cur)?;
            let at = r.name_at as usize;
            parts.push(&self.names[at..at + r.name_len as usize]);
            if r.parent == u32::MAX {
                break;
            }
            cur = r.parent;
        }
        let mut p = Vec::with_capacity(parts.iter().map(|s| s.len() + 1).sum());
        for (i, part) in parts.iter().rev().enumerate() {
            if i > 0 {
                p.push(b'/');
            }
            p.extend_from_slice(part);
        }
        Ok(PathBuf::from(OsString::from_vec(p)))
    }

    /// Whether entry `idx` can exist in directory `slot` (listed, unchanged, in range).
    pub fn check_entry(&self, slot: u32, idx: u32) -> Result<(), Errno> {
        let r = self.rec(slot)?;
        match r.state {
            State::Listed if idx < r.len => Ok(()),
            State::Changed => Err(Errno::EIO),
            _ => Err(Errno::ENOENT),
        }
    }

    pub fn is_changed(&self, slot: u32) -> bool {
        self.rec(slot).is_ok_and(|r| r.state == State::Changed)
    }

    /// A listing of `slot` taken from the disk: `dirs` are the names of its subdirectories in
    /// name order, `len` its number of entries. The first listing hands out the slots of its
    /// subdirectories; a later one (after eviction) must have the same digest, else the
    /// directory is marked changed and refused from then on.
    pub fn register<'n>(
        &mut self,
        slot: u32,
        digest: u64,
        len: usize,
        dirs: impl ExactSizeIterator<Item = (u32, &'n OsStr)>,
    ) -> Result<Registered, Refused> {
        let r = *self
            .recs
            .get(slot as usize)
            .ok_or(Refused::Changed { first: false })?;
        match r.state {
            State::Changed => return Err(Refused::Changed { first: false }),
            State::Listed if r.digest == digest && r.len as usize == len => {
                return Ok(Registered {
                    first_sub: r.first_sub,
                })
            }
            State::Listed => {
                self.recs[slot as usize].state = State::Changed;
                return Err(Refused::Changed { first: true });
            }
            State::Unlisted => {}
        }
        if self.recs.len() + dirs.len() > MAX_SLOTS || len > u32::MAX as usize {
            return Err(Refused::Full);
        }
        let first_sub = self.recs.len() as u32;
        let subs = dirs.len() as u32;
        for (idx, name) in dirs {
            let name_at = self.push_name(name);
            self.recs.push(DirRec {
                parent: slot,
                idx,
                name_at,
                name_len: name.len() as u32,
                state: State::Unlisted,
                first_sub: 0,
                subs: 0,
                len: 0,
                digest: 0,
            });
        }
        let rec = &mut self.recs[slot as usize];
        rec.state = State::Listed;
        rec.digest = digest;
        rec.len = len as u32;
        rec.first_sub = first_sub;
        rec.subs = subs;
        Ok(Registered { first_sub })
    }

    /// For a directory listed once: its number of entries and the slots of its subdirectories
    /// (the prefetcher walks on without listing it again).
    pub fn listed_subs(&self, slot: u32) -> Option<(u32, std::ops::Range<u32>)> {
        let r = self.rec(slot).ok()?;
        (r.state == State::Listed).then(|| (r.len, r.first_sub..r.first_sub + r.subs))
    }

    pub fn len(&self) -> usize {
        self.recs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// Bytes held (records and names), for the memory figures.
    pub fn bytes(&self) -> usize {
        self.recs.capacity() * std::mem::size_of::<DirRec>() + self.names.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn numbers_round_trip_and_never_collide_with_plan_nodes() {
        for (dir, idx) in [(0, 0), (7, 12), (MAX_SLOTS as u32 - 1, u32::MAX)] {
            let ino = entry_ino(dir, idx);
            assert!(ino >= MAX_GEN);
            assert_eq!(decode(ino), Some(Pass::Entry { dir, idx }));
            assert_eq!(decode(dir_ino(dir)), Some(Pass::Dir(dir)));
            assert_ne!(dir_ino(dir), ino);
        }
        assert_eq!(decode(1), None);
        assert_eq!(decode(MAX_GEN - 1), None);
    }

    #[test]
    fn the_mix_is_a_bijection_of_63_bit_values() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let place = x & MASK63;
            assert_eq!(unmix(mix(place)), place);
            assert_eq!(mix(place) & !MASK63, 0);
        }
        for place in [0, 1, MASK63, ENTRY_TAG, ENTRY_TAG - 1] {
            assert_eq!(unmix(mix(place)), place);
        }
        assert_eq!(M1.wrapping_mul(M1_INV), 1);
        assert_eq!(M2.wrapping_mul(M2_INV), 1);
    }

    #[test]
    fn numbers_never_handed_out_decode_to_nothing() {
        // A place with a directory slot at or above MAX_SLOTS is not one we give.
        assert_eq!(decode(PASS_TAG | mix(MAX_SLOTS as u64)), None);
        assert_eq!(decode(PASS_TAG | mix(ENTRY_TAG - 1)), None);
        assert_eq!(decode(MAX_GEN), None);
    }

    /// `fs/inode.c` `hash()` as Linux computes the bucket of `iget5_locked(sb, hashval, ..)`
    /// on 64-bit x86 (`GOLDEN_RATIO_PRIME` is `GOLDEN_RATIO_64`, `L1_CACHE_BYTES` 64).
    fn kernel_bucket(sb: u64, hashval: u64, shift: u32) -> usize {
        const GOLDEN_RATIO_64: u64 = 0x61c8_8646_80b5_83eb;
        let tmp = hashval.wrapping_mul(sb) ^ (GOLDEN_RATIO_64.wrapping_add(hashval) / 64);
        let tmp = tmp ^ ((tmp ^ GOLDEN_RATIO_64) >> shift);
        (tmp & ((1u64 << shift) - 1)) as usize
    }

    /// The mean length of the chain a lookup walks: sum of squared bucket sizes over ids.
    fn mean_chain(ids: &[u64], sb: u64, shift: u32) -> f64 {
        let mut count = vec![0u32; 1 << shift];
        for &id in ids {
            count[kernel_bucket(sb, id, shift)] += 1;
        }
        let sq: f64 = count.iter().map(|&c| c as f64 * c as f64).sum();
        sq / ids.len() as f64
    }

    #[test]
    fn kernel_hash_chains_of_a_million_numbers_are_as_short_as_random_ones() {
        // The walk's shape: 50,000 table directories of 20 entries, plus the directories.
        let mut places = Vec::new();
        for dir in 11..50_011u32 {
            places.push((dir, None));
            places.extend((0..20).map(|idx| (dir, Some(idx))));
        }
        let ours: Vec<u64> = places
            .iter()
            .map(|&(d, i)| i.map_or(dir_ino(d), |i| entry_ino(d, i)))
            .collect();
        // The structured numbers used before (no mix): the test must see their clustering.
        let bare: Vec<u64> = places
            .iter()
            .map(|&(d, i)| {
                i.map_or(1 << 62 | d as u64, |i| {
                    1 << 63 | (d as u64) << 32 | i as u64
                })
            })
            .collect();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let random: Vec<u64> = (0..ours.len())
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            })
            .collect();
        // This machine's table has 2^21 buckets (`Inode-cache hash table entries` in dmesg);
        // superblocks come from kmalloc-2k, so their address is a multiple of 2^11 and often of
        // more: every alignment from 2^11 to 2^24.
        let shift = 21;
        let mut worst_bare: f64 = 0.0;
        for align in [11, 13, 15, 17, 20, 22, 24] {
            let sb = 0xffff_8881_0000_0000u64 | 0x2d5u64 << (align + 1) | 1u64 << align;
            let (o, b, r) = (
                mean_chain(&ours, sb, shift),
                mean_chain(&bare, sb, shift),
                mean_chain(&random, sb, shift),
            );
            assert!(o <= r * 1.1, "sb {sb:#x}: ours {o:.2}, random {r:.2}");
            worst_bare = worst_bare.max(b / r);
        }
        assert!(
            worst_bare > 2.0,
            "bare numbers at worst {worst_bare:.2}x random"
        );
    }

    #[test]
    fn directory_records_stay_small_at_ten_million_files() {
        assert!(std::mem::size_of::<DirRec>() <= 40);
        // 550,000 directories (10 million files, tables of 20 columns), names of 7 bytes.
        let mut t = DirTable::default();
        let root = t.add_root(2, Path::new("data"));
        let names: Vec<String> = (0..550_000).map(|i| format!("t{i:06}")).collect();
        let dirs = names
            .iter()
            .enumerate()
            .map(|(i, n)| (i as u32, OsStr::new(n)));
        t.register(root, 1, names.len(), dirs).unwrap();
        assert_eq!(t.len(), 550_001);
        // Vector growth slack included.
        assert!(t.bytes() < 64 << 20, "{} bytes", t.bytes());
    }

    #[test]
    fn a_relisted_directory_keeps_its_slots_unless_it_changed() {
        let mut t = DirTable::default();
        let root = t.add_root(5, Path::new("data/2024.01.02"));
        assert_eq!(t.ino_of(root), Ok(5));
        let subs = [(1, OsStr::new("quote")), (3, OsStr::new("trade"))];
        let r = t.register(root, 42, 4, subs.iter().copied()).unwrap();
        assert_eq!(r.first_sub, 1);
        assert_eq!(t.path(2).unwrap(), Path::new("data/2024.01.02/trade"));
        assert_eq!(t.position(2), Ok(Some((root, 3))));
        assert_eq!(t.ino_of(2), Ok(dir_ino(2)));
        // Listed again, unchanged: the same slots, nothing added.
        let again = t.register(root, 42, 4, subs.iter().copied()).unwrap();
        assert_eq!(again.first_sub, 1);
        assert_eq!(t.len(), 3);
        assert_eq!(t.check_entry(root, 3), Ok(()));
        assert_eq!(t.check_entry(root, 4), Err(Errno::ENOENT));
        // Listed again, different: refused, and for good.
        assert_eq!(
            t.register(root, 43, 4, subs.iter().copied()).unwrap_err(),
            Refused::Changed { first: true }
        );
        assert_eq!(
            t.register(root, 42, 4, subs.iter().copied()).unwrap_err(),
            Refused::Changed { first: false }
        );
        assert_eq!(t.check_entry(root, 0), Err(Errno::EIO));
        assert!(t.is_changed(root));
    }
}
