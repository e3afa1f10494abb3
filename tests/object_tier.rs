//! Object tiers against a real S3 server (SeaweedFS on 127.0.0.1): uploads, inventories
//! compared with the local inventory of the same data, literal `#` keys, credential and
//! bucket errors, bounded retries, a server killed mid-inventory, and bytes fetched by
//! header reads.
//!
//! With `AWS_ENDPOINT` set, the tests use that server (bucket `SMSTAGE_TEST_BUCKET`, default
//! `smstage-test`). Otherwise they start one with scripts/s3-server.sh, once per test binary;
//! the server dies with this process. `SMSTAGE_SKIP_S3_TESTS=1` skips them (loudly).

use smstage::finding::code;
use smstage::gen::{generate, GenCompression, GenSpec};
use smstage::inventory::{self, PartitionInv};
use smstage::kdb;
use smstage::object::faulty::{open_s3_faulty, FaultPlan, FaultyStore};
use smstage::object::{
    open_s3_with, read_object_column, take_object_inventory, upload_tree, ObjectError, ObjectTier,
    S3Options, S3Settings,
};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

struct Server {
    vars: HashMap<String, String>,
    bucket: String,
}

impl Server {
    fn settings(&self) -> S3Settings {
        S3Settings::from_lookup(|k| self.vars.get(k).cloned())
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/s3-server.sh")
}

/// Starts a server with the script; returns its variables and its state directory.
fn start_server(state: &Path, port: u16) -> HashMap<String, String> {
    let out = Command::new("bash")
        .arg(script())
        .arg("start")
        .env("SMSTAGE_S3_DIR", state)
        .env("SMSTAGE_S3_PORT", port.to_string())
        .env("SMSTAGE_S3_PARENT_PID", std::process::id().to_string())
        .output()
        .expect("run scripts/s3-server.sh");
    assert!(
        out.status.success(),
        "scripts/s3-server.sh start failed (set AWS_ENDPOINT to use another server, or SMSTAGE_SKIP_S3_TESTS=1 to skip):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("export "))
        .unwrap_or_else(|| panic!("no export line from s3-server.sh: {text}"));
    line.trim_start_matches("export ")
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn server() -> Option<&'static Server> {
    static S: OnceLock<Option<Server>> = OnceLock::new();
    S.get_or_init(|| {
        if std::env::var("SMSTAGE_SKIP_S3_TESTS").as_deref() == Ok("1") {
            eprintln!("WARNING: SMSTAGE_SKIP_S3_TESTS=1: object-tier tests against S3 are SKIPPED");
            return None;
        }
        let vars: HashMap<String, String> = if std::env::var("AWS_ENDPOINT").is_ok() {
            std::env::vars()
                .filter(|(k, _)| k.starts_with("AWS_") || k.starts_with("SMSTAGE_"))
                .collect()
        } else {
            let state =
                std::env::temp_dir().join(format!("smstage-s3-test-{}", std::process::id()));
            start_server(&state, 8433)
        };
        let bucket = vars
            .get("SMSTAGE_TEST_BUCKET")
            .cloned()
            .unwrap_or_else(|| "smstage-test".to_string());
        Some(Server { vars, bucket })
    })
    .as_ref()
}

/// A fresh prefix per test and run, so tests never see each other's objects.
fn unique_prefix(name: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "t/{name}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn tier(srv: &Server, name: &str) -> ObjectTier {
    open_s3_with(
        &srv.bucket,
        &unique_prefix(name),
        &srv.settings(),
        &S3Options::default(),
    )
    .unwrap()
}

fn generated(spec: &GenSpec) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    generate(&dir.path().join("db"), spec).unwrap();
    dir
}

/// Everything an inventory says about the data, without the paths.
fn shape(parts: &[PartitionInv]) -> Vec<String> {
    let mut v = Vec::new();
    for p in parts {
        for t in &p.tables {
            v.push(format!("{} {} dotd={:?}", p.date, t.name, t.dotd));
            for f in &t.files {
                let ty = f
                    .header
                    .as_ref()
                    .map(|h| kdb::logical_type(h, f.nested_item).config_name())
                    .unwrap_or_default();
                v.push(format!(
                    "  {} size={} type={ty} header={:?} nested={:?}",
                    f.name, f.size, f.header, f.nested_item
                ));
            }
        }
    }
    v
}

fn upload_partitions(t: &ObjectTier, local: &inventory::Inventory) {
    for p in &local.partitions {
        upload_tree(t, &p.path, &p.date).unwrap();
    }
}

#[test]
fn generated_database_inventory_matches_local() {
    let Some(srv) = server() else { return };
    for compress in [GenCompression::None, GenCompression::Gzip] {
        let dir = generated(&GenSpec {
            partitions: 2,
            tables: 3,
            rows: 300,
            compress,
            ..GenSpec::default()
        });
        let local = inventory::take(&dir.path().join("db")).unwrap();
        let t = tier(srv, "gen");
        upload_partitions(&t, &local);
        let inv = take_object_inventory(&t, "archive").unwrap();
        assert!(inv.findings.is_empty(), "{:?}", inv.findings);
        assert_eq!(inv.dates(), vec!["2024.01.02", "2024.01.03"]);
        let (want, got) = (shape(&local.partitions), shape(&inv.partitions));
        assert_eq!(got, want);
        assert!(got.iter().any(|l| l.contains("type=string")), "{got:?}");
        assert_eq!(inv.file_count(), local.file_count());
        let p = &inv.partitions[1];
        assert_eq!(p.path, PathBuf::from(format!("{}/2024.01.03", t.url())));
        assert_eq!(
            p.tables[0].files[0].path(),
            PathBuf::from(format!(
                "{}/2024.01.03/{}/{}",
                t.url(),
                p.tables[0].name,
                p.tables[0].files[0].name
            ))
        );
        // --deep: whole objects decode to the local values, nested strings included.
        for (lt, ot) in local.partitions[0]
            .tables
            .iter()
            .zip(&inv.partitions[0].tables)
        {
            for (lf, of) in lt.files.iter().zip(&ot.files) {
                if lf.name.ends_with('#') {
                    continue;
                }
                let want = kdb::read_column(&lf.path()).unwrap();
                let got = read_object_column(&t, of.path().to_str().unwrap()).unwrap();
                assert_eq!(got, want, "{}", of.path().display());
            }
        }
    }
}

#[test]
fn torq_air_fixture_inventory_matches_local() {
    let Some(srv) = server() else { return };
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/real/torq-air");
    if !fixture.is_dir() {
        eprintln!(
            "WARNING: fixture {} absent: torq-air object-tier test SKIPPED",
            fixture.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("torq-air");
    copy_tree(&fixture, &copy);
    let local = inventory::take(&copy).unwrap();
    assert!(!local.partitions.is_empty());
    let t = tier(srv, "torq");
    upload_partitions(&t, &local);
    let inv = take_object_inventory(&t, "s3").unwrap();
    assert!(inv.findings.is_empty(), "{:?}", inv.findings);
    assert_eq!(
        inv.dates(),
        local
            .partitions
            .iter()
            .map(|p| p.date.as_str())
            .collect::<Vec<_>>()
    );
    assert_eq!(shape(&inv.partitions), shape(&local.partitions));
    let names: Vec<_> = inv.partitions[0].tables[0]
        .files
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert!(names.contains(&"registration#"), "{names:?}");

    // The same data with the domain uploaded at the tier's root: a finding.
    t.put("sym", std::fs::read(copy.join("sym")).unwrap())
        .unwrap();
    let inv = take_object_inventory(&t, "s3").unwrap();
    let f: Vec<_> = inv.findings.iter().map(|f| f.code).collect();
    assert_eq!(f, vec![code::OBJECT_DOMAIN_IN_BUCKET]);
}

fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(from).unwrap();
        let dst = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

#[test]
fn hash_keys_stay_literal() {
    let Some(srv) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("2024.01.02/trade")).unwrap();
    std::fs::write(dir.path().join("2024.01.02/trade/price#"), b"nested data").unwrap();
    let t = tier(srv, "hash");
    upload_tree(&t, dir.path(), "").unwrap();
    t.put("2024.01.02/trade/a#b", b"x".to_vec()).unwrap();
    let keys = t.list_all("").unwrap();
    assert_eq!(
        keys,
        vec![
            ("2024.01.02/trade/a#b".to_string(), 1),
            ("2024.01.02/trade/price#".to_string(), 11)
        ]
    );
    let listed = t.list_all("2024.01.02/trade").unwrap();
    assert!(listed.iter().all(|(k, _)| !k.contains("%23")), "{listed:?}");
    let url = format!("{}/2024.01.02/trade/price#", t.url());
    assert_eq!(
        smstage::object::read_object_whole(&t, &url).unwrap(),
        b"nested data"
    );
}

fn place_named(e: &ObjectError, endpoint: &str, bucket: &str, prefix: &str) {
    let msg = e.to_string();
    eprintln!("error as the user sees it:\n{msg}\n");
    for want in [endpoint, bucket, prefix, "fix:"] {
        assert!(msg.contains(want), "{want:?} missing from: {msg}");
    }
}

#[test]
fn no_credentials_is_a_clear_error() {
    let Some(srv) = server() else { return };
    let mut s = srv.settings();
    s.access_key_id = None;
    s.secret_access_key = None;
    let e = open_s3_with(&srv.bucket, "db", &s, &S3Options::default()).unwrap_err();
    assert!(matches!(e, ObjectError::NoCredentials { .. }), "{e}");
    place_named(&e, &srv.vars["AWS_ENDPOINT"], &srv.bucket, "db");
    assert!(e.to_string().contains("AWS_ACCESS_KEY_ID"));
}

#[test]
fn wrong_credentials_are_a_clear_error() {
    let Some(srv) = server() else { return };
    for (key, secret) in [
        ("no-such-key", "whatever"),
        (srv.vars["AWS_ACCESS_KEY_ID"].as_str(), "wrong-secret"),
    ] {
        let mut s = srv.settings();
        s.access_key_id = Some(key.to_string());
        s.secret_access_key = Some(secret.to_string());
        let t = open_s3_with(&srv.bucket, "db/x", &s, &S3Options::default()).unwrap();
        let start = Instant::now();
        let e = t.probe().unwrap_err();
        assert!(
            matches!(e, ObjectError::BadCredentials { .. }),
            "{key}: {e}"
        );
        place_named(&e, &srv.vars["AWS_ENDPOINT"], &srv.bucket, "db/x");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "auth errors are not retried"
        );
        let e = take_object_inventory(&t, "s3").unwrap_err();
        assert!(matches!(e, ObjectError::BadCredentials { .. }), "{e}");
    }
}

#[test]
fn missing_bucket_is_a_clear_error() {
    let Some(srv) = server() else { return };
    let t = open_s3_with(
        "no-such-bucket-smstage",
        "p",
        &srv.settings(),
        &S3Options::default(),
    )
    .unwrap();
    let e = t.probe().unwrap_err();
    assert!(matches!(e, ObjectError::MissingBucket { .. }), "{e}");
    place_named(&e, &srv.vars["AWS_ENDPOINT"], "no-such-bucket-smstage", "p");
    assert!(e.to_string().contains("create the bucket"), "{e}");
}

#[test]
fn dead_endpoint_fails_fast() {
    let Some(srv) = server() else { return };
    // A port nobody listens on: bind, learn it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut s = srv.settings();
    s.endpoint = Some(format!("http://127.0.0.1:{port}"));
    let t = open_s3_with(&srv.bucket, "db", &s, &S3Options::default()).unwrap();
    let start = Instant::now();
    let e = take_object_inventory(&t, "s3").unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    assert!(matches!(e, ObjectError::Unreachable { .. }), "{e}");
    place_named(&e, &format!("127.0.0.1:{port}"), &srv.bucket, "db");
}

#[test]
fn retries_are_bounded_then_fail_clearly() {
    let Some(srv) = server() else { return };
    let s = srv.settings();
    // Every HTTP request refused: 1 try + max_retries retries, then a clear error.
    let plan = FaultPlan::new();
    plan.fail_from(1);
    let t = open_s3_faulty(&srv.bucket, "db", &s, &S3Options::default(), &plan).unwrap();
    let start = Instant::now();
    let e = t.probe().unwrap_err();
    assert_eq!(plan.calls(), 1 + s.max_retries, "{e}");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(matches!(e, ObjectError::Unreachable { .. }), "{e}");
    assert!(e.to_string().contains("injected connection refused"), "{e}");
    place_named(&e, &srv.vars["AWS_ENDPOINT"], &srv.bucket, "db");

    // One refused request is retried and the call succeeds.
    let plan = FaultPlan::new();
    plan.fail_call(1);
    let t = open_s3_faulty(&srv.bucket, "db", &s, &S3Options::default(), &plan).unwrap();
    t.probe().unwrap();
    assert_eq!(plan.calls(), 2);

    // A store-level fault mid-inventory aborts it with the place.
    let dir = generated(&GenSpec {
        partitions: 1,
        rows: 10,
        ..GenSpec::default()
    });
    let t = tier(srv, "faulty");
    upload_tree(&t, &dir.path().join("db/2024.01.02"), "2024.01.02").unwrap();
    let plan = FaultPlan::new();
    plan.fail_call(5);
    let e = take_object_inventory(&FaultyStore::wrap(t.clone(), &plan), "s3").unwrap_err();
    assert!(e.to_string().contains("injected fault on call 5"), "{e}");
    assert!(e.to_string().contains(&t.url()), "{e}");
}

/// Every local file under `dir` with a digest of its bytes.
fn tree_digest(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    use sha2::Digest;
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let d = sha2::Sha256::digest(std::fs::read(e.path()).unwrap()).to_vec();
            (e.path().to_path_buf(), d)
        })
        .collect()
}

