//! Databases that need a remedy (issue #19), shared by `tests/remedy_cli.rs` and
//! `mount-tests/remedy_tests.rs`.

use super::*;

/// The remedy every kdb+tick-shaped database here takes: `ts` derived from `time`.
pub const DERIVE_TS: &str = "derive-prtncol:*=time";

/// Adds to every partitioned table of the assembly at `config` a `prtnCol: ts` and a column
/// `ts` of type timestamp, configured first: the column SM needs and the data lacks. Works on
/// what `smstage gen` writes (block columns) and what `smstage schema` prints (flow columns).
pub fn configure_ts(config: &Path) {
    let yaml = fs::read_to_string(config).unwrap();
    let mut out = String::new();
    let mut tables = 0;
    for line in yaml.lines() {
        if line
            .trim_start()
            .starts_with("# no partition column (prtnCol) printed")
        {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if line == "    type: partitioned" {
            out.push_str("    prtnCol: ts\n");
        }
        if line == "    columns:" {
            // schema prints `      - {name: x, …}` items, gen `    - name: x` blocks.
            if yaml.contains("      - {name: ") {
                out.push_str("      - {name: ts, type: timestamp}\n");
            } else {
                out.push_str("    - name: ts\n      type: timestamp\n");
            }
            tables += 1;
        }
    }
    assert!(tables > 0, "no table in {yaml}");
    fs::write(config, out).unwrap();
}

/// `smstage gen --tick-style` (time a timespan, no timestamp) configured with `ts` as prtnCol.
pub fn tick_style(partitions: u32, tables: u32, rows: u32) -> Base {
    let dir = tempfile::tempdir().unwrap();
    let out = smstage(&[
        "gen",
        "--out",
        dir.path().to_str().unwrap(),
        "--tick-style",
        "--partitions",
        &partitions.to_string(),
        "--tables",
        &tables.to_string(),
        "--rows",
        &rows.to_string(),
    ]);
    assert_eq!(out.code, 0, "gen failed: {}", out.all());
    let b = Base { dir };
    configure_ts(&b.config());
    b
}

/// `plan --remedy REMEDY --save PLANFILE` (PLANFILE beside the base's database); the plan file.
pub fn save_remedied(b: &Base, remedy: &str) -> (PathBuf, Out) {
    let plan = b.path().join("remedied.plan");
    let out = smstage(&[
        "plan",
        "--config",
        &b.config_str(),
        "--remedy",
        remedy,
        "--save",
        plan.to_str().unwrap(),
        "--force",
    ]);
    (plan, out)
}

/// Every staged file under `<base>/.smstage/stage/<stage id>`, relative to the stage, sorted
/// (the stage id names the database's fingerprint, which differs between copies).
pub fn staged_files(b: &Base) -> Vec<String> {
    let root = b.path().join(".smstage/stage");
    if !root.exists() {
        return Vec::new();
    }
    let mut v: Vec<String> = walkdir::WalkDir::new(&root)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(&root).unwrap().display().to_string();
            rel.split_once('/')
                .map_or(rel.clone(), |(_, r)| r.to_string())
        })
        .collect();
    v.sort();
    v
}
