//! Preconditions of the import: schema, load health, partitions, tiers, backup, SM state.
//! [`evaluate`] is pure over a whole inventory and the configuration; [`read_and_evaluate`]
//! gives the same findings while reading the partitions, checking each as it is read and
//! releasing its file records (what [`run`], which does the I/O around it, uses).

use crate::backup;
use crate::commit::{State, Status};
use crate::config::{AssemblyConfig, StoreUri, TableSchema};
use crate::finding::{code, Finding, Report};
use crate::inventory::{self, FileError, Inventory, RootKind, TableInv};
use crate::kdb::{self, LogicalType};
use crate::plan::{self, PlanInput, RootEntry, TierInput, TierKind};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub mod deep_scan;
mod segments;
pub use segments::is_segmented;

#[derive(Debug, Clone)]
pub enum BackupCheck {
    Dir(PathBuf),
    Skip,
}

#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub backup: BackupCheck,
    /// Decode every value (enumeration ranges, compressed blocks) and compare backup bytes.
    pub deep: bool,
    /// How object tiers are reached (credentials policy).
    pub s3: crate::object::S3Options,
    /// Keep every object tier's per-object records in the outcome's inventory (the view of
    /// `mount --object-tiers-local` lists them); otherwise they are released as they are
    /// checked, like the local partitions'.
    pub keep_object_files: bool,
}

