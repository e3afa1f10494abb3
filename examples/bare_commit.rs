//! Benchmark baselines for `scripts/bench-commit.sh`: apply a plan (the JSON of `smstage plan
//! --format json`) with bare syscalls, or undo it, with no journal, no lock, no fsync/syncfs, no
//! probes and no checks. Two modes:
//!
//! - `bare_commit --same-steps PLAN.json`: the issue's literal baseline. Runs THE SAME steps as
//!   `smstage commit`, in the same order (`smstage::commit::waves(&plan)`, concatenated), each as
//!   the bare syscalls that make its effect: `Mkdir` = mkdir, `Symlink` = symlink,
//!   `WriteFileAtomic` = write (no temporary, no fsync), `Replicate` = mkdir/link of the tree,
//!   `Rename` = renameat2(RENAME_NOREPLACE), `Exchange` = renameat2(RENAME_EXCHANGE),
//!   `ReplaceSymlink` = temporary symlink + rename, `UnlinkSymlink` = unlink, `RemoveTree` =
//!   unlink/rmdir of the tree. `--same-steps --rollback` runs the inverse of every step, newest
//!   first, so the benchmark can cycle on one tree. Assumes no directory of the plan existed
//!   before (true of a generated database); a mkdir that meets an existing directory is skipped.
//! - `bare_commit PLAN.json` (minimal): the least any commit must do, from the plan's nodes:
//!   mkdir, rename the moved entries, symlink the segment links, write `par.txt` (3 namespace
//!   operations per partition, against the commit's 7 that keep the root loadable at every
//!   instant). `--rollback` undoes it.
//!
//! Prints `<n> ops in <seconds> s`.

use smstage::commit::{waves, Step};
use smstage::plan::{NodeKind, Plan};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn apply(plan: &Plan) -> io::Result<usize> {
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

fn undo(plan: &Plan) -> io::Result<usize> {
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

fn with_path(e: io::Error, op: &str, p: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{op} {}: {e}", p.display()))
}

// The commit's own syscall wrapper, with the path added to the error for the benchmark's output.
fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> io::Result<()> {
    smstage::commit::renameat2(from, to, flags).map_err(|e| with_path(e, "renameat2", to))
}

fn tmp(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".smstage-tmp$");
    PathBuf::from(s)
}

/// What the commit's ReplaceSymlink does, bare: a temporary symlink renamed over the old one.
fn repoint(path: &Path, target: &str) -> io::Result<usize> {
    let t = tmp(path);
    std::os::unix::fs::symlink(target, &t).map_err(|e| with_path(e, "symlink", &t))?;
    std::fs::rename(&t, path).map_err(|e| with_path(e, "rename", path))?;
    Ok(2)
}

/// Second names for the tree at `from` (hard links; directories created): what Replicate does
/// on one filesystem.
fn link_tree(from: &Path, to: &Path) -> io::Result<usize> {
    let md = std::fs::symlink_metadata(from).map_err(|e| with_path(e, "lstat", from))?;
    if !md.is_dir() {
        std::fs::hard_link(from, to).map_err(|e| with_path(e, "link", to))?;
        return Ok(1);
    }
    std::fs::create_dir(to).map_err(|e| with_path(e, "mkdir", to))?;
    let mut n = 1;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        n += link_tree(&e.path(), &to.join(e.file_name()))?;
    }
    Ok(n)
}

fn remove_tree(p: &Path) -> io::Result<usize> {
    let md = std::fs::symlink_metadata(p).map_err(|e| with_path(e, "lstat", p))?;
    if md.is_dir() {
        std::fs::remove_dir_all(p).map_err(|e| with_path(e, "rm -r", p))?;
    } else {
        std::fs::remove_file(p).map_err(|e| with_path(e, "unlink", p))?;
    }
    Ok(1)
}

