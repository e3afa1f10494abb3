//! Reading and writing kdb+ on-disk files: symbol lists, vectors, enumerations, nested columns,
//! compressed (`kxzipped`) files. Byte layouts are in docs/kdb-format.md.

mod types;
pub mod write;
pub mod zip;

pub use types::*;
