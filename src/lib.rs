//! smstage: import a kdb+ date-partitioned HDB into Storage Manager (SM) format.
//!
//! The pipeline is: read the assembly configuration ([`config`]), take an inventory of the
//! database ([`inventory`]), check every precondition ([`check`]), and build one pure
//! [`plan`] of the SM layout. The staging view and the commit both render that plan.

pub mod approval;
pub mod backup;
pub mod check;
pub mod cli;
pub mod commit;
pub mod config;
pub mod dates;
pub mod dirents;
pub mod finding;
pub mod gen;
pub mod init;
pub mod inventory;
pub mod io_hint;
pub mod io_pool;
pub mod kdb;
pub mod logging;
pub mod noatime;
pub mod object;
pub mod par_txt;
pub mod plan;
pub mod remedy;
pub mod reserved;
pub mod schema_export;
pub mod special;
pub mod verify;
pub mod view;
