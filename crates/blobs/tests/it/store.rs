//! The store: round trips, limits, bad input, corruption, pruning, pins, reopening.

use std::collections::BTreeSet;
use std::fs;
use std::sync::Arc;

use cairn_blobs::{BlobError, BlobId, BlobLimits, BlobStore, PruneReport};

use crate::{LIMITS, files, open};

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let id = store.put(b"weights").unwrap();
    assert_eq!(id, BlobId::of(b"weights"));
    assert_eq!(store.get(id).unwrap().as_deref(), Some(&b"weights"[..]));
    assert!(store.has(id));
    assert_eq!(store.size(id), Some(7));
    assert_eq!(store.list(), vec![id]);
    assert_eq!(store.total_bytes(), 7);

    let absent = BlobId::of(b"absent");
    assert_eq!(store.get(absent).unwrap(), None);
    assert!(!store.has(absent));
    assert_eq!(store.size(absent), None);
}

#[test]
fn files_are_fanned_out_by_the_first_two_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let id = store.put(b"").unwrap();
    let hex = id.to_hex();
    let path = dir.path().join(&hex[0..2]).join(&hex[2..4]).join(&hex);
    assert_eq!(store.blob_path(id), path);
    assert!(path.is_file());
}

#[test]
fn put_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let first = store.put(b"same").unwrap();
    let before = files(dir.path());
    let second = store.put(b"same").unwrap();
    store.put_expected(first, b"same").unwrap();
    assert_eq!(first, second);
    assert_eq!(store.list(), vec![first]);
    assert_eq!(store.total_bytes(), 4);
    assert_eq!(files(dir.path()), before);
}

#[test]
fn concurrent_identical_puts_store_one_blob() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let bytes = vec![7u8; 900];
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (store, bytes) = (Arc::clone(&store), bytes.clone());
            std::thread::spawn(move || store.put(&bytes).unwrap())
        })
        .collect();
    let ids: BTreeSet<BlobId> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(store.list(), ids.into_iter().collect::<Vec<_>>());
    assert_eq!(store.total_bytes(), 900);
}

#[test]
fn oversize_is_rejected_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let before = files(dir.path());
    let big = vec![0u8; 1_001];
    assert!(matches!(
        store.put(&big),
        Err(BlobError::TooLarge {
            size: 1_001,
            max: 1_000
        })
    ));
    assert!(matches!(
        store.put_expected(BlobId::of(&big), &big),
        Err(BlobError::TooLarge {
            size: 1_001,
            max: 1_000
        })
    ));
    assert_eq!(files(dir.path()), before);
    assert!(store.list().is_empty());
    assert_eq!(store.total_bytes(), 0);
    // Exactly at the limit is fine.
    store.put(&big[..1_000]).unwrap();
}

#[test]
fn per_call_limit_lowers_but_never_raises_the_store_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert!(matches!(
        store.put_with_limit(&[1; 101], 100),
        Err(BlobError::TooLarge {
            size: 101,
            max: 100
        })
    ));
    store.put_with_limit(&[1; 100], 100).unwrap();
    assert!(matches!(
        store.put_with_limit(&[2; 1_001], 5_000),
        Err(BlobError::TooLarge {
            size: 1_001,
            max: 1_000
        })
    ));
    let bytes = [3u8; 51];
    assert!(matches!(
        store.put_expected_with_limit(BlobId::of(&bytes), &bytes, 50),
        Err(BlobError::TooLarge { size: 51, max: 50 })
    ));
    assert_eq!(store.list(), vec![BlobId::of(&[1; 100])]);
}

