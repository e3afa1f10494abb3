//! Load family: what q needs to load one table (its `.d`, column files, row counts, domains)
//! and how that table compares with its configured schema; file errors as findings.

use crate::config::TableSchema;
use crate::finding::{code, Finding};
use crate::inventory::{FileError, FileInv, Inventory, TableInv};
use crate::kdb::{self, LogicalType};
use std::collections::BTreeSet;
use std::path::Path;

/// How a table's `.d` order must match the configuration.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnOrder {
    /// The last partition and root tables: q takes the table's columns, in order, from here.
    Strict,
    /// Earlier partitions: q reads their columns by name (in the last partition's order), so
    /// the same columns in another order load and query the same.
    ByName,
}

pub(crate) fn check_table(
    t: &TableInv,
    schema: Option<&TableSchema>,
    partition: Option<&str>,
    order: ColumnOrder,
    inv: &Inventory,
    out: &mut Vec<Finding>,
) {
    let at = |f: Finding| -> Finding {
        let f = f.table(&t.name);
        match partition {
            Some(p) => f.partition(p),
            None => f,
        }
    };
    let dotd_path = t.path.join(".d");
    // A `.d` or a column file that is a symbolic link is there, not missing: its symlink
    // finding says what it is and what to do ("restore it from the backup" would be wrong).
    let linked = |name: &str| t.links.iter().any(|l| l.name == name);
    let cols: Vec<String> = match &t.dotd {
        None if linked(".d") => return,
        None => {
            out.push(at(Finding::error(
                code::LOAD_DOTD_MISSING,
                format!(
                    "table {} has no .d file: kdb+ cannot know its columns",
                    t.name
                ),
            )
            .path(dotd_path.display())
            .hint(
                "restore .d from the backup, or write it with `.[`:path/.d;();:;cols]` in q",
            )));
            return;
        }
        Some(Err(e)) => {
            out.push(at(file_error(e, &dotd_path)));
            return;
        }
        Some(Ok(c)) => c.clone(),
    };
    let file = |name: &str| t.files.iter().find(|f| f.name == name);

    if let Some(s) = schema {
        let want: Vec<&str> = s.columns.iter().map(|c| c.name.as_str()).collect();
        let have: Vec<&str> = cols.iter().map(String::as_str).collect();
        let same_set = || {
            let (mut w, mut h) = (want.clone(), have.clone());
            w.sort_unstable();
            h.sort_unstable();
            w == h
        };
        if want != have && order == ColumnOrder::ByName && same_set() {
            out.push(at(Finding::warning(
                code::SCHEMA_COLUMN_ORDER,
                format!("columns of {} are listed in another order in this partition's .d: q reads them by name (in the last partition's order), so queries are unaffected; the partition moves unchanged\n      .d:            {}\n      configuration: {}", t.name, have.join(" "), want.join(" ")),
            )
            .path(dotd_path.display())
            .hint("nothing to do; to tidy it, rewrite this .d in the configured order")));
        } else if want != have {
            let first = want
                .iter()
                .zip(&have)
                .position(|(a, b)| a != b)
                .unwrap_or(want.len().min(have.len()));
            let detail = match (want.get(first), have.get(first)) {
                (Some(w), Some(h)) => format!(
                    "column {} is `{h}` in .d but `{w}` in the configuration",
                    first + 1
                ),
                (Some(w), None) => format!(".d ends before configured column {} `{w}`", first + 1),
                (None, Some(h)) => format!(".d has extra column {} `{h}`", first + 1),
                (None, None) => String::new(),
            };
            // SM's validator names the columns on each side the way below.
            let extra: Vec<&str> = have.iter().filter(|c| !want.contains(c)).copied().collect();
            let missing: Vec<&str> = want.iter().filter(|c| !have.contains(c)).copied().collect();
            let at_part = partition
                .map(|p| format!(" partitions={p}"))
                .unwrap_or_default();
            let mut sm_words = String::new();
            if !extra.is_empty() {
                sm_words.push_str(&format!(
                    "The table has the following extra columns: columns={}{at_part}. ",
                    extra.join(",")
                ));
            }
            if !missing.is_empty() {
                sm_words.push_str(&format!(
                    "The table has the following missing columns: columns={}{at_part}. ",
                    missing.join(",")
                ));
            }
            out.push(at(Finding::error(
                code::SCHEMA_COLUMNS,
                format!("{sm_words}columns of {} differ from the configuration: {detail}\n      .d:            {}\n      configuration: {}", t.name, have.join(" "), want.join(" ")),
            )
            .path(dotd_path.display())
            .column(have.get(first).or(want.get(first)).copied().unwrap_or(""))
            .hint(columns_hint(&missing, s.prtn_col.as_deref(), &t.name))));
        }
    }

    let mut counts: Vec<(&str, u64)> = Vec::new();
    let mut domains_reported = BTreeSet::new();
    for c in &cols {
        let Some(f) = file(c) else {
            if linked(c) {
                continue;
            }
            out.push(at(Finding::error(
                code::LOAD_COLUMN_MISSING,
                format!("column {c} is listed in .d but its file is missing"),
            )
            .column(c)
            .path(t.path.join(c).display())
            .hint("restore the column file from the backup")));
            continue;
        };
        let h = match &f.header {
            Ok(h) => h,
            Err(e) => {
                out.push(at(file_error(e, &f.path()).column(c)));
                continue;
            }
        };
        if let Some(what) = not_a_vector(h) {
            out.push(at(Finding::error(
                code::LOAD_COLUMN_NOT_VECTOR,
                format!("column file {c} holds {what}, not a vector: a column must hold one item per row"),
            )
            .column(c)
            .path(f.path().display())
            .hint("restore the column from the backup; if it was written this way, rewrite it as a vector of the table's row count")));
            continue;
        }
        counts.push((c.as_str(), h.count));
        if h.nested {
            let data = format!("{c}#");
            match file(&data) {
                None => out.push(at(Finding::error(
                    code::LOAD_NESTED_DATA_MISSING,
                    format!("nested column {c} has no data file {data}"),
                )
                .column(c)
                .path(t.path.join(&data).display())
                .hint("restore both files of the nested column from the backup"))),
                Some(d) => {
                    if let Err(e) = &d.header {
                        out.push(at(file_error(e, &d.path()).column(c)));
                    }
                }
            }
        }
        if let Some(dom) = &h.domain {
            // A domain file that is there but unreadable has its own finding (corrupt,
            // unreadable…), which says what is wrong with it: "no symbol file" would not.
            let present = inv.root.iter().any(|r| r.name == *dom);
            if inv.domain(dom).is_none() && !present && domains_reported.insert(dom.clone()) {
                out.push(at(Finding::error(
                    code::LOAD_DOMAIN_MISSING,
                    format!("column {c} is enumerated against `{dom}`, but the database root has no symbol file {dom}"),
                )
                .column(c)
                .path(inv.source.join(dom).display())
                .hint(format!("restore the enumeration domain file {dom} into the database root from the backup"))));
            }
        }
        if let Some(s) = schema {
            if let Some(cs) = s.columns.iter().find(|cs| cs.name == *c) {
                let found = kdb::logical_type(h, f.nested_item);
                if is_untyped_empty(h) && !found.satisfies(cs.ty) {
                    // q writes a 0-row table's column whose type it never learnt as an empty
                    // general list: no value contradicts the configured type.
                    out.push(at(Finding::warning(
                        code::SCHEMA_UNTYPED_EMPTY,
                        format!("column {c} is an empty untyped list on disk (a 0-row table's column, stored as an empty general list); compatible with the configured {}", cs.type_name),
                    )
                    .column(c)
                    .path(f.path().display())
                    .hint("nothing to do: the first write-down gives it the configured type")));
                } else if !found.satisfies(cs.ty) {
                    out.push(at(Finding::error(
                        code::SCHEMA_TYPE,
                        format!("column {c} is {} on disk but {} in the configuration", describe(found), cs.type_name),
                    )
                    .column(c)
                    .path(f.path().display())
                    .hint(format!("set the type of {}.{c} to {} in the assembly configuration, or convert the column", t.name, found.config_name()))));
                }
                if let Some(a) = cs.attr_disk {
                    if a != h.attr {
                        out.push(at(Finding::warning(
                            code::SCHEMA_ATTR,
                            format!("column {c} has attribute `{}` on disk but attrDisk `{}` in the configuration", attr_text(h.attr), attr_text(a)),
                        ).column(c).path(f.path().display())));
                    }
                }
            }
        }
    }
    if let Some(&(first_col, n)) = counts.first() {
        let odd: Vec<String> = counts
            .iter()
            .filter(|(_, m)| *m != n)
            .map(|(c, m)| format!("{c}={m}"))
            .collect();
        if !odd.is_empty() {
            out.push(at(Finding::error(
                code::LOAD_ROW_COUNT,
                format!("columns of {} have different row counts: {first_col}={n} but {}", t.name, odd.join(", ")),
            )
            .column(counts.iter().find(|(_, m)| *m != n).map(|(c, _)| *c).unwrap_or(first_col))
            .path(t.path.display())
            .hint("a column file is truncated or from another write: restore the table from the backup")));
        }
    }
    // Files kdb+ will not load: not a listed column, nor a nested column's data/domain file.
    let listed: BTreeSet<&str> = cols.iter().map(String::as_str).collect();
    for f in &t.files {
        if !is_extra(&listed, f) {
            continue;
        }
        out.push(at(Finding::warning(
            code::LOAD_EXTRA_FILE,
            format!(
                "file {} in table {} is not listed in .d: kdb+ ignores it; it moves with the table",
                f.name, t.name
            ),
        )
        .path(f.path().display())));
    }
}

