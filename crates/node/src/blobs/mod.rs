//! Blob replication: model weights and FL updates are content-addressed blobs held off the
//! ledger (only their BLAKE3 hashes go on chain). Each node keeps them in a
//! [`cairn_blobs::BlobStore`] and shares them with its peers on the [`BLOBS`] p2p channel:
//!
//! - a blob put through the API is stored, then pushed to every peer ([`Message::Blob`]); a
//!   peer stores it after checking its size and that it hashes to its id;
//! - a node asked for a blob it lacks sends [`Message::Want`] to every peer and waits up to
//!   [`BLOB_FETCH_TIMEOUT`]; a peer holding it answers with [`Message::Blob`], which is stored
//!   (and served) only if the bytes hash to the wanted id.
//!
//! Actor layout as in commonware: [`BlobService`] is the mailbox the rest of the node calls
//! (`ingress.rs`), [`Actor`] the loop that owns the channel (`actor.rs`).
//!
//! - Invariant: no bytes from a peer are stored or returned unless they hash to the id they
//!   were sent under (the store's `put_expected` checks it before writing).
//! - Invariant: a peer's push is kept only if the ledger or a pending transaction declares the
//!   blob (within its declared size), or within that peer's quota for undeclared blobs
//!   ([`BlobPolicy`]); client uploads obey the same policy, per client address.
//! - Invariant: every wait is bounded ([`BLOB_FETCH_TIMEOUT`]) and so is every queue
//!   ([`BLOB_FETCHES_PENDING_MAX`], [`BLOB_WAITERS_PER_ID_MAX`], [`BLOB_MAILBOX_SIZE`]).
//! - Invariant: no wall clock: deadlines come from the runtime's `Clock`, so this runs in the
//!   deterministic simulation.
//!
//! Not done here (yet): validators are fully connected, so blobs are not forwarded; a fetch
//! asks every peer at once and is not retried within its deadline; pushes and wants over a
//! peer's [`BLOB_CHANNEL_RATE_PER_SECOND`] are dropped for that peer (it fetches on demand).

mod actor;
pub mod declared;
mod ingress;
pub mod policy;
pub mod prune;
pub mod sync;
mod wire;

pub use actor::Actor;
pub use declared::ChainDeclared;
pub use ingress::BlobService;
pub use policy::{BlobPolicy, DeclaredBlobs, Uploader};
pub use wire::Message;

use std::time::Duration;

/// The p2p channel blobs travel on (see `engine::channel`).
pub const BLOBS: u64 = 6;

/// Largest blob a node accepts, from a client or a peer: the RPC's blob body limit, so any
/// blob a client could put can be replicated.
pub const BLOB_SIZE_MAX_BYTES: u64 = cairn_rpc::BLOB_BODY_MAX_BYTES as u64;

/// Longest a fetch waits for a peer to answer a [`Message::Want`].
pub const BLOB_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Messages per second each peer may send us on the blob channel (and we to each peer). Low
/// because a message may be a whole blob: the channel's inbound buffer holds one such burst
/// per peer.
pub const BLOB_CHANNEL_RATE_PER_SECOND: u32 = 16;

/// Most distinct blob ids being fetched at once; a fetch beyond this finds nothing at once.
pub const BLOB_FETCHES_PENDING_MAX: usize = 256;

/// Most callers waiting on one id being fetched.
pub const BLOB_WAITERS_PER_ID_MAX: usize = 64;

/// Requests queued to the blob actor (a push holds a whole blob, so keep it short).
pub const BLOB_MAILBOX_SIZE: usize = 16;
