//! The command line as a new user meets it: every flag of every `--help` is described, flags
//! that do not apply are not offered, and every command a message shows can be run as printed.

mod common;

use clap::Parser;
use common::*;
use std::path::Path;

const SUBCOMMANDS: &[&str] = &[
    "check", "plan", "verify", "mount", "unmount", "commit", "rollback", "status", "schema",
    "init", "gen",
];

/// The option and argument entries of a `--help` text, each with its description (empty when
/// there is none). clap prints an entry as `  --flag <X>  text` or, in the long form, the
/// entry alone on its line and the text indented below it.
fn entries(help: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = help.lines().collect();
    let mut out = Vec::new();
    let mut in_section = false;
    for (i, l) in lines.iter().enumerate() {
        if l.ends_with(':') && !l.starts_with(' ') {
            in_section = matches!(*l, "Options:" | "Arguments:");
            continue;
        }
        let t = l.trim_start();
        let indent = l.len() - t.len();
        // Entries sit at 2 (or 6, a long flag without a short one); long-form descriptions
        // below them at 10.
        if !in_section
            || indent > 6
            || !(t.starts_with('-') || t.starts_with('<') || t.starts_with('['))
        {
            continue;
        }
        let (spec, text) = match t.find("  ") {
            Some(p) => (t[..p].to_string(), t[p..].trim().to_string()),
            None => (t.to_string(), String::new()),
        };
        let text = if text.is_empty() {
            lines
                .get(i + 1)
                .filter(|n| n.len() - n.trim_start().len() > 6 && !n.trim().is_empty())
                .map(|n| n.trim().to_string())
                .unwrap_or_default()
        } else {
            text
        };
        // `[default: …]` and `[possible values: …]` alone say nothing of what the flag does.
        let text = if text.starts_with('[') {
            String::new()
        } else {
            text
        };
        out.push((spec, text));
    }
    out
}

#[test]
fn every_flag_and_argument_of_every_help_is_described() {
    let mut undescribed = Vec::new();
    for sub in SUBCOMMANDS {
        for flag in ["--help", "-h"] {
            let out = smstage(&[sub, flag]);
            assert_eq!(out.code, 0, "{sub} {flag}: {}", out.all());
            let e = entries(&out.stdout);
            assert!(
                e.iter().any(|(s, _)| s.starts_with("-h, --help")),
                "{sub} {flag}: the parser found no entries in\n{}",
                out.stdout
            );
            for (spec, text) in e {
                if text.is_empty() {
                    undescribed.push(format!("smstage {sub} {flag}: {spec}"));
                }
            }
        }
    }
    let top = smstage(&["--help"]);
    for (spec, text) in entries(&top.stdout) {
        if text.is_empty() {
            undescribed.push(format!("smstage --help: {spec}"));
        }
    }
    assert!(
        undescribed.is_empty(),
        "undescribed:\n{}",
        undescribed.join("\n")
    );
}

#[test]
fn the_help_parser_flags_an_undescribed_entry() {
    let help = "Usage: x\n\nArguments:\n  <MOUNTPOINT>\n\nOptions:\n      --format <FORMAT>  [default: text]\n  -h, --help  Print help\n";
    let e = entries(help);
    assert_eq!(e.len(), 3, "{e:?}");
    assert_eq!(e[0], ("<MOUNTPOINT>".to_string(), String::new()));
    assert_eq!(
        e[1],
        ("--format <FORMAT>".to_string(), String::new()),
        "a default is not a description"
    );
    assert_eq!(e[2].1, "Print help");
    let long = "Options:\n      --config <FILE>\n          The assembly file\n\n      --deep\n\n  -h, --help\n          Print help\n";
    let e = entries(long);
    assert_eq!(e[0].1, "The assembly file");
    assert_eq!(e[1], ("--deep".to_string(), String::new()));
}

#[test]
fn instance_metadata_is_offered_only_where_object_tiers_are_read() {
    for sub in SUBCOMMANDS {
        let out = smstage(&[sub, "--help"]);
        let offered = out.stdout.contains("--allow-instance-metadata");
        let reads_objects = matches!(*sub, "check" | "plan" | "verify" | "mount" | "commit");
        assert_eq!(
            offered, reads_objects,
            "smstage {sub} --help:\n{}",
            out.stdout
        );
    }
}

#[test]
fn plan_is_named_wherever_config_is_the_other_choice() {
    for sub in ["mount", "commit"] {
        let help = smstage(&[sub, "--help"]);
        assert!(
            help.stdout.contains("--plan <PLANFILE>"),
            "{sub}: {}",
            help.stdout
        );
        let bare = smstage(if sub == "mount" {
            &["mount", "/tmp/x"][..]
        } else {
            &["commit"][..]
        });
        assert_eq!(bare.code, 2, "{sub}: {}", bare.all());
        assert!(
            bare.stderr.contains("--plan") && bare.stderr.contains("--config"),
            "smstage {sub} without --config or --plan must name both: {}",
            bare.stderr
        );
    }
}

