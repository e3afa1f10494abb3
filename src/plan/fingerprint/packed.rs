//! The entries as a plan file of fingerprint version 3 carries them: one JSON string, the
//! base64 (standard alphabet, padded) of exactly the records [`Entries`] holds in memory (layout
//! in [`super::entries`] and docs/sm-layout.md). At 1.25M entries of a generated database that
//! is 19 MB where the list of objects of versions 1 and 2 took 166 MB, and it reads without
//! building an object per entry.
//!
//! Reading is of a file a user may have damaged or crafted, so nothing of the bytes is
//! trusted: every record is decoded with its bounds checked and pushed into a new [`Entries`]
//! (whose order flag and last entry then hold whatever the file says), and a record that
//! decodes but is not what pushing its entry writes (an over-long varint, a shorter shared
//! prefix than the paths share) is refused: the file was edited, and the entries it decodes
//! to would hash to the `plan_id` it was written with, so the id alone would not refuse it.

use super::entries::{
    kind_of_code, shared_prefix, unzigzag, EntryRef, HAS_CTIME, HAS_TARGET, KIND_BITS,
};
use super::Entries;
use base64::Engine;
use thiserror::Error;

/// Canonical padding required, no stray trailing bits: one string per list of bytes.
const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Why a packed string was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PackedError {
    #[error("not base64 (standard alphabet, padded): {0}")]
    Base64(String),
    /// `record` counts from 0; `byte` is the offset of the fault in the decoded bytes.
    #[error("record {record} at byte {byte}: {what}")]
    Record {
        record: usize,
        byte: usize,
        what: Damage,
    },
}

/// What is wrong with one record.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Damage {
    #[error("its header byte {0:#04x} sets bits no kind or flag uses (only the low 4 are read)")]
    HeaderBits(u8),
    #[error("the bytes end inside its {0}")]
    Truncated(Field),
    #[error("its {0} varint does not fit in 64 bits")]
    VarintOverflow(Field),
    #[error("its {0} varint is over-long (ends in a zero group), not as `plan --save` writes it: the file was edited after it was saved")]
    VarintOverlong(Field),
    #[error("it says it shares {shared} bytes with the previous path, which has only {previous}")]
    SharedPastPrevious { shared: u64, previous: usize },
    #[error("its shared prefix of {0} bytes ends inside a character of the previous path")]
    SharedSplitsCharacter(usize),
    #[error("its {0} is not UTF-8")]
    NotUtf8(Field),
    #[error("it says it shares {said} bytes with the previous path, which it shares {shares} with: not as `plan --save` writes it, the file was edited after it was saved")]
    SharedNotLongest { said: usize, shares: usize },
    #[error("it does not re-encode to its own bytes (not as `plan --save` writes it): the file was edited after it was saved")]
    NotCanonical,
}

/// The part of a record a fault is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Header,
    Shared,
    PathLength,
    Path,
    Size,
    Mtime,
    Inode,
    Ctime,
    TargetLength,
    Target,
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Field::Header => "header byte",
            Field::Shared => "shared-prefix length",
            Field::PathLength => "path length",
            Field::Path => "path",
            Field::Size => "size",
            Field::Mtime => "mtime delta",
            Field::Inode => "inode delta",
            Field::Ctime => "ctime delta",
            Field::TargetLength => "target length",
            Field::Target => "target",
        })
    }
}

/// The string a plan file of fingerprint version 3 carries for `entries`.
pub fn encode(entries: &Entries) -> String {
    encoded(entries).to_string()
}

/// [`encode`] written out piece by piece, never held whole (19 MB at 1.25M entries, made
/// twice by `plan --save`: for the file and for its `plan_id`).
pub fn encoded(entries: &Entries) -> impl std::fmt::Display + '_ {
    base64::display::Base64Display::new(entries.packed_bytes(), &BASE64)
}

/// The entries a packed string holds, every record checked (module docs).
pub fn decode(text: &str) -> Result<Entries, PackedError> {
    decode_bytes(&base64_bytes(text)?)
}

/// The bytes a packed string stands for, not yet checked as records.
pub fn base64_bytes(text: &str) -> Result<Vec<u8>, PackedError> {
    BASE64
        .decode(text)
        .map_err(|e| PackedError::Base64(e.to_string()))
}

