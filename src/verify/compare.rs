//! `verify --against`: compares the logical content of two roots (decoded values per table,
//! partition and column; symbols compared as text through each root's own domain).

use super::Loaded;
use crate::finding::{code, Finding};
use crate::inventory::{Inventory, PartRef, PartitionDir, PartitionInv, RootKind, TableInv};
use crate::kdb::{self, ColumnData};
use crate::plan::{AddedColumn, DerivedColumn, FilledTable};
use rayon::prelude::*;
use std::collections::BTreeMap;

/// A partition of one side: read already (object tiers, a fully loaded root), or a local
/// directory read when its turn comes, so that one pair of partitions is in memory at a time.
enum Part<'a> {
    Read(PartRef<'a>),
    Unread(&'a PartitionDir),
}

impl Part<'_> {
    fn date(&self) -> &str {
        match self {
            Part::Read(p) => &p.part.date,
            Part::Unread(d) => &d.date,
        }
    }
}

/// Every partition of a side in date order (local first on equal dates, as
/// `Inventory::all_partitions`).
fn parts<'a>(inv: &'a Inventory, unread: &'a [PartitionDir]) -> Vec<Part<'a>> {
    let mut all: Vec<Part<'a>> = unread.iter().map(Part::Unread).collect();
    all.extend(inv.all_partitions().into_iter().map(Part::Read));
    all.sort_by(|x, y| x.date().cmp(y.date()));
    all
}

/// What a saved plan's remedies changed, which `a` may differ from `b` by (`verify --plan`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Remedied<'a> {
    pub derived: &'a [DerivedColumn],
    pub filled: &'a [FilledTable],
    pub added: &'a [AddedColumn],
    /// one-sym / add-columns: `a`'s `sym` is `b`'s followed by these.
    pub sym_appended: &'a [String],
    /// set-aside: entries of `b` (relative to its root) that `a` no longer holds.
    pub aside: &'a [String],
}

