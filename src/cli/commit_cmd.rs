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
    let (status, seen) = match commit::status_seen(&base) {
        Ok(s) => s,
        Err(e) => return fail(&e, config, "commit"),
    };
    let seen = seen.map(std::sync::Arc::new);
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
    let run = Run {
        resuming,
        yes,
        plan_id,
        required_id: None,
        proof: None,
        seen,
    };
    confirm_and_run(&plan, &base, config, run)
}

fn refuse_failed_checks(report: &Report) -> i32 {
    print_report(report, Format::Text, "check");
    eprintln!("smstage: commit refused: the checks failed, nothing was changed");
    EXIT_FINDINGS
}

/// How [`confirm_and_run`] runs a commit.
struct Run {
    /// An interrupted commit is resumed (no confirmation asked).
    resuming: bool,
    yes: bool,
    /// Names what is committed (printed; recorded in a new journal).
    plan_id: Option<String>,
    /// When given, a journal of another plan is not resumed.
    required_id: Option<String>,
    /// `commit --plan`'s proof, awaited at the plan's gate (commit::gate).
    proof: Option<(commit::Prepared, commit::Proof)>,
    /// The journal as read for the status this run was decided on (CommitOptions::seen).
    seen: Option<std::sync::Arc<commit::SeenJournal>>,
}

impl Run {
    /// `commit --plan` of the plan `id`.
    fn of_plan(id: &str, resuming: bool, yes: bool) -> Run {
        Run {
            resuming,
            yes,
            plan_id: Some(id.to_string()),
            required_id: Some(id.to_string()),
            proof: None,
            seen: None,
        }
    }

    fn seen(self, seen: &Option<std::sync::Arc<commit::SeenJournal>>) -> Run {
        Run {
            seen: seen.clone(),
            ..self
        }
    }
}

/// Asks for confirmation (unless resuming or `--yes`), commits `plan` and says how it went.
fn confirm_and_run(plan: &crate::plan::Plan, base: &Path, config: &Path, run: Run) -> i32 {
    let Run {
        resuming,
        yes,
        plan_id,
        required_id,
        proof,
        seen,
    } = run;
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
        seen,
        ..Default::default()
    };
    let outcome = match proof {
        Some((prepared, p)) => commit::commit_with_proof(plan, prepared, &opts, p),
        None => commit::commit(plan, &opts),
    };
    match outcome {
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
        Err(e) => match refused_by_proof(&e) {
            Some(code) => code,
            None => fail(&e, config, "commit"),
        },
    }
}

