//! The remedies through `check` and `plan --save`: the checks run on the remedied records, the
//! refusals join the report, and (saving) the files are staged and put in the plan.

use super::action::Action;
use super::session::Session;
use super::stage::{self, StageError};
use crate::check::{self, CheckError, CheckOptions, CheckOutcome};
use crate::config::AssemblyConfig;
use crate::finding::{code, Finding, Report};
use crate::plan::fingerprint::{Fingerprint, FsKind};
use crate::plan::remedied::{self, PlanRemedies};
use crate::plan::Plan;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What one remedy does, for `check --remedy` (the `remedies` array of `--format json`).
#[derive(Clone, Debug, Serialize)]
pub struct RemedyReport {
    /// As given on the command line.
    pub remedy: String,
    /// One line per table of each partition: what it will write.
    pub actions: Vec<String>,
}

/// The checks with the remedies of `session` applied; the remedies' refusals are findings of
/// the report (a plan only when nothing refuses).
pub fn check(
    config: &AssemblyConfig,
    opts: &CheckOptions,
    session: &Arc<Session>,
) -> Result<(CheckOutcome, Vec<Action>), CheckError> {
    let root = session.root_overlay();
    let root = root
        .as_ref()
        .map(|f| f as &(dyn Fn(&mut crate::inventory::Inventory) + Sync));
    let mut outcome = check::run_remedied(config, opts, Some(session.overlay()), root)?;
    let (actions, mut refusals) = session.finish();
    if let Some(inv) = &outcome.inventory {
        refusals.extend(session.object_refusals(inv));
    }
    refusals.extend(super::segmented::refusals(
        &config.hdb_base_dir()?,
        &session.anchors,
        &session.remedies,
    ));
    if !refusals.is_empty() {
        let mut f = std::mem::take(&mut outcome.report.findings);
        f.extend(refusals);
        outcome.report = Report::new(f);
        outcome.plan = None;
    }
    Ok((outcome, actions))
}

/// The report of each remedy given.
pub fn reports(session: &Session, actions: &[Action]) -> Vec<RemedyReport> {
    session
        .remedies
        .iter()
        .map(|r| {
            let given = r.to_string();
            let actions = actions
                .iter()
                .filter(|a| a.is_of(r))
                .map(Action::describe)
                .collect();
            RemedyReport {
                remedy: given,
                actions,
            }
        })
        .collect()
}

/// Stages the actions' files and puts them in `plan` (the staging directory is named by the
/// unremedied plan, its fingerprint and the remedies). On a refusal found while staging (a
/// derived value off its day), the finding; on another failure, the error.
pub fn stage_into_plan(
    plan: &mut Plan,
    fingerprint: &Fingerprint,
    given: Vec<String>,
    actions: &[Action],
) -> Result<(), StageFailure> {
    let id = stage::stage_id(plan, fingerprint, &given);
    let stage_rel = stage::stage_rel(&id);
    let anchors = super::segmented::Anchors::of_plan(plan);
    let (files, dirs) = stage::stage_with(&plan.base, &anchors, &plan.source, &stage_rel, actions).map_err(|e| {
        if e.is_refusal() {
            StageFailure::Refused(Box::new(
                Finding::error(code::REMEDY_REFUSED, e.to_string())
                    .hint("name another source column, or fix the source on disk; the partial stage was removed and the database is untouched"),
            ))
        } else {
            StageFailure::Error(e)
        }
    })?;
    let rem = PlanRemedies {
        stage: stage_rel,
        files,
        dirs,
        ..unstaged(given, actions)
    };
    let children = children_of(
        fingerprint,
        plan,
        &remedied::listings_needed_with(plan, &rem.files, &rem.dirs, &rem.aside),
    );
    remedied::apply(plan, rem, &children).map_err(|e| StageFailure::Plan(e.to_string()))
}

/// What the remedies `given` record in a plan from their `actions`, nothing staged yet (no
/// stage, files or directories): `plan --remedy` without `--save` shows this, `--save` adds
/// the staged files, and `commit --plan` compares it with the saved plan's.
pub fn unstaged(given: Vec<String>, actions: &[Action]) -> PlanRemedies {
    PlanRemedies {
        given,
        stage: String::new(),
        actions: actions.iter().map(Action::describe).collect(),
        files: Vec::new(),
        derived: derived_of(actions),
        filled: filled_of(actions),
        dirs: Vec::new(),
        added: added_of(actions),
        sym_appended: sym_appended_of(actions),
        aside: aside_of(actions),
    }
}

/// The derived columns of `actions`, as the plan records them.
pub fn derived_of(actions: &[Action]) -> Vec<crate::plan::DerivedColumn> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Derive(a) => Some(a),
            _ => None,
        })
        .map(|a| crate::plan::DerivedColumn {
            date: a.date.clone(),
            table: a.table.clone(),
            column: a.column.clone(),
            source: a.source.clone(),
        })
        .collect()
}

/// The empty tables of `actions`, as the plan records them.
pub fn filled_of(actions: &[Action]) -> Vec<crate::plan::FilledTable> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Fill(a) => Some(crate::plan::FilledTable {
                date: a.date.clone(),
                table: a.table.clone(),
                columns: a.dotd(),
            }),
            _ => None,
        })
        .collect()
}

/// The entries set aside by `actions`, as the plan records them (sorted by path).
pub fn aside_of(actions: &[Action]) -> Vec<crate::plan::AsideEntry> {
    let mut v: Vec<crate::plan::AsideEntry> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Aside(a) => Some(crate::plan::AsideEntry {
                path: a.path.clone(),
                aside: a.aside.clone(),
                is_dir: a.is_dir,
            }),
            _ => None,
        })
        .collect();
    v.sort_by(|x, y| x.path.cmp(&y.path));
    v
}

