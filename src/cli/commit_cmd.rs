//! `smstage commit`, `rollback` and `status`: check, confirm, then render the plan on disk.

use super::check_cmd::print_report;
use super::{config_error, BackupArgs, Format, EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use crate::approval;
use crate::check::{self, BackupCheck, CheckOptions};
use crate::commit::{self, CommitError, CommitOptions, RollbackOptions, State};
use crate::config::AssemblyConfig;
use crate::finding::{code, Finding, Report};
use crate::plan::SavedPlan;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

fn base_of(config: &Path, format: Format) -> Result<(AssemblyConfig, PathBuf), i32> {
    let cfg = AssemblyConfig::load(config).map_err(|e| config_error(&e, format))?;
    let base = cfg.hdb_base_dir().map_err(|e| config_error(&e, format))?;
    Ok((cfg, base))
}

/// The backup precondition as the checks take it (exit 2 when neither flag was given).
fn backup_check(backup: &BackupArgs) -> Result<BackupCheck, i32> {
    match (&backup.backup, backup.no_backup_check) {
        (Some(d), _) => Ok(BackupCheck::Dir(d.clone())),
        (None, true) => Ok(BackupCheck::Skip),
        (None, false) => Err(config_error(
            &"a backup is a precondition of the import: pass --backup DIR (a full copy of the database), or --no-backup-check if you have one elsewhere",
            Format::Text,
        )),
    }
}

pub fn commit(config: &Path, backup: &BackupArgs, yes: bool, s3: &crate::object::S3Options) -> i32 {
    // The bytes are kept: the plan_id of what is committed hashes the very file parsed.
    let (cfg, config_bytes) = match approval::read_config(config) {
        Ok(x) => x,
        Err(e) => return config_error(&e, Format::Text),
    };
    let base = match cfg.hdb_base_dir() {
        Ok(b) => b,
        Err(e) => return config_error(&e, Format::Text),
    };
    let status = match commit::status(&base) {
        Ok(s) => s,
        Err(e) => return fail(&e, config, "commit"),
    };
    let (plan, resuming, plan_id) = match status.state {
        State::Committed => {
            println!(
                "smstage: {} is already committed (journal {}): nothing to do, nothing changed",
                base.display(),
                status
                    .journal
                    .map(|j| j.display().to_string())
                    .unwrap_or_default()
            );
            return EXIT_OK;
        }
        State::RollingBack => {
            eprintln!("smstage: a rollback of {} is unfinished: run `smstage rollback --config {}` to finish it first", base.display(), config.display());
            return EXIT_FINDINGS;
        }
        State::InProgress => match commit::saved_plan(&base) {
            Ok(Some(plan)) => {
                eprintln!(
                    "smstage: resuming the interrupted import ({} of {} steps done)",
                    status.steps_done, status.steps_total
                );
                (plan, true, status.plan_id.clone())
            }
            Ok(None) => {
                eprintln!("smstage: the journal of {} is in progress but its plan is missing; run `smstage rollback --config {}`", base.display(), config.display());
                return EXIT_FINDINGS;
            }
            Err(e) => return fail(&e, config, "commit"),
        },
        State::None | State::RolledBack => {
            let backup = match backup_check(backup) {
                Ok(b) => b,
                Err(code) => return code,
            };
            // Every entry stamped no later than the checks read it, as `plan --save` does: the
            // plan_id then names a fingerprint no newer than the plan. The checks' own read
            // stamps the partitions (approval::onewalk); where it cannot, the fingerprint is
            // taken by its own walk and the checks run again after it.
            let t = std::time::Instant::now();
            let pending = approval::onewalk::begin(&cfg, config, &config_bytes, s3);
            let stamped = matches!(pending, Ok(Some(_)));
            let (outcome, stamps) = match run_checks_stamped(&cfg, backup.clone(), s3, stamped) {
                Ok(o) => o,
                Err(code) => return code,
            };
            tracing::info!("checks run (stamping: {stamped}) in {:.3?}", t.elapsed());
            let (fingerprint, outcome) = match pending {
                Err(e) => (Err(e), outcome),
                Ok(p) => match p.and_then(|p| approval::onewalk::finish(p, stamps)) {
                    Some(fp) => (Ok(fp), outcome),
                    // Refused below: no fingerprint is needed.
                    None if !outcome.report.ok => return refuse_failed_checks(&outcome.report),
                    // Not stamped by the checks: the old order, fingerprint then checks.
                    None => {
                        let t = std::time::Instant::now();
                        let fingerprint = approval::take(&cfg, config, &config_bytes, s3);
                        let outcome = match run_checks(&cfg, backup, s3) {
                            Ok(o) => o,
                            Err(code) => return code,
                        };
                        tracing::info!(
                            "fingerprint taken by its own walk, checks run again, in {:.3?}",
                            t.elapsed()
                        );
                        (fingerprint, outcome)
                    }
                },
            };
            match outcome.plan {
                Some(plan) if outcome.report.ok => {
                    if !outcome.report.findings.is_empty() {
                        print_report(&outcome.report, Format::Text, "check");
                    }
                    let fingerprint = match fingerprint {
                        Ok(f) => f,
                        Err(e) => {
                            eprintln!("smstage: commit refused: {e}; nothing was changed");
                            return EXIT_FINDINGS;
                        }
                    };
                    let id = crate::plan::saved::plan_id(&plan, &fingerprint);
                    (plan, false, Some(id))
                }
                _ => return refuse_failed_checks(&outcome.report),
            }
        }
    };
    confirm_and_run(&plan, &base, config, resuming, yes, plan_id, None)
}

fn refuse_failed_checks(report: &Report) -> i32 {
    print_report(report, Format::Text, "check");
    eprintln!("smstage: commit refused: the checks failed, nothing was changed");
    EXIT_FINDINGS
}

/// Asks for confirmation (unless resuming or `--yes`), commits `plan` and says how it went.
/// `plan_id` names what is committed (printed; recorded in a new journal); `required_id`, when
/// given, refuses to resume a journal of another plan.
fn confirm_and_run(
    plan: &crate::plan::Plan,
    base: &Path,
    config: &Path,
    resuming: bool,
    yes: bool,
    plan_id: Option<String>,
    required_id: Option<String>,
) -> i32 {
    if !resuming && !yes {
        if !std::io::stdin().is_terminal() {
            eprintln!(
                "smstage: commit converts {} in place; not on a terminal, so pass --yes to confirm",
                base.display()
            );
            return EXIT_USAGE;
        }
        let local = plan.partitions.iter().filter(|p| p.to.is_some()).count();
        eprint!(
            "Convert {} in place to SM format ({} partitions move behind symlinks; q will load {}/{})? Type yes: ",
            base.display(),
            local,
            base.display(),
            plan.root
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if answer.trim() != "yes" {
            eprintln!("smstage: not confirmed; nothing changed");
            return EXIT_FINDINGS;
        }
    }
    let opts = CommitOptions {
        progress: std::io::stderr().is_terminal(),
        plan_id: required_id.or_else(|| plan_id.clone().filter(|_| !resuming)),
        ..Default::default()
    };
    match commit::commit(plan, &opts) {
        Ok(r) => {
            if let Some(pid) = r.stale_lock_pid {
                eprintln!(
                    "smstage: took over a stale lock left by pid {pid}, which is no longer running"
                );
            }
            println!(
                "smstage: committed {} ({} steps, {} run now{}); q loads {}/{}",
                base.display(),
                r.steps_total,
                r.steps_run,
                if r.copy_mode {
                    ", root files copied across filesystems"
                } else {
                    ""
                },
                base.display(),
                plan.root
            );
            if let Some(id) = &plan_id {
                println!("plan_id: {id}");
            }
            EXIT_OK
        }
        Err(e) => fail(&e, config, "commit"),
    }
}

/// `commit --plan`: commits exactly the saved plan, or refuses (exit 1, nothing changed) with
/// one `plan-drift` finding per difference between its fingerprint and the world now.
pub fn commit_plan(
    plan_file: &Path,
    config: Option<&Path>,
    backup: &BackupArgs,
    yes: bool,
    s3: &crate::object::S3Options,
) -> i32 {
    let t = std::time::Instant::now();
    // The database is walked while the plan file is parsed (approval::early); what the walk
    // saw is compared only below, before the first step, as a walk started then would be.
    let early = approval::early::EarlyWalk::start(plan_file);
    let saved = match approval::load(plan_file) {
        Ok(s) => s,
        Err(e) => return config_error(&e, Format::Text),
    };
    tracing::info!("plan file read in {:.3?}", t.elapsed());
    let (cfg, config_path, config_bytes) = match approval::config_of(&saved, plan_file, config) {
        Ok(x) => x,
        Err(e) => return config_error(&e, Format::Text),
    };
    let base = saved.plan.base.clone();
    let status = match commit::status(&base) {
        Ok(s) => s,
        Err(e) => return fail(&e, &config_path, "commit"),
    };
    let id = saved.plan_id.clone();
    let other_plan = status.plan_id.as_deref().is_some_and(|j| j != id);
    let resuming = match status.state {
        State::Committed => {
            println!(
                "smstage: {} is already committed{}: nothing to do, nothing changed",
                base.display(),
                match &status.plan_id {
                    Some(j) if other_plan => format!(" (with plan {j}, not {id})"),
                    _ => String::new(),
                }
            );
            return EXIT_OK;
        }
        State::RollingBack => {
            eprintln!("smstage: a rollback of {} is unfinished: run `smstage rollback --config {}` to finish it first", base.display(), config_path.display());
            return EXIT_FINDINGS;
        }
        State::InProgress => {
            if status.plan_id.as_deref() != Some(id.as_str()) {
                eprintln!(
                    "smstage: commit refused: the interrupted import of {} is of plan {}, not of plan {id} ({}); resume it with its own plan file, or undo it with `smstage rollback --config {}`; nothing was changed",
                    base.display(),
                    status.plan_id.as_deref().unwrap_or("(none: a commit without --plan)"),
                    plan_file.display(),
                    config_path.display()
                );
                return EXIT_FINDINGS;
            }
            match commit::saved_plan(&base) {
                Ok(Some(p)) if p == saved.plan => {}
                Ok(_) => {
                    eprintln!("smstage: commit refused: the journal's saved plan ({}) is not the plan of {}; run `smstage rollback --config {}`", base.join(".smstage/plan.json").display(), plan_file.display(), config_path.display());
                    return EXIT_FINDINGS;
                }
                Err(e) => return fail(&e, &config_path, "commit"),
            }
            eprintln!(
                "smstage: resuming the interrupted import of plan {id} ({} of {} steps done)",
                status.steps_done, status.steps_total
            );
            true
        }
        State::None | State::RolledBack => {
            let backup = match backup_check(backup) {
                Ok(b) => b,
                Err(code) => return code,
            };
            let t = std::time::Instant::now();
            if let Err(e) = approval::refuse_edited(&saved, &cfg, plan_file) {
                return config_error(&e, Format::Text);
            }
            tracing::info!(
                "plan derived again from its fingerprint in {:.3?}",
                t.elapsed()
            );
            let t = std::time::Instant::now();
            if let Err(code) = refuse_drift(&saved, &cfg, &config_path, &config_bytes, s3, early) {
                return code;
            }
            tracing::info!("fingerprint compared in {:.3?}", t.elapsed());
            let t = std::time::Instant::now();
            // A remedied plan takes the full checks: they re-derive its remedies against the
            // database (staged files' sha256 included) before any step.
            let fast = match &saved.plan.remedies {
                None => approval::recheck::remaining_checks(&saved, &backup),
                Some(_) => None,
            };
            if let Some(report) = fast {
                // Every file's stamp, ctime included, is the one plan --save checked.
                tracing::info!("backup precondition checked in {:.3?}", t.elapsed());
                if !report.ok {
                    print_report(&report, Format::Text, "check");
                    eprintln!("smstage: commit refused: the checks failed, nothing was changed");
                    return EXIT_FINDINGS;
                }
                if !report.findings.is_empty() {
                    print_report(&report, Format::Text, "check");
                }
                eprintln!(
                    "smstage: every file is as plan {id} stamped it (size, mtime, inode and ctime): the checks it was saved with stand, headers not read again"
                );
                return confirm_and_run(
                    &saved.plan,
                    &base,
                    &config_path,
                    false,
                    yes,
                    Some(id.clone()),
                    Some(id),
                );
            }
            let mut outcome = match &saved.plan.remedies {
                None => match run_checks(&cfg, backup, s3) {
                    Ok(o) => o,
                    Err(code) => return code,
                },
                Some(r) => match run_remedied_checks(&cfg, backup, s3, &r.given) {
                    Ok((o, actions)) => {
                        // Derived again, the remedies must do what the saved plan says.
                        let changed = o
                            .report
                            .ok
                            .then(|| crate::remedy::run::differs_from_saved(&actions, r))
                            .flatten();
                        if let Some(what) = changed {
                            return refuse_plan_drift(
                                &base,
                                &format!("the remedies derived from the database now differ from plan {id}'s: {what}"),
                                "something a remedy reads changed since the plan was saved (a domain a root symbolic link leads to, outside the database, is read through the link and stamped by no fingerprint): save a new plan, validate its view and commit that one",
                            );
                        }
                        o
                    }
                    Err(code) => return code,
                },
            };
            if let Some(p) = outcome.plan.as_mut() {
                if let Err(e) = crate::remedy::run::reapply(p, &saved.plan, &saved.fingerprint) {
                    eprintln!("smstage: commit refused: the plan's remedies do not fit the database: {e}; nothing was changed");
                    return EXIT_FINDINGS;
                }
            }
            tracing::info!("checks run in {:.3?}", t.elapsed());
            if !outcome.report.ok {
                print_report(&outcome.report, Format::Text, "check");
                eprintln!("smstage: commit refused: the checks failed, nothing was changed");
                return EXIT_FINDINGS;
            }
            if !outcome.report.findings.is_empty() {
                print_report(&outcome.report, Format::Text, "check");
            }
            if outcome.plan.as_ref() != Some(&saved.plan) {
                // The fingerprint matched, so only a change during the checks can get here.
                return refuse_plan_drift(
                    &base,
                    &format!("the layout derived from the database now differs from plan {id}"),
                    "the database changed while it was being checked: save a new plan, validate its view and commit that one",
                );
            }
            false
        }
    };
    confirm_and_run(
        &saved.plan,
        &base,
        &config_path,
        resuming,
        yes,
        Some(id.clone()),
        Some(id),
    )
}

/// Compares the whole fingerprint with the world now; prints the drift and returns exit 1 on
/// any (exit 2 when the fingerprint cannot be taken for a reason of the user's).
fn refuse_drift(
    saved: &SavedPlan,
    cfg: &AssemblyConfig,
    config_path: &Path,
    config_bytes: &[u8],
    s3: &crate::object::S3Options,
    early: Option<approval::early::EarlyWalk>,
) -> Result<(), i32> {
    let drift = match approval::drift(saved, cfg, config_path, config_bytes, s3, early) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("smstage: commit refused: {e}; nothing was changed");
            return Err(if e.is_usage() {
                EXIT_USAGE
            } else {
                EXIT_FINDINGS
            });
        }
    };
    if drift.is_empty() {
        return Ok(());
    }
    print_report(
        &Report::new(drift.iter().map(|d| d.finding()).collect()),
        Format::Text,
        "commit --plan",
    );
    eprintln!(
        "smstage: commit refused: {} difference{} since plan {} was saved; nothing was changed",
        drift.len(),
        if drift.len() == 1 { "" } else { "s" },
        saved.plan_id
    );
    Err(EXIT_FINDINGS)
}