/// Returns no finding when both roots hold the same data, else one finding naming the first
/// difference in (root entries, then partition, table, column) order. `a_unread` and
/// `b_unread` are local partitions of each root not read yet (`load_root`): they are read a
/// pair at a time and dropped once compared.
///
/// `derived` (from a saved plan's remedies): columns of `a` that `b` does not have, each the
/// partition's date + a source column of `b` on every row. `filled`: tables of `a` that `b`
/// does not have, each empty with exactly its recorded columns.
// Each remedy kind's record is one argument, as the plan keeps them.
#[allow(clippy::too_many_arguments)]
pub fn compare_roots(
    a: &Loaded,
    a_unread: &[PartitionDir],
    b: &Loaded,
    b_unread: &[PartitionDir],
    remedies: &Remedied,
) -> Vec<Finding> {
    let Remedied {
        derived,
        filled,
        added,
        sym_appended,
        aside,
    } = remedies;
    let sym_appended: &[String] = sym_appended;
    let (ia, ib) = (&a.inventory, &b.inventory);
    // What set-aside moved out of `b` (paths below its root) is not `a`'s to hold.
    let set_aside = |p: String| aside.contains(&p);
    let diff = |msg: String| {
        vec![Finding::error(
            code::VERIFY_DIFFERENT,
            format!(
                "{} and {} differ: {msg}",
                a.root.display(),
                b.root.display()
            ),
        )]
    };

    // Root entries: domains by symbols, splayed tables by values, other files by bytes.
    let ra: BTreeMap<&str, &RootKind> =
        ia.root.iter().map(|r| (r.name.as_str(), &r.kind)).collect();
    let rb: BTreeMap<&str, &RootKind> = ib
        .root
        .iter()
        .filter(|r| !set_aside(r.name.clone()))
        .map(|r| (r.name.as_str(), &r.kind))
        .collect();
    if ra.keys().ne(rb.keys()) {
        return diff(format!(
            "root entries {:?} vs {:?}",
            ra.keys().collect::<Vec<_>>(),
            rb.keys().collect::<Vec<_>>()
        ));
    }
    let mut jobs: Vec<Job> = Vec::new();
    for (name, ka) in &ra {
        let kb = rb[name];
        match (ka, kb) {
            (RootKind::Domain { symbols: x }, RootKind::Domain { symbols: y }) => {
                // one-sym's `sym`: `b`'s symbols in order, then exactly the appended ones (the
                // re-enumerated columns are compared as the symbols they stand for below).
                let appended = *name == "sym"
                    && !sym_appended.is_empty()
                    && x.len() == y.len() + sym_appended.len()
                    && x[..y.len()] == y[..]
                    && x[y.len()..] == *sym_appended;
                if x != y && !appended {
                    return diff(format!(
                        "enumeration domain {name} holds different symbols ({} vs {})",
                        x.len(),
                        y.len()
                    ))
                    .into_iter()
                    .map(|f| f.path(*name))
                    .collect();
                }
            }
            (RootKind::Splayed(x), RootKind::Splayed(y)) => {
                if let Some(f) = table_jobs(None, x, y, &mut jobs, None, &[]) {
                    return diff(f);
                }
            }
            (RootKind::File { .. }, RootKind::File { .. })
            | (RootKind::Script, RootKind::Script)
            | (RootKind::Dir, RootKind::Dir) => {
                let pa = ia.source.join(name);
                let pb = ib.source.join(name);
                if !same_tree_bytes(&pa, &pb) {
                    return diff(format!("root entry {name} has different bytes"));
                }
            }
            _ => return diff(format!("root entry {name} is of a different kind")),
        }
    }

    // The root's tables first: a difference there comes before any partition's.
    if let Some(f) = first_difference_of(&jobs, a, b) {
        return vec![f];
    }

    // Which tier holds a partition does not matter: a date is compared wherever it lives.
    let (pa_all, pb_all) = (parts(ia, a_unread), parts(ib, b_unread));
    let da: Vec<&str> = pa_all.iter().map(|p| p.date()).collect();
    let db: Vec<&str> = pb_all.iter().map(|p| p.date()).collect();
    if da != db {
        let first = da
            .iter()
            .zip(&db)
            .find(|(x, y)| x != y)
            .map(|(x, y)| format!("{x} vs {y}"))
            .unwrap_or_else(|| format!("{} vs {} partitions", da.len(), db.len()));
        return diff(format!("partitions differ: {first}"));
    }
    for (ra, rb) in pa_all.iter().zip(&pb_all) {
        let (oa, ob) = (materialize(ra), materialize(rb));
        let (ra, rb) = (oa.part_ref(), ob.part_ref());
        let (pa, pb) = (ra.part, rb.part);
        // A table `a` gained by fill-tables is judged on its own, then left out.
        let gained = |t: &str| {
            filled.iter().find(|f| {
                f.date == pa.date && f.table == t && !pb.tables.iter().any(|y| y.name == t)
            })
        };
        for x in &pa.tables {
            if let Some(f) = gained(&x.name) {
                if let Some(msg) = filled_differs(x, f) {
                    return diff(msg)
                        .into_iter()
                        .map(|f| f.partition(&pa.date).table(&x.name))
                        .collect();
                }
            }
        }
        let a_tables: Vec<&crate::inventory::TableInv> = pa
            .tables
            .iter()
            .filter(|t| gained(&t.name).is_none())
            .collect();
        let ta: Vec<&str> = a_tables.iter().map(|t| t.name.as_str()).collect();
        let b_tables: Vec<&crate::inventory::TableInv> = pb
            .tables
            .iter()
            .filter(|t| !set_aside(format!("{}/{}", pb.date, t.name)))
            .collect();
        let tb: Vec<&str> = b_tables.iter().map(|t| t.name.as_str()).collect();
        if ta != tb {
            return diff(format!(
                "partition {} holds tables {ta:?} vs {tb:?}",
                pa.date
            ))
            .into_iter()
            .map(|f| f.partition(&pa.date))
            .collect();
        }
        let mut jobs = Vec::new();
        for (x, y) in a_tables.iter().copied().zip(b_tables.iter().copied()) {
            let before = jobs.len();
            let d = derived
                .iter()
                .find(|d| d.date == pa.date && d.table == x.name);
            let add: Vec<&str> = added
                .iter()
                .filter(|c| c.date == pa.date && c.table == x.name)
                .map(|c| c.column.as_str())
                .collect();
            if let Some(f) = table_jobs(Some(&pa.date), x, y, &mut jobs, d, &add) {
                return diff(f)
                    .into_iter()
                    .map(|f| f.partition(&pa.date).table(&x.name))
                    .collect();
            }
            for j in &mut jobs[before..] {
                j.tier_a = ra.tier.map(|t| t.tier.clone());
                j.tier_b = rb.tier.map(|t| t.tier.clone());
            }
        }
        if let Some(f) = first_difference_of(&jobs, a, b) {
            return vec![f];
        }
    }
    Vec::new()
}

