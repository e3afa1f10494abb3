//! kdb+ 4.x nested ("anymap") columns: the column file (`fd 20`, inner header `fd 01 4d`)
//! holds one 8-byte entry per row pointing into `col#` (`fd 20`, inner header `fd 00 04`),
//! whose items carry their own small or large header; symbol items are enumerations whose
//! domain is named by `col##`. Layout in docs/kdb-format.md.

use super::column::{decode_simple, ColumnData};
use super::error::KdbError;
use super::header::VECTOR4K_HEADER;
use super::types::*;

/// First byte of a large item's 16-byte header.
pub const LARGE_ITEM: u8 = 0xfb;
/// A small item's first byte is its type + 0x7f (negative types: atoms).
const SMALL_BIAS: i16 = 0x7f;

/// Why one item cannot be decoded.
enum ItemFail {
    Corrupt(String),
    Unsupported { bytes: Vec<u8>, detail: String },
}

/// What an item's header says.
struct ItemHead {
    /// Item type (positive; `atom` tells an atom).
    t: u8,
    atom: bool,
    count: usize,
    /// Where the values start, relative to the items' base.
    start: usize,
    /// Index into the `col##` domain list (symbol items only).
    domain_ref: Option<u32>,
}

/// Type and shape of the item at `off` (relative to byte 4096 of `col#`).
fn item_head(items: &[u8], off: usize) -> Result<ItemHead, ItemFail> {
    let corrupt = |s: String| ItemFail::Corrupt(s);
    let b0 = *items
        .get(off)
        .ok_or_else(|| corrupt(format!("beyond the {} item bytes", items.len())))?;
    if b0 == LARGE_ITEM {
        let h = items
            .get(off..off.saturating_add(16))
            .ok_or_else(|| corrupt("large item header cut short".into()))?;
        let n = i64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
        let count = usize::try_from(n).map_err(|_| corrupt(format!("item count {n}")))?;
        let domain_ref = (h[2] == T_ENUM).then(|| u32::from_le_bytes([h[4], h[5], h[6], h[7]]));
        return Ok(ItemHead {
            t: h[2],
            atom: false,
            count,
            start: off + 16,
            domain_ref,
        });
    }
    let t = i16::from(b0) - SMALL_BIAS;
    if t < 0 {
        return Ok(ItemHead {
            t: t.unsigned_abs() as u8,
            atom: true,
            count: 1,
            start: off + 1,
            domain_ref: None,
        });
    }
    let t = t as u8;
    let count = *items
        .get(off + 1)
        .ok_or_else(|| corrupt("small item count missing".into()))? as usize;
    if t == T_ENUM {
        let r = items
            .get(off + 2..off + 6)
            .ok_or_else(|| corrupt("symbol item's domain reference cut short".into()))?;
        return Ok(ItemHead {
            t,
            atom: false,
            count,
            start: off + 6,
            domain_ref: Some(u32::from_le_bytes([r[0], r[1], r[2], r[3]])),
        });
    }
    Ok(ItemHead {
        t,
        atom: false,
        count,
        start: off + 2,
        domain_ref: None,
    })
}

/// Item type of the first item of a `col#` image's items (from byte 4096), as the schema
/// sees it: enumerated symbols are `T_SYMBOL`, an item that is itself a general or nested
/// list is `T_MIXED`.
pub(crate) fn first_item_type(items: &[u8]) -> Result<u8, (u8, &'static str)> {
    const EXPECTED: &str = "a nested item header (type+0x7f, or fb for a large item)";
    let b0 = items.first().copied().unwrap_or(0);
    // Only the type is needed here, not the whole item header.
    let (t, atom) = if b0 == LARGE_ITEM {
        (*items.get(2).ok_or((b0, EXPECTED))?, false)
    } else {
        let t = i16::from(b0) - SMALL_BIAS;
        (t.unsigned_abs() as u8, t < 0)
    };
    match t {
        T_ENUM | T_SYMBOL => Ok(T_SYMBOL),
        T_MIXED | T_ANYMAP if !atom => Ok(T_MIXED),
        t if type_width(t).is_some() => Ok(t),
        _ => Err((b0, EXPECTED)),
    }
}