/// Print the error and what to do next; `what` is the command that failed.
fn fail(e: &CommitError, config: &Path, what: &str) -> i32 {
    eprintln!("smstage: {e}");
    let cfg = config.display();
    let why = match (e.os_error(), crate::io_hint::advice(e.os_error()).cause) {
        (Some(libc::EROFS), _) => "the filesystem is read-only: once it is writable again".into(),
        (_, Some(cause)) => format!("{cause}: once that is fixed"),
        (_, None) => "once the cause is fixed".to_string(),
    };
    match e {
        CommitError::RolledBack { .. } => {
            eprintln!("smstage: the database is back in its original state")
        }
        CommitError::Locked { .. } | CommitError::ReadOnly { .. } => {}
        CommitError::RollbackFailed { .. } => eprintln!(
            "smstage: the automatic rollback could not complete, so the database is partly \
             converted (the journal records how far); {why}, run `smstage rollback --config \
             {cfg}` to restore the original"
        ),
        e if e.is_fatal() && what == "commit" => eprintln!(
            "smstage: stopped without rolling back (a failed write or fsync is never retried); \
             {why}, run `smstage commit --config {cfg}` to resume, or `smstage rollback \
             --config {cfg}` to undo"
        ),
        e if e.is_fatal() => eprintln!(
            "smstage: stopped (a failed write or fsync is never retried); {why}, run `smstage \
             rollback --config {cfg}` again"
        ),
        _ => {
            eprintln!("smstage: run `smstage status --config {cfg}` to see where the import stands")
        }
    }
    EXIT_FINDINGS
}

