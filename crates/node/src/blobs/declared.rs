//! [`ChainDeclared`]: the node's [`DeclaredBlobs`], read from the finalized ledger
//! ([`State::declared_blobs`](cairn_state::State::declared_blobs)) and the transactions waiting
//! in the mempool ([`State::blobs_declared_by`](cairn_state::State::blobs_declared_by)).

use super::DeclaredBlobs;
use crate::chain::Chain;
use cairn_blobs::BlobId;
use cairn_state::State;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

/// What the chain declares. The finalized ledger's declarations are computed once per
/// finalized state (a walk over every task and model) and reused until the next block; the
/// mempool is read at each question, under the chain lock, stopping at the first match.
pub struct ChainDeclared {
    chain: Arc<Mutex<Chain>>,
    cache: Mutex<Option<Finalized>>,
}

/// The finalized state a cache entry was computed from, and its declarations.
struct Finalized {
    state: Arc<State>,
    declared: Arc<BTreeMap<[u8; 32], u64>>,
}

impl ChainDeclared {
    pub fn new(chain: Arc<Mutex<Chain>>) -> Self {
        Self {
            chain,
            cache: Mutex::new(None),
        }
    }

    /// The finalized state's declarations, from the cache when the state is unchanged.
    fn finalized(&self, state: &Arc<State>) -> Arc<BTreeMap<[u8; 32], u64>> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(hit) = cache.as_ref().filter(|c| Arc::ptr_eq(&c.state, state)) {
            return hit.declared.clone();
        }
        let declared = Arc::new(state.declared_blobs());
        *cache = Some(Finalized {
            state: state.clone(),
            declared: declared.clone(),
        });
        declared
    }
}

impl DeclaredBlobs for ChainDeclared {
    fn declared_size(&self, id: BlobId) -> Option<u64> {
        let hash: [u8; 32] = id.into();
        let chain = self.chain.lock().unwrap_or_else(PoisonError::into_inner);
        let state = chain.finalized();
        let finalized = self.finalized(&state).get(&hash).copied();
        let pending = chain
            .mempool
            .pending()
            .flat_map(|tx| state.blobs_declared_by(&tx.tx.action))
            .filter(|(declared, _)| *declared == hash)
            .map(|(_, bound)| bound)
            .max();
        finalized.max(pending)
    }

    fn declared(&self) -> BTreeSet<BlobId> {
        let chain = self.chain.lock().unwrap_or_else(PoisonError::into_inner);
        let state = chain.finalized();
        let mut all: BTreeSet<BlobId> = self
            .finalized(&state)
            .keys()
            .map(|hash| BlobId::from(*hash))
            .collect();
        for tx in chain.mempool.pending() {
            let named = state.blobs_declared_by(&tx.tx.action);
            all.extend(named.into_iter().map(|(hash, _)| BlobId::from(hash)));
        }
        all
    }
}
