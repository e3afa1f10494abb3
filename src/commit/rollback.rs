//! Rollback: undo every step in effect, newest wave first (one undo-intent batch, the inverses,
//! one barrier, one undo-done batch per wave), journaled so a crash during the rollback resumes
//! it; then restore the original directories' times. Works from the journal alone.

use super::barrier::Dirty;
use super::exec::{
    check_identity, crash, ensure_symlink, exchange, groups, holds, journal_path, kind,
    point_symlink, progress_bar, smstage_dir, unexpected, Ctx, Kind,
};
use super::fsutil::{
    ensure_writable, io_err, remove_replica, renameat2, replicate, set_times, times_of, tmp_name,
};
use super::journal::{Journal, JournalState, RecordKind};
use super::lock::Lock;
use super::steps::Step;
use super::{CommitError, Fault, RollbackOptions, RollbackReport};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// Undo one forward step. Idempotent, and harmless on a step that never took effect (or took
/// effect partially), because rollback also undoes the steps that were in flight. Syncs
/// nothing: the directories it changes are recorded in `dirty` for the wave's barrier.
pub(crate) fn undo_step(step: &Step, ctx: &Ctx, dirty: &mut Dirty) -> Result<(), CommitError> {
    match step {
        Step::Mkdir { path } => {
            let p = ctx.p(path);
            if ctx.preexisting.contains(path) {
                return Ok(());
            }
            if kind(&p)? == Kind::Dir {
                fs::remove_dir(&p).map_err(io_err("rmdir", &p))?;
            }
            dirty.parent(&p);
            Ok(())
        }
        Step::WriteFileAtomic { path, .. } => {
            let p = ctx.p(path);
            for f in [tmp_name(&p, ".smstage-tmp"), p.clone()] {
                if kind(&f)? != Kind::Absent {
                    fs::remove_file(&f).map_err(io_err("unlink", &f))?;
                }
            }
            dirty.parent(&p);
            Ok(())
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
            dirty.parent(&p);
            Ok(())
        }
        Step::Replicate { from, to } => remove_replica(&ctx.p(to), &ctx.p(from), ctx.mode, dirty),
        Step::Rename { from, to } => {
            let (f, t) = (ctx.p(from), ctx.p(to));
            if kind(&f)? == Kind::Absent && kind(&t)? != Kind::Absent {
                renameat2(&t, &f, libc::RENAME_NOREPLACE)
                    .map_err(io_err("renameat2(RENAME_NOREPLACE)", &f))?;
            }
            dirty.parent(&f);
            dirty.parent(&t);
            Ok(())
        }
        Step::Exchange { a, b } => {
            let (pa, pb) = (ctx.p(a), ctx.p(b));
            match (kind(&pa)?, kind(&pb)?) {
                (Kind::Link(_), Kind::Dir) => exchange(&pa, &pb, dirty),
                (Kind::Dir, Kind::Link(_)) | (Kind::Dir, Kind::Absent) => {
                    dirty.parent(&pa);
                    dirty.parent(&pb);
                    Ok(())
                }
                (x, y) => Err(unexpected(
                    &pa,
                    &format!("cannot undo exchange: found {x:?} and {y:?}"),
                )),
            }
        }
        Step::ReplaceSymlink {
            path, old_target, ..
        } => point_symlink(&ctx.p(path), old_target, dirty),
        Step::UnlinkSymlink { path, target } => ensure_symlink(&ctx.p(path), target, dirty),
        Step::RemoveTree { path, replica } => {
            replicate(&ctx.p(replica), &ctx.p(path), ctx.mode, dirty)
        }
        Step::PlaceStaged { staged, path } | Step::PlaceStagedDir { staged, path } => {
            let (f, t) = (ctx.p(staged), ctx.p(path));
            if kind(&f)? == Kind::Absent && kind(&t)? != Kind::Absent {
                renameat2(&t, &f, libc::RENAME_NOREPLACE)
                    .map_err(io_err("renameat2(RENAME_NOREPLACE)", &f))?;
            }
            dirty.parent(&f);
            dirty.parent(&t);
            Ok(())
        }
        Step::SetAside { path, aside } => {
            let (f, t) = (ctx.p(path), ctx.p(aside));
            if kind(&f)? == Kind::Absent && kind(&t)? != Kind::Absent {
                renameat2(&t, &f, libc::RENAME_NOREPLACE)
                    .map_err(io_err("renameat2(RENAME_NOREPLACE)", &f))?;
            }
            dirty.parent(&f);
            dirty.parent(&t);
            Ok(())
        }
        Step::SwapStaged {
            staged,
            path,
            sha256,
        } => {
            let (f, t) = (ctx.p(staged), ctx.p(path));
            // In effect exactly when the database holds the staged bytes.
            if holds(&t, sha256)? {
                exchange(&f, &t, dirty)?;
            }
            dirty.parent(&f);
            dirty.parent(&t);
            Ok(())
        }
    }
}

