//! The upload quota: per uploader and in total, reserved before streaming, released on failure,
//! charged once per blob, released when the blob is referenced or pruned.

use cairn_blobs::{BlobId, QuotaError, QuotaLimits, UploadQuota};

const LIMITS: QuotaLimits = QuotaLimits {
    per_uploader_max_bytes: 100,
    total_max_bytes: 150,
};

#[test]
fn over_the_per_uploader_limit_names_the_numbers() {
    let quota = UploadQuota::new(LIMITS);
    let held = quota.reserve("alice", 60).unwrap();
    let err = quota.reserve("alice", 41).unwrap_err();
    assert_eq!(
        err,
        QuotaError::PerUploader {
            uploader: "alice".into(),
            used: 60,
            requested: 41,
            max: 100
        }
    );
    assert_eq!(err.numbers(), ("per_uploader", 60, 41, 100));
    let message = err.to_string();
    for number in ["60", "41", "100", "alice"] {
        assert!(message.contains(number), "{message}");
    }
    // Exactly up to the limit is fine.
    let _rest = quota.reserve("alice", 40).unwrap();
    drop(held);
}

#[test]
fn the_total_binds_all_uploaders_together() {
    let quota = UploadQuota::new(LIMITS);
    let _a = quota.reserve("alice", 100).unwrap();
    let err = quota.reserve("bob", 51).unwrap_err();
    assert_eq!(err.numbers(), ("total", 100, 51, 150));
    let _b = quota.reserve("bob", 50).unwrap();
    assert_eq!(quota.used_bytes(), 150);
}

#[test]
fn a_dropped_reservation_gives_its_room_back() {
    let quota = UploadQuota::new(LIMITS);
    let held = quota.reserve("alice", 100).unwrap();
    assert!(quota.reserve("alice", 1).is_err());
    drop(held); // the upload failed
    assert_eq!(quota.used_by(&"alice"), 0);
    assert_eq!(quota.used_bytes(), 0);
    quota.reserve("alice", 100).unwrap();
}

#[test]
fn a_charge_replaces_the_reservation_with_the_real_size_until_released() {
    let quota = UploadQuota::new(LIMITS);
    let id = BlobId::of(b"update");
    quota.reserve("alice", 100).unwrap().charge(id, 30);
    assert_eq!(quota.used_by(&"alice"), 30);
    assert_eq!(quota.charged(), vec![id]);
    // The same blob again (from anyone) is not charged twice.
    quota.reserve("bob", 30).unwrap().charge(id, 30);
    assert_eq!((quota.used_by(&"bob"), quota.used_bytes()), (0, 30));
    // Referenced (or pruned): released.
    assert!(quota.release(id));
    assert!(!quota.release(id));
    assert_eq!(quota.used_bytes(), 0);
    assert!(quota.charged().is_empty());
}

#[test]
fn a_declared_upload_is_free_and_an_undeclared_one_is_charged_unless_declared_by_then() {
    use cairn_blobs::Admission;
    let quota = UploadQuota::new(LIMITS);
    let _full = quota.reserve("alice", 100).unwrap();
    // Declared on chain: let in past a spent quota, bounded by its declared size.
    let declared = quota.admit("alice", Some(5_000), 5_000).unwrap();
    assert!(matches!(declared, Admission::Declared { max_bytes: 5_000 }));
    declared.settle(BlobId::of(b"checkpoint"), 4_000, true);
    assert_eq!(quota.used_by(&"alice"), 100);
    // Not declared: within the quota only.
    assert!(quota.admit("alice", None, 1).is_err());
    let charged = quota.admit("bob", None, 40).unwrap();
    assert_eq!(charged.max_bytes(), 40);
    charged.settle(BlobId::of(b"a"), 30, false);
    assert_eq!(quota.used_by(&"bob"), 30);
    // Hashed, then found declared after all: charged nothing.
    quota
        .admit("bob", None, 20)
        .unwrap()
        .settle(BlobId::of(b"b"), 20, true);
    assert_eq!(quota.used_by(&"bob"), 30);
}
