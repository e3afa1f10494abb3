//! Really mounts the staging view (root + /dev/fuse) and checks it against the original.
//!
//! Servers run either in a thread of this process (`view::spawn`, whose counters prove which
//! I/O path was used) or in a child process re-running this test binary on `child_server`,
//! so signals and kill -9 hit only the server. Once the CLI wires `smstage mount`, the child
//! can be `env!("CARGO_BIN_EXE_smstage")` instead.

use sha2::{Digest, Sha256};
use smstage::plan::{build, Plan, PlanInput, RootEntry, TierInput, TierKind};
use smstage::view::{self, MountHandle, MountOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// True when FUSE tests can run; panics with what to do when they cannot, unless skipping
/// was asked for explicitly.
fn fuse_ready() -> bool {
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
    {
        Ok(_) => true,
        Err(e) => {
            if std::env::var("SMSTAGE_SKIP_FUSE_TESTS").as_deref() == Ok("1") {
                eprintln!("WARNING: /dev/fuse unusable ({e}); FUSE mount test SKIPPED (SMSTAGE_SKIP_FUSE_TESTS=1)");
                false
            } else {
                panic!(
                    "/dev/fuse unusable ({e}): mount tests need root and /dev/fuse (modprobe fuse, or \
                     docker run --device /dev/fuse --cap-add SYS_ADMIN); set SMSTAGE_SKIP_FUSE_TESTS=1 to skip them"
                )
            }
        }
    }
}

const PRICE_ROWS: usize = 300_000;

/// A fake partitioned database under `base/data`, with one column big enough to need many
/// reads and page faults.
fn make_db(base: &Path) {
    let d = base.join("data");
    for (date, n) in [("2024.01.02", PRICE_ROWS), ("2024.01.03", 1000usize)] {
        let t = d.join(date).join("trade");
        std::fs::create_dir_all(&t).unwrap();
        std::fs::write(t.join(".d"), format!("cols of {date}")).unwrap();
        let price: Vec<u8> = (0..n * 8).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(t.join("price"), price).unwrap();
        std::fs::write(t.join("size"), vec![3u8; n]).unwrap();
        std::fs::write(t.join("empty"), b"").unwrap();
    }
    symlink("/etc", d.join("2024.01.02/trade/outside")).unwrap();
    symlink("price", d.join("2024.01.03/trade/alias")).unwrap();
    std::fs::write(d.join("sym"), b"enumeration domain").unwrap();
    std::fs::create_dir_all(d.join("splayed")).unwrap();
    std::fs::write(d.join("splayed/.d"), b"splayed cols").unwrap();
    std::fs::write(d.join("splayed/a"), b"column a").unwrap();
    std::fs::set_permissions(d.join("splayed/a"), PermissionsExt::from_mode(0o640)).unwrap();
}

fn plan_for(base: &Path) -> Plan {
    build(&PlanInput {
        base: base.to_path_buf(),
        root_entries: vec![
            RootEntry {
                name: "sym".into(),
                is_dir: false,
            },
            RootEntry {
                name: "splayed".into(),
                is_dir: true,
            },
        ],
        tiers: vec![TierInput {
            name: "hdb".into(),
            kind: TierKind::Local,
            store: format!("file://{}/data", base.display()),
        }],
        local_partitions: vec!["2024.01.02".into(), "2024.01.03".into()],
        object_partitions: vec![],
    })
    .unwrap()
}

struct Fixture {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    mnt: PathBuf,
}

fn fixture() -> Fixture {
    fixture_in(tempfile::tempdir().unwrap())
}

/// On tmpfs when there is one: creating 100k files there is ten times faster than on ext4.
fn fast_fixture() -> Fixture {
    fixture_in(
        tempfile::tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .unwrap(),
    )
}

fn fixture_in(tmp: tempfile::TempDir) -> Fixture {
    let base = tmp.path().join("hdb");
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    make_db(&base);
    Fixture {
        base,
        mnt,
        _tmp: tmp,
    }
}

fn spawn(f: &Fixture, passthrough: bool) -> MountHandle {
    view::spawn(
        plan_for(&f.base),
        &f.mnt,
        &MountOptions::default(),
        passthrough,
    )
    .unwrap()
}

#[derive(Debug, PartialEq, Eq)]
enum Exp {
    Dir,
    File(Vec<u8>),
    Link(Vec<u8>),
}

fn entry(p: &Path, ft: std::fs::FileType) -> Exp {
    if ft.is_dir() {
        Exp::Dir
    } else if ft.is_symlink() {
        Exp::Link(
            std::fs::read_link(p)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec(),
        )
    } else {
        Exp::File(std::fs::read(p).unwrap())
    }
}

/// The reference: the tree the plan describes, computed from the plan and the original.
fn expected(plan: &Plan) -> BTreeMap<String, Exp> {
    use smstage::plan::NodeKind;
    let mut m = BTreeMap::new();
    for n in &plan.nodes {
        match &n.kind {
            NodeKind::Dir => {
                m.insert(n.path.clone(), Exp::Dir);
            }
            NodeKind::File { contents } => {
                m.insert(n.path.clone(), Exp::File(contents.as_bytes().to_vec()));
            }
            NodeKind::Symlink { target } => {
                m.insert(n.path.clone(), Exp::Link(target.as_bytes().to_vec()));
            }
            NodeKind::Moved { from, .. } => {
                let src = plan.base.join(from);
                for e in walkdir::WalkDir::new(&src) {
                    let e = e.unwrap();
                    let rel = e.path().strip_prefix(&src).unwrap();
                    let p = if rel.as_os_str().is_empty() {
                        n.path.clone()
                    } else {
                        format!("{}/{}", n.path, rel.display())
                    };
                    m.insert(p, entry(e.path(), e.file_type()));
                }
            }
        }
    }
    m
}

fn served(mnt: &Path) -> BTreeMap<String, Exp> {
    let mut m = BTreeMap::new();
    for e in walkdir::WalkDir::new(mnt).min_depth(1) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(mnt).unwrap().display().to_string();
        let md = e.path().symlink_metadata().unwrap();
        let x = entry(e.path(), e.file_type());
        if let Exp::File(c) = &x {
            assert_eq!(c.len() as u64, md.len(), "stat size of {rel}");
        }
        if !e.file_type().is_symlink() {
            assert_eq!(md.mode() & 0o222, 0, "{rel} has no write bit");
        }
        m.insert(rel, x);
    }
    m
}