/// The proof beside the first steps found drift (and printed the findings): says so and
/// returns the exit code, or None for any other error.
fn refused_by_proof(e: &CommitError) -> Option<i32> {
    let (summary, usage, rolled_back) = match e {
        CommitError::Drift { summary, usage } => (summary, *usage, false),
        CommitError::RolledBack { source } => match source.as_ref() {
            CommitError::Drift { summary, usage } => (summary, *usage, true),
            _ => return None,
        },
        _ => return None,
    };
    if rolled_back {
        eprintln!("smstage: commit refused: {summary}; the steps taken while the database was being compared were rolled back, so nothing was changed (names, bytes, modes and times are as they were)");
    } else {
        eprintln!("smstage: commit refused: {summary}; nothing was changed");
    }
    Some(if usage { EXIT_USAGE } else { EXIT_FINDINGS })
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
    let (status, seen) = match commit::status_seen(&base) {
        Ok(s) => s,
        Err(e) => return fail(&e, &config_path, "commit"),
    };
    let seen = seen.map(std::sync::Arc::new);
    let id = saved.plan_id.clone();
    let other_plan = status.plan_id.as_deref().is_some_and(|j| j != id);
    let mut early = early;
    let (resuming, proof) = match status.state {
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
            // Should the interrupted commit owe its proof (commit::gate), the commit runs this
            // one before the gate; it does not run otherwise.
            let proof = gated(&saved).map(|(prepared, gate, marked)| {
                let ctx = ProofContext::new(&saved, &cfg, &config_path, &config_bytes, s3);
                let proof = ctx.proof(early.take(), gate, marked, false);
                (prepared, proof)
            });
            (true, proof)
        }
        State::None | State::RolledBack => {
            let backup = match backup_check(backup) {
                Ok(b) => b,
                Err(code) => return code,
            };
            let t = std::time::Instant::now();
            // Two jobs of pure work, one on each core: the plan derived again (is the file
            // edited?) and the commit's steps with their gate.
            let (edited, gated) = std::thread::scope(|sc| {
                let edited = sc.spawn(|| approval::refuse_edited(&saved, &cfg, plan_file));
                let gated = gated(&saved);
                let edited = edited
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p));
                (edited, gated)
            });
            if let Err(e) = edited {
                return config_error(&e, Format::Text);
            }
            tracing::info!(
                "plan derived again from its fingerprint, steps derived in {:.3?}",
                t.elapsed()
            );
            if let Some((prepared, gate, marked)) = gated {
                // The commit's first steps run beside the walk (commit::gate): what they leave
                // marks on is compared now, the rest by the walk, before the first exchange.
                let t = std::time::Instant::now();
                let mut drift = approval::config_drift(&saved, &config_bytes);
                match approval::gated::drift_before_steps(&saved.fingerprint, &marked) {
                    Ok(d) => drift.extend(d),
                    Err(e) => {
                        eprintln!("smstage: commit refused: {e}; nothing was changed");
                        return if e.is_usage() {
                            EXIT_USAGE
                        } else {
                            EXIT_FINDINGS
                        };
                    }
                }
                // Any difference here: the whole compare below, before any step, names it
                // as it would have without the gate (a directory's mtime moved by an entry
                // added is reported as that entry).
                let report = drift
                    .is_empty()
                    .then(|| approval::recheck::remaining_checks(&saved, &backup))
                    .flatten();
                // Some when nothing differs (gated() asks stamps_stand_for_the_checks); were
                // it None, the sequential path below would run the full checks.
                if let Some(report) = report {
                    tracing::info!(
                        "entries the first steps mark compared, backup precondition checked in {:.3?}",
                        t.elapsed()
                    );
                    if let Some(code) = refuse_remaining(&report) {
                        return code;
                    }
                    let ctx = ProofContext::new(&saved, &cfg, &config_path, &config_bytes, s3);
                    let proof = ctx.proof(early.take(), gate, marked, true);
                    eprintln!(
                        "smstage: every file is being compared with plan {id}'s stamps (size, mtime, inode and ctime) while the first steps run, and no partition moves before that proof passes; the checks it was saved with stand, headers not read again"
                    );
                    let run = Run {
                        proof: Some((prepared, proof)),
                        ..Run::of_plan(&id, false, yes).seen(&seen)
                    };
                    return confirm_and_run(&saved.plan, &base, &config_path, run);
                }
            }
            let t = std::time::Instant::now();
            if let Err(code) =
                refuse_drift(&saved, &cfg, &config_path, &config_bytes, s3, early.take())
            {
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
                if let Some(code) = refuse_remaining(&report) {
                    return code;
                }
                eprintln!(
                    "smstage: every file is as plan {id} stamped it (size, mtime, inode and ctime): the checks it was saved with stand, headers not read again"
                );
                return confirm_and_run(
                    &saved.plan,
                    &base,
                    &config_path,
                    Run::of_plan(&id, false, yes).seen(&seen),
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
            (false, None)
        }
    };
    let run = Run {
        proof,
        ..Run::of_plan(&id, resuming, yes).seen(&seen)
    };
    confirm_and_run(&saved.plan, &base, &config_path, run)
}

/// The remaining checks' findings printed; the exit code when they refuse the commit.
fn refuse_remaining(report: &Report) -> Option<i32> {
    if !report.ok {
        print_report(report, Format::Text, "check");
        eprintln!("smstage: commit refused: the checks failed, nothing was changed");
        return Some(EXIT_FINDINGS);
    }
    if !report.findings.is_empty() {
        print_report(report, Format::Text, "check");
    }
    None
}

/// The saved entries the steps before the gate leave marks on.
type Marked = std::collections::BTreeMap<String, crate::plan::fingerprint::FsEntry>;

/// The steps of a plan whose commit may start before its proof has finished, their gate and
/// the entries they mark; None when the proof must come first: remedies, a fingerprint that
/// does not stand for the checks (no ctimes, segments: the full checks run then), or one that
/// holds what the first steps would create.
fn gated(saved: &SavedPlan) -> Option<(commit::Prepared, commit::ProofGate, Marked)> {
    let fp = &saved.fingerprint;
    if saved.plan.remedies.is_some() || !approval::recheck::stamps_stand_for_the_checks(fp) {
        return None;
    }
    let prepared = commit::Prepared::of(&saved.plan).ok()?;
    let gate = prepared.gate()?.clone();
    let (marked, clash) = approval::gated::marked_entries(fp, &gate);
    (!clash).then_some((prepared, gate, marked))
}

