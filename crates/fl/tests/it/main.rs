//! cairn-fl's integration tests (one binary, per the workspace convention).

mod common;
mod convert;
mod federation;
mod rules;
mod score;
mod spec;
