//! Re-enumeration of an enum column onto `sym`: every index goes through the remap, the file
//! keeps its layout (4.x `fd 20` or 3.x `fe` + name), attribute and header-count convention.

use std::path::Path;

use super::derive::local_open;
use super::sink::Sink;
use super::{ProduceError, Produced};
use crate::kdb::chunked::{ColumnChunks, Image, DEFAULT_CHUNK_BYTES};
use crate::kdb::write::{enum_bytes, header_4k_bytes, HeaderCount};
use crate::kdb::zip::ZipParams;
use crate::kdb::{Attr, ColumnData, FileFormat, KdbError, LocalFile, T_ENUM};

fn invalid(p: &Path, detail: String) -> ProduceError {
    ProduceError::Invalid {
        path: p.to_path_buf(),
        detail,
    }
}

pub(crate) fn reenumerate(
    column: &Path,
    remap: &[u32],
    domain: &str,
    out: &Path,
    zip: Option<ZipParams>,
) -> Result<Vec<Produced>, ProduceError> {
    let src = LocalFile::open(column)?;
    let open = |p: &str| local_open(p);
    let mut chunks = ColumnChunks::open(&src, &open, DEFAULT_CHUNK_BYTES)?;
    let h = chunks.header().clone();
    let v4 = h.format == FileFormat::Vector4k && h.value_type == T_ENUM && !h.nested;
    let v3 = h.format == FileFormat::Enum3x;
    if !v4 && !v3 {
        return Err(invalid(
            column,
            "is not an enumerated symbol column: nothing to re-enumerate".to_string(),
        ));
    }
    if domain.is_empty()
        || domain.contains('\0')
        || (v3 && domain.len() > 7)
        || domain.len() >= 4064
    {
        return Err(invalid(
            out,
            format!("domain name {domain:?} does not fit the column's header"),
        ));
    }
    // The header as stored: its count field (0 stays 0) and, for 3.x, all 24 bytes.
    let head_len = if v4 { 4096 } else { 24 };
    let mut head = vec![0u8; head_len];
    Image::open(&src)?.read_at(0, &mut head)?;
    let raw_count = if v4 { &head[4088..4096] } else { &head[16..24] };
    let raw_count = u64::from_le_bytes(raw_count.try_into().unwrap_or([0; 8]));
    let rows = chunks.rows();
    let count = if raw_count == 0 { 0 } else { rows };
    let attr = h.attr;
    if attr.has_index_data() && v3 {
        return Err(ProduceError::Read(KdbError::unsupported(
            column.display().to_string(),
            11,
            &[attr.byte()],
            "a kdb+ 3.x enumeration with u#/p#/g# index data: rewriting it is not written by smstage yet",
        )));
    }
    // A null symbol in an enumeration is the null index (0N: dolphindb-sample's `Syms/SW1`,
    // `Daily/status`): it stays null, whatever the domain.
    let null3 = i64::from(i32::MIN);
    let map = |row: u64, i: i64| -> Result<i64, ProduceError> {
        if i == i64::MIN || (v3 && i == null3) {
            return Ok(i64::MIN);
        }
        if i < 0 {
            return Err(invalid(
                column,
                format!(
                    "row {row} holds the negative index {i}, which is neither a symbol nor null"
                ),
            ));
        }
        // An index at or past the end of its domain reads as null in q (check --deep's
        // load-enum-beyond-domain): kept null, as the null index, since under the longer sym
        // the same number would name a real symbol.
        Ok(usize::try_from(i)
            .ok()
            .and_then(|i| remap.get(i))
            .map_or(i64::MIN, |&n| i64::from(n)))
    };
    let mut sink = Sink::create(out, zip)?;
    if attr.has_index_data() {
        // u#/p#/g# index data is built from every value: these (rare, and for u# no longer
        // than the domain) are held whole, 8 bytes per row.
        let mut all = Vec::with_capacity(rows as usize);
        while let Some(chunk) = chunks.next_rows(usize::MAX)? {
            let ColumnData::Enum { indices, .. } = chunk else {
                return Err(invalid(
                    column,
                    "decoded as something else than an enumeration".into(),
                ));
            };
            for i in indices {
                let n = map(all.len() as u64, i)?;
                all.push(n);
            }
        }
        let hc = if count == 0 {
            HeaderCount::Zero
        } else {
            HeaderCount::Set
        };
        let bytes = enum_bytes(domain, attr, &all, hc).map_err(|e| {
            invalid(
                column,
                format!("the re-enumerated values break its {attr:?} attribute: {e}"),
            )
        })?;
        sink.write(&bytes)?;
        return Ok(vec![sink.finish()?]);
    }
    if v4 {
        sink.write(&header_4k_bytes(domain, 0, T_ENUM, attr, count))?;
    } else {
        let mut h3 = head.clone();
        h3[1..8].fill(0);
        h3[1..1 + domain.len()].copy_from_slice(domain.as_bytes());
        h3[16..24].copy_from_slice(&count.to_le_bytes());
        sink.write(&h3)?;
    }
    let mut buf = Vec::with_capacity(DEFAULT_CHUNK_BYTES);
    let mut row = 0u64;
    let mut prev = i64::MIN;
    while let Some(chunk) = chunks.next_rows(usize::MAX)? {
        let ColumnData::Enum { indices, .. } = chunk else {
            return Err(invalid(
                column,
                "decoded as something else than an enumeration".into(),
            ));
        };
        buf.clear();
        for i in indices {
            let n = map(row, i)?;
            if attr == Attr::Sorted && n < prev {
                return Err(invalid(
                    column,
                    format!("is sorted (s#) but row {row} maps to sym index {n}, below the previous row's {prev}: the new sym order breaks s#"),
                ));
            }
            prev = n;
            if v4 {
                buf.extend_from_slice(&n.to_le_bytes());
            } else {
                let n = match n {
                    i64::MIN => i32::MIN,
                    n => i32::try_from(n).map_err(|_| {
                        invalid(
                            out,
                            format!("sym index {n} does not fit a 3.x enumeration's int32"),
                        )
                    })?,
                };
                buf.extend_from_slice(&n.to_le_bytes());
            }
            row += 1;
        }
        sink.write(&buf)?;
    }
    Ok(vec![sink.finish()?])
}
