//! The one integration-test binary of cairn-blobs: ids, the store, and properties.

mod id;
mod props;
mod quota;
mod store;
mod writer;

use std::path::{Path, PathBuf};

use cairn_blobs::{BlobLimits, BlobStore};

/// Limits small enough that tests can reach them.
pub const LIMITS: BlobLimits = BlobLimits {
    blob_size_max_bytes: 1_000,
    store_size_max_bytes: 2_500,
};

pub fn open(dir: &Path) -> BlobStore {
    BlobStore::open(dir, LIMITS).unwrap()
}

/// Every regular file under `dir`, sorted: what "nothing was written" is checked against.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
