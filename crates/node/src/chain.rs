//! What one node knows of the chain: the finalized state, post-states of notarized-but-not-yet-
//! finalized blocks (so proposals and votes can build on them), the mempool, receipts and
//! pending equivocation evidence. Shared by the application, finalizer, evidence reporter and
//! RPC backend behind one mutex; no lock is held across an await.

use crate::mempool::Mempool;
use cairn_state::{Receipt, State};
use cairn_types::{Block, Digest, Evidence, PublicKey};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Most recent finalized blocks kept in memory for RPC (older ones are read from marshal's archive).
pub const RECENT_BLOCKS_MAX: usize = 1_024;
/// Most receipts kept in memory for `cairn_getTxReceipt`.
pub const RECEIPTS_MAX: usize = 1_000_000;

/// Locking the node's shared [Chain].
pub trait LockChain {
    /// The chain, locked. Nothing that holds the lock panics on outside input (the state turns
    /// even a panic while checking a transaction into a refusal), so a poisoned lock means a
    /// bug already broke the node while it was changing the chain: continuing could act on a
    /// half-updated chain, so the node stops loudly instead.
    fn locked(&self) -> std::sync::MutexGuard<'_, Chain>;
}

impl LockChain for std::sync::Mutex<Chain> {
    // Reviewed: see the trait's documentation.
    #[allow(clippy::expect_used)]
    fn locked(&self) -> std::sync::MutexGuard<'_, Chain> {
        self.lock()
            .expect("chain lock poisoned: a panic happened while the chain was being changed")
    }
}

/// A block's post-state and receipts, as this node computed them.
pub struct Executed {
    pub state: Arc<State>,
    pub receipts: Vec<Receipt>,
}

/// A finalized transaction's receipt with the block that holds it.
#[derive(Clone, Debug)]
pub struct FinalizedReceipt {
    pub receipt: Receipt,
    pub block_hash: Digest,
}

pub struct Chain {
    pub chain_id: String,
    pub node_key: PublicKey,
    finalized: Arc<State>,
    finalized_hash: Digest,
    /// Every block this node executed above the finalized tip, by block digest.
    speculative: BTreeMap<Digest, Arc<Executed>>,
    pub mempool: Mempool,
    receipts: BTreeMap<Digest, FinalizedReceipt>,
    receipt_order: std::collections::VecDeque<Digest>,
    recent_blocks: BTreeMap<u64, Arc<Block>>,
    hash_to_height: BTreeMap<Digest, u64>,
    evidence_pool: BTreeMap<(PublicKey, u64, u64), Evidence>,
    /// Transactions admitted from clients, waiting to be gossiped.
    pub outbox: Vec<cairn_types::SignedTx>,
    /// Highest finalized height announced by marshal (may run ahead of what we executed).
    pub network_tip: u64,
}

impl Chain {
    pub fn new(node_key: PublicKey, state: State, tip_hash: Digest) -> Self {
        Chain {
            chain_id: state.chain_id().to_string(),
            node_key,
            finalized: Arc::new(state),
            finalized_hash: tip_hash,
            speculative: BTreeMap::new(),
            mempool: Mempool::default(),
            receipts: BTreeMap::new(),
            receipt_order: Default::default(),
            recent_blocks: BTreeMap::new(),
            hash_to_height: BTreeMap::new(),
            evidence_pool: BTreeMap::new(),
            outbox: Vec::new(),
            network_tip: 0,
        }
    }

    pub fn finalized(&self) -> Arc<State> {
        self.finalized.clone()
    }

    pub fn finalized_height(&self) -> u64 {
        self.finalized.height()
    }

    pub fn finalized_hash(&self) -> Digest {
        self.finalized_hash
    }

    /// Post-state after `digest`, if this node executed that block (or it is the finalized tip).
    pub fn state_after(&self, digest: &Digest) -> Option<Arc<State>> {
        if *digest == self.finalized_hash {
            return Some(self.finalized.clone());
        }
        self.speculative.get(digest).map(|e| e.state.clone())
    }

    /// What this node computed for block `digest`, if it executed it.
    pub fn executed(&self, digest: &Digest) -> Option<Arc<Executed>> {
        self.speculative.get(digest).cloned()
    }

    pub fn remember(&mut self, digest: Digest, executed: Executed) {
        if executed.state.height() > self.finalized.height() {
            self.speculative.insert(digest, Arc::new(executed));
        }
    }

