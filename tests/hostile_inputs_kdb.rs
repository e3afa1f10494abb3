//! Hostile inputs, the reader's side (issue 16, items 6 to 8): valid data never called
//! corrupt (bitmex-nested's anymap items that are lists), an unsupported variant never
//! reported as corrupt, messages that name the real fault (a `sym` cut inside a symbol, a
//! symlink loop, a path too long for the filesystem), and logs without colour codes where no
//! terminal reads them.

mod common;

use common::*;
use smstage::kdb::{read_column, ColumnData};
use std::fs;
use std::process::Command;

/// The values of one float-list row of a nested column.
fn floats(col: &ColumnData, row: usize) -> &[f64] {
    match col {
        ColumnData::Nested(items) => match &items[row] {
            ColumnData::Float(v) => v,
            other => panic!("row {row}: not a float list: {other:?}"),
        },
        other => panic!("not a nested column: {other:?}"),
    }
}

/// Rows of a nested column that are empty general lists.
fn empty_lists(col: &ColumnData) -> usize {
    match col {
        ColumnData::Nested(items) => items
            .iter()
            .filter(|i| matches!(i, ColumnData::Nested(v) if v.is_empty()))
            .count(),
        _ => 0,
    }
}

/// The values were read off the bytes with a separate script (see docs/kdb-format.md): row 0
/// is `fb 00 4d 00 01 00 00 00` + count 0 (an empty general list), row 77 of `bids#` the small
/// item `88 01` + 44074f, row 201 a large item `fb 00 09 00 01 00 00 00 0c …` of 12 floats.
#[test]
fn bitmex_nested_list_items_decode_to_what_their_bytes_hold() {
    let Some(src) = fixture("bitmex-nested") else {
        return;
    };
    let table = src.join("2022.03.25/bitmexbook");
    let read = |c: &str| read_column(&table.join(c)).unwrap_or_else(|e| panic!("{c}: {e}"));
    let bids = read("bids");
    let asks = read("asks");
    for (name, col) in [
        ("bids", &bids),
        ("asks", &asks),
        ("bidsizes", &read("bidsizes")),
        ("asksizes", &read("asksizes")),
    ] {
        assert_eq!(col.data.len(), 11894, "{name}");
        assert_eq!(col.data.fmt_value(0), "", "{name}: row 0 is an empty list");
    }
    let (b, a) = (&bids.data, &asks.data);
    assert_eq!((empty_lists(b), empty_lists(a)), (316, 310));
    assert_eq!(floats(b, 77), [44074.0]);
    let r = floats(b, 201);
    assert_eq!((r.len(), r[0], r[11]), (12, 44075.0, 44068.5));
    let r = floats(a, 201);
    assert_eq!((r.len(), r[0], r[9]), (10, 44082.0, 44098.5));
    // The last row: the book's best bid (bids descend) is below its best ask (asks ascend).
    let (lb, la) = (floats(b, 11893), floats(a, 11893));
    assert_eq!((lb.len(), lb[0], lb[24]), (25, 44122.0, 44106.0));
    assert_eq!((la.len(), la[0], la[24]), (25, 44122.5, 44141.0));
    let total = |c: &ColumnData| match c {
        ColumnData::Nested(items) => items.iter().map(ColumnData::len).sum::<usize>(),
        _ => 0,
    };
    assert_eq!((total(b), total(a)), (208628, 218122));
}

fn finding_codes(stdout: &str) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

/// `verify --deep` of the database as JSON: it reads every file with the reader `check --deep`
/// uses and reports with the same codes, whatever the configuration says.
fn verify_deep(b: &Base) -> Out {
    smstage(&[
        "verify",
        b.data().to_str().unwrap(),
        "--deep",
        "--format",
        "json",
    ])
}

#[test]
fn verify_of_bitmex_nested_decodes_every_row() {
    let Some(b) = corpus::corpus_base("bitmex-nested") else {
        return;
    };
    let out = verify_deep(&b);
    let codes = finding_codes(&out.stdout);
    assert!(
        !codes
            .iter()
            .any(|c| c == "load-corrupt-file" || c == "load-unsupported-variant"),
        "{}",
        out.all()
    );
    let v = smstage(&["verify", b.data().to_str().unwrap(), "--deep"]);
    assert!(
        !v.stdout.contains("load-corrupt-file") && !v.stdout.contains("load-unsupported"),
        "{}",
        v.all()
    );
    assert_eq!(v.code, 0, "{}", v.all());
}