/// (kind, size, mtime, sha256 or link target) of every entry under `dir`.
fn manifest(dir: &Path) -> BTreeMap<PathBuf, (String, u64, i64, i64, String)> {
    let mut m = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir) {
        let e = e.unwrap();
        let md = e.path().symlink_metadata().unwrap();
        let digest = if e.file_type().is_file() {
            format!("{:x}", Sha256::digest(std::fs::read(e.path()).unwrap()))
        } else if e.file_type().is_symlink() {
            std::fs::read_link(e.path()).unwrap().display().to_string()
        } else {
            String::new()
        };
        m.insert(
            e.path().strip_prefix(dir).unwrap().to_path_buf(),
            (
                format!("{:?}", e.file_type()),
                md.len(),
                md.mtime(),
                md.mtime_nsec(),
                digest,
            ),
        );
    }
    m
}

fn errno_of<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    r.expect_err("must fail").raw_os_error().unwrap_or(0)
}

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[test]
fn view_serves_the_plan_and_uses_passthrough() {
    if !fuse_ready() {
        return;
    }
    let f = fixture();
    let h = spawn(&f, true);
    let plan = plan_for(&f.base);
    let s = h.stats();
    assert!(
        s.passthrough_enabled.load(Ordering::Relaxed),
        "kernel 6.9+ offers FUSE passthrough"
    );
    // Passthrough, first thing (no page cache anywhere yet): the 2.4 MB column is read
    // through the segment symlink, as q does, and not one READ reaches the server.
    let orig = std::fs::read(f.base.join("data/2024.01.02/trade/price")).unwrap();
    let via_link = std::fs::read(f.mnt.join("db/hdb$/2024.01.02/trade/price")).unwrap();
    assert!(via_link == orig, "column bytes through the view");
    assert_eq!(s.passthrough_opens.load(Ordering::Relaxed), 1);
    assert_eq!(s.pread_opens.load(Ordering::Relaxed), 0);
    assert_eq!(
        s.reads.load(Ordering::Relaxed),
        0,
        "no READ went to userspace"
    );
    // Generated files are served from memory by READ, which shows the counter counts.
    assert_eq!(
        std::fs::read_to_string(f.mnt.join("db/par.txt")).unwrap(),
        plan.par_txt
    );
    assert!(s.reads.load(Ordering::Relaxed) > 0);
    assert_eq!(s.pread_opens.load(Ordering::Relaxed), 1);
    // The whole tree equals the reference model.
    assert_eq!(served(&f.mnt), expected(&plan));
    // statfs reports the original's filesystem, flagged read-only.
    let vfs = |p: &Path| {
        // SAFETY: statvfs is plain data filled by the kernel for a valid path.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        let c = cpath(p);
        assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
        st
    };
    let (v, o) = (vfs(&f.mnt), vfs(&f.base));
    assert_eq!((v.f_blocks, v.f_bsize), (o.f_blocks, o.f_bsize));
    assert_ne!(v.f_flag & libc::ST_RDONLY, 0);
    let mi = view::mount::find_mount(h.mountpoint()).expect("listed in mountinfo");
    assert_eq!(mi.fstype, "fuse.smstage");
    assert_eq!(mi.source, "smstage");
    h.unmount().unwrap();
    assert!(view::mount::find_mount(&f.mnt).is_none());
}

