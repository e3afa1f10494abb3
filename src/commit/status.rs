//! `smstage status`: what the journal and the lock say, without taking the lock.

use super::exec::{journal_path, kind, smstage_dir, Kind};
use super::journal::{read_seen, JournalState, SeenJournal};
use super::lock::{inspect, LockInfo};
use super::CommitError;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    None,
    InProgress,
    Committed,
    RollingBack,
    RolledBack,
}

/// The commit's state; serialises to `{state, steps_done, steps_total, lock, journal}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Status {
    pub state: State,
    /// Forward steps currently in effect.
    pub steps_done: usize,
    pub steps_total: usize,
    pub lock: Option<LockInfo>,
    /// The journal file, if there is one.
    pub journal: Option<PathBuf>,
    /// The `plan_id` the journal records (`null` before any commit).
    pub plan_id: Option<String>,
    /// An import in progress that `commit --plan` started before its proof that the database
    /// is as the plan file stamped it had passed, and that stopped before that proof passed
    /// (docs/journal.md, "The proof gate"): only `commit --plan` with the same plan file
    /// resumes it, proving first.
    pub proof_pending: bool,
}

pub fn status(base: &Path) -> Result<Status, CommitError> {
    status_seen(base).map(|(s, _)| s)
}

/// [`status`], and the journal as read for it: a commit started right after takes it instead
/// of reading the journal again, once locked, if the file is unchanged (SeenJournal).
pub fn status_seen(base: &Path) -> Result<(Status, Option<SeenJournal>), CommitError> {
    let lock = inspect(&smstage_dir(base).join("lock"))?;
    let jpath = journal_path(base);
    if kind(&jpath)? == Kind::Absent {
        return Ok((
            Status {
                state: State::None,
                steps_done: 0,
                steps_total: 0,
                lock,
                journal: None,
                plan_id: None,
                proof_pending: false,
            },
            None,
        ));
    }
    let seen = read_seen(&jpath)?;
    let (header, r) = (&seen.summary, &seen.replay);
    let proof_pending = r.owed_proof(header.proof_gate).is_some();
    let state = match r.state {
        None | Some(JournalState::InProgress) => State::InProgress,
        Some(JournalState::Committed) => State::Committed,
        Some(JournalState::RollingBack) => State::RollingBack,
        Some(JournalState::RolledBack) => State::RolledBack,
    };
    Ok((
        Status {
            state,
            steps_done: r.done.len(),
            steps_total: header.steps_total(),
            lock,
            journal: Some(jpath),
            plan_id: header.plan_id.clone(),
            proof_pending,
        },
        Some(seen),
    ))
}
