//! `kxzipped` files: parse the block table in the trailer and decompress blocks (stored,
//! q IPC, gzip, snappy, lz4hc, zstd) back into the exact uncompressed file image.

use super::error::{hex, KdbError};
use super::source::{read_vec, ReadAt};
use super::types::Compression;
use std::io::Read;

/// First 8 bytes of a compressed file.
pub const MAGIC_ZIPPED: &[u8; 8] = b"kxzipped";
/// First 8 bytes of an encrypted file (not readable without the master key).
pub const MAGIC_ENCRYPTED: &[u8; 8] = b"kxzippEd";

/// Fixed part of the trailer, before the block entries.
const TRAILER_FIXED: u64 = 32;
/// Largest block count we accept; guards against allocating from garbage counts.
const MAX_BLOCKS: u64 = 1 << 32;

/// One compressed block as listed in the trailer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// Where its compressed bytes start in the file.
    pub offset: u64,
    pub compressed_len: u32,
    /// Its uncompressed length (the logical block size, less for the last block).
    pub uncompressed_len: u64,
    /// 0 stored, else the file's algorithm.
    pub algorithm: u8,
}

/// Everything the trailer says: the summary plus the block table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trailer {
    pub compression: Compression,
    pub blocks: Vec<Block>,
}

/// Read and cross-check the trailer of a `kxzipped` file: the stated trailer offset, the
/// sum of block lengths and the number of logical blocks must all agree with the file size.
pub fn read_compressed_trailer(src: &dyn ReadAt) -> Result<Trailer, KdbError> {
    let path = src.path();
    let len = src.len()?;
    let min = 8 + TRAILER_FIXED + 8;
    if len < min {
        return Err(KdbError::trailer(
            path,
            len,
            format!("file holds {len} bytes, a kxzipped file needs at least {min}"),
        ));
    }
    let mut magic = [0u8; 8];
    src.read_at(0, &mut magic)?;
    if &magic == MAGIC_ENCRYPTED {
        return Err(KdbError::Encrypted { path: path.into() });
    }
    if &magic != MAGIC_ZIPPED {
        return Err(KdbError::trailer(
            path,
            0,
            format!("expected magic kxzipped, found {}", hex(&magic)),
        ));
    }
    let mut nb = [0u8; 8];
    src.read_at(len - 8, &mut nb)?;
    let n = i64::from_le_bytes(nb);
    let room = (len - min) / 8;
    if n < 0 || n as u64 > room || n as u64 > MAX_BLOCKS {
        return Err(KdbError::trailer(
            path,
            len - 8,
            format!("block count {n} does not fit a file of {len} bytes (room for {room})"),
        ));
    }
    let n = n as u64;
    let trailer_start = len - 8 - 8 * n - TRAILER_FIXED;
    let tail = read_vec(src, trailer_start, (TRAILER_FIXED + 8 * n) as usize)?;
    // tail[0..4] is a format version (3, or 2 from older kdb+, per real files) and tail[6..8]
    // padding: neither changes how the blocks decode, so neither is checked. The file-level
    // algorithm is reported as stored; each block's own entry decides how it decodes.
    let algorithm = tail[4];
    let level = tail[5];
    let uncompressed_len = le_i64(&tail[8..16]);
    let stated_offset = le_i64(&tail[16..24]);
    let block_size = le_i64(&tail[24..32]);
    if stated_offset != trailer_start as i64 {
        return Err(KdbError::trailer(
            path,
            trailer_start + 16,
            format!("trailer says it starts at {stated_offset}, but {n} block entries put it at {trailer_start}"),
        ));
    }
    if uncompressed_len < 0 || block_size <= 0 {
        return Err(KdbError::trailer(
            path,
            trailer_start + 8,
            format!("uncompressed length {uncompressed_len} / block size {block_size} invalid"),
        ));
    }
    let (ulen, bsize) = (uncompressed_len as u64, block_size as u64);
    let want_blocks = ulen.div_ceil(bsize);
    if want_blocks != n {
        return Err(KdbError::trailer(
            path,
            trailer_start + 8,
            format!(
                "{ulen} bytes in blocks of {bsize} need {want_blocks} blocks, trailer lists {n}"
            ),
        ));
    }
    let mut blocks = Vec::with_capacity(n as usize);
    let mut offset = 8u64;
    for i in 0..n {
        let e = &tail[(TRAILER_FIXED + 8 * i) as usize..(TRAILER_FIXED + 8 * i + 8) as usize];
        let clen = le_i32(&e[0..4]);
        let balg = le_i32(&e[4..8]);
        // An algorithm number we do not know (6..=255) is left to decompress_block to report
        // as unsupported; a negative length or an algorithm beyond a byte cannot be kdb+'s.
        if clen < 0 || !(0..=255).contains(&balg) {
            return Err(KdbError::trailer(
                path,
                trailer_start + TRAILER_FIXED + 8 * i,
                format!("block {i}: length {clen}, algorithm {balg}"),
            ));
        }
        let uncompressed_len = bsize.min(ulen - i * bsize);
        blocks.push(Block {
            offset,
            compressed_len: clen as u32,
            uncompressed_len,
            algorithm: balg as u8,
        });
        offset += clen as u64;
    }
    if offset != trailer_start {
        return Err(KdbError::trailer(
            path,
            trailer_start + TRAILER_FIXED,
            format!("blocks end at {offset} but the trailer starts at {trailer_start}"),
        ));
    }
    Ok(Trailer {
        compression: Compression {
            algorithm,
            level,
            uncompressed_len: ulen,
            block_size: bsize,
            blocks: n,
        },
        blocks,
    })
}

