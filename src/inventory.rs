//! Walks a local kdb+ database into partitions → tables → column files (headers only), never
//! following a symlink, and notes every entry that is not where a kdb+ database puts things.

use crate::dates::{classify, PartitionName};
use crate::finding::{code, Finding};
use crate::kdb::{self, FileFormat, Header};
use crate::special::{self, SpecialKind};
use rayon::prelude::*;
use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use walkdir::WalkDir;

#[derive(Debug)]
pub struct Inventory {
    /// The database root (`<baseURI>/data`).
    pub source: PathBuf,
    /// Valid date partitions, in date order.
    pub partitions: Vec<PartitionInv>,
    /// Entries of the root that are not date partitions (and not invalid partition names).
    pub root: Vec<RootItem>,
    /// Problems met while walking (bad partition names, symlinks, unreadable entries…).
    pub findings: Vec<Finding>,
    /// Partitions of object-storage tiers (their `path`s are `s3://` URLs), with the tier
    /// handle to read them through.
    pub object_tiers: Vec<ObjectTierInv>,
    /// Root directories named like partitions that are not dates (months, years, ints…), in
    /// name order: refused by `check`, but `schema` still reads their tables.
    pub other_partitions: Vec<OtherPartition>,
}

/// A root directory that looks like a partition but is not a date.
#[derive(Debug, Clone)]
pub struct OtherPartition {
    pub name: String,
    /// What it looks like ("a month partition", …).
    pub shape: &'static str,
    pub path: PathBuf,
}

#[derive(Debug)]
pub struct ObjectTierInv {
    pub name: String,
    pub tier: crate::object::ObjectTier,
    pub partitions: Vec<PartitionInv>,
}

/// Where a partition lives: local disk, or an object tier (by name).
#[derive(Debug, Clone, Copy)]
pub struct PartRef<'a> {
    pub part: &'a PartitionInv,
    pub tier: Option<&'a ObjectTierInv>,
}

#[derive(Debug)]
pub struct PartitionInv {
    pub date: String,
    pub path: PathBuf,
    pub tables: Vec<TableInv>,
    /// What a remedy will write here that is not on disk yet (a derived or added column's
    /// file, a filled table's directory): its records are in `tables`, so every check judges
    /// the partition as it will be, but `--deep` cannot decode it (the remedy checks its
    /// values from their sources instead).
    pub pending: Vec<PathBuf>,
    /// With [`PartitionDir::stamp`]: every entry below the partition directory as a
    /// fingerprint records it (paths relative to the database, sorted), each stamped before
    /// its bytes or listing were read; None when not asked, or when the partition holds
    /// anything but table directories of regular files (the caller then walks for them).
    pub stamps: Option<crate::plan::fingerprint::Entries>,
    /// The symbolic links directly in the partition directory (never followed: each has its
    /// `symlink-*` finding), so that a remedy can take one out of the partition; its finding
    /// goes with it ([`PartitionDir::read`]).
    pub links: Vec<LinkInv>,
}

/// A symbolic link met by the walk (never followed, reported by its `symlink-*` finding):
/// directly in a partition directory, where kdb+ expects a table directory, or in a table
/// directory, where it expects a column file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInv {
    /// The entry's name (what the table or the file would be called).
    pub name: String,
    pub path: PathBuf,
    /// The link's target text, as stored.
    pub target: String,
    /// Whether it leads (followed to the end) to a directory: a table directory elsewhere.
    pub leads_to_dir: bool,
}

impl PartitionInv {
    /// The paths of every symbolic link of the partition: its own and its tables'.
    fn link_paths(&self) -> std::collections::BTreeSet<String> {
        self.links
            .iter()
            .chain(self.tables.iter().flat_map(|t| &t.links))
            .map(|l| l.path.display().to_string())
            .collect()
    }

    /// `path` is (or is inside) something a remedy will write, not on disk yet.
    pub fn is_pending(&self, path: &Path) -> bool {
        self.pending.iter().any(|p| path.starts_with(p))
    }

    /// Drops every file record and `.d` column list, keeping table names and paths: what the
    /// layout and the database-wide checks need once the partition's own checks have run.
    pub fn release_files(&mut self) {
        // Handed on by the visitor that wanted them (`check::run_stamped`).
        self.stamps = None;
        for t in &mut self.tables {
            t.files = Vec::new();
            if let Some(Ok(cols)) = &mut t.dotd {
                *cols = Vec::new();
            }
        }
    }
}

#[derive(Debug)]
pub struct TableInv {
    pub name: String,
    pub path: PathBuf,
    /// Column names from `.d`; `None` when `.d` is missing, `Some(Err)` when unreadable.
    pub dotd: Option<Result<Vec<String>, FileError>>,
    /// Size of `.d` in bytes (None when there is none): the view needs it to list the file.
    pub dotd_size: Option<u64>,
    /// Every regular file of the table directory except `.d`, sorted by name.
    pub files: Vec<FileInv>,
    /// The symbolic links directly in the table directory, sorted by name (a remedy may take
    /// one out: its finding goes with it, [`PartitionDir::read`]).
    pub links: Vec<LinkInv>,
}

impl TableInv {
    /// Column names from `.d`; empty when `.d` is missing or unreadable (reported elsewhere).
    pub fn columns(&self) -> &[String] {
        match &self.dotd {
            Some(Ok(c)) => c,
            _ => &[],
        }
    }

    pub fn file(&self, name: &str) -> Option<&FileInv> {
        self.files.iter().find(|f| f.name == name)
    }

    /// Row count, from the header of the first column (the checks compare the others).
    pub fn rows(&self) -> Option<u64> {
        let first = self.columns().first()?;
        self.file(first)?.header.as_ref().ok().map(|h| h.count)
    }
}

#[derive(Debug)]
pub struct FileInv {
    pub name: String,
    /// The directory holding it (its table's), shared by every file of the table: one record
    /// per file is kept for the whole command, so the full path is built on demand.
    pub dir: Arc<Path>,
    pub size: u64,
    pub header: Result<Header, FileError>,
    /// Item type of a nested column, read from the first item of `col#` (None: empty or n/a).
    pub nested_item: Option<u8>,
}

