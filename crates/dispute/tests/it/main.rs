//! cairn-dispute's integration tests (one binary).

mod codec;
mod common;
mod format;
mod games;
mod hostile;
mod rejects;
