//! Password-based sealing of a secret key: argon2id derives a key, XChaCha20-Poly1305 encrypts.
//!
//! The argon2id output is 48 bytes: the first 32 are the cipher key, the last 16 are stored as
//! `kdf.check` so a wrong password can be told apart from a modified file. Both parts come from
//! one BLAKE2b output, so the stored check says nothing about the cipher key, and guessing
//! passwords against it costs the same argon2id run as guessing against the ciphertext.

use crate::{KeyKind, KeystoreError, Result};
use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, KeyInit, XChaCha20Poly1305};
use zeroize::Zeroizing;

/// Bytes of random salt fed to argon2id.
pub const SALT_LEN: usize = 16;
/// Bytes of the password check stored next to the salt.
pub const CHECK_LEN: usize = 16;
/// Bytes of an XChaCha20-Poly1305 nonce (random, so never reused in practice).
pub const XNONCE_LEN: usize = 24;
/// Bytes of a ChaCha20-Poly1305 nonce (accepted when reading; never written).
pub const NONCE_LEN: usize = 12;
/// Bytes of the Poly1305 tag appended to the ciphertext.
pub const TAG_LEN: usize = 16;
/// Bytes of an ed25519 secret key (its seed).
pub const SECRET_LEN: usize = 32;

/// Largest argon2 memory cost accepted (1 GiB): a file asking for more is refused rather than
/// allowed to exhaust memory.
pub const M_COST_KIB_MAX: u32 = 1024 * 1024;
/// Largest argon2 pass count accepted.
pub const T_COST_MAX: u32 = 64;
/// Largest argon2 lane count accepted.
pub const P_COST_MAX: u32 = 64;

const KEY_LEN: usize = 32;
const KDF_OUTPUT_LEN: usize = KEY_LEN + CHECK_LEN;
/// Prefix of the associated data, so ciphertexts of other formats never verify here.
const AAD_DOMAIN: &[u8] = b"cairn-keystore/v1";

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Number of passes.
    pub t_cost: u32,
    /// Degree of parallelism (lanes).
    pub p_cost: u32,
}

impl KdfParams {
    /// What new keys are sealed with: 64 MiB, 3 passes, 1 lane (~0.2-0.5 s on a laptop).
    pub const DEFAULT: Self = Self {
        m_cost_kib: 64 * 1024,
        t_cost: 3,
        p_cost: 1,
    };

    /// The cheapest accepted setting. For tests only: it offers no protection against guessing.
    pub const INSECURE_FAST: Self = Self {
        m_cost_kib: 8,
        t_cost: 1,
        p_cost: 1,
    };

    /// Checks the parameters are within what argon2 accepts and within this crate's limits.
    pub fn validate(&self) -> Result<()> {
        let reason = if !(1..=P_COST_MAX).contains(&self.p_cost) {
            format!("p_cost {} is outside 1..={P_COST_MAX}", self.p_cost)
        } else if !(1..=T_COST_MAX).contains(&self.t_cost) {
            format!("t_cost {} is outside 1..={T_COST_MAX}", self.t_cost)
        } else if !(8 * self.p_cost..=M_COST_KIB_MAX).contains(&self.m_cost_kib) {
            format!(
                "m_cost_kib {} is outside {}..={M_COST_KIB_MAX} (minimum is 8 KiB per lane)",
                self.m_cost_kib,
                8 * self.p_cost
            )
        } else {
            return Ok(());
        };
        Err(KeystoreError::InvalidKdfParams { reason })
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The AEAD used for a key file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CipherAlgorithm {
    /// XChaCha20-Poly1305 with a random 24-byte nonce (what this crate writes).
    XChaCha20Poly1305,
    /// ChaCha20-Poly1305 with a 12-byte nonce (read for compatibility).
    ChaCha20Poly1305,
}

impl CipherAlgorithm {
    /// The name used in the file's `cipher.algorithm` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::XChaCha20Poly1305 => "xchacha20poly1305",
            Self::ChaCha20Poly1305 => "chacha20poly1305",
        }
    }

