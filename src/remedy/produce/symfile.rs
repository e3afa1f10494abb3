//! Symbol-list files (`ff 01 0b`): a table's `.d` and the root `sym` with symbols appended.

use std::path::Path;

use super::sink::Sink;
use super::{ProduceError, Produced};
use crate::kdb::write::{symbols_bytes, HeaderCount};
use crate::kdb::zip::ZIP_MAGIC;
use crate::kdb::{KdbError, LocalFile, ReadAt};

/// Bytes copied at once from the existing `sym`.
const COPY_BYTES: usize = 1 << 20;

/// A `.d` naming `columns` in order, header count set (as `.Q.dpft` writes it, torq-air).
pub(crate) fn dot_d(columns: &[String], out: &Path) -> Result<Vec<Produced>, ProduceError> {
    let mut seen = std::collections::HashSet::new();
    for c in columns {
        if c.is_empty() || c.contains('\0') {
            return Err(ProduceError::Invalid {
                path: out.to_path_buf(),
                detail: format!("column name {c:?} is empty or holds a NUL byte"),
            });
        }
        if !seen.insert(c) {
            return Err(ProduceError::Invalid {
                path: out.to_path_buf(),
                detail: format!("column {c} is listed twice"),
            });
        }
    }
    let bytes = symbols_bytes(columns, HeaderCount::Set).map_err(|e| ProduceError::Invalid {
        path: out.to_path_buf(),
        detail: e.to_string(),
    })?;
    let mut sink = Sink::create(out, None)?;
    sink.write(&bytes)?;
    Ok(vec![sink.finish()?])
}

/// `sym` copied byte for byte, then `append`, each NUL-terminated. The int32 count at offset 4
/// stays 0 when it is 0 (kdb+ leaves it so: torq-air's `sym` says 0 and holds 129 symbols);
/// a non-zero count grows by the symbols appended, as a count-keeping writer's append does.
pub(crate) fn sym_append(
    sym: &Path,
    append: &[String],
    out: &Path,
) -> Result<Vec<Produced>, ProduceError> {
    for s in append {
        if s.contains('\0') {
            return Err(ProduceError::Invalid {
                path: out.to_path_buf(),
                detail: format!("symbol {s:?} to append holds a NUL byte"),
            });
        }
    }
    let src = LocalFile::open(sym)?;
    let name = src.path().to_string();
    let len = src.len()?;
    let mut head = [0u8; 8];
    let n = len.min(8) as usize;
    src.read_at(0, &mut head[..n])?;
    if n == 8 && &head == ZIP_MAGIC {
        return Err(ProduceError::Read(KdbError::unsupported(
            name,
            0,
            &head,
            "a compressed sym file: appending to it is not written by smstage yet (decompress it with q: `:sym set get `:sym)",
        )));
    }
    if n < 8 {
        return Err(ProduceError::Read(KdbError::truncated(
            name,
            len,
            "a symbol list needs an 8-byte header",
        )));
    }
    if head[..3] != [0xff, 0x01, 0x0b] {
        return Err(ProduceError::Read(KdbError::BadType {
            path: name,
            byte: head[2],
            offset: 2,
            expected: "a symbol list (ff 01 0b)",
        }));
    }
    if len > 8 {
        let mut last = [0u8; 1];
        src.read_at(len - 1, &mut last)?;
        if last[0] != 0 {
            return Err(ProduceError::Read(KdbError::truncated(
                name,
                len,
                "the last symbol has no terminating NUL",
            )));
        }
    }
    let stored = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if stored != 0 {
        let count = u32::try_from(append.len())
            .ok()
            .and_then(|a| stored.checked_add(a))
            .ok_or_else(|| ProduceError::Invalid {
                path: out.to_path_buf(),
                detail: format!(
                    "{stored} + {} symbols overflow the int32 count",
                    append.len()
                ),
            })?;
        head[4..8].copy_from_slice(&count.to_le_bytes());
    }
    let mut sink = Sink::create(out, None)?;
    sink.write(&head)?;
    let mut buf = vec![0u8; COPY_BYTES];
    let mut at = 8u64;
    while at < len {
        let n = (len - at).min(COPY_BYTES as u64) as usize;
        src.read_at(at, &mut buf[..n])?;
        sink.write(&buf[..n])?;
        at += n as u64;
    }
    for s in append {
        sink.write(s.as_bytes())?;
        sink.write(&[0])?;
    }
    Ok(vec![sink.finish()?])
}