/// Everything `check` learned: the report, and the plan when the database may be imported.
#[derive(Debug)]
pub struct CheckOutcome {
    pub report: Report,
    /// The root, object tiers and partitions as read; the local partitions of a plain
    /// (non-segmented) database keep table names only (file records are released as soon as
    /// their checks ran: see [`read_and_evaluate`]).
    pub inventory: Option<Inventory>,
    pub plan: Option<plan::Plan>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// The HDB tiers of the configuration, as the planner sees them.
pub fn hdb_tiers(config: &AssemblyConfig) -> Result<Vec<TierInput>, CheckError> {
    let hdb = config.hdb_mount()?;
    Ok(config
        .tiers_of_mount(&hdb.name)
        .into_iter()
        .filter_map(|t| {
            // Tiers on the HDB mount always have a store (defaulted to <baseURI>/data).
            let store = t.store.as_ref()?;
            Some(TierInput {
                name: t.name.clone(),
                kind: match store {
                    StoreUri::File(_) => TierKind::Local,
                    StoreUri::S3 { .. } => TierKind::Object,
                },
                store: store.to_string(),
            })
        })
        .collect())
}

/// Runs every check; never writes anything.
pub fn run(config: &AssemblyConfig, opts: &CheckOptions) -> Result<CheckOutcome, CheckError> {
    let base = config.hdb_base_dir()?;
    let source = base.join(plan::SOURCE_DIR);
    let tiers = hdb_tiers(config)?;
    let mut findings = Vec::new();

    findings.extend(sm_state(&base));
    if findings
        .iter()
        .any(|f| f.code == code::SM_ALREADY || f.code == code::SM_PENDING)
    {
        return Ok(CheckOutcome {
            report: Report::new(findings),
            inventory: None,
            plan: None,
        });
    }

    // A segmented database (par.txt in the root): its segments are the local tiers' stores.
    if segments::is_segmented(&source) {
        return segments::run(config, opts, &base, tiers, findings);
    }

    // The import converts the database in place: the HDB tier that holds it must keep its
    // store at <baseURI>/data (the default), or the layout would point somewhere else.
    if let Some(primary) = tiers.iter().find(|t| t.kind == TierKind::Local) {
        let expected = format!("file://{}", source.display());
        if primary.store.trim_end_matches('/') != expected {
            findings.push(
                Finding::error(
                    code::TIER_UNSUPPORTED,
                    format!("tier {} stores its data at {}, but the database to import is {}: the in-place import needs the first local HDB tier's store at <baseURI>/data", primary.name, primary.store, source.display()),
                )
                .tier(&primary.name)
                .hint(format!("remove `store:` from tier {} (it defaults to <baseURI>/data), or move the database there", primary.name)),
            );
        }
    }

    // The root first, partitions later: each partition is checked as it is read (see
    // read_and_evaluate), which needs the object tiers' dates before.
    let (mut inv, dirs) = match inventory::scan_root(&source, inventory::RootMode::Partitioned) {
        Ok(scan) => scan,
        Err(e) => {
            findings
                .push(Finding::error(code::DATABASE_MISSING, e.to_string()).path(source.display()));
            return Ok(CheckOutcome {
                report: Report::new(findings),
                inventory: None,
                plan: None,
            });
        }
    };
    let objects = list_object_tiers(config, opts, &mut findings)?;
    findings
        .extend(read_and_evaluate_with(Some(config), &mut inv, dirs, objects, opts.deep, |_| ()).0);
    match &opts.backup {
        BackupCheck::Dir(dir) => findings.extend(backup::check_backup(&source, dir, opts.deep)),
        BackupCheck::Skip => {}
    }

    let plan = match plan::build(&plan_input(&base, &inv, tiers)) {
        Ok(p) => Some(p),
        Err(e) => {
            let c = match e {
                plan::PlanError::DuplicateDate { .. } => code::TIER_OVERLAP,
                _ => code::LAYOUT_CLASH,
            };
            findings.push(Finding::error(c, e.to_string()));
            None
        }
    };
    let report = Report::new(findings);
    let plan = if report.ok { plan } else { None };
    Ok(CheckOutcome {
        report,
        inventory: Some(inv),
        plan,
    })
}

/// Lists an object tier's partitions and reads their headers (ranged GETs only).
pub fn object_inventory(
    name: &str,
    bucket: &str,
    prefix: &str,
    opts: &crate::object::S3Options,
) -> Result<(inventory::ObjectTierInv, Vec<Finding>), crate::object::ObjectError> {
    let tier = crate::object::open_s3(bucket, prefix, opts)?;
    let oi = crate::object::take_object_inventory(&tier, name)?;
    let findings = oi.findings.into_iter().map(|f| f.tier(name)).collect();
    Ok((
        inventory::ObjectTierInv {
            name: name.to_string(),
            tier,
            partitions: oi.partitions,
        },
        findings,
    ))
}

/// What the planner needs from an inventory.
pub fn plan_input(base: &Path, inv: &Inventory, tiers: Vec<TierInput>) -> PlanInput {
    PlanInput {
        base: base.to_path_buf(),
        root_entries: root_entries(inv),
        tiers,
        local_partitions: inv.partitions.iter().map(|p| p.date.clone()).collect(),
        object_partitions: object_partitions(inv),
    }
}

/// The root's entries as the planner moves them.
pub(crate) fn root_entries(inv: &Inventory) -> Vec<RootEntry> {
    inv.root
        .iter()
        .map(|r| RootEntry {
            name: r.name.clone(),
            is_dir: r.is_dir(),
        })
        .collect()
}

/// (date, tier) of every partition of the object tiers.
pub(crate) fn object_partitions(inv: &Inventory) -> Vec<(String, String)> {
    inv.object_tiers
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (p.date.clone(), t.name.clone()))
        })
        .collect()
}

/// Signs that the database was already imported, or that an import is under way.
fn sm_state(base: &Path) -> Vec<Finding> {
    let mut f = Vec::new();
    match crate::commit::status(base) {
        Ok(st) => match st.state {
            State::None | State::RolledBack => {}
            State::Committed => {
                f.push(
                    Finding::error(
                        code::SM_ALREADY,
                        format!("{} was already imported into SM format (journal {})", base.display(), journal_text(&st)),
                    )
                    .hint("there is nothing to import; `smstage rollback --config FILE` undoes the import if needed"),
                );
                return f;
            }
            State::InProgress | State::RollingBack => {
                f.push(
                    Finding::error(
                        code::SM_PENDING,
                        format!("an import of {} is unfinished ({} of {} steps done, journal {})", base.display(), st.steps_done, st.steps_total, journal_text(&st)),
                    )
                    .hint("run `smstage status --config FILE` to see where it stands, then `smstage commit` to resume it or `smstage rollback` to undo it"),
                );
                return f;
            }
        },
        Err(e) => {
            f.push(
                Finding::error(code::SM_PENDING, format!("an import journal exists but cannot be read: {e}"))
                    .path(base.join(".smstage").display())
                    .hint("run `smstage status --config FILE`; if the journal is not from smstage, move .smstage away"),
            );
            return f;
        }
    }
    // `data/par.txt` alone marks a segmented database (checked in segments.rs, which also
    // recognises an SM root there by its `<tier>$` lines).
    let root = base.join(plan::ROOT_DIR);
    if root.exists() {
        f.push(
            Finding::error(
                code::SM_ALREADY,
                format!("{} exists: the database looks like it is already in SM (segmented) format", root.display()),
            )
            .path(root.display())
            .hint("there is nothing to import; if this is left over from another tool, move it away and run check again"),
        );
    }
    f
}

