//! Walks the YAML tree of an assembly file into [`AssemblyConfig`], validating as it goes.
//!
//! The text is read into a `serde_yaml::Value` (syntax errors keep serde_yaml's line and
//! column), then walked by hand so every error can name its key path; the line of that path
//! comes from [`Locator`], which re-scans the text. Unknown keys are never looked at.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use super::error::{ConfigError, Invalid, InvalidKind};
use super::locate::{KeyPath, Locator};
use super::types::{expected_types, parse_attr, parse_type, suggest_type, EXPECTED_ATTRS};
use super::{
    AssemblyConfig, ColumnSchema, Mount, MountKind, Partitioning, StoreUri, TableSchema, Tier,
};

const SM_PLACES: [&str; 3] = ["sm", "elements.sm", "spec.elements.sm"];
const TABLE_PLACES: [&str; 4] = [
    "tables",
    "elements.tables",
    "spec.tables",
    "spec.elements.tables",
];
const MOUNT_PLACES: [&str; 2] = ["mounts", "spec.mounts"];
#[path = "sm_keys.rs"]
mod sm_keys;
pub use sm_keys::ALGORITHMS;

const TABLE_KINDS: [&str; 4] = ["partitioned", "splayed", "basic", "splayed_mem"];

pub(super) fn parse(text: &str, path: &Path) -> Result<AssemblyConfig, ConfigError> {
    parse_with(text, path, false)
}

/// [`parse`] without KX's import prerequisites on the configuration (a partitioned table's
/// timestamp `prtnCol`): for `smstage init`, which writes an assembly for a database as it
/// stands, prerequisites it misses included, for `check` to name.
pub(super) fn parse_draft(text: &str, path: &Path) -> Result<AssemblyConfig, ConfigError> {
    parse_with(text, path, true)
}

