//! The SM layout this import produces, built purely from the inventory and the configuration.

mod build;
pub mod fingerprint;
mod model;
pub mod raw_id;
pub mod remedied;
pub mod saved;
mod segmented;

pub use build::*;
pub use model::*;
pub use remedied::{
    AddedColumn, AsideEntry, DerivedColumn, FilledTable, PlanRemedies, StagedDir, StagedFile,
};
pub use saved::SavedPlan;
pub use segmented::*;
