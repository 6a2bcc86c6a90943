//! [`BlobService`]: what the rest of the node (and the RPC backend) calls to put and get blobs.

use super::policy::BlobPolicy;
use cairn_blobs::{BlobError, BlobId, BlobStore};
use futures::SinkExt as _;
use futures::channel::{mpsc, oneshot};
use std::sync::Arc;
use tracing::debug;

/// A request to the blob actor.
pub(super) enum Request {
    /// Send a freshly stored blob to every peer.
    Push { id: BlobId, bytes: Vec<u8> },
    /// Ask peers for `id`; answer `reply` with the verified bytes, or `None` at the deadline.
    Fetch {
        id: BlobId,
        reply: oneshot::Sender<Option<Vec<u8>>>,
    },
}

/// The node's blobs: the local store plus replication to and from peers. Cheap to clone.
#[derive(Clone, Debug)]
pub struct BlobService {
    store: Arc<BlobStore>,
    policy: Arc<BlobPolicy>,
    mailbox: mpsc::Sender<Request>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Push { id, bytes } => write!(f, "Push({id}, {} bytes)", bytes.len()),
            Request::Fetch { id, .. } => write!(f, "Fetch({id})"),
        }
    }
}

impl BlobService {
    pub(super) fn new(
        store: Arc<BlobStore>,
        policy: Arc<BlobPolicy>,
        mailbox: mpsc::Sender<Request>,
    ) -> Self {
        BlobService {
            store,
            policy,
            mailbox,
        }
    }

    /// The local store (reads never touch the network).
    pub fn store(&self) -> &Arc<BlobStore> {
        &self.store
    }

    /// Which blobs are taken for free and which are charged (shared with the blob actor).
    pub fn policy(&self) -> &Arc<BlobPolicy> {
        &self.policy
    }

    /// Shares blob `id`, already stored (say, streamed in by an upload), with every peer.
    pub async fn push_stored(&self, id: BlobId, bytes: Vec<u8>) {
        self.push(id, bytes).await;
    }

    /// Stores `bytes` and pushes them to every peer; returns their id. For the node's own
    /// blobs: nothing is charged (client uploads go through [`policy`](Self::policy)). The blob is durable
    /// locally before this returns; the push is best effort (a peer that misses it fetches on
    /// demand).
    pub async fn put(&self, bytes: Vec<u8>) -> Result<BlobId, BlobError> {
        let id = self.store.put(&bytes)?;
        self.push(id, bytes).await;
        Ok(id)
    }

    /// [`put`](Self::put) of bytes that must hash to `expected`
    /// ([`BlobError::HashMismatch`] otherwise, and nothing is stored or pushed).
    pub async fn put_expected(&self, expected: BlobId, bytes: Vec<u8>) -> Result<(), BlobError> {
        self.store.put_expected(expected, &bytes)?;
        self.push(expected, bytes).await;
        Ok(())
    }

    /// The bytes of blob `id`: from the local store, else from the first peer that answers
    /// with bytes hashing to `id` within [`BLOB_FETCH_TIMEOUT`](super::BLOB_FETCH_TIMEOUT)
    /// (they are stored on the way). `None` when no peer had it in time.
    ///
    /// A local copy found corrupt is quarantined by the store and fetched again. Errors are
    /// storage faults only.
    pub async fn get_or_fetch(&self, id: BlobId) -> Result<Option<Vec<u8>>, BlobError> {
        match self.store.get(id) {
            Ok(Some(bytes)) => return Ok(Some(bytes)),
            Ok(None) => {}
            Err(err @ (BlobError::Corrupt { .. } | BlobError::Missing { .. })) => {
                debug!(%err, "local blob lost; fetching it from peers");
            }
            Err(err) => return Err(err),
        }
        let (reply, answer) = oneshot::channel();
        if self
            .mailbox
            .clone()
            .send(Request::Fetch { id, reply })
            .await
            .is_err()
        {
            return Ok(None); // The node is shutting down.
        }
        Ok(answer.await.unwrap_or(None))
    }

    /// Whether the local store holds `id` (peers are not asked).
    pub fn has(&self, id: BlobId) -> bool {
        self.store.has(id)
    }

    async fn push(&self, id: BlobId, bytes: Vec<u8>) {
        if self
            .mailbox
            .clone()
            .send(Request::Push { id, bytes })
            .await
            .is_err()
        {
            debug!(%id, "blob actor stopped; blob stored but not pushed");
        }
    }
}
