//! Where `plan --save` may write: decided before anything is read, from `lstat`s and the
//! configuration, so a wrong `--save` costs nothing and overwrites nothing.
//!
//! Refused: the assembly file; anything inside the directories of the HDB mount's baseURI that
//! the import reads or writes (the database, the future root, the staging area) or inside a
//! local tier's store (a segment); and an existing entry that is not an smstage plan
//! file (a backup's `sym`, a script, a directory, a link, a FIFO). An existing plan file is
//! replaced only with `--force`.

use crate::config::AssemblyConfig;
use crate::plan::saved::PLAN_FILE_FORMAT;
use crate::reserved::{containing, reserved_dirs, resolved};
use std::io::Read;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SaveTargetError {
    #[error("--save {path} is the assembly file itself: the plan would replace it; save the plan to another file (e.g. plan.json beside it)")]
    AssemblyFile { path: PathBuf },
    #[error("--save {path} is inside {what} {dir}: the plan file must not change what it describes; save it outside (e.g. in your home directory)")]
    Inside {
        path: PathBuf,
        what: &'static str,
        dir: PathBuf,
    },
    #[error("--save {path} exists and is {what}, not an smstage plan file: nothing was written; choose a new file name (--force replaces only an earlier smstage plan file)")]
    NotAPlan { path: PathBuf, what: String },
    #[error("--save {path} is an earlier smstage plan file: pass --force to replace it, or choose a new file name")]
    PlanExists { path: PathBuf },
    #[error("--save {path}: its directory {dir} cannot be used ({why}): create it, or choose another place")]
    Directory {
        path: PathBuf,
        dir: PathBuf,
        why: String,
    },
}

/// Whether the regular file at `path` starts as a plan file does (`{"format":"smstage-plan"`):
/// only its first bytes are read, since a plan file may be 100 MB.
fn looks_like_plan(path: &Path) -> bool {
    let mut head = [0u8; 64];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let text: String = String::from_utf8_lossy(&head[..n])
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    text.starts_with(&format!("{{\"format\":\"{PLAN_FILE_FORMAT}\""))
}

/// Refuses a `--save` target that is not a new file, or an earlier plan file with `force`,
/// outside everything the plan describes.
pub fn check_save_target(
    path: &Path,
    config_path: &Path,
    cfg: &AssemblyConfig,
    force: bool,
) -> Result<(), SaveTargetError> {
    let abs = resolved(path);
    if std::fs::canonicalize(config_path).is_ok_and(|c| c == abs) {
        return Err(SaveTargetError::AssemblyFile {
            path: path.to_path_buf(),
        });
    }
    if let Some(r) = containing(&abs, &reserved_dirs(cfg, &[])) {
        return Err(SaveTargetError::Inside {
            path: path.to_path_buf(),
            what: r.what,
            dir: r.dir.clone(),
        });
    }
    let dir = abs.parent().unwrap_or(Path::new("/"));
    if !dir.is_dir() {
        return Err(SaveTargetError::Directory {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            why: "it is not an existing directory".into(),
        });
    }
    if abs.file_name().is_none() {
        return Err(SaveTargetError::NotAPlan {
            path: path.to_path_buf(),
            what: "not a file name".into(),
        });
    }
    let md = match std::fs::symlink_metadata(&abs) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(SaveTargetError::NotAPlan {
                path: path.to_path_buf(),
                what: format!("not inspectable ({e})"),
            })
        }
    };
    let ft = md.file_type();
    let what = if ft.is_symlink() {
        Some("a symbolic link".to_string())
    } else if ft.is_dir() {
        Some("a directory".to_string())
    } else if let Some(kind) = crate::special::SpecialKind::of(&ft) {
        Some(format!("a {}", kind.name()))
    } else if !looks_like_plan(&abs) {
        Some(format!("a file of {} bytes", md.len()))
    } else {
        None
    };
    match what {
        Some(what) => Err(SaveTargetError::NotAPlan {
            path: path.to_path_buf(),
            what,
        }),
        None if force => Ok(()),
        None => Err(SaveTargetError::PlanExists {
            path: path.to_path_buf(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> (PathBuf, AssemblyConfig) {
        let base = dir.join("base");
        std::fs::create_dir_all(base.join("data")).unwrap();
        let yaml = format!(
            "mounts:\n  rdb:\n    type: stream\n    baseURI: file:///tmp/unused-rdb\n    partition: none\n  hdb:\n    type: local\n    baseURI: file://{}\n    partition: date\nsm:\n  tiers:\n    - name: streaming\n      mount: rdb\n    - name: hdb\n      mount: hdb\ntables:\n  t:\n    type: partitioned\n    prtnCol: time\n    columns:\n      - name: time\n        type: timespan\n",
            base.display()
        );
        let p = dir.join("a.yaml");
        std::fs::write(&p, yaml).unwrap();
        let cfg = AssemblyConfig::load(&p).unwrap();
        (p, cfg)
    }

    #[test]
    fn refuses_everything_but_a_new_file_or_a_plan_with_force() {
        let d = tempfile::tempdir().unwrap();
        let (yaml, cfg) = config(d.path());
        let check = |p: &Path, force| check_save_target(p, &yaml, &cfg, force);
        assert!(matches!(
            check(&yaml, true),
            Err(SaveTargetError::AssemblyFile { .. })
        ));
        assert!(matches!(
            check(&d.path().join("base/data/p.json"), true),
            Err(SaveTargetError::Inside { .. })
        ));
        assert!(matches!(
            check(&d.path().join("base/db/p.json"), true),
            Err(SaveTargetError::Inside { .. })
        ));
        assert_eq!(check(&d.path().join("base/p.json"), false), Ok(()));
        let sym = d.path().join("sym");
        std::fs::write(&sym, [0xff, 0x20, 0x0b, 0]).unwrap();
        assert!(matches!(
            check(&sym, true),
            Err(SaveTargetError::NotAPlan { .. })
        ));
        assert!(matches!(
            check(d.path(), true),
            Err(SaveTargetError::NotAPlan { .. })
        ));
        let plan = d.path().join("p.json");
        std::fs::write(&plan, "{\"format\": \"smstage-plan\", \"version\": 1}").unwrap();
        assert!(matches!(
            check(&plan, false),
            Err(SaveTargetError::PlanExists { .. })
        ));
        assert_eq!(check(&plan, true), Ok(()));
        assert_eq!(check(&d.path().join("new.json"), false), Ok(()));
        assert!(matches!(
            check(&d.path().join("nodir/p.json"), false),
            Err(SaveTargetError::Directory { .. })
        ));
    }
}
