//! Object-storage tiers (S3 and S3-compatible stores) through the `object_store` crate: open a
//! bucket/prefix, read kdb+ files with ranged GETs, inventory the partitions, upload a tree.
//!
//! The API is synchronous: every call blocks on one small private tokio runtime, so the rest
//! of smstage (rayon, FUSE, plain threads) never sees async code.

pub mod faulty;
pub mod inventory;
pub mod readat;
pub mod store;

pub use inventory::{
    list_object_tier, read_object_column, read_object_whole, take_object_inventory, ListedTier,
    ObjectInventory,
};
pub use readat::ObjectFile;
pub use store::{
    open_s3, open_s3_with, upload_tree, ObjectError, ObjectTier, Place, S3Options, S3Settings,
    UploadSummary,
};

use std::future::Future;
use std::sync::OnceLock;

/// The runtime behind every blocking call. Two workers: object work is I/O-bound, and the
/// machine has few cores.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("smstage-object")
            .enable_all()
            .build()
            // Building a runtime fails only when the OS refuses threads or an epoll fd; there
            // is no way to go on without one.
            .expect("cannot start the object-storage runtime (threads/epoll unavailable)")
    })
}

/// Runs `fut` to completion from synchronous code (also from `spawn_blocking` threads).
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        // Inside a blocking task of our runtime: its handle may block; an async worker may not,
        // but we never call blocking APIs from async code.
        Ok(h) => h.block_on(fut),
        Err(_) => runtime().block_on(fut),
    }
}
