//! Read-only access to the original database that can never leave the HDB base directory.
//!
//! Every path handed to [`Origin`] is relative to the base directory and is resolved by the
//! kernel with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`: no `..` escapes, and no symlink
//! inside the original is ever followed (a symlink is served as a symlink by the view). On a
//! kernel without `openat2` we fall back to a component-by-component check of the same rules.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

/// What an original entry is, as far as the view cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrigKind {
    Dir,
    File,
    Symlink,
    /// FIFOs, sockets, devices, and mountpoints of other filesystems: never part of a
    /// database, hidden by the view.
    Special,
}

impl OrigKind {
    pub fn from_mode(mode: libc::mode_t) -> OrigKind {
        match mode & libc::S_IFMT {
            libc::S_IFDIR => OrigKind::Dir,
            libc::S_IFREG => OrigKind::File,
            libc::S_IFLNK => OrigKind::Symlink,
            _ => OrigKind::Special,
        }
    }
}

/// A handle on the base directory; all reads of the original go through it.
#[derive(Debug)]
pub struct Origin {
    base: PathBuf,
    base_fd: OwnedFd,
    /// Segmented databases: view paths below each anchor (`stores/<tier>`) are read beneath
    /// that store's own directory (which lies outside the base, or behind no name yet), with
    /// the same rules: no `..`, no symlink followed.
    stores: Vec<(PathBuf, OwnedFd)>,
}

