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
use crate::kdb::{self, Attr, ColumnData, T_TIMESTAMP};

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
        let plain = if p.tier.is_none() {
            values_in_place(f, h)
        } else {
            None
        };
        let values = match plain.map(Ok).unwrap_or_else(|| read(f, p.tier)) {
            Ok(v) => v,
            // An unreadable column is the load family's finding (decode_all reports it).
            Err(_) => continue,
        };
        let bad = values.iter().filter(|v| off(**v)).count();
        let first = values.iter().position(|v| off(*v));
        let Some(row) = first else { continue };
        let v = values[row];
        let shown = if v == i64::MIN {
            "null".to_string()
        } else {
            render(v)
        };
        let mut finding = Finding::error(
            code::SM_PRTNCOL_DATE,
            format!(
                "{bad} of {} rows of {} have a prtnCol {col} that, rounded down, is not the partition's date {} (first: row {row}, {shown}): \"a timestamp column which, when rounded down, is equal to the date\" ({PREREQUISITES})",
                values.len(),
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

/// Every value of an uncompressed local timestamp vector in one read (what `read` decodes
/// with the general reader, without its copies).
fn values_in_place(f: &FileInv, h: &kdb::Header) -> Option<Vec<i64>> {
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
    if start + 8 * h.count > len {
        return None;
    }
    let mut buf = vec![0u8; 8 * h.count as usize];
    file.read_exact_at(&mut buf, start).ok()?;
    Some(
        buf.chunks_exact(8)
            .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect(),
    )
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

/// A kdb+ timestamp as q prints it (`2024.01.02D09:30:00.000000000`).
fn render(ns: i64) -> String {
    let days = ns.div_euclid(NS_PER_DAY);
    let rem = ns.rem_euclid(NS_PER_DAY);
    let (y, m, d) = civil(days);
    format!(
        "{y:04}.{m:02}.{d:02}D{:02}:{:02}:{:02}.{:09}",
        rem / 3_600_000_000_000,
        rem / 60_000_000_000 % 60,
        rem / 1_000_000_000 % 60,
        rem % 1_000_000_000
    )
}

/// (year, month, day) of a kdb+ date (days since 2000.01.01).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 10957 + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_render_as_q_prints_them() {
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