/// Why a table fill-tables wrote is not what it recorded: other columns in `.d`, a column file
/// missing, or a row in any column.
fn filled_differs(t: &crate::inventory::TableInv, f: &FilledTable) -> Option<String> {
    let cols = t.columns();
    if cols != f.columns.as_slice() {
        return Some(format!(
            "table {} filled as empty lists columns {cols:?} in its .d, not the recorded {:?}",
            t.name, f.columns
        ));
    }
    for c in cols {
        match t.file(c).map(|x| &x.header) {
            None => return Some(format!("filled table {} has no column file {c}", t.name)),
            Some(Ok(h)) if h.count == 0 => {}
            Some(Ok(h)) => {
                return Some(format!(
                    "filled table {} column {c} holds {} rows; an empty table holds none",
                    t.name, h.count
                ))
            }
            Some(Err(e)) => return Some(format!("filled table {} column {c}: {e:?}", t.name)),
        }
    }
    None
}

/// A partition in memory for its comparison: borrowed, or read now and dropped after.
enum Held<'a> {
    Borrowed(PartRef<'a>),
    Owned(PartitionInv),
}

impl Held<'_> {
    fn part_ref(&self) -> PartRef<'_> {
        match self {
            Held::Borrowed(p) => *p,
            Held::Owned(part) => PartRef { part, tier: None },
        }
    }
}

fn materialize<'a>(p: &Part<'a>) -> Held<'a> {
    match p {
        Part::Read(r) => Held::Borrowed(*r),
        // The walk's findings are the checks' business (reported by them already).
        Part::Unread(d) => Held::Owned(d.read().0),
    }
}

/// The first column (in `jobs` order) whose values differ, as a finding.
fn first_difference_of(jobs: &[Job], a: &Loaded, b: &Loaded) -> Option<Finding> {
    let (ia, ib) = (&a.inventory, &b.inventory);
    let (i, msg) = jobs
        .par_iter()
        .enumerate()
        .filter_map(|(i, j)| j.differs(ia, ib).map(|m| (i, m)))
        .min_by_key(|(i, _)| *i)?;
    let j = &jobs[i];
    let mut f = Finding::error(
        code::VERIFY_DIFFERENT,
        format!(
            "{} and {} differ in column {} of table {}{}: {msg}",
            a.root.display(),
            b.root.display(),
            j.column,
            j.table,
            j.partition
                .as_deref()
                .map(|p| format!(" in partition {p}"))
                .unwrap_or_default()
        ),
    )
    .table(&j.table)
    .column(&j.column)
    .path(j.a.display());
    if let Some(p) = &j.partition {
        f = f.partition(p);
    }
    Some(f)
}

