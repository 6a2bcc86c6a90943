//! The marshal [Application]: builds blocks from the mempool on top of any notarized parent and
//! verifies peers' blocks by re-executing them. Both paths recover the parent's post-state from
//! the speculative cache, or by re-executing the missing ancestors above the finalized tip.

use crate::chain::LockChain;
use crate::{
    Scheme,
    chain::{Chain, Executed},
    epochs::EpochSchemes,
    evidence,
};
use cairn_state::State;
use cairn_types::PublicKey;
use cairn_types::{Block, BlockContext, Evidence, SignedTx, limits};
use commonware_consensus::{
    Application, Epochable,
    marshal::ancestry::Ancestry,
    simplex::elector::{Config as ElectorConfig, Elector as _, RoundRobin},
    types::{Round, View},
};
use commonware_cryptography::Digested;
use commonware_cryptography::Sha256;
use commonware_runtime::Clock;
use commonware_utils::ordered::Set;
use futures::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};
use tracing::{debug, warn};

/// Most transactions a proposer puts in one block (below the protocol's hard limit).
pub const PROPOSAL_TXS_MAX: usize = 5_000;
/// Most evidence items a proposer includes.
pub const PROPOSAL_EVIDENCE_MAX: usize = 16;
/// Shortest gap a leader leaves after its parent's timestamp when work is waiting.
pub const BLOCK_INTERVAL_MIN: Duration = Duration::from_millis(100);
/// Longest a leader waits for transactions before proposing an empty block (well under the
/// consensus leader timeout, so an idle chain still makes progress and never nullifies).
pub const BLOCK_INTERVAL_IDLE: Duration = Duration::from_millis(1_000);
const PACING_POLL: Duration = Duration::from_millis(5);

fn millis(runtime: &impl Clock) -> u64 {
    runtime
        .current()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Clone)]
pub struct App {
    pub chain: Arc<Mutex<Chain>>,
    /// Each epoch's validator set: evidence is verified against its own epoch's.
    pub schemes: EpochSchemes,
}

/// The elected leader of every view `context`'s round skipped since its parent's (views
/// consensus nullified for want of a block), at most `MISSED_SLOTS_PER_BLOCK_MAX`. Derived from
/// the block alone and the set its epoch runs (`parent`'s active set), with the elector the
/// engines use, so every node charges the same validators.
pub fn missed_leaders(parent: &State, context: &BlockContext) -> Vec<PublicKey> {
    let participants: Set<PublicKey> =
        Set::from_iter_dedup(parent.active_validator_set().into_iter().map(|(k, _)| k));
    if participants.is_empty() {
        return Vec::new();
    }
    let elector =
        <RoundRobin<Sha256> as ElectorConfig<Scheme>>::build(RoundRobin::default(), &participants);
    let epoch = context.round.epoch();
    let (from, to) = (
        context.parent.0.get().saturating_add(1),
        context.round.view().get(),
    );
    (from..to)
        .take(cairn_state::MISSED_SLOTS_PER_BLOCK_MAX)
        .filter_map(|view| {
            let leader = elector.elect(Round::new(epoch, View::new(view)), ());
            participants.iter().nth(leader.get() as usize).cloned()
        })
        .collect()
}

/// Re-executes `block` on `parent_state`, returning its post-state when the block is valid.
pub fn execute(
    parent_state: &State,
    block: &Block,
) -> Result<(State, Vec<cairn_state::Receipt>), String> {
    let mut state = parent_state.clone();
    let missed = missed_leaders(parent_state, &block.context);
    let receipts = state
        .execute_block_with_misses(
            block.height,
            &block.context.leader,
            &missed,
            &block.txs,
            &block.evidence,
        )
        .map_err(|e| format!("block {} at height {}: {e}", block.hash(), block.height))?;
    if state.root() != block.state_root {
        return Err(format!(
            "block {} at height {} claims state root {} but execution gives {}",
            block.hash(),
            block.height,
            block.state_root,
            state.root()
        ));
    }
    Ok((state, receipts))
}

