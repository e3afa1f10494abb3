//! Runs the commit: preflight, journal creation or resume, then the steps wave by wave (group
//! commit: the intents of a wave, its actions, one barrier, its dones), rolling back
//! automatically on a non-fatal error.

use super::barrier::{barrier, Dirty, SyncMode};
use super::fsutil::{
    ensure_writable, io_err, parent_of, remove_replicated, renameat2, replicate, times_of,
    tmp_name, write_atomic, write_atomic_now, ReplicaMode,
};
use super::journal::{Journal, JournalHeader, JournalState, RecordKind};
use super::lock::Lock;
use super::steps::{staging_name, wave_lens, Step};
use super::{CommitError, CommitOptions, CommitReport, Fault, Pause, CRASH_EXIT_CODE};
use crate::plan::{NodeKind, Plan};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs;
use std::io::IsTerminal;
use std::ops::Range;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What a step needs from its environment.
pub(crate) struct Ctx {
    pub base: PathBuf,
    pub mode: ReplicaMode,
    pub preexisting: BTreeSet<String>,
    pub sync: SyncMode,
    /// A directory on each filesystem the commit writes to (`B`, `B/<source>`, each segment
    /// store), for syncfs.
    pub roots: Vec<PathBuf>,
    /// This process created the journal and has resumed nothing: every step before the
    /// current one was run by it, in order, so an exchange, a repoint and an unlink act without
    /// first asking what is there (see `run_step`).
    pub fresh: bool,
}

impl Ctx {
    pub fn from_header(h: &JournalHeader) -> Ctx {
        let mut roots = vec![h.base.clone(), h.base.join(&h.source)];
        roots.extend(h.stores.iter().cloned());
        Ctx {
            // Resolved once: the filesystems do not change under a running commit.
            sync: SyncMode::from_env().resolve(&roots),
            roots,
            base: h.base.clone(),
            mode: if h.copy_mode {
                ReplicaMode::Copy
            } else {
                ReplicaMode::Link
            },
            preexisting: h.preexisting.iter().cloned().collect(),
            fresh: false,
        }
    }
    pub fn p(&self, rel: &str) -> PathBuf {
        self.base.join(rel)
    }

    /// A record of what a wave changes, for this commit's barriers.
    pub fn dirty(&self) -> Dirty {
        Dirty::for_mode(self.sync)
    }

    /// Make what `dirty` records durable (the wave's barrier).
    pub fn barrier(&self, dirty: &mut Dirty) -> Result<(), CommitError> {
        barrier(dirty, self.sync, &self.roots)
    }
}

/// The groups the steps run in: each wave, cut into chunks of at most `max` steps (the
/// journal's batch bound, [`Journal::max_batch_steps`]). Every group is journaled as one intent
/// batch and one done batch around one barrier.
pub(crate) fn groups(wave_lens: &[usize], max: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for &len in wave_lens {
        let end = start + len;
        let mut a = start;
        while a < end {
            let b = (a + max).min(end);
            out.push(a..b);
            a = b;
        }
        start = end;
    }
    out
}

pub(crate) fn smstage_dir(base: &Path) -> PathBuf {
    base.join(".smstage")
}

/// The plan the journal was written for (`plan_hash` in the journal header identifies it).
pub(crate) fn plan_path(base: &Path) -> PathBuf {
    smstage_dir(base).join("plan.json")
}

pub(crate) fn journal_path(base: &Path) -> PathBuf {
    smstage_dir(base).join("journal")
}

/// What is at a path, without following a final symlink.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Absent,
    Dir,
    File,
    Link(PathBuf),
}

pub(crate) fn kind(path: &Path) -> Result<Kind, CommitError> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Kind::Absent),
        Err(e) => Err(io_err("lstat", path)(e)),
        Ok(m) if m.file_type().is_symlink() => Ok(Kind::Link(
            fs::read_link(path).map_err(io_err("readlink", path))?,
        )),
        Ok(m) if m.is_dir() => Ok(Kind::Dir),
        Ok(_) => Ok(Kind::File),
    }
}

/// What `readlink` alone says of `path`: one system call where `kind` takes two for a symlink.
/// The steps that expect a symlink (or nothing) ask this first.
#[derive(Debug, PartialEq, Eq)]
enum LinkProbe {
    Absent,
    Link(PathBuf),
    /// Something that is not a symlink (`kind` says what, for the error).
    NotLink,
}

fn probe_link(path: &Path) -> Result<LinkProbe, CommitError> {
    match fs::read_link(path) {
        Ok(t) => Ok(LinkProbe::Link(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LinkProbe::Absent),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(LinkProbe::NotLink),
        Err(e) => Err(io_err("readlink", path)(e)),
    }
}

/// `lstat` alone (no `readlink`): whether `path` is a directory (not through a symlink).
fn is_dir(path: &Path) -> Result<bool, CommitError> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("lstat", path)(e)),
        Ok(m) => Ok(m.is_dir()),
    }
}

pub(crate) fn unexpected(path: &Path, what: &str) -> CommitError {
    CommitError::Unexpected {
        path: path.to_path_buf(),
        msg: what.to_string(),
    }
}

/// Create symlink `path -> target`, or accept an identical one already there. The symlink is
/// created first and the place probed only if it is taken: `symlink(2)` never replaces
/// anything, so this is the probe-first order's outcome with one system call in the usual case.
pub(crate) fn ensure_symlink(
    path: &Path,
    target: &str,
    dirty: &mut Dirty,
) -> Result<(), CommitError> {
    match std::os::unix::fs::symlink(target, path) {
        Ok(()) => {
            dirty.parent(path);
            return Ok(());
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err("symlink", path)(e)),
    }
    match kind(path)? {
        Kind::Link(t) if t == Path::new(target) => {}
        other => {
            return Err(unexpected(
                path,
                &format!("expected symlink to {target}, found {other:?}"),
            ))
        }
    }
    dirty.parent(path);
    Ok(())
}

