//! Block execution: evidence (slashing), transactions, then end-block (matured unbondings,
//! task phase deadlines and the epoch boundary). All or nothing: any error rolls the whole block back.

use crate::entry::{Liveness, Receipt};
use crate::error::BlockError;
use crate::state::State;
use cairn_types::{Evidence, PublicKey, SignedTx, limits};

/// Basis points in one whole.
pub(crate) const BPS_ONE: u128 = 10_000;
/// Most skipped views one block may charge (a long outage is charged a bounded amount).
pub const MISSED_SLOTS_PER_BLOCK_MAX: usize = 1_024;
/// A validator is jailed for inactivity at an epoch's last block when it missed at least this
/// many leader slots in the epoch, and at least half the slots an always-absent validator
/// would have missed (`epoch_length / (2 · set size)`): down for about half the epoch or more.
pub const INACTIVITY_MISSED_MIN: u64 = 3;

pub(crate) fn overflow(what: &'static str) -> BlockError {
    BlockError::Overflow { what }
}

impl State {
    /// Executes the block at `height` (must be `self.height() + 1`): slashes for each evidence
    /// item, applies every transaction in order, then releases matured unbondings and, at an
    /// epoch boundary, fixes the next active validator set. On `Err` the state is exactly as
    /// before the call.
    pub fn execute_block(
        &mut self,
        height: u64,
        proposer: &PublicKey,
        txs: &[SignedTx],
        evidence: &[Evidence],
    ) -> Result<Vec<Receipt>, BlockError> {
        self.execute_block_with_misses(height, proposer, &[], txs, evidence)
    }

    /// [State::execute_block] for a block whose round skipped views since its parent's:
    /// `missed` holds the elected leader of each skipped view of the block's epoch (one entry
    /// per view, at most [MISSED_SLOTS_PER_BLOCK_MAX]). Each counts against that validator's
    /// liveness; the epoch's last block jails those that missed too many (see
    /// [INACTIVITY_MISSED_MIN]).
    pub fn execute_block_with_misses(
        &mut self,
        height: u64,
        proposer: &PublicKey,
        missed: &[PublicKey],
        txs: &[SignedTx],
        evidence: &[Evidence],
    ) -> Result<Vec<Receipt>, BlockError> {
        if missed.len() > MISSED_SLOTS_PER_BLOCK_MAX {
            return Err(BlockError::TooManyMissedSlots {
                count: missed.len(),
                max: MISSED_SLOTS_PER_BLOCK_MAX,
            });
        }
        let expected = self.meta.height.checked_add(1).ok_or(overflow("height"))?;
        if height != expected {
            return Err(BlockError::WrongHeight {
                expected,
                got: height,
            });
        }
        if txs.len() > limits::BLOCK_TXS_MAX {
            return Err(BlockError::TooManyTxs {
                count: txs.len(),
                max: limits::BLOCK_TXS_MAX,
            });
        }
        if evidence.len() > limits::BLOCK_EVIDENCE_MAX {
            let max = limits::BLOCK_EVIDENCE_MAX;
            return Err(BlockError::TooMuchEvidence {
                count: evidence.len(),
                max,
            });
        }
        self.journal_clear();
        self.in_block = true;
        self.record_missed_slots(missed);
        let result = self.execute_block_inner(height, proposer, txs, evidence);
        self.in_block = false;
        if result.is_err() {
            self.rollback_to(0);
        }
        self.journal_clear();
        result
    }

    fn execute_block_inner(
        &mut self,
        height: u64,
        proposer: &PublicKey,
        txs: &[SignedTx],
        evidence: &[Evidence],
    ) -> Result<Vec<Receipt>, BlockError> {
        for item in evidence {
            self.slash(item, height)?;
        }
        let mut receipts = Vec::with_capacity(txs.len());
        for (position, tx) in txs.iter().enumerate() {
            // Fits: txs.len() <= BLOCK_TXS_MAX, checked by the caller.
            let index = u32::try_from(position).map_err(|_| overflow("tx index"))?;
            let receipt = self
                .apply_tx(tx, proposer, height, index)
                .map_err(|error| BlockError::InvalidTx { index, error })?;
            receipts.push(receipt);
        }
        self.end_block(height)?;
        Ok(receipts)
    }