impl FileInv {
    /// The file's path (an `s3://` URL for object tiers).
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }
}

/// Why a file's header could not be read: the classes `check` reports differently.
///
/// Each variant carries a [`ReadMessage`], which only a typed reader error can make: which
/// class a failure lands in is decided by [`FileError::from_kdb`] from the error's own
/// variant, so no message, once a string, can be filed as corrupt by a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileError {
    Unreadable(ReadMessage),
    Encrypted(ReadMessage),
    /// Bytes kdb+ cannot have written: restore from the backup.
    Corrupt(ReadMessage),
    /// Valid-looking kdb+ data of a variant the reader does not decode yet: the data may well
    /// be fine, so this must never be reported as corrupt.
    Unsupported(ReadMessage),
    /// Not kdb+ data at all (first bytes of no kdb+ file kind): a stray file.
    NotKdb(ReadMessage),
}

/// The text of a failed read. Its field is private and its only makers are
/// [`FileError::from_kdb`] and [`FileError::from_object`]: the way to a finding goes through
/// the typed error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadMessage {
    text: String,
    /// The OS error number of an i/o failure: what the hint says to do depends on it.
    errno: Option<i32>,
}

impl ReadMessage {
    fn of(text: String) -> Self {
        ReadMessage { text, errno: None }
    }

    pub fn errno(&self) -> Option<i32> {
        self.errno
    }
}

impl std::fmt::Display for ReadMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl FileError {
    pub(crate) fn from_kdb(e: &kdb::KdbError) -> Self {
        let m = ReadMessage::of(e.to_string());
        match e {
            kdb::KdbError::Io { source, .. } => FileError::Unreadable(ReadMessage {
                errno: source.raw_os_error(),
                ..m
            }),
            kdb::KdbError::Encrypted { .. } => FileError::Encrypted(m),
            kdb::KdbError::Unsupported { .. } => FileError::Unsupported(m),
            kdb::KdbError::UnknownMagic { .. } => FileError::NotKdb(m),
            kdb::KdbError::Truncated { .. }
            | kdb::KdbError::BadType { .. }
            | kdb::KdbError::BadAttr { .. }
            | kdb::KdbError::CorruptTrailer { .. }
            | kdb::KdbError::Decompress { .. }
            | kdb::KdbError::Corrupt { .. } => FileError::Corrupt(m),
        }
    }

    /// A failed read of an object-tier file: the reader's class for bytes that were read, and
    /// unreadable for a store that did not deliver them (never corrupt: the bytes were not
    /// seen).
    pub(crate) fn from_object(e: &crate::object::ObjectError) -> Self {
        match e {
            crate::object::ObjectError::Kdb(k) => FileError::from_kdb(k),
            other => FileError::Unreadable(ReadMessage::of(other.to_string())),
        }
    }

    /// The reader's message.
    pub fn message(&self) -> &ReadMessage {
        match self {
            FileError::Unreadable(m)
            | FileError::Encrypted(m)
            | FileError::Corrupt(m)
            | FileError::Unsupported(m)
            | FileError::NotKdb(m) => m,
        }
    }
}

#[derive(Debug)]
pub struct RootItem {
    pub name: String,
    pub path: PathBuf,
    pub kind: RootKind,
}

#[derive(Debug)]
pub enum RootKind {
    /// A serialized symbol list: an enumeration domain such as `sym`.
    Domain { symbols: Vec<String> },
    /// Any other regular file (serialized objects, stray files).
    File { header: Result<Header, FileError> },
    /// A directory with a `.d`: a splayed table in the root.
    Splayed(TableInv),
    /// Any other directory.
    Dir,
    /// A symbolic link (reported; never followed).
    Symlink,
    /// A q or k script (`*.q`, `*.k`): `\l` of the root executes it.
    Script,
}

impl RootItem {
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, RootKind::Splayed(_) | RootKind::Dir)
    }
}

impl Inventory {
    pub fn domain(&self, name: &str) -> Option<&[String]> {
        self.root.iter().find_map(|r| match &r.kind {
            RootKind::Domain { symbols } if r.name == name => Some(symbols.as_slice()),
            _ => None,
        })
    }

    /// Local and object partitions together, by date (local first on equal dates).
    pub fn all_partitions(&self) -> Vec<PartRef<'_>> {
        let mut all: Vec<PartRef<'_>> = self
            .partitions
            .iter()
            .map(|part| PartRef { part, tier: None })
            .collect();
        for t in &self.object_tiers {
            all.extend(t.partitions.iter().map(|part| PartRef {
                part,
                tier: Some(t),
            }));
        }
        all.sort_by(|a, b| a.part.date.cmp(&b.part.date));
        all
    }

    pub fn file_count(&self) -> usize {
        count_files(&self.partitions)
    }
}

/// Files of some partitions: every column file plus one `.d` per table (what a header pass reads).
pub fn count_files(parts: &[PartitionInv]) -> usize {
    parts
        .iter()
        .flat_map(|p| &p.tables)
        .map(|t| t.files.len() + 1)
        .sum()
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("the database directory {path} does not exist: put the database under <baseURI>/data of the HDB mount, or fix the mount's baseURI")]
    Missing { path: String },
    #[error("the database directory {path} is not a directory (a file or a special file): put the database under <baseURI>/data of the HDB mount, or fix the mount's baseURI")]
    NotADirectory { path: String },
    #[error("the database directory {path} is a symbolic link (-> {target}): smstage imports the database directory itself, never through a link; set the HDB mount's baseURI to the directory that holds the real database as data/, or replace the link with the directory it points to")]
    Symlink { path: String, target: String },
    #[error("cannot read the database directory {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// How to read the root: a plain partitioned database (the import's source), or a segmented
/// root whose partitions come from `par.txt` (what `verify` loads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootMode {
    Partitioned,
    Segmented,
}

/// Takes the inventory of the partitioned database at `source`. Partitions are read in parallel.
pub fn take(source: &Path) -> Result<Inventory, InventoryError> {
    take_with(source, RootMode::Partitioned)
}

