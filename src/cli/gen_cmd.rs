//! `smstage gen`: write a sample database under `OUT/data` and a matching `OUT/assembly.yaml`.

use super::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use crate::gen::{self, GenSpec};
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct GenArgs {
    /// Directory that plays the HDB mount's baseURI: the database goes to OUT/data, the
    /// assembly configuration to OUT/assembly.yaml.
    #[arg(long, value_name = "OUT")]
    pub out: PathBuf,
    #[command(flatten)]
    pub spec: GenSpec,
    /// Write a segmented database: the partitions spread over N segment directories (OUT/seg1
    /// … OUT/segN unless --segment-dir is given), OUT/data holding par.txt, sym and the root
    /// files, and one local tier per segment in the assembly configuration.
    #[arg(long, value_name = "N")]
    pub segments: Option<usize>,
    /// Directory of one segment (repeat once per segment, in order; absolute, or relative to
    /// the current directory). Implies --segments with their count.
    #[arg(long, value_name = "DIR")]
    pub segment_dir: Vec<PathBuf>,
}

/// The segment directories asked for (absolute), or None for a plain partitioned database.
fn segment_dirs(args: &GenArgs, base: &std::path::Path) -> Result<Option<Vec<PathBuf>>, String> {
    let n = match (args.segments, args.segment_dir.len()) {
        (None, 0) => return Ok(None),
        (Some(0), _) => return Err("--segments must be at least 1".into()),
        (Some(n), 0) => n,
        (Some(n), k) if n != k => {
            return Err(format!(
                "--segments {n} but {k} --segment-dir given: give one --segment-dir per segment, or none"
            ))
        }
        (_, k) => k,
    };
    if args.segment_dir.is_empty() {
        return Ok(Some(
            (0..n)
                .map(|i| base.join(gen::segments::tier_name(i)))
                .collect(),
        ));
    }
    let cwd = std::env::current_dir().map_err(|e| format!("current directory: {e}"))?;
    let mut dirs = Vec::new();
    for d in &args.segment_dir {
        let abs = cwd.join(d);
        std::fs::create_dir_all(&abs)
            .map_err(|e| format!("cannot create segment directory {}: {e}", abs.display()))?;
        let abs = abs
            .canonicalize()
            .map_err(|e| format!("segment directory {}: {e}", abs.display()))?;
        if abs.starts_with(base.join("data")) || base.starts_with(&abs) {
            return Err(format!(
                "segment directory {} must lie outside {} and not hold it",
                abs.display(),
                base.join("data").display()
            ));
        }
        dirs.push(abs);
    }
    Ok(Some(dirs))
}

pub fn run(args: &GenArgs) -> i32 {
    let data = args.out.join("data");
    if data.exists() {
        eprintln!(
            "smstage: {} already exists: gen never overwrites a database; pick another --out",
            data.display()
        );
        return EXIT_USAGE;
    }
    let base = match std::fs::create_dir_all(&args.out).and_then(|_| args.out.canonicalize()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("smstage: cannot create {}: {e}", args.out.display());
            return EXIT_USAGE;
        }
    };
    // Validated before anything is written.
    let segments = match segment_dirs(args, &base) {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("smstage: {msg}");
            return EXIT_USAGE;
        }
    };
    let summary = match gen::generate(&base.join("data"), &args.spec) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("smstage: {e}");
            return EXIT_FINDINGS;
        }
    };
    let base_uri = format!("file://{}", base.display());
    let yaml = match segments {
        None => gen::assembly_yaml(&args.spec, &base_uri),
        Some(dirs) => {
            let counts = match gen::segments::distribute(
                &base,
                &base.join("data"),
                &summary.partitions,
                &dirs,
            ) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("smstage: {e}");
                    return EXIT_FINDINGS;
                }
            };
            let mut tiers = Vec::new();
            for (i, (dir, n)) in dirs.iter().zip(&counts).enumerate() {
                println!(
                    "segment {}: {} ({n} partitions)",
                    gen::segments::tier_name(i),
                    dir.display()
                );
                tiers.push((
                    gen::segments::tier_name(i),
                    Some(format!("file://{}", dir.display())),
                ));
            }
            gen::assembly_yaml_tiers(&args.spec, &base_uri, &tiers)
        }
    };
    let yaml_path = base.join("assembly.yaml");
    if let Err(e) = std::fs::write(&yaml_path, yaml) {
        eprintln!("smstage: cannot write {}: {e}", yaml_path.display());
        return EXIT_FINDINGS;
    }
    println!(
        "generated {summary}\nassembly configuration: {}",
        yaml_path.display()
    );
    EXIT_OK
}
