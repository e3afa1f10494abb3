//! `smstage init`: write a complete, minimal KX assembly for a database as it stands, so the
//! first `check` starts from the database instead of from hand-written YAML. The text is built
//! by [`render`] (pure); this module reads the database and writes the file.

pub mod derived;
mod render;

pub use render::{render, Assembly, InitInput};

use crate::config::ConfigError;
use crate::inventory::InventoryError;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The name the in-place import needs: the database is `<baseURI of the HDB mount>/data`.
pub const DB_DIR_NAME: &str = "data";

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(
        "{path}: not a directory; pass the kdb+ database root (the directory you would pass to q)"
    )]
    NotADirectory { path: PathBuf },
    #[error(
        "{db}: Storage Manager imports a database in place at <baseURI>/{DB_DIR_NAME}, and this one is named {name:?}\n  \
         fix: move it into a directory of its own, named {DB_DIR_NAME}, then run init on that:\n    \
         mkdir {base} && mv {db} {base}/{DB_DIR_NAME}\n    \
         smstage init {base}/{DB_DIR_NAME} --out {out}"
    )]
    NotNamedData {
        db: PathBuf,
        name: String,
        base: PathBuf,
        out: PathBuf,
    },
    #[error(
        "{db}/par.txt: segment {line:?} cannot be opened as a directory ({source}): init maps every segment to a tier and needs to read it\n  \
         fix: mount or restore the segment, or correct the line in par.txt"
    )]
    SegmentMissing {
        db: PathBuf,
        line: String,
        source: std::io::Error,
    },
    #[error("{db}: no kdb+ table found (no date partition holding a table, no splayed table in the root): is this a kdb+ database?")]
    NoTables { db: PathBuf },
    #[error("{0}")]
    Derived(#[from] derived::DerivedError),
    #[error("cannot read the database: {0}")]
    Schema(#[from] InventoryError),
    #[error("the assembly derived from the database does not parse (a bug: please report it with the database's layout): {0}")]
    Config(#[from] ConfigError),
    #[error("{path} exists: pass --force to overwrite it, or choose another --out")]
    OutExists { path: PathBuf },
    #[error("{out} is inside the database {db}: the import moves every entry of the database; write the assembly elsewhere (e.g. beside the database: --out {suggestion})")]
    OutInsideDb {
        out: PathBuf,
        db: PathBuf,
        suggestion: PathBuf,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Reads the database at `db` and renders its assembly (as it would be written to `out`).
pub fn derive(
    db: &Path,
    out: &Path,
    remedies: &[crate::remedy::spec::Remedy],
) -> Result<Assembly, InitError> {
    let meta = std::fs::metadata(db).map_err(|_| InitError::NotADirectory {
        path: db.to_path_buf(),
    })?;
    if !meta.is_dir() {
        return Err(InitError::NotADirectory {
            path: db.to_path_buf(),
        });
    }
    let abs = std::fs::canonicalize(db).map_err(|_| InitError::NotADirectory {
        path: db.to_path_buf(),
    })?;
    let name = abs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name != DB_DIR_NAME {
        let base = abs.with_file_name(format!("{}-sm", name.trim_start_matches('.')));
        return Err(InitError::NotNamedData {
            db: abs,
            name,
            base,
            out: out.to_path_buf(),
        });
    }
    let (export, hdb_tiers) = if abs.join("par.txt").exists() {
        let (tiers, local) = segment_tiers(&abs)?;
        (crate::schema_export::export_segmented(&abs, &local)?, tiers)
    } else {
        (crate::schema_export::export(&abs)?, render::plain_tiers())
    };
    let has_table = export
        .yaml
        .lines()
        .skip(1)
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    if !has_table {
        return Err(InitError::NoTables { db: abs });
    }
    let base = abs.parent().unwrap_or(Path::new("/")).to_path_buf();
    render(
        &InitInput {
            base_dir: &base,
            tables_yaml: &export.yaml,
            schema_notes: &export.notes,
            hdb_tiers: &hdb_tiers,
            derive: remedies,
        },
        out,
    )
}

/// The HDB tiers of the segmented database `db` (docs/sm-layout.md, "Segmented databases"):
/// one local tier per local `par.txt` line, in the file's order (the generated `par.txt`
/// lists `<tier>$` in this order), its store the segment's directory as kdb+ resolves it
/// (from the root, symlinks followed: what `check` matches stores against); then one object
/// tier per `s3://` line, its store the line as written.
/// Also returns the local segments' directories.
#[allow(clippy::type_complexity)]
fn segment_tiers(db: &Path) -> Result<(Vec<(String, Option<String>)>, Vec<PathBuf>), InitError> {
    let par = db.join("par.txt");
    let text = crate::special::read_regular_to_string(&par).map_err(|source| {
        InitError::SegmentMissing {
            db: db.to_path_buf(),
            line: "par.txt".into(),
            source,
        }
    })?;
    let mut local = Vec::new();
    let mut object = Vec::new();
    for seg in crate::par_txt::parse_par_txt(db, &text) {
        match &seg.dir {
            Some(dir) => {
                let real = std::fs::canonicalize(dir)
                    .and_then(|p| {
                        if p.is_dir() {
                            Ok(p)
                        } else {
                            Err(std::io::Error::other("not a directory"))
                        }
                    })
                    .map_err(|source| InitError::SegmentMissing {
                        db: db.to_path_buf(),
                        line: seg.entry.clone(),
                        source,
                    })?;
                local.push(real);
            }
            None => object.push(seg.entry.trim_end_matches('/').to_string()),
        }
    }
    let mut tiers: Vec<(String, Option<String>)> = local
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            let uri = crate::config::StoreUri::File(dir.clone()).to_string();
            (format!("seg{}", i + 1), Some(uri))
        })
        .collect();
    tiers.extend(
        object
            .into_iter()
            .enumerate()
            .map(|(i, s)| (format!("object{}", i + 1), Some(s))),
    );
    Ok((tiers, local))
}

/// Refuses an `out` inside the database `db` (the commit would move it).
pub fn refuse_out_inside(out: &Path, db: &Path) -> Result<(), InitError> {
    let db_abs = std::fs::canonicalize(db).unwrap_or_else(|_| db.to_path_buf());
    let out_abs = absolute_parent_resolved(out);
    if out_abs.starts_with(&db_abs) {
        let file = out
            .file_name()
            .map(PathBuf::from)
            .unwrap_or("assembly.yaml".into());
        let suggestion = db_abs.parent().unwrap_or(Path::new("/")).join(file);
        return Err(InitError::OutInsideDb {
            out: out.to_path_buf(),
            db: db_abs,
            suggestion,
        });
    }
    Ok(())
}

/// `out` with its parent directory resolved (symlinks included), as far as it exists.
fn absolute_parent_resolved(out: &Path) -> PathBuf {
    let abs = if out.is_absolute() {
        out.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(out)
    };
    match (abs.parent(), abs.file_name()) {
        (Some(p), Some(f)) => std::fs::canonicalize(p)
            .map(|p| p.join(f))
            .unwrap_or(abs.clone()),
        _ => abs,
    }
}

/// Writes `text` to `out`; an existing file only with `force` (checked by the create itself,
/// so a file appearing meanwhile is not overwritten either).
pub fn write(out: &Path, text: &str, force: bool) -> Result<(), InitError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts.open(out).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            InitError::OutExists {
                path: out.to_path_buf(),
            }
        } else {
            InitError::Write {
                path: out.to_path_buf(),
                source,
            }
        }
    })?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|source| InitError::Write {
            path: out.to_path_buf(),
            source,
        })
}
