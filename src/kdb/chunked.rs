//! Streaming reads of a column: its values a bounded run of rows at a time, so `check --deep`
//! and `verify --against` hold one chunk per worker instead of whole columns.
//!
//! Two layers. [`Image`] reads byte ranges of a file's uncompressed image: a plain file by
//! `pread`, a `kxzipped` file one logical block at a time (the block read last is kept, so a
//! sequential read decompresses every block once). [`ColumnChunks`] turns an image into rows:
//! fixed-width vectors and enumerations (`fe 20`, `fd 20`, kdb+ 3.x enum), 4.x nested columns
//! (index entries and the `col#` items they point at) and 3.x compound columns (cumulative
//! ends and raw items). Symbol lists and serialized objects (`ff 01`) have no fixed row
//! width: they are decoded whole, as [`super::read_column_from`] does, and then handed out in
//! row ranges; they are the exception the memory bound in docs/performance.md names.
//!
//! Every chunk is what the whole-column decode gives for those rows, and every error is the
//! one it gives (same kind, path, offset and message), with two ordering differences, neither
//! changing the verdict: a value range that runs past the end of the image is reported before
//! a damaged compressed block that would have been met first when decompressing the whole
//! file; and when both the column file and `col#` are damaged, each read may name the other
//! file. An error that is not corruption (a variant we do not read) gives way to a damaged
//! block of the column or its `col#`, as in the whole decode (fuzz/, docs/fuzzing.md).

use super::column::{decode_simple, read_column_from, ColumnData, Opener};
use super::error::KdbError;
use super::header::{data_offset, parse_header, Parse, ENUM3X_WIDTH, HEADER_READ, VECTOR4K_HEADER};
use super::source::ReadAt;
use super::types::*;
use super::unzip::{
    decompress_block, read_compressed_trailer, Trailer, MAGIC_ENCRYPTED, MAGIC_ZIPPED,
};
use std::cell::RefCell;
use std::io::ErrorKind;

/// Bytes of values one chunk holds by default (decoded values: about as many again). With
/// 16 I/O workers that is 16 × (256 KiB read + ≤ 256 KiB decoded + one logical block). Below
/// glibc's mmap threshold growth, chunks of this size are reused from the threads' arenas:
/// 1 MiB chunks measured 122 MB peak RSS against 36 MB for 256 KiB on the same `check
/// --deep`, and were slower (docs/performance.md, "Deep reads").
pub const DEFAULT_CHUNK_BYTES: usize = 256 << 10;

/// A byte source owned or borrowed (the column file is the caller's; `col#` is opened here).
enum Src<'a> {
    Borrowed(&'a dyn ReadAt),
    Owned(Box<dyn ReadAt + 'a>),
}

impl Src<'_> {
    fn get(&self) -> &dyn ReadAt {
        match self {
            Src::Borrowed(s) => *s,
            Src::Owned(b) => &**b,
        }
    }
}

/// Bytes read at once from the start of a file when it is opened: the magic, the header and,
/// for the small files most databases are made of, everything, in one `pread` (reading the
/// header, then the values, cost 1.19× the whole-file read on 90,001 small files).
const PREFIX: u64 = 64 << 10;

/// The uncompressed image of one file, read a range at a time.
pub struct Image<'a> {
    src: Src<'a>,
    len: u64,
    zipped: Option<Zipped>,
    /// The first bytes of a plain file (up to [`PREFIX`]).
    prefix: Vec<u8>,
}

struct Zipped {
    trailer: Trailer,
    /// The block decompressed last and its index.
    cached: Option<(usize, Vec<u8>)>,
    /// Which blocks have been decompressed (and so proved sound).
    seen: Vec<bool>,
}

