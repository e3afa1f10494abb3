//! Store locations as the assembly YAML writes them: `file:///abs/path` or `s3://bucket/prefix`.

use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

/// Where a mount or tier keeps its data. Only the two schemes SM uses for an initial import
/// are accepted; anything else is rejected at parse time rather than misread later.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StoreUri {
    /// A local directory, always absolute and normalised (no `.`/`..`, no trailing `/`).
    File(PathBuf),
    /// An object-store location; `prefix` has no leading or trailing `/` and may be empty.
    S3 { bucket: String, prefix: String },
}

const ACCEPTED: &str =
    "use file:///absolute/path for a local directory or s3://bucket/prefix for object storage";

impl StoreUri {
    /// Parses `file://` (absolute path, percent-decoded) and `s3://` URIs. The error text says
    /// what is wrong and names the two accepted forms.
    pub fn parse(s: &str) -> Result<StoreUri, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err(format!("empty store URI: {ACCEPTED}"));
        }
        if let Some(rest) = strip_scheme(s, "file") {
            return parse_file(s, rest);
        }
        if let Some(rest) = strip_scheme(s, "s3") {
            return parse_s3(s, rest);
        }
        match s.split_once("://") {
            Some((scheme, _)) if !scheme.is_empty() && !scheme.contains('/') => Err(format!(
                "'{s}' uses scheme '{scheme}://', which is not supported: {ACCEPTED}"
            )),
            _ if s.starts_with('/') => Err(format!(
                "'{s}' is a bare path, not a URI: write file://{s} ({ACCEPTED})"
            )),
            _ => Err(format!("'{s}' is not a store URI: {ACCEPTED}")),
        }
    }

    /// The location of `segment` below this one (`<baseURI>/data` for a defaulted tier store).
    pub fn join(&self, segment: &str) -> StoreUri {
        match self {
            StoreUri::File(p) => StoreUri::File(p.join(segment)),
            StoreUri::S3 { bucket, prefix } => StoreUri::S3 {
                bucket: bucket.clone(),
                prefix: if prefix.is_empty() {
                    segment.to_string()
                } else {
                    format!("{prefix}/{segment}")
                },
            },
        }
    }

    /// The local directory, when this is a `file://` URI.
    pub fn local_path(&self) -> Option<&Path> {
        match self {
            StoreUri::File(p) => Some(p),
            StoreUri::S3 { .. } => None,
        }
    }

    pub fn is_local(&self) -> bool {
        matches!(self, StoreUri::File(_))
    }
}

impl fmt::Display for StoreUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUri::File(p) => write!(f, "file://{}", percent_encode(p.as_os_str().as_bytes())),
            StoreUri::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            StoreUri::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// Scheme names are case-insensitive (RFC 3986), so `FILE:///x` and `S3://b` are accepted.
fn strip_scheme<'a>(s: &'a str, scheme: &str) -> Option<&'a str> {
    let head = s.get(..scheme.len() + 3)?;
    if head.eq_ignore_ascii_case(&format!("{scheme}://")) {
        Some(&s[scheme.len() + 3..])
    } else {
        None
    }
}

fn parse_file(orig: &str, rest: &str) -> Result<StoreUri, String> {
    // `file:///p` has an empty authority; `file://localhost/p` means the same thing.
    let path = if rest.starts_with('/') {
        rest
    } else if let Some(p) = rest.strip_prefix("localhost") {
        if !p.starts_with('/') {
            return Err(format!("'{orig}' has no absolute path: {ACCEPTED}"));
        }
        p
    } else {
        let host = rest.split('/').next().unwrap_or(rest);
        return Err(format!(
            "'{orig}' is not an absolute local path (it names host '{host}'; a relative path \
             or a remote host is not allowed): {ACCEPTED} — note the three slashes"
        ));
    };
    if path.contains(['?', '#']) {
        return Err(format!(
            "'{orig}' contains a query or fragment ('?' or '#'); percent-encode them as %3F/%23 \
             if they are part of the directory name"
        ));
    }
    let bytes = percent_decode(path).map_err(|e| format!("'{orig}': {e}"))?;
    let raw = PathBuf::from(OsString::from_vec(bytes));
    let mut norm = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::RootDir => norm.push("/"),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!(
                    "'{orig}' contains '..': write the absolute directory without '..' \
                     ({ACCEPTED})"
                ))
            }
            Component::Normal(n) => norm.push(n),
            Component::Prefix(_) => {}
        }
    }
    Ok(StoreUri::File(norm))
}

