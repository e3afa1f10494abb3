//! smstage: import a kdb+ date-partitioned HDB into Storage Manager (SM) format.
//!
//! The pipeline is: read the assembly configuration ([`config`]), take an inventory of the
//! database ([`inventory`]), check every precondition ([`check`]), and build one pure
//! [`plan`] of the SM layout. The staging view and the commit both render that plan.

pub mod commit;
pub mod kdb;
pub mod plan;
