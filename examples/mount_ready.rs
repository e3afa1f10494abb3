//! Benchmark split of `smstage mount --background` for `scripts/bench-view.sh`: times building
//! the plan (the checks, which read every header) apart from mounting it and waiting until the
//! view answers, the two halves the CLI runs back to back.

use smstage::check::{self, BackupCheck, CheckOptions};
use smstage::config::AssemblyConfig;
use smstage::view::{self, MountOptions};
use std::path::Path;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config, mountpoint] = args.as_slice() else {
        eprintln!("usage: mount_ready CONFIG MOUNTPOINT");
        std::process::exit(2);
    };
    let start = Instant::now();
    let cfg = match AssemblyConfig::load(Path::new(config)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mount_ready: {config}: {e}");
            std::process::exit(2);
        }
    };
    let opts = CheckOptions {
        backup: BackupCheck::Skip,
        deep: false,
        s3: Default::default(),
        keep_object_files: false,
    };
    let plan = match check::run(&cfg, &opts) {
        Ok(check::CheckOutcome { plan: Some(p), .. }) => p,
        Ok(_) => {
            eprintln!("mount_ready: the database does not pass the checks");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("mount_ready: {e}");
            std::process::exit(1);
        }
    };
    let planned = start.elapsed().as_secs_f64();
    let bg = MountOptions {
        background: true,
        allow_other: false,
        ..Default::default()
    };
    if let Err(e) = view::mount(plan, Path::new(mountpoint), &bg) {
        eprintln!("mount_ready: {e}");
        std::process::exit(1);
    }
    let total = start.elapsed().as_secs_f64();
    println!(
        "plan {planned:.4} s, mount after plan {:.4} s, total {total:.4} s",
        total - planned
    );
}