/// The HDB mount's baseURI of an assembly that may not parse as a whole (a table refused, an
/// SM section missing…): enough to read the database beside the configuration error. None
/// when the mounts themselves do not parse, or name no single local HDB mount.
pub(super) fn hdb_base_only(text: &str, path: &Path) -> Option<PathBuf> {
    let mut root: Value = serde_yaml::from_str(text).ok()?;
    root.apply_merge().ok()?;
    let w = Walk {
        path,
        loc: Locator::new(text),
        draft: true,
    };
    let root = w
        .mapping(untag(&root), &KeyPath::root(), "the assembly")
        .ok()?;
    let (mounts_path, mounts_v) = w.one_place(root, &MOUNT_PLACES, "mounts").ok()??;
    let mounts = w.mounts(mounts_v, &mounts_path).ok()?;
    match mounts
        .iter()
        .filter(|m| m.is_hdb())
        .collect::<Vec<_>>()
        .as_slice()
    {
        [one] => match &one.base_uri {
            Some(super::StoreUri::File(p)) => Some(p.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn parse_with(text: &str, path: &Path, draft: bool) -> Result<AssemblyConfig, ConfigError> {
    let mut root: Value = serde_yaml::from_str(text).map_err(|e| syntax(path, text, &e))?;
    root.apply_merge().map_err(|e| syntax(path, text, &e))?;
    let w = Walk {
        path,
        loc: Locator::new(text),
        draft,
    };
    let root_path = KeyPath::root();
    let root = match untag(&root) {
        Value::Null => {
            return Err(w.err(
                InvalidKind::NoSmSection,
                &root_path,
                "the file is empty",
                "an assembly with mounts, an sm section with tiers, and tables",
                "see docs/examples/ for complete assembly files",
            ))
        }
        v => w.mapping(v, &root_path, "the assembly")?,
    };

    let (mounts_path, mounts_v) = w.one_place(root, &MOUNT_PLACES, "mounts")?.ok_or_else(|| {
        w.err(
            InvalidKind::NoMounts,
            &KeyPath::dotted("mounts"),
            "no mounts section",
            "a top-level `mounts:` mapping (or `spec.mounts:`) naming each mount",
            "add `mounts:` with at least the HDB mount: `hdb: {type: local, partition: date, \
             baseURI: file:///path/to/hdb}`",
        )
    })?;
    let mounts = w.mounts(mounts_v, &mounts_path)?;
    w.check_hdb(&mounts, &mounts_path)?;

    let (sm_path, sm_v) = w.one_place(root, &SM_PLACES, "sm")?.ok_or_else(|| {
        w.err(
            InvalidKind::NoSmSection,
            &KeyPath::dotted("sm"),
            "no SM section",
            "an `sm:` mapping with `tiers:` at the top level, under `elements:`, or under \
             `spec.elements:`",
            "add `sm: {tiers: [...]}` (or `elements: {sm: ...}`) describing the tiers",
        )
    })?;
    let sm = w.mapping(sm_v, &sm_path, "the SM section")?;
    let initial_import = match get(sm, "initialImport") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(v) => {
            return Err(w.err(
                InvalidKind::WrongType,
                &sm_path.key("initialImport"),
                format!("initialImport is {}", describe(v)),
                "true or false",
                "write `initialImport: true` (unquoted)",
            ))
        }
    };
    let encryption = w.encryption(sm, &sm_path)?;
    let tiers = w.tiers(sm, &sm_path, &mounts)?;
    let hdb = mounts.iter().find(|m| m.is_hdb());
    if let Some(hdb) = hdb {
        if !tiers.iter().any(|t| t.mount == hdb.name) {
            return Err(w.err(
                InvalidKind::HdbWithoutTier,
                &sm_path.key("tiers"),
                format!("no tier uses the HDB mount '{}'", hdb.name),
                format!("at least one tier with `mount: {}`", hdb.name),
                format!(
                    "add a tier such as `- {{name: hdb, mount: {}}}` to sm.tiers",
                    hdb.name
                ),
            ));
        }
    }

    let (tables_path, tables_v) = w.one_place(root, &TABLE_PLACES, "tables")?.ok_or_else(|| {
        w.err(
            InvalidKind::NoTables,
            &KeyPath::dotted("tables"),
            "no tables section",
            "a `tables:` mapping (top level, or beside `sm` under `elements:`/`spec.elements:`)",
            "add `tables:` with the schema of every table in the database",
        )
    })?;
    let tables = w.tables(tables_v, &tables_path)?;

    Ok(AssemblyConfig {
        path: path.to_path_buf(),
        mounts,
        tiers,
        tables,
        initial_import,
        encryption,
    })
}

fn syntax(path: &Path, text: &str, e: &serde_yaml::Error) -> ConfigError {
    let loc = e.location();
    let tab_indent = loc.as_ref().is_some_and(|l| {
        let line = text.lines().nth(l.line().saturating_sub(1)).unwrap_or("");
        line.chars()
            .take_while(|c| c.is_whitespace())
            .any(|c| c == '\t')
    });
    let mut message = e.to_string();
    // serde_yaml appends the position; it is already in the `file:line:col` prefix.
    if let Some(l) = &loc {
        for suffix in [
            format!(" at line {} column {}", l.line(), l.column()),
            format!(" at position {}", l.index()),
        ] {
            message = message.replacen(&suffix, "", 1);
        }
    }
    let mut line = loc.as_ref().map(|l| l.line());
    let mut column = loc.as_ref().map(|l| l.column());
    // serde_yaml points a repeated key at its first occurrence; the second is the one to fix.
    if let Some((parent, key)) = message.split_once("duplicate entry with key ") {
        let parent = KeyPath::from_serde(parent.trim_end_matches(": "));
        let key = key.trim_matches('"').to_string();
        let hits = Locator::new(text).find_keys(&parent, &key);
        if let [first, second, ..] = hits.as_slice() {
            message = format!(
                "duplicate key '{key}' under {parent} (first at line {})",
                first.line
            );
            line = Some(second.line);
            column = Some(second.column);
        }
    }
    let fix = if message.contains("duplicate") {
        "each mount, table and mapping key may appear only once: rename or remove the second one"
    } else if message.contains("more than one document") {
        "keep a single YAML document in the file (remove the extra `---`)"
    } else if message.contains("tab") || tab_indent {
        "indent with spaces, not tabs"
    } else {
        "correct the YAML at that position (indentation, a missing ':' or closing quote/bracket)"
    };
    ConfigError::Syntax {
        path: path.to_path_buf(),
        line,
        column,
        message,
        fix: fix.to_string(),
    }
}

struct Walk<'a> {
    path: &'a Path,
    loc: Locator<'a>,
    /// Skip KX's import prerequisites (see [`parse_draft`]).
    draft: bool,
}

impl Walk<'_> {
    fn err(
        &self,
        kind: InvalidKind,
        key: &KeyPath,
        problem: impl Into<String>,
        expected: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        let pos = self.loc.find(key);
        ConfigError::Invalid(Box::new(Invalid {
            path: self.path.to_path_buf(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            key: key.to_string(),
            kind,
            problem: problem.into(),
            expected: expected.into(),
            fix: fix.into(),
        }))
    }

    fn line(&self, key: &KeyPath) -> Option<usize> {
        self.loc.find(key).map(|p| p.line)
    }

    fn mapping<'v>(
        &self,
        v: &'v Value,
        key: &KeyPath,
        what: &str,
    ) -> Result<&'v Mapping, ConfigError> {
        match untag(v) {
            Value::Mapping(m) => Ok(m),
            other => Err(self.err(
                InvalidKind::WrongType,
                key,
                format!("{what} is {}", describe(other)),
                "a mapping (indented `key: value` lines)",
                "indent the entries under this key as `key: value` lines",
            )),
        }
    }

    fn sequence<'v>(
        &self,
        v: &'v Value,
        key: &KeyPath,
        what: &str,
    ) -> Result<&'v [Value], ConfigError> {
        match untag(v) {
            Value::Sequence(s) => Ok(s),
            other => Err(self.err(
                InvalidKind::WrongType,
                key,
                format!("{what} is {}", describe(other)),
                "a list (lines starting with `- `)",
                "write one `- ` item per entry under this key",
            )),
        }
    }

    /// A required scalar turned into text (numbers and booleans are accepted as written).
    fn required_str(
        &self,
        m: &Mapping,
        parent: &KeyPath,
        k: &str,
        what: &str,
    ) -> Result<String, ConfigError> {
        let key = parent.key(k);
        match get(m, k) {
            None | Some(Value::Null) => Err(self.err(
                InvalidKind::MissingKey,
                &key,
                format!("missing `{k}` ({what})"),
                format!("`{k}:` with a value"),
                format!("add `{k}: ...` under {parent}"),
            )),
            Some(v) => self.scalar_str(v, &key, what),
        }
    }

    fn optional_str(
        &self,
        m: &Mapping,
        parent: &KeyPath,
        k: &str,
        what: &str,
    ) -> Result<Option<String>, ConfigError> {
        match get(m, k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => self.scalar_str(v, &parent.key(k), what).map(Some),
        }
    }

    fn scalar_str(&self, v: &Value, key: &KeyPath, what: &str) -> Result<String, ConfigError> {
        scalar_text(v).ok_or_else(|| {
            self.err(
                InvalidKind::WrongType,
                key,
                format!("{what} is {}", describe(v)),
                "a single value (text)",
                "write the value on the same line as the key",
            )
        })
    }

    fn key_name(&self, k: &Value, parent: &KeyPath) -> Result<String, ConfigError> {
        scalar_text(k).ok_or_else(|| {
            self.err(
                InvalidKind::WrongType,
                parent,
                format!("a key under {parent} is {}", describe(k)),
                "plain names as keys",
                "use a plain name as the key",
            )
        })
    }

    /// Finds a section that may sit in several places; more than one is an error because
    /// silently picking one would hide the other's content.
    fn one_place<'v>(
        &self,
        root: &'v Mapping,
        places: &[&str],
        what: &str,
    ) -> Result<Option<(KeyPath, &'v Value)>, ConfigError> {
        let mut found: Vec<(KeyPath, &'v Value)> = Vec::new();
        'place: for place in places {
            let parts: Vec<&str> = place.split('.').collect();
            let mut cur = root;
            for (i, part) in parts.iter().enumerate() {
                let Some(v) = get(cur, part) else {
                    continue 'place;
                };
                if i + 1 == parts.len() {
                    if !v.is_null() {
                        found.push((KeyPath::dotted(place), v));
                    }
                } else {
                    match untag(v) {
                        Value::Mapping(m) => cur = m,
                        _ => continue 'place,
                    }
                }
            }
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            _ => {
                let list: Vec<String> = found
                    .iter()
                    .map(|(p, _)| match self.line(p) {
                        Some(l) => format!("{p} (line {l})"),
                        None => p.to_string(),
                    })
                    .collect();
                Err(self.err(
                    InvalidKind::Ambiguous,
                    &found[1].0,
                    format!(
                        "`{what}` appears in {} places: {}",
                        found.len(),
                        list.join(", ")
                    ),
                    format!("one `{what}` section, in one of: {}", places.join(", ")),
                    "merge them into one section and delete the other",
                ))
            }
        }
    }

    fn mounts(&self, v: &Value, path: &KeyPath) -> Result<Vec<Mount>, ConfigError> {
        let m = self.mapping(v, path, "mounts")?;
        let mut out = Vec::new();
        for (k, v) in m {
            let name = self.key_name(k, path)?;
            let mp = path.key(&name);
            let mm = self.mapping(v, &mp, &format!("mount '{name}'"))?;
            let kind = match self
                .required_str(mm, &mp, "type", "the mount type")?
                .as_str()
            {
                "stream" => MountKind::Stream,
                "local" => MountKind::Local,
                "object" => MountKind::Object,
                other => MountKind::Other(other.to_string()),
            };
            let partition = match self
                .required_str(mm, &mp, "partition", "the mount's partitioning")?
                .as_str()
            {
                "none" => Partitioning::None,
                "ordinal" => Partitioning::Ordinal,
                "date" => Partitioning::Date,
                other => Partitioning::Other(other.to_string()),
            };
            let base_uri = match self.optional_str(mm, &mp, "baseURI", "the mount's baseURI")? {
                None => None,
                Some(s) if s.trim().eq_ignore_ascii_case("none") => None,
                Some(s) => Some(StoreUri::parse(&s).map_err(|e| {
                    self.err(
                        InvalidKind::BadUri,
                        &mp.key("baseURI"),
                        format!("invalid baseURI: {e}"),
                        "file:///absolute/path or s3://bucket/prefix (or `none` for a stream mount)",
                        "fix the URI; a local directory needs three slashes: file:///data/hdb",
                    )
                })?),
            };
            out.push(Mount {
                line: self.line(&mp),
                name,
                kind,
                base_uri,
                partition,
            });
        }
        if out.is_empty() {
            return Err(self.err(
                InvalidKind::NoMounts,
                path,
                "mounts is empty",
                "at least the HDB mount (type: local, partition: date)",
                "add `hdb: {type: local, partition: date, baseURI: file:///path/to/hdb}`",
            ));
        }
        Ok(out)
    }

    fn check_hdb(&self, mounts: &[Mount], path: &KeyPath) -> Result<(), ConfigError> {
        let hdb: Vec<&Mount> = mounts.iter().filter(|m| m.is_hdb()).collect();
        match hdb.as_slice() {
            [] => Err(no_hdb_error(self.path, self.line(path), mounts)),
            [one] => {
                let mp = path.key(&one.name);
                match &one.base_uri {
                    Some(StoreUri::File(_)) => Ok(()),
                    None => Err(self.err(
                        InvalidKind::MissingKey,
                        &mp,
                        format!("the HDB mount '{}' has no baseURI", one.name),
                        "`baseURI: file:///absolute/dir` — the database sits in its `data` \
                         sub-directory",
                        format!(
                            "add `baseURI: file:///path/to/dir` under {mp}, with the HDB in \
                             /path/to/dir/data"
                        ),
                    )),
                    Some(other) => {
                        let (problem, expected, fix) = hdb_not_local_texts(one, Some(other));
                        Err(self.err(
                            InvalidKind::HdbNotLocal,
                            &mp.key("baseURI"),
                            problem,
                            expected,
                            fix,
                        ))
                    }
                }
            }
            [_, second, ..] => Err(many_hdb_error(
                self.path,
                self.line(&path.key(&second.name)),
                &path.key(&second.name).to_string(),
                &hdb,
            )),
        }
    }

    fn tiers(
        &self,
        sm: &Mapping,
        sm_path: &KeyPath,
        mounts: &[Mount],
    ) -> Result<Vec<Tier>, ConfigError> {
        let tp = sm_path.key("tiers");
        let list = match get(sm, "tiers") {
            None | Some(Value::Null) => &[][..],
            Some(v) => self.sequence(v, &tp, "tiers")?,
        };
        if list.is_empty() {
            return Err(self.err(
                InvalidKind::NoTiers,
                if get(sm, "tiers").is_some() {
                    &tp
                } else {
                    sm_path
                },
                "the SM section has no tiers",
                "`tiers:` listing at least one tier on the HDB mount",
                "add `tiers: [{name: hdb, mount: <HDB mount name>}]`",
            ));
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::new();
        for (i, v) in list.iter().enumerate() {
            let p = tp.index(i);
            let m = self.mapping(v, &p, &format!("tier {i}"))?;
            let name = self.required_str(m, &p, "name", "the tier name")?;
            let np = p.key("name");
            if !valid_tier_name(&name) {
                return Err(self.err(
                    InvalidKind::BadName,
                    &np,
                    format!("tier name '{name}' cannot be used as a directory name"),
                    "letters, digits, '_', '.', '-' only, not starting with '.'",
                    "rename the tier (e.g. hdb, hdb_s3)",
                ));
            }
            if let Some(&first) = seen.get(&name) {
                return Err(self.err(
                    InvalidKind::Duplicate,
                    &np,
                    format!(
                        "duplicate tier name '{name}' (first used by {}{})",
                        tp.index(first),
                        self.line(&tp.index(first))
                            .map(|l| format!(" at line {l}"))
                            .unwrap_or_default()
                    ),
                    "each tier name once",
                    "rename one of the two tiers",
                ));
            }
            seen.insert(name.clone(), i);
            let mount_name = self.required_str(m, &p, "mount", "the tier's mount")?;
            let Some(mount) = mounts.iter().find(|mt| mt.name == mount_name) else {
                let known: Vec<&str> = mounts.iter().map(|mt| mt.name.as_str()).collect();
                return Err(self.err(
                    InvalidKind::UnknownMount,
                    &p.key("mount"),
                    format!("tier '{name}' uses mount '{mount_name}', which is not defined"),
                    format!("one of the mounts: {}", known.join(", ")),
                    "use one of those names, or define the mount under `mounts:`",
                ));
            };
            let explicit = self.optional_str(m, &p, "store", "the tier's store")?;
            let (store, store_defaulted) = match explicit {
                Some(s) => {
                    let u = StoreUri::parse(&s).map_err(|e| {
                        self.err(
                            InvalidKind::BadUri,
                            &p.key("store"),
                            format!("invalid store: {e}"),
                            "file:///absolute/path or s3://bucket/prefix",
                            "fix the URI, or remove `store` to use <baseURI of the mount>/data",
                        )
                    })?;
                    (Some(u), false)
                }
                None => (mount.base_uri.as_ref().map(|u| u.join("data")), true),
            };
            let compression = self.tier_compression(m, &p)?;
            out.push(Tier {
                compression,
                line: self.line(&p),
                name,
                mount: mount_name,
                store,
                store_defaulted,
            });
        }
        Ok(out)
    }

    fn tables(&self, v: &Value, path: &KeyPath) -> Result<Vec<TableSchema>, ConfigError> {
        let m = self.mapping(v, path, "tables")?;
        let mut out = Vec::new();
        for (k, v) in m {
            let name = self.key_name(k, path)?;
            let tp = path.key(&name);
            if !valid_file_name(&name) {
                return Err(self.err(
                    InvalidKind::BadName,
                    &tp,
                    format!("table name '{name}' cannot be used as a directory name"),
                    "a name without '/', spaces or control characters, not starting with '.' \
                     and not ending with '#' or '$'",
                    "rename the table to the directory name it has in the database",
                ));
            }
            out.push(self.table(name, v, &tp)?);
        }
        if out.is_empty() {
            return Err(self.err(
                InvalidKind::NoTables,
                path,
                "tables is empty",
                "the schema of every table in the database",
                "add each table with its columns under `tables:`",
            ));
        }
        Ok(out)
    }

    fn table(&self, name: String, v: &Value, tp: &KeyPath) -> Result<TableSchema, ConfigError> {
        let m = self.mapping(v, tp, &format!("table '{name}'"))?;
        let kind = self.required_str(m, tp, "type", "the table type")?;
        if !TABLE_KINDS.contains(&kind.as_str()) {
            return Err(self.err(
                InvalidKind::UnknownValue,
                &tp.key("type"),
                format!("unknown table type '{kind}'"),
                format!("one of {}", TABLE_KINDS.join(", ")),
                "a date-partitioned HDB table is `type: partitioned`",
            ));
        }
        let cp = tp.key("columns");
        let list = match get(m, "columns") {
            None | Some(Value::Null) => &[][..],
            Some(v) => self.sequence(v, &cp, "columns")?,
        };
        if list.is_empty() {
            return Err(self.err(
                InvalidKind::NoColumns,
                if get(m, "columns").is_some() { &cp } else { tp },
                format!("table '{name}' has no columns"),
                "`columns:` listing each column with `name` and `type`",
                "add `columns: [{name: ..., type: ...}, ...]` in the table's column order",
            ));
        }
        let mut columns: Vec<ColumnSchema> = Vec::new();
        for (i, v) in list.iter().enumerate() {
            let p = cp.index(i);
            let c = self.mapping(v, &p, &format!("column {i} of '{name}'"))?;
            let cname = self.required_str(c, &p, "name", "the column name")?;
            if !valid_file_name(&cname) {
                return Err(self.err(
                    InvalidKind::BadName,
                    &p.key("name"),
                    format!("column name '{cname}' cannot be used as a file name"),
                    "a name without '/', spaces or control characters, not starting with '.' \
                     and not ending with '#' or '$'",
                    "use the column's name as it appears in the table's .d file",
                ));
            }
            if let Some(first) = columns.iter().position(|x| x.name == cname) {
                return Err(self.err(
                    InvalidKind::Duplicate,
                    &p.key("name"),
                    format!(
                        "duplicate column name '{cname}' in table '{name}' (also {}{})",
                        cp.index(first),
                        columns[first]
                            .line
                            .map(|l| format!(" at line {l}"))
                            .unwrap_or_default()
                    ),
                    "each column name once per table",
                    "remove or rename one of the two columns",
                ));
            }
            let type_name = self.required_str(c, &p, "type", "the column type")?;
            let Some(ty) = parse_type(&type_name) else {
                let hint = match suggest_type(&type_name) {
                    Some(s) => format!("did you mean '{s}'? "),
                    None => String::new(),
                };
                return Err(self.err(
                    InvalidKind::UnknownValue,
                    &p.key("type"),
                    format!("unknown type name '{type_name}'"),
                    expected_types(),
                    format!("{hint}write the column's kdb+ type name (see docs/config.md)"),
                ));
            };
            let attr_disk = match self.optional_str(c, &p, "attrDisk", "the on-disk attribute")? {
                None => None,
                Some(a) => parse_attr(&a).map_err(|_| {
                    self.err(
                        InvalidKind::UnknownValue,
                        &p.key("attrDisk"),
                        format!("unknown attrDisk '{a}'"),
                        EXPECTED_ATTRS,
                        "use the attribute the column has on disk (as `meta` shows it)",
                    )
                })?,
            };
            columns.push(ColumnSchema {
                line: self.line(&p),
                name: cname,
                type_name,
                ty,
                attr_disk,
            });
        }
        let prtn_col = self.optional_str(m, tp, "prtnCol", "the partition column")?;
        if let Some(pc) = &prtn_col {
            self.known_column(&name, &columns, pc, &tp.key("prtnCol"))?;
        }
        if kind == "partitioned" && !self.draft {
            self.prtn_col_timestamp(&name, &columns, prtn_col.as_deref(), tp)?;
        }
        let sp = tp.key("sortColsDisk");
        let sort_cols_disk = match get(m, "sortColsDisk") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => match untag(v) {
                Value::Sequence(s) => s
                    .iter()
                    .enumerate()
                    .map(|(i, x)| self.scalar_str(x, &sp.index(i), "a sort column"))
                    .collect::<Result<Vec<_>, _>>()?,
                other => vec![self.scalar_str(other, &sp, "sortColsDisk")?],
            },
        };
        for c in &sort_cols_disk {
            self.known_column(&name, &columns, c, &sp)?;
        }
        Ok(TableSchema {
            line: self.line(tp),
            name,
            kind,
            columns,
            prtn_col,
            sort_cols_disk,
        })
    }

    fn known_column(
        &self,
        table: &str,
        columns: &[ColumnSchema],
        col: &str,
        key: &KeyPath,
    ) -> Result<(), ConfigError> {
        if columns.iter().any(|c| c.name == col) {
            return Ok(());
        }
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        Err(self.err(
            InvalidKind::UnknownColumn,
            key,
            format!("'{col}' is not a column of table '{table}'"),
            format!("one of its columns: {}", names.join(", ")),
            "fix the name, or add the column to `columns:`",
        ))
    }
}

