//! The `plan_id` of a plan file read as `plan --save` wrote it, from its bytes as they stream
//! past the parser: an unedited file is exactly the canonical serialisation `plan_id` hashes,
//! with the `"plan_id":"…",` member after `"version"` and a newline at the end. Hashing
//! those bytes costs one sha256 pass (~0.1 s for the 173 MB file of 1.1M entries) where
//! serialising the parsed plan and fingerprint again to hash them cost 0.37 s.
//!
//! Equal to the recorded `plan_id` only if the bytes are the ones hashed at save time; then
//! they parse to the saved plan and fingerprint. Any other file (edited, re-spaced, members
//! reordered) gives another id or none, and the canonical `plan_id` is computed as before.

use super::saved::{PLAN_FILE_FORMAT, PLAN_FILE_VERSION};
use sha2::{Digest, Sha256};
use std::io::Read;

const ID_MEMBER: &str = "\"plan_id\":\"";
const HEX_LEN: usize = 64;

/// A reader that hashes what passes through it, the `plan_id` member and the final newline
/// left out.
pub struct RawIdReader<R> {
    inner: R,
    /// `{"format":"smstage-plan","version":1,"plan_id":"`: what the file must start with.
    prefix: Vec<u8>,
    /// The first bytes, until the member has been seen whole.
    head: Vec<u8>,
    state: State,
    hasher: Sha256,
    /// The last byte read, hashed once more follow (the file's final newline is not hashed).
    held: Option<u8>,
    recorded: String,
}

#[derive(PartialEq, Eq)]
enum State {
    Head,
    Body,
    /// The file does not start as `plan --save` writes it: no raw id.
    Other,
}

impl<R: Read> RawIdReader<R> {
    pub fn new(inner: R) -> RawIdReader<R> {
        RawIdReader {
            inner,
            prefix: format!(
                "{{\"format\":\"{PLAN_FILE_FORMAT}\",\"version\":{PLAN_FILE_VERSION},{ID_MEMBER}"
            )
            .into_bytes(),
            head: Vec::new(),
            state: State::Head,
            hasher: Sha256::new(),
            held: None,
            recorded: String::new(),
        }
    }

    /// The id of the bytes read (all of them: call after the parser reached the end), if the
    /// file starts as `plan --save` writes it, with the `plan_id` it records.
    pub fn finish(mut self) -> Option<(String, String)> {
        if self.state != State::Body {
            return None;
        }
        if let Some(b) = self.held.take().filter(|b| *b != b'\n') {
            self.hasher.update([b]);
        }
        Some((super::saved::hex(self.hasher), self.recorded))
    }

    fn body(&mut self, bytes: &[u8]) {
        let Some((&last, rest)) = bytes.split_last() else {
            return;
        };
        if let Some(b) = self.held {
            self.hasher.update([b]);
        }
        self.hasher.update(rest);
        self.held = Some(last);
    }

    fn head(&mut self, bytes: &[u8]) {
        self.head.extend_from_slice(bytes);
        let member_end = self.prefix.len() + HEX_LEN + 2;
        if self.head.len() < member_end {
            return;
        }
        let head = std::mem::take(&mut self.head);
        let id = &head[self.prefix.len()..self.prefix.len() + HEX_LEN];
        if !head.starts_with(&self.prefix)
            || !id.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            || &head[member_end - 2..member_end] != b"\","
        {
            self.state = State::Other;
            return;
        }
        self.recorded = String::from_utf8_lossy(id).into_owned();
        self.state = State::Body;
        let kept = self.prefix.len() - ID_MEMBER.len();
        self.hasher.update(&head[..kept]);
        self.body(&head[member_end..]);
    }
}

impl<R: Read> Read for RawIdReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        match self.state {
            State::Head => self.head(&buf[..n]),
            State::Body => self.body(&buf[..n]),
            State::Other => {}
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `bytes` through the hasher in pieces of `chunk` bytes (the parser's reads are of
    /// any size) and returns what it says.
    fn raw_id(bytes: &[u8], chunk: usize) -> Option<(String, String)> {
        struct Chunked<'a>(&'a [u8], usize);
        impl Read for Chunked<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(self.1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut r = RawIdReader::new(Chunked(bytes, chunk));
        std::io::copy(&mut r, &mut std::io::sink()).unwrap();
        r.finish()
    }

    #[test]
    fn an_unedited_file_hashes_to_its_plan_id_in_reads_of_any_size() {
        // Of every fingerprint version: the packed entries of version 3 are one string,
        // hashed as it streams past like any other bytes, never serialised again.
        for saved in [1, 2, 3].map(crate::plan::saved::tests::varied) {
            let bytes = saved.to_bytes();
            for chunk in [1, 7, 64, 100, 1 << 20] {
                let (id, recorded) = raw_id(&bytes, chunk).unwrap();
                assert_eq!(id, saved.plan_id, "reads of {chunk} bytes");
                assert_eq!(recorded, saved.plan_id);
            }
            // Without its final newline too.
            let (id, _) = raw_id(&bytes[..bytes.len() - 1], 5).unwrap();
            assert_eq!(id, saved.plan_id);
        }
    }

    #[test]
    fn an_edited_or_respaced_file_does_not() {
        for saved in [2, 3].map(crate::plan::saved::tests::varied) {
            let bytes = saved.to_bytes();
            // One byte of the fingerprint's entries changed (a size in the list, a character
            // of the packed string): another id (the canonical one is then computed, and
            // refuses the file).
            let text = String::from_utf8(bytes.clone()).unwrap();
            let edited = text.replacen("\"size\":96", "\"size\":97", 1).replacen(
                "\"entries\":\"AAAB",
                "\"entries\":\"AAAC",
                1,
            );
            assert_ne!(edited, text);
            let (id, recorded) = raw_id(edited.as_bytes(), 33).unwrap();
            assert_ne!(id, recorded);
            assert_eq!(recorded, saved.plan_id);
            // Pretty-printed, or shorter than the member: no raw id at all.
            let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let pretty = serde_json::to_vec_pretty(&value).unwrap();
            assert_eq!(raw_id(&pretty, 4096), None);
        }
        assert_eq!(raw_id(b"{\"format\":\"smstage-plan\"}", 3), None);
    }
}
