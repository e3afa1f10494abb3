//! Sample-database generator: writes a deterministic kdb+ date-partitioned HDB (root `sym`,
//! `YYYY.MM.DD/<table>/` with `.d` and one file per column, optionally compressed) exercising
//! every file kind, plus the matching SM assembly YAML. Flags and guarantees: docs/generator.md.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_yaml::{Mapping, Value};
use thiserror::Error;

use crate::kdb::write::{self, HeaderCount, WriteError};
use crate::kdb::zip::{self, ZipParams};
use crate::kdb::{
    type_name, Attr, T_BOOLEAN, T_BYTE, T_CHAR, T_DATE, T_DATETIME, T_FLOAT, T_GUID, T_INT, T_LONG,
    T_MINUTE, T_MONTH, T_REAL, T_SECOND, T_SHORT, T_SYMBOL, T_TIME, T_TIMESPAN, T_TIMESTAMP,
};

/// Compression of every column file, as the `--compress` flag names it.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GenCompression {
    #[default]
    None,
    Qipc,
    Gzip,
    Snappy,
    Lz4hc,
    Zstd,
}

impl GenCompression {
    /// The `kxzipped` algorithm number, `None` for uncompressed files.
    pub fn algorithm(self) -> Option<u8> {
        match self {
            GenCompression::None => None,
            GenCompression::Qipc => Some(zip::ALG_QIPC),
            GenCompression::Gzip => Some(zip::ALG_GZIP),
            GenCompression::Snappy => Some(zip::ALG_SNAPPY),
            GenCompression::Lz4hc => Some(zip::ALG_LZ4HC),
            GenCompression::Zstd => Some(zip::ALG_ZSTD),
        }
    }
}

/// What to generate (the flags of `smstage gen`).
#[derive(clap::Args, Clone, Debug, PartialEq, Eq)]
pub struct GenSpec {
    /// Number of date partitions.
    #[arg(long, default_value_t = 3)]
    pub partitions: usize,
    /// Number of tables per partition (trade, quote, order, fill, then t4, t5, …).
    #[arg(long, default_value_t = 2)]
    pub tables: usize,
    /// Columns per table, at least 3 (time, sym, price, size, then other types in turn).
    #[arg(long, default_value_t = 6)]
    pub columns: usize,
    /// Rows per table per partition.
    #[arg(long, default_value_t = 1000)]
    pub rows: usize,
    /// First partition date, YYYY.MM.DD.
    #[arg(long, default_value = "2024.01.02")]
    pub start: String,
    /// Use consecutive calendar days instead of consecutive weekdays.
    #[arg(long)]
    pub every_day: bool,
    /// Compress every column file with this algorithm.
    #[arg(long, value_enum, default_value_t = GenCompression::None)]
    pub compress: GenCompression,
    /// Compression level (default: gzip 6, lz4hc 9, zstd 3, others 0).
    #[arg(long)]
    pub level: Option<u8>,
    /// Logical block size exponent of compressed files (2^17 = 128 KiB).
    #[arg(long, default_value_t = 17)]
    pub block_log2: u8,
    /// Number of symbols in the enumeration domain (root `sym`).
    #[arg(long, default_value_t = 100)]
    pub symbols: usize,
    /// Leave header counts 0 (as kdb+ `set` does) instead of setting them (as `.Q.dpft` does).
    #[arg(long)]
    pub zero_counts: bool,
    /// Seed: the same seed and flags always give the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The kdb+tick shape: `time` a timespan (time of day) and no timestamp column, which KX's
    /// import refuses (no partition column); the assembly then names no `prtnCol`. By default
    /// `time` is a timestamp on the partition's date and is the `prtnCol`.
    #[arg(long)]
    pub tick_style: bool,
}

impl Default for GenSpec {
    fn default() -> GenSpec {
        GenSpec {
            partitions: 3,
            tables: 2,
            columns: 6,
            rows: 1000,
            start: "2024.01.02".to_string(),
            every_day: false,
            compress: GenCompression::None,
            level: None,
            block_log2: zip::DEFAULT_BLOCK_LOG2,
            symbols: 100,
            zero_counts: false,
            seed: 1,
            tick_style: false,
        }
    }
}

#[derive(Debug, Error)]
pub enum GenError {
    #[error("--columns must be at least 3 (time, sym, price), got {0}")]
    TooFewColumns(usize),
    #[error("--symbols must be between 1 and 100000, got {0}")]
    Symbols(usize),
    #[error("--start {0:?} is not a date YYYY.MM.DD")]
    BadStart(String),
    #[error("partition dates run past 9999.12.31")]
    DateOverflow,
    #[error("{0} exists and is not an empty directory; the generator only writes fresh databases")]
    NotEmpty(PathBuf),
    #[error("creating {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("compression parameters: {0}")]
    Zip(#[from] zip::ZipError),
}

/// Logical column kinds the generator writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    /// A simple vector of this type byte.
    Simple(u8),
    /// The row time, ascending within each sym: a timestamp on the partition's date (the
    /// table's `prtnCol`), or with `--tick-style` a timespan (time of day, as kdb+tick writes).
    Time(u8),
    /// Enumerated symbol against the root `sym`, `p#`.
    Sym,
    /// Enumerated symbol (a few venue names, also in the root `sym`), `g#`.
    Venue,
    /// Nested char column (`string`): `col` + `col#`.
    String,
}