struct Job {
    /// The object tier a column is read through (None: local file).
    tier_a: Option<crate::object::ObjectTier>,
    tier_b: Option<crate::object::ObjectTier>,
    partition: Option<String>,
    table: String,
    column: String,
    a: std::path::PathBuf,
    b: std::path::PathBuf,
    /// `a` is derived: the partition date (days since 2000.01.01) + the source column `b`.
    derived_on: Option<i64>,
    /// `a` was added null-filled: every row null, as many as `b` (a column of the original).
    nulls: bool,
}

impl Job {
    fn differs(&self, ia: &Inventory, ib: &Inventory) -> Option<String> {
        if self.nulls {
            return super::stream::first_difference_local(
                &self.a,
                ia,
                &self.b,
                ib,
                |x, ia, _, _| first_non_null(x, ia),
            )
            .map(|m| format!("{m} (an added column must be null on every row)"));
        }
        if let Some(day) = self.derived_on {
            return derived_differs(&self.a, ia, &self.b, ib, day);
        }
        if self.tier_a.is_none() && self.tier_b.is_none() {
            return super::stream::first_difference_local(
                &self.a,
                ia,
                &self.b,
                ib,
                first_difference,
            );
        }
        let x = match read(&self.a, self.tier_a.as_ref()) {
            Ok(c) => c,
            Err(e) => return Some(format!("cannot read {}: {e}", self.a.display())),
        };
        let y = match read(&self.b, self.tier_b.as_ref()) {
            Ok(c) => c,
            Err(e) => return Some(format!("cannot read {}: {e}", self.b.display())),
        };
        if x.len() != y.len() {
            return Some(format!("{} rows vs {} rows", x.len(), y.len()));
        }
        first_difference(&x, ia, &y, ib)
            .map(|i| format!("row {i}: {} vs {}", x.fmt_value(i), y.fmt_value(i)))
    }
}

fn read(
    path: &std::path::Path,
    tier: Option<&crate::object::ObjectTier>,
) -> Result<ColumnData, String> {
    match tier {
        None => kdb::read_column(path)
            .map(|c| c.data)
            .map_err(|e| e.to_string()),
        Some(t) => crate::object::read_object_column(t, &path.to_string_lossy())
            .map(|c| c.data)
            .map_err(|e| e.to_string()),
    }
}

/// The first row where the timestamp column `a` is not its partition's date (`day`) + the time
/// of day (or the datetime) in `b`, computed here independently of the producer; both columns
/// are read a chunk at a time, like every other comparison.
fn derived_differs(
    a: &std::path::Path,
    ia: &Inventory,
    b: &std::path::Path,
    ib: &Inventory,
    day: i64,
) -> Option<String> {
    super::stream::first_difference_local(a, ia, b, ib, move |x, _, y, _| {
        derived_chunk_differs(x, y, day)
    })
    .map(|m| format!("{m} (derived vs its source; the derived value must be the partition's date + the source)"))
}

/// The first row of `x` that is not null (row 0 for a type add-columns does not write).
fn first_non_null(x: &ColumnData, inv: &Inventory) -> Option<usize> {
    fn find<T>(v: &[T], null: impl Fn(&T) -> bool) -> Option<usize> {
        v.iter().position(|x| !null(x))
    }
    match x {
        ColumnData::Bool(v) | ColumnData::Byte(v) => find(v, |x| *x == 0),
        ColumnData::Char(v) => find(v, |x| *x == b' '),
        ColumnData::Guid(v) => find(v, |x| *x == [0; 16]),
        ColumnData::Short(v) => find(v, |x| *x == i16::MIN),
        ColumnData::Int(v)
        | ColumnData::Month(v)
        | ColumnData::Date(v)
        | ColumnData::Minute(v)
        | ColumnData::Second(v)
        | ColumnData::Time(v) => find(v, |x| *x == i32::MIN),
        ColumnData::Long(v) | ColumnData::Timestamp(v) | ColumnData::Timespan(v) => {
            find(v, |x| *x == i64::MIN)
        }
        ColumnData::Real(v) => find(v, |x| x.is_nan()),
        ColumnData::Float(v) | ColumnData::Datetime(v) => find(v, |x| x.is_nan()),
        // A list column's null is an empty item ("" for a string), as add-columns writes it.
        ColumnData::Nested(v) => find(v, |x| x.is_empty()),
        // A null symbol is the empty one (or an index naming none, which q reads as null).
        ColumnData::Enum { domain, indices } => {
            let dom = inv.domain(domain).unwrap_or(&[]);
            kdb::resolve_enum(indices, dom)
                .iter()
                .position(|s| s.as_deref().is_some_and(|s| !s.is_empty()))
        }
        _ => Some(0),
    }
}

