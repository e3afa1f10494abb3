//! The database's own findings when its assembly is refused (exit 2): a configuration error
//! must not hide what is wrong with the data, or a user fixes the YAML, runs `check` again and
//! only then learns the database needs work too. Without a configuration the checks are those
//! of `verify` without `--config` (layout, load health, partitions; with `--deep` every value),
//! reading the database found through the HDB mount's baseURI alone.

use super::{read_and_evaluate, segments::is_segmented, sm::sm_state};
use crate::finding::{code, Finding};
use crate::inventory::{self, RootMode};
use crate::plan;
use std::path::Path;

/// What `check` reports about the database at `<base>/data` beside a configuration error.
/// A segmented database is not read: which segment is which tier is the configuration's to
/// say.
pub fn database_findings(base: &Path, deep: bool) -> Vec<Finding> {
    let mut out = sm_state(base);
    if out
        .iter()
        .any(|f| f.code == code::SM_ALREADY || f.code == code::SM_PENDING)
    {
        return out;
    }
    let source = base.join(plan::SOURCE_DIR);
    if is_segmented(&source) {
        return out;
    }
    match inventory::scan_root(&source, RootMode::Partitioned) {
        Ok((mut inv, dirs)) => out.extend(read_and_evaluate(None, &mut inv, dirs, deep)),
        Err(e) => {
            out.push(Finding::error(code::DATABASE_MISSING, e.to_string()).path(source.display()))
        }
    }
    out
}