impl App {
    /// Waits until a block is due: `BLOCK_INTERVAL_MIN` after the parent when transactions or
    /// evidence wait, else `BLOCK_INTERVAL_IDLE` (an idle chain makes ~1 block/s, not hundreds).
    async fn pace(&self, runtime: &impl Clock, parent_timestamp_ms: u64) {
        let min_ms = BLOCK_INTERVAL_MIN.as_millis() as u64;
        let idle_ms = BLOCK_INTERVAL_IDLE.as_millis() as u64;
        loop {
            let elapsed = millis(runtime).saturating_sub(parent_timestamp_ms);
            let busy = {
                let chain = self.chain.locked();
                !chain.mempool.is_empty() || chain.has_pending_evidence()
            };
            if elapsed >= idle_ms || (busy && elapsed >= min_ms) {
                return;
            }
            runtime.sleep(PACING_POLL).await;
        }
    }

    /// The post-state of the first block of `ancestry`, executing any ancestors this node has not.
    async fn state_at(&self, mut ancestry: impl Ancestry<Block>) -> Option<Arc<State>> {
        let mut pending: Vec<Digested<Block>> = Vec::new();
        let base = loop {
            let block = ancestry.next().await?;
            let digest = block.inner().hash();
            {
                let chain = self.chain.locked();
                if let Some(state) = chain.state_after(&digest) {
                    break state;
                }
                if block.inner().height <= chain.finalized_height() {
                    // Below the finalized tip but not on it: a dead fork.
                    debug!(
                        height = block.inner().height,
                        "ancestor is not on the finalized chain"
                    );
                    return None;
                }
            }
            pending.push(block);
        };
        let mut state = base;
        while let Some(block) = pending.pop() {
            match execute(&state, block.inner()) {
                Ok((next, receipts)) => {
                    let next = Arc::new(next);
                    let executed = Executed {
                        state: next.clone(),
                        receipts,
                    };
                    self.chain.locked().remember(block.inner().hash(), executed);
                    state = next;
                }
                Err(err) => {
                    warn!(%err, "ancestor failed re-execution");
                    return None;
                }
            }
        }
        Some(state)
    }

    /// Chooses transactions that execute on `parent` and returns the block's post-state.
    fn build(
        &self,
        parent: &State,
        context: &BlockContext,
        height: u64,
    ) -> (Executed, Vec<SignedTx>, Vec<Evidence>) {
        let (candidates, mut evidence) = {
            let mut chain = self.chain.locked();
            (
                chain
                    .mempool
                    .candidates(PROPOSAL_TXS_MAX, limits::BLOCK_SIZE_MAX_BYTES / 2),
                // A block carries evidence of its own epoch only (see `verify`).
                chain.pending_evidence(context.epoch().get()),
            )
        };
        // One item per offender, and none against a validator already jailed for a fault:
        // equivocation is punished once, then the validator is out of the set.
        let mut offenders = std::collections::BTreeSet::new();
        evidence.retain(|e| {
            parent.validator(&e.offender).is_some_and(|v| !v.jailed)
                && offenders.insert(e.offender.clone())
        });
        evidence.truncate(PROPOSAL_EVIDENCE_MAX);
        let proposer = &context.leader;
        // Greedy selection: keep each tx that applies on top of the ones already kept.
        let mut scratch = parent.clone();
        let mut txs = Vec::with_capacity(candidates.len());
        for tx in candidates {
            let index = u32::try_from(txs.len()).unwrap_or(u32::MAX);
            match scratch.apply_tx(&tx, proposer, height, index) {
                Ok(_) => txs.push(tx),
                Err(err @ cairn_state::TxError::Internal { .. }) => {
                    // A bug reached by an outside transaction: dropped, but never quietly.
                    tracing::error!(tx = %cairn_types::to_hex(tx.hash()), %err, "transaction hit an internal fault");
                }
                Err(_) => {}
            }
        }
        // Evidence is applied before the txs (slashing touches bonds, not balances, so the
        // selection above stands). A rejected block leaves `state` untouched, so fall back to
        // the block without evidence, then to an empty one.
        let mut state = parent.clone();
        let missed = missed_leaders(parent, context);
        for attempt in 0..3 {
            let (try_txs, try_evidence): (&[SignedTx], &[Evidence]) = match attempt {
                0 => (&txs, &evidence),
                1 => (&txs, &[]),
                _ => (&[], &[]),
            };
            match state.execute_block_with_misses(height, proposer, &missed, try_txs, try_evidence)
            {
                Ok(receipts) => {
                    let executed = Executed {
                        state: Arc::new(state),
                        receipts,
                    };
                    return match attempt {
                        0 => (executed, txs, evidence),
                        1 => (executed, txs, Vec::new()),
                        _ => (executed, Vec::new(), Vec::new()),
                    };
                }
                Err(err) => warn!(%err, "candidate block failed to execute; trying a smaller one"),
            }
        }
        // An empty block always executes on a valid parent state; if even it did not, a local
        // invariant is broken (the parent was already accepted): stop loudly.
        crate::fault::fatal("an empty block failed to execute on a verified parent state")
    }
}

