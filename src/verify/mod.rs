//! `smstage verify`: load a root as kdb+'s `\l` does and report problems with the same findings
//! as `check`; optionally compare its logical content with another root, or run a real q on it.

pub(crate) mod compare;
mod links;
mod load;
pub mod qscript;
mod stream;
pub mod summary;

pub use compare::compare_roots;
pub use load::{load_root, parse_par_txt, LoadError, Loaded, Segment};
pub use summary::Summary;

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
    /// With `against`: the columns a saved plan's remedies derived (`verify --plan`).
    pub derived: Vec<crate::plan::DerivedColumn>,
    /// With `against`: the empty tables a saved plan's remedies wrote (`verify --plan`).
    pub filled: Vec<crate::plan::FilledTable>,
    /// With `against`: the null columns a saved plan's remedies added (`verify --plan`).
    pub added: Vec<crate::plan::AddedColumn>,
    /// With `against`: the symbols a saved plan's one-sym appended to `sym` (`verify --plan`).
    pub sym_appended: Vec<String>,
    /// With `against`: what a saved plan's set-aside moved out, relative to the database
    /// directory (`2019.06.02/Quote`), left out of the other root.
    pub aside: Vec<String>,
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
    run_summarized(root, config, opts).map(|(r, _)| r)
}

/// [`run`], and what it looked at ([`Summary`]) for the reader of its verdict.
pub fn run_summarized(
    root: &Path,
    config: Option<&AssemblyConfig>,
    opts: &VerifyOptions,
) -> Result<(Report, Summary), VerifyError> {
    // Each partition is checked as it is read and its file records released, keeping what
    // `--q` expects of it; `--against` then reads the partitions of both roots again, a pair at
    // a time. Memory grows with the tables of the database, not with its files.
    let (mut loaded, dirs) = load_root(root, &opts.s3)?;
    let last_date = check::last_date(&loaded.inventory, &dirs);
    let (mut findings, views) = check::read_and_evaluate_with(
        config,
        &mut loaded.inventory,
        dirs.clone(),
        Vec::new(),
        opts.deep,
        |p| {
            let view = opts
                .q
                .is_some()
                .then(|| qscript::partition_view(p, last_date.as_deref() == Some(p.date.as_str())));
            (view, summary::PartCounts::of_partition(p))
        },
    );
    let (views, counts): (Vec<_>, Vec<_>) = views.into_iter().unzip();
    let views: Vec<qscript::PartitionView> = views.into_iter().flatten().collect();
    let mut summary = Summary::new(
        root.to_path_buf(),
        &loaded.inventory,
        &counts,
        loaded.inventory.all_partitions().len(),
        opts.deep,
    );
    let expected = opts
        .q
        .as_ref()
        .map(|_| qscript::expected(&loaded.inventory, &views));
    if let Some(other) = &opts.against {
        // The released partitions are read again from `dirs`.
        loaded.inventory.partitions.clear();
        let (mut theirs, mut their_dirs) = load_root(other, &opts.s3)?;
        // ROOT2's links are followed as q follows them (its `sym` may be one, its partitions
        // and tables too).
        let segmented = !theirs.segments.is_empty();
        let (followed, refused) =
            links::follow_root_links(&mut theirs.inventory, &mut their_dirs, segmented);
        for d in &mut their_dirs {
            d.overlay = Some(links::follow_table_links());
        }
        if refused.is_empty() {
            // "Restore the domain from the backup" only where the other root's domain differs.
            check::advice::enum_domain_advice(&mut findings, root, other);
            let compared = compare_roots(
                &loaded,
                &dirs,
                &theirs,
                &their_dirs,
                &compare::Remedied {
                    derived: &opts.derived,
                    filled: &opts.filled,
                    added: &opts.added,
                    sym_appended: &opts.sym_appended,
                    aside: &opts.aside,
                },
            );
            summary.compared_with(other.clone(), &compared, followed);
            findings.extend(compared);
        } else {
            summary.not_compared_with(other.clone(), &refused, followed);
            findings.extend(refused);
        }
    }
    if let (Some(q), Some(expected)) = (&opts.q, &expected) {
        findings.extend(run_q(q, root, expected)?);
    }
    Ok((Report::new(findings), summary))
}

fn run_q(q: &Path, root: &Path, expected: &qscript::QView) -> Result<Vec<Finding>, VerifyError> {
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
        Ok(view) => Ok(qscript::compare(&view, expected)),
        Err(e) => Ok(vec![Finding::error(
            code::VERIFY_DIFFERENT,
            format!(
                "cannot parse the output of q ({e}); q said on stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        )]),
    }
}