fn journal_text(st: &Status) -> String {
    st.journal
        .as_ref()
        .map(|j| j.display().to_string())
        .unwrap_or_default()
}

/// Every precondition that can be decided from the inventory and the configuration alone.
/// Without a configuration (`verify` without `--config`) only load health is checked.
pub fn evaluate(config: Option<&AssemblyConfig>, inv: &Inventory) -> Vec<Finding> {
    let all = inv.all_partitions();
    let last_date = all.iter().map(|p| p.part.date.as_str()).max();
    let checks = PartitionChecks::new(config, inv, last_date);
    evaluate_with(config, inv, &mut |p| checks.partition(p))
}

/// Reads the local partitions `dirs` into `inv` (its root and object tiers already read) and
/// returns exactly what [`evaluate`] (then, with `deep`, [`deep_checks`]) returns for the whole
/// inventory. Each partition is checked on the worker that read it and its file records are
/// released there, so memory grows with the tables of the database, not with its files.
pub fn read_and_evaluate(
    config: Option<&AssemblyConfig>,
    inv: &mut Inventory,
    dirs: Vec<inventory::PartitionDir>,
    deep: bool,
) -> Vec<Finding> {
    read_and_evaluate_with(config, inv, dirs, Vec::new(), deep, |_| ()).0
}

/// The date of the last partition among `dirs` (not read yet) and the object tiers read into
/// `inv`: the one q takes the tables from.
pub fn last_date(inv: &Inventory, dirs: &[inventory::PartitionDir]) -> Option<String> {
    dirs.iter()
        .map(|d| d.date.as_str())
        .chain(
            inv.object_tiers
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.date.as_str())),
        )
        .max()
        .map(str::to_string)
}

/// An object tier listed (its dates known), whose partitions [`read_and_evaluate_with`] reads
/// and checks a chunk at a time.
#[derive(Debug)]
pub struct PendingTier {
    name: String,
    tier: crate::object::ObjectTier,
    listed: crate::object::ListedTier,
    /// Keep every object's record (the view of `mount --object-tiers-local` lists them).
    pub keep_files: bool,
}

/// Lists every object tier of the HDB mount, for [`read_and_evaluate_with`]; a tier that
/// cannot be listed is a finding.
fn list_object_tiers(
    config: &AssemblyConfig,
    opts: &CheckOptions,
    findings: &mut Vec<Finding>,
) -> Result<Vec<PendingTier>, CheckError> {
    let mut objects = Vec::new();
    for t in config.tiers_of_mount(&config.hdb_mount()?.name) {
        if let Some(StoreUri::S3 { bucket, prefix }) = &t.store {
            match list_object_tier(&t.name, bucket, prefix, &opts.s3) {
                Ok(pending) => objects.push(PendingTier {
                    keep_files: opts.keep_object_files,
                    ..pending
                }),
                Err(e) => findings.push(
                    Finding::error(
                        code::TIER_UNREACHABLE,
                        format!("object tier {}: {e}", t.name),
                    )
                    .tier(&t.name)
                    .path(format!("s3://{bucket}/{prefix}")),
                ),
            }
        }
    }
    Ok(objects)
}

/// Lists an object tier's root and dates (one LIST), for [`read_and_evaluate_with`].
pub fn list_object_tier(
    name: &str,
    bucket: &str,
    prefix: &str,
    opts: &crate::object::S3Options,
) -> Result<PendingTier, crate::object::ObjectError> {
    let tier = crate::object::open_s3(bucket, prefix, opts)?;
    let listed = crate::object::list_object_tier(&tier, name)?;
    Ok(PendingTier {
        name: name.to_string(),
        tier,
        listed,
        keep_files: false,
    })
}

