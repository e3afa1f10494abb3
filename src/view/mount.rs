//! Mount lifecycle of the staging view: checks, mount, foreground/background serving, clean
//! unmount on SIGINT/SIGTERM/SIGHUP, detection and cleanup of stale smstage mounts.

pub use super::fuse::CacheMode;
use super::fuse::{Prefetcher, ViewFs, ViewStats, PREFETCH_THREADS};
use super::objects::ObjectView;
use super::readahead;
use super::tree::Tree;
use super::ViewError;
use crate::approval::ApprovedFiles;
use crate::plan::Plan;
use fuser::{BackgroundSession, Config, MountOption, Session, SessionACL};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Name shown as the mount source and subtype (`fuse.smstage` in /proc/self/mountinfo), which
/// is how stale views are recognised.
pub const FS_NAME: &str = "smstage";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MountOptions {
    /// Serve from a detached child and return once the view answers.
    pub background: bool,
    /// Let other users read the view (their permissions are still checked against the
    /// original's modes).
    pub allow_other: bool,
    /// How opens are answered: passthrough per open (default) or no-open.
    pub cache_mode: CacheMode,
    /// Directory entries read ahead of a sequential reader (see `view::readahead`; 0: off);
    /// None: `SMSTAGE_READAHEAD_FILES`, else the default.
    pub readahead_files: Option<usize>,
    /// Memory bound of the listing cache in MiB (`--cache-budget`; see `view::listings`);
    /// None: the default.
    pub cache_budget_mb: Option<u64>,
}

/// A view served by a thread of this process (tests and embedding); unmounts on drop.
#[derive(Debug)]
pub struct MountHandle {
    mountpoint: PathBuf,
    stats: Arc<ViewStats>,
    session: Option<BackgroundSession>,
}

impl MountHandle {
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    pub fn stats(&self) -> &ViewStats {
        &self.stats
    }

    /// Unmounts and waits for the serving thread to finish.
    pub fn unmount(mut self) -> Result<(), ViewError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), ViewError> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        if let Err(e) = umount_path(&self.mountpoint) {
            // Already gone (someone ran `smstage unmount`) is fine: the thread ends either way.
            if find_mount(&self.mountpoint).is_some() {
                return Err(e);
            }
        }
        session.join().map_err(|source| ViewError::Unmount {
            path: self.mountpoint.clone(),
            source,
        })
    }
}

impl Drop for MountHandle {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            tracing::warn!("{e}");
        }
    }
}

fn passthrough_wanted() -> bool {
    std::env::var_os("SMSTAGE_NO_PASSTHROUGH").is_none()
}

/// Listers of the metadata prefetch: `SMSTAGE_PREFETCH_THREADS` (0 turns it off, for
/// measurements), [`PREFETCH_THREADS`] otherwise.
fn prefetch_threads() -> usize {
    crate::io_pool::tuning_from_env("SMSTAGE_PREFETCH_THREADS", PREFETCH_THREADS, 0..=usize::MAX)
}

/// Mounts the view of `plan` at `mountpoint`. Foreground (the default): blocks until the view is
/// unmounted (`smstage unmount`, or SIGINT/SIGTERM/SIGHUP which unmount cleanly). Background:
/// returns once the view answers, served by a detached child process.
pub fn mount(plan: Plan, mountpoint: &Path, opts: &MountOptions) -> Result<(), ViewError> {
    mount_with(plan, None, None, mountpoint, opts, |_| {})
}

fn mount_with(
    plan: Plan,
    objects: Option<ObjectView>,
    approved: Option<Arc<ApprovedFiles>>,
    mountpoint: &Path,
    opts: &MountOptions,
    on_ready: impl FnOnce(&Path),
) -> Result<(), ViewError> {
    let (session, abs, _stats, prefetcher) = establish(
        &plan,
        objects.as_ref(),
        approved,
        mountpoint,
        opts,
        passthrough_wanted(),
    )?;
    if opts.background {
        serve_background(session, &abs, prefetcher)?;
        on_ready(&abs);
        Ok(())
    } else {
        on_ready(&abs);
        prefetcher.start();
        serve_foreground(session, &abs)
    }
}

