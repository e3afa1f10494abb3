//! Integration tests that really mount, load, crash and resume (run as root with /dev/fuse).

mod approval_tests;
mod cli_flow_tests;
mod commit_fault_tests;
mod commit_tests;
mod corpus_tests;
mod hostile_tests;
mod object_view_tests;
mod remedy_tests;
mod segmented_tests;
mod tier_space_tests;
mod view_tests;
mod walk_tests;