/// [`read_and_evaluate`], also reading the object tiers `objects` the same way (a chunk of
/// partitions at a time, each checked while its records are in memory, then released unless
/// the tier says to keep them) and handing each local partition to `extra` while its file
/// records are in memory; `extra`'s results come back in the order of `dirs`. The object
/// tiers' own findings (and a tier that fails mid-way) come first.
pub fn read_and_evaluate_with<T: Send>(
    config: Option<&AssemblyConfig>,
    inv: &mut Inventory,
    dirs: Vec<inventory::PartitionDir>,
    objects: Vec<PendingTier>,
    deep: bool,
    extra: impl Fn(&inventory::PartitionInv) -> T + Sync + Send,
) -> (Vec<Finding>, Vec<T>) {
    // Which partition is last decides how strictly `.d` order is checked: known from the
    // names before any partition is read.
    let last_date = last_date(inv, &dirs)
        .into_iter()
        .chain(objects.iter().flat_map(|o| o.listed.dates.iter().cloned()))
        .max();
    let read = {
        let checks = PartitionChecks::new(config, inv, last_date.as_deref());
        inventory::read_partitions(
            dirs,
            |part| {
                let p = inventory::PartRef { part, tier: None };
                let deep_found = if deep { checks.deep(p) } else { Vec::new() };
                ((checks.partition(p), deep_found), extra(part))
            },
            inventory::Detail::Tables,
        )
    };
    let first_local = inv.partitions.len();
    let mut found = Vec::with_capacity(read.len());
    let mut extras = Vec::with_capacity(read.len());
    inventory::add_partitions(
        inv,
        read.into_iter().map(|(p, walk, (seen, x))| {
            found.push(seen);
            extras.push(x);
            (p, walk)
        }),
    );
    // evaluate_with asks for partitions in its own (date) order: find each by its address.
    let mut by_part: std::collections::HashMap<*const inventory::PartitionInv, _> = inv.partitions
        [first_local..]
        .iter()
        .map(|p| p as *const _)
        .zip(found)
        .collect();
    let mut out = Vec::new();
    for pending in objects {
        let PendingTier {
            name,
            tier,
            listed,
            keep_files,
        } = pending;
        let url = listed.inventory.url.clone();
        let read = {
            let checks = PartitionChecks::new(config, inv, last_date.as_deref());
            // Only what a PartRef of this tier needs while its partitions are read.
            let this = inventory::ObjectTierInv {
                name: name.clone(),
                tier: tier.clone(),
                partitions: Vec::new(),
            };
            let detail = if keep_files {
                inventory::Detail::Files
            } else {
                inventory::Detail::Tables
            };
            listed.read(
                &tier,
                |part| {
                    let p = inventory::PartRef {
                        part,
                        tier: Some(&this),
                    };
                    let deep_found = if deep { checks.deep(p) } else { Vec::new() };
                    (checks.partition(p), deep_found)
                },
                detail,
            )
        };
        match read {
            Ok((oi, found)) => {
                out.extend(oi.findings.into_iter().map(|f| f.tier(&name)));
                inv.object_tiers.push(inventory::ObjectTierInv {
                    name,
                    tier,
                    partitions: oi.partitions,
                });
                let parts = &inv.object_tiers[inv.object_tiers.len() - 1].partitions;
                by_part.extend(parts.iter().map(|p| p as *const _).zip(found));
            }
            Err(e) => out.push(
                Finding::error(code::TIER_UNREACHABLE, format!("object tier {name}: {e}"))
                    .tier(&name)
                    .path(url),
            ),
        }
    }
    let checks = PartitionChecks::new(config, inv, last_date.as_deref());
    let mut deep_out = Vec::new();
    out.extend(evaluate_with(
        config,
        inv,
        &mut |p| match by_part.remove(&(p.part as *const _)) {
            Some((f, d)) => {
                deep_out.extend(d);
                f
            }
            None => {
                if deep {
                    deep_out.extend(checks.deep(p));
                }
                checks.partition(p)
            }
        },
    ));
    if deep {
        deep_out.extend(checks.deep_root());
        out.extend(deep_out);
    }
    (out, extras)
}