/// A file of a table that its `.d` (`listed`) does not name, neither as a column nor as a
/// nested column's data file (`col#`, `col##`): kdb+ never loads it.
fn is_extra(listed: &BTreeSet<&str>, f: &FileInv) -> bool {
    let stem = f.name.trim_end_matches('#');
    !(listed.contains(f.name.as_str()) || (stem != f.name && listed.contains(stem)))
}

/// The symbolic links of `t` whose names its `.d` does not list (a stray file's link: what
/// set-aside moves, as it moves [`extra_files`]); none when `.d` is missing or unreadable.
pub(crate) fn extra_links(t: &TableInv) -> Vec<&crate::inventory::LinkInv> {
    let Some(Ok(cols)) = &t.dotd else {
        return Vec::new();
    };
    let listed: BTreeSet<&str> = cols.iter().map(String::as_str).collect();
    t.links
        .iter()
        .filter(|l| {
            let stem = l.name.trim_end_matches('#');
            l.name != ".d"
                && !(listed.contains(l.name.as_str()) || (stem != l.name && listed.contains(stem)))
        })
        .collect()
}

/// The files of `t` that `load-extra-file` reports (what set-aside moves): none when `.d` is
/// missing or unreadable, since then every file would look extra and the table is corrupt.
pub(crate) fn extra_files(t: &TableInv) -> Vec<&FileInv> {
    let Some(Ok(cols)) = &t.dotd else {
        return Vec::new();
    };
    let listed: BTreeSet<&str> = cols.iter().map(String::as_str).collect();
    t.files.iter().filter(|f| is_extra(&listed, f)).collect()
}

