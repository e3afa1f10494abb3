//! The `smstage` binary: parse arguments, set up logging, run, exit with the command's code.

use clap::Parser;

fn main() {
    smstage::logging::init();
    let cli = smstage::cli::Cli::parse();
    std::process::exit(smstage::cli::run(cli));
}
