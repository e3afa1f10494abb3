//! The commit journal: a checksummed header (fingerprint, steps, waves, original metadata)
//! followed by CRC'd record batches (one batch per wave: all its intents, or all its dones),
//! each written and fdatasync'ed at once. Format: docs/journal.md.

use super::fsutil::{fsync_parent, io_err, Times};
use super::steps::Step;
use super::CommitError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub const MAGIC: &[u8; 8] = b"SMSTAGEJ";
/// The version this smstage writes. Version 3 is version 2 with batches of up to
/// [`MAX_BATCH_STEPS`] steps instead of [`V2_MAX_BATCH_STEPS`]: an older smstage, which would
/// call such a batch corrupt, refuses the journal by its version instead. Version 4 is version
/// 3 whose header may name a proof gate ([`JournalHeader::proof_gate`]): an older smstage would
/// resume such a commit past its gate without the proof, so it must refuse it by its number.
pub const JOURNAL_VERSION: u32 = 4;
/// Fixed part of a batch; then 8 bytes per step index.
pub const BATCH_HEAD: usize = 16;
/// Most step indices in one batch: waves are cut into groups of at most this many steps, each
/// made durable by one barrier. The bound keeps a batch at 512 KiB and the redo work after a
/// crash at one group's probes. 4,096 (version 2) cost 47 barriers for the 150,007 steps of
/// 25,000 partitions on a journaled ext4, 0.81 s of syncfs against 0.38 s for the 11 of one
/// group per wave (docs/journal.md, "Measured").
pub const MAX_BATCH_STEPS: usize = 65_536;
/// The batch bound of version-2 journals, which are still read and resumed: a resumed
/// version-2 journal keeps its groups, so the smstage that wrote it can read it again.
pub const V2_MAX_BATCH_STEPS: usize = 4096;
const MAX_BATCH_BYTES: usize = BATCH_HEAD + 8 * MAX_BATCH_STEPS;
const BATCH_MARK: u8 = 0xA6;
const FIXED_HEADER: usize = 52;

/// Everything needed to finish or undo the commit without the plan (after a partial commit the
/// inventory no longer looks like the original, so re-planning is impossible).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalHeader {
    /// sha256 (hex) of the plan's JSON serialisation.
    pub plan_hash: String,
    pub base: PathBuf,
    pub source: String,
    pub root: String,
    /// Identity of the original database directory `base/source` (it keeps its inode).
    pub data_dev: u64,
    pub data_ino: u64,
    /// Root entries are copied (different filesystems) instead of hard-linked.
    pub copy_mode: bool,
    pub steps: Vec<Step>,
    /// Lengths of the waves `steps` is cut into (they add up to `steps.len()`).
    pub wave_lens: Vec<usize>,
    /// Directory nodes of the plan that already existed (their Mkdir is a no-op both ways).
    pub preexisting: Vec<String>,
    /// Times of the original directories whose entries the commit changes, restored by rollback.
    pub dir_times: Vec<(String, Times)>,
    pub created_unix: u64,
    /// The `plan_id` of the saved plan committed (`smstage plan --save`); absent in journals
    /// written before plan files existed.
    #[serde(default)]
    pub plan_id: Option<String>,
    /// Segmented databases: the absolute directories of the segment stores, written in place
    /// on their own filesystems (synced by the barrier, checked writable). Absent otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stores: Vec<PathBuf>,
    /// `commit --plan` started its steps before its proof that the database is as the plan
    /// file stamped it had finished (commit::gate): no step from this index on is begun (no
    /// intent written) until that proof has passed. Absent when the proof came first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof_gate: Option<usize>,
}

impl JournalHeader {
    /// Which database and which plan this journal belongs to.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"smstage-journal-fingerprint-v1\n");
        h.update(self.base.as_os_str().as_encoded_bytes());
        h.update(b"\n");
        h.update(self.data_dev.to_le_bytes());
        h.update(self.data_ino.to_le_bytes());
        h.update(self.plan_hash.as_bytes());
        let mut entries: Vec<&str> = self
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Exchange { a, .. } => Some(a.as_str()),
                Step::RemoveTree { path, .. } => Some(path.as_str()),
                _ => None,
            })
            .collect();
        entries.sort();
        for e in entries {
            h.update(b"\n");
            h.update(e.as_bytes());
        }
        h.finalize().into()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordKind {
    Intent = 1,
    Done = 2,
    RollbackBegin = 3,
    UndoIntent = 4,
    UndoDone = 5,
    Committed = 6,
    RolledBack = 7,
}

