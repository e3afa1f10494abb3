//! What an OS error means and what to do about it, by its errno: the one table behind the
//! hints of `load-unreadable` findings and the advice after a failed commit, so that a name
//! too long for the filesystem is never told to fix permissions.

/// The cause of an OS error in words, and the step that fixes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advice {
    /// What went wrong, for "…: once that is fixed" sentences; None when the errno says
    /// nothing more than the error text itself.
    pub cause: Option<&'static str>,
    /// What to do before running check again.
    pub fix: &'static str,
}

/// Advice for an OS error number (None: the error carried no errno).
pub fn advice(errno: Option<i32>) -> Advice {
    let (cause, fix) = match errno {
        Some(libc::EACCES | libc::EPERM) => (
            "permission denied",
            "fix the permissions (smstage must read every file of the database), then run check again",
        ),
        Some(libc::ENAMETOOLONG) => (
            "the name is too long for the filesystem",
            "shorten the names or flatten the nesting (Linux allows 255 bytes per name and 4095 per path; kdb+ cannot open it either), then run check again",
        ),
        Some(libc::ELOOP) => (
            "a symbolic link loop",
            "remove the link that points back to itself (the import never follows links), then run check again",
        ),
        Some(libc::ENOENT | libc::ENOTDIR) => (
            "it vanished while smstage was reading it",
            "something changed the database during the check: stop whatever writes to it, then run check again",
        ),
        Some(libc::EIO) => (
            "the device reported an I/O error",
            "in a staging view mounted with --plan it means the file changed since the plan was saved (plan drift; the view's log names the file): save a new plan with `smstage plan --config FILE --save PLANFILE` and mount that; on a disk, check the disk (`dmesg`) and, if it lost data, restore the file from the backup, then run check again",
        ),
        Some(libc::ENOSPC | libc::EDQUOT) => (
            "the filesystem is full",
            "free space on the filesystem (or raise the quota), then run again",
        ),
        Some(libc::EROFS) => (
            "the filesystem is read-only",
            "remount the filesystem writable, then run again",
        ),
        Some(libc::EMFILE | libc::ENFILE) => (
            "too many open files",
            "raise the open-file limit (`ulimit -n`), then run again",
        ),
        Some(libc::ENOMEM) => (
            "out of memory",
            "free memory on the machine, then run again",
        ),
        Some(libc::ESTALE) => (
            "a stale network-filesystem handle",
            "remount the network filesystem, then run check again",
        ),
        Some(libc::EISDIR) => (
            "a directory where a file was expected",
            "move the directory out of the database (kdb+ expects a file there), then run check again",
        ),
        _ => {
            return Advice {
                cause: None,
                fix: "see the error above: fix its cause, then run check again",
            }
        }
    };
    Advice {
        cause: Some(cause),
        fix,
    }
}

/// Advice for an I/O error.
pub fn for_io(e: &std::io::Error) -> Advice {
    advice(e.raw_os_error())
}

/// Advice for a directory-walk error (a loop the walker found itself is ELOOP).
pub fn for_walk(e: &walkdir::Error) -> Advice {
    if e.loop_ancestor().is_some() {
        return advice(Some(libc::ELOOP));
    }
    advice(e.io_error().and_then(|i| i.raw_os_error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_errno_gets_its_own_cause() {
        let too_long = advice(Some(libc::ENAMETOOLONG));
        assert!(too_long.fix.contains("name"), "{too_long:?}");
        assert!(!too_long.fix.contains("permission"), "{too_long:?}");
        assert!(advice(Some(libc::EACCES)).fix.contains("permissions"));
        assert!(!advice(Some(libc::ELOOP)).fix.contains("permission"));
        assert!(!advice(Some(libc::EIO)).fix.contains("permission"));
        assert_eq!(advice(None).cause, None);
        // Every mapped errno has a cause and a fix of its own: no two share a fix.
        let mapped = [
            libc::EACCES,
            libc::ENAMETOOLONG,
            libc::ELOOP,
            libc::ENOENT,
            libc::EIO,
            libc::ENOSPC,
            libc::EROFS,
            libc::EMFILE,
            libc::ENOMEM,
            libc::ESTALE,
            libc::EISDIR,
        ];
        let fixes: std::collections::BTreeSet<_> =
            mapped.iter().map(|&e| advice(Some(e)).fix).collect();
        assert_eq!(fixes.len(), mapped.len());
        assert!(mapped.iter().all(|&e| advice(Some(e)).cause.is_some()));
    }

    #[test]
    fn io_errors_are_read_by_their_errno() {
        let e = std::io::Error::from_raw_os_error(libc::ENAMETOOLONG);
        assert_eq!(for_io(&e), advice(Some(libc::ENAMETOOLONG)));
        let e = std::io::Error::other("no errno");
        assert_eq!(for_io(&e).cause, None);
    }
}