/// Mounts the view served by a thread of this process; the handle unmounts it.
/// `passthrough: false` forces the pread path (tests compare both).
pub fn spawn(
    plan: Plan,
    mountpoint: &Path,
    opts: &MountOptions,
    passthrough: bool,
) -> Result<MountHandle, ViewError> {
    spawn_view(plan, None, mountpoint, opts, passthrough)
}

/// [`spawn`], with the object tiers shown as local segments when `objects` is given
/// (validation mode).
pub fn spawn_view(
    plan: Plan,
    objects: Option<ObjectView>,
    mountpoint: &Path,
    opts: &MountOptions,
    passthrough: bool,
) -> Result<MountHandle, ViewError> {
    let (session, abs, stats, prefetcher) = establish(
        &plan,
        objects.as_ref(),
        None,
        mountpoint,
        &MountOptions {
            background: false,
            ..opts.clone()
        },
        passthrough,
    )?;
    let session = session.spawn().map_err(|source| ViewError::Mount {
        path: abs.clone(),
        source,
    })?;
    prefetcher.start();
    Ok(MountHandle {
        mountpoint: abs,
        stats,
        session: Some(session),
    })
}

/// CLI entry of `smstage mount`: mounts and tells the user how to use and remove the view.
pub fn run_mount(plan: Plan, mountpoint: &Path, opts: &MountOptions) -> Result<(), ViewError> {
    run_mount_view(plan, None, mountpoint, opts)
}

/// [`run_mount`], in validation mode when `objects` is given.
pub fn run_mount_view(
    plan: Plan,
    objects: Option<ObjectView>,
    mountpoint: &Path,
    opts: &MountOptions,
) -> Result<(), ViewError> {
    run_mount_approved(plan, objects, None, mountpoint, opts)
}

/// [`run_mount_view`] of a saved plan (`mount --plan`): every original file is checked against
/// `approved` when it is first opened.
pub fn run_mount_approved(
    plan: Plan,
    objects: Option<ObjectView>,
    approved: Option<Arc<ApprovedFiles>>,
    mountpoint: &Path,
    opts: &MountOptions,
) -> Result<(), ViewError> {
    let root = plan.root.clone();
    let bg = opts.background;
    mount_with(plan, objects, approved, mountpoint, opts, |abs| {
        eprintln!(
            "smstage: staging view mounted read-only at {m}\n  load it with:  q {m}/{root}\n  remove it with: smstage unmount {m}{fg}{log}",
            m = abs.display(),
            fg = if bg { "" } else { "  (or press Ctrl-C here)" },
            log = match (bg, background_log_path(abs)) {
                (false, _) => String::new(),
                // Created before the server was forked; not there when that failed (warned).
                (true, p) if p.is_file() => format!(
                    "\n  server log (files refused as changed since the plan, errors): {}",
                    p.display()
                ),
                (true, _) => format!("\n  server log: none (see the warning above); `smstage verify {}/{root}` still names each file the view refuses as changed since the plan", abs.display()),
            }
        );
    })
}

/// CLI entry of `smstage unmount`.
pub fn run_unmount(mountpoint: &Path) -> Result<(), ViewError> {
    unmount(mountpoint)?;
    eprintln!("smstage: unmounted {}", mountpoint.display());
    Ok(())
}

/// Unmounts the smstage view at `mountpoint` (live or stale). Refuses other filesystems.
pub fn unmount(mountpoint: &Path) -> Result<(), ViewError> {
    let abs = absolute(mountpoint);
    let mi = find_mount(&abs).ok_or_else(|| ViewError::NotMounted { path: abs.clone() })?;
    if !mi.is_smstage() {
        return Err(ViewError::NotSmstage {
            path: abs,
            fstype: mi.fstype,
        });
    }
    umount_path(&abs)
}

