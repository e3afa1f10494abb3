//! Header reads: learn a file's kind, type, attribute, enum domain and row count from its
//! first 4 KiB (for `kxzipped` files: the trailer and the first block), applying the count
//! rules of docs/kdb-format.md and rejecting truncated or malformed files.

use super::error::KdbError;
use super::ipc::Walk;
use super::source::{read_all, LocalFile, ReadAt};
use super::types::*;
use super::unzip::{
    decompress_all, decompress_block, read_compressed_trailer, MAGIC_ENCRYPTED, MAGIC_ZIPPED,
};
use std::path::Path;

/// Bytes a header read looks at.
pub const HEADER_READ: usize = 4096;
/// Header length of a `fe 20` vector.
pub const VECTOR_HEADER: u64 = 16;
/// Header length of a `fd 20` vector.
pub const VECTOR4K_HEADER: u64 = 4096;
/// Header length of a kdb+ 3.x enumeration (`fe` + domain name).
pub const ENUM3X_HEADER: u64 = 24;
/// Width of one kdb+ 3.x enumeration index (int32).
pub const ENUM3X_WIDTH: usize = 4;
/// Bytes an item-type read of a nested data file (`col#`) looks at: the 4 KiB header and the
/// largest item header (16 bytes).
pub const NESTED_HEAD: usize = VECTOR4K_HEADER as usize + 16;
/// Offset of the inner header in a `fd 20` file.
const INNER: usize = 4080;

/// Header of the file at `path`: one open, one `fstat`, one `pread` of at most 4 KiB
/// (compressed files: plus the trailer and the first block).
pub fn read_header(path: &Path) -> Result<Header, KdbError> {
    read_header_from(&LocalFile::open(path)?)
}

/// Header of any byte source (local file, memory, object store).
pub fn read_header_from(src: &dyn ReadAt) -> Result<Header, KdbError> {
    let len = src.len()?;
    let mut buf = [0u8; HEADER_READ];
    let n = len.min(HEADER_READ as u64) as usize;
    src.read_at(0, &mut buf[..n])?;
    let head = &buf[..n];
    if head.len() >= 8 && &head[..8] == MAGIC_ENCRYPTED {
        return Err(KdbError::Encrypted {
            path: src.path().into(),
        });
    }
    if head.len() >= 8 && &head[..8] == MAGIC_ZIPPED {
        return compressed_header(src);
    }
    match parse_header(src.path(), head, len) {
        Err(Parse::NeedAll) => {
            let all = read_all(src)?;
            finish(parse_header(src.path(), &all, len), src.path(), len)
        }
        r => finish(r, src.path(), len),
    }
}

/// Length of the uncompressed image of `src` (the trailer's for a `kxzipped` file) and the
/// compression facts.
pub fn image_len(src: &dyn ReadAt) -> Result<(u64, Option<Box<Compression>>), KdbError> {
    let len = src.len()?;
    let mut head = [0u8; 8];
    let n = len.min(8) as usize;
    src.read_at(0, &mut head[..n])?;
    if n == 8 && &head == MAGIC_ENCRYPTED {
        return Err(KdbError::Encrypted {
            path: src.path().into(),
        });
    }
    if n == 8 && &head == MAGIC_ZIPPED {
        let t = read_compressed_trailer(src)?;
        return Ok((
            t.compression.uncompressed_len,
            Some(Box::new(t.compression)),
        ));
    }
    Ok((len, None))
}

