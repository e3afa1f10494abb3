//! Validation mode of the view against a real local S3 server: `smstage mount
//! --object-tiers-local` shows the object tier as the local segment `archive$`, q-style loads
//! (verify --deep, mmap) see the original bytes, and the block cache stays within its bound.

// cli_flow_tests.rs includes the same helpers; each test module keeps its own copy.
#[allow(clippy::duplicate_mod)]
#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Mounts the view in the background with `extra` flags; the guard unmounts it.
fn mount(b: &Base, env: &HashMap<String, String>, mnt: &Path, extra: &[&str]) -> (Unmount, Out) {
    let cfg = b.config_str();
    let mut args = vec![
        "mount",
        "--config",
        &cfg,
        mnt.to_str().unwrap(),
        "--background",
    ];
    args.extend_from_slice(extra);
    let out = smstage_env(&args, env);
    assert_eq!(out.code, 0, "{}", out.all());
    (Unmount(mnt.to_path_buf()), out)
}

/// Names, kinds, sizes and content hashes below `dir` (no modes or times).
fn tree_listing(dir: &Path) -> Vec<String> {
    manifest(dir)
        .into_iter()
        .map(|l| l[..l.find(" mode=").unwrap_or(l.len())].to_string())
        .collect()
}

/// The file's bytes through a mapping (`MAP_PRIVATE` or `MAP_SHARED`), as kdb+ maps columns.
fn mmap_read(path: &Path, flags: libc::c_int) -> Vec<u8> {
    let f = fs::File::open(path).unwrap();
    let len = f.metadata().unwrap().len() as usize;
    assert!(len > 0);
    // SAFETY: a read-only mapping of a file we keep open; unmapped before returning.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            flags,
            f.as_raw_fd(),
            0,
        );
        assert_ne!(p, libc::MAP_FAILED, "mmap {}", path.display());
        let v = std::slice::from_raw_parts(p as *const u8, len).to_vec();
        libc::munmap(p, len);
        v
    }
}

/// Drops the kernel's cached pages of `path`, so the next read reaches the view's server.
fn drop_page_cache(path: &Path) {
    let f = fs::File::open(path).unwrap();
    // SAFETY: plain syscall on an open descriptor.
    let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(r, 0);
}

/// Checks common to both scenarios on a view mounted with `--object-tiers-local`.
fn check_validation_view(mnt: &Path, out: &Out, pristine: &Path, archived: &[String], store: &str) {
    let local = fs::read_to_string(mnt.join("db/par.txt")).unwrap();
    assert!(!local.contains("s3://"), "{local}");
    assert!(local.ends_with("$\narchive$\n"), "{local}");
    let notice = out.all();
    assert!(notice.contains("validation mode"), "{notice}");
    assert!(notice.contains(store), "{notice}");
    assert!(notice.contains("the committed par.txt keeps"), "{notice}");

    let seg = mnt.join("db/archive$");
    assert_eq!(dates(&seg), archived);
    for d in archived {
        let m = fs::symlink_metadata(seg.join(d)).unwrap();
        assert!(m.is_dir(), "{d} is a directory, not a symlink");
        assert_eq!(tree_listing(&seg.join(d)), tree_listing(&pristine.join(d)));
    }

    let out = smstage(&[
        "verify",
        mnt.join("db").to_str().unwrap(),
        "--against",
        pristine.to_str().unwrap(),
        "--deep",
    ]);
    assert_eq!(out.code, 0, "view does not verify: {}", out.all());

    // mmap of a column maps the object's bytes (cold pages: they come from the store).
    let table = tables_in(&seg.join(&archived[0]))[0].clone();
    let rel = table.strip_prefix(&seg).unwrap();
    for col in ["price", "sym", ".d"] {
        let p = table.join(col);
        let want = fs::read(pristine.join(rel).join(col)).unwrap();
        for flags in [libc::MAP_PRIVATE, libc::MAP_SHARED] {
            drop_page_cache(&p);
            assert_eq!(mmap_read(&p, flags), want, "{col} ({flags:#x})");
        }
    }
}

#[test]
fn scenario_1_older_partitions_in_s3_validate_as_a_local_segment() {
    let Some(env) = s3_server() else { return };
    let b = generated(5, 2, 8, 200);
    let pristine = b.path().join("pristine");
    copy_tree(&b.data(), &pristine);
    let older: Vec<String> = dates(&b.data())[..2].to_vec();
    let store = move_to_object_tier(&b, env, "s1", &older, true);

    let outside = tempfile::tempdir().unwrap();
    let mnt = outside.path().join("view");
    fs::create_dir(&mnt).unwrap();
    let (guard, out) = mount(&b, env, &mnt, &["--object-tiers-local"]);
    check_validation_view(&mnt, &out, &pristine, &older, &store);
    // The local tier is still served as usual.
    let local_seg = fs::read_to_string(mnt.join("db/par.txt")).unwrap();
    let local_seg = local_seg.lines().next().unwrap().to_string();
    assert_eq!(dates(&mnt.join("db").join(&local_seg)).len(), 3);
    drop(guard);

    // Without the flag the view is the plan's: s3 line, no archive$ segment.
    let (guard, _) = mount(&b, env, &mnt, &[]);
    let par = fs::read_to_string(mnt.join("db/par.txt")).unwrap();
    assert_eq!(par, format!("{local_seg}\n{store}\n"));
    assert!(!mnt.join("db/archive$").exists());
    drop(guard);
}

