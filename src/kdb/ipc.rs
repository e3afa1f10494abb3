//! q serialization (the IPC message body, as `ff 01` files hold it): walking an object to
//! learn its type and row count (header reads) and decoding it (deep reads). Types q has but
//! this reader does not decode (dictionaries, functions, enumerations…) are `Unsupported`;
//! bytes that are no q type at all are `BadType`.

use super::column::{decode_simple, ColumnData};
use super::error::KdbError;
use super::types::*;

/// Deepest nesting of lists inside lists we follow: q objects in column files are shallow,
/// and each level costs stack.
pub const MAX_DEPTH: usize = 64;

/// Why a walk stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Walk {
    /// The bytes end before the object does.
    Short,
    /// A byte that is no q type (or attribute) where one must be.
    Bad { byte: u8, offset: usize },
    /// A q type this reader does not decode, or nesting deeper than [`MAX_DEPTH`].
    Unsupported { offset: usize, detail: String },
}

/// What kind of q object a type byte starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// 0..=19 (not 3): a vector (0: general list).
    Vector,
    /// 20..=76: a vector enumerated against a domain sent by name elsewhere.
    EnumVector,
    /// 77..=97: mapped/nested list types of on-disk data, not IPC objects we decode.
    Mapped,
    Table,
    Dict,
    /// 100..=112: lambdas, primitives, projections, compositions, adverbs.
    Function,
    /// -1..=-19 (not -3).
    Atom,
    /// -20..=-76: an enumerated atom.
    EnumAtom,
    /// -128: an error object.
    Error,
}

fn kind(t: u8) -> Option<Kind> {
    Some(match t {
        3 => return None,
        0..=19 => Kind::Vector,
        20..=76 => Kind::EnumVector,
        77..=97 => Kind::Mapped,
        98 => Kind::Table,
        99 | 127 => Kind::Dict,
        100..=112 => Kind::Function,
        0xfd => return None,
        0xed..=0xff => Kind::Atom,
        0xb4..=0xec => Kind::EnumAtom,
        0x80 => Kind::Error,
        _ => return None,
    })
}

fn get(b: &[u8], at: usize) -> Result<u8, Walk> {
    b.get(at).copied().ok_or(Walk::Short)
}

fn need(b: &[u8], end: usize) -> Result<(), Walk> {
    if end <= b.len() {
        Ok(())
    } else {
        Err(Walk::Short)
    }
}

