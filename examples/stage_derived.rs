//! Stages a derived timestamp column for every table of every date partition, one file at a
//! time, through `remedy::produce` (what `plan --remedy derive-prtncol:*=SOURCE --save` does
//! for its column files), so `scripts/bench-prepare.sh` can time the producers alone.
//!
//!   cargo run --release --example stage_derived -- DATA_DIR STAGE_DIR [SOURCE [OUT_NAME]]
//!
//! SOURCE defaults to `time`, OUT_NAME to `ts`. Prints the files, bytes and seconds.

use std::path::PathBuf;
use std::time::Instant;

use smstage::remedy::produce::{produce, sibling_compression, Job};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, stage, rest @ ..] = args.as_slice() else {
        eprintln!("usage: stage_derived DATA_DIR STAGE_DIR [SOURCE [OUT_NAME]]");
        std::process::exit(2);
    };
    let source = rest.first().map_or("time", String::as_str);
    let out_name = rest.get(1).map_or("ts", String::as_str);
    let (data, stage) = (PathBuf::from(data), PathBuf::from(stage));
    let start = Instant::now();
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut parts: Vec<_> = std::fs::read_dir(&data)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            smstage::dates::parse_date(&name).map(|d| (name, d))
        })
        .collect();
    parts.sort();
    for (name, date) in parts {
        let mut tables: Vec<_> = std::fs::read_dir(data.join(&name))?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.join(source).is_file())
            .collect();
        tables.sort();
        for table in tables {
            let rel = table.strip_prefix(&data)?;
            let job = Job::DerivedTimestamp {
                source: table.join(source),
                date,
                out: stage.join(rel).join(out_name),
                zip: sibling_compression(&table)?,
            };
            for p in produce(&job)? {
                files += 1;
                bytes += p.size;
            }
            // The producers fsync the file; the name is made durable once per directory, as
            // remedy::stage does.
            std::fs::File::open(stage.join(rel))?.sync_all()?;
        }
    }
    println!(
        "staged {files} files, {bytes} bytes in {:.3} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