fn establish(
    plan: &Plan,
    objects: Option<&ObjectView>,
    approved: Option<Arc<ApprovedFiles>>,
    mountpoint: &Path,
    opts: &MountOptions,
    passthrough: bool,
) -> Result<(Session<ViewFs>, PathBuf, Arc<ViewStats>, Prefetcher), ViewError> {
    check_dev_fuse()?;
    raise_open_file_limit();
    let abs = prepare_mountpoint(mountpoint)?;
    let budget_mb = opts
        .cache_budget_mb
        .unwrap_or(super::listings::DEFAULT_BUDGET_MB);
    let budget = usize::try_from(budget_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
    // The saved plan's file stamps are per-file state too: they share the budget, and the
    // listings get what they leave (never less than a working minimum).
    let stamps = approved.as_ref().map_or(0, |a| a.bytes());
    let listings = budget
        .saturating_sub(stamps)
        .max(super::listings::MIN_BUDGET.min(budget));
    let mut tree = Tree::build(plan, objects)?.with_cache_budget(listings);
    if let Some(a) = approved {
        tree = tree.with_approved(a);
    }
    let tree = Arc::new(tree);
    let stats = Arc::new(ViewStats::default());
    let readahead = opts.readahead_files.unwrap_or_else(|| {
        crate::io_pool::tuning_from_env("SMSTAGE_READAHEAD_FILES", readahead::WINDOW, 0..=1024)
    });
    let fs =
        ViewFs::new(tree, passthrough, opts.cache_mode, stats.clone()).with_readahead(readahead);
    let prefetcher = fs.prefetcher(prefetch_threads());
    let session = Session::new(fs, &abs, &fuse_config(opts)).map_err(|source| {
        if source.raw_os_error() == Some(libc::EBUSY) {
            ViewError::Busy {
                path: abs.clone(),
                what: source.to_string(),
            }
        } else {
            ViewError::Mount {
                path: abs.clone(),
                source,
            }
        }
    })?;
    Ok((session, abs, stats, prefetcher))
}

fn fuse_config(opts: &MountOptions) -> Config {
    let mut c = Config::default();
    c.mount_options = vec![
        MountOption::FSName(FS_NAME.into()),
        // fuser's direct mount(2) path drops Subtype; the kernel takes it as a plain option.
        MountOption::CUSTOM(format!("subtype={FS_NAME}")),
        MountOption::RO,
        MountOption::NoDev,
        MountOption::NoSuid,
        MountOption::NoAtime,
        // The kernel checks the original's (write-cleared) modes, which matters with allow_other.
        MountOption::DefaultPermissions,
    ];
    c.acl = if opts.allow_other {
        SessionACL::All
    } else {
        SessionACL::Owner
    };
    c.n_threads = Some(4);
    c.clone_fd = true;
    c
}

/// Raises the soft limit on open files to the hard limit (as servers do; the usual soft limit
/// is 1,024): in pread and `no-open` modes the server holds a descriptor per file q has open,
/// plus those it keeps for speed. Set before `--background` forks, so the server inherits it.
/// Not fatal: the view sizes what it keeps by the limit it has.
fn raise_open_file_limit() {
    let Some(r) = super::handles::open_file_limits() else {
        return;
    };
    if r.rlim_cur >= r.rlim_max {
        return;
    }
    let want = libc::rlimit {
        rlim_cur: r.rlim_max,
        rlim_max: r.rlim_max,
    };
    // SAFETY: plain data in-parameter.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } != 0 {
        tracing::warn!(
            "smstage view: cannot raise the open-file limit from {} to {}: {}",
            r.rlim_cur,
            r.rlim_max,
            io::Error::last_os_error()
        );
    }
}

fn check_dev_fuse() -> Result<(), ViewError> {
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ViewError::DevFuseMissing),
        Err(source) => Err(ViewError::DevFuseUnusable { source }),
    }
}

/// Absolute path without needing to stat the last component (which fails on a stale mount).
fn absolute(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    match (joined.parent(), joined.file_name()) {
        (Some(parent), Some(name)) => parent
            .canonicalize()
            .map(|c| c.join(name))
            .unwrap_or(joined.clone()),
        _ => joined,
    }
}

/// `stat` of a view whose server died can still be answered from the kernel's attribute cache
/// (the view's TTLs are long), and so can a listing (the view answers OPENDIR with ENOSYS and
/// lets the kernel cache directories), so liveness is probed with `statfs`, which is never
/// cached and fails with ENOTCONN on a dead connection.
fn probe(path: &Path) -> io::Result<std::fs::Metadata> {
    let md = std::fs::metadata(path)?;
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: statfs is plain data; c is a valid NUL-terminated path.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid path and out pointer.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    if md.is_dir() {
        std::fs::read_dir(path)?;
    }
    Ok(md)
}

