//! Streaming writes: a blob larger than any buffer goes to disk chunk by chunk, appears only
//! once complete and hash-checked, and a failed or abandoned write leaves nothing behind.

use std::sync::Arc;

use cairn_blobs::{BlobError, BlobId, BlobLimits, BlobStore};

use crate::files;

/// Chunk size the tests stream with (what one network read would hand over).
const CHUNK_BYTES: usize = 64 * 1024;
/// A blob many chunks long: far more than a writer ever holds in memory.
const STREAMED_BYTES: usize = 8 * 1024 * 1024;

fn big_store(dir: &std::path::Path) -> Arc<BlobStore> {
    let limits = BlobLimits {
        blob_size_max_bytes: 16 << 20,
        store_size_max_bytes: 64 << 20,
    };
    Arc::new(BlobStore::open(dir, limits).unwrap())
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// The temporary files of the store at `dir`, with their sizes.
fn tmp_files(dir: &std::path::Path) -> Vec<u64> {
    std::fs::read_dir(dir.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .collect()
}

#[test]
fn a_streamed_blob_reaches_disk_as_it_is_written_and_appears_only_when_finished() {
    let dir = tempfile::tempdir().unwrap();
    let store = big_store(dir.path());
    let bytes = pattern(STREAMED_BYTES, 1);
    let id = BlobId::of(&bytes);
    let mut writer = store.writer(STREAMED_BYTES as u64).unwrap();
    for (n, chunk) in bytes.chunks(CHUNK_BYTES).enumerate() {
        writer.write(chunk).unwrap();
        // Every chunk is already on disk (in tmp/), none held back in memory, and nothing
        // is visible under the id yet.
        let written = ((n + 1) * CHUNK_BYTES).min(STREAMED_BYTES) as u64;
        assert_eq!(tmp_files(dir.path()), vec![written]);
        assert!(!store.has(id));
    }
    assert_eq!(writer.written_bytes(), STREAMED_BYTES as u64);
    assert_eq!(
        writer.finish(Some(id)).unwrap(),
        (id, STREAMED_BYTES as u64)
    );
    assert!(tmp_files(dir.path()).is_empty());
    assert_eq!(store.get(id).unwrap(), Some(bytes));
    assert_eq!(store.reserved_bytes(), 0);
}

#[test]
fn a_streamed_hash_mismatch_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = big_store(dir.path());
    let before = files(dir.path());
    let claimed = BlobId::of(b"something else");
    let bytes = pattern(3 * CHUNK_BYTES, 2);
    let mut writer = store.writer(u64::MAX).unwrap();
    for chunk in bytes.chunks(CHUNK_BYTES) {
        writer.write(chunk).unwrap();
    }
    match writer.finish(Some(claimed)) {
        Err(BlobError::HashMismatch { expected, got }) => {
            assert_eq!((expected, got), (claimed, BlobId::of(&bytes)));
        }
        other => panic!("expected a hash mismatch, got {other:?}"),
    }
    assert_eq!(files(dir.path()), before);
    assert!(store.list().is_empty());
    assert_eq!(store.reserved_bytes(), 0);
}

#[test]
fn writing_past_the_limit_is_refused_and_a_dropped_writer_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = big_store(dir.path());
    let before = files(dir.path());
    let mut writer = store.writer(100).unwrap();
    writer.write(&[1; 60]).unwrap();
    match writer.write(&[1; 41]) {
        Err(BlobError::TooLarge { size, max }) => assert_eq!((size, max), (101, 100)),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(store.reserved_bytes(), 100);
    drop(writer);
    assert_eq!(files(dir.path()), before);
    assert_eq!(store.reserved_bytes(), 0);
}

#[test]
fn writers_reserve_room_under_the_cap_before_reading_anything() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(BlobStore::open(dir.path(), crate::LIMITS).unwrap());
    // The per-blob limit (1,000) lowers what a writer asks for.
    let first = store.writer(u64::MAX).unwrap();
    assert_eq!(first.max_bytes(), 1_000);
    let second = store.writer(1_000).unwrap();
    // 2,000 promised of a 2,500 cap: a third full-size writer cannot be promised room.
    match store.writer(1_000) {
        Err(BlobError::StoreFull { size, total, max }) => {
            assert_eq!((size, total, max), (1_000, 2_000, 2_500));
        }
        other => panic!("expected StoreFull, got {other:?}"),
    }
    drop(first);
    let mut third = store.writer(1_000).unwrap();
    third.write(&[9; 700]).unwrap();
    let (id, size) = third.finish(None).unwrap();
    assert_eq!((id, size), (BlobId::of(&[9; 700]), 700));
    assert_eq!(store.total_bytes(), 700);
    drop(second);
    assert_eq!(store.reserved_bytes(), 0);
}

#[test]
fn a_streamed_blob_already_held_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let store = big_store(dir.path());
    let id = store.put(b"weights").unwrap();
    let before = files(dir.path());
    let mut writer = store.writer(7).unwrap();
    writer.write(b"weights").unwrap();
    assert_eq!(writer.finish(None).unwrap(), (id, 7));
    assert_eq!(files(dir.path()), before);
    assert_eq!(store.total_bytes(), 7);
}

#[test]
fn the_cap_follows_the_free_disk_and_never_passes_the_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    let store = big_store(dir.path());
    store.put(&[1; 1_000]).unwrap();
    // A ceiling below what half the free space allows wins.
    assert_eq!(store.fit_cap_to_disk(1_500).unwrap(), 1_500);
    assert_eq!(store.limits().store_size_max_bytes, 1_500);
    assert!(matches!(
        store.put(&[2; 501]),
        Err(BlobError::StoreFull { max: 1_500, .. })
    ));
    // With a huge ceiling the cap is what is stored plus at most half the free space.
    let stat_cap = store.fit_cap_to_disk(u64::MAX).unwrap();
    assert!(stat_cap > 1_000 && stat_cap < u64::MAX, "{stat_cap}");
    store.set_store_size_max_bytes(1_000);
    assert_eq!(store.limits().store_size_max_bytes, 1_000);
}