/// Decompress block `index` of the file.
pub fn decompress_block(
    src: &dyn ReadAt,
    trailer: &Trailer,
    index: usize,
) -> Result<Vec<u8>, KdbError> {
    let b = trailer.blocks.get(index).ok_or_else(|| {
        KdbError::trailer(
            src.path(),
            0,
            format!(
                "block {index} asked, trailer lists {}",
                trailer.blocks.len()
            ),
        )
    })?;
    let raw = read_vec(src, b.offset, b.compressed_len as usize)?;
    let out_len = usize::try_from(b.uncompressed_len).map_err(|_| {
        KdbError::unsupported(src.path(), b.offset, &[], "block larger than memory")
    })?;
    decompress_bytes(b.algorithm, &raw, out_len).map_err(|f| match f {
        BlockFail::Corrupt(detail) => KdbError::Decompress {
            path: src.path().into(),
            block: index as u64,
            offset: b.offset,
            algorithm: b.algorithm,
            detail,
        },
        BlockFail::Unsupported { at, bytes, detail } => KdbError::unsupported(
            src.path(),
            b.offset + at,
            &bytes,
            format!("block {index} (algorithm {}): {detail}", b.algorithm),
        ),
    })
}

/// The whole uncompressed file image; its length is checked against the trailer.
pub fn decompress_all(src: &dyn ReadAt) -> Result<Vec<u8>, KdbError> {
    let t = read_compressed_trailer(src)?;
    let total = usize::try_from(t.compression.uncompressed_len)
        .map_err(|_| KdbError::unsupported(src.path(), 0, &[], "file larger than memory"))?;
    // Grown block by block: the trailer's length is checked, not trusted for allocation.
    let mut out = Vec::new();
    for i in 0..t.blocks.len() {
        out.extend_from_slice(&decompress_block(src, &t, i)?);
    }
    if out.len() != total {
        return Err(KdbError::trailer(
            src.path(),
            8,
            format!(
                "trailer says {total} bytes uncompressed, blocks gave {}",
                out.len()
            ),
        ));
    }
    Ok(out)
}

/// Why one block does not decompress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockFail {
    /// The bytes cannot be what kdb+ wrote.
    Corrupt(String),
    /// Well-formed bytes of a variant this reader does not decode; `at` is relative to the
    /// block's first byte.
    Unsupported {
        at: u64,
        bytes: Vec<u8>,
        detail: String,
    },
}

