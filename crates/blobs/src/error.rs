//! [`BlobError`]: everything a store operation can refuse or fail with.

use std::io;
use std::path::PathBuf;

use crate::BlobId;

/// Why a store operation did not happen. Rejections of input (`TooLarge`, `StoreFull`,
/// `HashMismatch`, `TooManyPins`) leave the store unchanged; `Corrupt`/`Missing` report a fault
/// found on disk and already contained; `Io`, `PinsCorrupt` and `Locked` are faults to fix.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The blob is over the per-blob (or per-call) size limit; nothing was written.
    #[error("blob of {size} bytes is over the limit of {max} bytes")]
    TooLarge { size: u64, max: u64 },
    /// Storing the blob would take the store over its size cap; nothing was written.
    #[error(
        "store full: {total} bytes stored + {size} new would exceed the cap of {max} bytes \
         (prune, or raise store_size_max_bytes)"
    )]
    StoreFull { size: u64, total: u64, max: u64 },
    /// Bytes offered as `expected` hash to something else; nothing was written.
    #[error("bytes hash to {got}, expected {expected}")]
    HashMismatch { expected: BlobId, got: BlobId },
    /// A stored file no longer hashes to its id. It was moved to `path` and is no longer served;
    /// put the blob again (e.g. refetch it) to restore it.
    #[error("blob {id} was corrupt on disk; quarantined at {path}")]
    Corrupt { id: BlobId, path: PathBuf },
    /// A blob the store knew of vanished from disk (deleted behind its back); it is forgotten.
    #[error("blob {id} is missing from {path}; it has been forgotten")]
    Missing { id: BlobId, path: PathBuf },
    /// The pins file already holds [`PINS_MAX`](crate::limits::PINS_MAX) ids.
    #[error("cannot pin more than {max} blobs")]
    TooManyPins { max: usize },
    /// The pins file is unreadable as pins; refusing to open rather than forget pins (a prune
    /// would then delete what they protect).
    #[error("pins file {path} is corrupt at line {line}: fix or remove it")]
    PinsCorrupt { path: PathBuf, line: usize },
    /// Another `BlobStore` (in this or another process) has the directory open.
    #[error("blob store {path} is locked by another handle")]
    Locked { path: PathBuf },
    /// An operating-system error, with what was being done and to which path.
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Shorthand for the store's results.
pub type Result<T, E = BlobError> = std::result::Result<T, E>;

/// Builds a `map_err` closure that wraps an [`io::Error`] with its operation and path.
pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> BlobError {
    let path = path.into();
    move |source| BlobError::Io { op, path, source }
}