fn compressed_header(src: &dyn ReadAt) -> Result<Header, KdbError> {
    let t = read_compressed_trailer(src)?;
    let total = t.compression.uncompressed_len;
    if t.blocks.is_empty() {
        return Err(KdbError::truncated(
            src.path(),
            0,
            "kxzipped file with 0 bytes uncompressed".to_string(),
        ));
    }
    let first = decompress_block(src, &t, 0)?;
    let head = &first[..first.len().min(HEADER_READ)];
    let r = match parse_header(src.path(), head, total) {
        // A serialized object, or a header spanning blocks (tiny block size): use the whole
        // first block, or everything when it is not the whole image.
        Err(Parse::NeedAll) | Err(Parse::Short) => {
            if first.len() as u64 == total {
                parse_header(src.path(), &first, total)
            } else {
                let all = decompress_all(src)?;
                parse_header(src.path(), &all, total)
            }
        }
        r => r,
    };
    let mut h = finish(r, src.path(), total)?;
    h.compression = Some(Box::new(t.compression));
    Ok(h)
}

/// Header of a complete (already decompressed) file image.
pub fn parse_header_image(path: &str, image: &[u8]) -> Result<Header, KdbError> {
    let len = image.len() as u64;
    let head = &image[..image.len().min(HEADER_READ)];
    match parse_header(path, head, len) {
        Err(Parse::NeedAll) => finish(parse_header(path, image, len), path, len),
        r => finish(r, path, len),
    }
}

/// Where the values start in the (uncompressed) image of a file with header `h`.
pub fn data_offset(h: &Header) -> u64 {
    match h.format {
        FileFormat::SymbolList => 8,
        FileFormat::Serialized => 2,
        FileFormat::Vector => VECTOR_HEADER,
        FileFormat::Vector4k => VECTOR4K_HEADER,
        FileFormat::Enum3x => ENUM3X_HEADER,
        FileFormat::Compound => VECTOR_HEADER,
        FileFormat::CompoundData => 0,
    }
}

/// Header of a nested column's data file (`col#`) given the header of its column file: a
/// 3.x compound column's `col#` has no header of its own (raw items), so it is read as
/// `CompoundData` of the column's item type; any other `col#` has its own header.
pub fn read_data_header_from(src: &dyn ReadAt, column: &Header) -> Result<Header, KdbError> {
    match (column.format, column.item_type) {
        (FileFormat::Compound, Some(item)) => super::compound::data_header(src, item),
        _ => read_header_from(src),
    }
}

/// Item type of the first item in a nested column's data file (`col#`); `None` when the
/// column holds no items. Enumerated symbol items report `T_SYMBOL`; an item that is itself
/// a list reports `T_MIXED` (configured as `mixed`).
pub fn nested_item_type(data_file: &Path) -> Result<Option<u8>, KdbError> {
    nested_item_type_from(&LocalFile::open(data_file)?)
}

/// [`nested_item_type`] over any byte source.
pub fn nested_item_type_from(src: &dyn ReadAt) -> Result<Option<u8>, KdbError> {
    const WANT: usize = NESTED_HEAD;
    let path = src.path();
    let len = src.len()?;
    let mut head = [0u8; 8];
    src.read_at(0, &mut head[..len.min(8) as usize])?;
    let (image, total): (Vec<u8>, u64) = if len >= 8 && &head == MAGIC_ZIPPED {
        let t = read_compressed_trailer(src)?;
        let total = t.compression.uncompressed_len;
        let first = if t.blocks.is_empty() {
            Vec::new()
        } else {
            decompress_block(src, &t, 0)?
        };
        if (first.len() as u64) < total.min(WANT as u64) {
            (decompress_all(src)?, total)
        } else {
            (first, total)
        }
    } else {
        let n = len.min(WANT as u64) as usize;
        let mut v = vec![0u8; n];
        src.read_at(0, &mut v)?;
        (v, len)
    };
    let h = match parse_header(path, &image[..image.len().min(HEADER_READ)], total) {
        Ok(h) => h,
        Err(e) => return finish(Err(e), path, total).map(|_| None),
    };
    if h.format != FileFormat::Vector4k || h.value_type != T_BYTE {
        return Err(KdbError::BadType {
            path: path.into(),
            byte: h.value_type,
            offset: INNER as u64 + 2,
            expected: "a nested data file (fd 20 with inner header fd 00 04)",
        });
    }
    if total <= VECTOR4K_HEADER {
        return Ok(None);
    }
    let at = VECTOR4K_HEADER as usize;
    let items = image.get(at..).unwrap_or(&[]);
    super::nested::first_item_type(items)
        .map(Some)
        .map_err(|(byte, expected)| KdbError::BadType {
            path: path.into(),
            byte,
            offset: at as u64,
            expected,
        })
}