#[test]
fn pread_fallback_serves_the_same_bytes() {
    if !fuse_ready() {
        return;
    }
    let f = fixture();
    let h = spawn(&f, false);
    assert_eq!(served(&f.mnt), expected(&plan_for(&f.base)));
    let s = h.stats();
    assert!(!s.passthrough_enabled.load(Ordering::Relaxed));
    assert_eq!(s.passthrough_opens.load(Ordering::Relaxed), 0);
    assert!(s.reads.load(Ordering::Relaxed) > 0);
    h.unmount().unwrap();
}

fn check_mmap(path: &Path, orig: &[u8], flags: libc::c_int) {
    let file = std::fs::File::open(path).unwrap();
    let len = file.metadata().unwrap().len() as usize;
    assert_eq!(len, orig.len());
    use std::os::fd::AsRawFd;
    // SAFETY: mapping a file we hold open, read-only, of its exact length.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            flags,
            file.as_raw_fd(),
            0,
        )
    };
    assert_ne!(
        p,
        libc::MAP_FAILED,
        "mmap: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: p maps len readable bytes until munmap.
    let mapped = unsafe { std::slice::from_raw_parts(p as *const u8, len) };
    assert!(mapped == orig, "mapped bytes differ for {}", path.display());
    // SAFETY: unmapping what we mapped.
    unsafe { libc::munmap(p, len) };
}

#[test]
fn mmap_of_columns_works_with_and_without_passthrough() {
    if !fuse_ready() {
        return;
    }
    for passthrough in [true, false] {
        let f = fixture();
        let h = spawn(&f, passthrough);
        let orig = std::fs::read(f.base.join("data/2024.01.02/trade/price")).unwrap();
        let col = f.mnt.join("db/hdb$/2024.01.02/trade/price");
        check_mmap(&col, &orig, libc::MAP_SHARED);
        check_mmap(&col, &orig, libc::MAP_PRIVATE);
        let par = std::fs::read(f.mnt.join("db/par.txt")).unwrap();
        check_mmap(&f.mnt.join("db/par.txt"), &par, libc::MAP_SHARED);
        h.unmount().unwrap();
    }
}

