//! The SM layout this import produces, built purely from the inventory and the configuration.

mod model;

pub use model::*;
