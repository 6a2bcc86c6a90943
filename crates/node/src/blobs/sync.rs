//! Blob backfill: a node fetches, from any peer that has them, the blobs the finalized ledger
//! references but its own store lacks (model graphs, checkpoints, accepted updates). A late
//! joiner that backfilled blocks thereby backfills their blobs too, and a node that lost a
//! blob (disk fault, quarantine) heals. Every fetched blob is hash-checked by the blob service
//! before it is stored.

use super::BlobService;
use cairn_blobs::{BlobError, BlobId};
use futures::StreamExt;
use std::time::Duration;

/// How often a running node checks that it holds every referenced blob.
pub const BLOB_SYNC_INTERVAL: Duration = Duration::from_secs(30);
/// Fetches one sync keeps in flight.
pub const BLOB_SYNC_CONCURRENCY: usize = 8;

/// What one sync did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Referenced blobs already held.
    pub held: usize,
    /// Fetched from peers now.
    pub fetched: usize,
    /// No peer answered with them in time (tried again next sync).
    pub unavailable: usize,
}

/// Fetches every blob of `referenced` that `service`'s store lacks. Errors are storage faults.
pub async fn fetch_referenced(
    service: &BlobService,
    referenced: &[[u8; 32]],
) -> Result<SyncReport, BlobError> {
    let missing: Vec<BlobId> = referenced
        .iter()
        .map(|h| BlobId::from(*h))
        .filter(|id| !service.has(*id))
        .collect();
    let mut report = SyncReport {
        held: referenced.len().saturating_sub(missing.len()),
        ..SyncReport::default()
    };
    let mut fetches = futures::stream::iter(missing)
        .map(|id| async move { service.get_or_fetch(id).await })
        .buffer_unordered(BLOB_SYNC_CONCURRENCY);
    while let Some(result) = fetches.next().await {
        match result? {
            Some(_) => report.fetched = report.fetched.saturating_add(1),
            None => report.unavailable = report.unavailable.saturating_add(1),
        }
    }
    Ok(report)
}
