//! [`UploadQuota`]: how many bytes of blobs nothing references yet each uploader (a client's
//! address, a peer's key) may keep in the store, and all of them together.
//!
//! A blob the ledger (or a pending transaction) declares is not charged: it was paid for on
//! chain. Anything else is charged to whoever sent it until it becomes referenced or is pruned,
//! so an anonymous sender can hold at most its quota of disk, and all senders together at most
//! the total. Room is reserved before a byte is read (the declared `Content-Length`, or the
//! largest blob) and given back when the upload fails: a [`Reservation`] releases itself when
//! dropped.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::BlobId;

/// Default bytes of unreferenced uploads one uploader may hold: 128 MiB, four largest RPC
/// blobs.
pub const QUOTA_PER_UPLOADER_MAX_BYTES: u64 = 128 << 20;
/// Default bytes of unreferenced uploads all uploaders together may hold: 1 GiB.
pub const QUOTA_TOTAL_MAX_BYTES: u64 = 1 << 30;

/// The two bounds of an [`UploadQuota`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaLimits {
    /// Most bytes one uploader may hold reserved or charged.
    pub per_uploader_max_bytes: u64,
    /// Most bytes all uploaders together may hold reserved or charged.
    pub total_max_bytes: u64,
}

impl Default for QuotaLimits {
    fn default() -> Self {
        Self {
            per_uploader_max_bytes: QUOTA_PER_UPLOADER_MAX_BYTES,
            total_max_bytes: QUOTA_TOTAL_MAX_BYTES,
        }
    }
}

/// Which bound an upload would pass, with the numbers: what is in use, what was asked for and
/// the limit (all in bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error(
        "upload quota exceeded: {uploader} holds {used} bytes of blobs nothing references yet; \
         {requested} more would pass the limit of {max} bytes per uploader (submit the \
         transaction that references them first, or wait until they are pruned)"
    )]
    PerUploader {
        uploader: String,
        used: u64,
        requested: u64,
        max: u64,
    },
    #[error(
        "upload quota exceeded: all uploaders hold {used} bytes of blobs nothing references \
         yet; {requested} more would pass the node's limit of {max} bytes (retry later)"
    )]
    Total { used: u64, requested: u64, max: u64 },
}

impl QuotaError {
    /// `(limit name, used, requested, max)`, for error bodies and metrics.
    pub fn numbers(&self) -> (&'static str, u64, u64, u64) {
        match *self {
            QuotaError::PerUploader {
                used,
                requested,
                max,
                ..
            } => ("per_uploader", used, requested, max),
            QuotaError::Total {
                used,
                requested,
                max,
            } => ("total", used, requested, max),
        }
    }
}

/// How an upload was let in ([`UploadQuota::admit`]).
#[derive(Debug)]
pub enum Admission<K: Ord + Clone> {
    /// The ledger (or a pending transaction) declares the blob, with at most `max_bytes`:
    /// charged to no one.
    Declared { max_bytes: u64 },
    /// Nothing declares it: room held in its uploader's quota.
    Charged(Reservation<K>),
}

impl<K: Ord + Clone> Admission<K> {
    /// The most bytes the upload may have.
    pub fn max_bytes(&self) -> u64 {
        match self {
            Admission::Declared { max_bytes } => *max_bytes,
            Admission::Charged(reservation) => reservation.bytes(),
        }
    }

    /// The upload stored blob `id` of `size` bytes. `declared_now` says whether something
    /// declares it after all (a `PUT /blobs` learns its id only once hashed): then nothing is
    /// charged; otherwise a charged upload pays `size` until released.
    pub fn settle(self, id: BlobId, size: u64, declared_now: bool) {
        if let Admission::Charged(reservation) = self
            && !declared_now
        {
            reservation.charge(id, size);
        }
    }
}

/// Per-uploader accounting of unreferenced uploads. Cheap to clone (one shared ledger).
#[derive(Debug)]
pub struct UploadQuota<K> {
    limits: QuotaLimits,
    ledger: Arc<Mutex<Ledger<K>>>,
}

impl<K> Clone for UploadQuota<K> {
    fn clone(&self) -> Self {
        Self {
            limits: self.limits,
            ledger: self.ledger.clone(),
        }
    }
}

#[derive(Debug)]
struct Ledger<K> {
    /// Bytes reserved or charged, per uploader (absent: zero).
    used: BTreeMap<K, u64>,
    /// Sum of `used`.
    total_bytes: u64,
    /// Each charged blob: who pays for it and how much.
    charges: BTreeMap<BlobId, (K, u64)>,
}

/// Room held for one upload in progress; dropping it gives the room back.
#[derive(Debug)]
pub struct Reservation<K: Ord + Clone> {
    quota: UploadQuota<K>,
    uploader: K,
    bytes: u64,
}

