//! `smstage verify`: plain and segmented roots, `--against`, and the segment rules of `\l`.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

/// Lays out the SM layout of `plan` beside the original by COPYING (the test's own renderer,
/// independent of the commit): `<base>/db`, `<base>/data/versions/...` from `<base>/data`.
fn materialize_copy(base: &Path, plan_json: &serde_json::Value, into: &Path) {
    for n in plan_json["nodes"].as_array().unwrap() {
        let path = into.join(n["path"].as_str().unwrap());
        match n["kind"].as_str().unwrap() {
            "dir" => fs::create_dir_all(&path).unwrap(),
            "symlink" => symlink(n["target"].as_str().unwrap(), &path).unwrap(),
            "file" => fs::write(&path, n["contents"].as_str().unwrap()).unwrap(),
            "moved" => {
                let from = base.join(n["from"].as_str().unwrap());
                if n["is_dir"].as_bool().unwrap() {
                    copy_tree(&from, &path);
                } else {
                    fs::copy(&from, &path).unwrap();
                }
            }
            k => panic!("unknown node kind {k}"),
        }
    }
}

fn plan_of(b: &Base) -> serde_json::Value {
    let out = smstage(&["plan", "--config", &b.config_str(), "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn original_and_materialized_layout_verify_and_are_equal() {
    let b = generated(3, 2, 10, 300);
    let plan = plan_of(&b);
    let view = b.path().join("materialized");
    materialize_copy(b.path(), &plan, &view);
    let root = view.join(plan["root"].as_str().unwrap());
    assert_eq!(
        fs::read_to_string(root.join("par.txt")).unwrap(),
        plan["par_txt"].as_str().unwrap()
    );

    let out = smstage(&["verify", b.data().to_str().unwrap(), "--deep"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = smstage(&[
        "verify",
        root.to_str().unwrap(),
        "--config",
        &b.config_str(),
        "--deep",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = smstage(&[
        "verify",
        root.to_str().unwrap(),
        "--against",
        b.data().to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
}

#[test]
fn against_names_the_first_differing_column() {
    let b = generated(2, 1, 6, 100);
    let other = b.path().join("other");
    copy_tree(&b.data(), &other);
    // Flip one float in the last partition's price column.
    let part = fs::read_dir(&other)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .max()
        .unwrap();
    let table = tables_in(&part)[0].clone();
    let col = table.join("price");
    let mut bytes = fs::read(&col).unwrap();
    let n = bytes.len();
    bytes[n - 2] ^= 0x40;
    fs::write(&col, bytes).unwrap();
    let out = smstage(&[
        "verify",
        b.data().to_str().unwrap(),
        "--against",
        other.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let f = &v["findings"][0];
    assert_eq!(f["code"], "verify-content-differs");
    assert_eq!(f["column"], "price");
    assert_eq!(f["partition"], part.file_name().unwrap().to_str().unwrap());
    assert!(
        f["message"].as_str().unwrap().contains("row 99"),
        "{}",
        f["message"]
    );
}

#[test]
fn segment_rules_of_backslash_l() {
    let b = generated(2, 1, 6, 50);
    let plan = plan_of(&b);
    let view = b.path().join("m");
    materialize_copy(b.path(), &plan, &view);
    let root = view.join("db");
    let seg = fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with('$'))
        .unwrap();
    // A name ending in $ inside a segment is ignored, as \l ignores it.
    fs::write(seg.join("tmp$"), b"x").unwrap();
    let out = smstage(&["verify", root.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.all());
    // Anything else in a segment makes \l fail.
    fs::write(seg.join("README"), b"x").unwrap();
    let out = smstage(&["verify", root.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("verify-segment") && out.stdout.contains("README"),
        "{}",
        out.all()
    );
    fs::remove_file(seg.join("README")).unwrap();
    // A par.txt entry that does not resolve.
    fs::write(root.join("par.txt"), "nowhere$\n").unwrap();
    let out = smstage(&["verify", root.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("verify-par-txt") && out.stdout.contains("nowhere$"),
        "{}",
        out.all()
    );
}

#[test]
fn real_fixtures_verify_against_themselves() {
    for name in ["torq-air", "dolphindb-sample"] {
        let Some(src) = fixture(name) else { continue };
        let d = tempfile::tempdir().unwrap();
        copy_tree(&src, &d.path().join("copy"));
        let out = smstage(&[
            "verify",
            d.path().join("copy").to_str().unwrap(),
            "--against",
            src.to_str().unwrap(),
        ]);
        // dolphindb has tables absent from partitions (a load finding), but equal content.
        assert!(
            !out.stdout.contains("verify-content-differs"),
            "{name}: {}",
            out.all()
        );
        if name == "torq-air" {
            assert_eq!(out.code, 0, "{}", out.all());
        }
    }
}

#[test]
fn verify_usage_errors() {
    let out = smstage(&["verify", "/nonexistent/root"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("/nonexistent/root"), "{}", out.all());
}

#[test]
fn against_reports_the_earliest_partition_first_whatever_kind_of_difference() {
    // Partitions are compared a pair at a time, in date order: a changed value in the first
    // partition is reported before a table missing from the last, and with the first fixed,
    // the missing table is.
    let b = generated(3, 2, 6, 50);
    let other = b.path().join("other");
    copy_tree(&b.data(), &other);
    let parts = dates(&other);
    let first = other.join(&parts[0]);
    let last = other.join(parts.last().unwrap());
    let col = tables_in(&first)[0].join("price");
    let pristine = fs::read(&col).unwrap();
    let mut bytes = pristine.clone();
    let n = bytes.len();
    bytes[n - 2] ^= 0x40;
    fs::write(&col, bytes).unwrap();
    fs::remove_dir_all(tables_in(&last)[1].clone()).unwrap();
    let verify = || {
        let out = smstage(&[
            "verify",
            b.data().to_str().unwrap(),
            "--against",
            other.to_str().unwrap(),
            "--format",
            "json",
        ]);
        assert_eq!(out.code, 1, "{}", out.all());
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let differs: Vec<serde_json::Value> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"] == "verify-content-differs")
            .cloned()
            .collect();
        assert_eq!(differs.len(), 1, "{}", out.stdout);
        differs[0].clone()
    };
    let f = verify();
    assert_eq!(f["partition"], parts[0].as_str(), "{f}");
    assert_eq!(f["column"], "price", "{f}");
    fs::write(&col, pristine).unwrap();
    let f = verify();
    assert_eq!(f["partition"], parts.last().unwrap().as_str(), "{f}");
    assert!(
        f["message"].as_str().unwrap().contains("holds tables"),
        "{f}"
    );
}

/// The summary says what `verify` covered (tables × partitions, rows, columns) and, with
/// `--against`, the first difference; `--format json` carries the same as fields.
#[test]
fn verify_prints_what_it_compared_and_the_first_difference() {
    let b = generated(3, 2, 5, 40);
    let backup = b.backup();
    let data = b.data();
    let ok = smstage(&[
        "verify",
        data.to_str().unwrap(),
        "--against",
        backup.to_str().unwrap(),
    ]);
    assert_eq!(ok.code, 0, "{}", ok.all());
    assert!(
        ok.stdout
            .contains("partitioned tables: 2 × 3 partitions (6 table-partitions)"),
        "{}",
        ok.stdout
    );
    assert!(ok.stdout.contains("rows: 240 "), "{}", ok.stdout);
    assert!(ok.stdout.contains("result: equal"), "{}", ok.stdout);

    let json = smstage(&[
        "verify",
        data.to_str().unwrap(),
        "--against",
        backup.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert!(v["findings"].as_array().unwrap().is_empty());
    let s = &v["summary"];
    assert_eq!(
        (s["partitions"].as_u64(), s["partitioned_tables"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(s["table_partitions"], 6);
    assert_eq!(s["rows"], 240);
    assert_eq!(s["columns"], 10);
    assert_eq!(s["against"]["equal"], true);
    assert!(s["against"]["first_difference"].is_null());

    // One value changed in the backup: named as the first difference.
    let part = first_partition(&backup);
    let table = tables_in(&part).remove(0);
    let col = table.join(dotd(&table).last().unwrap());
    let mut bytes = fs::read(&col).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0x55;
    fs::write(&col, bytes).unwrap();
    let bad = smstage(&[
        "verify",
        data.to_str().unwrap(),
        "--against",
        backup.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(bad.code, 1, "{}", bad.all());
    let v: serde_json::Value = serde_json::from_str(&bad.stdout).unwrap();
    let diff = v["summary"]["against"]["first_difference"]
        .as_str()
        .unwrap();
    let column = dotd(&table).last().unwrap().clone();
    assert!(diff.contains(&format!("column {column}")), "{diff}");
    assert_eq!(v["summary"]["against"]["equal"], false);
}

/// `verify --against ROOT2` where ROOT2's `sym` is a symbolic link to the real file (as a
/// committed SM root, or a user's copy, may hold it): the symbols it leads to are compared, as
/// q loads them; a link that leads nowhere is an error naming it, not a difference. Before,
/// the link itself was compared: "root entry sym is of a different kind".
#[test]
fn against_follows_a_sym_that_is_a_link_in_the_other_root() {
    let b = generated(2, 1, 4, 50);
    let data = b.data();
    let other = b.path().join("other");
    copy_tree(&data, &other);
    let real = b.path().join("elsewhere-sym");
    fs::rename(other.join("sym"), &real).unwrap();
    symlink(&real, other.join("sym")).unwrap();
    let verify = || {
        smstage(&[
            "verify",
            data.to_str().unwrap(),
            "--against",
            other.to_str().unwrap(),
            "--deep",
            "--format",
            "json",
        ])
    };
    let out = verify();
    assert_eq!(out.code, 0, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["summary"]["against"]["equal"], true, "{}", out.stdout);
    assert_eq!(
        v["summary"]["against"]["followed"],
        serde_json::json!([format!("sym -> {}", real.display())])
    );

    // The symbols behind the link are what is compared: one changed is a difference of sym.
    let mut syms = smstage::kdb::read_symbols(&real).unwrap();
    syms[0].push('X');
    smstage::kdb::write::write_symbols(&real, &syms, smstage::kdb::write::HeaderCount::Set)
        .unwrap();
    let out = verify();
    assert_eq!(out.code, 1, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let diff = v["summary"]["against"]["first_difference"]
        .as_str()
        .unwrap();
    assert!(
        diff.contains("enumeration domain sym holds different symbols"),
        "{diff}"
    );

    // A link that leads nowhere: an error naming it, and no comparison (no difference).
    fs::remove_file(other.join("sym")).unwrap();
    symlink(b.path().join("missing-sym"), other.join("sym")).unwrap();
    let out = verify();
    assert_eq!(out.code, 1, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let codes = json_codes(&v);
    assert_eq!(codes, ["load-unreadable"], "{}", out.stdout);
    let f = &v["findings"][0];
    assert_eq!(f["path"], other.join("sym").display().to_string());
    let m = f["message"].as_str().unwrap();
    assert!(
        m.contains(&format!(
            "its root entry sym (-> {}) is a symbolic link that leads nowhere",
            b.path().join("missing-sym").display()
        )),
        "{m}"
    );
    assert_eq!(v["summary"]["against"]["equal"], false);
    assert!(v["summary"]["against"]["not_compared"].is_string());
}

/// A root given as a symbolic link (`verify LINK`, `--against LINK2`) is loaded where it
/// leads, as `q LINK` loads it. Before: "the database directory LINK does not exist", exit 2.
#[test]
fn verify_and_against_load_roots_given_as_symbolic_links() {
    let b = generated(2, 1, 4, 50);
    let other = b.path().join("other");
    copy_tree(&b.data(), &other);
    let (l1, l2) = (b.path().join("link1"), b.path().join("link2"));
    symlink(b.data(), &l1).unwrap();
    symlink("other", &l2).unwrap();
    let out = smstage(&[
        "verify",
        l1.to_str().unwrap(),
        "--against",
        l2.to_str().unwrap(),
        "--deep",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("result: equal"), "{}", out.all());
    // Still compared: a changed symbol behind the second link is a difference.
    let mut syms = smstage::kdb::read_symbols(&other.join("sym")).unwrap();
    syms[0].push('X');
    smstage::kdb::write::write_symbols(
        &other.join("sym"),
        &syms,
        smstage::kdb::write::HeaderCount::Set,
    )
    .unwrap();
    let out = smstage(&[
        "verify",
        l1.to_str().unwrap(),
        "--against",
        l2.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout
            .contains("enumeration domain sym holds different symbols"),
        "{}",
        out.all()
    );
}

/// `verify --against ROOT2` follows ROOT2's date partitions and tables that are symbolic links
/// to their directories, as q loads them: equal when the data behind the links is, and a value
/// changed behind a table's link is named. Before: a partition link was "root entries differ",
/// a table link "partition … holds tables [quote, trade] vs [trade]".
#[test]
fn against_follows_partition_and_table_links_in_the_other_root() {
    let b = generated(2, 2, 4, 50);
    let d = dates(&b.data());
    let other = b.path().join("other");
    copy_tree(&b.data(), &other);
    let real = b.path().join("real");
    fs::create_dir(&real).unwrap();
    fs::rename(other.join(&d[1]), real.join(&d[1])).unwrap();
    symlink(real.join(&d[1]), other.join(&d[1])).unwrap();
    fs::rename(other.join(&d[0]).join("quote"), real.join("quote")).unwrap();
    symlink("../../real/quote", other.join(&d[0]).join("quote")).unwrap();
    let verify = || {
        smstage(&[
            "verify",
            b.data().to_str().unwrap(),
            "--against",
            other.to_str().unwrap(),
            "--deep",
        ])
    };
    let out = verify();
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains(&format!(
            "followed in {} (as q does): {} -> {}",
            other.display(),
            d[1],
            real.join(&d[1]).display()
        )),
        "{}",
        out.all()
    );
    let col = real
        .join("quote")
        .join(dotd(&real.join("quote")).last().unwrap());
    let mut bytes = fs::read(&col).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0x55;
    fs::write(&col, bytes).unwrap();
    let out = verify();
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout
            .contains(&format!("of table quote in partition {}", d[0])),
        "{}",
        out.all()
    );
}
