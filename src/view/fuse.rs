//! fuser glue over the [`Tree`]: read-only answers with long cache lifetimes, and kernel
//! passthrough of original files where the kernel offers it (pread fallback otherwise).

use super::listings::ListingCache;
use super::lru::Lru;
use super::readahead::{Readahead, ReadaheadStats};
use super::tree::{Attr, Errno as TreeErrno, Kind, Tree};
use fuser::{
    AccessFlags, BackingId, CopyFileRangeFlags, Errno, FileAttr, FileHandle, FileType, Filesystem,
    FopenFlags, Generation, INodeNo, InitFlags, KernelConfig, LockOwner, OpenAccMode, OpenFlags,
    RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, SystemTime};

/// The view never changes while mounted, so the kernel may cache names and attributes long.
pub const TTL: Duration = Duration::from_secs(3600);

/// Counters that show which I/O path served the files (tests use them to prove passthrough).
#[derive(Debug, Default)]
pub struct ViewStats {
    /// The kernel accepted FUSE_PASSTHROUGH at init.
    pub passthrough_enabled: AtomicBool,
    /// Opens answered with a kernel backing file (reads never reach us).
    pub passthrough_opens: AtomicU64,
    /// Opens served by pread from userspace.
    pub pread_opens: AtomicU64,
    /// READ requests that reached the server.
    pub reads: AtomicU64,
    /// Passthrough opens answered from the backing-id LRU (no syscall in the server).
    pub backing_reuses: AtomicU64,
    /// OPEN requests that reached the server (none after the first in no-open mode).
    pub open_requests: AtomicU64,
    /// FLUSH and OPENDIR requests that reached the server (answered ENOSYS: at most one each).
    pub flush_requests: AtomicU64,
    pub opendir_requests: AtomicU64,
    /// LOOKUPs of names the view does not hold (each answered as a cached negative entry).
    pub negative_lookups: AtomicU64,
    /// The cross-file readahead (files advised, files skipped).
    pub readahead: Arc<ReadaheadStats>,
    /// The listing cache of the tree served (its budget, size and evictions).
    pub listings: OnceLock<Arc<ListingCache>>,
}

/// How the view answers OPEN (see docs/view.md, "Cache modes").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CacheMode {
    /// Every open is an OPEN round trip answered with a kernel passthrough backing file (reads
    /// never reach the server); pread when the kernel has no passthrough.
    #[default]
    Open,
    /// OPEN is answered ENOSYS once: the kernel then opens files without asking and keeps
    /// their page cache across opens; reads that miss it come as READs served by pread.
    NoOpen,
}

/// Backing ids of inodes recently opened with passthrough, kept registered after their last
/// release so a reopen costs no syscall. Each pins one open file of the original in the
/// kernel (not a descriptor of the server), hence the bound.
pub const BACKING_LRU: usize = 4096;

/// One backing id per inode while any handle on it is open, as the kernel requires (a second
/// id for an inode with open files is refused), plus the LRU of recently used ones.
#[derive(Debug)]
struct BackingCache {
    by_fh: HashMap<u64, Arc<BackingId>>,
    by_ino: HashMap<u64, Weak<BackingId>>,
    recent: Lru<u64, Arc<BackingId>>,
    /// `by_ino`'s size at which its dead entries are swept next.
    sweep_at: usize,
}

#[derive(Debug)]
pub struct ViewFs {
    tree: Arc<Tree>,
    want_passthrough: bool,
    mode: CacheMode,
    stats: Arc<ViewStats>,
    backing: Mutex<BackingCache>,
    fallback_logged: AtomicBool,
    /// Set when the session ends: the prefetch stops listing.
    prefetch_stop: Arc<AtomicBool>,
    /// Directory entries read ahead of a sequential reader (0: off).
    readahead_window: usize,
    /// Started on first use, in the process that serves (`--background` forks after
    /// `Session::new`; threads started before would not survive); None if it could not start.
    readahead: OnceLock<Option<Readahead>>,
}

/// Lists run concurrently by the metadata prefetch: I/O concurrency, not CPU (the listers wait
/// on the disk); a cold disk serves 16 concurrent listings ~3x faster than 2.
pub const PREFETCH_THREADS: usize = 16;

fn errno(e: TreeErrno) -> Errno {
    Errno::from_i32(e.0)
}

fn file_type(k: Kind) -> FileType {
    match k {
        Kind::Dir => FileType::Directory,
        Kind::File => FileType::RegularFile,
        Kind::Symlink => FileType::Symlink,
    }
}

fn file_attr(a: &Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(a.ino),
        size: a.size,
        blocks: a.blocks,
        atime: a.atime,
        mtime: a.mtime,
        ctime: a.ctime,
        crtime: a.ctime,
        kind: file_type(a.kind),
        perm: a.perm,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        rdev: 0,
        blksize: a.blksize,
        flags: 0,
    }
}