#[test]
fn server_killed_mid_inventory_is_a_clear_error() {
    if server().is_none() {
        return;
    }
    // A server of its own, since this one dies.
    let state = std::env::temp_dir().join(format!("smstage-s3-kill-{}", std::process::id()));
    let vars = start_server(&state, 8533);
    let pid: i32 = std::fs::read_to_string(state.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let settings = S3Settings::from_lookup(|k| vars.get(k).cloned());
    let bucket = vars["SMSTAGE_TEST_BUCKET"].clone();
    let dir = generated(&GenSpec {
        partitions: 3,
        tables: 2,
        rows: 50,
        ..GenSpec::default()
    });
    let db = dir.path().join("db");
    let local = inventory::take(&db).unwrap();
    let t = open_s3_with(&bucket, "kill", &settings, &S3Options::default()).unwrap();
    upload_partitions(&t, &local);
    let before = tree_digest(dir.path());

    let plan = FaultPlan::new();
    // Listings are calls 1-4; the server dies before the 10th call, amid the header reads.
    plan.on_call(10, move || unsafe {
        libc::kill(pid, libc::SIGKILL);
    });
    let start = Instant::now();
    let e = take_object_inventory(&FaultyStore::wrap(t, &plan), "s3").unwrap_err();
    let took = start.elapsed();
    assert!(took < Duration::from_secs(15), "took {took:?}: {e}");
    assert!(matches!(e, ObjectError::Unreachable { .. }), "{e}");
    place_named(&e, &vars["AWS_ENDPOINT"], &bucket, "kill");
    assert!(plan.calls() >= 10);
    assert_eq!(tree_digest(dir.path()), before, "the local data changed");
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn header_reads_fetch_only_the_head_trailer_and_first_block() {
    let Some(srv) = server() else { return };
    for compress in [GenCompression::None, GenCompression::Zstd] {
        let dir = generated(&GenSpec {
            partitions: 1,
            tables: 2,
            rows: 3000,
            compress,
            // 8 KiB blocks: many blocks per file, and the first holds a whole `fd 20` header.
            block_log2: 13,
            ..GenSpec::default()
        });
        let part = dir.path().join("db/2024.01.02");
        let t = tier(srv, "bytes");
        upload_tree(&t, &part, "2024.01.02").unwrap();
        let plan = FaultPlan::new();
        let inv = take_object_inventory(&FaultyStore::wrap(t.clone(), &plan), "s3").unwrap();
        assert!(inv.findings.is_empty(), "{:?}", inv.findings);
        let fetched = plan.fetched_by_key();
        let mut big = 0;
        for table in &inv.partitions[0].tables {
            for f in &table.files {
                let key = format!("{}/2024.01.02/{}/{}", t.prefix(), table.name, f.name);
                let (gets, bytes) = fetched.get(&key).copied().unwrap_or((0, 0));
                let local = part.join(&table.name).join(&f.name);
                let bound = match f.header.as_ref().unwrap().compression {
                    None if f.name.ends_with('#') => 4096 + 16,
                    None => 4096,
                    Some(_) => {
                        let src = kdb::LocalFile::open(&local).unwrap();
                        let tr = kdb::unzip::read_compressed_trailer(&src).unwrap();
                        4096 + 16
                            + 32
                            + 8 * tr.blocks.len() as u64
                            + u64::from(tr.blocks[0].compressed_len)
                    }
                };
                assert!(
                    bytes <= bound,
                    "{key}: {bytes} bytes in {gets} GETs, bound {bound}, size {}",
                    f.size
                );
                if f.size > bound {
                    big += 1;
                    assert!(bytes < f.size, "{key}: whole object fetched");
                }
            }
        }
        assert!(
            big >= 4,
            "too few large files to make the point ({compress:?})"
        );
    }
}
