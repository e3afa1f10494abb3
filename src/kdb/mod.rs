//! Reading and writing kdb+ on-disk files: symbol lists, vectors, enumerations, nested columns,
//! compressed (`kxzipped`) files. Byte layouts are in docs/kdb-format.md.

mod types;

pub mod error;
pub mod header;
pub mod source;
pub mod unzip;

pub use error::KdbError;
pub use header::{logical_type, nested_item_type, read_header, read_header_from};
pub use source::{LocalFile, MemSource, ReadAt};
pub use types::*;
