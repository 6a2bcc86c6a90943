//! Pruning: a node drops blobs the ledger no longer references (rejected updates of closed
//! rounds, stray uploads), keeping every checkpoint, every round input, every accepted update
//! (the lineage) and every update of an open round ([cairn_state::State::referenced_blobs]).
//!
//! A blob uploaded moments ago is referenced by nothing yet (its `SubmitUpdate` is still in
//! flight), so blobs younger than a grace period are kept too; the grace is short (minutes)
//! because such uploads are charged to their sender's quota until they go
//! ([`BlobPolicy`](super::BlobPolicy)). Blobs the ledger or a pending transaction declares are
//! always kept. Age is file mtime: this is local housekeeping, never consensus.

use cairn_blobs::{BlobId, BlobStore, PruneReport};
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

/// Blobs younger than this are never pruned (uploads whose transaction has not landed yet);
/// older ones nothing references or declares go at the next prune.
pub const BLOB_PRUNE_GRACE: Duration = Duration::from_secs(5 * 60);
/// How often a running node prunes (and refits its store cap to the free disk), so an
/// unreferenced upload is gone at most [BLOB_PRUNE_GRACE] + this after it arrived.
pub const BLOB_PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// Removes every blob in `store` that is not in `keep` (what the ledger references or
/// something declares), not pinned, and older than `grace` (as of `now`).
pub fn prune_unreferenced(
    store: &BlobStore,
    keep: &BTreeSet<BlobId>,
    grace: Duration,
    now: SystemTime,
) -> Result<PruneReport, cairn_blobs::BlobError> {
    let mut keep = keep.clone();
    for id in store.list() {
        let fresh = std::fs::metadata(store.blob_path(id))
            .and_then(|m| m.modified())
            .map(|modified| now.duration_since(modified).unwrap_or_default() < grace)
            // Unreadable metadata: keep the blob rather than guess.
            .unwrap_or(true);
        if fresh {
            keep.insert(id);
        }
    }
    store.prune(&keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_blobs::BlobLimits;

    #[test]
    #[allow(clippy::disallowed_methods)] // file ages are compared to the wall clock
    fn unreferenced_old_blobs_go_and_referenced_or_fresh_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), BlobLimits::default()).unwrap();
        let checkpoint = store.put(b"checkpoint").unwrap();
        let rejected = store.put(b"rejected update").unwrap();
        let fresh = store.put(b"just uploaded").unwrap();
        let now = SystemTime::now();
        let old = now - Duration::from_secs(3_600);
        for id in [checkpoint, rejected] {
            let file = std::fs::File::options()
                .write(true)
                .open(store.blob_path(id))
                .unwrap();
            file.set_modified(old).unwrap();
        }
        let referenced = BTreeSet::from([checkpoint]);
        let report = prune_unreferenced(&store, &referenced, BLOB_PRUNE_GRACE, now).unwrap();
        assert_eq!(report.removed, vec![rejected]);
        assert!(store.has(checkpoint) && store.has(fresh) && !store.has(rejected));
        // With no grace the fresh, unreferenced blob goes too; the checkpoint never does.
        let report = prune_unreferenced(&store, &referenced, Duration::ZERO, now).unwrap();
        assert_eq!(report.removed, vec![fresh]);
        assert!(store.has(checkpoint));
    }
}
