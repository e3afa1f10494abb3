//! Columns from the schema alone: a 0-row column (a table absent from a partition, filled as
//! kdb+ writes an empty table) and a column of nulls (dbmaint's `addcol`), written a bounded
//! buffer at a time whatever the row count.

use std::path::Path;

use super::sink::Sink;
use super::{hash_sibling, ProduceError, Produced};
use crate::kdb::write::{enum_bytes, header_4k_bytes, vector_header_bytes, HeaderCount};
use crate::kdb::zip::ZipParams;
use crate::kdb::{
    type_width, Attr, LogicalType, T_ANYMAP, T_BYTE, T_CHAR, T_DATETIME, T_ENUM, T_FLOAT, T_MIXED,
    T_REAL, T_SYMBOL,
};

/// Bytes of repeated values written at once.
const FILL_BYTES: usize = 256 << 10;

/// An empty general list, serialized: what kdb+ writes for an untyped column of an empty
/// table (`torq-gateway-empty/2022.01.03/packets/data`).
const EMPTY_MIXED: [u8; 8] = [0xff, 0x01, 0, 0, 0, 0, 0, 0];

/// q's null of a simple type as stored, little-endian: 0N of the integer and temporal types
/// (the smallest value), 0n/0Ne NaN with the sign bit set as q writes it (`fff8…`, `ffc00000`
/// in `dolphindb-sample/allDataTypes/splayedTable/double`, `float`), 0Ng all zero. boolean,
/// byte and char have no null: `addcol` fills 0b, 0x00 and " ".
pub(crate) fn null_value(t: u8) -> Option<Vec<u8>> {
    let w = type_width(t)?;
    Some(match t {
        T_REAL => 0xffc0_0000u32.to_le_bytes().to_vec(),
        T_FLOAT | T_DATETIME => 0xfff8_0000_0000_0000u64.to_le_bytes().to_vec(),
        T_CHAR => vec![b' '],
        T_ENUM => return None,
        1 | 2 | T_BYTE => vec![0; w],
        _ => {
            // The smallest signed value of the width: 0x80 in the top byte.
            let mut v = vec![0u8; w];
            v[w - 1] = 0x80;
            v
        }
    })
}

fn invalid(out: &Path, detail: impl Into<String>) -> ProduceError {
    ProduceError::Invalid {
        path: out.to_path_buf(),
        detail: detail.into(),
    }
}

fn unsupported(out: &Path, what: &str) -> ProduceError {
    ProduceError::Unsupported {
        what: format!("{}: {what}", out.display()),
    }
}

fn domain_of<'a>(domain: Option<&'a str>, out: &Path) -> Result<&'a str, ProduceError> {
    match domain {
        Some(d) if !d.is_empty() && !d.contains('\0') && d.len() < 4064 => Ok(d),
        Some(d) => Err(invalid(
            out,
            format!("enumeration domain name {d:?} is not a file name kdb+ can store"),
        )),
        None => Err(invalid(
            out,
            "a symbol column needs its enumeration domain (sym)",
        )),
    }
}

/// Writes `rows` copies of `value` after the header already in `sink`.
fn fill(sink: &mut Sink, value: &[u8], rows: u64) -> Result<(), ProduceError> {
    let per = (FILL_BYTES / value.len().max(1)).max(1);
    let buf: Vec<u8> = value.repeat(per.min(rows.max(1) as usize));
    let mut left = rows;
    while left > 0 {
        let n = left.min((buf.len() / value.len()) as u64) as usize;
        sink.write(&buf[..n * value.len()])?;
        left -= n as u64;
    }
    Ok(())
}

/// A nested pair of `rows` items, each an empty list of item type `item` (short form
/// `[item + 0x7f][00]`, two bytes), as `nested_chars_bytes` lays out "" (torq-air
/// `registration`'s short items). With 0 rows, both files are their 4 KiB header alone.
fn nested_empty_items(
    out: &Path,
    item: u8,
    rows: u64,
    count: u64,
    zip: Option<ZipParams>,
) -> Result<Vec<Produced>, ProduceError> {
    let mut index = Sink::create(out, zip)?;
    index.write(&header_4k_bytes("", 1, T_ANYMAP, Attr::None, count))?;
    let data_path = hash_sibling(out);
    let mut data = Sink::create(&data_path, zip)?;
    data.write(&header_4k_bytes("", 0, T_BYTE, Attr::None, 0))?;
    let item_bytes = [item + 0x7f, 0];
    let per = (FILL_BYTES / 8) as u64;
    let mut entries = Vec::with_capacity(FILL_BYTES);
    let mut row = 0u64;
    while row < rows {
        let n = (rows - row).min(per);
        entries.clear();
        for r in row..row + n {
            // Offset into the data (low bytes), 1 in the top byte: a short item.
            entries.extend_from_slice(&((2 * r) | (1u64 << 56)).to_le_bytes());
        }
        index.write(&entries)?;
        row += n;
    }
    fill(&mut data, &item_bytes, rows)?;
    Ok(vec![index.finish()?, data.finish()?])
}

