//! Symbol lists (`sym` domains, `.d` column orders): the `ff 01 0b` file, compressed or not,
//! into its strings. Counts come from the NULs; the header count is often 0 or stale.
//!
//! kdb+ symbols are byte strings. We convert them with `String::from_utf8_lossy`: valid UTF-8
//! (all fixtures, including Chinese names) is kept exactly; invalid bytes become U+FFFD.
//! Callers that must compare raw bytes use [`parse_symbol_bytes`].

use super::error::KdbError;
use super::source::{read_all, LocalFile, ReadAt};
use super::unzip::{decompress_all, MAGIC_ENCRYPTED, MAGIC_ZIPPED};
use std::path::Path;

/// The symbols of a `sym`/`.d` file (also `kxzipped`).
pub fn read_symbols(path: &Path) -> Result<Vec<String>, KdbError> {
    read_symbols_from(&LocalFile::open(path)?)
}

/// The symbols of a symbol-list file as the bytes kdb+ stores (compressed or not): what a
/// caller that matches or writes symbols needs, since two symbols that are not UTF-8 may read
/// as the same lossy text.
pub fn read_symbol_bytes(path: &Path) -> Result<Vec<Vec<u8>>, KdbError> {
    let src = LocalFile::open(path)?;
    let image = read_image(&src)?;
    Ok(parse_symbol_bytes(src.path(), &image)?
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect())
}

/// [`read_symbols`] over any byte source.
pub fn read_symbols_from(src: &dyn ReadAt) -> Result<Vec<String>, KdbError> {
    let image = read_image(src)?;
    parse_symbols(src.path(), &image)
}

/// The whole uncompressed image of a file (decompressing `kxzipped`).
pub fn read_image(src: &dyn ReadAt) -> Result<Vec<u8>, KdbError> {
    let len = src.len()?;
    if len >= 8 {
        let mut m = [0u8; 8];
        src.read_at(0, &mut m)?;
        if &m == MAGIC_ZIPPED {
            return decompress_all(src);
        }
        if &m == MAGIC_ENCRYPTED {
            return Err(KdbError::Encrypted {
                path: src.path().into(),
            });
        }
    }
    read_all(src)
}

/// Symbols of a symbol-list image, lossily converted to `String`.
pub fn parse_symbols(path: &str, bytes: &[u8]) -> Result<Vec<String>, KdbError> {
    Ok(parse_symbol_bytes(path, bytes)?
        .into_iter()
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect())
}

/// The error for a symbol-list image (8-byte header, then the symbols) whose last byte is not
/// a NUL: kdb+ ends every symbol with one, so the file was cut inside a symbol (corrupt).
pub(crate) fn cut_in_a_symbol(path: &str, image: &[u8]) -> KdbError {
    let body = image.get(8..).unwrap_or(&[]);
    let start = body.iter().rposition(|&b| b == 0).map_or(8, |i| 8 + i + 1);
    let whole = body[..start - 8].iter().filter(|&&b| b == 0).count();
    let sofar = &image[start..image.len().min(start + 32)];
    KdbError::truncated(
        path,
        image.len() as u64,
        format!(
            "the symbol list is cut in the middle of a symbol: symbol {} starts at offset {start} ({:?} so far) and the file ends at offset {} before its closing NUL; the {whole} symbols before it are whole",
            whole + 1,
            String::from_utf8_lossy(sofar),
            image.len()
        ),
    )
}

