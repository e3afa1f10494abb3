//! Forged plan files (issue 16, item 4): a saved plan edited after it was saved and given a
//! recomputed plan_id, as an attacker would; shared by `tests/hostile_inputs.rs` (commit) and
//! `mount-tests/hostile_tests.rs` (mount).

use std::fs;
use std::path::{Path, PathBuf};

/// Rewrites the plan file at `file` with `edit` applied to its plan and a recomputed plan_id:
/// what a hostile user can do, since plan_id is a hash of the content.
pub fn forge(file: &Path, to: &Path, edit: impl FnOnce(&mut smstage::plan::Plan)) {
    let bytes = fs::read(file).unwrap();
    let saved = smstage::plan::SavedPlan::parse(&bytes, file).unwrap();
    let mut plan = saved.plan;
    edit(&mut plan);
    let forged = smstage::plan::SavedPlan::new(plan, saved.fingerprint);
    fs::write(to, forged.to_bytes()).unwrap();
    // It is a valid plan file as far as its id goes.
    smstage::plan::SavedPlan::parse(&fs::read(to).unwrap(), to).unwrap();
}

/// The three forgeries of the issue: `db/sym` served from a file of the baseURI outside
/// `data/`, `db/par.txt` set to `/etc`, a partition dropped.
pub fn forgeries(file: &Path, dir: &Path) -> Vec<(&'static str, PathBuf)> {
    use smstage::plan::NodeKind;
    let sym_outside = dir.join("forged-sym.json");
    forge(file, &sym_outside, |p| {
        for n in &mut p.nodes {
            if let NodeKind::Moved { from, .. } = &mut n.kind {
                if from == "data/sym" {
                    *from = "assembly.yaml".into();
                }
            }
        }
    });
    let par_etc = dir.join("forged-par.json");
    forge(file, &par_etc, |p| {
        p.par_txt = "/etc\n".into();
        for n in &mut p.nodes {
            if let NodeKind::File { contents } = &mut n.kind {
                *contents = "/etc\n".into();
            }
        }
    });
    let dropped = dir.join("forged-drop.json");
    forge(file, &dropped, |p| {
        let gone = p.partitions.remove(0);
        let link = gone.link.unwrap();
        p.nodes.retain(|n| n.path != link);
        for t in &mut p.tiers {
            if t.name == gone.tier {
                t.partitions -= 1;
            }
        }
    });
    vec![
        ("sym from outside data", sym_outside),
        ("par.txt set to /etc", par_etc),
        ("a partition dropped", dropped),
    ]
}
