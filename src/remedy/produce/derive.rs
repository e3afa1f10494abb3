//! The derived partition column: partition date + the source's time of day, per row, as a
//! timestamp vector with the source's rows, header form and header-count convention.
//!
//! The conversion is pure ([`derive_chunk`]); [`derived_timestamp`] streams the source through
//! `kdb::chunked` and the result through a [`Sink`], one chunk at a time.

use std::path::Path;

use super::sink::Sink;
use super::{ProduceError, Produced};
use crate::dates::{days_from_civil, parse_date};
use crate::kdb::chunked::{ColumnChunks, Image, DEFAULT_CHUNK_BYTES};
use crate::kdb::write::{header_4k_bytes, vector_header_bytes};
use crate::kdb::zip::ZipParams;
use crate::kdb::{
    type_name, Attr, ColumnData, FileFormat, KdbError, LocalFile, ReadAt, T_DATETIME, T_MINUTE,
    T_SECOND, T_TIME, T_TIMESPAN, T_TIMESTAMP,
};

pub(crate) const NS_PER_DAY: i64 = 86_400_000_000_000;
const MS_PER_DAY: i64 = 86_400_000;

/// The partition's midnight in ns since 2000.01.01, or `Invalid` for a date that does not exist.
pub(crate) fn midnight_ns(date: (u32, u32, u32), out: &Path) -> Result<i64, ProduceError> {
    let (y, m, d) = date;
    if parse_date(&date_text(date)).is_none() {
        return Err(ProduceError::Invalid {
            path: out.to_path_buf(),
            detail: format!("partition date {y}.{m}.{d} is not a calendar date"),
        });
    }
    Ok(days_from_civil(i64::from(y), m, d) * NS_PER_DAY)
}

pub(crate) fn date_text((y, m, d): (u32, u32, u32)) -> String {
    format!("{y:04}.{m:02}.{d:02}")
}

/// Why a row cannot be derived (the caller adds file and date).
#[derive(Debug, PartialEq)]
pub(crate) enum RowFault {
    Null {
        row: usize,
    },
    OffDay {
        row: usize,
        why: &'static str,
    },
    /// The chunk is not a time of day at all (the header said otherwise: a reader bug).
    NotTimeOfDay,
}

/// Appends the derived timestamps of `chunk` (little-endian) to `out`.
/// Returns the first row that cannot be derived.
/// The source's null (0N, or NaN for a datetime) gives no timestamp; a time of day outside
/// [0, 1D) or a datetime on another day would not round down to the partition's date.
pub(crate) fn derive_chunk(
    chunk: &ColumnData,
    midnight: i64,
    out: &mut Vec<u8>,
) -> Result<(), RowFault> {
    let mut put = |ns_of_day: i64| out.extend_from_slice(&(midnight + ns_of_day).to_le_bytes());
    match chunk {
        ColumnData::Timespan(v) => {
            for (row, &x) in v.iter().enumerate() {
                check_day(row, x == i64::MIN, x, NS_PER_DAY)?;
                put(x);
            }
        }
        ColumnData::Time(v) | ColumnData::Second(v) | ColumnData::Minute(v) => {
            let (per_day, scale) = match chunk {
                ColumnData::Time(_) => (MS_PER_DAY, 1_000_000),
                ColumnData::Second(_) => (86_400, 1_000_000_000),
                _ => (1_440, 60_000_000_000),
            };
            for (row, &x) in v.iter().enumerate() {
                let x = i64::from(x);
                check_day(row, x == i64::from(i32::MIN), x, per_day)?;
                put(x * scale);
            }
        }
        ColumnData::Datetime(v) => {
            let day = midnight / NS_PER_DAY;
            for (row, &z) in v.iter().enumerate() {
                if z.is_nan() {
                    return Err(RowFault::Null { row });
                }
                // A datetime holds milliseconds (q prints it to the ms and `"p"$` keeps the
                // ms), so it is rounded to the ms first: 12:00:00.123 gives .123000000, not
                // the float's .122999995.
                let ms = (z * MS_PER_DAY as f64).round();
                if !ms.is_finite() || ms.abs() > 1e17 {
                    return Err(RowFault::OffDay {
                        row,
                        why: "is infinite or beyond any date",
                    });
                }
                let ms = ms as i64;
                if ms.div_euclid(MS_PER_DAY) != day {
                    return Err(RowFault::OffDay {
                        row,
                        why: "is on another day",
                    });
                }
                put(ms.rem_euclid(MS_PER_DAY) * 1_000_000);
            }
        }
        // The caller checked the header's type; a chunk of another kind is a reader bug.
        _ => return Err(RowFault::NotTimeOfDay),
    }
    Ok(())
}