impl<'a> Image<'a> {
    /// Opens `src`: reads a `kxzipped` trailer (its block table), nothing else.
    pub fn open(src: &'a dyn ReadAt) -> Result<Image<'a>, KdbError> {
        Image::with(Src::Borrowed(src))
    }

    fn with(src: Src<'a>) -> Result<Image<'a>, KdbError> {
        let s = src.get();
        let len = s.len()?;
        let mut zipped = None;
        let mut prefix = vec![0u8; len.min(PREFIX) as usize];
        s.read_at(0, &mut prefix)?;
        if len >= 8 {
            let m = &prefix[..8];
            if m == MAGIC_ENCRYPTED {
                return Err(KdbError::Encrypted {
                    path: s.path().into(),
                });
            }
            if m == MAGIC_ZIPPED {
                // Compressed bytes: blocks are read by their own offsets.
                prefix = Vec::new();
                let trailer = read_compressed_trailer(s)?;
                let n = trailer.blocks.len();
                zipped = Some(Zipped {
                    trailer,
                    cached: None,
                    seen: vec![false; n],
                });
            }
        }
        let len = match &zipped {
            Some(z) => z.trailer.compression.uncompressed_len,
            None => len,
        };
        Ok(Image {
            src,
            len,
            zipped,
            prefix,
        })
    }

    /// Length of the uncompressed image.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn path(&self) -> &str {
        self.src.get().path()
    }

    /// The trailer's facts of a `kxzipped` file.
    pub fn compression(&self) -> Option<&Compression> {
        self.zipped.as_ref().map(|z| &z.trailer.compression)
    }

    /// Bytes this image holds between reads (the cached block).
    pub fn held_bytes(&self) -> usize {
        let block = self
            .zipped
            .as_ref()
            .and_then(|z| z.cached.as_ref())
            .map_or(0, |(_, b)| b.capacity());
        block + self.prefix.capacity()
    }

    /// Fills `buf` from uncompressed offset `offset`; a range past the image is truncation.
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), KdbError> {
        let len = self.len;
        match offset.checked_add(buf.len() as u64) {
            Some(end) if end <= len => {}
            _ => {
                return Err(KdbError::truncated(
                    self.path(),
                    len.min(offset),
                    format!(
                        "wanted {} bytes at offset {offset} but the file holds {len} bytes",
                        buf.len()
                    ),
                ))
            }
        }
        let src = self.src.get();
        let Some(z) = self.zipped.as_mut() else {
            let end = offset as usize + buf.len();
            if end <= self.prefix.len() {
                buf.copy_from_slice(&self.prefix[offset as usize..end]);
                return Ok(());
            }
            return src.read_at(offset, buf);
        };
        let bs = z.trailer.compression.block_size;
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let i = usize::try_from(at / bs).unwrap_or(usize::MAX);
            if z.cached.as_ref().map(|(c, _)| *c) != Some(i) {
                // Dropped first: only one block is ever held.
                z.cached = None;
                let b = decompress_block(src, &z.trailer, i)?;
                z.seen[i] = true;
                z.cached = Some((i, b));
            }
            let block = z.cached.as_ref().map(|(_, b)| b.as_slice()).unwrap_or(&[]);
            let from = (at - i as u64 * bs) as usize;
            let n = (buf.len() - done).min(block.len().saturating_sub(from));
            if n == 0 {
                // A block shorter than the trailer says was refused by decompress_block.
                return Err(KdbError::truncated(
                    src.path(),
                    at,
                    format!("block {i} ends before uncompressed offset {at}"),
                ));
            }
            buf[done..done + n].copy_from_slice(&block[from..from + n]);
            done += n;
        }
        Ok(())
    }

    /// Decompresses every block no read has needed (one at a time, in order), so a damaged
    /// block beyond the values is found as the whole-file decompression finds it.
    pub fn check_unread_blocks(&mut self) -> Result<(), KdbError> {
        let src = self.src.get();
        let Some(z) = self.zipped.as_mut() else {
            return Ok(());
        };
        for i in 0..z.seen.len() {
            if !z.seen[i] {
                decompress_block(src, &z.trailer, i)?;
                z.seen[i] = true;
            }
        }
        Ok(())
    }
}

/// How a column's rows are laid out, once its header is known.
enum Layout<'a> {
    /// `width` bytes per row from `offset`; `enum_domain` set for enumerations
    /// (`enum3x`: 4-byte indices).
    Fixed {
        image: Image<'a>,
        offset: u64,
        width: usize,
        value_type: u8,
        enum_domain: Option<String>,
        enum3x: bool,
    },
    /// 4.x nested: 8-byte entries from byte 4096 of the index, items from byte 4096 of `col#`.
    Anymap {
        index: Image<'a>,
        data: Image<'a>,
        data_path: String,
        domains: Domains<'a>,
    },
    /// 3.x compound: 8-byte cumulative ends from byte 16, raw items of `width` bytes in `col#`.
    Compound {
        index: Image<'a>,
        data: Image<'a>,
        data_path: String,
        item: u8,
        width: usize,
        /// Items `col#` holds; the item the next row starts at.
        held: u64,
        start: u64,
    },
    /// Decoded whole (symbol lists, serialized objects, and files whose header needs more
    /// than its first 4 KiB).
    Whole(ColumnData),
}

/// The `col##` domain list of a nested column, read the first time a symbol item needs it.
struct Domains<'a> {
    open: Opener<'a>,
    name: String,
    data_path: String,
    cache: RefCell<Option<Vec<String>>>,
}

impl Domains<'_> {
    fn get(&self, at: u64) -> Result<Vec<String>, KdbError> {
        if let Some(d) = self.cache.borrow().as_ref() {
            return Ok(d.clone());
        }
        let p = format!("{}##", self.name);
        let d = match (self.open)(&p) {
            Ok(s) => super::symbols::read_symbols_from(&*s)?,
            Err(KdbError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                return Err(KdbError::corrupt(
                    &self.data_path,
                    at,
                    format!("the symbol item at offset {at} needs the domain list {p}, which is missing"),
                ))
            }
            Err(e) => return Err(e),
        };
        *self.cache.borrow_mut() = Some(d.clone());
        Ok(d)
    }
}

