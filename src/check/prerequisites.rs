//! SM prerequisites family: what KX's import demands beyond a database q loads.
//! KX: kdb Insights › microservices › database › import › *Prerequisites* and
//! *Troubleshooting* (1.15). Each rule quotes SM's words where SM has a message, so a user can
//! find it on KX's page, and names the partitions concerned as compressed ranges.
//!
//! Partitions are checked in parallel while their file records are in memory (see
//! `read_and_evaluate_with`); each records the few facts these rules need in [`Facts`], and
//! [`findings`] judges the whole database from them once every partition was read.

use super::ranges::date_ranges;
use super::schema::is_basic;
use crate::config::{AssemblyConfig, TierCompression};
use crate::finding::{code, Finding};
use crate::inventory::{self, FileError, Inventory, RootKind, TableInv};
use crate::kdb::{self, LogicalType, T_TIMESTAMP};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

const PREREQUISITES: &str = "KX: kdb Insights › database › import › Prerequisites";
const TROUBLESHOOTING: &str = "KX: kdb Insights › database › import › Troubleshooting";

/// How one file is compressed: `None` uncompressed, else (algorithm, level, logical block
/// size as a power of 2).
type Setting = Option<(u8, u8, u8)>;

/// What the rules need from the partitions, gathered while they are read.
#[derive(Default)]
pub(crate) struct Facts {
    inner: Mutex<Gathered>,
}

#[derive(Default)]
struct Gathered {
    /// (date, table) → the settings of its non-empty files, with how many files have each.
    compression: BTreeMap<(String, String), BTreeMap<Setting, usize>>,
    /// Dates of the partitions on local disk (the ones the first local tier will hold).
    local_dates: BTreeSet<String>,
    /// Every date seen.
    dates: BTreeSet<String>,
    /// (table, column, domain) → dates, for enumerations against a domain other than `sym`.
    domains: BTreeMap<(String, String, String), BTreeSet<String>>,
    /// (table, column, type on disk) → dates, for a prtnCol that is not a timestamp on disk.
    prtn_col: BTreeMap<(String, String, String), BTreeSet<String>>,
    /// date → (encrypted files, the first one).
    encrypted: BTreeMap<String, (usize, String)>,
}

fn setting(h: &kdb::Header) -> Setting {
    h.compression.as_ref().map(|c| {
        let log2 = if c.block_size.is_power_of_two() {
            c.block_size.trailing_zeros() as u8
        } else {
            0
        };
        (c.algorithm, c.level, log2)
    })
}

fn describe_setting(s: Setting) -> String {
    match s {
        None => "uncompressed".to_string(),
        Some((alg, level, log2)) => {
            let name = crate::config::COMPRESSION_ALGORITHMS
                .iter()
                .find(|(_, n)| *n == alg)
                .map(|(name, _)| name.to_string())
                .unwrap_or_else(|| format!("algorithm {alg}"));
            format!("{name} (algorithm {alg}) level {level}, logical block 2^{log2}")
        }
    }
}

fn tier_setting(c: Option<&TierCompression>) -> (u8, u8, Option<u8>) {
    match c {
        None => (0, 0, None),
        Some(c) => (c.algorithm, c.level, c.block_log2),
    }
}

fn describe_tier(c: Option<&TierCompression>) -> String {
    match c {
        None => "no `compression` (SM writes uncompressed)".to_string(),
        Some(c) if c.algorithm == 0 => "compression algorithm 0 (none)".to_string(),
        Some(c) => format!(
            "compression algorithm {} level {}{}",
            c.algorithm,
            c.level,
            c.block_log2
                .map(|b| format!(", blockSize {b}"))
                .unwrap_or_default()
        ),
    }
}

