//! Every rule `check`, `verify` and the plan approval report, declared once: its stable code
//! (from [`crate::finding::code`], a contract other tools match on), its severity, the family
//! of checks it belongs to and a one-line doc. A new rule is one line here plus its check;
//! the tests below hold `docs/cli.md`'s finding table and `finding::code` to this list.

use crate::finding::{code, Severity};

/// Which family of checks raises a rule (one module under `src/check/` each, except the
/// commands' own: `Plan`, `Verify`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Layout,
    Schema,
    Load,
    Partitions,
    Tiers,
    Backup,
    /// KX Storage Manager's own prerequisites and import state.
    Sm,
    /// Segmented databases (`par.txt`).
    Segments,
    Plan,
    Verify,
}

#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub code: &'static str,
    pub severity: Severity,
    pub family: Family,
    pub doc: &'static str,
}

macro_rules! declare_rules {
    ($($name:ident: $sev:ident, $fam:ident, $doc:literal;)*) => {
        /// Every rule, in the order of `docs/cli.md`'s table.
        pub const RULES: &[Rule] = &[$(Rule {
            code: code::$name,
            severity: Severity::$sev,
            family: Family::$fam,
            doc: $doc,
        }),*];
    };
}

/// The declared rule of `code`, if any.
pub fn rule(code: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.code == code)
}

