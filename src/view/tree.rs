//! The staging view's filesystem core: the plan's future tree, rendered from memory, with the
//! original entries passed through below each moved node. No FUSE types here (fuse.rs is glue).
//!
//! `Tree` coordinates the parts, one job each: [`super::inodes`] numbers the entries below moved
//! nodes and keeps the small per-directory records (never evicted), [`super::listings`] keeps
//! their listings within the memory budget (evicting, and listing again from the disk on demand),
//! [`super::prefetch`] lists ahead of a walk, [`super::ahead_walk`] finds the files that follow
//! an opened one and [`super::readahead`] reads them ahead of a reader, and [`super::handles`]
//! holds open handles and descriptors.
//!
//! Inode numbers: the root is 1; plan node `i` (0-based, in plan order) is `i + 2`; entries below
//! a moved node are numbered by where they stand (see [`super::inodes`]), so the same path has
//! the same number for the life of the mount whatever was evicted in between.

use super::ahead_walk::{AheadWalk, Walkable};
use super::generated::{self, GenBody, GenEntry};
use super::handles::{Handle, Handles};
use super::inodes::{self, DirTable, Pass, Refused, Stamp};
#[cfg(test)]
use super::listings::listing_bytes;
use super::listings::{CacheStats, Child, Listing, ListingCache, DEFAULT_BUDGET_MB};
use super::objects::ObjectView;
use super::objread::ObjectReader;
use super::origin::{OrigKind, Origin};
use super::prefetch::{self, PrefetchStats};
use super::ViewError;
use crate::approval::ApprovedFiles;
use crate::plan::Plan;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub type Ino = u64;
pub const ROOT_INO: Ino = 1;

/// An errno answer to a filesystem operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    pub const ENOENT: Errno = Errno(libc::ENOENT);
    pub const ENOTDIR: Errno = Errno(libc::ENOTDIR);
    pub const EISDIR: Errno = Errno(libc::EISDIR);
    pub const EINVAL: Errno = Errno(libc::EINVAL);
    pub const EBADF: Errno = Errno(libc::EBADF);
    pub const EROFS: Errno = Errno(libc::EROFS);
    pub const EIO: Errno = Errno(libc::EIO);

    fn from_io(e: &std::io::Error) -> Errno {
        Errno(e.raw_os_error().unwrap_or(libc::EIO))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Dir,
    File,
    Symlink,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr {
    pub ino: Ino,
    pub kind: Kind,
    pub size: u64,
    pub blocks: u64,
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
    /// Permission bits (never any write bit, except the meaningless 0o777 of symlinks).
    pub perm: u16,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub blksize: u32,
}

/// One directory entry handed to a `readdir` consumer; `next_offset` resumes after it.
#[derive(Debug)]
pub struct DirEntry<'a> {
    pub ino: Ino,
    pub next_offset: u64,
    pub kind: Kind,
    pub name: &'a OsStr,
    /// The entry's attributes when the listing already knows them (originals, stat'ed once
    /// when their directory was first listed); `None` means ask [`Tree::getattr`].
    pub attr: Option<Attr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatFs {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub bsize: u32,
    pub namelen: u32,
    pub frsize: u32,
}

/// An inode below (or at) a moved node, as far as its number alone tells.
#[derive(Clone, Copy, Debug)]
enum Orig<'a> {
    /// A moved node: its path, frozen attributes and slot if a directory.
    Moved {
        from: &'a Path,
        attr: Attr,
        slot: Option<u32>,
        parent: Ino,
    },
    Dir(u32),
    Entry {
        dir: u32,
        idx: u32,
    },
}

/// Where the content of an inode comes from.
enum Loc<'a> {
    Gen(&'a GenEntry),
    Orig(Orig<'a>),
}

/// The immutable future tree of one plan; every operation is `&self` and thread-safe.
#[derive(Debug)]
pub struct Tree {
    origin: Origin,
    mount_time: SystemTime,
    uid: u32,
    gid: u32,
    /// Index `i` is inode `i + 1`: the root, then the plan nodes in order.
    gen: Vec<GenEntry>,
    dirs: RwLock<DirTable>,
    listings: Arc<ListingCache>,
    handles: Handles,
    objects: Option<Arc<ObjectReader>>,
    ahead: AheadWalk,
    /// `mount --plan`: the saved plan's files, which every original must still match.
    approved: Option<Arc<ApprovedFiles>>,
}

pub(super) fn kind_of(k: OrigKind) -> Option<Kind> {
    match k {
        OrigKind::Dir => Some(Kind::Dir),
        OrigKind::File => Some(Kind::File),
        OrigKind::Symlink => Some(Kind::Symlink),
        OrigKind::Special => None,
    }
}

fn time(sec: i64, nsec: i64) -> SystemTime {
    let nsec = nsec.clamp(0, 999_999_999) as u32;
    if sec >= 0 {
        UNIX_EPOCH + Duration::new(sec as u64, nsec)
    } else {
        UNIX_EPOCH - Duration::from_secs(sec.unsigned_abs()) + Duration::new(0, nsec)
    }
}

/// Up to `size` bytes of `file` at `offset` (short only at end of file).
fn pread_full(file: &File, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; size as usize];
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Errno::from_io(&e)),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// The view's attributes of an original entry from its `lstat` (None for FIFOs, devices…).
pub(super) fn attr_of(ino: Ino, st: &libc::stat) -> Option<Attr> {
    let kind = kind_of(OrigKind::from_mode(st.st_mode))?;
    Some(Attr {
        ino,
        kind,
        size: st.st_size as u64,
        blocks: st.st_blocks as u64,
        // Not the original's atime: reads through the view move it, and a listing taken again
        // after an eviction would then serve another value. The mtime is frozen by the digest.
        atime: time(st.st_mtime, st.st_mtime_nsec),
        mtime: time(st.st_mtime, st.st_mtime_nsec),
        ctime: time(st.st_ctime, st.st_ctime_nsec),
        // Symlink modes mean nothing; keep the usual lrwxrwxrwx.
        perm: if kind == Kind::Symlink {
            0o777
        } else {
            (st.st_mode & 0o7777 & !0o222) as u16
        },
        nlink: st.st_nlink as u32,
        uid: st.st_uid,
        gid: st.st_gid,
        blksize: st.st_blksize as u32,
    })
}
impl Tree {
    /// Builds the tree of `plan`, checking that it is well formed and that every moved entry
    /// exists in the original.
    pub fn new(plan: &Plan) -> Result<Tree, ViewError> {
        Tree::build(plan, None)
    }

    /// The tree of `plan` plus, in validation mode, the object tiers shown as local segments
    /// (their inodes follow the plan's nodes) and the view's own `par.txt`.
    pub fn build(plan: &Plan, objects: Option<&ObjectView>) -> Result<Tree, ViewError> {
        let stores: Vec<(PathBuf, PathBuf)> = plan
            .stores
            .iter()
            .map(|s| (PathBuf::from(&s.path), s.dir.clone()))
            .collect();
        let origin = Origin::open_with_stores(&plan.base, &stores).map_err(|source| {
            ViewError::Original {
                path: plan.base.clone(),
                source,
            }
        })?;
        let base_st = origin
            .lstat(Path::new(""))
            .map_err(|source| ViewError::Original {
                path: plan.base.clone(),
                source,
            })?;
        let mut gen = generated::entries(plan, objects, &origin)?;
        let mut dirs = DirTable::default();
        for (i, g) in gen.iter_mut().enumerate() {
            if let GenBody::Moved { from, attr, slot } = &mut g.body {
                if attr.kind == Kind::Dir {
                    *slot = Some(dirs.add_root(i as Ino + 1, from));
                }
            }
        }
        Ok(Tree {
            origin,
            mount_time: SystemTime::now(),
            uid: base_st.st_uid,
            gid: base_st.st_gid,
            gen,
            dirs: RwLock::new(dirs),
            listings: Arc::new(ListingCache::new((DEFAULT_BUDGET_MB << 20) as usize)),
            handles: Handles::default(),
            objects: objects.map(|o| o.reader.clone()),
            ahead: AheadWalk::default(),
            approved: None,
        })
    }