impl Facts {
    /// Records one partition's facts (on the worker that read it).
    pub(crate) fn record(&self, config: &AssemblyConfig, p: inventory::PartRef) {
        // Gathered per table without allocating per file, then merged under the lock once.
        let mut compression: Vec<(&str, BTreeMap<Setting, usize>)> = Vec::new();
        let mut domains: Vec<(&str, &str, &str)> = Vec::new();
        let mut prtn: Vec<(&str, &str, String)> = Vec::new();
        let mut encrypted = 0usize;
        let mut first_encrypted: Option<String> = None;
        for t in &p.part.tables {
            let prtn_col = config
                .tables
                .iter()
                .find(|s| s.name == t.name)
                .and_then(|s| s.prtn_col.as_deref());
            let mut settings: BTreeMap<Setting, usize> = BTreeMap::new();
            for f in &t.files {
                match &f.header {
                    Ok(h) => {
                        // An empty vector has nothing to compress: kdb+ writes it plain.
                        if h.count > 0 || h.compression.is_some() {
                            *settings.entry(setting(h)).or_default() += 1;
                        }
                        if let Some(d) = h.domain.as_deref().filter(|d| *d != "sym") {
                            domains.push((&t.name, &f.name, d));
                        }
                        if prtn_col == Some(f.name.as_str()) {
                            let found = kdb::logical_type(h, f.nested_item);
                            if found != LogicalType::Simple(T_TIMESTAMP) {
                                prtn.push((&t.name, &f.name, found.config_name()));
                            }
                        }
                    }
                    Err(FileError::Encrypted(_)) => {
                        encrypted += 1;
                        if first_encrypted.is_none() {
                            first_encrypted = Some(f.path().display().to_string());
                        }
                    }
                    Err(_) => {}
                }
            }
            if !settings.is_empty() {
                compression.push((&t.name, settings));
            }
        }
        let date = &p.part.date;
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.dates.insert(date.clone());
        if p.tier.is_none() {
            g.local_dates.insert(date.clone());
        }
        for (table, settings) in compression {
            let e = g
                .compression
                .entry((date.clone(), table.to_string()))
                .or_default();
            for (s, n) in settings {
                *e.entry(s).or_default() += n;
            }
        }
        for (t, c, d) in domains {
            g.domains
                .entry((t.to_string(), c.to_string(), d.to_string()))
                .or_default()
                .insert(date.clone());
        }
        for (t, c, found) in prtn {
            g.prtn_col
                .entry((t.to_string(), c.to_string(), found))
                .or_default()
                .insert(date.clone());
        }
        if let Some(first) = first_encrypted {
            g.encrypted.insert(date.clone(), (encrypted, first));
        }
    }
}

/// Every SM prerequisite over the whole database; nothing without a configuration (`verify`
/// judges what q loads, not what SM imports).
pub(crate) fn findings(
    config: Option<&AssemblyConfig>,
    inv: &Inventory,
    facts: &Facts,
    segmented: bool,
) -> Vec<Finding> {
    let Some(config) = config else {
        return Vec::new();
    };
    let g = facts.inner.lock().unwrap_or_else(|e| e.into_inner());
    let all: Vec<&str> = g.dates.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    out.extend(root_strays(config, inv, segmented));
    out.extend(domains(inv, &g, &all));
    out.extend(prtn_col(inv, &g, &all));
    out.extend(compression_between_tables(&g, &all));
    out.extend(compression_over_time(&g, &all));
    out.extend(compression_against_tier(config, &g, &all));
    out.extend(encryption(config, inv, &g, &all));
    out
}

/// KX's validator: "Stray files in DB root: Tables must be listed in schema and symbol file
/// must be called 'sym'". The root may hold `sym`, the configured splayed and basic tables and
/// the date partitions (and `par.txt` with the segments of a segmented database).
fn root_strays(config: &AssemblyConfig, inv: &Inventory, segmented: bool) -> Vec<Finding> {
    let strays: Vec<&inventory::RootItem> = inv
        .root
        .iter()
        .filter(|r| is_root_stray(config, r))
        .collect();
    if strays.is_empty() {
        return Vec::new();
    }
    let names: Vec<String> = strays.iter().map(|r| r.name.clone()).collect();
    let what = |r: &inventory::RootItem| stray_what(&r.kind);
    let detail: Vec<String> = strays
        .iter()
        .map(|r| format!("{} ({})", r.name, what(r)))
        .collect();
    let allowed_text = if segmented {
        "sym, par.txt, the configured splayed and basic tables"
    } else {
        "sym, the date partitions, the configured splayed and basic tables"
    };
    vec![Finding::error(
        code::SM_ROOT_STRAY,
        format!(
            "Stray files in DB root: Tables must be listed in schema and symbol file must be called 'sym' ({TROUBLESHOOTING}): {}; SM's import accepts only {allowed_text} in the root",
            detail.join(", ")
        ),
    )
    .path(inv.source.display())
    .hint(format!(
        "KX: if the listed names are tables you want to import, put them in the schema; otherwise move them out of the database root (they stay in the backup): {}; or pass `--remedy set-aside` to check and plan: smstage moves them to <baseURI>/smstage-aside/ (an enumeration domain only with `--remedy one-sym`, once no column uses it)",
        names.join(" ")
    ))]
}

