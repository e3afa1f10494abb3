//! Rollback: undo every step in effect, newest first, journaled so a crash during the rollback
//! resumes it; then restore the original directories' times. Works from the journal alone.

use super::exec::{
    check_identity, crash, ensure_symlink, exchange, journal_path, kind, point_symlink,
    progress_bar, smstage_dir, unexpected, Ctx, Kind,
};
use super::fsutil::{
    ensure_writable, fsync_parent, fsync_path, io_err, remove_replica, renameat2, replicate,
    set_times, times_of, tmp_name,
};
use super::journal::{Journal, JournalState, RecordKind};
use super::lock::Lock;
use super::steps::Step;
use super::{CommitError, Fault, RollbackOptions, RollbackReport};
use std::fs;
use std::path::Path;

/// Undo one forward step. Idempotent, and harmless on a step that never took effect (or took
/// effect partially), because rollback also undoes the step that was in flight.
pub(crate) fn undo_step(step: &Step, ctx: &Ctx) -> Result<(), CommitError> {
    match step {
        Step::Mkdir { path } => {
            let p = ctx.p(path);
            if ctx.preexisting.contains(path) {
                return Ok(());
            }
            if kind(&p)? == Kind::Dir {
                fs::remove_dir(&p).map_err(io_err("rmdir", &p))?;
            }
            fsync_parent(&p)
        }
        Step::WriteFileAtomic { path, .. } => {
            let p = ctx.p(path);
            for f in [tmp_name(&p, ".smstage-tmp"), p.clone()] {
                if kind(&f)? != Kind::Absent {
                    fs::remove_file(&f).map_err(io_err("unlink", &f))?;
                }
            }
            fsync_parent(&p)
        }
        Step::Symlink { path, target } => {
            let p = ctx.p(path);
            match kind(&p)? {
                Kind::Absent => {}
                Kind::Link(t) if t == Path::new(target) => {
                    fs::remove_file(&p).map_err(io_err("unlink", &p))?
                }
                other => {
                    return Err(unexpected(
                        &p,
                        &format!("expected our symlink to {target}, found {other:?}"),
                    ))
                }
            }
            fsync_parent(&p)
        }
        Step::Replicate { from, to } => {
            let t = ctx.p(to);
            remove_replica(&t, &ctx.p(from), ctx.mode)?;
            fsync_parent(&t)
        }
        Step::Rename { from, to } => {
            let (f, t) = (ctx.p(from), ctx.p(to));
            if kind(&f)? == Kind::Absent && kind(&t)? != Kind::Absent {
                renameat2(&t, &f, libc::RENAME_NOREPLACE)
                    .map_err(io_err("renameat2(RENAME_NOREPLACE)", &f))?;
            }
            fsync_parent(&f)?;
            fsync_parent(&t)
        }
        Step::Exchange { a, b } => {
            let (pa, pb) = (ctx.p(a), ctx.p(b));
            match (kind(&pa)?, kind(&pb)?) {
                (Kind::Link(_), Kind::Dir) => exchange(&pa, &pb),
                (Kind::Dir, Kind::Link(_)) | (Kind::Dir, Kind::Absent) => Ok(()),
                (x, y) => Err(unexpected(
                    &pa,
                    &format!("cannot undo exchange: found {x:?} and {y:?}"),
                )),
            }
        }
        Step::ReplaceSymlink {
            path, old_target, ..
        } => point_symlink(&ctx.p(path), old_target),
        Step::UnlinkSymlink { path, target } => ensure_symlink(&ctx.p(path), target),
        Step::RemoveTree { path, replica } => replicate(&ctx.p(replica), &ctx.p(path), ctx.mode),
    }
}

/// Undo every forward step in effect (done, or in flight), newest first, then restore the
/// recorded directory times and mark the journal rolled back. Returns the number undone.
pub(crate) fn undo_all(
    journal: &mut Journal,
    ctx: &Ctx,
    progress: bool,
    fault: Option<Fault>,
) -> Result<usize, CommitError> {
    if journal.replay.state != Some(JournalState::RollingBack) {
        journal.append(RecordKind::RollbackBegin, 0)?;
    }
    let mut todo: Vec<usize> = journal.replay.done.iter().copied().collect();
    todo.extend(journal.replay.pending);
    todo.sort_unstable();
    todo.dedup();
    let steps = journal.header.steps.clone();
    let pb = progress_bar(todo.len(), progress, "rollback");
    for &k in todo.iter().rev() {
        let step = steps.get(k).ok_or_else(|| CommitError::Journal {
            path: journal.path.clone(),
            msg: format!("record names step {k}, the journal has {}", steps.len()),
        })?;
        journal.append(RecordKind::UndoIntent, k)?;
        tracing::debug!(step = k, "undo {}", step.label());
        undo_step(step, ctx)?;
        if fault == Some(Fault::CrashInRollback(k)) {
            crash();
        }
        journal.append(RecordKind::UndoDone, k)?;
        if let Some(pb) = &pb {
            pb.inc(1);
        }
    }
    restore_times(journal, ctx)?;
    journal.append(RecordKind::RolledBack, 0)?;
    if let Some(pb) = pb {
        pb.finish_with_message("rolled back");
    }
    tracing::info!(undone = todo.len(), "rolled back");
    Ok(todo.len())
}

/// Entries added and removed during the commit changed the mtimes of the original directories;
/// put back the recorded values, deepest first (setting a child's times does not touch its
/// parent's, but being orderly costs nothing).
fn restore_times(journal: &Journal, ctx: &Ctx) -> Result<(), CommitError> {
    let mut dirs = journal.header.dir_times.clone();
    dirs.sort_by_key(|(p, _)| std::cmp::Reverse(p.matches('/').count()));
    for (rel, t) in dirs {
        let p = ctx.p(&rel);
        if kind(&p)? != Kind::Dir {
            continue;
        }
        // A directory the commit never touched already has its times: writing them anyway
        // would fail on one that cannot be changed (immutable, read-only) and block a rollback
        // that has nothing left to do.
        let now = fs::symlink_metadata(&p).map_err(io_err("lstat", &p))?;
        if times_of(&now) != t {
            set_times(&p, t)?;
            fsync_path(&p)?;
        }
    }
    Ok(())
}

pub(crate) fn run_rollback(
    base: &Path,
    opts: &RollbackOptions,
) -> Result<RollbackReport, CommitError> {
    let sm = smstage_dir(base);
    let jpath = journal_path(base);
    if kind(&jpath)? == Kind::Absent {
        return Err(CommitError::NoJournal { path: jpath });
    }
    ensure_writable(base)?;
    let lock = Lock::acquire(&sm.join("lock"))?;
    let mut journal = Journal::open(&jpath)?;
    check_identity(&journal.header, base, &jpath)?;
    ensure_writable(&base.join(&journal.header.source))?;
    let stale_lock_pid = lock.took_over.as_ref().map(|h| h.pid);
    if journal.replay.state == Some(JournalState::RolledBack) {
        return Ok(RollbackReport {
            already_rolled_back: true,
            steps_undone: 0,
            journal: jpath,
            stale_lock_pid,
        });
    }
    let ctx = Ctx::from_header(&journal.header);
    let n = undo_all(&mut journal, &ctx, opts.progress, opts.fault)?;
    Ok(RollbackReport {
        already_rolled_back: false,
        steps_undone: n,
        journal: jpath,
        stale_lock_pid,
    })
}