pub(super) fn no_hdb_error(path: &Path, line: Option<usize>, mounts: &[Mount]) -> ConfigError {
    let found: Vec<String> = mounts
        .iter()
        .map(|m| format!("{} ({}, {})", m.name, m.kind, m.partition))
        .collect();
    ConfigError::Invalid(Box::new(Invalid {
        path: path.to_path_buf(),
        line,
        column: line.map(|_| 1),
        key: "mounts".to_string(),
        kind: InvalidKind::NoHdbMount,
        problem: format!(
            "no mount has type: local and partition: date; found: {}",
            if found.is_empty() {
                "none".to_string()
            } else {
                found.join(", ")
            }
        ),
        expected: "exactly one HDB mount: `type: local`, `partition: date`, with a file:// baseURI"
            .to_string(),
        fix: "set `type: local` and `partition: date` on the mount holding the historical database"
            .to_string(),
    }))
}

pub(super) fn many_hdb_error(
    path: &Path,
    line: Option<usize>,
    key: &str,
    hdb: &[&Mount],
) -> ConfigError {
    let found: Vec<String> = hdb
        .iter()
        .map(|m| match m.line {
            Some(l) => format!("{} (line {l})", m.name),
            None => m.name.clone(),
        })
        .collect();
    ConfigError::Invalid(Box::new(Invalid {
        path: path.to_path_buf(),
        line,
        column: line.map(|_| 1),
        key: key.to_string(),
        kind: InvalidKind::ManyHdbMounts,
        problem: format!(
            "{} mounts have type: local and partition: date: {}",
            hdb.len(),
            found.join(", ")
        ),
        expected: "exactly one HDB mount (type: local, partition: date)".to_string(),
        fix: "keep one HDB mount; object-storage partitions belong in a tier's `store`".to_string(),
    }))
}