declare_rules! {
    SCHEMA_TABLE_MISSING: Error, Schema,
        "a configured table is in no partition (or a configured splayed table is not in the root)";
    SCHEMA_TABLE_UNEXPECTED: Error, Schema,
        "a table on disk is not in the configuration, SM\'s \"The table has not been configured in the assembly: partitions=…\" (or has the other kind)";
    SCHEMA_COLUMNS: Error, Schema,
        "column names differ from the configuration, or their order does in the last partition or a root table (what q takes the table's columns from)";
    SCHEMA_COLUMN_ORDER: Warning, Schema,
        "an earlier partition's `.d` lists the configured columns in another order: q reads columns by name, so queries are unaffected";
    SCHEMA_UNTYPED_EMPTY: Warning, Schema,
        "an empty untyped column (a 0-row table's column stored as an empty general list, e.g. `torq-gateway-empty`): compatible with any configured type";
    SCHEMA_TYPE: Error, Schema,
        "a column's kdb+ type differs from the configured type";
    SCHEMA_ATTR: Warning, Schema,
        "a column's attribute differs from `attrDisk`";
    LOAD_DOTD_MISSING: Error, Load,
        "a table directory has no `.d`";
    LOAD_COLUMN_MISSING: Error, Load,
        "a column listed in `.d` has no file";
    LOAD_ROW_COUNT: Error, Load,
        "columns of one table in one partition have different row counts";
    LOAD_TABLE_ABSENT: Error, Partitions,
        "a table q sees (in the last partition) or the configuration names is absent from some partitions: queries over those fail";
    LOAD_TABLE_HIDDEN: Warning, Partitions,
        "(`verify` without `--config`) a table in earlier partitions only, invisible to q";
    LOAD_DOMAIN_MISSING: Error, Load,
        "an enumeration domain file (e.g. `sym`) is missing from the root (one that is there but unreadable or cut short is reported as that file's `load-corrupt-file` / `load-unreadable` instead)";
    LOAD_CORRUPT: Error, Load,
        "bytes kdb+ cannot have written: corrupt header, truncated file, bad compressed block (restore from the backup)";
    LOAD_UNSUPPORTED: Error, Load,
        "a kdb+ file variant smstage does not read yet: names file, offset and bytes; **not** corruption (the data may well be fine), but the import cannot prove it";
    LOAD_COLUMN_NOT_VECTOR: Error, Load,
        "a column file holds a serialized atom, dictionary or table instead of a list";
    LOAD_ROOT_NOT_KDB: Error, Layout,
        "a root file that is not kdb+ data (`\\l` loads every root file and fails on it)";
    LOAD_ROOT_SCRIPT: Warning, Layout,
        "(`verify` without `--config`) a q/k script in the root; `check` reports it as sm-root-stray";
    LOAD_FLAT_TABLE: Error, Load,
        "a serialized (flat) table file inside a date partition: kdb+ loads partitioned tables only splayed";
    LOAD_UNREADABLE: Error, Load,
        "a file or directory cannot be read; the message names the OS error's cause and the hint its fix (permissions for EACCES/EPERM, a name or path too long for the filesystem for ENAMETOOLONG, a disk error for EIO, …)";
    LOAD_ENCRYPTED: Warning, Load,
        "an encrypted (`kxzippEd`) file: moved as is, contents not verifiable";
    LOAD_NESTED_DATA_MISSING: Error, Load,
        "a nested column has no `col#` data file";
    LOAD_NOT_A_TABLE: Error, Load,
        "a file in a partition, or a directory in a table";
    LOAD_EXTRA_FILE: Warning, Load,
        "a file in a table directory not listed in `.d`";
    LOAD_ENUM_RANGE: Warning, Load,
        "(`--deep`) enumeration indices beyond the domain; kdb+ reads them as null";
    LOAD_HIDDEN_FILE: Warning, Layout,
        "a hidden entry in the root (can stop `\\l`)";
    PARTITION_NOT_DATE: Error, Partitions,
        "partition directories that are not calendar dates, one finding per kind naming it: month partitions (`2000.01`, `torq-monthly`), year or int partitions (`2023`, `42`), impossible dates (`2023.02.30`), malformed names";
    PARTITION_INT_SUBDIRS: Error, Partitions,
        "a date partition holding int sub-directories instead of tables (a tailer's intraday layout)";
    PARTITION_NONE: Warning, Partitions,
        "no date partition on local disk";
    TIER_OVERLAP: Error, Tiers,
        "the same date in two tiers";
    TIER_UNSUPPORTED: Error, Tiers,
        "the first local HDB tier's store is not `<baseURI>/data` (the in-place import needs it there; segmented databases map every local tier to a segment instead)";
    TIER_UNREACHABLE: Error, Tiers,
        "an object tier cannot be listed: endpoint, bucket, credentials (the message names endpoint, bucket and prefix)";
    OBJECT_DOMAIN_IN_BUCKET: Error, Tiers,
        "an enumeration domain (e.g. `sym`) at the root of an object tier's prefix: kdb+ object-storage segments must not carry it";
    BACKUP_MISSING: Error, Backup,
        "the backup directory does not exist or is the database itself";
    BACKUP_MISMATCH: Error, Backup,
        "the backup does not hold the same files with the same sizes (or bytes)";
    SM_ALREADY: Error, Sm,
        "the database already has an SM root (`<baseURI>/db`, or a `data/par.txt` listing `<tier>$` segments) or a finished import journal";
    SM_PENDING: Error, Sm,
        "an import journal exists: run `smstage status --config FILE`, then `commit` or `rollback`";
    SYMLINK_OUTSIDE: Error, Layout,
        "a symlink in the database points outside it (never followed)";
    SYMLINK_INSIDE: Error, Layout,
        "a symlink inside the database (moving directories would break it), or a symlink loop (said so: it leads to no file)";
    DATABASE_MISSING: Error, Layout,
        "`<baseURI>/data` does not exist, is not a directory, or is a symbolic link (said so: smstage never imports through a link)";
    LAYOUT_CLASH: Error, Layout,
        "a root entry clashes with a generated name (`par.txt`, `<tier>$`)";
    PLAN_DRIFT: Error, Plan,
        "(`mount --plan`, `commit --plan`) the database, the assembly file or an object tier differs from what the saved plan was derived from; one finding per difference, naming the path and one of `added`, `removed`, `kind`, `size`, `mtime`, `inode`, `link target`, `configuration`, `object`, `ctime` (`commit --plan`: a file rewritten in place with its mtime set back), `content` (a staged remedy file whose sha256 is not the saved one)";
    REMEDY_REFUSED: Error, Plan,
        "(`check --remedy`, `plan --remedy`) a remedy this database refuses: a derivation source absent from a partition's `.d` or not a time of day / datetime on disk, a derived value off its partition's date (found while staging), a file already in the way";
    VERIFY_PAR_TXT: Error, Verify,
        "(`verify`) a `par.txt` entry cannot be opened";
    VERIFY_SEGMENT: Error, Verify,
        "(`verify`) a segment holds something other than partitions";
    VERIFY_DIFFERENT: Error, Verify,
        "(`verify --against`, `--q`) the roots differ; names the first difference";
    SEGMENT_MISSING: Error, Segments,
        "(segmented database) a `par.txt` segment cannot be opened or is not a directory";
    SEGMENT_NO_TIER: Error, Segments,
        "a `par.txt` segment is the store of no local HDB tier, or of several; an `s3://` line is no object tier's store; a segment listed twice";
    TIER_NOT_SEGMENT: Error, Segments,
        "a local HDB tier whose store is not a segment listed in `par.txt` (or does not exist)";
    SEGMENT_NESTED: Error, Segments,
        "a segment inside the root or holding it, or two segments nested";
    SEGMENT_NOT_PARTITION: Error, Segments,
        "a segment holds something other than date partition directories";
    SEGMENT_ROOT_PARTITION: Error, Segments,
        "a partition directory in the root beside `par.txt`";
    SM_ROOT_STRAY: Error, Sm,
        "KX \"Stray files in DB root\": the root holds something other than `sym`, the configured splayed and basic tables, the date partitions (and `par.txt` of a segmented database); one finding lists every name";
    SM_ENUM_NOT_SYM: Error, Sm,
        "KX \"a single enumeration file named sym\": a column enumerated against another domain";
    SM_PRTNCOL_NOT_TIMESTAMP: Error, Sm,
        "KX partition column: the configured `prtnCol` is not a timestamp on disk";
    SM_PRTNCOL_DATE: Error, Sm,
        "(`--deep`) rows whose `prtnCol`, rounded down, is not their partition's date (nulls included)";
    SM_COMPRESSION_TABLES: Error, Sm,
        "KX \"compression settings must be the same for all tables\": tables of the same partitions compressed differently";
    SM_COMPRESSION_OVER_TIME: Warning, Sm,
        "partitions compressed differently over time, every table alike within each";
    SM_COMPRESSION_TIER: Warning, Sm,
        "KX \"should also use the same compression settings\": files compressed otherwise than the tier that will hold them";
    SM_ENCRYPTED: Error, Sm,
        "KX \"same encryption settings and encryption key\": encrypted files while the assembly declares no `encryption`";
    SM_FIRST_TIER_SPACE: Error, Sm,
        "KX \"The entire database must be able to fit into the first HDB storage tier\": the local partitions and root files are more bytes than the filesystem behind the first local HDB tier\'s store, or the root files the commit copies across filesystems are more than `<baseURI>`\'s free space";
    SEGMENT_OTHER_FS: Warning, Segments,
        "a segment on another filesystem than the baseURI: its data stays there and its partitions are renamed within that filesystem";
    SPECIAL_FILE: Error, Load,
        "a FIFO, socket or device node in the database, a segment or the backup: never opened, and the import is refused while it is there";
    MOUNT_INSIDE: Error, Load,
        "a directory of the database that is the mountpoint of another filesystem: never walked into";
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// `| `code` | severity | what |` rows of docs/cli.md's finding table.
    fn documented() -> BTreeMap<String, String> {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli.md"))
            .expect("docs/cli.md");
        let mut out = BTreeMap::new();
        for line in doc.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // ["", "`code`", "severity", "what", ""]
            if cells.len() >= 5 && cells[1].starts_with('`') && cells[1].ends_with('`') {
                let sev = cells[2];
                if sev == "error" || sev == "warning" {
                    let c = cells[1].trim_matches('`').to_string();
                    assert!(
                        out.insert(c.clone(), sev.to_string()).is_none(),
                        "docs/cli.md documents {c} twice"
                    );
                }
            }
        }
        out
    }

    fn severity_word(s: Severity) -> &'static str {
        match s {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }

    #[test]
    fn every_declared_rule_is_documented_with_its_severity() {
        let docs = documented();
        for r in RULES {
            match docs.get(r.code) {
                None => panic!("rule {} is declared but not in docs/cli.md's table", r.code),
                Some(sev) => assert_eq!(
                    sev,
                    severity_word(r.severity),
                    "{}: docs/cli.md says {sev}, the declaration {:?}",
                    r.code,
                    r.severity
                ),
            }
        }
    }

    #[test]
    fn every_documented_code_is_declared_once() {
        for c in documented().keys() {
            let n = RULES.iter().filter(|r| r.code == c).count();
            assert_eq!(n, 1, "docs/cli.md documents {c}, declared {n} times");
        }
    }

    /// Every code constant of finding.rs is a declared rule: a code cannot be added without
    /// its declaration (and so its documentation).
    #[test]
    fn every_code_constant_is_declared() {
        let src = include_str!("../finding.rs");
        let consts: Vec<&str> = src
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pub const "))
            .filter_map(|l| l.split('"').nth(1))
            .collect();
        assert!(consts.len() > 40, "parsed {} code constants", consts.len());
        for c in consts {
            assert!(rule(c).is_some(), "finding::code {c} has no declared rule");
        }
    }
}