impl From<String> for BlockFail {
    fn from(s: String) -> Self {
        BlockFail::Corrupt(s)
    }
}

/// Decompress one block's bytes with `algorithm`, insisting on exactly `out_len` bytes out.
pub fn decompress_bytes(algorithm: u8, input: &[u8], out_len: usize) -> Result<Vec<u8>, BlockFail> {
    let out = match algorithm {
        0 => input.to_vec(),
        1 => q_ipc_block(input, out_len)?,
        2 => {
            let mut out = Vec::with_capacity(out_len.min(input.len().saturating_mul(8)));
            // `take` bounds the output so a corrupt stream cannot balloon memory.
            flate2::read::ZlibDecoder::new(input)
                .take(out_len as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("zlib: {e}"))?;
            out
        }
        3 => {
            // The stream states its length first; the decoder allocates that much, so it
            // must be the block's length before anything is decoded.
            let n = snap::raw::decompress_len(input).map_err(|e| format!("snappy: {e}"))?;
            if n != out_len {
                return Err(BlockFail::Corrupt(format!(
                    "snappy stream says {n} bytes, the block holds {out_len}"
                )));
            }
            snap::raw::Decoder::new()
                .decompress_vec(input)
                .map_err(|e| format!("snappy: {e}"))?
        }
        4 => {
            // An LZ4 sequence expands at most ~255 times; a longer claim is not LZ4 output
            // and must not size an allocation.
            if out_len > input.len().saturating_mul(256).saturating_add(64) {
                return Err(BlockFail::Corrupt(format!(
                    "{} lz4 bytes cannot expand to {out_len}",
                    input.len()
                )));
            }
            lz4_flex::block::decompress(input, out_len).map_err(|e| format!("lz4: {e}"))?
        }
        5 => {
            let mut out = Vec::with_capacity(out_len.min(input.len().saturating_mul(8)));
            zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| format!("zstd: {e}"))?
                .take(out_len as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("zstd: {e}"))?;
            out
        }
        a => {
            return Err(BlockFail::Unsupported {
                at: 0,
                bytes: input[..input.len().min(8)].to_vec(),
                detail: format!("compression algorithm {a} (this reader knows 0..=5)"),
            })
        }
    };
    if out.len() != out_len {
        return Err(BlockFail::Corrupt(format!(
            "expected {out_len} bytes uncompressed, got {}",
            out.len()
        )));
    }
    Ok(out)
}

/// Length of the IPC message framing in front of an algorithm-1 stream.
pub const IPC_FRAME: usize = 12;

/// An algorithm-1 block is a whole compressed q IPC message, as `-18!` makes it (checked on
/// `advkdb-ipc/2019.03.17/Trade/price`): 8-byte message header (byte 0 endianness, 1 little;
/// byte 2 compressed flag 1; bytes 4..8 the message length, i.e. the block length), an int32
/// uncompressed message length (the block's bytes + the 8 header bytes), then the stream.
/// Only the uncompressed length changes how the stream decodes, so only it is insisted on.
fn q_ipc_block(input: &[u8], out_len: usize) -> Result<Vec<u8>, BlockFail> {
    let frame = input.get(..IPC_FRAME).ok_or_else(|| {
        BlockFail::Corrupt(format!(
            "{} bytes cannot hold the {IPC_FRAME}-byte IPC message framing",
            input.len()
        ))
    })?;
    let stated = match frame[0] {
        1 => i32::from_le_bytes([frame[8], frame[9], frame[10], frame[11]]),
        0 => i32::from_be_bytes([frame[8], frame[9], frame[10], frame[11]]),
        _ => {
            return Err(BlockFail::Unsupported {
                at: 0,
                bytes: frame[..4].to_vec(),
                detail: "IPC message header with an endianness byte other than 0 or 1".into(),
            })
        }
    };
    if frame[2] != 1 {
        return Err(BlockFail::Unsupported {
            at: 2,
            bytes: frame[..4].to_vec(),
            detail: "algorithm-1 block whose IPC message header is not flagged compressed".into(),
        });
    }
    if i64::from(stated) != out_len as i64 + 8 {
        return Err(BlockFail::Corrupt(format!(
            "IPC framing says {stated} bytes uncompressed (with its 8-byte header), the block holds {out_len}"
        )));
    }
    q_ipc_decompress(&input[IPC_FRAME..], out_len).map_err(BlockFail::Corrupt)
}

