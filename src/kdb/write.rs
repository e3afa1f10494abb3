//! Writers that produce kdb+ 4.x database files byte-for-byte as kdb+ writes them: symbol
//! lists (`sym`, `.d`), simple vectors (`fe 20`), enumerations (`fd 20`, with the `u#`/`p#`/`g#`
//! index data kdb+ appends), nested char columns (`col` + `col#`), optionally `kxzipped`.
//!
//! Every layout here was reverse-checked against the real files in shared/fixtures/real;
//! docs/generator.md lists what is proven byte-identical and what is a best guess.

use std::path::{Path, PathBuf};

use thiserror::Error;

use super::types::{type_width, Attr, T_ANYMAP, T_BYTE, T_CHAR, T_ENUM, T_LONG, T_SYMBOL};
use super::zip::{self, ZipError, ZipParams};

/// Offset of the data in a `fd 20` file (4 KiB header).
pub const HEADER_4K: usize = 4096;
/// Offset of the inner header in a `fd 20` file.
const INNER_HEADER: usize = 4080;
/// First byte of the enumeration domain name in a `fd 20` file.
const DOMAIN_AT: usize = 16;

/// Whether a header's count field holds the row count or 0. kdb+ 4.x does both: the TorQ
/// HDB (kdb+ 4.0, `.Q.dpft`/upsert) sets it in every vector, enum, nested index and `.d`; the
/// DolphinDB sample (kdb+ 4.x `set`) leaves it 0 everywhere except in `u#`/`p#`/`g#` files,
/// where it is always set. Root `sym` files are 0 in both except one stale count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HeaderCount {
    #[default]
    Set,
    Zero,
}

impl HeaderCount {
    fn value(self, n: usize) -> u64 {
        match self {
            HeaderCount::Set => n as u64,
            HeaderCount::Zero => 0,
        }
    }
}

#[derive(Debug, Error)]
pub enum WriteError {
    #[error("type {0} has no fixed element width")]
    UnknownType(u8),
    #[error("{len} data bytes are not a whole number of type-{ty} elements")]
    Misaligned { ty: u8, len: usize },
    #[error("attribute {attr:?} is not supported on {what}")]
    UnsupportedAttr { attr: Attr, what: &'static str },
    #[error(
        "values are not parted (value {value} appears in two runs, at rows {first} and {again})"
    )]
    NotParted {
        value: i64,
        first: usize,
        again: usize,
    },
    #[error("values are not unique (value {value} at rows {first} and {again})")]
    NotUnique {
        value: i64,
        first: usize,
        again: usize,
    },
    #[error("symbol {0:?} contains a NUL byte")]
    NulInSymbol(String),
    #[error("enumeration domain name {0:?} is empty, too long or contains NUL")]
    BadDomain(String),
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("compressing {path}: {source}")]
    Zip {
        path: PathBuf,
        #[source]
        source: ZipError,
    },
}

/// `ff 01 0b 00 <int32 count> name\0 name\0 …`: a serialized symbol list (`sym`, `.d`).
pub fn symbols_bytes<S: AsRef<str>>(
    names: &[S],
    count: HeaderCount,
) -> Result<Vec<u8>, WriteError> {
    let total: usize = names.iter().map(|s| s.as_ref().len() + 1).sum();
    let mut out = Vec::with_capacity(8 + total);
    out.extend_from_slice(&[0xff, 0x01, T_SYMBOL, 0]);
    out.extend_from_slice(&(count.value(names.len()) as u32).to_le_bytes());
    for s in names {
        let s = s.as_ref();
        if s.as_bytes().contains(&0) {
            return Err(WriteError::NulInSymbol(s.to_string()));
        }
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }
    Ok(out)
}

/// `fe 20 <type> <attr> 0000 <int64 count> data`: a simple vector. `data` is the raw
/// little-endian elements. Only none and `s#` exist for these in kdb+ files we know; the
/// caller guarantees `s#` data is sorted.
pub fn vector_bytes(
    ty: u8,
    attr: Attr,
    data: &[u8],
    count: HeaderCount,
) -> Result<Vec<u8>, WriteError> {
    let n = element_count(ty, data)?;
    if !matches!(attr, Attr::None | Attr::Sorted) {
        return Err(WriteError::UnsupportedAttr {
            attr,
            what: "simple vectors (only enumerations carry u#/p#/g# here)",
        });
    }
    let mut out = Vec::with_capacity(16 + data.len());
    out.extend_from_slice(&[0xfe, 0x20, ty, attr.byte(), 0, 0, 0, 0]);
    out.extend_from_slice(&count.value(n).to_le_bytes());
    out.extend_from_slice(data);
    Ok(out)
}

