//! A symbol list (the root `sym`, a partition's `.d`, a nested column's `col##`): plain,
//! `kxzipped` or serialized, read as the inventory reads domains and `.d` files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smstage::kdb::{self, MemSource};
use smstage_fuzz::check;

fuzz_target!(|data: &[u8]| {
    let files = [("db/sym".to_string(), data)];
    let src = MemSource::new("db/sym", data);
    let syms = kdb::read_symbols_from(&src);
    check(&syms, &files);
    check(&kdb::symbols::read_image(&src), &files);
    // The plain-list parser alone (what a decompressed image goes through).
    check(&kdb::parse_symbols("db/sym", data), &files);
    check(&kdb::read_header_from(&src), &files);
});
