//! Compressors that wrap a file image into a `kxzipped` container, as kdb+ `set` with
//! compression parameters does (trailer layout in docs/kdb-format.md).
//!
//! Block sizes, trailer fields and the "store a block raw when compressing does not pay" rule
//! were checked against kdb+ 4.x files; with gzip at the same level the blocks themselves are
//! byte-identical to kdb+'s when flate2 uses the system zlib (see docs/generator.md).

use std::io::Write;

use thiserror::Error;

/// Algorithm numbers of the `kxzipped` trailer.
pub const ALG_STORED: u8 = 0;
pub const ALG_QIPC: u8 = 1;
pub const ALG_GZIP: u8 = 2;
pub const ALG_SNAPPY: u8 = 3;
pub const ALG_LZ4HC: u8 = 4;
pub const ALG_ZSTD: u8 = 5;

/// Magic of a compressed file.
pub const ZIP_MAGIC: &[u8; 8] = b"kxzipped";

/// kdb+'s default logical block size exponent (2^17 = 128 KiB).
pub const DEFAULT_BLOCK_LOG2: u8 = 17;

#[derive(Debug, Error)]
pub enum ZipError {
    #[error("unknown compression algorithm {0} (expected 0..=5)")]
    UnknownAlgorithm(u8),
    #[error("logical block size 2^{0} out of range (kdb+ accepts 12..=20)")]
    BlockSize(u8),
    #[error("compression level {level} invalid for algorithm {algorithm}")]
    Level { algorithm: u8, level: u8 },
    #[error("{algorithm} compressor failed: {source}")]
    Compressor {
        algorithm: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt q IPC compressed block: {0}")]
    CorruptIpc(&'static str),
}

/// The parameters q takes as `(file;logicalBlockSize;algorithm;level)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZipParams {
    pub algorithm: u8,
    pub level: u8,
    pub block_log2: u8,
}

impl ZipParams {
    pub fn new(algorithm: u8, level: u8) -> ZipParams {
        ZipParams {
            algorithm,
            level,
            block_log2: DEFAULT_BLOCK_LOG2,
        }
    }

    /// The level kdb+ users most often pass for each algorithm (gzip 6 as in the fixtures).
    pub fn default_level(algorithm: u8) -> u8 {
        match algorithm {
            ALG_GZIP => 6,
            ALG_LZ4HC => 9,
            ALG_ZSTD => 3,
            _ => 0,
        }
    }

    fn validate(&self) -> Result<(), ZipError> {
        if self.algorithm > ALG_ZSTD {
            return Err(ZipError::UnknownAlgorithm(self.algorithm));
        }
        // q rejects logical block sizes outside 2^12..2^20.
        if !(12..=20).contains(&self.block_log2) {
            return Err(ZipError::BlockSize(self.block_log2));
        }
        let max = match self.algorithm {
            ALG_GZIP => 9,
            ALG_LZ4HC => 16,
            ALG_ZSTD => 22,
            _ => 0,
        };
        if self.level > max {
            return Err(ZipError::Level {
                algorithm: self.algorithm,
                level: self.level,
            });
        }
        Ok(())
    }
}

/// Wrap `image` (a complete uncompressed file: `fe 20…`, `fd 20…`, `ff 01…`) into a
/// `kxzipped` file. A block whose compressed form is not smaller than the block is stored raw
/// with block algorithm 0, as kdb+ does (seen on a 20-byte `.d` in the fixtures).
pub fn compress(image: &[u8], params: ZipParams) -> Result<Vec<u8>, ZipError> {
    params.validate()?;
    let block = 1usize << params.block_log2;
    let mut out = Vec::with_capacity(image.len() / 2 + 64);
    out.extend_from_slice(ZIP_MAGIC);
    let mut entries: Vec<(u32, u32)> = Vec::with_capacity(image.len() / block + 1);
    for chunk in image.chunks(block) {
        let packed = compress_block(params.algorithm, params.level, chunk)?;
        match packed {
            Some(p) if p.len() < chunk.len() => {
                entries.push((p.len() as u32, params.algorithm as u32));
                out.extend_from_slice(&p);
            }
            _ => {
                entries.push((chunk.len() as u32, ALG_STORED as u32));
                out.extend_from_slice(chunk);
            }
        }
    }
    let trailer_at = out.len() as u64;
    out.extend_from_slice(&3i32.to_le_bytes());
    out.push(params.algorithm);
    out.push(params.level);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(image.len() as u64).to_le_bytes());
    out.extend_from_slice(&trailer_at.to_le_bytes());
    out.extend_from_slice(&(block as u64).to_le_bytes());
    for (len, alg) in &entries {
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&alg.to_le_bytes());
    }
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    Ok(out)
}

