//! The plan file of `smstage plan --config FILE --save PLANFILE`: the plan, the fingerprint of what it was derived
//! from, and the `plan_id` that names both. Pure: bytes in, bytes out (format in
//! docs/sm-layout.md, "The plan file").

use super::fingerprint::file_form::{FingerprintIn, FormError};
use super::fingerprint::Fingerprint;
use super::model::Plan;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The `format` field every plan file starts with.
pub const PLAN_FILE_FORMAT: &str = "smstage-plan";
/// Version of the plan file format; a file of another version is refused, never guessed at.
pub const PLAN_FILE_VERSION: u32 = 1;

/// Deserialised as it stands (a damaged list of entries is then an error of the parser), or
/// through [`SavedPlan::parse`], whose errors say what is wrong and where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format: String,
    pub version: u32,
    /// sha256 (hex) of the canonical serialisation of everything else in the file.
    pub plan_id: String,
    pub plan: Plan,
    pub fingerprint: Fingerprint,
}

/// A plan file as the parser read it: its fingerprint's lists are checked after, so that a
/// damaged one is refused with a typed error naming the list, record and byte.
#[derive(Deserialize)]
struct SavedPlanIn {
    format: String,
    version: u32,
    plan_id: String,
    plan: Plan,
    fingerprint: FingerprintIn,
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
    #[error("plan file {path}: {source}: save the plan again with `smstage plan --config FILE --save PLANFILE` (a plan file must not be edited)")]
    Entries { path: PathBuf, source: FormError },
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

impl SavedPlanIn {
    /// The plan file, its fingerprint of a version this smstage reads and every list of
    /// entries in that version's form, each packed record checked.
    fn checked(self, path: &Path) -> Result<SavedPlan, SavedPlanError> {
        let fingerprint = self.fingerprint.checked().map_err(|e| match e {
            FormError::Version(v) => SavedPlanError::Version {
                path: path.to_path_buf(),
                found: format!("{v} (fingerprint)"),
            },
            source => SavedPlanError::Entries {
                path: path.to_path_buf(),
                source,
            },
        })?;
        Ok(SavedPlan {
            format: self.format,
            version: self.version,
            plan_id: self.plan_id,
            plan: self.plan,
            fingerprint,
        })
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
        let saved: SavedPlanIn =
            serde_json::from_slice(bytes).map_err(|e| SavedPlanError::Malformed {
                path: path.to_path_buf(),
                err: e.to_string(),
            })?;
        saved.checked(path)?.validated(path, false)
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
        let parsed = serde_json::from_reader::<_, SavedPlanIn>(std::io::BufReader::with_capacity(
            1 << 20,
            &mut raw,
        ));
        match parsed {
            Ok(saved) if saved.format == PLAN_FILE_FORMAT && saved.version == PLAN_FILE_VERSION => {
                let saved = saved.checked(path)?;
                let raw = raw.finish();
                // The bytes hashed at save time, unchanged: the recorded id stands.
                let unedited =
                    raw.is_some_and(|(id, recorded)| id == recorded && recorded == saved.plan_id);
                Ok(saved.validated(path, unedited)?)
            }
            _ => on_error(),
        }
    }

    /// Refuses a file whose content is not what its plan_id names (edited). `unedited`: the
    /// file's bytes hash to its plan_id as they were read ([`super::raw_id`]), so the id need
    /// not be computed again from the parsed content.
    fn validated(self, path: &Path, unedited: bool) -> Result<SavedPlan, SavedPlanError> {
        let saved = self;
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
    use crate::plan::fingerprint::{ConfigStamp, FsEntry, FsKind, FINGERPRINT_VERSION};

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

    /// The fingerprint's fields, its entries `E`: a list of entries for versions 1 and 2 (as
    /// before they were packed in memory, 29d6b03), the base64 of the packed records for 3.
    #[derive(Serialize)]
    struct ShapedFingerprint<'a, E> {
        version: u32,
        host: &'a str,
        database: &'a Path,
        database_dev: u64,
        database_ino: u64,
        config: &'a ConfigStamp,
        entries: E,
        objects: &'a [crate::plan::fingerprint::ObjectStamp],
        #[serde(skip_serializing_if = "Vec::is_empty")]
        segments: Vec<ShapedSegment<'a, E>>,
    }

    #[derive(Serialize)]
    struct ShapedSegment<'a, E> {
        dir: &'a Path,
        entries: E,
    }

