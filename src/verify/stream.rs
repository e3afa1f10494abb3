//! `verify --against` of one pair of local columns, a chunk of rows at a time from each side
//! ([`kdb::chunked`]): the two files may be compressed differently (other block sizes, other
//! chunk boundaries), so rows are taken from both in step and a side's surplus is kept for
//! the next round. At most about two chunks per side are held, whatever the column size.

use crate::inventory::Inventory;
use crate::kdb::chunked::{slice_rows, ColumnChunks};
use crate::kdb::{ColumnData, KdbError, LocalFile, ReadAt};
use std::path::Path;

/// Compares the values of one chunk of each side holding the same rows.
/// One side: its chunks, and rows read but not compared yet.
struct Side<'a> {
    chunks: ColumnChunks<'a>,
    held: Option<(ColumnData, usize)>,
}

impl Side<'_> {
    /// Up to `max` rows (fewer when the reader's budget cuts a nested chunk short).
    fn next(&mut self, max: usize) -> Result<Option<ColumnData>, KdbError> {
        if let Some((d, used)) = self.held.take() {
            let end = (used + max).min(d.len());
            let out = slice_rows(&d, used..end);
            if end < d.len() {
                self.held = Some((d, end));
            }
            return Ok(Some(out));
        }
        self.chunks.next_rows(max)
    }

    /// Gives back rows `from..` of `d` for the next round.
    fn keep(&mut self, d: ColumnData, from: usize) {
        if from < d.len() {
            self.held = Some((d, from));
        }
    }
}

/// The first difference between the local columns `a` and `b`, as a message (`None`: the
/// same values); `same` compares one pair of chunks.
pub fn first_difference_local(
    a: &Path,
    ia: &Inventory,
    b: &Path,
    ib: &Inventory,
    same: impl Fn(&ColumnData, &Inventory, &ColumnData, &Inventory) -> Option<usize>,
) -> Option<String> {
    let chunk = crate::check::deep_scan::chunk_bytes();
    first_difference_chunked(a, ia, b, ib, same, (chunk, chunk))
}