/// bitmex-nested with its schema, plus a configured timestamp `ts` as every table's prtnCol:
/// the column SM needs and the data lacks. Without it `check` stops at the configuration (no
/// prtnCol, exit 2) before reading a file; with it, `check` goes on and `--deep` decodes every
/// file, so the only findings are the absent `ts`.
fn bitmex_with_an_absent_prtncol() -> Option<Base> {
    let b = corpus::corpus_base("bitmex-nested")?;
    let yaml = fs::read_to_string(b.config()).unwrap();
    let mut out = String::new();
    let mut tables = 0;
    for line in yaml.lines() {
        if line
            .trim_start()
            .starts_with("# no partition column (prtnCol) printed")
        {
            out.push_str("    prtnCol: ts\n");
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if line == "    columns:" {
            out.push_str("      - {name: ts, type: timestamp}\n");
            tables += 1;
        }
    }
    assert_eq!(tables, 3, "schema's tables of bitmex-nested:\n{yaml}");
    fs::write(b.config(), out).unwrap();
    Some(b)
}

fn check_deep(b: &Base) -> Out {
    smstage(&[
        "check",
        "--config",
        &b.config_str(),
        "--no-backup-check",
        "--deep",
        "--format",
        "json",
    ])
}

#[test]
fn check_deep_of_bitmex_nested_decodes_every_row() {
    let Some(b) = bitmex_with_an_absent_prtncol() else {
        return;
    };
    let out = check_deep(&b);
    assert_eq!(
        finding_codes(&out.stdout),
        vec!["schema-columns-mismatch"; 3],
        "only the absent ts of each table: {}",
        out.all()
    );
    assert_eq!(out.code, 1, "{}", out.all());

    // The same run sees a list item it cannot decode: --deep did read bids#.
    let data = b.data().join("2022.03.25/bitmexbook/bids#");
    let mut bytes = fs::read(&data).unwrap();
    bytes[4104] = 3;
    fs::write(&data, bytes).unwrap();
    let out = check_deep(&b);
    let codes = finding_codes(&out.stdout);
    assert_eq!(
        codes
            .iter()
            .filter(|c| *c == "load-unsupported-variant")
            .count(),
        1,
        "{}",
        out.all()
    );
    assert!(
        !codes.iter().any(|c| c == "load-corrupt-file"),
        "{}",
        out.all()
    );
}

/// A nested item that is a non-empty list is valid-looking data this reader does not decode
/// (no real file shows its layout): `load-unsupported-variant`, never `load-corrupt-file` and
/// never "restore the file from the backup", from check and from verify.
#[test]
fn an_unsupported_nested_item_is_never_reported_corrupt() {
    let Some(b) = corpus::corpus_base("bitmex-nested") else {
        return;
    };
    let data = b.data().join("2022.03.25/bitmexbook/bids#");
    let mut bytes = fs::read(&data).unwrap();
    // Row 0's item at 4096: `fb 00 4d 00 01 00 00 00` + int64 count 0 → count 3.
    assert_eq!(bytes[4096..4099], [0xfb, 0x00, 0x4d]);
    bytes[4104] = 3;
    fs::write(&data, bytes).unwrap();

    let out = verify_deep(&b);
    let codes = finding_codes(&out.stdout);
    assert!(
        codes.iter().any(|c| c == "load-unsupported-variant"),
        "{}",
        out.all()
    );
    assert!(
        !codes.iter().any(|c| c == "load-corrupt-file"),
        "{}",
        out.all()
    );
    assert!(
        !out.stdout.contains("restore the file from the backup"),
        "{}",
        out.all()
    );
    assert!(
        out.stdout.contains("offset 4096") && out.stdout.contains("fb 00 4d 00 01 00 00 00 03"),
        "names the bytes: {}",
        out.all()
    );
    let v = smstage(&["verify", b.data().to_str().unwrap(), "--deep"]);
    assert!(v.stdout.contains("load-unsupported-variant"), "{}", v.all());
    assert!(!v.stdout.contains("load-corrupt-file"), "{}", v.all());
}

/// `sym` cut 3 bytes before its end, inside its last symbol: the root has a symbol file, a
/// corrupt one; the finding says where the cut symbol starts and where the file ends.
#[test]
fn a_sym_cut_inside_a_symbol_is_corrupt_at_its_offset() {
    let Some(b) = corpus::corpus_base("bitmex-nested") else {
        return;
    };
    let sym = b.data().join("sym");
    let whole = fs::read(&sym).unwrap();
    let cut = whole.len() - 3;
    let last_start = whole[..whole.len() - 1]
        .iter()
        .rposition(|&x| x == 0)
        .unwrap()
        + 1;
    fs::write(&sym, &whole[..cut]).unwrap();

    let out = verify_deep(&b);
    assert_eq!(out.code, 1, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let findings = v["findings"].as_array().unwrap();
    assert!(
        !findings.iter().any(|f| f["code"] == "load-domain-missing"),
        "the root has a sym file: {}",
        out.stdout
    );
    let f = findings
        .iter()
        .find(|f| f["code"] == "load-corrupt-file")
        .unwrap_or_else(|| panic!("no corrupt finding: {}", out.stdout));
    let msg = f["message"].as_str().unwrap();
    assert!(msg.contains("cut in the middle of a symbol"), "{msg}");
    assert!(
        msg.contains(&format!("starts at offset {last_start}"))
            && msg.contains(&format!("ends at offset {cut}")),
        "{msg}"
    );
}

#[test]
fn a_symlink_loop_is_called_a_loop() {
    let b = generated(1, 1, 3, 5);
    std::os::unix::fs::symlink("selfloop", b.data().join("selfloop")).unwrap();
    let out = smstage(&[
        "check",
        "--config",
        &b.config_str(),
        "--no-backup-check",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stdout.contains("symbolic link loop"), "{}", out.all());
    assert!(!out.stdout.contains("pointing outside"), "{}", out.all());
}

/// A directory nested past PATH_MAX (4096 bytes): opening it fails with ENAMETOOLONG, which
/// no permission change fixes.
#[test]
fn a_path_too_long_for_the_filesystem_is_not_a_permission_problem() {
    let b = generated(1, 1, 3, 5);
    let deep = vec!["x".repeat(200); 22].join("/");
    // `mkdir -p` builds it one directory at a time, past what one path may name.
    let st = Command::new("mkdir")
        .arg("-p")
        .arg(&deep)
        .current_dir(b.data())
        .status()
        .unwrap();
    assert!(st.success());
    let out = smstage(&[
        "check",
        "--config",
        &b.config_str(),
        "--no-backup-check",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "load-unreadable")
        .unwrap_or_else(|| panic!("no load-unreadable: {}", out.all()));
    let hint = f["hint"].as_str().unwrap_or_default();
    assert!(!hint.contains("permission"), "{hint}");
    assert!(hint.contains("4095 per path"), "{hint}");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("the name is too long for the filesystem"),
        "{f}"
    );
}

/// A committed sample database's `commit`, logging at info: the log line is there, and on a
/// pipe it carries no ANSI escape.
fn commit_logging(b: &Base, wrap: impl FnOnce(Command) -> Command) -> Out {
    let mut c = Command::new(bin());
    c.args([
        "commit",
        "--config",
        &b.config_str(),
        "--no-backup-check",
        "--yes",
    ])
    .env("SMSTAGE_LOG", "info")
    .env_remove("NO_COLOR");
    run(wrap(c))
}

#[test]
fn logs_on_a_pipe_carry_no_colour_codes() {
    let b = generated(1, 1, 3, 5);
    let out = commit_logging(&b, |c| c);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stderr.contains("committed"), "{}", out.stderr);
    assert!(!out.stderr.contains('\u{1b}'), "{:?}", out.stderr);
}

/// Under a pseudo-terminal (`script`), colours stay, unless NO_COLOR is set.
#[test]
fn logs_on_a_terminal_are_coloured_unless_no_color() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("WARNING: `script` (util-linux) is missing: terminal case SKIPPED");
        return;
    }
    for (no_color, coloured) in [(None, true), (Some("1"), false)] {
        let b = generated(1, 1, 3, 5);
        let cmd = format!(
            "{} commit --config {} --no-backup-check --yes",
            bin(),
            b.config_str()
        );
        let mut c = Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"])
            .env("SMSTAGE_LOG", "info")
            .env_remove("NO_COLOR");
        if let Some(v) = no_color {
            c.env("NO_COLOR", v);
        }
        let out = run(c);
        // `script` copies the terminal's output (stdout and stderr) to its stdout.
        // The progress bar draws with escapes of its own on the same terminal: look only
        // at the log record, from its timestamp's `Z` to its target.
        let s = &out.stdout;
        let at = s
            .rfind("smstage::commit::exec")
            .unwrap_or_else(|| panic!("no log record: {s:?}"));
        let from = s[..at].rfind('Z').unwrap_or(at);
        let log = &s[from..at];
        assert!(log.contains("INFO"), "{log:?}");
        assert_eq!(
            log.contains('\u{1b}'),
            coloured,
            "NO_COLOR={no_color:?}: {log:?}"
        );
    }
}