    fn shaped<'a, E>(
        fp: &'a Fingerprint,
        shape: impl Fn(&crate::plan::fingerprint::Entries) -> E,
    ) -> ShapedFingerprint<'a, E> {
        ShapedFingerprint {
            version: fp.version,
            host: &fp.host,
            database: &fp.database,
            database_dev: fp.database_dev,
            database_ino: fp.database_ino,
            config: &fp.config,
            entries: shape(&fp.entries),
            objects: &fp.objects,
            segments: fp
                .segments
                .iter()
                .map(|g| ShapedSegment {
                    dir: &g.dir,
                    entries: shape(&g.entries),
                })
                .collect(),
        }
    }

    /// What plan_id hashes, the fingerprint being of any shape.
    fn canonical(plan: &Plan, fingerprint: &impl Serialize) -> Vec<u8> {
        let mut v = br#"{"format":"smstage-plan","version":1,"plan":"#.to_vec();
        serde_json::to_writer(&mut v, plan).unwrap();
        v.extend_from_slice(br#","fingerprint":"#);
        serde_json::to_writer(&mut v, fingerprint).unwrap();
        v.push(b'}');
        v
    }

    /// A fingerprint of every kind of entry, a segment too; of `version`.
    pub(crate) fn varied(version: u32) -> SavedPlan {
        let mut s = sample();
        let entry = |path: &str, kind, target: Option<&str>| FsEntry {
            path: path.into(),
            kind,
            size: 96,
            mtime_ns: 1_796_023_684_291_471_302,
            inode: 10_022_707,
            target: target.map(str::to_string),
            // Files carry a ctime from version 2 on.
            ctime_ns: (version >= 2 && kind == FsKind::File).then_some(1_796_023_684_291_471_999),
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
        s.fingerprint.version = version;
        SavedPlan::new(s.plan, s.fingerprint)
    }

    /// Versions 1 and 2 keep their canonical serialisation, and with it their plan_id: the
    /// entries as a list of objects, as before they were packed.
    #[test]
    fn the_id_of_versions_1_and_2_is_that_of_the_fingerprint_as_a_list_of_entries() {
        for version in [1, 2] {
            let s = varied(version);
            let fp = &s.fingerprint;
            let listed = shaped(fp, |e| e.iter().collect::<Vec<FsEntry>>());
            let listed_bytes = canonical(&s.plan, &listed);
            assert_eq!(canonical(&s.plan, fp), listed_bytes);
            assert!(String::from_utf8_lossy(&listed_bytes).contains(r#""entries":[{"path":"."#));
            let want: String = Sha256::digest(&listed_bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(plan_id(&s.plan, fp), want);
            assert_eq!(s.plan_id, want);
            let back = SavedPlan::parse(&s.to_bytes(), Path::new("p")).unwrap();
            assert_eq!(back, s);
            assert_eq!(back.to_bytes(), s.to_bytes());
        }
    }

    /// Version 3 carries each list as the base64 (standard, padded) of the packed records.
    #[test]
    fn the_id_of_version_3_is_that_of_the_fingerprint_with_its_entries_packed() {
        use base64::Engine;
        let s = varied(3);
        let fp = &s.fingerprint;
        let packed = shaped(fp, |e| {
            base64::engine::general_purpose::STANDARD.encode(e.packed_bytes())
        });
        let packed_bytes = canonical(&s.plan, &packed);
        assert_eq!(canonical(&s.plan, fp), packed_bytes);
        let want: String = Sha256::digest(&packed_bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(s.plan_id, want);
        let text = String::from_utf8(s.to_bytes()).unwrap();
        assert!(text.contains(r#","entries":"AAAB"#), "{text}");
        let back = SavedPlan::parse(text.as_bytes(), Path::new("p")).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.to_bytes(), text.as_bytes());
        // The same entries, saved as version 2, are another file with another id.
        assert_ne!(varied(2).plan_id, s.plan_id);
    }

    /// The file `s` would be, its `n`th packed string (0: the database's entries, 1: the first
    /// segment's) replaced by `string(the bytes it stands for)`.
    fn with_packed(s: &SavedPlan, n: usize, string: impl FnOnce(Vec<u8>) -> String) -> Vec<u8> {
        use base64::Engine;
        let text = String::from_utf8(s.to_bytes()).unwrap();
        let key = r#""entries":""#;
        let start = text.match_indices(key).nth(n).unwrap().0 + key.len();
        let end = start + text[start..].find('"').unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&text[start..end])
            .unwrap();
        format!("{}{}{}", &text[..start], string(bytes), &text[end..]).into_bytes()
    }

    fn base64_of(bytes: Vec<u8>) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// `file` with its plan_id set to the hash of its own bytes, as anyone can: what
    /// `raw_id` then finds equal to the recorded id.
    fn id_recomputed_over_its_bytes(file: &[u8]) -> Vec<u8> {
        let text = std::str::from_utf8(file).unwrap();
        let member = text.find(r#""plan_id":""#).unwrap();
        let rest = &text[member + 11 + 64 + 2..];
        let body = format!("{}{}", &text[..member], rest.trim_end_matches('\n'));
        let id: String = Sha256::digest(body.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{}\"plan_id\":\"{id}\",{rest}", &text[..member]).into_bytes()
    }

    /// `parse` and `parse_reader` both refuse `file`, with the same message, containing each
    /// of `says`.
    fn refused(file: &[u8], says: &[&str]) -> SavedPlanError {
        let p = Path::new("p.json");
        let err = SavedPlan::parse(file, p).unwrap_err();
        let streamed = SavedPlan::parse_reader(file, p, || SavedPlan::parse(file, p)).unwrap_err();
        assert_eq!(streamed.to_string(), err.to_string());
        for w in says {
            assert!(err.to_string().contains(w), "{err}: wanted {w:?}");
        }
        err
    }

    #[test]
    fn a_damaged_entries_string_is_refused_naming_the_list_the_record_and_the_byte() {
        let s = varied(3);
        // Record 1 (`2024.01.02`) starts at byte 9 of the database's entries: `.` took
        // header, shared 0, length 1, `.`, size 96, mtime and inode varints of 9 and 4 bytes.
        let e = refused(
            &with_packed(&s, 0, |mut b| {
                assert_eq!(b[..5], [0, 0, 1, b'.', 96]);
                let second = 5 + 9 + 4;
                assert_eq!(b[second..second + 3], [0, 0, 10]);
                b[second] = 0x40;
                base64_of(b)
            }),
            &[
                "plan file p.json: fingerprint entries: record 1 at byte 18: its header byte 0x40 sets bits no kind or flag uses",
                "save the plan again with `smstage plan --config FILE --save PLANFILE`",
            ],
        );
        assert!(matches!(e, SavedPlanError::Entries { .. }), "{e}");
        // Cut short, in a segment's list.
        refused(
            &with_packed(&s, 1, |b| base64_of(b[..b.len() - 1].to_vec())),
            &[
                "fingerprint segment /mnt/seg1 entries: record 1 at byte",
                "the bytes end inside its inode delta",
            ],
        );
        refused(
            &with_packed(&s, 0, |_| "not*base64".into()),
            &["fingerprint entries: not base64 (standard alphabet, padded): Invalid symbol 42, offset 3"],
        );
        // The form must be the version's: a list in a version-3 file, a string in a version-2.
        let mut v: serde_json::Value = serde_json::from_slice(&s.to_bytes()).unwrap();
        v["fingerprint"]["entries"] =
            serde_json::to_value(s.fingerprint.entries.iter().collect::<Vec<_>>()).unwrap();
        refused(&serde_json::to_vec(&v).unwrap(), &["fingerprint entries: version 3 carries them as one packed string, the file has a list of objects"]);
        v["fingerprint"]["version"] = 2.into();
        v["fingerprint"]["segments"][0]["entries"] = "AAAA".into();
        refused(&serde_json::to_vec(&v).unwrap(), &["fingerprint segment /mnt/seg1 entries: version 2 carries them as a list of objects, the file has one packed string"]);
        // A version not read is said so, whatever the lists hold.
        v["fingerprint"]["version"] = 4.into();
        let e = refused(
            &serde_json::to_vec(&v).unwrap(),
            &["has format version 4 (fingerprint)"],
        );
        assert!(matches!(e, SavedPlanError::Version { .. }), "{e}");
    }

    /// Bytes that decode to the very entries saved, encoded otherwise (here the first size,
    /// 96, as the over-long varint e0 00): the entries hash to the recorded plan_id, so only
    /// the encoding can tell the edit, and it must, with the id kept and with the id
    /// recomputed over the file's own bytes (which `raw_id` then finds equal).
    #[test]
    fn entries_encoded_otherwise_than_plan_save_encodes_them_are_refused_as_edited() {
        let s = varied(3);
        let overlong = with_packed(&s, 0, |b| {
            base64_of([&b[..4], &[0xe0, 0x00], &b[5..]].concat())
        });
        let says = [
            "fingerprint entries: record 0 at byte 4: its size varint is over-long",
            "the file was edited after it was saved",
        ];
        refused(&overlong, &says);
        let crafted = id_recomputed_over_its_bytes(&overlong);
        let (raw, recorded) = {
            let mut r = super::super::raw_id::RawIdReader::new(&crafted[..]);
            std::io::copy(&mut r, &mut std::io::sink()).unwrap();
            r.finish().unwrap()
        };
        assert_eq!(raw, recorded, "the crafted file's id is that of its bytes");
        refused(&crafted, &says);
        // The helper is right: the unedited file's bytes hash to its own id.
        assert_eq!(id_recomputed_over_its_bytes(&s.to_bytes()), s.to_bytes());
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
