//! `smstage mount` / `smstage unmount`: build the plan (after the checks) and serve it read-only.

use super::check_cmd::print_report;
use super::{config_error, Format, EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use crate::approval::{self, ApprovedFiles};
use crate::check::{self, BackupCheck, CheckOptions};
use crate::commit::State;
use crate::config::AssemblyConfig;
use crate::finding::Report;
use crate::object::{open_s3, ObjectTier};
use crate::view::objread::Reopen;
use crate::view::{self, MountOptions, ObjectView};
use std::path::Path;
use std::sync::Arc;

/// `smstage mount`: of a saved plan (`--plan`), or of the plan derived now (`--config`).
pub fn mount_any(
    config: Option<&Path>,
    plan_file: Option<&Path>,
    mountpoint: &Path,
    opts: &MountOptions,
    s3: &crate::object::S3Options,
    objects_local: Option<u64>,
) -> i32 {
    match (plan_file, config) {
        (Some(p), config) => mount_plan(p, config, mountpoint, opts, s3, objects_local),
        (None, Some(config)) => mount(config, mountpoint, opts, s3, objects_local),
        // clap requires one of them.
        (None, None) => config_error(&"pass --config FILE or --plan PLANFILE", Format::Text),
    }
}

/// `mount --plan`: serves exactly the saved plan, after one `lstat` per directory and per
/// top-level entry of the database (no header is read: that is what makes it quick); each
/// file is checked against the plan when first opened.
fn mount_plan(
    plan_file: &Path,
    config: Option<&Path>,
    mountpoint: &Path,
    opts: &MountOptions,
    s3: &crate::object::S3Options,
    objects_local: Option<u64>,
) -> i32 {
    let saved = match approval::load(plan_file) {
        Ok(s) => s,
        Err(e) => return config_error(&e, Format::Text),
    };
    let (cfg, _, bytes) = match approval::config_of(&saved, plan_file, config) {
        Ok(x) => x,
        Err(e) => return config_error(&e, Format::Text),
    };
    let segments: Vec<_> = saved.plan.stores.iter().map(|s| s.dir.clone()).collect();
    if let Err(code) = refuse_reserved_mountpoint(mountpoint, &cfg, &segments) {
        return code;
    }
    // The plan describes the original: once an import has started, the database no longer
    // looks like it, and saying so beats a list of every partition that moved.
    match crate::commit::status(&saved.plan.base) {
        Ok(st) if matches!(st.state, State::None | State::RolledBack) => {}
        Ok(st) => {
            eprintln!(
                "smstage: nothing mounted: an import of {} has started (state {:?}, plan {}): the saved plan describes the database before it; see `smstage status --config FILE`",
                saved.plan.base.display(),
                st.state,
                st.plan_id.as_deref().unwrap_or("unknown")
            );
            return EXIT_FINDINGS;
        }
        Err(e) => {
            eprintln!("smstage: {e}");
            return EXIT_FINDINGS;
        }
    }
    // What is served must be what `commit --plan` accepts: the plan its fingerprint gives.
    if let Err(e) = approval::refuse_edited(&saved, &cfg, plan_file) {
        return config_error(&e, Format::Text);
    }
    let mut drift = approval::config_drift(&saved, &bytes);
    drift.extend(approval::stat_structural(&saved.fingerprint));
    drift.extend(crate::remedy::stage::drift(&saved.plan));
    if !drift.is_empty() {
        print_report(
            &Report::new(drift.iter().map(|d| d.finding()).collect()),
            Format::Text,
            "mount --plan",
        );
        eprintln!(
            "smstage: mount refused: the database changed since plan {} was saved; nothing was mounted",
            saved.plan_id
        );
        return EXIT_FINDINGS;
    }
    let objects = match objects_local {
        None => None,
        Some(mb) => {
            let tiers = match object_inventories(&cfg, s3) {
                Ok(t) => t,
                Err(code) => return code,
            };
            match object_view(&saved.plan, &tiers, mb, s3) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("smstage: {e}");
                    return EXIT_FINDINGS;
                }
            }
        }
    };
    eprintln!(
        "smstage: serving plan {} (saved in {})",
        saved.plan_id,
        plan_file.display()
    );
    let approved = Arc::new(ApprovedFiles::of(&saved));
    // The fingerprint (a record per file) was needed for the checks above and for the stamps;
    // the server (forked from this process with `--background`) must not keep it resident.
    let crate::plan::saved::SavedPlan {
        plan, fingerprint, ..
    } = saved;
    drop(fingerprint);
    drop(bytes);
    trim_heap();
    match view::run_mount_approved(plan, objects, Some(approved), mountpoint, opts) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("smstage: {e}");
            EXIT_FINDINGS
        }
    }
}

