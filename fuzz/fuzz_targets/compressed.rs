//! A `kxzipped` file: the trailer, each block (qipc, gzip, snappy, lz4, zstd, stored),
//! the whole-file decompression (header reads, symbol lists, whole decodes) and the
//! block-at-a-time [`Image`] the chunked deep decode reads through. Both must give the same
//! image, or both refuse it with the same verdict. An input that does not start `kxzipped`
//! goes to the block decompressor alone: byte 0 the algorithm, bytes 1..4 the uncompressed
//! length (at most 16 MiB, as a trailer's block size would bound it), the rest the block.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smstage::kdb::{self, chunked::Image, unzip, MemSource};
use smstage_fuzz::check;

/// Bytes of the image read through `Image`: beyond this a seed was not small.
const READ_CAP: u64 = 32 << 20;

fuzz_target!(|data: &[u8]| {
    if !data.starts_with(b"kxzipped") {
        raw_block(data);
        return;
    }
    let files = [("db/2024.01.02/t/c".to_string(), data)];
    let src = MemSource::new("db/2024.01.02/t/c", data);
    check(&unzip::read_compressed_trailer(&src), &files);
    let all = unzip::decompress_all(&src);
    check(&all, &files);
    check(&kdb::read_header_from(&src), &files);

    // Sequential reads of odd sizes, crossing block boundaries, as chunks do.
    let streamed = Image::open(&src).and_then(|mut img| {
        let len = img.len();
        let mut out = Vec::new();
        let mut at = 0u64;
        while at < len && at < READ_CAP {
            let n = (len - at).min(4099) as usize;
            let mut buf = vec![0u8; n];
            img.read_at(at, &mut buf)?;
            out.extend_from_slice(&buf);
            at += n as u64;
        }
        img.check_unread_blocks()?;
        Ok((out, at >= len))
    });
    check(&streamed, &files);
    match (&all, &streamed) {
        (Ok(a), Ok((s, whole))) => {
            if *whole {
                assert!(a == s, "Image bytes differ from decompress_all's");
            }
        }
        (Err(a), Err(s)) => assert_eq!(
            a.is_corrupt(),
            s.is_corrupt(),
            "verdicts differ: decompress_all {a} / Image {s}"
        ),
        (Ok(_), Err(s)) => panic!("decompress_all reads it, Image fails: {s}"),
        (Err(a), Ok(_)) => panic!("Image reads it, decompress_all fails: {a}"),
    }
});

fn raw_block(data: &[u8]) {
    if data.len() < 4 {
        return;
    }
    let alg = data[0] % 8;
    let out_len = u32::from_le_bytes([data[1], data[2], data[3], 0]) as usize;
    if let Ok(v) = unzip::decompress_bytes(alg, &data[4..], out_len) {
        assert_eq!(v.len(), out_len, "algorithm {alg}: wrong length accepted");
    }
}
