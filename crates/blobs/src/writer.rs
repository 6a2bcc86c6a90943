//! [`BlobWriter`]: a blob streamed to disk chunk by chunk, hashed on the way, and renamed into
//! place only once it is complete and hashes to what the caller expected.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{BlobError, Result, io_err};
use crate::{BlobId, BlobStore};

/// Stem of a writer's temporary file in `tmp/`.
const UPLOAD_TMP_STEM: &str = "upload";

/// A blob being written: bytes go straight to a temporary file in the store's `tmp/` while
/// BLAKE3 hashes them, so memory stays at one chunk whatever the blob's size. Nothing is
/// visible until [`finish`](Self::finish) renames the complete, synced, hash-checked file into
/// place. Dropping an unfinished writer deletes its temporary file and gives back its room.
///
/// The writer is promised `max_bytes` of room under the store cap when it is opened, so
/// concurrent writers cannot overshoot the cap together.
#[derive(Debug)]
pub struct BlobWriter {
    store: Arc<BlobStore>,
    /// `None` once finished (the file is closed or renamed).
    file: Option<File>,
    tmp: PathBuf,
    hasher: blake3::Hasher,
    written_bytes: u64,
    max_bytes: u64,
}

impl BlobStore {
    /// A writer for one blob of at most `max_bytes` (lowered to the store's per-blob limit).
    /// Refused at once, before any byte is read, when the store cannot promise that much room
    /// ([`BlobError::StoreFull`]).
    pub fn writer(self: &Arc<Self>, max_bytes: u64) -> Result<BlobWriter> {
        let max_bytes = max_bytes.min(self.limits().blob_size_max_bytes);
        self.reserve(max_bytes)?;
        let tmp = self.new_tmp_path(UPLOAD_TMP_STEM);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_err("create", &tmp));
        let file = match file {
            Ok(file) => file,
            Err(e) => {
                self.unreserve(max_bytes);
                return Err(e);
            }
        };
        Ok(BlobWriter {
            store: self.clone(),
            file: Some(file),
            tmp,
            hasher: blake3::Hasher::new(),
            written_bytes: 0,
            max_bytes,
        })
    }
}

impl BlobWriter {
    /// Appends `chunk`. Past the writer's limit it is [`BlobError::TooLarge`] (with the size
    /// the blob would have reached) and nothing more is written; drop the writer to discard.
    pub fn write(&mut self, chunk: &[u8]) -> Result<()> {
        let len = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
        let size = self.written_bytes.saturating_add(len);
        if size > self.max_bytes {
            return Err(BlobError::TooLarge {
                size,
                max: self.max_bytes,
            });
        }
        let Some(file) = self.file.as_mut() else {
            return Err(io_err("write", &self.tmp)(std::io::ErrorKind::Other.into()));
        };
        file.write_all(chunk).map_err(io_err("write", &self.tmp))?;
        self.hasher.update(chunk);
        self.written_bytes = size;
        Ok(())
    }

    /// Bytes written so far.
    pub fn written_bytes(&self) -> u64 {
        self.written_bytes
    }

    /// The most bytes this writer accepts.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Syncs the file and, if its hash is `expected` (when given), moves it into place and
    /// returns the id and size. A mismatch is [`BlobError::HashMismatch`] and nothing is kept;
    /// bytes already held make this a no-op that returns the same id.
    pub fn finish(mut self, expected: Option<BlobId>) -> Result<(BlobId, u64)> {
        let Some(file) = self.file.take() else {
            return Err(io_err("finish", &self.tmp)(
                std::io::ErrorKind::Other.into(),
            ));
        };
        file.sync_all().map_err(io_err("sync", &self.tmp))?;
        drop(file);
        let got = BlobId::from_bytes(*self.hasher.finalize().as_bytes());
        if let Some(expected) = expected
            && expected != got
        {
            return Err(BlobError::HashMismatch { expected, got });
        }
        let size = self.written_bytes;
        self.store
            .commit_file(got, &self.tmp, size, self.max_bytes)?;
        Ok((got, size))
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // Committed files were renamed away (NotFound here); anything else was never visible,
        // and `open` clears leftovers if this fails.
        self.file = None;
        let _ = fs::remove_file(&self.tmp);
        self.store.unreserve(self.max_bytes);
    }
}
