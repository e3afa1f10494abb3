//! `smstage mount` / `smstage unmount`: build the plan (after the checks) and serve it read-only.

use super::check_cmd::print_report;
use super::{config_error, Format, EXIT_FINDINGS, EXIT_OK};
use crate::check::{self, BackupCheck, CheckOptions};
use crate::config::AssemblyConfig;
use crate::view::{self, MountOptions};
use std::path::Path;

pub fn mount(
    config: &Path,
    mountpoint: &Path,
    opts: &MountOptions,
    s3: &crate::object::S3Options,
) -> i32 {
    let cfg = match AssemblyConfig::load(config) {
        Ok(c) => c,
        Err(e) => return config_error(&e, Format::Text),
    };
    // The view shows the plan, and there is a plan only for a database that may be imported:
    // the backup is the commit's precondition, not the preview's.
    let check_opts = CheckOptions {
        backup: BackupCheck::Skip,
        deep: false,
        s3: s3.clone(),
    };
    let outcome = match check::run(&cfg, &check_opts) {
        Ok(o) => o,
        Err(e) => return config_error(&e, Format::Text),
    };
    let Some(plan) = outcome.plan else {
        eprintln!("smstage: nothing to mount: the database does not pass the checks");
        print_report(&outcome.report, Format::Text, "check");
        return EXIT_FINDINGS;
    };
    match view::run_mount(plan, mountpoint, opts) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("smstage: {e}");
            EXIT_FINDINGS
        }
    }
}

pub fn unmount(mountpoint: &Path) -> i32 {
    match view::run_unmount(mountpoint) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("smstage: {e}");
            EXIT_FINDINGS
        }
    }
}