pub(crate) fn empty_column(
    ty: LogicalType,
    domain: Option<&str>,
    attr: Attr,
    out: &Path,
    zip: Option<ZipParams>,
) -> Result<Vec<Produced>, ProduceError> {
    // An attribute we have no real file to copy the layout from is refused, not guessed: the
    // caller writes the column without it and check says so (schema-attr-mismatch).
    let no_attr = |what: &str| {
        unsupported(
            out,
            &format!("an empty {what} with attribute {attr:?} (only none or s# here)"),
        )
    };
    let mut sink;
    match ty {
        LogicalType::List(_) if attr == Attr::None => return nested_empty_items(out, 0, 0, 0, zip),
        LogicalType::List(_) => return Err(no_attr("nested column")),
        LogicalType::Simple(T_MIXED) if attr == Attr::None => {
            sink = Sink::create(out, zip)?;
            sink.write(&EMPTY_MIXED)?;
        }
        LogicalType::Simple(T_MIXED) => return Err(no_attr("general list")),
        LogicalType::Simple(T_SYMBOL) => {
            let d = domain_of(domain, out)?;
            // `u#`/`p#`/`g#` carry index data even with no rows (80 bytes for p#, as in
            // quote_cffex/sym); none and s# are the 4 KiB header alone, count 0.
            let image = enum_bytes(d, attr, &[], HeaderCount::Zero)
                .map_err(|e| invalid(out, e.to_string()))?;
            sink = Sink::create(out, zip)?;
            sink.write(&image)?;
        }
        LogicalType::Simple(t) if null_value(t).is_some() => {
            if !matches!(attr, Attr::None | Attr::Sorted) {
                return Err(no_attr("vector"));
            }
            sink = Sink::create(out, zip)?;
            sink.write(&vector_header_bytes(t, attr, 0))?;
        }
        LogicalType::Simple(t) => {
            return Err(unsupported(
                out,
                &format!("an empty column of type byte {t}"),
            ))
        }
    }
    Ok(vec![sink.finish()?])
}

pub(crate) fn null_column(
    ty: LogicalType,
    rows: u64,
    domain: Option<&str>,
    null_sym_index: Option<u32>,
    out: &Path,
    zip: Option<ZipParams>,
) -> Result<Vec<Produced>, ProduceError> {
    // `addcol` writes with `set`, which leaves the header count 0 (kdb+ 4.x; see
    // kdb::write::HeaderCount).
    let count = 0;
    let mut sink;
    match ty {
        LogicalType::Simple(T_SYMBOL) => {
            let d = domain_of(domain, out)?;
            let Some(i) = null_sym_index else {
                return Err(invalid(out, "a symbol column of nulls needs the index of \"\" in sym (append it first)"));
            };
            sink = Sink::create(out, zip)?;
            sink.write(&header_4k_bytes(d, 0, T_ENUM, Attr::None, count))?;
            fill(&mut sink, &i64::from(i).to_le_bytes(), rows)?;
        }
        LogicalType::Simple(t) => match null_value(t) {
            Some(v) => {
                sink = Sink::create(out, zip)?;
                sink.write(&vector_header_bytes(t, Attr::None, count))?;
                fill(&mut sink, &v, rows)?;
            }
            None => {
                return Err(unsupported(
                    out,
                    &format!(
                        "a column of nulls of type {} (a general list has no null item to repeat; add it with q)",
                        ty.config_name()
                    ),
                ))
            }
        },
        // "" per row for a string column; an empty list of the item type for other lists.
        LogicalType::List(Some(t)) if t != T_SYMBOL && null_value(t).is_some() => {
            return nested_empty_items(out, t, rows, count, zip)
        }
        LogicalType::List(_) => {
            return Err(unsupported(
                out,
                &format!(
                    "a column of nulls of type {} (nested symbol or untyped list items)",
                    ty.config_name()
                ),
            ))
        }
    }
    Ok(vec![sink.finish()?])
}