/// The q IPC decompressor (kdb+'s LZ-style scheme). A control byte precedes every 8 items;
/// bit set: a back-reference `[hash][extra]` copying 2+extra bytes from the last position
/// whose byte pair hashed (XOR) to `hash`; bit clear: one literal byte. The hash table is
/// rebuilt from the output exactly as the compressor built it, so it is never transmitted.
pub fn q_ipc_decompress(input: &[u8], out_len: usize) -> Result<Vec<u8>, String> {
    // Grown as bytes are produced, never sized from the (untrusted) length alone.
    let mut dst: Vec<u8> = Vec::with_capacity(out_len.min(input.len().saturating_mul(16)));
    let mut table = [0usize; 256];
    let (mut s, mut p, mut d) = (0usize, 0usize, 0usize);
    let mut flags = 0u8;
    let mut bit: u32 = 0;
    let next = |d: &mut usize| -> Result<u8, String> {
        let b = *input
            .get(*d)
            .ok_or_else(|| format!("input ended at byte {} of {}", *d, input.len()))?;
        *d += 1;
        Ok(b)
    };
    while s < out_len {
        if bit == 0 {
            flags = next(&mut d)?;
            bit = 1;
        }
        let is_ref = u32::from(flags) & bit != 0;
        let mut extra = 0usize;
        if is_ref {
            let r = table[next(&mut d)? as usize];
            extra = next(&mut d)? as usize;
            if r + 1 >= s.max(1) || s + 2 + extra > out_len {
                return Err(format!(
                    "back-reference to {r} (+{} bytes) at output {s} of {out_len}",
                    2 + extra
                ));
            }
            // Forward byte-by-byte copy: the source may overlap the bytes being written.
            for k in 0..2 + extra {
                let b = dst[r + k];
                dst.push(b);
            }
            s += 2;
        } else {
            dst.push(next(&mut d)?);
            s += 1;
        }
        while p + 1 < s {
            table[(dst[p] ^ dst[p + 1]) as usize] = p;
            p += 1;
        }
        if is_ref {
            s += extra;
            p = s;
        }
        bit <<= 1;
        if bit == 256 {
            bit = 0;
        }
    }
    Ok(dst)
}

fn le_i32(b: &[u8]) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    i32::from_le_bytes(a)
}

