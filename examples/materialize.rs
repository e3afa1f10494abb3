//! Benchmark baseline for `scripts/bench-view.sh`: writes the layout of a plan (the JSON of
//! `smstage plan --format json`) to a real directory: dirs, symlinks and `par.txt` as planned,
//! and each moved entry as a tree of hard links to the original files (same filesystem), so
//! `find`/`stat` of the result can be compared with the same walk through the view.

use smstage::plan::{NodeKind, Plan};
use std::path::Path;
use walkdir::WalkDir;

fn replicate(from: &Path, to: &Path) -> std::io::Result<u64> {
    let mut n = 0;
    for e in WalkDir::new(from).follow_links(false) {
        let e = e.map_err(std::io::Error::other)?;
        let rel = e.path().strip_prefix(from).map_err(std::io::Error::other)?;
        let dst = if rel.as_os_str().is_empty() {
            to.to_path_buf()
        } else {
            to.join(rel)
        };
        let ft = e.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&dst)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path())?, &dst)?;
        } else {
            std::fs::hard_link(e.path(), &dst)?;
        }
        n += 1;
    }
    Ok(n)
}

fn materialize(plan: &Plan, dest: &Path) -> std::io::Result<u64> {
    std::fs::create_dir_all(dest)?;
    let mut n = 0;
    for node in &plan.nodes {
        let to = dest.join(&node.path);
        match &node.kind {
            NodeKind::Dir => std::fs::create_dir(&to)?,
            NodeKind::Symlink { target } => std::os::unix::fs::symlink(target, &to)?,
            NodeKind::File { contents } => std::fs::write(&to, contents)?,
            NodeKind::Moved { from, .. } => n += replicate(&plan.base.join(from), &to)? - 1,
        }
        n += 1;
    }
    Ok(n)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [plan_path, dest] = args.as_slice() else {
        eprintln!("usage: materialize PLAN.json DEST");
        std::process::exit(2);
    };
    let plan: Plan = match std::fs::read_to_string(plan_path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("materialize: {plan_path}: {e}");
            std::process::exit(1);
        }
    };
    match materialize(&plan, Path::new(dest)) {
        Ok(n) => println!("{n} entries under {dest}"),
        Err(e) => {
            eprintln!("materialize: {e}");
            std::process::exit(1);
        }
    }
}
