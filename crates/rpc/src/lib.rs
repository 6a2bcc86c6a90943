//! JSON-RPC 2.0 over HTTP for a Cairn node.
//!
//! The server knows nothing about the node's internals: it speaks to a [Backend] the node
//! implements, and turns [api] views into JSON. The [client] is the blocking counterpart the CLI
//! uses. Keys and digests cross the wire as lower-case hex, amounts as integers.
//!
//! Invariant: every parameter is validated (shape, hex, length) before the backend sees it, so
//! a backend receives only canonical lower-case hex keys and digests.
//!
//! Invariant: everything a client can hold is bounded ([limits]): connections (with eviction
//! of idle and half-sent ones), requests and uploads in flight, the time to send a head, a body
//! or a whole request, and the memory of a body (a JSON body in full, at most
//! [RPC_BODY_MAX_BYTES]; a blob one batch at a time, streamed to disk).

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

pub mod api;
pub mod backend;
mod blob_routes;
pub mod client;
pub mod error;
pub mod infer_api;
pub mod limits;
mod listener;
pub mod server;
pub mod stats;
pub mod task_api;

pub use backend::{Backend, Upload, UploadRequest};
pub use client::{ClientError, RpcClient};
pub use error::RpcError;
pub use limits::RpcLimits;
pub use server::{RpcServer, router, serve, serve_with_shutdown};
pub use stats::{RpcStats, UploadRefusal};

/// Largest HTTP request body the server reads (a batch of submitted transactions fits easily).
pub const RPC_BODY_MAX_BYTES: usize = 1024 * 1024;
/// Most inference requests one `cairn_getInferences` call returns.
pub const INFERENCES_PAGE_MAX: usize = 500;
/// Most requests in one JSON-RPC batch.
pub const RPC_BATCH_MAX: usize = 100;
/// Largest blob body `PUT /blobs` accepts (and `GET /blobs/{id}` can return): room for a
/// small model's weights or one FL update. Separate from [RPC_BODY_MAX_BYTES] because blobs
/// travel as raw bytes, never inside JSON.
pub const BLOB_BODY_MAX_BYTES: usize = 32 * 1024 * 1024;
