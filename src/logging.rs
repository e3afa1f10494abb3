//! Logging on stderr for the binary: `SMSTAGE_LOG` filters (default `warn`), and colour codes
//! only where a person reads them: stderr is a terminal and `NO_COLOR` is not set
//! (<https://no-color.org>: any non-empty value). Logs redirected to a file or a pipe stay
//! plain text.

use std::io::IsTerminal;

/// Whether log lines carry ANSI colour codes.
pub fn use_colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Installs the global subscriber; call once, first thing in `main`.
pub fn init() {
    let colour = use_colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SMSTAGE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(!use_colour(false, None));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, Some(OsStr::new("1"))));
        // An empty NO_COLOR does not count, as the convention says.
        assert!(use_colour(true, Some(OsStr::new(""))));
    }
}