impl RecordKind {
    fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::Intent,
            2 => Self::Done,
            3 => Self::RollbackBegin,
            4 => Self::UndoIntent,
            5 => Self::UndoDone,
            6 => Self::Committed,
            7 => Self::RolledBack,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalState {
    InProgress,
    Committed,
    RollingBack,
    RolledBack,
}

/// What the records say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replay {
    pub state: Option<JournalState>,
    /// Forward steps whose effect is in place (done and not undone).
    pub done: BTreeSet<usize>,
    /// Forward steps with an intent but no done record (their effect may be partial, or absent).
    pub pending: BTreeSet<usize>,
    /// Bytes of valid journal (a torn last batch is excluded).
    pub valid_len: u64,
    /// A torn trailing batch was found and ignored.
    pub torn: bool,
}

impl Replay {
    /// The gate (a header's `proof_gate`) of a commit whose proof has not passed: no step at
    /// or past it has any record, since their intents are written only after it passes.
    pub fn owed_proof(&self, proof_gate: Option<usize>) -> Option<usize> {
        let crossed = |g: usize| {
            self.done.range(g..).next().is_some() || self.pending.range(g..).next().is_some()
        };
        let in_progress = matches!(self.state, None | Some(JournalState::InProgress));
        proof_gate.filter(|&g| in_progress && !crossed(g))
    }

    /// Apply one batch.
    fn apply(&mut self, kind: RecordKind, steps: &[usize]) {
        match kind {
            RecordKind::Intent => self.pending.extend(steps),
            RecordKind::Done => {
                for k in steps {
                    self.done.insert(*k);
                    self.pending.remove(k);
                }
            }
            RecordKind::RollbackBegin => self.state = Some(JournalState::RollingBack),
            RecordKind::UndoIntent => {}
            RecordKind::UndoDone => {
                for k in steps {
                    self.done.remove(k);
                    self.pending.remove(k);
                }
            }
            RecordKind::Committed => self.state = Some(JournalState::Committed),
            RecordKind::RolledBack => self.state = Some(JournalState::RolledBack),
        }
    }
}

/// IEEE CRC-32 (the zlib one). Table-driven (crc32fast): replaying the 600,000 records of a
/// rolled-back commit of 25,000 partitions bit by bit took ~40 ms, and `commit --plan` after a
/// rollback reads that journal twice.
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// One batch: `kind` for each of `steps` (none for the state marks 3, 6, 7).
pub fn encode_batch(kind: RecordKind, steps: &[usize]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(8 * steps.len());
    for k in steps {
        payload.extend_from_slice(&(*k as u64).to_le_bytes());
    }
    let mut r = Vec::with_capacity(BATCH_HEAD + payload.len());
    r.push(BATCH_MARK);
    r.push(kind as u8);
    r.extend_from_slice(&[0, 0]);
    r.extend_from_slice(&(steps.len() as u32).to_le_bytes());
    r.extend_from_slice(&crc32(&payload).to_le_bytes());
    let head_crc = crc32(&r[..12]);
    r.extend_from_slice(&head_crc.to_le_bytes());
    r.extend_from_slice(&payload);
    r
}

/// How a batch at the start of `b` reads.
enum Decoded {
    Ok(RecordKind, Vec<usize>, usize),
    /// Cut short by the end of the file, or damaged where only a torn write can explain it.
    Torn,
    Damaged(&'static str),
}

/// Whether `b` starts with a batch whose header and payload both check.
fn whole_batch(b: &[u8]) -> bool {
    if b.len() < BATCH_HEAD || b[0] != BATCH_MARK {
        return false;
    }
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let n = u32_at(4) as usize;
    u32_at(12) == crc32(&b[..12])
        && n <= MAX_BATCH_STEPS
        && b.len() >= BATCH_HEAD + 8 * n
        && crc32(&b[BATCH_HEAD..BATCH_HEAD + 8 * n]) == u32_at(8)
}

fn decode_batch(b: &[u8]) -> Decoded {
    // A batch is one write followed by fdatasync, and nothing is appended after a batch that is
    // not durable: so a damaged batch is a torn write when it is the last thing in the file
    // (nothing longer than the largest batch follows, and no whole batch), corruption otherwise.
    let torn_or = |msg| {
        let later_batch = (1..b.len()).any(|off| whole_batch(&b[off..]));
        if b.len() <= MAX_BATCH_BYTES && !later_batch {
            Decoded::Torn
        } else {
            Decoded::Damaged(msg)
        }
    };
    if b.len() < BATCH_HEAD {
        return Decoded::Torn;
    }
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    if b[0] != BATCH_MARK || b[2] != 0 || b[3] != 0 || u32_at(12) != crc32(&b[..12]) {
        return torn_or("bad batch header");
    }
    let Some(kind) = RecordKind::from_u8(b[1]) else {
        return Decoded::Damaged("unknown record kind");
    };
    let n = u32_at(4) as usize;
    if n > MAX_BATCH_STEPS {
        return Decoded::Damaged("batch longer than any smstage writes");
    }
    let end = BATCH_HEAD + 8 * n;
    if b.len() < end {
        return Decoded::Torn;
    }
    let payload = &b[BATCH_HEAD..end];
    if crc32(payload) != u32_at(8) {
        return if b.len() == end {
            Decoded::Torn
        } else {
            Decoded::Damaged("batch payload checksum mismatch")
        };
    }
    let steps = payload
        .chunks_exact(8)
        .map(|c| {
            let mut x = [0u8; 8];
            x.copy_from_slice(c);
            u64::from_le_bytes(x) as usize
        })
        .collect();
    Decoded::Ok(kind, steps, end)
}

pub fn encode_header(h: &JournalHeader) -> Result<Vec<u8>, CommitError> {
    let payload = serde_json::to_vec(h).map_err(|e| CommitError::Journal {
        path: PathBuf::new(),
        msg: format!("cannot serialise the header: {e}"),
    })?;
    let mut out = Vec::with_capacity(FIXED_HEADER + payload.len() + 32);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&JOURNAL_VERSION.to_le_bytes());
    out.extend_from_slice(&h.fingerprint());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    let sum: [u8; 32] = Sha256::digest(&out).into();
    out.extend_from_slice(&sum);
    Ok(out)
}