fn element_count(ty: u8, data: &[u8]) -> Result<usize, WriteError> {
    let w = type_width(ty)
        .filter(|_| ty != T_ENUM)
        .ok_or(WriteError::UnknownType(ty))?;
    if data.len() % w != 0 {
        return Err(WriteError::Misaligned {
            ty,
            len: data.len(),
        });
    }
    Ok(data.len() / w)
}

/// The 4 KiB `fd 20` header: domain name at 16, inner header `fd <flag> <type> <attr>
/// <int32 0> <int64 count>` at 4080.
fn header_4k(out: &mut Vec<u8>, domain: &[u8], flag: u8, ty: u8, attr: u8, count: u64) {
    out.resize(HEADER_4K, 0);
    out[0] = 0xfd;
    out[1] = 0x20;
    out[DOMAIN_AT..DOMAIN_AT + domain.len()].copy_from_slice(domain);
    out[INNER_HEADER..INNER_HEADER + 4].copy_from_slice(&[0xfd, flag, ty, attr]);
    out[INNER_HEADER + 8..HEADER_4K].copy_from_slice(&count.to_le_bytes());
}

/// The 4 KiB `fd 20` header alone, for writers that stream the values after it: `domain`
/// empty for a plain vector, `flag` 1 for a nested index.
pub fn header_4k_bytes(domain: &str, flag: u8, ty: u8, attr: Attr, count: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_4K);
    header_4k(&mut out, domain.as_bytes(), flag, ty, attr.byte(), count);
    out
}

/// The 16-byte `fe 20` header alone, for writers that stream the values after it.
pub fn vector_header_bytes(ty: u8, attr: Attr, count: u64) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[..4].copy_from_slice(&[0xfe, 0x20, ty, attr.byte()]);
    h[8..].copy_from_slice(&count.to_le_bytes());
    h
}

/// An enumerated symbol column: `fd 20` file naming `domain`, int64 indices from 4096, and for
/// `u#`/`p#`/`g#` the index data kdb+ appends (header count then always set).
pub fn enum_bytes(
    domain: &str,
    attr: Attr,
    indices: &[i64],
    count: HeaderCount,
) -> Result<Vec<u8>, WriteError> {
    if domain.is_empty() || domain.len() >= INNER_HEADER - DOMAIN_AT || domain.contains('\0') {
        return Err(WriteError::BadDomain(domain.to_string()));
    }
    let index = match attr {
        Attr::None | Attr::Sorted => Vec::new(),
        Attr::Unique => unique_index(indices)?,
        Attr::Parted => parted_index(T_ENUM, indices)?,
        Attr::Grouped => grouped_index(T_ENUM, indices),
    };
    let count = if attr.has_index_data() {
        HeaderCount::Set
    } else {
        count
    };
    let mut out = Vec::with_capacity(HEADER_4K + 8 * indices.len() + index.len());
    header_4k(
        &mut out,
        domain.as_bytes(),
        0,
        T_ENUM,
        attr.byte(),
        count.value(indices.len()),
    );
    push_i64s(&mut out, indices);
    out.extend_from_slice(&index);
    Ok(out)
}

