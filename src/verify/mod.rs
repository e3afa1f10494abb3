//! `smstage verify`: load a root as kdb+'s `\l` does and report problems with the same findings
//! as `check`; optionally compare its logical content with another root, or run a real q on it.

mod compare;
mod load;
pub mod qscript;

pub use compare::compare_roots;
pub use load::{load, load_root, parse_par_txt, LoadError, Loaded, Segment};

use crate::check;
use crate::config::AssemblyConfig;
use crate::finding::{code, Finding, Report};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    pub deep: bool,
    pub s3: crate::object::S3Options,
    pub against: Option<PathBuf>,
    pub q: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("cannot run q at {path}: {source}; pass the path of a kdb+ `q` binary with --q")]
    Q {
        path: String,
        source: std::io::Error,
    },
}

pub fn run(
    root: &Path,
    config: Option<&AssemblyConfig>,
    opts: &VerifyOptions,
) -> Result<Report, VerifyError> {
    if opts.q.is_none() {
        // Each partition is checked as it is read and its file records released; `--against`
        // then reads the partitions of both roots again a pair at a time. Memory grows with
        // the tables of the database, not with its files.
        let (mut loaded, dirs) = load_root(root, &opts.s3)?;
        let mut findings =
            check::read_and_evaluate(config, &mut loaded.inventory, dirs.clone(), opts.deep);
        if let Some(other) = &opts.against {
            // The released partitions are read again from `dirs`.
            loaded.inventory.partitions.clear();
            let (theirs, their_dirs) = load_root(other, &opts.s3)?;
            findings.extend(compare_roots(&loaded, &dirs, &theirs, &their_dirs));
        }
        return Ok(Report::new(findings));
    }
    let loaded = load(root, &opts.s3)?;
    let mut findings = check::evaluate(config, &loaded.inventory);
    if opts.deep {
        findings.extend(check::deep_checks(&loaded.inventory));
    }
    if let Some(other) = &opts.against {
        let theirs = load(other, &opts.s3)?;
        findings.extend(compare_roots(&loaded, &[], &theirs, &[]));
    }
    if let Some(q) = &opts.q {
        findings.extend(run_q(q, root, &loaded)?);
    }
    Ok(Report::new(findings))
}

fn run_q(q: &Path, root: &Path, loaded: &Loaded) -> Result<Vec<Finding>, VerifyError> {
    let dir = tempfile::tempdir().map_err(|e| VerifyError::Q {
        path: q.display().to_string(),
        source: e,
    })?;
    let script = dir.path().join("smstage-verify.q");
    let abs = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    std::fs::write(&script, qscript::script(&abs)).map_err(|e| VerifyError::Q {
        path: script.display().to_string(),
        source: e,
    })?;
    let out = Command::new(q)
        .arg(&script)
        .arg("-q")
        .output()
        .map_err(|e| VerifyError::Q {
            path: q.display().to_string(),
            source: e,
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    match qscript::parse_output(&stdout) {
        Ok(view) => Ok(qscript::compare(
            &view,
            &qscript::expected(&loaded.inventory),
        )),
        Err(e) => Ok(vec![Finding::error(
            code::VERIFY_DIFFERENT,
            format!(
                "cannot parse the output of q ({e}); q said on stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        )]),
    }
}