fn prepare_mountpoint(mountpoint: &Path) -> Result<PathBuf, ViewError> {
    let abs = absolute(mountpoint);
    match probe(&abs) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => match find_mount(&abs) {
            Some(mi) if mi.is_smstage() => {
                tracing::warn!(
                    "{} holds a stale smstage view (its server died); unmounting it first",
                    abs.display()
                );
                eprintln!(
                    "smstage: {} held a stale smstage view (its server died); unmounted it",
                    abs.display()
                );
                umount_path(&abs)?;
            }
            _ => return Err(ViewError::StaleForeign { path: abs }),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ViewError::MountpointMissing { path: abs })
        }
        Err(source) => return Err(ViewError::Mount { path: abs, source }),
        Ok(_) => {
            if find_mount(&abs).is_some_and(|m| m.is_smstage()) {
                return Err(ViewError::AlreadyMounted { path: abs });
            }
        }
    }
    let md = std::fs::metadata(&abs).map_err(|source| ViewError::Mount {
        path: abs.clone(),
        source,
    })?;
    if !md.is_dir() {
        return Err(ViewError::NotADirectory { path: abs });
    }
    let mut entries = std::fs::read_dir(&abs).map_err(|source| ViewError::Mount {
        path: abs.clone(),
        source,
    })?;
    if entries.next().is_some() {
        return Err(ViewError::NotEmpty { path: abs });
    }
    Ok(abs)
}

/// One line of /proc/self/mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub mount_point: PathBuf,
    pub fstype: String,
    pub source: String,
}

impl MountInfo {
    pub fn is_smstage(&self) -> bool {
        self.fstype == format!("fuse.{FS_NAME}") || self.source == FS_NAME
    }
}

/// Undoes the kernel's octal escapes (`\040` for a space…) in mountinfo fields.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let mp = pre.split(' ').nth(4)?;
            let mut post = post.split(' ');
            let fstype = post.next()?.to_string();
            let source = String::from_utf8_lossy(&unescape(post.next()?)).into_owned();
            Some(MountInfo {
                mount_point: PathBuf::from(std::ffi::OsStr::from_bytes(&unescape(mp))),
                fstype,
                source,
            })
        })
        .collect()
}

/// The topmost mount at exactly `path`, if any.
pub fn find_mount(path: &Path) -> Option<MountInfo> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    parse_mountinfo(&text)
        .into_iter()
        .rev()
        .find(|m| m.mount_point == path)
}

/// umount2 as root (lazy detach if busy), `fusermount -u` otherwise.
fn umount_path(abs: &Path) -> Result<(), ViewError> {
    let err = |source| ViewError::Unmount {
        path: abs.to_path_buf(),
        source,
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let c = CString::new(abs.as_os_str().as_bytes())
            .map_err(|_| err(io::Error::from_raw_os_error(libc::EINVAL)))?;
        // SAFETY: c is a valid NUL-terminated path.
        if unsafe { libc::umount2(c.as_ptr(), 0) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EBUSY) {
            return Err(err(e));
        }
        tracing::warn!(
            "{} is busy; detaching it (it disappears now, and the server stops when the last user lets go)",
            abs.display()
        );
        // SAFETY: as above.
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
            return Ok(());
        }
        return Err(err(io::Error::last_os_error()));
    }
    let mut last = io::Error::from(io::ErrorKind::NotFound);
    for args in [&["-u"][..], &["-u", "-z"][..]] {
        for bin in ["fusermount3", "fusermount"] {
            match std::process::Command::new(bin).args(args).arg(abs).status() {
                Ok(s) if s.success() => return Ok(()),
                Ok(s) => last = io::Error::other(format!("{bin} -u exited with {s}")),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => last = e,
            }
        }
    }
    Err(err(last))
}

/// Write end of the self-pipe the signal handler pokes (-1 when no foreground view runs).
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);
const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; b lives for the call.
        unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
    }
}

