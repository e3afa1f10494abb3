//! `--deep`: every column decoded (enumeration ranges, compressed blocks).

use super::{file_error, plural, PartitionChecks};
use crate::finding::{code, Finding};
use crate::inventory::{self, FileError, Inventory};
use crate::kdb;
use rayon::prelude::*;

/// `--deep`: decode every column; count enumeration indices beyond their domain.
pub fn deep_checks(inv: &Inventory) -> Vec<Finding> {
    let checks = PartitionChecks::new(None, inv, None);
    let mut out: Vec<Finding> = inv
        .all_partitions()
        .into_iter()
        .flat_map(|p| checks.deep(p))
        .collect();
    out.extend(checks.deep_root());
    out
}

pub(crate) type DeepJob<'a> = (
    Option<&'a str>,
    &'a str,
    &'a inventory::FileInv,
    Option<&'a inventory::ObjectTierInv>,
);

/// Decodes the files of `jobs` in parallel; findings in the jobs' order.
pub(crate) fn decode_all(jobs: Vec<DeepJob<'_>>, inv: &Inventory) -> Vec<Finding> {
    let mut out: Vec<(usize, Finding)> = jobs
        .par_iter()
        .enumerate()
        .filter_map(|(i, (part, table, f, tier))| {
            let place = |x: Finding| {
                let x = x.table(*table).column(&f.name).path(f.path().display());
                match part {
                    Some(p) => x.partition(*p),
                    None => x,
                }
            };
            let column = match tier {
                None => kdb::read_column(&f.path()).map_err(|e| FileError::from_kdb(&e)),
                Some(t) => crate::object::read_object_column(&t.tier, &f.path().to_string_lossy())
                    .map_err(|e| FileError::from_object(&e)),
            };
            match column {
                Err(e) => Some((i, place(file_error(&e, &f.path())))),
                Ok(col) => {
                    let (domain, beyond, max) = match &col.data {
                        kdb::ColumnData::Enum { domain, indices } => {
                            let n = inv.domain(domain).map(|d| d.len()).unwrap_or(0) as i64;
                            // Negative indices are kdb+ nulls (0N), not out of range.
                            let beyond = indices.iter().filter(|&&i| i >= n).count();
                            (domain.clone(), beyond, indices.iter().copied().max().unwrap_or(0))
                        }
                        _ => return None,
                    };
                    if beyond == 0 {
                        return None;
                    }
                    let n = inv.domain(&domain).map(|d| d.len()).unwrap_or(0);
                    Some((i, place(Finding::warning(
                        code::LOAD_ENUM_RANGE,
                        format!("{beyond} value{} of enumerated column {} index beyond its domain `{domain}` ({n} symbols; largest index {max}, needing {} symbols): kdb+ reads them as null", plural(beyond), f.name, max + 1),
                    ).hint(format!("restore the complete `{domain}` file from the backup if those symbols were lost")))))
                }
            }
        })
        .collect();
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, f)| f).collect()
}
