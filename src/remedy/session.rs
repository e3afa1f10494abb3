//! One `check --remedy` / `plan --remedy` run: the remedies resolved against the configuration,
//! then applied to each partition's records as `check` reads it (so every check judges the
//! database as it will be), collecting what each remedy will write and what the database
//! refuses. Writes nothing.

use super::action::Action;
use super::add::{self, AddTarget};
use super::aside;
use super::derive::{self, DeriveAction, Target, TargetError};
use super::fill::{self, FillError, FillTarget};
use super::onesym;
use super::produce::{self, Job};
use super::spec::Remedy;
use crate::config::AssemblyConfig;
use crate::finding::{code, Finding};
use crate::inventory::{Inventory, Overlay, PartitionInv};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SessionError {
    #[error(transparent)]
    Target(#[from] Box<TargetError>),
    #[error(transparent)]
    Fill(#[from] FillError),
    #[error("--remedy {0}: not available in this smstage yet (only derive-prtncol, fill-tables, add-columns, set-aside and one-sym are); nothing was read or written")]
    NotYet(String),
    #[error("--remedy fill-tables: writing the empty table {table} to judge it (in a temporary directory, outside the database): {detail}")]
    Template { table: String, detail: String },
}

#[derive(Debug)]
pub struct Session {
    pub remedies: Vec<Remedy>,
    targets: Vec<Target>,
    fills: Vec<FillTarget>,
    adds: Vec<AddTarget>,
    /// The tables one-sym re-enumerates (empty without it).
    onesym: Vec<String>,
    /// set-aside given: the configuration, to tell what SM refuses.
    aside: Option<AssemblyConfig>,
    /// Each fill target's empty table, written once by the producers that stage it, so that
    /// `check` reads the filled partitions' tables as they will be (headers and all).
    templates: Option<tempfile::TempDir>,
    base: PathBuf,
    /// A segmented database's segments: its partitions are named through their anchors.
    pub anchors: super::segmented::Anchors,
    actions: Mutex<Vec<Action>>,
    refusals: Mutex<Vec<Finding>>,
    /// `check --deep`: every derived value is computed and checked as it is read (nothing
    /// written), so the refusals staging would meet are found first.
    check_rows: AtomicBool,
}

impl Session {
    /// Resolves `remedies` against `config` (refusing, before anything is read, a remedy the
    /// configuration alone rules out). `base` is the HDB mount's baseURI directory.
    pub fn new(
        config: &AssemblyConfig,
        base: &Path,
        remedies: Vec<Remedy>,
    ) -> Result<Arc<Session>, SessionError> {
        if let Some(r) = remedies.iter().find(|r| {
            !matches!(
                r,
                Remedy::DerivePrtnCol { .. }
                    | Remedy::FillTables
                    | Remedy::AddColumns
                    | Remedy::OneSym
                    | Remedy::SetAside
            )
        }) {
            return Err(SessionError::NotYet(r.to_string()));
        }
        let targets = derive::targets(config, &remedies).map_err(Box::new)?;
        let fills = fill::targets(config, &remedies)?;
        let adds = add::targets(config, &remedies);
        let onesym = onesym::targets(config, &remedies);
        let aside = remedies
            .iter()
            .any(|r| matches!(r, Remedy::SetAside))
            .then(|| config.clone());
        let templates = if fills.is_empty() {
            None
        } else {
            Some(templates(&fills)?)
        };
        Ok(Arc::new(Session {
            remedies,
            targets,
            fills,
            adds,
            onesym,
            aside,
            templates,
            base: base.to_path_buf(),
            anchors: super::segmented::Anchors::of_config(config, base),
            actions: Mutex::new(Vec::new()),
            refusals: Mutex::new(Vec::new()),
            check_rows: AtomicBool::new(false),
        }))
    }

    /// `check --deep --remedy`: derive every row while reading (see `check_rows`).
    pub fn check_rows(&self) {
        self.check_rows.store(true, Ordering::Relaxed);
    }

    /// The change each partition's records get as they are read.
    pub fn overlay(self: &Arc<Self>) -> Overlay {
        let me = Arc::clone(self);
        Overlay(Arc::new(move |p: &mut PartitionInv| me.visit(p)))
    }

    /// A partition or table directory as the plan names it: relative to the baseURI (a
    /// segment's through its anchor).
    fn rel(&self, path: &Path) -> String {
        self.anchors.rel(&self.base, path)
    }

    /// The change the root's records get once read (set-aside's root strays), or none.
    pub fn root_overlay(&self) -> Option<impl Fn(&mut Inventory) + Sync + '_> {
        let config = self.aside.as_ref()?;
        Some(move |inv: &mut Inventory| {
            let one_sym = self.remedies.iter().any(|r| matches!(r, Remedy::OneSym));
            let moves = aside::plan_root(config, &self.base, crate::plan::SOURCE_DIR, inv, one_sym);
            self.record_asides(moves);
        })
    }

    /// Collects set-aside's moves, each refused when its destination is taken.
    fn record_asides(&self, moves: Vec<aside::AsideAction>) {
        let refusals: Vec<Finding> = moves
            .iter()
            .filter_map(|a| {
                aside::occupied(&self.base, a).or_else(|| aside::unreachable(&self.base, a))
            })
            .collect();
        if let Ok(mut a) = self.actions.lock() {
            a.extend(moves.into_iter().map(Action::Aside));
        }
        if let Ok(mut r) = self.refusals.lock() {
            // One finding per blocking path, however many moves it blocks.
            for f in refusals {
                if !r.iter().any(|x| x.message == f.message) {
                    r.push(f);
                }
            }
        }
    }

    fn visit(&self, part: &mut PartitionInv) {
        let mut actions = Vec::new();
        let mut refusals = Vec::new();
        if let Some(config) = &self.aside {
            let moves = aside::plan_partition(config, &self.base, crate::plan::SOURCE_DIR, part);
            self.record_asides(moves);
        }
        self.fill(part, &mut actions);
        for table in &mut part.tables {
            let Some(t) = self.targets.iter().find(|t| t.table == table.name) else {
                continue;
            };
            let rel = self.rel(&table.path);
            match derive::plan_table(t, &part.date, &rel, table) {
                Ok(Some(a)) => {
                    if self.check_rows.load(Ordering::Relaxed) {
                        refusals.extend(derivation_refusal(&a, &table.path, &part.date));
                    }
                    derive::apply(&a, table);
                    actions.push(Action::Derive(a));
                }
                Ok(None) => {}
                Err(r) => refusals.push(
                    refusal(
                        &r,
                        &part.date,
                        table,
                        format!(
                            "name another source (`--remedy derive-prtncol:{}=COLUMN`), or fix the table on disk",
                            t.table
                        )),
                ),
            }
        }
        self.add(part, &mut actions, &mut refusals);
        self.reenumerate(part, &mut actions, &mut refusals);
        part.pending
            .extend(actions.iter().flat_map(|a| self.pending_of(a)));
        if let Ok(mut a) = self.actions.lock() {
            a.extend(actions);
        }
        if let Ok(mut r) = self.refusals.lock() {
            r.extend(refusals);
        }
    }

    /// Adds to `part`'s tables the null columns add-columns writes (after the derivations, whose
    /// `.d` then lists them too).
    fn add(&self, part: &mut PartitionInv, actions: &mut Vec<Action>, refusals: &mut Vec<Finding>) {
        let mut added = Vec::new();
        for table in &mut part.tables {
            let Some(t) = self.adds.iter().find(|t| t.table == table.name) else {
                continue;
            };
            let rel = self.rel(&table.path);
            // A table fill-tables writes has every configured column already.
            if actions
                .iter()
                .any(|a| matches!(a, Action::Fill(f) if f.dir == rel))
            {
                continue;
            }
            match add::plan_table(t, &part.date, &rel, table) {
                Ok(Some(mut a)) => {
                    add::apply(&a, table);
                    for d in actions.iter_mut() {
                        if let Action::Derive(d) = d {
                            if d.dir == a.dir {
                                d.dotd = a.dotd.clone();
                                a.writes_dotd = false;
                            }
                        }
                    }
                    added.push(Action::Add(a));
                }
                Ok(None) => {}
                Err(r) => refusals.push(refusal(
                    &r,
                    &part.date,
                    table,
                    "fix the table on disk, or configure the column out",
                )),
            }
        }
        actions.extend(added);
    }

    /// Names `sym` as the domain of the columns one-sym re-enumerates (the remaps come once
    /// every partition is read: [`Session::finish`]).
    fn reenumerate(
        &self,
        part: &mut PartitionInv,
        actions: &mut Vec<Action>,
        refusals: &mut Vec<Finding>,
    ) {
        for table in &mut part.tables {
            if !self.onesym.contains(&table.name) {
                continue;
            }
            let rel = self.rel(&table.path);
            match onesym::plan_table(&part.date, &rel, table) {
                Ok(Some(a)) => {
                    onesym::apply(&a, table);
                    actions.push(Action::Reenum(a));
                }
                Ok(None) => {}
                Err(r) => refusals.push(refusal(
                    &r,
                    &part.date,
                    table,
                    "re-enumerate the column against sym with q, or configure the table out",
                )),
            }
        }
    }

    /// The new `sym`, every re-enumerated column's remap and the index of add-columns' null
    /// symbol, from the root's domain files (read here, once every partition named the
    /// domains it uses).
    fn plan_syms(&self, actions: &mut Vec<Action>, refusals: &mut Vec<Finding>) {
        let mut domains: std::collections::BTreeMap<String, Vec<Vec<u8>>> = Default::default();
        for a in actions.iter() {
            if let Action::Reenum(a) = a {
                for c in &a.columns {
                    domains.entry(c.domain.clone()).or_default();
                }
            }
        }
        let nulls = actions
            .iter()
            .any(|a| matches!(a, Action::Add(a) if a.has_symbols()));
        if domains.is_empty() && !nulls {
            return;
        }
        let source = crate::plan::SOURCE_DIR;
        let root = self.base.join(source);
        let refuse = |r: onesym::OneSymRefusal, path: PathBuf| {
            Finding::error(code::REMEDY_REFUSED, r.to_string())
                .path(path.display())
                .hint("one-sym needs a readable root sym and every domain file its columns name")
        };
        let sym_path = root.join(onesym::SYM);
        if !sym_path.exists() {
            let r = if domains.is_empty() {
                onesym::OneSymRefusal::NoSymForNulls
            } else {
                onesym::OneSymRefusal::NoSym {
                    domains: domains.keys().cloned().collect(),
                }
            };
            refusals.push(refuse(r, sym_path));
            return;
        }
        // As bytes: symbols are matched and appended as kdb+ stores them.
        let read = |name: &str| {
            let path = root.join(name);
            crate::kdb::read_symbol_bytes(&path).map_err(|e| {
                // A root link is read through (set-aside keeps or moves it as the domain it
                // leads to): an error about its target alone would not say why `ls` shows it.
                let link = std::fs::read_link(&path)
                    .map(|t| format!("; {name} is a symbolic link to {}", t.display()))
                    .unwrap_or_default();
                onesym::OneSymRefusal::Domain {
                    domain: name.into(),
                    detail: format!("{e}{link}"),
                }
            })
        };
        let sym = match read(onesym::SYM) {
            Ok(s) => s,
            Err(r) => return refusals.push(refuse(r, sym_path)),
        };
        for (d, symbols) in domains.iter_mut() {
            match read(d) {
                Ok(s) => *symbols = s,
                Err(r) => return refusals.push(refuse(r, root.join(d))),
            }
        }
        let mut plan = match onesym::plan_syms(&sym, &domains) {
            Ok(p) => p,
            Err(r) => return refusals.push(refuse(r, sym_path)),
        };
        // One new sym for every remedy: one-sym's appends, then the empty symbol when the
        // null symbol columns need it and neither has it.
        let mut empty_for_nulls = false;
        if nulls && onesym::empty_index(&sym, &plan.appended).is_none() {
            plan.appended.push(String::new());
            empty_for_nulls = true;
        }
        // Staging copies sym's bytes as they are: it cannot append to a compressed one.
        if !plan.appended.is_empty() && is_zipped(&sym_path) {
            let who = if domains.is_empty() {
                "add-columns"
            } else {
                "one-sym"
            };
            let r = onesym::OneSymRefusal::CompressedSym {
                who,
                n: plan.appended.len(),
            };
            return refusals.push(refuse(r, sym_path));
        }
        let null_index = onesym::empty_index(&sym, &plan.appended);
        for a in actions.iter_mut() {
            if let Action::Add(a) = a {
                if a.has_symbols() {
                    a.null_sym_index = null_index;
                }
            }
        }
        for a in actions.iter_mut() {
            if let Action::Reenum(a) = a {
                for c in &mut a.columns {
                    if let Some(r) = plan.remaps.get(&c.domain) {
                        c.remap = r.clone();
                    }
                }
            }
        }
        // Every symbol already in sym: sym stays as it is.
        if !plan.appended.is_empty() {
            actions.push(Action::Sym(onesym::SymAction {
                dir: source.to_string(),
                old_len: sym.len(),
                appended: plan.appended,
                from: plan.from,
                empty_for_nulls,
            }));
        }
    }

    /// Adds to `part` the empty tables fill-tables writes there (read from the templates).
    fn fill(&self, part: &mut PartitionInv, actions: &mut Vec<Action>) {
        let Some(tpl) = &self.templates else {
            return;
        };
        let rel = self.rel(&part.path);
        // A table there as a symbolic link is not absent: filling its name would write an
        // empty table over the way to its data (the link keeps its error instead).
        let present: Vec<&str> = part
            .tables
            .iter()
            .map(|t| t.name.as_str())
            .chain(part.links.iter().map(|l| l.name.as_str()))
            .collect();
        let fills = fill::plan_partition(&self.fills, &part.date, &rel, &present);
        for a in fills {
            // The template's own findings (none for what the producers write) are not the
            // database's.
            let mut ignored = Vec::new();
            let dir = tpl.path().join(&a.table);
            let mut t = crate::inventory::read_table(&a.table, &dir, tpl.path(), &mut ignored);
            t.path = part.path.join(&a.table);
            // Findings name the file where it will be, not the template.
            let at: std::sync::Arc<Path> = std::sync::Arc::from(t.path.as_path());
            for f in &mut t.files {
                f.dir = at.clone();
            }
            let at = part.tables.partition_point(|x| x.name < t.name);
            part.tables.insert(at, t);
            actions.push(Action::Fill(a));
        }
    }

    /// The paths `a` writes, absolute: not on disk until the commit.
    fn pending_of(&self, a: &Action) -> Vec<PathBuf> {
        let dir = self.anchors.original(&self.base, a.dir());
        match a {
            Action::Derive(d) => vec![dir.join(&d.column)],
            Action::Add(x) => x
                .columns
                .iter()
                .flat_map(|c| [dir.join(&c.name), dir.join(format!("{}#", c.name))])
                .collect(),
            Action::Fill(_) => vec![dir],
            // Moves an entry out: nothing new appears where it was.
            Action::Aside(_) => Vec::new(),
            // Rewrites columns in place of their originals, which --deep decodes against the
            // domain their own header names (the remap only renames those symbols); the new
            // root sym is no partition's.
            Action::Reenum(_) | Action::Sym(_) => Vec::new(),
        }
    }

    /// Every partition of an object tier of `inv` that a remedy would write into (or refuse),
    /// refused by name: smstage never writes to object storage, so the remedies apply to local
    /// partitions only. One `remedy-refused` per table of each such partition.
    pub fn object_refusals(&self, inv: &Inventory) -> Vec<Finding> {
        let mut out = Vec::new();
        for tier in &inv.object_tiers {
            for part in &tier.partitions {
                let mut what: Vec<(String, String)> = Vec::new();
                let present: Vec<&str> = part.tables.iter().map(|t| t.name.as_str()).collect();
                for f in fill::plan_partition(&self.fills, &part.date, "", &present) {
                    what.push((
                        f.table.clone(),
                        "fill-tables would write it (absent here)".into(),
                    ));
                }
                for table in &part.tables {
                    if let Some(t) = self.targets.iter().find(|t| t.table == table.name) {
                        if !matches!(derive::plan_table(t, &part.date, "", table), Ok(None)) {
                            what.push((
                                table.name.clone(),
                                format!("derive-prtncol would write its {}", t.column),
                            ));
                        }
                    }
                    if let Some(t) = self.adds.iter().find(|t| t.table == table.name) {
                        if !matches!(add::plan_table(t, &part.date, "", table), Ok(None)) {
                            what.push((
                                table.name.clone(),
                                "add-columns would write its absent configured columns".into(),
                            ));
                        }
                    }
                }
                for (table, why) in what {
                    out.push(
                        Finding::error(
                            code::REMEDY_REFUSED,
                            format!(
                                "partition {} of object tier {} ({}/{}), table {table}: {why}, but smstage never writes to object storage: the remedies apply to local partitions only",
                                part.date,
                                tier.name,
                                tier.tier.url(),
                                part.date
                            ),
                        )
                        .tier(&tier.name)
                        .partition(&part.date)
                        .table(&table)
                        .hint("fix that partition in the bucket (rewrite it with q and upload it), or bring it back to a local segment before the import"),
                    );
                }
            }
        }
        out
    }

    /// What the run found: the actions (sorted by table directory) and the refusals.
    pub fn finish(&self) -> (Vec<Action>, Vec<Finding>) {
        let mut a = self
            .actions
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default();
        let mut r = self
            .refusals
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        self.plan_syms(&mut a, &mut r);
        a.sort_by(|x, y| x.dir().cmp(y.dir()));
        (a, r)
    }
}

/// A remedy refused for one table of one partition (`remedy-refused`), with what to do.
fn refusal(
    r: &impl std::fmt::Display,
    date: &str,
    table: &crate::inventory::TableInv,
    hint: impl Into<String>,
) -> Finding {
    Finding::error(code::REMEDY_REFUSED, r.to_string())
        .partition(date)
        .table(&table.name)
        .path(table.path.display())
        .hint(hint)
}

/// Whether the file at `path` starts with kdb+'s `kxzipped` magic (unreadable: not zipped;
/// reading it reports the error).
fn is_zipped(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == crate::kdb::unzip::MAGIC_ZIPPED)
}

