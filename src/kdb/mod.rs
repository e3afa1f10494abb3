//! Reading and writing kdb+ on-disk files: symbol lists, vectors, enumerations, nested columns,
//! compressed (`kxzipped`) files. Byte layouts are in docs/kdb-format.md.

mod types;
pub mod write;
pub mod zip;

pub mod chunked;
pub mod column;
pub mod compound;
pub mod error;
pub mod header;
pub mod ipc;
pub mod nested;
pub mod source;
pub mod symbols;
pub mod unzip;

pub use column::{fmt_float, read_column, read_column_from, resolve_enum, Column, ColumnData};
pub use error::KdbError;
pub use header::{logical_type, nested_item_type, read_header, read_header_from};
pub use source::{FileStamp, LocalFile, MemSource, ReadAt};
pub use symbols::{parse_symbols, read_symbol_bytes, read_symbols, read_symbols_from};
pub use types::*;