/// The first row of a chunk pair where `x` is not `day` + `y` (row 0 when the types are not a
/// timestamp and a time of day or datetime).
fn derived_chunk_differs(x: &ColumnData, y: &ColumnData, day: i64) -> Option<usize> {
    const NS_PER_DAY: i64 = 86_400_000_000_000;
    let ColumnData::Timestamp(got) = x else {
        return Some(0);
    };
    let midnight = day * NS_PER_DAY;
    let want = |i: usize| -> Option<i64> {
        Some(match y {
            ColumnData::Timespan(v) => midnight + v[i],
            ColumnData::Time(v) => midnight + i64::from(v[i]) * 1_000_000,
            ColumnData::Second(v) => midnight + i64::from(v[i]) * 1_000_000_000,
            ColumnData::Minute(v) => midnight + i64::from(v[i]) * 60_000_000_000,
            ColumnData::Datetime(v) => (v[i] * 86_400_000.0).round() as i64 * 1_000_000,
            _ => return None,
        })
    };
    (0..got.len()).find(|&i| want(i) != Some(got[i]))
}

/// Queues one comparison per column; returns a message when the table shapes already differ.
fn table_jobs(
    partition: Option<&str>,
    x: &TableInv,
    y: &TableInv,
    jobs: &mut Vec<Job>,
    derived: Option<&DerivedColumn>,
    added: &[&str],
) -> Option<String> {
    let cx = x.dotd.as_ref().and_then(|d| d.as_ref().ok());
    let cy = y.dotd.as_ref().and_then(|d| d.as_ref().ok());
    // A derived or added column: `a` has it where the configuration put it, `b` does not.
    let cx_orig: Option<Vec<String>> = match (derived, cx) {
        (Some(d), Some(c)) if c.contains(&d.column) => {
            Some(c.iter().filter(|n| **n != d.column).cloned().collect())
        }
        _ => cx.cloned(),
    };
    let cx_orig: Option<Vec<String>> = cx_orig.map(|c| {
        c.into_iter()
            .filter(|n| !added.contains(&n.as_str()))
            .collect()
    });
    if let (Some(first), Some(cxv)) = (cy.and_then(|c| c.first()), cx) {
        for col in added.iter().filter(|c| cxv.iter().any(|n| n == *c)) {
            // Streamed beside a column of `b`: same rows, every one null.
            jobs.push(Job {
                tier_a: None,
                tier_b: None,
                partition: partition.map(String::from),
                table: x.name.clone(),
                column: col.to_string(),
                a: x.path.join(col),
                b: y.path.join(first),
                derived_on: None,
                nulls: true,
            });
        }
    }
    if cx_orig.as_ref() != cy {
        return Some(format!("table {} has columns {cx:?} vs {cy:?}", x.name));
    }
    if let (Some(d), Some(date)) = (derived, partition) {
        let day = crate::dates::parse_date(date)
            .map(|(y, m, dd)| crate::dates::days_from_civil(i64::from(y), m, dd));
        jobs.push(Job {
            tier_a: None,
            tier_b: None,
            partition: Some(date.to_string()),
            table: x.name.clone(),
            column: d.column.clone(),
            a: x.path.join(&d.column),
            b: y.path.join(&d.source),
            derived_on: day,
            nulls: false,
        });
    }
    for c in cy.into_iter().flatten() {
        jobs.push(Job {
            tier_a: None,
            tier_b: None,
            partition: partition.map(String::from),
            table: x.name.clone(),
            column: c.clone(),
            a: x.path.join(c),
            b: y.path.join(c),
            derived_on: None,
            nulls: false,
        });
    }
    None
}

