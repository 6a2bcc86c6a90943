//! A content-addressed blob store. Model weights and FL updates are too large for the ledger, so
//! they live here as files named by their BLAKE3 hash ([`BlobId`]); the ledger records only the
//! hash. This crate is the local part; fetching blobs from peers builds on
//! [`BlobStore::put_expected`].
//!
//! # Layout
//!
//! ```text
//! dir/
//!   lock                 exclusive lock: one open BlobStore per directory
//!   pins                 pinned ids, one hex id per line
//!   aa/bb/<64 hex>       a blob; aa, bb = the id's first two bytes
//!   tmp/                 writes in progress: puts and streaming writers (never read;
//!                        emptied at open)
//!   quarantine/<hex>.<n> files that failed verification, kept for inspection
//! ```
//!
//! # Invariants
//!
//! - Invariant: a served blob always hashes to its id. [`BlobStore::get`] re-hashes every file
//!   it reads; one that does not match is quarantined (moved aside, never served) and reported
//!   as [`BlobError::Corrupt`].
//! - Invariant: nothing half-written is ever visible. A blob (and the pins file) is written to
//!   `tmp/`, fsynced, then renamed into place, so its path holds either nothing or the
//!   complete bytes, across crashes too. Concurrent identical puts are serialized and the
//!   second is a no-op.
//! - Invariant: bad input never corrupts stored data. Every check (per-blob and per-call size
//!   limit, store cap, expected hash) runs before anything is written, and a rejected put
//!   leaves the directory and the index unchanged.
//! - Invariant: [`BlobStore::prune`] only removes blobs that are neither in the caller's `keep`
//!   set (what the ledger references) nor pinned; pins are durable before `pin` returns, and an
//!   unreadable pins file stops the store from opening rather than being forgotten.
//! - Invariant: every bound is a named constant with its unit last ([`limits`]); every read of
//!   a file is bounded by the size it should have.
//! - Invariant: memory per write is bounded by what the caller hands over: a
//!   [`BlobWriter`] streams chunks to its temporary file while hashing them, so a blob of any
//!   size costs one chunk of memory, and its room under the cap is promised before any byte is
//!   written.
//! - Invariant: no `HashMap`/`HashSet` and no clock: ids are listed and pruned in sorted order;
//!   [`UploadQuota`] charges bytes, not time (the caller decides when to release).

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

mod disk;
mod error;
mod id;
pub mod limits;
mod pins;
pub mod quota;
mod store;
mod writer;

pub use error::{BlobError, Result};
pub use id::{BlobId, ParseBlobIdError};
pub use limits::BlobLimits;
pub use quota::{Admission, QuotaError, QuotaLimits, Reservation, UploadQuota};
pub use store::{BlobStore, PruneReport};
pub use writer::BlobWriter;