pub fn rollback(config: &Path) -> i32 {
    let (_, base) = match base_of(config, Format::Text) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let opts = RollbackOptions {
        progress: std::io::stderr().is_terminal(),
        ..Default::default()
    };
    match commit::rollback(&base, &opts) {
        Ok(r) if r.already_rolled_back => {
            println!(
                "smstage: {} was already rolled back; nothing changed",
                base.display()
            );
            EXIT_OK
        }
        Ok(r) => {
            println!(
                "smstage: rolled back {} ({} steps undone): the database is in its original state",
                base.display(),
                r.steps_undone
            );
            println!("{}", kept_after_rollback(&base));
            EXIT_OK
        }
        Err(e) => fail(&e, config, "rollback"),
    }
}

/// What a rollback leaves in the HDB mount's baseURI, and why (docs/journal.md, "After a
/// rollback"): every entry of `<baseURI>/.smstage`, read now, so what is printed is exactly
/// what is there.
fn kept_after_rollback(base: &Path) -> String {
    let dir = base.join(".smstage");
    let mut entries: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| {
                    // A directory (the remedies' stage) counts what it holds.
                    let len = match e.metadata() {
                        Ok(m) if m.is_dir() => walkdir::WalkDir::new(e.path())
                            .into_iter()
                            .filter_map(Result::ok)
                            .filter_map(|f| f.metadata().ok())
                            .filter(|m| m.is_file())
                            .map(|m| m.len())
                            .sum(),
                        Ok(m) => m.len(),
                        Err(_) => 0,
                    };
                    (e.file_name().to_string_lossy().into_owned(), len)
                })
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    let list: Vec<String> = entries
        .iter()
        .map(|(n, len)| {
            let what = match n.as_str() {
                "journal" => "the record that this import was rolled back, which `status` reads",
                "lock" => "the lock file commit and rollback take; removing it while another smstage waits on it would let two of them run at once",
                "plan.json" => "the plan the import rendered",
                "stage" => "the files `plan --remedy … --save` staged, returned there by the rollback; the next `plan --save` replaces them",
                _ => "left by an interrupted run",
            };
            format!("{n} ({len} bytes: {what})")
        })
        .collect();
    format!(
        "smstage: kept {d}: {}. The rollback leaves it because the journal is what a rollback interrupted by a crash resumes from, so it cannot go before the rollback's last record is on disk, and the lock must outlive every process that may be waiting on it. q never reads it, and a new import may start with it in place (check, plan and commit accept a rolled-back journal). Delete it once no smstage runs on this database and you no longer need the record: rm -r {d}",
        if list.is_empty() { "(empty)".to_string() } else { list.join(", ") },
        d = dir.display()
    )
}

