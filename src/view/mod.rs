//! The read-only FUSE staging view: mounts the plan's future layout so q can load it before
//! the import is approved.
//!
//! [`tree`] is the filesystem core (no FUSE types), coordinating one module per job:
//! `generated` (the plan's nodes), [`inodes`] (inode numbers, the per-directory records), [`listings`] (the bounded listing
//! cache, sole owner of the memory budget), [`prefetch`] (lists ahead of a walk),
//! [`ahead_walk`] and [`readahead`] (read the next files ahead of a reader), [`handles`] (open
//! handles and descriptors). [`origin`] reads the original without ever leaving the base
//! directory, [`fuse`] is the fuser glue and [`mount`] the mount lifecycle.
//! Validation mode (`--object-tiers-local`): [`objects`] adds the object tiers as local
//! segments, [`objread`] reads their files with ranged GETs through [`blockcache`].

pub mod ahead_walk;
pub mod blockcache;
pub mod fuse;
mod generated;
pub mod handles;
pub mod inodes;
pub mod listings;
pub mod lru;
pub mod mount;
pub mod objects;
pub mod objread;
pub mod origin;
pub mod prefetch;
pub mod readahead;
pub mod tree;

pub use mount::{
    mount, run_mount, run_mount_approved, run_mount_view, run_unmount, spawn, spawn_view, unmount,
    CacheMode, MountHandle, MountOptions,
};
pub use objects::{object_overlay, ObjectOverlay, ObjectView};

use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ViewError {
    #[error("the plan is not renderable: node {path}: {why}")]
    BadPlan { path: String, why: String },
    #[error("cannot read the original database at {path}: {source}")]
    Original {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("mountpoint {path} does not exist: create it first (mkdir -p {path})")]
    MountpointMissing { path: PathBuf },
    #[error("mountpoint {path} is not a directory: choose an empty directory")]
    NotADirectory { path: PathBuf },
    #[error("mountpoint {path} is not empty: choose an empty directory (the view would hide its contents)")]
    NotEmpty { path: PathBuf },
    #[error("mountpoint {path} is busy: {what}")]
    Busy { path: PathBuf, what: String },
    #[error("{path} is a stale FUSE mount (\"Transport endpoint is not connected\") that smstage did not create: unmount it with `fusermount -u {path}` or `umount -l {path}` as root, then retry")]
    StaleForeign { path: PathBuf },
    #[error("{path} already has an smstage view mounted: run `smstage unmount {path}` first")]
    AlreadyMounted { path: PathBuf },
    #[error("/dev/fuse is missing: load the fuse kernel module (`modprobe fuse`), or run the container with `--device /dev/fuse` (and CAP_SYS_ADMIN)")]
    DevFuseMissing,
    #[error("/dev/fuse cannot be opened ({source}): run as root or as a user allowed to use FUSE; in a container pass `--device /dev/fuse --cap-add SYS_ADMIN`")]
    DevFuseUnusable { source: std::io::Error },
    #[error("mounting the view at {path} failed: {source}")]
    Mount {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a mount point: nothing to unmount")]
    NotMounted { path: PathBuf },
    #[error("{path} is a {fstype} mount, not an smstage view: refusing to unmount it")]
    NotSmstage { path: PathBuf, fstype: String },
    #[error("unmounting {path} failed: {source}; if a process still uses it, close it (see `fuser -vm {path}`) and retry")]
    Unmount {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the background view server for {path} failed: {why}")]
    Background { path: PathBuf, why: String },
}
