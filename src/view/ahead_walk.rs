//! Which files follow an opened one, for the cross-file readahead: the next entries of its
//! directory, and past its end the next directories of a depth-first, name-ordered walk of the
//! view (the next table of the partition, then the next partition), as a scan goes on.
//!
//! Decided from what is in memory only (generated directories and cached listings): a request
//! is never delayed by I/O to find what to read ahead. [`super::readahead::Streams`] says when
//! opens are a scan; the workers of [`super::readahead::Readahead`] do the reading.

use super::listings::{Child, Listing};
use super::readahead::{Streams, FILE_HEAD};
use super::tree::{Ino, Kind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Directories looked at to find where a scan goes next.
const NEXT_DIR_VISITS: usize = 64;

/// What the walk needs of the tree, all without I/O.
pub trait Walkable {
    /// Where original file `ino` stands: its directory, that directory's cached listing, its
    /// index there and the directory's path in the original.
    fn position(&self, ino: Ino) -> Option<(Ino, Listing, usize, PathBuf)>;
    fn parent_of(&self, ino: Ino) -> Option<Ino>;
    /// The children of directory `ino` if known without I/O (generated, or listed and still
    /// cached), with its path in the original for a passed-through directory.
    fn listed(&self, ino: Ino) -> Option<(Listing, Option<PathBuf>)>;
}

/// The files among `kids` (entries of directory `dir`, relative to the base) with the bytes to
/// read ahead of each.
fn files_to_read(kids: &[Child], dir: &Path) -> Vec<(PathBuf, u64)> {
    kids.iter()
        .filter_map(|c| match c.attr {
            Some(a) if c.kind == Kind::File && a.size > 0 => {
                Some((dir.join(&c.name), a.size.min(FILE_HEAD)))
            }
            _ => None,
        })
        .collect()
}

#[derive(Debug, Default)]
pub struct AheadWalk {
    streams: Mutex<Streams>,
}

impl AheadWalk {
    fn streams(&self) -> std::sync::MutexGuard<'_, Streams> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Original file `ino` was opened: the files to read ahead now, as paths relative to the
    /// base with the bytes to read of each (none if the opens do not look like a scan).
    pub fn files_after(
        &self,
        tree: &impl Walkable,
        ino: Ino,
        window: usize,
    ) -> Vec<(PathBuf, u64)> {
        let Some((parent, kids, idx, dir)) = tree.position(ino) else {
            return Vec::new();
        };
        let Some(range) = self.streams().opened(parent, idx, kids.len(), window) else {
            return Vec::new();
        };
        let mut files = files_to_read(&kids[range], &dir);
        // The window runs past the end of this directory: a scan goes on with the next ones
        // (the next table of the partition, then the next partition), so read their heads too.
        let mut past_end = (idx + 1 + window).saturating_sub(kids.len());
        let (mut cur, mut visits) = (parent, NEXT_DIR_VISITS);
        while past_end > 0 {
            let Some((next, next_kids, next_path)) = next_dir_with_files(tree, cur, &mut visits)
            else {
                break;
            };
            let upto = past_end.min(next_kids.len());
            let range = self.streams().extend(next, upto);
            files.extend(files_to_read(&next_kids[range], &next_path));
            past_end -= upto;
            cur = next;
        }
        files
    }
}

/// The directory after `dir` in a depth-first, name-ordered walk of the view that holds
/// original files, looking only at what is in memory and visiting at most `budget`
/// directories (empty directories cannot make a request slow).
fn next_dir_with_files(
    tree: &impl Walkable,
    dir: Ino,
    budget: &mut usize,
) -> Option<(Ino, Listing, PathBuf)> {
    let mut cur = dir;
    loop {
        let parent = tree.parent_of(cur)?;
        if parent == cur {
            return None;
        }
        let (siblings, _) = tree.listed(parent)?;
        let i = siblings.iter().position(|c| c.ino == cur)?;
        for s in siblings[i + 1..].iter().filter(|c| c.kind == Kind::Dir) {
            if let Some(found) = first_dir_with_files(tree, s.ino, budget) {
                return Some(found);
            }
            if *budget == 0 {
                return None;
            }
        }
        cur = parent;
    }
}

fn first_dir_with_files(
    tree: &impl Walkable,
    dir: Ino,
    budget: &mut usize,
) -> Option<(Ino, Listing, PathBuf)> {
    *budget = budget.checked_sub(1)?;
    let (kids, path) = tree.listed(dir)?;
    if let Some(path) = path {
        if kids.iter().any(|c| c.kind == Kind::File) {
            return Some((dir, kids, path));
        }
    }
    for sub in kids.iter().filter(|c| c.kind == Kind::Dir) {
        if let Some(found) = first_dir_with_files(tree, sub.ino, budget) {
            return Some(found);
        }
    }
    None
}
