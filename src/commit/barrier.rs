//! Group commit: the directories a wave of steps changed, made durable together by one barrier
//! (an fsync of each distinct directory, or one syncfs(2) per filesystem) instead of one fsync
//! per step. See docs/journal.md, "Waves and group commit".

use super::fsutil::io_err;
use super::CommitError;
use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// Directories whose entries (or own metadata) changed since the last barrier.
#[derive(Debug, Default)]
pub(crate) struct Dirty {
    dirs: BTreeSet<PathBuf>,
    /// Only whether anything changed: a syncfs barrier syncs every directory anyway, and
    /// keeping the set of 150,007 steps' parents (absolute paths compared component by
    /// component) cost ~10% of a commit's steps.
    untracked: bool,
    changed: bool,
}

impl Dirty {
    /// A record of what changed fit for barriers of `mode`: the directories themselves only
    /// where they are synced one by one.
    pub fn for_mode(mode: SyncMode) -> Dirty {
        Dirty {
            untracked: mode == SyncMode::Syncfs,
            ..Dirty::default()
        }
    }

    /// `dir` itself changed (its entries, mode, owner or times).
    pub fn dir(&mut self, dir: &Path) {
        self.changed = true;
        if !self.untracked && !self.dirs.contains(dir) {
            self.dirs.insert(dir.to_path_buf());
        }
    }

    /// An entry at `path` was created, renamed or removed: its directory changed.
    pub fn parent(&mut self, path: &Path) {
        match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => self.dir(p),
            _ => self.dir(Path::new(".")),
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.dirs.len()
    }
}

/// How a barrier makes a wave durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// fsync(2) of every distinct directory the wave changed: exactly the fsyncs the steps used
    /// to make one by one, deduplicated and deferred to the end of the wave.
    Dirs,
    /// One syncfs(2) per filesystem written (that of `B` and that of `B/<source>`).
    Syncfs,
    /// Syncfs where every filesystem written is a local one known to implement it fully
    /// (ext4, xfs, btrfs, f2fs, tmpfs); directory fsyncs elsewhere (NFS, FUSE, ...: syncfs
    /// there may flush less than it says, or nothing).
    Auto,
}

/// statfs(2) magic numbers of the filesystems whose syncfs(2) writes back and commits
/// everything (and, since Linux 5.8, reports writeback errors).
const SYNCFS_OK: [i64; 5] = [
    0xEF53,      // ext2/3/4
    0x5846_5342, // xfs
    0x9123_683E, // btrfs
    0xF2F5_2010, // f2fs
    0x0102_1994, // tmpfs
];

impl SyncMode {
    /// [`SyncMode::Auto`], or `SMSTAGE_BARRIER=dirs|syncfs` (a tuning knob, measured in
    /// docs/journal.md; all are equally safe on ext4/xfs/btrfs).
    pub fn from_env() -> SyncMode {
        match std::env::var("SMSTAGE_BARRIER").as_deref() {
            Ok("syncfs") => SyncMode::Syncfs,
            Ok("dirs") => SyncMode::Dirs,
            _ => SyncMode::Auto,
        }
    }

    /// Resolve [`SyncMode::Auto`] for the filesystems holding `roots`.
    pub fn resolve(self, roots: &[PathBuf]) -> SyncMode {
        if self != SyncMode::Auto {
            return self;
        }
        let all_ok = roots
            .iter()
            .all(|r| fs_magic(r).is_some_and(|m| SYNCFS_OK.contains(&m)));
        if all_ok {
            SyncMode::Syncfs
        } else {
            SyncMode::Dirs
        }
    }
}

fn fs_magic(path: &Path) -> Option<i64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statfs is plain data, fully written by a successful call.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and a valid out-pointer.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)]
    Some(st.f_type as i64)
}

fn fsync_err(path: &Path) -> impl FnOnce(std::io::Error) -> CommitError {
    let path = path.to_path_buf();
    move |source| CommitError::Fsync { path, source }
}

/// Make every change recorded in `dirty` durable, then forget them. `roots` are directories on
/// every filesystem the commit writes to (syncfs mode). A directory that no longer exists was
/// removed later in the same wave: its removal is an entry of its parent, which is in the set.
/// Any sync failure is [`CommitError::Fsync`]: fatal, never retried.
pub(crate) fn barrier(
    dirty: &mut Dirty,
    mode: SyncMode,
    roots: &[PathBuf],
) -> Result<(), CommitError> {
    if !std::mem::take(&mut dirty.changed) {
        return Ok(());
    }
    let dirs = std::mem::take(&mut dirty.dirs);
    let mode = match mode.resolve(roots) {
        // The directories were not recorded (Dirty::for_mode): every filesystem is synced.
        _ if dirty.untracked => SyncMode::Syncfs,
        m => m,
    };
    match mode {
        SyncMode::Dirs | SyncMode::Auto => {
            for d in &dirs {
                let f = match File::open(d) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err("open for fsync", d)(e)),
                };
                f.sync_all().map_err(fsync_err(d))?;
            }
        }
        SyncMode::Syncfs => {
            let mut devs = BTreeSet::new();
            for r in roots {
                let f = File::open(r).map_err(io_err("open for syncfs", r))?;
                let dev = f.metadata().map_err(io_err("fstat", r))?.dev();
                if devs.insert(dev) {
                    // SAFETY: a valid open file descriptor.
                    if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
                        return Err(fsync_err(r)(std::io::Error::last_os_error()));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirty_dedups_parents_and_barrier_skips_removed_dirs() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("a");
        std::fs::create_dir(&a).unwrap();
        let mut d = Dirty::default();
        d.parent(&a.join("x"));
        d.parent(&a.join("y"));
        d.dir(&a);
        d.parent(&a);
        assert_eq!(d.len(), 2);
        d.dir(&t.path().join("gone"));
        for mode in [SyncMode::Dirs, SyncMode::Syncfs, SyncMode::Auto] {
            let mut d2 = Dirty::default();
            d2.dir(&a);
            d2.dir(&t.path().join("gone"));
            barrier(&mut d2, mode, &[t.path().to_path_buf()]).unwrap();
            assert_eq!(d2.len(), 0);
        }
        // Recorded for syncfs: no directory is kept, and the barrier still syncs (and forgets)
        // that something changed.
        let mut d4 = Dirty::for_mode(SyncMode::Syncfs);
        d4.parent(&a.join("x"));
        assert_eq!((d4.len(), d4.changed), (0, true));
        barrier(&mut d4, SyncMode::Dirs, &[t.path().to_path_buf()]).unwrap();
        assert!(!d4.changed);
        assert!(!Dirty::for_mode(SyncMode::Dirs).untracked);
        // A path that cannot be opened for another reason than absence is an error.
        let file = t.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let mut d3 = Dirty::default();
        d3.dir(&file.join("sub"));
        assert!(barrier(&mut d3, SyncMode::Dirs, &[]).is_err());
    }

    #[test]
    fn auto_uses_syncfs_on_tmpfs_and_dirs_where_unknown() {
        let shm = PathBuf::from("/dev/shm");
        if fs_magic(&shm) == Some(0x0102_1994) {
            assert_eq!(
                SyncMode::Auto.resolve(std::slice::from_ref(&shm)),
                SyncMode::Syncfs
            );
        }
        // /proc is no filesystem to syncfs: directory fsyncs.
        assert_eq!(
            SyncMode::Auto.resolve(&[shm, PathBuf::from("/proc")]),
            SyncMode::Dirs
        );
        assert_eq!(SyncMode::Dirs.resolve(&[]), SyncMode::Dirs);
    }
}