    /// Bounds the listing cache to `bytes` (`mount --cache-budget`); before serving.
    pub fn with_cache_budget(mut self, bytes: usize) -> Tree {
        self.listings = Arc::new(ListingCache::new(bytes));
        self
    }

    pub fn base(&self) -> &Path {
        self.origin.base()
    }

    /// Serve a saved plan: each original file is checked against it when first opened.
    pub fn with_approved(mut self, approved: Arc<ApprovedFiles>) -> Tree {
        self.approved = Some(approved);
        self
    }

    fn dirs(&self) -> std::sync::RwLockReadGuard<'_, DirTable> {
        self.dirs.read().unwrap_or_else(|p| p.into_inner())
    }

    fn locate(&self, ino: Ino) -> Result<Loc<'_>, Errno> {
        if ino == 0 {
            return Err(Errno::ENOENT);
        }
        let Some(pass) = inodes::decode(ino) else {
            let g = self.gen.get((ino - 1) as usize).ok_or(Errno::ENOENT)?;
            return Ok(match &g.body {
                GenBody::Moved { from, attr, slot } => Loc::Orig(Orig::Moved {
                    from,
                    attr: *attr,
                    slot: *slot,
                    parent: g.parent,
                }),
                _ => Loc::Gen(g),
            });
        };
        let dirs = self.dirs();
        match pass {
            // A moved directory's slot is reached through its plan number only.
            Pass::Dir(slot) if dirs.ino_of(slot)? != ino => Err(Errno::ENOENT),
            Pass::Dir(slot) => Ok(Loc::Orig(Orig::Dir(slot))),
            Pass::Entry { dir, idx } => {
                dirs.check_entry(dir, idx)?;
                Ok(Loc::Orig(Orig::Entry { dir, idx }))
            }
        }
    }

    /// The listing of directory `slot`: from the cache, else from the disk, which must show
    /// what was served before (else EIO: the directory changed under the view). `ahead`: for
    /// the prefetcher (not a use by a reader).
    fn listing(&self, slot: u32, ahead: bool) -> Result<Listing, Errno> {
        let cached = match ahead {
            true => self.listings.peek(slot),
            false => self.listings.get(slot),
        };
        if let Some(l) = cached {
            return Ok(l);
        }
        let path = {
            let dirs = self.dirs();
            if dirs.is_changed(slot) {
                return Err(Errno::EIO);
            }
            dirs.path(slot)?
        };
        let names = self
            .origin
            .list_dir_stat(&path, true)
            .map_err(|e| Errno::from_io(&e))?;
        let names: Vec<(OsString, Kind, libc::stat)> = names
            .into_iter()
            .filter_map(|(name, k, st)| Some((name, kind_of(k)?, st?)))
            .collect();
        let digest = inodes::digest(names.iter().map(|(name, _, st)| Stamp { name, st }));
        let subdirs = names
            .iter()
            .enumerate()
            .filter(|(_, n)| n.1 == Kind::Dir)
            .map(|(i, n)| (i as u32, n.0.as_os_str()));
        let registered = self
            .dirs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .register(
                slot,
                digest,
                names.len(),
                subdirs.collect::<Vec<_>>().into_iter(),
            );
        let first_sub = match registered {
            Ok(r) => r.first_sub,
            Err(Refused::Changed { first }) => {
                if first {
                    tracing::error!(
                        "smstage view: {}: the directory changed since the view listed it \
                         (entries added, removed or changed): refusing it; remount",
                        self.origin.base().join(&path).display()
                    );
                }
                return Err(Errno::EIO);
            }
            Err(Refused::Full) => {
                tracing::error!("smstage view: too many directories for the view's inode numbers");
                return Err(Errno::EIO);
            }
        };
        let mut next_sub = first_sub;
        // Built into an exact-size vector: collecting in place would keep the (larger, grown)
        // buffer of the raw listing for the life of the cached one.
        let mut kids = Vec::with_capacity(names.len());
        for (i, (name, kind, st)) in names.into_iter().enumerate() {
            let ino = match kind {
                Kind::Dir => {
                    next_sub += 1;
                    inodes::dir_ino(next_sub - 1)
                }
                _ => inodes::entry_ino(slot, i as u32),
            };
            kids.push(Child {
                name,
                ino,
                kind,
                attr: attr_of(ino, &st),
            });
        }
        Ok(self.listings.insert(slot, Arc::new(kids), ahead))
    }

    /// Lists directory `slot` ahead of the readers (the prefetcher).
    pub(super) fn list_ahead(&self, slot: u32) -> Result<(), Errno> {
        self.listing(slot, true).map(drop)
    }

    /// For a directory listed once: its number of entries and its subdirectories' slots.
    pub(super) fn listed_subs(&self, slot: u32) -> Option<(u32, std::ops::Range<u32>)> {
        self.dirs().listed_subs(slot)
    }

    /// The slots of the moved directories, in plan order.
    pub(super) fn dir_roots(&self) -> Vec<u32> {
        self.gen
            .iter()
            .filter_map(|g| match g.body {
                GenBody::Moved { slot, .. } => slot,
                _ => None,
            })
            .collect()
    }

    pub(super) fn listings(&self) -> &ListingCache {
        &self.listings
    }

    /// Figures of the listing cache.
    pub fn cache_stats(&self) -> CacheStats {
        self.listings.stats()
    }

    /// The listing cache, for the mount's statistics.
    pub fn listing_cache(&self) -> Arc<ListingCache> {
        self.listings.clone()
    }

    /// The entry `idx` of directory `dir`'s listing.
    fn entry(&self, dir: u32, idx: u32) -> Result<Child, Errno> {
        self.listing(dir, false)?
            .get(idx as usize)
            .cloned()
            .ok_or(Errno::ENOENT)
    }

    /// The inode number of directory `slot`'s parent.
    fn parent_ino(&self, slot: u32) -> Result<Ino, Errno> {
        let dirs = self.dirs();
        match dirs.position(slot)? {
            Some((p, _)) => dirs.ino_of(p),
            None => {
                let ino = dirs.ino_of(slot)?;
                Ok(self.gen[(ino - 1) as usize].parent)
            }
        }
    }

    /// The path in the original (relative to the base) of an original inode.
    fn orig_path(&self, o: Orig<'_>) -> Result<PathBuf, Errno> {
        match o {
            Orig::Moved { from, .. } => Ok(from.to_path_buf()),
            Orig::Dir(slot) => self.dirs().path(slot),
            Orig::Entry { dir, idx } => {
                let name = self.entry(dir, idx)?.name;
                Ok(self.dirs().path(dir)?.join(name))
            }
        }
    }

    fn gen_attr(&self, ino: Ino, g: &GenEntry) -> Attr {
        let (kind, size, perm, nlink) = match &g.body {
            GenBody::Dir(kids) => {
                let subdirs = kids.iter().filter(|c| c.kind == Kind::Dir).count() as u32;
                (Kind::Dir, 0, 0o555, 2 + subdirs)
            }
            GenBody::File(c) => (Kind::File, c.len() as u64, 0o444, 1),
            GenBody::Symlink(t) => (Kind::Symlink, t.len() as u64, 0o777, 1),
            GenBody::Object(l) => (Kind::File, l.size, 0o444, 1),
            GenBody::Moved { .. } => unreachable!("moved nodes are located as originals"),
        };
        Attr {
            ino,
            kind,
            size,
            blocks: size.div_ceil(512),
            atime: self.mount_time,
            mtime: self.mount_time,
            ctime: self.mount_time,
            perm,
            nlink,
            uid: self.uid,
            gid: self.gid,
            blksize: 4096,
        }
    }

    /// The attributes the view serves for an original: taken once, when the view was built
    /// (moved nodes) or when its directory was first listed (entries below them), and frozen
    /// from then on: a listing taken again after an eviction is served only if its digest is
    /// the first one's.
    fn served_attr(&self, o: Orig<'_>) -> Result<Attr, Errno> {
        let (dir, idx) = match o {
            Orig::Moved { attr, .. } => return Ok(attr),
            Orig::Dir(slot) => self.dirs().position(slot)?.ok_or(Errno::ENOENT)?,
            Orig::Entry { dir, idx } => (dir, idx),
        };
        self.entry(dir, idx)?.attr.ok_or(Errno::ENOENT)
    }

    pub fn getattr(&self, ino: Ino) -> Result<Attr, Errno> {
        match self.locate(ino)? {
            Loc::Gen(g) => Ok(self.gen_attr(ino, g)),
            Loc::Orig(o) => self.served_attr(o),
        }
    }

    /// Refuses to serve the bytes of an original that changed since its attributes were served
    /// (the kernel caches them for an hour; kdb+ would map a file whose size it got wrong).
    /// `st` is the `fstat` of the freshly opened original.
    fn check_unchanged(&self, o: Orig<'_>, path: &Path, st: &libc::stat) -> Result<(), Errno> {
        // A file that changed after the plan was saved but before this view listed it looks
        // consistent to the check below; the saved plan is what was approved.
        if let Some(why) = self.approved.as_ref().and_then(|a| a.differs(path, st)) {
            tracing::error!(
                "smstage view: {}: {why}: refusing to serve it; save a new plan and mount that",
                self.origin.base().join(path).display()
            );
            return Err(Errno::EIO);
        }
        let served = self.served_attr(o)?;
        let now = (st.st_size as u64, time(st.st_mtime, st.st_mtime_nsec));
        if now == (served.size, served.mtime) {
            return Ok(());
        }
        tracing::error!(
            "smstage view: {}: the original changed since the view was mounted: remount \
             (size {} -> {}, mtime {:?} -> {:?})",
            self.origin.base().join(path).display(),
            served.size,
            now.0,
            served.mtime,
            now.1
        );
        Err(Errno::EIO)
    }

    /// The slot of original directory `o`; ENOTDIR for anything else (the view never looks
    /// through a symlink or a file of the original).
    fn dir_slot(o: Orig<'_>) -> Result<u32, Errno> {
        match o {
            Orig::Moved { slot: Some(s), .. } | Orig::Dir(s) => Ok(s),
            _ => Err(Errno::ENOTDIR),
        }
    }

    pub fn lookup(&self, parent: Ino, name: &OsStr) -> Result<Attr, Errno> {
        let b = name.as_bytes();
        // `.`/`..` are the kernel's business; we never interpret them.
        if b.is_empty() || b == b"." || b == b".." || b.contains(&b'/') {
            return Err(Errno::ENOENT);
        }
        let kids = match self.locate(parent)? {
            Loc::Gen(g) => match &g.body {
                GenBody::Dir(kids) => kids.clone(),
                _ => return Err(Errno::ENOTDIR),
            },
            // Every attribute served below a moved node comes from a listing (frozen, and
            // what OPEN checks the original against): list the directory on first lookup.
            Loc::Orig(o) => self.listing(Self::dir_slot(o)?, false)?,
        };
        let i = kids
            .binary_search_by(|c| c.name.as_bytes().cmp(b))
            .map_err(|_| Errno::ENOENT)?;
        match kids[i].attr {
            Some(a) => Ok(a),
            None => self.getattr(kids[i].ino),
        }
    }

    fn children(&self, ino: Ino) -> Result<(Ino, Listing), Errno> {
        match self.locate(ino)? {
            Loc::Gen(g) => match &g.body {
                GenBody::Dir(kids) => Ok((g.parent, kids.clone())),
                _ => Err(Errno::ENOTDIR),
            },
            Loc::Orig(o) => {
                let slot = Self::dir_slot(o)?;
                let kids = self.listing(slot, false)?;
                Ok((self.parent_ino(slot)?, kids))
            }
        }
    }

    /// Lists the directories below the moved nodes ahead of a walk, `threads` at a time (see
    /// [`super::prefetch`]). Returns when done, or early once `stop` is set.
    pub fn prefetch(&self, threads: usize, stop: &AtomicBool) -> PrefetchStats {
        prefetch::run(self, threads, stop)
    }

    /// Lists directory `ino` from `offset` (0 = start; `.` and `..` come first). `add` returns
    /// true when its buffer is full; the entry it refused is offered again at the next call.
    pub fn readdir(
        &self,
        ino: Ino,
        offset: u64,
        mut add: impl FnMut(DirEntry<'_>) -> bool,
    ) -> Result<(), Errno> {
        let (parent, kids) = self.children(ino)?;
        let total = kids.len() as u64 + 2;
        for i in offset..total {
            let (name, e_ino, kind, attr) = match i {
                0 => (OsStr::new("."), ino, Kind::Dir, None),
                1 => (OsStr::new(".."), parent, Kind::Dir, None),
                _ => {
                    let c = &kids[(i - 2) as usize];
                    (c.name.as_os_str(), c.ino, c.kind, c.attr)
                }
            };
            if add(DirEntry {
                ino: e_ino,
                next_offset: i + 1,
                kind,
                name,
                attr,
            }) {
                break;
            }
        }
        Ok(())
    }

    pub fn readlink(&self, ino: Ino) -> Result<Vec<u8>, Errno> {
        match self.locate(ino)? {
            Loc::Gen(g) => match &g.body {
                GenBody::Symlink(t) => Ok(t.clone()),
                _ => Err(Errno::EINVAL),
            },
            Loc::Orig(o) => {
                let path = self.orig_path(o)?;
                self.origin.readlink(&path).map_err(|e| Errno::from_io(&e))
            }
        }
    }

    /// Opens original `o` at `path` and checks it is what the view served.
    fn open_checked(&self, o: Orig<'_>, path: &Path) -> Result<File, Errno> {
        let (f, st) = self
            .origin
            .open_regular(path)
            .map_err(|e| Errno::from_io(&e))?;
        self.check_unchanged(o, path, &st)?;
        Ok(f)
    }

    /// Opens a file for reading; any write intent is refused with EROFS.
    pub fn open(&self, ino: Ino, write: bool) -> Result<u64, Errno> {
        let handle = match self.locate(ino)? {
            Loc::Gen(g) => match &g.body {
                GenBody::File(c) if !write => Handle::Mem(c.clone()),
                GenBody::Object(_) if !write => Handle::Object(ino),
                GenBody::Dir(_) if !write => return Err(Errno::EISDIR),
                GenBody::Symlink(_) if !write => return Err(Errno(libc::ELOOP)),
                _ => return Err(Errno::EROFS),
            },
            Loc::Orig(o) => {
                if write {
                    return Err(Errno::EROFS);
                }
                let path = self.orig_path(o)?;
                let file = self.handles.shared(ino, || self.open_checked(o, &path))?;
                Handle::File { ino, file }
            }
        };
        Ok(self.handles.add(handle))
    }

    /// Up to `size` bytes at `offset` (short only at end of file).
    pub fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        match self.handles.get(fh).ok_or(Errno::EBADF)? {
            Handle::Mem(c) => {
                let start = (offset as usize).min(c.len());
                let end = start.saturating_add(size as usize).min(c.len());
                Ok(c[start..end].to_vec())
            }
            Handle::File { file, .. } => pread_full(&file, offset, size),
            Handle::Object(ino) => self.read_object(ino, offset, size),
        }
    }

    /// A READ without an open handle (the kernel stopped sending OPEN: no-open mode): up to
    /// `size` bytes of file `ino` at `offset`. Originals are opened once and kept in a small
    /// LRU of descriptors (shared with open handles).
    pub fn read_ino(&self, ino: Ino, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        match self.locate(ino)? {
            Loc::Gen(g) => match &g.body {
                GenBody::File(c) => {
                    let start = (offset as usize).min(c.len());
                    let end = start.saturating_add(size as usize).min(c.len());
                    Ok(c[start..end].to_vec())
                }
                GenBody::Object(_) => self.read_object(ino, offset, size),
                GenBody::Dir(_) => Err(Errno::EISDIR),
                _ => Err(Errno::EINVAL),
            },
            Loc::Orig(o) => {
                let file = self.handles.reader(ino, || {
                    let path = self.orig_path(o)?;
                    self.open_checked(o, &path)
                })?;
                pread_full(&file, offset, size)
            }
        }
    }

    fn read_object(&self, ino: Ino, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        let leaf = match self.gen.get((ino - 1) as usize).map(|g| &g.body) {
            Some(GenBody::Object(l)) => l,
            _ => return Err(Errno::EBADF),
        };
        let reader = self.objects.as_ref().ok_or(Errno::EIO)?;
        reader.read(ino, leaf, offset, size).map_err(|e| {
            tracing::error!(
                "smstage view: reading {} (bytes {offset}..{}) failed: {e}",
                leaf.url,
                offset + size as u64
            );
            Errno::EIO
        })
    }

    /// Original file `ino` was opened: the files to read ahead now (see [`super::readahead`]
    /// and [`super::ahead_walk`]), as paths relative to the base with the bytes to read of each.
    /// Only entries of cached listings take part (no I/O to decide).
    pub fn read_ahead_after(&self, ino: Ino, window: usize) -> Vec<(PathBuf, u64)> {
        self.ahead.files_after(self, ino, window)
    }
}