impl<K: Ord + Clone + fmt::Display> UploadQuota<K> {
    /// An empty ledger with `limits`.
    pub fn new(limits: QuotaLimits) -> Self {
        Self {
            limits,
            ledger: Arc::new(Mutex::new(Ledger {
                used: BTreeMap::new(),
                total_bytes: 0,
                charges: BTreeMap::new(),
            })),
        }
    }

    /// The bounds in force.
    pub fn limits(&self) -> QuotaLimits {
        self.limits
    }

    /// Holds `bytes` for `uploader`, or says which bound that would pass.
    pub fn reserve(&self, uploader: K, bytes: u64) -> Result<Reservation<K>, QuotaError> {
        let mut ledger = self.ledger();
        let used = ledger.used.get(&uploader).copied().unwrap_or(0);
        let over = |used: u64, max: u64| used.checked_add(bytes).is_none_or(|after| after > max);
        if over(used, self.limits.per_uploader_max_bytes) {
            return Err(QuotaError::PerUploader {
                uploader: uploader.to_string(),
                used,
                requested: bytes,
                max: self.limits.per_uploader_max_bytes,
            });
        }
        if over(ledger.total_bytes, self.limits.total_max_bytes) {
            return Err(QuotaError::Total {
                used: ledger.total_bytes,
                requested: bytes,
                max: self.limits.total_max_bytes,
            });
        }
        add(&mut ledger, &uploader, bytes);
        Ok(Reservation {
            quota: self.clone(),
            uploader,
            bytes,
        })
    }

    /// Lets in an upload of at most `requested` bytes from `uploader`: free (bounded by the
    /// declared size) when `declared_max_bytes` is known, else within the quota.
    pub fn admit(
        &self,
        uploader: K,
        declared_max_bytes: Option<u64>,
        requested: u64,
    ) -> Result<Admission<K>, QuotaError> {
        match declared_max_bytes {
            Some(max_bytes) => Ok(Admission::Declared { max_bytes }),
            None => self.reserve(uploader, requested).map(Admission::Charged),
        }
    }

    /// Stops charging blob `id` (it became referenced, or was pruned). Returns whether it was
    /// charged.
    pub fn release(&self, id: BlobId) -> bool {
        let mut ledger = self.ledger();
        match ledger.charges.remove(&id) {
            Some((uploader, bytes)) => {
                sub(&mut ledger, &uploader, bytes);
                true
            }
            None => false,
        }
    }

    /// Every charged blob id, sorted.
    pub fn charged(&self) -> Vec<BlobId> {
        self.ledger().charges.keys().copied().collect()
    }

    /// Bytes reserved or charged, all uploaders together.
    pub fn used_bytes(&self) -> u64 {
        self.ledger().total_bytes
    }

    /// Bytes reserved or charged to `uploader`.
    pub fn used_by(&self, uploader: &K) -> u64 {
        self.ledger().used.get(uploader).copied().unwrap_or(0)
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger<K>> {
        // Every update is a few arithmetic steps that cannot panic midway.
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: Ord + Clone> Reservation<K> {
    /// The bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The upload stored blob `id` of `size` bytes: the reservation becomes a charge of `size`
    /// for it, until [`UploadQuota::release`]. A blob already charged (to anyone) is not
    /// charged twice.
    pub fn charge(mut self, id: BlobId, size: u64) {
        let held = std::mem::take(&mut self.bytes);
        let mut ledger = self
            .quota
            .ledger
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        sub(&mut ledger, &self.uploader, held);
        if !ledger.charges.contains_key(&id) {
            add(&mut ledger, &self.uploader, size);
            ledger.charges.insert(id, (self.uploader.clone(), size));
        }
    }
}

impl<K: Ord + Clone> Drop for Reservation<K> {
    fn drop(&mut self) {
        if self.bytes == 0 {
            return;
        }
        let mut ledger = self
            .quota
            .ledger
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        sub(&mut ledger, &self.uploader, self.bytes);
    }
}

fn add<K: Ord + Clone>(ledger: &mut Ledger<K>, uploader: &K, bytes: u64) {
    let used = ledger.used.entry(uploader.clone()).or_insert(0);
    *used = used.saturating_add(bytes);
    ledger.total_bytes = ledger.total_bytes.saturating_add(bytes);
}

fn sub<K: Ord + Clone>(ledger: &mut Ledger<K>, uploader: &K, bytes: u64) {
    if let Some(used) = ledger.used.get_mut(uploader) {
        *used = used.saturating_sub(bytes);
        if *used == 0 {
            ledger.used.remove(uploader);
        }
    }
    ledger.total_bytes = ledger.total_bytes.saturating_sub(bytes);
}
