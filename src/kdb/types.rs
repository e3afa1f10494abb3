//! kdb+ type bytes, attributes and the header summary every reader and writer shares.

use serde::Serialize;

/// Vector attribute, as stored in byte 3 of a vector header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Attr {
    #[default]
    None,
    Sorted,
    Unique,
    Parted,
    Grouped,
}

impl Attr {
    pub fn from_byte(b: u8) -> Option<Attr> {
        Some(match b {
            0 => Attr::None,
            1 => Attr::Sorted,
            2 => Attr::Unique,
            3 => Attr::Parted,
            4 => Attr::Grouped,
            _ => return None,
        })
    }

    pub fn byte(self) -> u8 {
        match self {
            Attr::None => 0,
            Attr::Sorted => 1,
            Attr::Unique => 2,
            Attr::Parted => 3,
            Attr::Grouped => 4,
        }
    }

    /// The letter q shows in `meta` (`s`, `u`, `p`, `g`), empty for none.
    pub fn q_letter(self) -> &'static str {
        match self {
            Attr::None => "",
            Attr::Sorted => "s",
            Attr::Unique => "u",
            Attr::Parted => "p",
            Attr::Grouped => "g",
        }
    }

    /// `u#`, `p#` and `g#` append index data after the vector, so the file size no longer
    /// tells the row count: the header count must be used instead.
    pub fn has_index_data(self) -> bool {
        matches!(self, Attr::Unique | Attr::Parted | Attr::Grouped)
    }
}

pub const T_MIXED: u8 = 0;
pub const T_BOOLEAN: u8 = 1;
pub const T_GUID: u8 = 2;
pub const T_BYTE: u8 = 4;
pub const T_SHORT: u8 = 5;
pub const T_INT: u8 = 6;
pub const T_LONG: u8 = 7;
pub const T_REAL: u8 = 8;
pub const T_FLOAT: u8 = 9;
pub const T_CHAR: u8 = 10;
pub const T_SYMBOL: u8 = 11;
pub const T_TIMESTAMP: u8 = 12;
pub const T_MONTH: u8 = 13;
pub const T_DATE: u8 = 14;
pub const T_DATETIME: u8 = 15;
pub const T_TIMESPAN: u8 = 16;
pub const T_MINUTE: u8 = 17;
pub const T_SECOND: u8 = 18;
pub const T_TIME: u8 = 19;
pub const T_ENUM: u8 = 20;
/// Inner type of a nested column's index file (`fd 01 4d`).
pub const T_ANYMAP: u8 = 77;

/// Width in bytes of one element of a simple vector of type `t` (enum: int64 index).
pub fn type_width(t: u8) -> Option<usize> {
    Some(match t {
        T_BOOLEAN | T_BYTE | T_CHAR => 1,
        T_GUID => 16,
        T_SHORT => 2,
        T_INT | T_REAL | T_MONTH | T_DATE | T_MINUTE | T_SECOND | T_TIME => 4,
        T_LONG | T_FLOAT | T_TIMESTAMP | T_DATETIME | T_TIMESPAN | T_ENUM => 8,
        _ => return None,
    })
}

/// Type names as the SM assembly YAML spells them (`symbol` covers enumerations).
pub fn type_name(t: u8) -> Option<&'static str> {
    Some(match t {
        T_BOOLEAN => "boolean",
        T_GUID => "guid",
        T_BYTE => "byte",
        T_SHORT => "short",
        T_INT => "int",
        T_LONG => "long",
        T_REAL => "real",
        T_FLOAT => "float",
        T_CHAR => "char",
        T_SYMBOL | T_ENUM => "symbol",
        T_TIMESTAMP => "timestamp",
        T_MONTH => "month",
        T_DATE => "date",
        T_DATETIME => "datetime",
        T_TIMESPAN => "timespan",
        T_MINUTE => "minute",
        T_SECOND => "second",
        T_TIME => "time",
        _ => return None,
    })
}

/// The `meta` type letter of q (`j` long, `s` symbol…); upper case for a list of that type.
pub fn type_letter(t: u8) -> Option<char> {
    Some(match t {
        T_MIXED => ' ',
        T_BOOLEAN => 'b',
        T_GUID => 'g',
        T_BYTE => 'x',
        T_SHORT => 'h',
        T_INT => 'i',
        T_LONG => 'j',
        T_REAL => 'e',
        T_FLOAT => 'f',
        T_CHAR => 'c',
        T_SYMBOL | T_ENUM => 's',
        T_TIMESTAMP => 'p',
        T_MONTH => 'm',
        T_DATE => 'd',
        T_DATETIME => 'z',
        T_TIMESPAN => 'n',
        T_MINUTE => 'u',
        T_SECOND => 'v',
        T_TIME => 't',
        _ => return None,
    })
}

