//! The commit: converts the database in place to exactly the plan's layout, durably (journal),
//! resumably (after a crash at any point) and reversibly (rollback). Design: docs/journal.md.

mod barrier;
mod exec;
mod fsutil;
mod gate;
mod journal;
mod lock;
mod rollback;
mod segments;
mod status;
mod steps;

pub use barrier::SyncMode;
pub use exec::{plan_hash, Proof};
pub use fsutil::{normalize, relative, renameat2, under};
pub use gate::{proof_gate, ProofGate};
pub use journal::SeenJournal;
pub use journal::MAX_BATCH_STEPS;
pub use journal::{JournalHeader, JournalState, JOURNAL_VERSION};
pub use lock::hostname;
pub use lock::{LockHolder, LockInfo};
pub use status::{status, status_seen, State, Status};
pub use steps::{staging_name, steps, wave_lens, waves, Step};

use crate::plan::Plan;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Exit code of a process stopped by an injected crash.
pub const CRASH_EXIT_CODE: i32 = 86;

/// A fault to inject (tests only: the CLI never sets one). Step numbers index [`steps`]. Steps
/// run in groups (a wave, or a chunk of one): intents of the group, actions, one barrier, dones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Exit right before step k acts: its group's intents are durable, the steps of the group
    /// before k have acted (not yet synced), k and the rest have not.
    CrashAfterIntent(usize),
    /// Exit right after step k acted: before the rest of its group, the barrier and the dones.
    CrashAfterAction(usize),
    /// Step k fails with an injected error (exercises the automatic rollback).
    FailAt(usize),
    /// During a rollback, exit right after undoing step k, before the rest of its group, the
    /// barrier and the undo-done records.
    CrashInRollback(usize),
}

impl Fault {
    /// Fault requested through the environment; honoured only with the `fault-injection`
    /// feature: SMSTAGE_CRASH_AFTER_STEP=k, SMSTAGE_CRASH_AT=k:intent|k:action,
    /// SMSTAGE_FAIL_AT_STEP=k, SMSTAGE_CRASH_IN_ROLLBACK=k.
    pub fn from_env() -> Option<Fault> {
        if !cfg!(feature = "fault-injection") {
            return None;
        }
        let num = |v: &str| std::env::var(v).ok().and_then(|s| s.trim().parse().ok());
        if let Some(k) = num("SMSTAGE_CRASH_AFTER_STEP") {
            return Some(Fault::CrashAfterAction(k));
        }
        if let Ok(s) = std::env::var("SMSTAGE_CRASH_AT") {
            let (k, at) = s.split_once(':').unwrap_or((&s, "action"));
            if let Ok(k) = k.trim().parse() {
                return Some(if at == "intent" {
                    Fault::CrashAfterIntent(k)
                } else {
                    Fault::CrashAfterAction(k)
                });
            }
        }
        if let Some(k) = num("SMSTAGE_FAIL_AT_STEP") {
            return Some(Fault::FailAt(k));
        }
        num("SMSTAGE_CRASH_IN_ROLLBACK").map(Fault::CrashInRollback)
    }
}

/// A test-only pause: once step `step` is done (its whole group is: dones durable), the commit
/// creates `file` and waits until it is removed, so a test can change the world (remount read-only, fill a disk) between two
/// steps. Honoured only with the `fault-injection` feature, from SMSTAGE_PAUSE_AT_STEP=k and
/// SMSTAGE_PAUSE_FILE=path (default `<B>/.smstage/paused`; a path outside B lets the test
/// release the pause while B is read-only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pause {
    pub step: usize,
    pub file: PathBuf,
}

impl Pause {
    /// Longest wait: a test that dies without releasing the pause must not leave a commit
    /// hanging for ever.
    const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

