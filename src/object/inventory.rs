//! Inventory of an object tier: partitions → tables → column headers, in the same types as the
//! local inventory (paths hold `s3://bucket/key` text), read with listings and ranged GETs in
//! parallel; plus whole-object reads for `--deep`.

use super::block_on;
use super::readat::ObjectFile;
use super::store::{ObjectError, ObjectTier};
use crate::dates::{classify, PartitionName};
use crate::finding::{code, Finding};
use crate::inventory::{Detail, FileError, FileInv, PartitionInv, TableInv};
use crate::kdb::{self, FileFormat, KdbError};
use futures::stream::{self, StreamExt, TryStreamExt};
use object_store::path::Path as ObjPath;
use object_store::ObjectStoreExt;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Reads in flight at once (listings per partition, header reads).
pub const CONCURRENCY: usize = 32;

/// What an object tier holds.
#[derive(Debug)]
pub struct ObjectInventory {
    /// The tier's name in the assembly.
    pub tier: String,
    /// `s3://bucket/prefix`.
    pub url: String,
    /// Date partitions, in date order; every `path` is an `s3://` URL.
    pub partitions: Vec<PartitionInv>,
    /// Objects directly under the prefix: (name, size).
    pub root_objects: Vec<(String, u64)>,
    /// Names of "directories" under the prefix that are neither dates nor date-like.
    pub root_dirs: Vec<String>,
    pub findings: Vec<Finding>,
}

impl ObjectInventory {
    pub fn dates(&self) -> Vec<&str> {
        self.partitions.iter().map(|p| p.date.as_str()).collect()
    }

    /// Objects read (as in `Inventory::file_count`: files plus one `.d` per table).
    pub fn file_count(&self) -> usize {
        crate::inventory::count_files(&self.partitions)
    }
}

/// Same classes as the local inventory's `FileError`.
fn file_error(e: &KdbError) -> FileError {
    FileError::from_kdb(e)
}

/// The header of a compound column's `col#` from its length in bytes (`raw`, read as bytes
/// before the owning column was known) and the column's item type.
fn compound_data(path: &str, raw: kdb::Header, item: u8) -> Result<kdb::Header, FileError> {
    let w = kdb::type_width(item).unwrap_or(1) as u64;
    if raw.count % w != 0 {
        let cut = raw.count - raw.count % w;
        return Err(file_error(&KdbError::truncated(
            path,
            cut,
            format!("{} bytes of compound items (type {item}) are not a whole number of {w}-byte values: the last value is cut at offset {cut}", raw.count),
        )));
    }
    Ok(kdb::Header {
        value_type: item,
        item_type: Some(item),
        count: raw.count / w,
        ..raw
    })
}

/// One object to read after the listings.
enum Job {
    DotD {
        part: usize,
        table: usize,
        key: ObjPath,
        size: u64,
    },
    File {
        part: usize,
        table: usize,
        name: String,
        /// The table's URL, shared by its files.
        dir: Arc<Path>,
        key: ObjPath,
        size: u64,
    },
}

enum Done {
    DotD {
        part: usize,
        table: usize,
        dotd: Result<Vec<String>, FileError>,
    },
    File {
        part: usize,
        table: usize,
        file: FileInv,
        /// For a nested data file (`col#`): the type of its first item, read from the same
        /// fetched head, handed to the index file `col` afterwards.
        data_item: Option<u8>,
        /// For a `col#` without a header: its items as bytes, in case `col` is compound.
        raw: Option<kdb::Header>,
    },
}

/// Runs the reader over `f`; a failure of the store (not of the bytes) aborts the inventory.
fn read_or_abort<T>(
    f: &ObjectFile,
    r: Result<T, KdbError>,
) -> Result<Result<T, KdbError>, ObjectError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(e) => match f.take_store_error() {
            Some(se) if se.is_store_failure() => Err(se),
            _ => Ok(Err(e)),
        },
    }
}