#[test]
fn every_write_attempt_gets_erofs_and_the_original_is_untouched() {
    if !fuse_ready() {
        return;
    }
    let f = fixture();
    let before = manifest(&f.base);
    let h = spawn(&f, true);
    let m = &f.mnt;
    let col = m.join("data/versions/2024.01.02/1/trade/price");
    let par = m.join("db/par.txt");
    let erofs = libc::EROFS;
    use std::fs::OpenOptions;
    for p in [&col, &par] {
        assert_eq!(errno_of(OpenOptions::new().write(true).open(p)), erofs);
        assert_eq!(
            errno_of(OpenOptions::new().read(true).write(true).open(p)),
            erofs
        );
        assert_eq!(errno_of(OpenOptions::new().append(true).open(p)), erofs);
        assert_eq!(
            errno_of(OpenOptions::new().write(true).truncate(true).open(p)),
            erofs
        );
        assert_eq!(errno_of(std::fs::remove_file(p)), erofs);
        assert_eq!(
            errno_of(std::fs::set_permissions(
                p,
                PermissionsExt::from_mode(0o644)
            )),
            erofs
        );
        assert_eq!(errno_of(std::fs::rename(p, m.join("db/moved"))), erofs);
        assert_eq!(errno_of(std::fs::hard_link(p, m.join("db/hl"))), erofs);
        let c = cpath(p);
        // SAFETY: valid path; a null times pointer means "now".
        assert_eq!(unsafe { libc::utimes(c.as_ptr(), std::ptr::null()) }, -1);
        assert_eq!(last_errno(), erofs);
        // SAFETY: valid path.
        assert_eq!(unsafe { libc::truncate(c.as_ptr(), 0) }, -1);
        assert_eq!(last_errno(), erofs);
        let (n, v) = (cpath(Path::new("user.x")), b"1");
        // SAFETY: valid path, name and value buffer.
        let r = unsafe { libc::setxattr(c.as_ptr(), n.as_ptr(), v.as_ptr().cast(), 1, 0) };
        assert_eq!(r, -1);
        assert_eq!(last_errno(), erofs);
    }
    assert_eq!(
        errno_of(
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(m.join("db/new"))
        ),
        erofs
    );
    assert_eq!(errno_of(std::fs::create_dir(m.join("db/newdir"))), erofs);
    assert_eq!(errno_of(symlink("x", m.join("db/newlink"))), erofs);
    assert_eq!(errno_of(std::fs::remove_dir(m.join("db/hdb$"))), erofs);
    assert_eq!(
        errno_of(std::fs::remove_file(m.join("db/hdb$/2024.01.02"))),
        erofs
    );
    assert_eq!(
        errno_of(std::fs::rename(m.join("db/splayed"), m.join("db/s2"))),
        erofs
    );
    // A session that reads everything leaves the original byte-for-byte as it was.
    let _ = served(m);
    h.unmount().unwrap();
    assert_eq!(manifest(&f.base), before);
}

#[test]
fn a_100k_entry_directory_lists_every_name_once() {
    if !fuse_ready() {
        return;
    }
    let f = fast_fixture();
    let big = f.base.join("data/splayed/big");
    std::fs::create_dir(&big).unwrap();
    const N: usize = 100_000;
    for i in 0..N {
        std::fs::File::create(big.join(format!("c{i}"))).unwrap();
    }
    let h = spawn(&f, true);
    let mut names = Vec::with_capacity(N);
    for e in std::fs::read_dir(f.mnt.join("db/splayed/big")).unwrap() {
        names.push(e.unwrap().file_name().into_string().unwrap());
    }
    assert_eq!(names.len(), N, "every name once");
    let set: BTreeSet<_> = names.iter().cloned().collect();
    assert_eq!(set.len(), N, "no duplicates");
    assert!((0..N).all(|i| set.contains(&format!("c{i}"))));
    h.unmount().unwrap();
}

#[test]
fn mount_refuses_bad_mountpoints_and_double_mounts() {
    if !fuse_ready() {
        return;
    }
    let f = fixture();
    let plan = plan_for(&f.base);
    let o = MountOptions::default();
    let e = view::mount(plan.clone(), &f.mnt.join("missing"), &o).unwrap_err();
    assert!(
        matches!(e, view::ViewError::MountpointMissing { .. }),
        "{e}"
    );
    let e = view::mount(plan.clone(), &f.base.join("data/sym"), &o).unwrap_err();
    assert!(matches!(e, view::ViewError::NotADirectory { .. }), "{e}");
    let e = view::mount(plan.clone(), &f.base.join("data"), &o).unwrap_err();
    assert!(matches!(e, view::ViewError::NotEmpty { .. }), "{e}");
    let h = spawn(&f, true);
    let e = view::spawn(plan, &f.mnt, &o, true).unwrap_err();
    assert!(matches!(e, view::ViewError::AlreadyMounted { .. }), "{e}");
    assert!(e.to_string().contains("smstage unmount"));
    let e = view::unmount(&f.base).unwrap_err();
    assert!(matches!(e, view::ViewError::NotMounted { .. }), "{e}");
    h.unmount().unwrap();
}