fn le_i32(b: &[u8], at: usize) -> Result<i32, Walk> {
    let c = b.get(at..at + 4).ok_or(Walk::Short)?;
    Ok(i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

/// A vector's count: a negative count cannot be what q wrote.
fn count_at(b: &[u8], at: usize) -> Result<usize, Walk> {
    let n = le_i32(b, at)?;
    usize::try_from(n).map_err(|_| Walk::Bad {
        byte: b[at + 3],
        offset: at + 3,
    })
}

/// Width of a vector element or atom of (absolute) type `t`, symbols excluded.
fn width(t: u8) -> Option<usize> {
    match t {
        1 | 4 | 10 => Some(1),
        2 => Some(16),
        5 => Some(2),
        6 | 8 | 13 | 14 | 17 | 18 | 19 => Some(4),
        7 | 9 | 12 | 15 | 16 => Some(8),
        _ => None,
    }
}

fn unsupported(t: u8, offset: usize, what: &str) -> Walk {
    Walk::Unsupported {
        offset,
        detail: format!("serialized q {what} (type {})", t as i8),
    }
}

fn too_deep(offset: usize) -> Walk {
    Walk::Unsupported {
        offset,
        detail: format!("serialized lists nested deeper than {MAX_DEPTH}"),
    }
}

/// Type byte, attribute and row count of the object at `at`: a vector's count, a table's
/// row count (its first column's), a dictionary's key count, 1 for an atom or a function.
pub(crate) fn rows(b: &[u8], at: usize) -> Result<(u8, Attr, u64), Walk> {
    rows_at(b, at, 0)
}

fn rows_at(b: &[u8], at: usize, depth: usize) -> Result<(u8, Attr, u64), Walk> {
    // Bytes first: an object that is not there is a truncation, however deep it would be.
    let t = get(b, at)?;
    if depth > MAX_DEPTH {
        return Err(too_deep(at));
    }
    match kind(t) {
        Some(Kind::Vector | Kind::EnumVector) => {
            let a = get(b, at + 1)?;
            let attr = Attr::from_byte(a).ok_or(Walk::Bad {
                byte: a,
                offset: at + 1,
            })?;
            Ok((t, attr, count_at(b, at + 2)? as u64))
        }
        Some(Kind::Table) => {
            if get(b, at + 2)? != 99 {
                return Err(Walk::Bad {
                    byte: b[at + 2],
                    offset: at + 2,
                });
            }
            let vals = skip_at(b, at + 3, depth + 1)?;
            if get(b, vals)? != 0 {
                return Err(Walk::Bad {
                    byte: b[vals],
                    offset: vals,
                });
            }
            let ncols = count_at(b, vals + 2)?;
            let rows = if ncols > 0 {
                rows_at(b, vals + 6, depth + 1)?.2
            } else {
                0
            };
            Ok((98, Attr::None, rows))
        }
        Some(Kind::Dict) => Ok((t, Attr::None, rows_at(b, at + 1, depth + 1)?.2)),
        Some(Kind::Atom | Kind::Function) => Ok((t, Attr::None, 1)),
        Some(Kind::Mapped) => Err(unsupported(t, at, "mapped list")),
        Some(Kind::EnumAtom) => Err(unsupported(t, at, "enumerated atom")),
        Some(Kind::Error) => Err(unsupported(t, at, "error object")),
        None => Err(Walk::Bad {
            byte: t,
            offset: at,
        }),
    }
}

fn nul_end(b: &[u8], from: usize) -> Result<usize, Walk> {
    let z = b
        .get(from..)
        .unwrap_or(&[])
        .iter()
        .position(|&c| c == 0)
        .ok_or(Walk::Short)?;
    Ok(from + z + 1)
}

/// End offset of the object starting at `at`, `depth` lists down.
fn skip_at(b: &[u8], at: usize, depth: usize) -> Result<usize, Walk> {
    // Bytes first: an object that is not there is a truncation, however deep it would be.
    let t = get(b, at)?;
    if depth > MAX_DEPTH {
        return Err(too_deep(at));
    }
    match (kind(t), t) {
        (Some(Kind::Vector), 0) => {
            let n = count_at(b, at + 2)?;
            let mut p = at + 6;
            for _ in 0..n {
                p = skip_at(b, p, depth + 1)?;
            }
            Ok(p)
        }
        (Some(Kind::Vector), T_SYMBOL) => {
            let n = count_at(b, at + 2)?;
            let mut p = at + 6;
            for _ in 0..n {
                p = nul_end(b, p)?;
            }
            Ok(p)
        }
        (Some(Kind::Vector), _) | (Some(Kind::EnumVector), _) => {
            let n = count_at(b, at + 2)?;
            // Enumerated vectors travel as int32 indices.
            let w = width(t).unwrap_or(4);
            let end = n
                .checked_mul(w)
                .and_then(|l| l.checked_add(at + 6))
                .ok_or(Walk::Short)?;
            need(b, end)?;
            Ok(end)
        }
        (Some(Kind::Table), _) => skip_at(b, at + 2, depth + 1),
        (Some(Kind::Dict), _) => {
            let v = skip_at(b, at + 1, depth + 1)?;
            skip_at(b, v, depth + 1)
        }
        (Some(Kind::Atom), 0xf5) => nul_end(b, at + 1),
        (Some(Kind::Atom), _) => {
            let w = width(t.wrapping_neg()).ok_or(Walk::Bad {
                byte: t,
                offset: at,
            })?;
            need(b, at + 1 + w)?;
            Ok(at + 1 + w)
        }
        (Some(Kind::Function), _) => Err(unsupported(t, at, "function")),
        (Some(Kind::Mapped), _) => Err(unsupported(t, at, "mapped list")),
        (Some(Kind::EnumAtom), _) => Err(unsupported(t, at, "enumerated atom")),
        (Some(Kind::Error), _) => Err(unsupported(t, at, "error object")),
        (None, _) => Err(Walk::Bad {
            byte: t,
            offset: at,
        }),
    }
}

/// The error a walk stop means in file `path` (whose bytes are `b`).
pub(crate) fn walk_err(path: &str, b: &[u8], w: Walk) -> KdbError {
    match w {
        Walk::Short => KdbError::truncated(
            path,
            b.len() as u64,
            format!(
                "serialized object ends early: it runs past the end of the {} bytes at offset {}",
                b.len(),
                b.len()
            ),
        ),
        Walk::Bad { byte, offset } => KdbError::BadType {
            path: path.into(),
            byte,
            offset: offset as u64,
            expected: "a q object type (-19..=19 but not ±3, 20..=112, 127) and attribute 0..=4",
        },
        Walk::Unsupported { offset, detail } => KdbError::unsupported(
            path,
            offset as u64,
            &b[offset.min(b.len())..b.len().min(offset + 8)],
            detail,
        ),
    }
}

/// Offset of item `k` of the general list at `list` (already decoded, so walkable).
fn nth_item(b: &[u8], list: usize, k: usize, depth: usize) -> Result<usize, Walk> {
    let mut p = list + 6;
    for _ in 0..k {
        p = skip_at(b, p, depth + 1)?;
    }
    Ok(p)
}

/// Decode the object at `at`; returns the value and its end offset. Atoms decode to
/// one-element vectors, general lists to `Nested`, tables to `Table`.
pub fn decode(path: &str, b: &[u8], at: usize) -> Result<(ColumnData, usize), KdbError> {
    decode_at(path, b, at, 0)
}

fn decode_at(
    path: &str,
    b: &[u8],
    at: usize,
    depth: usize,
) -> Result<(ColumnData, usize), KdbError> {
    let err = |w: Walk| walk_err(path, b, w);
    let t = get(b, at).map_err(err)?;
    if depth > MAX_DEPTH {
        return Err(err(too_deep(at)));
    }
    match (kind(t), t) {
        (Some(Kind::Vector), 0) => {
            let n = count_at(b, at + 2).map_err(err)?;
            let mut p = at + 6;
            // Each item takes at least one byte: the capacity is bounded by the bytes.
            let mut items = Vec::with_capacity(n.min(b.len().saturating_sub(p)));
            for _ in 0..n {
                let (d, e) = decode_at(path, b, p, depth + 1)?;
                items.push(d);
                p = e;
            }
            Ok((ColumnData::Nested(items), p))
        }
        (Some(Kind::Vector), T_SYMBOL) => {
            let end = skip_at(b, at, depth).map_err(err)?;
            let syms = b[at + 6..end]
                .split(|&c| c == 0)
                .take(count_at(b, at + 2).map_err(err)?)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect();
            Ok((ColumnData::Symbol(syms), end))
        }
        (Some(Kind::Vector), _) => {
            let attr = get(b, at + 1).map_err(err)?;
            if Attr::from_byte(attr).is_none() {
                return Err(err(Walk::Bad {
                    byte: attr,
                    offset: at + 1,
                }));
            }
            let end = skip_at(b, at, depth).map_err(err)?;
            Ok((decode_simple(path, t, &b[at + 6..end])?, end))
        }
        (Some(Kind::Table), _) => {
            if get(b, at + 2).map_err(err)? != 99 {
                return Err(err(Walk::Bad {
                    byte: b[at + 2],
                    offset: at + 2,
                }));
            }
            let (keys, p) = decode_at(path, b, at + 3, depth + 1)?;
            let (vals, end) = decode_at(path, b, p, depth + 1)?;
            match (keys, vals) {
                (ColumnData::Symbol(names), ColumnData::Nested(columns))
                    if names.len() == columns.len() =>
                {
                    // q never writes a table whose columns differ in length; every reader
                    // after this one (row counts, slices, rendering) relies on it.
                    if let Some(k) = columns.iter().position(|c| c.len() != columns[0].len()) {
                        let off = nth_item(b, p, k, depth + 1).unwrap_or(p);
                        return Err(KdbError::corrupt(
                            path,
                            off as u64,
                            format!(
                                "the table at offset {at}: column {k} ({:?}, at offset {off}) has {} rows, column 0 ({:?}) has {}: a table's columns are all as long",
                                names[k],
                                columns[k].len(),
                                names[0],
                                columns[0].len()
                            ),
                        ));
                    }
                    Ok((ColumnData::Table { names, columns }, end))
                }
                _ => Err(KdbError::corrupt(
                    path,
                    at as u64,
                    format!("the table at offset {at} is not a dict of symbol names to a list of as many columns"),
                )),
            }
        }
        (Some(Kind::Atom), 0xf5) => {
            let end = nul_end(b, at + 1).map_err(err)?;
            let s = String::from_utf8_lossy(&b[at + 1..end - 1]).into_owned();
            Ok((ColumnData::Symbol(vec![s]), end))
        }
        (Some(Kind::Atom), _) => {
            let end = skip_at(b, at, depth).map_err(err)?;
            Ok((decode_simple(path, t.wrapping_neg(), &b[at + 1..end])?, end))
        }
        (Some(Kind::EnumVector), _) => Err(err(unsupported(t, at, "enumerated vector"))),
        (Some(Kind::Dict), _) => Err(err(unsupported(t, at, "dictionary or keyed table"))),
        (Some(Kind::Function), _) => Err(err(unsupported(t, at, "function"))),
        (Some(Kind::Mapped), _) => Err(err(unsupported(t, at, "mapped list"))),
        (Some(Kind::EnumAtom), _) => Err(err(unsupported(t, at, "enumerated atom"))),
        (Some(Kind::Error), _) => Err(err(unsupported(t, at, "error object"))),
        (None, _) => Err(err(Walk::Bad {
            byte: t,
            offset: at,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_types() {
        // A dictionary, a lambda, an enumerated atom: q objects we do not decode.
        for b in [
            vec![99, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            vec![100, 0, 10, 0, 3, 0, 0, 0, b'{', b'1', b'}'],
            vec![0xec, 0, 0, 0, 0],
        ] {
            let e = decode("t", &b, 0).unwrap_err();
            assert!(
                matches!(e, KdbError::Unsupported { offset: 0, .. }),
                "{b:?}: {e}"
            );
        }
        // No q type at all.
        for b in [vec![3u8, 0, 0, 0, 0, 0], vec![0x71, 0], vec![0xfd, 0]] {
            let e = decode("t", &b, 0).unwrap_err();
            assert!(matches!(e, KdbError::BadType { offset: 0, .. }), "{e}");
        }
        // A negative count, a bad attribute.
        let e = decode("t", &[7, 0, 0xff, 0xff, 0xff, 0xff], 0).unwrap_err();
        assert!(matches!(e, KdbError::BadType { offset: 5, .. }), "{e}");
        let e = decode("t", &[7, 9, 0, 0, 0, 0], 0).unwrap_err();
        assert!(matches!(e, KdbError::BadType { offset: 1, .. }), "{e}");
        // Header facts of a lambda and an atom.
        assert_eq!(rows(&[100, 0, 10, 0], 0), Ok((100, Attr::None, 1)));
        assert_eq!(rows(&[0xf4, 0, 0], 0), Ok((0xf4, Attr::None, 1)));
    }

    /// Found by fuzz/ (target `ipc`, minimized): a table whose 18 columns are not all as
    /// long decoded as a table, and rendering its rows (verify) then indexed past a short
    /// column and panicked.
    #[test]
    fn a_table_with_columns_of_unequal_length_is_corrupt() {
        let b = [
            0x62, 0x00, 0x63, 0x0b, 0x00, 0x12, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x12, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0x00, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff,
        ];
        let e = decode("t", &b, 0).unwrap_err();
        assert!(matches!(e, KdbError::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains("rows, column 0"), "{e}");
        // Built by hand: names a, b; a holds one long, b none.
        let mut t = vec![
            98, 0, 99, 11, 0, 2, 0, 0, 0, b'a', 0, b'b', 0, 0, 0, 2, 0, 0, 0,
        ];
        t.extend_from_slice(&[7, 0, 1, 0, 0, 0]);
        t.extend_from_slice(&5i64.to_le_bytes());
        t.extend_from_slice(&[7, 0, 0, 0, 0, 0]);
        let e = decode("t", &t, 0).unwrap_err();
        assert_eq!(e.offset(), 33, "{e}");
        // Both empty: a table.
        t.truncate(19);
        t.extend_from_slice(&[7, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0]);
        assert!(matches!(
            decode("t", &t, 0),
            Ok((ColumnData::Table { .. }, 31))
        ));
    }

    /// Found by fuzz/ (target `column`, four inputs of 4 to 6 KiB): one-item general lists
    /// nested past the depth limit, the file ending where the next object should start, were
    /// called an unsupported variant at the end offset, naming no bytes; they are a truncation.
    #[test]
    fn lists_nested_too_deep_that_end_early_are_truncated() {
        let mut f = vec![0xff, 0x01];
        for _ in 0..=MAX_DEPTH {
            f.extend_from_slice(&[0, 0, 1, 0, 0, 0]);
        }
        let e = decode("t", &f, 2).unwrap_err();
        assert!(matches!(e, KdbError::Truncated { .. }), "{e}");
        // One more byte: the object is there, and too deep.
        f.push(0);
        let e = decode("t", &f, 2).unwrap_err();
        assert!(
            matches!(&e, KdbError::Unsupported { bytes, .. } if bytes == "00"),
            "{e}"
        );
    }

    #[test]
    fn empty_general_list_and_atoms() {
        let (d, end) = decode("t", &[0, 0, 0, 0, 0, 0], 0).unwrap();
        assert_eq!((d, end), (ColumnData::Nested(vec![]), 6));
        let (d, _) = decode("t", &[0xf9, 5, 0, 0, 0, 0, 0, 0, 0], 0).unwrap();
        assert_eq!(d, ColumnData::Long(vec![5]));
    }

    #[test]
    fn deep_nesting_and_huge_counts_are_errors_not_crashes() {
        // 10 000 one-item general lists inside each other.
        let mut b = Vec::new();
        for _ in 0..10_000 {
            b.extend_from_slice(&[0, 0, 1, 0, 0, 0]);
        }
        let e = decode("t", &b, 0).unwrap_err();
        assert!(matches!(e, KdbError::Unsupported { .. }), "{e}");
        assert!(skip_at(&b, 0, 0).is_err());
        let dicts = vec![99u8; 100_000];
        assert!(rows(&dicts, 0).is_err());
        // A general list claiming 2^31-1 items in 6 bytes.
        let e = decode("t", &[0, 0, 0xff, 0xff, 0xff, 0x7f], 0).unwrap_err();
        assert!(matches!(e, KdbError::Truncated { .. }), "{e}");
        let e = decode("t", &[9, 0, 0xff, 0xff, 0xff, 0x7f], 0).unwrap_err();
        assert!(matches!(e, KdbError::Truncated { .. }), "{e}");
    }
}