/// Make the symlink `path` point at `target` atomically (temporary symlink renamed over it).
/// The temporary name ends in `$`, so `\l` never sees it.
pub(crate) fn point_symlink(
    path: &Path,
    target: &str,
    dirty: &mut Dirty,
) -> Result<(), CommitError> {
    match probe_link(path)? {
        LinkProbe::Link(t) if t == Path::new(target) => {
            // Already pointed (perhaps not yet durably: the barrier syncs its parent); only a
            // temporary left by an interrupted run may remain.
            dirty.parent(path);
            let _ = fs::remove_file(tmp_name(path, ".smstage-tmp$"));
            return Ok(());
        }
        LinkProbe::Link(_) => {}
        _ => return Err(unexpected(path, "expected a symlink to repoint")),
    }
    replace_symlink(path, target, dirty)
}

/// The repoint itself: a temporary link to `target`, renamed over `path`. In a fresh commit
/// `path` is the link a step of this very run made (a segment link of the staging tree), so
/// it is not asked about first.
fn replace_symlink(path: &Path, target: &str, dirty: &mut Dirty) -> Result<(), CommitError> {
    let tmp = tmp_name(path, ".smstage-tmp$");
    dirty.parent(path);
    // A temporary left by an interrupted run is replaced; the common case is one symlink(2),
    // without a blind unlink first.
    if let Err(e) = std::os::unix::fs::symlink(target, &tmp) {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(io_err("symlink", &tmp)(e));
        }
        fs::remove_file(&tmp).map_err(io_err("unlink", &tmp))?;
        std::os::unix::fs::symlink(target, &tmp).map_err(io_err("symlink", &tmp))?;
    }
    fs::rename(&tmp, path).map_err(io_err("rename", path))
}

/// Swap a and b with RENAME_EXCHANGE; both parents are recorded for the barrier.
pub(crate) fn exchange(a: &Path, b: &Path, dirty: &mut Dirty) -> Result<(), CommitError> {
    renameat2(a, b, libc::RENAME_EXCHANGE).map_err(io_err("renameat2(RENAME_EXCHANGE)", a))?;
    dirty.parent(a);
    dirty.parent(b);
    Ok(())
}

/// Whether the effect of a forward step is fully in place (the resume probe).
pub fn is_done(step: &Step, ctx: &Ctx) -> Result<bool, CommitError> {
    Ok(match step {
        Step::Mkdir { path } => kind(&ctx.p(path))? == Kind::Dir,
        Step::WriteFileAtomic { path, contents } => {
            fs::read(ctx.p(path)).ok().as_deref() == Some(contents.as_bytes())
        }
        Step::Symlink { path, target } => kind(&ctx.p(path))? == Kind::Link(target.into()),
        // A replica is only known complete once the step says so; re-running merges.
        Step::Replicate { .. } => false,
        Step::Rename { from, to } => {
            kind(&ctx.p(from))? == Kind::Absent && kind(&ctx.p(to))? == Kind::Dir
        }
        Step::Exchange { a, b } => {
            matches!(kind(&ctx.p(a))?, Kind::Link(_)) && kind(&ctx.p(b))? == Kind::Dir
        }
        Step::ReplaceSymlink { path, target, .. } => {
            kind(&ctx.p(path))? == Kind::Link(target.into())
        }
        Step::UnlinkSymlink { path, .. } => kind(&ctx.p(path))? == Kind::Absent,
        Step::RemoveTree { path, .. } => kind(&ctx.p(path))? == Kind::Absent,
        Step::PlaceStaged { staged, path } => {
            kind(&ctx.p(staged))? == Kind::Absent && kind(&ctx.p(path))? == Kind::File
        }
        Step::PlaceStagedDir { staged, path } => {
            kind(&ctx.p(staged))? == Kind::Absent && kind(&ctx.p(path))? == Kind::Dir
        }
        Step::SwapStaged { path, sha256, .. } => holds(&ctx.p(path), sha256)?,
        Step::SetAside { path, aside } => {
            kind(&ctx.p(path))? == Kind::Absent && kind(&ctx.p(aside))? != Kind::Absent
        }
    })
}

/// Whether the file at `p` has the sha256 `sha256` (absent: no).
pub(crate) fn holds(p: &Path, sha256: &str) -> Result<bool, CommitError> {
    if kind(p)? != Kind::File {
        return Ok(false);
    }
    crate::remedy::stage::sha256_file(p)
        .map(|h| h == sha256)
        .map_err(io_err("read", p))
}

