//! one-sym, planned purely: every column of a configured partitioned table enumerated against a
//! domain other than `sym` is re-enumerated onto `sym` (KX: "The database must have a single
//! enumeration file named sym"). The new `sym` is the old one byte for byte plus the symbols of
//! those domains it lacks, appended domain by domain (domains in name order, each in its own
//! order), so every column enumerated against the old `sym` keeps its meaning; each
//! re-enumerated column maps old domain index i to the new `sym` index of the same symbol.
//! The old domain files stay in the root, used by no column (the `set-aside` remedy moves them).

use super::spec::Remedy;
use crate::config::AssemblyConfig;
use crate::inventory::TableInv;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use thiserror::Error;

/// The one domain SM accepts.
pub const SYM: &str = "sym";

/// The configured partitioned tables one-sym re-enumerates, when it is given.
pub fn targets(config: &AssemblyConfig, remedies: &[Remedy]) -> Vec<String> {
    if !remedies.iter().any(|r| matches!(r, Remedy::OneSym)) {
        return Vec::new();
    }
    config
        .tables
        .iter()
        .filter(|t| t.kind == "partitioned")
        .map(|t| t.name.clone())
        .collect()
}

/// One column to re-enumerate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReenumColumn {
    pub name: String,
    /// Its domain before the remedy (`sym_ORD`).
    pub domain: String,
    /// Old domain index -> new `sym` index; filled in once every domain is known
    /// ([`SymPlan`]), empty while the partitions are read.
    pub remap: Arc<Vec<u32>>,
}

/// The columns re-enumerated in one table of one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReenumAction {
    pub date: String,
    pub table: String,
    /// The table directory, relative to the baseURI.
    pub dir: String,
    pub columns: Vec<ReenumColumn>,
}

/// The new root `sym`: the old one + `appended` (staged once for the whole plan).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymAction {
    /// The source directory holding `sym`, relative to the baseURI (`data`).
    pub dir: String,
    /// Symbols in the old `sym`.
    pub old_len: usize,
    pub appended: Vec<String>,
    /// Each re-enumerated domain and how many of its symbols were appended.
    pub from: Vec<(String, usize)>,
    /// The empty symbol is appended last, for add-columns' null symbol columns.
    pub empty_for_nulls: bool,
}

/// Why one-sym cannot re-enumerate a table (a `remedy-refused` finding).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum OneSymRefusal {
    #[error("one-sym: column `{column}` of table {table} is a nested (list) column enumerated against `{domain}`: re-enumerating nested symbol lists is not written by this smstage yet (nothing was written); re-enumerate it against sym with q (.Q.en), or configure the table out")]
    Nested {
        table: String,
        column: String,
        domain: String,
    },
    #[error("one-sym: the database root has no `sym` to append the other domains' symbols to ({}): one-sym appends to an existing sym, it does not create one (nothing was written); create sym with q (`:sym set `symbol$()) or restore it from the backup", domains.join(", "))]
    NoSym { domains: Vec<String> },
    #[error("one-sym: the enumeration domain `{domain}` cannot be read ({detail}): its columns cannot be re-enumerated (nothing was written); restore {domain} from the backup")]
    Domain { domain: String, detail: String },
    #[error("add-columns: the database root has no `sym` whose empty symbol the null symbol columns would enumerate to (nothing was written); create sym with q (`:sym set `symbol$()) or restore it from the backup")]
    NoSymForNulls,
    #[error("one-sym: sym would hold {0} symbols, more than an enumeration index can address")]
    TooMany(usize),
    #[error("one-sym: symbol {index} of the domain `{domain}` (bytes {}) is not UTF-8 text and sym lacks it: appending such a symbol is not written by this smstage yet (the plan records appended symbols as text; nothing was written); append the domain's missing symbols to sym with q (`.[`:sym;();,;get[`:{domain}] except get `:sym]`), then run this again: one-sym then only re-enumerates", hex(bytes))]
    NotUtf8 {
        domain: String,
        index: usize,
        bytes: Vec<u8>,
    },
    #[error("{who}: the root sym is compressed (bytes 6b 78 7a 69 70 70 65 64, `kxzipped`) and {n} symbols are to be appended to it: appending to a compressed sym is not written by this smstage yet (nothing was written); decompress it with q (`:sym set get `:sym, with .z.zd unset), then run this again")]
    CompressedSym { who: &'static str, n: usize },
}

