//! Errors of the assembly configuration: each names the file, line, key path, what was found,
//! what was expected and how to fix it.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read assembly configuration {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid YAML (or has a duplicate key); position from serde_yaml.
    #[error("{}: YAML error: {message}\n  fix: {fix}", at(path, *line, *column))]
    Syntax {
        path: PathBuf,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
        fix: String,
    },
    /// Valid YAML that does not describe a usable assembly.
    #[error("{0}")]
    Invalid(Box<Invalid>),
}

impl ConfigError {
    /// The 1-based line the error points at, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Syntax { line, .. } => *line,
            ConfigError::Invalid(i) => i.line,
        }
    }

    /// What kind of semantic problem this is (`None` for read and syntax errors).
    pub fn kind(&self) -> Option<InvalidKind> {
        match self {
            ConfigError::Invalid(i) => Some(i.kind),
            _ => None,
        }
    }
}

/// Which rule an otherwise well-formed file breaks; lets callers react without parsing text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidKind {
    /// A value of the wrong YAML shape (a list where a mapping belongs, a number for a name…).
    WrongType,
    MissingKey,
    /// A value outside the accepted set (type name, attribute, table type…).
    UnknownValue,
    BadUri,
    /// A tier, table or column name that cannot be used as a directory or file name.
    BadName,
    Duplicate,
    UnknownMount,
    UnknownColumn,
    /// The same section (`sm`, `tables`, `mounts`) appears in two accepted places.
    Ambiguous,
    NoSmSection,
    NoMounts,
    NoTables,
    NoTiers,
    NoColumns,
    NoHdbMount,
    ManyHdbMounts,
    /// The HDB mount's baseURI is not a local directory.
    HdbNotLocal,
    /// No tier uses the HDB mount.
    HdbWithoutTier,
}

#[derive(Debug)]
pub struct Invalid {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Key path such as `tables.trade.columns[2].type`.
    pub key: String,
    pub kind: InvalidKind,
    /// What is wrong, including what was found.
    pub problem: String,
    pub expected: String,
    pub fix: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (at {})\n  expected: {}\n  fix: {}",
            at(&self.path, self.line, self.column),
            self.problem,
            self.key,
            self.expected,
            self.fix
        )
    }
}

/// `file:line:column` as compilers print it, so editors can jump there; `file` alone when the
/// position is unknown.
fn at(path: &Path, line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("{}:{l}:{c}", path.display()),
        (Some(l), None) => format!("{}:{l}", path.display()),
        _ => path.display().to_string(),
    }
}
