//! The SM layout this import produces, built purely from the inventory and the configuration.

mod build;
mod model;

pub use build::*;
pub use model::*;
