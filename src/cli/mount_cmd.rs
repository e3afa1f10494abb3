//! `smstage mount` / `smstage unmount`: build the plan (after the checks) and serve it read-only.

use super::check_cmd::print_report;
use super::{config_error, Format, EXIT_FINDINGS, EXIT_OK};
use crate::check::{self, BackupCheck, CheckOptions};
use crate::config::AssemblyConfig;
use crate::object::{open_s3, ObjectTier};
use crate::view::objread::Reopen;
use crate::view::{self, MountOptions, ObjectView};
use std::path::Path;
use std::sync::Arc;

/// `objects_local`: validation mode, with the object block cache bound in MiB.
pub fn mount(
    config: &Path,
    mountpoint: &Path,
    opts: &MountOptions,
    s3: &crate::object::S3Options,
    objects_local: Option<u64>,
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
    let objects = match objects_local {
        None => None,
        Some(mb) => {
            let tiers = outcome
                .inventory
                .as_ref()
                .map(|i| i.object_tiers.as_slice())
                .unwrap_or_default();
            match object_view(&plan, tiers, mb, s3) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("smstage: {e}");
                    return EXIT_FINDINGS;
                }
            }
        }
    };
    announce_store_anchors(&plan);
    match view::run_mount_view(plan, objects, mountpoint, opts) {
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

/// The validation-mode additions, announced on stderr (None when there is no object tier).
fn object_view(
    plan: &crate::plan::Plan,
    tiers: &[crate::inventory::ObjectTierInv],
    cache_mb: u64,
    s3: &crate::object::S3Options,
) -> Result<Option<ObjectView>, crate::view::ViewError> {
    let overlay = view::object_overlay(plan, tiers)?;
    if overlay.segments.is_empty() {
        eprintln!(
            "smstage: --object-tiers-local: the plan has no object tier; the view is the plain one"
        );
        return Ok(None);
    }
    for s in &overlay.segments {
        eprintln!(
            "smstage: validation mode (--object-tiers-local): object tier {} ({}, {} partitions) is shown as the local segment {}, read with ranged GETs through a {cache_mb} MiB cache",
            s.tier, s.url, s.partitions, s.path
        );
    }
    eprintln!(
        "smstage: the view's {}/par.txt therefore reads:\n{}smstage: this differs from the plan on purpose: the committed par.txt keeps the s3:// line(s):\n{}",
        plan.root,
        indent(&overlay.par_txt),
        indent(&plan.par_txt)
    );
    let opts = s3.clone();
    // The background server is a forked child: it must open its own S3 clients.
    let reopen: Reopen = Arc::new(move |t: &ObjectTier| open_s3(t.bucket(), t.prefix(), &opts));
    Ok(Some(ObjectView::new(
        overlay,
        cache_mb.saturating_mul(1 << 20),
        Some(reopen),
    )))
}

/// A segmented database's view differs from the committed tree in one detail per segment: the
/// anchor `stores/<tier>` is a directory in the view, a symlink to the store once committed
/// (docs/sm-layout.md, "Segmented databases"). Say so, with both.
fn announce_store_anchors(plan: &crate::plan::Plan) {
    for s in &plan.stores {
        eprintln!(
            "smstage: segment of tier {}: the view shows {}/ as a directory holding the future contents of {} (read from it); the committed tree makes it the symlink {} -> {}",
            s.tier,
            s.path,
            s.dir.display(),
            s.path,
            s.link
        );
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}
