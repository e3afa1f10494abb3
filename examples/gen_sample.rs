//! Temporary driver for the generator until `smstage gen` is wired: `cargo run --example
//! gen_sample -- DIR [flags]`, prints a summary and, with `--yaml URI`, the assembly YAML.

use clap::Parser;
use smstage::gen::{assembly_yaml, generate, GenSpec};

#[derive(Parser)]
struct Cli {
    dir: std::path::PathBuf,
    /// Print the assembly YAML for this HDB baseURI.
    #[arg(long)]
    yaml: Option<String>,
    #[command(flatten)]
    spec: GenSpec,
}

fn main() {
    let cli = Cli::parse();
    let t = std::time::Instant::now();
    match generate(&cli.dir, &cli.spec) {
        Ok(s) => {
            eprintln!("{s} in {:.2?}", t.elapsed());
            if let Some(uri) = cli.yaml {
                print!("{}", assembly_yaml(&cli.spec, &uri));
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
