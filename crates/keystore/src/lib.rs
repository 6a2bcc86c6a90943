//! Password-encrypted ed25519 key files for Cairn accounts (cold keys) and their hot keys.
//!
//! Threat model: a malicious package or script that can read the user's files (the Bittensor
//! incident stole plaintext and weakly protected coldkeys this way). So a secret key is never
//! written in plaintext: it is encrypted under a key derived from a password with memory-hard
//! argon2id, and the file is readable by its owner only.
//!
//! # Layout
//!
//! A keystore is a directory (mode 0700 on unix) holding one file per key, `<name>.json`
//! (mode 0600). Files are written to a temporary file, synced, then hard-linked into place, so a
//! crash never leaves a half-written key and an existing key is never overwritten.
//!
//! # File format (version 1)
//!
//! ```json
//! {
//!   "version": 1,
//!   "name": "alice",
//!   "kind": "cold",
//!   "public_key": "<hex, 32 bytes>",
//!   "kdf": {
//!     "algorithm": "argon2id",
//!     "m_cost_kib": 65536, "t_cost": 3, "p_cost": 1,
//!     "salt": "<hex, 16 bytes>",
//!     "check": "<hex, 16 bytes>"
//!   },
//!   "cipher": { "algorithm": "xchacha20poly1305", "nonce": "<hex, 24 bytes>" },
//!   "ciphertext": "<hex, 32-byte secret + 16-byte tag>"
//! }
//! ```
//!
//! - argon2id (v0x13) turns the password and salt into 48 bytes: the first 32 are the cipher
//!   key; the last 16 are `kdf.check`, which tells a wrong password (check differs) apart from a
//!   modified file (check matches, authentication fails).
//! - The AEAD's associated data is `"cairn-keystore/v1" 0 name 0 kind 0 cipher-algorithm 0
//!   public_key`, so swapping the name, kind or public key between files is detected.
//! - `cipher.algorithm` may also be `"chacha20poly1305"` (12-byte nonce) when reading; this
//!   crate writes XChaCha20-Poly1305 with a random 24-byte nonce.
//!
//! Architecture Invariant: no secret byte reaches the disk unencrypted, and buffers that held a
//! secret or a derived key are zeroized when dropped.

mod crypto;
mod error;
mod file;
mod store;

pub use crypto::{CipherAlgorithm, KdfParams, M_COST_KIB_MAX, P_COST_MAX, T_COST_MAX};
pub use error::{KeystoreError, Result};
pub use file::FORMAT_VERSION;
pub use store::{KEY_FILE_SIZE_MAX_BYTES, Keystore, LIST_ENTRIES_MAX, Listing};
/// Re-exported so callers can hold secrets (hex, passwords) in buffers wiped on drop.
pub use zeroize::Zeroizing;

use cairn_types::{PrivateKey, PublicKey};
use serde::{Deserialize, Serialize};
use std::{fmt, path::PathBuf, str::FromStr};

/// Longest key name accepted, in characters.
pub const NAME_LEN_MAX: usize = 64;

/// What a key is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// Holds funds and authorizes hot keys; kept offline as much as possible.
    Cold,
    /// Signs routine operations on behalf of a cold key; cheap to rotate.
    Hot,
}

impl KeyKind {
    /// `"cold"` or `"hot"`, as written in key files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cold => "cold",
            Self::Hot => "hot",
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "cold" => Ok(Self::Cold),
            "hot" => Ok(Self::Hot),
            other => Err(format!("unknown key kind '{other}': use 'cold' or 'hot'")),
        }
    }
}

/// The public facts about a stored key (readable without the password).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key's name (also its file name, without `.json`).
    pub name: String,
    /// Cold or hot.
    pub kind: KeyKind,
    /// The ed25519 public key (the account address for cold keys).
    pub public_key: PublicKey,
    /// The key file.
    pub path: PathBuf,
}

/// Checks a key name: 1 to [`NAME_LEN_MAX`] characters from `[A-Za-z0-9_-]`.
///
/// Why so strict: the name becomes a file name, so this is what rules out path traversal
/// (`../x`), hidden files and separators on every platform.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = (1..=NAME_LEN_MAX).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(KeystoreError::InvalidName {
            name: name.chars().take(NAME_LEN_MAX * 2).collect(),
        })
    }
}

