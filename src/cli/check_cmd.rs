//! `smstage check`: run the preconditions and print the report.

use super::{config_error, BackupArgs, Format, EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use crate::check::{self, BackupCheck, CheckOptions};
use crate::config::AssemblyConfig;
use crate::finding::Report;
use std::path::Path;

pub fn run(
    config: &Path,
    backup: &BackupArgs,
    deep: bool,
    format: Format,
    s3: &crate::object::S3Options,
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
    let outcome = match check::run(
        &cfg,
        &CheckOptions {
            backup,
            deep,
            s3: s3.clone(),
            keep_object_files: false,
        },
    ) {
        Ok(o) => o,
        Err(e) => return config_error(&e, format),
    };
    print_report(&outcome.report, format, "check");
    if outcome.report.ok {
        EXIT_OK
    } else {
        EXIT_FINDINGS
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