/// The one maker of the findings of a failed read (`load-corrupt-file`,
/// `load-unsupported-variant`, …): the code follows the error's class, which only the
/// reader's typed error decides (see `FileError`).
pub(crate) fn file_error(e: &FileError, path: &Path) -> Finding {
    match e {
        FileError::Unreadable(m) => Finding::error(code::LOAD_UNREADABLE, m.to_string())
            .path(path.display())
            .hint(crate::io_hint::advice(m.errno()).fix),
        FileError::Encrypted(m) => Finding::warning(code::LOAD_ENCRYPTED, m.to_string())
            .path(path.display())
            .hint("encrypted files are moved unchanged, but smstage cannot verify their contents"),
        FileError::Corrupt(m) => Finding::error(code::LOAD_CORRUPT, m.to_string())
            .path(path.display())
            .hint("restore the file from the backup"),
        FileError::Unsupported(m) => Finding::error(
            code::LOAD_UNSUPPORTED,
            format!("{m}: this is a kdb+ file variant smstage does not read yet, not a sign of corruption (the data may well be fine), but smstage cannot check it"),
        )
        .path(path.display())
        .hint(format!("send us the message above and the first 4 KiB of the file (`xxd -l 4096 {}`) so we can add the variant; until then the import cannot prove this column", path.display())),
        FileError::NotKdb(m) => Finding::error(
            code::LOAD_CORRUPT,
            format!("{m}: not a kdb+ file where kdb+ data is expected"),
        )
        .path(path.display())
        .hint("restore the file from the backup, or move it out of the database if it does not belong there"),
    }
}

/// What a column file holds when it is not a list (a serialized atom, dictionary or table).
pub(crate) fn not_a_vector(h: &kdb::Header) -> Option<String> {
    if h.format != kdb::FileFormat::Serialized {
        return None;
    }
    match h.value_type {
        _ if h.is_atom() => Some(format!(
            "a serialized atom (type -{})",
            h.value_type.wrapping_neg()
        )),
        98 => Some("a serialized table".into()),
        99 | 127 => Some("a serialized dictionary".into()),
        _ => None,
    }
}

/// An empty general list: the form q gives a column of a 0-row table that never had a type.
pub(crate) fn is_untyped_empty(h: &kdb::Header) -> bool {
    h.format == kdb::FileFormat::Serialized && h.value_type == kdb::T_MIXED && h.count == 0
}