    /// Records `block` as finalized with its post-state and receipts.
    pub fn finalize(&mut self, block: Arc<Block>, state: Arc<State>, receipts: Vec<Receipt>) {
        let hash = block.hash();
        let height = block.height;
        self.mempool.prune(&state, &block.txs);
        // Evidence is spent once its offender is jailed (punished once, then out of the set).
        self.evidence_pool
            .retain(|(offender, _, _), _| state.validator(offender).is_some_and(|v| !v.jailed));
        self.index_receipts(hash, receipts);
        self.hash_to_height.insert(hash, height);
        self.recent_blocks.insert(height, block);
        while self.recent_blocks.len() > RECENT_BLOCKS_MAX {
            self.recent_blocks.pop_first();
        }
        self.speculative.retain(|_, e| e.state.height() > height);
        self.finalized = state;
        self.finalized_hash = hash;
        self.network_tip = self.network_tip.max(height);
    }

    /// Validates and admits a client's transaction, queueing it for gossip.
    pub fn submit(
        &mut self,
        tx: cairn_types::SignedTx,
    ) -> Result<Digest, crate::mempool::AdmitError> {
        let state = self.finalized.clone();
        let hash = self.mempool.admit(&state, tx.clone())?;
        self.outbox.push(tx);
        Ok(hash)
    }

    fn index_receipts(&mut self, block_hash: Digest, receipts: Vec<Receipt>) {
        for receipt in receipts {
            let tx_hash = receipt.tx_hash;
            if self
                .receipts
                .insert(
                    tx_hash,
                    FinalizedReceipt {
                        receipt,
                        block_hash,
                    },
                )
                .is_none()
            {
                self.receipt_order.push_back(tx_hash);
            }
            if self.receipt_order.len() > RECEIPTS_MAX
                && let Some(old) = self.receipt_order.pop_front()
            {
                self.receipts.remove(&old);
            }
        }
    }

    /// Indexes the receipts of an already-applied finalized block read back from the archive
    /// (after a restart the in-memory index starts empty). The fields come from the block;
    /// `account` (the cold account a hot key acted for) is resolved against the current state.
    pub fn reindex(&mut self, block: &Block) {
        let hash = block.hash();
        let receipts = block
            .txs
            .iter()
            .enumerate()
            .map(|(index, tx)| Receipt {
                tx_hash: tx.hash(),
                height: block.height,
                index: index as u32,
                signer: tx.tx.signer.clone(),
                account: self
                    .finalized
                    .hot_key_owner(&tx.tx.signer)
                    .unwrap_or_else(|| tx.tx.signer.clone()),
                action: tx.tx.action.name(),
                fee: tx.tx.fee,
            })
            .collect();
        self.index_receipts(hash, receipts);
        self.hash_to_height.insert(hash, block.height);
    }

    pub fn receipt(&self, tx_hash: &Digest) -> Option<FinalizedReceipt> {
        self.receipts.get(tx_hash).cloned()
    }

    pub fn recent_block(&self, height: u64) -> Option<Arc<Block>> {
        self.recent_blocks.get(&height).cloned()
    }

    pub fn height_of(&self, hash: &Digest) -> Option<u64> {
        self.hash_to_height.get(hash).copied()
    }

    /// Queues verified equivocation evidence for inclusion, unless already slashed.
    pub fn add_evidence(&mut self, evidence: Evidence) {
        let jailed = self
            .finalized
            .validator(&evidence.offender)
            .is_none_or(|v| v.jailed);
        if !jailed {
            let key = (evidence.offender.clone(), evidence.epoch, evidence.view);
            self.evidence_pool.entry(key).or_insert(evidence);
        }
    }

    pub fn has_pending_evidence(&self) -> bool {
        !self.evidence_pool.is_empty()
    }

    /// Evidence from `epoch` waiting for a block; evidence from earlier epochs is dropped (a
    /// block carries only its own epoch's, which every node can verify).
    pub fn pending_evidence(&mut self, epoch: u64) -> Vec<Evidence> {
        self.evidence_pool.retain(|(_, e, _), _| *e >= epoch);
        self.evidence_pool
            .values()
            .filter(|e| e.epoch == epoch)
            .cloned()
            .collect()
    }
}