/// The object tiers' inventories, for validation mode of a saved plan (which reads no
/// header of the local database, but must list the object tiers to show them).
fn object_inventories(
    cfg: &AssemblyConfig,
    s3: &crate::object::S3Options,
) -> Result<Vec<crate::inventory::ObjectTierInv>, i32> {
    let hdb = cfg
        .hdb_mount()
        .map_err(|e| config_error(&e, Format::Text))?;
    let mut out = Vec::new();
    for t in cfg.tiers_of_mount(&hdb.name) {
        if let Some(crate::config::StoreUri::S3 { bucket, prefix }) = &t.store {
            match check::object_inventory(&t.name, bucket, prefix, s3) {
                Ok((inv, _)) => out.push(inv),
                Err(e) => {
                    eprintln!("smstage: object tier {}: {e}", t.name);
                    return Err(EXIT_FINDINGS);
                }
            }
        }
    }
    Ok(out)
}

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
    if let Err(code) = refuse_reserved_mountpoint(mountpoint, &cfg, &[]) {
        return code;
    }
    // The view shows the plan, and there is a plan only for a database that may be imported:
    // the backup is the commit's precondition, not the preview's.
    let check_opts = CheckOptions {
        backup: BackupCheck::Skip,
        deep: false,
        s3: s3.clone(),
        // The view of validation mode lists every object of the object tiers.
        keep_object_files: objects_local.is_some(),
    };
    let outcome = match check::run(&cfg, &check_opts) {
        Ok(o) => o,
        Err(e) => return config_error(&e, Format::Text),
    };
    let check::CheckOutcome {
        report,
        inventory,
        plan,
    } = outcome;
    let Some(plan) = plan else {
        eprintln!("smstage: nothing to mount: the database does not pass the checks");
        print_report(&report, Format::Text, "check");
        return EXIT_FINDINGS;
    };
    let objects = match objects_local {
        None => None,
        Some(mb) => {
            let tiers = inventory
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
    release_inventory(inventory, report);
    match view::run_mount_view(plan, objects, mountpoint, opts) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("smstage: {e}");
            EXIT_FINDINGS
        }
    }
}

/// Refuses (exit 2, before anything is read) a mountpoint inside a directory the view serves
/// or the import writes: the view would contain itself, and its server would walk into its
/// own mount (a reader of the loop hangs, and so does the server's exit).
fn refuse_reserved_mountpoint(
    mountpoint: &Path,
    cfg: &AssemblyConfig,
    segments: &[std::path::PathBuf],
) -> Result<(), i32> {
    let reserved = crate::reserved::reserved_dirs(cfg, segments);
    match crate::reserved::containing(mountpoint, &reserved) {
        None => Ok(()),
        Some(r) => {
            eprintln!(
                "smstage: nothing mounted: mountpoint {} is inside {} {}, which the view serves or the import writes: the view would contain itself; mount it on an empty directory outside (e.g. `mkdir /tmp/smstage-view` and mount there)",
                mountpoint.display(),
                r.what,
                r.dir.display()
            );
            Err(EXIT_USAGE)
        }
    }
}

/// The view serves the plan alone: the inventory the checks built (a record per file of the
/// database) is freed before serving and the freed heap handed back to the kernel, or the
/// server (forked from this process with `--background`) would keep it resident for as long
/// as the view is mounted.
fn release_inventory(inventory: Option<crate::inventory::Inventory>, report: Report) {
    drop(inventory);
    drop(report);
    trim_heap();
}

/// Hands the freed heap back to the kernel before serving.
fn trim_heap() {
    // SAFETY: glibc's malloc_trim only returns free heap pages to the kernel.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::malloc_trim(0);
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