impl Walkable for Tree {
    fn position(&self, ino: Ino) -> Option<(Ino, Listing, usize, PathBuf)> {
        let Some(Pass::Entry { dir: slot, idx }) = inodes::decode(ino) else {
            return None;
        };
        let kids = self.listings.peek(slot)?;
        // One guard: a second read lock while a writer waits would deadlock.
        let dirs = self.dirs();
        Some((
            dirs.ino_of(slot).ok()?,
            kids,
            idx as usize,
            dirs.path(slot).ok()?,
        ))
    }

    fn parent_of(&self, ino: Ino) -> Option<Ino> {
        match self.locate(ino).ok()? {
            Loc::Gen(g) => Some(g.parent),
            Loc::Orig(Orig::Moved { parent, .. }) => Some(parent),
            Loc::Orig(Orig::Dir(slot)) => self.parent_ino(slot).ok(),
            Loc::Orig(Orig::Entry { dir, .. }) => self.dirs().ino_of(dir).ok(),
        }
    }

    fn listed(&self, ino: Ino) -> Option<(Listing, Option<PathBuf>)> {
        match self.locate(ino).ok()? {
            Loc::Gen(g) => match &g.body {
                GenBody::Dir(kids) => Some((kids.clone(), None)),
                _ => None,
            },
            Loc::Orig(o) => {
                let slot = Self::dir_slot(o).ok()?;
                let kids = self.listings.peek(slot)?;
                Some((kids, Some(self.dirs().path(slot).ok()?)))
            }
        }
    }
}

