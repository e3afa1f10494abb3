//! A serialized q object as a column file holds it (`ff 01` then the object: the input is the
//! object), read as check and verify read it: the header walk (type and row count, from the
//! first 4 KiB or the whole file) and the full decode. Where both succeed they must agree on
//! the row count; a decode that succeeds where the header walk refuses is a wrong verdict.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smstage::kdb::{self, FileFormat, MemSource};
use smstage::kdb::{KdbError, ReadAt};
use smstage_fuzz::check;

fuzz_target!(|data: &[u8]| {
    let mut file = vec![0xff, 0x01];
    file.extend_from_slice(data);
    let files = [("db/t/c".to_string(), file.as_slice())];
    let src = MemSource::new("db/t/c", file.as_slice());
    let header = kdb::read_header_from(&src);
    check(&header, &files);
    let open = |p: &str| -> Result<Box<dyn ReadAt>, KdbError> { smstage_fuzz::open(&files, p) };
    let column = kdb::read_column_from(&src, &open);
    check(&column, &files);
    if let Ok(c) = &column {
        for i in 0..c.data.len().min(2000) {
            let _ = c.data.fmt_value(i);
        }
        match &header {
            Ok(h) => {
                if h.format == FileFormat::Serialized {
                    assert_eq!(h.count, c.data.len() as u64, "header rows != decoded rows");
                }
            }
            Err(e) => panic!("the decode reads it, the header read refuses it: {e}"),
        }
    }
    // The object alone, wherever it starts (the decoder is also used inside nested items).
    let raw = kdb::column::decode_ipc("db/t/c", data, 0);
    if let Err(e) = &raw {
        let msg = e.to_string();
        assert!(msg.starts_with("db/t/c") && msg.contains("offset"), "{msg}");
    }
});