/// Why SM refuses a stray root entry of kind `k`, in the words `sm-root-stray` and set-aside
/// use.
pub(crate) fn stray_what(k: &RootKind) -> &'static str {
    match k {
        RootKind::Domain { .. } => "an enumeration domain not named sym",
        RootKind::Splayed(_) => "a splayed table not configured as splayed",
        RootKind::File { .. } => "a file that is no configured basic table",
        RootKind::Dir => "a directory that is neither a table nor a date partition",
        RootKind::Symlink => "a symbolic link",
        RootKind::Script => "a q script",
    }
}

/// Whether SM's import refuses the root entry `r` as a stray (what set-aside moves, but for
/// the enumeration domains, which are one-sym's).
pub(crate) fn is_root_stray(config: &AssemblyConfig, r: &inventory::RootItem) -> bool {
    let table = config.tables.iter().find(|t| t.name == r.name);
    let allowed = match &r.kind {
        RootKind::Domain { .. } => r.name == "sym",
        RootKind::Splayed(_) => table.is_some_and(|t| !is_basic(t) && t.kind != "partitioned"),
        RootKind::File { .. } => table.is_some_and(is_basic),
        RootKind::Dir => false,
        RootKind::Symlink | RootKind::Script => false,
    };
    !allowed
}

/// The columns of one table enumerated against one domain, and the dates they are in.
type ColumnsAndDates<'a> = (Vec<&'a str>, BTreeSet<&'a str>);

/// KX: "The database must have a single enumeration file named sym."
fn domains(inv: &Inventory, g: &Gathered, all: &[&str]) -> Vec<Finding> {
    let mut out = Vec::new();
    // One finding per table and domain: (columns, dates).
    let mut grouped: BTreeMap<(&str, &str), ColumnsAndDates> = BTreeMap::new();
    for ((table, column, domain), dates) in &g.domains {
        let e = grouped.entry((table, domain)).or_default();
        e.0.push(column);
        e.1.extend(dates.iter().map(String::as_str));
    }
    for ((table, domain), (columns, dates)) in grouped {
        let dates: Vec<&str> = dates.into_iter().collect();
        let cols = columns.join(", ");
        out.push(
            Finding::error(
                code::SM_ENUM_NOT_SYM,
                format!(
                    "column{} {cols} of table {table} {} enumerated against `{domain}`: \"The database must have a single enumeration file named sym\" ({PREREQUISITES}); partitions={}",
                    if columns.len() == 1 { "" } else { "s" },
                    if columns.len() == 1 { "is" } else { "are" },
                    date_ranges(&dates, all)
                ),
            )
            .table(table)
            .column(columns[0])
            .partition(dates[0])
            .path(inv.source.join(domain).display())
            .hint(format!("re-enumerate {table}'s {cols} against sym (e.g. `.Q.en` with sym as the domain) in every partition, then remove {domain} from the root; or pass `--remedy one-sym --remedy set-aside` to check and plan: smstage re-enumerates them onto sym and moves {domain} to <baseURI>/smstage-aside/")),
        );
    }
    // Root tables are checked here directly: their records are kept for the whole command.
    for r in &inv.root {
        if let RootKind::Splayed(t) = &r.kind {
            out.extend(root_table_domains(inv, t));
        }
    }
    out
}

fn root_table_domains(inv: &Inventory, t: &TableInv) -> Vec<Finding> {
    t.files
        .iter()
        .filter_map(|f| {
            let h = f.header.as_ref().ok()?;
            let d = h.domain.as_deref().filter(|d| *d != "sym")?;
            Some(
                Finding::error(
                    code::SM_ENUM_NOT_SYM,
                    format!(
                        "column {} of root table {} is enumerated against `{d}`: \"The database must have a single enumeration file named sym\" ({PREREQUISITES})",
                        f.name, t.name
                    ),
                )
                .table(&t.name)
                .column(&f.name)
                .path(inv.source.join(d).display())
                .hint(format!("re-enumerate {}.{} against sym, then remove {d} from the root", t.name, f.name)),
            )
        })
        .collect()
}