    /// Charges one missed slot to each active validator in `missed`.
    fn record_missed_slots(&mut self, missed: &[PublicKey]) {
        for key in missed {
            if !self.active_set.iter().any(|(k, _)| k == key) {
                continue;
            }
            let mut liveness = self.liveness.get(key).cloned().unwrap_or_default();
            liveness.missed = liveness.missed.saturating_add(1);
            self.put_liveness(key.clone(), liveness);
        }
    }

    /// At the epoch's last block: jails the active validators that missed too many slots (at
    /// most a third of the set, the most absent first, so the rest stays a quorum) and starts
    /// every count afresh for the next epoch.
    fn jail_inactive(&mut self, height: u64) {
        let size = self.active_set.len() as u64;
        let threshold =
            INACTIVITY_MISSED_MIN.max(self.params.epoch_length_blocks / (2 * size.max(1)));
        let mut absent: Vec<(u32, PublicKey)> = self
            .liveness
            .iter()
            .filter(|(key, l)| {
                u64::from(l.missed) >= threshold && self.active_set.iter().any(|(k, _)| k == *key)
            })
            .map(|(key, l)| (l.missed, key.clone()))
            .collect();
        absent.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        absent.truncate((size.saturating_sub(1) / 3) as usize);
        for (_, key) in &absent {
            let Some(mut validator) = self.validators.get(key).cloned() else {
                continue;
            };
            if validator.jailed {
                continue;
            }
            validator.jailed = true;
            self.put_validator(validator);
            let liveness = self.liveness.get(key).cloned().unwrap_or_default();
            self.put_liveness(
                key.clone(),
                Liveness {
                    jailed_at: Some(height),
                    ..liveness
                },
            );
        }
        let counted: Vec<(PublicKey, Liveness)> = self
            .liveness
            .iter()
            .filter(|(_, l)| l.missed > 0)
            .map(|(k, l)| (k.clone(), l.clone()))
            .collect();
        for (key, liveness) in counted {
            self.put_liveness(
                key,
                Liveness {
                    missed: 0,
                    ..liveness
                },
            );
        }
    }

    /// Releases unbondings that mature at or before `height`, fixes the next epoch's active set
    /// when `height` ends an epoch, and records the new height.
    fn end_block(&mut self, height: u64) -> Result<(), BlockError> {
        let matured: Vec<_> = self
            .unbondings
            .iter()
            .take_while(|((matures_at, _, _, _), _)| *matures_at <= height)
            .map(|(k, a)| (k.clone(), *a))
            .collect();
        for (key, amount) in matured {
            self.credit(&key.1, amount)
                .map_err(|_| overflow("balance"))?;
            self.put_unbonding(key, 0);
        }
        self.end_block_tasks(height).map_err(BlockError::Tasks)?;
        self.end_block_inference(height)
            .map_err(BlockError::Inference)?;
        let mut meta = self.meta.clone();
        meta.height = height;
        // The last block of epoch e (height (e+1)·L − 1, commonware's `FixedEpocher`) fixes
        // the set that runs consensus for epoch e+1: the node hands it to that epoch's engine
        // as soon as this block is finalized.
        if let Some(next) = next_epoch_after(height, self.params.epoch_length_blocks) {
            self.jail_inactive(height);
            let set = self.compute_validator_set();
            self.set_active_set(set);
            meta.epoch = next;
        }
        self.set_meta(meta);
        Ok(())
    }
}

/// The epoch that starts after block `height` when `height` is the last block of its epoch
/// (epochs of `epoch_length` blocks from height 0, as commonware's `FixedEpocher` counts them).
pub fn next_epoch_after(height: u64, epoch_length: u64) -> Option<u64> {
    // epoch_length >= 2: checked by genesis validation and snapshot decoding.
    let next = height.checked_add(1)?;
    next.is_multiple_of(epoch_length.max(1))
        .then(|| next / epoch_length.max(1))
}

/// The epoch whose validator set the state holds after block `height`: the epoch of the next
/// block.
pub fn epoch_after(height: u64, epoch_length: u64) -> u64 {
    height.saturating_add(1) / epoch_length.max(1)
}
