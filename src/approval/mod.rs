//! Approval: binding the mount and the commit to one saved plan (`plan --save`, `mount --plan`,
//! `commit --plan`). The plan file format and the drift comparison are pure
//! ([`crate::plan::saved`], [`crate::plan::fingerprint`]); this module does their I/O: reading
//! and writing plan files, taking fingerprints, and checking a plan file belongs here.

pub mod derive;
pub mod early;
pub mod gated;
pub mod onewalk;
pub mod recheck;
pub mod scan;
pub mod target;
mod walk;

use crate::config::{AssemblyConfig, ConfigError};
use crate::plan::fingerprint::{diff, Drift, FsKind};
use crate::plan::saved::{SavedPlan, SavedPlanError};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use thiserror::Error;

pub use scan::{stat_structural, take};

#[derive(Debug, Error)]
pub enum ApprovalError {
    #[error("cannot read the plan file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Saved(#[from] SavedPlanError),
    #[error("plan file {path} was made on machine {saved}, not on this one ({here}): save a plan here with `smstage plan --config FILE --save PLANFILE`")]
    OtherMachine {
        path: PathBuf,
        saved: String,
        here: String,
    },
    #[error("plan file {path} was made for another database: {why}; save a plan for this database with `smstage plan --config FILE --save PLANFILE`")]
    OtherDatabase { path: PathBuf, why: String },
    #[error("--config {given} is not the assembly file plan {plan} was made from ({recorded}): pass that file, or leave --config out")]
    ConfigMismatch {
        given: PathBuf,
        recorded: PathBuf,
        plan: PathBuf,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot read the assembly file {path}: {source}")]
    ConfigRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the plan file {path}: {source} (choose a writable place, outside the database)")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("plan file {path} was edited after it was saved: {why}; its plan is not the one smstage derives from the file's own fingerprint and the configuration (a recomputed plan_id does not make an edited plan valid): do not edit plan files; save a new plan with `smstage plan --config FILE --save PLANFILE`")]
    Edited { path: PathBuf, why: String },
    #[error("the plan file {path} would be inside the database {database}, which it describes: save it elsewhere")]
    InsideDatabase { path: PathBuf, database: PathBuf },
    #[error("fingerprinting the database: {path}: {source}")]
    Database {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("fingerprinting object tier {tier}: {source}")]
    Object {
        tier: String,
        source: crate::object::ObjectError,
    },
}

impl ApprovalError {
    /// Whether the error is in what the user passed (exit 2) rather than in the world (exit 1).
    pub fn is_usage(&self) -> bool {
        !matches!(
            self,
            ApprovalError::Database { .. } | ApprovalError::Object { .. }
        )
    }
}

/// Reads and validates a plan file (format, version, plan_id), then checks that it was made on
/// this machine for the database that is there now.
pub fn load(path: &Path) -> Result<SavedPlan, ApprovalError> {
    let read_error = |source| ApprovalError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    // Parsed as it is read; only a file that is not a valid plan file is read whole, to say
    // exactly what it is.
    let saved = SavedPlan::parse_reader(file, path, || -> Result<SavedPlan, ApprovalError> {
        let bytes = std::fs::read(path).map_err(read_error)?;
        Ok(SavedPlan::parse(&bytes, path)?)
    })?;
    check_here(&saved, path)?;
    Ok(saved)
}

fn check_here(saved: &SavedPlan, path: &Path) -> Result<(), ApprovalError> {
    let fp = &saved.fingerprint;
    let here = crate::commit::hostname();
    if fp.host != here {
        return Err(ApprovalError::OtherMachine {
            path: path.to_path_buf(),
            saved: fp.host.clone(),
            here,
        });
    }
    let other = |why: String| ApprovalError::OtherDatabase {
        path: path.to_path_buf(),
        why,
    };
    if fp.database != saved.plan.base.join(&saved.plan.source) {
        return Err(other(format!(
            "its fingerprint is of {} but its plan converts {}",
            fp.database.display(),
            saved.plan.base.join(&saved.plan.source).display()
        )));
    }
    let md = std::fs::metadata(&fp.database).map_err(|e| {
        other(format!(
            "{} cannot be opened here ({e})",
            fp.database.display()
        ))
    })?;
    if (md.dev(), md.ino()) != (fp.database_dev, fp.database_ino) {
        return Err(other(format!(
            "{} is not the directory the plan was saved for (device {}, inode {} then; device {}, inode {} now: a copy or a restore)",
            fp.database.display(),
            fp.database_dev,
            fp.database_ino,
            md.dev(),
            md.ino()
        )));
    }
    Ok(())
}

/// The assembly configuration a saved plan was made from: `given` (which must be that file)
/// or the recorded one. Returns it with the bytes it was parsed from (the fingerprint hashes
/// those bytes, so a change between reading and parsing cannot slip through).
pub fn config_of(
    saved: &SavedPlan,
    plan_file: &Path,
    given: Option<&Path>,
) -> Result<(AssemblyConfig, PathBuf, Vec<u8>), ApprovalError> {
    let recorded = &saved.fingerprint.config.path;
    let path = match given {
        None => recorded.clone(),
        Some(g) => {
            let canon = std::fs::canonicalize(g).unwrap_or_else(|_| g.to_path_buf());
            if &canon != recorded {
                return Err(ApprovalError::ConfigMismatch {
                    given: g.to_path_buf(),
                    recorded: recorded.clone(),
                    plan: plan_file.to_path_buf(),
                });
            }
            g.to_path_buf()
        }
    };
    let (cfg, bytes) = read_config(&path)?;
    if cfg.hdb_base_dir()? != saved.plan.base {
        return Err(ApprovalError::OtherDatabase {
            path: plan_file.to_path_buf(),
            why: format!(
                "{} now describes the baseURI {}, the plan converts {}",
                path.display(),
                cfg.hdb_base_dir()?.display(),
                saved.plan.base.display()
            ),
        });
    }
    Ok((cfg, path, bytes))
}

/// Refuses a plan file whose plan is not the one the planner derives from its fingerprint and
/// `cfg` (an edited file with a recomputed plan_id): see [`derive`].
pub fn refuse_edited(
    saved: &SavedPlan,
    cfg: &AssemblyConfig,
    plan_file: &Path,
) -> Result<(), ApprovalError> {
    derive::check_not_edited(saved, cfg).map_err(|e| ApprovalError::Edited {
        path: plan_file.to_path_buf(),
        why: e.why,
    })
}

/// Reads and parses an assembly file, keeping its bytes.
pub fn read_config(path: &Path) -> Result<(AssemblyConfig, Vec<u8>), ApprovalError> {
    let bytes = crate::special::read_regular(path).map_err(|source| ApprovalError::ConfigRead {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let cfg = AssemblyConfig::parse(&text, path)?;
    Ok((cfg, bytes))
}

/// Every difference between the saved fingerprint and the world now (full walk, in parallel;
/// the walk of `early` when it walked the fingerprint's database).
pub fn drift(
    saved: &SavedPlan,
    cfg: &AssemblyConfig,
    config_path: &Path,
    config_bytes: &[u8],
    s3: &crate::object::S3Options,
    early: Option<early::EarlyWalk>,
) -> Result<Vec<Drift>, ApprovalError> {
    let now = scan::take_with(cfg, config_path, config_bytes, s3, early)?;
    let mut out = diff(&saved.fingerprint, &now);
    // The remedies' staged files are outside the database: checked by size and sha256.
    out.extend(crate::remedy::stage::drift(&saved.plan));
    Ok(out)
}

/// The configuration difference, if the assembly file's bytes are not the saved ones.
pub fn config_drift(saved: &SavedPlan, config_bytes: &[u8]) -> Vec<Drift> {
    let sha = scan::hex_sha256(config_bytes);
    let stamp = &saved.fingerprint.config;
    if sha == stamp.sha256 {
        return Vec::new();
    }
    vec![Drift {
        path: stamp.path.display().to_string(),
        what: crate::plan::fingerprint::DriftWhat::Configuration,
        detail: format!(
            "the assembly file's sha256 was {}, is now {sha}",
            stamp.sha256
        ),
    }]
}

/// Writes the plan file atomically (a temporary next to it, renamed over it), refusing a place
/// inside the database it describes (the file would change the fingerprint).
pub fn save(saved: &SavedPlan, path: &Path) -> Result<(), ApprovalError> {
    let werr = |source| ApprovalError::Write {
        path: path.to_path_buf(),
        source,
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let parent_abs = std::fs::canonicalize(&parent).map_err(werr)?;
    let db = std::fs::canonicalize(&saved.fingerprint.database)
        .unwrap_or_else(|_| saved.fingerprint.database.clone());
    if parent_abs.starts_with(&db) {
        return Err(ApprovalError::InsideDatabase {
            path: path.to_path_buf(),
            database: db,
        });
    }
    let name = path.file_name().ok_or_else(|| {
        werr(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file name",
        ))
    })?;
    let tmp = parent.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        // Streamed: the file of a million-entry database is ~100 MB, which is not held.
        let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        saved.write_to(&mut w)?;
        let f = w
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        werr(e)
    })
}

/// What the view checks a file against on its first open: the saved size, mtime and inode of
/// every regular file of the database, by path relative to the baseURI (`data/…`).
///
/// Kept as 16 bytes per file (a hash of the path, a hash of the stamp), sorted: a map of paths
/// cost ~100 bytes per file in the view's server, for the whole mount. A file whose stamp does
/// not hash as saved is refused; a changed file passes only if its new stamp's 64-bit hash
/// collides with the saved one's, and a path colliding with another keeps both stamps (either
/// one matching passes).
#[derive(Debug, Default)]
pub struct ApprovedFiles {
    plan_id: String,
    files: Vec<(u64, u64)>,
}

fn path_key(rel: &Path) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hasher::write(&mut h, rel.as_os_str().as_encoded_bytes());
    std::hash::Hasher::finish(&h)
}