/// Everything [`evaluate`] checks inside one partition, with what it needs from the rest of
/// the database (configuration, enumeration domains, which date is last) fixed beforehand.
struct PartitionChecks<'a> {
    configured: BTreeMap<&'a str, &'a TableSchema>,
    inv: &'a Inventory,
    last_date: Option<String>,
}

impl<'a> PartitionChecks<'a> {
    fn new(
        config: Option<&'a AssemblyConfig>,
        inv: &'a Inventory,
        last_date: Option<&str>,
    ) -> Self {
        let tables: &[TableSchema] = config.map(|c| c.tables.as_slice()).unwrap_or(&[]);
        PartitionChecks {
            configured: tables.iter().map(|t| (t.name.as_str(), t)).collect(),
            inv,
            last_date: last_date.map(str::to_string),
        }
    }

    /// The findings of every table of one partition.
    fn partition(&self, p: inventory::PartRef) -> Vec<Finding> {
        let mut out = Vec::new();
        for t in &p.part.tables {
            let schema = self
                .configured
                .get(t.name.as_str())
                .copied()
                .filter(|s| !is_splayed(s));
            let order = if self.last_date.as_deref() == Some(p.part.date.as_str()) {
                ColumnOrder::Strict
            } else {
                ColumnOrder::ByName
            };
            check_table(t, schema, Some(&p.part.date), order, self.inv, &mut out);
        }
        if let Some(tier) = p.tier {
            for f in &mut out {
                f.tier = Some(tier.name.clone());
            }
        }
        out
    }

    /// `--deep` for one partition: every column decoded.
    fn deep(&self, p: inventory::PartRef) -> Vec<Finding> {
        let mut jobs = Vec::new();
        for t in &p.part.tables {
            for f in &t.files {
                if f.header.is_ok() && !f.name.ends_with('#') {
                    jobs.push((Some(p.part.date.as_str()), t.name.as_str(), f, p.tier));
                }
            }
        }
        decode_all(jobs, self.inv)
    }

    /// `--deep` for the splayed tables of the root.
    fn deep_root(&self) -> Vec<Finding> {
        let mut jobs = Vec::new();
        for r in &self.inv.root {
            if let RootKind::Splayed(t) = &r.kind {
                for f in &t.files {
                    if f.header.is_ok() && !f.name.ends_with('#') {
                        jobs.push((None, t.name.as_str(), f, None));
                    }
                }
            }
        }
        decode_all(jobs, self.inv)
    }
}

fn is_splayed(t: &TableSchema) -> bool {
    t.kind.eq_ignore_ascii_case("splayed")
}

