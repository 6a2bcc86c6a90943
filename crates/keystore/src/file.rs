//! The on-disk JSON format and its validation. Every field is treated as adversarial input.

use crate::crypto::{self, CHECK_LEN, CipherAlgorithm, Derived, Header, KdfParams, SALT_LEN};
use crate::{KeyKind, KeystoreError, Result, validate_name};
use cairn_types::{PrivateKey, PublicKey};
use commonware_codec::{Copying, DecodeExt, Write};
use commonware_cryptography::Signer;
use serde::{Deserialize, Serialize};
use std::path::Path;
use zeroize::Zeroizing;

/// The only file format version this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// The only KDF this crate reads and writes.
pub const KDF_ALGORITHM: &str = "argon2id";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyFile {
    version: u32,
    name: String,
    kind: KeyKind,
    public_key: String,
    kdf: KdfSection,
    cipher: CipherSection,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfSection {
    algorithm: String,
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
    check: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CipherSection {
    algorithm: String,
    nonce: String,
}

/// A key file that passed every structural check (but whose ciphertext is not yet opened).
pub(crate) struct Sealed {
    pub name: String,
    pub kind: KeyKind,
    pub public_key: PublicKey,
    kdf: KdfParams,
    salt: [u8; SALT_LEN],
    check: [u8; CHECK_LEN],
    cipher: CipherAlgorithm,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

/// Why unlocking failed (the caller adds the name and path).
pub(crate) enum OpenError {
    WrongPassword,
    Corrupt(String),
    Kdf(KeystoreError),
}

impl Sealed {
    /// Encrypts `secret` under `password` with fresh salt and nonce.
    pub fn seal(
        name: &str,
        kind: KeyKind,
        secret: &PrivateKey,
        password: &str,
        kdf: KdfParams,
    ) -> Result<Self> {
        let mut salt = [0u8; SALT_LEN];
        crypto::fill_random(&mut salt)?;
        let cipher = CipherAlgorithm::XChaCha20Poly1305;
        let mut nonce = vec![0u8; cipher.nonce_len()];
        crypto::fill_random(&mut nonce)?;
        let derived = crypto::derive(password.as_bytes(), &salt, kdf)?;

        let mut plain = Zeroizing::new([0u8; crypto::SECRET_LEN]);
        secret.write(&mut &mut plain[..]);
        let public_key = secret.public_key();
        let header = Header {
            name,
            kind,
            public_key: public_key.as_ref(),
            cipher,
        };
        let ciphertext = crypto::encrypt(&derived, &header, &nonce, &plain);
        Ok(Self {
            name: name.to_owned(),
            kind,
            public_key,
            kdf,
            salt,
            check: derived.check,
            cipher,
            nonce,
            ciphertext,
        })
    }

    /// Derives the key from `password`, checks it, and decrypts.
    pub fn open(&self, password: &str) -> Result<PrivateKey, OpenError> {
        let derived: Derived =
            crypto::derive(password.as_bytes(), &self.salt, self.kdf).map_err(OpenError::Kdf)?;
        if derived.check != self.check {
            return Err(OpenError::WrongPassword);
        }
        let header = Header {
            name: &self.name,
            kind: self.kind,
            public_key: self.public_key.as_ref(),
            cipher: self.cipher,
        };
        let plain =
            crypto::decrypt(&derived, &header, &self.nonce, &self.ciphertext).ok_or_else(|| {
                OpenError::Corrupt(
                    "authentication failed although the password is right: the ciphertext, \
                     name, kind or public key was modified"
                        .into(),
                )
            })?;
        let secret = PrivateKey::decode(Copying(&plain[..]))
            .map_err(|e| OpenError::Corrupt(format!("decrypted secret does not decode: {e}")))?;
        if secret.public_key() != self.public_key {
            return Err(OpenError::Corrupt(
                "decrypted secret does not match the stored public key".into(),
            ));
        }
        Ok(secret)
    }

    /// Serializes to the pretty-printed JSON written to disk.
    pub fn to_json(&self) -> Vec<u8> {
        let file = KeyFile {
            version: FORMAT_VERSION,
            name: self.name.clone(),
            kind: self.kind,
            public_key: hex::encode(self.public_key.as_ref()),
            kdf: KdfSection {
                algorithm: KDF_ALGORITHM.into(),
                m_cost_kib: self.kdf.m_cost_kib,
                t_cost: self.kdf.t_cost,
                p_cost: self.kdf.p_cost,
                salt: hex::encode(self.salt),
                check: hex::encode(self.check),
            },
            cipher: CipherSection {
                algorithm: self.cipher.as_str().into(),
                nonce: hex::encode(&self.nonce),
            },
            ciphertext: hex::encode(&self.ciphertext),
        };
        let mut json = serde_json::to_vec_pretty(&file).expect("key file serializes");
        json.push(b'\n');
        json
    }

    /// Parses and validates a key file read from `path`, expected to hold key `expected_name`.
    pub fn parse(bytes: &[u8], path: &Path, expected_name: &str) -> Result<Self> {
        Self::parse_inner(bytes, expected_name).map_err(|reason| KeystoreError::Corrupt {
            path: path.to_owned(),
            reason,
        })
    }

    fn parse_inner(bytes: &[u8], expected_name: &str) -> Result<Self, String> {
        let file: KeyFile =
            serde_json::from_slice(bytes).map_err(|e| format!("not a key file: {e}"))?;
        if file.version != FORMAT_VERSION {
            return Err(format!(
                "unsupported version {} (this build reads version {FORMAT_VERSION})",
                file.version
            ));
        }
        validate_name(&file.name).map_err(|e| e.to_string())?;
        if file.name != expected_name {
            return Err(format!(
                "file is named '{expected_name}' but holds key '{}'",
                file.name
            ));
        }
        let public_key = cairn_types::parse_public_key(&file.public_key)
            .map_err(|e| format!("public_key: {e}"))?;
        if file.kdf.algorithm != KDF_ALGORITHM {
            return Err(format!("unsupported kdf '{}'", file.kdf.algorithm));
        }
        let kdf = KdfParams {
            m_cost_kib: file.kdf.m_cost_kib,
            t_cost: file.kdf.t_cost,
            p_cost: file.kdf.p_cost,
        };
        kdf.validate().map_err(|e| e.to_string())?;
        let cipher = CipherAlgorithm::parse(&file.cipher.algorithm)
            .ok_or_else(|| format!("unsupported cipher '{}'", file.cipher.algorithm))?;
        let nonce = hex_exact(&file.cipher.nonce, cipher.nonce_len(), "cipher.nonce")?;
        let ciphertext = hex_exact(
            &file.ciphertext,
            crypto::SECRET_LEN + crypto::TAG_LEN,
            "ciphertext",
        )?;
        Ok(Self {
            name: file.name,
            kind: file.kind,
            public_key,
            kdf,
            salt: array(hex_exact(&file.kdf.salt, SALT_LEN, "kdf.salt")?),
            check: array(hex_exact(&file.kdf.check, CHECK_LEN, "kdf.check")?),
            cipher,
            nonce,
            ciphertext,
        })
    }
}

/// Decodes hex that must be exactly `len` bytes.
fn hex_exact(text: &str, len: usize, field: &str) -> Result<Vec<u8>, String> {
    let bytes = hex::decode(text).map_err(|e| format!("{field} is not hex: {e}"))?;
    if bytes.len() != len {
        return Err(format!("{field} is {} bytes, expected {len}", bytes.len()));
    }
    Ok(bytes)
}

fn array<const N: usize>(bytes: Vec<u8>) -> [u8; N] {
    bytes.try_into().expect("length checked by hex_exact")
}