    /// Parses the file's `cipher.algorithm` field.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "xchacha20poly1305" => Some(Self::XChaCha20Poly1305),
            "chacha20poly1305" => Some(Self::ChaCha20Poly1305),
            _ => None,
        }
    }

    /// Bytes of nonce this algorithm takes.
    pub fn nonce_len(self) -> usize {
        match self {
            Self::XChaCha20Poly1305 => XNONCE_LEN,
            Self::ChaCha20Poly1305 => NONCE_LEN,
        }
    }
}

/// What the AEAD authenticates besides the secret: everything a reader trusts without decrypting.
pub(crate) struct Header<'a> {
    pub name: &'a str,
    pub kind: KeyKind,
    pub public_key: &'a [u8],
    pub cipher: CipherAlgorithm,
}

impl Header<'_> {
    /// Unambiguous encoding: names hold no NUL byte and every other field is fixed-size or fixed.
    fn associated_data(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(AAD_DOMAIN.len() + self.name.len() + 64);
        for part in [
            AAD_DOMAIN,
            self.name.as_bytes(),
            self.kind.as_str().as_bytes(),
            self.cipher.as_str().as_bytes(),
        ] {
            aad.extend_from_slice(part);
            aad.push(0);
        }
        aad.extend_from_slice(self.public_key);
        aad
    }
}

/// A derived cipher key (zeroized on drop) and the password check stored in the file.
pub(crate) struct Derived {
    key: Zeroizing<[u8; KEY_LEN]>,
    pub check: [u8; CHECK_LEN],
}

/// Runs argon2id over the password.
pub(crate) fn derive(password: &[u8], salt: &[u8; SALT_LEN], params: KdfParams) -> Result<Derived> {
    params.validate()?;
    let invalid = |e: argon2::Error| KeystoreError::InvalidKdfParams {
        reason: e.to_string(),
    };
    let argon_params = Params::new(
        params.m_cost_kib,
        params.t_cost,
        params.p_cost,
        Some(KDF_OUTPUT_LEN),
    )
    .map_err(invalid)?;
    let mut output = Zeroizing::new([0u8; KDF_OUTPUT_LEN]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params)
        .hash_password_into(password, salt, &mut *output)
        .map_err(invalid)?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(&output[..KEY_LEN]);
    let mut check = [0u8; CHECK_LEN];
    check.copy_from_slice(&output[KEY_LEN..]);
    Ok(Derived { key, check })
}

/// Encrypts `secret` in place under a fresh key; returns the ciphertext (secret + tag).
pub(crate) fn encrypt(
    derived: &Derived,
    header: &Header<'_>,
    nonce: &[u8],
    secret: &[u8; SECRET_LEN],
) -> Vec<u8> {
    let mut buffer = Vec::with_capacity(SECRET_LEN + TAG_LEN);
    buffer.extend_from_slice(secret);
    let aad = header.associated_data();
    let sealed = match header.cipher {
        CipherAlgorithm::XChaCha20Poly1305 => {
            let cipher = XChaCha20Poly1305::new((&*derived.key).into());
            cipher.encrypt_in_place(nonce.try_into().expect("nonce length"), &aad, &mut buffer)
        }
        CipherAlgorithm::ChaCha20Poly1305 => {
            let cipher = ChaCha20Poly1305::new((&*derived.key).into());
            cipher.encrypt_in_place(nonce.try_into().expect("nonce length"), &aad, &mut buffer)
        }
    };
    // The buffer was sized for secret + tag, so it never reallocates (leaving a copy behind)
    // and encryption of 32 bytes cannot fail.
    sealed.expect("encrypting 32 bytes into a sized buffer cannot fail");
    buffer
}