impl ColumnKind {
    /// Type name as the assembly YAML spells it.
    pub fn config_type(self) -> &'static str {
        match self {
            ColumnKind::Simple(t) | ColumnKind::Time(t) => type_name(t).unwrap_or("unknown"),
            ColumnKind::Sym | ColumnKind::Venue => type_name(T_SYMBOL).unwrap_or("symbol"),
            ColumnKind::String => "string",
        }
    }

    /// The on-disk attribute the generator gives the column.
    pub fn attr(self) -> Attr {
        match self {
            ColumnKind::Sym => Attr::Parted,
            ColumnKind::Venue => Attr::Grouped,
            _ => Attr::None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnSchema {
    pub name: String,
    pub kind: ColumnKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSchema {
    pub name: String,
    pub columns: Vec<ColumnSchema>,
}

/// What was written.
#[derive(Clone, Debug)]
pub struct GenSummary {
    pub dir: PathBuf,
    /// Partition directory names, ascending.
    pub partitions: Vec<String>,
    pub tables: Vec<TableSchema>,
    pub rows_per_table: usize,
    /// Names in the root `sym` (tickers, then venues).
    pub symbols: usize,
    /// Files written (root `sym`, `.d` and column files).
    pub files: usize,
    /// Bytes written (after compression).
    pub bytes: u64,
}

impl std::fmt::Display for GenSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (first, last) = (
            self.partitions.first().map(String::as_str).unwrap_or("-"),
            self.partitions.last().map(String::as_str).unwrap_or("-"),
        );
        let tables: Vec<&str> = self.tables.iter().map(|t| t.name.as_str()).collect();
        write!(
            f,
            "{}: {} partitions ({first}..{last}), tables {}, {} rows each, {} symbols, {} files, {} bytes",
            self.dir.display(),
            self.partitions.len(),
            tables.join(","),
            self.rows_per_table,
            self.symbols,
            self.files,
            self.bytes
        )
    }
}

const BASE_COLUMNS: [(&str, ColumnKind); 4] = [
    // Its type follows `--tick-style` (see table_schemas).
    ("time", ColumnKind::Time(T_TIMESTAMP)),
    ("sym", ColumnKind::Sym),
    ("price", ColumnKind::Simple(T_FLOAT)),
    ("size", ColumnKind::Simple(T_LONG)),
];

/// Venue names appended to the root `sym` after the tickers, for the `g#` column.
const VENUES: [&str; 6] = ["XNYS", "XNAS", "ARCX", "BATS", "IEXG", "EDGX"];

/// Column names avoid q keywords and the virtual `date` column of partitioned tables.
const EXTRA_COLUMNS: [(&str, ColumnKind); 17] = [
    ("comment", ColumnKind::String),
    ("exch", ColumnKind::Venue),
    ("active", ColumnKind::Simple(T_BOOLEAN)),
    ("orderId", ColumnKind::Simple(T_GUID)),
    ("venue", ColumnKind::Simple(T_BYTE)),
    ("lot", ColumnKind::Simple(T_SHORT)),
    ("seqNum", ColumnKind::Simple(T_INT)),
    ("yld", ColumnKind::Simple(T_REAL)),
    ("side", ColumnKind::Simple(T_CHAR)),
    ("exchTime", ColumnKind::Simple(T_TIMESTAMP)),
    ("expiry", ColumnKind::Simple(T_MONTH)),
    ("settleDate", ColumnKind::Simple(T_DATE)),
    ("recvTime", ColumnKind::Simple(T_DATETIME)),
    ("bucket", ColumnKind::Simple(T_MINUTE)),
    ("exchSecond", ColumnKind::Simple(T_SECOND)),
    ("localTime", ColumnKind::Simple(T_TIME)),
    // Time of day as kdb+tick writes `time`: keeps every simple type written now that `time`
    // is a timestamp by default.
    ("latency", ColumnKind::Simple(T_TIMESPAN)),
];

const TABLE_NAMES: [&str; 4] = ["trade", "quote", "order", "fill"];

/// The tables and columns `spec` produces. Table k starts its extra columns 2k further along
/// the type list, so a few small tables already cover many types; table 0 gets the nested
/// string column first.
pub fn table_schemas(spec: &GenSpec) -> Vec<TableSchema> {
    (0..spec.tables)
        .map(|k| {
            let name = TABLE_NAMES
                .get(k)
                .map(|s| s.to_string())
                .unwrap_or_else(|| format!("t{k}"));
            let columns = (0..spec.columns)
                .map(|j| {
                    if j < BASE_COLUMNS.len() {
                        let (n, kind) = match BASE_COLUMNS[j] {
                            (n, ColumnKind::Time(_)) if spec.tick_style => {
                                (n, ColumnKind::Time(T_TIMESPAN))
                            }
                            other => other,
                        };
                        return ColumnSchema {
                            name: n.to_string(),
                            kind,
                        };
                    }
                    let e = j - BASE_COLUMNS.len();
                    let (n, kind) = EXTRA_COLUMNS[(2 * k + e) % EXTRA_COLUMNS.len()];
                    let round = (2 * k % EXTRA_COLUMNS.len() + e) / EXTRA_COLUMNS.len();
                    let name = if round == 0 {
                        n.to_string()
                    } else {
                        format!("{n}{}", round + 1)
                    };
                    ColumnSchema { name, kind }
                })
                .collect();
            TableSchema { name, columns }
        })
        .collect()
}

/// Write the database described by `spec` at `dir` (created if missing; must be empty).
pub fn generate(dir: &Path, spec: &GenSpec) -> Result<GenSummary, GenError> {
    if spec.columns < 3 {
        return Err(GenError::TooFewColumns(spec.columns));
    }
    if spec.symbols == 0 || spec.symbols > 100_000 {
        return Err(GenError::Symbols(spec.symbols));
    }
    let zip = match spec.compress.algorithm() {
        Some(alg) => {
            let p = ZipParams {
                algorithm: alg,
                level: spec.level.unwrap_or(ZipParams::default_level(alg)),
                block_log2: spec.block_log2,
            };
            // Fail on bad parameters before touching the disk.
            zip::compress(&[], p)?;
            Some(p)
        }
        None => None,
    };
    let dates = partition_dates(spec)?;
    prepare_dir(dir)?;
    let counts = if spec.zero_counts {
        HeaderCount::Zero
    } else {
        HeaderCount::Set
    };
    let tables = table_schemas(spec);
    let syms = symbol_names(spec.seed, spec.symbols);
    // Root sym count: 0, as in the TorQ HDB and 4 of the 5 DolphinDB domains.
    let sym_bytes = write::write_symbols(&dir.join("sym"), &syms, HeaderCount::Zero)?;
    let ctx = Ctx {
        spec,
        zip,
        counts,
        tables: &tables,
    };
    let per_partition: Vec<(usize, u64)> = dates
        .par_iter()
        .enumerate()
        .map(|(p, &date)| ctx.partition(dir, p, date))
        .collect::<Result<_, _>>()?;
    let (files, bytes) = per_partition
        .iter()
        .fold((1, sym_bytes), |(f, b), (pf, pb)| (f + pf, b + pb));
    Ok(GenSummary {
        dir: dir.to_path_buf(),
        partitions: dates.iter().map(|&d| format_date(d)).collect(),
        tables,
        rows_per_table: spec.rows,
        symbols: syms.len(),
        files,
        bytes,
    })
}

fn prepare_dir(dir: &Path) -> Result<(), GenError> {
    let io = |source| GenError::Io {
        path: dir.to_path_buf(),
        source,
    };
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).map_err(|_| GenError::NotEmpty(dir.into()))?;
        if entries.next().is_some() {
            return Err(GenError::NotEmpty(dir.to_path_buf()));
        }
        Ok(())
    } else {
        std::fs::create_dir_all(dir).map_err(io)
    }
}

