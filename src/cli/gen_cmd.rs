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
    let summary = match gen::generate(&base.join("data"), &args.spec) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("smstage: {e}");
            return EXIT_FINDINGS;
        }
    };
    let yaml = gen::assembly_yaml(&args.spec, &format!("file://{}", base.display()));
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
