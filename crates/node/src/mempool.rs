//! Pending transactions, validated against the latest finalized state before they are admitted
//! (and before they are gossiped), bounded in count per node and per signer.

use cairn_state::{State, TxError};
use cairn_types::{Digest, PublicKey, SignedTx};
use commonware_codec::EncodeSize;
use std::collections::BTreeMap;

/// Most transactions held at once; beyond it new ones are refused until blocks drain the pool.
pub const MEMPOOL_TXS_MAX: usize = 100_000;
/// Most pending transactions from one signer (a gap-free nonce run).
pub const MEMPOOL_TXS_PER_SIGNER_MAX: u64 = 1_024;

/// Why the mempool refused a transaction.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    #[error(transparent)]
    Invalid(#[from] TxError),
    #[error("transaction {0} is already pending")]
    Duplicate(String),
    #[error("mempool is full ({max} transactions); retry after the next block")]
    Full { max: usize },
    #[error("signer already has {max} pending transactions; wait for some to finalize")]
    SignerFull { max: u64 },
}

#[derive(Default)]
pub struct Mempool {
    by_sender: BTreeMap<(PublicKey, u64), SignedTx>,
    by_hash: BTreeMap<Digest, (PublicKey, u64)>,
}

impl Mempool {
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    pub fn contains(&self, hash: &Digest) -> bool {
        self.by_hash.contains_key(hash)
    }

    fn pending_from(&self, signer: &PublicKey) -> u64 {
        self.by_sender
            .range((signer.clone(), 0)..=(signer.clone(), u64::MAX))
            .count() as u64
    }

    /// Validates `tx` against `state` (the latest finalized state) and admits it.
    ///
    /// A nonce ahead of the account's is accepted only when it continues the signer's pending
    /// run without a gap, so every admitted transaction can become valid.
    pub fn admit(&mut self, state: &State, tx: SignedTx) -> Result<Digest, AdmitError> {
        let hash = tx.hash();
        if self.by_hash.contains_key(&hash) {
            return Err(AdmitError::Duplicate(cairn_types::to_hex(hash)));
        }
        if self.by_hash.len() >= MEMPOOL_TXS_MAX {
            return Err(AdmitError::Full { max: MEMPOOL_TXS_MAX });
        }
        let signer = tx.tx.signer.clone();
        let pending = self.pending_from(&signer);
        match state.check_tx(&tx) {
            Ok(()) => {}
            Err(TxError::FutureNonce { expected, got, .. }) if got == expected + pending => {}
            Err(err) => return Err(err.into()),
        }
        if pending >= MEMPOOL_TXS_PER_SIGNER_MAX {
            return Err(AdmitError::SignerFull { max: MEMPOOL_TXS_PER_SIGNER_MAX });
        }
        if self.by_sender.contains_key(&(signer.clone(), tx.tx.nonce)) {
            // Same signer and nonce, different bytes: first one wins (no fee-bumping yet).
            return Err(AdmitError::Duplicate(cairn_types::to_hex(hash)));
        }
        self.by_hash.insert(hash, (signer.clone(), tx.tx.nonce));
        self.by_sender.insert((signer, tx.tx.nonce), tx);
        Ok(hash)
    }

    /// Candidates for a block, signer by signer in key order and nonce order, up to `max_txs`
    /// and `max_bytes`. The proposer still executes each one and drops those that fail.
    pub fn candidates(&self, max_txs: usize, max_bytes: usize) -> Vec<SignedTx> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for tx in self.by_sender.values() {
            let size = tx.encode_size();
            if out.len() >= max_txs || bytes + size > max_bytes {
                break;
            }
            bytes += size;
            out.push(tx.clone());
        }
        out
    }

    /// Drops transactions a finalized block included, and any whose nonce is now stale.
    pub fn prune(&mut self, state: &State, included: &[SignedTx]) {
        for tx in included {
            if let Some(key) = self.by_hash.remove(&tx.hash()) {
                self.by_sender.remove(&key);
            }
        }
        let stale: Vec<(PublicKey, u64)> = self
            .by_sender
            .keys()
            .filter(|(signer, nonce)| {
                state.account(signer).is_some_and(|account| *nonce < account.nonce)
            })
            .cloned()
            .collect();
        for key in stale {
            if let Some(tx) = self.by_sender.remove(&key) {
                self.by_hash.remove(&tx.hash());
            }
        }
    }
}