/// One item; `load` reads the `col##` list into `cache` the first time a symbol item needs it.
fn decode_item(
    items: &[u8],
    off: usize,
    cache: &mut Option<Vec<String>>,
    load: &dyn Fn() -> Result<Vec<String>, KdbError>,
) -> Result<Result<ColumnData, ItemFail>, KdbError> {
    let h = match item_head(items, off) {
        Ok(h) => h,
        Err(f) => return Ok(Err(f)),
    };
    let head_bytes = || items[off..items.len().min(off + 16)].to_vec();
    let unsupported = |detail: String| {
        Ok(Err(ItemFail::Unsupported {
            bytes: head_bytes(),
            detail,
        }))
    };
    match (h.t, h.atom) {
        (T_ENUM, false) => {
            let r = h.domain_ref.unwrap_or(0);
            if cache.is_none() {
                *cache = Some(load()?);
            }
            let names = cache.as_deref().unwrap_or(&[]);
            let Some(domain) = names.get(r as usize) else {
                return Ok(Err(ItemFail::Corrupt(format!(
                    "symbol item names domain {r} of the {} in the ## file",
                    names.len()
                ))));
            };
            if h.count > 0 {
                // No real file shows a non-empty one: the width of its indices is unverified.
                return unsupported(format!(
                    "a nested symbol item of {} symbols (enumerated against {domain}); only empty ones are decoded",
                    h.count
                ));
            }
            return Ok(Ok(ColumnData::Enum {
                domain: domain.clone(),
                indices: Vec::new(),
            }));
        }
        (T_ENUM | T_SYMBOL, _) => {
            return unsupported(format!(
                "a nested symbol {} of type {}",
                if h.atom { "atom" } else { "item" },
                h.t
            ))
        }
        // An empty general list inside an anymap column is written as an anymap item of its
        // own with count 0 and no values (`fb 00 4d <attr> <int32> 0`: bitmex-nested's
        // bitmexbook/bids# rows 0..76, the rows where the book side was empty).
        (T_MIXED | T_ANYMAP, false) if h.count == 0 => return Ok(Ok(ColumnData::Nested(vec![]))),
        (T_MIXED | T_ANYMAP, false) => {
            // No real file holds a non-empty one, so where its items' offsets live and what
            // they are relative to is unverified: decoding a guess could misread valid data.
            return unsupported(format!(
                "a nested item that is itself a non-empty list ({} items, type {}); only empty ones are decoded",
                h.count, h.t
            ));
        }
        _ => {}
    }
    let Some(w) = type_width(h.t) else {
        return Ok(Err(ItemFail::Corrupt(format!("unknown item type {}", h.t))));
    };
    let bytes = h
        .count
        .checked_mul(w)
        .and_then(|l| l.checked_add(h.start))
        .and_then(|end| items.get(h.start..end));
    let Some(bytes) = bytes else {
        return Ok(Err(ItemFail::Corrupt(format!(
            "{} values of {w} bytes run past the data end",
            h.count
        ))));
    };
    Ok(decode_simple("", h.t, bytes).map_err(|e| ItemFail::Corrupt(e.to_string())))
}

/// Decode a nested column from its index image (`col`, `rows` entries) and data image
/// (`col#`); `domains` reads the `col##` symbol list, asked for only when a symbol item is
/// met (its argument: the offset in `col#` of that item).
pub fn decode(
    path: &str,
    index: &[u8],
    rows: u64,
    data_path: &str,
    data: &[u8],
    domains: &dyn Fn(u64) -> Result<Vec<String>, KdbError>,
) -> Result<ColumnData, KdbError> {
    let base = VECTOR4K_HEADER as usize;
    let rows = usize::try_from(rows).unwrap_or(usize::MAX);
    let entries = index_entries(path, index, base, rows)?;
    let items = data.get(base..).unwrap_or(&[]);
    let window = ItemWindow { items, start: 0 };
    decode_rows(path, entries, 0, data_path, window, domains).map(ColumnData::Nested)
}