/// Rejects absolute paths and `.`/`..` components: plan paths and names must be plain.
pub fn plain_relative(rel: &Path) -> bool {
    rel.components().all(|c| matches!(c, Component::Normal(_)))
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

impl Origin {
    pub fn open(base: &Path) -> io::Result<Origin> {
        let c = cstr(base)?;
        // SAFETY: c is a valid NUL-terminated path; the returned fd is owned below.
        let fd = check(unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        })?;
        // SAFETY: fd was just returned by open and is owned by nobody else.
        let base_fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Origin {
            base: base.to_path_buf(),
            base_fd,
            stores: Vec::new(),
        })
    }

    /// [`Origin::open`], plus a handle on each store directory `dir`, answering for the view
    /// paths below `anchor` (relative to the base).
    pub fn open_with_stores(base: &Path, stores: &[(PathBuf, PathBuf)]) -> io::Result<Origin> {
        let mut origin = Origin::open(base)?;
        for (anchor, dir) in stores {
            if !plain_relative(anchor) || anchor.as_os_str().is_empty() {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            }
            let store = Origin::open(dir)?;
            origin.stores.push((anchor.clone(), store.base_fd));
        }
        Ok(origin)
    }

    /// The directory handle `rel` is read beneath, and `rel` relative to it.
    fn resolve<'a>(&'a self, rel: &'a Path) -> (&'a OwnedFd, &'a Path) {
        for (anchor, fd) in &self.stores {
            if let Ok(rest) = rel.strip_prefix(anchor) {
                return (fd, rest);
            }
        }
        (&self.base_fd, rel)
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    /// A second handle on the same base directory (a duplicate descriptor, not a new lookup of
    /// the path: it cannot end up somewhere else).
    pub fn try_clone(&self) -> io::Result<Origin> {
        Ok(Origin {
            base: self.base.clone(),
            base_fd: self.base_fd.try_clone()?,
            stores: self
                .stores
                .iter()
                .map(|(a, fd)| Ok((a.clone(), fd.try_clone()?)))
                .collect::<io::Result<_>>()?,
        })
    }

    /// Opens `rel` (empty = the base itself) beneath the base without following any symlink.
    fn open_beneath(&self, rel: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
        if !plain_relative(rel) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let (dir_fd, rel) = self.resolve(rel);
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let c = cstr(rel)?;
        // SAFETY: open_how is plain data; zeroed is a valid value and the fields are set below.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = (flags | libc::O_CLOEXEC | libc::O_NOFOLLOW) as u64;
        // RESOLVE_NO_XDEV: never into another mount below the base or a store (another
        // filesystem, a bind mount, or this very view mounted inside the database): the view
        // serves the database's own files, and a walk into its own mount would never end.
        how.resolve = libc::RESOLVE_BENEATH
            | libc::RESOLVE_NO_SYMLINKS
            | libc::RESOLVE_NO_MAGICLINKS
            | libc::RESOLVE_NO_XDEV;
        // SAFETY: valid dirfd, NUL-terminated path and a correctly sized open_how.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir_fd.as_raw_fd(),
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if ret >= 0 {
            // SAFETY: the syscall returned a new fd that we now own.
            return Ok(unsafe { OwnedFd::from_raw_fd(ret as libc::c_int) });
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ENOSYS) {
            return Err(err);
        }
        Self::open_beneath_fallback(dir_fd, rel, flags)
    }

    /// Pre-openat2 kernels: walk the components with O_NOFOLLOW, one openat per step.
    fn open_beneath_fallback(
        dir_fd: &OwnedFd,
        rel: &Path,
        flags: libc::c_int,
    ) -> io::Result<OwnedFd> {
        let comps: Vec<&OsStr> = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n),
                _ => None,
            })
            .collect();
        // SAFETY: duplicating our own valid fd.
        let mut cur = unsafe { OwnedFd::from_raw_fd(check(libc::dup(dir_fd.as_raw_fd()))?) };
        for (i, comp) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            let f = if last {
                flags
            } else {
                libc::O_PATH | libc::O_DIRECTORY
            };
            let c = cstr(Path::new(comp))?;
            // SAFETY: valid dirfd and NUL-terminated single component.
            let fd = check(unsafe {
                libc::openat(
                    cur.as_raw_fd(),
                    c.as_ptr(),
                    f | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                )
            })?;
            // SAFETY: new fd owned from here on.
            cur = unsafe { OwnedFd::from_raw_fd(fd) };
        }
        if comps.is_empty() {
            let c = cstr(Path::new("."))?;
            // SAFETY: valid dirfd and path.
            let fd = check(unsafe {
                libc::openat(cur.as_raw_fd(), c.as_ptr(), flags | libc::O_CLOEXEC)
            })?;
            // SAFETY: new fd owned from here on.
            cur = unsafe { OwnedFd::from_raw_fd(fd) };
        }
        Ok(cur)
    }

    fn parent_and_name<'a>(&self, rel: &'a Path) -> io::Result<(OwnedFd, &'a OsStr)> {
        let name = rel
            .file_name()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
        let parent = rel.parent().unwrap_or(Path::new(""));
        let fd = self.open_beneath(parent, libc::O_PATH | libc::O_DIRECTORY)?;
        Ok((fd, name))
    }

    /// `lstat` of `rel` (empty = the base directory).
    pub fn lstat(&self, rel: &Path) -> io::Result<libc::stat> {
        // SAFETY: stat is plain data, filled by the kernel.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if rel.as_os_str().is_empty() {
            // SAFETY: valid fd and out pointer.
            check(unsafe { libc::fstat(self.base_fd.as_raw_fd(), &mut st) })?;
            return Ok(st);
        }
        if !plain_relative(rel) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let (pfd, name) = self.parent_and_name(rel)?;
        let c = cstr(Path::new(name))?;
        // SAFETY: valid dirfd, single-component name, out pointer.
        check(unsafe {
            libc::fstatat(
                pfd.as_raw_fd(),
                c.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })?;
        Ok(st)
    }

    /// The target of the symlink `rel`, as stored (never resolved).
    pub fn readlink(&self, rel: &Path) -> io::Result<Vec<u8>> {
        if !plain_relative(rel) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let (pfd, name) = self.parent_and_name(rel)?;
        let c = cstr(Path::new(name))?;
        let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
        // SAFETY: valid dirfd, name and buffer of the given length.
        let n = unsafe {
            libc::readlinkat(
                pfd.as_raw_fd(),
                c.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        buf.truncate(n as usize);
        Ok(buf)
    }

    /// Opens the regular file `rel` read-only (a symlink there gives ELOOP).
    pub fn open_file(&self, rel: &Path) -> io::Result<File> {
        let fd = self.open_beneath(rel, libc::O_RDONLY)?;
        Ok(File::from(fd))
    }

    /// Opens the regular file `rel` read-only with a single `openat2`, and `fstat`s the
    /// descriptor (one lookup of the path instead of `lstat` + open). A symlink there gives
    /// ELOOP, a directory EISDIR, anything else that is not a regular file ELOOP; opening never
    /// blocks (a FIFO swapped in since the listing is opened non-blocking, then refused).
    pub fn open_regular(&self, rel: &Path) -> io::Result<(File, libc::stat)> {
        let fd = self.open_beneath(rel, libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY)?;
        // SAFETY: stat is plain data, filled by the kernel.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid fd and out pointer.
        check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
        match OrigKind::from_mode(st.st_mode) {
            OrigKind::File => {}
            OrigKind::Dir => return Err(io::Error::from_raw_os_error(libc::EISDIR)),
            _ => return Err(io::Error::from_raw_os_error(libc::ELOOP)),
        }
        // Regular files ignore O_NONBLOCK, but the descriptor may become a passthrough backing
        // file: leave it with plain read-only flags.
        // SAFETY: valid fd; F_SETFL with plain flags.
        check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, 0) })?;
        Ok((File::from(fd), st))
    }

    /// Names and kinds in directory `rel`, without `.` and `..`, sorted by name bytes.
    pub fn list_dir(&self, rel: &Path) -> io::Result<Vec<(OsString, OrigKind)>> {
        Ok(self
            .list_dir_stat(rel, false)?
            .into_iter()
            .map(|(n, k, _)| (n, k))
            .collect())
    }

    /// [`Origin::list_dir`], with each child's `lstat` taken relative to the open directory
    /// when `with_stat` (one `fstatat` per child, no path walk); a child that vanished between
    /// `getdents` and its `fstatat` is left out.
    pub fn list_dir_stat(
        &self,
        rel: &Path,
        with_stat: bool,
    ) -> io::Result<Vec<(OsString, OrigKind, Option<libc::stat>)>> {
        let fd = self.open_beneath(rel, libc::O_RDONLY | libc::O_DIRECTORY)?;
        let raw = fd.as_raw_fd();
        // SAFETY: fdopendir takes ownership of the fd on success.
        let dir = unsafe { libc::fdopendir(raw) };
        if dir.is_null() {
            return Err(io::Error::last_os_error());
        }
        std::mem::forget(fd);
        // A child on another device is the mountpoint of another filesystem: hidden like a
        // special file (the checks refuse the import while one is there).
        // SAFETY: stat is plain data filled by the kernel; dirfd(dir) is valid.
        let mut dir_st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid fd and out pointer.
        let dir_dev =
            (unsafe { libc::fstat(libc::dirfd(dir), &mut dir_st) } == 0).then_some(dir_st.st_dev);
        let mut out = Vec::new();
        let mut result = Ok(());
        loop {
            // readdir signals errors only through errno, so clear it first.
            // SAFETY: errno location is thread-local.
            unsafe { *libc::__errno_location() = 0 };
            // SAFETY: dir is a valid DIR* until closedir below.
            let ent = unsafe { libc::readdir64(dir) };
            if ent.is_null() {
                let e = io::Error::last_os_error();
                if e.raw_os_error().unwrap_or(0) != 0 {
                    result = Err(e);
                }
                break;
            }
            // SAFETY: ent points at a valid dirent64 until the next readdir call.
            let (name, dtype) = unsafe {
                let e = &*ent;
                (
                    std::ffi::CStr::from_ptr(e.d_name.as_ptr())
                        .to_bytes()
                        .to_vec(),
                    e.d_type,
                )
            };
            if name == b"." || name == b".." {
                continue;
            }
            let mut stat = None;
            if with_stat || dtype == libc::DT_UNKNOWN {
                // SAFETY: stat is plain data filled by the kernel.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                let Ok(c) = CString::new(name.clone()) else {
                    continue;
                };
                // SAFETY: dirfd(dir) is valid; c is a single component.
                let r = unsafe {
                    libc::fstatat(
                        libc::dirfd(dir),
                        c.as_ptr(),
                        &mut st,
                        libc::AT_SYMLINK_NOFOLLOW,
                    )
                };
                if r < 0 {
                    continue;
                }
                stat = Some(st);
            }
            let kind = match (stat, dtype) {
                (Some(st), _) if dir_dev.is_some_and(|d| d != st.st_dev) => OrigKind::Special,
                (Some(st), _) => OrigKind::from_mode(st.st_mode),
                (None, libc::DT_DIR) => OrigKind::Dir,
                (None, libc::DT_REG) => OrigKind::File,
                (None, libc::DT_LNK) => OrigKind::Symlink,
                _ => OrigKind::Special,
            };
            out.push((OsString::from_vec(name), kind, stat.filter(|_| with_stat)));
        }
        // SAFETY: dir came from fdopendir and is closed exactly once.
        unsafe { libc::closedir(dir) };
        result?;
        out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        Ok(out)
    }

    /// `fstatvfs` of the filesystem holding the base.
    pub fn statvfs(&self) -> io::Result<libc::statvfs> {
        // SAFETY: statvfs is plain data filled by the kernel.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: valid fd and out pointer (O_PATH fds are accepted by fstatvfs).
        check(unsafe { libc::fstatvfs(self.base_fd.as_raw_fd(), &mut st) })?;
        Ok(st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn open_regular_refuses_dirs_links_and_fifos_without_blocking() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path();
        std::fs::create_dir(base.join("d")).unwrap();
        std::fs::write(base.join("d/f"), b"hello").unwrap();
        symlink("f", base.join("d/l")).unwrap();
        let fifo = CString::new(base.join("d/p").as_os_str().as_bytes()).unwrap();
        // SAFETY: valid path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let o = Origin::open(base).unwrap();
        let (f, st) = o.open_regular(Path::new("d/f")).unwrap();
        assert_eq!(st.st_size, 5);
        // SAFETY: valid fd.
        let fl = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(fl & libc::O_NONBLOCK, 0, "plain read-only flags");
        let mut s = String::new();
        use std::io::Read;
        (&f).read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
        let code = |r: io::Result<(File, libc::stat)>| r.err().and_then(|e| e.raw_os_error());
        assert_eq!(code(o.open_regular(Path::new("d"))), Some(libc::EISDIR));
        assert_eq!(code(o.open_regular(Path::new("d/l"))), Some(libc::ELOOP));
        assert_eq!(code(o.open_regular(Path::new("d/p"))), Some(libc::ELOOP));
        let listed = o.list_dir_stat(Path::new("d"), true).unwrap();
        let sizes: Vec<_> = listed
            .iter()
            .map(|(n, k, st)| (n.to_str().unwrap(), *k, st.map(|s| s.st_size)))
            .collect();
        assert_eq!(
            sizes,
            vec![
                ("f", OrigKind::File, Some(5)),
                ("l", OrigKind::Symlink, Some(1)),
                ("p", OrigKind::Special, Some(0)),
            ]
        );
        assert!(o
            .list_dir_stat(Path::new("d"), false)
            .unwrap()
            .iter()
            .all(|(_, _, st)| st.is_none()));
    }

    #[test]
    fn never_follows_symlinks_or_dotdot() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().join("b");
        std::fs::create_dir_all(base.join("d")).unwrap();
        std::fs::write(base.join("d/f"), b"x").unwrap();
        std::fs::write(t.path().join("outside"), b"secret").unwrap();
        symlink("../../outside", base.join("d/out")).unwrap();
        symlink("/", base.join("d/rootlink")).unwrap();
        symlink("d", base.join("dl")).unwrap();
        let o = Origin::open(&base).unwrap();
        assert!(o.open_file(Path::new("d/out")).is_err());
        assert!(o.open_file(Path::new("dl/f")).is_err());
        assert!(o.list_dir(Path::new("d/rootlink")).is_err());
        assert!(o.open_file(Path::new("../outside")).is_err());
        assert_eq!(o.readlink(Path::new("d/out")).unwrap(), b"../../outside");
        let st = o.lstat(Path::new("d/out")).unwrap();
        assert_eq!(OrigKind::from_mode(st.st_mode), OrigKind::Symlink);
        assert!(o.lstat(Path::new("dl/f")).is_err());
        let names: Vec<_> = o
            .list_dir(Path::new("d"))
            .unwrap()
            .into_iter()
            .map(|(n, k)| (n.into_string().unwrap(), k))
            .collect();
        assert_eq!(
            names,
            vec![
                ("f".to_string(), OrigKind::File),
                ("out".to_string(), OrigKind::Symlink),
                ("rootlink".to_string(), OrigKind::Symlink)
            ]
        );
        let mut s = String::new();
        use std::io::Read;
        o.open_file(Path::new("d/f"))
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "x");
    }
}
