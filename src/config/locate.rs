//! Key paths (`tables.trade.columns[2].type`) and a best-effort finder of their line in the text.
//!
//! serde_yaml's `Value` carries no positions, so semantic errors would have no line. This
//! scanner re-reads the text line by line, following indentation the way block-style YAML
//! nests: a `key:` line opens a node, `- ` opens a sequence item. It understands quoted keys,
//! comments, `- key: value` items, sequences indented at the same column as their key, block
//! scalars (`|`, `>`), and keys inside a one-line flow mapping (`- {name: a, type: long}`).
//! When the path cannot be followed to the end, the deepest part found is returned, so an
//! error still points near the right place; when nothing is found the error has no line.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path from the document root to a node, shown as `a.b[2].c`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    pub fn root() -> KeyPath {
        KeyPath(Vec::new())
    }

    pub fn key(&self, k: &str) -> KeyPath {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_string()));
        KeyPath(v)
    }

    pub fn index(&self, i: usize) -> KeyPath {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        KeyPath(v)
    }

    /// Reads a path as serde_yaml prints it (`tables.trade.columns[0]`, `.` for the root).
    /// Keys containing `.` or `[` cannot be told apart; such paths only lose precision.
    pub fn from_serde(s: &str) -> KeyPath {
        let mut kp = KeyPath::root();
        for part in s.split('.').filter(|p| !p.is_empty()) {
            let mut pieces = part.split('[');
            if let Some(k) = pieces.next().filter(|k| !k.is_empty()) {
                kp = kp.key(k);
            }
            for ix in pieces {
                if let Ok(n) = ix.trim_end_matches(']').parse() {
                    kp = kp.index(n);
                }
            }
        }
        kp
    }

    /// Builds a path from dotted key names (no indices), e.g. `"spec.elements.sm"`.
    pub fn dotted(s: &str) -> KeyPath {
        KeyPath(s.split('.').map(|k| Seg::Key(k.to_string())).collect())
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document root)");
        }
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let plain = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if plain {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Dash,
    Content,
}

#[derive(Debug)]
struct Entry<'a> {
    line: usize,
    /// 0-based character column where this entry starts.
    indent: usize,
    kind: Kind,
    /// For content: the text from `indent` to the end of the line.
    text: &'a str,
}

/// The scanned text, ready for lookups.
pub struct Locator<'a> {
    entries: Vec<Entry<'a>>,
}

impl<'a> Locator<'a> {
    pub fn new(text: &'a str) -> Locator<'a> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut entries = Vec::new();
        // Inside a block scalar every deeper line is text, not structure.
        let mut scalar_parent: Option<usize> = None;
        for (no, raw) in text.lines().enumerate() {
            let trimmed = raw.trim_start_matches(' ');
            let indent = raw.len() - trimmed.len();
            if trimmed.trim().is_empty() {
                continue;
            }
            if let Some(p) = scalar_parent {
                if indent > p {
                    continue;
                }
                scalar_parent = None;
            }
            if trimmed.starts_with('#') {
                continue;
            }
            if indent == 0
                && (trimmed.starts_with("---")
                    || trimmed.starts_with("...")
                    || trimmed.starts_with('%'))
            {
                continue;
            }
            let mut col = indent;
            let mut rest = trimmed;
            loop {
                if rest == "-" || rest.starts_with("- ") {
                    entries.push(Entry {
                        line: no + 1,
                        indent: col,
                        kind: Kind::Dash,
                        text: rest,
                    });
                    let after = &rest[1..];
                    let n = after.len() - after.trim_start_matches(' ').len();
                    col += 1 + n;
                    rest = &after[n..];
                    if rest.is_empty() || rest.starts_with('#') {
                        break;
                    }
                    if starts_block_scalar(rest) {
                        scalar_parent = Some(col - 2);
                        break;
                    }
                } else {
                    entries.push(Entry {
                        line: no + 1,
                        indent: col,
                        kind: Kind::Content,
                        text: rest,
                    });
                    if let Some((_, v)) = split_key(rest) {
                        if starts_block_scalar(v.trim_start()) {
                            scalar_parent = Some(col);
                        }
                    }
                    break;
                }
            }
        }
        // Column counts use characters; indentation is ASCII spaces so byte == char there.
        Locator { entries }
    }

    /// The position of `path`'s last segment, or of the deepest prefix that was found.
    pub fn find(&self, path: &KeyPath) -> Option<Pos> {
        self.walk(path).0
    }