fn check_day(row: usize, null: bool, x: i64, per_day: i64) -> Result<(), RowFault> {
    if null {
        return Err(RowFault::Null { row });
    }
    if x < 0 {
        return Err(RowFault::OffDay {
            row,
            why: "is negative",
        });
    }
    if x >= per_day {
        return Err(RowFault::OffDay {
            row,
            why: "is one day (1D) or more",
        });
    }
    Ok(())
}

/// Opens `col#` beside a local column for the chunked reader.
pub(crate) fn local_open(p: &str) -> Result<Box<dyn ReadAt>, KdbError> {
    Ok(Box::new(LocalFile::open(Path::new(p))?))
}

/// What the source's type says, in words, for a refusal.
fn describe(h: &crate::kdb::Header) -> String {
    if h.nested {
        return "a nested list column".to_string();
    }
    match h.format {
        FileFormat::SymbolList => "a symbol list file".to_string(),
        FileFormat::Serialized if h.is_atom() => "a serialized atom".to_string(),
        FileFormat::Serialized => "a serialized object".to_string(),
        FileFormat::Compound | FileFormat::CompoundData => "a compound list column".to_string(),
        _ => match type_name(h.value_type) {
            Some(n) => format!("{n} (type byte {})", h.value_type),
            None => format!("type byte {}", h.value_type),
        },
    }
}

/// The header count field as stored (not `Header.count`): 0 stays 0 in the derived column, as
/// kdb+'s `set` leaves it; otherwise it is set to the rows, as `.Q.dpft` does.
fn raw_header_count(src: &LocalFile, format: FileFormat) -> Result<u64, ProduceError> {
    let mut image = Image::open(src)?;
    let at = if format == FileFormat::Vector4k {
        4088
    } else {
        8
    };
    let mut b = [0u8; 8];
    image.read_at(at, &mut b)?;
    Ok(u64::from_le_bytes(b))
}

pub(crate) fn derived_timestamp(
    source: &Path,
    date: (u32, u32, u32),
    out: &Path,
    zip: Option<ZipParams>,
) -> Result<Vec<Produced>, ProduceError> {
    let sink = derive_rows(source, date, Some((out, zip)))?;
    Ok(sink.map(Sink::finish).transpose()?.into_iter().collect())
}

/// Every row of `source` derived for `date` and checked as [`derived_timestamp`] checks it,
/// nothing written (`check --deep --remedy`): the same refusals, before anything is staged.
pub(crate) fn check_derivation(source: &Path, date: (u32, u32, u32)) -> Result<(), ProduceError> {
    derive_rows(source, date, None).map(drop)
}