/// [`evaluate`] with the findings of each partition (local or object) from `partition`,
/// asked once per partition in date order.
fn evaluate_with(
    config: Option<&AssemblyConfig>,
    inv: &Inventory,
    partition: &mut dyn FnMut(inventory::PartRef) -> Vec<Finding>,
) -> Vec<Finding> {
    let mut out = inv.findings.clone();
    let tables: &[TableSchema] = config.map(|c| c.tables.as_slice()).unwrap_or(&[]);
    let configured: BTreeMap<&str, &TableSchema> =
        tables.iter().map(|t| (t.name.as_str(), t)).collect();
    let is_basic = |t: &TableSchema| t.kind.eq_ignore_ascii_case("basic");

    // table -> partitions holding it
    let all = inv.all_partitions();
    let mut seen: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in &all {
        for t in &p.part.tables {
            seen.entry(t.name.as_str())
                .or_default()
                .push(p.part.date.as_str());
        }
    }
    let all_dates: Vec<&str> = all.iter().map(|p| p.part.date.as_str()).collect();
    // The SM import forbids a date in two tiers (kdb+ itself would merge them).
    for w in all.windows(2) {
        if w[0].part.date == w[1].part.date {
            let name = |p: &inventory::PartRef| {
                p.tier
                    .map(|t| format!("tier {}", t.name))
                    .unwrap_or_else(|| "local disk".into())
            };
            out.push(
                Finding::error(
                    code::TIER_OVERLAP,
                    format!(
                        "partition {} is both on {} ({}) and in {} ({}): each date must live in exactly one tier",
                        w[0].part.date,
                        name(&w[0]),
                        w[0].part.path.display(),
                        name(&w[1]),
                        w[1].part.path.display()
                    ),
                )
                .partition(&w[0].part.date)
                .path(w[1].part.path.display())
                .hint("remove one copy (after checking both hold the same data), then run check again"),
            );
        }
    }

    if all.is_empty() {
        // Non-date partitions have their own finding: "no partitions" would mislead there.
        if inv.other_partitions.is_empty() {
            out.push(
                Finding::warning(
                    code::PARTITION_NONE,
                    format!(
                        "no date partitions in {}: only the root files will be imported",
                        inv.source.display()
                    ),
                )
                .path(inv.source.display()),
            );
        }
    } else {
        for t in tables.iter().filter(|t| !is_splayed(t) && !is_basic(t)) {
            if !seen.contains_key(t.name.as_str()) {
                out.push(
                    Finding::error(
                        code::SCHEMA_TABLE_MISSING,
                        format!("table {} is in the configuration but in no partition of the database", t.name),
                    )
                    .table(&t.name)
                    .path(inv.source.display())
                    .hint("remove the table from the assembly configuration, or check that the database path is right"),
                );
            }
        }
    }
    // q discovers a partitioned database's tables from its last partition: a table missing
    // there is invisible to q, whatever the other partitions hold.
    let last_date = all.iter().map(|p| p.part.date.as_str()).max();
    let visible: BTreeSet<&str> = all
        .iter()
        .filter(|p| Some(p.part.date.as_str()) == last_date)
        .flat_map(|p| p.part.tables.iter().map(|t| t.name.as_str()))
        .collect();
    for (name, dates) in &seen {
        let is_visible = visible.contains(name);
        match configured.get(name) {
            None if !is_visible => {
                out.push(
                    Finding::warning(
                        code::LOAD_TABLE_HIDDEN,
                        format!(
                            "table {name} is in {} partition{} ({}) but not in the last partition {}: q discovers tables from the last partition, so it does not see {name}; its directories move with their partitions unchanged",
                            dates.len(), plural(dates.len()), list_some(dates), last_date.unwrap_or("")
                        ),
                    )
                    .table(*name)
                    .partition(dates[0])
                    .path(inv.source.join(dates[0]).join(name).display())
                    .hint(format!("nothing to do if {name} is not meant to be queried; to make it queryable, write it into every partition (e.g. with .Q.chk) and add it to the configuration")),
                );
                continue;
            }
            None if config.is_none() => {}
            None => out.push(
                Finding::error(
                    code::SCHEMA_TABLE_UNEXPECTED,
                    format!("table {name} is on disk ({} partition{}) but not in the configuration", dates.len(), plural(dates.len())),
                )
                .table(*name)
                .partition(dates[0])
                .path(inv.source.join(dates[0]).join(name).display())
                .hint(format!("add table {name} with its columns to the `tables` of the assembly configuration")),
            ),
            Some(t) if is_splayed(t) => out.push(
                Finding::error(
                    code::SCHEMA_TABLE_UNEXPECTED,
                    format!("table {name} is configured as splayed but is partitioned on disk"),
                )
                .table(*name)
                .hint("set its type to partitioned in the assembly configuration"),
            ),
            _ => {}
        }
        if dates.len() < all_dates.len() {
            let missing: Vec<&str> = all_dates
                .iter()
                .filter(|d| !dates.contains(d))
                .copied()
                .collect();
            out.push(
                Finding::error(
                    code::LOAD_TABLE_ABSENT,
                    format!(
                        "table {name} is absent from {} of {} partitions ({}): kdb+ discovers tables from the last partition, so queries fail on partitions without it",
                        missing.len(), all_dates.len(), list_some(&missing)
                    ),
                )
                .table(*name)
                .partition(missing[0])
                .path(inv.source.join(missing[0]).display())
                .hint(format!("write an empty {name} (with .d and empty columns) into each of those partitions, e.g. with .Q.chk")),
            );
        }
    }

    for p in &all {
        out.extend(partition(*p));
    }

    // Splayed tables in the root.
    let root_tables: BTreeSet<&str> = inv
        .root
        .iter()
        .filter_map(|r| match &r.kind {
            RootKind::Splayed(t) => Some(t.name.as_str()),
            _ => None,
        })
        .collect();
    for r in &inv.root {
        match &r.kind {
            RootKind::Splayed(t) => {
                let schema = configured.get(t.name.as_str()).copied();
                match schema {
                    Some(s) if is_splayed(s) => check_table(t, Some(s), None, ColumnOrder::Strict, inv, &mut out),
                    Some(_) => {
                        out.push(Finding::error(
                            code::SCHEMA_TABLE_UNEXPECTED,
                            format!("{} is a splayed table in the database root, but the configuration declares it partitioned", t.name),
                        ).table(&t.name).path(r.path.display()).hint("set its type to splayed in the assembly configuration"));
                        check_table(t, None, None, ColumnOrder::Strict, inv, &mut out);
                    }
                    None if config.is_none() => check_table(t, None, None, ColumnOrder::Strict, inv, &mut out),
                    None => {
                        out.push(Finding::error(
                            code::SCHEMA_TABLE_UNEXPECTED,
                            format!("splayed table {} in the database root is not in the configuration", t.name),
                        ).table(&t.name).path(r.path.display()).hint(format!("add {} with type: splayed and its columns to the assembly configuration", t.name)));
                        check_table(t, None, None, ColumnOrder::Strict, inv, &mut out);
                    }
                }
            }
            RootKind::File { header: Err(FileError::NotKdb(m)) } => out.push(
                Finding::error(
                    code::LOAD_ROOT_NOT_KDB,
                    format!("{} in the database root is not kdb+ data ({m}): `\\l` loads every file of the root, so loading the database fails on it", r.name),
                )
                .path(r.path.display())
                .hint("move it out of the database root (it stays in the backup); if it is a script, give it the .q extension"),
            ),
            RootKind::File { header: Err(e) } => out.push(file_error(e, &r.path).table(&r.name)),
            RootKind::Script => out.push(
                Finding::warning(
                    code::LOAD_ROOT_SCRIPT,
                    format!("{} is a q script in the database root: `\\l` of the database executes it on every load; it moves with the root unchanged", r.name),
                )
                .path(r.path.display())
                .hint("review what it does: it runs in every process that loads this database, before and after the import"),
            ),
            _ => {}
        }
    }
    for t in tables.iter().filter(|t| is_splayed(t)) {
        if !root_tables.contains(t.name.as_str()) {
            out.push(
                Finding::error(
                    code::SCHEMA_TABLE_MISSING,
                    format!(
                        "splayed table {} is in the configuration but not in the database root",
                        t.name
                    ),
                )
                .table(&t.name)
                .path(inv.source.join(&t.name).display())
                .hint("remove it from the configuration or restore the table directory"),
            );
        }
    }
    out
}

