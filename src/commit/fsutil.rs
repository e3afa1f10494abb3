//! Durable filesystem primitives for the commit: fsync, renameat2, tree replication (hard links
//! or verified copies), verified tree removal, timestamps.
//!
//! The tree operations record the directories they change in a [`Dirty`] set, made durable by
//! the wave's barrier (`barrier.rs`); file contents (copies, generated files) are fsynced before
//! they are renamed into place. An fsync failure is reported as [`CommitError::Fsync`], which
//! the caller treats as fatal: after a failed fsync the kernel may have dropped the dirty pages,
//! so retrying would report success over lost data.

use super::barrier::Dirty;
use super::CommitError;
use sha2::{Digest, Sha256};
use std::ffi::CString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub(crate) fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CommitError {
    let path = path.to_path_buf();
    move |source| CommitError::Io { op, path, source }
}

/// fsync a file or directory by path.
pub(crate) fn fsync_path(path: &Path) -> Result<(), CommitError> {
    let f = File::open(path).map_err(io_err("open for fsync", path))?;
    f.sync_all().map_err(|source| CommitError::Fsync {
        path: path.to_path_buf(),
        source,
    })
}

/// fsync the directory holding `path` (makes a create/rename/unlink of `path` durable).
pub(crate) fn fsync_parent(path: &Path) -> Result<(), CommitError> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => fsync_path(p),
        _ => fsync_path(Path::new(".")),
    }
}

fn cstr(p: &Path) -> Result<CString, CommitError> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| CommitError::Io {
        op: "path with NUL byte",
        path: p.to_path_buf(),
        source: io::Error::from(io::ErrorKind::InvalidInput),
    })
}