/// [`first_difference_local`] with each side's chunk budget given.
fn first_difference_chunked(
    a: &Path,
    ia: &Inventory,
    b: &Path,
    ib: &Inventory,
    same: impl Fn(&ColumnData, &Inventory, &ColumnData, &Inventory) -> Option<usize>,
    (chunk_a, chunk_b): (usize, usize),
) -> Option<String> {
    let open = |p: &str| LocalFile::open(Path::new(p)).map(|f| Box::new(f) as Box<dyn ReadAt>);
    let cannot = |p: &Path, e: KdbError| Some(format!("cannot read {}: {e}", p.display()));
    let (fa, fb) = match (LocalFile::open(a), LocalFile::open(b)) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) => return cannot(a, e),
        (_, Err(e)) => return cannot(b, e),
    };
    let mut x = match ColumnChunks::open(&fa, &open, chunk_a) {
        Ok(c) => Side {
            chunks: c,
            held: None,
        },
        Err(e) => return cannot(a, e),
    };
    let mut y = match ColumnChunks::open(&fb, &open, chunk_b) {
        Ok(c) => Side {
            chunks: c,
            held: None,
        },
        Err(e) => return cannot(b, e),
    };
    let (rx, ry) = (x.chunks.rows(), y.chunks.rows());
    if rx != ry {
        return Some(format!("{rx} rows vs {ry} rows"));
    }
    let step = x.chunks.rows_per_chunk().min(y.chunks.rows_per_chunk());
    let mut row = 0usize;
    loop {
        let dx = match x.next(step) {
            Ok(Some(d)) => d,
            Ok(None) => break,
            Err(e) => return cannot(a, e),
        };
        let dy = match y.next(dx.len()) {
            Ok(Some(d)) => d,
            // Both sides state the same row count: a side ending early is damage.
            Ok(None) => return Some(format!("{} ends at row {row}", b.display())),
            Err(e) => return cannot(b, e),
        };
        let n = dy.len();
        let dx_n = if n < dx.len() {
            let head = slice_rows(&dx, 0..n);
            x.keep(dx, n);
            head
        } else {
            dx
        };
        if let Some(i) = same(&dx_n, ia, &dy, ib) {
            return Some(format!(
                "row {}: {} vs {}",
                row + i,
                dx_n.fmt_value(i),
                dy.fmt_value(i)
            ));
        }
        row += n;
    }
    // The end of `b` proves its trailing blocks sound, as reading it whole would.
    match y.next(1) {
        Ok(None) => None,
        Ok(Some(_)) => Some(format!("{} holds rows past {row}", b.display())),
        Err(e) => cannot(b, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{generate, GenCompression, GenSpec};
    use crate::inventory::{RootItem, RootKind};
    use std::path::PathBuf;

    fn inv(root: &Path) -> Inventory {
        Inventory {
            source: root.to_path_buf(),
            partitions: Vec::new(),
            root: vec![RootItem {
                name: "sym".into(),
                path: root.join("sym"),
                kind: RootKind::Domain {
                    symbols: crate::kdb::read_symbols(&root.join("sym")).unwrap(),
                },
            }],
            findings: Vec::new(),
            other_partitions: Vec::new(),
            object_tiers: Vec::new(),
        }
    }

    fn columns(table: &Path) -> Vec<String> {
        crate::kdb::read_symbols(&table.join(".d")).unwrap()
    }

    fn table(root: &Path, t: &str) -> PathBuf {
        let part = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_dir() && p.join(t).is_dir())
            .unwrap();
        part.join(t)
    }

    #[test]
    fn columns_compressed_differently_compare_equal_chunk_by_chunk() {
        let tmp = tempfile::tempdir().unwrap();
        let spec = GenSpec {
            partitions: 1,
            tables: 1,
            columns: 22,
            rows: 20_000,
            ..GenSpec::default()
        };
        let (pa, pb) = (tmp.path().join("a"), tmp.path().join("b"));
        generate(&pa, &spec).unwrap();
        let zstd = GenSpec {
            compress: GenCompression::Zstd,
            block_log2: 12,
            ..spec
        };
        generate(&pb, &zstd).unwrap();
        let (ra, rb) = (pa.join("data"), pb.join("data"));
        let (ra, rb) = if ra.is_dir() { (ra, rb) } else { (pa, pb) };
        let (ia, ib) = (inv(&ra), inv(&rb));
        let (ta, tb) = (table(&ra, "trade"), table(&rb, "trade"));
        let cols = columns(&ta);
        assert!(cols.len() >= 22);
        for c in &cols {
            let got = first_difference_local(
                &ta.join(c),
                &ia,
                &tb.join(c),
                &ib,
                super::super::compare::first_difference,
            );
            assert_eq!(got, None, "{c}");
        }
        // Budgets that cut the two sides' nested chunks at different rows: one side's surplus
        // is carried into the next round.
        for c in &cols {
            for budgets in [(300, 100), (100, 300), (64, 4096)] {
                let got = first_difference_chunked(
                    &ta.join(c),
                    &ia,
                    &tb.join(c),
                    &ib,
                    super::super::compare::first_difference,
                    budgets,
                );
                assert_eq!(got, None, "{c} {budgets:?}");
            }
        }
        // One value changed far into the column: found at its row, worded as the whole
        // comparison words it.
        let price = std::fs::read(ta.join("price")).unwrap();
        let mut changed = price.clone();
        let at = 16 + 8 * 17_001;
        changed[at..at + 8].copy_from_slice(&1.25f64.to_le_bytes());
        let p = tmp.path().join("price");
        std::fs::write(&p, &changed).unwrap();
        let got = first_difference_local(
            &tb.join("price"),
            &ib,
            &p,
            &ia,
            super::super::compare::first_difference,
        )
        .unwrap();
        let whole_a = crate::kdb::read_column(&tb.join("price")).unwrap().data;
        let whole_b = crate::kdb::read_column(&p).unwrap().data;
        let i = super::super::compare::first_difference(&whole_a, &ib, &whole_b, &ia).unwrap();
        assert_eq!(i, 17_001);
        assert_eq!(
            got,
            format!(
                "row {i}: {} vs {}",
                whole_a.fmt_value(i),
                whole_b.fmt_value(i)
            )
        );
    }
}