/// Routes SIGINT/SIGTERM/SIGHUP to a pipe while a foreground view runs; restores on drop.
/// A process-wide handler (not a blocked mask + sigwait) works whichever thread the kernel
/// picks to deliver the signal to.
struct SignalGuard {
    read_fd: libc::c_int,
    write_fd: libc::c_int,
    old: Vec<(libc::c_int, libc::sigaction)>,
}

impl SignalGuard {
    fn install() -> io::Result<SignalGuard> {
        let mut fds = [0; 2];
        // SAFETY: fds has room for the two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        SIGNAL_PIPE.store(fds[1], Ordering::Relaxed);
        let mut old = Vec::new();
        for sig in SIGNALS {
            // SAFETY: sigaction structs are plain data; the handler is an extern "C" fn.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as *const () as usize;
                sa.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut sa.sa_mask);
                let mut prev: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &sa, &mut prev) == 0 {
                    old.push((sig, prev));
                }
            }
        }
        Ok(SignalGuard {
            read_fd: fds[0],
            write_fd: fds[1],
            old,
        })
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        for (sig, prev) in &self.old {
            // SAFETY: restoring the action saved at install.
            unsafe { libc::sigaction(*sig, prev, std::ptr::null_mut()) };
        }
        SIGNAL_PIPE.store(-1, Ordering::Relaxed);
        // SAFETY: both fds were created by install and are closed once.
        unsafe {
            libc::close(self.read_fd);
            libc::close(self.write_fd);
        }
    }
}

fn serve_foreground(mut session: Session<ViewFs>, abs: &Path) -> Result<(), ViewError> {
    let guard = SignalGuard::install().map_err(|source| ViewError::Mount {
        path: abs.to_path_buf(),
        source,
    })?;
    let mut unmounter = session.unmount_callable();
    let read_fd = guard.read_fd;
    let path = abs.to_path_buf();
    let watcher = std::thread::Builder::new()
        .name("smstage-signals".into())
        .spawn(move || loop {
            let mut b = 0u8;
            // SAFETY: read_fd stays open until the guard drops, after this thread is joined.
            let n = unsafe { libc::read(read_fd, (&mut b as *mut u8).cast(), 1) };
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            if n <= 0 || b == 0 {
                return; // the view ended by itself
            }
            tracing::info!("signal {b}: unmounting {}", path.display());
            if unmounter.unmount().is_err() {
                if let Err(e) = umount_path(&path) {
                    tracing::warn!("{e}");
                }
            }
            return;
        })
        .map_err(|source| ViewError::Mount {
            path: abs.to_path_buf(),
            source,
        })?;
    let result = session.run();
    let stop = 0u8;
    // SAFETY: write_fd is open until the guard drops below.
    unsafe { libc::write(guard.write_fd, (&stop as *const u8).cast(), 1) };
    let _ = watcher.join();
    drop(guard);
    result.map_err(|source| ViewError::Mount {
        path: abs.to_path_buf(),
        source,
    })
}

/// Forks a detached server for the already-mounted session; returns once the view answers.
fn serve_background(
    session: Session<ViewFs>,
    abs: &Path,
    prefetcher: Prefetcher,
) -> Result<(), ViewError> {
    let bg_err = |why: String| ViewError::Background {
        path: abs.to_path_buf(),
        why,
    };
    // The detached server has no terminal: what it logs (a file refused as changed since the
    // plan, an I/O error) goes to a file beside the mountpoint, which mount's output names.
    let log_path = background_log_path(abs);
    // A mountpoint whose parent is not writable still mounts: without a log, and saying so.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .or_else(|e| {
            eprintln!(
                "smstage: warning: cannot create the server log {} ({e}): the background server's messages are discarded",
                log_path.display()
            );
            std::fs::OpenOptions::new().write(true).open("/dev/null")
        })
        .map_err(|e| bg_err(format!("cannot open /dev/null: {e}")))?;
    let fuse_fd = session.as_fd().as_raw_fd();
    // SAFETY: the CLI is single-threaded here and the child only runs the session loop.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(bg_err(format!("fork: {}", io::Error::last_os_error())));
    }
    if pid == 0 {
        detach_child(log.as_raw_fd());
        // Threads do not survive fork: the child, which serves, lists.
        prefetcher.start();
        let code = match serve_foreground(session, abs) {
            Ok(()) => 0,
            Err(_) => 1,
        };
        // SAFETY: leaving the forked child without running the parent's atexit handlers.
        unsafe { libc::_exit(code) };
    }
    // The child owns the session now: forget our copy (no unmount on drop) and close our
    // /dev/fuse descriptor, so the connection dies with the child.
    std::mem::forget(session);
    drop(log);
    // SAFETY: fuse_fd belongs to the leaked session and is never used again here.
    unsafe { libc::close(fuse_fd) };
    wait_until_answers(abs, pid).map_err(bg_err)
}