/// A column's values a run of rows at a time; see the module comment.
pub struct ColumnChunks<'a> {
    /// The column file and the opener of its companions: read again only on an error, see
    /// [`corrupt_block_first`].
    src: &'a dyn ReadAt,
    open: Opener<'a>,
    path: String,
    header: Header,
    rows: u64,
    next: u64,
    chunk_bytes: usize,
    layout: Layout<'a>,
    /// Reused between chunks: raw values, index entries, item windows.
    buf: Vec<u8>,
    peak: usize,
}

impl<'a> ColumnChunks<'a> {
    /// Opens the column file `src` (and, for a nested column, `col#` through `open`), reading
    /// its header and whatever proves the rows fit the file; no values yet.
    pub fn open(
        src: &'a dyn ReadAt,
        open: Opener<'a>,
        chunk_bytes: usize,
    ) -> Result<ColumnChunks<'a>, KdbError> {
        Self::open_header(src, open, chunk_bytes).map_err(|e| corrupt_block_first(src, open, e))
    }

    fn open_header(
        src: &'a dyn ReadAt,
        open: Opener<'a>,
        chunk_bytes: usize,
    ) -> Result<ColumnChunks<'a>, KdbError> {
        let chunk_bytes = chunk_bytes.max(64);
        let path = src.path().to_string();
        let mut image = Image::open(src)?;
        let total = image.len();
        let mut head = vec![0u8; total.min(HEADER_READ as u64) as usize];
        image.read_at(0, &mut head)?;
        let mut header = match parse_header(&path, &head, total) {
            Ok(h) => h,
            Err(Parse::Err(e)) => return Err(e),
            // A header beyond 4 KiB (serialized objects) or a file shorter than its header:
            // the whole-file decode reads it, or reports exactly why not.
            Err(Parse::Short | Parse::NeedAll) => return Self::whole(src, open, chunk_bytes),
        };
        header.compression = image.compression().cloned().map(Box::new);
        let layout = match header.format {
            FileFormat::SymbolList | FileFormat::Serialized => {
                return Self::whole(src, open, chunk_bytes)
            }
            FileFormat::Compound => Self::compound(&path, &header, image, open)?,
            _ if header.nested => match Self::anymap(&path, &header, image, open)? {
                Some(l) => l,
                None => return Self::whole(src, open, chunk_bytes),
            },
            FileFormat::Enum3x => Self::fixed(&path, &header, image, ENUM3X_WIDTH, true)?,
            _ => {
                let w = type_width(header.value_type).unwrap_or(1);
                Self::fixed(&path, &header, image, w, false)?
            }
        };
        Ok(ColumnChunks {
            src,
            open,
            path,
            rows: header.count,
            header,
            next: 0,
            chunk_bytes,
            layout,
            buf: Vec::new(),
            peak: 0,
        })
    }

    fn whole(
        src: &'a dyn ReadAt,
        open: Opener<'a>,
        chunk_bytes: usize,
    ) -> Result<ColumnChunks<'a>, KdbError> {
        let c = read_column_from(src, open)?;
        Ok(ColumnChunks {
            src,
            open,
            path: src.path().to_string(),
            rows: c.data.len() as u64,
            header: c.header,
            next: 0,
            chunk_bytes,
            layout: Layout::Whole(c.data),
            buf: Vec::new(),
            peak: 0,
        })
    }

    fn fixed(
        path: &str,
        h: &Header,
        image: Image<'a>,
        width: usize,
        enum3x: bool,
    ) -> Result<Layout<'a>, KdbError> {
        let offset = data_offset(h);
        fits(path, image.len(), offset, h.count, width)?;
        let is_enum = enum3x || (h.value_type == T_ENUM && h.format != FileFormat::CompoundData);
        if !is_enum {
            // An unknown type byte fails even with no rows, as in the whole decode.
            decode_simple(path, h.value_type, &[])?;
        }
        Ok(Layout::Fixed {
            image,
            offset,
            width,
            value_type: h.value_type,
            enum_domain: is_enum.then(|| h.domain.clone().unwrap_or_default()),
            enum3x,
        })
    }

    fn anymap(
        path: &str,
        h: &Header,
        index: Image<'a>,
        open: Opener<'a>,
    ) -> Result<Option<Layout<'a>>, KdbError> {
        let data_path = format!("{path}#");
        let mut data = Image::with(Src::Owned(open(&data_path)?))?;
        // The data file's own header, checked as the whole decode checks it.
        let mut head = vec![0u8; data.len().min(HEADER_READ as u64) as usize];
        data.read_at(0, &mut head)?;
        let dh = match parse_header(&data_path, &head, data.len()) {
            Ok(dh) => dh,
            Err(Parse::Err(e)) => return Err(e),
            // Not a nested data file at all: the whole decode says what it is instead.
            Err(Parse::Short | Parse::NeedAll) => return Ok(None),
        };
        if dh.format != FileFormat::Vector4k || dh.value_type != T_BYTE || dh.nested {
            return Err(KdbError::BadType {
                path: data_path,
                byte: dh.value_type,
                offset: 4082,
                expected: "a nested data file (fd 20 with inner header fd 00 04)",
            });
        }
        entries_fit(path, index.len(), VECTOR4K_HEADER, h.count)?;
        Ok(Some(Layout::Anymap {
            index,
            data,
            domains: Domains {
                open,
                name: path.to_string(),
                data_path: data_path.clone(),
                cache: RefCell::new(None),
            },
            data_path,
        }))
    }

    fn compound(
        path: &str,
        h: &Header,
        index: Image<'a>,
        open: Opener<'a>,
    ) -> Result<Layout<'a>, KdbError> {
        let data_path = format!("{path}#");
        let data = Image::with(Src::Owned(open(&data_path)?))?;
        let item = h.item_type.unwrap_or(T_MIXED);
        let width = match type_width(item) {
            Some(w) if item != T_ENUM => w,
            // The whole decode words this error; it reads nothing large first.
            _ => {
                super::compound::decode_rows(
                    path,
                    item,
                    &[],
                    super::compound::Rows {
                        first_row: 0,
                        start: 0,
                        held: 0,
                    },
                    &data_path,
                    &[],
                )?;
                1
            }
        };
        entries_fit(path, index.len(), super::header::VECTOR_HEADER, h.count)?;
        let dlen = data.len();
        if dlen % width as u64 != 0 {
            let cut = dlen - dlen % width as u64;
            return Err(KdbError::truncated(
                &data_path,
                cut,
                format!(
                    "{dlen} bytes of items are not a whole number of {width}-byte values: the last is cut at offset {cut}"
                ),
            ));
        }
        Ok(Layout::Compound {
            index,
            data,
            data_path,
            item,
            width,
            held: dlen / width as u64,
            start: 0,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Rows in the column.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Rows not handed out yet.
    pub fn rows_left(&self) -> u64 {
        self.rows - self.next
    }

    /// Most rows one chunk of this column holds within the byte budget (nested columns may
    /// hold fewer: their items decide).
    pub fn rows_per_chunk(&self) -> usize {
        let w = match &self.layout {
            Layout::Fixed { width, .. } => *width,
            Layout::Compound { width, .. } => 8 + *width,
            Layout::Anymap { .. } => 16,
            Layout::Whole(_) => return usize::MAX,
        };
        (self.chunk_bytes / w.max(1)).max(1)
    }

    /// The most bytes held at once between and during chunks (buffers and cached blocks;
    /// decoded chunks are the caller's), for tests and benchmarks.
    pub fn peak_held_bytes(&self) -> usize {
        self.peak
    }

    fn note_held(&mut self) {
        let images = match &self.layout {
            Layout::Fixed { image, .. } => image.held_bytes(),
            Layout::Anymap { index, data, .. } | Layout::Compound { index, data, .. } => {
                index.held_bytes() + data.held_bytes()
            }
            Layout::Whole(_) => 0,
        };
        self.peak = self.peak.max(self.buf.capacity() + images);
    }

    /// The next rows, at most `max_rows` (and at most what the byte budget allows); `None`
    /// when every row has been read. For a compressed file, reading the last rows also
    /// decompresses any block no value lies in, so a damaged block is never missed.
    pub fn next_rows(&mut self, max_rows: usize) -> Result<Option<ColumnData>, KdbError> {
        let (src, open) = (self.src, self.open);
        self.rows_from_image(max_rows)
            .map_err(|e| corrupt_block_first(src, open, e))
    }

    fn rows_from_image(&mut self, max_rows: usize) -> Result<Option<ColumnData>, KdbError> {
        if self.next >= self.rows {
            self.finish()?;
            return Ok(None);
        }
        let want =
            (self.rows_left().min(max_rows.max(1) as u64) as usize).min(self.rows_per_chunk());
        let first = self.next;
        let (data, n) = match &mut self.layout {
            Layout::Whole(d) => {
                let end = first as usize + want;
                (slice_rows(d, first as usize..end), want)
            }
            Layout::Fixed {
                image,
                offset,
                width,
                value_type,
                enum_domain,
                enum3x,
            } => {
                self.buf.clear();
                self.buf.resize(want * *width, 0);
                image.read_at(*offset + first * *width as u64, &mut self.buf)?;
                let d = match enum_domain {
                    Some(domain) => ColumnData::Enum {
                        domain: domain.clone(),
                        indices: if *enum3x {
                            self.buf
                                .chunks_exact(4)
                                .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                                .collect()
                        } else {
                            self.buf
                                .chunks_exact(8)
                                .map(|c| {
                                    i64::from_le_bytes([
                                        c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
                                    ])
                                })
                                .collect()
                        },
                    },
                    None => decode_simple(&self.path, *value_type, &self.buf)?,
                };
                (d, want)
            }
            Layout::Anymap {
                index,
                data,
                data_path,
                domains,
            } => anymap_rows(
                &self.path,
                index,
                data,
                data_path,
                domains,
                &mut self.buf,
                first,
                want,
                self.rows,
                self.chunk_bytes,
            )?,
            Layout::Compound {
                index,
                data,
                data_path,
                item,
                width,
                held,
                start,
            } => {
                let (rows, n, next_start) = compound_rows(
                    &self.path,
                    index,
                    data,
                    data_path,
                    *item,
                    *width,
                    super::compound::Rows {
                        first_row: first as usize,
                        start: *start,
                        held: *held,
                    },
                    &mut self.buf,
                    want,
                    self.chunk_bytes,
                )?;
                *start = next_start;
                (ColumnData::Nested(rows), n)
            }
        };
        self.next += n as u64;
        self.note_held();
        if self.next >= self.rows {
            self.finish()?;
        }
        Ok(Some(data))
    }

    /// Proves the rest of every compressed file sound, as the whole-file read does.
    fn finish(&mut self) -> Result<(), KdbError> {
        match &mut self.layout {
            Layout::Fixed { image, .. } => image.check_unread_blocks(),
            Layout::Anymap { index, data, .. } | Layout::Compound { index, data, .. } => {
                index.check_unread_blocks()?;
                data.check_unread_blocks()
            }
            Layout::Whole(_) => Ok(()),
        }
    }
}

/// `e`, unless a compressed block of the column file or of its `col#` does not decompress:
/// then that block's error. The whole-column decode decompresses every block before it looks
/// at a value, so a damaged block is what it reports even where a header or an item is a
/// variant we do not read; the chunked read meets those first and checks here, only on the
/// way out with an error that is not already corrupt, so both give one verdict (corrupt:
/// restore from the backup).
fn corrupt_block_first(src: &dyn ReadAt, open: Opener, e: KdbError) -> KdbError {
    if e.is_corrupt() {
        return e;
    }
    let damaged = |s: &dyn ReadAt| match Image::open(s).and_then(|mut i| i.check_unread_blocks()) {
        Err(b) if b.is_corrupt() => Some(b),
        _ => None,
    };
    if let Some(b) = damaged(src) {
        return b;
    }
    // `col#` only for a nested column: the whole decode opens it for no other.
    if !super::header::read_header_from(src).is_ok_and(|h| h.nested) {
        return e;
    }
    match open(&format!("{}#", src.path())) {
        Ok(d) => damaged(&*d).unwrap_or(e),
        Err(_) => e,
    }
}

/// `count` values of `w` bytes from `off` must lie inside an image of `len` bytes (worded as
/// the whole decode words it).
fn fits(path: &str, len: u64, off: u64, count: u64, w: usize) -> Result<(), KdbError> {
    let ok = count
        .checked_mul(w as u64)
        .and_then(|n| n.checked_add(off))
        .is_some_and(|e| e <= len);
    if ok {
        return Ok(());
    }
    Err(KdbError::truncated(
        path,
        len,
        format!("{count} values of {w} bytes from offset {off} but the file holds {len} bytes"),
    ))
}

/// A nested index must hold `rows` 8-byte entries from `base` (worded as `index_entries`).
fn entries_fit(path: &str, len: u64, base: u64, rows: u64) -> Result<(), KdbError> {
    let ok = rows
        .checked_mul(8)
        .and_then(|n| n.checked_add(base))
        .is_some_and(|e| e <= len);
    if ok {
        return Ok(());
    }
    Err(KdbError::truncated(
        path,
        len,
        format!("{rows} entries of 8 bytes from offset {base} but the file holds {len} bytes"),
    ))
}

fn entry_offset(e: &[u8]) -> u64 {
    u64::from_le_bytes([e[0], e[1], e[2], e[3], e[4], e[5], e[6], 0])
}

/// Up to `want` rows of a 4.x nested column from row `first`: the entries, then the items
/// from the smallest offset to the next row's (items are written in row order; when they are
/// not, or a chunk's items do not decode from that window, every item is read so the outcome
/// is exactly the whole decode's).
#[allow(clippy::too_many_arguments)]
fn anymap_rows(
    path: &str,
    index: &mut Image,
    data: &mut Image,
    data_path: &str,
    domains: &Domains,
    buf: &mut Vec<u8>,
    first: u64,
    want: usize,
    rows: u64,
    chunk_bytes: usize,
) -> Result<(ColumnData, usize), KdbError> {
    use super::nested::{decode_rows, ItemWindow};
    let base = VECTOR4K_HEADER;
    let items_len = data.len().saturating_sub(base);
    // The entries, plus the next row's (where this chunk's items end).
    let with_next = (want as u64 + 1).min(rows - first) as usize;
    let mut entries = vec![0u8; with_next * 8];
    index.read_at(base + first * 8, &mut entries)?;
    let offs: Vec<u64> = entries.chunks_exact(8).map(entry_offset).collect();
    let in_order = offs.windows(2).all(|w| w[0] <= w[1]);
    let lo = offs[0];
    // Fewer rows when their items exceed the budget (at least one row).
    let mut n = want.min(offs.len());
    if in_order {
        while n > 1
            && offs.get(n).copied().unwrap_or(items_len).saturating_sub(lo) > chunk_bytes as u64
        {
            n -= 1;
        }
    }
    // Past the next row's start by one item header, so an item the window ends on shows the
    // same bytes in an error as the whole decode does.
    let hi = if n < offs.len() {
        offs[n].saturating_add(16)
    } else {
        items_len
    };
    let entries = &entries[..n * 8];
    let doms = |at: u64| domains.get(at);
    let decode_from = |buf: &mut Vec<u8>, data: &mut Image, lo: u64, hi: u64| {
        let hi = hi.min(items_len).max(lo.min(items_len));
        let lo = lo.min(hi);
        buf.clear();
        buf.resize((hi - lo) as usize, 0);
        data.read_at(base + lo, buf)?;
        decode_rows(
            path,
            entries,
            first as usize,
            data_path,
            ItemWindow {
                items: buf,
                start: lo,
            },
            &doms,
        )
    };
    let r = if in_order {
        decode_from(buf, data, lo, hi)
    } else {
        decode_from(buf, data, 0, items_len)
    };
    let items = match r {
        Ok(items) => items,
        // Out-of-window reads look like damage: only every item proves it is.
        Err(KdbError::Corrupt { .. }) if in_order && (lo > 0 || hi < items_len) => {
            decode_from(buf, data, 0, items_len)?
        }
        Err(e) => return Err(e),
    };
    Ok((ColumnData::Nested(items), n))
}

/// Up to `want` rows of a 3.x compound column from `rows.first_row`, fewer when their items
/// exceed the budget; returns them, how many, and the item the next row starts at.
#[allow(clippy::too_many_arguments)]
fn compound_rows(
    path: &str,
    index: &mut Image,
    data: &mut Image,
    data_path: &str,
    item: u8,
    width: usize,
    rows: super::compound::Rows,
    buf: &mut Vec<u8>,
    want: usize,
    chunk_bytes: usize,
) -> Result<(Vec<ColumnData>, usize, u64), KdbError> {
    let base = super::header::VECTOR_HEADER;
    let mut entries = vec![0u8; want * 8];
    index.read_at(base + rows.first_row as u64 * 8, &mut entries)?;
    // Rows whose items fit the budget; a bad end offset is left for decode_rows to report.
    let mut n = 0;
    for e in entries.chunks_exact(8) {
        let end = i64::from_le_bytes([e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]]);
        let sane = u64::try_from(end)
            .ok()
            .filter(|&x| x >= rows.start && x <= rows.held);
        match sane {
            Some(end) if n == 0 || (end - rows.start) * width as u64 <= chunk_bytes as u64 => {
                n += 1
            }
            Some(_) => break,
            None => {
                n += 1;
                break;
            }
        }
    }
    let entries = &entries[..n * 8];
    // The items up to the largest sane end among them (decode_rows checks the rest).
    let last = entries
        .chunks_exact(8)
        .filter_map(|e| {
            let end = i64::from_le_bytes([e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]]);
            u64::try_from(end)
                .ok()
                .filter(|&x| x >= rows.start && x <= rows.held)
        })
        .max()
        .unwrap_or(rows.start);
    buf.clear();
    buf.resize(((last - rows.start) * width as u64) as usize, 0);
    data.read_at(rows.start * width as u64, buf)?;
    let (out, next) = super::compound::decode_rows(path, item, entries, rows, data_path, buf)?;
    Ok((out, n, next))
}