/// The hash of a file's stamps; `ctime_ns` is None for plan files saved before ctimes were
/// recorded (fingerprint version 1), which are compared without it.
fn stamp_key(size: u64, mtime_ns: i64, ino: u64, ctime_ns: Option<i64>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&(size, mtime_ns, ino, ctime_ns), &mut h);
    std::hash::Hasher::finish(&h)
}

impl ApprovedFiles {
    pub fn of(saved: &SavedPlan) -> ApprovedFiles {
        let source = Path::new(&saved.plan.source);
        let stamp = |e: &crate::plan::fingerprint::FsEntry| {
            stamp_key(e.size, e.mtime_ns, e.inode, e.ctime_ns)
        };
        let mut files: Vec<(u64, u64)> = saved
            .fingerprint
            .entries
            .iter()
            .filter(|e| e.kind == FsKind::File)
            .map(|e| (path_key(&source.join(&e.path)), stamp(&e)))
            .collect();
        // The view reads a segment's files beneath its anchor (`stores/<tier>`).
        for seg in &saved.fingerprint.segments {
            let Some(store) = saved.plan.stores.iter().find(|s| s.dir == seg.dir) else {
                continue;
            };
            let anchor = Path::new(&store.path);
            files.extend(
                seg.entries
                    .iter()
                    .filter(|e| e.kind == FsKind::File)
                    .map(|e| (path_key(&anchor.join(&e.path)), stamp(&e))),
            );
        }
        files.sort_unstable();
        files.dedup();
        files.shrink_to_fit();
        ApprovedFiles {
            plan_id: saved.plan_id.clone(),
            files,
        }
    }

