//! Benchmark baseline for `scripts/bench-commit.sh`: applies a plan (the JSON of `smstage plan
//! --format json`) with bare syscalls, or undoes it with `--rollback`: mkdir, rename, symlink,
//! write `par.txt`; no journal, no lock, no fsync, no checks. The lower bound of any commit.

use smstage::plan::{NodeKind, Plan};
use std::path::Path;
use std::time::Instant;

fn apply(plan: &Plan) -> std::io::Result<usize> {
    let base = &plan.base;
    let mut ops = 0;
    for node in &plan.nodes {
        let to = base.join(&node.path);
        match &node.kind {
            NodeKind::Dir => {
                // `data` is the original directory and keeps its inode.
                if !to.is_dir() {
                    std::fs::create_dir(&to)?;
                    ops += 1;
                }
            }
            NodeKind::Moved { from, .. } => {
                std::fs::rename(base.join(from), &to)?;
                ops += 1;
            }
            NodeKind::Symlink { target } => {
                std::os::unix::fs::symlink(target, &to)?;
                ops += 1;
            }
            NodeKind::File { contents } => {
                std::fs::write(&to, contents)?;
                ops += 1;
            }
        }
    }
    Ok(ops)
}

fn undo(plan: &Plan) -> std::io::Result<usize> {
    let base = &plan.base;
    let mut ops = 0;
    // Children before parents: the reverse of the plan's sorted order.
    for node in plan.nodes.iter().rev() {
        let at = base.join(&node.path);
        match &node.kind {
            NodeKind::Dir => {
                if node.path != plan.source {
                    std::fs::remove_dir(&at)?;
                    ops += 1;
                }
            }
            NodeKind::Moved { from, .. } => {
                std::fs::rename(&at, base.join(from))?;
                ops += 1;
            }
            NodeKind::Symlink { .. } | NodeKind::File { .. } => {
                std::fs::remove_file(&at)?;
                ops += 1;
            }
        }
    }
    Ok(ops)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rollback = args.iter().any(|a| a == "--rollback");
    let Some(plan_path) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: bare_commit [--rollback] PLAN.json");
        std::process::exit(2);
    };
    let text = match std::fs::read_to_string(Path::new(plan_path)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bare_commit: {plan_path}: {e}");
            std::process::exit(1);
        }
    };
    let plan: Plan = match serde_json::from_str(&text) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("bare_commit: {plan_path}: not a plan: {e}");
            std::process::exit(1);
        }
    };
    let start = Instant::now();
    let done = if rollback { undo(&plan) } else { apply(&plan) };
    match done {
        Ok(ops) => println!("{} ops in {:.4} s", ops, start.elapsed().as_secs_f64()),
        Err(e) => {
            eprintln!("bare_commit: {e}");
            std::process::exit(1);
        }
    }
}