// ---- servers in a child process ----------------------------------------------------------

/// Not a test of its own: the body a child process runs to serve a view (see `ChildServer`).
#[test]
fn child_server() {
    let (Some(base), Some(mnt)) = (
        std::env::var_os("SMSTAGE_TEST_CHILD_BASE"),
        std::env::var_os("SMSTAGE_TEST_CHILD_MNT"),
    ) else {
        return;
    };
    let background = std::env::var_os("SMSTAGE_TEST_CHILD_BG").is_some();
    let opts = MountOptions {
        background,
        allow_other: false,
        ..Default::default()
    };
    view::mount(plan_for(Path::new(&base)), Path::new(&mnt), &opts).unwrap();
}

/// A view served by a child process; kills it and unmounts on drop, even when a test fails.
struct ChildServer {
    child: Child,
    mnt: PathBuf,
}

impl ChildServer {
    fn start(f: &Fixture, background: bool) -> ChildServer {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "view_tests::child_server",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SMSTAGE_TEST_CHILD_BASE", &f.base)
        .env("SMSTAGE_TEST_CHILD_MNT", &f.mnt)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
        if background {
            cmd.env("SMSTAGE_TEST_CHILD_BG", "1");
        }
        let child = cmd.spawn().unwrap();
        ChildServer {
            child,
            mnt: f.mnt.clone(),
        }
    }

    fn wait_mounted(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while view::mount::find_mount(&self.mnt).is_none() {
            if let Some(s) = self.child.try_wait().unwrap() {
                panic!("server exited before mounting: {s}");
            }
            assert!(Instant::now() < deadline, "view not mounted in 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "server still running after 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = view::unmount(&self.mnt);
    }
}

fn stat_errno(p: &Path) -> i32 {
    std::fs::metadata(p)
        .err()
        .and_then(|e| e.raw_os_error())
        .unwrap_or(0)
}

#[test]
fn sigterm_unmounts_a_foreground_server_cleanly() {
    if !fuse_ready() {
        return;
    }
    let f = fixture();
    let mut s = ChildServer::start(&f, false);
    s.wait_mounted();
    assert_eq!(
        std::fs::read(f.mnt.join("db/sym")).unwrap(),
        b"enumeration domain"
    );
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) }, 0);
    let status = s.wait_exit();
    assert!(status.success(), "server ended cleanly: {status}");
    assert!(view::mount::find_mount(&f.mnt).is_none());
    assert_eq!(std::fs::read_dir(&f.mnt).unwrap().count(), 0);
}

#[test]
fn kill_9_leaves_a_stale_mount_that_mount_and_unmount_clean_up() {
    if !fuse_ready() {
        return;
    }
    let f = fixture();
    for round in 0..2 {
        let mut s = ChildServer::start(&f, false);
        s.wait_mounted();
        assert!(std::fs::read_dir(f.mnt.join("db")).unwrap().count() > 0);
        s.child.kill().unwrap(); // SIGKILL
        s.wait_exit();
        assert_eq!(stat_errno(&f.mnt), libc::ENOTCONN, "stale after kill -9");
        if round == 0 {
            // `smstage mount` at a stale smstage mount cleans it and mounts again.
            let h = spawn(&f, true);
            assert_eq!(
                std::fs::read(f.mnt.join("db/sym")).unwrap(),
                b"enumeration domain"
            );
            h.unmount().unwrap();
        } else {
            // `smstage unmount` clears it.
            view::unmount(&f.mnt).unwrap();
        }
        assert!(view::mount::find_mount(&f.mnt).is_none());
        assert_eq!(std::fs::read_dir(&f.mnt).unwrap().count(), 0);
    }
}

