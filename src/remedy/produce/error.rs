//! The producers' error: a source that is corrupt (restore from the backup) is kept apart from a
//! source or request that is a variant we do not write or read yet (say so, name the bytes), and
//! from a refused derivation (the user chose a source that cannot give a timestamp on its day).

use std::path::PathBuf;

use thiserror::Error;

use crate::kdb::zip::ZipError;
use crate::kdb::KdbError;

#[derive(Debug, Error)]
pub enum ProduceError {
    /// Reading a source failed: corrupt bytes, a variant the reader does not decode, or i/o
    /// (`KdbError::is_corrupt` tells which).
    #[error(transparent)]
    Read(#[from] KdbError),

    /// Writing an output failed.
    #[error("{path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: cannot compress: {source}")]
    Compress {
        path: PathBuf,
        #[source]
        source: ZipError,
    },

    /// The derivation source is not a time of day or a datetime.
    #[error("{path}: cannot derive a timestamp from a column of type {found}: the source must be a timespan, time, second or minute (a time of day) or a datetime; name another source column")]
    DeriveSourceType { path: PathBuf, found: String },

    /// A null time of day gives no timestamp.
    #[error("{path}: row {row} is null ({value}): no timestamp can be derived from it; fill the source or name another source column")]
    DeriveNull {
        path: PathBuf,
        row: u64,
        value: String,
    },

    /// A value whose result would not round down to the partition's date.
    #[error("{path}: row {row} value {value} {why}: the derived timestamp would not fall on the partition date {date}; fix the source or name another source column")]
    DeriveOffDay {
        path: PathBuf,
        row: u64,
        value: String,
        date: String,
        why: &'static str,
    },

    /// A request the producers do not write (a type or layout not supported yet).
    #[error("{what}: not written by smstage yet")]
    Unsupported { what: String },

    /// A job whose arguments contradict each other or the source (a bad date, a remap shorter
    /// than the domain…): a bug of the caller or a database the planner misread.
    #[error("{path}: {detail}")]
    Invalid { path: PathBuf, detail: String },
}

impl ProduceError {
    /// True when a source holds bytes kdb+ cannot have written (restore from the backup).
    pub fn is_corrupt(&self) -> bool {
        matches!(self, ProduceError::Read(e) if e.is_corrupt())
    }

    /// True for a variant we do not read or write yet (the data may well be fine).
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            ProduceError::Read(KdbError::Unsupported { .. }) | ProduceError::Unsupported { .. }
        )
    }
}