impl Tree {
    /// A second handle on the original's base directory (for the readahead workers).
    pub fn origin(&self) -> std::io::Result<Origin> {
        self.origin.try_clone()
    }

    /// A fresh handle number with nothing behind it (passthrough opens answered without
    /// opening the original); [`Tree::release`] of it is a no-op.
    pub fn new_fh(&self) -> u64 {
        self.handles.new_fh()
    }

    /// The kept-open original behind handle `fh`, for kernel passthrough (None for generated).
    pub fn backing_file(&self, fh: u64) -> Option<(Ino, Arc<File>)> {
        match self.handles.get(fh) {
            Some(Handle::File { ino, file }) => Some((ino, file)),
            _ => None,
        }
    }

    pub fn release(&self, fh: u64) {
        self.handles.release(fh)
    }

    /// Space figures of the filesystem holding the original (informational: nothing can be
    /// written through the view).
    pub fn statfs(&self) -> Result<StatFs, Errno> {
        let s = self.origin.statvfs().map_err(|e| Errno::from_io(&e))?;
        Ok(StatFs {
            blocks: s.f_blocks,
            bfree: s.f_bfree,
            bavail: s.f_bavail,
            files: s.f_files,
            ffree: s.f_ffree,
            bsize: s.f_bsize as u32,
            namelen: s.f_namemax as u32,
            frsize: s.f_frsize as u32,
        })
    }