struct Ctx<'a> {
    spec: &'a GenSpec,
    zip: Option<ZipParams>,
    counts: HeaderCount,
    tables: &'a [TableSchema],
}

impl Ctx<'_> {
    /// One partition directory: every table, `.d` last so a table with `.d` is complete.
    fn partition(&self, root: &Path, p: usize, date: i32) -> Result<(usize, u64), GenError> {
        let pdir = root.join(format_date(date));
        let (mut files, mut bytes) = (0usize, 0u64);
        for (t, table) in self.tables.iter().enumerate() {
            let tdir = pdir.join(&table.name);
            std::fs::create_dir_all(&tdir).map_err(|source| GenError::Io {
                path: tdir.clone(),
                source,
            })?;
            let mut rng = SplitMix::new(self.spec.seed ^ mix((p as u64) << 20 | t as u64));
            let rows = Rows::new(&mut rng, self.spec.rows, self.spec.symbols, date);
            for col in &table.columns {
                for (name, image) in column_images(col, &rows, &mut rng, self.counts)? {
                    bytes += write::write_image(&tdir.join(&name), &image, self.zip)?;
                    files += 1;
                }
            }
            let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
            bytes += write::write_symbols(&tdir.join(".d"), &names, self.counts)?;
            files += 1;
        }
        Ok((files, bytes))
    }
}

