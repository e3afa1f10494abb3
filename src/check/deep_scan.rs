//! `check --deep` of one column file: every value decoded a chunk at a time
//! ([`kdb::chunked`]), enumeration indices counted against their domain as they pass, so a
//! worker holds one chunk, never the whole column (docs/performance.md, "Deep reads").

use crate::kdb::{self, chunked::ColumnChunks, ColumnData, KdbError, LocalFile, ReadAt};
use std::path::Path;

/// Bytes of values one worker decodes at a time; `SMSTAGE_DEEP_CHUNK` overrides (4 KiB to
/// 64 MiB) for measuring.
pub fn chunk_bytes() -> usize {
    static BYTES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *BYTES.get_or_init(|| {
        crate::io_pool::tuning_from_env(
            "SMSTAGE_DEEP_CHUNK",
            kdb::chunked::DEFAULT_CHUNK_BYTES,
            4096..=64 << 20,
        )
    })
}

/// Enumeration indices beyond their domain, in one column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnumRange {
    pub domain: String,
    /// Indices at or past the domain's length (negative ones are nulls, not counted).
    pub beyond: usize,
    /// The largest index (0 for an empty column).
    pub max: i64,
}

/// Decodes every value of the column at `path` (with `path#`, `path##` beside it); for an
/// enumerated column, what lies beyond its domain, whose length `domain_len` gives.
pub fn scan_local(
    path: &Path,
    domain_len: &dyn Fn(&str) -> usize,
    chunk_bytes: usize,
) -> Result<Option<EnumRange>, KdbError> {
    let src = LocalFile::open(path)?;
    let open = |p: &str| LocalFile::open(Path::new(p)).map(|f| Box::new(f) as Box<dyn ReadAt>);
    scan(&src, &open, domain_len, chunk_bytes)
}

/// [`scan_local`] over any byte source.
pub fn scan<'a>(
    src: &'a dyn ReadAt,
    open: kdb::column::Opener<'a>,
    domain_len: &dyn Fn(&str) -> usize,
    chunk_bytes: usize,
) -> Result<Option<EnumRange>, KdbError> {
    let mut chunks = ColumnChunks::open(src, open, chunk_bytes)?;
    let mut range: Option<EnumRange> = None;
    let mut n = 0i64;
    while let Some(chunk) = chunks.next_rows(usize::MAX)? {
        if let ColumnData::Enum { domain, indices } = chunk {
            let r = range.get_or_insert_with(|| {
                n = domain_len(&domain) as i64;
                EnumRange {
                    domain,
                    beyond: 0,
                    max: 0,
                }
            });
            r.beyond += indices.iter().filter(|&&i| i >= n).count();
            if let Some(&m) = indices.iter().max() {
                r.max = r.max.max(m);
            }
        }
    }
    // An enumeration with no rows still names its domain (nothing lies beyond it).
    if range.is_none() && chunks.header().value_type == kdb::T_ENUM && !chunks.header().nested {
        range = Some(EnumRange {
            domain: chunks.header().domain.clone().unwrap_or_default(),
            beyond: 0,
            max: 0,
        });
    }
    Ok(range)
}

/// [`EnumRange`] of a column decoded whole (object tiers, fetched whole).
pub fn range_of(data: &ColumnData, domain_len: &dyn Fn(&str) -> usize) -> Option<EnumRange> {
    let ColumnData::Enum { domain, indices } = data else {
        return None;
    };
    let n = domain_len(domain) as i64;
    Some(EnumRange {
        domain: domain.clone(),
        beyond: indices.iter().filter(|&&i| i >= n).count(),
        max: indices.iter().copied().max().unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kdb::header::tests::fd20;
    use crate::kdb::unzip::tests::zip_with;

    fn longs(v: &[i64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// What the whole-column decode says of the same file (the old `--deep`).
    fn whole(path: &Path, n: usize) -> Option<EnumRange> {
        range_of(&kdb::read_column(path).unwrap().data, &|_| n)
    }

    #[test]
    fn enum_ranges_counted_across_chunks_match_the_whole_column() {
        let tmp = tempfile::tempdir().unwrap();
        // 100,000 indices, every 997th past a 50-symbol domain, some nulls.
        let idx: Vec<i64> = (0..100_000i64)
            .map(|i| match i {
                i if i % 997 == 0 => 50 + i % 7,
                i if i % 331 == 0 => i64::MIN,
                i => i % 50,
            })
            .collect();
        let plain = fd20("sym", 0, kdb::T_ENUM, 0, idx.len() as i64, &longs(&idx));
        for (name, bytes) in [
            ("plain", plain.clone()),
            ("gzip", zip_with(2, 4096, &plain)),
            ("zstd", zip_with(5, 65536, &plain)),
        ] {
            let p = tmp.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            let want = whole(&p, 50);
            assert!(want.as_ref().is_some_and(|r| r.beyond > 0));
            for chunk in [4096, 10_000, 1 << 20] {
                assert_eq!(
                    scan_local(&p, &|_| 50, chunk).unwrap(),
                    want,
                    "{name} {chunk}"
                );
            }
        }
    }
}
