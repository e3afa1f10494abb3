//! kdb+ 3.x compound columns (`torq-crypto-gzip`: `bid`, `ask`… lists of floats): the column
//! file is a `fe 20` vector of type 77 + t whose values are cumulative end offsets (in
//! items), and `col#` holds the items of every row back to back, raw, with no header.
//! Layout in docs/kdb-format.md.

use super::column::{decode_simple, ColumnData};
use super::error::KdbError;
use super::header::{derive_count, VECTOR_HEADER};
use super::source::ReadAt;
use super::symbols::read_image;
use super::types::*;

/// Type byte of a compound column of item type t is `COMPOUND_BASE + t`.
pub const COMPOUND_BASE: u8 = 77;

/// Item type of a compound column type byte: 78..=96 (77 + a simple type or symbol).
pub fn item_type_of(type_byte: u8) -> Option<u8> {
    let t = type_byte.checked_sub(COMPOUND_BASE)?;
    (t == T_SYMBOL || type_width(t).is_some_and(|_| t != T_ENUM)).then_some(t)
}

/// Header of a compound index file whose type byte `t` passed [`item_type_of`].
pub(crate) fn index_header(
    path: &str,
    item: u8,
    attr: Attr,
    header_count: i64,
    total: u64,
) -> Result<Header, KdbError> {
    let count = derive_count(path, total, VECTOR_HEADER, 8, attr, header_count)?;
    Ok(Header {
        format: FileFormat::Compound,
        value_type: T_MIXED,
        attr,
        count,
        domain: None,
        nested: true,
        item_type: Some(item),
        compression: None,
    })
}

/// Header of the `col#` of a compound column of item type `item` (known from the column
/// file only: the data file has no header): the item count, from the size.
pub fn data_header(src: &dyn ReadAt, item: u8) -> Result<Header, KdbError> {
    let path = src.path();
    let w = item_width(path, item, 0)?;
    let (total, compression) = super::header::image_len(src)?;
    if total % w as u64 != 0 {
        return Err(KdbError::truncated(
            path,
            total - total % w as u64,
            format!(
                "{total} bytes of compound items (type {item}) are not a whole number of {w}-byte values: the last value is cut at offset {}",
                total - total % w as u64
            ),
        ));
    }
    Ok(Header {
        format: FileFormat::CompoundData,
        value_type: item,
        attr: Attr::None,
        count: total / w as u64,
        domain: None,
        nested: false,
        item_type: Some(item),
        compression,
    })
}

fn item_width(path: &str, item: u8, at: u64) -> Result<usize, KdbError> {
    match type_width(item) {
        Some(w) if item != T_ENUM => Ok(w),
        _ => Err(KdbError::unsupported(
            path,
            at,
            &[item + COMPOUND_BASE],
            format!(
                "compound column of item type {item} (type byte {}): only simple item types are decoded",
                item + COMPOUND_BASE
            ),
        )),
    }
}

/// Every row of a compound column: `index` is the column file's image (header `h`), `data`
/// the image of `col#`.
pub fn decode(
    path: &str,
    h: &Header,
    index: &[u8],
    data_path: &str,
    data: &[u8],
) -> Result<ColumnData, KdbError> {
    let item = h.item_type.unwrap_or(T_MIXED);
    let w = item_width(path, item, 2)?;
    let base = VECTOR_HEADER as usize;
    let rows = usize::try_from(h.count).unwrap_or(usize::MAX);
    let entries = super::nested::index_entries(path, index, base, rows)?;
    if data.len() % w != 0 {
        return Err(KdbError::truncated(
            data_path,
            (data.len() - data.len() % w) as u64,
            format!(
                "{} bytes of items are not a whole number of {w}-byte values: the last is cut at offset {}",
                data.len(),
                data.len() - data.len() % w
            ),
        ));
    }
    let held = (data.len() / w) as u64;
    let rows = Rows {
        first_row: 0,
        start: 0,
        held,
    };
    let (out, _) = decode_rows(path, item, entries, rows, data_path, data)?;
    Ok(ColumnData::Nested(out))
}

/// Where a run of rows of a compound column starts: its first row, the item its values start
/// at (the previous row's end) and how many items `col#` holds in all.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rows {
    pub first_row: usize,
    pub start: u64,
    pub held: u64,
}

