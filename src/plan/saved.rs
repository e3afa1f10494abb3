//! The plan file of `smstage plan --config FILE --save PLANFILE`: the plan, the fingerprint of what it was derived
//! from, and the `plan_id` that names both. Pure: bytes in, bytes out (format in
//! docs/sm-layout.md, "The plan file").

use super::fingerprint::{Fingerprint, FINGERPRINT_VERSION, OLDEST_FINGERPRINT_VERSION};
use super::model::Plan;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The `format` field every plan file starts with.
pub const PLAN_FILE_FORMAT: &str = "smstage-plan";
/// Version of the plan file format; a file of another version is refused, never guessed at.
pub const PLAN_FILE_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format: String,
    pub version: u32,
    /// sha256 (hex) of the canonical serialisation of everything else in the file.
    pub plan_id: String,
    pub plan: Plan,
    pub fingerprint: Fingerprint,
}

/// Only what is needed to tell a plan file of this version from anything else.
#[derive(Deserialize)]
struct Head {
    format: Option<String>,
    version: Option<serde_json::Value>,
}

/// What `plan_id` hashes: the same fields in the same order, whatever the file's spacing.
#[derive(Serialize)]
struct Identified<'a> {
    format: &'a str,
    version: u32,
    plan: &'a Plan,
    fingerprint: &'a Fingerprint,
}

#[derive(Debug, Error)]
pub enum SavedPlanError {
    #[error("plan file {path} is not JSON ({err}): pass the file `smstage plan --config FILE --save PLANFILE` wrote")]
    NotJson { path: PathBuf, err: String },
    #[error("{path} is not an smstage plan file (no \"format\": \"{PLAN_FILE_FORMAT}\"): pass the file `smstage plan --config FILE --save PLANFILE` wrote")]
    NotAPlanFile { path: PathBuf },
    #[error("plan file {path} has format version {found}, and this smstage reads version {PLAN_FILE_VERSION} only: save the plan again with this smstage (`smstage plan --config FILE --save PLANFILE`)")]
    Version { path: PathBuf, found: String },
    #[error("plan file {path} is damaged ({err}): save the plan again with `smstage plan --config FILE --save PLANFILE`")]
    Malformed { path: PathBuf, err: String },
    #[error("plan file {path} was edited after it was saved: its plan_id {recorded} does not match its content ({computed}); a plan file must not be edited: save the plan again with `smstage plan --config FILE --save PLANFILE`")]
    IdMismatch {
        path: PathBuf,
        recorded: String,
        computed: String,
    },
}

/// The `plan_id` of a plan and its fingerprint.
pub fn plan_id(plan: &Plan, fingerprint: &Fingerprint) -> String {
    // The canonical bytes go straight into the hash: with a million files they would be
    // ~100 MB held only to be hashed.
    let mut hasher = HashWriter(Sha256::new());
    // Plain structs of strings and numbers into a writer that cannot fail: serialising them
    // cannot fail. Buffered: the serialiser writes token by token, and a hash update per
    // token was a visible cost at a million entries.
    {
        let mut buffered = std::io::BufWriter::with_capacity(1 << 16, &mut hasher);
        let _ = serde_json::to_writer(
            &mut buffered,
            &Identified {
                format: PLAN_FILE_FORMAT,
                version: PLAN_FILE_VERSION,
                plan,
                fingerprint,
            },
        );
        let _ = std::io::Write::flush(&mut buffered);
    }
    hex(hasher.0)
}

