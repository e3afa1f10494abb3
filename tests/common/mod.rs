//! Shared helpers of the integration tests: fixtures, temp databases, manifests, running the binary.
#![allow(dead_code)]

use sha2::{Digest, Sha256};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub mod corpus;
pub mod forged_plans;
pub mod remedied;

/// `../shared/fixtures/real/<name>`, or None with a loud warning (CI has it; a bare clone may not).
pub fn fixture(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/real")
        .join(name);
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "\n!!!!!!!! WARNING: real fixture {} is missing: this test is SKIPPED !!!!!!!!\n",
            p.display()
        );
        None
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_smstage")
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// The `code` of every finding of a `--format json` report, in order.
pub fn json_codes(report: &serde_json::Value) -> Vec<&str> {
    report["findings"]
        .as_array()
        .expect("a JSON report has findings")
        .iter()
        .map(|f| f["code"].as_str().expect("a finding has a code"))
        .collect()
}

pub fn smstage(args: &[&str]) -> Out {
    let mut c = Command::new(bin());
    c.args(args);
    run(c)
}

/// Runs `c` to the end and collects its exit code and output.
pub fn run(mut c: Command) -> Out {
    c.output().expect("run smstage").into()
}

impl From<std::process::Output> for Out {
    /// The exit code is -1 for a process killed by a signal.
    fn from(o: std::process::Output) -> Out {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Copies a tree (files, dirs, symlinks as symlinks), keeping modes but making it writable.
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in walkdir::WalkDir::new(from).min_depth(1) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(from).unwrap();
        let dst = to.join(rel);
        let ft = e.file_type();
        if ft.is_dir() {
            fs::create_dir_all(&dst).unwrap();
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(e.path()).unwrap(), &dst).unwrap();
        } else {
            fs::copy(e.path(), &dst).unwrap();
        }
        if !ft.is_symlink() {
            let mut perm = fs::metadata(&dst).unwrap().permissions();
            use std::os::unix::fs::PermissionsExt;
            perm.set_mode(perm.mode() | 0o200);
            fs::set_permissions(&dst, perm).unwrap();
        }
    }
}

/// Every entry under `root`: relative path, kind, size, mode, mtime, link target, content hash.
pub fn manifest(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(root).sort_by_file_name() {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(root).unwrap().display().to_string();
        let m = fs::symlink_metadata(e.path()).unwrap();
        let what = if m.file_type().is_symlink() {
            format!("link {}", fs::read_link(e.path()).unwrap().display())
        } else if m.is_dir() {
            "dir".to_string()
        } else {
            let mut h = Sha256::new();
            h.update(fs::read(e.path()).unwrap());
            format!("file {} {:x}", m.len(), h.finalize())
        };
        out.push(format!(
            "{rel} {what} mode={:o} mtime={}.{}",
            m.mode(),
            m.mtime(),
            m.mtime_nsec()
        ));
    }
    out
}

/// Manifest lines of `dirs` under `base`, cut before `field` (` mode=` keeps paths, kinds, link
/// targets, sizes and content hashes; ` mtime=` keeps modes too). A view and a committed tree
/// legitimately differ in times.
pub fn listing_upto(base: &Path, dirs: &[&str], field: &str) -> Vec<String> {
    let mut out = Vec::new();
    for d in dirs {
        for line in manifest(&base.join(d)) {
            let cut = line.find(field).unwrap_or(line.len());
            out.push(format!("{d}/{}", &line[..cut]));
        }
    }
    out
}

pub fn listing(base: &Path, dirs: &[&str]) -> Vec<String> {
    listing_upto(base, dirs, " mode=")
}

pub fn listing_with_modes(base: &Path, dirs: &[&str]) -> Vec<String> {
    listing_upto(base, dirs, " mtime=")
}

/// A temp dir playing the HDB mount's baseURI, with the database at `data/`.
pub struct Base {
    pub dir: tempfile::TempDir,
}

impl Base {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("assembly.yaml")
    }
    pub fn config_str(&self) -> String {
        self.config().display().to_string()
    }
    /// A full copy of the database next to the base, for the backup precondition.
    pub fn backup(&self) -> PathBuf {
        let b = self.dir.path().join("backup");
        if !b.exists() {
            copy_tree(&self.data(), &b);
        }
        b
    }
}

/// Generates a sample database with `smstage gen` (database + assembly.yaml).
pub fn generated(partitions: u32, tables: u32, columns: u32, rows: u32) -> Base {
    generated_with(partitions, tables, columns, rows, &[])
}