/// The row skeleton every column derives from: sym indices ascending (so `p#` holds) and
/// timespans ascending within each sym.
struct Rows {
    date: i32,
    /// Tickers in the domain; venue names follow them.
    domain: usize,
    syms: Vec<i64>,
    times: Vec<i64>,
}

const NS_PER_DAY: i64 = 86_400_000_000_000;

impl Rows {
    fn new(rng: &mut SplitMix, n: usize, domain: usize, date: i32) -> Rows {
        let open: i64 = 9 * 3_600_000_000_000 + 30 * 60_000_000_000;
        let span: i64 = 6 * 3_600_000_000_000 + 30 * 60_000_000_000;
        let mut pairs: Vec<(i64, i64)> = (0..n)
            .map(|_| {
                (
                    rng.below(domain as u64) as i64,
                    open + rng.below(span as u64) as i64,
                )
            })
            .collect();
        pairs.sort_unstable();
        Rows {
            date,
            domain,
            syms: pairs.iter().map(|p| p.0).collect(),
            times: pairs.iter().map(|p| p.1).collect(),
        }
    }
}

/// File images of one column: one file, or `col` and `col#` for a nested column.
fn column_images(
    col: &ColumnSchema,
    rows: &Rows,
    rng: &mut SplitMix,
    counts: HeaderCount,
) -> Result<Vec<(String, Vec<u8>)>, GenError> {
    let n = rows.times.len();
    let simple = |ty: u8, data: Vec<u8>| -> Result<Vec<(String, Vec<u8>)>, GenError> {
        Ok(vec![(
            col.name.clone(),
            write::vector_bytes(ty, Attr::None, &data, counts)?,
        )])
    };
    let ty = match col.kind {
        ColumnKind::Sym => {
            let img = write::enum_bytes("sym", col.kind.attr(), &rows.syms, counts)?;
            return Ok(vec![(col.name.clone(), img)]);
        }
        ColumnKind::Venue => {
            let v: Vec<i64> = (0..n)
                .map(|_| (rows.domain + rng.below(VENUES.len() as u64) as usize) as i64)
                .collect();
            let img = write::enum_bytes("sym", col.kind.attr(), &v, counts)?;
            return Ok(vec![(col.name.clone(), img)]);
        }
        ColumnKind::String => {
            let texts: Vec<Vec<u8>> = (0..n).map(|_| comment(rng)).collect();
            let refs: Vec<&[u8]> = texts.iter().map(|v| v.as_slice()).collect();
            let (index, data) = write::nested_chars_bytes(&refs, counts);
            return Ok(vec![
                (col.name.clone(), index),
                (format!("{}#", col.name), data),
            ]);
        }
        ColumnKind::Time(t) => {
            let day_ns = if t == T_TIMESTAMP {
                rows.date as i64 * NS_PER_DAY
            } else {
                0
            };
            let data: Vec<u8> = rows
                .times
                .iter()
                .flat_map(|tm| (day_ns + tm).to_le_bytes())
                .collect();
            return simple(t, data);
        }
        ColumnKind::Simple(t) => t,
    };
    let day_ns = rows.date as i64 * NS_PER_DAY;
    let mut data = Vec::with_capacity(16 * n);
    for i in 0..n {
        let (s, tm) = (rows.syms[i], rows.times[i]);
        match ty {
            T_TIMESPAN => data.extend_from_slice(&tm.to_le_bytes()),
            T_FLOAT => {
                let base = 10.0 + ((s * 37) % 490) as f64;
                let px = base + (rng.below(2001) as f64 - 1000.0) / 400.0;
                data.extend_from_slice(&((px * 100.0).round() / 100.0).to_le_bytes());
            }
            T_LONG => data.extend_from_slice(&(100 * (1 + rng.below(50) as i64)).to_le_bytes()),
            T_BOOLEAN => data.push((rng.below(4) != 0) as u8),
            T_GUID => {
                data.extend_from_slice(&rng.next().to_le_bytes());
                data.extend_from_slice(&rng.next().to_le_bytes());
            }
            T_BYTE => data.push(rng.below(16) as u8),
            T_SHORT => data.extend_from_slice(&(rng.below(1000) as i16).to_le_bytes()),
            T_INT => {
                // A null now and then, as real feeds have.
                let v = if rng.below(50) == 0 {
                    i32::MIN
                } else {
                    i as i32 + 1
                };
                data.extend_from_slice(&v.to_le_bytes());
            }
            T_REAL => data.extend_from_slice(&((rng.below(10_000) as f32) / 1000.0).to_le_bytes()),
            T_CHAR => data.push(if rng.below(2) == 0 { b'B' } else { b'S' }),
            T_TIMESTAMP => {
                let lag = rng.below(5_000_000) as i64;
                data.extend_from_slice(&(day_ns + tm - lag).to_le_bytes());
            }
            T_MONTH => {
                let (y, m, _) = civil_from_days(rows.date as i64 + DAYS_1970_TO_2000);
                let months = (y - 2000) * 12 + (m as i64 - 1) + 1 + rng.below(12) as i64;
                data.extend_from_slice(&(months as i32).to_le_bytes());
            }
            T_DATE => data.extend_from_slice(&(rows.date + 2).to_le_bytes()),
            T_DATETIME => {
                let z = rows.date as f64 + (tm + 1_000_000) as f64 / NS_PER_DAY as f64;
                data.extend_from_slice(&z.to_le_bytes());
            }
            T_MINUTE => data.extend_from_slice(&((tm / 60_000_000_000) as i32).to_le_bytes()),
            T_SECOND => data.extend_from_slice(&((tm / 1_000_000_000) as i32).to_le_bytes()),
            T_TIME => data.extend_from_slice(&((tm / 1_000_000) as i32).to_le_bytes()),
            other => return Err(GenError::Write(WriteError::UnknownType(other))),
        }
    }
    simple(ty, data)
}

