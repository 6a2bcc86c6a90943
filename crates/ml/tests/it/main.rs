//! cairn-ml integration tests (one binary, per STYLE.md).

mod checkpoint;
mod data;
mod determinism;
mod gradcheck;
mod partition;
mod reference;
mod training;