/// The background server's log: `<mountpoint's parent>/.<mountpoint's name>.smstage-view.log`,
/// beside the mountpoint (inside it is the view, and the database's directory must stay as
/// the plan saw it).
pub fn background_log_path(mountpoint: &Path) -> PathBuf {
    let name = mountpoint
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "view".into());
    mountpoint
        .parent()
        .unwrap_or(Path::new("/"))
        .join(format!(".{name}.smstage-view.log"))
}

fn detach_child(log_fd: i32) {
    // SAFETY: plain syscalls on our own process; /dev/null replaces stdin and the log file
    // stdout and stderr, so the server holds no terminal or pipe of the caller.
    unsafe {
        libc::setsid();
        let root = c"/";
        libc::chdir(root.as_ptr());
        let null = c"/dev/null";
        let fd = libc::open(null.as_ptr(), libc::O_RDWR);
        if fd >= 0 {
            libc::dup2(fd, 0);
            if fd > 2 {
                libc::close(fd);
            }
        }
        libc::dup2(log_fd, 1);
        libc::dup2(log_fd, 2);
        if log_fd > 2 {
            libc::close(log_fd);
        }
    }
}

fn wait_until_answers(abs: &Path, pid: libc::pid_t) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut status = 0;
        // SAFETY: pid is our child; status is a valid out pointer.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            return Err(format!("server exited early (status {status})"));
        }
        if find_mount(abs).is_some_and(|m| m.is_smstage()) {
            if let Ok(mut rd) = std::fs::read_dir(abs) {
                if rd.next().is_some() {
                    return Ok(());
                }
            }
        }
        if Instant::now() > deadline {
            return Err("the view did not answer within 20 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_background_log_sits_beside_the_mountpoint() {
        assert_eq!(
            background_log_path(Path::new("/mnt/preview")),
            Path::new("/mnt/.preview.smstage-view.log")
        );
        assert_eq!(
            background_log_path(Path::new("/")),
            Path::new("/.view.smstage-view.log")
        );
    }

    #[test]
    fn mountinfo_is_parsed_and_unescaped() {
        let text = "36 35 98:0 /mnt1 /mnt/my\\040view rw,noatime master:1 - fuse.smstage smstage rw,user_id=0\n\
                    37 35 98:0 / /proc rw - proc proc rw\n";
        let v = parse_mountinfo(text);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].mount_point, PathBuf::from("/mnt/my view"));
        assert_eq!(v[0].fstype, "fuse.smstage");
        assert!(v[0].is_smstage());
        assert!(!v[1].is_smstage());
        assert_eq!(v[1].mount_point, PathBuf::from("/proc"));
    }

    #[test]
    fn mountpoint_errors_say_what_to_do() {
        let t = tempfile::tempdir().unwrap();
        let missing = t.path().join("nope");
        let e = prepare_mountpoint(&missing).unwrap_err();
        assert!(matches!(e, ViewError::MountpointMissing { .. }), "{e}");
        assert!(e.to_string().contains("mkdir -p"));
        let file = t.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        assert!(matches!(
            prepare_mountpoint(&file).unwrap_err(),
            ViewError::NotADirectory { .. }
        ));
        let full = t.path().join("full");
        std::fs::create_dir(&full).unwrap();
        std::fs::write(full.join("x"), b"x").unwrap();
        assert!(matches!(
            prepare_mountpoint(&full).unwrap_err(),
            ViewError::NotEmpty { .. }
        ));
        let empty = t.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert_eq!(
            prepare_mountpoint(&empty).unwrap(),
            empty.canonicalize().unwrap()
        );
        assert!(matches!(
            unmount(&empty).unwrap_err(),
            ViewError::NotMounted { .. }
        ));
    }
}