const WORDS: [&str; 12] = [
    "ok", "late", "fill", "cancel", "replace", "odd lot", "auction", "cross", "block", "retail",
    "dark", "amended",
];

/// Text of a string column cell: empty sometimes, else one to three words.
fn comment(rng: &mut SplitMix) -> Vec<u8> {
    let words = rng.below(4) as usize;
    let mut s = Vec::new();
    for w in 0..words {
        if w > 0 {
            s.push(b' ');
        }
        s.extend_from_slice(WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes());
    }
    s
}

/// `count` distinct ticker-like names, deterministic for a seed, then the venue names.
fn symbol_names(seed: u64, count: usize) -> Vec<String> {
    let mut rng = SplitMix::new(seed ^ 0x5359_4d53_594d);
    let mut seen: std::collections::HashSet<String> =
        VENUES.iter().map(|v| v.to_string()).collect();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let len = 2 + rng.below(3) as usize + (seen.len() > 10_000) as usize * 2;
        let name: String = (0..len)
            .map(|_| (b'A' + rng.below(26) as u8) as char)
            .collect();
        if seen.insert(name.clone()) {
            out.push(name);
        }
    }
    out.extend(VENUES.iter().map(|v| v.to_string()));
    out
}

/// splitmix64: tiny, fast, good enough for sample data, and stable across versions.
struct SplitMix(u64);

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl SplitMix {
    fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform-enough value in 0..n (n > 0); the modulo bias is irrelevant for sample data.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Days from 1970.01.01 to kdb+'s epoch 2000.01.01.
const DAYS_1970_TO_2000: i64 = 10_957;

/// Partition dates as kdb+ date values (days since 2000.01.01).
fn partition_dates(spec: &GenSpec) -> Result<Vec<i32>, GenError> {
    let start = parse_date(&spec.start).ok_or_else(|| GenError::BadStart(spec.start.clone()))?;
    let mut out = Vec::with_capacity(spec.partitions);
    let mut d = start;
    let last = days_from_civil(9999, 12, 31) - DAYS_1970_TO_2000;
    while out.len() < spec.partitions {
        if d > last {
            return Err(GenError::DateOverflow);
        }
        // 1970.01.01 was a Thursday: weekday 0 = Sunday … 6 = Saturday.
        let weekday = (d + DAYS_1970_TO_2000 + 4).rem_euclid(7);
        if spec.every_day || (1..=5).contains(&weekday) {
            out.push(d as i32);
        }
        d += 1;
    }
    Ok(out)
}

fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.split('.');
    let y: i64 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if it.next().is_some() || s.len() != 10 || !(1..=9999).contains(&y) || !(1..=12).contains(&m) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // Reject 2024.02.30 and friends by round-tripping.
    (civil_from_days(days) == (y, m, d)).then_some(days - DAYS_1970_TO_2000)
}

/// Partition directory name of a kdb+ date value.
pub fn format_date(kdb_date: i32) -> String {
    let (y, m, d) = civil_from_days(kdb_date as i64 + DAYS_1970_TO_2000);
    format!("{y:04}.{m:02}.{d:02}")
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + (m <= 2) as i64;
    (y, m, d)
}

/// SM assembly YAML for the database `spec` generates, which is meant to live at
/// `<base_uri>/data` (the HDB mount's baseURI). The stream and interval mounts sit beside it
/// (`…/rdb`, `…/idb`).
pub fn assembly_yaml(spec: &GenSpec, base_uri: &str) -> String {
    assembly_yaml_tiers(spec, base_uri, &[("recent".to_string(), None)])
}