#[test]
fn scenario_2_only_sym_local_validates_every_partition_from_s3() {
    let Some(env) = s3_server() else { return };
    let b = generated(3, 2, 8, 200);
    let pristine = b.path().join("pristine");
    copy_tree(&b.data(), &pristine);
    let all = dates(&b.data());
    let store = move_to_object_tier(&b, env, "s2", &all, true);
    let left: Vec<_> = fs::read_dir(b.data())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["sym"]);

    let outside = tempfile::tempdir().unwrap();
    let mnt = outside.path().join("view");
    fs::create_dir(&mnt).unwrap();
    let (guard, out) = mount(&b, env, &mnt, &["--object-tiers-local"]);
    check_validation_view(&mnt, &out, &pristine, &all, &store);
    drop(guard);
}

/// A TCP relay to the S3 server that counts the bytes the server sends (what the view
/// fetched) and, once `cut` is set, drops every connection (the store became unreachable).
fn counting_proxy(upstream: String) -> (String, Arc<AtomicU64>, Arc<AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let down = Arc::new(AtomicU64::new(0));
    let cut = Arc::new(AtomicBool::new(false));
    let counter = down.clone();
    let cut_flag = cut.clone();
    std::thread::spawn(move || {
        for client in l.incoming() {
            let Ok(client) = client else { continue };
            if cut_flag.load(Ordering::SeqCst) {
                continue;
            }
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let pipe = |mut from: TcpStream,
                        mut to: TcpStream,
                        count: Option<Arc<AtomicU64>>,
                        cut: Arc<AtomicBool>| {
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 << 10];
                    while let Ok(n) = from.read(&mut buf) {
                        if cut.load(Ordering::SeqCst) {
                            let _ = from.shutdown(Shutdown::Both);
                            break;
                        }
                        // Counted before forwarding: once the view has the bytes, the
                        // count already includes them (counting after the write raced
                        // the reader and lost the last chunk to the next measurement).
                        if let Some(c) = &count {
                            c.fetch_add(n as u64, Ordering::SeqCst);
                        }
                        if n == 0 || to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(Shutdown::Write);
                });
            };
            pipe(
                client.try_clone().unwrap(),
                server.try_clone().unwrap(),
                None,
                cut_flag.clone(),
            );
            pipe(server, client, Some(counter.clone()), cut_flag.clone());
        }
    });
    (format!("http://{addr}"), down, cut)
}

#[test]
fn block_cache_bound_is_honoured() {
    let Some(env) = s3_server() else { return };
    let b = generated(1, 1, 3, 300_000);
    let pristine = b.path().join("pristine");
    copy_tree(&b.data(), &pristine);
    let all = dates(&b.data());
    move_to_object_tier(&b, env, "cache", &all, true);
    let upstream = env["AWS_ENDPOINT"]
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let (endpoint, fetched, cut) = counting_proxy(upstream);
    let mut env = env.clone();
    env.insert("AWS_ENDPOINT".into(), endpoint.clone());
    if env.contains_key("AWS_ENDPOINT_URL") {
        env.insert("AWS_ENDPOINT_URL".into(), endpoint);
    }

    let outside = tempfile::tempdir().unwrap();
    let mnt = outside.path().join("view");
    fs::create_dir(&mnt).unwrap();
    let mib = 1u64 << 20;
    // Returns the bytes fetched by a first and by a second full read of the largest column.
    let read_twice = |mnt: &Path| -> (u64, u64, u64) {
        let seg = mnt.join("db/archive$");
        let table = tables_in(&seg.join(&all[0]))[0].clone();
        let rel = table.strip_prefix(&seg).unwrap().to_path_buf();
        let (name, size) = fs::read_dir(&table)
            .unwrap()
            .flatten()
            .map(|e| (e.file_name(), e.metadata().unwrap().len()))
            .max_by_key(|(_, s)| *s)
            .unwrap();
        assert!(size > 2 * mib, "{name:?} has {size} bytes");
        let want = fs::read(pristine.join(&rel).join(&name)).unwrap();
        let col = table.join(&name);
        let mut deltas = Vec::new();
        for _ in 0..2 {
            drop_page_cache(&col);
            let before = fetched.load(Ordering::SeqCst);
            assert_eq!(fs::read(&col).unwrap(), want);
            deltas.push(fetched.load(Ordering::SeqCst) - before);
        }
        eprintln!("column {name:?}: {size} bytes, fetched {deltas:?}");
        (size, deltas[0], deltas[1])
    };

    let (guard, _) = mount(
        &b,
        &env,
        &mnt,
        &["--object-tiers-local", "--object-cache-mb", "1"],
    );
    let (size, first, second) = read_twice(&mnt);
    drop(guard);
    assert!(first >= size, "first read fetched {first} of {size}");
    // At most one 1 MiB block can have survived in a 1 MiB cache.
    assert!(
        second >= size - mib,
        "second read fetched only {second} of {size}: the cache kept more than 1 MiB"
    );

    let (guard, _) = mount(&b, &env, &mnt, &["--object-tiers-local"]);
    let (size, first, second) = read_twice(&mnt);
    // The store goes away: a read of a column not fetched yet is EIO, not a hang or zeros.
    cut.store(true, Ordering::SeqCst);
    let table = tables_in(&mnt.join("db/archive$").join(&all[0]))[0].clone();
    let other = table.join("time");
    drop_page_cache(&other);
    let t0 = std::time::Instant::now();
    let e = fs::read(&other).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(30));
    drop(guard);
    assert!(first >= size, "first read fetched {first} of {size}");
    assert!(
        first < size + size / 4,
        "first read fetched {first} for {size}: blocks fetched more than once"
    );
    assert_eq!(second, 0, "the default cache holds the whole column");
}