fn parse_s3(orig: &str, rest: &str) -> Result<StoreUri, String> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(format!(
            "'{orig}' has an empty bucket name: {ACCEPTED} (two slashes, then the bucket)"
        ));
    }
    if bucket.contains(|c: char| c.is_whitespace() || c == '?' || c == '#') {
        return Err(format!(
            "'{orig}': bucket name '{bucket}' contains an invalid character"
        ));
    }
    let prefix = prefix.trim_matches('/');
    if prefix
        .split('/')
        .any(|s| s.is_empty() && !prefix.is_empty())
    {
        return Err(format!(
            "'{orig}': the prefix contains an empty segment ('//')"
        ));
    }
    Ok(StoreUri::S3 {
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
    })
}

fn percent_decode(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(v) => out.push(v),
                None => {
                    return Err(format!(
                        "invalid percent escape at byte {i} (a '%' must be followed by two hex \
                         digits; write %25 for a literal '%')"
                    ))
                }
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    if out.contains(&0) {
        return Err("the path contains a NUL byte (%00)".to_string());
    }
    Ok(out)
}

/// Encodes only what would not read back the same: `%`, `?`, `#`, whitespace, control and
/// non-ASCII bytes. Everything else stays readable.
fn percent_encode(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for &c in b {
        if c.is_ascii_graphic() && !matches!(c, b'%' | b'?' | b'#') {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uri_round_trips() {
        let u = StoreUri::parse("file:///data/db/hdb/").unwrap();
        assert_eq!(u, StoreUri::File(PathBuf::from("/data/db/hdb")));
        assert_eq!(u.to_string(), "file:///data/db/hdb");
        assert_eq!(u.join("data").to_string(), "file:///data/db/hdb/data");
        assert_eq!(
            StoreUri::parse("file://localhost/x//y/./z").unwrap(),
            StoreUri::File(PathBuf::from("/x/y/z"))
        );
        assert_eq!(StoreUri::parse("file:///").unwrap().to_string(), "file:///");
    }

    #[test]
    fn file_uri_percent_decoding() {
        let u = StoreUri::parse("file:///my%20db/caf%C3%A9/100%25").unwrap();
        assert_eq!(u, StoreUri::File(PathBuf::from("/my db/café/100%")));
        assert_eq!(u.to_string(), "file:///my%20db/caf%C3%A9/100%25");
        assert_eq!(StoreUri::parse(&u.to_string()).unwrap(), u);
        assert!(StoreUri::parse("file:///a%2")
            .unwrap_err()
            .contains("percent"));
        assert!(StoreUri::parse("file:///a%zz").is_err());
        assert!(StoreUri::parse("file:///a%00b").is_err());
    }

    #[test]
    fn s3_uri() {
        let u = StoreUri::parse("s3://historical-data/db/").unwrap();
        assert_eq!(
            u,
            StoreUri::S3 {
                bucket: "historical-data".into(),
                prefix: "db".into()
            }
        );
        assert_eq!(u.to_string(), "s3://historical-data/db");
        assert_eq!(u.join("data").to_string(), "s3://historical-data/db/data");
        let b = StoreUri::parse("S3://bucket").unwrap();
        assert_eq!(b.to_string(), "s3://bucket");
        assert_eq!(b.join("data").to_string(), "s3://bucket/data");
        assert!(!b.is_local());
        assert_eq!(b.local_path(), None);
    }

    proptest::proptest! {
        #[test]
        fn display_parses_back(
            segs in proptest::collection::vec("[^/\\x00]{1,12}", 0..5),
            bucket in "[a-z0-9][a-z0-9.-]{0,20}",
        ) {
            let segs: Vec<String> =
                segs.into_iter().filter(|s| s != "." && s != "..").collect();
            let p: PathBuf = std::iter::once("/".to_string()).chain(segs.iter().cloned()).collect();
            let u = StoreUri::File(p);
            proptest::prop_assert_eq!(StoreUri::parse(&u.to_string()).unwrap(), u.clone());
            let s3 = StoreUri::S3 { bucket, prefix: segs.iter()
                .map(|s| s.replace(|c: char| c.is_whitespace() || c == '?' || c == '#', "_"))
                .collect::<Vec<_>>().join("/") };
            proptest::prop_assert_eq!(StoreUri::parse(&s3.to_string()).unwrap(), s3.clone());
        }
    }

    #[test]
    fn rejected_forms_name_both_accepted_forms() {
        for bad in [
            "http://example.com/db",
            "relative/path",
            "/abs/without/scheme",
            "file://relative/path",
            "file:///a/../b",
            "s3://",
            "s3:///prefix",
            "",
            "gs://bucket/x",
            "file:///a?b",
        ] {
            let e = StoreUri::parse(bad).unwrap_err();
            assert!(
                e.contains("file:///") || e.contains("s3://") || e.contains("%3F"),
                "{bad}: {e}"
            );
        }
        assert!(StoreUri::parse("s3:///prefix")
            .unwrap_err()
            .contains("empty bucket"));
        assert!(StoreUri::parse("http://x")
            .unwrap_err()
            .contains("'http://'"));
    }
}