fn step_forward(step: &Step, base: &Path) -> io::Result<usize> {
    let p = |r: &str| base.join(r);
    Ok(match step {
        Step::Mkdir { path } => match std::fs::create_dir(p(path)) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => 0,
            r => r.map(|_| 1).map_err(|e| with_path(e, "mkdir", &p(path)))?,
        },
        Step::WriteFileAtomic { path, contents } => {
            std::fs::write(p(path), contents).map_err(|e| with_path(e, "write", &p(path)))?;
            1
        }
        Step::Symlink { path, target } => {
            std::os::unix::fs::symlink(target, p(path))
                .map_err(|e| with_path(e, "symlink", &p(path)))?;
            1
        }
        Step::Replicate { from, to } => link_tree(&p(from), &p(to))?,
        Step::Rename { from, to } => {
            renameat2(&p(from), &p(to), libc::RENAME_NOREPLACE)?;
            1
        }
        Step::Exchange { a, b } => {
            renameat2(&p(a), &p(b), libc::RENAME_EXCHANGE)?;
            1
        }
        Step::ReplaceSymlink { path, target, .. } => repoint(&p(path), target)?,
        Step::UnlinkSymlink { path, .. } => {
            std::fs::remove_file(p(path)).map_err(|e| with_path(e, "unlink", &p(path)))?;
            1
        }
        Step::RemoveTree { path, .. } => remove_tree(&p(path))?,
        Step::PlaceStaged { staged, path } | Step::PlaceStagedDir { staged, path } => {
            renameat2(&p(staged), &p(path), libc::RENAME_NOREPLACE)?;
            1
        }
        Step::SetAside { path, aside } => {
            renameat2(&p(path), &p(aside), libc::RENAME_NOREPLACE)?;
            1
        }
        Step::SwapStaged { staged, path, .. } => {
            renameat2(&p(staged), &p(path), libc::RENAME_EXCHANGE)?;
            1
        }
    })
}

fn step_back(step: &Step, base: &Path) -> io::Result<usize> {
    let p = |r: &str| base.join(r);
    Ok(match step {
        Step::Mkdir { path } => {
            std::fs::remove_dir(p(path)).map_err(|e| with_path(e, "rmdir", &p(path)))?;
            1
        }
        Step::WriteFileAtomic { path, .. } | Step::Symlink { path, .. } => {
            std::fs::remove_file(p(path)).map_err(|e| with_path(e, "unlink", &p(path)))?;
            1
        }
        Step::Replicate { to, .. } => remove_tree(&p(to))?,
        Step::Rename { from, to } => {
            renameat2(&p(to), &p(from), libc::RENAME_NOREPLACE)?;
            1
        }
        Step::Exchange { a, b } => {
            renameat2(&p(a), &p(b), libc::RENAME_EXCHANGE)?;
            1
        }
        Step::ReplaceSymlink {
            path, old_target, ..
        } => repoint(&p(path), old_target)?,
        Step::UnlinkSymlink { path, target } => {
            std::os::unix::fs::symlink(target, p(path))
                .map_err(|e| with_path(e, "symlink", &p(path)))?;
            1
        }
        Step::RemoveTree { path, replica } => link_tree(&p(replica), &p(path))?,
        Step::PlaceStaged { staged, path } | Step::PlaceStagedDir { staged, path } => {
            renameat2(&p(path), &p(staged), libc::RENAME_NOREPLACE)?;
            1
        }
        Step::SetAside { path, aside } => {
            renameat2(&p(aside), &p(path), libc::RENAME_NOREPLACE)?;
            1
        }
        Step::SwapStaged { staged, path, .. } => {
            renameat2(&p(staged), &p(path), libc::RENAME_EXCHANGE)?;
            1
        }
    })
}

fn same_steps(plan: &Plan, rollback: bool) -> io::Result<usize> {
    let steps = waves(plan).map_err(io::Error::other)?.concat();
    let mut ops = 0;
    if rollback {
        for s in steps.iter().rev() {
            ops += step_back(s, &plan.base)?;
        }
    } else {
        for s in &steps {
            ops += step_forward(s, &plan.base)?;
        }
    }
    Ok(ops)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rollback = args.iter().any(|a| a == "--rollback");
    let same = args.iter().any(|a| a == "--same-steps");
    let Some(plan_path) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: bare_commit [--same-steps] [--rollback] PLAN.json");
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
    let done = match (same, rollback) {
        (true, r) => same_steps(&plan, r),
        (false, false) => apply(&plan),
        (false, true) => undo(&plan),
    };
    match done {
        Ok(ops) => println!("{} ops in {:.4} s", ops, start.elapsed().as_secs_f64()),
        Err(e) => {
            eprintln!("bare_commit: {e}");
            std::process::exit(1);
        }
    }
}