/// What the proof beside the steps needs, owned: it runs on a thread of its own.
struct ProofContext {
    id: String,
    fingerprint: crate::plan::fingerprint::Fingerprint,
    cfg: AssemblyConfig,
    config_path: PathBuf,
    config_bytes: Vec<u8>,
    s3: crate::object::S3Options,
}

impl ProofContext {
    fn new(
        saved: &SavedPlan,
        cfg: &AssemblyConfig,
        config_path: &Path,
        config_bytes: &[u8],
        s3: &crate::object::S3Options,
    ) -> ProofContext {
        ProofContext {
            id: saved.plan_id.clone(),
            fingerprint: saved.fingerprint.clone(),
            cfg: cfg.clone(),
            config_path: config_path.to_path_buf(),
            config_bytes: config_bytes.to_vec(),
            s3: s3.clone(),
        }
    }

    /// The walk (the early one when it is of this database) and the compare; the findings
    /// printed and `CommitError::Drift` on any difference. Started now on a thread of its own
    /// when `now`, else when the commit asks for its verdict.
    fn proof(
        self,
        early: Option<approval::early::EarlyWalk>,
        gate: commit::ProofGate,
        marked: Marked,
        now: bool,
    ) -> commit::Proof {
        let work = move || -> Result<(), CommitError> {
            let t = std::time::Instant::now();
            let taken = approval::scan::take_with(
                &self.cfg,
                &self.config_path,
                &self.config_bytes,
                &self.s3,
                early,
            )
            .map_err(|e| CommitError::Drift {
                summary: format!(
                    "the database could not be compared with plan {}: {e}",
                    self.id
                ),
                usage: e.is_usage(),
            })?;
            let drift =
                approval::gated::drift_beside_steps(&self.fingerprint, taken, &gate, &marked);
            tracing::info!(
                "fingerprint compared beside the steps in {:.3?}",
                t.elapsed()
            );
            if drift.is_empty() {
                return Ok(());
            }
            print_drift_findings(&drift);
            Err(CommitError::Drift {
                summary: differences(drift.len(), &self.id),
                usage: false,
            })
        };
        if !now {
            return Box::new(work);
        }
        match std::thread::Builder::new().name("proof".into()).spawn(work) {
            Ok(h) => Box::new(move || {
                h.join().unwrap_or_else(|_| {
                    Err(CommitError::Drift {
                        summary: "the comparison of the database with the plan failed (its thread panicked)".into(),
                        usage: false,
                    })
                })
            }),
            Err(e) => Box::new(move || {
                Err(CommitError::Drift {
                    summary: format!(
                        "cannot start the comparison of the database with the plan: {e}"
                    ),
                    usage: false,
                })
            }),
        }
    }
}

/// "N difference(s) since plan ID was saved".
fn differences(n: usize, id: &str) -> String {
    format!(
        "{n} difference{} since plan {id} was saved",
        if n == 1 { "" } else { "s" }
    )
}

/// One `plan-drift` finding per difference, printed.
fn print_drift_findings(drift: &[crate::plan::fingerprint::Drift]) {
    print_report(
        &Report::new(drift.iter().map(|d| d.finding()).collect()),
        Format::Text,
        "commit --plan",
    );
}

/// Prints the drift findings and refuses: exit 1, nothing changed.
fn print_drift(saved: &SavedPlan, drift: &[crate::plan::fingerprint::Drift]) -> i32 {
    print_drift_findings(drift);
    eprintln!(
        "smstage: commit refused: {}; nothing was changed",
        differences(drift.len(), &saved.plan_id)
    );
    EXIT_FINDINGS
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
    Err(print_drift(saved, &drift))
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
                State::InProgress if st.proof_pending => format!(
                    "in progress, stopped before its proof that the database is as plan {} stamped it had passed (run `smstage commit --plan PLANFILE` with that plan's file to resume, or `smstage rollback --config {}`)",
                    st.plan_id.as_deref().unwrap_or("?"),
                    config.display()
                ),
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