/// A fresh ed25519 secret key from the OS random number generator.
///
/// # Panics
///
/// If the OS random number generator fails, which leaves no safe way to make a key. Use
/// [`Keystore::generate`] to get that failure as [`KeystoreError::Random`] instead.
pub fn random_private_key() -> PrivateKey {
    try_random_private_key().expect("OS random number generator failed")
}

/// A fresh ed25519 secret key from the OS random number generator (its 32-byte seed).
pub(crate) fn try_random_private_key() -> Result<PrivateKey> {
    use commonware_codec::{Copying, DecodeExt};
    let mut seed = Zeroizing::new([0u8; crypto::SECRET_LEN]);
    crypto::fill_random(&mut seed[..])?;
    Ok(PrivateKey::decode(Copying(&seed[..])).expect("any 32 bytes are an ed25519 secret"))
}

/// Parses a secret key typed or stored as hex (64 hex characters, optional `0x`, surrounding
/// whitespace ignored). The error never echoes the input, since it may be a real secret.
pub fn secret_from_hex(text: &str) -> Result<PrivateKey> {
    use commonware_codec::{Copying, DecodeExt};
    let text = text.trim();
    let text = text.strip_prefix("0x").unwrap_or(text);
    let mut bytes = Zeroizing::new([0u8; crypto::SECRET_LEN]);
    hex::decode_to_slice(text, &mut bytes[..]).map_err(|e| KeystoreError::InvalidSecret {
        reason: format!(
            "expected {} hex characters ({} bytes): {e}",
            2 * crypto::SECRET_LEN,
            crypto::SECRET_LEN
        ),
    })?;
    PrivateKey::decode(Copying(&bytes[..])).map_err(|e| KeystoreError::InvalidSecret {
        reason: e.to_string(),
    })
}

/// Lower-case hex of a secret key, in a buffer wiped on drop (for `keys export`).
pub fn secret_to_hex(secret: &PrivateKey) -> Zeroizing<String> {
    use commonware_codec::Write;
    let mut bytes = Zeroizing::new([0u8; crypto::SECRET_LEN]);
    secret.write(&mut &mut bytes[..]);
    let mut text = Zeroizing::new(String::with_capacity(2 * crypto::SECRET_LEN));
    for byte in bytes.iter() {
        for nibble in [byte >> 4, byte & 0x0f] {
            text.push(char::from_digit(u32::from(nibble), 16).expect("nibble < 16"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let long = "a".repeat(NAME_LEN_MAX);
        for good in ["a", "Alice_2", "hot-1", "-", "_", long.as_str()] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        let too_long = "a".repeat(NAME_LEN_MAX + 1);
        for bad in [
            "",
            "../x",
            "a/b",
            "a\\b",
            ".",
            "..",
            ".hidden",
            "a.json",
            "a b",
            "é",
            "a\0",
            too_long.as_str(),
        ] {
            assert!(
                matches!(validate_name(bad), Err(KeystoreError::InvalidName { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn secret_hex_roundtrip() {
        use commonware_cryptography::Signer;
        let secret = PrivateKey::from_seed(3);
        let text = secret_to_hex(&secret);
        assert_eq!(text.len(), 64);
        for input in [
            text.to_string(),
            format!("0x{}", *text),
            format!("  {}\n", text.to_uppercase()),
        ] {
            assert_eq!(
                secret_from_hex(&input).unwrap().public_key(),
                secret.public_key()
            );
        }
        for bad in ["", "00", "zz", &"0".repeat(66)] {
            let err = secret_from_hex(bad).unwrap_err();
            assert!(
                matches!(err, KeystoreError::InvalidSecret { .. }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn kind_text_roundtrip() {
        for kind in [KeyKind::Cold, KeyKind::Hot] {
            assert_eq!(kind.to_string().parse::<KeyKind>().unwrap(), kind);
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
        assert!("warm".parse::<KeyKind>().is_err());
    }
}