/// KX: "Partitioned tables must have a 'partition column': a timestamp column which, when
/// rounded down, is equal to the date column." The configured type is checked when the
/// assembly is read; here the column on disk.
fn prtn_col(inv: &Inventory, g: &Gathered, all: &[&str]) -> Vec<Finding> {
    g.prtn_col
        .iter()
        .map(|((table, column, found), dates)| {
            let dates: Vec<&str> = dates.iter().map(String::as_str).collect();
            Finding::error(
                code::SM_PRTNCOL_NOT_TIMESTAMP,
                format!(
                    "prtnCol {column} of table {table} is {found} on disk, not a timestamp: \"Partitioned tables must have a 'partition column': a timestamp column which, when rounded down, is equal to the date\" ({PREREQUISITES}); partitions={}",
                    date_ranges(&dates, all)
                ),
            )
            .table(table)
            .column(column)
            .partition(dates[0])
            .path(inv.source.join(dates[0]).join(table).join(column).display())
            .hint(format!("write {table}.{column} as a timestamp (the row's date plus its time) in every partition"))
        })
        .collect()
}

/// The profile of one table in one date: the settings of its non-empty files.
fn profiles(g: &Gathered) -> BTreeMap<&str, BTreeMap<&str, BTreeSet<Setting>>> {
    let mut by_date: BTreeMap<&str, BTreeMap<&str, BTreeSet<Setting>>> = BTreeMap::new();
    for ((date, table), settings) in &g.compression {
        by_date
            .entry(date.as_str())
            .or_default()
            .insert(table.as_str(), settings.keys().copied().collect());
    }
    by_date
}

