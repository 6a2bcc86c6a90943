//! [`BlobPolicy`]: which blobs a node keeps for free and which it charges to whoever sent
//! them.
//!
//! A blob the finalized ledger or a pending transaction declares (by hash, with the most bytes
//! it may have) is paid for on chain: a client upload or a peer push of it is taken, bounded
//! by the declared size, and charged to no one. Anything else is charged to its sender (a
//! client's address, a peer's key) within [`QuotaLimits`]: a small quota per sender and a cap
//! on all of them together, until the blob becomes declared or is pruned (after
//! [`BLOB_PRUNE_GRACE`](super::prune::BLOB_PRUNE_GRACE)). So nobody can fill a node's disk
//! with blobs nothing references.
//!
//! What declares a blob is the node's [`DeclaredBlobs`], set once the chain is running
//! ([`BlobPolicy::set_declared`]); until then nothing is declared and everything is charged.

use cairn_blobs::{Admission, BlobId, BlobStore, QuotaError, QuotaLimits, UploadQuota};
use cairn_types::PublicKey;
use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

/// What declares blobs: the finalized ledger and the transactions waiting in the mempool.
pub trait DeclaredBlobs: Send + Sync {
    /// The most bytes blob `id` may have, if the finalized ledger or a pending transaction
    /// names it.
    fn declared_size(&self, id: BlobId) -> Option<u64>;

    /// Every blob declared now (pruning keeps them).
    fn declared(&self) -> BTreeSet<BlobId>;
}

/// Who an unreferenced blob is charged to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Uploader {
    /// A client of the RPC, by address.
    Client(IpAddr),
    /// A peer that pushed the blob, by key.
    Peer(PublicKey),
}

impl fmt::Display for Uploader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uploader::Client(ip) => write!(f, "client {ip}"),
            Uploader::Peer(key) => write!(f, "peer {}", cairn_types::to_hex(key)),
        }
    }
}

/// The quota ledger and the source of declarations, shared by the RPC and the blob actor.
pub struct BlobPolicy {
    quota: UploadQuota<Uploader>,
    declared: OnceLock<Arc<dyn DeclaredBlobs>>,
}

impl fmt::Debug for BlobPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobPolicy")
            .field("quota", &self.quota)
            .field("declared_set", &self.declared.get().is_some())
            .finish()
    }
}

impl BlobPolicy {
    /// A policy with an empty ledger and nothing declared yet.
    pub fn new(limits: QuotaLimits) -> Self {
        Self {
            quota: UploadQuota::new(limits),
            declared: OnceLock::new(),
        }
    }

    /// Sets what declares blobs (once; later calls are ignored and return `false`).
    pub fn set_declared(&self, declared: Arc<dyn DeclaredBlobs>) -> bool {
        self.declared.set(declared).is_ok()
    }

    /// The most bytes blob `id` may have, if something declares it.
    pub fn declared_size(&self, id: BlobId) -> Option<u64> {
        self.declared.get()?.declared_size(id)
    }

    /// Every blob declared now (empty until [`set_declared`](Self::set_declared)).
    pub fn declared(&self) -> BTreeSet<BlobId> {
        self.declared
            .get()
            .map(|d| d.declared())
            .unwrap_or_default()
    }

    /// The quota ledger.
    pub fn quota(&self) -> &UploadQuota<Uploader> {
        &self.quota
    }

    /// Lets in a blob of at most `requested` bytes from `uploader`: free (bounded by its
    /// declared size) if `id` is known and declared, else within `uploader`'s quota.
    pub fn admit(
        &self,
        uploader: Uploader,
        id: Option<BlobId>,
        requested: u64,
    ) -> Result<Admission<Uploader>, QuotaError> {
        let declared = id.and_then(|id| self.declared_size(id));
        self.quota.admit(uploader, declared, requested)
    }

    /// Blob `id` of `size` bytes was stored under `admission`: charged unless it is declared
    /// (with room for `size`) by now.
    pub fn settle(&self, admission: Admission<Uploader>, id: BlobId, size: u64) {
        let declared = self.declared_size(id).is_some_and(|max| size <= max);
        admission.settle(id, size, declared);
    }

    /// Stops charging blobs that became declared or left the store; returns how many.
    pub fn release_settled(&self, store: &BlobStore) -> usize {
        let declared = self.declared();
        self.quota
            .charged()
            .into_iter()
            .filter(|id| declared.contains(id) || !store.has(*id))
            .filter(|id| self.quota.release(*id))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    struct Declared(Mutex<BTreeMap<BlobId, u64>>);

    impl DeclaredBlobs for Declared {
        fn declared_size(&self, id: BlobId) -> Option<u64> {
            self.0.lock().unwrap().get(&id).copied()
        }
        fn declared(&self) -> BTreeSet<BlobId> {
            self.0.lock().unwrap().keys().copied().collect()
        }
    }

    const LIMITS: QuotaLimits = QuotaLimits {
        per_uploader_max_bytes: 100,
        total_max_bytes: 150,
    };

    fn peer(seed: u64) -> Uploader {
        use commonware_cryptography::Signer as _;
        Uploader::Peer(cairn_types::PrivateKey::from_seed(seed).public_key())
    }

    #[test]
    fn undeclared_pushes_are_charged_per_peer_and_declared_ones_are_free() {
        let policy = BlobPolicy::new(LIMITS);
        let declared = Arc::new(Declared(Mutex::default()));
        assert!(policy.set_declared(declared.clone()));
        let (a, b) = (BlobId::of(b"a"), BlobId::of(b"b"));
        let admitted = policy.admit(peer(1), Some(a), 80).unwrap();
        policy.settle(admitted, a, 80);
        // The same peer cannot push more than its quota of undeclared blobs...
        let err = policy.admit(peer(1), Some(b), 30).unwrap_err();
        assert_eq!(err.numbers(), ("per_uploader", 80, 30, 100));
        assert!(err.to_string().contains("peer "), "{err}");
        // ...another peer can, within the total...
        policy.admit(peer(2), Some(b), 70).unwrap();
        // ...and a declared blob is free whoever sends it, bounded by its declared size.
        declared.0.lock().unwrap().insert(b, 5_000);
        let free = policy.admit(peer(1), Some(b), 5_000).unwrap();
        assert_eq!(free.max_bytes(), 5_000);
        assert_eq!(policy.quota().used_by(&peer(1)), 80);
    }

    #[test]
    fn charges_end_when_the_blob_is_declared_or_gone() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), cairn_blobs::BlobLimits::default()).unwrap();
        let policy = BlobPolicy::new(LIMITS);
        let declared = Arc::new(Declared(Mutex::default()));
        policy.set_declared(declared.clone());
        let client = Uploader::Client(IpAddr::from([127, 0, 0, 1]));
        let kept = store.put(b"kept").unwrap();
        let gone = BlobId::of(b"pruned");
        for (id, size) in [(kept, 4), (gone, 6)] {
            let admitted = policy.admit(client.clone(), None, size).unwrap();
            policy.settle(admitted, id, size);
        }
        assert_eq!(policy.quota().used_by(&client), 10);
        // `gone` is not in the store: released. `kept` is held and undeclared: still charged.
        assert_eq!(policy.release_settled(&store), 1);
        assert_eq!(policy.quota().used_by(&client), 4);
        declared.0.lock().unwrap().insert(kept, 4);
        assert_eq!(policy.release_settled(&store), 1);
        assert_eq!(policy.quota().used_bytes(), 0);
    }
}
