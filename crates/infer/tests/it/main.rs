//! cairn-infer's integration tests (one binary).

mod common;
mod errors;
mod golden;
mod hostile;
#[cfg(feature = "ptq")]
mod mnist;
mod mutations;
mod props;