/// Run one forward step, without syncing: every directory it changes (or would have changed)
/// is recorded in `dirty` for the wave's barrier. Each arm first checks whether the effect is
/// already there, so running a step again after a crash (intent written, done not) converges
/// instead of failing; every arm records its parents even then, since the crash may have come
/// before the barrier.
pub(crate) fn run_step(step: &Step, ctx: &Ctx, dirty: &mut Dirty) -> Result<(), CommitError> {
    match step {
        Step::Mkdir { path } => {
            let p = ctx.p(path);
            if ctx.preexisting.contains(path) {
                return Ok(());
            }
            dirty.parent(&p);
            // Created first, probed only if the name is taken (mkdir never replaces anything).
            match fs::create_dir(&p) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err("mkdir", &p)(e)),
            }
            match kind(&p)? {
                Kind::Dir => {}
                other => {
                    return Err(unexpected(
                        &p,
                        &format!("expected a directory, found {other:?}"),
                    ))
                }
            }
            Ok(())
        }
        Step::WriteFileAtomic { path, contents } => {
            let p = ctx.p(path);
            if fs::read(&p).ok().as_deref() == Some(contents.as_bytes()) {
                dirty.parent(&p);
                return Ok(());
            }
            write_atomic(&p, contents.as_bytes(), dirty)
        }
        Step::Symlink { path, target } => ensure_symlink(&ctx.p(path), target, dirty),
        Step::Replicate { from, to } => replicate(&ctx.p(from), &ctx.p(to), ctx.mode, dirty),
        // set-aside's move is a rename like any other: only its place in the waves differs.
        Step::Rename { from, to }
        | Step::SetAside {
            path: from,
            aside: to,
        } => {
            let (f, t) = (ctx.p(from), ctx.p(to));
            if !is_done(step, ctx)? {
                renameat2(&f, &t, libc::RENAME_NOREPLACE)
                    .map_err(io_err("renameat2(RENAME_NOREPLACE)", &t))?;
            }
            dirty.parent(&f);
            dirty.parent(&t);
            Ok(())
        }
        Step::Exchange { a, b } => {
            let (pa, pb) = (ctx.p(a), ctx.p(b));
            // Never run before in a fresh commit (an exchange run twice undoes itself: only a
            // resumed one must ask whether it is done), and never destructive: it swaps two
            // names, whatever they are, and rollback swaps them back.
            if ctx.fresh {
                return exchange(&pa, &pb, dirty);
            }
            // The usual case in two system calls (a directory, then a symlink); anything else
            // is probed in full below, for the done case and the error.
            if is_dir(&pa)? && matches!(probe_link(&pb)?, LinkProbe::Link(_)) {
                return exchange(&pa, &pb, dirty);
            }
            match (kind(&pa)?, kind(&pb)?) {
                (Kind::Link(_), Kind::Dir) => {
                    dirty.parent(&pa);
                    dirty.parent(&pb);
                    Ok(())
                }
                (Kind::Dir, Kind::Link(_)) => exchange(&pa, &pb, dirty),
                (x, y) => Err(unexpected(
                    &pa,
                    &format!("exchange expects a directory and a symlink, found {x:?} and {y:?}"),
                )),
            }
        }
        Step::ReplaceSymlink { path, target, .. } if ctx.fresh => {
            replace_symlink(&ctx.p(path), target, dirty)
        }
        Step::ReplaceSymlink { path, target, .. } => point_symlink(&ctx.p(path), target, dirty),
        // The forwarding link the exchange of this very run left: removed without asking.
        Step::UnlinkSymlink { path, .. } if ctx.fresh => {
            let p = ctx.p(path);
            dirty.parent(&p);
            fs::remove_file(&p).map_err(io_err("unlink", &p))
        }
        Step::UnlinkSymlink { path, target } => {
            let p = ctx.p(path);
            dirty.parent(&p);
            match probe_link(&p)? {
                LinkProbe::Absent => {}
                LinkProbe::Link(t) if t == Path::new(target) => {
                    fs::remove_file(&p).map_err(io_err("unlink", &p))?
                }
                _ => {
                    let other = kind(&p)?;
                    return Err(unexpected(
                        &p,
                        &format!("expected symlink to {target}, found {other:?}"),
                    ));
                }
            }
            Ok(())
        }
        Step::RemoveTree { path, replica } => {
            remove_replicated(&ctx.p(path), &ctx.p(replica), ctx.mode, dirty)
        }
        Step::PlaceStaged { staged, path } | Step::PlaceStagedDir { staged, path } => {
            let (f, t) = (ctx.p(staged), ctx.p(path));
            if !is_done(step, ctx)? {
                renameat2(&f, &t, libc::RENAME_NOREPLACE)
                    .map_err(io_err("renameat2(RENAME_NOREPLACE)", &t))?;
            }
            dirty.parent(&f);
            dirty.parent(&t);
            Ok(())
        }
        Step::SwapStaged { staged, path, .. } => {
            let (f, t) = (ctx.p(staged), ctx.p(path));
            if !is_done(step, ctx)? {
                exchange(&f, &t, dirty)?;
            }
            dirty.parent(&f);
            dirty.parent(&t);
            Ok(())
        }
    }
}

