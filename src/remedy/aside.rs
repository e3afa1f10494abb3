//! set-aside, planned purely from what `check` read: the entries SM's import refuses and no
//! other remedy makes acceptable are moved, each by one rename, to
//! `<baseURI>/smstage-aside/<its path relative to the database directory>`. Never a delete,
//! never a copy; rollback renames them back.
//!
//! What moves (each what a finding of `check` reports today):
//! - a partition's table directory whose table the assembly does not configure
//!   (`schema-table-unexpected`), or a symbolic link in its place that leads to a directory
//!   (`symlink-in-database`/`symlink-outside-database`): the link itself moves, never what it
//!   points at (a configured table's link stays, and keeps its error: moving it would drop
//!   data the assembly asks for);
//! - a root entry SM refuses (`sm-root-stray`), but an enumeration domain: a column may be
//!   enumerated against it (one-sym's), and `sym` is always SM's; a symbolic link to a domain
//!   file counts as the domain ([`leads_to_domain`]); and but a symbolic link named `sym`,
//!   like a partition or like a configured table (it stands for data the import is asked for:
//!   [`link_stands_for_data`]);
//! - a file in a configured table's directory that its `.d` does not list (`load-extra-file`),
//!   only when `.d` was read (without it every file would look extra).
//!
//! Nothing else: a configured table's listed columns never move.

use crate::config::AssemblyConfig;
use crate::finding::{code, Finding};
use crate::inventory::{Inventory, PartitionInv, RootKind};
use std::path::Path;

/// Where set-aside entries go, relative to the baseURI (beside the database, same filesystem).
pub const ASIDE_DIR: &str = "smstage-aside";

/// Why an entry is set aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AsideWhy {
    /// A partition's table the assembly does not configure.
    UnconfiguredTable { date: String, table: String },
    /// A root entry SM refuses; `what` as `sm-root-stray` says it.
    RootStray { what: &'static str },
    /// A file of a configured table its `.d` does not list.
    ExtraFile { table: String },
}

/// One entry moved out of the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsideAction {
    /// Where it is, relative to the baseURI (`data/2019.06.02/Quote`).
    pub path: String,
    /// Where it goes, relative to the baseURI (`smstage-aside/2019.06.02/Quote`).
    pub aside: String,
    pub is_dir: bool,
    pub why: AsideWhy,
    /// A symbolic link's target: the link itself moves, never what it points at.
    pub link: Option<String>,
}

/// `path` (relative to the baseURI, inside `source`) as it is named under [`ASIDE_DIR`].
pub fn aside_of(source: &str, path: &str) -> String {
    let rel = path
        .strip_prefix(source)
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or(path);
    format!("{ASIDE_DIR}/{rel}")
}