    pub(crate) fn from_env(base: &Path) -> Option<Pause> {
        if !cfg!(feature = "fault-injection") {
            return None;
        }
        let step = std::env::var("SMSTAGE_PAUSE_AT_STEP")
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let file = std::env::var_os("SMSTAGE_PAUSE_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| base.join(".smstage").join("paused"));
        Some(Pause { step, file })
    }

    /// Create the pause file (holding our pid) and wait for it to disappear.
    pub(crate) fn wait(&self) {
        if let Err(e) = std::fs::write(&self.file, format!("{}\n", std::process::id())) {
            tracing::warn!(
                "cannot create the pause file {}: {e}; not pausing",
                self.file.display()
            );
            return;
        }
        tracing::warn!(
            step = self.step,
            "paused until {} is removed",
            self.file.display()
        );
        let t0 = std::time::Instant::now();
        while self.file.exists() && t0.elapsed() < Self::MAX_WAIT {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct CommitOptions {
    /// Show a progress bar when stderr is a terminal (tracing logs otherwise).
    pub progress: bool,
    /// Copy root entries even when hard links would work (tests the cross-filesystem path).
    pub force_copy: bool,
    /// Injected fault, for tests.
    #[doc(hidden)]
    pub fault: Option<Fault>,
    /// The `plan_id` of the saved plan being committed: recorded in the journal header, and a
    /// resume is refused unless the journal records the same one.
    pub plan_id: Option<String>,
    /// The journal as `status_seen` read it just before: taken instead of reading it again
    /// once the lock is held, if the file is still the one read.
    pub seen: Option<std::sync::Arc<SeenJournal>>,
}

impl CommitOptions {
    fn effective_fault(&self) -> Option<Fault> {
        self.fault.or_else(Fault::from_env)
    }
}

#[derive(Clone, Debug, Default)]
pub struct RollbackOptions {
    pub progress: bool,
    #[doc(hidden)]
    pub fault: Option<Fault>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CommitReport {
    /// The journal already said committed: nothing was changed.
    pub already_committed: bool,
    /// An interrupted commit was resumed.
    pub resumed: bool,
    pub steps_total: usize,
    /// Steps run by this invocation.
    pub steps_run: usize,
    /// Root entries were copied (different filesystems) rather than hard-linked.
    pub copy_mode: bool,
    pub journal: PathBuf,
    /// A stale lock left by this dead pid was taken over.
    pub stale_lock_pid: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RollbackReport {
    pub already_rolled_back: bool,
    pub steps_undone: usize,
    pub journal: PathBuf,
    pub stale_lock_pid: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "fsync {path} failed: {source} (fatal: not retried; the next run resumes from the journal)"
    )]
    Fsync {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing the journal {path} failed: {source} (fatal; the next run resumes from the journal)")]
    JournalWrite {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("journal {path}: {msg}")]
    Journal { path: PathBuf, msg: String },
    #[error("journal {path} does not belong to this database: {reason}")]
    ForeignJournal { path: PathBuf, reason: String },
    #[error("no journal at {path}: nothing to roll back")]
    NoJournal { path: PathBuf },
    #[error("a rollback is in progress (journal {journal}); run `smstage rollback --config FILE` to finish it")]
    RollbackInProgress { journal: PathBuf },
    #[error("another smstage (pid {pid} on {host}) holds the lock {path}")]
    Locked {
        path: PathBuf,
        pid: u32,
        host: String,
    },
    #[error("{path} is on a read-only filesystem: nothing was changed (remount it read-write, then run the command again)")]
    ReadOnly { path: PathBuf },
    #[error("the plan cannot be committed: {0}")]
    Plan(String),
    #[error("preflight: {0}")]
    Preflight(String),
    #[error("{path}: {msg}")]
    Unexpected { path: PathBuf, msg: String },
    #[error("{path}: {msg}")]
    Verify { path: PathBuf, msg: String },
    /// `commit --plan`'s proof found the database changed since the plan was saved (the
    /// differences themselves are reported by whoever ran the proof).
    /// `usage`: the comparison could not be made for a reason of the user's (exit 2).
    #[error("{summary}")]
    Drift { summary: String, usage: bool },
    /// A proof the interrupted commit had not passed is owed before its step `step`.
    #[error("the interrupted import in {journal} was started by `commit --plan`, whose proof that the database is as the plan file stamped it had not finished; no step that moves a partition was taken: resume it with `smstage commit --plan FILE` (the same plan file), which proves it first, or undo it with `smstage rollback --config FILE`")]
    ProofPending { journal: PathBuf, step: usize },
    #[error("injected failure at step {step}")]
    Injected { step: usize },
    #[error("commit failed and was rolled back: {source}")]
    RolledBack { source: Box<CommitError> },
    #[error("commit failed ({original}) and the rollback failed too ({rollback}); run `smstage rollback --config FILE` again")]
    RollbackFailed {
        original: Box<CommitError>,
        rollback: Box<CommitError>,
    },
}

impl CommitError {
    /// Errors after which nothing more is attempted (no automatic rollback): the durability of
    /// what was written is unknown, so the journal stays as the only truth for the next run.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            CommitError::Fsync { .. } | CommitError::JournalWrite { .. }
        )
    }

    /// The OS error number at the bottom of this error, if any (for a rollback that failed,
    /// the rollback's): lets the CLI say *why* (e.g. EROFS: the filesystem went read-only).
    pub fn os_error(&self) -> Option<i32> {
        match self {
            CommitError::Io { source, .. }
            | CommitError::Fsync { source, .. }
            | CommitError::JournalWrite { source, .. } => source.raw_os_error(),
            CommitError::ReadOnly { .. } => Some(libc::EROFS),
            CommitError::RolledBack { source } => source.os_error(),
            CommitError::RollbackFailed { rollback, .. } => rollback.os_error(),
            _ => None,
        }
    }
}

/// Convert the database to the plan's layout (or resume an interrupted conversion). On a
/// non-fatal error the changes are rolled back and the error is returned wrapped in
/// [`CommitError::RolledBack`].
pub fn commit(plan: &Plan, opts: &CommitOptions) -> Result<CommitReport, CommitError> {
    exec::run_commit(plan, Prepared::of(plan)?, opts, None)
}

/// A plan's steps, in waves, and its proof gate: derived once (0.2-0.3 s at 25,000
/// partitions), for both the proof's set-up and the commit.
pub struct Prepared {
    waves: Vec<Vec<Step>>,
    gate: Option<ProofGate>,
}

impl Prepared {
    pub fn of(plan: &Plan) -> Result<Prepared, CommitError> {
        let waves = waves(plan)?;
        let gate = proof_gate(plan, &waves);
        Ok(Prepared { waves, gate })
    }

    /// Where a proof may run beside the steps ([`proof_gate`]).
    pub fn gate(&self) -> Option<&ProofGate> {
        self.gate.as_ref()
    }
}

/// [`commit`] of a plan whose proof (that the database is as the plan file stamped it) runs
/// beside the first steps: the steps before the plan's gate ([`proof_gate`]) run while it does,
/// and its verdict is awaited before the first step that changes a stamped entry. A drift
/// verdict there rolls back what was done and returns [`CommitError::RolledBack`] around the
/// proof's error. Also resumes a commit whose proof had not passed: it must pass again.
/// `prepared` must be [`Prepared::of`] this `plan`.
pub fn commit_with_proof(
    plan: &Plan,
    prepared: Prepared,
    opts: &CommitOptions,
    proof: Proof,
) -> Result<CommitReport, CommitError> {
    exec::run_commit(plan, prepared, opts, Some(proof))
}

/// Undo a partial or completed commit of the database at `base` (the HDB mount's baseURI
/// directory), from the journal alone.
pub fn rollback(base: &Path, opts: &RollbackOptions) -> Result<RollbackReport, CommitError> {
    rollback::run_rollback(base, opts)
}

/// The plan an interrupted or finished commit was started with, if any: `commit` resumes with
/// it (the database is half converted, so it cannot be planned again).
pub fn saved_plan(base: &Path) -> Result<Option<Plan>, CommitError> {
    let path = exec::plan_path(base);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CommitError::Io {
                op: "read",
                path,
                source,
            })
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| CommitError::Journal {
            path,
            msg: format!("the saved plan is unreadable: {e}"),
        })
}