/// [`compress`] as a stream: bytes are gathered into one logical block, each full block is
/// compressed and written as soon as it fills, and [`BlockWriter::finish`] writes the trailer.
/// The output is byte-identical to `compress` of the whole image (tested), while memory holds
/// one block in, one compressed block and 8 bytes per block for the trailer's table, whatever
/// the file's size.
pub struct BlockWriter<W: Write> {
    out: W,
    params: ZipParams,
    block: Vec<u8>,
    block_size: usize,
    entries: Vec<(u32, u32)>,
    /// Bytes written so far: the magic and the compressed blocks.
    written: u64,
    /// Uncompressed bytes taken so far.
    image_len: u64,
}

impl<W: Write> BlockWriter<W> {
    /// Checks the parameters and writes the magic.
    pub fn new(mut out: W, params: ZipParams) -> Result<BlockWriter<W>, ZipError> {
        params.validate()?;
        out.write_all(ZIP_MAGIC)
            .map_err(|source| ZipError::Compressor {
                algorithm: "output",
                source,
            })?;
        let block_size = 1usize << params.block_log2;
        Ok(BlockWriter {
            out,
            params,
            block: Vec::with_capacity(block_size),
            block_size,
            entries: Vec::new(),
            written: ZIP_MAGIC.len() as u64,
            image_len: 0,
        })
    }

    /// Uncompressed bytes taken so far.
    pub fn image_len(&self) -> u64 {
        self.image_len
    }

    fn flush_block(&mut self) -> std::io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let packed = compress_block(self.params.algorithm, self.params.level, &self.block)
            .map_err(std::io::Error::other)?;
        let (bytes, alg) = match &packed {
            Some(p) if p.len() < self.block.len() => (p.as_slice(), self.params.algorithm),
            _ => (self.block.as_slice(), ALG_STORED),
        };
        self.out.write_all(bytes)?;
        self.entries.push((bytes.len() as u32, alg as u32));
        self.written += bytes.len() as u64;
        self.block.clear();
        Ok(())
    }

    /// Compresses the last (partial) block, writes the trailer and returns the output.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.flush_block()?;
        let mut t = Vec::with_capacity(40 + 8 * self.entries.len());
        t.extend_from_slice(&3i32.to_le_bytes());
        t.push(self.params.algorithm);
        t.push(self.params.level);
        t.extend_from_slice(&[0, 0]);
        t.extend_from_slice(&self.image_len.to_le_bytes());
        t.extend_from_slice(&self.written.to_le_bytes());
        t.extend_from_slice(&(self.block_size as u64).to_le_bytes());
        for (len, alg) in &self.entries {
            t.extend_from_slice(&len.to_le_bytes());
            t.extend_from_slice(&alg.to_le_bytes());
        }
        t.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        self.out.write_all(&t)?;
        Ok(self.out)
    }
}

impl<W: Write> Write for BlockWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.block_size - self.block.len());
        self.block.extend_from_slice(&buf[..n]);
        self.image_len += n as u64;
        if self.block.len() == self.block_size {
            self.flush_block()?;
        }
        Ok(n)
    }

    /// Flushes the output only: a partial block stays until it fills or `finish`, since
    /// every block but the last must be a whole logical block.
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// One block through one algorithm; `None` when the algorithm gives up (q IPC only).
fn compress_block(algorithm: u8, level: u8, data: &[u8]) -> Result<Option<Vec<u8>>, ZipError> {
    Ok(match algorithm {
        ALG_STORED => None,
        ALG_QIPC => ipc_compress(data),
        ALG_GZIP => {
            let mut enc = flate2::write::ZlibEncoder::new(
                Vec::with_capacity(data.len() / 2),
                flate2::Compression::new(level as u32),
            );
            enc.write_all(data)
                .and_then(|_| enc.finish())
                .map(Some)
                .map_err(|source| ZipError::Compressor {
                    algorithm: "gzip",
                    source,
                })?
        }
        ALG_SNAPPY => Some(snap::raw::Encoder::new().compress_vec(data).map_err(|e| {
            ZipError::Compressor {
                algorithm: "snappy",
                source: std::io::Error::other(e),
            }
        })?),
        // lz4_flex has no HC mode; its blocks are plain LZ4 blocks any LZ4 decoder reads.
        ALG_LZ4HC => Some(lz4_flex::block::compress(data)),
        ALG_ZSTD => Some(zstd::bulk::compress(data, level as i32).map_err(|source| {
            ZipError::Compressor {
                algorithm: "zstd",
                source,
            }
        })?),
        other => return Err(ZipError::UnknownAlgorithm(other)),
    })
}

