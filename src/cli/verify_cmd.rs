//! `smstage verify`: load a root as kdb+ does; optionally compare with another root or run q.

use super::check_cmd::print_verdict;
use super::{config_error, Format, EXIT_FINDINGS, EXIT_OK};
use crate::config::AssemblyConfig;
use crate::verify::{self, VerifyOptions};
use std::path::{Path, PathBuf};

pub fn run(root: &Path, config: Option<&PathBuf>, opts: &VerifyOptions, format: Format) -> i32 {
    let cfg = match config.map(|c| AssemblyConfig::load(c)).transpose() {
        Ok(c) => c,
        Err(e) => return config_error(&e, format),
    };
    match verify::run_summarized(root, cfg.as_ref(), opts) {
        Ok((report, summary)) => {
            match format {
                // The report's fields as `check` prints them, plus what was compared.
                Format::Json => {
                    let mut v = serde_json::to_value(&report).unwrap_or_default();
                    if let Some(o) = v.as_object_mut() {
                        o.insert(
                            "summary".into(),
                            serde_json::to_value(&summary).unwrap_or_default(),
                        );
                    }
                    match serde_json::to_string_pretty(&v) {
                        Ok(s) => println!("{s}"),
                        Err(e) => eprintln!("smstage: cannot render the report as JSON: {e}"),
                    }
                }
                Format::Text => {
                    for f in &report.findings {
                        println!("{f}");
                    }
                    print!("{summary}");
                    print_verdict(&report, "verify");
                }
            }
            if report.ok {
                EXIT_OK
            } else {
                EXIT_FINDINGS
            }
        }
        Err(e) => config_error(&e, format),
    }
}
