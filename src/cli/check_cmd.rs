//! `smstage check`: run the preconditions and print the report.

use super::{config_error, BackupArgs, Format, EXIT_FINDINGS, EXIT_OK};
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
        Err(e) => return config_error(&e, format),
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