/// The most steps a batch of a journal of `version` holds, and so the size of its groups.
pub fn max_batch_steps(version: u32) -> usize {
    if version <= 2 {
        V2_MAX_BATCH_STEPS
    } else {
        MAX_BATCH_STEPS
    }
}

/// Parse the header; returns it, the offset of the first record and the journal's version.
pub fn decode_header(
    bytes: &[u8],
    path: &Path,
) -> Result<(JournalHeader, usize, u32), CommitError> {
    let bad = |msg: &str| CommitError::Journal {
        path: path.to_path_buf(),
        msg: msg.to_string(),
    };
    let (payload, start, version) = checked_payload(bytes, path)?;
    let h: JournalHeader =
        serde_json::from_slice(payload).map_err(|e| bad(&format!("header payload: {e}")))?;
    if h.fingerprint()[..] != bytes[12..44] {
        return Err(bad("header fingerprint does not match its payload"));
    }
    if h.wave_lens.iter().sum::<usize>() != h.steps.len() || h.wave_lens.contains(&0) {
        return Err(bad("header waves do not cut the step list"));
    }
    Ok((h, start, version))
}

/// What `status` and the start of a commit need of a header: everything but the steps and the
/// directory times, of which a journal of 25,000 partitions holds 13 MB (parsing them into
/// steps took ~0.1 s, twice per `commit --plan` after a rollback: `status`, then the commit's
/// look at the old journal it replaces). Unknown fields are skipped as the JSON is read.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct HeaderSummary {
    pub base: PathBuf,
    pub source: String,
    pub data_dev: u64,
    pub data_ino: u64,
    pub copy_mode: bool,
    pub wave_lens: Vec<usize>,
    #[serde(default)]
    pub plan_id: Option<String>,
    #[serde(default)]
    pub proof_gate: Option<usize>,
}

impl HeaderSummary {
    pub fn steps_total(&self) -> usize {
        self.steps_total_checked().unwrap_or(usize::MAX)
    }

    /// The number of steps, unless the waves (read without the steps they cut) add up to more
    /// than any journal holds: a replay keeps a byte per step.
    fn steps_total_checked(&self) -> Option<usize> {
        self.wave_lens
            .iter()
            .try_fold(0usize, |a, &n| a.checked_add(n))
            .filter(|&t| t <= MAX_STEPS)
    }
}

/// More steps than any plan gives (7 per partition: 150,007 at 25,000 partitions).
const MAX_STEPS: usize = 1 << 27;

/// The summary of the header of the journal at `path` (checksum verified), and its replay.
pub fn read_summary(path: &Path) -> Result<(HeaderSummary, Replay), CommitError> {
    read_seen(path).map(|s| (s.summary, s.replay))
}

/// A journal as read (its summary and replay) with the identity of the file read: whoever
/// holds the lock can take it instead of reading the journal again while that file is
/// unchanged (`commit` reads it for `status`, then again once locked: 0.1 s each for a
/// rolled-back commit of 25,000 partitions, beside the proof's walk).
#[derive(Clone, Debug)]
pub struct SeenJournal {
    path: PathBuf,
    /// Device, inode, size, mtime and ctime (seconds, nanoseconds) of the file read: every
    /// append changes its size and ctime, a new journal is renamed in with another inode.
    identity: Option<[i64; 7]>,
    pub summary: HeaderSummary,
    pub replay: Replay,
}

