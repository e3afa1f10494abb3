//! `smstage plan`: print the SM layout the import produces (the value the view and commit render).

use super::check_cmd::print_report;
use super::{config_error, Format, EXIT_FINDINGS, EXIT_OK};
use crate::check::{self, BackupCheck, CheckOptions};
use crate::config::AssemblyConfig;
use crate::plan::{NodeKind, Plan};
use std::path::Path;

pub fn run(config: &Path, format: Format, s3: &crate::object::S3Options) -> i32 {
    let cfg = match AssemblyConfig::load(config) {
        Ok(c) => c,
        Err(e) => return config_error(&e, format),
    };
    let opts = CheckOptions {
        backup: BackupCheck::Skip,
        deep: false,
        s3: s3.clone(),
    };
    let outcome = match check::run(&cfg, &opts) {
        Ok(o) => o,
        Err(e) => return config_error(&e, format),
    };
    let Some(plan) = outcome.plan else {
        eprintln!("smstage: no plan: the database does not pass the checks");
        print_report(&outcome.report, format, "check");
        return EXIT_FINDINGS;
    };
    match format {
        Format::Json => match serde_json::to_string_pretty(&plan) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("smstage: cannot render the plan as JSON: {e}");
                return EXIT_FINDINGS;
            }
        },
        Format::Text => print_text(&plan),
    }
    EXIT_OK
}

fn print_text(plan: &Plan) {
    println!("base:  {}", plan.base.display());
    println!(
        "root:  {}/{}   (q loads this after the import)",
        plan.base.display(),
        plan.root
    );
    println!("par.txt:");
    for line in plan.par_txt.lines() {
        println!("    {line}");
    }
    for t in &plan.tiers {
        println!(
            "tier {} ({:?}, {}): {} partition{}",
            t.name,
            t.kind,
            t.store,
            t.partitions,
            if t.partitions == 1 { "" } else { "s" }
        );
    }
    for s in &plan.stores {
        println!(
            "segment of tier {} (par.txt line {}): converted in place in {}; reached from the root through {} -> {}",
            s.tier,
            s.par_entry,
            s.dir.display(),
            s.path,
            s.link
        );
    }
    println!("layout:");
    for n in &plan.nodes {
        match &n.kind {
            NodeKind::Dir if plan.stores.iter().any(|s| s.path == n.path) => {
                let s = plan.stores.iter().find(|s| s.path == n.path);
                println!(
                    "    {} -> {}   (store anchor; the staging view shows it as a directory)",
                    n.path,
                    s.map(|s| s.link.as_str()).unwrap_or_default()
                )
            }
            NodeKind::Moved { from, .. } if *from == n.path => {
                println!("    {}   (kept as is)", n.path)
            }
            NodeKind::Dir => println!("    {}/", n.path),
            NodeKind::Symlink { target } => println!("    {} -> {target}", n.path),
            NodeKind::File { contents } => {
                println!("    {}   (generated, {} bytes)", n.path, contents.len())
            }
            NodeKind::Moved { from, is_dir } => println!(
                "    {}{}   (moved from {from})",
                n.path,
                if *is_dir { "/" } else { "" }
            ),
        }
    }
}
