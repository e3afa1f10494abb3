//! The prepare remedies of issue #19: spec parsing ([`spec`]), the pure planning of each kind
//! ([`derive`], [`fill`], [`add`], [`aside`]; what each does to one table: [`action`]), one check/plan run applying them to what `check` reads ([`session`]), and the
//! staging of their files ([`stage`]); the file producers are [`produce`].

pub mod action;
pub mod add;
pub mod aside;
pub mod derive;
pub mod fill;
pub mod onesym;
pub mod produce;
pub mod run;
pub mod segmented;
pub mod session;
pub mod spec;
pub mod stage;