pub fn status(config: &Path, format: Format) -> i32 {
    let (_, base) = match base_of(config, format) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let st = match commit::status(&base) {
        Ok(s) => s,
        Err(e) => return fail(&e, config, "status"),
    };
    match format {
        Format::Json => match serde_json::to_string_pretty(&st) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("smstage: {e}");
                return EXIT_FINDINGS;
            }
        },
        Format::Text => {
            let state = match st.state {
                State::None => "none (no import started)".to_string(),
                State::InProgress => format!(
                    "in progress (run `smstage commit --config {c}` to resume, or `smstage rollback --config {c}`)",
                    c = config.display()
                ),
                State::Committed => "committed".to_string(),
                State::RollingBack => format!(
                    "rolling back (run `smstage rollback --config {}` to finish)",
                    config.display()
                ),
                State::RolledBack => "rolled back".to_string(),
            };
            println!("state:   {state}");
            println!("steps:   {} of {} done", st.steps_done, st.steps_total);
            match &st.lock {
                None => println!("lock:    free"),
                Some(l) => println!(
                    "lock:    held by pid {} on {}{}",
                    l.pid,
                    l.host,
                    if l.alive {
                        ""
                    } else {
                        " (stale: that process is gone)"
                    }
                ),
            }
            if let Some(j) = &st.journal {
                println!("journal: {}", j.display());
            }
            if let Some(id) = &st.plan_id {
                println!("plan_id: {id}");
            }
        }
    }
    EXIT_OK
}