/// The item bytes of `col#` a run of rows needs: `items` holds the items from item offset
/// `start` (offsets relative to byte 4096 of `col#`), so the chunked reader can hand over a
/// bounded slice instead of the whole file.
#[derive(Clone, Copy)]
pub(super) struct ItemWindow<'a> {
    pub items: &'a [u8],
    pub start: u64,
}

/// Rows `first_row..` of a nested column whose 8-byte index `entries` are given, their items
/// read from `window`. Errors name the same rows and offsets as a whole-column decode.
pub(super) fn decode_rows(
    path: &str,
    entries: &[u8],
    first_row: usize,
    data_path: &str,
    window: ItemWindow,
    domains: &dyn Fn(u64) -> Result<Vec<String>, KdbError>,
) -> Result<Vec<ColumnData>, KdbError> {
    let base = VECTOR4K_HEADER as usize;
    let items = window.items;
    let mut out = Vec::with_capacity(entries.len() / 8);
    let mut cache: Option<Vec<String>> = None;
    for (i, e) in entries.chunks_exact(8).enumerate() {
        let row = first_row + i;
        // Low 7 bytes: offset into the items; top byte: item format (1 small, 0 large),
        // which the item's own first byte also tells.
        let off = u64::from_le_bytes([e[0], e[1], e[2], e[3], e[4], e[5], e[6], 0]);
        let at = (base as u64).saturating_add(off);
        // An offset before the window cannot be read from it: past-the-end, as the whole
        // decode would say of an offset it cannot reach (callers retry with every item).
        let off = off
            .checked_sub(window.start)
            .and_then(|o| usize::try_from(o).ok())
            .unwrap_or(usize::MAX);
        match decode_item(items, off, &mut cache, &|| domains(at))? {
            Ok(item) => out.push(item),
            Err(ItemFail::Corrupt(detail)) => {
                return Err(KdbError::corrupt(
                    data_path,
                    at,
                    format!(
                        "row {row} (entry at offset {} of {path}): item at offset {at}: {detail}",
                        base + 8 * row
                    ),
                ))
            }
            Err(ItemFail::Unsupported { bytes, detail }) => {
                return Err(KdbError::unsupported(
                    data_path,
                    at,
                    &bytes,
                    format!("row {row}: {detail}"),
                ))
            }
        }
    }
    Ok(out)
}