    /// Number of open handles (tests check that releases are not leaked).
    pub fn open_handles(&self) -> usize {
        self.handles.open_handles()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::plan::{build, PlanInput, RootEntry, TierInput};
    use crate::plan::{NodeKind, TierKind};
    use std::collections::BTreeMap;
    use std::collections::HashMap;
    use std::os::unix::fs::symlink;

    /// A small fake database under `base/data`: two partitions, a domain, a splayed table, a
    /// symlink pointing outside the database and a relative one inside.
    pub(crate) fn fake_db(base: &Path) -> Plan {
        let d = base.join("data");
        for (date, n) in [("2024.01.02", 3usize), ("2024.01.03", 5)] {
            let t = d.join(date).join("trade");
            std::fs::create_dir_all(&t).unwrap();
            std::fs::write(t.join(".d"), format!("cols {date}")).unwrap();
            std::fs::write(t.join("price"), vec![7u8; 16 + 8 * n]).unwrap();
            std::fs::write(t.join("size"), (0..n as u8).collect::<Vec<_>>()).unwrap();
            std::fs::write(t.join("empty"), b"").unwrap();
        }
        std::fs::write(d.join("sym"), b"domain bytes").unwrap();
        std::fs::create_dir_all(d.join("splayed")).unwrap();
        std::fs::write(d.join("splayed/.d"), b"splayed cols").unwrap();
        std::fs::write(d.join("splayed/a"), b"aaaa").unwrap();
        std::fs::set_permissions(
            d.join("splayed/a"),
            std::os::unix::fs::PermissionsExt::from_mode(0o664),
        )
        .unwrap();
        symlink("/etc", d.join("2024.01.02/trade/evil")).unwrap();
        symlink("price", d.join("2024.01.03/trade/alias")).unwrap();
        build(&PlanInput {
            base: base.to_path_buf(),
            root_entries: vec![
                RootEntry {
                    name: "sym".into(),
                    is_dir: false,
                },
                RootEntry {
                    name: "splayed".into(),
                    is_dir: true,
                },
            ],
            tiers: vec![TierInput {
                name: "hdb".into(),
                kind: TierKind::Local,
                store: format!("file://{}/data", base.display()),
            }],
            local_partitions: vec!["2024.01.02".into(), "2024.01.03".into()],
            object_partitions: vec![],
        })
        .unwrap()
    }

    #[derive(Debug, PartialEq, Eq)]
    enum Exp {
        Dir,
        File(Vec<u8>),
        Link(Vec<u8>),
    }

    /// The reference model: the expected tree computed from the plan and the original.
    fn expected(plan: &Plan) -> BTreeMap<String, Exp> {
        let mut m = BTreeMap::new();
        for n in &plan.nodes {
            match &n.kind {
                NodeKind::Dir => {
                    m.insert(n.path.clone(), Exp::Dir);
                }
                NodeKind::File { contents } => {
                    m.insert(n.path.clone(), Exp::File(contents.as_bytes().to_vec()));
                }
                NodeKind::Symlink { target } => {
                    m.insert(n.path.clone(), Exp::Link(target.as_bytes().to_vec()));
                }
                NodeKind::Moved { from, .. } => {
                    let src = plan.base.join(from);
                    for e in walkdir::WalkDir::new(&src).follow_links(false) {
                        let e = e.unwrap();
                        let rel = e.path().strip_prefix(&src).unwrap();
                        let p = if rel.as_os_str().is_empty() {
                            n.path.clone()
                        } else {
                            format!("{}/{}", n.path, rel.display())
                        };
                        let ft = e.file_type();
                        let v = if ft.is_dir() {
                            Exp::Dir
                        } else if ft.is_symlink() {
                            Exp::Link(
                                std::fs::read_link(e.path())
                                    .unwrap()
                                    .as_os_str()
                                    .as_bytes()
                                    .to_vec(),
                            )
                        } else {
                            Exp::File(std::fs::read(e.path()).unwrap())
                        };
                        m.insert(p, v);
                    }
                }
            }
        }
        m
    }

    fn read_all(t: &Tree, ino: Ino, chunk: u32) -> Vec<u8> {
        let fh = t.open(ino, false).unwrap();
        let mut out = Vec::new();
        loop {
            let b = t.read(fh, out.len() as u64, chunk).unwrap();
            if b.is_empty() {
                break;
            }
            out.extend_from_slice(&b);
        }
        t.release(fh);
        out
    }

    /// Lists a directory in pages of `page` entries, as the kernel does with a small buffer.
    fn list(t: &Tree, ino: Ino, page: usize) -> Vec<(OsString, Ino, Kind)> {
        let mut out = Vec::new();
        let mut off = 0;
        loop {
            let mut n = 0;
            let mut last = None;
            t.readdir(ino, off, |e| {
                if n == page {
                    return true;
                }
                n += 1;
                out.push((e.name.to_os_string(), e.ino, e.kind));
                last = Some(e.next_offset);
                false
            })
            .unwrap();
            match last {
                Some(o) => off = o,
                None => break,
            }
        }
        out
    }

    /// Walks the core from the root and records what it serves, checking inode coherence.
    fn walk(t: &Tree) -> BTreeMap<String, Exp> {
        let mut m = BTreeMap::new();
        let mut stack = vec![(ROOT_INO, String::new())];
        let mut seen_inos = HashMap::new();
        while let Some((ino, path)) = stack.pop() {
            let entries = list(t, ino, 3);
            assert_eq!(entries[0].0, ".");
            assert_eq!(entries[0].1, ino);
            assert_eq!(entries[1].0, "..");
            for (name, e_ino, kind) in entries.into_iter().skip(2) {
                let a = t.lookup(ino, &name).unwrap();
                assert_eq!(a.ino, e_ino, "readdir and lookup agree on {name:?}");
                assert_eq!(a.kind, kind);
                // Lookups answer from the listing's lstat, frozen: a getattr later (after any
                // eviction and listing again) serves exactly the same.
                assert_eq!(t.getattr(e_ino).unwrap(), a);
                if kind != Kind::Symlink {
                    assert_eq!(a.perm & 0o222, 0, "no write bit on {name:?}");
                }
                let p = if path.is_empty() {
                    name.to_string_lossy().into_owned()
                } else {
                    format!("{path}/{}", name.to_string_lossy())
                };
                assert!(
                    seen_inos.insert(e_ino, p.clone()).is_none(),
                    "inode {e_ino} reused"
                );
                match kind {
                    Kind::Dir => {
                        m.insert(p.clone(), Exp::Dir);
                        stack.push((e_ino, p));
                    }
                    Kind::File => {
                        let c = read_all(t, e_ino, 5);
                        assert_eq!(c.len() as u64, a.size);
                        m.insert(p, Exp::File(c));
                    }
                    Kind::Symlink => {
                        let l = t.readlink(e_ino).unwrap();
                        assert_eq!(l.len() as u64, a.size);
                        m.insert(p, Exp::Link(l));
                    }
                }
            }
        }
        m
    }

    /// The inode of view path `p` (slash-separated), by lookups from the root.
    fn resolve(t: &Tree, p: &str) -> Ino {
        p.split('/').fold(ROOT_INO, |ino, name| {
            t.lookup(ino, OsStr::new(name))
                .unwrap_or_else(|e| panic!("{p}: {name}: {e:?}"))
                .ino
        })
    }

    #[test]
    fn read_ahead_follows_a_scan_across_tables_and_partitions() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = fake_db(tmp.path());
        let listed_tree = || {
            let t = Tree::new(&plan).unwrap();
            t.prefetch(2, &AtomicBool::new(false));
            t
        };
        let ahead = |t: &Tree, path: &str, window: usize| -> Vec<String> {
            let ino = resolve(t, &format!("data/versions/{path}"));
            t.read_ahead_after(ino, window)
                .into_iter()
                .map(|(p, n)| format!("{} {n}", p.display()))
                .collect()
        };
        // A scan from the first entry, 8 entries ahead: the 4 other entries of the directory
        // (of which the files with bytes: not the empty one nor the symlink), then the first 4
        // entries of the next directory that has files, two levels up and one partition over
        // (`.d`, the symlink `alias`, `empty`, `price`).
        let t = listed_tree();
        assert_eq!(
            ahead(&t, "2024.01.02/1/trade/.d", 8),
            [
                "data/2024.01.02/trade/price 40",
                "data/2024.01.02/trade/size 3",
                "data/2024.01.03/trade/.d 15",
                "data/2024.01.03/trade/price 56",
            ]
        );
        // Each open moves the window on by one entry, across the directory boundary; nothing
        // is read twice.
        assert_eq!(
            ahead(&t, "2024.01.02/1/trade/empty", 8),
            ["data/2024.01.03/trade/size 5"]
        );
        // Past the last partition the walk goes on in the view's order: the splayed table.
        assert_eq!(
            ahead(&t, "2024.01.02/1/trade/price", 8),
            ["data/splayed/.d 12", "data/splayed/a 4"]
        );
        for f in [
            "2024.01.02/1/trade/size",
            "2024.01.03/1/trade/.d",
            "2024.01.03/1/trade/price",
        ] {
            assert!(ahead(&t, f, 8).is_empty(), "{f}");
        }

        // Random access reads nothing ahead; two consecutive opens at the end of a directory
        // start a stream whose window lies past it, in the next directory.
        let t = listed_tree();
        assert!(ahead(&t, "2024.01.03/1/trade/price", 8).is_empty());
        assert_eq!(
            ahead(&t, "2024.01.03/1/trade/size", 8),
            ["data/splayed/.d 12", "data/splayed/a 4"]
        );

        // The window bounds it: 3 entries after `.d` are `empty`, the symlink and `price`.
        let t = listed_tree();
        assert_eq!(
            ahead(&t, "2024.01.02/1/trade/.d", 3),
            ["data/2024.01.02/trade/price 40"]
        );
        assert!(ahead(&listed_tree(), "2024.01.02/1/trade/.d", 0).is_empty());

        // Only listed directories take part: without the prefetch, the lookups listed this
        // directory but not the next partition's, which is not read ahead (no I/O is done to
        // find it).
        let t = Tree::new(&plan).unwrap();
        assert_eq!(
            ahead(&t, "2024.01.02/1/trade/.d", 8),
            [
                "data/2024.01.02/trade/price 40",
                "data/2024.01.02/trade/size 3"
            ]
        );
    }