/// Refuses (exit 1, nothing changed) a saved plan the checks no longer give: one `plan-drift`
/// finding on `base` saying `what` differs, with `hint`.
fn refuse_plan_drift(base: &Path, what: &str, hint: &str) -> i32 {
    let f = Finding::error(code::PLAN_DRIFT, format!("{}: {what}", base.display()))
        .path(base.display())
        .hint(hint);
    print_report(&Report::new(vec![f]), Format::Text, "commit --plan");
    eprintln!("smstage: commit refused: nothing was changed");
    EXIT_FINDINGS
}

/// The checks with the saved plan's remedies applied (as `plan --remedy` ran them), and the
/// actions those remedies take on the database now (none without remedies).
fn run_remedied_checks(
    cfg: &AssemblyConfig,
    backup: BackupCheck,
    s3: &crate::object::S3Options,
    given: &[String],
) -> Result<(check::CheckOutcome, Vec<crate::remedy::action::Action>), i32> {
    let session = match super::check_cmd::session_of(cfg, given) {
        Ok(Some(s)) => s,
        Ok(None) => return run_checks(cfg, backup, s3).map(|o| (o, Vec::new())),
        Err(e) => return Err(config_error(&e, Format::Text)),
    };
    let opts = CheckOptions {
        backup,
        deep: false,
        s3: s3.clone(),
        keep_object_files: false,
    };
    crate::remedy::run::check(cfg, &opts, &session).map_err(|e| config_error(&e, Format::Text))
}

/// The checks a commit runs before it changes anything (`check` without `--deep`); a
/// configuration error is printed and becomes the exit code.
/// [`run_checks`], stamping each partition's entries as they are read when `stamp`.
fn run_checks_stamped(
    cfg: &AssemblyConfig,
    backup: BackupCheck,
    s3: &crate::object::S3Options,
    stamp: bool,
) -> Result<(check::CheckOutcome, check::PartitionStamps), i32> {
    if !stamp {
        return run_checks(cfg, backup, s3).map(|o| (o, Vec::new()));
    }
    check::run_stamped(cfg, &commit_check_options(backup, s3))
        .map_err(|e| config_error(&e, Format::Text))
}

fn run_checks(
    cfg: &AssemblyConfig,
    backup: BackupCheck,
    s3: &crate::object::S3Options,
) -> Result<check::CheckOutcome, i32> {
    check::run(cfg, &commit_check_options(backup, s3)).map_err(|e| config_error(&e, Format::Text))
}

/// The checks a commit runs before its first step: `check`'s, not deep.
fn commit_check_options(backup: BackupCheck, s3: &crate::object::S3Options) -> CheckOptions {
    CheckOptions {
        backup,
        deep: false,
        s3: s3.clone(),
        keep_object_files: false,
    }
}