/// The schema-level type of a column: nested columns are lists of their item type (named by
/// the header for a 3.x compound column, else `nested_item` from [`nested_item_type`]), enums
/// are symbols.
pub fn logical_type(h: &Header, nested_item: Option<u8>) -> LogicalType {
    if h.nested {
        let item = h.item_type.or(nested_item).map(|t| match t {
            T_ENUM => T_SYMBOL,
            t => t,
        });
        return LogicalType::List(item);
    }
    match h.value_type {
        T_ENUM | T_SYMBOL => LogicalType::Simple(T_SYMBOL),
        t => LogicalType::Simple(t),
    }
}

/// Why parsing stopped short of a header.
pub(crate) enum Parse {
    Err(KdbError),
    /// The bytes given end before the header does (final if they are the whole file).
    Short,
    /// A serialized object whose row count lies beyond the bytes read.
    NeedAll,
}

impl From<KdbError> for Parse {
    fn from(e: KdbError) -> Self {
        Parse::Err(e)
    }
}

fn finish(r: Result<Header, Parse>, path: &str, total: u64) -> Result<Header, KdbError> {
    match r {
        Ok(h) => Ok(h),
        Err(Parse::Err(e)) => Err(e),
        Err(Parse::Short) | Err(Parse::NeedAll) => Err(KdbError::truncated(
            path,
            total,
            format!("the file holds {total} bytes, fewer than its header needs"),
        )),
    }
}

/// Parse a header from `head` (the first bytes of the uncompressed image) given the image's
/// total length.
pub(crate) fn parse_header(path: &str, head: &[u8], total: u64) -> Result<Header, Parse> {
    if head.len() < 2 {
        return Err(KdbError::truncated(
            path,
            total,
            format!("the file holds {total} bytes; a kdb+ file has at least a 2-byte header"),
        )
        .into());
    }
    let complete = head.len() as u64 == total;
    match (head[0], head[1]) {
        (0xff, 0x01) => serialized(path, head, total, complete),
        (0xfe, 0x20) => vector(path, head, total),
        (0xfd, 0x20) => vector4k(path, head, total),
        (0xfe, b) if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' => {
            enum3x(path, head, total)
        }
        (b0, b1) => Err(KdbError::UnknownMagic {
            path: path.into(),
            b0,
            b1,
        }
        .into()),
    }
}

fn attr_at(path: &str, head: &[u8], at: usize) -> Result<Attr, KdbError> {
    Attr::from_byte(head[at]).ok_or(KdbError::BadAttr {
        path: path.into(),
        byte: head[at],
        offset: at as u64,
    })
}

fn le_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_le_bytes(a)
}

fn le_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_le_bytes(a)
}

/// Simple types that may be stored as a vector file.
fn is_vector_type(t: u8) -> bool {
    type_width(t).is_some() && t != T_ENUM
}