impl Job {
    /// Blocking: runs on a `spawn_blocking` thread, where `ObjectFile` may block on GETs.
    fn run(self, tier: &ObjectTier) -> Result<Done, ObjectError> {
        match self {
            Job::DotD {
                part,
                table,
                key,
                size,
            } => {
                let f = ObjectFile::new(tier, key, size);
                let r = kdb::symbols::read_symbols_from(&f);
                let dotd = read_or_abort(&f, r)?.map_err(|e| file_error(&e));
                Ok(Done::DotD { part, table, dotd })
            }
            Job::File {
                part,
                table,
                name,
                dir,
                key,
                size,
            } => {
                let f = ObjectFile::new(tier, key, size);
                let r = kdb::read_header_from(&f);
                let header = read_or_abort(&f, r)?.map_err(|e| file_error(&e));
                // A 3.x compound column's `col#` is raw items without a header, and which
                // column owns it is only known once every file is read: keep its length as
                // bytes for now, settled against the column below.
                let mut raw = None;
                if name.ends_with('#') && matches!(header, Err(FileError::NotKdb(_))) {
                    let r = kdb::compound::data_header(&f, kdb::T_BYTE);
                    if let Ok(h) = read_or_abort(&f, r)? {
                        raw = Some(h);
                    }
                }
                let data_item = if name.ends_with('#') && header.is_ok() {
                    let r = kdb::header::nested_item_type_from(&f);
                    read_or_abort(&f, r)?.ok().flatten()
                } else {
                    None
                };
                Ok(Done::File {
                    part,
                    table,
                    file: FileInv {
                        name,
                        dir,
                        size,
                        header,
                        nested_item: None,
                    },
                    data_item,
                    raw,
                })
            }
        }
    }
}

/// Lists the tier and reads every table's `.d` and column headers.
///
/// Errors of the store (unreachable, credentials, missing bucket, a failure mid-way) abort
/// with an [`ObjectError`]; problems of the data become findings, as in the local inventory.
/// Nothing is written anywhere.
pub fn take_object_inventory(
    tier: &ObjectTier,
    tier_name: &str,
) -> Result<ObjectInventory, ObjectError> {
    take_object_inventory_with(tier, tier_name, |_| (), Detail::Files).map(|(oi, _)| oi)
}

/// Partitions listed and read at once: with [`Detail::Tables`], the inventory holds one
/// chunk's per-object records at a time.
const CHUNK: usize = 64;

/// An object tier whose root is read and dates listed, its partitions not read yet: the
/// checks need every tier's dates (which partition is last) before reading any partition.
#[derive(Debug)]
pub struct ListedTier {
    /// Partitions empty until [`ListedTier::read`].
    pub inventory: ObjectInventory,
    /// Date partitions under the prefix, in date order.
    pub dates: Vec<String>,
}

/// Reads the root of an object tier (its objects, its date-like prefixes) without its
/// partitions.
pub fn list_object_tier(tier: &ObjectTier, tier_name: &str) -> Result<ListedTier, ObjectError> {
    let (inventory, dates) = block_on(take_root(tier, tier_name))?;
    Ok(ListedTier { inventory, dates })
}

/// [`take_object_inventory`] in two steps: after [`list_object_tier`], reads the partitions a
/// chunk at a time, handing each to `visit` (on the calling thread, in date order) while its
/// records are in memory and keeping of it what `detail` says; the visitor's results come
/// back in date order.
pub fn take_object_inventory_with<T>(
    tier: &ObjectTier,
    tier_name: &str,
    visit: impl Fn(&PartitionInv) -> T,
    detail: Detail,
) -> Result<(ObjectInventory, Vec<T>), ObjectError> {
    list_object_tier(tier, tier_name)?.read(tier, visit, detail)
}

impl ListedTier {
    pub fn read<T>(
        self,
        tier: &ObjectTier,
        visit: impl Fn(&PartitionInv) -> T,
        detail: Detail,
    ) -> Result<(ObjectInventory, Vec<T>), ObjectError> {
        let ListedTier {
            inventory: mut inv,
            dates,
        } = self;
        let mut seen = Vec::with_capacity(dates.len());
        for chunk in dates.chunks(CHUNK) {
            let parts = block_on(read_chunk(tier, &inv.tier, chunk, &mut inv.findings))?;
            for mut p in parts {
                seen.push(visit(&p));
                if detail == Detail::Tables {
                    p.release_files();
                }
                inv.partitions.push(p);
            }
        }
        Ok((inv, seen))
    }
}

