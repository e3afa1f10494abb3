//! `smstage check`: run the preconditions and print the report.

use super::{config_error, BackupArgs, Format, EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use crate::check::{self, BackupCheck, CheckOptions};
use crate::config::AssemblyConfig;
use crate::finding::Report;
use crate::remedy::{self, run::RemedyReport, session::Session};
use std::path::Path;
use std::sync::Arc;

pub fn run(
    config: &Path,
    backup: &BackupArgs,
    deep: bool,
    format: Format,
    s3: &crate::object::S3Options,
    remedies: &[String],
) -> i32 {
    let cfg = match AssemblyConfig::load(config) {
        Ok(c) => c,
        Err(e) => {
            return match AssemblyConfig::hdb_base_dir_lenient(config) {
                Some(base) => {
                    beside_config_error(&e, &check::database_findings(&base, deep), format)
                }
                None => config_error(&e, format),
            }
        }
    };
    let session = match session_of(&cfg, remedies) {
        Ok(s) => s,
        Err(e) => return config_error(&e, format),
    };
    if let (Some(s), true) = (&session, deep) {
        s.check_rows();
    }
    let backup = match (&backup.backup, backup.no_backup_check) {
        (Some(dir), _) => BackupCheck::Dir(dir.clone()),
        (None, true) => BackupCheck::Skip,
        (None, false) => {
            return config_error(
                &"a backup is a precondition of the import: pass --backup DIR (a full copy of the database), or --no-backup-check if you have one elsewhere",
                format,
            )
        }
    };
    let opts = CheckOptions {
        backup,
        deep,
        s3: s3.clone(),
        keep_object_files: false,
    };
    let (outcome, remedied) = match &session {
        None => match check::run(&cfg, &opts) {
            Ok(o) => (o, None),
            Err(e) => return config_error(&e, format),
        },
        Some(s) => match remedy::run::check(&cfg, &opts, s) {
            Ok((o, actions)) => (o, Some(remedy::run::reports(s, &actions))),
            Err(e) => return config_error(&e, format),
        },
    };
    match &remedied {
        None => print_report(&outcome.report, format, "check"),
        Some(r) => print_remedied(&outcome.report, r, format),
    }
    if outcome.report.ok {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    }
}

/// The remedies given, resolved against the configuration (None when none is given).
pub(crate) fn session_of(
    cfg: &AssemblyConfig,
    remedies: &[String],
) -> Result<Option<Arc<Session>>, String> {
    if remedies.is_empty() {
        return Ok(None);
    }
    let parsed = remedy::spec::parse_all(remedies).map_err(|e| e.to_string())?;
    let base = cfg.hdb_base_dir().map_err(|e| e.to_string())?;
    Session::new(cfg, &base, parsed)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// The report of `check --remedy`: the findings, then what each remedy will do (JSON: the
/// report's fields plus `remedies`).
pub(crate) fn print_remedied(report: &Report, remedies: &[RemedyReport], format: Format) {
    match format {
        Format::Json => {
            #[derive(serde::Serialize)]
            struct Remedied<'a> {
                #[serde(flatten)]
                report: &'a Report,
                remedies: &'a [RemedyReport],
            }
            match serde_json::to_string_pretty(&Remedied { report, remedies }) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("smstage: cannot render the report as JSON: {e}"),
            }
        }
        Format::Text => {
            for f in &report.findings {
                println!("{f}");
            }
            for r in remedies {
                println!(
                    "remedy {}: {} action{}",
                    r.remedy,
                    r.actions.len(),
                    if r.actions.len() == 1 { "" } else { "s" }
                );
                for a in &r.actions {
                    println!("    {a}");
                }
            }
            print_verdict(report, "check (as the remedies will leave the database)");
        }
    }
}

/// A configuration error (exit 2, unchanged) with the database's own findings beside it:
/// `config-invalid` first in JSON, then the database's; in text the error on stderr as ever,
/// the findings on stdout under a line saying how they were read.
fn beside_config_error(
    err: &crate::config::ConfigError,
    findings: &[crate::finding::Finding],
    format: Format,
) -> i32 {
    let report = Report::new(findings.to_vec());
    match format {
        Format::Json => {
            let mut all = vec![serde_json::json!({
                "severity": "error",
                "code": "config-invalid",
                "message": err.to_string(),
                "path": serde_json::Value::Null,
            })];
            match serde_json::to_value(&report.findings) {
                Ok(serde_json::Value::Array(f)) => all.extend(f),
                _ => eprintln!("smstage: cannot render the database's findings as JSON"),
            }
            println!("{}", serde_json::json!({"ok": false, "findings": all}));
        }
        Format::Text => {
            eprintln!("smstage: {err}");
            println!("the database's own findings, read without the configuration (as verify reads a root without --config):");
            for f in &report.findings {
                println!("{f}");
            }
            println!(
                "check: configuration refused; the database has {} error{}, {} warning{} of its own — FAILED: fix the configuration and the errors above, then run it again",
                report.errors(),
                if report.errors() == 1 { "" } else { "s" },
                report.warnings(),
                if report.warnings() == 1 { "" } else { "s" }
            );
        }
    }
    EXIT_USAGE
}

pub(crate) fn print_report(report: &Report, format: Format, what: &str) {
    match format {
        Format::Json => match serde_json::to_string_pretty(report) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("smstage: cannot render the report as JSON: {e}"),
        },
        Format::Text => {
            for f in &report.findings {
                println!("{f}");
            }
            print_verdict(report, what);
        }
    }
}

/// The last line of a text report: counts and verdict.
pub(crate) fn print_verdict(report: &Report, what: &str) {
    let verdict = if report.ok {
        "passed"
    } else {
        "FAILED: fix the errors above, then run it again"
    };
    println!(
        "{what}: {} error{}, {} warning{} — {verdict}",
        report.errors(),
        if report.errors() == 1 { "" } else { "s" },
        report.warnings(),
        if report.warnings() == 1 { "" } else { "s" }
    );
}
