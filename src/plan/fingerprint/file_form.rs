//! The fingerprint as a plan file carries it: the form of `entries` (and of each segment's)
//! follows the fingerprint's own `version`. Version 3 writes the packed records as one base64
//! string ([`super::packed`]); versions 1 and 2 wrote a JSON array of [`FsEntry`] objects, and
//! a file of those versions is read and written back in that form, so that it keeps its
//! canonical serialisation and with it its `plan_id` (the commit journal and a staging
//! directory's name record ids computed from it).

use super::packed::{self, PackedError};
use super::{
    ConfigStamp, Entries, Fingerprint, FsEntry, ObjectStamp, SegmentStamp, FINGERPRINT_VERSION,
    OLDEST_FINGERPRINT_VERSION,
};
use serde::de::{Error as _, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The first fingerprint version whose entries the file carries packed.
pub const PACKED_ENTRIES_VERSION: u32 = 3;

/// How a list of entries is written in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// A JSON array of [`FsEntry`] objects (fingerprint versions 1 and 2).
    Listed,
    /// One string: the base64 of the packed records (version 3).
    Packed,
}

impl Form {
    pub fn of_version(version: u32) -> Form {
        if version >= PACKED_ENTRIES_VERSION {
            Form::Packed
        } else {
            Form::Listed
        }
    }

    fn name(self) -> &'static str {
        match self {
            Form::Listed => "a list of objects",
            Form::Packed => "one packed string",
        }
    }
}

/// Entries to be written in a form.
struct InForm<'a>(&'a Entries, Form);

impl Serialize for InForm<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.1 {
            Form::Listed => s.collect_seq(self.0.iter()),
            Form::Packed => s.collect_str(&packed::encoded(self.0)),
        }
    }
}

/// [`Fingerprint`]'s fields in their order, the entries in the version's form.
#[derive(Serialize)]
struct FingerprintOut<'a> {
    version: u32,
    host: &'a str,
    database: &'a Path,
    database_dev: u64,
    database_ino: u64,
    config: &'a ConfigStamp,
    entries: InForm<'a>,
    objects: &'a [ObjectStamp],
    /// Absent for a plain database, so its plan files are as before segments were stamped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    segments: Vec<SegmentOut<'a>>,
}

#[derive(Serialize)]
struct SegmentOut<'a> {
    dir: &'a Path,
    entries: InForm<'a>,
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let form = Form::of_version(self.version);
        FingerprintOut {
            version: self.version,
            host: &self.host,
            database: &self.database,
            database_dev: self.database_dev,
            database_ino: self.database_ino,
            config: &self.config,
            entries: InForm(&self.entries, form),
            objects: &self.objects,
            segments: self
                .segments
                .iter()
                .map(|g| SegmentOut {
                    dir: &g.dir,
                    entries: InForm(&g.entries, form),
                })
                .collect(),
        }
        .serialize(s)
    }
}

/// A list of entries as the parser met it, not yet checked against the version. A packed
/// string is kept as its decoded bytes only (a quarter smaller than the text, which the
/// parser's buffer holds only while it lasts); the records are checked once the fingerprint's
/// version and the list's place are known, so that a fault is reported with both.
pub enum ReadEntries {
    Listed(Entries),
    Packed(Result<Vec<u8>, PackedError>),
}

impl ReadEntries {
    fn form(&self) -> Form {
        match self {
            ReadEntries::Listed(_) => Form::Listed,
            ReadEntries::Packed(_) => Form::Packed,
        }
    }
}

impl<'de> Deserialize<'de> for ReadEntries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ReadEntries, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = ReadEntries;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of entries, or the packed entries as one base64 string")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ReadEntries, A::Error> {
                let mut out = Entries::new();
                while let Some(e) = seq.next_element::<FsEntry>()? {
                    out.push(&e);
                }
                out.shrink_to_fit();
                Ok(ReadEntries::Listed(out))
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ReadEntries, E> {
                Ok(ReadEntries::Packed(packed::base64_bytes(text)))
            }
        }
        d.deserialize_any(Either)
    }
}

