//! `smstage verify`: load a root as kdb+ does; optionally compare with another root or run q.

use super::check_cmd::print_report;
use super::{config_error, Format, EXIT_FINDINGS, EXIT_OK};
use crate::config::AssemblyConfig;
use crate::verify::{self, VerifyOptions};
use std::path::{Path, PathBuf};

pub fn run(root: &Path, config: Option<&PathBuf>, opts: &VerifyOptions, format: Format) -> i32 {
    let cfg = match config.map(|c| AssemblyConfig::load(c)).transpose() {
        Ok(c) => c,
        Err(e) => return config_error(&e, format),
    };
    match verify::run(root, cfg.as_ref(), opts) {
        Ok(report) => {
            print_report(&report, format, "verify");
            if report.ok {
                EXIT_OK
            } else {
                EXIT_FINDINGS
            }
        }
        Err(e) => config_error(&e, format),
    }
}
