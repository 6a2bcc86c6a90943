//! cairn-infer's integration tests (one binary).

mod common;
mod errors;
mod golden;
#[cfg(feature = "ptq")]
mod mnist;
mod props;