#[test]
fn hash_mismatch_is_rejected_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let good = store.put(b"the real checkpoint").unwrap();
    let before = files(dir.path());

    // A peer answers a request for `good` with other bytes: stored data is untouched.
    let err = store
        .put_expected(good, b"a poisoned checkpoint")
        .unwrap_err();
    match err {
        BlobError::HashMismatch { expected, got } => {
            assert_eq!(expected, good);
            assert_eq!(got, BlobId::of(b"a poisoned checkpoint"));
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
    // Same for an id the store does not hold.
    let wanted = BlobId::of(b"wanted");
    assert!(matches!(
        store.put_expected(wanted, b"not it"),
        Err(BlobError::HashMismatch { .. })
    ));
    assert_eq!(files(dir.path()), before);
    assert_eq!(store.list(), vec![good]);
    assert!(!store.has(wanted));
    assert_eq!(
        store.get(good).unwrap().as_deref(),
        Some(&b"the real checkpoint"[..])
    );
}

#[test]
fn corrupted_file_is_detected_quarantined_and_the_store_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let bad = store.put(b"model v1").unwrap();
    let other = store.put(b"model v2").unwrap();
    let path = store.blob_path(bad);
    fs::write(&path, b"model v!").unwrap(); // same length, different bytes

    let quarantined = match store.get(bad) {
        Err(BlobError::Corrupt { id, path }) => {
            assert_eq!(id, bad);
            path
        }
        other => panic!("expected Corrupt, got {other:?}"),
    };
    assert!(quarantined.starts_with(dir.path().join("quarantine")));
    assert_eq!(fs::read(&quarantined).unwrap(), b"model v!");
    assert!(!path.exists());
    // Never served afterwards, and forgotten by the index.
    assert_eq!(store.get(bad).unwrap(), None);
    assert!(!store.has(bad));
    assert_eq!(store.list(), vec![other]);
    assert_eq!(store.total_bytes(), 8);
    // The rest of the store works, and a refetch restores the blob.
    assert_eq!(store.get(other).unwrap().as_deref(), Some(&b"model v2"[..]));
    store.put_expected(bad, b"model v1").unwrap();
    assert_eq!(store.get(bad).unwrap().as_deref(), Some(&b"model v1"[..]));
}

#[test]
fn truncated_file_is_corrupt_and_a_put_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let id;
    {
        let store = open(dir.path());
        id = store.put(b"0123456789").unwrap();
        fs::write(store.blob_path(id), b"01234").unwrap();
    }
    // Reopened, the index has the damaged length; a put of the real bytes must not be a no-op.
    let store = open(dir.path());
    assert_eq!(store.size(id), Some(5));
    assert_eq!(store.put(b"0123456789").unwrap(), id);
    assert_eq!(store.size(id), Some(10));
    assert_eq!(store.total_bytes(), 10);
    assert_eq!(store.get(id).unwrap().as_deref(), Some(&b"0123456789"[..]));
    assert_eq!(files(&dir.path().join("quarantine")).len(), 1);

    // Grown behind the store's back: detected on read without reading past the known size.
    fs::write(store.blob_path(id), b"0123456789 and more").unwrap();
    assert!(matches!(store.get(id), Err(BlobError::Corrupt { .. })));
    assert_eq!(files(&dir.path().join("quarantine")).len(), 2);
}

#[test]
fn deleted_file_is_reported_missing_then_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let id = store.put(b"gone").unwrap();
    fs::remove_file(store.blob_path(id)).unwrap();
    assert!(matches!(store.get(id), Err(BlobError::Missing { id: got, .. }) if got == id));
    assert_eq!(store.get(id).unwrap(), None);
    assert_eq!(store.total_bytes(), 0);
}

#[test]
fn prune_keeps_exactly_keep_and_pinned_and_reports_freed_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let referenced = store.put(b"checkpoint 1").unwrap();
    let pinned = store.put(b"pinned").unwrap();
    let stale_a = store.put(b"old update a").unwrap();
    let stale_b = store.put(b"old update b!").unwrap();
    store.pin(pinned).unwrap();
    // The ledger may reference blobs this node does not hold: harmless.
    let keep = BTreeSet::from([referenced, BlobId::of(b"not held")]);

    let report = store.prune(&keep).unwrap();
    let mut removed = vec![stale_a, stale_b];
    removed.sort();
    assert_eq!(
        report,
        PruneReport {
            removed,
            bytes_freed: 12 + 13
        }
    );
    let mut left = vec![referenced, pinned];
    left.sort();
    assert_eq!(store.list(), left);
    assert_eq!(store.total_bytes(), 12 + 6);
    assert!(!store.blob_path(stale_a).exists());
    assert_eq!(store.get(stale_b).unwrap(), None);

    // Pruning again removes nothing; unpinning exposes the blob to the next prune.
    assert_eq!(store.prune(&keep).unwrap(), PruneReport::default());
    assert!(store.unpin(pinned).unwrap());
    let report = store.prune(&keep).unwrap();
    assert_eq!(report.removed, vec![pinned]);
    assert_eq!(report.bytes_freed, 6);
    assert_eq!(store.list(), vec![referenced]);
}

