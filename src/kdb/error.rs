//! The one error type of the kdb+ reader: every variant names the file and the byte offset
//! (in the file, or for the inside of a `kxzipped` file in its uncompressed image) and says
//! what was expected and what was found, so a finding can be reported without re-reading.
//!
//! Two families: bytes that cannot be what kdb+ wrote (`Truncated`, `UnknownMagic`,
//! `BadType`, `BadAttr`, `CorruptTrailer`, `Decompress`, `Corrupt`: restore from the backup)
//! and `Unsupported`: bytes that look valid but that this reader does not decode (the data
//! may well be fine).

use thiserror::Error;

/// Failure to read or make sense of a kdb+ file.
#[derive(Debug, Error)]
pub enum KdbError {
    #[error("{path}: i/o error at offset {offset}: {source}")]
    Io {
        path: String,
        offset: u64,
        #[source]
        source: std::io::Error,
    },

    /// The file is shorter than its header or its layout requires; `offset` is where the
    /// missing bytes start (usually the end of the data present).
    #[error("{path}: truncated at offset {offset}: {detail}")]
    Truncated {
        path: String,
        offset: u64,
        detail: String,
    },

    /// The first bytes are none of the file kinds we know.
    #[error("{path}: unknown file header bytes {b0:02x} {b1:02x} at offset 0")]
    UnknownMagic { path: String, b0: u8, b1: u8 },

    /// A type byte that is not valid where it was found.
    #[error("{path}: bad type byte 0x{byte:02x} at offset {offset}: expected {expected}")]
    BadType {
        path: String,
        byte: u8,
        offset: u64,
        expected: &'static str,
    },

    /// An attribute byte outside 0..=4.
    #[error("{path}: bad attribute byte 0x{byte:02x} at offset {offset}: expected 0..=4")]
    BadAttr { path: String, byte: u8, offset: u64 },

    /// `kxzippEd`: the data is encrypted at rest.
    #[error("{path}: encrypted (kxzippEd at offset 0): cannot be read without the key")]
    Encrypted { path: String },

    /// The trailer of a `kxzipped` file does not describe the file it ends.
    #[error("{path}: corrupt kxzipped trailer at offset {offset}: {detail}")]
    CorruptTrailer {
        path: String,
        offset: u64,
        detail: String,
    },

    /// A compressed block fails to decompress or yields the wrong length.
    #[error("{path}: block {block} at offset {offset} (algorithm {algorithm}) does not decompress: {detail}")]
    Decompress {
        path: String,
        block: u64,
        /// Where the block's compressed bytes start in the file.
        offset: u64,
        algorithm: u8,
        detail: String,
    },

    /// Structure inside the data is inconsistent (nested offsets, serialized objects…).
    #[error("{path}: corrupt at offset {offset}: {detail}")]
    Corrupt {
        path: String,
        offset: u64,
        detail: String,
    },

    /// Bytes that may well be valid kdb+ data but that this reader does not decode: never a
    /// reason to call the file corrupt. `bytes` (hex) are the ones found at `offset`.
    #[error("{path}: unsupported at offset {offset} (bytes {bytes}): {detail}")]
    Unsupported {
        path: String,
        offset: u64,
        bytes: String,
        detail: String,
    },
}

impl KdbError {
    /// An i/o error opening or sizing a file (offset 0).
    pub fn io(path: impl Into<String>, source: std::io::Error) -> Self {
        KdbError::io_at(path, 0, source)
    }

    /// An i/o error reading at `offset`.
    pub fn io_at(path: impl Into<String>, offset: u64, source: std::io::Error) -> Self {
        KdbError::Io {
            path: path.into(),
            offset,
            source,
        }
    }

    pub fn truncated(path: impl Into<String>, offset: u64, detail: impl Into<String>) -> Self {
        KdbError::Truncated {
            path: path.into(),
            offset,
            detail: detail.into(),
        }
    }

    pub fn corrupt(path: impl Into<String>, offset: u64, detail: impl Into<String>) -> Self {
        KdbError::Corrupt {
            path: path.into(),
            offset,
            detail: detail.into(),
        }
    }

    pub fn trailer(path: impl Into<String>, offset: u64, detail: impl Into<String>) -> Self {
        KdbError::CorruptTrailer {
            path: path.into(),
            offset,
            detail: detail.into(),
        }
    }

    /// `bytes` are the (first few) bytes at `offset` that make the data a variant we do not
    /// decode; at most 16 are kept.
    pub fn unsupported(
        path: impl Into<String>,
        offset: u64,
        bytes: &[u8],
        detail: impl Into<String>,
    ) -> Self {
        KdbError::Unsupported {
            path: path.into(),
            offset,
            bytes: hex(&bytes[..bytes.len().min(16)]),
            detail: detail.into(),
        }
    }

    /// The byte offset this error is about.
    pub fn offset(&self) -> u64 {
        match self {
            KdbError::UnknownMagic { .. } | KdbError::Encrypted { .. } => 0,
            KdbError::Io { offset, .. }
            | KdbError::Truncated { offset, .. }
            | KdbError::BadType { offset, .. }
            | KdbError::BadAttr { offset, .. }
            | KdbError::CorruptTrailer { offset, .. }
            | KdbError::Decompress { offset, .. }
            | KdbError::Corrupt { offset, .. }
            | KdbError::Unsupported { offset, .. } => *offset,
        }
    }

    /// True for bytes that cannot be what kdb+ wrote (restore from the backup); false for
    /// i/o errors, encryption and `Unsupported` (a variant this reader does not decode).
    pub fn is_corrupt(&self) -> bool {
        !matches!(
            self,
            KdbError::Io { .. } | KdbError::Encrypted { .. } | KdbError::Unsupported { .. }
        )
    }

    /// The file this error is about.
    pub fn path(&self) -> &str {
        match self {
            KdbError::Io { path, .. }
            | KdbError::Truncated { path, .. }
            | KdbError::UnknownMagic { path, .. }
            | KdbError::BadType { path, .. }
            | KdbError::BadAttr { path, .. }
            | KdbError::Encrypted { path }
            | KdbError::CorruptTrailer { path, .. }
            | KdbError::Decompress { path, .. }
            | KdbError::Corrupt { path, .. }
            | KdbError::Unsupported { path, .. } => path,
        }
    }
}

/// Space-separated lower-case hex, as in `xxd`.
pub fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_file_and_the_facts() {
        let e = KdbError::UnknownMagic {
            path: "/db/x".into(),
            b0: 0x12,
            b1: 0x34,
        };
        assert_eq!(
            e.to_string(),
            "/db/x: unknown file header bytes 12 34 at offset 0"
        );
        assert_eq!(e.path(), "/db/x");
        let e = KdbError::Encrypted {
            path: "/db/y".into(),
        };
        assert_eq!(
            e.to_string(),
            "/db/y: encrypted (kxzippEd at offset 0): cannot be read without the key"
        );
        let e = KdbError::unsupported("/db/u", 4096, &[0xfb, 0, 0x4d], "list items");
        assert_eq!(
            e.to_string(),
            "/db/u: unsupported at offset 4096 (bytes fb 00 4d): list items"
        );
        let e = KdbError::truncated("/db/z", 16, "header says 3 rows");
        assert_eq!(
            e.to_string(),
            "/db/z: truncated at offset 16: header says 3 rows"
        );
        assert_eq!((e.offset(), e.is_corrupt()), (16, true));
    }
}
