//! `--deep`, SM prerequisites family: every row's partition column, rounded down to its day,
//! must be the date of the partition that holds it (KX: "a timestamp column which, when
//! rounded down, is equal to the date"). SM routes rows to partitions by it, so a row whose
//! prtnCol says another day (or null) would move on the first write-down.
//!
//! A column sorted on disk (`s#`, or named first in `sortColsDisk`) is judged from its first
//! and last values: between two values on the partition's day, every value is on that day.

use crate::config::AssemblyConfig;
use crate::finding::{code, Finding};
use crate::inventory::{self, FileInv};
use crate::kdb::{self, chunked::ColumnChunks, Attr, ColumnData, LocalFile, ReadAt, T_TIMESTAMP};
use std::path::Path;

const NS_PER_DAY: i64 = 86_400_000_000_000;
const PREREQUISITES: &str = "KX: kdb Insights › database › import › Prerequisites";

/// The findings of one partition (one per table whose prtnCol has rows off the date).
pub(crate) fn partition(config: &AssemblyConfig, p: inventory::PartRef) -> Vec<Finding> {
    let Some((y, m, d)) = crate::dates::parse_date(&p.part.date) else {
        return Vec::new();
    };
    let day = crate::dates::days_from_civil(y as i64, m, d);
    let mut out = Vec::new();
    for t in &p.part.tables {
        let Some(schema) = config.tables.iter().find(|s| s.name == t.name) else {
            continue;
        };
        let Some(col) = schema.prtn_col.as_deref() else {
            continue;
        };
        let Some(f) = t.files.iter().find(|f| f.name == col) else {
            continue;
        };
        let Ok(h) = &f.header else { continue };
        // Another type on disk is sm-prtncol-not-timestamp's finding, not this one's.
        if kdb::logical_type(h, f.nested_item) != kdb::LogicalType::Simple(T_TIMESTAMP) {
            continue;
        }
        let sorted = h.attr == Attr::Sorted
            || schema.sort_cols_disk.first().map(String::as_str) == Some(col);
        let off = |v: i64| v == i64::MIN || v.div_euclid(NS_PER_DAY) != day;
        // Sorted and stored plain on local disk: two 8-byte reads decide (nulls sort first).
        if sorted && p.tier.is_none() {
            if let Some((a, b)) = ends(f, h) {
                if !off(a) && !off(b) {
                    continue;
                }
            }
        }
        // Local columns a chunk at a time (check --deep stays bounded whatever the column's
        // size); object-tier columns are fetched whole, as the deep decode fetches them.
        let scanned = match p.tier {
            None => off_day_local(f, &off),
            Some(tier) => read(f, Some(tier)).ok().map(|v| {
                let mut o = OffDay::default();
                o.add(&v, &off);
                o
            }),
        };
        // An unreadable column is the load family's finding (decode_all reports it).
        let Some(OffDay {
            rows,
            bad,
            first: Some((row, v)),
        }) = scanned
        else {
            continue;
        };
        let shown = if v == i64::MIN {
            "null".to_string()
        } else {
            ColumnData::Timestamp(vec![v]).fmt_value(0)
        };
        let mut finding = Finding::error(
            code::SM_PRTNCOL_DATE,
            format!(
                "{bad} of {} rows of {} have a prtnCol {col} that, rounded down, is not the partition's date {} (first: row {row}, {shown}): \"a timestamp column which, when rounded down, is equal to the date\" ({PREREQUISITES})",
                rows,
                t.name,
                p.part.date
            ),
        )
        .partition(&p.part.date)
        .table(&t.name)
        .column(col)
        .path(f.path().display())
        .hint(format!("move those rows to the partition of their day, or correct {col}; nulls need a value on the partition's date"));
        if let Some(tier) = p.tier {
            finding = finding.tier(&tier.name);
        }
        out.push(finding);
    }
    out
}

/// First and last value of an uncompressed local timestamp vector, read in place: the data
/// starts after the 16-byte (`fe 20`) or 4 KiB (`fd 20`) header, 8 bytes a value.
fn ends(f: &FileInv, h: &kdb::Header) -> Option<(i64, i64)> {
    use std::os::unix::fs::FileExt;
    if h.compression.is_some() {
        return None;
    }
    let start = match h.format {
        kdb::FileFormat::Vector => 16,
        kdb::FileFormat::Vector4k => 4096,
        _ => return None,
    };
    let file = std::fs::File::open(f.path()).ok()?;
    let len = file.metadata().ok()?.len();
    // The values end where an attribute's index data (p#, g#, u#) would begin.
    if h.count == 0 || start + 8 * h.count > len {
        return None;
    }
    let at = |off: u64| -> Option<i64> {
        let mut b = [0u8; 8];
        file.read_exact_at(&mut b, off).ok()?;
        Some(i64::from_le_bytes(b))
    };
    Some((at(start)?, at(start + 8 * (h.count - 1))?))
}

/// How many rows of a timestamp column are off their partition's day, and the first of them.
#[derive(Debug, Default)]
struct OffDay {
    rows: u64,
    bad: u64,
    /// (row, value) of the first row off the day.
    first: Option<(u64, i64)>,
}

impl OffDay {
    fn add(&mut self, values: &[i64], off: &dyn Fn(i64) -> bool) {
        for (i, &v) in values.iter().enumerate() {
            if off(v) {
                self.bad += 1;
                self.first.get_or_insert((self.rows + i as u64, v));
            }
        }
        self.rows += values.len() as u64;
    }
}

/// [`OffDay`] of a local column, read a chunk at a time ([`kdb::chunked`]); None when it
/// cannot be read as timestamps (the load family reports why).
fn off_day_local(f: &FileInv, off: &dyn Fn(i64) -> bool) -> Option<OffDay> {
    let src = LocalFile::open(&f.path()).ok()?;
    let open = |p: &str| LocalFile::open(Path::new(p)).map(|f| Box::new(f) as Box<dyn ReadAt>);
    let mut chunks = ColumnChunks::open(&src, &open, super::deep_scan::chunk_bytes()).ok()?;
    let mut o = OffDay::default();
    while let Some(chunk) = chunks.next_rows(usize::MAX).ok()? {
        let ColumnData::Timestamp(v) = chunk else {
            return None;
        };
        o.add(&v, off);
    }
    Some(o)
}

fn read(f: &FileInv, tier: Option<&inventory::ObjectTierInv>) -> Result<Vec<i64>, String> {
    let column = match tier {
        None => kdb::read_column(&f.path()).map_err(|e| e.to_string())?,
        Some(t) => crate::object::read_object_column(&t.tier, &f.path().to_string_lossy())
            .map_err(|e| e.to_string())?,
    };
    match column.data {
        ColumnData::Timestamp(v) => Ok(v),
        _ => Err("not a timestamp column".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_render_as_q_prints_them() {
        let render = |ns: i64| ColumnData::Timestamp(vec![ns]).fmt_value(0);
        let day = crate::dates::days_from_civil(2024, 1, 2);
        assert_eq!(render(day * NS_PER_DAY), "2024.01.02D00:00:00.000000000");
        assert_eq!(
            render(day * NS_PER_DAY - 1),
            "2024.01.01D23:59:59.999999999"
        );
        assert_eq!(render(0), "2000.01.01D00:00:00.000000000");
        assert_eq!(render(-NS_PER_DAY), "1999.12.31D00:00:00.000000000");
    }
}
