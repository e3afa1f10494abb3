//! Integration tests that touch real directories (and, for the view, FUSE mounts).

mod commit_tests;