/// Like [`take`]; in [`RootMode::Segmented`] `par.txt` and names ending in `$` (which `\l`
/// ignores) are skipped, and the caller adds the partitions of each segment.
pub fn take_with(source: &Path, mode: RootMode) -> Result<Inventory, InventoryError> {
    let (mut inv, dirs) = scan_root(source, mode)?;
    let read = read_partitions(dirs, |_| (), Detail::Files);
    add_partitions(&mut inv, read.into_iter().map(|(p, f, ())| (p, f)));
    Ok(inv)
}

/// A date partition directory found by [`scan_root`], not read yet.
#[derive(Debug, Clone)]
pub struct PartitionDir {
    pub date: String,
    pub path: PathBuf,
    /// The directory a symlink must resolve inside to count as "inside the database".
    pub anchor: Arc<Path>,
    /// The tier the partition belongs to (a segmented database's segment), named in the
    /// findings of its walk.
    pub tier: Option<Arc<str>>,
    /// Applied to the partition as soon as it is read, before anything looks at it (`check
    /// --remedy` judges the database as the remedies will leave it).
    pub overlay: Option<Overlay>,
    /// Record the fingerprint stamps of the partition's tables and files as they are read
    /// ([`PartitionInv::stamps`]): `commit --config` then needs no walk of its own.
    pub stamp: bool,
}

/// A change made to each partition's records as it is read (never to the disk).
#[derive(Clone)]
pub struct Overlay(pub Arc<dyn Fn(&mut PartitionInv) + Send + Sync>);

impl std::fmt::Debug for Overlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Overlay")
    }
}

impl PartitionDir {
    /// Reads the partition's tables (every file's header), with the findings of the walk.
    pub fn read(&self) -> (PartitionInv, Vec<Finding>) {
        let mut f = Vec::new();
        let mut rec = (self.stamp && self.overlay.is_none()).then(Recorder::default);
        let (tables, links) =
            read_partition_stamped(&self.date, &self.path, &self.anchor, &mut f, rec.as_mut());
        if let Some(tier) = &self.tier {
            for x in &mut f {
                x.tier = Some(tier.to_string());
            }
        }
        let mut part = PartitionInv {
            date: self.date.clone(),
            path: self.path.clone(),
            tables,
            pending: Vec::new(),
            stamps: rec.and_then(Recorder::finish),
            links,
        };
        if let Some(o) = &self.overlay {
            let before = part.link_paths();
            (o.0)(&mut part);
            // A link the overlay took out of the partition (set-aside moves it, or the table
            // holding it) is no longer the partition's: its symlink finding goes with it.
            let after = part.link_paths();
            let gone: Vec<String> = before.into_iter().filter(|p| !after.contains(p)).collect();
            f.retain(|x| {
                !((x.code == code::SYMLINK_OUTSIDE || x.code == code::SYMLINK_INSIDE)
                    && x.path.as_ref().is_some_and(|p| gone.contains(p)))
            });
        }
        (part, f)
    }
}

/// What [`read_partitions`] keeps of each partition once its visitor has seen it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// Every file record (what `mount --object-tiers-local` lists, and the tests compare).
    Files,
    /// Table names and paths only: the per-file records (~200 B per file) are released right
    /// after the visitor, so a command's memory grows with tables, not files.
    Tables,
}

/// Reads the root of the database at `source` (its entries, domains, root tables) and lists
/// its date partition directories without reading them: the checks of a partition need the
/// root (enumeration domains) and every partition's date (which one is last) before it is read.
pub fn scan_root(
    source: &Path,
    mode: RootMode,
) -> Result<(Inventory, Vec<PartitionDir>), InventoryError> {
    let meta = fs::symlink_metadata(source).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => InventoryError::Missing {
            path: source.display().to_string(),
        },
        _ => InventoryError::Io {
            path: source.display().to_string(),
            source: e,
        },
    })?;
    if meta.file_type().is_symlink() {
        return Err(InventoryError::Symlink {
            path: source.display().to_string(),
            target: fs::read_link(source)
                .map(|t| t.display().to_string())
                .unwrap_or_else(|_| "?".into()),
        });
    }
    if !meta.is_dir() {
        return Err(InventoryError::NotADirectory {
            path: source.display().to_string(),
        });
    }
    let canonical_source = fs::canonicalize(source).map_err(|e| InventoryError::Io {
        path: source.display().to_string(),
        source: e,
    })?;
    let root_dev = meta.dev();

    let mut findings = Vec::new();
    let mut part_dirs = Vec::new();
    let mut other_partitions = Vec::new();
    let mut root = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(source)
        .map_err(|e| InventoryError::Io {
            path: source.display().to_string(),
            source: e,
        })?
        .collect();
    entries.sort_by_key(|e| e.as_ref().map(|e| e.file_name()).ok());
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                findings.push(
                    Finding::error(
                        code::LOAD_UNREADABLE,
                        format!("cannot list the database root: {e}"),
                    )
                    .path(source.display()),
                );
                continue;
            }
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if mode == RootMode::Segmented && (name == "par.txt" || name.ends_with('$')) {
            continue;
        }
        let ft = match entry.file_type() {
            Ok(ft) => ft,
            Err(e) => {
                findings.push(unreadable(&path, &e, crate::io_hint::for_io(&e)));
                continue;
            }
        };
        if let Some(kind) = SpecialKind::of(&ft) {
            findings.push(special::finding(&path, kind, "the database"));
            continue;
        }
        if ft.is_dir() {
            if let Some(f) = mount_finding(&path, Some(root_dev)) {
                findings.push(f);
                continue;
            }
        }
        if ft.is_symlink() {
            findings.push(symlink_finding(&path, &canonical_source));
            root.push(RootItem {
                name,
                path,
                kind: RootKind::Symlink,
            });
            continue;
        }
        if ft.is_dir() {
            match classify(&name) {
                PartitionName::Date if mode == RootMode::Segmented => {
                    findings.push(
                        Finding::warning(
                            code::VERIFY_SEGMENT,
                            format!("date directory {name} sits in a segmented root: kdb+ loads partitions from the segments in par.txt only, so it is not loaded"),
                        )
                        .partition(&name)
                        .path(path.display()),
                    );
                    continue;
                }
                PartitionName::Date => {
                    part_dirs.push((name, path));
                    continue;
                }
                PartitionName::NotADate(shape) => {
                    other_partitions.push(OtherPartition { name, shape, path });
                    continue;
                }
                PartitionName::Other => {}
            }
        }
        if name.starts_with('.') {
            findings.push(
                Finding::warning(
                    code::LOAD_HIDDEN_FILE,
                    format!("hidden entry {name} in the database root: hidden files can stop \\l from loading the root"),
                )
                .path(path.display())
                .hint("remove it if it is not part of the database"),
            );
        }
        let kind = if ft.is_file() && is_script(&name) {
            RootKind::Script
        } else if ft.is_dir() {
            let dotd = path.join(".d");
            if dotd.exists() {
                RootKind::Splayed(read_table(&name, &path, &canonical_source, &mut findings))
            } else {
                scan_subtree(&path, &canonical_source, &mut findings);
                RootKind::Dir
            }
        } else {
            let header = read_file_header(&path);
            match &header {
                Ok((h, _)) if h.format == FileFormat::SymbolList => {
                    match kdb::read_symbols(&path) {
                        Ok(symbols) => RootKind::Domain { symbols },
                        Err(e) => RootKind::File {
                            header: Err(FileError::from_kdb(&e)),
                        },
                    }
                }
                _ => RootKind::File {
                    header: header.map(|(h, _)| h),
                },
            }
        };
        root.push(RootItem { name, path, kind });
    }

    findings.extend(not_date_findings(&other_partitions));
    part_dirs.sort();
    let anchor: Arc<Path> = Arc::from(canonical_source.as_path());
    let dirs = part_dirs
        .into_iter()
        .map(|(date, path)| PartitionDir {
            date,
            path,
            anchor: anchor.clone(),
            tier: None,
            overlay: None,
            stamp: false,
        })
        .collect();
    Ok((
        Inventory {
            source: source.to_path_buf(),
            partitions: Vec::new(),
            root,
            findings,
            object_tiers: Vec::new(),
            other_partitions,
        },
        dirs,
    ))
}

