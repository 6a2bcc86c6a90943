//! Properties: any bytes round-trip under their BLAKE3 id, and a reopened store sees them all.

use std::collections::BTreeSet;

use cairn_blobs::{BlobId, BlobLimits, BlobStore};
use proptest::collection::vec;
use proptest::prelude::*;

proptest! {
    // Each case creates a directory and fsyncs files, so keep the count modest.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_bytes_round_trip_and_reopen_sees_them(
        blobs in vec(vec(any::<u8>(), 0..2_048), 0..8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut written = BTreeSet::new();
        let mut total_bytes = 0;
        {
            let store = BlobStore::open(dir.path(), BlobLimits::default()).unwrap();
            for bytes in &blobs {
                let id = store.put(bytes).unwrap();
                prop_assert_eq!(*id.as_bytes(), *blake3::hash(bytes).as_bytes());
                prop_assert_eq!(store.get(id).unwrap(), Some(bytes.clone()));
                if written.insert(id) {
                    total_bytes += bytes.len() as u64;
                }
            }
            prop_assert_eq!(store.total_bytes(), total_bytes);
        }
        let store = BlobStore::open(dir.path(), BlobLimits::default()).unwrap();
        prop_assert_eq!(store.list(), written.iter().copied().collect::<Vec<_>>());
        prop_assert_eq!(store.total_bytes(), total_bytes);
        for bytes in &blobs {
            let id = BlobId::of(bytes);
            prop_assert_eq!(store.size(id), Some(bytes.len() as u64));
            prop_assert_eq!(store.get(id).unwrap(), Some(bytes.clone()));
        }
    }

    #[test]
    fn put_expected_stores_only_matching_bytes(
        bytes in vec(any::<u8>(), 0..512),
        other in vec(any::<u8>(), 0..512),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), BlobLimits::default()).unwrap();
        let id = BlobId::of(&bytes);
        if bytes != other {
            let rejected = store.put_expected(id, &other).is_err();
            prop_assert!(rejected);
            prop_assert!(store.list().is_empty());
        }
        store.put_expected(id, &bytes).unwrap();
        prop_assert_eq!(store.get(id).unwrap(), Some(bytes));
    }
}