/// What a column holds, as far as the schema is concerned: an enumerated symbol column and a
/// plain symbol vector are both `Simple(T_SYMBOL)`; a nested column is `List` of its item type
/// (`None` when it cannot be told, e.g. an empty nested column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum LogicalType {
    Simple(u8),
    List(Option<u8>),
}

impl LogicalType {
    /// The name the assembly YAML uses: `long`, `symbol`, `string` (list of char), `longs`…
    pub fn config_name(self) -> String {
        match self {
            // A general list (q type 0; meta shows " ").
            LogicalType::Simple(T_MIXED) | LogicalType::List(Some(T_MIXED)) => "mixed".to_string(),
            LogicalType::Simple(t) => type_name(t).unwrap_or("unknown").to_string(),
            LogicalType::List(Some(T_CHAR)) => "string".to_string(),
            LogicalType::List(Some(t)) => match type_name(t) {
                Some(n) => format!("{n}s"),
                None => "mixed".to_string(),
            },
            // Item type unknown (no rows): any list type fits; see `satisfies`.
            LogicalType::List(None) => "mixed".to_string(),
        }
    }

    /// Whether a column found on disk with type `self` satisfies the configured type `want`.
    /// A nested column whose item type is unknown (no rows) satisfies any list type.
    pub fn satisfies(self, want: LogicalType) -> bool {
        match (self, want) {
            // `mixed` (a general list) holds any item, lists included.
            (LogicalType::Simple(T_MIXED) | LogicalType::List(_), LogicalType::Simple(T_MIXED)) => {
                true
            }
            (LogicalType::Simple(a), LogicalType::Simple(b)) => norm(a) == norm(b),
            (LogicalType::List(None), LogicalType::List(_)) => true,
            (LogicalType::List(_), LogicalType::List(None)) => true,
            (LogicalType::List(Some(a)), LogicalType::List(Some(b))) => norm(a) == norm(b),
            _ => false,
        }
    }
}

fn norm(t: u8) -> u8 {
    if t == T_ENUM {
        T_SYMBOL
    } else {
        t
    }
}

/// How the bytes of a file are laid out once decompressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// `ff 01 0b`: a serialized symbol list (`sym`, `.d`).
    SymbolList,
    /// `ff 01` with another type: a serialized object (e.g. a whole table in one file).
    Serialized,
    /// `fe 20`: simple vector with a 16-byte header.
    Vector,
    /// `fd 20`: vector with a 4 KiB header (enums, nested index/data, newer attributed files).
    Vector4k,
    /// `fe` + domain name: kdb+ 3.x enumeration.
    Enum3x,
    /// `fe 20` with type 77 + t: kdb+ 3.x compound column (index of cumulative end offsets).
    Compound,
    /// The `col#` of a compound column: raw items of one type, no header at all.
    CompoundData,
}

/// `kxzipped` trailer facts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Compression {
    /// 1 q IPC, 2 gzip, 3 snappy, 4 lz4hc, 5 zstd (0 = stored).
    pub algorithm: u8,
    pub level: u8,
    pub uncompressed_len: u64,
    pub block_size: u64,
    pub blocks: u64,
}

/// What a header read learns about one file without reading all of it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Header {
    pub format: FileFormat,
    /// Type byte of the values: 1..=19 simple, 11 symbol list, 20 enum (4.x and 3.x),
    /// 0 for a nested column's index file (`fd 01 4d`, or a 3.x compound `fe 20` 77+t), the
    /// serialized object's type (negative as a byte, e.g. `0xf9`, for an atom), or for
    /// `CompoundData` the item type.
    pub value_type: u8,
    pub attr: Attr,
    /// Row count per the count rules in docs/kdb-format.md (header count for u#/p#/g#,
    /// file size otherwise).
    pub count: u64,
    /// Enumeration domain (`sym`, `sym_ORD`…) for enum columns.
    pub domain: Option<String>,
    /// True for the index file of a nested column (`col`, with `col#` beside it).
    pub nested: bool,
    /// Item type of a nested column when the index file itself names it (3.x compound:
    /// type byte 77 + t gives t); `None` for 4.x nested columns, whose `col#` items say it
    /// (see `nested_item_type`).
    pub item_type: Option<u8>,
    /// Present when the file is `kxzipped` (boxed: most files are not, and a header is kept
    /// for every file of the database).
    pub compression: Option<Box<Compression>>,
}

impl Header {
    /// A serialized atom (`ff 01` + a negative type byte): a single value, not a vector, so
    /// not something a column file may hold.
    pub fn is_atom(&self) -> bool {
        self.format == FileFormat::Serialized && (self.value_type as i8) < 0
    }
}