/// Lists the dates under the tier's prefix and reads its root objects; partitions come later.
async fn take_root(
    tier: &ObjectTier,
    tier_name: &str,
) -> Result<(ObjectInventory, Vec<String>), ObjectError> {
    let store = tier.store();
    let root = tier.key("")?;
    let root_opt = (!root.as_ref().is_empty()).then_some(&root);
    let listing = store
        .list_with_delimiter(root_opt)
        .await
        .map_err(|e| tier.err("LIST", &root, &e))?;

    let mut findings = Vec::new();
    let mut dates = Vec::new();
    let mut root_dirs = Vec::new();
    for cp in &listing.common_prefixes {
        let Some(name) = cp.filename().map(str::to_string) else {
            continue;
        };
        match classify(&name) {
            PartitionName::Date => dates.push(name),
            PartitionName::NotADate(shape) => findings.push(
                Finding::error(
                    code::PARTITION_NOT_DATE,
                    format!("partition {name} in object tier {tier_name} is {shape}, not a YYYY.MM.DD date: the SM import takes date partitions only"),
                )
                .tier(tier_name)
                .partition(&name)
                .path(tier.url_of(cp))
                .hint("rename (copy and delete) its objects to a valid date prefix, or move them out of the tier's prefix"),
            ),
            PartitionName::Other => root_dirs.push(name),
        }
    }
    dates.sort();
    root_dirs.sort();

    let mut root_objects = Vec::new();
    for m in &listing.objects {
        let Some(name) = m.location.filename().map(str::to_string) else {
            continue;
        };
        root_objects.push((name.clone(), m.size));
        let f = ObjectFile::new(tier, m.location.clone(), m.size);
        let (f, r) = tokio::task::spawn_blocking(move || {
            let r = kdb::read_header_from(&f);
            (f, r)
        })
        .await
        .map_err(|e| join_error(tier, &root, e))?;
        if let Ok(h) = read_or_abort(&f, r)? {
            if h.format == FileFormat::SymbolList {
                findings.push(
                    Finding::error(
                        code::OBJECT_DOMAIN_IN_BUCKET,
                        format!("object {} of tier {tier_name} is an enumeration domain (a symbol list) at the root of the tier's partitions: kdb+ takes enumeration domains from the local root only, and a copy in the bucket goes stale as soon as the local one grows", tier.url_of(&m.location)),
                    )
                    .tier(tier_name)
                    .path(tier.url_of(&m.location))
                    .hint("keep the domain in the local database root only, and delete this object from the bucket (after checking it is a copy of the local one)"),
                );
            }
        }
    }
    root_objects.sort();
    Ok((
        ObjectInventory {
            tier: tier_name.to_string(),
            url: tier.url(),
            partitions: Vec::new(),
            root_objects,
            root_dirs,
            findings,
        },
        dates,
    ))
}