/// [`assembly_yaml`] with the given HDB tiers (name, optional `store` URI) in this order.
pub fn assembly_yaml_tiers(
    spec: &GenSpec,
    base_uri: &str,
    hdb_tiers: &[(String, Option<String>)],
) -> String {
    let base = base_uri.trim_end_matches('/');
    let parent = match base.rfind('/') {
        Some(i) if !base[..i].ends_with('/') => &base[..i],
        _ => base,
    };
    let s = |x: &str| Value::String(x.to_string());
    let map = |pairs: Vec<(&str, Value)>| {
        let mut m = Mapping::new();
        for (k, v) in pairs {
            m.insert(s(k), v);
        }
        Value::Mapping(m)
    };
    let mount = |ty: &str, uri: String, partition: &str| {
        map(vec![
            ("type", s(ty)),
            ("baseURI", Value::String(uri)),
            ("partition", s(partition)),
        ])
    };
    let mounts = map(vec![
        ("rdb", mount("stream", format!("{parent}/rdb"), "none")),
        ("idb", mount("local", format!("{parent}/idb"), "ordinal")),
        ("hdb", mount("local", base.to_string(), "date")),
    ]);
    let tier = |name: &str, mount: &str| map(vec![("name", s(name)), ("mount", s(mount))]);
    let mut tiers = vec![tier("streaming", "rdb"), tier("interval", "idb")];
    for (name, store) in hdb_tiers {
        let mut pairs = vec![("name", s(name)), ("mount", s("hdb"))];
        if let Some(store) = store {
            pairs.push(("store", s(store)));
        }
        tiers.push(map(pairs));
    }
    let elements = map(vec![("sm", map(vec![("tiers", Value::Sequence(tiers))]))]);
    let mut tables = Mapping::new();
    for t in table_schemas(spec) {
        let cols = t
            .columns
            .iter()
            .map(|c| {
                let mut pairs = vec![("name", s(&c.name)), ("type", s(c.kind.config_type()))];
                match c.kind.attr() {
                    Attr::Parted => pairs.push(("attrDisk", s("parted"))),
                    Attr::Grouped => pairs.push(("attrDisk", s("grouped"))),
                    _ => {}
                }
                map(pairs)
            })
            .collect();
        // The kdb+tick shape has no timestamp column, so no partition column to name.
        let mut pairs = vec![("type", s("partitioned"))];
        if !spec.tick_style {
            pairs.push(("prtnCol", s("time")));
        }
        pairs.push(("sortColsDisk", Value::Sequence(vec![s("sym")])));
        pairs.push(("columns", Value::Sequence(cols)));
        tables.insert(s(&t.name), map(pairs));
    }
    let doc = map(vec![
        ("name", s("smstage-sample")),
        ("mounts", mounts),
        ("elements", elements),
        ("tables", Value::Mapping(tables)),
    ]);
    serde_yaml::to_string(&doc).unwrap_or_default()
}