/// [`generated`] with more `gen` arguments (`--segments 2`…).
pub fn generated_with(
    partitions: u32,
    tables: u32,
    columns: u32,
    rows: u32,
    extra: &[&str],
) -> Base {
    let dir = tempfile::tempdir().unwrap();
    let (p, t, c, r) = (
        partitions.to_string(),
        tables.to_string(),
        columns.to_string(),
        rows.to_string(),
    );
    let mut args = vec![
        "gen",
        "--out",
        dir.path().to_str().unwrap(),
        "--partitions",
        &p,
        "--tables",
        &t,
        "--columns",
        &c,
        "--rows",
        &r,
    ];
    args.extend_from_slice(extra);
    let out = smstage(&args);
    assert_eq!(out.code, 0, "gen failed: {}", out.all());
    Base { dir }
}

/// A copy of a real fixture under `data/` with an assembly YAML.
pub fn from_fixture(name: &str, yaml_tables: &str) -> Option<Base> {
    let src = fixture(name)?;
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&src, &dir.path().join("data"));
    let yaml = format!(
        "mounts:\n  rdb:\n    type: stream\n    baseURI: file:///tmp/unused-rdb\n    partition: none\n  hdb:\n    type: local\n    baseURI: file://{}\n    partition: date\nsm:\n  tiers:\n    - name: streaming\n      mount: rdb\n    - name: hdb\n      mount: hdb\ntables:\n{yaml_tables}",
        dir.path().display()
    );
    fs::write(dir.path().join("assembly.yaml"), yaml).unwrap();
    Some(Base { dir })
}

/// The YAML `tables:` body for torq-air (types read off the files with xxd, see the fixture README).
pub const TORQ_TABLES: &str = "  flights:
    type: partitioned
    prtnCol: time
    columns:
      - {name: time, type: timestamp}
      - {name: sym, type: symbol, attrDisk: parted}
      - {name: depAirport, type: symbol}
      - {name: depTime, type: datetime}
      - {name: arivTime, type: datetime}
      - {name: arivAirport, type: symbol}
      - {name: flightNumber, type: long}
      - {name: aircraftType, type: symbol}
      - {name: registration, type: string}
      - {name: status, type: symbol}
";

/// Table directories of the first partition of a database, sorted.
pub fn first_partition(data: &Path) -> PathBuf {
    let mut parts: Vec<_> = fs::read_dir(data)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().unwrap().to_string_lossy().starts_with('2'))
        .collect();
    parts.sort();
    parts[0].clone()
}

pub fn tables_in(partition: &Path) -> Vec<PathBuf> {
    let mut t: Vec<_> = fs::read_dir(partition)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    t.sort();
    t
}