fn identity_of(m: &fs::Metadata) -> [i64; 7] {
    use std::os::unix::fs::MetadataExt;
    [
        m.dev() as i64,
        m.ino() as i64,
        m.size() as i64,
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    ]
}

impl SeenJournal {
    /// The summary and replay read, if `path` is still the very file read, unchanged.
    pub fn still_at(&self, path: &Path) -> Option<(HeaderSummary, Replay)> {
        let now = fs::symlink_metadata(path).ok().map(|m| identity_of(&m));
        (self.path == path && self.identity.is_some() && now == self.identity)
            .then(|| (self.summary.clone(), self.replay.clone()))
    }
}

/// [`read_summary`], keeping the identity of the file read.
pub fn read_seen(path: &Path) -> Result<SeenJournal, CommitError> {
    let mut bytes = Vec::new();
    let mut f = File::open(path).map_err(io_err("read journal", path))?;
    // Taken before the bytes: a batch appended while they are read makes the file differ from
    // this identity, so the read is never taken for a later state of the file.
    let before = f.metadata().map_err(io_err("read journal", path))?;
    f.read_to_end(&mut bytes)
        .map_err(io_err("read journal", path))?;
    let identity = (bytes.len() as u64 == before.len()).then(|| identity_of(&before));
    let (payload, start, _) = checked_payload(&bytes, path)?;
    let summary: HeaderSummary =
        serde_json::from_slice(payload).map_err(|e| CommitError::Journal {
            path: path.to_path_buf(),
            msg: format!("header payload: {e}"),
        })?;
    let total = summary
        .steps_total_checked()
        .ok_or_else(|| CommitError::Journal {
            path: path.to_path_buf(),
            msg: format!(
            "damaged header: its waves add up to more than the {MAX_STEPS} steps any smstage writes"
        ),
        })?;
    let replay = replay(&bytes[start..], start as u64, path, total)?;
    Ok(SeenJournal {
        path: path.to_path_buf(),
        identity,
        summary,
        replay,
    })
}

/// The header's payload once its magic, version, length and checksum are verified; the offset
/// of the first record and the version.
fn checked_payload<'a>(
    bytes: &'a [u8],
    path: &Path,
) -> Result<(&'a [u8], usize, u32), CommitError> {
    let bad = |msg: &str| CommitError::Journal {
        path: path.to_path_buf(),
        msg: msg.to_string(),
    };
    if bytes.len() < FIXED_HEADER + 32 || &bytes[..8] != MAGIC {
        return Err(bad("not an smstage journal (bad magic or too short)"));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().map_err(|_| bad("short"))?);
    if !(2..=JOURNAL_VERSION).contains(&version) {
        return Err(bad(&format!(
            "journal version {version}, this smstage reads versions 2 to {JOURNAL_VERSION}"
        )));
    }
    let n = u64::from_le_bytes(bytes[44..52].try_into().map_err(|_| bad("short"))?) as usize;
    let end = FIXED_HEADER
        .checked_add(n)
        .filter(|e| e + 32 <= bytes.len())
        .ok_or_else(|| bad("header length exceeds the file"))?;
    let sum: [u8; 32] = Sha256::digest(&bytes[..end]).into();
    if sum[..] != bytes[end..end + 32] {
        return Err(bad("header checksum mismatch"));
    }
    Ok((&bytes[FIXED_HEADER..end], end + 32, version))
}

/// Replay the batches after the header of a journal of `steps_total` steps. Only the last
/// batch may be damaged (each is fdatasync'ed before the next is written, so power loss can
/// tear at most the one being written); a whole batch naming a step the header does not have
/// is damage too.
pub fn replay(
    records: &[u8],
    start: u64,
    path: &Path,
    steps_total: usize,
) -> Result<Replay, CommitError> {
    let mut r = Replay {
        state: Some(JournalState::InProgress),
        valid_len: start,
        ..Default::default()
    };
    // One byte per step (Replay::apply's sets as bits), grown to the largest step named:
    // a rolled-back commit of 25,000 partitions has 600,000 records, and as set inserts and
    // removes they took ~60 ms per read.
    let mut marks: Vec<u8> = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < records.len() {
        match decode_batch(&records[at..]) {
            Decoded::Ok(kind, steps, len) => {
                if let Some(k) = steps.iter().find(|&&k| k >= steps_total) {
                    return Err(CommitError::Journal {
                        path: path.to_path_buf(),
                        msg: format!(
                            "damaged batch {i}: it names step {k}, the header has {steps_total} steps"
                        ),
                    });
                }
                if let Some(&m) = steps.iter().max() {
                    if m >= marks.len() {
                        marks.resize(m + 1, 0);
                    }
                }
                apply_marks(&mut marks, &mut r.state, kind, &steps);
                at += len;
                r.valid_len += len as u64;
                i += 1;
            }
            Decoded::Torn => {
                r.torn = true;
                break;
            }
            Decoded::Damaged(msg) => {
                return Err(CommitError::Journal {
                    path: path.to_path_buf(),
                    msg: format!("damaged batch {i} before the end of the journal: {msg}"),
                })
            }
        }
    }
    let with = |bit: u8| {
        marks
            .iter()
            .enumerate()
            .filter(move |(_, m)| **m & bit != 0)
            .map(|(k, _)| k)
    };
    // In ascending order: the sets are built in bulk.
    r.done = with(DONE).collect();
    r.pending = with(PENDING).collect();
    Ok(r)
}

