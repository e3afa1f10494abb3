//! The file producers of the prepare remedies (issue #19): each [`Job`] writes one file (or a
//! nested pair) under its `out`, streaming in bounded chunks, fsync'd, and returns what the plan
//! records (path, size, sha256). No job reads the configuration or the inventory: the remedy
//! planner passes everything in. Layouts written are described in docs/kdb-format.md ("What
//! smstage writes").

mod derive;
mod error;
mod sink;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::ProduceError;

use crate::kdb::zip::ZipParams;
use crate::kdb::LogicalType;

/// One file written by a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Produced {
    /// The file written.
    pub path: PathBuf,
    pub size: u64,
    /// sha256 of the file's bytes, lowercase hex.
    pub sha256: String,
}

/// One file (or nested pair) to write.
#[derive(Clone, Debug)]
pub enum Job {
    /// prtnCol = partition date (midnight, ns since 2000.01.01) + the source's time of day, per
    /// row; source type read from its header: timespan (n), time (t), second (v), minute (u); or
    /// a datetime (z) source converted to timestamp. Refuses (`ProduceError::Derive…`, naming
    /// file, row and value) a source of another type, a null, or any value whose result would
    /// not round down to `date` (negative, ≥ 1D, datetime on another day). Same rows as the
    /// source; `s#` kept only if the result stays sorted (it does when the source is s#).
    DerivedTimestamp {
        source: PathBuf,
        /// y, m, d as `crate::dates::parse_date` gives them.
        date: (u32, u32, u32),
        out: PathBuf,
        zip: Option<ZipParams>,
    },
    /// A 0-row column of the configured type, as kdb+ writes it for an empty table: simple
    /// vectors, `symbol` as an enumeration against `domain` (always "sym" here), `string`/nested
    /// list types as `out` + `out#`, `mixed` as an empty general list.
    EmptyColumn {
        ty: LogicalType,
        domain: Option<String>,
        out: PathBuf,
        zip: Option<ZipParams>,
    },
    /// `rows` nulls of the configured type (dbmaint addcol): 0N/0n/0Nd/…, "" for strings, ` for
    /// symbols — enumerated against `domain` at index `null_sym_index` (the planner appends ""
    /// to sym when absent and passes the index).
    NullColumn {
        ty: LogicalType,
        rows: u64,
        domain: Option<String>,
        null_sym_index: Option<u32>,
        out: PathBuf,
        zip: Option<ZipParams>,
    },
    /// Re-enumerate an enum column from its domain onto `sym`: `remap[i]` = the new index in
    /// sym of the old domain's symbol i; same attribute and compression as the original.
    Reenumerate {
        column: PathBuf,
        remap: Arc<Vec<u32>>,
        /// "sym".
        domain: String,
        out: PathBuf,
        zip: Option<ZipParams>,
    },
    /// A `.d` listing `columns` in order.
    DotD { columns: Vec<String>, out: PathBuf },
    /// The root `sym` = the existing symbols (copied byte-for-byte) + `append`, as kdb+ writes
    /// it.
    SymAppend {
        sym: PathBuf,
        append: Vec<String>,
        out: PathBuf,
    },
}

impl Job {
    /// The job's kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::DerivedTimestamp { .. } => "derived timestamp",
            Job::EmptyColumn { .. } => "empty column",
            Job::NullColumn { .. } => "null column",
            Job::Reenumerate { .. } => "re-enumeration",
            Job::DotD { .. } => ".d",
            Job::SymAppend { .. } => "sym append",
        }
    }
}

/// Runs one job: writes its file(s) and returns them in the order written. On failure, the
/// job's half-written outputs are removed (a staged file is either whole or absent), and an
/// output that is one of the job's inputs is refused before anything is opened for writing.
pub fn produce(job: &Job) -> Result<Vec<Produced>, ProduceError> {
    refuse_overwriting_inputs(job)?;
    let r = run(job);
    if r.is_err() {
        for p in outputs(job) {
            let _ = std::fs::remove_file(&p);
        }
    }
    r
}

fn run(job: &Job) -> Result<Vec<Produced>, ProduceError> {
    match job {
        Job::DerivedTimestamp {
            source,
            date,
            out,
            zip,
        } => derive::derived_timestamp(source, *date, out, *zip),
        _ => Err(ProduceError::NotYet { job: job.kind() }),
    }
}

/// The files a job writes (a nested column writes `out` and `out#`).
fn outputs(job: &Job) -> Vec<PathBuf> {
    match job {
        Job::DerivedTimestamp { out, .. }
        | Job::Reenumerate { out, .. }
        | Job::DotD { out, .. }
        | Job::SymAppend { out, .. } => vec![out.clone()],
        Job::EmptyColumn { out, ty, .. } | Job::NullColumn { out, ty, .. } => match ty {
            LogicalType::List(_) => vec![out.clone(), hash_sibling(out)],
            LogicalType::Simple(_) => vec![out.clone()],
        },
    }
}

/// `col#` beside `col`.
pub(crate) fn hash_sibling(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push("#");
    PathBuf::from(s)
}

fn inputs(job: &Job) -> Vec<&Path> {
    match job {
        Job::DerivedTimestamp { source, .. } => vec![source],
        Job::Reenumerate { column, .. } => vec![column],
        Job::SymAppend { sym, .. } => vec![sym],
        _ => vec![],
    }
}

/// Writing truncates `out` first: were it an input (a caller's path mix-up, a symlink), the
/// original would be destroyed. Same device and inode = same file.
fn refuse_overwriting_inputs(job: &Job) -> Result<(), ProduceError> {
    use std::os::unix::fs::MetadataExt;
    for out in outputs(job) {
        let Ok(o) = std::fs::metadata(&out) else {
            continue;
        };
        for input in inputs(job) {
            let Ok(i) = std::fs::metadata(input) else {
                continue;
            };
            if (o.dev(), o.ino()) == (i.dev(), i.ino()) {
                return Err(ProduceError::Invalid {
                    path: out.clone(),
                    detail: format!(
                        "is the job's input {} itself: a producer writes beside the data (in the staging area), never over it",
                        input.display()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The compression a new column should get: that of its table's siblings in the same partition
/// when they all agree (read from their headers), else None (and the caller reports it).
pub fn sibling_compression(table_dir: &Path) -> Result<Option<ZipParams>, ProduceError> {
    let _ = table_dir;
    Err(ProduceError::NotYet {
        job: "sibling compression",
    })
}

#[cfg(test)]
mod tests;