/// `bytes` as space-separated hex pairs (`5a e9 41`).
fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The columns of `table` (as its `.d` lists them) enumerated against another domain than
/// `sym`: `None` when there are none (or `.d` is unreadable, which the load checks report).
pub fn plan_table(
    date: &str,
    dir: &str,
    table: &TableInv,
) -> Result<Option<ReenumAction>, OneSymRefusal> {
    let Some(Ok(cols)) = &table.dotd else {
        return Ok(None);
    };
    let mut columns = Vec::new();
    for c in cols {
        let Some(h) = table.file(c).and_then(|f| f.header.as_ref().ok()) else {
            continue;
        };
        let Some(d) = h.domain.as_deref().filter(|d| *d != SYM) else {
            continue;
        };
        if h.nested {
            return Err(OneSymRefusal::Nested {
                table: table.name.clone(),
                column: c.clone(),
                domain: d.into(),
            });
        }
        columns.push(ReenumColumn {
            name: c.clone(),
            domain: d.into(),
            remap: Arc::default(),
        });
    }
    // A nested column's data file naming another domain (`col#` of an anymap list).
    for c in cols {
        let data = format!("{c}#");
        if let Some(d) = table
            .file(&data)
            .and_then(|f| f.header.as_ref().ok())
            .and_then(|h| h.domain.as_deref())
            .filter(|d| *d != SYM)
        {
            return Err(OneSymRefusal::Nested {
                table: table.name.clone(),
                column: c.clone(),
                domain: d.into(),
            });
        }
    }
    if columns.is_empty() {
        return Ok(None);
    }
    Ok(Some(ReenumAction {
        date: date.into(),
        table: table.name.clone(),
        dir: dir.into(),
        columns,
    }))
}

/// The table as it will be: the re-enumerated columns name `sym` as their domain.
pub fn apply(action: &ReenumAction, table: &mut TableInv) {
    for f in &mut table.files {
        if action.columns.iter().any(|c| c.name == f.name) {
            if let Ok(h) = &mut f.header {
                h.domain = Some(SYM.into());
            }
        }
    }
}

/// Every domain's remap onto the new `sym`, and what is appended to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymPlan {
    pub appended: Vec<String>,
    pub remaps: BTreeMap<String, Arc<Vec<u32>>>,
    /// Each domain and how many of its symbols it appended.
    pub from: Vec<(String, usize)>,
}

/// Plans the new `sym` from the old one and every re-enumerated domain's symbols, all as the
/// bytes kdb+ stores (two symbols that are not UTF-8 may read as the same lossy text). A
/// symbol maps to its first place in `sym` (where q's `?` finds it); one `sym` lacks is
/// appended once, at its first domain's turn, so a symbol of two domains maps to one index.
/// A symbol to append must be UTF-8 (the plan records appended symbols as text).
pub fn plan_syms(
    sym: &[Vec<u8>],
    domains: &BTreeMap<String, Vec<Vec<u8>>>,
) -> Result<SymPlan, OneSymRefusal> {
    let mut index: HashMap<&[u8], u32> = HashMap::with_capacity(sym.len());
    // 3.x enumerations hold int32 indices: every index stays at most i32::MAX either way.
    let fits = |n: usize| {
        i32::try_from(n)
            .ok()
            .and_then(|i| u32::try_from(i).ok())
            .ok_or(OneSymRefusal::TooMany(n + 1))
    };
    for (i, s) in sym.iter().enumerate() {
        let i = fits(i)?;
        index.entry(s.as_slice()).or_insert(i);
    }
    let mut appended: Vec<String> = Vec::new();
    let mut remaps = BTreeMap::new();
    let mut from = Vec::new();
    for (d, symbols) in domains {
        let before = appended.len();
        let mut remap = Vec::with_capacity(symbols.len());
        for (at, s) in symbols.iter().enumerate() {
            let i = match index.get(s.as_slice()) {
                Some(&i) => i,
                None => {
                    let i = fits(sym.len() + appended.len())?;
                    let text =
                        String::from_utf8(s.clone()).map_err(|_| OneSymRefusal::NotUtf8 {
                            domain: d.clone(),
                            index: at,
                            bytes: s.clone(),
                        })?;
                    appended.push(text);
                    index.insert(s.as_slice(), i);
                    i
                }
            };
            remap.push(i);
        }
        from.push((d.clone(), appended.len() - before));
        remaps.insert(d.clone(), Arc::new(remap));
    }
    Ok(SymPlan {
        appended,
        remaps,
        from,
    })
}