fn describe_profile(p: &BTreeSet<Setting>) -> String {
    p.iter()
        .map(|s| describe_setting(*s))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// KX: "compression settings must be the same for all tables". Judged within each partition:
/// the tables of one date must be compressed alike (a table's columns may differ among
/// themselves: SM compares tables).
fn compression_between_tables(g: &Gathered, all: &[&str]) -> Vec<Finding> {
    // profile → (tables, dates) over the dates where the tables differ
    let mut differ: BTreeMap<String, (BTreeSet<&str>, BTreeSet<&str>)> = BTreeMap::new();
    for (date, tables) in profiles(g) {
        let distinct: BTreeSet<&BTreeSet<Setting>> = tables.values().collect();
        if distinct.len() > 1 {
            for (table, p) in tables {
                let e = differ.entry(describe_profile(&p)).or_default();
                e.0.insert(table);
                e.1.insert(date);
            }
        }
    }
    if differ.is_empty() {
        return Vec::new();
    }
    let dates: BTreeSet<&str> = differ
        .values()
        .flat_map(|(_, d)| d.iter().copied())
        .collect();
    let dates: Vec<&str> = dates.into_iter().collect();
    let table: Vec<String> = differ
        .iter()
        .map(|(p, (tables, _))| {
            format!(
                "{p}: {}",
                tables.iter().copied().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    vec![Finding::error(
        code::SM_COMPRESSION_TABLES,
        format!(
            "\"compression settings must be the same for all tables\" ({PREREQUISITES}), but tables of the same partitions differ; partitions={}\n      {}",
            date_ranges(&dates, all),
            table.join("\n      ")
        ),
    )
    .partition(dates[0])
    .hint("recompress the tables that differ to one setting (e.g. with -19! or .z.zd and a rewrite) before the import")]
}

/// Partitions compressed differently over time (each alike within itself): SM accepts them,
/// but writes new partitions with the tier's settings.
fn compression_over_time(g: &Gathered, all: &[&str]) -> Vec<Finding> {
    let mut by_profile: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (date, tables) in profiles(g) {
        let distinct: BTreeSet<&BTreeSet<Setting>> = tables.values().collect();
        if let [one] = distinct.into_iter().collect::<Vec<_>>().as_slice() {
            by_profile
                .entry(describe_profile(one))
                .or_default()
                .push(date);
        }
    }
    if by_profile.len() < 2 {
        return Vec::new();
    }
    let lines: Vec<String> = by_profile
        .iter()
        .map(|(p, dates)| format!("{p}: partitions={}", date_ranges(dates, all)))
        .collect();
    vec![Finding::warning(
        code::SM_COMPRESSION_OVER_TIME,
        format!(
            "partitions are compressed differently over time (every table alike within each):\n      {}\n      SM keeps these files as they are and writes new partitions with the tier's settings",
            lines.join("\n      ")
        ),
    )
    .hint("nothing blocks the import; set the tier's `compression` to the setting new partitions should have")]
}

/// KX: "Compressed databases should also use the same compression settings": the files on
/// local disk against the `compression` of the first local HDB tier (the tier that holds
/// them after the in-place import).
fn compression_against_tier(config: &AssemblyConfig, g: &Gathered, all: &[&str]) -> Vec<Finding> {
    let Ok(hdb) = config.hdb_mount() else {
        return Vec::new();
    };
    let Some(tier) = config
        .tiers_of_mount(&hdb.name)
        .into_iter()
        .find(|t| matches!(t.store, Some(crate::config::StoreUri::File(_))))
    else {
        return Vec::new();
    };
    let (alg, level, block) = tier_setting(tier.compression.as_ref());
    let agrees = |s: &Setting| match s {
        None => alg == 0,
        Some((a, l, b)) => *a == alg && *l == level && block.is_none_or(|x| x == *b),
    };
    // setting → (files, dates)
    let mut off: BTreeMap<Setting, (usize, BTreeSet<&str>)> = BTreeMap::new();
    for ((date, _), settings) in &g.compression {
        if !g.local_dates.contains(date) {
            continue;
        }
        for (s, n) in settings {
            if !agrees(s) {
                let e = off.entry(*s).or_default();
                e.0 += n;
                e.1.insert(date);
            }
        }
    }
    off.into_iter()
        .map(|(s, (files, dates))| {
            let dates: Vec<&str> = dates.into_iter().collect();
            Finding::warning(
                code::SM_COMPRESSION_TIER,
                format!(
                    "{files} file{} {} {}, but tier {} has {}: \"Compressed databases should also use the same compression settings\" ({PREREQUISITES}); partitions={}",
                    if files == 1 { "" } else { "s" },
                    if files == 1 { "is" } else { "are" },
                    describe_setting(s),
                    tier.name,
                    describe_tier(tier.compression.as_ref()),
                    date_ranges(&dates, all)
                ),
            )
            .tier(&tier.name)
            .partition(dates[0])
            .hint(match s {
                None => format!("remove `compression` from tier {} (or set algorithm 0), so SM writes what the database holds", tier.name),
                Some((a, l, b)) => format!("set tier {}'s compression to `{{algorithm: {a}, level: {l}, blockSize: {b}}}` as the database's files have it", tier.name),
            })
        })
        .collect()
}

/// KX: "Encrypted databases must use the same encryption settings and encryption key in
/// kdb+ Insights as before import."
fn encryption(
    config: &AssemblyConfig,
    inv: &Inventory,
    g: &Gathered,
    all: &[&str],
) -> Vec<Finding> {
    if config.encryption.as_ref().is_some_and(|e| e.enabled) {
        return Vec::new();
    }
    let mut root_files = 0;
    let mut first_root = None;
    for r in &inv.root {
        let files: Vec<String> = match &r.kind {
            RootKind::File {
                header: Err(FileError::Encrypted(_)),
            } => vec![r.path.display().to_string()],
            RootKind::Splayed(t) => t
                .files
                .iter()
                .filter(|f| matches!(f.header, Err(FileError::Encrypted(_))))
                .map(|f| f.path().display().to_string())
                .collect(),
            _ => Vec::new(),
        };
        root_files += files.len();
        if first_root.is_none() {
            first_root = files.into_iter().next();
        }
    }
    let files: usize = g.encrypted.values().map(|(n, _)| n).sum::<usize>() + root_files;
    if files == 0 {
        return Vec::new();
    }
    let dates: Vec<&str> = g.encrypted.keys().map(String::as_str).collect();
    let first = g
        .encrypted
        .values()
        .next()
        .map(|(_, f)| f.clone())
        .or(first_root)
        .unwrap_or_default();
    let declared = match &config.encryption {
        Some(e) => format!(
            "`encryption: {{enabled: false}}`{}",
            e.line.map(|l| format!(" at line {l}")).unwrap_or_default()
        ),
        None => "no `encryption`".to_string(),
    };
    vec![Finding::error(
        code::SM_ENCRYPTED,
        format!(
            "{files} encrypted file{} (first: {first}){}, but the assembly {} declares {declared}: \"Encrypted databases must use the same encryption settings and encryption key in kdb+ Insights as before import\" ({PREREQUISITES})",
            if files == 1 { "" } else { "s" },
            if dates.is_empty() { String::new() } else { format!(" in partitions={}", date_ranges(&dates, all)) },
            config.path.display(),
        ),
    )
    .path(first)
    .hint(format!(
        "declare `encryption: {{enabled: true}}` in the SM section of {} and give SM the same master key the files were encrypted with (kdb+ -36!); smstage cannot read the key, so it moves these files unchanged",
        config.path.display()
    ))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_described_as_kx_numbers_them() {
        assert_eq!(describe_setting(None), "uncompressed");
        assert_eq!(
            describe_setting(Some((2, 9, 16))),
            "gzip (algorithm 2) level 9, logical block 2^16"
        );
    }
}
