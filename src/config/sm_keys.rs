//! The keys of the assembly that KX's import prerequisites depend on: a partitioned table's
//! `prtnCol` (KX: "a timestamp column which, when rounded down, is equal to the date" of its
//! partition), a tier's `compression` and the SM section's `encryption`.
//! KX: microservices › database › import › Prerequisites (kdb Insights 1.15); storage and
//! schema configuration (1.17).

use serde_yaml::{Mapping, Value};

use super::super::error::{ConfigError, InvalidKind};
use super::super::locate::KeyPath;
use super::super::{ColumnSchema, Encryption, TierCompression};
use super::{describe, get, Walk};
use crate::kdb::{LogicalType, T_TIMESTAMP};

/// Tier `compression: algorithm`: KX's storage configuration writes the kdb+ algorithm number
/// (as `-19!`/`.z.zd` take it); these names are accepted too, for readability.
pub const ALGORITHMS: [(&str, u8); 6] = [
    ("none", 0),
    ("qipc", 1),
    ("gzip", 2),
    ("snappy", 3),
    ("lz4hc", 4),
    ("zstd", 5),
];

/// Where KX states the import's prerequisites: quoted in errors so users can look them up.
const PREREQUISITES: &str = "KX: kdb Insights › database › import › Prerequisites";

impl Walk<'_> {
    /// A partitioned table must name its partition column, and that column must be configured
    /// as a timestamp: SM derives each row's date from it.
    pub(super) fn prtn_col_timestamp(
        &self,
        table: &str,
        columns: &[ColumnSchema],
        prtn_col: Option<&str>,
        tp: &KeyPath,
    ) -> Result<(), ConfigError> {
        let timestamps: Vec<&str> = columns
            .iter()
            .filter(|c| c.ty == LogicalType::Simple(T_TIMESTAMP))
            .map(|c| c.name.as_str())
            .collect();
        let candidates = if timestamps.is_empty() {
            format!("table '{table}' has no timestamp column: SM cannot import it as it is; add one holding each row's time on its partition's date (for kdb+tick's timespan `time`: date+time) in every partition, or let smstage derive it: `smstage init DB --out FILE --remedy derive-prtncol:{table}=time` writes this file with a derived `ts`, and the same --remedy on check and plan writes the column (docs/cli.md, \"Remedies\")")
        } else {
            format!(
                "set `prtnCol: {}` (its timestamp column{})",
                timestamps[0],
                if timestamps.len() > 1 {
                    format!("s: {}", timestamps.join(", "))
                } else {
                    String::new()
                }
            )
        };
        let Some(pc) = prtn_col else {
            return Err(self.err(
                InvalidKind::MissingKey,
                tp,
                format!("partitioned table '{table}' has no prtnCol: \"Partitioned tables must have a 'partition column': a timestamp column which, when rounded down, is equal to the date\" ({PREREQUISITES})"),
                "`prtnCol: <a timestamp column of the table>`",
                candidates,
            ));
        };
        let col = columns.iter().find(|c| c.name == pc);
        if let Some(c) = col {
            if c.ty != LogicalType::Simple(T_TIMESTAMP) {
                return Err(self.err(
                    InvalidKind::UnknownValue,
                    &tp.key("prtnCol"),
                    format!("prtnCol '{pc}' of table '{table}' is configured as {}, not timestamp: \"Partitioned tables must have a 'partition column': a timestamp column\" ({PREREQUISITES})", c.type_name),
                    "a column of type timestamp",
                    candidates,
                ));
            }
        }
        Ok(())
    }

    /// `compression: {frequency, blockSize, algorithm, level}` of a tier (`frequency`, when SM
    /// compresses, does not concern the import).
    pub(super) fn tier_compression(
        &self,
        tier: &Mapping,
        p: &KeyPath,
    ) -> Result<Option<TierCompression>, ConfigError> {
        let cp = p.key("compression");
        let m = match get(tier, "compression") {
            None | Some(Value::Null) => return Ok(None),
            Some(v) => self.mapping(v, &cp, "compression")?,
        };
        let names: Vec<&str> = ALGORITHMS.iter().map(|(n, _)| *n).collect();
        let expected = format!(
            "the kdb+ algorithm number 0-5 (0 none, 1 qipc, 2 gzip, 3 snappy, 4 lz4hc, 5 zstd) or its name ({})",
            names.join(", ")
        );
        let algorithm = match get(m, "algorithm") {
            None | Some(Value::Null) => {
                return Err(self.err(
                    InvalidKind::MissingKey,
                    &cp,
                    "compression without an algorithm",
                    format!("`algorithm:` {expected}"),
                    "add `algorithm:` (the one the database's files use, see `smstage check --config FILE --no-backup-check`)",
                ))
            }
            Some(Value::Number(n)) if n.as_u64().is_some_and(|a| a <= 5) => {
                n.as_u64().unwrap_or(0) as u8
            }
            Some(v) => match v.as_str().and_then(|a| {
                ALGORITHMS
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(a.trim()))
            }) {
                Some((_, n)) => *n,
                None => {
                    return Err(self.err(
                        InvalidKind::UnknownValue,
                        &cp.key("algorithm"),
                        format!("unknown compression algorithm {}", describe(v)),
                        expected,
                        "use the algorithm the database's files use (see `smstage check --config FILE --no-backup-check`)",
                    ))
                }
            },
        };
        let number = |k: &str, max: u64, expected: &str| -> Result<Option<u8>, ConfigError> {
            match get(m, k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) if n.as_u64().is_some_and(|l| l <= max) => {
                    Ok(n.as_u64().map(|l| l as u8))
                }
                Some(v) => Err(self.err(
                    InvalidKind::WrongType,
                    &cp.key(k),
                    format!("compression {k} is {}", describe(v)),
                    expected,
                    "write the value the database's files use (see `smstage check --config FILE --no-backup-check`)",
                )),
            }
        };
        let level = number(
            "level",
            22,
            "a whole number (gzip 0-9, lz4hc 1-12, zstd up to 22; 0 for qipc and snappy)",
        )?
        .unwrap_or(0);
        let block_log2 = number(
            "blockSize",
            20,
            "the logical block size as a power of 2, 12-20 (17 = 128 KiB)",
        )?;
        Ok(Some(TierCompression {
            algorithm,
            level,
            block_log2,
        }))
    }

    /// `encryption: {enabled: true|false}` of the SM section.
    pub(super) fn encryption(
        &self,
        sm: &Mapping,
        sm_path: &KeyPath,
    ) -> Result<Option<Encryption>, ConfigError> {
        let ep = sm_path.key("encryption");
        let enabled = match get(sm, "encryption") {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                let m = self.mapping(v, &ep, "encryption")?;
                match get(m, "enabled") {
                    Some(Value::Bool(b)) => *b,
                    other => {
                        return Err(self.err(
                            InvalidKind::WrongType,
                            &ep.key("enabled"),
                            format!(
                                "encryption.enabled is {}",
                                other.map(describe).unwrap_or_else(|| "missing".into())
                            ),
                            "true or false",
                            "write `enabled: true` when the database's files are encrypted",
                        ))
                    }
                }
            }
        };
        Ok(Some(Encryption {
            enabled,
            line: self.line(&ep),
        }))
    }
}
