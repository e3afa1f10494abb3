//! One `check --remedy` / `plan --remedy` run: the remedies resolved against the configuration,
//! then applied to each partition's records as `check` reads it (so every check judges the
//! database as it will be), collecting what each remedy will write and what the database
//! refuses. Writes nothing.

use super::derive::{self, DeriveAction, Target, TargetError};
use super::spec::Remedy;
use crate::config::AssemblyConfig;
use crate::finding::{code, Finding};
use crate::inventory::{Overlay, PartitionInv};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SessionError {
    #[error(transparent)]
    Target(#[from] Box<TargetError>),
    #[error("--remedy {0}: not available in this smstage yet (only derive-prtncol is); nothing was read or written")]
    NotYet(String),
}

#[derive(Debug)]
pub struct Session {
    pub remedies: Vec<Remedy>,
    targets: Vec<Target>,
    base: PathBuf,
    actions: Mutex<Vec<DeriveAction>>,
    refusals: Mutex<Vec<Finding>>,
}

impl Session {
    /// Resolves `remedies` against `config` (refusing, before anything is read, a remedy the
    /// configuration alone rules out). `base` is the HDB mount's baseURI directory.
    pub fn new(
        config: &AssemblyConfig,
        base: &Path,
        remedies: Vec<Remedy>,
    ) -> Result<Arc<Session>, SessionError> {
        if let Some(r) = remedies
            .iter()
            .find(|r| !matches!(r, Remedy::DerivePrtnCol { .. }))
        {
            return Err(SessionError::NotYet(r.to_string()));
        }
        let targets = derive::targets(config, &remedies).map_err(Box::new)?;
        Ok(Arc::new(Session {
            remedies,
            targets,
            base: base.to_path_buf(),
            actions: Mutex::new(Vec::new()),
            refusals: Mutex::new(Vec::new()),
        }))
    }

    /// The change each partition's records get as they are read.
    pub fn overlay(self: &Arc<Self>) -> Overlay {
        let me = Arc::clone(self);
        Overlay(Arc::new(move |p: &mut PartitionInv| me.visit(p)))
    }

    fn visit(&self, part: &mut PartitionInv) {
        let mut actions = Vec::new();
        let mut refusals = Vec::new();
        for table in &mut part.tables {
            let Some(t) = self.targets.iter().find(|t| t.table == table.name) else {
                continue;
            };
            let rel = table
                .path
                .strip_prefix(&self.base)
                .unwrap_or(&table.path)
                .to_string_lossy()
                .into_owned();
            match derive::plan_table(t, &part.date, &rel, table) {
                Ok(Some(a)) => {
                    derive::apply(&a, table);
                    actions.push(a);
                }
                Ok(None) => {}
                Err(r) => refusals.push(
                    Finding::error(code::REMEDY_REFUSED, r.to_string())
                        .partition(&part.date)
                        .table(&table.name)
                        .path(table.path.display())
                        .hint(format!(
                            "name another source (`--remedy derive-prtncol:{}=COLUMN`), or fix the table on disk",
                            t.table
                        )),
                ),
            }
        }
        if let Ok(mut a) = self.actions.lock() {
            a.extend(actions);
        }
        if let Ok(mut r) = self.refusals.lock() {
            r.extend(refusals);
        }
    }

    /// What the run found: the actions (sorted by table directory) and the refusals.
    pub fn finish(&self) -> (Vec<DeriveAction>, Vec<Finding>) {
        let mut a = self
            .actions
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default();
        a.sort_by(|x, y| x.dir.cmp(&y.dir));
        let r = self
            .refusals
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        (a, r)
    }
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