/// sha256 (hex) of the plan's JSON: identifies the plan in the journal.
pub fn plan_hash(plan: &Plan) -> String {
    hex_sha256(&serde_json::to_vec(plan).unwrap_or_default())
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The plan's JSON, as saved in `.smstage/plan.json`, and its [`plan_hash`], from one
/// serialisation (the hash of the saved file's bytes is the journal's `plan_hash`).
fn plan_json_and_hash(plan: &Plan) -> Result<(Vec<u8>, String), CommitError> {
    let json = serde_json::to_vec(plan)
        .map_err(|e| CommitError::Plan(format!("cannot serialise the plan: {e}")))?;
    let hash = hex_sha256(&json);
    Ok((json, hash))
}

pub(crate) fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Check the tree is exactly the plan's "before" and record what rollback needs.
fn preflight(
    plan: &Plan,
    steps: Vec<Step>,
    wave_lens: Vec<usize>,
    plan_hash: String,
    opts: &CommitOptions,
) -> Result<JournalHeader, CommitError> {
    let base = &plan.base;
    let data = base.join(&plan.source);
    let dmd = fs::metadata(&data).map_err(io_err("stat source", &data))?;
    if !dmd.is_dir() {
        return Err(CommitError::Preflight(format!(
            "{} is not a directory",
            data.display()
        )));
    }
    let mut must_be_absent = vec![plan.root.clone(), staging_name(&plan.root)];
    if !plan.stores.is_empty() {
        must_be_absent.push(crate::plan::STORES_DIR.to_string());
    }
    for name in must_be_absent {
        if kind(&base.join(&name))? != Kind::Absent {
            return Err(CommitError::Preflight(format!(
                "{} already exists (and no journal says smstage created it)",
                base.join(&name).display()
            )));
        }
    }
    // set-aside never replaces: a destination taken would stop the commit half-way.
    for s in &steps {
        if let Step::SetAside { path, aside } = s {
            let dest = base.join(aside);
            if kind(&dest)? != Kind::Absent {
                return Err(CommitError::Preflight(format!(
                    "{} is to be set aside as {}, which already exists: move it out of {} first (set-aside never replaces an entry)",
                    base.join(path).display(),
                    dest.display(),
                    base.join(crate::remedy::aside::ASIDE_DIR).display()
                )));
            }
        }
    }
    let mut covered: BTreeSet<String> = BTreeSet::new();
    // Checked once the source is listed below: a partition's kind comes from the lstat that
    // records its times (one per partition, not two).
    let mut moved: Vec<(&str, bool)> = Vec::new();
    for n in &plan.nodes {
        if let NodeKind::Moved { from, is_dir } = &n.kind {
            moved.push((from, *is_dir));
            covered.insert(from.clone());
        }
    }
    // A root file a remedy replaces (one-sym's `sym`) is moved from its staged replacement,
    // after the swap: the original is accounted for by that swap.
    for f in plan.remedies.iter().flat_map(|r| r.files.iter()) {
        if f.replaces && parent_of(&f.path) == plan.source {
            covered.insert(f.path.clone());
        }
    }
    let mut preexisting = Vec::new();
    // Directories found absent: nothing below one of them can exist, so it needs no lstat (the
    // root is absent, checked above; the plan lists parents before their children). Saves one
    // lstat per partition (`<source>/versions/<date>`, `<root>/<tier>`).
    let mut absent: BTreeSet<&str> = BTreeSet::from([plan.root.as_str()]);
    for n in &plan.nodes {
        if n.kind != NodeKind::Dir || n.path == plan.source {
            continue;
        }
        if absent.contains(parent_of(&n.path)) {
            absent.insert(&n.path);
            continue;
        }
        match kind(&base.join(&n.path))? {
            Kind::Dir => {
                preexisting.push(n.path.clone());
                covered.insert(n.path.clone());
            }
            Kind::Absent => {
                absent.insert(&n.path);
            }
            _ => {}
        }
    }
    let partitions: std::collections::HashSet<&str> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Exchange { a, .. } => Some(a.as_str()),
            _ => None,
        })
        .collect();
    let mut dir_times = vec![(plan.source.clone(), times_of(&dmd))];
    // Segmented: each store must hold exactly the partitions the plan moves (a remedied one
    // is shown entry by entry, and still moved whole).
    if !plan.stores.is_empty() {
        let in_stores: BTreeSet<String> = covered
            .iter()
            .cloned()
            .chain(partitions.iter().map(|p| p.to_string()))
            .collect();
        dir_times.extend(super::segments::preflight_stores(plan, &in_stores)?);
    }
    let mut top_dirs: std::collections::HashSet<String> = std::collections::HashSet::new();
    for e in fs::read_dir(&data).map_err(io_err("readdir", &data))? {
        let e = e.map_err(io_err("readdir", &data))?;
        let rel = format!("{}/{}", plan.source, e.file_name().to_string_lossy());
        // Partition subtrees move as a whole and keep their inner times: only their top, with
        // one lstat relative to the listed directory (a walk of depth 0 cost two, and a
        // directory open).
        if partitions.contains(rel.as_str()) {
            let md = e.metadata().map_err(io_err("lstat", &e.path()))?;
            if md.is_dir() {
                top_dirs.insert(rel.clone());
                dir_times.push((rel, times_of(&md)));
            }
            continue;
        }
        // A remedied partition is shown entry by entry, and still moved whole.
        if !covered.contains(&rel) {
            return Err(CommitError::Preflight(format!(
                "{rel} is not accounted for by the plan; the commit would leave it behind"
            )));
        }
        for w in walkdir::WalkDir::new(e.path()).follow_links(false) {
            let w = w.map_err(|err| CommitError::Preflight(format!("walking {rel}: {err}")))?;
            if w.file_type().is_dir() {
                let md = w
                    .metadata()
                    .map_err(|err| CommitError::Preflight(format!("{err}")))?;
                let r = w.path().strip_prefix(base).unwrap_or(w.path());
                dir_times.push((r.to_string_lossy().into_owned(), times_of(&md)));
            }
        }
    }
    for (from, is_dir) in moved {
        if is_dir && top_dirs.contains(from) {
            continue;
        }
        let k = kind(&super::segments::original_path(plan, from))?;
        let ok = if is_dir {
            k == Kind::Dir
        } else {
            !matches!(k, Kind::Absent | Kind::Dir)
        };
        if !ok {
            return Err(CommitError::Preflight(format!(
                "{from} should be a {} but is {k:?}",
                if is_dir { "directory" } else { "file" }
            )));
        }
    }
    // Remedies put files into table directories, which then move with their partition: their
    // times too are restored by rollback.
    let remedied: BTreeSet<&str> = steps
        .iter()
        .filter_map(|s| match s {
            Step::PlaceStaged { path, .. }
            | Step::SwapStaged { path, .. }
            | Step::PlaceStagedDir { path, .. }
            | Step::SetAside { path, .. } => Some(parent_of(path)),
            _ => None,
        })
        .collect();
    for rel in remedied {
        // A partition's own times are recorded above already.
        if dir_times.iter().any(|(r, _)| r == rel) {
            continue;
        }
        // In a segment: recorded by absolute path, like the stores' own (see preflight_stores).
        let p = super::segments::original_path(plan, rel);
        let md = fs::symlink_metadata(&p).map_err(io_err("lstat", &p))?;
        let key = if p == base.join(rel) {
            rel.to_string()
        } else {
            p.display().to_string()
        };
        if dir_times.iter().any(|(r, _)| *r == key) {
            continue;
        }
        dir_times.push((key, times_of(&md)));
    }
    let copy_mode =
        opts.force_copy || fs::metadata(base).map_err(io_err("stat", base))?.dev() != dmd.dev();
    Ok(JournalHeader {
        plan_hash,
        base: base.clone(),
        source: plan.source.clone(),
        root: plan.root.clone(),
        data_dev: dmd.dev(),
        data_ino: dmd.ino(),
        copy_mode,
        steps,
        wave_lens,
        preexisting,
        dir_times,
        created_unix: now_unix(),
        plan_id: opts.plan_id.clone(),
        stores: plan.stores.iter().map(|s| s.dir.clone()).collect(),
        proof_gate: None,
    })
}

/// Stop the process now, as a power cut or kill -9 would (no unwinding, no flushing).
pub(crate) fn crash() -> ! {
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(CRASH_EXIT_CODE) }
}