/// The count rules: with `u#`/`p#`/`g#` index data follows the values, so the header count
/// is the row count; otherwise the file size is (header counts are often 0 or stale).
pub(crate) fn derive_count(
    path: &str,
    total: u64,
    header_len: u64,
    width: usize,
    attr: Attr,
    header_count: i64,
) -> Result<u64, KdbError> {
    let w = width as u64;
    // Every header ends with its int64 count.
    let count_at = header_len - 8;
    if total < header_len {
        return Err(KdbError::truncated(
            path,
            total,
            format!("the header needs {header_len} bytes but the file holds {total} bytes"),
        ));
    }
    if header_count < 0 {
        return Err(KdbError::corrupt(
            path,
            count_at,
            format!("negative row count {header_count} in the header"),
        ));
    }
    let payload = total - header_len;
    let hc = header_count as u64;
    let over = hc.checked_mul(w).is_none_or(|b| b > payload);
    if (attr.has_index_data() || hc > 0) && over {
        return Err(KdbError::truncated(
            path,
            total,
            format!(
                "header says {hc} rows of {w} bytes but the file holds {total} bytes ({header_len}-byte header)"
            ),
        ));
    }
    if attr.has_index_data() {
        return Ok(hc);
    }
    if payload % w != 0 {
        return Err(KdbError::truncated(
            path,
            total - payload % w,
            format!(
                "{payload} data bytes after the {header_len}-byte header are not a whole number of {w}-byte values"
            ),
        ));
    }
    Ok(payload / w)
}

fn vector(path: &str, head: &[u8], total: u64) -> Result<Header, Parse> {
    if head.len() < VECTOR_HEADER as usize {
        return Err(short_header(path, total, VECTOR_HEADER));
    }
    let t = head[2];
    if let Some(item) = super::compound::item_type_of(t) {
        let attr = attr_at(path, head, 3)?;
        return Ok(super::compound::index_header(
            path,
            item,
            attr,
            le_i64(head, 8),
            total,
        )?);
    }
    if !is_vector_type(t) {
        return Err(KdbError::BadType {
            path: path.into(),
            byte: t,
            offset: 2,
            expected: "a simple vector type (1, 2, 4..=10, 12..=19) or a compound type (78..=96)",
        }
        .into());
    }
    let attr = attr_at(path, head, 3)?;
    let width = type_width(t).unwrap_or(1);
    let count = derive_count(path, total, VECTOR_HEADER, width, attr, le_i64(head, 8))?;
    Ok(Header {
        format: FileFormat::Vector,
        value_type: t,
        attr,
        count,
        domain: None,
        nested: false,
        item_type: None,
        compression: None,
    })
}

fn short_header(path: &str, total: u64, need: u64) -> Parse {
    if total < need {
        Parse::Err(KdbError::truncated(
            path,
            total,
            format!("the header needs {need} bytes but the file holds {total} bytes"),
        ))
    } else {
        Parse::Short
    }
}

fn vector4k(path: &str, head: &[u8], total: u64) -> Result<Header, Parse> {
    if head.len() < VECTOR4K_HEADER as usize {
        return Err(short_header(path, total, VECTOR4K_HEADER));
    }
    let name = &head[16..INNER];
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    let domain = (end > 0).then(|| String::from_utf8_lossy(&name[..end]).into_owned());
    if head[INNER] != 0xfd {
        return Err(KdbError::corrupt(
            path,
            INNER as u64,
            format!(
                "inner header at {INNER}: expected byte fd, found {:02x}",
                head[INNER]
            ),
        )
        .into());
    }
    let (flag, t) = (head[INNER + 1], head[INNER + 2]);
    let attr = attr_at(path, head, INNER + 3)?;
    let hcount = le_i64(head, INNER + 8);
    let (value_type, width, nested) = match (flag, t) {
        (1, T_ANYMAP) => (T_MIXED, 8, true),
        (0, T_ENUM) => {
            if domain.is_none() {
                return Err(KdbError::corrupt(
                    path,
                    16,
                    "enum column (type 20) without a domain name at bytes 16..4080",
                )
                .into());
            }
            (T_ENUM, 8, false)
        }
        (0, t) if is_vector_type(t) => (t, type_width(t).unwrap_or(1), false),
        // q types that a 4 KiB header could plausibly carry but that we have never seen
        // there: a nested index of another map type, or a mapped list type with flag 0.
        (1, 77..=97) | (0, 77..=97) | (0, T_MIXED) => {
            return Err(KdbError::unsupported(
                path,
                INNER as u64,
                &head[INNER..INNER + 4],
                format!("4 KiB-header file with flag {flag} and type {t}"),
            )
            .into())
        }
        _ => {
            return Err(KdbError::BadType {
                path: path.into(),
                byte: t,
                offset: INNER as u64 + 2,
                expected: "flag 0 with a vector or enum type, or flag 1 with type 0x4d",
            }
            .into())
        }
    };
    let count = derive_count(path, total, VECTOR4K_HEADER, width, attr, hcount)?;
    Ok(Header {
        format: FileFormat::Vector4k,
        value_type,
        attr,
        count,
        domain: if value_type == T_ENUM { domain } else { None },
        nested,
        item_type: None,
        compression: None,
    })
}