fn le_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_le_bytes(a)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kdb::source::MemSource;
    use std::io::Write;

    /// Build a kxzipped image from already-compressed blocks.
    pub(crate) fn zipped(
        algorithm: u8,
        block_size: u64,
        ulen: u64,
        blocks: &[(Vec<u8>, u8)],
    ) -> Vec<u8> {
        let mut f = MAGIC_ZIPPED.to_vec();
        for (b, _) in blocks {
            f.extend_from_slice(b);
        }
        let start = f.len() as i64;
        f.extend_from_slice(&3i32.to_le_bytes());
        f.extend_from_slice(&[algorithm, 6, 0, 0]);
        f.extend_from_slice(&(ulen as i64).to_le_bytes());
        f.extend_from_slice(&start.to_le_bytes());
        f.extend_from_slice(&(block_size as i64).to_le_bytes());
        for (b, a) in blocks {
            f.extend_from_slice(&(b.len() as i32).to_le_bytes());
            f.extend_from_slice(&(*a as i32).to_le_bytes());
        }
        f.extend_from_slice(&(blocks.len() as i64).to_le_bytes());
        f
    }

    /// Compress `data` in blocks of `bs` with `algorithm`.
    pub(crate) fn zip_with(algorithm: u8, bs: usize, data: &[u8]) -> Vec<u8> {
        let blocks: Vec<(Vec<u8>, u8)> = data
            .chunks(bs)
            .map(|c| {
                let b = match algorithm {
                    0 => c.to_vec(),
                    // kdb+ stores a block raw (block algorithm 0) when IPC compression gives up.
                    1 => match crate::kdb::zip::ipc_compress(c) {
                        Some(b) => b,
                        None => return (c.to_vec(), 0),
                    },
                    2 => {
                        let mut e = flate2::write::ZlibEncoder::new(
                            Vec::new(),
                            flate2::Compression::default(),
                        );
                        e.write_all(c).unwrap();
                        e.finish().unwrap()
                    }
                    3 => snap::raw::Encoder::new().compress_vec(c).unwrap(),
                    4 => lz4_flex::block::compress(c),
                    5 => zstd::bulk::compress(c, 3).unwrap(),
                    _ => unreachable!(),
                };
                (b, algorithm)
            })
            .collect();
        zipped(algorithm, bs as u64, data.len() as u64, &blocks)
    }

    fn sample(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| ((i * 7) % 13 + (i / 100) % 3) as u8)
            .collect()
    }

    #[test]
    fn q_ipc_known_vector() {
        // Hand-assembled: literals a b c, then a back-reference to "ab" (hash a^b = 3)
        // extended by 4 overlapping bytes; control byte 0b0000_1000.
        let stream = [0x08, b'a', b'b', b'c', 0x03, 0x04];
        assert_eq!(q_ipc_decompress(&stream, 9).unwrap(), b"abcabcabc");
        // The same stream cannot produce more bytes than it encodes.
        assert!(q_ipc_decompress(&stream, 10).is_err());
    }

    #[test]
    fn q_ipc_round_trips_and_compresses() {
        let data = sample(10_000);
        let c = crate::kdb::zip::ipc_compress(&data).unwrap();
        assert!(c.len() < data.len() / 2, "{} vs {}", c.len(), data.len());
        assert_eq!(&c[..4], &[1, 0, 1, 0]);
        assert_eq!(le_i32(&c[4..8]) as usize, c.len());
        assert_eq!(le_i32(&c[8..12]) as usize, data.len() + 8);
        assert_eq!(decompress_bytes(1, &c, data.len()).unwrap(), data);
        let text =
            b"the quick brown fox jumps over the lazy dog; the quick brown fox again".repeat(5);
        let c = crate::kdb::zip::ipc_compress(&text).unwrap();
        assert_eq!(decompress_bytes(1, &c, text.len()).unwrap(), text);
    }

    #[test]
    fn q_ipc_rejects_bad_reference() {
        // A back-reference as the very first item points nowhere.
        assert!(q_ipc_decompress(&[0x01, 0x00, 0x00], 2).is_err());
        // Input ends early.
        assert!(q_ipc_decompress(&[0x00, b'a'], 2).is_err());
    }

    #[test]
    fn q_ipc_framing_is_checked() {
        let data = sample(5000);
        let good = crate::kdb::zip::ipc_compress(&data).unwrap();
        // The uncompressed length decides the decode: a wrong one is corruption.
        let mut b = good.clone();
        b[8..12].copy_from_slice(&((data.len() + 9) as i32).to_le_bytes());
        assert!(matches!(
            decompress_bytes(1, &b, data.len()),
            Err(BlockFail::Corrupt(_))
        ));
        // The message length does not change how the stream decodes.
        let mut b = good.clone();
        b[4..8].copy_from_slice(&7i32.to_le_bytes());
        assert_eq!(decompress_bytes(1, &b, data.len()).unwrap(), data);
        // An IPC message not flagged compressed is a variant we do not decode, not corrupt.
        let mut b = good.clone();
        b[2] = 0;
        assert!(matches!(
            decompress_bytes(1, &b, data.len()),
            Err(BlockFail::Unsupported { at: 2, .. })
        ));
        assert!(matches!(
            decompress_bytes(1, &good[..5], data.len()),
            Err(BlockFail::Corrupt(_))
        ));
        // An algorithm number past 5 is unknown to us, not proof of damage.
        assert!(matches!(
            decompress_bytes(9, &good, data.len()),
            Err(BlockFail::Unsupported { .. })
        ));
    }

    #[test]
    fn every_algorithm_round_trips_through_a_file_image() {
        let data = sample(70_000);
        for alg in 0..=5u8 {
            let img = zip_with(alg, 65536, &data);
            let src = MemSource::new(format!("alg{alg}"), img);
            let t = read_compressed_trailer(&src).unwrap();
            assert_eq!(t.compression.algorithm, alg);
            assert_eq!(t.compression.blocks, 2);
            assert_eq!(t.blocks[1].uncompressed_len, 70_000 - 65536);
            assert_eq!(decompress_all(&src).unwrap(), data, "algorithm {alg}");
            assert_eq!(decompress_block(&src, &t, 1).unwrap(), data[65536..]);
        }
    }

    #[test]
    fn fields_that_do_not_change_decoding_are_not_checked() {
        let data = sample(70_000);
        let img = zip_with(2, 65536, &data);
        let t = img.len() - 8 - 2 * 8 - 32;
        for (at, v) in [(t, 2u8), (t, 1), (t + 4, 9), (t + 6, 0xaa), (t + 7, 0x55)] {
            let mut m = img.clone();
            m[at] = v;
            let src = MemSource::new("m", m);
            assert_eq!(decompress_all(&src).unwrap(), data, "byte {} = {v}", at - t);
        }
        // A block algorithm number past 5: a variant we do not decode, at that block.
        let mut m = img.clone();
        let e1 = img.len() - 8 - 8 + 4;
        m[e1] = 6;
        let e = decompress_all(&MemSource::new("m", m)).unwrap_err();
        assert!(
            matches!(e, KdbError::Unsupported { offset, .. } if offset > 8),
            "{e}"
        );
    }

    #[test]
    fn corrupt_trailers_are_errors() {
        let data = sample(1000);
        let img = zip_with(2, 65536, &data);
        // Truncated: the last bytes (block count) are gone.
        let cut = MemSource::new("cut", img[..img.len() - 3].to_vec());
        let e = read_compressed_trailer(&cut).unwrap_err();
        assert!(matches!(e, KdbError::CorruptTrailer { .. }), "{e}");
        // A block count too large for the file.
        let mut bad = img.clone();
        let n = bad.len();
        bad[n - 8..].copy_from_slice(&1000i64.to_le_bytes());
        let e = read_compressed_trailer(&MemSource::new("bad", bad)).unwrap_err();
        assert!(e.to_string().contains("corrupt kxzipped trailer"), "{e}");
        // Uncompressed length that disagrees with the blocks.
        let mut bad = img.clone();
        let t = n - 8 - 8 - 32;
        bad[t + 8..t + 16].copy_from_slice(&999i64.to_le_bytes());
        let e = decompress_all(&MemSource::new("len", bad)).unwrap_err();
        assert!(matches!(e, KdbError::Decompress { .. }), "{e}");
        // Garbage inside the compressed block.
        let mut bad = img.clone();
        for b in &mut bad[10..30] {
            *b ^= 0x5a;
        }
        assert!(decompress_all(&MemSource::new("garbage", bad)).is_err());
    }

    #[test]
    fn encrypted_magic_is_reported() {
        let mut img = zip_with(0, 65536, &sample(100));
        img[..8].copy_from_slice(MAGIC_ENCRYPTED);
        let e = read_compressed_trailer(&MemSource::new("enc", img)).unwrap_err();
        assert!(matches!(e, KdbError::Encrypted { .. }), "{e}");
    }
}