    /// Positions of every `key:` directly under the block mapping at `parent` (several when
    /// the file repeats a key, which serde_yaml reports at the first one only).
    pub fn find_keys(&self, parent: &KeyPath, key: &str) -> Vec<Pos> {
        let Some((lo, hi)) = self.walk(parent).1 else {
            return Vec::new();
        };
        let e = &self.entries;
        if lo >= hi {
            return Vec::new();
        }
        let base = e[lo].indent;
        (lo..hi)
            .filter(|&j| {
                e[j].indent == base
                    && e[j].kind == Kind::Content
                    && split_key(e[j].text).is_some_and(|(k, _)| k == key)
            })
            .map(|j| Pos {
                line: e[j].line,
                column: e[j].indent + 1,
            })
            .collect()
    }

    /// Follows `path`; returns the best position and, when the whole path was followed in
    /// block style, the entry range of its value.
    fn walk(&self, path: &KeyPath) -> (Option<Pos>, Option<(usize, usize)>) {
        let e = &self.entries;
        let (mut lo, mut hi) = (0, e.len());
        let mut best = None;
        let segs = &path.0;
        let mut i = 0;
        while i < segs.len() {
            if lo >= hi {
                return (best, None);
            }
            let base = e[lo].indent;
            match &segs[i] {
                Seg::Key(k) => {
                    // A one-line flow mapping as the whole node: search inside it.
                    if e[lo].kind == Kind::Content && e[lo].text.starts_with('{') {
                        return (inline(&e[lo], 0, &segs[i..]).or(best), None);
                    }
                    let Some(j) = (lo..hi).find(|&j| {
                        e[j].indent == base
                            && e[j].kind == Kind::Content
                            && split_key(e[j].text).map(|(key, _)| key) == Some(k.clone())
                    }) else {
                        return (best, None);
                    };
                    best = Some(Pos {
                        line: e[j].line,
                        column: e[j].indent + 1,
                    });
                    let value = split_key(e[j].text).map(|(_, v)| v).unwrap_or("");
                    let value = strip_comment(value).trim();
                    // An anchor or tag alone on the line still has its value below.
                    let only_prop = (value.starts_with('&') || value.starts_with('!'))
                        && !value.contains(char::is_whitespace);
                    if !value.is_empty() && !starts_block_scalar(value) && !only_prop {
                        if i + 1 < segs.len() {
                            let off =
                                e[j].text.len() - split_key(e[j].text).map_or(0, |x| x.1.len());
                            return (inline(&e[j], off, &segs[i + 1..]).or(best), None);
                        }
                        return (best, None);
                    }
                    lo = j + 1;
                    // Sequence dashes may sit at the key's own column.
                    hi = (lo..hi)
                        .find(|&m| {
                            e[m].indent < base
                                || (e[m].indent == base && e[m].kind == Kind::Content)
                        })
                        .unwrap_or(hi);
                }
                Seg::Index(n) => {
                    let Some(j) = (lo..hi)
                        .filter(|&j| e[j].indent == base && e[j].kind == Kind::Dash)
                        .nth(*n)
                    else {
                        return (best, None);
                    };
                    best = Some(Pos {
                        line: e[j].line,
                        column: e[j].indent + 1,
                    });
                    lo = j + 1;
                    hi = (lo..hi).find(|&m| e[m].indent <= base).unwrap_or(hi);
                }
            }
            i += 1;
        }
        (best, Some((lo, hi)))
    }
}

/// Looks for the remaining key segments inside one line (flow style), left to right.
/// Indices cannot be followed reliably there and are skipped; the line is still right.
fn inline(entry: &Entry<'_>, from: usize, segs: &[Seg]) -> Option<Pos> {
    let text = entry.text;
    let mut at = from;
    let mut found = None;
    for s in segs {
        if let Seg::Key(k) = s {
            let hay = text.get(at..)?;
            let pos = find_flow_key(hay, k)?;
            at += pos;
            found = Some(Pos {
                line: entry.line,
                column: entry.indent + text[..at].chars().count() + 1,
            });
            at += k.len();
        }
    }
    found.or(Some(Pos {
        line: entry.line,
        column: entry.indent + text[..from.min(text.len())].chars().count() + 1,
    }))
}

/// Position of `key:` in flow text where the key is preceded by `{`, `,` or a space.
fn find_flow_key(hay: &str, key: &str) -> Option<usize> {
    let mut start = 0;
    while let Some(p) = hay[start..].find(key) {
        let p = start + p;
        let before_ok =
            p == 0 || matches!(hay[..p].chars().last(), Some('{' | ',' | ' ' | '"' | '\''));
        let after = hay[p + key.len()..].trim_start_matches(['"', '\'']);
        if before_ok && after.starts_with(':') {
            return Some(p);
        }
        start = p + key.len();
    }
    None
}

