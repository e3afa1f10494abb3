//! KX's prerequisite "The entire database must be able to fit into the first HDB storage tier"
//! (kdb Insights › database › import › Prerequisites, 1.15).
//!
//! SM's first HDB tier is a volume of its own (a PVC in Kubernetes): its size is that of the
//! filesystem behind the tier's store, which is what statvfs(3) reports; the assembly has no
//! key for it. The in-place import keeps the partitions where they are, so what is compared:
//! - the bytes the first tier will hold (every file of the local partitions and of the root:
//!   apparent sizes, as a copy onto the tier's volume would need them) against the *size* of the
//!   filesystem behind the tier's store (`<baseURI>/data`): more bytes than the volume holds
//!   means the database was not copied there whole (it sits on something else, e.g. a bind
//!   mount of a bigger disk), and SM's volume will not take it;
//! - when `<baseURI>/data` is another filesystem than `<baseURI>` (the commit then copies the
//!   root files into `<baseURI>/db`, docs/journal.md "Cross-filesystem root entries"), the
//!   bytes of those root files against the *free* space of `<baseURI>`'s filesystem: without
//!   it the commit would stop on ENOSPC half-way and roll back.
//!
//! [`judge`] is pure; [`FsSpace::of`] and the byte counts are read by the caller.

use crate::finding::{code, Finding};
use std::path::{Path, PathBuf};

/// Size and free space of the filesystem holding a path (statvfs: blocks × fragment size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FsSpace {
    pub total: u64,
    /// Free bytes an unprivileged writer may use (`f_bavail`).
    pub avail: u64,
}

impl FsSpace {
    pub fn of(path: &Path) -> std::io::Result<FsSpace> {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: statvfs is plain data, fully written by a successful call.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: a valid NUL-terminated path and a valid out-pointer.
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let frag = st.f_frsize as u64;
        Ok(FsSpace {
            total: (st.f_blocks as u64).saturating_mul(frag),
            avail: (st.f_bavail as u64).saturating_mul(frag),
        })
    }
}

/// What the first HDB tier will hold and where, all read already.
#[derive(Debug)]
pub struct TierSpace {
    pub tier: String,
    /// The tier's store (`<baseURI>/data`).
    pub store: PathBuf,
    /// Bytes of every file of the local partitions and of the root.
    pub held: u64,
    pub store_fs: FsSpace,
    /// When the root files will be copied across filesystems: where to (`<baseURI>`), their
    /// bytes, and that filesystem's space.
    pub copy: Option<(PathBuf, u64, FsSpace)>,
}

const KX_WORDS: &str =
    "\"The entire database must be able to fit into the first HDB storage tier\"";

/// The findings for one first tier: at most one per comparison.
pub fn judge(s: &TierSpace) -> Vec<Finding> {
    let mut out = Vec::new();
    if s.held > s.store_fs.total {
        out.push(
            Finding::error(
                code::SM_FIRST_TIER_SPACE,
                format!(
                    "{KX_WORDS}: the first HDB tier {} will hold {} of local partitions and root files, but the filesystem behind its store {} is {} in size",
                    s.tier,
                    bytes(s.held),
                    s.store.display(),
                    bytes(s.store_fs.total)
                ),
            )
            .tier(&s.tier)
            .path(s.store.display())
            .hint("give the tier's volume room for the whole database (copy the database onto it), or import as many partitions as fit and batch-ingest the rest, as KX suggests"),
        );
    }
    if let Some((to, copied, fs)) = &s.copy {
        if *copied > fs.avail {
            out.push(
                Finding::error(
                    code::SM_FIRST_TIER_SPACE,
                    format!(
                        "{KX_WORDS}: {} is another filesystem than {}, so the import copies the root's {} (sym, splayed and basic tables) into {}/db, but that filesystem has {} free",
                        s.store.display(),
                        to.display(),
                        bytes(*copied),
                        to.display(),
                        bytes(fs.avail)
                    ),
                )
                .tier(&s.tier)
                .path(to.display())
                .hint(format!(
                    "free at least {} on the filesystem of {} (or keep <baseURI>/data on the same filesystem as <baseURI>: then nothing is copied)",
                    bytes(copied - fs.avail),
                    to.display()
                )),
            );
        }
    }
    out
}

