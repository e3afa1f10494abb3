//! The file producers of the prepare remedies (issue #19): each [`Job`] writes one file (or a
//! nested pair) under its `out`, streaming in bounded chunks, fsync'd, and returns what the plan
//! records (path, size, sha256). No job reads the configuration or the inventory: the remedy
//! planner passes everything in. Layouts written are described in docs/kdb-format.md ("What
//! smstage writes").

mod columns;
mod derive;
mod error;
mod reenum;
mod sink;
mod symfile;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) use columns::null_value;
pub(crate) use derive::check_derivation;
pub use error::ProduceError;

use crate::kdb::zip::ZipParams;
use crate::kdb::{Attr, KdbError, LogicalType};

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
    /// list types as `out` + `out#`, `mixed` as an empty general list. `attr` is the
    /// configured `attrDisk`: on a symbol column any of `s#`/`u#`/`p#`/`g#` (with the empty
    /// index data kdb+ writes, `dolphindb-sample/2023.03.24/quote_cffex/sym`), on a simple
    /// vector `s#` only; anything else is unsupported rather than guessed.
    EmptyColumn {
        ty: LogicalType,
        domain: Option<String>,
        attr: Attr,
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
    /// sym of the old domain's symbol i; same attribute and compression as the original. A null
    /// index stays null; an index beyond the remap (beyond its domain, which q reads as null)
    /// becomes the null index, so it stays null under the longer `sym`.
    Reenumerate {
        column: PathBuf,
        remap: Arc<Vec<u32>>,
        /// "sym".
        domain: String,
        out: PathBuf,
        zip: Option<ZipParams>,
    },
    /// A `.d` listing `columns` in order, header count set (as `.Q.dpft` writes it).
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
        Job::EmptyColumn {
            ty,
            domain,
            attr,
            out,
            zip,
        } => columns::empty_column(*ty, domain.as_deref(), *attr, out, *zip),
        Job::NullColumn {
            ty,
            rows,
            domain,
            null_sym_index,
            out,
            zip,
        } => columns::null_column(*ty, *rows, domain.as_deref(), *null_sym_index, out, *zip),
        Job::DotD { columns, out } => symfile::dot_d(columns, out),
        Job::SymAppend { sym, append, out } => symfile::sym_append(sym, append, out),
        Job::Reenumerate {
            column,
            remap,
            domain,
            out,
            zip,
        } => reenum::reenumerate(column, remap, domain, out, *zip),
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

/// The compression of the file at `p` as parameters a producer can write again (None: not
/// compressed, or with a block size q cannot be asked for).
pub fn compression_of(p: &Path) -> Result<Option<ZipParams>, ProduceError> {
    // The trailer alone: a 3.x compound `col#` has no header a header read accepts.
    let (_, compression) = crate::kdb::header::image_len(&crate::kdb::LocalFile::open(p)?)?;
    Ok(compression.as_deref().and_then(|c| {
        // A block size that is not a power of two is not one q can be asked for.
        (c.block_size.is_power_of_two() && c.block_size > 0).then(|| ZipParams {
            algorithm: c.algorithm,
            level: c.level,
            block_log2: c.block_size.trailing_zeros() as u8,
        })
    }))
}

/// The compression a new column should get: that of its table's siblings in the same partition
/// when they all agree (read from their headers), else None (and the caller reports it).
pub fn sibling_compression(table_dir: &Path) -> Result<Option<ZipParams>, ProduceError> {
    let rd = |source| ProduceError::Read(KdbError::io(table_dir.display().to_string(), source));
    // The siblings are the table's columns as its `.d` lists them (a stray file such as
    // dolphindb-sample's `Daily/binary` is no column), with their `col#`; without a `.d`,
    // every regular file but dot files.
    let dot_d = table_dir.join(".d");
    let mut names = Vec::new();
    if dot_d.is_file() {
        for c in crate::kdb::read_symbols(&dot_d)? {
            for p in [table_dir.join(&c), hash_sibling(&table_dir.join(&c))] {
                if p.is_file() {
                    names.push(p);
                }
            }
        }
    } else {
        for e in std::fs::read_dir(table_dir).map_err(rd)? {
            let e = e.map_err(rd)?;
            let name = e.file_name();
            if name.to_string_lossy().starts_with('.') || !e.file_type().map_err(rd)?.is_file() {
                continue;
            }
            names.push(e.path());
        }
    }
    // Sorted so that the answer, and any error, does not depend on directory order.
    names.sort();
    let mut found: Option<Option<ZipParams>> = None;
    for p in names {
        let z = compression_of(&p)?;
        match found {
            None => found = Some(z),
            Some(prev) if prev != z => return Ok(None),
            Some(_) => {}
        }
    }
    Ok(found.flatten())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_columns;
#[cfg(test)]
mod tests_files;
#[cfg(test)]
mod tests_reenum;