/// Symbols of a symbol-list image as the raw bytes kdb+ stores.
pub fn parse_symbol_bytes<'a>(path: &str, bytes: &'a [u8]) -> Result<Vec<&'a [u8]>, KdbError> {
    if bytes.len() < 8 {
        return Err(KdbError::truncated(
            path,
            bytes.len() as u64,
            format!(
                "a symbol list has an 8-byte header, the file holds {} bytes",
                bytes.len()
            ),
        ));
    }
    if bytes[0] != 0xff || bytes[1] != 0x01 {
        return Err(KdbError::UnknownMagic {
            path: path.into(),
            b0: bytes[0],
            b1: bytes[1],
        });
    }
    if bytes[2] != super::types::T_SYMBOL {
        return Err(KdbError::BadType {
            path: path.into(),
            byte: bytes[2],
            offset: 2,
            expected: "0x0b (symbol list)",
        });
    }
    let body = &bytes[8..];
    if body.is_empty() {
        return Ok(Vec::new());
    }
    if body[body.len() - 1] != 0 {
        return Err(cut_in_a_symbol(path, bytes));
    }
    Ok(body[..body.len() - 1].split(|&b| b == 0).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kdb::source::MemSource;
    use crate::kdb::unzip::tests::zip_with;

    fn list(header_count: i32, syms: &[&[u8]]) -> Vec<u8> {
        let mut v = vec![0xff, 0x01, 0x0b, 0];
        v.extend_from_slice(&header_count.to_le_bytes());
        for s in syms {
            v.extend_from_slice(s);
            v.push(0);
        }
        v
    }

    #[test]
    fn trusts_nuls_not_the_header_count() {
        let v = list(0, &[b"EN", b"", "上证".as_bytes()]);
        assert_eq!(parse_symbols("s", &v).unwrap(), vec!["EN", "", "上证"]);
        assert_eq!(
            parse_symbols("s", &list(7, &[])).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn non_utf8_is_lossy_but_bytes_are_kept() {
        let v = list(1, &[&[0x61, 0xff]]);
        assert_eq!(parse_symbols("s", &v).unwrap(), vec!["a\u{fffd}"]);
        assert_eq!(
            parse_symbol_bytes("s", &v).unwrap(),
            vec![&[0x61u8, 0xff][..]]
        );
    }

    #[test]
    fn a_list_cut_inside_a_symbol_names_where_that_symbol_starts() {
        // `ab\0cde\0` cut after `cd`: symbol 2 starts at 8 + 3 = 11, the file ends at 13.
        let mut v = list(0, &[b"ab", b"cde"]);
        v.truncate(v.len() - 2);
        let e = parse_symbols("s", &v).unwrap_err();
        assert!(matches!(e, KdbError::Truncated { offset: 13, .. }), "{e}");
        let m = e.to_string();
        assert!(m.contains("cut in the middle of a symbol"), "{m}");
        assert!(m.contains("symbol 2 starts at offset 11"), "{m}");
        assert!(m.contains("\"cd\" so far"), "{m}");
        // Cut inside the first symbol: it starts right after the header.
        let v = [0xff, 0x01, 0x0b, 0, 0, 0, 0, 0, b'x'];
        let m = parse_symbols("s", &v).unwrap_err().to_string();
        assert!(m.contains("symbol 1 starts at offset 8"), "{m}");
    }

    #[test]
    fn errors() {
        let mut v = list(0, &[b"ab"]);
        v.pop();
        assert!(matches!(
            parse_symbols("s", &v).unwrap_err(),
            KdbError::Truncated { .. }
        ));
        assert!(matches!(
            parse_symbols("s", &[0xfe, 0x20, 7, 0, 0, 0, 0, 0]).unwrap_err(),
            KdbError::UnknownMagic { .. }
        ));
        assert!(matches!(
            parse_symbols("s", &[0xff, 0x01, 7, 0, 0, 0, 0, 0]).unwrap_err(),
            KdbError::BadType { .. }
        ));
        assert!(parse_symbols("s", &[0xff, 0x01]).is_err());
    }

    #[test]
    fn compressed_symbol_list() {
        let v = list(0, &[b"id", b"nestChar"]);
        let z = zip_with(0, 65536, &v);
        let s = read_symbols_from(&MemSource::new("z", z)).unwrap();
        assert_eq!(s, vec!["id", "nestChar"]);
    }
}