/// A finished sha256 in lowercase hex, as `plan_id` is written.
pub(crate) fn hex(hasher: Sha256) -> String {
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An `io::Write` that feeds a sha256.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SavedPlan {
    pub fn new(plan: Plan, fingerprint: Fingerprint) -> SavedPlan {
        SavedPlan {
            format: PLAN_FILE_FORMAT.to_string(),
            version: PLAN_FILE_VERSION,
            plan_id: plan_id(&plan, &fingerprint),
            plan,
            fingerprint,
        }
    }

    /// The file's bytes (compact JSON and a newline: a large database has ~100,000 entries).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        // Into memory, which cannot fail.
        let _ = self.write_to(&mut v);
        v
    }

    /// Writes the file's bytes, [`SavedPlan::to_bytes`], to `w`.
    pub fn write_to(&self, mut w: impl std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer(&mut w, self)?;
        w.write_all(b"\n")
    }

    /// Reads a plan file's bytes; `path` only names it in errors. Refuses anything but an
    /// unedited plan file of this version.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<SavedPlan, SavedPlanError> {
        let head: Head = serde_json::from_slice(bytes).map_err(|e| SavedPlanError::NotJson {
            path: path.to_path_buf(),
            err: e.to_string(),
        })?;
        if head.format.as_deref() != Some(PLAN_FILE_FORMAT) {
            return Err(SavedPlanError::NotAPlanFile {
                path: path.to_path_buf(),
            });
        }
        match &head.version {
            Some(v) if v.as_u64() == Some(PLAN_FILE_VERSION as u64) => {}
            other => {
                return Err(SavedPlanError::Version {
                    path: path.to_path_buf(),
                    found: other
                        .as_ref()
                        .map_or("(none)".to_string(), |v| v.to_string()),
                })
            }
        }
        let saved: SavedPlan =
            serde_json::from_slice(bytes).map_err(|e| SavedPlanError::Malformed {
                path: path.to_path_buf(),
                err: e.to_string(),
            })?;
        saved.validated(path, false)
    }

    /// [`SavedPlan::parse`] of what `reader` yields (read in pieces of 1 MiB: pass it
    /// unbuffered), without holding the file's bytes (~100 bytes per database entry, more than
    /// the packed fingerprint and the checks together).
    /// Anything but a plan file of this version is refused, through `on_error`: it is called
    /// only then, to read the bytes and say precisely what the file is.
    pub fn parse_reader<E: From<SavedPlanError>>(
        reader: impl std::io::Read,
        path: &Path,
        on_error: impl FnOnce() -> Result<SavedPlan, E>,
    ) -> Result<SavedPlan, E> {
        // The hasher under the buffer, which serde_json owns: it reads a `BufReader` it owns
        // from its buffer (any other reader, even `&mut BufReader`, one `read` call per byte,
        // 0.6 s more at 1.1M entries), and the hash must see the file in large pieces. The
        // parser reads to the end of the file (only whitespace may follow the plan), so the
        // hasher has seen every byte once it returns.
        let mut raw = super::raw_id::RawIdReader::new(reader);
        let parsed = serde_json::from_reader::<_, SavedPlan>(std::io::BufReader::with_capacity(
            1 << 20,
            &mut raw,
        ));
        match parsed {
            Ok(saved) if saved.format == PLAN_FILE_FORMAT && saved.version == PLAN_FILE_VERSION => {
                let raw = raw.finish();
                // The bytes hashed at save time, unchanged: the recorded id stands.
                let unedited =
                    raw.is_some_and(|(id, recorded)| id == recorded && recorded == saved.plan_id);
                Ok(saved.validated(path, unedited)?)
            }
            _ => on_error(),
        }
    }

    /// Refuses a fingerprint of another version, and a file whose content is not what its
    /// plan_id names (edited). `unedited`: the file's bytes hash to its plan_id as they were
    /// read ([`super::raw_id`]), so the id need not be computed again from the parsed content.
    fn validated(self, path: &Path, unedited: bool) -> Result<SavedPlan, SavedPlanError> {
        let saved = self;
        if !(OLDEST_FINGERPRINT_VERSION..=FINGERPRINT_VERSION).contains(&saved.fingerprint.version)
        {
            return Err(SavedPlanError::Version {
                path: path.to_path_buf(),
                found: format!("{} (fingerprint)", saved.fingerprint.version),
            });
        }
        if unedited {
            return Ok(saved);
        }
        let computed = plan_id(&saved.plan, &saved.fingerprint);
        if computed != saved.plan_id {
            return Err(SavedPlanError::IdMismatch {
                path: path.to_path_buf(),
                recorded: saved.plan_id,
                computed,
            });
        }
        Ok(saved)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::plan::fingerprint::{ConfigStamp, FsEntry, FsKind};

    pub(crate) fn sample() -> SavedPlan {
        let plan = crate::plan::build(&crate::plan::PlanInput {
            base: "/srv/hdb".into(),
            root_entries: vec![],
            tiers: vec![crate::plan::TierInput {
                name: "hdb".into(),
                kind: crate::plan::TierKind::Local,
                store: "file:///srv/hdb/data".into(),
            }],
            local_partitions: vec!["2024.01.02".into()],
            object_partitions: vec![],
        })
        .unwrap();
        let fp = Fingerprint {
            version: FINGERPRINT_VERSION,
            host: "h".into(),
            database: "/srv/hdb/data".into(),
            database_dev: 1,
            database_ino: 2,
            config: ConfigStamp {
                path: "/srv/hdb/a.yaml".into(),
                sha256: "00".into(),
            },
            entries: vec![FsEntry {
                path: ".".into(),
                kind: FsKind::Dir,
                size: 0,
                mtime_ns: 5,
                inode: 2,
                target: None,
                ctime_ns: None,
            }]
            .into(),
            objects: vec![],
            segments: Vec::new(),
        };
        SavedPlan::new(plan, fp)
    }

    #[test]
    fn round_trip_keeps_the_plan_id() {
        let s = sample();
        assert_eq!(s.plan_id.len(), 64);
        let back = SavedPlan::parse(&s.to_bytes(), Path::new("p")).unwrap();
        assert_eq!(back, s);
        // Spacing is not content: a pretty-printed copy has the same id.
        let pretty = serde_json::to_vec_pretty(&s).unwrap();
        assert_eq!(SavedPlan::parse(&pretty, Path::new("p")).unwrap(), s);
    }

    #[test]
    fn the_id_is_the_sha256_of_the_compact_json_docs_sm_layout_describes() {
        let s = sample();
        // Field order as declared (serde_json's `json!` would sort the keys).
        let canonical = serde_json::to_vec(&Identified {
            format: PLAN_FILE_FORMAT,
            version: PLAN_FILE_VERSION,
            plan: &s.plan,
            fingerprint: &s.fingerprint,
        })
        .unwrap();
        assert!(canonical.starts_with(br#"{"format":"smstage-plan","version":1,"plan":{"#));
        let want: String = Sha256::digest(&canonical)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(plan_id(&s.plan, &s.fingerprint), want);
    }

    /// The fingerprint as it was before its entries were packed (29d6b03): a list of entries.
    #[derive(Serialize)]
    struct ListedFingerprint<'a> {
        version: u32,
        host: &'a str,
        database: &'a Path,
        database_dev: u64,
        database_ino: u64,
        config: &'a ConfigStamp,
        entries: Vec<FsEntry>,
        objects: &'a [crate::plan::fingerprint::ObjectStamp],
        #[serde(skip_serializing_if = "Vec::is_empty")]
        segments: Vec<ListedSegment<'a>>,
    }

    #[derive(Serialize)]
    struct ListedSegment<'a> {
        dir: &'a Path,
        entries: Vec<FsEntry>,
    }

    #[test]
    fn the_id_is_that_of_the_fingerprint_as_a_list_of_entries() {
        let mut s = sample();
        let entry = |path: &str, kind, target: Option<&str>| FsEntry {
            path: path.into(),
            kind,
            size: 96,
            mtime_ns: 1_796_023_684_291_471_302,
            inode: 10_022_707,
            target: target.map(str::to_string),
            ctime_ns: None,
        };
        s.fingerprint.entries = vec![
            entry(".", FsKind::Dir, None),
            entry("2024.01.02", FsKind::Dir, None),
            entry("2024.01.02/trade", FsKind::Dir, None),
            entry("2024.01.02/trade/.d", FsKind::File, None),
            entry("2024.01.02/trade/price", FsKind::File, None),
            entry("sym", FsKind::File, None),
            entry("zé", FsKind::Symlink, Some("../élsewhere")),
        ]
        .into();
        s.fingerprint.segments = vec![crate::plan::fingerprint::SegmentStamp {
            dir: "/mnt/seg1".into(),
            entries: vec![
                entry(".", FsKind::Dir, None),
                entry("p", FsKind::Other, None),
            ]
            .into(),
        }];
        let fp = &s.fingerprint;
        let listed = ListedFingerprint {
            version: fp.version,
            host: &fp.host,
            database: &fp.database,
            database_dev: fp.database_dev,
            database_ino: fp.database_ino,
            config: &fp.config,
            entries: fp.entries.iter().collect(),
            objects: &fp.objects,
            segments: fp
                .segments
                .iter()
                .map(|g| ListedSegment {
                    dir: &g.dir,
                    entries: g.entries.iter().collect(),
                })
                .collect(),
        };
        // What plan_id hashes, the fingerprint being either shape.
        fn canonical(plan: &Plan, fingerprint: &impl Serialize) -> Vec<u8> {
            let mut v = br#"{"format":"smstage-plan","version":1,"plan":"#.to_vec();
            serde_json::to_writer(&mut v, plan).unwrap();
            v.extend_from_slice(br#","fingerprint":"#);
            serde_json::to_writer(&mut v, fingerprint).unwrap();
            v.push(b'}');
            v
        }
        let listed_bytes = canonical(&s.plan, &listed);
        assert_eq!(canonical(&s.plan, fp), listed_bytes);
        let want: String = Sha256::digest(&listed_bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(plan_id(&s.plan, fp), want);
        let saved = SavedPlan::new(s.plan.clone(), s.fingerprint.clone());
        assert_eq!(
            SavedPlan::parse(&saved.to_bytes(), Path::new("p")).unwrap(),
            saved
        );
    }

    #[test]
    fn the_id_depends_on_the_plan_and_on_the_fingerprint() {
        let s = sample();
        let mut fp = s.fingerprint.clone();
        let mut entries: Vec<FsEntry> = fp.entries.iter().collect();
        entries[0].mtime_ns += 1;
        fp.entries = entries.into();
        assert_ne!(plan_id(&s.plan, &fp), s.plan_id);
        let mut plan = s.plan.clone();
        plan.par_txt.push('x');
        assert_ne!(plan_id(&plan, &s.fingerprint), s.plan_id);
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let p = Path::new("p.json");
        let err = |b: &[u8]| SavedPlan::parse(b, p).unwrap_err();
        assert!(matches!(err(b"{not json"), SavedPlanError::NotJson { .. }));
        assert!(matches!(
            err(b"{\"a\":1}"),
            SavedPlanError::NotAPlanFile { .. }
        ));
        let mut v: serde_json::Value = serde_json::from_slice(&sample().to_bytes()).unwrap();
        v["version"] = 2.into();
        let e = err(&serde_json::to_vec(&v).unwrap());
        assert!(matches!(e, SavedPlanError::Version { .. }), "{e}");
        assert!(e.to_string().contains("version 2"), "{e}");
        v["version"] = 1.into();
        v["plan"]["par_txt"] = "elsewhere$\n".into();
        let e = err(&serde_json::to_vec(&v).unwrap());
        assert!(matches!(e, SavedPlanError::IdMismatch { .. }), "{e}");
        assert!(e.to_string().contains("edited"), "{e}");
        v["plan"] = 3.into();
        assert!(matches!(
            err(&serde_json::to_vec(&v).unwrap()),
            SavedPlanError::Malformed { .. }
        ));
    }

    /// Read as a stream, a plan file gives what its bytes give, and every bad file what
    /// `parse` says of it (the reader never holds the bytes; the error path reads them).
    #[test]
    fn the_stream_reads_what_the_bytes_say() {
        let p = Path::new("p.json");
        let read = |b: &[u8]| {
            SavedPlan::parse_reader(b, p, || SavedPlan::parse(b, p)).map_err(|e| e.to_string())
        };
        let good = sample().to_bytes();
        let streamed = SavedPlan::parse_reader(&good[..], p, || -> Result<_, SavedPlanError> {
            panic!("a good plan file was read whole")
        });
        assert_eq!(streamed.unwrap(), SavedPlan::parse(&good, p).unwrap());
        let mut v: serde_json::Value = serde_json::from_slice(&good).unwrap();
        let mut bad: Vec<Vec<u8>> = vec![b"{not json".to_vec(), b"{\"a\":1}".to_vec()];
        v["version"] = 2.into();
        bad.push(serde_json::to_vec(&v).unwrap());
        v["version"] = 1.into();
        v["format"] = "other".into();
        bad.push(serde_json::to_vec(&v).unwrap());
        v["format"] = PLAN_FILE_FORMAT.into();
        v["plan"]["par_txt"] = "elsewhere$\n".into();
        bad.push(serde_json::to_vec(&v).unwrap());
        v["plan"] = 3.into();
        bad.push(serde_json::to_vec(&v).unwrap());
        for b in &bad {
            let want = SavedPlan::parse(b, p).unwrap_err().to_string();
            assert_eq!(read(b), Err(want));
        }
    }
}
