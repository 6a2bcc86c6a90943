//! Integration tests for `cairn-keystore`: the key directory as a user and an attacker see it.

use cairn_keystore::{KdfParams, KeyKind, Keystore, KeystoreError};
use cairn_types::PrivateKey;
use commonware_codec::Encode;
use commonware_cryptography::Signer;
use serde_json::Value;
use std::fs;
use tempfile::TempDir;

const PASSWORD: &str = "correct horse battery staple";

fn keystore() -> (TempDir, Keystore) {
    let dir = tempfile::tempdir().unwrap();
    let store = Keystore::open_with_kdf(dir.path().join("keys"), KdfParams::INSECURE_FAST).unwrap();
    (dir, store)
}

fn secret_bytes(key: &PrivateKey) -> Vec<u8> {
    key.encode().to_vec()
}

/// Rewrites one JSON field of a key file, as an attacker with write access would.
fn tamper(store: &Keystore, name: &str, edit: impl FnOnce(&mut Value)) {
    let path = store.path_of(name).unwrap();
    let mut json: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    edit(&mut json);
    fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
}

#[test]
fn generate_unlock_roundtrip() {
    let (_dir, store) = keystore();
    let info = store.generate("alice", KeyKind::Cold, PASSWORD).unwrap();
    assert_eq!(info.name, "alice");
    assert_eq!(info.kind, KeyKind::Cold);
    assert_eq!(info.path, store.dir().join("alice.json"));
    assert_eq!(store.info("alice").unwrap(), info);
    let secret = store.unlock("alice", PASSWORD).unwrap();
    assert_eq!(secret.public_key(), info.public_key);
    let exported = store.export("alice", PASSWORD).unwrap();
    assert_eq!(secret_bytes(&exported), secret_bytes(&secret));
}

#[test]
fn import_roundtrip_keeps_secret() {
    let (_dir, store) = keystore();
    let secret = PrivateKey::from_seed(7);
    let info = store
        .import("hot1", KeyKind::Hot, &secret, PASSWORD)
        .unwrap();
    assert_eq!(info.kind, KeyKind::Hot);
    assert_eq!(info.public_key, secret.public_key());
    let back = store.unlock("hot1", PASSWORD).unwrap();
    assert_eq!(secret_bytes(&back), secret_bytes(&secret));
}

#[test]
fn generated_keys_differ() {
    let (_dir, store) = keystore();
    let a = store.generate("a", KeyKind::Cold, PASSWORD).unwrap();
    let b = store.generate("b", KeyKind::Cold, PASSWORD).unwrap();
    assert_ne!(a.public_key, b.public_key);
}

#[test]
fn wrong_password_rejected() {
    let (_dir, store) = keystore();
    store.generate("alice", KeyKind::Cold, PASSWORD).unwrap();
    for wrong in [
        "",
        "correct horse battery stapl",
        "Correct horse battery staple",
    ] {
        match store.unlock("alice", wrong) {
            Err(KeystoreError::WrongPassword { name }) => assert_eq!(name, "alice"),
            other => panic!("expected WrongPassword, got {other:?}"),
        }
    }
}

#[test]
fn empty_password_refused_for_new_keys() {
    let (_dir, store) = keystore();
    assert!(matches!(
        store.generate("alice", KeyKind::Cold, ""),
        Err(KeystoreError::EmptyPassword { .. })
    ));
    assert!(!store.path_of("alice").unwrap().exists());
}

