//! [RpcStats]: what the server counts about its connections and refusals, for the node's
//! `GET /metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a blob upload was refused (the `reason` label of the node's refusal counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum UploadRefusal {
    /// The uploader's (or every uploader's) quota for unreferenced blobs was spent: 429.
    Quota,
    /// Every upload slot was taken: 503.
    Busy,
    /// Over the blob size limit (or the size the ledger declared): 413.
    TooLarge,
    /// The bytes did not hash to the id they were sent under: 400.
    HashMismatch,
    /// The store had no room: 507.
    StoreFull,
    /// The body stalled: 408.
    Timeout,
}

impl UploadRefusal {
    /// Every reason, in label order.
    pub const ALL: [UploadRefusal; 6] = [
        UploadRefusal::Quota,
        UploadRefusal::Busy,
        UploadRefusal::TooLarge,
        UploadRefusal::HashMismatch,
        UploadRefusal::StoreFull,
        UploadRefusal::Timeout,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            UploadRefusal::Quota => "quota",
            UploadRefusal::Busy => "busy",
            UploadRefusal::TooLarge => "too_large",
            UploadRefusal::HashMismatch => "hash_mismatch",
            UploadRefusal::StoreFull => "store_full",
            UploadRefusal::Timeout => "timeout",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counters of one server, shared by its accept loop and its routes. All monotonic except
/// `connections_open`.
#[derive(Debug, Default)]
pub struct RpcStats {
    connections_open: AtomicU64,
    connections_accepted: AtomicU64,
    connections_evicted: AtomicU64,
    connections_refused: AtomicU64,
    connections_timed_out: AtomicU64,
    requests_shed: AtomicU64,
    uploads_refused: [AtomicU64; UploadRefusal::ALL.len()],
}

impl RpcStats {
    /// Connections open now.
    pub fn connections_open(&self) -> u64 {
        self.connections_open.load(Ordering::Relaxed)
    }

    /// Connections accepted since start (refused ones included).
    pub fn connections_accepted(&self) -> u64 {
        self.connections_accepted.load(Ordering::Relaxed)
    }

    /// Idle or half-sent connections closed to make room for a new one.
    pub fn connections_evicted(&self) -> u64 {
        self.connections_evicted.load(Ordering::Relaxed)
    }

    /// New connections closed at once because every open one had a request in flight.
    pub fn connections_refused(&self) -> u64 {
        self.connections_refused.load(Ordering::Relaxed)
    }

    /// Connections closed because a request outlived the request timeout.
    pub fn connections_timed_out(&self) -> u64 {
        self.connections_timed_out.load(Ordering::Relaxed)
    }

    /// Requests refused with 503 because the in-flight limit was reached.
    pub fn requests_shed(&self) -> u64 {
        self.requests_shed.load(Ordering::Relaxed)
    }

    /// Uploads refused for `reason`.
    pub fn uploads_refused(&self, reason: UploadRefusal) -> u64 {
        self.uploads_refused
            .get(reason.index())
            .map_or(0, |n| n.load(Ordering::Relaxed))
    }

    pub(crate) fn opened(&self) {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn closed(&self) {
        // Every close follows its open: this never goes below zero.
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn accepted(&self) {
        self.connections_accepted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn evicted(&self) {
        self.connections_evicted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn refused(&self) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn timed_out(&self) {
        self.connections_timed_out.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn shed(&self) {
        self.requests_shed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn upload_refused(&self, reason: UploadRefusal) {
        if let Some(n) = self.uploads_refused.get(reason.index()) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }
}
