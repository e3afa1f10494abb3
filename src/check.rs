//! Preconditions of the import: schema, load health, partitions, tiers, backup, SM state.
//! [`evaluate`] is pure over a whole inventory and the configuration; [`read_and_evaluate`]
//! gives the same findings while reading the partitions, checking each as it is read and
//! releasing its file records (what [`run`], which does the I/O around it, uses).

use crate::backup;
use crate::config::{AssemblyConfig, TableSchema};
use crate::finding::{code, Finding, Report};
use crate::inventory::{self, Inventory, RootKind};
use crate::plan::{self, PlanInput, RootEntry, TierInput, TierKind};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub(crate) mod advice;
mod beside_config;
mod deep;
pub mod deep_scan;
mod layout;
mod load;
mod partitions;
mod prerequisites;
mod prtn_dates;
mod ranges;
pub mod rules;
mod schema;
mod segments;
mod sm;
pub(crate) mod tier_space;
mod tiers;

// What set-aside moves is what these findings report (`load-extra-file`, `sm-root-stray`).
pub(crate) use load::{extra_files, extra_links};
pub(crate) use prerequisites::{is_root_stray, stray_what};

pub use beside_config::database_findings;
use deep::decode_all;
pub use deep::deep_checks;
pub(crate) use load::{check_table, file_error, is_untyped_empty, ColumnOrder};
use schema::is_splayed;
pub use segments::is_segmented;
use sm::sm_state;
use tiers::list_object_tiers;
pub use tiers::{hdb_tiers, list_object_tier, object_inventory, PendingTier};

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

