//! `smstage commit`, `rollback` and `status`: check, confirm, then render the plan on disk.

use super::check_cmd::print_report;
use super::{config_error, BackupArgs, Format, EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use crate::check::{self, BackupCheck, CheckOptions};
use crate::commit::{self, CommitError, CommitOptions, RollbackOptions, State};
use crate::config::AssemblyConfig;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

fn base_of(config: &Path, format: Format) -> Result<(AssemblyConfig, PathBuf), i32> {
    let cfg = AssemblyConfig::load(config).map_err(|e| config_error(&e, format))?;
    let base = cfg.hdb_base_dir().map_err(|e| config_error(&e, format))?;
    Ok((cfg, base))
}

pub fn commit(config: &Path, backup: &BackupArgs, yes: bool, s3: &crate::object::S3Options) -> i32 {
    let (cfg, base) = match base_of(config, Format::Text) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let status = match commit::status(&base) {
        Ok(s) => s,
        Err(e) => return fail(&e, config, "commit"),
    };
    let (plan, resuming) = match status.state {
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
                (plan, true)
            }
            Ok(None) => {
                eprintln!("smstage: the journal of {} is in progress but its plan is missing; run `smstage rollback --config {}`", base.display(), config.display());
                return EXIT_FINDINGS;
            }
            Err(e) => return fail(&e, config, "commit"),
        },
        State::None | State::RolledBack => {
            let backup = match (&backup.backup, backup.no_backup_check) {
                (Some(d), _) => BackupCheck::Dir(d.clone()),
                (None, true) => BackupCheck::Skip,
                (None, false) => {
                    return config_error(
                        &"a backup is a precondition of the import: pass --backup DIR (a full copy of the database), or --no-backup-check if you have one elsewhere",
                        Format::Text,
                    )
                }
            };
            let outcome = match check::run(
                &cfg,
                &CheckOptions {
                    backup,
                    deep: false,
                    s3: s3.clone(),
                },
            ) {
                Ok(o) => o,
                Err(e) => return config_error(&e, Format::Text),
            };
            match outcome.plan {
                Some(plan) if outcome.report.ok => {
                    if !outcome.report.findings.is_empty() {
                        print_report(&outcome.report, Format::Text, "check");
                    }
                    (plan, false)
                }
                _ => {
                    print_report(&outcome.report, Format::Text, "check");
                    eprintln!("smstage: commit refused: the checks failed, nothing was changed");
                    return EXIT_FINDINGS;
                }
            }
        }
    };
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
        ..Default::default()
    };
    match commit::commit(&plan, &opts) {
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
            EXIT_OK
        }
        Err(e) => fail(&e, config, "commit"),
    }
}

/// Print the error and what to do next; `what` is the command that failed.
fn fail(e: &CommitError, config: &Path, what: &str) -> i32 {
    eprintln!("smstage: {e}");
    let cfg = config.display();
    let why = if e.os_error() == Some(libc::EROFS) {
        "the filesystem is read-only: once it is writable again"
    } else {
        "once the cause is fixed"
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
            EXIT_OK
        }
        Err(e) => fail(&e, config, "rollback"),
    }
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
                State::None => "none (no import started)",
                State::InProgress => {
                    "in progress (run `smstage commit` to resume, or `smstage rollback`)"
                }
                State::Committed => "committed",
                State::RollingBack => "rolling back (run `smstage rollback` to finish)",
                State::RolledBack => "rolled back",
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
        }
    }
    EXIT_OK
}
