//! Remembers which transactions' signatures verified, keyed by transaction hash (which covers
//! the signature bytes), so a node checks each signature once, at mempool admission, instead
//! of again when it builds, re-executes and finalizes the block.
//!
//! Determinism: the cache only stores `true` outcomes of the pure check
//! [SignedTx::verify_signature]; a hit returns exactly what a fresh check would. It holds no
//! state that reaches the state root.

use crate::{Digest, SignedTx};
use std::collections::BTreeSet;
use std::sync::Mutex;

/// Most remembered signatures; the cache is emptied when it reaches this size.
pub const SIGNATURE_CACHE_ENTRIES_MAX: usize = 1 << 20;

#[derive(Default)]
pub struct SignatureCache {
    verified: Mutex<BTreeSet<Digest>>,
}

impl std::fmt::Debug for SignatureCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.verified.lock().map(|s| s.len()).unwrap_or(0);
        f.debug_struct("SignatureCache")
            .field("entries", &len)
            .finish()
    }
}

impl SignatureCache {
    /// Whether `tx`'s signature is valid, from memory when this cache saw it verify before.
    pub fn verify(&self, tx: &SignedTx) -> bool {
        let hash = tx.hash();
        // A poisoned lock only means another thread panicked while holding it; the set of
        // hashes it guards is always valid (inserts are single calls).
        let lock = || self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if lock().contains(&hash) {
            return true;
        }
        let valid = tx.verify_signature();
        if valid {
            let mut set = lock();
            if set.len() >= SIGNATURE_CACHE_ENTRIES_MAX {
                set.clear();
            }
            set.insert(hash);
        }
        valid
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, PrivateKey, Transaction};
    use commonware_cryptography::Signer;

    fn tx(seed: u64) -> SignedTx {
        let key = PrivateKey::from_seed(seed);
        Transaction {
            chain_id: "c".into(),
            signer: key.public_key(),
            nonce: 0,
            fee: 1,
            action: Action::Transfer {
                to: key.public_key(),
                amount: 1,
            },
        }
        .sign(&key)
    }

    #[test]
    fn cached_answers_match_fresh_checks() {
        let cache = SignatureCache::default();
        let good = tx(1);
        let mut forged = tx(2);
        forged.signature = good.signature.clone();
        for _ in 0..2 {
            assert!(cache.verify(&good));
            assert!(
                !cache.verify(&forged),
                "a forged signature must never be cached as valid"
            );
        }
    }
}