/// Streams `source`'s derived rows into a new file at `out` (when given), checking each.
fn derive_rows(
    source: &Path,
    date: (u32, u32, u32),
    out: Option<(&Path, Option<ZipParams>)>,
) -> Result<Option<Sink>, ProduceError> {
    let midnight = midnight_ns(date, out.map_or(source, |(o, _)| o))?;
    let src = LocalFile::open(source)?;
    let open = |p: &str| local_open(p);
    let mut chunks = ColumnChunks::open(&src, &open, DEFAULT_CHUNK_BYTES)?;
    let h = chunks.header().clone();
    let time_of_day = matches!(
        h.value_type,
        T_TIMESPAN | T_TIME | T_SECOND | T_MINUTE | T_DATETIME
    );
    if !time_of_day || h.nested || !matches!(h.format, FileFormat::Vector | FileFormat::Vector4k) {
        return Err(ProduceError::DeriveSourceType {
            path: source.to_path_buf(),
            found: describe(&h),
        });
    }
    let rows = chunks.rows();
    let count = match raw_header_count(&src, h.format)? {
        0 => 0,
        _ => rows,
    };
    // date + time of day is monotonic in the time of day: a sorted source stays sorted.
    let attr = if h.attr == Attr::Sorted {
        Attr::Sorted
    } else {
        Attr::None
    };
    let mut sink = match out {
        Some((out, zip)) => Some(Sink::create(out, zip)?),
        None => None,
    };
    if let Some(sink) = sink.as_mut() {
        match h.format {
            FileFormat::Vector4k => {
                sink.write(&header_4k_bytes("", 0, T_TIMESTAMP, attr, count))?
            }
            _ => sink.write(&vector_header_bytes(T_TIMESTAMP, attr, count))?,
        }
    }
    let mut buf = Vec::with_capacity(DEFAULT_CHUNK_BYTES + 64);
    let mut first_row: u64 = 0;
    let mut prev = i64::MIN;
    while let Some(chunk) = chunks.next_rows(usize::MAX)? {
        buf.clear();
        if let Err(fault) = derive_chunk(&chunk, midnight, &mut buf) {
            let (row, null, why) = match fault {
                RowFault::Null { row } => (row, true, ""),
                RowFault::OffDay { row, why } => (row, false, why),
                RowFault::NotTimeOfDay => {
                    return Err(ProduceError::DeriveSourceType {
                        path: source.to_path_buf(),
                        found: format!("{} (its values decode as another type)", describe(&h)),
                    })
                }
            };
            let value = chunk.fmt_value(row);
            let row = first_row + row as u64;
            let path = source.to_path_buf();
            return Err(if null {
                ProduceError::DeriveNull { path, row, value }
            } else {
                ProduceError::DeriveOffDay {
                    path,
                    row,
                    value,
                    date: date_text(date),
                    why,
                }
            });
        }
        if attr == Attr::Sorted {
            for (i, c) in buf.chunks_exact(8).enumerate() {
                let t = i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
                if t < prev {
                    let row = first_row + i as u64;
                    // Where the row's bytes are: in the file, or in its decompressed image.
                    let head: u64 = if h.format == FileFormat::Vector4k {
                        4096
                    } else {
                        16
                    };
                    let width = crate::kdb::type_width(h.value_type).unwrap_or(8) as u64;
                    let image = if h.compression.is_some() {
                        " (an offset in the decompressed image)"
                    } else {
                        ""
                    };
                    return Err(ProduceError::Read(KdbError::corrupt(
                        source.display().to_string(),
                        head + width * row,
                        format!(
                            "the column is marked sorted (s#) but row {row} ({}) is less than row {}{image}",
                            chunk.fmt_value(i),
                            row.saturating_sub(1)
                        ),
                    )));
                }
                prev = t;
            }
        }
        if let Some(sink) = sink.as_mut() {
            sink.write(&buf)?;
        }
        first_row += chunk.len() as u64;
    }
    Ok(sink)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunk: ColumnData) -> Result<Vec<i64>, RowFault> {
        let mut out = Vec::new();
        derive_chunk(&chunk, 10 * NS_PER_DAY, &mut out)?;
        Ok(out
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect())
    }

    #[test]
    fn pure_conversion_and_its_faults() {
        let m = 10 * NS_PER_DAY;
        assert_eq!(
            run(ColumnData::Minute(vec![0, 1439])),
            Ok(vec![m, m + 1439 * 60_000_000_000])
        );
        assert_eq!(run(ColumnData::Timespan(vec![])), Ok(vec![]));
        // Datetime on the partition day 10 (2000.01.11), to the millisecond.
        assert_eq!(
            run(ColumnData::Datetime(vec![10.5])),
            Ok(vec![m + NS_PER_DAY / 2])
        );
        assert_eq!(
            run(ColumnData::Datetime(vec![9.99])),
            Err(RowFault::OffDay {
                row: 0,
                why: "is on another day"
            })
        );
        assert_eq!(
            run(ColumnData::Second(vec![1, i32::MIN])),
            Err(RowFault::Null { row: 1 })
        );
        assert_eq!(run(ColumnData::Long(vec![1])), Err(RowFault::NotTimeOfDay));
        assert_eq!(run(ColumnData::Long(vec![])), Err(RowFault::NotTimeOfDay));
        assert!(midnight_ns((2023, 2, 29), Path::new("x")).is_err());
        assert_eq!(
            midnight_ns((2000, 1, 2), Path::new("x")).ok(),
            Some(NS_PER_DAY)
        );
    }
}
