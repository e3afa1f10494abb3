//! The fingerprint's walk of one top-level entry of the database, relative to open directories:
//! one `openat` + `getdents` per directory and one `fstatat` per entry, each resolving a single
//! name. A walk by full paths (`lstat` of `<db>/<date>/<table>/<column>`) made the kernel look
//! up every component of every path again: at a million files that path walk was a third of
//! `commit --plan` (profile in docs/performance.md, "Commit at 1.1M files").
//!
//! Same entries as a `walkdir` walk that never follows a symlink and never descends into
//! another filesystem (a mountpoint is recorded, as its `lstat` shows it, not what is below).

use super::ApprovalError;
use crate::plan::fingerprint::{FsEntry, FsKind};
use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cstr(name: &[u8]) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// `lstat` of `name` in the directory `dir`.
fn stat_at(dir: &OwnedFd, name: &CStr) -> io::Result<libc::stat> {
    // SAFETY: stat is plain data filled by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd, NUL-terminated single name, valid out pointer.
    let r = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

/// Opens the directory `name` in `dir`, never through a symlink, for reading without writing
/// its access time (crate::noatime).
fn open_dir_at(dir: &OwnedFd, name: &CStr) -> io::Result<OwnedFd> {
    crate::noatime::openat(
        dir.as_raw_fd(),
        name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
    )
}

/// Opens the directory at `path` (the database, or a segment), following no final symlink.
pub(crate) fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let c = cstr(path.as_os_str().as_bytes())?;
    crate::noatime::openat(
        libc::AT_FDCWD,
        &c,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
    )
}

fn kind_of_mode(mode: libc::mode_t) -> FsKind {
    match mode & libc::S_IFMT {
        libc::S_IFLNK => FsKind::Symlink,
        libc::S_IFDIR => FsKind::Dir,
        libc::S_IFREG => FsKind::File,
        _ => FsKind::Other,
    }
}

/// The entry named `rel` (below `database`) from its `lstat`; a symlink's target is read.
pub(crate) fn entry_of_stat(
    database: &Path,
    rel: String,
    st: &libc::stat,
) -> Result<FsEntry, ApprovalError> {
    let kind = kind_of_mode(st.st_mode);
    // The full path is built for symlinks only: one allocation less per entry.
    let target = match kind {
        FsKind::Symlink => super::scan::link_target(&database.join(&rel), kind)?,
        _ => None,
    };
    let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000) + n;
    Ok(FsEntry {
        path: rel,
        kind,
        size: st.st_size as u64,
        mtime_ns: ns(st.st_mtime, st.st_mtime_nsec),
        inode: st.st_ino,
        target,
        // Files only: what an in-place write with the mtime set back still moves.
        ctime_ns: (kind == FsKind::File).then(|| ns(st.st_ctime, st.st_ctime_nsec)),
    })
}

/// Every entry of the subtree `top` of the database open as `db` (at `database`, on device
/// `db_dev`), the top included, in no particular order.
pub(crate) fn walk_top(
    db: &OwnedFd,
    database: &Path,
    db_dev: u64,
    top: &OsStr,
) -> Result<Vec<FsEntry>, ApprovalError> {
    let fail = |rel: &str, source: io::Error| ApprovalError::Database {
        path: database.join(rel),
        source,
    };
    let rel = top.to_string_lossy().into_owned();
    let name = cstr(top.as_bytes()).map_err(|e| fail(&rel, e))?;
    let st = stat_at(db, &name).map_err(|e| fail(&rel, e))?;
    let mut out = Vec::new();
    let descend = kind_of_mode(st.st_mode) == FsKind::Dir && st.st_dev == db_dev;
    if descend {
        let fd = open_dir_at(db, &name).map_err(|e| fail(&rel, e))?;
        walk_dir(&fd, database, db_dev, &rel, &mut out)?;
    }
    out.push(entry_of_stat(database, rel, &st)?);
    Ok(out)
}

/// The entries below the open directory `dir` (named `rel`), depth first.
fn walk_dir(
    dir: &OwnedFd,
    database: &Path,
    db_dev: u64,
    rel: &str,
    out: &mut Vec<FsEntry>,
) -> Result<(), ApprovalError> {
    let fail = |rel: &str, source: io::Error| ApprovalError::Database {
        path: database.join(rel),
        source,
    };
    use std::os::fd::AsFd;
    for ent in crate::dirents::list(dir.as_fd()).map_err(|e| fail(rel, e))? {
        let child = format!("{rel}/{}", String::from_utf8_lossy(ent.name_bytes()));
        let c = &ent.name;
        let st = stat_at(dir, c).map_err(|e| fail(&child, e))?;
        // Another filesystem mounted here: recorded as its root shows, never walked.
        let descend = kind_of_mode(st.st_mode) == FsKind::Dir && st.st_dev == db_dev;
        if descend {
            let fd = open_dir_at(dir, c).map_err(|e| fail(&child, e))?;
            walk_dir(&fd, database, db_dev, &child, out)?;
        }
        out.push(entry_of_stat(database, child, &st)?);
    }
    Ok(())
}
