//! The text files a database and an import are configured by: the SM assembly YAML (parsed
//! strictly, as check/plan/commit do, and as a draft, as `init` re-reads what it wrote) and
//! `par.txt` (the segment list). No panic; every YAML error names the file and a line within
//! it; whatever the strict parser accepts, the draft parser accepts too; par.txt yields one
//! segment per non-blank line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smstage::config::{AssemblyConfig, ConfigError};
use std::path::Path;

const PATH: &str = "/fuzz/assembly.yaml";

fn check_err(e: &ConfigError, text: &str) {
    let msg = e.to_string();
    assert!(msg.starts_with(PATH), "error does not name the file: {msg}");
    if let Some(l) = e.line() {
        // YAML (libyaml) breaks lines at \r\n, \r, \n, NEL, LS and PS; the position may be
        // one past the end.
        let breaks = ['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'];
        let lines = text.replace("\r\n", "\n").matches(breaks).count() + 1;
        assert!(l >= 1 && l <= lines + 1, "line {l} of {lines}: {msg}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let strict = AssemblyConfig::parse(text, Path::new(PATH));
    let draft = AssemblyConfig::parse_draft(text, Path::new(PATH));
    for r in [&strict, &draft] {
        if let Err(e) = r {
            check_err(e, text);
        }
    }
    if strict.is_ok() {
        assert!(
            draft.is_ok(),
            "strict parse accepts, draft refuses: {draft:?}"
        );
    }

    let segs = smstage::par_txt::parse_par_txt(Path::new("/db"), text);
    let lines = text
        .lines()
        .filter(|l| !l.trim_end_matches('\r').trim().is_empty())
        .count();
    assert_eq!(segs.len(), lines, "segments != non-blank lines");
    for s in &segs {
        assert!(!s.entry.is_empty() && !s.entry.contains('\n'), "{s:?}");
    }
});
