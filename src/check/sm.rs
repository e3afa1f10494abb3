//! SM prerequisites family: signs that the database is already in SM format or under import.

use crate::commit::{State, Status};
use crate::finding::{code, Finding};
use crate::plan;
use std::path::Path;

/// Signs that the database was already imported, or that an import is under way.
pub(crate) fn sm_state(base: &Path) -> Vec<Finding> {
    let mut f = Vec::new();
    match crate::commit::status(base) {
        Ok(st) => match st.state {
            State::None | State::RolledBack => {}
            State::Committed => {
                f.push(
                    Finding::error(
                        code::SM_ALREADY,
                        format!("{} was already imported into SM format (journal {})", base.display(), journal_text(&st)),
                    )
                    .hint("there is nothing to import; `smstage rollback --config FILE` undoes the import if needed"),
                );
                return f;
            }
            State::InProgress | State::RollingBack => {
                f.push(
                    Finding::error(
                        code::SM_PENDING,
                        format!("an import of {} is unfinished ({} of {} steps done, journal {})", base.display(), st.steps_done, st.steps_total, journal_text(&st)),
                    )
                    .hint("run `smstage status --config FILE` to see where it stands, then `smstage commit --config FILE` to resume it or `smstage rollback --config FILE` to undo it"),
                );
                return f;
            }
        },
        Err(e) => {
            f.push(
                Finding::error(code::SM_PENDING, format!("an import journal exists but cannot be read: {e}"))
                    .path(base.join(".smstage").display())
                    .hint("run `smstage status --config FILE`; if the journal is not from smstage, move .smstage away"),
            );
            return f;
        }
    }
    // `data/par.txt` alone marks a segmented database (checked in segments.rs, which also
    // recognises an SM root there by its `<tier>$` lines).
    let root = base.join(plan::ROOT_DIR);
    if root.exists() {
        f.push(
            Finding::error(
                code::SM_ALREADY,
                format!("{} exists: the database looks like it is already in SM (segmented) format", root.display()),
            )
            .path(root.display())
            .hint("there is nothing to import; if this is left over from another tool, move it away and run check again"),
        );
    }
    f
}

pub(crate) fn journal_text(st: &Status) -> String {
    st.journal
        .as_ref()
        .map(|j| j.display().to_string())
        .unwrap_or_default()
}