const PENDING: u8 = 1;
const DONE: u8 = 2;

/// `Replay::apply` on one byte per step: the same transitions, a step's two set memberships
/// as its two bits.
fn apply_marks(
    marks: &mut [u8],
    state: &mut Option<JournalState>,
    kind: RecordKind,
    steps: &[usize],
) {
    let each = |marks: &mut [u8], f: fn(u8) -> u8| {
        for &k in steps {
            marks[k] = f(marks[k]);
        }
    };
    match kind {
        RecordKind::Intent => each(marks, |m| m | PENDING),
        RecordKind::Done => each(marks, |m| (m | DONE) & !PENDING),
        RecordKind::UndoDone => each(marks, |_| 0),
        RecordKind::UndoIntent => {}
        RecordKind::RollbackBegin => *state = Some(JournalState::RollingBack),
        RecordKind::Committed => *state = Some(JournalState::Committed),
        RecordKind::RolledBack => *state = Some(JournalState::RolledBack),
    }
}

/// An open journal, appending records durably.
pub struct Journal {
    pub path: PathBuf,
    pub header: JournalHeader,
    pub replay: Replay,
    /// The format version of the file (2 to 4): appends keep its batch bound.
    pub version: u32,
    file: File,
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> CommitError {
    let path = path.to_path_buf();
    move |source| CommitError::JournalWrite { path, source }
}

impl Journal {
    /// Create a fresh journal atomically (temporary file, fsync, rename, fsync of the dir), so
    /// a crash leaves either no journal or a complete header.
    pub fn create(path: &Path, header: JournalHeader) -> Result<Journal, CommitError> {
        let bytes = encode_header(&header)?;
        let tmp = super::fsutil::tmp_name(path, ".tmp");
        {
            let mut f = File::create(&tmp).map_err(write_err(&tmp))?;
            f.write_all(&bytes).map_err(write_err(&tmp))?;
            f.sync_all().map_err(write_err(&tmp))?;
        }
        fs::rename(&tmp, path).map_err(write_err(path))?;
        fsync_parent(path)?;
        // What `open` would find, without reading back and parsing the header just written
        // (1.4 MB of JSON for 2,000 partitions): a header and no record yet.
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(write_err(path))?;
        Ok(Journal {
            path: path.to_path_buf(),
            header,
            version: JOURNAL_VERSION,
            replay: Replay {
                state: Some(JournalState::InProgress),
                done: BTreeSet::new(),
                pending: BTreeSet::new(),
                valid_len: bytes.len() as u64,
                torn: false,
            },
            file,
        })
    }

    /// Read the journal, replay it and open it for appending. A torn last batch is cut off
    /// (and the cut made durable) so new records follow the last valid one.
    pub fn open(path: &Path) -> Result<Journal, CommitError> {
        let (header, start, bytes, version) = read(path)?;
        let replay = replay(&bytes[start..], start as u64, path, header.steps.len())?;
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(write_err(path))?;
        if replay.torn {
            tracing::warn!(journal = %path.display(), "ignoring a torn last journal record");
            file.set_len(replay.valid_len).map_err(write_err(path))?;
            file.sync_all().map_err(write_err(path))?;
        }
        Ok(Journal {
            path: path.to_path_buf(),
            header,
            replay,
            version,
            file,
        })
    }

    /// The most steps one of its batches holds (its groups' size).
    pub fn max_batch_steps(&self) -> usize {
        max_batch_steps(self.version)
    }

    /// Append a state mark (rollback-begin, committed, rolled-back) durably.
    pub fn append(&mut self, kind: RecordKind) -> Result<(), CommitError> {
        self.append_steps(kind, &[])
    }