fn assert_corrupt(store: &Keystore, name: &str) {
    match store.unlock(name, PASSWORD) {
        Err(KeystoreError::Corrupt { path, .. }) => assert_eq!(path, store.path_of(name).unwrap()),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn tampered_ciphertext_detected() {
    let (_dir, store) = keystore();
    store.generate("alice", KeyKind::Cold, PASSWORD).unwrap();
    tamper(&store, "alice", |json| {
        let ct = json["ciphertext"].as_str().unwrap();
        let flipped = if ct.starts_with('0') { "1" } else { "0" };
        json["ciphertext"] = Value::from(format!("{flipped}{}", &ct[1..]));
    });
    assert_corrupt(&store, "alice");
}

#[test]
fn swapped_public_key_detected() {
    let (_dir, store) = keystore();
    store.generate("alice", KeyKind::Cold, PASSWORD).unwrap();
    let mallory = store.generate("mallory", KeyKind::Cold, PASSWORD).unwrap();
    // The attacker points alice's file at their own address, hoping funds go there.
    tamper(&store, "alice", |json| {
        json["public_key"] = Value::from(cairn_types::to_hex(&mallory.public_key));
    });
    assert_eq!(store.info("alice").unwrap().public_key, mallory.public_key);
    assert_corrupt(&store, "alice");
}

#[test]
fn swapped_kind_detected() {
    let (_dir, store) = keystore();
    store.generate("alice", KeyKind::Hot, PASSWORD).unwrap();
    tamper(&store, "alice", |json| json["kind"] = Value::from("cold"));
    assert_corrupt(&store, "alice");
}

#[test]
fn swapped_files_detected() {
    let (_dir, store) = keystore();
    store.generate("a", KeyKind::Cold, PASSWORD).unwrap();
    store.generate("b", KeyKind::Cold, PASSWORD).unwrap();
    // Copying b's file over a, with the name rewritten, must not pass for a's key.
    let b = fs::read(store.path_of("b").unwrap()).unwrap();
    fs::write(store.path_of("a").unwrap(), &b).unwrap();
    assert!(matches!(
        store.info("a"),
        Err(KeystoreError::Corrupt { .. })
    ));
    tamper(&store, "a", |json| json["name"] = Value::from("a"));
    assert_corrupt(&store, "a");
}

#[test]
fn malformed_files_are_corrupt() {
    let (_dir, store) = keystore();
    store.generate("alice", KeyKind::Cold, PASSWORD).unwrap();
    let edits: [fn(&mut Value); 9] = [
        |j| j["version"] = Value::from(2),
        |j| j["kdf"]["algorithm"] = Value::from("scrypt"),
        |j| j["kdf"]["m_cost_kib"] = Value::from(u32::MAX),
        |j| j["kdf"]["salt"] = Value::from("00"),
        |j| j["cipher"]["algorithm"] = Value::from("aes"),
        |j| j["cipher"]["nonce"] = Value::from("zz"),
        |j| j["ciphertext"] = Value::from(""),
        |j| j["public_key"] = Value::from("1234"),
        |j| j["secret"] = Value::from("extra field"),
    ];
    let original = fs::read(store.path_of("alice").unwrap()).unwrap();
    for (i, edit) in edits.iter().enumerate() {
        fs::write(store.path_of("alice").unwrap(), &original).unwrap();
        tamper(&store, "alice", *edit);
        assert!(
            matches!(
                store.unlock("alice", PASSWORD),
                Err(KeystoreError::Corrupt { .. })
            ),
            "edit {i}"
        );
    }
    fs::write(store.path_of("alice").unwrap(), vec![b' '; 20_000]).unwrap();
    assert!(matches!(
        store.info("alice"),
        Err(KeystoreError::Corrupt { .. })
    ));
}

#[test]
fn file_holds_no_plaintext_secret() {
    let (_dir, store) = keystore();
    let secret = PrivateKey::from_seed(42);
    store
        .import("alice", KeyKind::Cold, &secret, PASSWORD)
        .unwrap();
    let contents = fs::read(store.path_of("alice").unwrap()).unwrap();
    let raw = secret_bytes(&secret);
    assert_eq!(raw.len(), 32);
    assert!(!contents.windows(raw.len()).any(|w| w == raw.as_slice()));
    let text = String::from_utf8(contents).unwrap().to_lowercase();
    assert!(!text.contains(&hex::encode(&raw)));
    // Not even a prefix long enough to matter.
    assert!(!text.contains(&hex::encode(&raw[..8])));
    assert!(!text.contains(PASSWORD));
}

#[test]
fn invalid_names_rejected() {
    let (dir, store) = keystore();
    for name in [
        "",
        "../escape",
        "a/b",
        ".hidden",
        "a.b",
        "with space",
        &"x".repeat(65),
    ] {
        assert!(
            matches!(
                store.generate(name, KeyKind::Cold, PASSWORD),
                Err(KeystoreError::InvalidName { .. })
            ),
            "{name:?}"
        );
        assert!(matches!(
            store.info(name),
            Err(KeystoreError::InvalidName { .. })
        ));
        assert!(matches!(
            store.unlock(name, PASSWORD),
            Err(KeystoreError::InvalidName { .. })
        ));
    }
    assert!(!dir.path().join("escape.json").exists());
}

#[test]
fn never_overwrites() {
    let (_dir, store) = keystore();
    let first = store.generate("alice", KeyKind::Cold, PASSWORD).unwrap();
    let before = fs::read(&first.path).unwrap();
    let other = PrivateKey::from_seed(1);
    for result in [
        store.generate("alice", KeyKind::Cold, PASSWORD),
        store.import("alice", KeyKind::Hot, &other, "other password"),
    ] {
        assert!(matches!(result, Err(KeystoreError::AlreadyExists { .. })));
    }
    assert_eq!(fs::read(&first.path).unwrap(), before);
    // No temporary files are left behind.
    let names: Vec<_> = fs::read_dir(store.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["alice.json"]);
}

#[test]
fn missing_key_not_found() {
    let (_dir, store) = keystore();
    assert!(matches!(
        store.info("nobody"),
        Err(KeystoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.unlock("nobody", PASSWORD),
        Err(KeystoreError::NotFound { .. })
    ));
}

#[cfg(unix)]
#[test]
fn permissions_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, store) = keystore();
    let info = store.generate("alice", KeyKind::Cold, PASSWORD).unwrap();
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&info.path), 0o600);
    assert_eq!(mode(store.dir()), 0o700);

    // An existing, too-open directory is tightened on open.
    fs::set_permissions(store.dir(), fs::Permissions::from_mode(0o755)).unwrap();
    Keystore::open_with_kdf(store.dir(), KdfParams::INSECURE_FAST).unwrap();
    assert_eq!(mode(store.dir()), 0o700);
}