fn rel(base: &Path, p: &Path) -> String {
    p.strip_prefix(base)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

/// The move of an unconfigured table `table` of partition `date` at `path`: its directory, or
/// (`link`: its target text) the symbolic link standing for it.
fn unconfigured_table(
    source: &str,
    path: String,
    date: &str,
    table: &str,
    link: Option<String>,
) -> AsideAction {
    AsideAction {
        aside: aside_of(source, &path),
        path,
        is_dir: link.is_none(),
        why: AsideWhy::UnconfiguredTable {
            date: date.to_string(),
            table: table.to_string(),
        },
        link,
    }
}

/// The move of a file (or, `link`: its target text, the symbolic link) at `path` that the
/// `.d` of configured table `table` does not list.
fn extra_file(source: &str, path: String, table: &str, link: Option<String>) -> AsideAction {
    AsideAction {
        aside: aside_of(source, &path),
        path,
        is_dir: false,
        why: AsideWhy::ExtraFile {
            table: table.to_string(),
        },
        link,
    }
}

/// Takes out of `part` (as `check` read it) the tables the assembly does not configure (a
/// symbolic link to a directory among them), and the files of configured tables that their
/// `.d` does not list; returns their moves.
pub fn plan_partition(
    config: &AssemblyConfig,
    base: &Path,
    source: &str,
    part: &mut PartitionInv,
) -> Vec<AsideAction> {
    let configured = |t: &str| config.tables.iter().any(|c| c.name == t);
    let mut out = Vec::new();
    part.tables.retain(|t| {
        if configured(&t.name) {
            return true;
        }
        out.push(unconfigured_table(
            source,
            rel(base, &t.path),
            &part.date,
            &t.name,
            None,
        ));
        false
    });
    // A link that leads to no directory stands for no table (a file, nothing, a loop): it
    // keeps its error, as a stray file in a partition keeps its own.
    part.links.retain(|l| {
        if configured(&l.name) || !l.leads_to_dir {
            return true;
        }
        let link = Some(l.target.clone());
        out.push(unconfigured_table(
            source,
            rel(base, &l.path),
            &part.date,
            &l.name,
            link,
        ));
        false
    });
    for t in &mut part.tables {
        let extra: Vec<String> = crate::check::extra_files(t)
            .iter()
            .map(|f| f.name.clone())
            .collect();
        let extra_links: Vec<(String, String)> = crate::check::extra_links(t)
            .iter()
            .map(|l| (l.name.clone(), l.target.clone()))
            .collect();
        let dir = rel(base, &t.path);
        // A link among the table's files that `.d` does not list is a stray like any file:
        // the link itself moves (a listed column's link stays, with its error).
        for (name, target) in &extra_links {
            let link = Some(target.clone());
            out.push(extra_file(source, format!("{dir}/{name}"), &t.name, link));
        }
        t.links
            .retain(|l| !extra_links.iter().any(|(n, _)| *n == l.name));
        if extra.is_empty() {
            continue;
        }
        for name in &extra {
            out.push(extra_file(source, format!("{dir}/{name}"), &t.name, None));
        }
        t.files.retain(|f| !extra.contains(&f.name));
    }
    out
}

/// Takes out of `inv`'s root the entries SM refuses (but the enumeration domains), and the
/// symlink findings of a link among them (the link itself moves out of the database, so it
/// leads nowhere from inside it); returns their moves.
///
/// With one-sym (`one_sym`), a domain other than `sym` that no root table (which one-sym does
/// not re-enumerate) is enumerated against is used by no column after the remedies: it moves
/// too, as the root file SM refuses that it then is. A symbolic link to a domain file is
/// judged as that domain (one-sym reads the symbols through it).
pub fn plan_root(
    config: &AssemblyConfig,
    base: &Path,
    source: &str,
    inv: &mut Inventory,
    one_sym: bool,
) -> Vec<AsideAction> {
    let mut out = Vec::new();
    let mut links = Vec::new();
    let used: std::collections::BTreeSet<String> = inv
        .root
        .iter()
        .filter_map(|r| match &r.kind {
            RootKind::Splayed(t) => Some(t),
            _ => None,
        })
        .flat_map(|t| t.files.iter())
        .filter_map(|f| f.header.as_ref().ok()?.domain.clone())
        .collect();
    inv.root.retain(|r| {
        let link = matches!(r.kind, RootKind::Symlink);
        let domain = matches!(r.kind, RootKind::Domain { .. }) || link && leads_to_domain(&r.path);
        let kept_domain = domain && !(one_sym && r.name != "sym" && !used.contains(&r.name));
        let kept_link = link && link_stands_for_data(config, &r.name);
        if kept_domain || kept_link || !crate::check::is_root_stray(config, r) {
            return true;
        }
        let path = rel(base, &r.path);
        let link = matches!(r.kind, RootKind::Symlink).then(|| {
            links.push(r.path.display().to_string());
            std::fs::read_link(&r.path)
                .map(|t| t.display().to_string())
                .unwrap_or_else(|_| "?".into())
        });
        out.push(AsideAction {
            aside: aside_of(source, &path),
            path,
            is_dir: r.is_dir(),
            why: AsideWhy::RootStray {
                what: crate::check::stray_what(&r.kind),
            },
            link,
        });
        false
    });
    inv.findings.retain(|f| {
        !((f.code == code::SYMLINK_OUTSIDE || f.code == code::SYMLINK_INSIDE)
            && f.path.as_ref().is_some_and(|p| links.contains(p)))
    });
    out
}

/// Whether the root symbolic link at `path` leads to an enumeration domain: a regular file
/// whose header is a symbol list, recognised by its bytes as a domain file in the root is
/// (the inventory never follows a link; this reads only the header, and the open refuses a
/// FIFO or device). Such a link stands for a domain a column may be enumerated against, so it
/// stays as the domain file would: moved, the checks would report that domain missing ("restore
/// it from the backup") instead of the link, whose fix is to put the file in its place. A link
/// leading nowhere, to a directory or to another file is no domain: a stray like any link.
fn leads_to_domain(path: &Path) -> bool {
    matches!(
        crate::inventory::read_file_header(path),
        Ok((h, _)) if h.format == crate::kdb::FileFormat::SymbolList
    )
}

/// Whether a root symbolic link named `name` stands for data the import is asked for: `sym`,
/// a partition (a date, or a name shaped like one), a configured table. Moving the link would
/// drop that data from the import, the check passing without it (a date partition) or
/// misreporting it as missing: it stays, with its symlink error, whose fix is to put the
/// directory or file in its place.
fn link_stands_for_data(config: &AssemblyConfig, name: &str) -> bool {
    name == "sym"
        || !matches!(
            crate::dates::classify(name),
            crate::dates::PartitionName::Other
        )
        || config.tables.iter().any(|t| t.name == name)
}

/// The refusal of a move whose destination is taken: rename(2) with RENAME_NOREPLACE would
/// fail half-way through the commit, so it is refused before anything is written.
pub fn occupied(base: &Path, a: &AsideAction) -> Option<Finding> {
    let dest = base.join(&a.aside);
    std::fs::symlink_metadata(&dest).ok()?;
    Some(
        Finding::error(
            code::REMEDY_REFUSED,
            format!(
                "set-aside: {} would move to {}, which already exists: set-aside never replaces an entry",
                base.join(&a.path).display(),
                dest.display()
            ),
        )
        .path(dest.display())
        .hint(format!(
            "move {} out of {} (it is not the database's: an earlier set-aside's, restored by its rollback, or yours), then run this again",
            dest.display(),
            base.join(ASIDE_DIR).display()
        )),
    )
}

/// The refusal of a move the commit could not make with one rename: a directory on the way to
/// its destination (`smstage-aside` or one below it) that is a file or a symbolic link (the
/// link would move the database's entry out of the baseURI), or that lies on another
/// filesystem than the entry (rename(2) cannot cross filesystems). Directories not there yet
/// are created by the commit in the last one that is. The message names the blocking path
/// only, so the moves it blocks share one finding.
pub fn unreachable(base: &Path, a: &AsideAction) -> Option<Finding> {
    use std::os::unix::fs::MetadataExt;
    let from = base.join(&a.path);
    let from_dir = from.parent()?;
    let from_dev = std::fs::symlink_metadata(from_dir).ok()?.dev();
    let mut at = base.to_path_buf();
    // The deepest directory on the way that exists: the commit creates the rest in it.
    let mut last = at.clone();
    let mut dev = std::fs::metadata(base).ok()?.dev();
    for c in Path::new(&a.aside).parent()?.components() {
        at.push(c);
        let Ok(m) = std::fs::symlink_metadata(&at) else {
            break;
        };
        let what = if m.file_type().is_symlink() {
            let target = std::fs::read_link(&at)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            format!("a symbolic link (to {target}), not a directory: set-aside would move the database's entries through it, out of {}", base.display())
        } else if !m.is_dir() {
            "a file, not a directory: the commit could not create the directories set-aside moves entries into".to_string()
        } else {
            dev = m.dev();
            last = at.clone();
            continue;
        };
        return Some(
            Finding::error(
                code::REMEDY_REFUSED,
                format!("set-aside: {} is {what}", at.display()),
            )
            .path(at.display())
            .hint(format!(
                "move {} away (it is not the database's: set-aside creates {} itself), then run this again",
                at.display(),
                base.join(ASIDE_DIR).display()
            )),
        );
    }
    (dev != from_dev).then(|| {
        Finding::error(
            code::REMEDY_REFUSED,
            format!(
                "set-aside: {} is on another filesystem than the database {}: set-aside moves each entry with one rename(2), which cannot cross filesystems",
                last.display(),
                from_dir.display()
            ),
        )
        .path(last.display())
        .hint(format!(
            "make {} a directory on the database's filesystem (or move it away: set-aside creates it beside the database), then run this again",
            base.join(ASIDE_DIR).display()
        ))
    })
}

/// One line: what moves where, and why.
pub fn describe(a: &AsideAction) -> String {
    let why = match &a.why {
        AsideWhy::UnconfiguredTable { table, .. } => {
            format!("table {table} is not configured")
        }
        AsideWhy::RootStray { what } => format!("SM refuses it in the root: {what}"),
        AsideWhy::ExtraFile { table } => format!("not listed in {table}'s .d"),
    };
    let link = a
        .link
        .as_ref()
        .map(|t| {
            format!("; a symbolic link to {t}: the link itself moves, never what it points at")
        })
        .unwrap_or_default();
    format!(
        "set-aside: sets aside {} → {} ({why}{link})",
        a.path, a.aside
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header of an empty column enumerated against `domain`.
    fn enum_header(domain: &str) -> crate::kdb::Header {
        crate::kdb::Header {
            format: crate::kdb::FileFormat::Vector4k,
            value_type: crate::kdb::T_ENUM,
            attr: crate::kdb::Attr::None,
            count: 0,
            domain: Some(domain.into()),
            nested: false,
            item_type: None,
            compression: None,
        }
    }
    use crate::inventory::{FileError, FileInv, RootItem, TableInv};
    use std::path::PathBuf;
    use std::sync::Arc;

    fn err() -> FileError {
        FileError::from_kdb(&crate::kdb::KdbError::unsupported("x", 0, &[0], "test"))
    }

    fn config() -> AssemblyConfig {
        let text = "name: t\nmounts:\n  hdb:\n    type: local\n    baseURI: file:///b\n    partition: date\nelements:\n  sm:\n    tiers:\n    - name: hdb\n      mount: hdb\ntables:\n  Trade:\n    type: partitioned\n    prtnCol: time\n    columns:\n    - name: time\n      type: timestamp\n    - name: price\n      type: float\n  ref:\n    type: splayed\n    columns:\n    - name: a\n      type: long\n";
        AssemblyConfig::parse(text, Path::new("a.yaml")).unwrap()
    }

    fn table(dir: &str, name: &str, dotd: Option<&[&str]>, files: &[&str]) -> TableInv {
        let path = PathBuf::from(dir).join(name);
        let at: Arc<Path> = Arc::from(path.as_path());
        TableInv {
            name: name.into(),
            path: path.clone(),
            dotd: dotd.map(|c| Ok(c.iter().map(|s| s.to_string()).collect())),
            dotd_size: None,
            files: files
                .iter()
                .map(|f| FileInv {
                    name: f.to_string(),
                    dir: at.clone(),
                    size: 8,
                    header: Err(err()),
                    nested_item: None,
                })
                .collect(),
            links: Vec::new(),
        }
    }

    #[test]
    fn unconfigured_tables_and_unlisted_files_move_and_nothing_else() {
        let d = "/b/data/2019.06.02";
        let mut part = PartitionInv {
            date: "2019.06.02".into(),
            path: d.into(),
            tables: vec![
                table(d, "Quote", Some(&["sym", "bid"]), &["bid", "sym"]),
                table(
                    d,
                    "Trade",
                    Some(&["time", "price", "s"]),
                    &["binary", "price", "s", "s#", "time"],
                ),
            ],
            pending: Vec::new(),
            stamps: None,
            links: Vec::new(),
        };
        let a = plan_partition(&config(), Path::new("/b"), "data", &mut part);
        let moves: Vec<(&str, &str, bool)> = a
            .iter()
            .map(|a| (a.path.as_str(), a.aside.as_str(), a.is_dir))
            .collect();
        assert_eq!(
            moves,
            [
                (
                    "data/2019.06.02/Quote",
                    "smstage-aside/2019.06.02/Quote",
                    true
                ),
                (
                    "data/2019.06.02/Trade/binary",
                    "smstage-aside/2019.06.02/Trade/binary",
                    false
                ),
            ]
        );
        // Judged as it will be: Quote gone, Trade without the stray file; a nested column's
        // data file (s#) is the column's, never extra.
        assert_eq!(part.tables.len(), 1);
        let files: Vec<&str> = part.tables[0]
            .files
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(files, ["price", "s", "s#", "time"]);
        assert_eq!(
            describe(&a[0]),
            "set-aside: sets aside data/2019.06.02/Quote → smstage-aside/2019.06.02/Quote (table Quote is not configured)"
        );
    }

    /// A link in a partition is moved as the table it stands for when that table is not
    /// configured and the link leads to a directory; a configured table's link, and a link to
    /// no directory, stay (with their findings).
    #[test]
    fn an_unconfigured_tables_link_moves_itself_and_no_other_link_does() {
        use crate::inventory::LinkInv;
        let d = "/b/data/2019.06.02";
        let link = |name: &str, target: &str, leads_to_dir: bool| LinkInv {
            name: name.into(),
            path: PathBuf::from(d).join(name),
            target: target.into(),
            leads_to_dir,
        };
        let mut part = PartitionInv {
            date: "2019.06.02".into(),
            path: d.into(),
            tables: vec![],
            pending: Vec::new(),
            stamps: None,
            links: vec![
                link("Quote", "/elsewhere/Quote", true),
                link("Trade", "/elsewhere/Trade", true),
                link("notes", "/elsewhere/notes", false),
            ],
        };
        let a = plan_partition(&config(), Path::new("/b"), "data", &mut part);
        assert_eq!(
            a,
            [AsideAction {
                path: "data/2019.06.02/Quote".into(),
                aside: "smstage-aside/2019.06.02/Quote".into(),
                is_dir: false,
                why: AsideWhy::UnconfiguredTable {
                    date: "2019.06.02".into(),
                    table: "Quote".into()
                },
                link: Some("/elsewhere/Quote".into()),
            }]
        );
        let kept: Vec<&str> = part.links.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(kept, ["Trade", "notes"]);
    }

    /// A link in a configured table that `.d` does not list moves (the link itself); a listed
    /// column's link and `.d`'s stay.
    #[test]
    fn a_configured_tables_unlisted_link_moves_and_its_listed_ones_stay() {
        use crate::inventory::LinkInv;
        let d = "/b/data/2019.06.02";
        let mut t = table(d, "Trade", Some(&["time", "price"]), &["time"]);
        t.links = ["price", "notes", ".d"]
            .iter()
            .map(|n| LinkInv {
                name: n.to_string(),
                path: PathBuf::from(d).join("Trade").join(n),
                target: format!("/elsewhere/{n}"),
                leads_to_dir: false,
            })
            .collect();
        let mut part = PartitionInv {
            date: "2019.06.02".into(),
            path: d.into(),
            tables: vec![t],
            pending: Vec::new(),
            stamps: None,
            links: Vec::new(),
        };
        let a = plan_partition(&config(), Path::new("/b"), "data", &mut part);
        let moved: Vec<(&str, Option<&str>)> = a
            .iter()
            .map(|a| (a.path.as_str(), a.link.as_deref()))
            .collect();
        assert_eq!(
            moved,
            [("data/2019.06.02/Trade/notes", Some("/elsewhere/notes"))]
        );
        let kept: Vec<&str> = part.tables[0]
            .links
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(kept, ["price", ".d"]);
    }

    #[test]
    fn a_table_without_a_readable_dotd_keeps_every_file() {
        let d = "/b/data/2019.06.02";
        let mut part = PartitionInv {
            date: "2019.06.02".into(),
            path: d.into(),
            tables: vec![table(d, "Trade", None, &["price", "time", "junk"])],
            pending: Vec::new(),
            stamps: None,
            links: Vec::new(),
        };
        assert!(plan_partition(&config(), Path::new("/b"), "data", &mut part).is_empty());
        assert_eq!(part.tables[0].files.len(), 3);
    }

    #[test]
    fn root_strays_move_but_sym_domains_and_configured_tables_stay() {
        let item = |name: &str, kind: RootKind| RootItem {
            name: name.into(),
            path: PathBuf::from("/b/data").join(name),
            kind,
        };
        let mut inv = Inventory {
            source: "/b/data".into(),
            partitions: vec![],
            root: vec![
                item("sym", RootKind::Domain { symbols: vec![] }),
                item("sym_ORD", RootKind::Domain { symbols: vec![] }),
                item(
                    "ref",
                    RootKind::Splayed(table("/b/data", "ref", Some(&["a"]), &["a"])),
                ),
                item("widetable", RootKind::File { header: Err(err()) }),
                item("allDataTypes", RootKind::Dir),
                item("init.q", RootKind::Script),
                item(
                    "other",
                    RootKind::Splayed(table("/b/data", "other", Some(&["a"]), &["a"])),
                ),
            ],
            findings: vec![],
            object_tiers: vec![],
            other_partitions: vec![],
        };
        let a = plan_root(&config(), Path::new("/b"), "data", &mut inv, false);
        let moved: Vec<&str> = a.iter().map(|a| a.path.as_str()).collect();
        assert_eq!(
            moved,
            [
                "data/widetable",
                "data/allDataTypes",
                "data/init.q",
                "data/other"
            ]
        );
        assert_eq!(a[1].aside, "smstage-aside/allDataTypes");
        assert!(a[1].is_dir && !a[0].is_dir);
        let kept: Vec<&str> = inv.root.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(kept, ["sym", "sym_ORD", "ref"]);
    }

    /// A root link that stands for data the import is asked for (sym, a date partition, a
    /// name shaped like a partition, a configured table) stays; any other root link moves.
    #[test]
    fn root_links_standing_for_data_stay() {
        let item = |name: &str| RootItem {
            name: name.into(),
            path: PathBuf::from("/b/data").join(name),
            kind: RootKind::Symlink,
        };
        let mut inv = Inventory {
            source: "/b/data".into(),
            partitions: vec![],
            root: ["sym", "2019.06.03", "2019.06", "ref", "Trade", "elsewhere"]
                .into_iter()
                .map(item)
                .collect(),
            findings: vec![],
            object_tiers: vec![],
            other_partitions: vec![],
        };
        let a = plan_root(&config(), Path::new("/b"), "data", &mut inv, false);
        let moved: Vec<&str> = a.iter().map(|a| a.path.as_str()).collect();
        assert_eq!(moved, ["data/elsewhere"]);
        assert!(!a[0].is_dir && a[0].link.is_some());
        let kept: Vec<&str> = inv.root.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(kept, ["sym", "2019.06.03", "2019.06", "ref", "Trade"]);
    }

    #[test]
    fn with_one_sym_a_domain_no_root_table_uses_moves_too() {
        let item = |name: &str, kind: RootKind| RootItem {
            name: name.into(),
            path: PathBuf::from("/b/data").join(name),
            kind,
        };
        let refs = || {
            let mut t = table("/b/data", "ref", Some(&["a"]), &["a"]);
            t.files[0].header = Ok(enum_header("sym_REF"));
            t
        };
        let root = || {
            vec![
                item("sym", RootKind::Domain { symbols: vec![] }),
                item("sym_ORD", RootKind::Domain { symbols: vec![] }),
                item("sym_REF", RootKind::Domain { symbols: vec![] }),
                item("ref", RootKind::Splayed(refs())),
            ]
        };
        let inv = |root| Inventory {
            source: "/b/data".into(),
            partitions: vec![],
            root,
            findings: vec![],
            object_tiers: vec![],
            other_partitions: vec![],
        };
        // Without one-sym every domain stays (a partition's column may use it).
        let mut i = inv(root());
        assert!(plan_root(&config(), Path::new("/b"), "data", &mut i, false).is_empty());
        // With it, sym_ORD is used by no column after the remedies; the configured root
        // table ref (which one-sym does not re-enumerate) still uses sym_REF; sym is SM's.
        let mut i = inv(root());
        let a = plan_root(&config(), Path::new("/b"), "data", &mut i, true);
        let moved: Vec<&str> = a.iter().map(|a| a.path.as_str()).collect();
        assert_eq!(moved, ["data/sym_ORD"]);
        let kept: Vec<&str> = i.root.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(kept, ["sym", "sym_REF", "ref"]);
    }

    /// A root link to a domain file (dolphindb-sample's `sym_ORD` moved elsewhere and linked
    /// back) is judged as the domain: it stays without one-sym (before, it moved and the checks
    /// then reported `sym_ORD` missing), and with one-sym it moves unless a root table is
    /// enumerated against it. A link leading nowhere, to a directory or to a text file is no
    /// domain, and moves as any stray link.
    #[test]
    fn a_root_link_to_a_domain_file_is_judged_as_the_domain() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        let data = base.join("data");
        let elsewhere = base.join("elsewhere");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        let domain = |name: &str| {
            let p = elsewhere.join(name);
            crate::kdb::write::write_symbols(&p, &["a", "b"], Default::default()).unwrap();
            p
        };
        let notes = elsewhere.join("notes.txt");
        std::fs::write(&notes, "not a symbol list").unwrap();
        let links = [
            ("sym_ORD", domain("sym_ORD")),
            ("sym_REF", domain("sym_REF")),
            ("sym_GONE", elsewhere.join("gone")),
            ("sym_DIR", elsewhere.clone()),
            ("sym_TXT", notes),
        ];
        for (name, target) in &links {
            std::os::unix::fs::symlink(target, data.join(name)).unwrap();
        }
        let root = || -> Vec<RootItem> {
            let refs = {
                let mut t = table(data.to_str().unwrap(), "ref", Some(&["a"]), &["a"]);
                t.files[0].header = Ok(enum_header("sym_REF"));
                t
            };
            links
                .iter()
                .map(|(name, _)| RootItem {
                    name: name.to_string(),
                    path: data.join(name),
                    kind: RootKind::Symlink,
                })
                .chain([RootItem {
                    name: "ref".into(),
                    path: data.join("ref"),
                    kind: RootKind::Splayed(refs),
                }])
                .collect()
        };
        let inv = |root| Inventory {
            source: data.clone(),
            partitions: vec![],
            root,
            findings: vec![],
            object_tiers: vec![],
            other_partitions: vec![],
        };
        let moved = |one_sym: bool| -> (Vec<String>, Vec<String>) {
            let mut i = inv(root());
            let a = plan_root(&config(), base, "data", &mut i, one_sym);
            (
                a.iter().map(|a| a.path.clone()).collect(),
                i.root.iter().map(|r| r.name.clone()).collect(),
            )
        };
        let (out, kept) = moved(false);
        assert_eq!(out, ["data/sym_GONE", "data/sym_DIR", "data/sym_TXT"]);
        assert_eq!(kept, ["sym_ORD", "sym_REF", "ref"]);
        let (out, kept) = moved(true);
        assert_eq!(
            out,
            [
                "data/sym_ORD",
                "data/sym_GONE",
                "data/sym_DIR",
                "data/sym_TXT"
            ]
        );
        assert_eq!(kept, ["sym_REF", "ref"]);
    }
}
