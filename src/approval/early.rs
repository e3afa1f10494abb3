//! `commit --plan`'s walk of the database, started before its plan file is parsed.
//!
//! The fingerprint compare stamps every entry of the database (kernel work on the I/O pool),
//! and the plan file is parsed first (one thread of user work, 0.8 s at 1.25M entries):
//! on two cores the two overlap. The walk needs only the database's path, which the first
//! bytes of a file `plan --save` wrote give (`"plan":{"version":1,"base":…,"source":…`). It
//! changes nothing and proves nothing by itself: its entries are compared only once the file
//! has been read and validated, only if the fingerprint is of that very directory, and only
//! before the commit's first step, exactly as a walk started then would be.

use super::ApprovalError;
use crate::plan::fingerprint::Entries;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// How much of the plan file's head is read for the database's path.
const HEAD: usize = 64 * 1024;

type Walked = Result<(Entries, u64, u64), ApprovalError>;

/// A walk of a database directory running on its own thread.
pub struct EarlyWalk {
    database: PathBuf,
    walk: JoinHandle<Walked>,
}

impl EarlyWalk {
    /// Starts walking the database the plan file at `plan_file` names in its head, or None
    /// when the head does not say (not a file `plan --save` wrote: it is refused later).
    pub fn start(plan_file: &Path) -> Option<EarlyWalk> {
        let mut head = Vec::with_capacity(HEAD);
        std::fs::File::open(plan_file)
            .ok()?
            .take(HEAD as u64)
            .read_to_end(&mut head)
            .ok()?;
        let database = database_of_head(&head)?;
        let d = database.clone();
        // Its own pool, at the lowest priority (nice 19): the main thread keeps its core for
        // the parse and then for the commit's first steps, which run beside the walk
        // (commit::gate), and the walk takes what the steps leave. At 1.1M files on 2 cores,
        // three rounds side by side: 16 threads at nice 19 7.11 s (median), 2 threads at
        // nice 10 7.66 s (the walk reached the gate 0.4 s late), 16 at nice 10 8.09 s (the
        // walk done 1.5 s early, the steps beside it slowed most); docs/performance.md.
        let threads = crate::io_pool::threads();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("smstage-early-{i}"))
            .start_handler(|_| lower_this_threads_priority())
            .build()
            .ok()?;
        let walk = std::thread::Builder::new()
            .name("early-walk".into())
            .spawn(move || pool.install(|| super::scan::database_entries_here(&d)))
            .ok()?;
        Some(EarlyWalk { database, walk })
    }

    /// The walk's entries (with the directory's device and inode) if it walked `database`;
    /// None when it walked another directory or its thread failed (the caller walks again).
    pub fn entries_of(self, database: &Path) -> Option<Walked> {
        if self.database != database {
            return None;
        }
        self.walk.join().ok()
    }
}

/// Nice 19 for the calling thread alone (Linux: `setpriority` of a thread id). Best effort:
/// at the normal priority the walk is only less useful, never wrong.
fn lower_this_threads_priority() {
    // SAFETY: gettid has no preconditions; setpriority only reads its arguments.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 19);
    }
}

/// `<base>/<source>` from the head of a plan file as `plan --save` writes it.
fn database_of_head(head: &[u8]) -> Option<PathBuf> {
    const PLAN: &[u8] = br#""plan":{"version":1,"base":"#;
    let at = head.windows(PLAN.len()).position(|w| w == PLAN)? + PLAN.len();
    let (base, rest) = json_string(&head[at..])?;
    let rest = rest.strip_prefix(br#","source":"#)?;
    let (source, _) = json_string(rest)?;
    let ok = |s: &str| !s.is_empty() && !s.contains('/') && s != "." && s != "..";
    (Path::new(&base).is_absolute() && ok(&source)).then(|| Path::new(&base).join(source))
}

/// The JSON string at the start of `bytes`, and what follows it.
fn json_string(bytes: &[u8]) -> Option<(String, &[u8])> {
    let mut it = serde_json::Deserializer::from_slice(bytes).into_iter::<String>();
    let s = it.next()?.ok()?;
    let used = it.byte_offset();
    Some((s, &bytes[used..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_read_from_the_head_of_a_saved_plan() {
        let saved = crate::plan::saved::tests::sample();
        let bytes = saved.to_bytes();
        assert_eq!(
            database_of_head(&bytes[..HEAD.min(bytes.len())]),
            Some(saved.plan.base.join(&saved.plan.source))
        );
        // Escapes are read as JSON does.
        let head = br#"{"plan":{"version":1,"base":"/srv/h\"db","source":"data","root":"db"}}"#;
        assert_eq!(
            database_of_head(head),
            Some(PathBuf::from("/srv/h\"db/data"))
        );
        // Anything else: no early walk (the file is judged when it is read).
        for head in [
            &br#"{"plan":{"version":1,"base":"relative","source":"data"}}"#[..],
            br#"{"plan":{"version":1,"base":"/srv","source":"../etc"}}"#,
            br#"{"plan":{"version":1,"base":"/srv","root":"db"}}"#,
            br#"{"plan":{"version":1,"base":"/srv"#,
            b"not json at all",
        ] {
            assert_eq!(
                database_of_head(head),
                None,
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn a_walk_of_another_directory_is_not_used() {
        let t = tempfile::tempdir().unwrap();
        let db = t.path().join("data");
        std::fs::create_dir_all(db.join("2024.01.02/t")).unwrap();
        std::fs::write(db.join("2024.01.02/t/a"), b"x").unwrap();
        let plan_file = t.path().join("p.plan");
        std::fs::write(
            &plan_file,
            format!(
                r#"{{"format":"smstage-plan","version":1,"plan_id":"00","plan":{{"version":1,"base":"{}","source":"data"}}}}"#,
                t.path().display()
            ),
        )
        .unwrap();
        let early = EarlyWalk::start(&plan_file).unwrap();
        assert!(early.entries_of(&t.path().join("other")).is_none());
        let early = EarlyWalk::start(&plan_file).unwrap();
        let (entries, _, _) = early.entries_of(&db).unwrap().unwrap();
        assert_eq!(
            entries,
            super::super::scan::database_entries(&db).unwrap().0
        );
    }
}
