//! `smstage gen --segments N`: spread a generated database's partitions over N segment
//! directories, with the root's `par.txt` and one local tier per segment.

use super::GenError;
use std::fs;
use std::path::{Path, PathBuf};

/// Tier name of segment `i` (0-based) in the generated configuration.
pub fn tier_name(i: usize) -> String {
    format!("seg{}", i + 1)
}

/// The `par.txt` line naming `seg` from the root `root`: relative when both lie in `base`
/// (kdb+ resolves relative lines from the root), absolute otherwise.
pub fn par_entry(base: &Path, seg: &Path) -> String {
    match seg.strip_prefix(base) {
        Ok(rel) if !rel.as_os_str().is_empty() => format!("../{}", rel.display()),
        _ => seg.display().to_string(),
    }
}

/// Moves the partitions `dates` (in date order) from `data` into `segments` in contiguous runs
/// of nearly equal length (the first segment gets the oldest dates), creating each segment directory (it must be
/// absent or empty), and writes `data/par.txt`. Returns how many partitions each one got.
pub fn distribute(
    base: &Path,
    data: &Path,
    dates: &[String],
    segments: &[PathBuf],
) -> Result<Vec<usize>, GenError> {
    let n = segments.len().max(1);
    let mut counts = vec![0; segments.len()];
    let mut par = String::new();
    for (i, seg) in segments.iter().enumerate() {
        prepare(seg)?;
        par.push_str(&par_entry(base, seg));
        par.push('\n');
        // Runs as even as possible (they differ by at most one), so no segment stays empty
        // while there are as many dates as segments.
        let (from, to) = (i * dates.len() / n, (i + 1) * dates.len() / n);
        for date in &dates[from..to] {
            move_tree(&data.join(date), &seg.join(date))?;
            counts[i] += 1;
        }
    }
    let p = data.join("par.txt");
    fs::write(&p, par).map_err(|source| GenError::Io { path: p, source })?;
    Ok(counts)
}

fn prepare(dir: &Path) -> Result<(), GenError> {
    let io = |source| GenError::Io {
        path: dir.to_path_buf(),
        source,
    };
    if dir.exists() {
        if fs::read_dir(dir).map_err(io)?.next().is_some() {
            return Err(GenError::NotEmpty(dir.to_path_buf()));
        }
        Ok(())
    } else {
        fs::create_dir_all(dir).map_err(io)
    }
}

/// rename(2), or (to another filesystem) a copy followed by the removal of the original.
fn move_tree(from: &Path, to: &Path) -> Result<(), GenError> {
    match fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            copy_tree(from, to)?;
            fs::remove_dir_all(from).map_err(|source| GenError::Io {
                path: from.to_path_buf(),
                source,
            })
        }
        Err(source) => Err(GenError::Io {
            path: to.to_path_buf(),
            source,
        }),
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), GenError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| GenError::Io { path: p, source }
    };
    fs::create_dir(to).map_err(io(to))?;
    for e in fs::read_dir(from).map_err(io(from))? {
        let e = e.map_err(io(from))?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().map_err(io(&src))?.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            fs::copy(&src, &dst).map_err(io(&src))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_go_to_segments_in_contiguous_runs_and_par_txt_names_them() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path();
        let data = base.join("data");
        let dates: Vec<String> = (2..7).map(|d| format!("2024.01.0{d}")).collect();
        for d in &dates {
            fs::create_dir_all(data.join(d).join("trade")).unwrap();
        }
        let other = tempfile::tempdir().unwrap();
        let segs = vec![base.join("seg1"), other.path().join("s2")];
        let counts = distribute(base, &data, &dates, &segs).unwrap();
        assert_eq!(counts, [2, 3]);
        assert!(base.join("seg1/2024.01.03/trade").is_dir());
        assert!(other.path().join("s2/2024.01.04/trade").is_dir());
        assert!(!data.join("2024.01.02").exists());
        let par = fs::read_to_string(data.join("par.txt")).unwrap();
        assert_eq!(
            par,
            format!("../seg1\n{}\n", other.path().join("s2").display())
        );
    }
}