/// One line: what a re-enumeration writes.
pub fn describe(a: &ReenumAction) -> String {
    format!(
        "one-sym: {}/{{{}}} re-enumerated onto sym (rewritten, same attribute and compression)",
        a.dir,
        a.columns
            .iter()
            .map(|c| format!("{} from {}", c.name, c.domain))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// One line: what the new `sym` holds.
pub fn describe_sym(a: &SymAction) -> String {
    let mut from: Vec<String> = a
        .from
        .iter()
        .map(|(d, n)| format!("{n} from {d}"))
        .collect();
    if a.empty_for_nulls {
        from.push("the empty symbol, for add-columns' null symbols".into());
    }
    let who = match (a.from.is_empty(), a.empty_for_nulls) {
        (false, true) => "one-sym, add-columns",
        (true, _) => "add-columns",
        (false, false) => "one-sym",
    };
    let unused = if a.from.is_empty() {
        ""
    } else {
        "; the old domain files are then used by no column (with set-aside they move to smstage-aside/, else they stay in the root, where SM refuses them)"
    };
    format!(
        "{who}: {}/sym = its {} symbols byte for byte + {} appended ({}){unused}",
        a.dir,
        a.old_len,
        a.appended.len(),
        from.join(", ")
    )
}

/// The index of the empty symbol (the null of a symbol column) in `sym` + `appended`, if any.
pub fn empty_index(sym: &[Vec<u8>], appended: &[String]) -> Option<u32> {
    sym.iter()
        .map(Vec::as_slice)
        .chain(appended.iter().map(String::as_bytes))
        .position(<[u8]>::is_empty)
        .and_then(|i| u32::try_from(i).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{FileError, FileInv};
    use crate::kdb::{Attr, FileFormat, Header, T_ENUM, T_FLOAT};
    use std::path::Path;

    fn syms(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn raw(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn file(name: &str, ty: u8, domain: Option<&str>, nested: bool) -> FileInv {
        FileInv {
            name: name.into(),
            dir: Arc::from(Path::new("/db/data/2024.01.02/ORD")),
            size: 4096 + 8 * 3,
            header: Ok::<_, FileError>(Header {
                format: FileFormat::Vector4k,
                value_type: ty,
                attr: Attr::None,
                count: 3,
                domain: domain.map(String::from),
                nested,
                item_type: None,
                compression: None,
            }),
            nested_item: None,
        }
    }

    fn table(files: Vec<FileInv>, dotd: &[&str]) -> TableInv {
        TableInv {
            name: "ORD".into(),
            path: "/db/data/2024.01.02/ORD".into(),
            dotd: Some(Ok(syms(dotd))),
            dotd_size: Some(1),
            files,
            links: Vec::new(),
        }
    }

    #[test]
    fn new_symbols_are_appended_domain_by_domain_each_in_its_own_order() {
        let sym = raw(&["a", "b", "c"]);
        let mut d = BTreeMap::new();
        d.insert("sym_Y".to_string(), raw(&["z", "b", "y"]));
        d.insert("sym_X".to_string(), raw(&["c", "x", "z"]));
        let p = plan_syms(&sym, &d).unwrap();
        // sym_X comes first (name order); "z" is in both domains: appended once, by sym_X.
        assert_eq!(p.appended, ["x", "z", "y"]);
        assert_eq!(*p.remaps["sym_X"], [2, 3, 4]);
        assert_eq!(*p.remaps["sym_Y"], [4, 1, 5]);
        assert_eq!(p.from, [("sym_X".to_string(), 2), ("sym_Y".to_string(), 1)]);
        // Every remapped index names the same symbol in the new sym.
        let new: Vec<&[u8]> = sym
            .iter()
            .map(Vec::as_slice)
            .chain(p.appended.iter().map(String::as_bytes))
            .collect();
        for (dom, remap) in &p.remaps {
            for (i, &n) in remap.iter().enumerate() {
                assert_eq!(d[dom][i], new[n as usize], "{dom}[{i}]");
            }
        }
    }

    #[test]
    fn a_symbol_maps_to_its_first_place_in_sym_and_nothing_is_appended_when_all_are_there() {
        // q's `?` finds the first of two equal symbols.
        let sym = raw(&["a", "", "a", "b"]);
        let mut d = BTreeMap::new();
        d.insert("sym_X".to_string(), raw(&["b", "a", "", "a"]));
        let p = plan_syms(&sym, &d).unwrap();
        assert!(p.appended.is_empty());
        assert_eq!(*p.remaps["sym_X"], [3, 0, 1, 0]);
    }

    #[test]
    fn symbols_match_by_their_bytes_and_one_that_is_not_utf8_is_never_appended() {
        // Two symbols, though both read as "Z\u{fffd}A" when decoded lossily.
        let sym = vec![b"Z\xe8A".to_vec(), b"Z\xe9A".to_vec()];
        let mut d = BTreeMap::new();
        d.insert(
            "sym_X".to_string(),
            vec![b"Z\xe9A".to_vec(), b"Z\xe8A".to_vec()],
        );
        let p = plan_syms(&sym, &d).unwrap();
        assert_eq!(*p.remaps["sym_X"], [1, 0]);
        assert!(p.appended.is_empty());
        d.insert(
            "sym_Y".to_string(),
            vec![b"ok".to_vec(), b"Z\xeaA".to_vec()],
        );
        let e = plan_syms(&sym, &d).unwrap_err();
        assert_eq!(
            e,
            OneSymRefusal::NotUtf8 {
                domain: "sym_Y".into(),
                index: 1,
                bytes: b"Z\xeaA".to_vec()
            }
        );
        assert!(e.to_string().contains("(bytes 5a ea 41)"), "{e}");
        assert_eq!(empty_index(&sym, &["".into()]), Some(2));
        assert_eq!(empty_index(&[b"".to_vec()], &[]), Some(0));
    }

    #[test]
    fn columns_of_another_domain_are_planned_and_named_sym_after() {
        let mut t = table(
            vec![
                file("id", T_ENUM, Some("sym_ORD"), false),
                file("px", T_FLOAT, None, false),
                file("sym", T_ENUM, Some("sym"), false),
                // A file .d does not list is no column.
                file("stray", T_ENUM, Some("sym_Z"), false),
            ],
            &["id", "px", "sym"],
        );
        let a = plan_table("2024.01.02", "data/2024.01.02/ORD", &t)
            .unwrap()
            .unwrap();
        assert_eq!(a.columns.len(), 1);
        assert_eq!(
            (&*a.columns[0].name, &*a.columns[0].domain),
            ("id", "sym_ORD")
        );
        apply(&a, &mut t);
        let h = t.file("id").unwrap().header.as_ref().unwrap();
        assert_eq!(h.domain.as_deref(), Some("sym"));
        // Nothing left to do.
        assert_eq!(plan_table("d", "x", &t).unwrap(), None);
    }

    #[test]
    fn nested_symbol_columns_of_another_domain_are_refused() {
        let t = table(
            vec![
                file("tags", T_ENUM, Some("sym_T"), true),
                file("tags#", T_ENUM, Some("sym_T"), false),
            ],
            &["tags"],
        );
        let e = plan_table("d", "x", &t).unwrap_err();
        assert!(matches!(e, OneSymRefusal::Nested { .. }), "{e}");
        assert!(e.to_string().contains("`tags` of table ORD"), "{e}");
        // Only the data file names the domain (an anymap list).
        let t = table(
            vec![
                file("tags", 0, None, true),
                file("tags#", T_ENUM, Some("sym_T"), false),
            ],
            &["tags"],
        );
        let e = plan_table("d", "x", &t).unwrap_err();
        assert!(matches!(e, OneSymRefusal::Nested { .. }), "{e}");
    }
}
