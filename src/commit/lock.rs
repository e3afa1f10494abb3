//! The commit lock: `B/.smstage/lock`, held with flock(LOCK_EX) for the whole commit or
//! rollback, holding `pid host start-time` so a refused second run can name the holder.

use super::fsutil::io_err;
use super::CommitError;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Who wrote the lock file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    pub started: u64,
}

/// Lock state as `status` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LockInfo {
    pub pid: u32,
    /// The lock is currently held (flock taken) by a live process.
    pub alive: bool,
    pub host: String,
}

/// A held lock; released (flock dropped, contents cleared) on drop.
pub struct Lock {
    file: File,
    /// Set when a stale lock file left by a dead process was taken over.
    pub took_over: Option<LockHolder>,
}

pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for its full length; gethostname NUL-terminates within it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let n = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn parse(contents: &str) -> Option<LockHolder> {
    let mut it = contents.split_whitespace();
    Some(LockHolder {
        pid: it.next()?.parse().ok()?,
        host: it.next()?.to_string(),
        started: it.next().and_then(|s| s.parse().ok()).unwrap_or(0),
    })
}

fn read_holder(f: &mut File) -> Option<LockHolder> {
    let mut s = String::new();
    f.seek(SeekFrom::Start(0)).ok()?;
    f.read_to_string(&mut s).ok()?;
    parse(&s)
}

fn try_flock(f: &File, op: libc::c_int) -> std::io::Result<bool> {
    // SAFETY: flock on a valid open fd.
    let rc = unsafe { libc::flock(f.as_raw_fd(), op | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

/// Whether `pid` names a running process (on this host).
pub fn pid_alive(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence/permission.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

impl Lock {
    /// Take the lock or fail naming its holder. A lock file whose flock is free was left by a
    /// process that died (flock is released by the kernel when its holder exits): it is taken
    /// over, with a warning.
    pub fn acquire(path: &Path) -> Result<Lock, CommitError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_err("open lock", path))?;
        // Wait a little before refusing: a forked child briefly shares our descriptors (and so
        // any flock we just released) until it execs, and a new holder writes its pid only
        // just after taking the lock.
        let mut got = false;
        for _ in 0..25 {
            got = try_flock(&file, libc::LOCK_EX).map_err(io_err("flock", path))?;
            if got {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if !got {
            let h = read_holder(&mut file);
            return Err(CommitError::Locked {
                path: path.to_path_buf(),
                pid: h.as_ref().map(|h| h.pid).unwrap_or(0),
                host: h.map(|h| h.host).unwrap_or_default(),
            });
        }
        let took_over = read_holder(&mut file);
        if let Some(h) = &took_over {
            if pid_alive(h.pid) && h.host == hostname() && h.pid != std::process::id() {
                tracing::warn!(
                    "stale lock from pid {} (a live process now has that pid but does not hold \
                     the lock); taking it over",
                    h.pid
                );
            } else {
                tracing::warn!(
                    "stale lock from pid {}, which is no longer running; taking it over",
                    h.pid
                );
            }
        }
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let line = format!("{} {} {}\n", std::process::id(), hostname(), started);
        file.set_len(0).map_err(io_err("truncate lock", path))?;
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.write_all(line.as_bytes()))
            .and_then(|_| file.sync_data())
            .map_err(io_err("write lock", path))?;
        Ok(Lock { file, took_over })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Clear the holder first so nobody reads our pid as a stale lock; the flock goes with
        // the fd.
        let _ = self.file.set_len(0);
    }
}

/// The lock state for `status`: None when no lock file or an empty one.
pub fn inspect(path: &Path) -> Result<Option<LockInfo>, CommitError> {
    let mut file = match OpenOptions::new().read(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("open lock", path)(e)),
    };
    let Some(h) = read_holder(&mut file) else {
        return Ok(None);
    };
    let free = try_flock(&file, libc::LOCK_SH).map_err(io_err("flock", path))?;
    if free {
        // SAFETY: releasing the probe lock on our own fd.
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
    }
    Ok(Some(LockInfo {
        pid: h.pid,
        alive: !free,
        host: h.host,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_is_refused_with_the_holder_pid() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("lock");
        let l = Lock::acquire(&p).unwrap();
        assert!(l.took_over.is_none());
        match Lock::acquire(&p) {
            Err(CommitError::Locked { pid, .. }) => assert_eq!(pid, std::process::id()),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("second lock granted"),
        }
        let info = inspect(&p).unwrap().unwrap();
        assert!(info.alive);
        assert_eq!(info.pid, std::process::id());
        drop(l);
        assert_eq!(inspect(&p).unwrap(), None);
        let l2 = Lock::acquire(&p).unwrap();
        assert!(l2.took_over.is_none());
    }

    #[test]
    fn stale_lock_file_is_taken_over() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("lock");
        std::fs::write(&p, "4000000 somehost 12\n").unwrap();
        let info = inspect(&p).unwrap().unwrap();
        assert!(!info.alive);
        assert_eq!(info.pid, 4_000_000);
        let l = Lock::acquire(&p).unwrap();
        assert_eq!(l.took_over.as_ref().map(|h| h.pid), Some(4_000_000));
        let s = std::fs::read_to_string(&p).unwrap();
        assert!(s.starts_with(&format!("{} ", std::process::id())), "{s}");
    }
}