/// Rows `rows.first_row..` whose end offsets are `entries`; `items` holds `col#` from item
/// `rows.start` on (at least up to the last end). Returns the rows and the item after them.
/// Errors name the same rows and offsets as a whole-column decode.
pub(super) fn decode_rows(
    path: &str,
    item: u8,
    entries: &[u8],
    rows: Rows,
    data_path: &str,
    items: &[u8],
) -> Result<(Vec<ColumnData>, u64), KdbError> {
    let w = item_width(path, item, 2)?;
    let base = VECTOR_HEADER as usize;
    let held = rows.held;
    let mut out = Vec::with_capacity(entries.len() / 8);
    let mut start = rows.start;
    for (i, e) in entries.chunks_exact(8).enumerate() {
        let row = rows.first_row + i;
        let end = i64::from_le_bytes([e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]]);
        let at = base + 8 * row;
        let end = u64::try_from(end)
            .ok()
            .filter(|&x| x >= start && x <= held)
            .ok_or_else(|| {
                KdbError::corrupt(
                    path,
                    at as u64,
                    format!(
                        "row {row}: end offset {end} at offset {at} is not between the previous end {start} and the {held} items {data_path} holds"
                    ),
                )
            })?;
        let (from, to) = (
            (start - rows.start) as usize * w,
            (end - rows.start) as usize * w,
        );
        let bytes = items.get(from..to).ok_or_else(|| {
            KdbError::truncated(
                data_path,
                rows.start * w as u64 + items.len() as u64,
                format!("row {row}: items {start}..{end} lie beyond the bytes read"),
            )
        })?;
        out.push(decode_simple(data_path, item, bytes)?);
        start = end;
    }
    Ok((out, start))
}

/// [`decode`] reading `col#` from `data` (compressed or not).
pub fn decode_from(
    path: &str,
    h: &Header,
    index: &[u8],
    data: &dyn ReadAt,
) -> Result<ColumnData, KdbError> {
    let image = read_image(data)?;
    decode(path, h, index, data.path(), &image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kdb::header::tests::fe20;
    use crate::kdb::source::MemSource;
    use crate::kdb::unzip::tests::zip_with;

    fn longs(v: &[i64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn floats(v: &[f64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn item_types() {
        assert_eq!(item_type_of(86), Some(T_FLOAT));
        assert_eq!(item_type_of(87), Some(T_CHAR));
        assert_eq!(item_type_of(88), Some(T_SYMBOL));
        assert_eq!(item_type_of(80), None);
        assert_eq!(item_type_of(77), None);
        assert_eq!(item_type_of(97), None);
        assert_eq!(item_type_of(9), None);
    }

    #[test]
    fn decodes_rows_from_cumulative_ends() {
        let index = fe20(86, 0, 3, &longs(&[2, 2, 5]));
        let h = index_header("c", T_FLOAT, Attr::None, 3, index.len() as u64).unwrap();
        assert_eq!((h.count, h.nested, h.item_type), (3, true, Some(T_FLOAT)));
        assert_eq!(
            logical_type_name(&h),
            "floats",
            "a compound column of floats is configured as floats"
        );
        let data = floats(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        let d = decode("c", &h, &index, "c#", &data).unwrap();
        assert_eq!(
            d,
            ColumnData::Nested(vec![
                ColumnData::Float(vec![1.0, 2.0]),
                ColumnData::Float(vec![]),
                ColumnData::Float(vec![3.0, 4.0, 5.0]),
            ])
        );
        // Compressed col#, through a byte source.
        let z = MemSource::new("c#", zip_with(2, 4096, &data));
        assert_eq!(decode_from("c", &h, &index, &z).unwrap(), d);
        let dh = data_header(&z, T_FLOAT).unwrap();
        assert_eq!((dh.format, dh.count), (FileFormat::CompoundData, 5));
        assert!(dh.compression.is_some());
    }

    fn logical_type_name(h: &Header) -> String {
        crate::kdb::logical_type(h, None).config_name()
    }

    #[test]
    fn bad_offsets_and_cut_items_are_errors() {
        let data = floats(&[1.0, 2.0, 3.0]);
        for ends in [[2, 1], [2, 4], [-1, 2]] {
            let index = fe20(86, 0, 2, &longs(&ends));
            let h = index_header("c", T_FLOAT, Attr::None, 2, index.len() as u64).unwrap();
            let e = decode("c", &h, &index, "c#", &data).unwrap_err();
            assert!(matches!(e, KdbError::Corrupt { .. }), "{ends:?}: {e}");
            assert!(e.to_string().contains("at offset"), "{e}");
        }
        let index = fe20(86, 0, 1, &longs(&[1]));
        let h = index_header("c", T_FLOAT, Attr::None, 1, index.len() as u64).unwrap();
        let e = decode("c", &h, &index, "c#", &data[..20]).unwrap_err();
        assert!(matches!(e, KdbError::Truncated { .. }), "{e}");
        let e = data_header(&MemSource::new("c#", data[..20].to_vec()), T_FLOAT).unwrap_err();
        assert!(matches!(e, KdbError::Truncated { .. }), "{e}");
        // Symbol items: a valid-looking variant we do not decode.
        let index = fe20(88, 0, 1, &longs(&[0]));
        let h = index_header("c", T_SYMBOL, Attr::None, 1, index.len() as u64).unwrap();
        let e = decode("c", &h, &index, "c#", &[]).unwrap_err();
        assert!(matches!(e, KdbError::Unsupported { .. }), "{e}");
    }
}