/// Decrypts and authenticates; `None` when the tag does not verify.
pub(crate) fn decrypt(
    derived: &Derived,
    header: &Header<'_>,
    nonce: &[u8],
    ciphertext: &[u8],
) -> Option<Zeroizing<[u8; SECRET_LEN]>> {
    if nonce.len() != header.cipher.nonce_len() || ciphertext.len() != SECRET_LEN + TAG_LEN {
        return None;
    }
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    let aad = header.associated_data();
    let opened = match header.cipher {
        CipherAlgorithm::XChaCha20Poly1305 => XChaCha20Poly1305::new((&*derived.key).into())
            .decrypt_in_place(nonce.try_into().ok()?, &aad, &mut *buffer),
        CipherAlgorithm::ChaCha20Poly1305 => ChaCha20Poly1305::new((&*derived.key).into())
            .decrypt_in_place(nonce.try_into().ok()?, &aad, &mut *buffer),
    };
    opened.ok()?;
    let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
    secret.copy_from_slice(&buffer[..SECRET_LEN]);
    Some(secret)
}

/// Fills a buffer from the OS random number generator.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| KeystoreError::Random {
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdf_bounds() {
        assert!(KdfParams::DEFAULT.validate().is_ok());
        assert!(KdfParams::INSECURE_FAST.validate().is_ok());
        for bad in [
            KdfParams {
                m_cost_kib: 7,
                ..KdfParams::INSECURE_FAST
            },
            KdfParams {
                m_cost_kib: M_COST_KIB_MAX + 1,
                ..KdfParams::DEFAULT
            },
            KdfParams {
                t_cost: 0,
                ..KdfParams::DEFAULT
            },
            KdfParams {
                t_cost: T_COST_MAX + 1,
                ..KdfParams::DEFAULT
            },
            KdfParams {
                p_cost: 0,
                ..KdfParams::DEFAULT
            },
            KdfParams {
                p_cost: 2,
                m_cost_kib: 15,
                t_cost: 1,
            },
        ] {
            assert!(
                matches!(bad.validate(), Err(KeystoreError::InvalidKdfParams { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn associated_data_differs_per_field() {
        let pk = [7u8; 32];
        let base = Header {
            name: "alice",
            kind: KeyKind::Cold,
            public_key: &pk,
            cipher: CipherAlgorithm::XChaCha20Poly1305,
        };
        let other_pk = [8u8; 32];
        let variants = [
            Header {
                name: "alicf",
                ..base
            },
            Header {
                kind: KeyKind::Hot,
                ..base
            },
            Header {
                public_key: &other_pk,
                ..base
            },
            Header {
                cipher: CipherAlgorithm::ChaCha20Poly1305,
                ..base
            },
        ];
        for v in &variants {
            assert_ne!(v.associated_data(), base.associated_data());
        }
    }

    #[test]
    fn seal_open_both_ciphers() {
        let salt = [1u8; SALT_LEN];
        let derived = derive(b"pw", &salt, KdfParams::INSECURE_FAST).unwrap();
        let secret = [42u8; SECRET_LEN];
        for cipher in [
            CipherAlgorithm::XChaCha20Poly1305,
            CipherAlgorithm::ChaCha20Poly1305,
        ] {
            let header = Header {
                name: "k",
                kind: KeyKind::Hot,
                public_key: &[0; 32],
                cipher,
            };
            let nonce = vec![9u8; cipher.nonce_len()];
            let ct = encrypt(&derived, &header, &nonce, &secret);
            assert_eq!(ct.len(), SECRET_LEN + TAG_LEN);
            assert_ne!(&ct[..SECRET_LEN], &secret[..]);
            assert_eq!(*decrypt(&derived, &header, &nonce, &ct).unwrap(), secret);
            let mut bad = ct.clone();
            bad[0] ^= 1;
            assert!(decrypt(&derived, &header, &nonce, &bad).is_none());
        }
    }

    #[test]
    fn derivation_depends_on_password_and_salt() {
        let p = KdfParams::INSECURE_FAST;
        let a = derive(b"pw", &[1; SALT_LEN], p).unwrap();
        let b = derive(b"pw2", &[1; SALT_LEN], p).unwrap();
        let c = derive(b"pw", &[2; SALT_LEN], p).unwrap();
        assert_ne!(a.check, b.check);
        assert_ne!(a.check, c.check);
        assert_ne!(*a.key, *b.key);
        assert_eq!(a.check, derive(b"pw", &[1; SALT_LEN], p).unwrap().check);
    }
}