pub(crate) fn progress_bar(
    total: usize,
    enabled: bool,
    what: &str,
) -> Option<indicatif::ProgressBar> {
    if !enabled || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new(total as u64);
    let style = indicatif::ProgressStyle::with_template(
        "{prefix} [{bar:40}] {pos}/{len} steps, {per_sec}, ETA {eta} {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    pb.set_style(style);
    pb.set_prefix(what.to_string());
    Some(pb)
}

/// Check that the journal at hand belongs to this database (same base, same data inode).
pub(crate) fn check_identity(
    h: &JournalHeader,
    base: &Path,
    journal: &Path,
) -> Result<(), CommitError> {
    check_identity_of(&h.base, &h.source, h.data_dev, h.data_ino, base, journal)
}

/// [`check_identity`] from a header's fields (`h_base`, `source`, `data_dev`, `data_ino`).
fn check_identity_of(
    h_base: &Path,
    source: &str,
    data_dev: u64,
    data_ino: u64,
    base: &Path,
    journal: &Path,
) -> Result<(), CommitError> {
    let data = base.join(source);
    let md = fs::metadata(&data).map_err(io_err("stat source", &data))?;
    if h_base != base || md.dev() != data_dev || md.ino() != data_ino {
        return Err(CommitError::ForeignJournal {
            path: journal.to_path_buf(),
            reason: format!(
                "it was written for {} (device {data_dev}, inode {data_ino}), not for {} (device {}, inode {})",
                h_base.join(source).display(),
                data.display(),
                md.dev(),
                md.ino()
            ),
        });
    }
    Ok(())
}

pub(crate) fn run_commit(
    plan: &Plan,
    prepared: super::Prepared,
    opts: &CommitOptions,
    proof: Option<Proof>,
) -> Result<CommitReport, CommitError> {
    let super::Prepared { waves, gate } = prepared;
    let lens = wave_lens(&waves);
    // Moved, not cloned (150,007 steps at 25,000 partitions): the journal's header owns them
    // from here on, and the loop below reads them there.
    let steps: Vec<Step> = waves.into_iter().flatten().collect();
    let total = steps.len();
    let base = plan.base.clone();
    let mut proof = PendingProof::new(proof);
    if let Err(e) = ensure_writable(&base).and_then(|_| ensure_writable(&base.join(&plan.source))) {
        // The proof's verdict explains more than a refusal it may have caused.
        return Err(proof.verdict_or(e));
    }
    for store in &plan.stores {
        ensure_writable(&store.dir)?;
    }
    let sm = smstage_dir(&base);
    // What a refusal at the gate restores when this commit created `.smstage`
    // (refused_at_gate).
    let before = (!sm.exists())
        .then(|| fs::metadata(&base).ok().map(|m| times_of(&m)))
        .flatten();
    fs::create_dir_all(&sm).map_err(io_err("mkdir", &sm))?;
    let lock = Lock::acquire(&sm.join("lock"))?;
    let locked = std::time::Instant::now();
    let jpath = journal_path(&base);
    let fault = opts.effective_fault();
    let pause = Pause::from_env(&base);

    let mut resumed = false;
    // A journal already there is first read without its steps (journal::HeaderSummary): only
    // one in progress is opened whole, to be resumed.
    let journal = match kind(&jpath)? {
        Kind::Absent => None,
        _ => {
            let seen = opts.seen.as_deref().and_then(|s| s.still_at(&jpath));
            let (h, replay) = match seen {
                Some(x) => x,
                None => super::journal::read_summary(&jpath)?,
            };
            check_identity_of(&h.base, &h.source, h.data_dev, h.data_ino, &base, &jpath)?;
            match replay.state {
                Some(JournalState::Committed) => {
                    tracing::info!("already committed (journal {})", jpath.display());
                    return Ok(CommitReport {
                        already_committed: true,
                        resumed: false,
                        steps_total: h.steps_total(),
                        steps_run: 0,
                        copy_mode: h.copy_mode,
                        journal: jpath,
                        stale_lock_pid: lock.took_over.as_ref().map(|h| h.pid),
                    });
                }
                Some(JournalState::RollingBack) => {
                    return Err(CommitError::RollbackInProgress { journal: jpath })
                }
                Some(JournalState::RolledBack) | None => None,
                Some(JournalState::InProgress) => Some(Journal::open(&jpath)?),
            }
        }
    };
    // Only a journal in progress is opened whole (above): it is resumed.
    if let Some(j) = &journal {
        check_identity(&j.header, &base, &jpath)?;
        if j.header.plan_hash != plan_hash(plan)
            || j.header.steps != steps
            || j.header.wave_lens != lens
        {
            return Err(CommitError::ForeignJournal {
                path: jpath,
                reason: "it was written for another plan (finish it with the same \
                         configuration, or roll it back)"
                    .into(),
            });
        }
        if let Some(id) = opts
            .plan_id
            .as_ref()
            .filter(|id| j.header.plan_id.as_ref() != Some(*id))
        {
            return Err(CommitError::ForeignJournal {
                path: jpath,
                reason: format!(
                    "it was written for plan {}, not for plan {id}: resume with the same plan file, or roll it back",
                    j.header.plan_id.as_deref().unwrap_or("(none: a commit without --plan)")
                ),
            });
        }
        // A gate this commit's proof had not passed when it stopped: no step from
        // it on has begun, and none may before a proof passes now.
        match j.replay.owed_proof(j.header.proof_gate) {
            Some(g) if !proof.is_some() => {
                return Err(CommitError::ProofPending {
                    journal: jpath,
                    step: g,
                })
            }
            Some(g) => proof.gate_at(g),
            None => proof.not_needed(),
        }
        resumed = true;
        tracing::info!(
            done = j.replay.done.len(),
            pending = j.replay.pending.len(),
            total,
            "resuming an interrupted commit"
        );
    }
    let t = std::time::Instant::now();
    let mut journal = match journal {
        Some(j) => j,
        None => {
            let gate = gate.filter(|_| proof.is_some());
            match &gate {
                Some(g) => proof.gate_at(g.at_step),
                // No step can run beside the proof: its verdict comes first.
                None => proof.pass()?,
            }
            let (json, hash) = plan_json_and_hash(plan)?;
            let serialised = t.elapsed();
            let mut header = match preflight(plan, steps, lens, hash, opts) {
                Ok(h) => h,
                Err(e) => return Err(proof.verdict_or(e)),
            };
            let checked = t.elapsed();
            header.proof_gate = gate.map(|g| g.at_step);
            // The plan is saved before the journal exists, so a resume after a crash renders
            // the very plan that was checked, not one re-derived from a half-converted tree.
            write_atomic_now(&plan_path(&base), &json)?;
            let saved = t.elapsed();
            let j = Journal::create(&jpath, header)?;
            tracing::info!(
                "preflight, plan and journal written in {:.3?} (since the lock: {:.3?}; plan serialised {:.3?}, preflight {:.3?}, plan saved {:.3?}, journal created {:.3?})",
                t.elapsed(),
                locked.elapsed(),
                serialised,
                checked - serialised,
                saved - checked,
                t.elapsed() - saved
            );
            j
        }
    };
    let t = std::time::Instant::now();
    let ctx = Ctx {
        fresh: !resumed,
        ..Ctx::from_header(&journal.header)
    };
    let pb = progress_bar(total, opts.progress, "commit");
    let mut steps_run = 0;
    for group in groups(&journal.header.wave_lens, journal.max_batch_steps()) {
        if proof.due_at(group.start) {
            if let Err(e) = proof.pass() {
                return Err(refused_at_gate(&mut journal, &ctx, opts, e, before, &sm));
            }
        }
        let todo: Vec<usize> = group
            .clone()
            .filter(|k| !journal.replay.done.contains(k))
            .collect();
        if let Some(pb) = &pb {
            pb.inc((group.len() - todo.len()) as u64);
        }
        if todo.is_empty() {
            continue;
        }
        match forward_group(&mut journal, &todo, &ctx, fault) {
            Ok(()) => steps_run += todo.len(),
            Err(e) if e.is_fatal() => {
                tracing::error!(
                    "stopping without rollback: {e}; the next run resumes from the journal"
                );
                return Err(e);
            }
            Err(e) => {
                tracing::error!("step failed: {e}; rolling back");
                if let Some(pb) = &pb {
                    pb.abandon_with_message("failed, rolling back");
                }
                // A step before the gate failing may be the drift's doing: its verdict decides.
                let e = proof.verdict_or(e);
                if matches!(e, CommitError::Drift { .. }) {
                    return Err(refused_at_gate(&mut journal, &ctx, opts, e, before, &sm));
                }
                return Err(
                    match super::rollback::undo_all(&mut journal, &ctx, opts.progress, None) {
                        Ok(_) => CommitError::RolledBack {
                            source: Box::new(e),
                        },
                        Err(r) => CommitError::RollbackFailed {
                            original: Box::new(e),
                            rollback: Box::new(r),
                        },
                    },
                );
            }
        }
        if let Some(pb) = &pb {
            pb.inc(todo.len() as u64);
            pb.set_message(journal.header.steps[group.start].label());
        }
        if let Some(p) = pause.as_ref().filter(|p| group.contains(&p.step)) {
            p.wait();
        }
    }
    // A gate past every step (none changes a stamped entry): the verdict is still awaited.
    if let Err(e) = proof.pass() {
        return Err(refused_at_gate(&mut journal, &ctx, opts, e, before, &sm));
    }
    journal.append(RecordKind::Committed)?;
    if let Some(pb) = pb {
        pb.finish_with_message("committed");
    }
    tracing::info!(steps = total, "committed: steps run in {:.3?}", t.elapsed());
    Ok(CommitReport {
        already_committed: false,
        resumed,
        steps_total: total,
        steps_run,
        copy_mode: journal.header.copy_mode,
        journal: jpath,
        stale_lock_pid: lock.took_over.as_ref().map(|h| h.pid),
    })
}

/// `commit --plan`'s proof that the database is as its plan file stamped it (the walk and
/// the compare, on a thread of their own): `Err(CommitError::Drift)` when it is not.
pub type Proof = Box<dyn FnOnce() -> Result<(), CommitError> + Send>;

/// The proof of this run, if any, and the step it must have passed before (commit::gate).
struct PendingProof {
    proof: Option<Proof>,
    gate: Option<usize>,
}

impl PendingProof {
    fn new(proof: Option<Proof>) -> PendingProof {
        PendingProof { proof, gate: None }
    }

    fn is_some(&self) -> bool {
        self.proof.is_some()
    }

    fn gate_at(&mut self, step: usize) {
        self.gate = Some(step);
    }

    /// The journal records that the proof was passed (a step past its gate has begun).
    fn not_needed(&mut self) {
        self.proof = None;
    }

    /// Whether the group starting at `step` must wait for the verdict.
    fn due_at(&self, step: usize) -> bool {
        self.proof.is_some() && self.gate.is_some_and(|g| step >= g)
    }

    /// Waits for the verdict (once; Ok when there is no proof).
    fn pass(&mut self) -> Result<(), CommitError> {
        match self.proof.take() {
            Some(p) => {
                let t = std::time::Instant::now();
                let verdict = p();
                tracing::info!("proof awaited at the gate for {:.3?}", t.elapsed());
                verdict
            }
            None => Ok(()),
        }
    }

    /// The proof's refusal if it has one, else `e`: a drift explains a failure it may cause.
    fn verdict_or(&mut self, e: CommitError) -> CommitError {
        match self.pass() {
            Err(d) => d,
            Ok(()) => e,
        }
    }
}

/// The proof refused at the gate: every step taken is undone, and if this commit created
/// `.smstage` (`before` holds the base directory's times then), the rolled-back journal is
/// removed and those times are restored, so a refusal leaves the base as it found it (names,
/// bytes, modes and times; ctimes move, as no system call can set them).
fn refused_at_gate(
    journal: &mut Journal,
    ctx: &Ctx,
    opts: &CommitOptions,
    e: CommitError,
    before: Option<super::fsutil::Times>,
    sm: &Path,
) -> CommitError {
    tracing::error!("{e}; rolling back the steps taken beside the proof");
    if let Err(r) = super::rollback::undo_all(journal, ctx, opts.progress, None) {
        return CommitError::RollbackFailed {
            original: Box::new(e),
            rollback: Box::new(r),
        };
    }
    if let Some(times) = before {
        // The journal first: once it is gone the state is "no import", whatever else remains.
        let tidy = [
            journal_path(&ctx.base),
            plan_path(&ctx.base),
            sm.join("lock"),
        ]
        .iter()
        .try_for_each(|p| match fs::remove_file(p) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        })
        .and_then(|_| fs::remove_dir(sm));
        match tidy {
            Ok(()) => {
                if let Err(err) = super::fsutil::set_times(&ctx.base, times) {
                    tracing::warn!("{err}");
                }
            }
            Err(err) => tracing::warn!("the rolled-back journal in {} stays: {err}", sm.display()),
        }
    }
    CommitError::RolledBack {
        source: Box::new(e),
    }
}