/// [`decode`] of the bytes the string stands for.
pub fn decode_bytes(bytes: &[u8]) -> Result<Entries, PackedError> {
    // A canonical file re-encodes to exactly its bytes: the buffer never grows.
    let mut out = Entries::with_capacity(bytes.len());
    let mut r = Reader {
        bytes,
        pos: 0,
        path: String::new(),
        mtime_ns: 0,
        inode: 0,
    };
    let mut record = 0;
    while r.pos < bytes.len() {
        let start = r.pos;
        let fault = |(byte, what)| PackedError::Record { record, byte, what };
        let e = r.record().map_err(fault)?;
        let before = out.packed_bytes().len();
        out.push_ref(e);
        if out.packed_bytes()[before..] != bytes[start..r.pos] {
            // The checks of `Reader::record` leave no other freedom; kept as the proof.
            return Err(fault((start, Damage::NotCanonical)));
        }
        record += 1;
    }
    out.shrink_to_fit();
    Ok(out)
}

/// A cursor over the decoded bytes, with the previous record's path, mtime and inode (what
/// the next one is encoded against).
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: String,
    mtime_ns: i64,
    inode: u64,
}

/// A fault and the byte it is at.
type Fault = (usize, Damage);

impl<'a> Reader<'a> {
    fn byte(&mut self, field: Field) -> Result<u8, Fault> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or((self.pos, Damage::Truncated(field)))?;
        self.pos += 1;
        Ok(b)
    }

    /// An LEB128 varint as `put_varint` writes it: at most 10 groups, the 10th holding the
    /// top bit only, and no final zero group after the first (that would be over-long).
    fn varint(&mut self, field: Field) -> Result<u64, Fault> {
        let start = self.pos;
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.byte(field)?;
            let group = u64::from(b & 0x7f);
            if i == 9 && (group > 1 || b & 0x80 != 0) {
                return Err((start, Damage::VarintOverflow(field)));
            }
            v |= group << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    return Err((start, Damage::VarintOverlong(field)));
                }
                return Ok(v);
            }
        }
        // The tenth group always ends the varint (checked above).
        Err((start, Damage::VarintOverflow(field)))
    }

    fn length(&mut self, field: Field) -> Result<usize, Fault> {
        let at = self.pos;
        let v = self.varint(field)?;
        usize::try_from(v).map_err(|_| (at, Damage::VarintOverflow(field)))
    }

    fn str(&mut self, len: usize, field: Field) -> Result<&'a str, Fault> {
        let bytes: &'a [u8] = self.bytes;
        let s = bytes
            .get(self.pos..)
            .and_then(|rest| rest.get(..len))
            .ok_or((self.pos, Damage::Truncated(field)))?;
        let s = std::str::from_utf8(s)
            .map_err(|e| (self.pos + e.valid_up_to(), Damage::NotUtf8(field)))?;
        self.pos += len;
        Ok(s)
    }

    /// The next record, as `Entries::push` lays it out.
    fn record(&mut self) -> Result<EntryRef<'_>, Fault> {
        let at = self.pos;
        let header = self.byte(Field::Header)?;
        if header & !(KIND_BITS | HAS_TARGET | HAS_CTIME) != 0 {
            return Err((at, Damage::HeaderBits(header)));
        }
        let at = self.pos;
        let shared = self.varint(Field::Shared)?;
        let previous = self.path.len();
        let shared = usize::try_from(shared)
            .ok()
            .filter(|s| *s <= previous)
            .ok_or((at, Damage::SharedPastPrevious { shared, previous }))?;
        if !self.path.is_char_boundary(shared) {
            return Err((at, Damage::SharedSplitsCharacter(shared)));
        }
        let len = self.length(Field::PathLength)?;
        let rest = self.str(len, Field::Path)?;
        // `push` writes the longest prefix both share that ends on a character boundary.
        let shares = shared + shared_prefix(&self.path[shared..], rest);
        if shares != shared {
            return Err((
                at,
                Damage::SharedNotLongest {
                    said: shared,
                    shares,
                },
            ));
        }
        self.path.truncate(shared);
        self.path.push_str(rest);
        let size = self.varint(Field::Size)?;
        self.mtime_ns = self
            .mtime_ns
            .wrapping_add(unzigzag(self.varint(Field::Mtime)?));
        self.inode = self
            .inode
            .wrapping_add(unzigzag(self.varint(Field::Inode)?) as u64);
        let ctime_ns = if header & HAS_CTIME != 0 {
            Some(
                self.mtime_ns
                    .wrapping_add(unzigzag(self.varint(Field::Ctime)?)),
            )
        } else {
            None
        };
        let target = if header & HAS_TARGET != 0 {
            let len = self.length(Field::TargetLength)?;
            Some(self.str(len, Field::Target)?)
        } else {
            None
        };
        Ok(EntryRef {
            path: &self.path,
            kind: kind_of_code(header),
            size,
            mtime_ns: self.mtime_ns,
            inode: self.inode,
            target,
            ctime_ns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::entries::tests::awkward;
    use super::super::tests::e;
    use super::super::{FsEntry, FsKind};
    use super::*;

    /// One of each kind: a directory, a file with a ctime and one without (as a version-1
    /// plan has them), a symlink with its target, a special file; paths beyond ASCII.
    fn every_kind() -> Vec<FsEntry> {
        vec![
            e(".", FsKind::Dir, 4096, 1_700_000_000_000_000_000, 2),
            FsEntry {
                ctime_ns: Some(1_700_000_000_000_000_500),
                ..e(
                    "2024.01.02/trade/price",
                    FsKind::File,
                    8016,
                    1_700_000_000_000_000_100,
                    3,
                )
            },
            e(
                "2024.01.02/trade/size",
                FsKind::File,
                0,
                1_700_000_000_000_000_050,
                4,
            ),
            FsEntry {
                target: Some("../élsewhere/ü".into()),
                ..e("lnk", FsKind::Symlink, 15, 5, 7)
            },
            e("pipe", FsKind::Other, 0, 6, 8),
            e("zé", FsKind::Dir, 4096, 7, 9),
            e("zé/ñ", FsKind::File, 1, 7, 10),
        ]
    }

    #[test]
    fn every_kind_comes_back_from_its_string() {
        for v in [every_kind(), awkward(), Vec::new()] {
            let packed = Entries::from(v.clone());
            let text = encode(&packed);
            assert!(text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)));
            let back = decode(&text).unwrap();
            // Equal bytes, count, order flag and last entry: as the walk would have built it.
            assert_eq!(back, packed);
            assert_eq!(back.iter().collect::<Vec<_>>(), v);
            assert_eq!(back.is_sorted(), packed.is_sorted());
            assert_eq!(back.last_path(), v.last().map_or("", |e| e.path.as_str()));
            assert_eq!(encode(&back), text);
        }
        assert_eq!(encode(&Entries::new()), "");
        assert!(decode("").unwrap().is_empty());
        // awkward() is not sorted (a file may say anything): the flag comes from the paths.
        assert!(!decode(&encode(&Entries::from(awkward())))
            .unwrap()
            .is_sorted());
    }

    /// `.` (dir, size 1, mtime 2, inode 3) then `ab` (file, 4, 5, 6): records at bytes 0 and 7.
    fn two() -> Vec<u8> {
        let b = Entries::from(vec![
            e(".", FsKind::Dir, 1, 2, 3),
            e("ab", FsKind::File, 4, 5, 6),
        ])
        .packed_bytes()
        .to_vec();
        assert_eq!(b, [0, 0, 1, b'.', 1, 4, 6, 1, 0, 2, b'a', b'b', 4, 6, 6]);
        b
    }

    /// Expects `bytes` (and their base64) refused at `record`, `byte`, saying `says`.
    fn refused(bytes: &[u8], record: usize, byte: usize, says: &str) {
        let err = decode_bytes(bytes).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, PackedError::Record { record: r, byte: b, .. } if r == record && b == byte),
            "{msg}: wanted record {record} at byte {byte}"
        );
        assert!(msg.contains(says), "{msg}: wanted {says:?}");
        assert_eq!(decode(&BASE64.encode(bytes)).unwrap_err(), err);
    }

    /// `bytes` with `at` replaced by `with`.
    fn spliced(bytes: &[u8], at: std::ops::Range<usize>, with: &[u8]) -> Vec<u8> {
        let mut v = bytes.to_vec();
        v.splice(at, with.iter().copied());
        v
    }

    #[test]
    fn each_kind_of_damage_is_refused_with_where_and_what() {
        let ok = two();
        refused(
            &spliced(&ok, 7..8, &[0x11]),
            1,
            7,
            "header byte 0x11 sets bits",
        );
        refused(&spliced(&ok, 0..1, &[0x80]), 0, 0, "header byte 0x80");
        // Truncated in each field of the second record.
        let fields = [
            (7, "header byte"),
            (8, "shared-prefix length"),
            (9, "path length"),
            (10, "path"),
            (11, "path"),
            (12, "size"),
            (13, "mtime delta"),
            (14, "inode delta"),
        ];
        for (cut, field) in fields {
            if cut == 7 {
                // Cut before a record: a list of one entry.
                assert_eq!(decode_bytes(&ok[..cut]).unwrap().len(), 1);
                continue;
            }
            let at = if field == "path" { 10 } else { cut };
            refused(
                &ok[..cut],
                1,
                at,
                &format!("the bytes end inside its {field}"),
            );
        }
        // A record whose ctime and target the header announces, but the bytes do not hold.
        refused(
            &spliced(&ok, 7..8, &[0x01 | HAS_CTIME]),
            1,
            15,
            "inside its ctime delta",
        );
        refused(
            &spliced(&ok, 7..8, &[0x02 | HAS_TARGET]),
            1,
            15,
            "inside its target length",
        );
        refused(
            &[
                ok.as_slice(),
                &[0x02 | HAS_TARGET, 1, 1, b'l', 0, 0, 0, 5, b'x'],
            ]
            .concat(),
            2,
            23,
            "inside its target",
        );
        // Varints: a size of 65 bits, one of 11 groups, one over-long (1 written in 2 groups).
        let size_at = |v: &[u8]| spliced(&ok, 4..5, v);
        refused(
            &size_at(&[0xff; 9].iter().copied().chain([0x02]).collect::<Vec<_>>()),
            0,
            4,
            "size varint does not fit in 64 bits",
        );
        refused(&size_at(&[0xff; 11]), 0, 4, "does not fit in 64 bits");
        refused(&size_at(&[0x81, 0x00]), 0, 4, "size varint is over-long");
        refused(
            &spliced(&ok, 13..14, &[0x86, 0x80, 0x00]),
            1,
            13,
            "mtime delta varint is over-long",
        );
        // The largest size is 9 groups of 7 bits and a tenth of 1.
        let max = size_at(&[0xff; 9].iter().copied().chain([0x01]).collect::<Vec<_>>());
        assert_eq!(
            decode_bytes(&max).unwrap().iter().next().unwrap().size,
            u64::MAX
        );
        // The shared prefix: longer than the previous path, inside a character of it, shorter
        // than what the paths share.
        refused(
            &spliced(&ok, 8..9, &[5]),
            1,
            8,
            "says it shares 5 bytes with the previous path, which has only 1",
        );
        let accented = Entries::from(vec![e("é", FsKind::Dir, 0, 0, 0)])
            .packed_bytes()
            .to_vec();
        refused(
            &[accented.as_slice(), &[0, 1, 1, 0xa9, 0, 0, 0]].concat(),
            1,
            9,
            "ends inside a character",
        );
        let a_then_ab = [&ok[..7], &[1, 0, 2, b'.', b'b', 4, 6, 6]].concat();
        refused(
            &a_then_ab,
            1,
            8,
            "says it shares 0 bytes with the previous path, which it shares 1 with",
        );
        // Not UTF-8: the path's rest, a target.
        refused(&spliced(&ok, 3..4, &[0xff]), 0, 3, "its path is not UTF-8");
        refused(
            &[
                ok.as_slice(),
                &[0x02 | HAS_TARGET, 0, 1, b'l', 0, 0, 0, 2, b'x', 0xc3],
            ]
            .concat(),
            2,
            24,
            "its target is not UTF-8",
        );
        // Not base64, or not as the standard engine writes it.
        for (text, says) in [
            ("AA%A", "Invalid symbol"),
            ("AAA", "Invalid padding"),
            ("AB==", "Invalid last symbol"),
            ("AAAA====", "Invalid"),
        ] {
            let err = decode(text).unwrap_err();
            assert!(matches!(err, PackedError::Base64(_)), "{text}: {err}");
            assert!(err.to_string().contains(says), "{text}: {err}");
        }
    }

    /// Deltas wrap (mtimes and inodes at their extremes, in any order): the record of a
    /// wrapped difference is what `push` writes, so it reads back; `awkward()` holds them.
    #[test]
    fn deltas_that_wrap_are_the_encoding_not_damage() {
        let v = vec![
            e("a", FsKind::File, 0, i64::MAX, u64::MAX),
            e("b", FsKind::File, 0, i64::MIN, 0),
            FsEntry {
                ctime_ns: Some(i64::MAX),
                ..e("c", FsKind::File, 0, i64::MIN, u64::MAX)
            },
        ];
        let packed = Entries::from(v.clone());
        assert_eq!(
            decode_bytes(packed.packed_bytes())
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            v
        );
    }

    /// Whatever a byte is changed to, the decoder refuses it or reads entries that push to
    /// exactly those bytes; cut anywhere, it reads whole records or says where the cut is.
    #[test]
    fn changed_and_cut_bytes_are_refused_or_canonical() {
        let bytes = Entries::from(every_kind()).packed_bytes().to_vec();
        let starts: Vec<usize> = {
            let mut s = vec![0];
            let mut e = Entries::new();
            for x in every_kind() {
                e.push(&x);
                s.push(e.packed_bytes().len());
            }
            s
        };
        for cut in 0..bytes.len() {
            match decode_bytes(&bytes[..cut]) {
                Ok(d) => assert_eq!(starts[d.len()], cut),
                Err(PackedError::Record {
                    what: Damage::Truncated(_),
                    ..
                }) => {
                    assert!(!starts.contains(&cut))
                }
                Err(other) => panic!("cut at {cut}: {other}"),
            }
        }
        let mut accepted = 0;
        for i in 0..bytes.len() {
            for x in [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff] {
                let mut m = bytes.clone();
                m[i] ^= x;
                if let Ok(d) = decode_bytes(&m) {
                    assert_eq!(d.packed_bytes(), m.as_slice(), "byte {i} ^ {x:#x}");
                    accepted += 1;
                }
            }
        }
        // Most single changes are other valid stamps (a size, an mtime): read, as the
        // list form would read a changed number; the plan_id then refuses the file.
        assert!(accepted > 0);
    }

    /// Any entries (paths of a few characters, so that many share prefixes, some of two
    /// bytes), packed, then one byte changed: refused, or read as exactly those bytes.
    fn entry() -> impl proptest::strategy::Strategy<Value = FsEntry> {
        use proptest::prelude::*;
        (
            "[a.é/]{0,5}",
            0u8..4,
            any::<u64>(),
            any::<i64>(),
            any::<u64>(),
            proptest::option::of(any::<i64>()),
            proptest::option::of("[xé]{0,3}"),
        )
            .prop_map(
                |(path, kind, size, mtime_ns, inode, ctime_ns, target)| FsEntry {
                    path,
                    kind: kind_of_code(kind),
                    size: size >> (size % 64),
                    mtime_ns,
                    inode,
                    target,
                    ctime_ns,
                },
            )
    }

    proptest::proptest! {
        #[test]
        fn changed_bytes_of_any_entries_are_refused_or_read_canonically(
            v in proptest::collection::vec(entry(), 1..12),
            at in proptest::num::usize::ANY,
            to in proptest::num::u8::ANY,
        ) {
            let packed = Entries::from(v.clone());
            proptest::prop_assert_eq!(decode_bytes(packed.packed_bytes()).unwrap().iter().collect::<Vec<_>>(), v);
            let mut m = packed.packed_bytes().to_vec();
            let at = at % m.len();
            m[at] = to;
            if let Ok(d) = decode_bytes(&m) {
                proptest::prop_assert_eq!(d.packed_bytes(), m.as_slice());
                let listed: Vec<FsEntry> = d.iter().collect();
                proptest::prop_assert_eq!(Entries::from(listed), d);
            }
        }
    }
}