/// Undo every forward step in effect (done, or in flight), newest wave first, then restore the
/// recorded directory times and mark the journal rolled back. Returns the number undone.
pub(crate) fn undo_all(
    journal: &mut Journal,
    ctx: &Ctx,
    progress: bool,
    fault: Option<Fault>,
) -> Result<usize, CommitError> {
    if journal.replay.state != Some(JournalState::RollingBack) {
        journal.append(RecordKind::RollbackBegin)?;
    }
    let steps = journal.header.steps.clone();
    let in_effect: BTreeSet<usize> = journal
        .replay
        .done
        .union(&journal.replay.pending)
        .copied()
        .collect();
    if let Some(&k) = in_effect.iter().find(|&&k| k >= steps.len()) {
        return Err(CommitError::Journal {
            path: journal.path.clone(),
            msg: format!("record names step {k}, the journal has {}", steps.len()),
        });
    }
    let pb = progress_bar(in_effect.len(), progress, "rollback");
    for group in groups(&journal.header.wave_lens, journal.max_batch_steps())
        .into_iter()
        .rev()
    {
        // Inverses of one wave are as independent as the steps were; newest first anyway.
        let todo: Vec<usize> = group.rev().filter(|k| in_effect.contains(k)).collect();
        if todo.is_empty() {
            continue;
        }
        journal.append_steps(RecordKind::UndoIntent, &todo)?;
        let mut dirty = ctx.dirty();
        for &k in &todo {
            tracing::debug!(step = k, "undo {}", steps[k].label());
            undo_step(&steps[k], ctx, &mut dirty)?;
            if fault == Some(Fault::CrashInRollback(k)) {
                crash();
            }
        }
        ctx.barrier(&mut dirty)?;
        journal.append_steps(RecordKind::UndoDone, &todo)?;
        if let Some(pb) = &pb {
            pb.inc(todo.len() as u64);
        }
    }
    restore_times(journal, ctx)?;
    journal.append(RecordKind::RolledBack)?;
    if let Some(pb) = pb {
        pb.finish_with_message("rolled back");
    }
    tracing::info!(undone = in_effect.len(), "rolled back");
    Ok(in_effect.len())
}

/// Entries added and removed during the commit changed the mtimes of the original directories;
/// put back the recorded values, deepest first (setting a child's times does not touch its
/// parent's, but being orderly costs nothing), then make them durable with one barrier.
fn restore_times(journal: &Journal, ctx: &Ctx) -> Result<(), CommitError> {
    let mut dirs = journal.header.dir_times.clone();
    dirs.sort_by_key(|(p, _)| std::cmp::Reverse(p.matches('/').count()));
    let mut dirty = Dirty::default();
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
            dirty.dir(&p);
        }
    }
    ctx.barrier(&mut dirty)
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
    for store in &journal.header.stores {
        ensure_writable(store)?;
    }
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
    // SMSTAGE_CRASH_IN_ROLLBACK (docs/journal.md) reaches the binary's rollback too.
    let fault = opts
        .fault
        .or_else(|| Fault::from_env().filter(|f| matches!(f, Fault::CrashInRollback(_))));
    let n = undo_all(&mut journal, &ctx, opts.progress, fault)?;
    Ok(RollbackReport {
        already_rolled_back: false,
        steps_undone: n,
        journal: jpath,
        stale_lock_pid,
    })
}