/// A fingerprint as the parser read it, its lists not yet checked ([`FingerprintIn::checked`]).
#[derive(Deserialize)]
pub struct FingerprintIn {
    version: u32,
    host: String,
    database: PathBuf,
    database_dev: u64,
    database_ino: u64,
    config: ConfigStamp,
    entries: ReadEntries,
    objects: Vec<ObjectStamp>,
    #[serde(default)]
    segments: Vec<SegmentIn>,
}

#[derive(Deserialize)]
struct SegmentIn {
    dir: PathBuf,
    entries: ReadEntries,
}

/// Why a fingerprint as read is refused.
#[derive(Debug, Error)]
pub enum FormError {
    #[error("fingerprint version {0} is not read by this smstage (it reads {OLDEST_FINGERPRINT_VERSION} to {FINGERPRINT_VERSION})")]
    Version(u32),
    #[error("fingerprint {list}: version {version} carries them as {want}, the file has {found}")]
    Form {
        list: String,
        version: u32,
        want: &'static str,
        found: &'static str,
    },
    #[error("fingerprint {list}: {source}")]
    Packed { list: String, source: PackedError },
}

impl FingerprintIn {
    /// The fingerprint, every list in the form its version writes and every packed record
    /// checked; a version this smstage does not read is refused before anything is decoded.
    pub fn checked(self) -> Result<Fingerprint, FormError> {
        let version = self.version;
        if !(OLDEST_FINGERPRINT_VERSION..=FINGERPRINT_VERSION).contains(&version) {
            return Err(FormError::Version(version));
        }
        let want = Form::of_version(version);
        let list = |read: ReadEntries, list: String| -> Result<Entries, FormError> {
            if read.form() != want {
                return Err(FormError::Form {
                    list,
                    version,
                    want: want.name(),
                    found: read.form().name(),
                });
            }
            match read {
                ReadEntries::Listed(entries) => Ok(entries),
                ReadEntries::Packed(bytes) => bytes
                    .and_then(|b| packed::decode_bytes(&b))
                    .map_err(|source| FormError::Packed { list, source }),
            }
        };
        let entries = list(self.entries, "entries".to_string())?;
        let segments = self
            .segments
            .into_iter()
            .map(|g| {
                let entries = list(g.entries, format!("segment {} entries", g.dir.display()))?;
                Ok(SegmentStamp {
                    dir: g.dir,
                    entries,
                })
            })
            .collect::<Result<_, FormError>>()?;
        Ok(Fingerprint {
            version,
            host: self.host,
            database: self.database,
            database_dev: self.database_dev,
            database_ino: self.database_ino,
            config: self.config,
            entries,
            objects: self.objects,
            segments,
        })
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Fingerprint, D::Error> {
        FingerprintIn::deserialize(d)?
            .checked()
            .map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_follows_the_version_and_a_fingerprint_reads_back_as_written() {
        assert_eq!(Form::of_version(1), Form::Listed);
        assert_eq!(Form::of_version(2), Form::Listed);
        assert_eq!(Form::of_version(3), Form::Packed);
        for version in [1, 2, 3] {
            let fp = crate::plan::saved::tests::varied(version).fingerprint;
            let v = serde_json::to_value(&fp).unwrap();
            assert_eq!(v["entries"].is_string(), version >= 3, "{v}");
            assert_eq!(v["segments"][0]["entries"].is_string(), version >= 3, "{v}");
            let back: Fingerprint = serde_json::from_value(v).unwrap();
            assert_eq!(back, fp);
        }
        // Read alone (not through a plan file), a damaged list is an error of the parser
        // that says the same.
        let mut v = serde_json::to_value(crate::plan::saved::tests::varied(3).fingerprint).unwrap();
        v["entries"] = "AAAA".into();
        let err = serde_json::from_value::<Fingerprint>(v)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "fingerprint entries: record 0 at byte 3: the bytes end inside its size"
            ),
            "{err}"
        );
    }
}
