//! Cairn's data types and their deterministic binary encoding.
//!
//! Everything that crosses a process boundary or enters a hash is defined here, encoded with
//! `commonware-codec` (canonical, length-bounded), so every node computes the same bytes.

pub mod block;
pub mod genesis;
pub mod infer;
pub mod limits;
pub mod sig_cache;
pub mod task;
pub mod tx;

pub use block::{Block, BlockContext, Evidence, EvidenceKind};
pub use commonware_cryptography::ed25519::{PrivateKey, PublicKey, Signature};
pub use commonware_cryptography::sha256::Digest;
pub use genesis::{Genesis, GenesisAccount, GenesisError, GenesisValidator, Params};
pub use infer::{Lineage, ModelRegistration};
pub use sig_cache::SignatureCache;
pub use task::{AggregationRule, BlobHash, Role, TaskSpec, score_commitment};
pub use tx::{Action, SignedTx, Transaction, TxDecodeError};

/// Account identifier: the account's ed25519 public key.
pub type Address = PublicKey;

/// Amounts of the native token, in its smallest unit.
pub type Amount = u64;

/// Domain separator for transaction signatures (prefixed by the chain id in the signed bytes).
pub const TX_NAMESPACE: &[u8] = b"_CAIRN_TX";

/// Domain separator of a validator's proof of possession of its consensus key.
pub const VALIDATOR_POP_NAMESPACE: &[u8] = b"_CAIRN_VALIDATOR_POP";

/// What a consensus key signs (under [VALIDATOR_POP_NAMESPACE]) to prove that the account
/// `operator` may register it as a validator.
pub fn validator_pop_message(operator: &Address) -> Vec<u8> {
    use commonware_codec::Encode;
    operator.encode().to_vec()
}

/// Signs the proof of possession of `consensus` for `operator`.
pub fn sign_validator_pop(consensus: &PrivateKey, operator: &Address) -> Signature {
    use commonware_cryptography::Signer;
    consensus.sign(VALIDATOR_POP_NAMESPACE, &validator_pop_message(operator))
}

/// Whether `pop` proves possession of `consensus` for `operator`.
pub fn verify_validator_pop(consensus: &PublicKey, operator: &Address, pop: &Signature) -> bool {
    use commonware_cryptography::Verifier;
    consensus.verify(
        VALIDATOR_POP_NAMESPACE,
        &validator_pop_message(operator),
        pop,
    )
}

/// Domain separator of a hot key's consent to be linked to a cold account.
pub const HOT_KEY_LINK_NAMESPACE: &[u8] = b"_CAIRN_HOT_KEY_LINK";

/// What a hot key signs (under [HOT_KEY_LINK_NAMESPACE]) to consent to act for `cold` on
/// chain `chain_id`: the chain id is inside, so a consent is valid on one chain only.
pub fn hot_key_link_message(chain_id: &str, cold: &Address) -> Vec<u8> {
    use commonware_codec::Encode;
    let mut message = chain_id.as_bytes().to_vec();
    message.push(0);
    message.extend_from_slice(&cold.encode());
    message
}

/// Signs `hot`'s consent to be linked to `cold` on `chain_id`.
pub fn sign_hot_key_link(hot: &PrivateKey, chain_id: &str, cold: &Address) -> Signature {
    use commonware_cryptography::Signer;
    hot.sign(HOT_KEY_LINK_NAMESPACE, &hot_key_link_message(chain_id, cold))
}

/// Whether `proof` is `hot`'s consent to be linked to `cold` on `chain_id`.
pub fn verify_hot_key_link(
    hot: &PublicKey,
    chain_id: &str,
    cold: &Address,
    proof: &Signature,
) -> bool {
    use commonware_cryptography::Verifier;
    hot.verify(
        HOT_KEY_LINK_NAMESPACE,
        &hot_key_link_message(chain_id, cold),
        proof,
    )
}

/// Whether `key` is a public key someone can hold: the canonical encoding of a point of the
/// prime-order subgroup. Decoding accepts any point (ZIP-215), including small-order ones
/// for which anyone can forge a signature, and non-canonical encodings; an account, hot key
/// or consensus key must be none of those, or tokens sent to it are anyone's or no one's.
pub fn is_valid_public_key(key: &PublicKey) -> bool {
    use curve25519_dalek::edwards::CompressedEdwardsY;
    let Ok(bytes) = <[u8; 32]>::try_from(key.as_ref()) else {
        return false;
    };
    let Some(point) = CompressedEdwardsY(bytes).decompress() else {
        return false;
    };
    point.compress().to_bytes() == bytes && !point.is_small_order() && point.is_torsion_free()
}

/// Hashes the given parts with SHA-256 (the chain's digest function).
pub fn sha256(parts: &[&[u8]]) -> Digest {
    use commonware_cryptography::{Hasher, Sha256};
    Sha256::hash(parts)
}

/// Lower-case hex of any byte string (how keys and digests are shown to users).
pub fn to_hex(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(bytes)
}

/// Parses a hex public key (64 hex characters), as users type them.
pub fn parse_public_key(text: &str) -> Result<PublicKey, String> {
    use commonware_codec::DecodeExt;
    let text = text.trim().trim_start_matches("0x");
    let bytes = hex::decode(text).map_err(|e| format!("'{text}' is not hex: {e}"))?;
    PublicKey::decode(bytes)
        .map_err(|e| format!("'{text}' is not a 32-byte ed25519 public key: {e}"))
}

/// Parses a hex SHA-256 digest (64 hex characters).
pub fn parse_digest(text: &str) -> Result<Digest, String> {
    use commonware_codec::DecodeExt;
    let text = text.trim().trim_start_matches("0x");
    let bytes = hex::decode(text).map_err(|e| format!("'{text}' is not hex: {e}"))?;
    Digest::decode(bytes).map_err(|e| format!("'{text}' is not a 32-byte digest: {e}"))
}