/// Reads partitions in parallel, in the order given. `visit` sees each whole partition on the
/// worker that read it (the checks run there while its files are in memory); its result, the
/// partition (as much of it as `detail` keeps) and the walk's findings come back in order.
pub fn read_partitions<T: Send>(
    dirs: Vec<PartitionDir>,
    visit: impl Fn(&PartitionInv) -> T + Sync + Send,
    detail: Detail,
) -> Vec<(PartitionInv, Vec<Finding>, T)> {
    // Blocked on open/pread nearly all the time when cold: the I/O pool keeps many reads in
    // flight (see io_pool).
    crate::io_pool::install(|| {
        dirs.into_par_iter()
            .map(|d| {
                let (mut part, f) = d.read();
                let seen = visit(&part);
                if detail == Detail::Tables {
                    part.release_files();
                }
                (part, f, seen)
            })
            .collect()
    })
}

/// Adds partitions read by [`read_partitions`], with their walk findings, in the order given.
pub fn add_partitions(
    inv: &mut Inventory,
    parts: impl IntoIterator<Item = (PartitionInv, Vec<Finding>)>,
) {
    for (p, f) in parts {
        inv.findings.extend(f);
        inv.partitions.push(p);
    }
}

fn plural_shape(shape: &str) -> String {
    match shape {
        "a date that does not exist on the calendar" => {
            "dates that do not exist on the calendar".into()
        }
        "a month partition" => "month partitions".into(),
        "a year partition (or an int partition)" => "year partitions (or int partitions)".into(),
        "an int partition (or a date without dots)" => {
            "int partitions (or dates without dots)".into()
        }
        "a malformed partition name" => "malformed partition names".into(),
        other => other.to_string(),
    }
}

/// q executes these when `\l` loads the root (`.q` scripts, `.k` scripts).
fn is_script(name: &str) -> bool {
    name.ends_with(".q") || name.ends_with(".k")
}

/// One finding per kind of non-date partition name (a database of 5,000 month partitions
/// gets one finding, not 5,000), naming the kind: the SM import takes date partitions only.
fn not_date_findings(others: &[OtherPartition]) -> Vec<Finding> {
    let mut shapes: Vec<&'static str> = others.iter().map(|o| o.shape).collect();
    shapes.sort();
    shapes.dedup();
    shapes
        .into_iter()
        .map(|shape| {
            let these: Vec<&OtherPartition> = others.iter().filter(|o| o.shape == shape).collect();
            let names: Vec<&str> = these.iter().map(|o| o.name.as_str()).collect();
            let n = names.len();
            let listed = if n > 5 {
                format!("{} … {}", names[..3].join(", "), names[n - 1])
            } else {
                names.join(", ")
            };
            let what = if n == 1 {
                format!("partition directory {listed} is {shape}, not a YYYY.MM.DD date")
            } else {
                format!("{n} partition directories ({listed}) are {}, not YYYY.MM.DD dates", plural_shape(shape))
            };
            let (why, fix) = if shape.contains("month") {
                (
                    "the database is partitioned by month, and the SM import takes date-partitioned databases only",
                    "SM's historical tier partitions by date: re-partition the data by date (one directory per day) before importing; smstage does not convert month partitions",
                )
            } else if shape.contains("int") || shape.contains("year") {
                (
                    "the database is partitioned by year or int, and the SM import takes date-partitioned databases only",
                    "re-partition the data by date before importing, or move these directories out of the database (into the backup)",
                )
            } else {
                (
                    "the SM import takes date partitions only",
                    "rename each to its valid date, or move it out of the database (into the backup) before importing",
                )
            };
            let what = format!("{what}: {why}");
            Finding::error(code::PARTITION_NOT_DATE, what)
                .partition(&these[0].name)
                .path(these[0].path.display())
                .hint(fix)
        })
        .collect()
}