pub(super) fn hdb_not_local_error(path: &Path, m: &Mount, uri: Option<&StoreUri>) -> ConfigError {
    let (problem, expected, fix) = hdb_not_local_texts(m, uri);
    ConfigError::Invalid(Box::new(Invalid {
        path: path.to_path_buf(),
        line: m.line,
        column: None,
        key: format!("mounts.{}.baseURI", m.name),
        kind: InvalidKind::HdbNotLocal,
        problem,
        expected,
        fix,
    }))
}

fn hdb_not_local_texts(m: &Mount, uri: Option<&StoreUri>) -> (String, String, String) {
    (
        match uri {
            Some(u) => format!(
                "the HDB mount '{}' has baseURI {u}, not a local directory",
                m.name
            ),
            None => format!("the HDB mount '{}' has no baseURI", m.name),
        },
        "a file:///absolute/dir baseURI (the HDB and its sym file sit in its data sub-directory)"
            .to_string(),
        "point baseURI at the local directory; put object-storage partitions in the store of the \
         last HDB tier instead"
            .to_string(),
    )
}

fn get<'v>(m: &'v Mapping, k: &str) -> Option<&'v Value> {
    m.get(k).map(untag)
}

fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => untag(&t.value),
        other => other,
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match untag(v) {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// How a value looks, for "found …" in errors.
fn describe(v: &Value) -> String {
    match untag(v) {
        Value::Null => "empty".to_string(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the text '{s}'"),
        Value::Sequence(s) => format!("a list of {} item(s)", s.len()),
        Value::Mapping(_) => "a mapping".to_string(),
        Value::Tagged(_) => "a tagged value".to_string(),
    }
}

fn valid_tier_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Names that become a directory or file in the database: `\l` ignores names ending in `$`,
/// `#` marks a nested column's data file, and a leading `.` hides the entry.
fn valid_file_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && !s.ends_with('#')
        && !s.ends_with('$')
        && !s
            .chars()
            .any(|c| c == '/' || c.is_whitespace() || c.is_control())
}