    #[test]
    fn prefetch_racing_with_walks_serves_the_reference_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = fake_db(tmp.path());
        let want = expected(&plan);
        let moved_dirs: Vec<String> = plan
            .nodes
            .iter()
            .filter(|n| matches!(n.kind, NodeKind::Moved { is_dir: true, .. }))
            .map(|n| format!("{}/", n.path))
            .collect();
        let below = |pred: &dyn Fn(&Exp) -> bool| {
            want.iter()
                .filter(|(k, v)| moved_dirs.iter().any(|d| k.starts_with(d)) && pred(v))
                .count() as u64
        };
        let want_entries = below(&|_| true);
        let want_dirs = moved_dirs.len() as u64 + below(&|v| *v == Exp::Dir);
        assert!(
            want_dirs >= 5 && want_entries >= 12,
            "{want_dirs} {want_entries}"
        );
        for round in 0..6 {
            let t = Tree::new(&plan).unwrap();
            let stop = AtomicBool::new(false);
            let (stats, got) = std::thread::scope(|s| {
                let h = s.spawn(|| t.prefetch(1 + round % 3 * 4, &stop));
                let got = walk(&t);
                (h.join().unwrap(), got)
            });
            assert_eq!(got, want, "round {round}");
            assert_eq!(
                stats,
                PrefetchStats {
                    dirs: want_dirs,
                    entries: want_entries,
                    failed: 0
                }
            );
            // One slot per original directory, however the prefetch and the walk interleaved.
            assert_eq!(t.dirs().len() as u64, want_dirs);
            assert_eq!(t.cache_stats().listings as u64, want_dirs);
        }
        // Prefetched first, then walked: the same tree, no listing left to do.
        let t = Tree::new(&plan).unwrap();
        let stats = t.prefetch(3, &AtomicBool::new(false));
        assert_eq!(t.cache_stats().listings as u64, stats.dirs);
        let price = resolve(&t, "data/versions/2024.01.03/1/trade/price");
        assert_eq!(walk(&t), want);
        assert_eq!(resolve(&t, "data/versions/2024.01.03/1/trade/price"), price);
        // A stopped prefetch lists nothing.
        let t = Tree::new(&plan).unwrap();
        assert_eq!(
            t.prefetch(4, &AtomicBool::new(true)),
            PrefetchStats::default()
        );
        assert_eq!(t.cache_stats().listings, 0);
    }

    #[test]
    fn an_original_changed_since_it_was_listed_is_refused_with_eio() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = fake_db(tmp.path());
        let d = tmp.path().join("data");
        let t = Tree::new(&plan).unwrap();
        let price = resolve(&t, "data/versions/2024.01.03/1/trade/price");
        let size = resolve(&t, "data/versions/2024.01.03/1/trade/size");
        let other = resolve(&t, "data/versions/2024.01.02/1/trade/price");
        let sym = resolve(&t, "db/sym");
        let served = t.getattr(price).unwrap();
        let fh = t.open(price, false).unwrap();
        t.release(fh);
        // Grown after the listing: refused, in both open paths.
        std::fs::write(d.join("2024.01.03/trade/price"), vec![1u8; 100]).unwrap();
        assert_eq!(t.open(price, false), Err(Errno::EIO));
        assert_eq!(t.read_ino(price, 0, 10), Err(Errno::EIO));
        // The attributes served stay the ones captured.
        assert_eq!(t.getattr(price).unwrap(), served);
        assert_eq!(served.size, 16 + 8 * 5);
        // Same size, another mtime: refused too.
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(d.join("2024.01.03/trade/size"))
            .unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        assert_eq!(t.read_ino(size, 0, 1), Err(Errno::EIO));
        assert_eq!(t.open(size, false), Err(Errno::EIO));
        // A moved file node is checked against what the view was built with.
        std::fs::write(d.join("sym"), b"other domain").unwrap();
        assert_eq!(t.open(sym, false), Err(Errno::EIO));
        // Untouched files still open and read.
        let fh = t.open(other, false).unwrap();
        assert_eq!(t.read(fh, 0, 4).unwrap(), vec![7u8; 4]);
        t.release(fh);
        assert_eq!(t.read_ino(other, 16, 2).unwrap(), vec![7u8; 2]);
        // A fresh view (a remount) serves the new file.
        let t2 = Tree::new(&plan).unwrap();
        let p2 = resolve(&t2, "data/versions/2024.01.03/1/trade/price");
        assert_eq!(read_all(&t2, p2, 64), vec![1u8; 100]);
    }

    /// Every path of the view with its inode number, by listings alone.
    fn numbering(t: &Tree) -> BTreeMap<String, Ino> {
        let mut m = BTreeMap::new();
        let mut stack = vec![(ROOT_INO, String::new())];
        while let Some((ino, path)) = stack.pop() {
            for (name, e_ino, kind) in list(t, ino, 2).into_iter().skip(2) {
                let p = format!("{path}/{}", name.to_string_lossy());
                if kind == Kind::Dir {
                    stack.push((e_ino, p.clone()));
                }
                m.insert(p, e_ino);
            }
        }
        m
    }

    /// A budget that holds about two listings of a fake table directory.
    const TINY: usize = 3000;

    #[test]
    fn a_tiny_budget_walked_again_and_concurrently_serves_the_reference_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = fake_db(tmp.path());
        let want = expected(&plan);
        let t = Tree::new(&plan).unwrap().with_cache_budget(TINY);
        let inos = numbering(&t);
        for round in 0..3 {
            assert_eq!(walk(&t), want, "round {round}");
            assert_eq!(numbering(&t), inos, "inode numbers moved in round {round}");
        }
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let p = s.spawn(|| t.prefetch(2, &stop));
            let walkers: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (walk(&t), numbering(&t))))
                .collect();
            for w in walkers {
                let (got, got_inos) = w.join().unwrap();
                assert_eq!(got, want);
                assert_eq!(got_inos, inos);
            }
            p.join().unwrap();
        });
        let st = t.cache_stats();
        assert!(st.evictions > 0, "the budget never bit: {st:?}");
        assert!(
            st.peak_bytes <= TINY && st.bytes <= TINY,
            "the cache went over its budget: {st:?}"
        );
        // A fresh tree, prefetched with the tiny budget and nobody walking: it stays within a
        // listing or so ahead, and does not evict what it listed (nothing used it yet).
        let t = Tree::new(&plan).unwrap().with_cache_budget(TINY);
        std::thread::scope(|s| {
            let p = s.spawn(|| t.prefetch(3, &stop));
            std::thread::sleep(Duration::from_millis(200));
            let st = t.cache_stats();
            assert!(st.ahead >= 1 && st.bytes <= TINY, "{st:?}");
            assert_eq!(st.evictions, 0, "{st:?}");
            assert!(
                !p.is_finished(),
                "waits for a reader before listing further"
            );
            assert_eq!(walk(&t), want);
            p.join().unwrap();
        });
        assert!(t.cache_stats().peak_bytes <= TINY);
    }

    #[test]
    fn an_evicted_directory_that_changed_is_refused_not_served_anew() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = fake_db(tmp.path());
        let d = tmp.path().join("data");
        // Room for one table's listing: listing anything else evicts it.
        let probe = Tree::new(&plan).unwrap();
        let probe_trade = resolve(&probe, "data/versions/2024.01.03/1/trade");
        probe.lookup(probe_trade, OsStr::new("price")).unwrap();
        let Some(Pass::Dir(probe_slot)) = inodes::decode(probe_trade) else {
            panic!("a table below a moved partition has a directory number");
        };
        let one = listing_bytes(&probe.listings.peek(probe_slot).expect("listed by lookup"));
        let t = Tree::new(&plan).unwrap().with_cache_budget(one + 200);
        let trade = |date: &str| resolve(&t, &format!("data/versions/{date}/1/trade"));
        let (t2, t3) = (trade("2024.01.02"), trade("2024.01.03"));
        let price = resolve(&t, "data/versions/2024.01.03/1/trade/price");
        let size = resolve(&t, "data/versions/2024.01.02/1/trade/size");
        let served = t.getattr(price).unwrap();
        let served_size = t.getattr(size).unwrap();
        let slot_of = |ino| match inodes::decode(ino) {
            Some(Pass::Dir(s)) => s,
            other => panic!("{other:?}"),
        };
        let splayed_dir = resolve(&t, "db/splayed");
        let evict = |keep: Ino| {
            // Listing the other tables pushes this one out of a cache with room for one.
            for other in [t2, t3, splayed_dir].into_iter().filter(|d| *d != keep) {
                let _ = t.readdir(other, 0, |_| false);
            }
            assert!(t.listings.peek(slot_of(keep)).is_none(), "not evicted");
        };
        evict(t3);
        // Unchanged: listed again, served the same (inode numbers and attributes).
        assert_eq!(t.getattr(price).unwrap(), served);
        assert_eq!(resolve(&t, "data/versions/2024.01.03/1/trade/price"), price);
        // Changed after it was served, then evicted: the new listing is refused, not served.
        std::fs::write(d.join("2024.01.03/trade/price"), vec![1u8; 100]).unwrap();
        evict(t3);
        assert_eq!(t.getattr(price), Err(Errno::EIO));
        assert_eq!(t.lookup(t3, OsStr::new("price")), Err(Errno::EIO));
        assert_eq!(t.lookup(t3, OsStr::new("size")), Err(Errno::EIO));
        assert!(t.readdir(t3, 0, |_| false).is_err());
        assert_eq!(t.open(price, false), Err(Errno::EIO));
        assert_eq!(t.read_ino(price, 0, 4), Err(Errno::EIO));
        // A file added to an evicted directory: refused too (its listing differs).
        evict(t2);
        std::fs::write(d.join("2024.01.02/trade/new"), b"x").unwrap();
        evict(t2);
        assert_eq!(t.lookup(t2, OsStr::new("new")), Err(Errno::EIO));
        assert_eq!(t.getattr(size), Err(Errno::EIO));
        // Other directories are still served, with their attributes.
        let splayed = resolve(&t, "db/splayed/a");
        assert_eq!(t.getattr(splayed).unwrap().size, 4);
        // A remount serves the new state.
        let fresh = Tree::new(&plan).unwrap();
        let p2 = resolve(&fresh, "data/versions/2024.01.03/1/trade/price");
        assert_eq!(fresh.getattr(p2).unwrap().size, 100);
        assert_ne!(served_size.ino, 0);
    }

    #[test]
    fn reads_without_a_handle_match_reads_through_one() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = fake_db(tmp.path());
        let t = Tree::new(&plan).unwrap();
        let mut stack = vec![ROOT_INO];
        let mut files = 0;
        while let Some(ino) = stack.pop() {
            for (name, e_ino, kind) in list(&t, ino, 100).into_iter().skip(2) {
                match kind {
                    Kind::Dir => {
                        assert_eq!(t.read_ino(e_ino, 0, 10), Err(Errno::EISDIR), "{name:?}");
                        stack.push(e_ino);
                    }
                    Kind::File => {
                        let want = read_all(&t, e_ino, 7);
                        let size = t.getattr(e_ino).unwrap().size;
                        assert_eq!(want.len() as u64, size);
                        let got = t.read_ino(e_ino, 0, size as u32 + 10).unwrap();
                        assert_eq!(got, want, "{name:?}");
                        if size > 2 {
                            assert_eq!(t.read_ino(e_ino, 1, 1).unwrap(), want[1..2].to_vec());
                        }
                        files += 1;
                    }
                    Kind::Symlink => {}
                }
            }
        }
        assert!(files >= 10, "walked {files} files");
        assert_eq!(t.open_handles(), 0);
        assert!(
            t.handles.kept() > 0,
            "originals kept open for the next READ"
        );
    }

    #[test]
    fn core_matches_reference_model() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = fake_db(tmp.path());
        let t = Tree::new(&plan).unwrap();
        let want = expected(&plan);
        let got = walk(&t);
        assert_eq!(got, want);
        assert!(got.contains_key("db/hdb$/2024.01.02"));
        assert!(got.contains_key("data/versions/2024.01.03/1/trade/price"));
        assert_eq!(t.open_handles(), 0);
        // A second walk hands out the same inodes (stable for the life of the mount).
        let a1 = t.lookup(ROOT_INO, OsStr::new("data")).unwrap();
        let again = walk(&t);
        assert_eq!(again, want);
        assert_eq!(t.lookup(ROOT_INO, OsStr::new("data")).unwrap(), a1);
    }

    #[test]
    fn attributes_come_from_the_original_without_write_bits() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = fake_db(tmp.path());
        let t = Tree::new(&plan).unwrap();
        let db = t.lookup(ROOT_INO, OsStr::new("db")).unwrap();
        let sp = t.lookup(db.ino, OsStr::new("splayed")).unwrap();
        let a = t.lookup(sp.ino, OsStr::new("a")).unwrap();
        let md = std::fs::metadata(tmp.path().join("data/splayed/a")).unwrap();
        assert_eq!(a.perm, 0o444);
        assert_eq!(a.mtime, md.modified().unwrap());
        assert_eq!(a.size, 4);
        let par = t.lookup(db.ino, OsStr::new("par.txt")).unwrap();
        assert_eq!(par.perm, 0o444);
        assert_eq!(par.kind, Kind::File);
        assert_eq!(par.mtime, t.mount_time);
        assert_eq!(read_all(&t, par.ino, 100), plan.par_txt.as_bytes());
        let seg = t.lookup(db.ino, OsStr::new("hdb$")).unwrap();
        assert_eq!(seg.perm, 0o555);
        let link = t.lookup(seg.ino, OsStr::new("2024.01.02")).unwrap();
        assert_eq!(link.kind, Kind::Symlink);
        assert_eq!(
            t.readlink(link.ino).unwrap(),
            b"../../data/versions/2024.01.02/1"
        );
    }

    #[test]
    fn writes_dotdot_and_escaping_symlinks_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = fake_db(tmp.path());
        let t = Tree::new(&plan).unwrap();
        let data = t.lookup(ROOT_INO, OsStr::new("data")).unwrap();
        assert_eq!(t.lookup(data.ino, OsStr::new("..")), Err(Errno::ENOENT));
        assert_eq!(t.lookup(data.ino, OsStr::new(".")), Err(Errno::ENOENT));
        assert_eq!(t.lookup(data.ino, OsStr::new("a/b")), Err(Errno::ENOENT));
        let v = t.lookup(data.ino, OsStr::new("versions")).unwrap();
        let d = t.lookup(v.ino, OsStr::new("2024.01.02")).unwrap();
        let one = t.lookup(d.ino, OsStr::new("1")).unwrap();
        let trade = t.lookup(one.ino, OsStr::new("trade")).unwrap();
        let evil = t.lookup(trade.ino, OsStr::new("evil")).unwrap();
        assert_eq!(evil.kind, Kind::Symlink);
        assert_eq!(t.readlink(evil.ino).unwrap(), b"/etc");
        // The view never looks through it.
        assert_eq!(
            t.lookup(evil.ino, OsStr::new("passwd")),
            Err(Errno::ENOTDIR)
        );
        assert!(t.readdir(evil.ino, 0, |_| false).is_err());
        assert!(t.open(evil.ino, false).is_err());
        let price = t.lookup(trade.ino, OsStr::new("price")).unwrap();
        assert_eq!(t.open(price.ino, true), Err(Errno::EROFS));
        let db = t.lookup(ROOT_INO, OsStr::new("db")).unwrap();
        let par = t.lookup(db.ino, OsStr::new("par.txt")).unwrap();
        assert_eq!(t.open(par.ino, true), Err(Errno::EROFS));
        assert_eq!(t.open(db.ino, false), Err(Errno::EISDIR));
        assert_eq!(t.getattr(999_999), Err(Errno::ENOENT));
        assert_eq!(t.lookup(price.ino, OsStr::new("x")), Err(Errno::ENOTDIR));
    }

    #[test]
    fn bad_plans_are_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let mut plan = fake_db(tmp.path());
        let mut p2 = plan.clone();
        p2.nodes.push(crate::plan::Node {
            path: "db/../../etc".into(),
            kind: NodeKind::Dir,
        });
        assert!(matches!(Tree::new(&p2), Err(ViewError::BadPlan { .. })));
        let mut p3 = plan.clone();
        p3.nodes.push(crate::plan::Node {
            path: "zz/x".into(),
            kind: NodeKind::Dir,
        });
        assert!(matches!(Tree::new(&p3), Err(ViewError::BadPlan { .. })));
        plan.nodes.push(crate::plan::Node {
            path: "zzz".into(),
            kind: NodeKind::Moved {
                from: "data/nope".into(),
                is_dir: false,
            },
        });
        assert!(matches!(Tree::new(&plan), Err(ViewError::Original { .. })));
    }

    #[test]
    fn object_tiers_show_as_a_local_segment_in_validation_mode() {
        use crate::object::faulty::{FaultPlan, FaultyStore};
        use crate::view::objects::{object_overlay, tests::fake_db_with_archive, ObjectView};
        let tmp = tempfile::tempdir().unwrap();
        let (plan, mut inv) = fake_db_with_archive(tmp.path());
        let faults = FaultPlan::new();
        inv[0].tier = FaultyStore::wrap(inv[0].tier.clone(), &faults);
        let ov = ObjectView::new(object_overlay(&plan, &inv).unwrap(), 1 << 20, None);
        let t = Tree::build(&plan, Some(&ov)).unwrap();
        let mut want = expected(&plan);
        want.insert("db/par.txt".into(), Exp::File(b"hdb$\narchive$\n".to_vec()));
        want.insert("db/archive$".into(), Exp::Dir);
        let tier = &inv[0].tier;
        for (rel, _) in tier.list_all("").unwrap() {
            let (date, _) = rel.split_once('/').unwrap();
            want.insert(format!("db/archive$/{date}"), Exp::Dir);
            want.insert(format!("db/archive$/{date}/trade"), Exp::Dir);
            let url = format!("{}/{rel}", tier.url());
            let bytes = crate::object::read_object_whole(tier, &url).unwrap();
            want.insert(format!("db/archive$/{rel}"), Exp::File(bytes));
        }
        faults.reset_counts();
        let got = walk(&t);
        assert_eq!(got, want);
        assert!(got.contains_key("db/archive$/2023.12.29/trade/note#"));
        // Each object was fetched once (one block each), though walk() reads 5 bytes at a time.
        let by_key = faults.fetched_by_key();
        assert!(!by_key.is_empty());
        assert!(by_key.values().all(|(gets, _)| *gets == 1), "{by_key:?}");
        assert_eq!(t.open_handles(), 0);
        // The plain view keeps the committed par.txt and has no such segment.
        let plain = Tree::new(&plan).unwrap();
        let db = plain.lookup(ROOT_INO, OsStr::new("db")).unwrap();
        assert_eq!(
            plain.lookup(db.ino, OsStr::new("archive$")),
            Err(Errno::ENOENT)
        );
        let par = plain.lookup(db.ino, OsStr::new("par.txt")).unwrap();
        assert_eq!(read_all(&plain, par.ino, 100), b"hdb$\ns3://bkt/arch\n");
        // Object files are read-only, and a failing store is EIO to the reader.
        let db = t.lookup(ROOT_INO, OsStr::new("db")).unwrap();
        let seg = t.lookup(db.ino, OsStr::new("archive$")).unwrap();
        assert_eq!(seg.perm, 0o555);
        let d = t.lookup(seg.ino, OsStr::new("2023.12.28")).unwrap();
        assert_eq!(d.kind, Kind::Dir, "a directory, not a symlink");
        let tr = t.lookup(d.ino, OsStr::new("trade")).unwrap();
        let price = t.lookup(tr.ino, OsStr::new("price")).unwrap();
        assert_eq!(price.perm, 0o444);
        assert_eq!(price.size, 16 + 8 * 4);
        assert_eq!(t.open(price.ino, true), Err(Errno::EROFS));
        let fresh = ObjectView::new(object_overlay(&plan, &inv).unwrap(), 1 << 20, None);
        let t2 = Tree::build(&plan, Some(&fresh)).unwrap();
        faults.fail_from(1);
        let fh = t2.open(price.ino, false).unwrap();
        assert_eq!(t2.read(fh, 0, 8), Err(Errno::EIO));
        faults.fail_from(0);
        assert_eq!(t2.read(fh, 0, 2).unwrap(), [0xfe, 0x20]);
        t2.release(fh);
    }

    #[test]
    fn readdir_pages_a_100k_entry_directory() {
        // tmpfs creates 100k files ten times faster than ext4 on a loaded machine.
        let tmp = tempfile::tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .unwrap();
        let plan = fake_db(tmp.path());
        let big = tmp.path().join("data/splayed/big");
        std::fs::create_dir(&big).unwrap();
        const N: usize = 100_000;
        for i in 0..N {
            File::create(big.join(format!("f{i}"))).unwrap();
        }
        let t = Tree::new(&plan).unwrap();
        let db = t.lookup(ROOT_INO, OsStr::new("db")).unwrap();
        let sp = t.lookup(db.ino, OsStr::new("splayed")).unwrap();
        let b = t.lookup(sp.ino, OsStr::new("big")).unwrap();
        let first = list(&t, b.ino, 97);
        assert_eq!(first.len(), N + 2);
        let mut names: Vec<_> = first.iter().skip(2).map(|e| e.0.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), N);
        // Resuming from any offset continues the same sequence, with the same inodes.
        let mut tail = Vec::new();
        t.readdir(b.ino, 54_321, |e| {
            tail.push((e.name.to_os_string(), e.ino, e.kind));
            false
        })
        .unwrap();
        assert_eq!(&tail[..], &first[54_321..]);
        let second = list(&t, b.ino, 1000);
        assert_eq!(first, second);
    }
}
