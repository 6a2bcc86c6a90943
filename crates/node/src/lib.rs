//! A Cairn validator node.
//!
//! Consensus is commonware's simplex BFT; blocks travel and are backfilled through commonware's
//! marshal over the authenticated p2p network; this crate supplies the application (block
//! building and re-execution), the finalizer (canonical state, persisted before each block is
//! acknowledged), transaction gossip, equivocation evidence, and the RPC backend.

// No panics on outside input (see ARCHITECTURE.md, "No input can panic a node"): unwraps,
// indexing and unchecked arithmetic are refused outside tests; each reviewed exception is an
// `#[allow]` on the smallest item, with the reason it cannot fire.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]
// Rejections carry typed keys (an ed25519 PublicKey holds its decoded point, ~200 bytes), as
// the state crate's errors do; they are rare, cold-path values.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

pub mod app;
pub mod blobs;
pub mod chain;
pub mod config;
pub mod engine;
pub mod epochs;
pub mod evidence;
pub mod fault;
pub mod finalizer;
pub mod gossip;
pub mod infer_views;
pub mod mempool;
pub mod rpc;
pub mod run;
pub mod task_views;

/// The consensus signing scheme: ed25519, attributable (so equivocations are provable).
pub type Scheme = commonware_consensus::simplex::scheme::ed25519::Scheme;
