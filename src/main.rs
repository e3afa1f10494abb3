//! The `smstage` binary: parse arguments, set up logging, run, exit with the command's code.

use clap::Parser;

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SMSTAGE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = smstage::cli::Cli::parse();
    std::process::exit(smstage::cli::run(cli));
}