/// The attributes of a negative entry: only the node id (0) matters to the kernel.
fn negative_attr() -> FileAttr {
    FileAttr {
        ino: INodeNo(0),
        size: 0,
        blocks: 0,
        atime: std::time::UNIX_EPOCH,
        mtime: std::time::UNIX_EPOCH,
        ctime: std::time::UNIX_EPOCH,
        crtime: std::time::UNIX_EPOCH,
        kind: FileType::RegularFile,
        perm: 0,
        nlink: 0,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 0,
        flags: 0,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ViewFs {
    pub fn new(
        tree: Arc<Tree>,
        want_passthrough: bool,
        mode: CacheMode,
        stats: Arc<ViewStats>,
    ) -> ViewFs {
        let _ = stats.listings.set(tree.listing_cache());
        ViewFs {
            tree,
            want_passthrough: want_passthrough && mode == CacheMode::Open,
            mode,
            stats,
            backing: Mutex::new(BackingCache {
                by_fh: HashMap::new(),
                by_ino: HashMap::new(),
                recent: Lru::new(BACKING_LRU),
                sweep_at: 2 * BACKING_LRU,
            }),
            fallback_logged: AtomicBool::new(false),
            prefetch_stop: Arc::new(AtomicBool::new(false)),
            readahead_window: super::readahead::WINDOW,
            readahead: OnceLock::new(),
        }
    }

    /// Reads `files` directory entries ahead of a sequential reader (0: no readahead).
    pub fn with_readahead(mut self, files: usize) -> ViewFs {
        self.readahead_window = files;
        self
    }

    /// Reads ahead the files that follow `ino` in its directory, if the opens look sequential.
    fn read_ahead(&self, ino: u64) {
        if self.readahead_window == 0 {
            return;
        }
        let files = self.tree.read_ahead_after(ino, self.readahead_window);
        if files.is_empty() {
            return;
        }
        let ra = self.readahead.get_or_init(|| {
            let started = self
                .tree
                .origin()
                .and_then(|o| Readahead::start(o, self.stats.readahead.clone()));
            match started {
                Ok(r) => Some(r),
                Err(e) => {
                    // Only slower: every file is still read when it is opened.
                    tracing::warn!("smstage view: no cross-file readahead ({e})");
                    None
                }
            }
        });
        if let Some(ra) = ra {
            for (rel, len) in files {
                ra.advise(rel, len);
            }
        }
    }

    /// The metadata prefetch of this view: lists the directories below the plan's moved nodes,
    /// a bounded distance ahead of the readers (see `view::prefetch`), with `threads` concurrent
    /// listers (0: never) once [`Prefetcher::start`] is called, and
    /// stops when the session ends. To start in the process that serves the view: fuser
    /// answers INIT inside `Session::new`, before `--background` forks, so `init` is too early.
    pub fn prefetcher(&self, threads: usize) -> Prefetcher {
        Prefetcher {
            tree: self.tree.clone(),
            stop: self.prefetch_stop.clone(),
            threads,
        }
    }
}

/// A metadata prefetch not started yet (see [`ViewFs::prefetcher`]).
#[derive(Debug)]
pub struct Prefetcher {
    tree: Arc<Tree>,
    stop: Arc<AtomicBool>,
    threads: usize,
}

impl Prefetcher {
    /// Starts listing in a background thread; returns at once.
    pub fn start(self) {
        let Prefetcher {
            tree,
            stop,
            threads,
        } = self;
        if threads == 0 {
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("smstage-prefetch".into())
            .spawn(move || {
                let t0 = std::time::Instant::now();
                let s = tree.prefetch(threads, &stop);
                let c = tree.cache_stats();
                tracing::info!(
                    "smstage view: metadata prefetch listed {} directories ({} entries, {} unreadable) in {:.2} s{}; listing cache: {} listings, {:.1} MiB (peak {:.1}) of {:.1} MiB, {} evicted",
                    s.dirs,
                    s.entries,
                    s.failed,
                    t0.elapsed().as_secs_f64(),
                    if stop.load(Ordering::Relaxed) { " (stopped by unmount)" } else { "" },
                    c.listings,
                    c.bytes as f64 / 1048576.0,
                    c.peak_bytes as f64 / 1048576.0,
                    c.budget as f64 / 1048576.0,
                    c.evictions
                );
            });
        if let Err(e) = spawned {
            // Only slower: every directory is still listed on demand.
            tracing::warn!("smstage view: no metadata prefetch ({e})");
        }
    }
}

impl ViewFs {
    /// A passthrough open of `ino` answered from the LRU, if its backing id is still there.
    fn reuse_backing(&self, ino: u64) -> Option<(u64, Arc<BackingId>)> {
        let mut cache = lock(&self.backing);
        let id = cache.recent.get(&ino)?;
        let fh = self.tree.new_fh();
        cache.by_fh.insert(fh, id.clone());
        Some((fh, id))
    }

    fn passthrough_on(&self) -> bool {
        self.stats.passthrough_enabled.load(Ordering::Relaxed)
    }

    /// Registers (or reuses) the backing file of `ino` for handle `fh`.
    fn backing_for(&self, reply: &ReplyOpen, fh: u64, ino: u64) -> Option<Arc<BackingId>> {
        let (_, file) = self.tree.backing_file(fh)?;
        let mut cache = lock(&self.backing);
        let id = match cache.by_ino.get(&ino).and_then(Weak::upgrade) {
            Some(id) => id,
            None => match reply.open_backing(&*file) {
                Ok(id) => {
                    let id = Arc::new(id);
                    cache.by_ino.insert(ino, Arc::downgrade(&id));
                    if cache.by_ino.len() >= cache.sweep_at {
                        // Forget the dead weak entries of evicted ids, once the map has doubled
                        // since the last sweep (amortised O(1)): sweeping on every registration
                        // once the LRU was full made each cold open scan 4,096 entries.
                        cache.by_ino.retain(|_, w| w.strong_count() > 0);
                        cache.sweep_at = (2 * cache.by_ino.len()).max(2 * BACKING_LRU);
                    }
                    cache.recent.put(ino, id.clone());
                    id
                }
                Err(e) => {
                    if !self.fallback_logged.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            "kernel refused a passthrough backing file ({e}); serving files by pread"
                        );
                    }
                    return None;
                }
            },
        };
        cache.by_fh.insert(fh, id.clone());
        Some(id)
    }
}

impl Drop for ViewFs {
    fn drop(&mut self) {
        self.prefetch_stop.store(true, Ordering::Relaxed);
    }
}

impl Filesystem for ViewFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let caps = config.capabilities();
        let mut on = Vec::new();
        for (flag, name) in [
            (InitFlags::FUSE_CACHE_SYMLINKS, "cache_symlinks"),
            (InitFlags::FUSE_DO_READDIRPLUS, "readdirplus"),
            (InitFlags::FUSE_READDIRPLUS_AUTO, "readdirplus_auto"),
            (InitFlags::FUSE_PARALLEL_DIROPS, "parallel_dirops"),
        ] {
            if caps.contains(flag) && config.add_capabilities(flag).is_ok() {
                on.push(name);
            }
        }
        if self.want_passthrough && caps.contains(InitFlags::FUSE_PASSTHROUGH) {
            // Depth 2 lets the originals sit on a stacked filesystem (overlayfs in containers).
            if config.add_capabilities(InitFlags::FUSE_PASSTHROUGH).is_ok()
                && config.set_max_stack_depth(2).is_ok()
            {
                self.stats
                    .passthrough_enabled
                    .store(true, Ordering::Relaxed);
                on.push("passthrough");
            }
        }
        if let Err(max) = config.set_max_readahead(u32::MAX) {
            let _ = config.set_max_readahead(max);
        }
        let _ = config.set_max_background(64);
        let _ = config.set_congestion_threshold(48);
        tracing::info!(
            "smstage view: kernel FUSE features enabled: {}{}",
            on.join(", "),
            if self.passthrough_on() {
                ""
            } else {
                " (no passthrough: files are served by pread)"
            }
        );
        Ok(())
    }

    fn destroy(&mut self) {
        self.prefetch_stop.store(true, Ordering::Relaxed);
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.tree.lookup(parent.0, name) {
            Ok(a) => reply.entry(&TTL, &file_attr(&a), Generation(0)),
            // A name the view does not hold never appears (the view serves a plan, and its
            // listings are frozen once served): answer with node id 0, which the kernel keeps
            // as a negative dentry for the TTL, so probing for absent files (`col#`, `.d` of
            // a directory that is not a table, `par.txt`) stays in the kernel after the first.
            Err(e) if e.0 == libc::ENOENT => {
                self.stats.negative_lookups.fetch_add(1, Ordering::Relaxed);
                reply.entry(&TTL, &negative_attr(), Generation(0))
            }
            Err(e) => reply.error(errno(e)),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.tree.getattr(ino.0) {
            Ok(a) => reply.attr(&TTL, &file_attr(&a)),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.tree.readlink(ino.0) {
            Ok(t) => reply.data(&t),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        self.stats.open_requests.fetch_add(1, Ordering::Relaxed);
        let write = flags.acc_mode() != OpenAccMode::O_RDONLY
            || flags.0 & (libc::O_TRUNC | libc::O_APPEND | libc::O_CREAT) != 0;
        if self.mode == CacheMode::NoOpen && !write {
            // The kernel sets no_open, lets this open succeed with fh 0 and FOPEN_KEEP_CACHE,
            // and never sends OPEN (nor RELEASE) for files again.
            return reply.error(Errno::ENOSYS);
        }
        if !write {
            self.read_ahead(ino.0);
        }
        if self.passthrough_on() && !write {
            if let Some((fh, id)) = self.reuse_backing(ino.0) {
                self.stats.passthrough_opens.fetch_add(1, Ordering::Relaxed);
                self.stats.backing_reuses.fetch_add(1, Ordering::Relaxed);
                return reply.opened_passthrough(FileHandle(fh), FopenFlags::FOPEN_NOFLUSH, &id);
            }
        }
        let fh = match self.tree.open(ino.0, write) {
            Ok(fh) => fh,
            Err(e) => return reply.error(errno(e)),
        };
        if self.passthrough_on() {
            if let Some(id) = self.backing_for(&reply, fh, ino.0) {
                // The kernel holds the original open through the backing id and sends no READ:
                // our descriptor is not needed any more.
                self.tree.release(fh);
                self.stats.passthrough_opens.fetch_add(1, Ordering::Relaxed);
                return reply.opened_passthrough(FileHandle(fh), FopenFlags::FOPEN_NOFLUSH, &id);
            }
        }
        self.stats.pread_opens.fetch_add(1, Ordering::Relaxed);
        reply.opened(
            FileHandle(fh),
            FopenFlags::FOPEN_KEEP_CACHE | FopenFlags::FOPEN_NOFLUSH,
        );
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.stats.reads.fetch_add(1, Ordering::Relaxed);
        // fh 0: opened without an OPEN (no-open mode).
        let r = if fh.0 == 0 {
            if offset == 0 {
                // No OPEN in this mode: the first read of a file stands for its open.
                self.read_ahead(ino.0);
            }
            self.tree.read_ino(ino.0, offset, size)
        } else {
            self.tree.read(fh.0, offset, size)
        };
        match r {
            Ok(b) => reply.data(&b),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        lock(&self.backing).by_fh.remove(&fh.0);
        self.tree.release(fh.0);
        reply.ok();
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // Nothing to flush in a read-only view: ENOSYS makes the kernel stop sending FLUSH
        // (no_flush), for opens that did not get FOPEN_NOFLUSH (no-open mode).
        self.stats.flush_requests.fetch_add(1, Ordering::Relaxed);
        reply.error(Errno::ENOSYS);
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn opendir(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        // ENOSYS sets no_opendir: the kernel then opens directories without asking, with
        // FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR (what we answered before), and sends no
        // RELEASEDIR. The kernel only opens directory inodes here, so nothing is lost.
        self.stats.opendir_requests.fetch_add(1, Ordering::Relaxed);
        reply.error(Errno::ENOSYS);
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let r = self.tree.readdir(ino.0, offset, |e| {
            reply.add(INodeNo(e.ino), e.next_offset, file_type(e.kind), e.name)
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let tree = &self.tree;
        let r = tree.readdir(ino.0, offset, |e| {
            match e.attr.ok_or(()).or_else(|_| tree.getattr(e.ino)) {
                Ok(a) => reply.add(
                    INodeNo(e.ino),
                    e.next_offset,
                    e.name,
                    &TTL,
                    &file_attr(&a),
                    Generation(0),
                ),
                // Vanished from the original since it was listed: skip it, keep the offsets.
                Err(_) => false,
            }
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.tree.statfs() {
            Ok(s) => reply.statfs(
                s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.bsize, s.namelen, s.frsize,
            ),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn access(&self, _req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        if mask.contains(AccessFlags::W_OK) {
            return reply.error(Errno::EROFS);
        }
        match self.tree.getattr(ino.0) {
            Ok(_) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        reply.error(Errno::NO_XATTR);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, size: u32, reply: ReplyXattr) {
        if size == 0 {
            reply.size(0);
        } else {
            reply.data(&[]);
        }
    }

    // Everything below would modify the view: read-only file system.

    fn setattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mknod(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mkdir(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn unlink(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn rmdir(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn symlink(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _link_name: &OsStr,
        _target: &Path,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn rename(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _newparent: INodeNo,
        _newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn link(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _newparent: INodeNo,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        reply.error(Errno::EROFS);
    }

    fn create(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        reply.error(Errno::EROFS);
    }

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _length: u64,
        _mode: i32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn copy_file_range(
        &self,
        _req: &Request,
        _ino_in: INodeNo,
        _fh_in: FileHandle,
        _offset_in: u64,
        _ino_out: INodeNo,
        _fh_out: FileHandle,
        _offset_out: u64,
        _len: u64,
        _flags: CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        reply.error(Errno::EROFS);
    }
}