#[test]
fn pins_persist_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, future) = (BlobId::of(b"a"), BlobId::of(b"b"), BlobId::of(b"future"));
    {
        let store = open(dir.path());
        store.put(b"a").unwrap();
        store.put(b"b").unwrap();
        assert!(store.pin(a).unwrap());
        assert!(!store.pin(a).unwrap());
        assert!(store.pin(b).unwrap());
        assert!(store.pin(future).unwrap()); // pinned before it is fetched
        assert!(store.unpin(b).unwrap());
        assert!(!store.unpin(b).unwrap());
    }
    let store = open(dir.path());
    let mut want = vec![a, future];
    want.sort();
    assert_eq!(store.pins(), want);
    assert!(store.is_pinned(a) && !store.is_pinned(b));
    let report = store.prune(&BTreeSet::new()).unwrap();
    assert_eq!(report.removed, vec![b]);
    store.put(b"future").unwrap();
    assert_eq!(
        store.prune(&BTreeSet::new()).unwrap(),
        PruneReport::default()
    );
}

#[test]
fn corrupt_pins_file_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let good = BlobId::of(b"x").to_hex();
    fs::write(dir.path().join("pins"), format!("{good}\nnot an id\n")).unwrap();
    match BlobStore::open(dir.path(), LIMITS) {
        Err(BlobError::PinsCorrupt { line, .. }) => assert_eq!(line, 2),
        other => panic!("expected PinsCorrupt, got {other:?}"),
    }
}

#[test]
fn store_cap_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = store.put(&[1; 1_000]).unwrap();
    store.put(&[2; 1_000]).unwrap();
    let before = files(dir.path());
    match store.put(&[3; 501]) {
        Err(BlobError::StoreFull { size, total, max }) => {
            assert_eq!((size, total, max), (501, 2_000, 2_500));
        }
        other => panic!("expected StoreFull, got {other:?}"),
    }
    assert_eq!(files(dir.path()), before);
    // Exactly up to the cap is fine; re-putting a held blob is a no-op even when full.
    store.put(&[3; 500]).unwrap();
    assert_eq!(store.total_bytes(), 2_500);
    assert_eq!(store.put(&[1; 1_000]).unwrap(), a);
    assert!(matches!(store.put(b"x"), Err(BlobError::StoreFull { .. })));
    // Pruning makes room.
    store.prune(&BTreeSet::from([a])).unwrap();
    store.put(b"x").unwrap();
    assert_eq!(store.total_bytes(), 1_001);
}

#[test]
fn reopen_sees_everything_written() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<BlobId> = {
        let store = open(dir.path());
        (0u8..20)
            .map(|i| store.put(&vec![i; usize::from(i) * 7]).unwrap())
            .collect()
    };
    let store = open(dir.path());
    let mut want = ids.clone();
    want.sort();
    assert_eq!(store.list(), want);
    assert_eq!(store.total_bytes(), (0..20u64).map(|i| i * 7).sum::<u64>());
    for (i, id) in (0u8..).zip(&ids) {
        assert_eq!(store.get(*id).unwrap(), Some(vec![i; usize::from(i) * 7]));
    }
}

#[test]
fn leftover_temporary_and_stray_files_are_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let store = open(dir.path());
        store.put(b"real").unwrap()
    };
    // A crash mid-write leaves a file in tmp/; strays elsewhere are not blobs either.
    let half = BlobId::of(b"half written");
    fs::write(dir.path().join("tmp").join(format!("{half}.1")), b"half").unwrap();
    let misplaced = BlobId::of(b"misplaced");
    fs::write(
        dir.path().join(&id.to_hex()[0..2]).join(misplaced.to_hex()),
        b"misplaced",
    )
    .unwrap();
    fs::write(dir.path().join("README"), b"not a blob").unwrap();

    let store = open(dir.path());
    assert_eq!(store.list(), vec![id]);
    assert!(!store.has(half) && !store.has(misplaced));
    assert!(files(&dir.path().join("tmp")).is_empty());
}

#[test]
fn a_second_handle_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert!(matches!(
        BlobStore::open(dir.path(), BlobLimits::default()),
        Err(BlobError::Locked { .. })
    ));
    drop(store);
    open(dir.path());
}