/// Rows `r` of `d` (a table: of each of its columns).
pub fn slice_rows(d: &ColumnData, r: std::ops::Range<usize>) -> ColumnData {
    use ColumnData::*;
    let r = r.start.min(d.len())..r.end.min(d.len());
    match d {
        Bool(v) => Bool(v[r].to_vec()),
        Guid(v) => Guid(v[r].to_vec()),
        Byte(v) => Byte(v[r].to_vec()),
        Short(v) => Short(v[r].to_vec()),
        Int(v) => Int(v[r].to_vec()),
        Long(v) => Long(v[r].to_vec()),
        Real(v) => Real(v[r].to_vec()),
        Float(v) => Float(v[r].to_vec()),
        Char(v) => Char(v[r].to_vec()),
        Symbol(v) => Symbol(v[r].to_vec()),
        Timestamp(v) => Timestamp(v[r].to_vec()),
        Month(v) => Month(v[r].to_vec()),
        Date(v) => Date(v[r].to_vec()),
        Datetime(v) => Datetime(v[r].to_vec()),
        Timespan(v) => Timespan(v[r].to_vec()),
        Minute(v) => Minute(v[r].to_vec()),
        Second(v) => Second(v[r].to_vec()),
        Time(v) => Time(v[r].to_vec()),
        Enum { domain, indices } => Enum {
            domain: domain.clone(),
            indices: indices[r].to_vec(),
        },
        Nested(v) => Nested(v[r].to_vec()),
        Table { names, columns } => Table {
            names: names.clone(),
            columns: columns.iter().map(|c| slice_rows(c, r.clone())).collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{generate, GenCompression, GenSpec};
    use crate::kdb::header::tests::fe20;
    use crate::kdb::source::{LocalFile, MemSource};
    use crate::kdb::unzip::tests::zip_with;
    use std::path::{Path, PathBuf};

    /// Reads `path` chunk by chunk and checks every chunk against the same rows of the
    /// whole-column decode, and every error against its error (same message).
    fn same_as_whole(path: &Path, chunk_bytes: usize, max_rows: usize) -> usize {
        let whole = crate::kdb::read_column(path);
        let src = LocalFile::open(path).unwrap();
        let open = |p: &str| LocalFile::open(Path::new(p)).map(|f| Box::new(f) as Box<dyn ReadAt>);
        let mut chunks = match (ColumnChunks::open(&src, &open, chunk_bytes), &whole) {
            (Ok(c), _) => c,
            (Err(e), Err(w)) => {
                assert_eq!(e.to_string(), w.to_string(), "{}", path.display());
                return 0;
            }
            (Err(e), Ok(_)) => panic!("{}: chunked fails, whole reads: {e}", path.display()),
        };
        let w = match whole {
            Ok(w) => w,
            // The whole decode failed: the chunked one must fail the same way before the end.
            Err(w) => loop {
                match chunks.next_rows(max_rows) {
                    Err(e) => {
                        assert_eq!(e.to_string(), w.to_string(), "{}", path.display());
                        return 0;
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => panic!("{}: chunked read, whole failed: {w}", path.display()),
                }
            },
        };
        let (mut at, mut n) = (0usize, 0);
        while let Some(c) = chunks
            .next_rows(max_rows)
            .unwrap_or_else(|e| panic!("{}: chunked fails, whole reads: {e}", path.display()))
        {
            assert!(!c.is_empty(), "{}: empty chunk", path.display());
            let want = slice_rows(&w.data, at..at + c.len());
            // NaN (a null float) is not equal to itself: compare by how the values print.
            if c != want {
                assert_eq!(
                    format!("{c:?}"),
                    format!("{want:?}"),
                    "{} rows {at}..",
                    path.display()
                );
            }
            at += c.len();
            n += 1;
        }
        assert_eq!(at, w.data.len(), "{}", path.display());
        assert_eq!(chunks.header(), &w.header, "{}", path.display());
        n
    }

    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files(&p, out);
            } else if !p.to_string_lossy().ends_with('#') {
                out.push(p);
            }
        }
    }

    /// Found by fuzz/ (target `column`): a compressed column whose 4 KiB header is a variant
    /// we do not read (flag 0, type 77) and whose block 1 does not decompress. The whole
    /// decode (verify) said corrupt, the chunked one (`check --deep`) unsupported: it met the
    /// header first and never decompressed block 1. The fuzzer's input was 2637 bytes; this is
    /// the same shape built small.
    #[test]
    fn a_damaged_block_is_reported_before_a_variant_we_do_not_read() {
        use crate::kdb::header::tests::fd20;
        let mut z = zip_with(2, 4096, &fd20("", 0, 77, 0, 1, &[0u8; 16]));
        let t = read_compressed_trailer(&MemSource::new("z", z.clone())).unwrap();
        let b1 = t.blocks[1];
        for b in &mut z[b1.offset as usize + 2..(b1.offset + u64::from(b1.compressed_len)) as usize]
        {
            *b ^= 0x5a;
        }
        let src = MemSource::new("z", z);
        let none = |p: &str| -> Result<Box<dyn ReadAt>, KdbError> {
            Err(KdbError::io(p, ErrorKind::NotFound.into()))
        };
        let whole = read_column_from(&src, &none).unwrap_err();
        assert!(
            matches!(whole, KdbError::Decompress { block: 1, .. }),
            "{whole}"
        );
        let e = ColumnChunks::open(&src, &none, 4096).err().unwrap();
        assert_eq!(e.to_string(), whole.to_string());
    }

    #[test]
    fn chunks_equal_the_whole_decode_for_every_compression() {
        for c in [
            GenCompression::None,
            GenCompression::Qipc,
            GenCompression::Gzip,
            GenCompression::Snappy,
            GenCompression::Lz4hc,
            GenCompression::Zstd,
        ] {
            let tmp = tempfile::tempdir().unwrap();
            let spec = GenSpec {
                partitions: 1,
                tables: 2,
                columns: 22,
                rows: 3000,
                compress: c,
                block_log2: 12,
                ..GenSpec::default()
            };
            generate(tmp.path(), &spec).unwrap();
            let mut all = Vec::new();
            files(tmp.path(), &mut all);
            let mut multi = 0;
            for p in &all {
                // 256 bytes: many chunks per column and per 4 KiB block.
                if same_as_whole(p, 256, usize::MAX) > 1 {
                    multi += 1;
                }
                same_as_whole(p, 1 << 20, 7);
            }
            assert!(
                multi >= 40,
                "{c:?}: only {multi} files read in several chunks"
            );
        }
    }

    #[test]
    fn chunks_equal_the_whole_decode_on_real_fixtures() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/real");
        let mut all = Vec::new();
        files(&root, &mut all);
        assert!(all.len() > 100, "fixtures missing at {}", root.display());
        let mut multi = 0;
        for p in &all {
            if same_as_whole(p, 64, usize::MAX) > 1 {
                multi += 1;
            }
            same_as_whole(p, 1 << 20, 3);
        }
        assert!(
            multi > 50,
            "only {multi} fixture files read in several chunks"
        );
    }

    #[test]
    fn damage_is_reported_as_the_whole_decode_reports_it() {
        let tmp = tempfile::tempdir().unwrap();
        let vals: Vec<u8> = (0..20_000i64).flat_map(|x| (x * 3).to_le_bytes()).collect();
        let plain = fe20(T_LONG, 0, 20_000, &vals);
        // Values cut short.
        let p = tmp.path().join("cut");
        std::fs::write(&p, &plain[..plain.len() - 5]).unwrap();
        same_as_whole(&p, 4096, usize::MAX);
        // A damaged block after the last value (found only by decompressing every block).
        let mut padded = plain.clone();
        padded.extend_from_slice(&[7u8; 9000]);
        let mut z = zip_with(2, 4096, &padded);
        let t = read_compressed_trailer(&MemSource::new("z", z.clone())).unwrap();
        let last = t.blocks[t.blocks.len() - 1];
        for b in &mut z
            [last.offset as usize + 2..(last.offset + u64::from(last.compressed_len)) as usize]
        {
            *b ^= 0x5a;
        }
        let p = tmp.path().join("tail");
        std::fs::write(&p, &z).unwrap();
        assert!(crate::kdb::read_column(&p).is_err());
        same_as_whole(&p, 4096, usize::MAX);
        // A damaged block in the middle of the values.
        let mut z = zip_with(5, 4096, &plain);
        let mid = t.blocks[10];
        z[mid.offset as usize + 6] ^= 0xff;
        z[mid.offset as usize + 7] ^= 0xff;
        let p = tmp.path().join("mid");
        std::fs::write(&p, &z).unwrap();
        same_as_whole(&p, 4096, usize::MAX);
    }

    #[test]
    fn a_large_column_is_read_with_a_chunk_sized_buffer() {
        // 32 MiB of longs in 128 KiB blocks, read with a 256 KiB budget.
        let n = 4 << 20;
        let vals: Vec<u8> = (0..n as i64)
            .flat_map(|x| (x % 1000).to_le_bytes())
            .collect();
        let img = zip_with(4, 1 << 17, &fe20(T_LONG, 0, n as i64, &vals));
        drop(vals);
        let src = MemSource::new("big", img);
        let none = |_: &str| -> Result<Box<dyn ReadAt>, KdbError> { unreachable!() };
        let mut c = ColumnChunks::open(&src, &none, 256 << 10).unwrap();
        let mut rows = 0;
        while let Some(d) = c.next_rows(usize::MAX).unwrap() {
            assert!(d.len() <= (256 << 10) / 8);
            rows += d.len();
        }
        assert_eq!(rows, n);
        // One chunk buffer plus one logical block, not the 32 MiB column.
        assert!(
            c.peak_held_bytes() <= (256 << 10) + (1 << 17),
            "{}",
            c.peak_held_bytes()
        );
    }
}