/// The fingerprint stamps of one partition, taken by its read (see [`PartitionInv::stamps`]).
#[derive(Default)]
struct Recorder {
    entries: Vec<crate::plan::fingerprint::FsEntry>,
    /// Something met that the read does not stamp as the fingerprint's walk would (a symlink,
    /// a special file, a nested directory, a file that could not be opened).
    incomplete: bool,
}

impl Recorder {
    fn push(
        &mut self,
        rel: String,
        kind: crate::plan::fingerprint::FsKind,
        size: u64,
        s: kdb::FileStamp,
    ) {
        use crate::plan::fingerprint::{FsEntry, FsKind};
        self.entries.push(FsEntry {
            path: rel,
            kind,
            size,
            mtime_ns: s.mtime_ns,
            inode: s.inode,
            target: None,
            ctime_ns: (kind == FsKind::File).then_some(s.ctime_ns),
        });
    }

    fn file(&mut self, rel: String, f: &kdb::LocalFile) {
        let len = kdb::ReadAt::len(f).unwrap_or(0);
        self.push(rel, crate::plan::fingerprint::FsKind::File, len, f.stamp());
    }

    fn dir(&mut self, rel: String, md: &fs::Metadata) {
        let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000) + n;
        let stamp = kdb::FileStamp {
            inode: md.ino(),
            mtime_ns: ns(md.mtime(), md.mtime_nsec()),
            ctime_ns: ns(md.ctime(), md.ctime_nsec()),
        };
        self.push(rel, crate::plan::fingerprint::FsKind::Dir, md.len(), stamp);
    }

    fn finish(mut self) -> Option<crate::plan::fingerprint::Entries> {
        if self.incomplete {
            return None;
        }
        self.entries
            .sort_unstable_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        let mut out: crate::plan::fingerprint::Entries = self.entries.into_iter().collect();
        out.shrink_to_fit();
        Some(out)
    }
}

/// The tables of the date partition `path`, each file's header read; with `rec`, every entry
/// below the partition stamped as it is met.
fn read_partition_stamped(
    date: &str,
    path: &Path,
    canonical_source: &Path,
    findings: &mut Vec<Finding>,
    mut rec: Option<&mut Recorder>,
) -> (Vec<TableInv>, Vec<LinkInv>) {
    let mut tables = Vec::new();
    let mut links = Vec::new();
    let entries = match fs::read_dir(path) {
        Ok(rd) => rd,
        Err(e) => {
            findings.push(unreadable(path, &e, crate::io_hint::for_io(&e)).partition(date));
            if let Some(r) = rec {
                r.incomplete = true;
            }
            return (tables, links);
        }
    };
    // A partition's tables are on its own filesystem: a table directory on another one is a
    // mount inside the database (the commit could not rename it). Followed: `verify` reads
    // the partitions of a committed root through their segment symlinks.
    let part_dev = fs::metadata(path).map(|m| m.dev()).ok();
    let mut names = Vec::new();
    for entry in entries {
        match entry {
            Ok(e) => names.push(e),
            Err(e) => {
                if let Some(r) = rec.as_deref_mut() {
                    r.incomplete = true;
                }
                findings.push(unreadable(path, &e, crate::io_hint::for_io(&e)).partition(date))
            }
        }
    }
    names.sort_by_key(|e| e.file_name());
    let mut int_dirs = Vec::new();
    for entry in names {
        let name = entry.file_name().to_string_lossy().into_owned();
        let p = entry.path();
        let ft = entry.file_type();
        // Stamped (lstat) before the table is listed; anything but a table directory is left
        // to the fingerprint's own walk.
        let mut table_md = None;
        if ft.as_ref().is_ok_and(|ft| ft.is_dir()) {
            let md = fs::symlink_metadata(&p);
            if let Some(f) = mount_finding_of(&p, md.as_ref().ok().map(|m| m.dev()), part_dev) {
                findings.push(f.partition(date));
                if let Some(r) = rec.as_deref_mut() {
                    r.incomplete = true;
                }
                continue;
            }
            table_md = md.ok();
        }
        if let Some(r) = rec.as_deref_mut() {
            match (&ft, &table_md) {
                (Ok(ft), Some(md)) if ft.is_dir() && md.is_dir() => {
                    r.dir(format!("{date}/{name}"), md)
                }
                _ => r.incomplete = true,
            }
        }
        match ft {
            Ok(ft) if ft.is_symlink() => {
                findings.push(symlink_finding(&p, canonical_source).partition(date));
                // What it leads to decides whether set-aside may move it as a table.
                links.push(link_inv(name, p));
            }
            Ok(ft) if SpecialKind::of(&ft).is_some() => {
                if let Some(kind) = SpecialKind::of(&ft) {
                    findings.push(special::finding(&p, kind, "the database").partition(date));
                }
            }
            // A tailer (intraday writer) keeps int sub-partitions below the date until they
            // are merged: not tables, and not something kdb+ loads from a date partition.
            Ok(ft) if ft.is_dir() && is_int_subdir(&name, &p) => {
                if let Some(r) = rec.as_deref_mut() {
                    r.incomplete = true;
                }
                int_dirs.push(name)
            }
            Ok(ft) if ft.is_dir() => {
                let mut f = Vec::new();
                let prefix = format!("{date}/{name}");
                let t = read_table_stamped(
                    &name,
                    &p,
                    canonical_source,
                    &mut f,
                    rec.as_deref_mut().map(|r| (r, prefix.as_str())),
                );
                findings.extend(f.into_iter().map(|x| x.partition(date)));
                tables.push(t);
            }
            Ok(_) => findings.push(partition_file_finding(date, &name, &p)),
            Err(e) => findings.push(unreadable(&p, &e, crate::io_hint::for_io(&e)).partition(date)),
        }
    }
    if !int_dirs.is_empty() {
        let n = int_dirs.len();
        let shown = if n > 5 {
            format!("{} … {}", int_dirs[..3].join(", "), int_dirs[n - 1])
        } else {
            int_dirs.join(", ")
        };
        findings.push(
            Finding::error(
                code::PARTITION_INT_SUBDIRS,
                format!("date partition {date} holds {n} int sub-director{} ({shown}) instead of table directories: this is a tailer's intraday layout (int partitions below a date), which kdb+ does not load as a date partition", if n == 1 { "y" } else { "ies" }),
            )
            .partition(date)
            .path(path.join(&int_dirs[0]).display())
            .hint("merge the int sub-partitions into the date partition's tables (as the tailer's end-of-day merge does) before importing"),
        );
    }
    tables.shrink_to_fit();
    (tables, links)
}

