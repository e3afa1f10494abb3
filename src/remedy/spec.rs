//! `--remedy KIND[:ARGS]` as the user writes it (docs/cli.md, "Remedies"): parsed once, kept in
//! the plan as written so the saved plan says what was asked for.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// Every remedy kind, as spelled on the command line.
pub const KINDS: &[&str] = &[
    "derive-prtncol",
    "fill-tables",
    "add-columns",
    "set-aside",
    "one-sym",
];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Remedy {
    /// `derive-prtncol:TABLE=SOURCE`: the configured timestamp `prtnCol` of `table` (or of every
    /// partitioned table whose `prtnCol` is absent on disk, for `*`) derived per row as the
    /// partition date + `source`.
    DerivePrtnCol {
        table: TableSel,
        source: String,
    },
    FillTables,
    AddColumns,
    SetAside,
    OneSym,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableSel {
    All,
    Named(String),
}

impl TableSel {
    pub fn matches(&self, table: &str) -> bool {
        match self {
            TableSel::All => true,
            TableSel::Named(n) => n == table,
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("--remedy {given}: unknown remedy kind `{kind}`; the kinds are {}", KINDS.join(", "))]
    UnknownKind { given: String, kind: String },
    #[error("--remedy {given}: derive-prtncol needs TABLE=SOURCE (e.g. `derive-prtncol:trade=time`, or `derive-prtncol:*=time` for every partitioned table whose prtnCol is absent on disk)")]
    DeriveArgs { given: String },
    #[error("--remedy {given}: {kind} takes no arguments (write `--remedy {kind}`)")]
    NoArgs { given: String, kind: String },
    #[error("--remedy {a} and --remedy {b} both derive the prtnCol of table {table}: give one source per table")]
    Twice { a: String, b: String, table: String },
}

impl Remedy {
    pub fn parse(given: &str) -> Result<Remedy, SpecError> {
        let (kind, args) = match given.split_once(':') {
            Some((k, a)) => (k, Some(a)),
            None => (given, None),
        };
        let simple = |r: Remedy| match args {
            None => Ok(r),
            Some(_) => Err(SpecError::NoArgs {
                given: given.into(),
                kind: kind.into(),
            }),
        };
        match kind {
            "derive-prtncol" => {
                let bad = || SpecError::DeriveArgs {
                    given: given.into(),
                };
                let (table, source) = args.and_then(|a| a.split_once('=')).ok_or_else(bad)?;
                let (table, source) = (table.trim(), source.trim());
                if table.is_empty() || source.is_empty() || source.contains(['=', '/', ':']) {
                    return Err(bad());
                }
                Ok(Remedy::DerivePrtnCol {
                    table: if table == "*" {
                        TableSel::All
                    } else {
                        TableSel::Named(table.into())
                    },
                    source: source.into(),
                })
            }
            "fill-tables" => simple(Remedy::FillTables),
            "add-columns" => simple(Remedy::AddColumns),
            "set-aside" => simple(Remedy::SetAside),
            "one-sym" => simple(Remedy::OneSym),
            other => Err(SpecError::UnknownKind {
                given: given.into(),
                kind: other.into(),
            }),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Remedy::DerivePrtnCol { .. } => "derive-prtncol",
            Remedy::FillTables => "fill-tables",
            Remedy::AddColumns => "add-columns",
            Remedy::SetAside => "set-aside",
            Remedy::OneSym => "one-sym",
        }
    }
}

impl fmt::Display for Remedy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Remedy::DerivePrtnCol { table, source } => {
                let t = match table {
                    TableSel::All => "*",
                    TableSel::Named(n) => n,
                };
                write!(f, "derive-prtncol:{t}={source}")
            }
            other => f.write_str(other.kind()),
        }
    }
}

/// Parses every `--remedy`, refusing two derivations for one named table.
pub fn parse_all(given: &[String]) -> Result<Vec<Remedy>, SpecError> {
    let parsed: Vec<Remedy> = given
        .iter()
        .map(|g| Remedy::parse(g))
        .collect::<Result<_, _>>()?;
    for (i, a) in parsed.iter().enumerate() {
        for b in &parsed[i + 1..] {
            if let (
                Remedy::DerivePrtnCol { table: ta, .. },
                Remedy::DerivePrtnCol { table: tb, .. },
            ) = (a, b)
            {
                let clash = match (ta, tb) {
                    (TableSel::Named(x), TableSel::Named(y)) if x == y => Some(x.clone()),
                    (TableSel::All, TableSel::All) => Some("*".into()),
                    _ => None,
                };
                if let Some(table) = clash {
                    return Err(SpecError::Twice {
                        a: a.to_string(),
                        b: b.to_string(),
                        table,
                    });
                }
            }
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_as_the_issue_spells_it() {
        assert_eq!(
            Remedy::parse("derive-prtncol:*=time").unwrap(),
            Remedy::DerivePrtnCol {
                table: TableSel::All,
                source: "time".into()
            }
        );
        assert_eq!(
            Remedy::parse("derive-prtncol:trade=time")
                .unwrap()
                .to_string(),
            "derive-prtncol:trade=time"
        );
        for k in ["fill-tables", "add-columns", "set-aside", "one-sym"] {
            assert_eq!(Remedy::parse(k).unwrap().kind(), k);
        }
    }

    #[test]
    fn bad_specs_say_what_and_how() {
        let e = Remedy::parse("derive-ts:trade=time").unwrap_err();
        assert!(
            e.to_string().contains("unknown remedy kind `derive-ts`"),
            "{e}"
        );
        assert!(e.to_string().contains("derive-prtncol"), "{e}");
        for bad in [
            "derive-prtncol",
            "derive-prtncol:trade",
            "derive-prtncol:=time",
            "derive-prtncol:t=",
        ] {
            assert!(
                matches!(Remedy::parse(bad), Err(SpecError::DeriveArgs { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            Remedy::parse("one-sym:x"),
            Err(SpecError::NoArgs { .. })
        ));
        let e = parse_all(&["derive-prtncol:t=a".into(), "derive-prtncol:t=b".into()]).unwrap_err();
        assert!(matches!(e, SpecError::Twice { .. }), "{e}");
    }
}
