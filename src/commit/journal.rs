//! The commit journal: a checksummed header (fingerprint, steps, original metadata) followed by
//! fixed-size CRC'd records appended and fdatasync'ed one by one. Format: docs/journal.md.

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
pub const JOURNAL_VERSION: u32 = 1;
pub const RECORD_LEN: usize = 16;
const RECORD_MARK: u8 = 0xA5;
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
    /// Directory nodes of the plan that already existed (their Mkdir is a no-op both ways).
    pub preexisting: Vec<String>,
    /// Times of the original directories whose entries the commit changes, restored by rollback.
    pub dir_times: Vec<(String, Times)>,
    pub created_unix: u64,
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
    /// Forward step with an intent but no done record (its effect may be partial).
    pub pending: Option<usize>,
    /// Bytes of valid journal (a torn last record is excluded).
    pub valid_len: u64,
    /// A torn trailing record was found and ignored.
    pub torn: bool,
}

/// IEEE CRC-32 (the zlib one), bitwise: records are tiny.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

pub fn encode_record(kind: RecordKind, step: u64) -> [u8; RECORD_LEN] {
    let mut r = [0u8; RECORD_LEN];
    r[0] = RECORD_MARK;
    r[1] = kind as u8;
    r[4..12].copy_from_slice(&step.to_le_bytes());
    let crc = crc32(&r[..12]);
    r[12..16].copy_from_slice(&crc.to_le_bytes());
    r
}