fn same_tree_bytes(a: &std::path::Path, b: &std::path::Path) -> bool {
    if a.is_file() || b.is_file() {
        return matches!((std::fs::read(a), std::fs::read(b)), (Ok(x), Ok(y)) if x == y);
    }
    let (Ok(ea), Ok(eb)) = (crate::backup::list_tree(a), crate::backup::list_tree(b)) else {
        return false;
    };
    ea == eb
        && ea.iter().filter(|e| !e.is_dir).all(|e| {
            matches!((std::fs::read(a.join(&e.rel)), std::fs::read(b.join(&e.rel))), (Ok(x), Ok(y)) if x == y)
        })
}

/// Index of the first row whose logical value differs (of a whole column, or of one chunk of
/// each side holding the same rows). Floats compare by bits so that nulls
/// (NaN) are equal to themselves; enumerations compare as the symbols they stand for.
pub(super) fn first_difference(
    x: &ColumnData,
    ia: &Inventory,
    y: &ColumnData,
    ib: &Inventory,
) -> Option<usize> {
    use ColumnData::*;
    fn pos<T, F: Fn(&T, &T) -> bool>(a: &[T], b: &[T], eq: F) -> Option<usize> {
        a.iter().zip(b).position(|(p, q)| !eq(p, q))
    }
    let syms = |d: &ColumnData, inv: &Inventory| -> Option<Vec<Option<String>>> {
        match d {
            Enum { domain, indices } => {
                let dom = inv.domain(domain).unwrap_or(&[]);
                Some(kdb::resolve_enum(indices, dom))
            }
            Symbol(s) => Some(s.iter().cloned().map(Some).collect()),
            _ => None,
        }
    };
    match (x, y) {
        (Real(a), Real(b)) => pos(a, b, |p, q| p.to_bits() == q.to_bits()),
        (Float(a), Float(b)) | (Datetime(a), Datetime(b)) => {
            pos(a, b, |p, q| p.to_bits() == q.to_bits())
        }
        (Nested(a), Nested(b)) => a
            .iter()
            .zip(b)
            .position(|(p, q)| p.len() != q.len() || first_difference(p, ia, q, ib).is_some()),
        (Enum { .. } | Symbol(_), Enum { .. } | Symbol(_)) => {
            let (a, b) = (syms(x, ia)?, syms(y, ib)?);
            pos(&a, &b, |p, q| p == q)
        }
        _ if std::mem::discriminant(x) != std::mem::discriminant(y) => Some(0),
        _ => {
            if x == y {
                None
            } else {
                (0..x.len())
                    .find(|&i| x.fmt_value(i) != y.fmt_value(i))
                    .or(Some(0))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::RootItem;
    use std::path::PathBuf;
    use ColumnData::*;

    fn inv(sym: &[&str]) -> Inventory {
        Inventory {
            source: PathBuf::from("/db"),
            partitions: Vec::new(),
            root: vec![RootItem {
                name: "sym".into(),
                path: PathBuf::from("/db/sym"),
                kind: RootKind::Domain {
                    symbols: sym.iter().map(|s| s.to_string()).collect(),
                },
            }],
            findings: Vec::new(),
            other_partitions: Vec::new(),
            object_tiers: Vec::new(),
        }
    }

    fn nested_enum(rows: &[&[i64]]) -> ColumnData {
        Nested(
            rows.iter()
                .map(|r| Enum {
                    domain: "sym".into(),
                    indices: r.to_vec(),
                })
                .collect(),
        )
    }

    #[test]
    fn compound_and_anymap_lists_compare_by_value() {
        let (ia, ib) = (inv(&[]), inv(&[]));
        // A 3.x compound column and a 4.x nested column of the same float lists are equal,
        // nulls included; the first row whose list differs is reported.
        let a = Nested(vec![
            Float(vec![1.5, f64::NAN]),
            Float(vec![]),
            Float(vec![2.0]),
        ]);
        let b = a.clone();
        assert_eq!(first_difference(&a, &ia, &b, &ib), None);
        let c = Nested(vec![
            Float(vec![1.5, f64::NAN]),
            Float(vec![]),
            Float(vec![2.5]),
        ]);
        assert_eq!(first_difference(&a, &ia, &c, &ib), Some(2));
        // A row that gained an item, and a row of another item type.
        let d = Nested(vec![
            Float(vec![1.5, f64::NAN, 0.0]),
            Float(vec![]),
            Float(vec![2.0]),
        ]);
        assert_eq!(first_difference(&a, &ia, &d, &ib), Some(0));
        let e = Nested(vec![
            Float(vec![1.5, f64::NAN]),
            Long(vec![]),
            Float(vec![2.0]),
        ]);
        assert_eq!(first_difference(&a, &ia, &e, &ib), Some(1));
        // Byte lists (sewio's content#).
        let x = Nested(vec![Byte(vec![]), Byte(b"//".to_vec())]);
        let y = Nested(vec![Byte(vec![]), Byte(b"/*".to_vec())]);
        assert_eq!(first_difference(&x, &ia, &x.clone(), &ib), None);
        assert_eq!(first_difference(&x, &ia, &y, &ib), Some(1));
    }

    #[test]
    fn nested_symbols_resolve_through_each_roots_domain() {
        // Same symbols, different enumerations: equal.
        let (ia, ib) = (inv(&["a", "b"]), inv(&["b", "a"]));
        let a = nested_enum(&[&[0, 1], &[], &[1]]);
        let b = nested_enum(&[&[1, 0], &[], &[0]]);
        assert_eq!(first_difference(&a, &ia, &b, &ib), None);
        // Compared with plain symbol lists, as a copy written without enumeration would be.
        let s = Nested(vec![
            Symbol(vec!["a".into(), "b".into()]),
            Symbol(vec![]),
            Symbol(vec!["b".into()]),
        ]);
        assert_eq!(first_difference(&a, &ia, &s, &ib), None);
        // Same indices, different symbols: a difference, found in the row it is in.
        let c = nested_enum(&[&[0, 1], &[], &[0]]);
        assert_eq!(first_difference(&a, &ia, &c, &ia), Some(2));
        assert_eq!(first_difference(&c, &ia, &c, &ib), Some(0));
        // The empty lists of sewio's parents column.
        let empty = nested_enum(&[&[], &[]]);
        assert_eq!(first_difference(&empty, &ia, &empty, &ib), None);
    }

    #[test]
    fn serialized_general_lists_compare_by_value() {
        let (ia, ib) = (inv(&[]), inv(&[]));
        // The empty untyped columns of an empty table.
        assert_eq!(
            first_difference(&Nested(vec![]), &ia, &Nested(vec![]), &ib),
            None
        );
        let a = Nested(vec![
            Long(vec![1]),
            Char(b"x".to_vec()),
            Symbol(vec!["s".into()]),
        ]);
        let b = Nested(vec![
            Long(vec![1]),
            Char(b"x".to_vec()),
            Symbol(vec!["t".into()]),
        ]);
        assert_eq!(first_difference(&a, &ia, &a.clone(), &ib), None);
        assert_eq!(first_difference(&a, &ia, &b, &ib), Some(2));
    }

    #[test]
    fn an_added_column_is_null_on_every_row() {
        let ia = inv(&["a", "", "b"]);
        assert_eq!(
            first_non_null(&ColumnData::Long(vec![i64::MIN; 3]), &ia),
            None
        );
        assert_eq!(
            first_non_null(&ColumnData::Long(vec![i64::MIN, 0]), &ia),
            Some(1)
        );
        assert_eq!(
            first_non_null(&ColumnData::Float(vec![f64::NAN, 1.5]), &ia),
            Some(1)
        );
        assert_eq!(first_non_null(&ColumnData::Int(vec![i32::MIN]), &ia), None);
        assert_eq!(first_non_null(&ColumnData::Bool(vec![0, 0]), &ia), None);
        // A type add-columns does not write is never taken for nulls.
        assert_eq!(
            first_non_null(&ColumnData::Symbol(vec![String::new()]), &ia),
            Some(0)
        );
        // Null symbols: the empty one of sym, or an index naming none; "b" is not null.
        let e = |i: Vec<i64>| ColumnData::Enum {
            domain: "sym".into(),
            indices: i,
        };
        assert_eq!(first_non_null(&e(vec![1, 1, i64::MIN, 7]), &ia), None);
        assert_eq!(first_non_null(&e(vec![1, 2]), &ia), Some(1));
        // A list column: every item empty; a non-empty item is named by row.
        let empty = || ColumnData::Char(vec![]);
        assert_eq!(
            first_non_null(&ColumnData::Nested(vec![empty(), empty()]), &ia),
            None
        );
        assert_eq!(
            first_non_null(
                &ColumnData::Nested(vec![empty(), ColumnData::Char(vec![b'x'])]),
                &ia
            ),
            Some(1)
        );
    }

    #[test]
    fn a_derived_chunk_is_date_plus_its_source_row_by_row() {
        let day = 8767; // 2024.01.02
        let mid = day * 86_400_000_000_000;
        let ts = ColumnData::Timestamp(vec![mid + 5, mid + 86_399_999_999_999, mid]);
        let span = ColumnData::Timespan(vec![5, 86_399_999_999_999, 0]);
        assert_eq!(derived_chunk_differs(&ts, &span, day), None);
        // Off by one day, or by one nanosecond: named by row.
        assert_eq!(derived_chunk_differs(&ts, &span, day + 1), Some(0));
        let off = ColumnData::Timespan(vec![5, 86_399_999_999_998, 0]);
        assert_eq!(derived_chunk_differs(&ts, &off, day), Some(1));
        // time (ms), second, minute, datetime (rounded to the ms).
        let ts = ColumnData::Timestamp(vec![mid + 61_001_000_000]);
        assert_eq!(
            derived_chunk_differs(&ts, &ColumnData::Time(vec![61_001]), day),
            None
        );
        let ts = ColumnData::Timestamp(vec![mid + 61_000_000_000]);
        assert_eq!(
            derived_chunk_differs(&ts, &ColumnData::Second(vec![61]), day),
            None
        );
        let ts = ColumnData::Timestamp(vec![mid + 120_000_000_000]);
        assert_eq!(
            derived_chunk_differs(&ts, &ColumnData::Minute(vec![2]), day),
            None
        );
        let z = day as f64 + 0.5 + 0.123 / 86_400.0;
        let ts = ColumnData::Timestamp(vec![mid + 43_200_123_000_000]);
        assert_eq!(
            derived_chunk_differs(&ts, &ColumnData::Datetime(vec![z]), day),
            None
        );
        // Not a timestamp, or a source that is no time of day: row 0.
        assert_eq!(derived_chunk_differs(&span, &span, day), Some(0));
        let ts = ColumnData::Timestamp(vec![mid]);
        assert_eq!(
            derived_chunk_differs(&ts, &ColumnData::Long(vec![0]), day),
            Some(0)
        );
    }
}
