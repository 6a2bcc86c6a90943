//! Every bound the store enforces, as named constants with the unit last.

/// Default largest single blob: 1 GiB, room for a large model checkpoint.
pub const DEFAULT_BLOB_SIZE_MAX_BYTES: u64 = 1 << 30;

/// Default cap on the sum of all stored blobs: 64 GiB.
pub const DEFAULT_STORE_SIZE_MAX_BYTES: u64 = 64 << 30;

/// The store may grow by at most 1/this of the space left on its file system
/// ([`BlobStore::fit_cap_to_disk`](crate::BlobStore::fit_cap_to_disk)): half, so blobs never
/// take the disk that consensus journals and the state snapshot need.
pub const STORE_FREE_SPACE_SHARE_DIVISOR: u64 = 2;

/// Most ids the pins file may hold. Pins are for a handful of checkpoints an operator wants to
/// keep, not a second index; the bound also bounds the pins file read at open.
pub const PINS_MAX: usize = 65_536;

/// Largest pins file accepted at open: one 64-digit id and a newline per pin.
pub const PINS_FILE_SIZE_MAX_BYTES: u64 = PINS_MAX as u64 * 65;

/// The size bounds of one [`BlobStore`](crate::BlobStore).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobLimits {
    /// Largest blob `put` accepts, in bytes (a per-call limit can only lower it).
    pub blob_size_max_bytes: u64,
    /// Largest total of all stored blob sizes, in bytes (quarantined files not counted).
    pub store_size_max_bytes: u64,
}

impl Default for BlobLimits {
    fn default() -> Self {
        Self {
            blob_size_max_bytes: DEFAULT_BLOB_SIZE_MAX_BYTES,
            store_size_max_bytes: DEFAULT_STORE_SIZE_MAX_BYTES,
        }
    }
}