/// The null-filled columns of `actions`, as the plan records them.
pub fn added_of(actions: &[Action]) -> Vec<crate::plan::AddedColumn> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Add(a) => Some(a),
            _ => None,
        })
        .flat_map(|a| {
            a.columns.iter().map(|c| crate::plan::AddedColumn {
                date: a.date.clone(),
                table: a.table.clone(),
                column: c.name.clone(),
            })
        })
        .collect()
}

/// What of a saved plan's remedies the same remedies derived from the database now would
/// record otherwise, in words (None when all is the same). The fingerprint proves the
/// database's own files unchanged, but a remedy may read through a root symbolic link (one-sym
/// reads a linked domain where it leads), whose target no fingerprint stamps: a domain
/// rewritten there changes what one-sym appends while every stamp stays the same.
pub fn differs_from_saved(actions: &[Action], saved: &PlanRemedies) -> Option<String> {
    let now = unstaged(saved.given.clone(), actions);
    let fields = [
        ("the actions", now.actions != saved.actions),
        ("the derived columns", now.derived != saved.derived),
        ("the filled tables", now.filled != saved.filled),
        ("the added columns", now.added != saved.added),
        (
            "the symbols one-sym appends to sym",
            now.sym_appended != saved.sym_appended,
        ),
        ("the entries set aside", now.aside != saved.aside),
    ];
    let first = fields.iter().find(|(_, differs)| *differs)?.0;
    let first_action = now
        .actions
        .iter()
        .zip(&saved.actions)
        .find(|(now, then)| now != then)
        .map(|(now, then)| format!(": saved \"{then}\", now \"{now}\""))
        .unwrap_or_default();
    Some(format!("{first} differ{first_action}"))
}

/// The symbols one-sym appends to `sym`, as the plan records them.
pub fn sym_appended_of(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Sym(s) => Some(s.appended.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

#[derive(Debug)]
pub enum StageFailure {
    Refused(Box<Finding>),
    Error(StageError),
    Plan(String),
}

/// Puts the saved remedies in a plan derived again (commit --plan compares the two).
pub fn reapply(plan: &mut Plan, saved: &Plan, fingerprint: &Fingerprint) -> Result<(), String> {
    let Some(rem) = &saved.remedies else {
        return Ok(());
    };
    let id = rem.stage.strip_prefix(&format!("{}/", remedied::STAGE_DIR));
    if !id.is_some_and(|id| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err(format!(
            "its staging directory {} is not {}/<stage id>",
            rem.stage,
            remedied::STAGE_DIR
        ));
    }
    let anchors = super::segmented::Anchors::of_plan(plan);
    for f in &rem.files {
        let inside = (f.path.starts_with(&format!("{}/", plan.source))
            || anchors.contains(&f.path))
            && !f
                .path
                .split('/')
                .any(|c| c == ".." || c == "." || c.is_empty());
        if !inside || f.staged != format!("{}/{}", rem.stage, f.path) {
            return Err(format!(
                "its staged file {} for {} is not the staging directory's copy of a database path",
                f.staged, f.path
            ));
        }
    }
    for d in &rem.dirs {
        let inside = (d.path.starts_with(&format!("{}/", plan.source))
            || anchors.contains(&d.path))
            && !d
                .path
                .split('/')
                .any(|c| c == ".." || c == "." || c.is_empty());
        if !inside || d.staged != format!("{}/{}", rem.stage, d.path) {
            return Err(format!(
                "its staged directory {} for {} is not the staging directory's copy of a database path",
                d.staged, d.path
            ));
        }
    }
    for a in &rem.aside {
        let inside = a.path.starts_with(&format!("{}/", plan.source))
            && !a
                .path
                .split('/')
                .any(|c| c == ".." || c == "." || c.is_empty());
        if !inside || a.aside != super::aside::aside_of(&plan.source, &a.path) {
            return Err(format!(
                "its entry {} set aside as {} is not a database path moved to its place under {}/",
                a.path,
                a.aside,
                super::aside::ASIDE_DIR
            ));
        }
    }
    let children = children_of(
        fingerprint,
        plan,
        &remedied::listings_needed_with(plan, &rem.files, &rem.dirs, &rem.aside),
    );
    remedied::apply(plan, rem.clone(), &children).map_err(|e| e.to_string())
}

/// The entries of each directory of `dirs` (relative to the baseURI, inside the plan's source
/// or, for a segmented database, below a store's anchor), from the fingerprint's record of the
/// database and of its segments.
pub fn children_of(
    fp: &Fingerprint,
    plan: &Plan,
    dirs: &BTreeSet<String>,
) -> BTreeMap<String, Vec<(String, bool)>> {
    let mut out: BTreeMap<String, Vec<(String, bool)>> =
        dirs.iter().map(|d| (d.clone(), Vec::new())).collect();
    let mut list = |top: &str, entries: &crate::plan::fingerprint::Entries| {
        for e in entries.iter() {
            if e.path == "." {
                continue;
            }
            let (dir, name) = match e.path.rsplit_once('/') {
                Some((d, n)) => (format!("{top}/{d}"), n.to_string()),
                None => (top.to_string(), e.path.clone()),
            };
            if let Some(v) = out.get_mut(&dir) {
                v.push((name, e.kind == FsKind::Dir));
            }
        }
    };
    list(&plan.source, &fp.entries);
    // A segment's entries are stamped relative to its directory; the plan reaches it through
    // its anchor.
    for store in &plan.stores {
        if let Some(seg) = fp.segments.iter().find(|s| s.dir == store.dir) {
            list(&store.path, &seg.entries);
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}
