//! The `smstage` binary: parse arguments, set up logging, run, exit with the command's code.

use clap::Parser;

/// Exit status of a command whose reader went away (`smstage status | head -1`): the one a
/// process killed by SIGPIPE reports, so a pipeline under `set -o pipefail` sees a cut-off
/// output, never a verdict. Rust ignores SIGPIPE (sockets of the object store rely on that), so
/// the write fails instead and `println!` panics: that panic is caught here.
const EXIT_BROKEN_PIPE: i32 = 128 + libc::SIGPIPE;

fn is_broken_pipe(message: &str) -> bool {
    message.starts_with("failed printing to std") && message.contains("Broken pipe")
}

fn payload_text(p: &(dyn std::any::Any + Send)) -> &str {
    p.downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| p.downcast_ref::<&str>().copied())
        .unwrap_or("")
}

fn main() {
    smstage::logging::init();
    let cli = smstage::cli::Cli::parse();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // A closed stdout is the reader's choice, not a bug: no panic message for it.
        if !is_broken_pipe(payload_text(info.payload())) {
            default_hook(info)
        }
    }));
    let code =
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| smstage::cli::run(cli))) {
            Ok(code) => code,
            Err(p) if is_broken_pipe(payload_text(p.as_ref())) => EXIT_BROKEN_PIPE,
            Err(p) => std::panic::resume_unwind(p),
        };
    std::process::exit(code);
}