/// kdb+'s IPC compressor (the one behind `-18!`, and algorithm 1), applied to one block as
/// kdb+ writes it to a file: a whole compressed IPC message (layout in
/// docs/kdb-format.md, checked on `advkdb-ipc/2019.03.17/Trade/price`):
/// `01 00 01 00`, int32 block length, int32 `src.len() + 8`, then the stream. Returns `None`
/// when the output would pass half the message, where kdb+ gives up too.
///
/// The stream is the one of kx's `c.java`: positions count from 8 (the message header is
/// never hashed, so position 0 means "no entry"); a control byte announces 8 items; bit set =
/// back-reference `[hash][extra]` to the last position whose byte pair XORs to that hash,
/// copying 2 + extra bytes; bit clear = one literal byte; the last two bytes are literals.
pub fn ipc_compress(src: &[u8]) -> Option<Vec<u8>> {
    const H: usize = 8;
    let t = src.len().checked_add(H)?;
    let total = i32::try_from(t).ok()?;
    // Byte at message position `i` (positions below 8 are the header, never read).
    let at = |i: usize| src[i - H];
    let budget = (t / 2).checked_sub(17)?;
    let mut out = Vec::with_capacity(t / 2 + 16);
    out.extend_from_slice(&[1, 0, 1, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&total.to_le_bytes());
    let mut table = [0usize; 256];
    let mut bit: u16 = 0;
    let mut ctrl = 0usize;
    let mut s = H;
    let (mut pending, mut pending_hash) = (0usize, 0usize);
    let mut h = 0usize;
    while s < t {
        if bit == 0 {
            if out.len() > budget {
                return None;
            }
            ctrl = out.len();
            out.push(0);
            bit = 1;
        }
        let mut literal = s + 3 > t;
        let mut p = 0;
        if !literal {
            h = (at(s) ^ at(s + 1)) as usize;
            p = table[h];
            literal = p == 0 || at(s) != at(p);
        }
        // The pair at the previous literal enters the table only now, after this lookup:
        // the decompressor hashes a pair once both its bytes and the next item are out.
        if pending > 0 {
            table[pending_hash] = pending;
            pending = 0;
        }
        if literal {
            pending_hash = h;
            pending = s;
            out.push(at(s));
            s += 1;
        } else {
            table[h] = s;
            out[ctrl] |= bit as u8;
            p += 2;
            s += 2;
            let start = s;
            let limit = (s + 255).min(t);
            while s < limit && at(p) == at(s) {
                s += 1;
                p += 1;
            }
            out.push(h as u8);
            out.push((s - start) as u8);
        }
        bit <<= 1;
        if bit == 256 {
            bit = 0;
        }
    }
    let len = i32::try_from(out.len()).ok()?;
    out[4..8].copy_from_slice(&len.to_le_bytes());
    Some(out)
}

/// Inverse of [`ipc_compress`]: the reader's decompressor (framing checked, every index
/// checked so corrupt input is an error, not a panic).
pub fn ipc_decompress(src: &[u8]) -> Result<Vec<u8>, ZipError> {
    let frame = src
        .get(8..12)
        .ok_or(ZipError::CorruptIpc("shorter than its IPC framing"))?;
    let n = i32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
    let n = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_sub(8))
        .ok_or(ZipError::CorruptIpc("negative length"))?;
    super::unzip::decompress_bytes(ALG_QIPC, src, n)
        .map_err(|_| ZipError::CorruptIpc("corrupt stream"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Read;

    /// Test-side reader of a container: (algorithm, level, ulen, block size, entries, image).
    pub(crate) struct Unzipped {
        pub algorithm: u8,
        pub level: u8,
        pub block_size: u64,
        pub entries: Vec<(u32, u32)>,
        pub image: Vec<u8>,
    }

    fn le64(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }
    fn le32(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    pub(crate) fn unzip(file: &[u8]) -> Unzipped {
        assert_eq!(&file[..8], ZIP_MAGIC);
        let nb = le64(file, file.len() - 8) as usize;
        let ents_at = file.len() - 8 - 8 * nb;
        let t = ents_at - 32;
        assert_eq!(le32(file, t), 3);
        let (algorithm, level) = (file[t + 4], file[t + 5]);
        let ulen = le64(file, t + 8) as usize;
        assert_eq!(le64(file, t + 16) as usize, t, "trailer offset field");
        let block_size = le64(file, t + 24);
        let entries: Vec<(u32, u32)> = (0..nb)
            .map(|i| (le32(file, ents_at + 8 * i), le32(file, ents_at + 8 * i + 4)))
            .collect();
        let mut image = Vec::with_capacity(ulen);
        let mut pos = 8;
        for (k, (len, alg)) in entries.iter().enumerate() {
            let blk = &file[pos..pos + *len as usize];
            pos += *len as usize;
            let want = (ulen - k * block_size as usize).min(block_size as usize);
            let raw = match *alg as u8 {
                ALG_STORED => blk.to_vec(),
                ALG_QIPC => ipc_decompress(blk).unwrap(),
                ALG_GZIP => {
                    let mut v = Vec::new();
                    flate2::read::ZlibDecoder::new(blk)
                        .read_to_end(&mut v)
                        .unwrap();
                    v
                }
                ALG_SNAPPY => snap::raw::Decoder::new().decompress_vec(blk).unwrap(),
                ALG_LZ4HC => lz4_flex::block::decompress(blk, want).unwrap(),
                ALG_ZSTD => zstd::bulk::decompress(blk, want).unwrap(),
                a => panic!("algorithm {a}"),
            };
            assert_eq!(raw.len(), want);
            image.extend_from_slice(&raw);
        }
        assert_eq!(pos, t);
        assert_eq!(image.len(), ulen);
        Unzipped {
            algorithm,
            level,
            block_size,
            entries,
            image,
        }
    }

    fn sample_image(n: usize) -> Vec<u8> {
        // A float column-like image: header plus slowly varying values (compressible).
        let mut v = vec![0xfe, 0x20, 9, 0, 0, 0, 0, 0];
        v.extend_from_slice(&(n as u64).to_le_bytes());
        for i in 0..n {
            v.extend_from_slice(&(100.0 + (i % 37) as f64 * 0.25).to_le_bytes());
        }
        v
    }

    #[test]
    fn every_algorithm_round_trips_over_several_blocks() {
        let image = sample_image(50_000); // 400 KB: 4 blocks of 128 KiB
        for alg in 0..=5u8 {
            let params = ZipParams::new(alg, ZipParams::default_level(alg));
            let z = compress(&image, params).unwrap();
            let u = unzip(&z);
            assert_eq!(u.image, image, "algorithm {alg}");
            assert_eq!(u.algorithm, alg);
            assert_eq!(u.level, ZipParams::default_level(alg));
            assert_eq!(u.block_size, 131072);
            assert_eq!(u.entries.len(), image.len().div_ceil(131072));
            if alg != ALG_STORED {
                assert!(
                    z.len() < image.len() / 2,
                    "algorithm {alg} did not compress"
                );
                assert!(u.entries.iter().all(|e| e.1 == alg as u32));
            }
        }
    }

    #[test]
    fn block_writer_streams_what_compress_writes() {
        let image = sample_image(70_000); // 560 KB: 4 full blocks and a partial one
        for alg in 0..=5u8 {
            let params = ZipParams::new(alg, ZipParams::default_level(alg));
            let whole = compress(&image, params).unwrap();
            // Odd write sizes straddle block boundaries.
            for step in [1usize, 7, 4096, 131_073, image.len()] {
                if step == 1 && alg != ALG_GZIP {
                    continue;
                }
                let mut w = BlockWriter::new(Vec::new(), params).unwrap();
                for c in image.chunks(step) {
                    w.write_all(c).unwrap();
                }
                assert_eq!(w.image_len(), image.len() as u64);
                assert_eq!(w.finish().unwrap(), whole, "algorithm {alg} step {step}");
            }
        }
        // An exact multiple of the block size, and an empty image.
        let params = ZipParams::new(ALG_GZIP, 6);
        for img in [vec![3u8; 2 * 131_072], Vec::new()] {
            let mut w = BlockWriter::new(Vec::new(), params).unwrap();
            w.write_all(&img).unwrap();
            assert_eq!(w.finish().unwrap(), compress(&img, params).unwrap());
        }
        assert!(matches!(
            BlockWriter::new(Vec::new(), ZipParams::new(9, 0)),
            Err(ZipError::UnknownAlgorithm(9))
        ));
    }

    #[test]
    fn small_block_size_and_incompressible_data_store_raw() {
        let mut x = 0x1234_5678_9abc_def0u64;
        let noise: Vec<u8> = (0..10_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let params = ZipParams {
            algorithm: ALG_GZIP,
            level: 6,
            block_log2: 12,
        };
        let z = compress(&noise, params).unwrap();
        let u = unzip(&z);
        assert_eq!(u.image, noise);
        assert_eq!(u.block_size, 4096);
        assert_eq!(u.entries.len(), 3);
        assert!(u.entries.iter().all(|e| e.1 == 0), "{:?}", u.entries);
    }

    #[test]
    fn bad_parameters_are_rejected() {
        assert!(matches!(
            compress(b"x", ZipParams::new(6, 0)),
            Err(ZipError::UnknownAlgorithm(6))
        ));
        assert!(matches!(
            compress(
                b"x",
                ZipParams {
                    algorithm: 2,
                    level: 6,
                    block_log2: 30
                }
            ),
            Err(ZipError::BlockSize(30))
        ));
        assert!(matches!(
            compress(b"x", ZipParams::new(2, 10)),
            Err(ZipError::Level { .. })
        ));
    }

    #[test]
    fn ipc_compressor_finds_repeats() {
        let data: Vec<u8> = b"abcabcabcabcabcabcabcabcabcabcabcabcabcabc".repeat(20);
        let z = ipc_compress(&data).unwrap();
        assert!(z.len() < data.len() / 4, "{} vs {}", z.len(), data.len());
        assert_eq!(ipc_decompress(&z).unwrap(), data);
        assert!(ipc_compress(b"short").is_none());
    }

    #[test]
    fn ipc_decompressor_rejects_garbage() {
        let frame = |n: u8| vec![1, 0, 1, 0, 0, 0, 0, 0, n + 8, 0, 0, 0];
        assert!(ipc_decompress(&[1, 2]).is_err());
        // Claims 100 bytes, then a reference with an empty table at position 0.
        let mut b = frame(100);
        b.extend_from_slice(&[0x01, 0x00, 0x05]);
        assert!(ipc_decompress(&b).is_err());
        // Claims 10 bytes, supplies 2 literals.
        let mut b = frame(10);
        b.extend_from_slice(&[0x00, b'a', b'b']);
        assert!(ipc_decompress(&b).is_err());
    }

    proptest::proptest! {
        #[test]
        fn ipc_round_trip(data in proptest::collection::vec(
            proptest::prop_oneof![proptest::num::u8::ANY, 0u8..4], 0..3000)) {
            if let Some(z) = ipc_compress(&data) {
                proptest::prop_assert!(z.len() <= data.len());
                proptest::prop_assert_eq!(ipc_decompress(&z).unwrap(), data);
            }
        }

        #[test]
        fn ipc_round_trip_repetitive(seed in proptest::collection::vec(0u8..8, 1..40), reps in 1usize..200) {
            let data: Vec<u8> = seed.iter().cycle().take(seed.len() * reps).copied().collect();
            if let Some(z) = ipc_compress(&data) {
                proptest::prop_assert_eq!(ipc_decompress(&z).unwrap(), data);
            }
        }
    }
}
