//! Tests of parsing whole assembly files.
