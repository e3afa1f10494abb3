//! Staging: the remedies' files written by the producers under
//! `<baseURI>/.smstage/stage/<stage_id>/`, mirroring the paths they will have in the database,
//! before anything of the database changes. All or nothing: on any error the partial stage is
//! removed. A run killed half-way leaves a partial stage and no plan file; running `plan
//! --save` again removes it and stages anew (same inputs, same bytes).

use super::action::Action;
use super::produce::{self, Job, ProduceError};
use super::segmented::Anchors;
use crate::plan::fingerprint::Fingerprint;
use crate::plan::remedied::STAGE_DIR;
use crate::plan::{Plan, StagedDir, StagedFile};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StageError {
    #[error("staging {what}: {source}")]
    Produce {
        what: String,
        #[source]
        source: ProduceError,
    },
    #[error("staging: {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("staging: {stage} is on another filesystem than the database {data}: the commit places staged files with rename(2), which cannot cross filesystems; make <baseURI>/.smstage a directory on the database's filesystem")]
    OtherFilesystem { stage: PathBuf, data: PathBuf },
    #[error("staging: the partition date of {0} is not a date")]
    BadDate(String),
}

impl StageError {
    /// A derivation the data refuses (off the partition's day, null, wrong type): the user's
    /// remedy is wrong, not the machine.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            StageError::Produce {
                source: ProduceError::DeriveSourceType { .. }
                    | ProduceError::DeriveNull { .. }
                    | ProduceError::DeriveOffDay { .. },
                ..
            }
        )
    }
}

