//! Special files (FIFOs, sockets, device nodes) met in a database, a segment or a backup.
//!
//! kdb+ never writes one into a database, and opening one is not a read of data: a FIFO with
//! no writer blocks `open(2)` forever, a device may have side effects. So every walk decides by
//! the entry's `lstat` type (the directory entry's type) before any open, reports the file with
//! its own finding, and never opens it; the import is refused while one is there, so the commit
//! (which would move it) and the view (which hides it) never differ about it.

use crate::finding::{code, Finding};
use std::fs::FileType;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SpecialKind {
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
}

impl SpecialKind {
    /// The kind of a special file, `None` for a regular file, a directory or a symlink.
    pub fn of(ft: &FileType) -> Option<SpecialKind> {
        if ft.is_fifo() {
            Some(SpecialKind::Fifo)
        } else if ft.is_socket() {
            Some(SpecialKind::Socket)
        } else if ft.is_char_device() {
            Some(SpecialKind::CharDevice)
        } else if ft.is_block_device() {
            Some(SpecialKind::BlockDevice)
        } else {
            None
        }
    }

    /// The kind of a special file from an `st_mode`.
    pub fn of_mode(mode: u32) -> Option<SpecialKind> {
        match mode & libc::S_IFMT {
            libc::S_IFIFO => Some(SpecialKind::Fifo),
            libc::S_IFSOCK => Some(SpecialKind::Socket),
            libc::S_IFCHR => Some(SpecialKind::CharDevice),
            libc::S_IFBLK => Some(SpecialKind::BlockDevice),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SpecialKind::Fifo => "FIFO (named pipe)",
            SpecialKind::Socket => "socket",
            SpecialKind::CharDevice => "character device",
            SpecialKind::BlockDevice => "block device",
        }
    }
}

/// The finding for a special file at `path`; `place` says where it sits ("the database",
/// "the backup", …).
pub fn finding(path: &Path, kind: SpecialKind, place: &str) -> Finding {
    Finding::error(
        code::SPECIAL_FILE,
        format!(
            "{} in {place} is a {}, not a file: kdb+ never writes one, smstage does not open it (a read could block forever), and the import cannot move it",
            path.display(),
            kind.name()
        ),
    )
    .path(path.display())
    .hint(format!(
        "remove it (or move it out of {place}), then run check again: `rm {}`",
        path.display()
    ))
}

/// An `io::Error` refusing to open a special file (the second guard of the readers, after the
/// walks' type check: a file replaced by a FIFO between the listing and the open).
pub fn open_refused(kind: SpecialKind) -> std::io::Error {
    std::io::Error::other(format!(
        "it is a {}, not a regular file: smstage does not read special files",
        kind.name()
    ))
}

/// Reads a small file the user or the database names (`par.txt`, the assembly file): opened
/// without blocking and refused unless it is a regular file, so a FIFO put there fails at once
/// instead of hanging the command.
pub fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let md = f.metadata()?;
    if let Some(kind) = SpecialKind::of(&md.file_type()) {
        return Err(open_refused(kind));
    }
    let mut bytes = Vec::with_capacity(md.len() as usize);
    f.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// [`read_regular`] of a UTF-8 text.
pub fn read_regular_to_string(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read_regular(path)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_told_apart_by_lstat_type() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("p");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let sock = d.path().join("s");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        std::fs::write(d.path().join("f"), b"x").unwrap();
        let kind = |n: &str| {
            SpecialKind::of(
                &std::fs::symlink_metadata(d.path().join(n))
                    .unwrap()
                    .file_type(),
            )
        };
        assert_eq!(kind("p"), Some(SpecialKind::Fifo));
        assert_eq!(kind("s"), Some(SpecialKind::Socket));
        assert_eq!(kind("f"), None);
        assert_eq!(kind(""), None);
        let null = std::fs::symlink_metadata("/dev/null").unwrap();
        assert_eq!(
            SpecialKind::of(&null.file_type()),
            Some(SpecialKind::CharDevice)
        );
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            SpecialKind::of_mode(null.mode()),
            Some(SpecialKind::CharDevice)
        );
        let err = read_regular_to_string(&fifo).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
        assert_eq!(read_regular_to_string(&d.path().join("f")).unwrap(), "x");
        let f = finding(&fifo, SpecialKind::Fifo, "the database");
        assert_eq!(f.code, "special-file");
        assert!(f.message.contains("FIFO") && f.message.contains("p in the database"));
    }
}
