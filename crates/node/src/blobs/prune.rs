//! Pruning: a node drops blobs the ledger no longer references (rejected updates of closed
//! rounds, stray uploads), keeping every checkpoint, every round input, every accepted update
//! (the lineage) and every update of an open round ([cairn_state::State::referenced_blobs]).
//!
//! A blob uploaded moments ago is referenced by nothing yet (its `SubmitUpdate` is still in
//! flight), so blobs younger than a grace period are kept too. Age is file mtime: this is
//! local housekeeping, never consensus.

use cairn_blobs::{BlobId, BlobStore, PruneReport};
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

/// Blobs younger than this are never pruned (uploads not yet referenced on chain).
pub const BLOB_PRUNE_GRACE: Duration = Duration::from_secs(30 * 60);
/// How often a running node prunes.
pub const BLOB_PRUNE_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Removes every blob in `store` that is not in `referenced`, not pinned, and older than
/// `grace` (as of `now`).
pub fn prune_unreferenced(
    store: &BlobStore,
    referenced: &[[u8; 32]],
    grace: Duration,
    now: SystemTime,
) -> Result<PruneReport, cairn_blobs::BlobError> {
    let mut keep: BTreeSet<BlobId> = referenced.iter().map(|h| BlobId::from(*h)).collect();
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
        let referenced = [*checkpoint.as_bytes()];
        let report = prune_unreferenced(&store, &referenced, BLOB_PRUNE_GRACE, now).unwrap();
        assert_eq!(report.removed, vec![rejected]);
        assert!(store.has(checkpoint) && store.has(fresh) && !store.has(rejected));
        // With no grace the fresh, unreferenced blob goes too; the checkpoint never does.
        let report = prune_unreferenced(&store, &referenced, Duration::ZERO, now).unwrap();
        assert_eq!(report.removed, vec![fresh]);
        assert!(store.has(checkpoint));
    }
}
