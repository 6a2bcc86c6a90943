//! Consensus-grade integer inference for Cairn.
//!
//! - [`requant`]: the one requantization rule (single rounding in `i64`, round half up).
//! - [`graph`]: [`Graph`] of [`Node`]s (op, inputs, output shape and zero point, int8
//!   per-channel weights) and its validation ([`GraphError`]).
//! - [`encode`]: canonical bytes ([`Graph::encode`], [`decode`]) and [`Graph::hash`] (BLAKE3).
//! - [`engine`]: [`run`] → [`Trace`] (every node's output) and [`engine::compute_element`], the
//!   per-element semantics the one-step check uses.
//! - [`merkle`], [`commit`]: the model root (per output channel) and the execution root (per
//!   node, per row), openings and their verification.
//! - [`step`]: [`prove_step`] / [`verify_step`], the one-step dispute check.
//! - [`quantize`] (feature `ptq`, off-chain, the only floats): post-training quantization of
//!   cairn-ml models with calibration.
//!
//! Invariant: no module except [`quantize`] reads, writes or computes a float (each carries
//! `#![deny(clippy::float_arithmetic)]`); every output is a pure function of the graph bytes
//! and the input bytes, identical on every platform and in debug and release.
//!
//! Invariant: nothing outside [`quantize`] (off-chain, feature `ptq`) and the test tooling
//! (`testkit`, [`rng`]) panics, overflows or allocates without a protocol bound, for any input,
//! validated or not: the crate denies `unwrap`/`expect`/`panic!`/`unreachable!`, slice
//! indexing and unchecked arithmetic outside tests, and each reviewed exception is an
//! `#[allow]` on the smallest item, with the reason it cannot fail. The chain reaches this
//! crate from transaction checking and block execution ([`verify_step`], the commitment
//! checks), where a panic would stop every validator.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

pub mod commit;
pub mod encode;
pub mod engine;
pub mod graph;
pub mod merkle;
#[cfg(feature = "ptq")]
pub mod quantize;
pub mod requant;
pub mod rng;
pub mod step;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use commit::{ExecCommitment, ModelCommitment, ProofError};
pub use encode::{DecodeError, decode};
pub use engine::{ElementError, RunError, Trace, pixels_to_input, run};
pub use graph::{
    ChannelRef, Channels, ConvGeom, Graph, GraphError, Node, Op, PoolGeom, TensorInfo,
    validate_against_inputs, validate_channel, validate_header,
};
pub use merkle::Hash;
pub use requant::{Multiplier, requantize};
pub use step::{StepError, StepProof, StepVerdict, prove_step, verify_step, verify_valid_header};
