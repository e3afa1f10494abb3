//! The packed fingerprint entries of a plan file (fingerprint version 3): the bytes a user may
//! have damaged or crafted, read as `commit --plan` and `mount --plan` read them. No panic;
//! what is read is exactly what pushing its entries writes (so two files that read alike are
//! the same bytes and hash alike); every refusal names a record and a byte within the input;
//! the base64 text reads as its bytes do, and what it reads writes back as that very text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smstage::plan::fingerprint::packed::{self, PackedError};
use smstage::plan::fingerprint::{Entries, FsEntry};

fn check_bytes(data: &[u8]) -> Result<Entries, PackedError> {
    let read = packed::decode_bytes(data);
    match &read {
        Ok(entries) => {
            assert_eq!(entries.packed_bytes(), data, "read, but not as push writes it");
            let listed: Vec<FsEntry> = entries.iter().collect();
            assert_eq!(listed.len(), entries.len());
            let again: Entries = listed.iter().cloned().collect();
            assert_eq!(&again, entries, "pushed again, the entries differ");
            let mut lent = 0;
            entries.for_each_ref(|_| lent += 1);
            assert_eq!(lent, entries.len());
            let sorted = listed
                .windows(2)
                .all(|w| w[0].path.as_bytes() < w[1].path.as_bytes());
            assert_eq!(entries.is_sorted(), sorted);
            assert_eq!(
                entries.last_path(),
                listed.last().map_or("", |e| e.path.as_str())
            );
        }
        Err(PackedError::Record { byte, .. }) => {
            assert!(*byte <= data.len(), "byte {byte} past the input ({})", data.len());
        }
        Err(e @ PackedError::Base64(_)) => panic!("bytes refused as base64: {e}"),
    }
    read
}

fuzz_target!(|data: &[u8]| {
    let read = check_bytes(data);
    // The same bytes as the plan file carries them.
    let text = packed::encode(&read.as_ref().cloned().unwrap_or_default());
    if let Ok(entries) = &read {
        assert_eq!(packed::decode(&text).as_ref(), Ok(entries));
    }
    // The input as the text of the string itself: refused, or read back to that text.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(entries) = packed::decode(text) {
            assert_eq!(packed::encode(&entries), text, "base64 read but not canonical");
        }
    }
});