fn enum3x(path: &str, head: &[u8], total: u64) -> Result<Header, Parse> {
    if head.len() < ENUM3X_HEADER as usize {
        return Err(short_header(path, total, ENUM3X_HEADER));
    }
    let name = &head[1..8];
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    let domain = String::from_utf8_lossy(&name[..end]).into_owned();
    let attr = attr_at(path, head, 11)?;
    let count = derive_count(
        path,
        total,
        ENUM3X_HEADER,
        ENUM3X_WIDTH,
        attr,
        le_i64(head, 16),
    )?;
    Ok(Header {
        format: FileFormat::Enum3x,
        value_type: T_ENUM,
        attr,
        count,
        domain: Some(domain),
        nested: false,
        item_type: None,
        compression: None,
    })
}

/// `ff 01`: a symbol list counts its NULs when the whole file was read (the header count
/// may be 0 or stale); a longer one (the big `sym`) reports the header count as stored.
/// Other objects: the row count of the serialized object (table: its first column).
fn serialized(path: &str, head: &[u8], total: u64, complete: bool) -> Result<Header, Parse> {
    if head.len() < 8 && !(complete && head.len() >= 3 && head[2] >= 0x80) {
        return Err(short_header(path, total, 8));
    }
    let t = head[2];
    if t == T_SYMBOL {
        let attr = attr_at(path, head, 3)?;
        let count = if complete {
            let body = &head[8..];
            if !body.is_empty() && body[body.len() - 1] != 0 {
                return Err(super::symbols::cut_in_a_symbol(path, head).into());
            }
            body.iter().filter(|&&b| b == 0).count() as u64
        } else {
            le_i32(head, 4).max(0) as u64
        };
        return Ok(Header {
            format: FileFormat::SymbolList,
            value_type: T_SYMBOL,
            attr,
            count,
            domain: None,
            nested: false,
            item_type: None,
            compression: None,
        });
    }
    let (ty, attr, count) = match super::ipc::rows(head, 2) {
        Ok(r) => r,
        Err(Walk::Short) if complete => {
            return Err(KdbError::truncated(
                path,
                total,
                format!("serialized object ends early: the file holds {total} bytes"),
            )
            .into())
        }
        Err(Walk::Short) => return Err(Parse::NeedAll),
        Err(w) => return Err(super::ipc::walk_err(path, head, w).into()),
    };
    Ok(Header {
        format: FileFormat::Serialized,
        value_type: ty,
        attr,
        count,
        domain: None,
        nested: false,
        item_type: None,
        compression: None,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kdb::source::MemSource;
    use crate::kdb::unzip::tests::zip_with;

    pub(crate) fn fe20(t: u8, attr: u8, count: i64, data: &[u8]) -> Vec<u8> {
        let mut v = vec![0xfe, 0x20, t, attr, 0, 0, 0, 0];
        v.extend_from_slice(&count.to_le_bytes());
        v.extend_from_slice(data);
        v
    }

    pub(crate) fn fd20(
        domain: &str,
        flag: u8,
        t: u8,
        attr: u8,
        count: i64,
        data: &[u8],
    ) -> Vec<u8> {
        let mut v = vec![0u8; 4096];
        v[0] = 0xfd;
        v[1] = 0x20;
        v[16..16 + domain.len()].copy_from_slice(domain.as_bytes());
        v[4080..4084].copy_from_slice(&[0xfd, flag, t, attr]);
        v[4088..4096].copy_from_slice(&count.to_le_bytes());
        v.extend_from_slice(data);
        v
    }

    fn hdr(bytes: Vec<u8>) -> Result<Header, KdbError> {
        read_header_from(&MemSource::new("t", bytes))
    }

    fn longs(v: &[i64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn plain_vector_counts_from_size() {
        let h = hdr(fe20(T_LONG, 0, 0, &longs(&[1, 2, 3]))).unwrap();
        assert_eq!(h.format, FileFormat::Vector);
        assert_eq!(h.value_type, T_LONG);
        assert_eq!(h.count, 3);
        assert_eq!(h.attr, Attr::None);
        // A stale smaller header count is overruled by the size; s# too.
        assert_eq!(hdr(fe20(T_LONG, 1, 1, &longs(&[1, 2]))).unwrap().count, 2);
    }

    #[test]
    fn attributed_vector_counts_from_header() {
        // g#: 2 rows then index bytes.
        let mut data = longs(&[5, 6]);
        data.extend_from_slice(&[9u8; 40]);
        let h = hdr(fe20(T_LONG, 4, 2, &data)).unwrap();
        assert_eq!((h.count, h.attr), (2, Attr::Grouped));
    }

    #[test]
    fn truncated_vectors_are_errors() {
        let e = hdr(fe20(T_LONG, 0, 1718, &[0u8; 8984])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t: truncated at offset 9000: header says 1718 rows of 8 bytes but the file holds 9000 bytes (16-byte header)"
        );
        let e = hdr(fe20(T_LONG, 0, 0, &[0u8; 13])).unwrap_err();
        assert!(matches!(e, KdbError::Truncated { .. }), "{e}");
        let e = hdr(fe20(T_LONG, 2, 5, &longs(&[1]))).unwrap_err();
        assert!(matches!(e, KdbError::Truncated { .. }), "{e}");
        let e = hdr(vec![0xfe, 0x20, 7, 0, 0]).unwrap_err();
        assert!(matches!(e, KdbError::Truncated { .. }), "{e}");
        let e = hdr(vec![0xfe]).unwrap_err();
        assert!(matches!(e, KdbError::Truncated { .. }), "{e}");
    }

    #[test]
    fn bad_magic_type_attr() {
        let e = hdr(vec![0x12, 0x34, 0, 0]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t: unknown file header bytes 12 34 at offset 0"
        );
        let e = hdr(fe20(3, 0, 0, &[])).unwrap_err();
        assert!(
            matches!(
                e,
                KdbError::BadType {
                    byte: 3,
                    offset: 2,
                    ..
                }
            ),
            "{e}"
        );
        let e = hdr(fe20(T_SYMBOL, 0, 0, &[])).unwrap_err();
        assert!(matches!(e, KdbError::BadType { .. }), "{e}");
        let e = hdr(fe20(T_LONG, 7, 0, &[])).unwrap_err();
        assert!(
            matches!(
                e,
                KdbError::BadAttr {
                    byte: 7,
                    offset: 3,
                    ..
                }
            ),
            "{e}"
        );
        let e = hdr(fd20("sym", 0, T_ENUM, 9, 0, &[])).unwrap_err();
        assert!(matches!(e, KdbError::BadAttr { offset: 4083, .. }), "{e}");
        let e = hdr(fd20("", 2, T_LONG, 0, 0, &[])).unwrap_err();
        assert!(matches!(e, KdbError::BadType { .. }), "{e}");
        // A map type where we have only seen 0x4d: plausible, not decoded, not corrupt.
        let e = hdr(fd20("", 1, 0x56, 0, 0, &[])).unwrap_err();
        assert!(
            matches!(e, KdbError::Unsupported { offset: 4080, .. }),
            "{e}"
        );
        // A negative header count sits at the end of the header.
        let e = hdr(fe20(T_LONG, 0, -1, &[])).unwrap_err();
        assert!(matches!(e, KdbError::Corrupt { offset: 8, .. }), "{e}");
    }

    #[test]
    fn enum_4k_header() {
        let h = hdr(fd20("sym_ORD", 0, T_ENUM, 0, 0, &longs(&[0, 1, 0, 2]))).unwrap();
        assert_eq!(h.format, FileFormat::Vector4k);
        assert_eq!((h.value_type, h.count), (T_ENUM, 4));
        assert_eq!(h.domain.as_deref(), Some("sym_ORD"));
        assert_eq!(logical_type(&h, None), LogicalType::Simple(T_SYMBOL));
        // p# with index data after the values: header count wins.
        let mut d = longs(&[0, 0, 1]);
        d.extend_from_slice(&[1u8; 72]);
        let h = hdr(fd20("sym", 0, T_ENUM, 3, 3, &d)).unwrap();
        assert_eq!((h.count, h.attr), (3, Attr::Parted));
        let e = hdr(fd20("", 0, T_ENUM, 0, 0, &[])).unwrap_err();
        assert!(matches!(e, KdbError::Corrupt { .. }), "{e}");
        let e = hdr(vec![0xfd, 0x20, 0, 0]).unwrap_err();
        assert!(e.to_string().contains("needs 4096 bytes"), "{e}");
    }

    #[test]
    fn nested_index_and_data() {
        let h = hdr(fd20("", 1, T_ANYMAP, 0, 0, &[0u8; 24])).unwrap();
        assert!(h.nested);
        assert_eq!((h.value_type, h.count), (T_MIXED, 3));
        assert_eq!(logical_type(&h, Some(T_CHAR)).config_name(), "string");
        let data = fd20("", 0, T_BYTE, 0, 0, &[0x89, 2, b'a', b'a', 0x75, b'b']);
        let h = hdr(data.clone()).unwrap();
        assert_eq!((h.value_type, h.count, h.nested), (T_BYTE, 6, false));
        let src = MemSource::new("d#", data);
        assert_eq!(nested_item_type_from(&src).unwrap(), Some(T_CHAR));
        // atom first (0x78 = long atom), large item first (fb 00 type).
        let src = MemSource::new(
            "d#",
            fd20("", 0, T_BYTE, 0, 0, &[0x78, 4, 0, 0, 0, 0, 0, 0, 0]),
        );
        assert_eq!(nested_item_type_from(&src).unwrap(), Some(T_LONG));
        let src = MemSource::new(
            "d#",
            fd20("", 0, T_BYTE, 0, 0, &[0xfb, 0, 9, 0, 1, 0, 0, 0]),
        );
        assert_eq!(nested_item_type_from(&src).unwrap(), Some(T_FLOAT));
        let src = MemSource::new("d#", fd20("", 0, T_BYTE, 0, 0, &[]));
        assert_eq!(nested_item_type_from(&src).unwrap(), None);
        let src = MemSource::new("d#", fd20("", 0, T_LONG, 0, 0, &[]));
        assert!(nested_item_type_from(&src).is_err());
        // compressed data file
        let z = zip_with(2, 4096, &fd20("", 0, T_BYTE, 0, 0, &[0x89, 1, b'z']));
        assert_eq!(
            nested_item_type_from(&MemSource::new("z#", z)).unwrap(),
            Some(T_CHAR)
        );
    }

    #[test]
    fn data_header_follows_the_column_kind() {
        let floats: Vec<u8> = [1.0f64, 2.0, 3.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let col = hdr(fe20(86, 0, 1, &3i64.to_le_bytes())).unwrap();
        let d = read_data_header_from(&MemSource::new("c#", floats.clone()), &col).unwrap();
        assert_eq!(
            (d.format, d.value_type, d.count),
            (FileFormat::CompoundData, 9, 3)
        );
        // The same bytes beside a 4.x nested column must carry their own header.
        let col = hdr(fd20("", 1, T_ANYMAP, 0, 0, &[0u8; 8])).unwrap();
        assert!(read_data_header_from(&MemSource::new("c#", floats), &col).is_err());
    }

    #[test]
    fn enum_3x_header() {
        let mut v = vec![0xfe];
        v.extend_from_slice(b"sym\0\0\0\0");
        v.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]); // attr s# at 11
        v.extend_from_slice(&0i64.to_le_bytes());
        v.extend_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0]);
        let h = hdr(v).unwrap();
        assert_eq!(h.format, FileFormat::Enum3x);
        assert_eq!((h.value_type, h.count, h.attr), (T_ENUM, 2, Attr::Sorted));
        assert_eq!(h.domain.as_deref(), Some("sym"));
    }

    #[test]
    fn symbol_list_counts_nuls_not_header() {
        let mut v = vec![0xff, 0x01, 0x0b, 0, 0, 0, 0, 0];
        v.extend_from_slice(b"EN\0LH\0EW\0");
        let h = hdr(v.clone()).unwrap();
        assert_eq!((h.format, h.count), (FileFormat::SymbolList, 3));
        v.pop();
        let e = hdr(v).unwrap_err();
        assert!(matches!(e, KdbError::Truncated { .. }), "{e}");
    }

    #[test]
    fn serialized_table_row_count() {
        // flip `a`b!(1 2 3j;"xyz")
        let mut v = vec![0xff, 0x01, 98, 0, 99, 11, 0, 2, 0, 0, 0];
        v.extend_from_slice(b"a\0b\0");
        v.extend_from_slice(&[0, 0, 2, 0, 0, 0]);
        v.extend_from_slice(&[7, 0, 3, 0, 0, 0]);
        v.extend_from_slice(&longs(&[1, 2, 3]));
        v.extend_from_slice(&[10, 0, 3, 0, 0, 0]);
        v.extend_from_slice(b"xyz");
        let h = hdr(v.clone()).unwrap();
        assert_eq!(
            (h.format, h.value_type, h.count),
            (FileFormat::Serialized, 98, 3)
        );
        v.truncate(20);
        assert!(hdr(v).is_err());
    }

    #[test]
    fn compressed_header_uses_trailer_length() {
        let plain = fe20(T_FLOAT, 0, 0, &[0u8; 8 * 10_000]);
        let z = zip_with(2, 65536, &plain);
        let h = hdr(z).unwrap();
        assert_eq!(h.count, 10_000);
        let c = h.compression.unwrap();
        assert_eq!(
            (c.algorithm, c.blocks, c.uncompressed_len),
            (2, 2, plain.len() as u64)
        );
        // A serialized table bigger than 4 KiB in one block, then in several blocks.
        let mut t = vec![
            0xff, 0x01, 98, 0, 99, 11, 0, 1, 0, 0, 0, b'a', 0, 0, 0, 1, 0, 0, 0,
        ];
        t.extend_from_slice(&[7, 0, 0x10, 0x27, 0, 0]);
        t.extend_from_slice(&[0u8; 80_000]);
        for bs in [131_072, 4096] {
            let h = hdr(zip_with(2, bs, &t)).unwrap();
            assert_eq!((h.value_type, h.count), (98, 10_000), "block size {bs}");
        }
        // truncated trailer
        let z = zip_with(2, 65536, &plain);
        let e = hdr(z[..z.len() - 4].to_vec()).unwrap_err();
        assert!(matches!(e, KdbError::CorruptTrailer { .. }), "{e}");
        // encrypted
        let mut z = zip_with(2, 65536, &plain);
        z[..8].copy_from_slice(b"kxzippEd");
        assert!(matches!(hdr(z).unwrap_err(), KdbError::Encrypted { .. }));
    }
}