/// The commands shown in the messages of `src/`: in backticks, or on a line of their own.
fn hints_in(text: &str) -> Vec<String> {
    // Rust string continuations (`\` at the end of a line) join the lines of a message.
    let mut joined = String::new();
    let mut lines = text.lines().peekable();
    while let Some(l) = lines.next() {
        if l.trim_start().starts_with("//") {
            joined.push('\n');
            continue;
        }
        if let Some(stripped) = l.strip_suffix('\\') {
            joined.push_str(stripped);
            while let Some(n) = lines.peek() {
                let n = n.trim_start();
                lines.next();
                if let Some(s) = n.strip_suffix('\\') {
                    joined.push_str(s);
                } else {
                    joined.push_str(n);
                    break;
                }
            }
            joined.push('\n');
        } else {
            joined.push_str(l);
            joined.push('\n');
        }
    }
    let mut out = Vec::new();
    for line in joined.lines() {
        let mut rest = line;
        while let Some(p) = rest.find("smstage ") {
            let before = &rest[..p];
            let after = &rest[p..];
            let word = after["smstage ".len()..]
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
                .next()
                .unwrap_or("");
            let is_cmd = SUBCOMMANDS.contains(&word)
                && !after["smstage ".len() + word.len()..].starts_with(':');
            // Shown as a command: in backticks, at the start of a message line, or after
            // "with: " (`remove it with: smstage unmount …`).
            let shown = before.ends_with('`')
                || before.ends_with("\\n")
                || before.trim_end().ends_with("\\n")
                || before.ends_with("with: ");
            if is_cmd && shown {
                let end = after.find(['`', '"']).unwrap_or(after.len());
                let mut cmd = after[..end].to_string();
                if let Some(p) = cmd.find("\\n") {
                    cmd.truncate(p);
                }
                if let Some(p) = cmd.find("  ") {
                    cmd.truncate(p);
                }
                out.push(cmd.trim().to_string());
            }
            rest = &after["smstage ".len()..];
        }
    }
    out
}

/// Format placeholders (`{cfg}`, `{}`) become a path, as they do when the message is printed.
fn as_printed(cmd: &str) -> Vec<String> {
    let mut s = String::new();
    let mut depth = 0;
    for c in cmd.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    s.push_str("/srv/x");
                }
            }
            '}' => depth -= 1,
            _ if depth > 0 => {}
            _ => s.push(c),
        }
    }
    s.split_whitespace().map(String::from).collect()
}

#[test]
fn every_command_shown_in_a_message_parses_as_printed() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut bad = Vec::new();
    let mut seen = 0;
    for e in walkdir::WalkDir::new(&src) {
        let e = e.unwrap();
        if e.path().extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap();
        for cmd in hints_in(&text) {
            seen += 1;
            let argv = as_printed(&cmd);
            if let Err(err) = smstage::cli::Cli::try_parse_from(&argv) {
                bad.push(format!(
                    "{}: `{cmd}`: {}",
                    e.path().strip_prefix(&src).unwrap().display(),
                    err.render().to_string().lines().next().unwrap_or("")
                ));
            }
        }
    }
    assert!(
        seen >= 15,
        "only {seen} commands found: the extractor is broken"
    );
    assert!(
        bad.is_empty(),
        "commands that cannot be run as printed:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_hint_extractor_finds_backticked_continued_and_own_line_commands() {
    let src = r#"
        // `smstage status` in a comment is not a message
        eprintln!("run `smstage rollback --config {cfg}` now; see `smstage status`");
        eprintln!("x; run `smstage commit \
                   --config {cfg}` to resume");
        "next:\n  smstage check --config {} --backup {b}",
        eprintln!("smstage schema: note: {n}");
    "#;
    assert_eq!(
        hints_in(src),
        vec![
            "smstage rollback --config {cfg}",
            "smstage status",
            "smstage commit --config {cfg}",
            "smstage check --config {} --backup {b}",
        ]
    );
    assert!(smstage::cli::Cli::try_parse_from(as_printed("smstage status")).is_err());
    assert!(
        smstage::cli::Cli::try_parse_from(as_printed("smstage rollback --config {cfg}")).is_ok()
    );
}

/// The user guide's commands are typed as written: each `smstage …` line of its `sh` blocks
/// parses with the command-line definition.
#[test]
fn every_command_of_the_user_guide_parses() {
    let guide =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/user-guide.md"))
            .unwrap();
    let mut in_sh = false;
    let mut seen = 0;
    let mut bad = Vec::new();
    // Shell variables the guide sets (`R="--remedy … --remedy …"`), expanded as the shell does
    // in the commands that use them unquoted (`$R`).
    let mut vars: Vec<(String, String)> = Vec::new();
    for line in guide.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        let l = line.trim();
        if let Some((name, value)) = l.split_once("=\"") {
            if in_sh && !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase()) {
                let value = value.trim_end_matches('"').to_string();
                vars.push((format!("${name}"), value));
                continue;
            }
        }
        if !in_sh || !l.starts_with("smstage ") {
            continue;
        }
        let mut cmd = l.split(" #").next().unwrap().trim().to_string();
        for (name, value) in &vars {
            cmd = cmd.replace(name.as_str(), value);
        }
        seen += 1;
        let argv: Vec<&str> = cmd.split_whitespace().collect();
        assert!(
            !cmd.contains('$'),
            "`{cmd}`: a variable the guide does not set"
        );
        if let Err(e) = smstage::cli::Cli::try_parse_from(&argv) {
            bad.push(format!(
                "`{cmd}`: {}",
                e.render().to_string().lines().next().unwrap_or("")
            ));
        }
    }
    assert!(seen >= 20, "only {seen} commands found");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