/// Refuse to start on a read-only filesystem: every step (and every inverse) writes, so a
/// commit there would only fail at its first step, and its rollback at the first inverse.
pub(crate) fn ensure_writable(path: &Path) -> Result<(), CommitError> {
    let c = cstr(path)?;
    // SAFETY: statvfs is plain data, fully written by a successful call.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io_err("statvfs", path)(io::Error::last_os_error()));
    }
    if st.f_flag & libc::ST_RDONLY != 0 {
        return Err(CommitError::ReadOnly {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// renameat2(2) with flags (RENAME_NOREPLACE / RENAME_EXCHANGE), no fsync.
pub fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> io::Result<()> {
    let (a, b) = match (cstr(from), cstr(to)) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return Err(io::Error::from(io::ErrorKind::InvalidInput)),
    };
    // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            flags,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Access and modification time of an inode (not following symlinks), in (sec, nsec) pairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Times {
    pub atime: (i64, i64),
    pub mtime: (i64, i64),
}

pub(crate) fn times_of(md: &fs::Metadata) -> Times {
    Times {
        atime: (md.atime(), md.atime_nsec()),
        mtime: (md.mtime(), md.mtime_nsec()),
    }
}

/// Set atime and mtime without following a final symlink.
pub(crate) fn set_times(path: &Path, t: Times) -> Result<(), CommitError> {
    let c = cstr(path)?;
    let ts = [
        libc::timespec {
            tv_sec: t.atime.0 as libc::time_t,
            tv_nsec: t.atime.1 as _,
        },
        libc::timespec {
            tv_sec: t.mtime.0 as libc::time_t,
            tv_nsec: t.mtime.1 as _,
        },
    ];
    // SAFETY: valid C string and a two-element timespec array, as utimensat requires.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io_err("utimensat", path)(io::Error::last_os_error()))
    }
}

/// Copy owner when we are allowed to (root); a non-root run can only create files it owns,
/// which then equal the originals' owner in the common case.
fn copy_owner(path: &Path, md: &fs::Metadata) -> Result<(), CommitError> {
    let cur = fs::symlink_metadata(path).map_err(io_err("lstat", path))?;
    if cur.uid() == md.uid() && cur.gid() == md.gid() {
        return Ok(());
    }
    std::os::unix::fs::lchown(path, Some(md.uid()), Some(md.gid())).map_err(io_err("lchown", path))
}

pub(crate) fn sha256_file(path: &Path) -> Result<[u8; 32], CommitError> {
    let mut f = File::open(path).map_err(io_err("open", path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io_err("read", path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// How a tree is replicated: hard links (same filesystem: no data copied, the same inodes get a
/// second name) or copies (across filesystems: each file copied, fsynced, verified).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaMode {
    Link,
    Copy,
}

/// Make `to` a replica of the tree at `from`, merging into whatever part of `to` already exists
/// (so a re-run after a crash completes a partial replica instead of failing). Files already
/// present at `to` are complete (copies are written under a temporary name and renamed), so they
/// are kept. Directory modes, owners and times are copied after their children exist, so the
/// replica's metadata equals the source's. Every directory created is recorded in `dirty` for
/// the wave's barrier (copied files are fsynced before they are renamed into place).
pub(crate) fn replicate(
    from: &Path,
    to: &Path,
    mode: ReplicaMode,
    dirty: &mut Dirty,
) -> Result<(), CommitError> {
    replicate_entry(from, to, mode, dirty)?;
    dirty.parent(to);
    Ok(())
}

fn replicate_entry(
    from: &Path,
    to: &Path,
    mode: ReplicaMode,
    dirty: &mut Dirty,
) -> Result<(), CommitError> {
    let md = fs::symlink_metadata(from).map_err(io_err("lstat", from))?;
    let ft = md.file_type();
    let existing = fs::symlink_metadata(to).ok();
    if ft.is_dir() {
        match &existing {
            Some(e) if e.is_dir() => {}
            Some(_) => return Err(verify_err(to, "exists and is not a directory")),
            None => fs::create_dir(to).map_err(io_err("mkdir", to))?,
        }
        let mut names: Vec<_> = fs::read_dir(from)
            .map_err(io_err("readdir", from))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io_err("readdir", from))?;
        names.sort();
        for n in names {
            replicate_entry(&from.join(&n), &to.join(&n), mode, dirty)?;
        }
        fs::set_permissions(to, fs::Permissions::from_mode(md.mode() & 0o7777))
            .map_err(io_err("chmod", to))?;
        copy_owner(to, &md)?;
        set_times(to, times_of(&md))?;
        dirty.dir(to);
        return Ok(());
    }
    if existing.is_some() {
        return Ok(());
    }
    if ft.is_symlink() {
        let target = fs::read_link(from).map_err(io_err("readlink", from))?;
        std::os::unix::fs::symlink(&target, to).map_err(io_err("symlink", to))?;
        copy_owner(to, &md)?;
        return set_times(to, times_of(&md));
    }
    if !ft.is_file() {
        return Err(verify_err(
            from,
            "is neither a file, a directory nor a symlink",
        ));
    }
    match mode {
        ReplicaMode::Link => fs::hard_link(from, to).map_err(io_err("link", to)),
        ReplicaMode::Copy => copy_verified(from, to, &md),
    }
}

fn verify_err(path: &Path, msg: &str) -> CommitError {
    CommitError::Verify {
        path: path.to_path_buf(),
        msg: msg.to_string(),
    }
}

/// Copy a regular file under a temporary name, fsync, verify size and sha256 against the source,
/// copy mode/owner/times, then rename into place.
fn copy_verified(from: &Path, to: &Path, md: &fs::Metadata) -> Result<(), CommitError> {
    let tmp = tmp_name(to, ".smstage-copy");
    let _ = fs::remove_file(&tmp);
    let r = copy_to_tmp(from, &tmp, to, md)
        .and_then(|()| fs::rename(&tmp, to).map_err(io_err("rename", to)));
    if r.is_err() {
        // A half-written copy is useless, holds the space that just ran out (ENOSPC) and, left
        // in the staging tree, would make the rollback's rmdir fail.
        let _ = fs::remove_file(&tmp);
    }
    r
}

/// The copy itself (see [`copy_verified`]), under the temporary name `tmp`.
fn copy_to_tmp(from: &Path, tmp: &Path, to: &Path, md: &fs::Metadata) -> Result<(), CommitError> {
    {
        let mut src = File::open(from).map_err(io_err("open", from))?;
        let mut dst = File::create(tmp).map_err(io_err("create", tmp))?;
        io::copy(&mut src, &mut dst).map_err(io_err("copy", tmp))?;
        dst.flush().map_err(io_err("write", tmp))?;
        dst.sync_all().map_err(|source| CommitError::Fsync {
            path: tmp.to_path_buf(),
            source,
        })?;
    }
    let copied = fs::metadata(tmp).map_err(io_err("stat", tmp))?;
    if copied.len() != md.len() || sha256_file(tmp)? != sha256_file(from)? {
        return Err(verify_err(
            to,
            "copy differs from its source (size or sha256)",
        ));
    }
    fs::set_permissions(tmp, fs::Permissions::from_mode(md.mode() & 0o7777))
        .map_err(io_err("chmod", tmp))?;
    copy_owner(tmp, md)?;
    set_times(tmp, times_of(md))
}

/// `<path><suffix>` in the same directory.
pub(crate) fn tmp_name(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Remove the tree at `path`, but only entry by entry after checking that `replica` holds the
/// same entry (same inode in link mode; same size and sha256 in copy mode), so no data can be
/// lost even if the replica was damaged. Idempotent: a missing `path` is done (its parent is
/// still recorded in `dirty`: a re-run must re-sync what a crash may have left unsynced).
pub(crate) fn remove_replicated(
    path: &Path,
    replica: &Path,
    mode: ReplicaMode,
    dirty: &mut Dirty,
) -> Result<(), CommitError> {
    dirty.parent(path);
    if fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    remove_entry(path, replica, mode, dirty)
}

fn remove_entry(
    path: &Path,
    replica: &Path,
    mode: ReplicaMode,
    dirty: &mut Dirty,
) -> Result<(), CommitError> {
    let md = fs::symlink_metadata(path).map_err(io_err("lstat", path))?;
    let rmd = fs::symlink_metadata(replica)
        .map_err(|_| verify_err(replica, "replica missing: refusing to remove the original"))?;
    if md.is_dir() {
        if !rmd.is_dir() {
            return Err(verify_err(replica, "replica is not a directory"));
        }
        for e in fs::read_dir(path).map_err(io_err("readdir", path))? {
            let n = e.map_err(io_err("readdir", path))?.file_name();
            remove_entry(&path.join(&n), &replica.join(&n), mode, dirty)?;
        }
        // Synced at the barrier if the rmdir below does not happen (a later entry fails).
        dirty.dir(path);
        return fs::remove_dir(path).map_err(io_err("rmdir", path));
    }
    let same = if md.file_type().is_symlink() {
        rmd.file_type().is_symlink()
            && fs::read_link(path).map_err(io_err("readlink", path))?
                == fs::read_link(replica).map_err(io_err("readlink", replica))?
    } else if mode == ReplicaMode::Link {
        md.dev() == rmd.dev() && md.ino() == rmd.ino()
    } else {
        rmd.is_file() && md.len() == rmd.len() && sha256_file(path)? == sha256_file(replica)?
    };
    if !same {
        return Err(verify_err(
            replica,
            "replica differs from the original: refusing to remove the original",
        ));
    }
    fs::remove_file(path).map_err(io_err("unlink", path))
}

/// Remove a tree we created ourselves (inverse of a replication), after checking that the
/// original it replicates still exists, so the only copy of anything is never deleted.
pub(crate) fn remove_replica(
    replica: &Path,
    original: &Path,
    mode: ReplicaMode,
    dirty: &mut Dirty,
) -> Result<(), CommitError> {
    remove_copy_temps(replica, original, dirty)?;
    // Removing the replica is removing "path" verified against "replica": same check, reversed.
    remove_replicated(replica, original, mode, dirty)
}

/// Remove the `<name>.smstage-copy` temporaries a copy killed mid-way left in (or next to) a
/// replica: they are incomplete by construction and have no original to be checked against, so
/// the verified removal would refuse them and the rollback could never finish. A name that the
/// original also has is a real entry and is left to the verified removal.
fn remove_copy_temps(
    replica: &Path,
    original: &Path,
    dirty: &mut Dirty,
) -> Result<(), CommitError> {
    const SUFFIX: &str = ".smstage-copy";
    let mut temps = vec![(tmp_name(replica, SUFFIX), tmp_name(original, SUFFIX))];
    if fs::symlink_metadata(replica).is_ok_and(|m| m.is_dir()) {
        for e in walkdir::WalkDir::new(replica).min_depth(1) {
            let e = e.map_err(|err| verify_err(replica, &format!("walking the replica: {err}")))?;
            if e.file_name().to_string_lossy().ends_with(SUFFIX) {
                let rel = e.path().strip_prefix(replica).unwrap_or(e.path());
                temps.push((e.path().to_path_buf(), original.join(rel)));
            }
        }
    }
    for (tmp, counterpart) in temps {
        let is_file = fs::symlink_metadata(&tmp).is_ok_and(|m| m.is_file());
        if is_file && fs::symlink_metadata(&counterpart).is_err() {
            fs::remove_file(&tmp).map_err(io_err("unlink", &tmp))?;
            dirty.parent(&tmp);
        }
    }
    Ok(())
}

/// Write `contents` to `path` atomically: temporary file, fsync, rename; the parent is recorded
/// in `dirty` for the barrier.
pub(crate) fn write_atomic(
    path: &Path,
    contents: &[u8],
    dirty: &mut Dirty,
) -> Result<(), CommitError> {
    let tmp = tmp_name(path, ".smstage-tmp");
    let _ = fs::remove_file(&tmp);
    {
        let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
        f.write_all(contents).map_err(io_err("write", &tmp))?;
        f.sync_all().map_err(|source| CommitError::Fsync {
            path: tmp.clone(),
            source,
        })?;
    }
    fs::rename(&tmp, path).map_err(io_err("rename", path))?;
    dirty.parent(path);
    Ok(())
}

/// [`write_atomic`] made durable at once (files written outside the waves).
pub(crate) fn write_atomic_now(path: &Path, contents: &[u8]) -> Result<(), CommitError> {
    write_atomic(path, contents, &mut Dirty::default())?;
    fsync_parent(path)
}

/// Lexically normalise a relative `/`-separated path (resolving `.` and `..`).
pub fn normalize(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

/// Parent of a relative `/` path ("" for a top-level name).
/// Whether the `/`-separated relative path `path` is `dir` or lies inside it.
pub fn under(path: &str, dir: &str) -> bool {
    path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

pub fn parent_of(p: &str) -> &str {
    p.rfind('/').map(|i| &p[..i]).unwrap_or("")
}

/// Relative path from directory `from_dir` to `to` (both relative to the same base).
pub fn relative(from_dir: &str, to: &str) -> String {
    let a: Vec<&str> = from_dir.split('/').filter(|c| !c.is_empty()).collect();
    let b: Vec<&str> = to.split('/').filter(|c| !c.is_empty()).collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<&str> = vec![".."; a.len() - common];
    parts.extend(&b[common..]);
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative("db/hdb$", "data/2024.01.02"),
            "../../data/2024.01.02"
        );
        assert_eq!(relative("data", "data/versions/d/1"), "versions/d/1");
        assert_eq!(relative("", "data/x"), "data/x");
        assert_eq!(
            normalize("db/hdb$/../../data/versions/d/1"),
            "data/versions/d/1"
        );
        assert_eq!(parent_of("db/hdb$/x"), "db/hdb$");
        assert_eq!(parent_of("db"), "");
    }

    #[test]
    fn removing_a_replica_drops_the_temporaries_of_an_interrupted_copy() {
        let t = tempfile::tempdir().unwrap();
        let (src, dst) = (t.path().join("src"), t.path().join("dst"));
        fs::create_dir_all(src.join("a")).unwrap();
        fs::write(src.join("a/f"), b"hello").unwrap();
        fs::write(src.join("a/g"), b"world").unwrap();
        // A user's file that merely ends with the suffix is a real entry, replicated as such.
        fs::write(src.join("a/h.smstage-copy"), b"mine").unwrap();
        replicate(&src, &dst, ReplicaMode::Copy, &mut Dirty::default()).unwrap();
        // As a kill -9 in the middle of copying `g` would leave it:
        fs::remove_file(dst.join("a/g")).unwrap();
        fs::write(dst.join("a/g.smstage-copy"), b"wor").unwrap();
        remove_replica(&dst, &src, ReplicaMode::Copy, &mut Dirty::default()).unwrap();
        assert!(!dst.exists());
        assert_eq!(fs::read(src.join("a/h.smstage-copy")).unwrap(), b"mine");

        // A root file: the temporary sits next to the replica's name.
        fs::write(t.path().join("sym"), b"abc").unwrap();
        fs::write(t.path().join("sym2.smstage-copy"), b"a").unwrap();
        remove_replica(
            &t.path().join("sym2"),
            &t.path().join("sym"),
            ReplicaMode::Copy,
            &mut Dirty::default(),
        )
        .unwrap();
        assert!(!t.path().join("sym2.smstage-copy").exists());
        assert!(t.path().join("sym").exists());
    }

    #[test]
    fn a_failed_copy_leaves_no_temporary() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::create_dir_all(src.join("d")).unwrap();
        fs::write(src.join("d/f"), b"hello").unwrap();
        let dst = t.path().join("dst");
        fs::create_dir_all(dst.join("d")).unwrap();
        // The copy succeeds but cannot be renamed into place (a non-empty directory is in the
        // way): the temporary must not stay behind.
        fs::create_dir_all(dst.join("d/f/x")).unwrap();
        let md = fs::metadata(src.join("d/f")).unwrap();
        assert!(copy_verified(&src.join("d/f"), &dst.join("d/f"), &md).is_err());
        assert!(!dst.join("d/f.smstage-copy").exists());
    }

    #[test]
    fn replicate_link_and_copy_then_remove() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::create_dir_all(src.join("a/b")).unwrap();
        fs::write(src.join("a/b/f"), b"hello").unwrap();
        fs::write(src.join("g"), b"world").unwrap();
        std::os::unix::fs::symlink("a/b/f", src.join("l")).unwrap();
        fs::set_permissions(src.join("a"), fs::Permissions::from_mode(0o750)).unwrap();
        for (mode, name) in [(ReplicaMode::Link, "lnk"), (ReplicaMode::Copy, "cpy")] {
            let dst = t.path().join(name);
            replicate(&src, &dst, mode, &mut Dirty::default()).unwrap();
            // idempotent re-run
            replicate(&src, &dst, mode, &mut Dirty::default()).unwrap();
            assert_eq!(fs::read(dst.join("a/b/f")).unwrap(), b"hello");
            assert_eq!(fs::read_link(dst.join("l")).unwrap(), Path::new("a/b/f"));
            let sm = fs::metadata(src.join("a")).unwrap();
            let dm = fs::metadata(dst.join("a")).unwrap();
            assert_eq!(sm.mode(), dm.mode());
            assert_eq!(sm.mtime_nsec(), dm.mtime_nsec());
            let same_inode = fs::metadata(src.join("g")).unwrap().ino()
                == fs::metadata(dst.join("g")).unwrap().ino();
            assert_eq!(same_inode, mode == ReplicaMode::Link);
        }
        // a damaged copy blocks removal of the original
        fs::write(t.path().join("cpy/g"), b"WORLD").unwrap();
        let err = remove_replicated(
            &src,
            &t.path().join("cpy"),
            ReplicaMode::Copy,
            &mut Dirty::default(),
        )
        .unwrap_err();
        assert!(matches!(err, CommitError::Verify { .. }), "{err}");
        assert!(src.join("g").exists());
        remove_replicated(
            &src,
            &t.path().join("lnk"),
            ReplicaMode::Link,
            &mut Dirty::default(),
        )
        .unwrap();
        assert!(!src.exists());
        assert_eq!(fs::read(t.path().join("lnk/g")).unwrap(), b"world");
    }
}