fn decode_record(r: &[u8]) -> Option<(RecordKind, u64)> {
    if r.len() != RECORD_LEN || r[0] != RECORD_MARK || r[2] != 0 || r[3] != 0 {
        return None;
    }
    let crc = u32::from_le_bytes(r[12..16].try_into().ok()?);
    if crc != crc32(&r[..12]) {
        return None;
    }
    Some((
        RecordKind::from_u8(r[1])?,
        u64::from_le_bytes(r[4..12].try_into().ok()?),
    ))
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

/// Parse the header; returns it and the offset of the first record.
pub fn decode_header(bytes: &[u8], path: &Path) -> Result<(JournalHeader, usize), CommitError> {
    let bad = |msg: &str| CommitError::Journal {
        path: path.to_path_buf(),
        msg: msg.to_string(),
    };
    if bytes.len() < FIXED_HEADER + 32 || &bytes[..8] != MAGIC {
        return Err(bad("not an smstage journal (bad magic or too short)"));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().map_err(|_| bad("short"))?);
    if version != JOURNAL_VERSION {
        return Err(bad(&format!(
            "journal version {version}, this smstage reads version {JOURNAL_VERSION}"
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
    let h: JournalHeader = serde_json::from_slice(&bytes[FIXED_HEADER..end])
        .map_err(|e| bad(&format!("header payload: {e}")))?;
    if h.fingerprint()[..] != bytes[12..44] {
        return Err(bad("header fingerprint does not match its payload"));
    }
    Ok((h, end + 32))
}

/// Replay the records after the header. Only the last record may be damaged (records are
/// fdatasync'ed one at a time, so power loss can tear at most the one being written).
pub fn replay(records: &[u8], start: u64, path: &Path) -> Result<Replay, CommitError> {
    let mut r = Replay {
        state: Some(JournalState::InProgress),
        valid_len: start,
        ..Default::default()
    };
    let chunks: Vec<&[u8]> = records.chunks(RECORD_LEN).collect();
    for (i, c) in chunks.iter().enumerate() {
        let Some((kind, step)) = decode_record(c) else {
            if i + 1 == chunks.len() {
                r.torn = true;
                break;
            }
            return Err(CommitError::Journal {
                path: path.to_path_buf(),
                msg: format!("damaged record {i} before the end of the journal"),
            });
        };
        let step = step as usize;
        match kind {
            RecordKind::Intent => r.pending = Some(step),
            RecordKind::Done => {
                r.done.insert(step);
                r.pending = None;
            }
            RecordKind::RollbackBegin => r.state = Some(JournalState::RollingBack),
            RecordKind::UndoIntent => {}
            RecordKind::UndoDone => {
                r.done.remove(&step);
                if r.pending == Some(step) {
                    r.pending = None;
                }
            }
            RecordKind::Committed => r.state = Some(JournalState::Committed),
            RecordKind::RolledBack => r.state = Some(JournalState::RolledBack),
        }
        r.valid_len += RECORD_LEN as u64;
    }
    Ok(r)
}

/// An open journal, appending records durably.
pub struct Journal {
    pub path: PathBuf,
    pub header: JournalHeader,
    pub replay: Replay,
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
        Self::open(path)
    }

    /// Read the journal, replay it and open it for appending. A torn last record is cut off
    /// (and the cut made durable) so new records follow the last valid one.
    pub fn open(path: &Path) -> Result<Journal, CommitError> {
        let (header, start, bytes) = read(path)?;
        let replay = replay(&bytes[start..], start as u64, path)?;
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
            file,
        })
    }

    /// Append one record and make it durable before returning.
    pub fn append(&mut self, kind: RecordKind, step: usize) -> Result<(), CommitError> {
        use std::io::{Seek, SeekFrom};
        let rec = encode_record(kind, step as u64);
        self.file
            .seek(SeekFrom::Start(self.replay.valid_len))
            .map_err(write_err(&self.path))?;
        self.file.write_all(&rec).map_err(write_err(&self.path))?;
        self.file.sync_data().map_err(write_err(&self.path))?;
        self.replay.valid_len += RECORD_LEN as u64;
        match kind {
            RecordKind::Intent => self.replay.pending = Some(step),
            RecordKind::Done => {
                self.replay.done.insert(step);
                self.replay.pending = None;
            }
            RecordKind::RollbackBegin => self.replay.state = Some(JournalState::RollingBack),
            RecordKind::UndoIntent => {}
            RecordKind::UndoDone => {
                self.replay.done.remove(&step);
                if self.replay.pending == Some(step) {
                    self.replay.pending = None;
                }
            }
            RecordKind::Committed => self.replay.state = Some(JournalState::Committed),
            RecordKind::RolledBack => self.replay.state = Some(JournalState::RolledBack),
        }
        Ok(())
    }
}

/// Read and parse a journal without opening it for writing (for `status`).
pub fn read(path: &Path) -> Result<(JournalHeader, usize, Vec<u8>), CommitError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io_err("read journal", path))?;
    let (header, start) = decode_header(&bytes, path)?;
    Ok((header, start, bytes))
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
            preexisting: vec![],
            dir_times: vec![],
            created_unix: 0,
        }
    }

    #[test]
    fn crc32_matches_the_reference_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn header_roundtrip_and_fingerprint_depends_on_identity() {
        let h = header();
        let bytes = encode_header(&h).unwrap();
        let (back, start) = decode_header(&bytes, Path::new("j")).unwrap();
        assert_eq!(back, h);
        assert_eq!(start, bytes.len());
        let mut other = h.clone();
        other.data_ino = 3;
        assert_ne!(other.fingerprint(), h.fingerprint());
        let mut corrupt = bytes.clone();
        corrupt[60] ^= 1;
        assert!(decode_header(&corrupt, Path::new("j")).is_err());
    }

    #[test]
    fn torn_last_record_is_ignored_and_truncated() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("journal");
        let mut j = Journal::create(&p, header()).unwrap();
        j.append(RecordKind::Intent, 0).unwrap();
        j.append(RecordKind::Done, 0).unwrap();
        j.append(RecordKind::Intent, 1).unwrap();
        let good_len = fs::metadata(&p).unwrap().len();
        // a half-written record, as power loss would leave it
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(&encode_record(RecordKind::Done, 1)[..7])
            .unwrap();
        drop(f);
        let mut j = Journal::open(&p).unwrap();
        assert!(j.replay.torn);
        assert_eq!(j.replay.pending, Some(1));
        assert_eq!(j.replay.done, BTreeSet::from([0]));
        assert_eq!(fs::metadata(&p).unwrap().len(), good_len);
        j.append(RecordKind::Done, 1).unwrap();
        let j = Journal::open(&p).unwrap();
        assert_eq!(j.replay.done, BTreeSet::from([0, 1]));
        assert!(!j.replay.torn);
    }

    #[test]
    fn damaged_record_in_the_middle_is_an_error() {
        let mut recs = Vec::new();
        recs.extend_from_slice(&encode_record(RecordKind::Intent, 0));
        let mut bad = encode_record(RecordKind::Done, 0);
        bad[5] ^= 0xff;
        recs.extend_from_slice(&bad);
        recs.extend_from_slice(&encode_record(RecordKind::Intent, 1));
        assert!(replay(&recs, 0, Path::new("j")).is_err());
        let r = replay(&recs[..32], 0, Path::new("j")).unwrap();
        assert!(r.torn);
        assert_eq!(r.pending, Some(0));
    }

    #[test]
    fn undo_records_and_states() {
        let mut recs = Vec::new();
        for (k, s) in [
            (RecordKind::Intent, 0),
            (RecordKind::Done, 0),
            (RecordKind::Intent, 1),
            (RecordKind::RollbackBegin, 0),
            (RecordKind::UndoIntent, 1),
            (RecordKind::UndoDone, 1),
        ] {
            recs.extend_from_slice(&encode_record(k, s));
        }
        let r = replay(&recs, 0, Path::new("j")).unwrap();
        assert_eq!(r.state, Some(JournalState::RollingBack));
        assert_eq!(r.done, BTreeSet::from([0]));
        assert_eq!(r.pending, None);
    }
}