/// An int sub-partition (a tailer's intraday layout) rather than a table: digits, no `.d`.
fn is_int_subdir(name: &str, path: &Path) -> bool {
    name.bytes().all(|b| b.is_ascii_digit()) && !path.join(".d").exists()
}

/// Names of the tables of a partition, as [`read_partition`] would find them, without reading
/// them: directories (never through a symlink) that are not int sub-partitions, sorted.
pub(crate) fn table_names(path: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(path) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|ft| ft.is_dir()))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(name, p)| !is_int_subdir(name, p))
        .map(|(name, _)| name)
        .collect();
    names.sort();
    names
}

/// A regular file where a partition holds only table directories: a flat (serialized) table
/// gets its own code, since kdb+ loads partitioned tables only splayed.
fn partition_file_finding(date: &str, name: &str, p: &Path) -> Finding {
    let flat = matches!(
        read_file_header(p),
        Ok((h, _)) if h.format == FileFormat::Serialized && matches!(h.value_type, 98 | 99 | 127)
    );
    let f = if flat {
        Finding::error(
            code::LOAD_FLAT_TABLE,
            format!("{name} in partition {date} is a flat (serialized) table: kdb+ loads a partition's tables only as splayed directories (name/.d + one file per column)"),
        )
        .table(name)
        .hint(format!("splay it (e.g. `.[`:{date}/{name}/;();:;.Q.en[`:.] get `:{date}/{name}]` in q, after moving the file aside), or move it out of the partition"))
    } else {
        Finding::error(
            code::LOAD_NOT_A_TABLE,
            format!("file {name} in partition {date} is not a table directory: kdb+ expects only table directories in a partition"),
        )
        .hint("move the file out of the partition")
    };
    f.partition(date).path(p.display())
}

/// Reads one table directory (partitioned or splayed): `.d` and the header of every file.
pub(crate) fn read_table(
    name: &str,
    path: &Path,
    canonical_source: &Path,
    findings: &mut Vec<Finding>,
) -> TableInv {
    read_table_stamped(name, path, canonical_source, findings, None)
}

/// [`read_table`], stamping each file into `rec` (with its path relative to the database:
/// the table's, then `/name`) from the `fstat` of the open that reads it.
fn read_table_stamped(
    name: &str,
    path: &Path,
    canonical_source: &Path,
    findings: &mut Vec<Finding>,
    mut rec: Option<(&mut Recorder, &str)>,
) -> TableInv {
    let mut files = Vec::new();
    let mut dotd = None;
    let mut dotd_size = None;
    let mut nested_data: Option<(String, kdb::LocalFile, Header)> = None;
    let mut links = Vec::new();
    let dir: Arc<Path> = Arc::from(path);
    // Column files are opened relative to the table directory (see `LocalFile::open_at`);
    // by path when the directory cannot be opened (the walk below then reports why).
    let dir_fd = open_table_dir(path);
    let dir_fd = dir_fd.as_ref().map(|f| f.as_fd());
    let open = |name: &std::ffi::OsStr, p: &Path| match dir_fd {
        Some(d) => kdb::LocalFile::open_at(d, name, p),
        None => kdb::LocalFile::open(p),
    };
    let listed = match dir_fd {
        Some(d) => table_entries_at(d),
        None => table_entries_by_path(path),
    };
    let entries = match listed {
        Ok(entries) => entries,
        Err(e) => {
            findings.push(unreadable(path, &e, crate::io_hint::for_io(&e)).table(name));
            if let Some((r, _)) = rec.as_mut() {
                r.incomplete = true;
            }
            Vec::new()
        }
    };
    for entry in entries {
        let fname = entry.name.to_string_lossy().into_owned();
        let p = path.join(&entry.name);
        let ft = entry.kind;
        if let Some((r, _)) = rec.as_mut() {
            // Stamped below only when opened; a name that is not UTF-8 is left to the walk
            // (the fingerprint's path of it is lossy, this one would be too, but not provably
            // the same).
            if ft != EntryKind::File || entry.name.to_str().is_none() {
                r.incomplete = true;
            }
        }
        let stamp = |rec: &mut Option<(&mut Recorder, &str)>, f: &kdb::LocalFile| {
            if let Some((r, prefix)) = rec.as_mut() {
                r.file(format!("{prefix}/{fname}"), f);
            }
        };
        if ft == EntryKind::Symlink {
            findings.push(symlink_finding(&p, canonical_source).table(name));
            links.push(link_inv(fname, p));
            continue;
        }
        if let EntryKind::Special(kind) = ft {
            findings.push(special::finding(&p, kind, "the database").table(name));
            continue;
        }
        if ft == EntryKind::Dir {
            findings.push(
                Finding::error(
                    code::LOAD_NOT_A_TABLE,
                    format!("directory {fname} inside table {name}: a table directory holds only column files"),
                )
                .table(name)
                .path(p.display())
                .hint("move the directory out of the table"),
            );
            scan_subtree(&p, canonical_source, findings);
            continue;
        }
        if fname == ".d" {
            // Read (and stamped) through one open, its size from that open's `fstat`: the
            // same bytes and errors as `kdb::read_symbols` by path.
            match open(&entry.name, &p) {
                Ok(f) => {
                    stamp(&mut rec, &f);
                    dotd_size = kdb::ReadAt::len(&f).ok();
                    dotd = Some(kdb::read_symbols_from(&f).map_err(|e| FileError::from_kdb(&e)));
                }
                Err(e) => {
                    if let Some((r, _)) = rec.as_mut() {
                        r.incomplete = true;
                    }
                    dotd_size = fs::symlink_metadata(&p).ok().map(|m| m.len());
                    dotd = Some(Err(FileError::from_kdb(&e)));
                }
            }
            continue;
        }
        // A nested column's data file was opened for its item type just before (sorted walk:
        // `col` comes right before `col#`): read its header from the same descriptor.
        // Its header is read knowing the column's: a 3.x compound column's `col#` holds raw
        // items with no header of its own.
        let opened = match nested_data.take() {
            Some((n, f, column)) if n == fname => Some((f, column)),
            _ => None,
        };
        let read = match opened {
            Some((f, column)) => {
                stamp(&mut rec, &f);
                data_header_of(&f, &column)
            }
            None => match open(&entry.name, &p) {
                Ok(f) => {
                    stamp(&mut rec, &f);
                    header_of(&f)
                }
                Err(e) => {
                    if let Some((r, _)) = rec.as_mut() {
                        r.incomplete = true;
                    }
                    Err(FileError::from_kdb(&e))
                }
            },
        };
        let (header, size) = match read {
            Ok((h, s)) => (Ok(h), s),
            Err(e) => (
                Err(e),
                fs::symlink_metadata(&p).map(|m| m.len()).unwrap_or(0),
            ),
        };
        let nested_item = match &header {
            Ok(h) if h.nested => {
                let name = format!("{fname}#");
                match open(std::ffi::OsStr::new(&name), &path.join(&name)) {
                    Ok(f) => {
                        let item = kdb::header::nested_item_type_from(&f).ok().flatten();
                        nested_data = Some((name, f, h.clone()));
                        item
                    }
                    Err(_) => None,
                }
            }
            _ => None,
        };
        files.push(FileInv {
            name: fname,
            dir: dir.clone(),
            size,
            header,
            nested_item,
        });
    }
    // Kept for the whole command, for every table of every partition: no growth slack.
    files.shrink_to_fit();
    TableInv {
        name: name.to_string(),
        path: path.to_path_buf(),
        dotd,
        dotd_size,
        files,
        links,
    }
}