#[test]
fn background_mount_returns_once_the_view_answers() {
    if !fuse_ready() {
        return;
    }
    let f = fixture();
    let mut s = ChildServer::start(&f, true);
    let status = s.wait_exit();
    assert!(status.success(), "mount --background returned ok: {status}");
    // The caller has returned; the detached server answers immediately.
    assert!(view::mount::find_mount(&f.mnt).is_some_and(|m| m.is_smstage()));
    assert_eq!(
        std::fs::read(f.mnt.join("db/splayed/a")).unwrap(),
        b"column a"
    );
    view::unmount(&f.mnt).unwrap();
    assert!(view::mount::find_mount(&f.mnt).is_none());
}

// ---- real kdb+ databases -----------------------------------------------------------------

fn is_date(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 10
        && b[4] == b'.'
        && b[7] == b'.'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// The plan of a copied real database, partitions and root entries found by listing it.
fn plan_of_copy(base: &Path) -> Plan {
    let mut parts = Vec::new();
    let mut roots = Vec::new();
    for e in std::fs::read_dir(base.join("data")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let is_dir = e.file_type().unwrap().is_dir();
        if is_dir && is_date(&name) {
            parts.push(name);
        } else {
            roots.push(RootEntry { name, is_dir });
        }
    }
    parts.sort();
    roots.sort_by(|a, b| a.name.cmp(&b.name));
    build(&PlanInput {
        base: base.to_path_buf(),
        root_entries: roots,
        tiers: vec![TierInput {
            name: "hdb".into(),
            kind: TierKind::Local,
            store: format!("file://{}/data", base.display()),
        }],
        local_partitions: parts,
        object_partitions: vec![],
    })
    .unwrap()
}

#[test]
fn real_fixtures_are_served_exactly() {
    if !fuse_ready() {
        return;
    }
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/real");
    if !real.is_dir() {
        eprintln!(
            "WARNING: {} not found: real-fixture view test SKIPPED",
            real.display()
        );
        return;
    }
    for name in ["torq-air", "dolphindb-sample"] {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("hdb");
        let mnt = tmp.path().join("mnt");
        std::fs::create_dir_all(&base).unwrap();
        std::fs::create_dir_all(&mnt).unwrap();
        let st = Command::new("cp")
            .arg("-a")
            .arg(real.join(name))
            .arg(base.join("data"))
            .status()
            .unwrap();
        assert!(st.success(), "copy {name}");
        let plan = plan_of_copy(&base);
        let before = manifest(&base);
        let h = view::spawn(plan.clone(), &mnt, &MountOptions::default(), true).unwrap();
        assert_eq!(served(&mnt), expected(&plan), "{name}");
        let sym = std::fs::read(mnt.join("db/sym")).unwrap();
        check_mmap(&mnt.join("db/sym"), &sym, libc::MAP_SHARED);
        h.unmount().unwrap();
        assert_eq!(manifest(&base), before, "{name} untouched");
    }
}

#[test]
fn passthrough_reopens_skip_flush_and_reuse_the_backing_id() {
    if !fuse_ready() {
        return;
    }
    let f = fixture();
    let h = spawn(&f, true);
    let s = h.stats();
    let orig = std::fs::read(f.base.join("data/2024.01.02/trade/price")).unwrap();
    let col = f.mnt.join("db/hdb$/2024.01.02/trade/price");
    for _ in 0..3 {
        assert!(std::fs::read(&col).unwrap() == orig);
    }
    assert_eq!(s.passthrough_opens.load(Ordering::Relaxed), 3);
    assert_eq!(
        s.backing_reuses.load(Ordering::Relaxed),
        2,
        "reopens answered from the backing-id LRU"
    );
    assert_eq!(s.reads.load(Ordering::Relaxed), 0);
    assert_eq!(
        s.flush_requests.load(Ordering::Relaxed),
        0,
        "FOPEN_NOFLUSH: close sends no FLUSH"
    );
    // OPENDIR is answered ENOSYS once; the kernel then lists without asking, twice the same.
    let plan = plan_for(&f.base);
    assert_eq!(served(&f.mnt), expected(&plan));
    assert_eq!(served(&f.mnt), expected(&plan));
    assert_eq!(s.opendir_requests.load(Ordering::Relaxed), 1);
    h.unmount().unwrap();
}

#[test]
fn no_open_mode_serves_the_plan_keeps_the_page_cache_and_maps() {
    if !fuse_ready() {
        return;
    }
    let f = fixture();
    let opts = MountOptions {
        cache_mode: view::CacheMode::NoOpen,
        ..Default::default()
    };
    let h = view::spawn(plan_for(&f.base), &f.mnt, &opts, true).unwrap();
    let s = h.stats();
    let plan = plan_for(&f.base);
    assert_eq!(served(&f.mnt), expected(&plan));
    assert!(!s.passthrough_enabled.load(Ordering::Relaxed));
    assert_eq!(s.passthrough_opens.load(Ordering::Relaxed), 0);
    assert_eq!(
        s.open_requests.load(Ordering::Relaxed),
        1,
        "one OPEN, answered ENOSYS, then none"
    );
    assert!(s.flush_requests.load(Ordering::Relaxed) <= 1);
    let orig = std::fs::read(f.base.join("data/2024.01.02/trade/price")).unwrap();
    let col = f.mnt.join("db/hdb$/2024.01.02/trade/price");
    assert!(std::fs::read(&col).unwrap() == orig);
    let reads = s.reads.load(Ordering::Relaxed);
    assert!(reads > 0, "bytes came through READ");
    // Reopened: served from the kept page cache, no request at all.
    assert!(std::fs::read(&col).unwrap() == orig);
    check_mmap(&col, &orig, libc::MAP_SHARED);
    check_mmap(&col, &orig, libc::MAP_PRIVATE);
    assert_eq!(s.reads.load(Ordering::Relaxed), reads);
    assert_eq!(s.open_requests.load(Ordering::Relaxed), 1);
    let par = std::fs::read(f.mnt.join("db/par.txt")).unwrap();
    assert_eq!(par, plan.par_txt.as_bytes());
    check_mmap(&f.mnt.join("db/par.txt"), &par, libc::MAP_SHARED);
    h.unmount().unwrap();
}

/// Absent names are cached by the kernel as negative entries: probing for a file that is not
/// there (q looks for `col#`, `.d`, `par.txt`) reaches the server once per name.
#[test]
fn absent_names_are_answered_once_then_cached_by_the_kernel() {
    if !fuse_ready() {
        return;
    }
    let f = fixture();
    let h = view::spawn(plan_for(&f.base), &f.mnt, &MountOptions::default(), true).unwrap();
    let s = h.stats();
    let absent = f.mnt.join("db/hdb$/2024.01.02/trade/price#");
    let present = f.mnt.join("db/hdb$/2024.01.02/trade/price");
    for _ in 0..3 {
        let e = std::fs::symlink_metadata(&absent).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        assert!(std::fs::symlink_metadata(&present).is_ok());
    }
    assert_eq!(s.negative_lookups.load(Ordering::Relaxed), 1);
    // Opening it fails the same way, from the cached negative entry.
    assert_eq!(errno_of(std::fs::File::open(&absent)), libc::ENOENT);
    assert_eq!(s.negative_lookups.load(Ordering::Relaxed), 1);
    h.unmount().unwrap();
}

/// Pages of `path` in the page cache (mincore of a fresh mapping: mapping faults nothing in).
fn resident_pages(path: &Path) -> usize {
    let f = std::fs::File::open(path).unwrap();
    let len = f.metadata().unwrap().len() as usize;
    if len == 0 {
        return 0;
    }
    use std::os::fd::AsRawFd;
    // SAFETY: a read-only mapping of a file we opened, never dereferenced, unmapped below.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    let mut vec = vec![0u8; len.div_ceil(4096)];
    // SAFETY: vec has one byte per page of the mapping.
    assert_eq!(unsafe { libc::mincore(p, len, vec.as_mut_ptr()) }, 0);
    // SAFETY: unmapping exactly what was mapped.
    unsafe { libc::munmap(p, len) };
    vec.iter().filter(|b| *b & 1 == 1).count()
}

/// Writes back and evicts `path`'s pages (fresh files are dirty; DONTNEED skips dirty pages).
fn evict(path: &Path) {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).unwrap();
    f.sync_all().unwrap();
    // SAFETY: plain syscall on an open descriptor.
    let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(r, 0);
}

