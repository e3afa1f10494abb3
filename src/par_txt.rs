//! `par.txt`, the segment list of a segmented kdb+ root: read by `check` (a segmented
//! database to import), `verify` (loading a root as `\l` does) and the plan approval. It sits
//! below all three so none of them reaches into another for it.
//!
//! Format: one segment per line, a directory (relative lines resolve against the root, which
//! `\l` makes the working directory) or an object-storage URI (`s3://bucket/prefix`).

use std::path::{Path, PathBuf};

/// One line of `par.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The line as written.
    pub entry: String,
    /// Where it resolves: a local directory, or `None` for an object-storage URI.
    pub dir: Option<PathBuf>,
}

/// Parses `par.txt`: one segment per line; blank lines are skipped, a trailing `\r` is dropped.
pub fn parse_par_txt(root: &Path, text: &str) -> Vec<Segment> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let dir = if l.contains("://") {
                None
            } else {
                Some(root.join(l))
            };
            Segment {
                entry: l.to_string(),
                dir,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_txt_lines() {
        let segs = parse_par_txt(Path::new("/r"), "hdb$\n\n/abs/seg\r\ns3://b/p\n");
        assert_eq!(segs.len(), 3);
        assert_eq!(segs[0].dir.as_deref(), Some(Path::new("/r/hdb$")));
        assert_eq!(segs[1].dir.as_deref(), Some(Path::new("/abs/seg")));
        assert_eq!(segs[2].dir, None);
        assert_eq!(segs[2].entry, "s3://b/p");
    }
}
