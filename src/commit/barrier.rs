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
}

impl Dirty {
    /// `dir` itself changed (its entries, mode, owner or times).
    pub fn dir(&mut self, dir: &Path) {
        if !self.dirs.contains(dir) {
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
}

impl SyncMode {
    /// The default, or `SMSTAGE_BARRIER=dirs|syncfs` (a tuning knob, measured in
    /// docs/performance.md; both are equally safe).
    pub fn from_env() -> SyncMode {
        match std::env::var("SMSTAGE_BARRIER").as_deref() {
            Ok("syncfs") => SyncMode::Syncfs,
            _ => SyncMode::Dirs,
        }
    }
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
    if dirty.dirs.is_empty() {
        return Ok(());
    }
    let dirs = std::mem::take(&mut dirty.dirs);
    match mode {
        SyncMode::Dirs => {
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
        for mode in [SyncMode::Dirs, SyncMode::Syncfs] {
            let mut d2 = Dirty::default();
            d2.dir(&a);
            d2.dir(&t.path().join("gone"));
            barrier(&mut d2, mode, &[t.path().to_path_buf()]).unwrap();
            assert_eq!(d2.len(), 0);
        }
        // A path that cannot be opened for another reason than absence is an error.
        let file = t.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let mut d3 = Dirty::default();
        d3.dir(&file.join("sub"));
        assert!(barrier(&mut d3, SyncMode::Dirs, &[]).is_err());
    }
}