impl CheckOutcome {
    /// Checks that stopped before reading the database (it is already SM's, or missing): the
    /// findings that say why, nothing read, no plan.
    fn findings_only(findings: Vec<Finding>) -> CheckOutcome {
        CheckOutcome {
            report: Report::new(findings),
            inventory: None,
            plan: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// Runs every check; never writes anything.
pub fn run(config: &AssemblyConfig, opts: &CheckOptions) -> Result<CheckOutcome, CheckError> {
    run_with(config, opts, None)
}

/// [`run`], each local partition's records changed by `overlay` as soon as they are read
/// (`check --remedy`: the checks judge the database as the remedies will leave it).
pub fn run_with(
    config: &AssemblyConfig,
    opts: &CheckOptions,
    overlay: Option<inventory::Overlay>,
) -> Result<CheckOutcome, CheckError> {
    Ok(run_inner(config, opts, overlay, None, false)?.0)
}

/// [`run_with`], the root's records also changed by `root` once read (set-aside takes the
/// stray root entries out of what the checks and the plan see).
pub fn run_remedied(
    config: &AssemblyConfig,
    opts: &CheckOptions,
    overlay: Option<inventory::Overlay>,
    root: Option<&(dyn Fn(&mut Inventory) + Sync)>,
) -> Result<CheckOutcome, CheckError> {
    Ok(run_inner(config, opts, overlay, root, false)?.0)
}

/// The fingerprint stamps of each local date partition the checks read, in date order:
/// `(date, stamps)`, the stamps None where the read could not take them all
/// ([`inventory::PartitionInv::stamps`]). Empty when the checks read no local partition the
/// plain way (a segmented database, or checks stopped before the partitions).
pub type PartitionStamps = Vec<(String, Option<crate::plan::fingerprint::Entries>)>;

/// [`run`], also stamping every entry below each local partition as it is read (what
/// `commit --config` needs for its plan_id, without a walk of its own).
pub fn run_stamped(
    config: &AssemblyConfig,
    opts: &CheckOptions,
) -> Result<(CheckOutcome, PartitionStamps), CheckError> {
    run_inner(config, opts, None, None, true)
}

fn run_inner(
    config: &AssemblyConfig,
    opts: &CheckOptions,
    overlay: Option<inventory::Overlay>,
    root: Option<&(dyn Fn(&mut Inventory) + Sync)>,
    stamp: bool,
) -> Result<(CheckOutcome, PartitionStamps), CheckError> {
    let base = config.hdb_base_dir()?;
    let source = base.join(plan::SOURCE_DIR);
    let tiers = hdb_tiers(config)?;
    let mut findings = Vec::new();

    findings.extend(sm_state(&base));
    if findings
        .iter()
        .any(|f| f.code == code::SM_ALREADY || f.code == code::SM_PENDING)
    {
        return Ok((CheckOutcome::findings_only(findings), Vec::new()));
    }

    // A segmented database (par.txt in the root): its segments are the local tiers' stores;
    // the remedies change their partitions as they are read, like a plain database's.
    if segments::is_segmented(&source) {
        return Ok((
            segments::run(config, opts, &base, tiers, findings, overlay)?,
            Vec::new(),
        ));
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
    let (mut inv, mut dirs) = match inventory::scan_root(&source, inventory::RootMode::Partitioned)
    {
        Ok(scan) => scan,
        Err(e) => {
            findings
                .push(Finding::error(code::DATABASE_MISSING, e.to_string()).path(source.display()));
            return Ok((CheckOutcome::findings_only(findings), Vec::new()));
        }
    };
    if let Some(root) = root {
        root(&mut inv);
    }
    for d in &mut dirs {
        d.overlay = overlay.clone();
        d.stamp = stamp;
    }
    let objects = list_object_tiers(config, opts, &mut findings)?;
    let (found, read) =
        read_and_evaluate_with(Some(config), &mut inv, dirs, objects, opts.deep, |p| {
            let stamps = stamp.then(|| (p.date.clone(), p.stamps.clone()));
            (tier_space::partition_bytes(p), stamps)
        });
    let (part_bytes, stamps): (Vec<u64>, Vec<_>) = read.into_iter().unzip();
    let stamps: PartitionStamps = stamps.into_iter().flatten().collect();
    findings.extend(found);
    if let Some(primary) = tiers.iter().find(|t| t.kind == TierKind::Local) {
        findings.extend(tier_space::first_tier(
            &primary.name,
            &base,
            &inv,
            part_bytes.iter().sum(),
        ));
    }
    match &opts.backup {
        BackupCheck::Dir(dir) => {
            findings.extend(backup::check_backup(&source, dir, opts.deep));
            advice::enum_domain_advice(&mut findings, &source, dir);
        }
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
    Ok((
        CheckOutcome {
            report,
            inventory: Some(inv),
            plan,
        },
        stamps,
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

/// Every precondition that can be decided from the inventory and the configuration alone.
/// Without a configuration (`verify` without `--config`) only load health is checked.
pub fn evaluate(config: Option<&AssemblyConfig>, inv: &Inventory) -> Vec<Finding> {
    let all = inv.all_partitions();
    let last_date = all.iter().map(|p| p.part.date.as_str()).max();
    let facts = prerequisites::Facts::default();
    let checks = PartitionChecks::new(config, inv, last_date).with_facts(&facts);
    let mut out = evaluate_with(config, inv, &mut |p| checks.partition(p));
    out.extend(prerequisites::findings(
        config,
        inv,
        &facts,
        is_segmented(&inv.source),
    ));
    out
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
    let facts = prerequisites::Facts::default();
    let read = {
        let checks = PartitionChecks::new(config, inv, last_date.as_deref()).with_facts(&facts);
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
            let checks = PartitionChecks::new(config, inv, last_date.as_deref()).with_facts(&facts);
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
    let checks = PartitionChecks::new(config, inv, last_date.as_deref()).with_facts(&facts);
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
    out.extend(prerequisites::findings(
        config,
        inv,
        &facts,
        is_segmented(&inv.source),
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
    config: Option<&'a AssemblyConfig>,
    configured: BTreeMap<&'a str, &'a TableSchema>,
    inv: &'a Inventory,
    last_date: Option<String>,
    /// Where the SM prerequisites gather what they judge over the whole database.
    facts: Option<&'a prerequisites::Facts>,
}

impl<'a> PartitionChecks<'a> {
    fn new(
        config: Option<&'a AssemblyConfig>,
        inv: &'a Inventory,
        last_date: Option<&str>,
    ) -> Self {
        let tables: &[TableSchema] = config.map(|c| c.tables.as_slice()).unwrap_or(&[]);
        PartitionChecks {
            config,
            configured: tables.iter().map(|t| (t.name.as_str(), t)).collect(),
            inv,
            last_date: last_date.map(str::to_string),
            facts: None,
        }
    }

    fn with_facts(self, facts: &'a prerequisites::Facts) -> Self {
        PartitionChecks {
            facts: Some(facts),
            ..self
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
        if let (Some(config), Some(facts)) = (self.config, self.facts) {
            facts.record(config, p);
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
                if f.header.is_ok() && !f.name.ends_with('#') && !p.part.is_pending(&f.path()) {
                    jobs.push((Some(p.part.date.as_str()), t.name.as_str(), f, p.tier));
                }
            }
        }
        let mut out = decode_all(jobs, self.inv);
        if let Some(config) = self.config {
            out.extend(prtn_dates::partition(config, p));
        }
        out
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

/// [`evaluate`] with the findings of each partition (local or object) from `partition`,
/// asked once per partition in date order. The families run in a fixed order, so the
/// findings come in the same order on every run.
fn evaluate_with(
    config: Option<&AssemblyConfig>,
    inv: &Inventory,
    partition: &mut dyn FnMut(inventory::PartRef) -> Vec<Finding>,
) -> Vec<Finding> {
    let mut out = inv.findings.clone();
    let tables: &[TableSchema] = config.map(|c| c.tables.as_slice()).unwrap_or(&[]);
    let all = inv.all_partitions();
    let seen: BTreeSet<&str> = all
        .iter()
        .flat_map(|p| p.part.tables.iter().map(|t| t.name.as_str()))
        .collect();
    out.extend(partitions::tier_overlaps(&all));
    out.extend(schema::partitioned_tables_missing(tables, inv, &all, &seen));
    out.extend(partitions::table_presence(config, inv, &all));
    for p in &all {
        out.extend(partition(*p));
    }
    out.extend(layout::root_entries(config, inv));
    out.extend(schema::splayed_tables_missing(tables, inv));
    out
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