pub mod segments;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kdb::type_width;

    fn small() -> GenSpec {
        GenSpec {
            partitions: 3,
            tables: 3,
            columns: 19,
            rows: 257,
            ..GenSpec::default()
        }
    }

    fn all_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(dir)
            .sort_by_file_name()
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
                (rel, std::fs::read(e.path()).unwrap())
            })
            .collect();
        v.sort();
        v
    }

    fn image(bytes: Vec<u8>) -> Vec<u8> {
        if bytes.starts_with(zip::ZIP_MAGIC) {
            crate::kdb::zip::tests::unzip(&bytes).image
        } else {
            bytes
        }
    }

    fn sym_list(b: &[u8]) -> Vec<String> {
        assert_eq!(&b[..4], &[0xff, 1, 11, 0]);
        let body = &b[8..];
        assert_eq!(body.last(), Some(&0));
        body[..body.len() - 1]
            .split(|&c| c == 0)
            .map(|s| String::from_utf8(s.to_vec()).unwrap())
            .collect()
    }

    /// Row count of a generated column file, read from the bytes (not from the writer).
    fn rows_in(b: &[u8]) -> usize {
        match b[0] {
            0xfe => (b.len() - 16) / type_width(b[2]).unwrap(),
            0xfd if b[4081] == 1 => (b.len() - 4096) / 8,
            0xfd => u64::from_le_bytes(b[4088..4096].try_into().unwrap()) as usize,
            x => panic!("unexpected magic {x:#x}"),
        }
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let (a, b, c) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let spec = GenSpec {
            compress: GenCompression::Gzip,
            ..small()
        };
        generate(a.path(), &spec).unwrap();
        generate(b.path(), &spec).unwrap();
        generate(c.path(), &GenSpec { seed: 2, ..spec }).unwrap();
        let (fa, fb, fc) = (
            all_files(a.path()),
            all_files(b.path()),
            all_files(c.path()),
        );
        assert_eq!(fa, fb);
        assert_eq!(fa.len(), fc.len());
        assert_ne!(fa, fc);
    }

    #[test]
    fn layout_row_counts_and_d_order() {
        let dir = tempfile::tempdir().unwrap();
        let spec = small();
        let sum = generate(dir.path(), &spec).unwrap();
        assert_eq!(
            sum.partitions,
            vec!["2024.01.02", "2024.01.03", "2024.01.04"]
        );
        let root = sym_list(&std::fs::read(dir.path().join("sym")).unwrap());
        assert_eq!(root.len(), 100 + VENUES.len());
        assert_eq!(&root[100..], &VENUES);
        let mut files = 1;
        let mut kinds = std::collections::BTreeSet::new();
        for p in &sum.partitions {
            let mut tables: Vec<String> = std::fs::read_dir(dir.path().join(p))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            tables.sort();
            assert_eq!(tables, vec!["order", "quote", "trade"]);
            for t in &sum.tables {
                let tdir = dir.path().join(p).join(&t.name);
                let d = sym_list(&std::fs::read(tdir.join(".d")).unwrap());
                let want: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
                assert_eq!(d, want, "{p}/{}", t.name);
                assert_eq!(&d[..4], &["time", "sym", "price", "size"]);
                let mut on_disk = 1; // .d
                for c in &t.columns {
                    let b = std::fs::read(tdir.join(&c.name)).unwrap();
                    assert_eq!(rows_in(&b), 257, "{p}/{}/{}", t.name, c.name);
                    // (magic, type byte or 4 KiB-file attribute, inner type).
                    kinds.insert(if b[0] == 0xfd {
                        (b[0], b[4083], b[4082])
                    } else {
                        (b[0], b[2], 0)
                    });
                    on_disk += 1;
                    if c.kind == ColumnKind::String {
                        assert!(tdir.join(format!("{}#", c.name)).is_file());
                        on_disk += 1;
                    }
                }
                assert_eq!(std::fs::read_dir(&tdir).unwrap().count(), on_disk);
                files += on_disk;
            }
        }
        assert_eq!(sum.files, files);
        let on_disk: u64 = all_files(dir.path()).iter().map(|f| f.1.len() as u64).sum();
        assert_eq!(sum.bytes, on_disk);
        // Every simple type 1..=19 except symbol (11), the enum and the nested index.
        let simple: Vec<u8> = kinds.iter().filter(|k| k.0 == 0xfe).map(|k| k.1).collect();
        assert_eq!(
            simple,
            vec![1, 2, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17, 18, 19]
        );
        let enum_attrs: Vec<u8> = kinds
            .iter()
            .filter(|k| k.0 == 0xfd && k.2 == 0x14)
            .map(|k| k.1)
            .collect();
        assert_eq!(enum_attrs, vec![3, 4], "p# sym and g# exch");
        assert!(kinds.contains(&(0xfd, 0, 0x4d)));
    }

    #[test]
    fn sym_column_is_parted_and_enumerates_the_root_sym() {
        let dir = tempfile::tempdir().unwrap();
        let spec = GenSpec {
            partitions: 1,
            tables: 1,
            columns: 3,
            rows: 500,
            symbols: 20,
            ..GenSpec::default()
        };
        generate(dir.path(), &spec).unwrap();
        let b = std::fs::read(dir.path().join("2024.01.02/trade/sym")).unwrap();
        assert_eq!(&b[16..20], b"sym\0");
        assert_eq!(&b[4080..4084], &[0xfd, 0, 20, 3]);
        let idx: Vec<i64> = b[4096..4096 + 8 * 500]
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert!(idx.windows(2).all(|w| w[0] <= w[1]));
        assert!(idx.iter().all(|&i| (0..20).contains(&i)));
        // Time ascending within each sym.
        let t = std::fs::read(dir.path().join("2024.01.02/trade/time")).unwrap();
        let times: Vec<i64> = t[16..]
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        for i in 1..500 {
            if idx[i] == idx[i - 1] {
                assert!(times[i] >= times[i - 1]);
            }
        }
    }

    #[test]
    fn every_compression_is_applied_to_every_column_file() {
        for c in [
            GenCompression::Qipc,
            GenCompression::Snappy,
            GenCompression::Lz4hc,
            GenCompression::Zstd,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let spec = GenSpec {
                partitions: 1,
                tables: 2,
                columns: 8,
                rows: 300,
                compress: c,
                ..GenSpec::default()
            };
            generate(dir.path(), &spec).unwrap();
            let plain = tempfile::tempdir().unwrap();
            generate(
                plain.path(),
                &GenSpec {
                    compress: GenCompression::None,
                    ..spec.clone()
                },
            )
            .unwrap();
            for ((na, a), (nb, b)) in all_files(dir.path())
                .into_iter()
                .zip(all_files(plain.path()))
            {
                assert_eq!(na, nb);
                let is_column = !(na == "sym" || na.ends_with(".d"));
                assert_eq!(a.starts_with(zip::ZIP_MAGIC), is_column, "{c:?} {na}");
                assert_eq!(image(a), b, "{c:?} {na}");
            }
        }
    }

    #[test]
    fn zero_counts_and_weekday_calendar() {
        let dir = tempfile::tempdir().unwrap();
        let spec = GenSpec {
            partitions: 4,
            tables: 1,
            columns: 5,
            rows: 10,
            start: "2024.01.05".into(),
            zero_counts: true,
            ..GenSpec::default()
        };
        let sum = generate(dir.path(), &spec).unwrap();
        assert_eq!(
            sum.partitions,
            vec!["2024.01.05", "2024.01.08", "2024.01.09", "2024.01.10"]
        );
        let t = dir.path().join("2024.01.05/trade");
        assert_eq!(&std::fs::read(t.join("price")).unwrap()[8..16], &[0; 8]);
        assert_eq!(&std::fs::read(t.join(".d")).unwrap()[4..8], &[0; 4]);
        // p# keeps its count whatever the style, as kdb+ does.
        assert_eq!(std::fs::read(t.join("sym")).unwrap()[4088], 10);
        let every = GenSpec {
            every_day: true,
            ..spec
        };
        assert_eq!(
            partition_dates(&every)
                .unwrap()
                .iter()
                .map(|&d| format_date(d))
                .collect::<Vec<_>>(),
            vec!["2024.01.05", "2024.01.06", "2024.01.07", "2024.01.08"]
        );
    }

    #[test]
    fn bad_specs_are_rejected_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("db");
        let bad = [
            GenSpec {
                columns: 2,
                ..GenSpec::default()
            },
            GenSpec {
                start: "2024.02.30".into(),
                ..GenSpec::default()
            },
            GenSpec {
                start: "24.1.2".into(),
                ..GenSpec::default()
            },
            GenSpec {
                compress: GenCompression::Gzip,
                level: Some(12),
                ..GenSpec::default()
            },
        ];
        for spec in bad {
            assert!(generate(&target, &spec).is_err(), "{spec:?}");
            assert!(!target.exists());
        }
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("x"), b"").unwrap();
        assert!(matches!(
            generate(&target, &GenSpec::default()),
            Err(GenError::NotEmpty(_))
        ));
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_date("2000.01.01"), Some(0));
        assert_eq!(parse_date("2024.01.02"), Some(8767));
        assert_eq!(format_date(8767), "2024.01.02");
        assert_eq!(format_date(-1), "1999.12.31");
        assert_eq!(parse_date("2024.13.01"), None);
    }

    #[test]
    fn assembly_yaml_matches_the_generated_tables() {
        let spec = GenSpec {
            tables: 5,
            columns: 7,
            ..GenSpec::default()
        };
        let y = assembly_yaml(&spec, "file:///srv/kx/hdb/");
        let v: serde_yaml::Value = serde_yaml::from_str(&y).unwrap();
        assert_eq!(v["mounts"]["hdb"]["baseURI"], "file:///srv/kx/hdb");
        assert_eq!(v["mounts"]["hdb"]["partition"], "date");
        assert_eq!(v["mounts"]["rdb"]["baseURI"], "file:///srv/kx/rdb");
        assert_eq!(v["mounts"]["rdb"]["type"], "stream");
        assert_eq!(v["mounts"]["idb"]["partition"], "ordinal");
        let tiers = v["elements"]["sm"]["tiers"].as_sequence().unwrap();
        assert_eq!(tiers.len(), 3);
        assert_eq!(tiers[2]["mount"], "hdb");
        let tables = v["tables"].as_mapping().unwrap();
        let names: Vec<&str> = tables.keys().map(|k| k.as_str().unwrap()).collect();
        assert_eq!(names, vec!["trade", "quote", "order", "fill", "t4"]);
        for (t, schema) in table_schemas(&spec).iter().enumerate() {
            let cols = v["tables"][names[t]]["columns"].as_sequence().unwrap();
            assert_eq!(cols.len(), 7);
            for (c, col) in cols.iter().enumerate() {
                assert_eq!(col["name"], schema.columns[c].name.as_str());
                assert_eq!(col["type"], schema.columns[c].kind.config_type());
            }
            assert_eq!(cols[1]["attrDisk"], "parted");
            assert_eq!(cols[0]["type"], "timestamp");
            assert_eq!(v["tables"][names[t]]["prtnCol"], "time");
        }
        // The kdb+tick shape: a timespan `time` and no partition column to name.
        let tick = assembly_yaml(
            &GenSpec {
                tick_style: true,
                ..spec
            },
            "file:///srv/kx/hdb/",
        );
        let v: serde_yaml::Value = serde_yaml::from_str(&tick).unwrap();
        assert_eq!(v["tables"]["trade"]["columns"][0]["type"], "timespan");
        assert!(v["tables"]["trade"].get("prtnCol").is_none(), "{tick}");
        assert_eq!(v["tables"]["trade"]["columns"][4]["type"], "string");
        assert_eq!(v["tables"]["trade"]["columns"][5]["attrDisk"], "grouped");
    }

    #[test]
    fn many_columns_get_unique_names() {
        let spec = GenSpec {
            tables: 6,
            columns: 40,
            ..GenSpec::default()
        };
        for t in table_schemas(&spec) {
            let mut names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), 40, "{}", t.name);
        }
    }
}