impl<E> Application<E> for App
where
    E: Clock + rand_core::CryptoRng + Send + 'static,
{
    type SigningScheme = Scheme;
    type Context = BlockContext;
    type Block = Block;
    type Input = ();

    async fn propose(
        &mut self,
        (runtime, context): (E, BlockContext),
        ancestry: impl Ancestry<Block>,
        _input: (),
    ) -> Option<Digested<Block>> {
        let parent = ancestry.peek()?.clone();
        self.pace(&runtime, parent.inner().timestamp_ms).await;
        let parent_state = self.state_at(ancestry).await?;
        let height = parent.inner().height.checked_add(1)?;
        let (executed, txs, evidence) = self.build(&parent_state, &context, height);
        // Never go backwards, even if this node's clock does.
        let timestamp_ms = millis(&runtime).max(parent.inner().timestamp_ms);
        let block = Block::new(
            context,
            parent.inner().hash(),
            height,
            timestamp_ms,
            executed.state.root(),
            txs,
            evidence,
        );
        let digest = block.hash();
        self.chain.locked().remember(digest, executed);
        debug!(height, txs = block.txs.len(), "proposed block");
        Some(Digested::precomputed(block, digest))
    }

    async fn verify(
        &mut self,
        (mut runtime, context): (E, BlockContext),
        mut ancestry: impl Ancestry<Block>,
    ) -> bool {
        let Some(block) = ancestry.next().await else {
            return false;
        };
        let block = block.inner();
        if block.context != context {
            warn!(
                height = block.height,
                "block context differs from the consensus context"
            );
            return false;
        }
        if let Some(parent) = ancestry.peek()
            && block.timestamp_ms < parent.inner().timestamp_ms
        {
            warn!(
                height = block.height,
                "block timestamp precedes its parent's"
            );
            return false;
        }
        for item in &block.evidence {
            if let Err(err) =
                evidence::verify_in_epoch(&self.schemes, item, context.epoch().get(), &mut runtime)
            {
                warn!(%err, "block carries invalid evidence");
                return false;
            }
        }
        let Some(parent_state) = self.state_at(ancestry).await else {
            return false;
        };
        match execute(&parent_state, block) {
            Ok((state, receipts)) => {
                let executed = Executed {
                    state: Arc::new(state),
                    receipts,
                };
                self.chain.locked().remember(block.hash(), executed);
                true
            }
            Err(err) => {
                warn!(%err, "rejecting block");
                false
            }
        }
    }
}
