//! `smstage init`: write the assembly for a database and say what to run next.

use super::{EXIT_OK, EXIT_USAGE};
use crate::init;
use std::path::Path;

pub fn run(db: &Path, out: &Path, force: bool, remedies: &[String]) -> i32 {
    let parsed = match crate::remedy::spec::parse_all(remedies) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("smstage init: {e}");
            return EXIT_USAGE;
        }
    };
    let result = init::refuse_out_inside(out, db)
        .and_then(|_| init::derive(db, out, &parsed))
        .and_then(|a| init::write(out, &a.yaml, force).map(|_| a));
    let a = match result {
        Ok(a) => a,
        Err(e) => {
            eprintln!("smstage init: {e}");
            return EXIT_USAGE;
        }
    };
    let base = a
        .config
        .hdb_base_dir()
        .map(|b| b.display().to_string())
        .unwrap_or_default();
    let tables: Vec<&str> = a.config.tables.iter().map(|t| t.name.as_str()).collect();
    println!("wrote {}", out.display());
    println!("  database (HDB mount's baseURI + /data): {base}/data");
    println!("  tables: {} ({})", tables.len(), tables.join(", "));
    if a.missing.is_empty() {
        println!("  missing for Storage Manager: nothing that init can see");
    } else {
        println!("  missing for Storage Manager (also in the file's comments):");
        for m in &a.missing {
            println!("    - {m}");
        }
    }
    for d in &a.derived {
        println!(
            "  prtnCol {}.{}: derived from {} (absent on disk: check and plan with the same --remedy write it)",
            d.table, d.column, d.source
        );
    }
    for n in &a.notes {
        println!("  note: {n}");
    }
    // Real paths, so the lines run as printed.
    let backup = format!("{base}-backup");
    let hdb = a
        .config
        .hdb_mount()
        .map(|m| m.name.clone())
        .unwrap_or_default();
    let segments: Vec<(&str, String)> = a
        .config
        .tiers_of_mount(&hdb)
        .into_iter()
        .filter(|t| !t.store_defaulted)
        .filter_map(|t| match &t.store {
            Some(crate::config::StoreUri::File(p)) => {
                Some((t.name.as_str(), p.display().to_string()))
            }
            _ => None,
        })
        .collect();
    if segments.is_empty() {
        println!("next: back the database up, then check it:\n  cp -a {base}/data {backup}");
    } else {
        // A segmented database's backup: the root, and each segment as `<tier>$` with a
        // par.txt naming them (docs/sm-layout.md, "The backup of a segmented database").
        println!(
            "next: back the database up (the root, and each segment as <tier>$), then check it:"
        );
        println!("  mkdir {backup} && cp -a {base}/data/. {backup}/");
        for (tier, dir) in &segments {
            println!("  cp -a {dir} '{backup}/{tier}$'");
        }
        let lines: String = segments.iter().map(|(t, _)| format!("{t}$\\n")).collect();
        println!("  printf '{lines}' > {backup}/par.txt");
    }
    // The remedies as given, so the check judges the database as they will leave it.
    let remedy_args: String = remedies
        .iter()
        .map(|r| format!(" --remedy '{r}'"))
        .collect();
    println!(
        "  smstage check --config {} --backup {backup}{remedy_args}",
        out.display()
    );
    EXIT_OK
}