/// The derivation of `a` checked row by row from its source in `table_dir`, nothing written:
/// a `remedy-refused` finding naming the file, row and value where staging would refuse.
fn derivation_refusal(a: &DeriveAction, table_dir: &Path, date: &str) -> Option<Finding> {
    let source = table_dir.join(&a.source);
    let e = match crate::dates::parse_date(date) {
        Some(d) => produce::check_derivation(&source, d).err()?,
        None => return None,
    };
    Some(
        Finding::error(
            code::REMEDY_REFUSED,
            format!("derive-prtncol: {}/{}: {e}", a.dir, a.column),
        )
        .partition(date)
        .table(&a.table)
        .path(source.display())
        .hint("name another source column (`--remedy derive-prtncol:TABLE=COLUMN`), or fix the source on disk"),
    )
}

/// One line per action: what it will write.
pub fn describe(a: &DeriveAction) -> String {
    format!(
        "derive-prtncol: {}/{} = {} + {} (new column file; .d rewritten as: {})",
        a.dir,
        a.column,
        a.date,
        a.source,
        a.dotd.join(" ")
    )
}

/// The fill targets' empty tables, written by the producers into a temporary directory (one
/// sub-directory per table).
fn templates(fills: &[FillTarget]) -> Result<tempfile::TempDir, SessionError> {
    let fail = |table: &str, detail: String| SessionError::Template {
        table: table.into(),
        detail,
    };
    let tmp = tempfile::tempdir().map_err(|e| fail("(all)", e.to_string()))?;
    for t in fills {
        let dir = tmp.path().join(&t.table);
        std::fs::create_dir(&dir).map_err(|e| fail(&t.table, e.to_string()))?;
        let a = fill::FillAction {
            date: String::new(),
            table: t.table.clone(),
            dir: String::new(),
            columns: t.columns.clone(),
        };
        for job in fill_jobs(&a, &dir) {
            produce::produce(&job).map_err(|e| fail(&t.table, e.to_string()))?;
        }
    }
    Ok(tmp)
}

/// The jobs that write `a`'s empty table into `dir`: every configured column empty, then `.d`.
pub fn fill_jobs(a: &fill::FillAction, dir: &Path) -> Vec<Job> {
    let mut jobs: Vec<Job> = a
        .columns
        .iter()
        .map(|c| Job::EmptyColumn {
            ty: c.ty,
            domain: c.domain(),
            attr: c.empty_attr(),
            out: dir.join(&c.name),
            zip: None,
        })
        .collect();
    jobs.push(Job::DotD {
        columns: a.dotd(),
        out: dir.join(".d"),
    });
    jobs
}