/// Splits `key: value` into the key (unquoted) and the text after the colon.
fn split_key(text: &str) -> Option<(String, &str)> {
    let first = text.chars().next()?;
    if first == '"' || first == '\'' {
        let body = &text[1..];
        let mut key = String::new();
        let mut chars = body.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == first {
                if first == '\'' && chars.peek().map(|x| x.1) == Some('\'') {
                    chars.next();
                    key.push('\'');
                    continue;
                }
                let after = body[i + 1..].trim_start();
                let v = after.strip_prefix(':')?;
                return Some((key, v));
            }
            if first == '"' && c == '\\' {
                if let Some((_, n)) = chars.next() {
                    key.push(n);
                }
                continue;
            }
            key.push(c);
        }
        return None;
    }
    if matches!(first, '{' | '[' | '#' | '&' | '*' | '!' | '|' | '>') {
        return None;
    }
    let b = text.as_bytes();
    for i in 0..b.len() {
        if b[i] == b':' && (i + 1 == b.len() || b[i + 1] == b' ' || b[i + 1] == b'\t') {
            return Some((text[..i].trim_end().to_string(), &text[i + 1..]));
        }
        if b[i] == b'#' && i > 0 && b[i - 1] == b' ' {
            return None;
        }
    }
    None
}

fn strip_comment(v: &str) -> &str {
    let t = v.trim_start();
    if t.starts_with('#') {
        return "";
    }
    match v.find(" #") {
        Some(p) if !v.trim_start().starts_with(['"', '\'']) => &v[..p],
        _ => v,
    }
}

fn starts_block_scalar(v: &str) -> bool {
    let v = strip_comment(v).trim();
    (v.starts_with('|') || v.starts_with('>'))
        && v[1..]
            .chars()
            .all(|c| c == '-' || c == '+' || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> KeyPath {
        let mut kp = KeyPath::root();
        for part in s.split('.') {
            if let Some((k, rest)) = part.split_once('[') {
                kp = kp.key(k);
                for ix in rest.split('[') {
                    kp = kp.index(ix.trim_end_matches(']').parse().unwrap());
                }
            } else {
                kp = kp.key(part);
            }
        }
        kp
    }

    const DOC: &str = "\
# comment
name: x
tables:
  trade:
    type: partitioned   # trailing
    description: |
      columns:
        name: fake
    columns:
    - name: time
      type: timestamp
    - name: sym
      type: symbol
    -   name: price
        type: float
    - {name: size, type: long}
  \"quote\":
    columns:
      -
        name: bid
        type: float
mounts:
  hdb: {type: local, baseURI: 'file:///x', partition: date}
sm:
  tiers:
    - name: a
";

    #[test]
    fn finds_lines_of_key_paths() {
        let l = Locator::new(DOC);
        let line = |s: &str| l.find(&p(s)).map(|p| p.line);
        assert_eq!(line("name"), Some(2));
        assert_eq!(line("tables.trade.type"), Some(5));
        assert_eq!(line("tables.trade.columns"), Some(9));
        assert_eq!(line("tables.trade.columns[0]"), Some(10));
        assert_eq!(line("tables.trade.columns[1].type"), Some(13));
        assert_eq!(line("tables.trade.columns[2].type"), Some(15));
        assert_eq!(line("tables.trade.columns[3].type"), Some(16));
        assert_eq!(line("tables.quote.columns[0].type"), Some(21));
        assert_eq!(line("mounts.hdb.partition"), Some(23));
        assert_eq!(line("sm.tiers[0].name"), Some(26));
        // Deepest prefix found when the rest is missing.
        assert_eq!(line("sm.tiers[0].mount"), Some(26));
        assert_eq!(line("tables.nope"), Some(3));
        assert_eq!(line("nothing"), None);
        let c = l.find(&p("tables.trade.columns[3].type")).unwrap();
        assert_eq!(c.column, 20);
        let c = l.find(&p("mounts.hdb.partition")).unwrap();
        assert_eq!(c.column, 44);
    }

    #[test]
    fn path_display() {
        assert_eq!(
            p("tables.trade.columns[2].type").to_string(),
            "tables.trade.columns[2].type"
        );
        assert_eq!(
            KeyPath::root().key("tables").key("a.b").to_string(),
            "tables.\"a.b\""
        );
        assert_eq!(KeyPath::dotted("spec.elements.sm"), p("spec.elements.sm"));
        assert_eq!(KeyPath::from_serde("."), KeyPath::root());
        assert_eq!(
            KeyPath::from_serde("tables.trade.columns[2]"),
            p("tables.trade.columns[2]")
        );
    }

    #[test]
    fn finds_repeated_keys() {
        let l = Locator::new(DOC);
        let t = l.find_keys(&p("tables"), "trade");
        assert_eq!(t.iter().map(|p| p.line).collect::<Vec<_>>(), [4]);
        let doc = "a:\n  x: 1\n  y: 2\n  x: 3\nb: 1\n";
        let l = Locator::new(doc);
        let x = l.find_keys(&p("a"), "x");
        assert_eq!(x.iter().map(|p| p.line).collect::<Vec<_>>(), [2, 4]);
        assert_eq!(l.find_keys(&KeyPath::root(), "b")[0].line, 5);
    }
}
