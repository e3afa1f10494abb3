//! `smstage plan`: print the SM layout the import produces (the value the view and commit render).

use super::check_cmd::{print_remedied, print_report, session_of};
use super::{config_error, Format, EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use crate::approval;
use crate::check::{self, BackupCheck, CheckOptions};
use crate::config::AssemblyConfig;
use crate::finding::Report;
use crate::plan::{NodeKind, Plan, SavedPlan};
use crate::remedy::{self, run::StageFailure};
use std::path::Path;

pub fn run(
    config: &Path,
    format: Format,
    s3: &crate::object::S3Options,
    save: Option<&Path>,
    force: bool,
    remedies: &[String],
) -> i32 {
    let (cfg, fingerprint) = match save {
        None => match AssemblyConfig::load(config) {
            Ok(c) => (c, None),
            Err(e) => return config_error(&e, format),
        },
        Some(target) => {
            let (cfg, bytes) = match approval::read_config(config) {
                Ok(x) => x,
                Err(e) => return config_error(&e, format),
            };
            // Before anything is read: a wrong --save must cost nothing and overwrite nothing.
            if let Err(e) = approval::target::check_save_target(target, config, &cfg, force) {
                eprintln!("smstage: plan not saved: {e}");
                return EXIT_USAGE;
            }
            // Taken before the checks read the database: a change while they run then shows
            // as drift when the plan is used, instead of slipping into an approved plan.
            let fp = approval::take(&cfg, config, &bytes, s3);
            (cfg, Some(fp))
        }
    };
    let session = match session_of(&cfg, remedies) {
        Ok(s) => s,
        Err(e) => return config_error(&e, format),
    };
    let opts = CheckOptions {
        backup: BackupCheck::Skip,
        deep: false,
        s3: s3.clone(),
        keep_object_files: false,
    };
    let (outcome, actions) = match &session {
        None => match check::run(&cfg, &opts) {
            Ok(o) => (o, Vec::new()),
            Err(e) => return config_error(&e, format),
        },
        Some(s) => match remedy::run::check(&cfg, &opts, s) {
            Ok(x) => x,
            Err(e) => return config_error(&e, format),
        },
    };
    let Some(mut plan) = outcome.plan else {
        eprintln!("smstage: no plan: the database does not pass the checks");
        match &session {
            None => print_report(&outcome.report, format, "check"),
            Some(s) => print_remedied(&outcome.report, &remedy::run::reports(s, &actions), format),
        }
        return EXIT_FINDINGS;
    };
    let given: Vec<String> = session
        .as_ref()
        .map(|s| s.remedies.iter().map(|r| r.to_string()).collect())
        .unwrap_or_default();
    let fingerprint = match (session.is_some(), fingerprint) {
        // Staging needs the fingerprint (it names the stage and lists the remedied tables).
        (true, Some(fp)) => {
            let fp = match fp {
                Ok(fp) => fp,
                Err(e) => {
                    eprintln!("smstage: plan not saved: {e}");
                    return if e.is_usage() {
                        EXIT_USAGE
                    } else {
                        EXIT_FINDINGS
                    };
                }
            };
            match remedy::run::stage_into_plan(&mut plan, &fp, given, &actions) {
                Ok(()) => {}
                Err(StageFailure::Refused(f)) => {
                    print_report(&Report::new(vec![*f]), format, "plan --remedy");
                    eprintln!("smstage: plan not saved: a remedy was refused while staging; nothing was staged and the database is untouched");
                    return EXIT_FINDINGS;
                }
                Err(StageFailure::Error(e)) => {
                    eprintln!("smstage: plan not saved: {e}; nothing was staged and the database is untouched");
                    return EXIT_FINDINGS;
                }
                Err(StageFailure::Plan(e)) => {
                    eprintln!("smstage: plan not saved: {e}");
                    return EXIT_FINDINGS;
                }
            }
            Some(Ok(fp))
        }
        (true, None) => {
            // Nothing is staged without --save: the plan says what the remedies will do.
            plan.remedies = Some(remedy::run::unstaged(given, &actions));
            None
        }
        (false, fp) => fp,
    };
    let plan_id = match (save, fingerprint) {
        (Some(path), Some(fp)) => match save_plan(&plan, fp, path) {
            Ok(id) => Some(id),
            Err(code) => return code,
        },
        _ => None,
    };
    match format {
        Format::Json => match to_json(&plan, plan_id.as_deref()) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("smstage: cannot render the plan as JSON: {e}");
                return EXIT_FINDINGS;
            }
        },
        Format::Text => {
            print_text(&plan);
            if let Some(id) = &plan_id {
                println!("plan_id: {id}");
            }
        }
    }
    EXIT_OK
}

/// The plan JSON; with `--save`, with the saved file's `plan_id` as an extra top-level field.
fn to_json(plan: &Plan, plan_id: Option<&str>) -> serde_json::Result<String> {
    let mut v = serde_json::to_value(plan)?;
    if let (Some(id), Some(obj)) = (plan_id, v.as_object_mut()) {
        obj.insert("plan_id".into(), id.into());
    }
    serde_json::to_string_pretty(&v)
}

/// Writes the plan file; returns its plan_id, or the exit code after saying what failed.
fn save_plan(
    plan: &Plan,
    fingerprint: Result<crate::plan::fingerprint::Fingerprint, approval::ApprovalError>,
    path: &Path,
) -> Result<String, i32> {
    let fail = |e: approval::ApprovalError| {
        eprintln!("smstage: plan not saved: {e}");
        if e.is_usage() {
            EXIT_USAGE
        } else {
            EXIT_FINDINGS
        }
    };
    let saved = SavedPlan::new(plan.clone(), fingerprint.map_err(fail)?);
    approval::save(&saved, path).map_err(fail)?;
    eprintln!(
        "smstage: saved plan {} to {} ({} database entries fingerprinted); validate it with `smstage mount --plan {} MOUNTPOINT --background` (MOUNTPOINT: an empty directory), then `smstage commit --plan {} --backup BACKUP_DIR`",
        saved.plan_id,
        path.display(),
        saved.fingerprint.entries.len(),
        path.display(),
        path.display()
    );
    Ok(saved.plan_id)
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
    if let Some(r) = &plan.remedies {
        println!("remedies: {}", r.given.join(" "));
        for a in &r.actions {
            println!("    {a}");
        }
        if r.stage.is_empty() {
            println!("    (nothing staged: `--save PLANFILE` stages the files)");
        } else {
            let bytes: u64 = r.files.iter().map(|f| f.size).sum();
            println!(
                "    staged in {}/{}: {} file{}, {bytes} bytes",
                plan.base.display(),
                r.stage,
                r.files.len(),
                if r.files.len() == 1 { "" } else { "s" }
            );
        }
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
