//! cairn-dispute's integration tests (one binary).

mod common;
mod format;
mod games;
mod rejects;