#[test]
fn a_reader_opening_a_table_from_its_first_file_finds_the_rest_read_ahead() {
    if !fuse_ready() {
        return;
    }
    let mib_pages = (1usize << 20) / 4096;
    for window in [None, Some(0)] {
        let f = fixture();
        let table = f.base.join("data/2024.01.02/trade");
        let (price, size) = (table.join("price"), table.join("size"));
        let opts = MountOptions {
            readahead_files: window,
            ..Default::default()
        };
        let h = view::spawn(plan_for(&f.base), &f.mnt, &opts, true).unwrap();
        let s = h.stats();
        for p in [&price, &size] {
            evict(p);
            assert_eq!(
                resident_pages(p),
                0,
                "{p:?} still cached: the check would prove nothing"
            );
        }
        // Opening `.d` (the first entry, as q does) is all the reader does here.
        let d = std::fs::read(f.mnt.join("db/hdb$/2024.01.02/trade/.d")).unwrap();
        assert_eq!(d, b"cols of 2024.01.02");
        let t0 = Instant::now();
        let advised = || s.readahead.advised.load(Ordering::Relaxed);
        if window.is_none() {
            // The default window: `price` (its first MiB) and `size` (whole) are read ahead.
            while advised() < 2 && t0.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(10));
            }
            assert!(advised() >= 2, "advised {}", advised());
            let want = [(&price, mib_pages), (&size, (PRICE_ROWS).div_ceil(4096))];
            for (p, n) in want {
                while resident_pages(p) < n && t0.elapsed() < Duration::from_secs(10) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                assert!(
                    resident_pages(p) >= n,
                    "{p:?}: {} of {n} pages",
                    resident_pages(p)
                );
            }
            let whole = std::fs::metadata(&price).unwrap().len() as usize / 4096;
            assert!(
                resident_pages(&price) < whole,
                "only the head of a large column is read ahead"
            );
        } else {
            std::thread::sleep(Duration::from_millis(300));
            assert_eq!(advised(), 0);
            for p in [&price, &size] {
                assert_eq!(resident_pages(p), 0, "{p:?} read with the readahead off");
            }
        }
        // What is read through the view is still the original's bytes.
        assert!(
            std::fs::read(f.mnt.join("db/hdb$/2024.01.02/trade/price")).unwrap()
                == std::fs::read(&price).unwrap()
        );
        h.unmount().unwrap();
    }
}