fn push_i64s(out: &mut Vec<u8>, v: &[i64]) {
    out.reserve(8 * v.len());
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

/// kdb+'s in-memory object header `m a t u | int32 r | int64 n`, as it lands in index data.
/// `m` is the buddy-allocator size class of the whole object: ceil(log2(bytes)) - 4.
fn k_header(out: &mut Vec<u8>, total_bytes: usize, ty: u8, attr: u8, refs: i32, n: usize) {
    let class = total_bytes
        .next_power_of_two()
        .trailing_zeros()
        .saturating_sub(4) as u8;
    out.extend_from_slice(&[class, 0, ty, attr]);
    out.extend_from_slice(&refs.to_le_bytes());
    out.extend_from_slice(&(n as u64).to_le_bytes());
}

/// Capacity kdb+ reserves for a `u#` vector of `m` 8-byte items (next power of two, ≥ 1);
/// the hash table that follows has twice as many slots.
fn unique_capacity(m: usize) -> usize {
    m.max(1).next_power_of_two()
}

/// kdb+'s hash of an 8-byte value for `u#` tables: Fibonacci hashing of the low 32 bits,
/// bits 11.. of the product. Checked on enum indices (including the null 0x8000…) only.
fn unique_slot(v: i64, slots: usize) -> usize {
    (((v as u32).wrapping_mul(0x9E37_79B1)) >> 11) as usize & (slots - 1)
}

/// The `u#` hash table: slots hold row numbers, -1 empty, linear probing in row order.
fn unique_hash(values: &[i64]) -> Vec<i64> {
    let slots = 2 * unique_capacity(values.len());
    let mut table = vec![-1i64; slots];
    for (i, &v) in values.iter().enumerate() {
        let mut s = unique_slot(v, slots);
        while table[s] != -1 {
            s = (s + 1) & (slots - 1);
        }
        table[s] = i as i64;
    }
    table
}

/// Padding after `m` items so the vector fills its capacity plus one 8-byte word.
fn unique_padding(m: usize) -> usize {
    8 * unique_capacity(m) + 8 - 8 * m
}

fn check_unique(values: &[i64]) -> Result<(), WriteError> {
    let mut seen = std::collections::HashMap::with_capacity(values.len());
    for (i, &v) in values.iter().enumerate() {
        if let Some(&first) = seen.get(&v) {
            return Err(WriteError::NotUnique {
                value: v,
                first,
                again: i,
            });
        }
        seen.insert(v, i);
    }
    Ok(())
}

/// Index data of a `u#` file column: the vector itself is followed by padding to its
/// capacity and by the hash table.
fn unique_index(values: &[i64]) -> Result<Vec<u8>, WriteError> {
    check_unique(values)?;
    let mut out = vec![0u8; unique_padding(values.len())];
    push_i64s(&mut out, &unique_hash(values));
    Ok(out)
}

/// A `u#` vector as a nested object inside `p#`/`g#` index data.
fn push_unique_object(out: &mut Vec<u8>, ty: u8, refs: i32, values: &[i64]) {
    let m = values.len();
    let hash = unique_hash(values);
    let total = 16 + 8 * m + unique_padding(m) + 8 * hash.len();
    k_header(out, total, ty, Attr::Unique.byte(), refs, m);
    push_i64s(out, values);
    out.resize(out.len() + unique_padding(m), 0);
    push_i64s(out, &hash);
}

fn push_long_object(out: &mut Vec<u8>, values: &[i64]) {
    k_header(out, 16 + 8 * values.len(), T_LONG, 0, 0, values.len());
    push_i64s(out, values);
}

/// `p#` index data: 8 zero bytes, the distinct values (run order) as a `u#` vector, then a
/// long vector of run starts ending with the row count.
fn parted_index(ty: u8, values: &[i64]) -> Result<Vec<u8>, WriteError> {
    let mut distinct = Vec::new();
    let mut starts = Vec::new();
    let mut first_row = std::collections::HashMap::new();
    for (i, &v) in values.iter().enumerate() {
        if i > 0 && values[i - 1] == v {
            continue;
        }
        if let Some(&first) = first_row.get(&v) {
            return Err(WriteError::NotParted {
                value: v,
                first,
                again: i,
            });
        }
        first_row.insert(v, i);
        distinct.push(v);
        starts.push(i as i64);
    }
    starts.push(values.len() as i64);
    let mut out = vec![0u8; 8];
    push_unique_object(&mut out, ty, 0, &distinct);
    push_long_object(&mut out, &starts);
    Ok(out)
}

/// `g#` index data: 8 zero bytes, the distinct values (first-appearance order) as a `u#`
/// vector (its refcount field is 1 in kdb+'s files), group starts into the row list (ending
/// with the row count), and the row numbers grouped, ascending within a group.
fn grouped_index(ty: u8, values: &[i64]) -> Vec<u8> {
    let mut group_of = std::collections::HashMap::new();
    let mut distinct = Vec::new();
    let mut row_group = Vec::with_capacity(values.len());
    for &v in values {
        let g = *group_of.entry(v).or_insert_with(|| {
            distinct.push(v);
            distinct.len() - 1
        });
        row_group.push(g);
    }
    let mut sizes = vec![0i64; distinct.len()];
    for &g in &row_group {
        sizes[g] += 1;
    }
    let mut starts = Vec::with_capacity(distinct.len() + 1);
    let mut acc = 0i64;
    for s in &sizes {
        starts.push(acc);
        acc += s;
    }
    starts.push(acc);
    let mut next: Vec<i64> = starts[..distinct.len()].to_vec();
    let mut rows = vec![0i64; values.len()];
    for (i, &g) in row_group.iter().enumerate() {
        rows[next[g] as usize] = i as i64;
        next[g] += 1;
    }
    let mut out = vec![0u8; 8];
    push_unique_object(&mut out, ty, 1, &distinct);
    push_long_object(&mut out, &starts);
    push_long_object(&mut out, &rows);
    out
}

/// Items up to this many chars use the 2-byte short item header; longer ones the 16-byte
/// `fb` header (kdb+'s real threshold is not known; the count byte caps short items at 255).
const SHORT_ITEM_MAX: usize = 255;

/// A nested char (`string`) column: returns (`col` index file, `col#` data file).
/// `col`: `fd 20`, inner header `fd 01 4d`, one 8-byte entry per row (offset into `col#`
/// data in the low bytes, format byte in the top byte: 1 short item, 0 long item).
/// `col#`: `fd 20`, inner header `fd 00 04` (count 0 in every kdb+ file seen), items from 4096:
/// short `[0x89][len][chars]`, long `fb 00 0a 00 <int32 1> <int64 len> chars` 16-aligned.
pub fn nested_chars_bytes(items: &[&[u8]], count: HeaderCount) -> (Vec<u8>, Vec<u8>) {
    let data_len: usize = items.iter().map(|s| s.len() + 2).sum();
    let mut index = Vec::with_capacity(HEADER_4K + 8 * items.len());
    header_4k(&mut index, &[], 1, T_ANYMAP, 0, count.value(items.len()));
    let mut data = Vec::with_capacity(HEADER_4K + data_len);
    header_4k(&mut data, &[], 0, T_BYTE, 0, 0);
    for item in items {
        let entry = if item.len() <= SHORT_ITEM_MAX {
            let off = (data.len() - HEADER_4K) as u64;
            data.push(T_CHAR + 0x7f);
            data.push(item.len() as u8);
            off | (1u64 << 56)
        } else {
            let aligned = (data.len() - HEADER_4K).next_multiple_of(16);
            data.resize(HEADER_4K + aligned, 0);
            data.extend_from_slice(&[0xfb, 0, T_CHAR, 0]);
            data.extend_from_slice(&1i32.to_le_bytes());
            data.extend_from_slice(&(item.len() as u64).to_le_bytes());
            aligned as u64
        };
        data.extend_from_slice(item);
        index.extend_from_slice(&entry.to_le_bytes());
    }
    (index, data)
}

/// Write a whole file image, compressed when `zip` is given; returns the bytes written.
/// One `write` of the finished image, no temporary name: renaming every file tripled the
/// generator's system time, and the generator writes `.d` last, so a table interrupted
/// mid-way has no `.d` and is visibly incomplete.
pub fn write_image(path: &Path, image: &[u8], zip: Option<ZipParams>) -> Result<u64, WriteError> {
    match zip {
        Some(params) => {
            let packed = zip::compress(image, params).map_err(|source| WriteError::Zip {
                path: path.to_path_buf(),
                source,
            })?;
            write_file(path, &packed)
        }
        None => write_file(path, image),
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<u64, WriteError> {
    std::fs::write(path, bytes).map_err(|source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(bytes.len() as u64)
}

/// Write a symbol list file (`sym`, `.d`). `.d` files are never compressed by kdb+ in the
/// fixtures except when a whole table is written with compression, so no `zip` here.
pub fn write_symbols<S: AsRef<str>>(
    path: &Path,
    names: &[S],
    count: HeaderCount,
) -> Result<u64, WriteError> {
    let bytes = symbols_bytes(names, count)?;
    write_file(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kdb::zip::tests::unzip;
    use crate::kdb::{T_DATETIME, T_FLOAT, T_INT, T_TIMESTAMP};

    fn fixtures() -> Option<PathBuf> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/real");
        if p.is_dir() {
            Some(p)
        } else {
            eprintln!(
                "WARNING: fixtures not found at {}: fixture test skipped",
                p.display()
            );
            None
        }
    }

    fn read(p: &Path) -> Vec<u8> {
        let b = std::fs::read(p).unwrap();
        if b.starts_with(zip::ZIP_MAGIC) {
            unzip(&b).image
        } else {
            b
        }
    }

    fn i64s(b: &[u8]) -> Vec<i64> {
        b.chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    fn count_at(b: &[u8], at: usize) -> usize {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize
    }

    /// Names out of a real symbol list, by NUL splitting (independent of our writer).
    fn names(b: &[u8]) -> Vec<String> {
        b[8..]
            .split(|&c| c == 0)
            .take(b[8..].iter().filter(|&&c| c == 0).count())
            .map(|s| String::from_utf8(s.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn symbol_lists_match_real_d_and_sym_files() {
        let Some(fx) = fixtures() else { return };
        let cases = [
            ("torq-air/2020.11.14/flights/.d", HeaderCount::Set),
            ("torq-air/2020.11.15/flights/.d", HeaderCount::Set),
            ("torq-air/sym", HeaderCount::Zero),
            ("dolphindb-sample/2022.12.05/ORD/.d", HeaderCount::Zero),
            (
                "dolphindb-sample/2023.03.24/quote_cffex/.d",
                HeaderCount::Zero,
            ),
            ("dolphindb-sample/sym_quote_cffex", HeaderCount::Zero),
            (
                "dolphindb-sample/compressCharArrayVector/.d",
                HeaderCount::Zero,
            ),
        ];
        for (rel, count) in cases {
            let real = read(&fx.join(rel));
            let ours = symbols_bytes(&names(&real), count).unwrap();
            assert_eq!(ours, real, "{rel}");
        }
    }

    #[test]
    fn simple_vectors_match_real_files() {
        let Some(fx) = fixtures() else { return };
        let cases = [
            (
                "torq-air/2020.11.14/flights/time",
                T_TIMESTAMP,
                HeaderCount::Set,
            ),
            (
                "torq-air/2020.11.14/flights/depTime",
                T_DATETIME,
                HeaderCount::Set,
            ),
            (
                "torq-air/2020.11.15/flights/flightNumber",
                T_LONG,
                HeaderCount::Set,
            ),
            (
                "dolphindb-sample/2022.12.05/ORD/price",
                T_FLOAT,
                HeaderCount::Zero,
            ),
            (
                "dolphindb-sample/allDataTypes/splayedTable/int",
                T_INT,
                HeaderCount::Zero,
            ),
            (
                "dolphindb-sample/2022.06.17/Daily/close",
                T_FLOAT,
                HeaderCount::Zero,
            ),
            (
                "dolphindb-sample/2023.03.24/quote_cffex/time",
                T_TIMESTAMP,
                HeaderCount::Zero,
            ),
        ];
        for (rel, ty, count) in cases {
            let real = read(&fx.join(rel));
            let ours = vector_bytes(ty, Attr::None, &real[16..], count).unwrap();
            assert_eq!(ours, real, "{rel}");
        }
        // Every simple type of the splayed table: header layout and type byte.
        let dir = fx.join("dolphindb-sample/allDataTypes/splayedTable");
        for e in std::fs::read_dir(&dir).unwrap() {
            let real = read(&e.unwrap().path());
            if real[0] != 0xfe {
                continue;
            }
            let ours = vector_bytes(real[2], Attr::None, &real[16..], HeaderCount::Zero).unwrap();
            assert_eq!(ours, real);
        }
    }

    #[test]
    fn enums_with_every_attribute_match_real_files() {
        let Some(fx) = fixtures() else { return };
        let cases = [
            // p# with index data, count set.
            ("torq-air/2020.11.14/flights/sym", HeaderCount::Set),
            ("torq-air/2020.11.15/flights/sym", HeaderCount::Set),
            ("torq-air/2020.11.14/flights/aircraftType", HeaderCount::Set),
            // Empty p# column: index data of an empty vector.
            (
                "dolphindb-sample/2023.03.24/quote_cffex/sym",
                HeaderCount::Zero,
            ),
            (
                "dolphindb-sample/2023.03.24/quote_cffex/exch",
                HeaderCount::Zero,
            ),
            // u# (hash table of 16384 slots) and g# (three groups), from gzip files.
            ("dolphindb-sample/2022.06.17/Daily/sym", HeaderCount::Zero),
            ("dolphindb-sample/2022.06.17/Syms/sym", HeaderCount::Zero),
            (
                "dolphindb-sample/2022.06.17/Daily/limitupdown",
                HeaderCount::Zero,
            ),
            (
                "dolphindb-sample/2022.06.17/Daily/status",
                HeaderCount::Zero,
            ),
            ("dolphindb-sample/2022.06.17/Syms/SW1", HeaderCount::Zero),
            ("dolphindb-sample/2022.06.17/Syms/SW3", HeaderCount::Zero),
            ("dolphindb-sample/2022.06.17/Syms/st", HeaderCount::Zero),
            ("dolphindb-sample/2022.06.17/Syms/market", HeaderCount::Zero),
            ("dolphindb-sample/2022.12.05/ORD/code", HeaderCount::Zero),
        ];
        for (rel, count) in cases {
            let real = read(&fx.join(rel));
            let attr = Attr::from_byte(real[INNER_HEADER + 3]).unwrap();
            let domain_end = real[DOMAIN_AT..].iter().position(|&c| c == 0).unwrap();
            let domain = std::str::from_utf8(&real[DOMAIN_AT..DOMAIN_AT + domain_end]).unwrap();
            let n = if attr.has_index_data() {
                count_at(&real, INNER_HEADER + 8)
            } else {
                (real.len() - HEADER_4K) / 8
            };
            let idx = i64s(&real[HEADER_4K..HEADER_4K + 8 * n]);
            let ours = enum_bytes(domain, attr, &idx, count).unwrap();
            assert_eq!(ours.len(), real.len(), "{rel} ({attr:?}) length");
            assert_eq!(ours, real, "{rel} ({attr:?})");
        }
    }

    #[test]
    fn nested_strings_match_real_files() {
        let Some(fx) = fixtures() else { return };
        let cases = [
            ("torq-air/2020.11.14/flights/registration", HeaderCount::Set),
            ("torq-air/2020.11.15/flights/registration", HeaderCount::Set),
        ];
        for (rel, count) in cases {
            let real_idx = read(&fx.join(rel));
            let real_dat = read(&fx.join(format!("{rel}#")));
            // Parse items independently: entry offsets from the index, short items from data.
            let rows = (real_idx.len() - HEADER_4K) / 8;
            let items: Vec<Vec<u8>> = (0..rows)
                .map(|r| {
                    let e = count_at(&real_idx, HEADER_4K + 8 * r);
                    assert_eq!(e >> 56, 1, "short item expected");
                    let at = HEADER_4K + (e & 0xffff_ffff);
                    assert_eq!(real_dat[at], 0x89);
                    let len = real_dat[at + 1] as usize;
                    real_dat[at + 2..at + 2 + len].to_vec()
                })
                .collect();
            let refs: Vec<&[u8]> = items.iter().map(|v| v.as_slice()).collect();
            let (idx, dat) = nested_chars_bytes(&refs, count);
            assert_eq!(idx, real_idx, "{rel}");
            assert_eq!(dat, real_dat, "{rel}#");
        }
    }

    #[test]
    fn long_strings_use_the_aligned_long_form() {
        let long = vec![b'x'; 300];
        let items: Vec<&[u8]> = vec![b"ab", &long, b"c"];
        let (idx, dat) = nested_chars_bytes(&items, HeaderCount::Set);
        let e: Vec<u64> = (0..3)
            .map(|r| count_at(&idx, HEADER_4K + 8 * r) as u64)
            .collect();
        assert_eq!(e[0], 1 << 56);
        assert_eq!(e[1], 16, "long item 16-aligned, format byte 0");
        assert_eq!(&dat[HEADER_4K + 16..HEADER_4K + 20], &[0xfb, 0, 10, 0]);
        assert_eq!(count_at(&dat, HEADER_4K + 24), 300);
        assert_eq!(e[2], (1 << 56) | (16 + 16 + 300));
        assert_eq!(count_at(&idx, INNER_HEADER + 8), 3);
    }

    #[test]
    fn gzip_blocks_and_trailers_match_real_files() {
        let Some(fx) = fixtures() else { return };
        let mut files = 0;
        for dir in [
            "2022.06.17/Daily",
            "2022.06.17/Syms",
            "compressCharArrayVector",
        ] {
            let dir = fx.join("dolphindb-sample").join(dir);
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                let real = std::fs::read(&p).unwrap();
                if !real.starts_with(zip::ZIP_MAGIC) {
                    continue;
                }
                files += 1;
                let u = unzip(&real);
                let params = ZipParams {
                    algorithm: u.algorithm,
                    level: u.level,
                    block_log2: u.block_size.trailing_zeros() as u8,
                };
                let ours = zip::compress(&u.image, params).unwrap();
                let mine = unzip(&ours);
                assert_eq!(mine.image, u.image);
                // Trailer: block count and per-block algorithms always agree.
                assert_eq!(mine.entries.len(), u.entries.len(), "{}", p.display());
                let algs: Vec<u32> = mine.entries.iter().map(|e| e.1).collect();
                let real_algs: Vec<u32> = u.entries.iter().map(|e| e.1).collect();
                assert_eq!(algs, real_algs, "{}", p.display());
                // flate2 on the system zlib deflates exactly as kdb+ (which links zlib) does.
                assert_eq!(ours, real, "{}", p.display());
            }
        }
        assert!(files >= 39, "{files}");
    }

    #[test]
    fn attribute_validation() {
        assert!(matches!(
            enum_bytes("sym", Attr::Parted, &[1, 1, 2, 1], HeaderCount::Set),
            Err(WriteError::NotParted {
                value: 1,
                first: 0,
                again: 3
            })
        ));
        assert!(matches!(
            enum_bytes("sym", Attr::Unique, &[1, 2, 1], HeaderCount::Set),
            Err(WriteError::NotUnique { value: 1, .. })
        ));
        assert!(matches!(
            vector_bytes(T_LONG, Attr::Grouped, &[0; 8], HeaderCount::Set),
            Err(WriteError::UnsupportedAttr { .. })
        ));
        assert!(matches!(
            vector_bytes(T_INT, Attr::None, &[0; 6], HeaderCount::Set),
            Err(WriteError::Misaligned { .. })
        ));
        assert!(enum_bytes("", Attr::None, &[], HeaderCount::Set).is_err());
        assert!(symbols_bytes(&["a\0b"], HeaderCount::Set).is_err());
    }

    #[test]
    fn grouped_index_layout_on_a_small_case() {
        let v = [5i64, 7, 5, 9, 7];
        let b = enum_bytes("sym", Attr::Grouped, &v, HeaderCount::Zero).unwrap();
        assert_eq!(count_at(&b, INNER_HEADER + 8), 5, "count set for g#");
        let idx = &b[HEADER_4K + 40..];
        assert_eq!(&idx[..8], &[0; 8]);
        assert_eq!(&idx[8 + 2..8 + 4], &[T_ENUM, 2]);
        assert_eq!(count_at(idx, 16), 3);
        assert_eq!(i64s(&idx[24..48]), vec![5, 7, 9]);
        let tail = i64s(&idx[idx.len() - 8 * 5..]);
        assert_eq!(
            tail,
            vec![0, 2, 1, 4, 3],
            "rows grouped by value, ascending"
        );
    }

    #[test]
    fn write_image_compresses_and_reports_errors_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let img = vector_bytes(T_LONG, Attr::None, &[7u8; 8 * 1000], HeaderCount::Set).unwrap();
        let p = dir.path().join("size");
        let n = write_image(&p, &img, Some(ZipParams::new(zip::ALG_ZSTD, 3))).unwrap();
        let on_disk = std::fs::read(&p).unwrap();
        assert_eq!(n, on_disk.len() as u64);
        assert_eq!(unzip(&on_disk).image, img);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let err = write_image(&dir.path().join("no/such/dir"), &img, None).unwrap_err();
        assert!(err.to_string().contains("no/such/dir"), "{err}");
    }
}