    /// Append `kind` for every step of `steps` as batches (one write and one fdatasync each),
    /// durable before returning.
    pub fn append_steps(&mut self, kind: RecordKind, steps: &[usize]) -> Result<(), CommitError> {
        use std::io::{Seek, SeekFrom};
        let chunks: Vec<&[usize]> = if steps.is_empty() {
            vec![&[]]
        } else {
            steps.chunks(self.max_batch_steps()).collect()
        };
        for chunk in chunks {
            let rec = encode_batch(kind, chunk);
            self.file
                .seek(SeekFrom::Start(self.replay.valid_len))
                .map_err(write_err(&self.path))?;
            self.file.write_all(&rec).map_err(write_err(&self.path))?;
            self.file.sync_data().map_err(write_err(&self.path))?;
            self.replay.valid_len += rec.len() as u64;
            self.replay.apply(kind, chunk);
        }
        Ok(())
    }
}

/// Read and parse a journal without opening it for writing (for `status`): its header, the
/// offset of its first record, its bytes and its version.
pub fn read(path: &Path) -> Result<(JournalHeader, usize, Vec<u8>, u32), CommitError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io_err("read journal", path))?;
    let (header, start, version) = decode_header(&bytes, path)?;
    Ok((header, start, bytes, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> JournalHeader {
        JournalHeader {
            plan_hash: "ab".into(),
            base: "/b".into(),
            source: "data".into(),
            root: "db".into(),
            data_dev: 1,
            data_ino: 2,
            copy_mode: false,
            steps: vec![
                Step::Mkdir { path: "x".into() },
                Step::Exchange {
                    a: "data/d".into(),
                    b: "data/v/d/1".into(),
                },
            ],
            wave_lens: vec![1, 1],
            preexisting: vec![],
            dir_times: vec![],
            created_unix: 0,
            plan_id: Some("0f".into()),
            stores: vec![],
            proof_gate: None,
        }
    }

    /// The sample header with `n` steps (n >= 2): records may name steps 0 to n - 1.
    fn header_of(n: usize) -> JournalHeader {
        let mut h = header();
        h.steps.extend((2..n).map(|i| Step::Mkdir {
            path: format!("x{i}"),
        }));
        h.wave_lens = vec![1, n - 1];
        h
    }

    #[test]
    fn crc32_matches_the_reference_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn header_roundtrip_and_fingerprint_depends_on_identity() {
        let h = header();
        let bytes = encode_header(&h).unwrap();
        let (back, start, version) = decode_header(&bytes, Path::new("j")).unwrap();
        assert_eq!(back, h);
        assert_eq!(version, JOURNAL_VERSION);
        assert_eq!(start, bytes.len());
        let mut other = h.clone();
        other.data_ino = 3;
        assert_ne!(other.fingerprint(), h.fingerprint());
        let mut corrupt = bytes.clone();
        corrupt[60] ^= 1;
        assert!(decode_header(&corrupt, Path::new("j")).is_err());
    }

    #[test]
    fn create_returns_what_open_reads_back() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("journal");
        let mut j = Journal::create(&p, header()).unwrap();
        let back = Journal::open(&p).unwrap();
        assert_eq!(back.header, j.header);
        assert_eq!(back.replay, j.replay);
        assert_eq!(j.replay.valid_len, fs::metadata(&p).unwrap().len());
        // The first append lands right after the header.
        j.append_steps(RecordKind::Intent, &[1]).unwrap();
        let back = Journal::open(&p).unwrap();
        assert_eq!(back.replay, j.replay);
        assert_eq!(back.replay.pending, BTreeSet::from([1]));
    }

    #[test]
    fn torn_last_batch_is_ignored_and_truncated() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("journal");
        let mut j = Journal::create(&p, header_of(4)).unwrap();
        j.append_steps(RecordKind::Intent, &[0]).unwrap();
        j.append_steps(RecordKind::Done, &[0]).unwrap();
        j.append_steps(RecordKind::Intent, &[1, 2, 3]).unwrap();
        let good_len = fs::metadata(&p).unwrap().len();
        assert_eq!(good_len as usize, j.replay.valid_len as usize);
        // Half of a batch, as power loss would leave it; then the same batch complete in
        // length but with its first page lost (zeros), as a reordered writeback would.
        let done = encode_batch(RecordKind::Done, &[1, 2, 3]);
        for torn in [done[..21].to_vec(), {
            let mut z = done.clone();
            z[..16].fill(0);
            z
        }] {
            let mut f = OpenOptions::new().append(true).open(&p).unwrap();
            f.write_all(&torn).unwrap();
            drop(f);
            let j = Journal::open(&p).unwrap();
            assert!(j.replay.torn);
            assert_eq!(j.replay.pending, BTreeSet::from([1, 2, 3]));
            assert_eq!(j.replay.done, BTreeSet::from([0]));
            assert_eq!(fs::metadata(&p).unwrap().len(), good_len);
        }
        let mut j = Journal::open(&p).unwrap();
        j.append_steps(RecordKind::Done, &[1, 3]).unwrap();
        let j = Journal::open(&p).unwrap();
        assert_eq!(j.replay.done, BTreeSet::from([0, 1, 3]));
        assert_eq!(j.replay.pending, BTreeSet::from([2]));
        assert!(!j.replay.torn);
    }

    #[test]
    fn batch_layout_is_as_documented() {
        let b = encode_batch(RecordKind::Done, &[7, 0x0102_0304_0506]);
        assert_eq!(b.len(), BATCH_HEAD + 16);
        assert_eq!(&b[..4], &[0xA6, 2, 0, 0]);
        assert_eq!(&b[4..8], &2u32.to_le_bytes());
        assert_eq!(&b[8..12], &crc32(&b[16..]).to_le_bytes());
        assert_eq!(&b[12..16], &crc32(&b[..12]).to_le_bytes());
        assert_eq!(&b[16..24], &7u64.to_le_bytes());
        let mark = encode_batch(RecordKind::Committed, &[]);
        assert_eq!(mark.len(), BATCH_HEAD);
        assert_eq!(&mark[8..12], &crc32(b"").to_le_bytes());
        // A long list is written as several batches of at most MAX_BATCH_STEPS.
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("journal");
        let mut j = Journal::create(&p, header_of(MAX_BATCH_STEPS + 5)).unwrap();
        let many: Vec<usize> = (0..MAX_BATCH_STEPS + 5).collect();
        j.append_steps(RecordKind::Intent, &many).unwrap();
        let j = Journal::open(&p).unwrap();
        assert_eq!(j.replay.pending.len(), MAX_BATCH_STEPS + 5);
    }

    /// `bytes` (a whole journal file) as written by a smstage of `version`: the version field
    /// and the header checksum that covers it.
    fn as_version(mut bytes: Vec<u8>, version: u32) -> Vec<u8> {
        bytes[8..12].copy_from_slice(&version.to_le_bytes());
        let n = u64::from_le_bytes(bytes[44..52].try_into().unwrap()) as usize;
        let end = FIXED_HEADER + n;
        let sum: [u8; 32] = Sha256::digest(&bytes[..end]).into();
        bytes[end..end + 32].copy_from_slice(&sum);
        bytes
    }

    #[test]
    fn a_version_2_journal_is_resumed_with_its_own_batch_bound() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("journal");
        drop(Journal::create(&p, header_of(V2_MAX_BATCH_STEPS + 5)).unwrap());
        fs::write(&p, as_version(fs::read(&p).unwrap(), 2)).unwrap();
        let mut j = Journal::open(&p).unwrap();
        assert_eq!((j.version, j.max_batch_steps()), (2, V2_MAX_BATCH_STEPS));
        // Appended in batches a version-2 reader accepts: two for 4,101 steps.
        let before = fs::metadata(&p).unwrap().len();
        let many: Vec<usize> = (0..V2_MAX_BATCH_STEPS + 5).collect();
        j.append_steps(RecordKind::Intent, &many).unwrap();
        let grown = fs::metadata(&p).unwrap().len() - before;
        assert_eq!(grown as usize, 2 * BATCH_HEAD + 8 * many.len());
        let back = Journal::open(&p).unwrap();
        assert_eq!(back.replay.pending.len(), many.len());
        // A new journal is of this version, and one of a later version is refused by its number.
        let q = t.path().join("journal3");
        assert_eq!(
            Journal::create(&q, header()).unwrap().max_batch_steps(),
            MAX_BATCH_STEPS
        );
        assert_eq!(Journal::open(&q).unwrap().version, JOURNAL_VERSION);
        fs::write(&q, as_version(fs::read(&q).unwrap(), JOURNAL_VERSION + 1)).unwrap();
        let err = Journal::open(&q).err().unwrap().to_string();
        assert!(
            err.contains("journal version 5, this smstage reads versions 2 to 4"),
            "{err}"
        );
    }

    #[test]
    fn damaged_batch_in_the_middle_is_an_error() {
        let mut recs = Vec::new();
        recs.extend_from_slice(&encode_batch(RecordKind::Intent, &[0, 1]));
        let mut bad = encode_batch(RecordKind::Done, &[0, 1]);
        bad[5] ^= 0xff;
        let good_tail = encode_batch(RecordKind::Intent, &[2]);
        recs.extend_from_slice(&bad);
        recs.extend_from_slice(&good_tail);
        assert!(replay(&recs, 0, Path::new("j"), 10).is_err());
        // The same damage with nothing after it is a torn write.
        let cut = recs.len() - good_tail.len();
        let r = replay(&recs[..cut], 0, Path::new("j"), 10).unwrap();
        assert!(r.torn);
        assert_eq!(r.pending, BTreeSet::from([0, 1]));
        // A damaged payload followed by more bytes is corruption, not a tear.
        let mut recs2 = encode_batch(RecordKind::Intent, &[0, 1]);
        recs2[20] ^= 1;
        recs2.extend_from_slice(&good_tail);
        assert!(replay(&recs2, 0, Path::new("j"), 10).is_err());
    }

    #[test]
    fn undo_records_and_states() {
        let mut recs = Vec::new();
        for (k, s) in [
            (RecordKind::Intent, vec![0, 1]),
            (RecordKind::Done, vec![0, 1]),
            (RecordKind::Intent, vec![2, 3]),
            (RecordKind::RollbackBegin, vec![]),
            (RecordKind::UndoIntent, vec![3, 2]),
            (RecordKind::UndoDone, vec![3, 2]),
            (RecordKind::UndoIntent, vec![1]),
        ] {
            recs.extend_from_slice(&encode_batch(k, &s));
        }
        let r = replay(&recs, 0, Path::new("j"), 10).unwrap();
        assert_eq!(r.state, Some(JournalState::RollingBack));
        assert_eq!(r.done, BTreeSet::from([0, 1]));
        assert!(r.pending.is_empty());
    }

    #[test]
    fn a_journal_seen_is_taken_again_only_while_its_file_is_unchanged() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("journal");
        let mut j = Journal::create(&p, header_of(4)).unwrap();
        j.append_steps(RecordKind::Intent, &[0]).unwrap();
        let seen = read_seen(&p).unwrap();
        let (h, r) = seen.still_at(&p).expect("unchanged");
        assert_eq!(
            (h.plan_id.as_deref(), r.pending),
            (Some("0f"), BTreeSet::from([0]))
        );
        assert!(seen.still_at(&t.path().join("other")).is_none());
        // A batch appended since.
        j.append_steps(RecordKind::Done, &[0]).unwrap();
        assert!(seen.still_at(&p).is_none());
        // Another journal renamed in place of it, the same bytes.
        let seen = read_seen(&p).unwrap();
        let bytes = fs::read(&p).unwrap();
        let q = t.path().join("q");
        fs::write(&q, &bytes).unwrap();
        fs::rename(&q, &p).unwrap();
        assert!(seen.still_at(&p).is_none());
        assert_eq!(read_seen(&p).unwrap().replay, seen.replay);
    }

    #[test]
    fn a_batch_naming_a_step_the_header_lacks_is_damage() {
        let recs = encode_batch(RecordKind::Intent, &[0, 10]);
        let e = replay(&recs, 0, Path::new("j"), 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("names step 10, the header has 10 steps"), "{e}");
        assert_eq!(
            replay(&recs, 0, Path::new("j"), 11).unwrap().pending,
            BTreeSet::from([0, 10])
        );
    }

    fn kind_of(k: u8) -> RecordKind {
        match k % 7 {
            0 => RecordKind::Intent,
            1 => RecordKind::Done,
            2 => RecordKind::UndoIntent,
            3 => RecordKind::UndoDone,
            4 => RecordKind::RollbackBegin,
            5 => RecordKind::Committed,
            _ => RecordKind::RolledBack,
        }
    }

    proptest::proptest! {
        /// The replay of a whole journal (a byte per step) ends where applying its batches
        /// one by one to the sets does (what an open journal does as it appends).
        #[test]
        fn replay_agrees_with_applying_each_batch(
            batches in proptest::collection::vec(
                (0u8..7, proptest::collection::vec(0usize..40, 0..12)),
                0..30,
            )
        ) {
            let mut recs = Vec::new();
            let mut model = Replay { state: Some(JournalState::InProgress), ..Default::default() };
            for (k, steps) in &batches {
                recs.extend_from_slice(&encode_batch(kind_of(*k), steps));
                model.apply(kind_of(*k), steps);
            }
            let r = replay(&recs, 0, Path::new("j"), 40).unwrap();
            proptest::prop_assert_eq!(&r.done, &model.done);
            proptest::prop_assert_eq!(&r.pending, &model.pending);
            proptest::prop_assert_eq!(r.state, model.state);
            proptest::prop_assert_eq!(r.valid_len, recs.len() as u64);
        }
    }
}