/// The `rows` 8-byte entries (end offsets) of a nested column's index file, starting at
/// `base`; an index too short for them is truncated (the check is overflow-safe: a header
/// claiming 2^60 rows fails here, before anything is allocated).
pub(super) fn index_entries<'a>(
    path: &str,
    index: &'a [u8],
    base: usize,
    rows: usize,
) -> Result<&'a [u8], KdbError> {
    rows.checked_mul(8)
        .and_then(|n| n.checked_add(base))
        .and_then(|end| index.get(base..end))
        .ok_or_else(|| {
            KdbError::truncated(
                path,
                index.len() as u64,
                format!(
                    "{rows} entries of 8 bytes from offset {base} but the file holds {} bytes",
                    index.len()
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_domains(_: u64) -> Result<Vec<String>, KdbError> {
        Err(KdbError::corrupt("c##", 0, "missing"))
    }

    fn index(offs: &[u64]) -> Vec<u8> {
        let mut v = vec![0u8; 4096];
        for o in offs {
            v.extend_from_slice(&o.to_le_bytes());
        }
        v
    }

    fn data(items: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 4096];
        v.extend_from_slice(items);
        v
    }

    #[test]
    fn empty_symbol_items_resolve_their_domain() {
        // Two empty symbol items as in sewio-nested-sym/AXSTATE/parents#.
        let d = data(&[0x93, 0, 0, 0, 0, 0, 0x93, 0, 0, 0, 0, 0]);
        let doms = |_| Ok(vec!["sym".to_string()]);
        let got = decode("c", &index(&[0, 6]), 2, "c#", &d, &doms).unwrap();
        let e = ColumnData::Enum {
            domain: "sym".into(),
            indices: vec![],
        };
        assert_eq!(got, ColumnData::Nested(vec![e.clone(), e]));
        assert_eq!(first_item_type(&d[4096..]), Ok(T_SYMBOL));
        // The domain list is needed: without it the item cannot be what kdb+ wrote.
        let err = decode("c", &index(&[0]), 1, "c#", &d, &no_domains).unwrap_err();
        assert!(matches!(err, KdbError::Corrupt { .. }), "{err}");
        // A reference past the domain list.
        let d = data(&[0x93, 0, 1, 0, 0, 0]);
        let err = decode("c", &index(&[0]), 1, "c#", &d, &doms).unwrap_err();
        assert!(matches!(err, KdbError::Corrupt { .. }), "{err}");
        // Non-empty: valid-looking, not decoded.
        let d = data(&[
            0x93, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
        ]);
        let err = decode("c", &index(&[0]), 1, "c#", &d, &doms).unwrap_err();
        assert!(
            matches!(&err, KdbError::Unsupported { offset: 4096, bytes, .. } if bytes.starts_with("93 02")),
            "{err}"
        );
    }

    #[test]
    fn list_items_are_unsupported_unknown_types_corrupt() {
        // A large item of type 0x4d (a nested list inside the item) and a general list.
        for item in [
            vec![0xfb, 0, 0x4d, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
            vec![0x7f, 1, 0x89, 1, b'a'],
        ] {
            let d = data(&item);
            let err = decode("c", &index(&[0]), 1, "c#", &d, &no_domains).unwrap_err();
            assert!(matches!(err, KdbError::Unsupported { .. }), "{err}");
            assert_eq!(first_item_type(&d[4096..]), Ok(T_MIXED));
        }
        let d = data(&[0xfb, 0, 0x30, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let err = decode("c", &index(&[0]), 1, "c#", &d, &no_domains).unwrap_err();
        assert!(matches!(err, KdbError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("item at offset 4096"), "{err}");
        // Byte lists, as sewio's content#: empty small, then large.
        let mut items = vec![0x83, 0, 0, 0, 0, 0, 0, 0];
        items.extend_from_slice(&[0xfb, 0, 4, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7, 8]);
        let got = decode("c", &index(&[0, 8]), 2, "c#", &data(&items), &no_domains).unwrap();
        assert_eq!(
            got,
            ColumnData::Nested(vec![ColumnData::Byte(vec![]), ColumnData::Byte(vec![7, 8])])
        );
    }

    #[test]
    fn empty_list_items_are_empty_lists() {
        // As bitmex-nested's bitmexbook/bids# row 0 (and asks#, with the s# byte 01 at 3),
        // then the small forms of an empty general list (7f 00) and anymap (cc 00).
        let mut items = vec![0xfb, 0, 0x4d, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        items.extend_from_slice(&[0xfb, 0, 0x4d, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        items.extend_from_slice(&[0x7f, 0, 0xcc, 0]);
        // A small float item after them (`88 01` + 44074f, as row 77 of bids#).
        items.extend_from_slice(&[0x88, 1]);
        items.extend_from_slice(&44074f64.to_le_bytes());
        let d = data(&items);
        let got = decode("c", &index(&[0, 16, 32, 34, 36]), 5, "c#", &d, &no_domains).unwrap();
        let empty = ColumnData::Nested(vec![]);
        assert_eq!(
            got,
            ColumnData::Nested(vec![
                empty.clone(),
                empty.clone(),
                empty.clone(),
                empty,
                ColumnData::Float(vec![44074.0])
            ])
        );
        assert_eq!(got.fmt_value(0), "");
        assert_eq!(got.fmt_value(4), "44074");
    }

    #[test]
    fn huge_counts_fail_without_allocating() {
        let mut item = vec![0xfb, 0, 9, 0, 1, 0, 0, 0];
        item.extend_from_slice(&(1i64 << 60).to_le_bytes());
        let err = decode("c", &index(&[0]), 1, "c#", &data(&item), &no_domains).unwrap_err();
        assert!(matches!(err, KdbError::Corrupt { .. }), "{err}");
        let err = decode("c", &index(&[]), 1 << 60, "c#", &data(&[]), &no_domains).unwrap_err();
        assert!(matches!(err, KdbError::Truncated { .. }), "{err}");
    }
}
