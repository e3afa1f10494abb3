//! Where `commit --plan` must have proved the database unchanged, derived purely from the steps.
//!
//! Proving that every entry is as the plan file stamped it costs a walk of the whole database
//! (1.3-1.6 s at 1.1M files). The first waves of a commit change nothing the fingerprint
//! stamps: they build the staging tree and publish it next to the database, and create
//! `versions/` (with its placeholders) inside it. So the walk may run beside them, and only the
//! first step that moves, removes or rewrites a stamped entry (the partitions' exchanges) has to
//! wait for its verdict: the GATE. A verdict of drift there rolls the earlier steps back.
//!
//! Those earlier steps do leave marks on stamped entries, which the proof must not mistake for
//! drift, and which it therefore takes before the first step instead (docs/journal.md, "The
//! proof gate"):
//! - a directory of the database they create an entry in has its mtime moved (`touched`);
//! - a file they give a second name (a root entry replicated into the new root by a hard link)
//!   has its ctime moved (`linked`: the trees whose files are so linked);
//! - what they create inside the database (`created`) is not in the fingerprint at all.

use super::fsutil::{parent_of, under};
use super::steps::Step;
use crate::plan::Plan;

/// What [`proof_gate`] found. Paths are relative to the database directory (`<base>/<source>`,
/// the fingerprint's root), `.` for the directory itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofGate {
    /// Index of the first step (in [`super::steps`] order, the start of a wave) that the proof
    /// must have passed before: every step before it only creates entries or hard links.
    pub at_step: usize,
    /// Entries the steps before the gate create inside the database (the top of each new tree).
    pub created: Vec<String>,
    /// Directories of the database whose mtime those steps move (they create entries in them).
    pub touched: Vec<String>,
    /// Trees of the database whose files those steps hard-link (their ctime moves).
    pub linked: Vec<String>,
}

/// The gate of a plan's steps (`waves`, in order), or None when the proof cannot run beside
/// any step: the very first wave already changes a stamped entry, or the plan is of a kind this
/// is not derived for (segmented stores, remedies: their proof comes before the first step).
pub fn proof_gate(plan: &Plan, waves: &[Vec<Step>]) -> Option<ProofGate> {
    if !plan.stores.is_empty() || plan.remedies.is_some() {
        return None;
    }
    let src = plan.source.as_str();
    let rel = |p: &str| -> Option<String> {
        if p == src {
            Some(".".to_string())
        } else {
            p.strip_prefix(src)
                .and_then(|r| r.strip_prefix('/'))
                .map(str::to_string)
        }
    };
    let mut gate = ProofGate {
        at_step: 0,
        created: Vec::new(),
        touched: Vec::new(),
        linked: Vec::new(),
    };
    let create = |g: &mut ProofGate, path: &str| {
        let Some(r) = rel(path) else { return };
        if g.created.iter().any(|c| under(&r, c)) {
            return;
        }
        let parent = match parent_of(&r) {
            "" => ".".to_string(),
            p => p.to_string(),
        };
        if !g.touched.contains(&parent) {
            g.touched.push(parent);
        }
        g.created.push(r);
    };
    for wave in waves {
        for step in wave {
            match step {
                Step::Mkdir { path }
                | Step::Symlink { path, .. }
                | Step::WriteFileAtomic { path, .. } => {
                    if path == src {
                        return finish(gate);
                    }
                    create(&mut gate, path);
                }
                Step::Replicate { from, to } => {
                    if under(to, src) {
                        return finish(gate);
                    }
                    if let Some(r) = rel(from) {
                        gate.linked.push(r);
                    }
                }
                // The publication renames the staging tree to the new root, both beside the
                // database: nothing stamped moves.
                Step::Rename { from, to } if !under(from, src) && !under(to, src) => {}
                _ => return finish(gate),
            }
        }
        gate.at_step += wave.len();
    }
    // Nothing in the plan ever changes a stamped entry: the proof is awaited at the end.
    finish(gate)
}

fn finish(gate: ProofGate) -> Option<ProofGate> {
    (gate.at_step > 0).then_some(gate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::steps::tests::sample_plan;
    use crate::commit::steps::waves;

    #[test]
    fn a_simple_plan_is_gated_at_its_first_exchange() {
        let plan = sample_plan();
        let waves = waves(&plan).unwrap();
        let steps: Vec<Step> = waves.concat();
        let g = proof_gate(&plan, &waves).expect("a simple plan has a gate");
        // The gate is the first step that touches a partition, at a wave's start.
        let first_exchange = steps
            .iter()
            .position(|s| matches!(s, Step::Exchange { .. }))
            .unwrap();
        assert_eq!(g.at_step, first_exchange);
        assert!(steps[..g.at_step].iter().all(|s| matches!(
            s,
            Step::Mkdir { .. }
                | Step::Symlink { .. }
                | Step::WriteFileAtomic { .. }
                | Step::Replicate { .. }
                | Step::Rename { .. }
        )));
        assert_eq!(g.created, vec!["versions".to_string()]);
        assert_eq!(g.touched, vec![".".to_string()]);
        assert_eq!(g.linked, vec!["sym".to_string()]);
    }

    #[test]
    fn steps_that_move_a_stamped_entry_end_the_overlap() {
        let plan = sample_plan();
        let mut waves = waves(&plan).unwrap();
        // A first wave that renames a partition: nothing may run before the proof.
        waves.insert(
            0,
            vec![Step::Rename {
                from: "data/2024.01.02".into(),
                to: "data/x".into(),
            }],
        );
        assert_eq!(proof_gate(&plan, &waves), None);
        // Remedied and segmented plans prove before their first step.
        let mut remedied = plan.clone();
        remedied.remedies = Some(crate::plan::PlanRemedies {
            given: vec!["one-sym".into()],
            stage: ".smstage/stage/x".into(),
            actions: Vec::new(),
            files: Vec::new(),
            derived: Vec::new(),
            filled: Vec::new(),
            dirs: Vec::new(),
            added: Vec::new(),
            sym_appended: Vec::new(),
            aside: Vec::new(),
        });
        assert_eq!(proof_gate(&remedied, &waves[1..]), None);
    }
}
