//! `--deep`: every column decoded (enumeration ranges, compressed blocks).

use super::{deep_scan, file_error, plural, PartitionChecks};
use crate::finding::{code, Finding};
use crate::inventory::{self, FileError, Inventory};
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
            // Local files stream a chunk at a time; an object is fetched whole first.
            let domain_len = |d: &str| inv.domain(d).map_or(0, |s| s.len());
            let range = match tier {
                None => deep_scan::scan_local(&f.path(), &domain_len, deep_scan::chunk_bytes())
                    .map_err(|e| FileError::from_kdb(&e)),
                Some(t) => crate::object::read_object_column(&t.tier, &f.path().to_string_lossy())
                    .map_err(|e| FileError::from_object(&e))
                    .map(|col| deep_scan::range_of(&col.data, &domain_len)),
            };
            match range {
                Err(e) => Some((i, place(file_error(&e, &f.path())))),
                Ok(None) => None,
                Ok(Some(deep_scan::EnumRange { domain, beyond, max })) => {
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