#[test]
fn list_sorted_and_reports_corrupt_files() {
    let (_dir, store) = keystore();
    for name in ["zed", "Alice", "bob", "_x", "-y"] {
        store.generate(name, KeyKind::Hot, PASSWORD).unwrap();
    }
    fs::write(store.dir().join("broken.json"), b"{ not json").unwrap();
    fs::write(store.dir().join("bad name.json"), b"{}").unwrap();
    fs::write(store.dir().join("notes.txt"), b"ignored").unwrap();
    fs::write(store.dir().join(".alice.json.tmp-1-2"), b"ignored").unwrap();

    let listing = store.list().unwrap();
    let names: Vec<_> = listing.keys.iter().map(|k| k.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(names, vec!["-y", "Alice", "_x", "bob", "zed"]);

    let mut bad: Vec<_> = listing
        .problems
        .iter()
        .map(|e| match e {
            KeystoreError::Corrupt { path, .. } => path.file_name().unwrap().to_owned(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    bad.sort();
    assert_eq!(bad, vec!["bad name.json", "broken.json"]);
}

#[test]
fn each_file_keeps_its_own_kdf_params() {
    let dir = tempfile::tempdir().unwrap();
    let cheap = Keystore::open_with_kdf(dir.path(), KdfParams::INSECURE_FAST).unwrap();
    cheap.generate("k", KeyKind::Cold, PASSWORD).unwrap();
    let stronger = KdfParams {
        m_cost_kib: 64,
        t_cost: 2,
        p_cost: 1,
    };
    let other = Keystore::open_with_kdf(dir.path(), stronger).unwrap();
    assert!(other.unlock("k", PASSWORD).is_ok());
    other.generate("k2", KeyKind::Cold, PASSWORD).unwrap();
    let json: Value =
        serde_json::from_slice(&fs::read(other.path_of("k2").unwrap()).unwrap()).unwrap();
    assert_eq!(json["kdf"]["m_cost_kib"], 64);
    assert_eq!(json["kdf"]["t_cost"], 2);
    assert_eq!(json["cipher"]["algorithm"], "xchacha20poly1305");
    assert_eq!(json["version"], 1);
}

#[test]
fn invalid_kdf_params_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let bad = KdfParams {
        m_cost_kib: 1,
        t_cost: 1,
        p_cost: 1,
    };
    assert!(matches!(
        Keystore::open_with_kdf(dir.path(), bad),
        Err(KeystoreError::InvalidKdfParams { .. })
    ));
}

#[test]
fn default_params_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    let store = Keystore::open(dir.path()).unwrap();
    let info = store.generate("alice", KeyKind::Cold, PASSWORD).unwrap();
    let json: Value = serde_json::from_slice(&fs::read(&info.path).unwrap()).unwrap();
    assert_eq!(json["kdf"]["m_cost_kib"], 65536);
    assert_eq!(json["kdf"]["t_cost"], 3);
    assert_eq!(json["kdf"]["p_cost"], 1);
    assert_eq!(
        store.unlock("alice", PASSWORD).unwrap().public_key(),
        info.public_key
    );
}