#[test]
fn a_tiny_cache_budget_serves_the_same_tree_and_numbers_through_the_kernel() {
    if !fuse_ready() {
        return;
    }
    let f = fast_fixture();
    // 400 directories of 20 files: ~1.5 MB of listings, more than the 1 MiB budget.
    for d in 0..400 {
        let dir = f.base.join(format!("data/splayed/d{d:03}"));
        std::fs::create_dir(&dir).unwrap();
        for c in 0..20 {
            std::fs::write(dir.join(format!("c{c:02}")), format!("{d} {c}")).unwrap();
        }
    }
    let opts = MountOptions {
        cache_budget_mb: Some(1),
        ..Default::default()
    };
    let h = view::spawn(plan_for(&f.base), &f.mnt, &opts, true).unwrap();
    let want = expected(&plan_for(&f.base));
    let numbers = |mnt: &Path| -> BTreeMap<String, (u64, u64, i64)> {
        walkdir::WalkDir::new(mnt)
            .min_depth(1)
            .into_iter()
            .map(|e| {
                let e = e.unwrap();
                let md = e.path().symlink_metadata().unwrap();
                let rel = e.path().strip_prefix(mnt).unwrap().display().to_string();
                (rel, (md.ino(), md.len(), md.mtime_nsec()))
            })
            .collect()
    };
    assert_eq!(served(&f.mnt), want);
    let first = numbers(&f.mnt);
    for round in 0..2 {
        // The kernel forgets dentries and inodes (as under memory pressure, when it sends
        // FORGET): every name is looked up again, in directories evicted long ago.
        let _ = std::fs::write("/proc/sys/vm/drop_caches", "2");
        assert_eq!(served(&f.mnt), want, "round {round}");
        assert_eq!(numbers(&f.mnt), first, "inode numbers or attributes moved");
    }
    let c = h.stats().listings.get().unwrap().stats();
    assert!(c.evictions > 0, "the budget never bit: {c:?}");
    assert!(c.peak_bytes <= c.budget, "over budget: {c:?}");
    h.unmount().unwrap();
}
