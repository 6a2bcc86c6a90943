//! Pending transactions, validated against the latest finalized state before they are admitted
//! (and before they are gossiped), bounded in count per node and per signer.
//!
//! Block candidates come in arrival order (first admitted, first proposed), never in key
//! order: ordering by signer key would let anyone win every same-block race (a challenge, a
//! trainer slot, a first result) by grinding a key that sorts first. What a proposer saw first
//! is its own view and cannot be checked by others; it is documented in docs/SECURITY.md.

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
    /// Each pending tx with its arrival number.
    by_sender: BTreeMap<(PublicKey, u64), (u64, SignedTx)>,
    by_hash: BTreeMap<Digest, (PublicKey, u64)>,
    /// Arrival number → (signer, nonce): the proposal order.
    arrivals: BTreeMap<u64, (PublicKey, u64)>,
    /// The next arrival number.
    arrived: u64,
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
            return Err(AdmitError::Full {
                max: MEMPOOL_TXS_MAX,
            });
        }
        let signer = tx.tx.signer.clone();
        let pending = self.pending_from(&signer);
        match state.check_tx(&tx) {
            Ok(()) => {}
            Err(TxError::FutureNonce { expected, got, .. })
                if Some(got) == expected.checked_add(pending) => {}
            Err(err @ TxError::Internal { .. }) => {
                // A bug reached by an outside transaction: refused, but never quietly.
                tracing::error!(tx = %cairn_types::to_hex(hash), %err, "transaction hit an internal fault");
                return Err(err.into());
            }
            Err(err) => return Err(err.into()),
        }
        if pending >= MEMPOOL_TXS_PER_SIGNER_MAX {
            return Err(AdmitError::SignerFull {
                max: MEMPOOL_TXS_PER_SIGNER_MAX,
            });
        }
        if self.by_sender.contains_key(&(signer.clone(), tx.tx.nonce)) {
            // Same signer and nonce, different bytes: first one wins (no fee-bumping yet).
            return Err(AdmitError::Duplicate(cairn_types::to_hex(hash)));
        }
        let key = (signer, tx.tx.nonce);
        let arrival = self.arrived;
        self.arrived = self.arrived.saturating_add(1);
        self.by_hash.insert(hash, key.clone());
        self.arrivals.insert(arrival, key.clone());
        self.by_sender.insert(key, (arrival, tx));
        Ok(hash)
    }

    /// Every pending transaction (read-only: the blob policy asks which blobs pending
    /// transactions declare).
    pub fn pending(&self) -> impl Iterator<Item = &SignedTx> {
        self.by_sender.values().map(|(_, tx)| tx)
    }

    /// Candidates for a block in arrival order, up to `max_txs` and `max_bytes`; a signer's
    /// transactions stay in nonce order (one that arrived before its predecessor waits for a
    /// later block). The proposer still executes each one and drops those that fail.
    pub fn candidates(&self, max_txs: usize, max_bytes: usize) -> Vec<SignedTx> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        // Each signer's next nonce to propose: its lowest pending one.
        let mut next: BTreeMap<&PublicKey, u64> = BTreeMap::new();
        for (signer, nonce) in self.by_sender.keys() {
            next.entry(signer).or_insert(*nonce);
        }
        for (signer, nonce) in self.arrivals.values() {
            let Some((_, tx)) = self.by_sender.get(&(signer.clone(), *nonce)) else {
                continue;
            };
            if next.get(signer) != Some(nonce) {
                continue;
            }
            let size = tx.encode_size();
            let within = bytes.checked_add(size).filter(|b| *b <= max_bytes);
            let Some(total) = within.filter(|_| out.len() < max_txs) else {
                break;
            };
            bytes = total;
            next.insert(signer, nonce.saturating_add(1));
            out.push(tx.clone());
        }
        out
    }

    /// Forgets the pending tx of `key`.
    fn remove(&mut self, key: &(PublicKey, u64)) {
        if let Some((arrival, tx)) = self.by_sender.remove(key) {
            self.by_hash.remove(&tx.hash());
            self.arrivals.remove(&arrival);
        }
    }

    /// Drops transactions a finalized block included, any whose nonce is now stale, and every
    /// signer's pending run whose next transaction no longer validates against `state` (say,
    /// a task action whose phase has closed): nothing queued behind it could execute, and
    /// keeping it would block the signer's nonce forever.
    pub fn prune(&mut self, state: &State, included: &[SignedTx]) {
        for tx in included {
            if let Some(key) = self.by_hash.get(&tx.hash()).cloned() {
                self.remove(&key);
            }
        }
        let stale: Vec<(PublicKey, u64)> = self
            .by_sender
            .keys()
            .filter(|(signer, nonce)| {
                state
                    .account(signer)
                    .is_some_and(|account| *nonce < account.nonce)
            })
            .cloned()
            .collect();
        for key in stale {
            self.remove(&key);
        }
        let mut dead: Vec<(PublicKey, u64)> = Vec::new();
        let mut previous: Option<&PublicKey> = None;
        let mut dead_signer = false;
        for ((signer, nonce), (_, tx)) in &self.by_sender {
            if previous != Some(signer) {
                previous = Some(signer);
                dead_signer = state.check_tx(tx).is_err();
            }
            if dead_signer {
                dead.push((signer.clone(), *nonce));
            }
        }
        for key in dead {
            self.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_types::{
        Action, Genesis, GenesisAccount, GenesisValidator, Params, PrivateKey, Transaction, to_hex,
    };
    use commonware_cryptography::Signer;

    fn key(seed: u64) -> PrivateKey {
        PrivateKey::from_seed(seed)
    }

    fn state() -> State {
        State::from_genesis(&Genesis {
            chain_id: "mp".into(),
            genesis_time_ms: 0,
            accounts: (1..4)
                .map(|i| GenesisAccount {
                    address: to_hex(key(i).public_key()),
                    balance: 1_000_000,
                })
                .collect(),
            validators: vec![GenesisValidator {
                consensus_key: to_hex(key(100).public_key()),
                operator: to_hex(key(1).public_key()),
                stake: 10_000,
                moniker: String::new(),
            }],
            params: Params::default(),
        })
        .unwrap()
    }

    fn tx(seed: u64, nonce: u64) -> SignedTx {
        Transaction {
            chain_id: "mp".into(),
            signer: key(seed).public_key(),
            nonce,
            fee: 1,
            action: Action::Transfer {
                to: key(9).public_key(),
                amount: 1,
            },
        }
        .sign(&key(seed))
    }

    #[test]
    fn contiguous_nonce_runs_are_admitted_and_gaps_refused() {
        let state = state();
        let mut pool = Mempool::default();
        pool.admit(&state, tx(1, 0)).unwrap();
        pool.admit(&state, tx(1, 1)).unwrap();
        let gap = pool.admit(&state, tx(1, 3)).unwrap_err();
        assert!(
            matches!(
                gap,
                AdmitError::Invalid(TxError::FutureNonce {
                    expected: 0,
                    got: 3,
                    ..
                })
            ),
            "{gap}"
        );
        assert_eq!(pool.len(), 2);
    }

    #[test]
    fn duplicates_and_invalid_transactions_are_refused() {
        let state = state();
        let mut pool = Mempool::default();
        pool.admit(&state, tx(2, 0)).unwrap();
        assert!(matches!(
            pool.admit(&state, tx(2, 0)),
            Err(AdmitError::Duplicate(_))
        ));
        let mut forged = tx(3, 0);
        forged.signature = tx(2, 1).signature;
        assert!(matches!(
            pool.admit(&state, forged),
            Err(AdmitError::Invalid(TxError::BadSignature { .. }))
        ));
        assert!(matches!(
            pool.admit(&state, tx(50, 0)),
            Err(AdmitError::Invalid(TxError::UnknownAccount { .. }))
        ));
        assert_eq!(pool.len(), 1, "refusals leave the pool as it was");
    }

    #[test]
    fn one_signer_cannot_fill_the_pool() {
        let state = state();
        let mut pool = Mempool::default();
        for nonce in 0..MEMPOOL_TXS_PER_SIGNER_MAX {
            pool.admit(&state, tx(1, nonce)).unwrap();
        }
        let full = pool
            .admit(&state, tx(1, MEMPOOL_TXS_PER_SIGNER_MAX))
            .unwrap_err();
        assert!(matches!(full, AdmitError::SignerFull { .. }), "{full}");
        pool.admit(&state, tx(2, 0))
            .expect("other signers still get in");
    }

    #[test]
    fn candidates_follow_nonce_order_and_prune_drops_included_and_stale() {
        let mut state = state();
        let mut pool = Mempool::default();
        for nonce in 0..3 {
            pool.admit(&state, tx(1, nonce)).unwrap();
        }
        pool.admit(&state, tx(2, 0)).unwrap();
        let picked = pool.candidates(10, usize::MAX);
        let nonces: Vec<u64> = picked
            .iter()
            .filter(|t| t.tx.signer == key(1).public_key())
            .map(|t| t.tx.nonce)
            .collect();
        assert_eq!(nonces, vec![0, 1, 2]);
        assert_eq!(pool.candidates(2, usize::MAX).len(), 2, "count limit");

        // Signer 1's first two finalize; signer 2's tx is made stale by another with nonce 0.
        let proposer = key(100).public_key();
        let included = vec![tx(1, 0), tx(1, 1)];
        let mut other = tx(2, 0);
        other.tx.fee = 2;
        let other = Transaction { ..other.tx }.sign(&key(2));
        let mut block = included.clone();
        block.push(other);
        state.execute_block(1, &proposer, &block, &[]).unwrap();
        pool.prune(&state, &included);
        let left: Vec<(u64, u64)> = pool
            .candidates(10, usize::MAX)
            .iter()
            .map(|t| {
                (
                    if t.tx.signer == key(1).public_key() {
                        1
                    } else {
                        2
                    },
                    t.tx.nonce,
                )
            })
            .collect();
        assert_eq!(left, vec![(1, 2)]);
    }

    #[test]
    fn candidates_follow_arrival_order_not_signer_keys() {
        let state = state();
        let mut pool = Mempool::default();
        // Signer 3 arrives first, then 1, then 3 again and 2: whatever their keys' order.
        for (seed, nonce) in [(3, 0), (1, 0), (3, 1), (2, 0), (1, 1)] {
            pool.admit(&state, tx(seed, nonce)).unwrap();
        }
        let order: Vec<(PublicKey, u64)> = pool
            .candidates(10, usize::MAX)
            .iter()
            .map(|t| (t.tx.signer.clone(), t.tx.nonce))
            .collect();
        let expected: Vec<(PublicKey, u64)> = [(3, 0), (1, 0), (3, 1), (2, 0), (1, 1)]
            .iter()
            .map(|(seed, nonce)| (key(*seed).public_key(), *nonce))
            .collect();
        assert_eq!(order, expected);
        assert_eq!(pool.candidates(2, usize::MAX).len(), 2);
    }

    #[test]
    fn prune_drops_a_signer_run_whose_next_transaction_became_invalid() {
        let mut state = state();
        let mut pool = Mempool::default();
        // Signer 2 queues a transfer it can afford now, then spends its balance elsewhere
        // (a block from another node): the queued run can never execute.
        let costly = |nonce| {
            Transaction {
                chain_id: "mp".into(),
                signer: key(2).public_key(),
                nonce,
                fee: 1,
                action: Action::Transfer {
                    to: key(9).public_key(),
                    amount: 900_000,
                },
            }
            .sign(&key(2))
        };
        pool.admit(&state, costly(0)).unwrap();
        pool.admit(&state, tx(2, 1)).unwrap();
        pool.admit(&state, tx(3, 0)).unwrap();
        let elsewhere = Transaction {
            chain_id: "mp".into(),
            signer: key(2).public_key(),
            nonce: 0,
            fee: 1,
            action: Action::Transfer {
                to: key(8).public_key(),
                amount: 500_000,
            },
        }
        .sign(&key(2));
        // Same nonce, different bytes: it is not in the pool, so only the state sees it.
        state
            .execute_block(1, &key(100).public_key(), &[elsewhere], &[])
            .unwrap();
        // Signer 2's next nonce is 1 now; the pooled nonce-1 tx is valid: the run survives its
        // stale head. Make the head invalid instead: spend the rest.
        let drain = Transaction {
            chain_id: "mp".into(),
            signer: key(2).public_key(),
            nonce: 1,
            fee: 1,
            action: Action::Transfer {
                to: key(8).public_key(),
                amount: 499_998,
            },
        }
        .sign(&key(2));
        state
            .execute_block(2, &key(100).public_key(), &[drain], &[])
            .unwrap();
        pool.admit(&state, costly(2)).unwrap_err();
        pool.prune(&state, &[]);
        assert_eq!(pool.len(), 1, "only signer 3's transaction is left");
        assert!(pool.contains(&tx(3, 0).hash()));
    }
}