/// How a table's `.d` order must match the configuration.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ColumnOrder {
    /// The last partition and root tables: q takes the table's columns, in order, from here.
    Strict,
    /// Earlier partitions: q reads their columns by name (in the last partition's order), so
    /// the same columns in another order load and query the same.
    ByName,
}

fn check_table(
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
    let cols: Vec<String> = match &t.dotd {
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
            out.push(at(Finding::error(
                code::LOAD_CORRUPT,
                format!("cannot read .d: {e}"),
            )
            .path(dotd_path.display())
            .hint("restore .d from the backup")));
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
            out.push(at(Finding::error(
                code::SCHEMA_COLUMNS,
                format!("columns of {} differ from the configuration: {detail}\n      .d:            {}\n      configuration: {}", t.name, have.join(" "), want.join(" ")),
            )
            .path(dotd_path.display())
            .column(have.get(first).or(want.get(first)).copied().unwrap_or(""))
            .hint("make the configured columns match the database (names and order), or fix the table on disk")));
        }
    }

    let mut counts: Vec<(&str, u64)> = Vec::new();
    let mut domains_reported = BTreeSet::new();
    for c in &cols {
        let Some(f) = file(c) else {
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
            if inv.domain(dom).is_none() && domains_reported.insert(dom.clone()) {
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
        let stem = f.name.trim_end_matches('#');
        if listed.contains(f.name.as_str()) || (stem != f.name && listed.contains(stem)) {
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

fn file_error(e: &FileError, path: &Path) -> Finding {
    match e {
        FileError::Unreadable(m) => Finding::error(code::LOAD_UNREADABLE, m.clone())
            .path(path.display())
            .hint("fix the file's permissions so smstage can read it"),
        FileError::Encrypted(m) => Finding::warning(code::LOAD_ENCRYPTED, m.clone())
            .path(path.display())
            .hint("encrypted files are moved unchanged, but smstage cannot verify their contents"),
        FileError::Corrupt(m) => Finding::error(code::LOAD_CORRUPT, m.clone())
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
fn not_a_vector(h: &kdb::Header) -> Option<String> {
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

fn describe(t: LogicalType) -> String {
    t.config_name()
}

fn attr_text(a: kdb::Attr) -> &'static str {
    match a {
        kdb::Attr::None => "none",
        kdb::Attr::Sorted => "sorted",
        kdb::Attr::Unique => "unique",
        kdb::Attr::Parted => "parted",
        kdb::Attr::Grouped => "grouped",
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn list_some(items: &[&str]) -> String {
    const SHOWN: usize = 5;
    let mut s = items
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        s.push_str(&format!(", … {} more", items.len() - SHOWN));
    }
    s
}

/// `--deep`: decode every column; count enumeration indices beyond their domain.
pub fn deep_checks(inv: &Inventory) -> Vec<Finding> {
    let checks = PartitionChecks::new(None, inv, None);
    let mut out: Vec<Finding> = inv
        .all_partitions()
        .into_iter()
        .flat_map(|p| checks.deep(p))
        .collect();
    out.extend(checks.deep_root());
    out
}

type DeepJob<'a> = (
    Option<&'a str>,
    &'a str,
    &'a inventory::FileInv,
    Option<&'a inventory::ObjectTierInv>,
);

/// Decodes the files of `jobs` in parallel; findings in the jobs' order.
fn decode_all(jobs: Vec<DeepJob<'_>>, inv: &Inventory) -> Vec<Finding> {
    let mut out: Vec<(usize, Finding)> = jobs
        .par_iter()
        .enumerate()
        .filter_map(|(i, (part, table, f, tier))| {
            let place = |x: Finding| {
                let x = x.table(*table).column(&f.name).path(f.path().display());
                match part {
                    Some(p) => x.partition(*p),
                    None => x,
                }
            };
            // Local files stream a chunk at a time; an object is fetched whole first.
            let range = match tier {
                None => deep_scan::scan_local(
                    &f.path(),
                    &|d| inv.domain(d).map_or(0, |s| s.len()),
                    deep_scan::chunk_bytes(),
                )
                .map_err(|e| e.to_string()),
                Some(t) => crate::object::read_object_column(&t.tier, &f.path().to_string_lossy())
                    .map_err(|e| e.to_string())
                    .map(|col| deep_scan::range_of(&col.data, &|d| inv.domain(d).map_or(0, |s| s.len()))),
            };
            match range {
                Err(e) => Some((i, place(file_error(&FileError::Corrupt(e), &f.path())))),
                Ok(None) => None,
                Ok(Some(deep_scan::EnumRange { domain, beyond, max })) => {
                    if beyond == 0 {
                        return None;
                    }
                    let n = inv.domain(&domain).map(|d| d.len()).unwrap_or(0);
                    Some((i, place(Finding::warning(
                        code::LOAD_ENUM_RANGE,
                        format!("{beyond} value{} of enumerated column {} index beyond its domain `{domain}` ({n} symbols; largest index {max}, needing {} symbols): kdb+ reads them as null", plural(beyond), f.name, max + 1),
                    ).hint(format!("restore the complete `{domain}` file from the backup if those symbols were lost")))))
                }
            }
        })
        .collect();
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, f)| f).collect()
}