/// Names the staging directory: the plan_id of the plan without remedies, hashed with the
/// remedies as given. (Not the saved plan's own plan_id: that hashes the staged files' sha256s,
/// which exist only once staged.)
pub fn stage_id(plan: &Plan, fingerprint: &Fingerprint, given: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(crate::plan::saved::plan_id(plan, fingerprint).as_bytes());
    for g in given {
        h.update(b"\n");
        h.update(g.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `.smstage/stage/<stage_id>`, relative to the baseURI.
pub fn stage_rel(stage_id: &str) -> String {
    format!("{STAGE_DIR}/{stage_id}")
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StageError + '_ {
    move |source| StageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes every action's files under `base/stage`; returns them sorted by `path`, and the new
/// table directories (fill-tables) sorted by `path`.
pub fn stage(
    base: &Path,
    source: &str,
    stage: &str,
    actions: &[Action],
) -> Result<(Vec<StagedFile>, Vec<StagedDir>), StageError> {
    stage_with(base, &Anchors::default(), source, stage, actions)
}

/// [`stage`] for a database whose partitions may lie in segments: `anchors` says where each
/// plan path below a store's anchor is on disk before the commit.
pub fn stage_with(
    base: &Path,
    anchors: &Anchors,
    source: &str,
    stage: &str,
    actions: &[Action],
) -> Result<(Vec<StagedFile>, Vec<StagedDir>), StageError> {
    let root = base.join(stage);
    if root.exists() {
        fs::remove_dir_all(&root).map_err(io(&root))?;
    }
    prune_stale_stages(base, &root)?;
    fs::create_dir_all(&root).map_err(io(&root))?;
    let result = stage_into(base, anchors, source, stage, &root, actions);
    if result.is_err() {
        // Nothing half-written is left for a plan to point at.
        let _ = fs::remove_dir_all(&root);
    }
    result
}

/// Removes the stages of earlier `plan --save` runs (other remedies, or the same remedies
/// before a commit and rollback moved the files' ctimes, which the stage id hashes), so staged
/// copies of columns do not pile up beside the database. Only when no commit needs them: a
/// committed or interrupted commit keeps the replaced originals (`.d`, `sym`) in its stage for
/// rollback, so while the journal says anything but "none" or "rolled back" every stage stays.
fn prune_stale_stages(base: &Path, keep: &Path) -> Result<(), StageError> {
    use crate::commit::{status, State};
    let dir = base.join(STAGE_DIR);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(());
    };
    match status(base) {
        Ok(s) if matches!(s.state, State::None | State::RolledBack) => {}
        _ => return Ok(()),
    }
    for e in entries {
        let path = e.map_err(io(&dir))?.path();
        if path != keep && path.is_dir() {
            fs::remove_dir_all(&path).map_err(io(&path))?;
        }
    }
    Ok(())
}

/// What one action left in the stage: its files, its table directory there and, for a filled
/// table, the new directory the commit places whole.
type ActionStaged = (Vec<StagedFile>, PathBuf, Option<StagedDir>);

/// Workers staging at once (`SMSTAGE_STAGE_THREADS`, 1..=16; default 4): enough to overlap
/// one file's CPU with another's disk on a small machine, few enough that the chunks in flight
/// stay a few MB.
fn stage_threads() -> usize {
    crate::io_pool::tuning_from_env("SMSTAGE_STAGE_THREADS", 4, 1..=16)
}

/// Stages one action's files under `root`.
fn stage_action(
    base: &Path,
    anchors: &Anchors,
    stage: &str,
    root: &Path,
    a: &Action,
    staged: &AtomicUsize,
) -> Result<ActionStaged, StageError> {
    let mut out = Vec::new();
    let mut new_dir = None;
    // A segment's table is in the segment until the commit makes its anchor.
    let table_dir = anchors.original(base, a.dir());
    let out_dir = root.join(a.dir());
    fs::create_dir_all(&out_dir).map_err(io(&out_dir))?;
    let jobs = match a {
        Action::Derive(a) => {
            let date = crate::dates::parse_date(&a.date)
                .ok_or_else(|| StageError::BadDate(a.dir.clone()))?;
            let zip =
                produce::sibling_compression(&table_dir).map_err(|source| StageError::Produce {
                    what: format!("the compression of {}/{}", a.dir, a.column),
                    source,
                })?;
            vec![
                (
                    format!("the derived column of {}/{}", a.dir, a.column),
                    Job::DerivedTimestamp {
                        source: table_dir.join(&a.source),
                        date,
                        out: out_dir.join(&a.column),
                        zip,
                    },
                ),
                (
                    format!("the .d of {}/{}", a.dir, a.column),
                    Job::DotD {
                        columns: a.dotd.clone(),
                        out: out_dir.join(".d"),
                    },
                ),
            ]
        }
        Action::Add(a) => {
            let zip =
                produce::sibling_compression(&table_dir).map_err(|source| StageError::Produce {
                    what: format!("the compression of {}", a.dir),
                    source,
                })?;
            let mut jobs: Vec<(String, Job)> = a
                .columns
                .iter()
                .map(|c| {
                    (
                        format!("the null column {}/{}", a.dir, c.name),
                        Job::NullColumn {
                            ty: c.ty,
                            rows: a.rows,
                            domain: c.domain(),
                            null_sym_index: a.null_sym_index,
                            out: out_dir.join(&c.name),
                            zip,
                        },
                    )
                })
                .collect();
            if a.writes_dotd {
                jobs.push((
                    format!("the .d of {}", a.dir),
                    Job::DotD {
                        columns: a.dotd.clone(),
                        out: out_dir.join(".d"),
                    },
                ));
            }
            jobs
        }
        Action::Reenum(a) => {
            let mut jobs = Vec::new();
            for c in &a.columns {
                let column = table_dir.join(&c.name);
                // Rewritten as it was: a compressed column stays compressed alike.
                let zip =
                    produce::compression_of(&column).map_err(|source| StageError::Produce {
                        what: format!("the compression of {}/{}", a.dir, c.name),
                        source,
                    })?;
                jobs.push((
                    format!(
                        "the re-enumeration of {}/{} from {}",
                        a.dir, c.name, c.domain
                    ),
                    Job::Reenumerate {
                        column,
                        remap: c.remap.clone(),
                        domain: super::onesym::SYM.into(),
                        out: out_dir.join(&c.name),
                        zip,
                    },
                ));
            }
            jobs
        }
        Action::Sym(a) => vec![(
            format!("the new {}/sym", a.dir),
            Job::SymAppend {
                sym: table_dir.join(super::onesym::SYM),
                append: a.appended.clone(),
                out: out_dir.join(super::onesym::SYM),
            },
        )],
        Action::Aside(_) => Vec::new(),
        Action::Fill(f) => {
            new_dir = Some(StagedDir {
                path: f.dir.clone(),
                staged: format!("{stage}/{}", f.dir),
            });
            super::session::fill_jobs(f, &out_dir)
                .into_iter()
                .map(|j| (format!("the empty table {}", f.dir), j))
                .collect()
        }
    };
    for (what, job) in &jobs {
        let made = produce::produce(job).map_err(|source| StageError::Produce {
            what: what.clone(),
            source,
        })?;
        crash_point(staged.fetch_add(made.len(), Ordering::SeqCst) + made.len());
        for p in made {
            let rel = p.path.strip_prefix(root).unwrap_or(&p.path);
            let rel = rel.to_string_lossy().into_owned();
            let name = rel.rsplit('/').next().unwrap_or_default().to_string();
            let new_table = matches!(a, Action::Fill(_));
            out.push(StagedFile {
                path: rel.clone(),
                staged: format!("{stage}/{rel}"),
                size: p.size,
                sha256: p.sha256,
                replaces: !new_table && (name == ".d" || anchors.original(base, &rel).exists()),
            });
        }
    }
    Ok((out, out_dir, new_dir))
}

fn stage_into(
    base: &Path,
    anchors: &Anchors,
    source: &str,
    stage: &str,
    root: &Path,
    actions: &[Action],
) -> Result<(Vec<StagedFile>, Vec<StagedDir>), StageError> {
    let data = base.join(source);
    let dev = |p: &Path| fs::metadata(p).map(|m| m.dev()).map_err(io(p));
    let stage_dev = dev(root)?;
    // Every segment's staged files are renamed into it by the commit (check refuses a segment
    // on another filesystem first: this is the last word before anything is written).
    for d in std::iter::once(&data).chain(anchors.iter().map(|(d, _)| d)) {
        if dev(d)? != stage_dev {
            return Err(StageError::OtherFilesystem {
                stage: root.to_path_buf(),
                data: d.clone(),
            });
        }
    }
    // Partitions are staged a few at a time: each job streams one file through a bounded
    // chunk, so memory stays a few chunks per worker, while reading one source, converting
    // and hashing on one core overlaps another's writeback and fsync on the disk.
    let staged = AtomicUsize::new(0);
    // set-aside writes nothing: its entries move at the commit.
    let actions: Vec<&Action> = actions
        .iter()
        .filter(|a| !matches!(a, Action::Aside(_)))
        .collect();
    let each = |a: &&Action| stage_action(base, anchors, stage, root, a, &staged);
    let results: Vec<Result<ActionStaged, StageError>> = match rayon::ThreadPoolBuilder::new()
        .num_threads(stage_threads())
        .thread_name(|i| format!("smstage-stage-{i}"))
        .build()
    {
        Ok(pool) => pool.install(|| actions.par_iter().map(each).collect()),
        Err(_) => actions.iter().map(each).collect(),
    };
    let mut out = Vec::new();
    let mut dirs = Vec::new();
    let mut new_dirs = Vec::new();
    for r in results {
        let (files, dir, new_dir) = r?;
        out.extend(files);
        dirs.push(dir);
        new_dirs.extend(new_dir);
    }
    // The files are fsync'd by their producers; their names must be durable too before a plan
    // names them.
    let mut seen = std::collections::BTreeSet::new();
    for d in dirs {
        let mut d = Some(d.as_path());
        while let Some(x) = d {
            if !x.starts_with(base) || x == base || !seen.insert(x.to_path_buf()) {
                break;
            }
            fs::File::open(x)
                .and_then(|f| f.sync_all())
                .map_err(io(x))?;
            d = x.parent();
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    new_dirs.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((out, new_dirs))
}

/// Test-only (the `fault-injection` feature): `SMSTAGE_CRASH_IN_STAGE=k` stops the process as
/// kill -9 would once `k` files are staged, to prove a re-run after any crash stages the same.
fn crash_point(staged: usize) {
    if !cfg!(feature = "fault-injection") {
        return;
    }
    let at = std::env::var("SMSTAGE_CRASH_IN_STAGE")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok());
    // Reached or passed: a job that writes a nested pair counts two files at once.
    if at.is_some_and(|at| staged >= at) {
        // SAFETY: _exit never returns and is async-signal-safe.
        unsafe { libc::_exit(crate::commit::CRASH_EXIT_CODE) }
    }
}

/// Every staged file of `plan` whose size or sha256 is not the saved one (`plan-drift`).
pub fn drift(plan: &Plan) -> Vec<crate::plan::fingerprint::Drift> {
    use crate::plan::fingerprint::{Drift, DriftWhat};
    let Some(r) = &plan.remedies else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for f in &r.files {
        let p = plan.base.join(&f.staged);
        let d = |what, detail: String| Drift {
            path: p.display().to_string(),
            what,
            detail,
        };
        match fs::symlink_metadata(&p) {
            Err(e) => out.push(d(
                DriftWhat::Removed,
                format!(
                    "staged file of {} unreadable ({e}): save the plan again",
                    f.path
                ),
            )),
            Ok(m) if !m.is_file() || m.len() != f.size => out.push(d(
                DriftWhat::Size,
                format!("{} -> {} bytes", f.size, m.len()),
            )),
            Ok(_) => match sha256_file(&p) {
                Ok(h) if h == f.sha256 => {}
                Ok(h) => out.push(d(DriftWhat::Content, format!("sha256 {} -> {h}", f.sha256))),
                Err(e) => out.push(d(DriftWhat::Removed, format!("unreadable: {e}"))),
            },
        }
    }
    out
}

pub fn sha256_file(p: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = fs::File::open(p)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
