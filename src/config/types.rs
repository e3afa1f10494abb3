//! Column type names and on-disk attribute names of the assembly YAML, mapped to kdb+ types.

use crate::kdb::{type_letter, type_name, Attr, LogicalType, T_CHAR, T_MIXED};

/// Type bytes that have a YAML name (1..=19 minus the unused 3).
const SIMPLE: [u8; 18] = [
    1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
];

/// Parses a column `type`: a simple name (`long`), a list name (`longs`, `string` = `chars`),
/// or a q type letter (`j`; upper case for a list, `C` for string). Words are matched without
/// regard to case; single letters are case-sensitive because case means simple vs. list.
pub fn parse_type(s: &str) -> Option<LogicalType> {
    let s = s.trim();
    let mut chars = s.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        let lower = c.to_ascii_lowercase();
        let t = SIMPLE
            .iter()
            .copied()
            .find(|&t| type_letter(t) == Some(lower))?;
        return Some(if c.is_ascii_uppercase() {
            LogicalType::List(Some(t))
        } else {
            LogicalType::Simple(t)
        });
    }
    let w = s.to_ascii_lowercase();
    if w == "string" {
        return Some(LogicalType::List(Some(T_CHAR)));
    }
    // A general list (q type 0): rows of any type, e.g. lists of lists.
    if w == "mixed" {
        return Some(LogicalType::Simple(T_MIXED));
    }
    for t in SIMPLE {
        let name = type_name(t)?;
        if w == name {
            return Some(LogicalType::Simple(t));
        }
        if w.strip_suffix('s') == Some(name) {
            return Some(LogicalType::List(Some(t)));
        }
    }
    None
}

/// The phrase used in errors after "expected".
pub fn expected_types() -> String {
    let names: Vec<&str> = SIMPLE.iter().filter_map(|&t| type_name(t)).collect();
    format!(
        "one of {}, or a list type such as 'string'/'longs' (a simple name plus 's'; \
         'string' = 'chars'), 'mixed' for a general list, or a q type letter ('j', 's'; upper case for a list, 'C' for string)",
        names.join(", ")
    )
}

/// The closest known type name, for a "did you mean" hint on a typo.
pub fn suggest_type(s: &str) -> Option<String> {
    let w = s.trim().to_ascii_lowercase();
    let mut names: Vec<String> = vec!["string".to_string()];
    for t in SIMPLE {
        if let Some(n) = type_name(t) {
            names.push(n.to_string());
            names.push(format!("{n}s"));
        }
    }
    names
        .into_iter()
        .map(|n| (edit_distance(&w, &n), n))
        .filter(|(d, n)| *d <= 2 && *d < n.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Parses `attrDisk`: `sorted|unique|parted|grouped` or `s|u|p|g`; `none` or empty means no
/// attribute. Anything else is an error naming the accepted values.
pub fn parse_attr(s: &str) -> Result<Option<Attr>, String> {
    Ok(match s.trim().to_ascii_lowercase().as_str() {
        "" | "none" => None,
        "sorted" | "s" => Some(Attr::Sorted),
        "unique" | "u" => Some(Attr::Unique),
        "parted" | "p" => Some(Attr::Parted),
        "grouped" | "g" => Some(Attr::Grouped),
        _ => {
            return Err(format!(
                "unknown attribute '{s}': expected {EXPECTED_ATTRS}"
            ))
        }
    })
}

pub const EXPECTED_ATTRS: &str =
    "one of sorted, unique, parted, grouped (or s, u, p, g), or none / leave the key out";

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kdb::*;

    #[test]
    fn names_letters_and_lists() {
        assert_eq!(parse_type("long"), Some(LogicalType::Simple(T_LONG)));
        assert_eq!(parse_type("symbol"), Some(LogicalType::Simple(T_SYMBOL)));
        assert_eq!(parse_type("string"), Some(LogicalType::List(Some(T_CHAR))));
        assert_eq!(parse_type("chars"), Some(LogicalType::List(Some(T_CHAR))));
        assert_eq!(parse_type("longs"), Some(LogicalType::List(Some(T_LONG))));
        assert_eq!(
            parse_type("timestamps"),
            Some(LogicalType::List(Some(T_TIMESTAMP)))
        );
        assert_eq!(parse_type("times"), Some(LogicalType::List(Some(T_TIME))));
        assert_eq!(
            parse_type("Timespan"),
            Some(LogicalType::Simple(T_TIMESPAN))
        );
        assert_eq!(parse_type("j"), Some(LogicalType::Simple(T_LONG)));
        assert_eq!(parse_type("J"), Some(LogicalType::List(Some(T_LONG))));
        assert_eq!(parse_type("s"), Some(LogicalType::Simple(T_SYMBOL)));
        assert_eq!(parse_type("C"), Some(LogicalType::List(Some(T_CHAR))));
        assert_eq!(parse_type("c"), Some(LogicalType::Simple(T_CHAR)));
        assert_eq!(parse_type("g"), Some(LogicalType::Simple(T_GUID)));
        assert_eq!(parse_type("lng"), None);
        assert_eq!(parse_type("a"), None);
        assert_eq!(parse_type(""), None);
        assert_eq!(parse_type("s "), Some(LogicalType::Simple(T_SYMBOL)));
        // Every name the kdb module prints must parse back to the same type.
        for t in SIMPLE {
            for lt in [LogicalType::Simple(t), LogicalType::List(Some(t))] {
                assert_eq!(parse_type(&lt.config_name()), Some(lt), "{t}");
            }
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest_type("lng").as_deref(), Some("long"));
        assert_eq!(suggest_type("symbl").as_deref(), Some("symbol"));
        assert_eq!(suggest_type("strings").as_deref(), Some("string"));
        assert_eq!(suggest_type("xyzzyx"), None);
        assert!(expected_types().contains("timespan"));
    }

    #[test]
    fn attrs() {
        assert_eq!(parse_attr("parted"), Ok(Some(Attr::Parted)));
        assert_eq!(parse_attr("g"), Ok(Some(Attr::Grouped)));
        assert_eq!(parse_attr("Sorted"), Ok(Some(Attr::Sorted)));
        assert_eq!(parse_attr("u"), Ok(Some(Attr::Unique)));
        assert_eq!(parse_attr("none"), Ok(None));
        assert!(parse_attr("partitioned").unwrap_err().contains("parted"));
    }
}
