//! The SM layout this import produces, built purely from the inventory and the configuration.

mod build;
mod model;
mod segmented;

pub use build::*;
pub use model::*;
pub use segmented::*;