/// The record of the symbolic link `path` (named `name`): its target text, and whether it
/// leads to a directory (only stat'ed, never read through).
fn link_inv(name: String, path: PathBuf) -> LinkInv {
    LinkInv {
        target: fs::read_link(&path)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "?".into()),
        leads_to_dir: fs::metadata(&path).is_ok_and(|m| m.is_dir()),
        name,
        path,
    }
}

/// What a table directory's listing says an entry is (never following a symlink).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EntryKind {
    File,
    Dir,
    Symlink,
    Special(SpecialKind),
}

impl EntryKind {
    fn of_mode(mode: u32) -> EntryKind {
        match mode & libc::S_IFMT {
            libc::S_IFDIR => EntryKind::Dir,
            libc::S_IFLNK => EntryKind::Symlink,
            m => SpecialKind::of_mode(m).map_or(EntryKind::File, EntryKind::Special),
        }
    }

    fn of_file_type(ft: &fs::FileType) -> EntryKind {
        if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            EntryKind::Symlink
        } else {
            SpecialKind::of(ft).map_or(EntryKind::File, EntryKind::Special)
        }
    }
}

struct TableEntry {
    name: std::ffi::OsString,
    kind: EntryKind,
}

/// The entries of the open table directory `dir`, sorted by name as `walkdir`'s
/// `sort_by_file_name` sorts them: one `getdents64` on the descriptor the files are then opened
/// through, instead of opening the directory a second time by its full path.
fn table_entries_at(dir: std::os::fd::BorrowedFd<'_>) -> std::io::Result<Vec<TableEntry>> {
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let mut out = Vec::new();
    for e in crate::dirents::list(dir)? {
        let kind = match e.d_type {
            libc::DT_REG => EntryKind::File,
            libc::DT_DIR => EntryKind::Dir,
            libc::DT_LNK => EntryKind::Symlink,
            libc::DT_FIFO => EntryKind::Special(SpecialKind::Fifo),
            libc::DT_SOCK => EntryKind::Special(SpecialKind::Socket),
            libc::DT_CHR => EntryKind::Special(SpecialKind::CharDevice),
            libc::DT_BLK => EntryKind::Special(SpecialKind::BlockDevice),
            // The filesystem does not say (DT_UNKNOWN): ask, never following a symlink.
            _ => {
                // SAFETY: stat is plain data filled by the kernel.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                // SAFETY: valid descriptor, NUL-terminated name, valid out pointer.
                let r = unsafe {
                    libc::fstatat(
                        dir.as_raw_fd(),
                        e.name.as_ptr(),
                        &mut st,
                        libc::AT_SYMLINK_NOFOLLOW,
                    )
                };
                if r < 0 {
                    // Gone or unreadable since it was listed: opened as a file below, whose
                    // error then names it (as walkdir reported the entry and went on).
                    EntryKind::File
                } else {
                    EntryKind::of_mode(st.st_mode)
                }
            }
        };
        out.push(TableEntry {
            name: std::ffi::OsStr::from_bytes(e.name_bytes()).to_os_string(),
            kind,
        });
    }
    out.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// [`table_entries_at`] for a table directory that could not be opened as one (a symlink to a
/// splayed table, say): listed by path, following that last link as `walkdir` did.
fn table_entries_by_path(path: &Path) -> std::io::Result<Vec<TableEntry>> {
    let mut out = Vec::new();
    for e in fs::read_dir(path)? {
        let e = e?;
        out.push(TableEntry {
            name: e.file_name(),
            kind: EntryKind::of_file_type(&e.file_type()?),
        });
    }
    out.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The table directory `path`, open for `openat` of its files; never through a symlink.
/// Its listing writes no access time (crate::noatime).
fn open_table_dir(path: &Path) -> Option<fs::File> {
    crate::noatime::open(path, libc::O_DIRECTORY | libc::O_NOFOLLOW).ok()
}

pub(crate) fn read_file_header(path: &Path) -> Result<(Header, u64), FileError> {
    let file = kdb::LocalFile::open(path).map_err(|e| FileError::from_kdb(&e))?;
    header_of(&file)
}

fn data_header_of(file: &kdb::LocalFile, column: &Header) -> Result<(Header, u64), FileError> {
    let size = kdb::ReadAt::len(file).map_err(|e| FileError::from_kdb(&e))?;
    let header =
        kdb::header::read_data_header_from(file, column).map_err(|e| FileError::from_kdb(&e))?;
    Ok((header, size))
}

fn header_of(file: &kdb::LocalFile) -> Result<(Header, u64), FileError> {
    let size = kdb::ReadAt::len(file).map_err(|e| FileError::from_kdb(&e))?;
    let header = kdb::read_header_from(file).map_err(|e| FileError::from_kdb(&e))?;
    Ok((header, size))
}

/// Walks a non-table directory only to find symlinks, which the import never follows.
pub(crate) fn scan_subtree(path: &Path, canonical_source: &Path, findings: &mut Vec<Finding>) {
    let dev = fs::symlink_metadata(path).map(|m| m.dev()).ok();
    // Never into another filesystem: a mount below the database is not the database's data.
    for entry in WalkDir::new(path)
        .min_depth(1)
        .follow_links(false)
        .same_file_system(true)
    {
        match entry {
            Ok(e) if e.file_type().is_symlink() => {
                findings.push(symlink_finding(e.path(), canonical_source))
            }
            Ok(e) if e.file_type().is_dir() => findings.extend(mount_finding(e.path(), dev)),
            Ok(e) if SpecialKind::of(&e.file_type()).is_some() => {
                if let Some(kind) = SpecialKind::of(&e.file_type()) {
                    findings.push(special::finding(e.path(), kind, "the database"))
                }
            }
            Ok(_) => {}
            Err(e) => findings.push(unreadable(path, &e, crate::io_hint::for_walk(&e))),
        }
    }
}

/// The finding for a directory at `path` that is the root of another filesystem than its
/// parent's (`parent_dev`): a mount inside the database. Its contents are not walked (they
/// are not the database's), the commit cannot rename a mountpoint, and the view does not
/// cross into it.
pub(crate) fn mount_finding(path: &Path, parent_dev: Option<u64>) -> Option<Finding> {
    mount_finding_of(
        path,
        fs::symlink_metadata(path).ok().map(|m| m.dev()),
        parent_dev,
    )
}

/// [`mount_finding`] from the device of `path`'s `lstat` (None: it could not be taken).
fn mount_finding_of(path: &Path, dev: Option<u64>, parent_dev: Option<u64>) -> Option<Finding> {
    let dev = dev?;
    if Some(dev) == parent_dev || parent_dev.is_none() {
        return None;
    }
    Some(
        Finding::error(
            code::MOUNT_INSIDE,
            format!("{} is the mountpoint of another filesystem inside the database: smstage does not walk into it, the import cannot move it, and the view does not serve it", path.display()),
        )
        .path(path.display())
        .hint(format!("unmount it (`umount {}`), or move the data it holds into the database itself, then run check again", path.display())),
    )
}

/// `load-unreadable` for `path`, with the hint its errno calls for (`advice`).
pub(crate) fn unreadable(
    path: &Path,
    err: &dyn std::fmt::Display,
    advice: crate::io_hint::Advice,
) -> Finding {
    let cause = advice.cause.map(|c| format!(" ({c})")).unwrap_or_default();
    Finding::error(
        code::LOAD_UNREADABLE,
        format!("cannot read {}: {err}{cause}", path.display()),
    )
    .path(path.display())
    .hint(advice.fix)
}

pub(crate) fn symlink_finding(path: &Path, canonical_source: &Path) -> Finding {
    let target = fs::read_link(path)
        .map(|t| t.display().to_string())
        .unwrap_or_else(|_| "?".into());
    let resolved = fs::canonicalize(path);
    if matches!(&resolved, Err(e) if e.raw_os_error() == Some(libc::ELOOP)) {
        // Resolving it never ends: it leads nowhere, inside or outside.
        return Finding::error(
            code::SYMLINK_INSIDE,
            format!("{} is a symbolic link loop (-> {target}): following it leads back to a link already followed, never to a file", path.display()),
        )
        .path(path.display())
        .hint("remove the link (it points to no data); if a file was meant to be there, restore it from the backup");
    }
    let inside = resolved
        .map(|c| c.starts_with(canonical_source))
        .unwrap_or(false);
    if inside {
        Finding::error(
            code::SYMLINK_INSIDE,
            format!("{} is a symbolic link (-> {target}): the import moves directories, which would break a relative link", path.display()),
        )
        .path(path.display())
        .hint("replace the link with the file or directory it points to")
    } else {
        Finding::error(
            code::SYMLINK_OUTSIDE,
            format!("{} is a symbolic link pointing outside the database (-> {target}): smstage never follows links out of the database", path.display()),
        )
        .path(path.display())
        // Removing the link alone would drop from the database the data it stands for: say
        // what keeps the data, and what moves an entry that is not to be imported.
        .hint("replace the link with a copy of the data it points to (remove the link, then copy that data to the link's name); if it is not to be imported, move the link out of the database (for a table the assembly does not configure, `--remedy set-aside` moves it and rollback puts it back)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The class of a failed read is the reader's: an unsupported variant stays unsupported
    /// and an i/o error keeps its errno for the hint.
    #[test]
    fn file_errors_keep_the_readers_class() {
        let unsupported = kdb::KdbError::unsupported("c#", 4096, &[0xfb, 0, 0x4d], "list");
        assert!(matches!(
            FileError::from_kdb(&unsupported),
            FileError::Unsupported(_)
        ));
        let corrupt = kdb::KdbError::corrupt("c#", 4096, "bad");
        assert!(matches!(
            FileError::from_kdb(&corrupt),
            FileError::Corrupt(_)
        ));
        let io = kdb::KdbError::io("c", std::io::Error::from_raw_os_error(libc::ENAMETOOLONG));
        let e = FileError::from_kdb(&io);
        assert!(matches!(e, FileError::Unreadable(_)));
        assert_eq!(e.message().errno(), Some(libc::ENAMETOOLONG));
        let obj = crate::object::ObjectError::Kdb(unsupported);
        assert!(matches!(
            FileError::from_object(&obj),
            FileError::Unsupported(_)
        ));
    }
}