    /// Bytes held, which the view counts in its memory budget.
    pub fn bytes(&self) -> usize {
        std::mem::size_of_val(self.files.as_slice())
    }

    /// None when the file at `rel` (relative to the baseURI) is as saved, or is not a database
    /// file; else what differs, in words.
    pub fn differs(&self, rel: &Path, st: &libc::stat) -> Option<String> {
        let key = path_key(rel);
        let from = self.files.partition_point(|(k, _)| *k < key);
        let saved = &self.files[from..];
        let saved = &saved[..saved.partition_point(|(k, _)| *k == key)];
        if saved.is_empty() {
            return None;
        }
        let now = (
            st.st_size as u64,
            st.st_mtime.saturating_mul(1_000_000_000) + st.st_mtime_nsec,
            st.st_ino,
            st.st_ctime.saturating_mul(1_000_000_000) + st.st_ctime_nsec,
        );
        // The ctime too, as `commit --plan`'s fast path compares it: a file rewritten in place
        // with its size kept and its mtime set back keeps the other three. A stamp saved
        // without a ctime (version-1 plan) matches the key made without it.
        let with = stamp_key(now.0, now.1, now.2, Some(now.3));
        let without = stamp_key(now.0, now.1, now.2, None);
        (!saved.iter().any(|(_, s)| *s == with || *s == without)).then(|| {
            format!(
                "changed since plan {} was saved (its size, mtime, inode or ctime differ from the saved ones; now size {}, mtime {} ns, inode {}, ctime {} ns)",
                self.plan_id, now.0, now.1, now.2, now.3
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp_files(a: &ApprovedFiles) -> usize {
        a.files.len()
    }
    use crate::plan::fingerprint::{ConfigStamp, Fingerprint, FINGERPRINT_VERSION};

    #[test]
    fn approved_files_compare_size_mtime_inode_and_ctime_of_database_files_only() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path();
        std::fs::create_dir_all(base.join("data/2024.01.02/t")).unwrap();
        std::fs::write(base.join("data/2024.01.02/t/a"), b"12345678").unwrap();
        let plan = crate::plan::build(&crate::plan::PlanInput {
            base: base.to_path_buf(),
            root_entries: vec![],
            tiers: vec![crate::plan::TierInput {
                name: "hdb".into(),
                kind: crate::plan::TierKind::Local,
                store: format!("file://{}/data", base.display()),
            }],
            local_partitions: vec!["2024.01.02".into()],
            object_partitions: vec![],
        })
        .unwrap();
        let (entries, dev, ino) = scan::database_entries(&base.join("data")).unwrap();
        let fp = Fingerprint {
            version: FINGERPRINT_VERSION,
            host: crate::commit::hostname(),
            database: base.join("data"),
            database_dev: dev,
            database_ino: ino,
            config: ConfigStamp {
                path: base.join("a.yaml"),
                sha256: "00".into(),
            },
            entries,
            objects: vec![],
            segments: Vec::new(),
        };
        // The same plan saved by a version that recorded no ctimes (fingerprint version 1).
        let mut v1 = fp.clone();
        v1.version = 1;
        v1.entries = fp
            .entries
            .iter()
            .map(|mut e| {
                e.ctime_ns = None;
                e
            })
            .collect();
        let approved_v1 = ApprovedFiles::of(&SavedPlan::new(plan.clone(), v1));
        let approved = ApprovedFiles::of(&SavedPlan::new(plan, fp));
        let stat = |rel: &str| {
            let md = std::fs::metadata(base.join(rel)).unwrap();
            // SAFETY: plain data, filled in below.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            st.st_size = md.len() as i64;
            st.st_mtime = md.mtime();
            st.st_mtime_nsec = md.mtime_nsec();
            st.st_ino = md.ino();
            st.st_ctime = md.ctime();
            st.st_ctime_nsec = md.ctime_nsec();
            st
        };
        let rel = Path::new("data/2024.01.02/t/a");
        assert_eq!(approved.differs(rel, &stat("data/2024.01.02/t/a")), None);
        // 16 bytes per database file, whatever the length of its path.
        let files = fp_files(&approved);
        assert!(files >= 1 && approved.bytes() == 16 * files, "{files}");
        let mut st = stat("data/2024.01.02/t/a");
        st.st_mtime_nsec = (st.st_mtime_nsec + 1) % 1_000_000_000;
        let why = approved.differs(rel, &st).unwrap();
        assert!(why.contains("mtime"), "{why}");
        let mut st = stat("data/2024.01.02/t/a");
        st.st_ino += 1;
        assert!(approved.differs(rel, &st).is_some());
        // Rewritten in place with size and mtime kept: only the ctime moved.
        let mut st = stat("data/2024.01.02/t/a");
        st.st_ctime += 1;
        let why = approved.differs(rel, &st).unwrap();
        assert!(why.contains("ctime"), "{why}");
        // A version-1 plan has no ctime to compare: the other three still are.
        assert_eq!(approved_v1.differs(rel, &st), None);
        assert_eq!(approved_v1.differs(rel, &stat("data/2024.01.02/t/a")), None);
        st.st_size += 1;
        assert!(approved_v1.differs(rel, &st).is_some());
        // Not a file of the database (a generated or unknown path): nothing to compare.
        assert_eq!(approved.differs(Path::new("db/par.txt"), &st), None);
    }
}