pub(crate) fn describe(t: LogicalType) -> String {
    t.config_name()
}

pub(crate) fn attr_text(a: kdb::Attr) -> &'static str {
    match a {
        kdb::Attr::None => "none",
        kdb::Attr::Sorted => "sorted",
        kdb::Attr::Unique => "unique",
        kdb::Attr::Parted => "parted",
        kdb::Attr::Grouped => "grouped",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_finding_follows_the_readers_class() {
        let p = Path::new("/db/t/c#");
        let unsupported = kdb::KdbError::unsupported(
            "/db/t/c#",
            4096,
            &[0xfb, 0, 0x4d, 0, 1, 0, 0, 0, 3],
            "row 0: a nested item that is itself a non-empty list",
        );
        let f = file_error(&FileError::from_kdb(&unsupported), p);
        assert_eq!(f.code, code::LOAD_UNSUPPORTED);
        assert!(!f.message.contains("corrupt at"), "{}", f.message);
        let f = file_error(
            &FileError::from_kdb(&kdb::KdbError::corrupt("/db/t/c#", 9, "x")),
            p,
        );
        assert_eq!(f.code, code::LOAD_CORRUPT);
        let too_long = std::io::Error::from_raw_os_error(libc::ENAMETOOLONG);
        let f = file_error(&FileError::from_kdb(&kdb::KdbError::io("c", too_long)), p);
        assert_eq!(f.code, code::LOAD_UNREADABLE);
        assert!(
            !f.hint.as_deref().unwrap_or("").contains("permission"),
            "{f:?}"
        );
    }

    /// The corrupt and unsupported findings are made in `file_error` and nowhere else in the
    /// sources: every other failure reaches them through `FileError`, whose class only the
    /// reader's typed error sets.
    #[test]
    fn only_file_error_makes_corrupt_or_unsupported_findings() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut outside = Vec::new();
        for e in walkdir::WalkDir::new(&src) {
            let e = e.unwrap();
            if e.path().extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(e.path()).unwrap();
            // Unit tests may name the codes (this one does): only the code that ships counts.
            let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
            let body = (e.path().ends_with("check/load.rs"))
                .then(|| {
                    let start = text.find("pub(crate) fn file_error(")?;
                    let end = start + text[start..].find("\n}\n")?;
                    Some(start..end)
                })
                .flatten();
            for needle in ["code::LOAD_CORRUPT", "code::LOAD_UNSUPPORTED"] {
                for (at, _) in text.match_indices(needle) {
                    if !body.as_ref().is_some_and(|b| b.contains(&at)) {
                        outside.push(format!("{}: {needle} at byte {at}", e.path().display()));
                    }
                }
            }
        }
        assert!(outside.is_empty(), "{outside:#?}");
    }
}

/// What to do about configured columns a table lacks: a missing prtnCol is derived
/// (derive-prtncol), other missing columns are written null-filled (add-columns).
fn columns_hint(missing: &[&str], prtn_col: Option<&str>, table: &str) -> String {
    let base = "make the configured columns match the database (names and order), or fix the table on disk";
    let prtn = prtn_col.filter(|p| missing.contains(p));
    let others = missing.iter().any(|c| Some(*c) != prtn);
    let mut hint = base.to_string();
    if let Some(p) = prtn {
        hint.push_str(&format!("; smstage can derive the prtnCol {p} from a time-of-day column: pass `--remedy derive-prtncol:{table}=SOURCE` to check and plan"));
    }
    if others {
        hint.push_str("; smstage can write the other missing columns null-filled (as dbmaint's addcol): pass `--remedy add-columns` to check and plan");
    }
    hint
}

#[cfg(test)]
mod hint_tests {
    use super::columns_hint;

    #[test]
    fn missing_columns_name_the_remedy_that_writes_them() {
        let h = columns_hint(&["ts"], Some("ts"), "trade");
        assert!(h.contains("--remedy derive-prtncol:trade=SOURCE"), "{h}");
        assert!(!h.contains("add-columns"), "{h}");
        let h = columns_hint(&["fee"], Some("ts"), "trade");
        assert!(
            h.contains("--remedy add-columns") && !h.contains("derive"),
            "{h}"
        );
        let h = columns_hint(&["ts", "fee"], Some("ts"), "trade");
        assert!(
            h.contains("derive-prtncol") && h.contains("add-columns"),
            "{h}"
        );
        let h = columns_hint(&[], None, "trade");
        assert!(!h.contains("--remedy"), "{h}");
    }
}