/// Lists the partitions `dates` and reads every table's `.d` and column headers.
async fn read_chunk(
    tier: &ObjectTier,
    tier_name: &str,
    dates: &[String],
    findings: &mut Vec<Finding>,
) -> Result<Vec<PartitionInv>, ObjectError> {
    let store = tier.store();
    let root = tier.key("")?;
    // One recursive listing per partition gives every table and file with its size.
    let listed: Vec<(String, Vec<(String, u64)>)> = stream::iter(dates.iter().cloned())
        .map(|date| async move {
            let key = tier.key(&date)?;
            let metas: Vec<_> = store
                .list(Some(&key))
                .try_collect()
                .await
                .map_err(|e| tier.err("LIST", &key, &e))?;
            let base = format!("{}/", key.as_ref());
            let objs = metas
                .into_iter()
                .filter_map(|m| {
                    let rel = m.location.as_ref().strip_prefix(&base)?.to_string();
                    Some((rel, m.size))
                })
                .collect::<Vec<_>>();
            Ok::<_, ObjectError>((date, objs))
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;

    let mut partitions = Vec::with_capacity(listed.len());
    let mut jobs = Vec::new();
    for (pi, (date, objs)) in listed.into_iter().enumerate() {
        let part_key = tier.key(&date)?;
        // table → file → size; sorted maps give the local inventory's name order.
        let mut tables: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut subdirs: BTreeMap<(String, String), ()> = BTreeMap::new();
        for (rel, size) in objs {
            let parts: Vec<&str> = rel.split('/').collect();
            match parts.as_slice() {
                [file] => findings.push(
                    Finding::error(
                        code::LOAD_NOT_A_TABLE,
                        format!("object {file} in partition {date} of tier {tier_name} is not in a table: kdb+ expects only table directories in a partition"),
                    )
                    .tier(tier_name)
                    .partition(&date)
                    .path(format!("{}/{}", tier.url_of(&part_key), file))
                    .hint("move the object out of the partition"),
                ),
                [table, file] => {
                    tables
                        .entry(table.to_string())
                        .or_default()
                        .insert(file.to_string(), size);
                }
                [table, sub, ..] => {
                    tables.entry(table.to_string()).or_default();
                    subdirs.insert((table.to_string(), sub.to_string()), ());
                }
                [] => {}
            }
        }
        for (table, sub) in subdirs.into_keys() {
            findings.push(
                Finding::error(
                    code::LOAD_NOT_A_TABLE,
                    format!("directory {sub} inside table {table} (partition {date}, tier {tier_name}): a table directory holds only column files"),
                )
                .tier(tier_name)
                .partition(&date)
                .table(&table)
                .path(format!("{}/{}/{}", tier.url_of(&part_key), table, sub))
                .hint("move the objects below it out of the table"),
            );
        }
        let mut tinvs = Vec::with_capacity(tables.len());
        for (ti, (table, files)) in tables.iter().enumerate() {
            let tkey = tier.key(&format!("{date}/{table}"))?;
            let dir: Arc<Path> = Arc::from(PathBuf::from(tier.url_of(&tkey)).as_path());
            for (name, &size) in files {
                let key = tier.key(&format!("{date}/{table}/{name}"))?;
                if name == ".d" {
                    jobs.push(Job::DotD {
                        part: pi,
                        table: ti,
                        key,
                        size,
                    });
                    continue;
                }
                jobs.push(Job::File {
                    part: pi,
                    table: ti,
                    name: name.clone(),
                    dir: dir.clone(),
                    key,
                    size,
                });
            }
            tinvs.push(TableInv {
                name: table.clone(),
                path: dir.to_path_buf(),
                dotd: None,
                dotd_size: files.get(".d").copied(),
                files: Vec::new(),
                links: Vec::new(),
            });
        }
        partitions.push(PartitionInv {
            path: PathBuf::from(tier.url_of(&part_key)),
            date,
            tables: tinvs,
            pending: Vec::new(),
            stamps: None,
            links: Vec::new(),
        });
    }

    let root = &root;
    let done: Vec<Done> = stream::iter(jobs)
        .map(|job| {
            let t = tier.clone();
            async move {
                tokio::task::spawn_blocking(move || job.run(&t))
                    .await
                    .map_err(|e| join_error(tier, root, e))?
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    let mut items: BTreeMap<(usize, usize, String), u8> = BTreeMap::new();
    let mut raws: BTreeMap<(usize, usize, String), kdb::Header> = BTreeMap::new();
    for d in done {
        match d {
            Done::DotD { part, table, dotd } => partitions[part].tables[table].dotd = Some(dotd),
            Done::File {
                part,
                table,
                file,
                data_item,
                raw,
            } => {
                if let (Some(t), Some(base)) = (data_item, file.name.strip_suffix('#')) {
                    items.insert((part, table, base.to_string()), t);
                }
                if let Some(h) = raw {
                    raws.insert((part, table, file.name.clone()), h);
                }
                partitions[part].tables[table].files.push(file);
            }
        }
    }
    for ((pi, ti, name), raw) in raws {
        let t = &mut partitions[pi].tables[ti];
        let column = name
            .strip_suffix('#')
            .and_then(|stem| t.files.iter().find(|f| f.name == stem))
            .and_then(|f| f.header.as_ref().ok())
            .filter(|h| h.format == kdb::FileFormat::Compound)
            .and_then(|h| h.item_type);
        if let (Some(item), Some(f)) = (column, t.files.iter_mut().find(|f| f.name == name)) {
            f.header = compound_data(&f.path().to_string_lossy(), raw, item);
        }
    }
    for (pi, p) in partitions.iter_mut().enumerate() {
        for (ti, t) in p.tables.iter_mut().enumerate() {
            t.files.sort_by(|a, b| a.name.cmp(&b.name));
            for f in &mut t.files {
                if matches!(&f.header, Ok(h) if h.nested) {
                    f.nested_item = items.get(&(pi, ti, f.name.clone())).copied();
                }
            }
        }
    }
    Ok(partitions)
}

fn join_error(tier: &ObjectTier, key: &ObjPath, e: tokio::task::JoinError) -> ObjectError {
    ObjectError::Other {
        place: Box::new(tier.place().clone()),
        op: format!("reading below {}", tier.url_of(key)),
        detail: format!("a reader task failed: {e}"),
    }
}

/// The stored bytes of the object at `url` (`s3://bucket/key` of this tier), in one GET.
pub fn read_object_whole(tier: &ObjectTier, url: &str) -> Result<Vec<u8>, ObjectError> {
    let key = tier.key_of_url(url)?;
    block_on(async {
        let r = tier.store().get(&key).await?;
        r.bytes().await
    })
    .map(|b| b.to_vec())
    .map_err(|e| tier.err("GET", &key, &e))
}

/// Decodes the whole column object at `url` (and `url#`, `url##` for a nested column), as
/// `kdb::read_column` does for a local file: the `--deep` check of object tiers.
pub fn read_object_column(tier: &ObjectTier, url: &str) -> Result<kdb::Column, ObjectError> {
    let src = kdb::MemSource::new(url, read_object_whole(tier, url)?);
    // The object error of a companion file, kept to return as itself rather than as a
    // reader error.
    let failed: std::cell::RefCell<Option<ObjectError>> = std::cell::RefCell::new(None);
    let open = |u: &str| -> Result<Box<dyn kdb::ReadAt + '_>, KdbError> {
        match read_object_whole(tier, u) {
            Ok(b) => Ok(Box::new(kdb::MemSource::new(u, b))),
            Err(e) => {
                let kind = if matches!(e, ObjectError::NotFound { .. }) {
                    std::io::ErrorKind::NotFound
                } else {
                    std::io::ErrorKind::Other
                };
                let k = KdbError::io(u, std::io::Error::new(kind, e.to_string()));
                if kind != std::io::ErrorKind::NotFound || !u.ends_with("##") {
                    *failed.borrow_mut() = Some(e);
                }
                Err(k)
            }
        }
    };
    let r = kdb::read_column_from(&src, &open);
    match (r, failed.into_inner()) {
        (Ok(c), _) => Ok(c),
        (Err(_), Some(e)) => Err(e),
        (Err(e), None) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;
    use crate::gen::{generate, GenSpec};
    use crate::object::faulty::{FaultPlan, FaultyStore};
    use crate::object::upload_tree;
    use object_store::memory::InMemory;
    use std::sync::Arc;

    fn mem_tier(prefix: &str) -> ObjectTier {
        ObjectTier::from_store(Arc::new(InMemory::new()), "mem", "bkt", prefix)
    }

    fn generated(spec: &GenSpec) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        generate(&dir.path().join("db"), spec).unwrap();
        dir
    }

    /// Everything comparable between a local and an object inventory.
    fn shape(parts: &[PartitionInv]) -> Vec<String> {
        let mut v = Vec::new();
        for p in parts {
            for t in &p.tables {
                v.push(format!("{} {} dotd={:?}", p.date, t.name, t.dotd));
                for f in &t.files {
                    v.push(format!(
                        "  {} size={} header={:?} nested={:?}",
                        f.name, f.size, f.header, f.nested_item
                    ));
                }
            }
        }
        v
    }

    #[test]
    fn object_inventory_equals_local_inventory() {
        for compress in [
            crate::gen::GenCompression::None,
            crate::gen::GenCompression::Zstd,
        ] {
            let spec = GenSpec {
                partitions: 2,
                rows: 50,
                compress,
                ..GenSpec::default()
            };
            let dir = generated(&spec);
            let db = dir.path().join("db");
            let local = crate::inventory::take(&db).unwrap();
            let tier = mem_tier("hdb/eq");
            for p in &local.partitions {
                upload_tree(&tier, &p.path, &p.date).unwrap();
            }
            let inv = take_object_inventory(&tier, "archive").unwrap();
            assert!(inv.findings.is_empty(), "{:?}", inv.findings);
            assert_eq!(inv.url, "s3://bkt/hdb/eq");
            assert_eq!(inv.dates(), vec!["2024.01.02", "2024.01.03"]);
            assert_eq!(shape(&inv.partitions), shape(&local.partitions));
            assert!(shape(&inv.partitions)
                .iter()
                .any(|l| l.contains("nested=Some(10)")));
            let f = &inv.partitions[0].tables[0].files[0];
            assert!(
                f.path()
                    .to_str()
                    .unwrap()
                    .starts_with("s3://bkt/hdb/eq/2024.01.02/"),
                "{:?}",
                f.path()
            );
            assert_eq!(inv.file_count(), local.file_count());
        }
    }

    #[test]
    fn domain_at_root_and_bad_names_are_findings() {
        let dir = generated(&GenSpec {
            partitions: 1,
            rows: 10,
            ..GenSpec::default()
        });
        let tier = mem_tier("");
        upload_tree(&tier, &dir.path().join("db"), "").unwrap();
        tier.put("2023.02.30/t/x", vec![0; 16]).unwrap();
        tier.put("2024.01.02/stray", vec![0; 16]).unwrap();
        tier.put("2024.01.02/trade/sub/x", vec![0; 16]).unwrap();
        let inv = take_object_inventory(&tier, "s3").unwrap();
        let codes: Vec<_> = inv.findings.iter().map(|f| (f.code, f.severity)).collect();
        assert!(
            codes.contains(&(code::OBJECT_DOMAIN_IN_BUCKET, Severity::Error)),
            "{codes:?}"
        );
        assert!(
            codes.contains(&(code::PARTITION_NOT_DATE, Severity::Error)),
            "{codes:?}"
        );
        assert_eq!(
            codes
                .iter()
                .filter(|c| c.0 == code::LOAD_NOT_A_TABLE)
                .count(),
            2,
            "{:?}",
            inv.findings
        );
        let dom = inv
            .findings
            .iter()
            .find(|f| f.code == code::OBJECT_DOMAIN_IN_BUCKET)
            .unwrap();
        assert_eq!(dom.path.as_deref(), Some("s3://bkt/sym"));
        assert_eq!(dom.tier.as_deref(), Some("s3"));
        assert_eq!(
            inv.root_objects,
            vec![("sym".to_string(), inv.root_objects[0].1)]
        );
        assert_eq!(inv.dates(), vec!["2024.01.02"]);
    }

    #[test]
    fn store_failure_mid_inventory_aborts_with_the_place() {
        let dir = generated(&GenSpec {
            partitions: 2,
            rows: 10,
            ..GenSpec::default()
        });
        let tier = mem_tier("p");
        upload_tree(&tier, &dir.path().join("db"), "").unwrap();
        let plan = FaultPlan::new();
        plan.fail_from(6);
        let t = FaultyStore::wrap(tier, &plan);
        let e = take_object_inventory(&t, "s3").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("injected fault"), "{msg}");
        assert!(msg.contains("s3://bkt/p"), "{msg}");
    }

    #[test]
    fn deep_read_decodes_like_the_local_reader() {
        let dir = generated(&GenSpec {
            partitions: 1,
            rows: 20,
            compress: crate::gen::GenCompression::Lz4hc,
            ..GenSpec::default()
        });
        let db = dir.path().join("db");
        let local = crate::inventory::take(&db).unwrap();
        let tier = mem_tier("x");
        upload_tree(&tier, &db, "").unwrap();
        let inv = take_object_inventory(&tier, "s3").unwrap();
        let mut n = 0;
        for (lt, ot) in local.partitions[0]
            .tables
            .iter()
            .zip(&inv.partitions[0].tables)
        {
            for (lf, of) in lt.files.iter().zip(&ot.files) {
                if lf.name.ends_with('#') {
                    continue;
                }
                let want = kdb::read_column(&lf.path()).unwrap();
                let got = read_object_column(&tier, of.path().to_str().unwrap()).unwrap();
                assert_eq!(got, want, "{}", lf.name);
                n += 1;
            }
        }
        assert!(n >= 6);
        let e = read_object_column(&tier, "s3://bkt/x/nope").unwrap_err();
        assert!(matches!(e, ObjectError::NotFound { .. }), "{e}");
    }
}