/// `12345678 bytes (11.8 MiB)`: exact, then readable.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64;
    let mut unit = "";
    for u in UNITS {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{n} bytes ({v:.1} {unit})")
}

/// Apparent bytes of every regular file under `dir` (never following a symlink); entries that
/// cannot be read count 0 (the other checks report them).
pub fn tree_bytes(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// Bytes of a partition's files (`.d` included), counted while its records are in memory.
pub fn partition_bytes(p: &crate::inventory::PartitionInv) -> u64 {
    p.tables
        .iter()
        .map(|t| t.dotd_size.unwrap_or(0) + t.files.iter().map(|f| f.size).sum::<u64>())
        .sum()
}

/// Reads the filesystems behind the first local HDB tier `tier` (store `<base>/data`) and
/// `base`, and judges them against the local partitions' `partition_bytes` and the root's.
/// A filesystem that cannot be read is no finding here (the other checks report the paths).
pub fn first_tier(
    tier: &str,
    base: &Path,
    inv: &crate::inventory::Inventory,
    partition_bytes: u64,
) -> Vec<Finding> {
    let root_bytes: u64 = inv.root.iter().map(|r| tree_bytes(&r.path)).sum();
    judge_at(tier, base, &inv.source, partition_bytes, root_bytes)
}

/// [`first_tier`] from the byte counts alone (`commit --plan` takes them from the saved
/// fingerprint): reads the filesystems behind `store` and `base` and judges them.
pub fn judge_at(
    tier: &str,
    base: &Path,
    store: &Path,
    partition_bytes: u64,
    root_bytes: u64,
) -> Vec<Finding> {
    use std::os::unix::fs::MetadataExt;
    let Ok(store_fs) = FsSpace::of(store) else {
        return Vec::new();
    };
    let copy = match (std::fs::metadata(base), std::fs::metadata(store)) {
        (Ok(b), Ok(s)) if b.dev() != s.dev() => FsSpace::of(base)
            .ok()
            .map(|fs| (base.to_path_buf(), root_bytes, fs)),
        _ => None,
    };
    judge(&TierSpace {
        tier: tier.to_string(),
        store: store.to_path_buf(),
        held: partition_bytes + root_bytes,
        store_fs,
        copy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(held: u64, total: u64) -> TierSpace {
        TierSpace {
            tier: "recent".into(),
            store: "/srv/hdb/data".into(),
            held,
            store_fs: FsSpace { total, avail: 0 },
            copy: None,
        }
    }

    #[test]
    fn a_database_bigger_than_the_tiers_filesystem_is_refused_in_kx_words() {
        let f = judge(&space(3 << 30, 2 << 30));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, code::SM_FIRST_TIER_SPACE);
        assert!(
            f[0].message.contains(
                "The entire database must be able to fit into the first HDB storage tier"
            ),
            "{}",
            f[0].message
        );
        assert!(
            f[0].message.contains("3221225472 bytes (3.0 GiB)"),
            "{}",
            f[0].message
        );
        assert!(f[0].message.contains("/srv/hdb/data"), "{}", f[0].message);
    }

    #[test]
    fn a_database_that_fits_has_no_finding_even_with_no_free_space_left() {
        // The partitions stay where they are: free space matters only for what is copied.
        assert!(judge(&space(2 << 30, 2 << 30)).is_empty());
    }

    #[test]
    fn root_files_copied_across_filesystems_need_that_much_free_space() {
        let mut s = space(10 << 20, 1 << 30);
        s.copy = Some((
            "/srv/hdb".into(),
            5000,
            FsSpace {
                total: 1 << 20,
                avail: 4096,
            },
        ));
        let f = judge(&s);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains("5000 bytes"), "{}", f[0].message);
        assert!(
            f[0].message.contains("4096 bytes (4.0 KiB) free"),
            "{}",
            f[0].message
        );
        assert!(f[0].hint.as_deref().unwrap_or("").contains("904 bytes"));
        s.copy.as_mut().unwrap().2.avail = 5000;
        assert!(judge(&s).is_empty());
    }

    #[test]
    fn statvfs_reads_a_real_filesystem() {
        let s = FsSpace::of(Path::new("/")).unwrap();
        assert!(s.total > 0 && s.avail <= s.total, "{s:?}");
    }
}