/// Column names of a table from its `.d` (parsed here independently of the library).
pub fn dotd(table: &Path) -> Vec<String> {
    let b = fs::read(table.join(".d")).unwrap();
    assert_eq!(&b[..3], &[0xff, 0x01, 0x0b]);
    b[8..]
        .split(|c| *c == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// The local S3 server of the object-tier tests: `AWS_*` variables of an already running one
/// (when `AWS_ENDPOINT` is set), or one started with scripts/s3-server.sh for this test binary.
/// None (with a loud warning) only when `SMSTAGE_SKIP_S3_TESTS=1`.
pub fn s3_server() -> Option<&'static std::collections::HashMap<String, String>> {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static S: OnceLock<Option<HashMap<String, String>>> = OnceLock::new();
    S.get_or_init(|| {
        if std::env::var("SMSTAGE_SKIP_S3_TESTS").as_deref() == Ok("1") {
            eprintln!("\n!!!!!!!! WARNING: SMSTAGE_SKIP_S3_TESTS=1: object-tier tests are SKIPPED !!!!!!!!\n");
            return None;
        }
        if std::env::var("AWS_ENDPOINT").is_ok() {
            return Some(
                std::env::vars()
                    .filter(|(k, _)| k.starts_with("AWS_") || k.starts_with("SMSTAGE_"))
                    .collect(),
            );
        }
        let state = std::env::temp_dir().join(format!("smstage-s3-{}", std::process::id()));
        let out = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/s3-server.sh"))
            .arg("start")
            .env("SMSTAGE_S3_DIR", &state)
            .env("SMSTAGE_S3_PORT", "8533")
            .env("SMSTAGE_S3_PARENT_PID", std::process::id().to_string())
            .output()
            .expect("run scripts/s3-server.sh");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "scripts/s3-server.sh start failed (set AWS_ENDPOINT to use another server, or SMSTAGE_SKIP_S3_TESTS=1 to skip):\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = text
            .lines()
            .find(|l| l.starts_with("export "))
            .unwrap_or_else(|| panic!("no export line from s3-server.sh: {text}"));
        Some(
            line.trim_start_matches("export ")
                .split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    })
    .as_ref()
}

/// `commit --plan PLAN --no-backup-check --yes`: the commit of a saved plan, confirmed.
pub fn commit_plan(plan: &Path) -> Out {
    smstage(&[
        "commit",
        "--plan",
        plan.to_str().unwrap(),
        "--no-backup-check",
        "--yes",
    ])
}

/// Runs smstage with the given extra environment.
pub fn smstage_env(args: &[&str], env: &std::collections::HashMap<String, String>) -> Out {
    let mut c = Command::new(bin());
    c.args(args).envs(env);
    run(c)
}

/// Date partition names of a database directory, sorted.
pub fn dates(data: &Path) -> Vec<String> {
    let mut d: Vec<String> = fs::read_dir(data)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("20"))
        .collect();
    d.sort();
    d
}

/// Uploads the given partitions to a fresh `s3://bucket/<name>-…` prefix of the test server,
/// deletes them locally when `remove`, and adds an `archive` tier with that store to the
/// assembly (after the local HDB tier). Returns the store URI.
pub fn move_to_object_tier(
    b: &Base,
    env: &std::collections::HashMap<String, String>,
    name: &str,
    parts: &[String],
    remove: bool,
) -> String {
    let (tier, store) = open_test_tier(env, name);
    for d in parts {
        smstage::object::upload_tree(&tier, &b.data().join(d), d).unwrap();
        if remove {
            fs::remove_dir_all(b.data().join(d)).unwrap();
        }
    }
    let yaml = fs::read_to_string(b.config()).unwrap();
    let yaml = yaml.replacen(
        "      mount: hdb\n",
        &format!("      mount: hdb\n    - name: archive\n      mount: hdb\n      store: {store}\n"),
        1,
    );
    fs::write(b.config(), yaml).unwrap();
    store
}

/// A fresh, empty object tier on the test S3 server of `env` (a prefix of its own, named after
/// `name`, the process and the time) and its store URI.
pub fn open_test_tier(
    env: &std::collections::HashMap<String, String>,
    name: &str,
) -> (smstage::object::ObjectTier, String) {
    use smstage::object::{open_s3_with, S3Options, S3Settings};
    let bucket = env
        .get("SMSTAGE_TEST_BUCKET")
        .cloned()
        .unwrap_or_else(|| "smstage-test".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let pfx = format!("tests/{name}-{}-{nanos}", std::process::id());
    let settings = S3Settings::from_lookup(|k| env.get(k).cloned());
    let tier = open_s3_with(&bucket, &pfx, &settings, &S3Options::default()).unwrap();
    (tier, format!("s3://{bucket}/{pfx}"))
}

/// Unmounts a view when dropped, so a failing test never leaves a mount behind.
pub struct Unmount(pub PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new(bin()).arg("unmount").arg(&self.0).output();
    }
}

/// Runs smstage with a watchdog: killed after `secs` seconds, so a regression that hangs (a
/// FIFO opened with a blocking open, a view walking into its own mount) fails the test with
/// "hung" instead of hanging CI. Output goes through files, so a chatty child never blocks
/// on a full pipe.
pub fn smstage_within(args: &[&str], secs: u64) -> Out {
    smstage_within_env(args, &[], secs)
}

/// [`smstage_within`] with extra environment variables.
pub fn smstage_within_env(args: &[&str], env: &[(&str, &str)], secs: u64) -> Out {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let (o, e) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = Command::new(bin())
        .args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(fs::File::create(&o).unwrap())
        .stderr(fs::File::create(&e).unwrap())
        .spawn()
        .expect("run smstage");
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "smstage {} hung: killed after {secs} s\nstdout: {}\nstderr: {}",
                args.join(" "),
                fs::read_to_string(&o).unwrap_or_default(),
                fs::read_to_string(&e).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Out {
        code: status.code().unwrap_or(-1),
        stdout: fs::read_to_string(&o).unwrap_or_default(),
        stderr: fs::read_to_string(&e).unwrap_or_default(),
    }
}

/// Makes a FIFO at `p`.
pub fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: valid NUL-terminated path.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o644) },
        0,
        "mkfifo {}",
        p.display()
    );
}