/// Run one group of independent steps (those of `todo`, all in one wave): their intents in one
/// batch, their actions without syncing, one barrier, their dones in one batch. Steps already
/// pending (intent without done, from an interrupted run) are probed, logged and run again:
/// any subset of a wave may have reached the disk.
fn forward_group(
    journal: &mut Journal,
    todo: &[usize],
    ctx: &Ctx,
    fault: Option<Fault>,
) -> Result<(), CommitError> {
    let mut fresh = Vec::with_capacity(todo.len());
    let (mut in_effect, mut rerun) = (0, 0);
    let steps = &journal.header.steps;
    for &k in todo {
        if journal.replay.pending.contains(&k) {
            let done = is_done(&steps[k], ctx)?;
            tracing::debug!(
                step = k,
                "{}: interrupted step {}",
                steps[k].label(),
                if done {
                    "had taken effect"
                } else {
                    "is re-run"
                }
            );
            if done {
                in_effect += 1
            } else {
                rerun += 1
            }
        } else {
            fresh.push(k);
        }
    }
    if in_effect + rerun > 0 {
        tracing::info!(
            first = todo[0],
            "{} interrupted steps: {in_effect} had taken effect, {rerun} are re-run",
            in_effect + rerun
        );
    }
    if !fresh.is_empty() {
        journal.append_steps(RecordKind::Intent, &fresh)?;
    }
    let mut dirty = ctx.dirty();
    for &k in todo {
        let step = &journal.header.steps[k];
        tracing::debug!(step = k, "{}", step.label());
        match fault {
            Some(Fault::CrashAfterIntent(n)) if n == k => crash(),
            Some(Fault::FailAt(n)) if n == k => return Err(CommitError::Injected { step: k }),
            _ => {}
        }
        // Re-running is the convergence path for a step whose effect may be partial; for steps
        // already in effect, run_step only records what to re-sync.
        run_step(step, ctx, &mut dirty)?;
        if fault == Some(Fault::CrashAfterAction(k)) {
            crash();
        }
    }
    ctx.barrier(&mut dirty)?;
    journal.append_steps(RecordKind::Done, todo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::steps::tests::sample_plan;
    use crate::commit::steps::{steps, waves};

    fn link_of(p: &Path) -> PathBuf {
        fs::read_link(p).unwrap()
    }

    #[test]
    fn groups_cut_each_wave_at_the_batch_bound_and_never_span_two_waves() {
        assert_eq!(groups(&[3, 10], 4), vec![0..3, 3..7, 7..11, 11..13]);
        assert_eq!(groups(&[4, 4], 4), vec![0..4, 4..8]);
        assert_eq!(
            groups(&[150_007], 65_536),
            vec![0..65_536, 65_536..131_072, 131_072..150_007]
        );
    }

    #[test]
    fn point_symlink_repoints_and_replaces_a_leftover_temporary() {
        let t = tempfile::tempdir().unwrap();
        let l = t.path().join("l");
        let tmp = tmp_name(&l, ".smstage-tmp$");
        std::os::unix::fs::symlink("old", &l).unwrap();
        let mut dirty = Dirty::default();
        point_symlink(&l, "new", &mut dirty).unwrap();
        assert_eq!(link_of(&l), PathBuf::from("new"));
        assert_eq!(kind(&tmp).unwrap(), Kind::Absent);
        assert_eq!(dirty.len(), 1);
        // An interrupted run left its temporary (pointing elsewhere): it is replaced.
        std::os::unix::fs::symlink("stale", &tmp).unwrap();
        point_symlink(&l, "newer", &mut dirty).unwrap();
        assert_eq!(link_of(&l), PathBuf::from("newer"));
        assert_eq!(kind(&tmp).unwrap(), Kind::Absent);
        // Already pointed: only the leftover temporary goes.
        std::os::unix::fs::symlink("stale", &tmp).unwrap();
        point_symlink(&l, "newer", &mut dirty).unwrap();
        assert_eq!(link_of(&l), PathBuf::from("newer"));
        assert_eq!(kind(&tmp).unwrap(), Kind::Absent);
    }

    /// A fresh commit runs each step once, in order: its exchange, repoint and unlink act
    /// without asking what is there. A resumed one asks first, so a step run again is done
    /// once (an exchange run twice would undo itself).
    #[test]
    fn only_a_resumed_commit_asks_before_an_exchange_a_repoint_and_an_unlink() {
        let t = tempfile::tempdir().unwrap();
        let ctx = |fresh| Ctx {
            base: t.path().to_path_buf(),
            mode: ReplicaMode::Link,
            preexisting: BTreeSet::new(),
            sync: SyncMode::Syncfs,
            roots: vec![t.path().to_path_buf()],
            fresh,
        };
        fs::create_dir_all(t.path().join("data/P/trade")).unwrap();
        fs::create_dir_all(t.path().join("data/versions/P")).unwrap();
        std::os::unix::fs::symlink("versions/P/1", t.path().join("data/versions/P/1")).unwrap();
        fs::create_dir(t.path().join("db")).unwrap();
        std::os::unix::fs::symlink("../data/P", t.path().join("db/P")).unwrap();
        let exchange = Step::Exchange {
            a: "data/P".into(),
            b: "data/versions/P/1".into(),
        };
        let repoint = Step::ReplaceSymlink {
            path: "db/P".into(),
            target: "../data/versions/P/1".into(),
            old_target: "../data/P".into(),
        };
        let unlink = Step::UnlinkSymlink {
            path: "data/P".into(),
            target: "versions/P/1".into(),
        };
        let mut dirty = Dirty::default();
        let is_dir = |p: &str| t.path().join(p).symlink_metadata().unwrap().is_dir();
        run_step(&exchange, &ctx(true), &mut dirty).unwrap();
        assert!(is_dir("data/versions/P/1") && !is_dir("data/P"));
        // Again, resumed: found done, nothing changes.
        run_step(&exchange, &ctx(false), &mut dirty).unwrap();
        assert!(is_dir("data/versions/P/1") && !is_dir("data/P"));
        run_step(&repoint, &ctx(true), &mut dirty).unwrap();
        assert_eq!(
            link_of(&t.path().join("db/P")),
            PathBuf::from("../data/versions/P/1")
        );
        run_step(&repoint, &ctx(false), &mut dirty).unwrap();
        run_step(&unlink, &ctx(true), &mut dirty).unwrap();
        assert_eq!(kind(&t.path().join("data/P")).unwrap(), Kind::Absent);
        run_step(&unlink, &ctx(false), &mut dirty).unwrap();
        // Fresh, the exchange does not ask: run a second time it swaps the names back (which a
        // fresh commit never does), where the resumed one above found it done.
        std::os::unix::fs::symlink("versions/P/1", t.path().join("data/P")).unwrap();
        run_step(&exchange, &ctx(true), &mut dirty).unwrap();
        assert!(is_dir("data/P") && !is_dir("data/versions/P/1"));
        // Fresh, an unlink of what is not a link still refuses to remove a directory.
        assert!(run_step(&unlink, &ctx(true), &mut dirty).is_err());
        assert!(is_dir("data/P"));
    }

    #[test]
    fn point_symlink_refuses_what_is_not_a_symlink() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("d");
        fs::create_dir(&d).unwrap();
        let e = point_symlink(&d, "x", &mut Dirty::default()).unwrap_err();
        assert!(matches!(e, CommitError::Unexpected { .. }), "{e}");
        let e = point_symlink(&t.path().join("none"), "x", &mut Dirty::default()).unwrap_err();
        assert!(matches!(e, CommitError::Unexpected { .. }), "{e}");
        assert_eq!(kind(&d).unwrap(), Kind::Dir);
    }

    /// The sample plan's "before" tree in a temporary base.
    fn before_tree() -> (tempfile::TempDir, Plan) {
        let t = tempfile::tempdir().unwrap();
        let mut plan = sample_plan();
        plan.base = t.path().to_path_buf();
        for d in ["data/2024.01.02", "data/2024.01.03"] {
            fs::create_dir_all(t.path().join(d).join("trade")).unwrap();
        }
        fs::write(t.path().join("data/sym"), b"s").unwrap();
        (t, plan)
    }

    fn header_of(plan: &Plan) -> Result<JournalHeader, CommitError> {
        let w = waves(plan).unwrap();
        let (_, hash) = plan_json_and_hash(plan).unwrap();
        preflight(
            plan,
            w.concat(),
            wave_lens(&w),
            hash,
            &CommitOptions::default(),
        )
    }

    #[test]
    fn preflight_records_preexisting_dirs_and_the_partition_tops_times() {
        let (t, plan) = before_tree();
        let h = header_of(&plan).unwrap();
        assert!(h.preexisting.is_empty(), "{:?}", h.preexisting);
        assert_eq!(h.plan_hash, plan_hash(&plan));
        assert_eq!(h.steps, steps(&plan).unwrap());
        let mut dirs: Vec<&str> = h.dir_times.iter().map(|(p, _)| p.as_str()).collect();
        dirs.sort();
        // Partition tops only (their inside moves with them): not data/<date>/trade.
        assert_eq!(dirs, ["data", "data/2024.01.02", "data/2024.01.03"]);
        let md = fs::symlink_metadata(t.path().join("data/2024.01.03")).unwrap();
        let recorded = h.dir_times.iter().find(|(p, _)| p == "data/2024.01.03");
        assert_eq!(recorded.map(|(_, t)| *t), Some(times_of(&md)));

        // A directory of the plan that already exists is recorded, and walked with its times.
        fs::create_dir_all(t.path().join("data/versions/2024.01.02")).unwrap();
        let h = header_of(&plan).unwrap();
        assert_eq!(h.preexisting, ["data/versions", "data/versions/2024.01.02"]);
        let dirs: Vec<&str> = h.dir_times.iter().map(|(p, _)| p.as_str()).collect();
        assert!(dirs.contains(&"data/versions/2024.01.02"), "{dirs:?}");
    }

    #[test]
    fn preflight_refuses_an_existing_root_and_an_unplanned_entry() {
        let (t, plan) = before_tree();
        fs::create_dir(t.path().join("db")).unwrap();
        assert!(matches!(header_of(&plan), Err(CommitError::Preflight(_))));
        fs::remove_dir(t.path().join("db")).unwrap();
        fs::write(t.path().join("data/stray"), b"x").unwrap();
        let e = header_of(&plan).unwrap_err();
        assert!(e.to_string().contains("data/stray"), "{e}");
    }

    #[test]
    fn saved_plan_bytes_hash_to_the_plan_hash() {
        let plan = sample_plan();
        let (json, hash) = plan_json_and_hash(&plan).unwrap();
        assert_eq!(hash, plan_hash(&plan));
        assert_eq!(hash.len(), 64);
        let back: Plan = serde_json::from_slice(&json).unwrap();
        assert_eq!(plan_hash(&back), hash);
    }
}
