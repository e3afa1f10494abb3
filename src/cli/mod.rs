//! The `smstage` command line: argument definitions and dispatch. Each subcommand's glue lives
//! in its own file; the work itself is in the library modules.

mod check_cmd;
mod commit_cmd;
mod gen_cmd;
mod init_cmd;
mod mount_cmd;
mod plan_cmd;
mod verify_cmd;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Exit codes are a contract: 0 = ok (may import / equal), 1 = blocking findings,
/// 2 = usage or configuration error.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FINDINGS: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "smstage",
    version,
    about = "Import a kdb+ date-partitioned HDB into Storage Manager format: check, preview, commit"
)]
pub struct Cli {
    /// Let object tiers take credentials from the cloud instance-metadata endpoint when none
    /// are given in the environment (off by default: credentials must be explicit). Also
    /// accepted after the commands that read object tiers: check, plan, verify, mount, commit.
    #[arg(long)]
    pub allow_instance_metadata: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// `smstage mount --cache-mode` (clap's face of [`crate::view::CacheMode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CacheModeArg {
    Open,
    NoOpen,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// `--allow-instance-metadata`, offered by the commands that read object tiers.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct S3Args {
    /// Let object tiers take credentials from the cloud instance-metadata endpoint when none
    /// are given in the environment (off by default: credentials must be explicit).
    #[arg(long)]
    pub allow_instance_metadata: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct BackupArgs {
    /// A full copy of the database (the `data` directory) to compare against.
    #[arg(long, value_name = "DIR", conflicts_with = "no_backup_check")]
    pub backup: Option<PathBuf>,
    /// Skip the backup precondition (you vouch for a backup elsewhere).
    #[arg(long)]
    pub no_backup_check: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check every precondition of the import; changes nothing.
    Check {
        /// The KX assembly file (YAML; `smstage init` writes one): the HDB mount's
        /// `<baseURI>/data` is the database.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[command(flatten)]
        backup: BackupArgs,
        /// Decode every value and compare backup bytes, not only headers and sizes.
        #[arg(long)]
        deep: bool,
        /// `text` for people, `json` for tools (fields in docs/cli.md).
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        /// A remedy to apply (repeatable; docs/cli.md, "Remedies"): `derive-prtncol:TABLE=SOURCE`
        /// (TABLE `*`: every partitioned table whose configured prtnCol is absent on disk),
        /// `fill-tables`, `add-columns`, `set-aside`, `one-sym`.
        #[arg(long = "remedy", value_name = "KIND[:ARGS]")]
        remedy: Vec<String>,
        #[command(flatten)]
        s3: S3Args,
    },
    /// Show the SM layout this import produces; changes nothing (but the plan file of --save).
    Plan {
        /// The KX assembly file (YAML; `smstage init` writes one): the HDB mount's
        /// `<baseURI>/data` is the database.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// `text` for people, `json` for tools (fields in docs/cli.md).
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        /// Also save the plan, with a fingerprint of the database and the configuration it was
        /// derived from, to PLANFILE (outside the database) for `mount --plan` and
        /// `commit --plan`; prints its plan_id.
        #[arg(long, value_name = "PLANFILE")]
        save: Option<PathBuf>,
        /// With --save: replace PLANFILE if it is an earlier smstage plan file (any other
        /// existing file is never replaced).
        #[arg(long, requires = "save")]
        force: bool,
        /// A remedy to apply (with --save, its files are staged under <baseURI>/.smstage/stage/) (repeatable; docs/cli.md, "Remedies"): `derive-prtncol:TABLE=SOURCE`
        /// (TABLE `*`: every partitioned table whose configured prtnCol is absent on disk),
        /// `fill-tables`, `add-columns`, `set-aside`, `one-sym`.
        #[arg(long = "remedy", value_name = "KIND[:ARGS]")]
        remedy: Vec<String>,
        #[command(flatten)]
        s3: S3Args,
    },
    /// Load a kdb+ root as `\l` does (par.txt, segments, tables, columns, domains) and report
    /// problems; optionally compare its content with another root or run a real q on it.
    Verify {
        /// The kdb+ root (the directory you would pass to q).
        root: PathBuf,
        /// Also check tables against the assembly configuration's schema.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Compare the logical content (decoded values) with this other root.
        #[arg(long, value_name = "ROOT2")]
        against: Option<PathBuf>,
        /// With --against: the saved plan (`plan --remedy … --save`) whose remedies ROOT shows
        /// and ROOT2 does not: each derived column must be its partition's date + its source
        /// on every row, every other column equal.
        #[arg(long, value_name = "PLANFILE", requires = "against")]
        plan: Option<PathBuf>,
        /// Decode every value, not only headers.
        #[arg(long)]
        deep: bool,
        /// Also load the root with this kdb+ `q` binary and compare what it sees.
        #[arg(long, value_name = "PATH")]
        q: Option<PathBuf>,
        /// `text` for people, `json` for tools (fields in docs/cli.md).
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        #[command(flatten)]
        s3: S3Args,
    },
    /// Serve the planned SM layout read-only over FUSE: MOUNTPOINT shows the future contents of
    /// the HDB mount's baseURI, and MOUNTPOINT/<root> is what q loads. Pass --plan PLANFILE
    /// (recommended) or --config FILE.
    #[command(group(clap::ArgGroup::new("source").required(true).multiple(true).args(["config", "plan"])))]
    Mount {
        /// The assembly file (with --plan: optional, and it must be the plan's).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Serve exactly this saved plan (`plan --save`) after a quick check that the database
        /// has not changed since; each file is checked against it when first opened.
        #[arg(long, value_name = "PLANFILE")]
        plan: Option<PathBuf>,
        /// An empty directory.
        mountpoint: PathBuf,
        /// Return once the view answers, leaving the server running (stop it with `unmount`).
        #[arg(long)]
        background: bool,
        /// Let other users see the view (needs `user_allow_other` in /etc/fuse.conf unless root).
        #[arg(long)]
        allow_other: bool,
        /// `open`: every open asks the view, which hands the kernel the original file
        /// (passthrough: reads never reach the view). `no-open`: the kernel opens files without
        /// asking and keeps their page cache across opens; reads that miss it are served by the
        /// view. Much faster re-opens of small files, slower first reads (see docs/view.md).
        #[arg(long, value_enum, default_value_t = CacheModeArg::Open)]
        cache_mode: CacheModeArg,
        /// Validation mode: also show each object tier as a local segment `<tier>$` (its
        /// files read with ranged GETs through a bounded cache) and list that segment in the
        /// view's par.txt instead of the s3:// line, so a kdb+ without the object-storage
        /// module can load those partitions too. The committed par.txt keeps the s3:// line.
        #[arg(long)]
        object_tiers_local: bool,
        /// Memory bound of the object block cache of --object-tiers-local, in MiB.
        #[arg(long, value_name = "N", default_value_t = crate::view::objread::DEFAULT_CACHE_MB,
              value_parser = clap::value_parser!(u64).range(1..), requires = "object_tiers_local")]
        object_cache_mb: u64,
        /// Memory bound, in MiB, of the view server's cache of directory listings and
        /// attributes: beyond it the least recently used are dropped and listed again from the
        /// disk when needed (attributes and inode numbers stay the same; see docs/view.md).
        #[arg(long, value_name = "MiB", default_value_t = crate::view::listings::DEFAULT_BUDGET_MB,
              value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
        cache_budget: u64,
        #[command(flatten)]
        s3: S3Args,
    },
    /// Unmount a staging view (also clears a stale one left by a killed server).
    Unmount {
        /// The directory the view is mounted on (as given to `mount`).
        mountpoint: PathBuf,
    },
    /// Convert the database in place to the planned SM layout, with a durable journal
    /// (re-run after a crash to resume; rolled back automatically on error). Pass --plan
    /// PLANFILE (recommended: exactly the plan you validated) or --config FILE.
    #[command(group(clap::ArgGroup::new("source").required(true).multiple(true).args(["config", "plan"])))]
    Commit {
        /// The assembly file (with --plan: optional, and it must be the plan's).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Commit exactly this saved plan (`plan --save`), refused if anything it was derived
        /// from changed since (finding `plan-drift`).
        #[arg(long, value_name = "PLANFILE")]
        plan: Option<PathBuf>,
        #[command(flatten)]
        backup: BackupArgs,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        s3: S3Args,
    },
    /// Undo a partial or completed import, back to the original bytes and names.
    Rollback {
        /// The assembly file of the import to undo (its HDB mount's baseURI holds the journal).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Show where an import stands: state, steps done of total, lock holder.
    Status {
        /// The assembly file of the import (its HDB mount's baseURI holds the journal).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// `text` for people, `json` for tools (fields in docs/cli.md).
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Print the `tables:` section of an assembly configuration matching a database on disk
    /// (partitioned tables from the last partition holding them, splayed tables from the root).
    Schema {
        /// The database root (a plain partitioned database, e.g. `<baseURI>/data`).
        db: PathBuf,
    },
    /// Write a complete, minimal KX assembly for a database as it stands (mounts, SM tiers,
    /// tables), naming in comments what Storage Manager needs that the database lacks.
    Init {
        /// The database root, named `data` (it becomes `<baseURI>/data` of the HDB mount).
        db: PathBuf,
        /// The assembly file to write (outside the database).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Overwrite FILE if it exists.
        #[arg(long)]
        force: bool,
        /// `derive-prtncol:TABLE=SOURCE` (repeatable; TABLE may be `*`): give a partitioned table
        /// without a timestamp column a derived one, `ts`, as its prtnCol (partition date +
        /// SOURCE, a time of day or datetime); pass the same --remedy to check and plan, which
        /// write it (docs/cli.md, "Remedies")
        #[arg(long = "remedy", value_name = "derive-prtncol:TABLE=SOURCE")]
        remedy: Vec<String>,
    },
    /// Generate a sample date-partitioned kdb+ database (and a matching assembly YAML).
    Gen(gen_cmd::GenArgs),
}

pub fn run(cli: Cli) -> i32 {
    let global = cli.allow_instance_metadata;
    let s3_of = |a: &S3Args| crate::object::S3Options {
        allow_instance_metadata: global || a.allow_instance_metadata,
    };
    match cli.command {
        Command::Check {
            config,
            backup,
            deep,
            format,
            remedy,
            s3,
        } => check_cmd::run(&config, &backup, deep, format, &s3_of(&s3), &remedy),
        Command::Plan {
            config,
            format,
            save,
            force,
            remedy,
            s3,
        } => plan_cmd::run(
            &config,
            format,
            &s3_of(&s3),
            save.as_deref(),
            force,
            &remedy,
        ),
        Command::Verify {
            root,
            config,
            against,
            plan,
            deep,
            q,
            format,
            s3,
        } => {
            let (derived, filled, added, sym_appended, aside) = match plan
                .as_deref()
                .map(crate::approval::load)
            {
                None => Default::default(),
                Some(Ok(saved)) => saved
                    .plan
                    .remedies
                    .map(|r| {
                        let source = format!("{}/", saved.plan.source);
                        let aside = r
                            .aside
                            .iter()
                            .map(|a| a.path.strip_prefix(&source).unwrap_or(&a.path).to_string())
                            .collect();
                        (r.derived, r.filled, r.added, r.sym_appended, aside)
                    })
                    .unwrap_or_default(),
                Some(Err(e)) => return config_error(&e, format),
            };
            verify_cmd::run(
                &root,
                config.as_ref(),
                &crate::verify::VerifyOptions {
                    deep,
                    s3: s3_of(&s3),
                    against,
                    q,
                    derived,
                    filled,
                    added,
                    sym_appended,
                    aside,
                },
                format,
            )
        }
        Command::Gen(args) => gen_cmd::run(&args),
        Command::Init {
            db,
            out,
            force,
            remedy,
        } => init_cmd::run(&db, &out, force, &remedy),
        Command::Mount {
            config,
            plan,
            mountpoint,
            background,
            allow_other,
            cache_mode,
            object_tiers_local,
            object_cache_mb,
            cache_budget,
            s3,
        } => mount_cmd::mount_any(
            config.as_deref(),
            plan.as_deref(),
            &mountpoint,
            &crate::view::MountOptions {
                background,
                allow_other,
                cache_mode: match cache_mode {
                    CacheModeArg::Open => crate::view::CacheMode::Open,
                    CacheModeArg::NoOpen => crate::view::CacheMode::NoOpen,
                },
                readahead_files: None,
                cache_budget_mb: Some(cache_budget),
            },
            &s3_of(&s3),
            object_tiers_local.then_some(object_cache_mb),
        ),
        Command::Unmount { mountpoint } => mount_cmd::unmount(&mountpoint),
        Command::Commit {
            config,
            plan,
            backup,
            yes,
            s3,
        } => match (plan, config) {
            (Some(plan), config) => {
                commit_cmd::commit_plan(&plan, config.as_deref(), &backup, yes, &s3_of(&s3))
            }
            (None, Some(config)) => commit_cmd::commit(&config, &backup, yes, &s3_of(&s3)),
            // clap requires one of them.
            (None, None) => config_error(&"pass --config FILE or --plan PLANFILE", Format::Text),
        },
        Command::Rollback { config } => commit_cmd::rollback(&config),
        Command::Status { config, format } => commit_cmd::status(&config, format),
        Command::Schema { db } => match crate::schema_export::export(&db) {
            Ok(ex) => {
                print!("{}", ex.yaml);
                for n in &ex.notes {
                    eprintln!("smstage schema: note: {n}");
                }
                EXIT_OK
            }
            Err(e) => {
                eprintln!("smstage: {e}");
                EXIT_USAGE
            }
        },
    }
}

/// Prints a usage/config error (JSON when asked) and returns exit code 2.
pub(crate) fn config_error(err: &dyn std::fmt::Display, format: Format) -> i32 {
    match format {
        Format::Json => {
            let v = serde_json::json!({
                "ok": false,
                "findings": [{
                    "severity": "error",
                    "code": "config-invalid",
                    "message": err.to_string(),
                    "path": serde_json::Value::Null,
                }]
            });
            println!("{v}");
        }
        Format::Text => eprintln!("smstage: {err}"),
    }
    EXIT_USAGE
}
