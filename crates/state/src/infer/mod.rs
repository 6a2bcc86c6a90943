//! Verified inference on chain: the model registry and the bonded inference market, with
//! cairn-dispute's k-ary fraud-proof game run by the state machine itself.
//!
//! ```text
//! RequestInference ─► Requested ──PostResult──► Served ──window closes, none open──► Settled
//!   (payment escrowed;   │ result window          │  ▲                                owner: price
//!    optional provider)  ▼                 Challenge │ provider wins: challenger's     provider: rest + bond
//!                     Expired (refund)             ▼  │ bond to the provider
//!                                               Disputed (any number of disputes, in parallel)
//!                                                  │ a challenger wins
//!                                                  ▼
//!                                               Refuted: challenger gets both bonds, client refunded,
//!                                               other open disputes cancelled (bonds returned)
//! ```
//!
//! - A model's id is bound to its registrant ([cairn_types::infer::model_id]): anyone may
//!   register the same graph under their own id and price; nobody can squat another's.
//! - A client may name the provider ([cairn_types::Action::RequestInference]): then nobody else
//!   can post (copy) the result.
//! - Bonds are at least the payment ([cairn_types::infer::bond_min]).
//! - Challenges are never capped and run in parallel, each its own dispute record keyed by
//!   (request, index): a provider's Sybils cannot take every slot and lose on purpose, so a
//!   wrong result cannot settle while an honest challenger is willing to dispute it within
//!   the window. A result settles only once its window closed and no dispute is open.
//!
//! The chain derives the input's tensor root from the input bytes the request carries and
//! each claimed output's tensor root from the output bytes posted, and checks both claims'
//! output roots under their execution roots before a dispute opens. A dispute is stored as
//! its opening data plus the accepted moves (with their heights); the game state is rebuilt
//! by replaying them with [cairn_dispute::Dispute], which reads no clock and no float.
//! Timeouts are claimed by the chain itself at end of block: silence past a deadline loses.

mod game;
mod market;
mod records;
mod settle;

pub use game::dispute_game;
pub use records::{
    DISPUTE_MOVES_MAX, DisputeEnd, DisputeRecord, DisputeVerdict, Inference, InferenceStatus,
    Model, ModelStatus, PostedClaim,
};

pub(crate) use market::model_deposit;

use crate::state::State;
use cairn_types::Amount;
use cairn_types::task::BlobHash;

impl State {
    pub fn model(&self, id: &BlobHash) -> Option<Model> {
        self.models.get(id).cloned()
    }

    /// Every registered model, by id.
    pub fn models(&self) -> Vec<Model> {
        self.models.values().cloned().collect()
    }

    pub fn inference(&self, id: u64) -> Option<Inference> {
        self.inferences.get(&id).cloned()
    }

    /// Requests with id ≥ `from`, at most `limit`, by id.
    pub fn inferences(&self, from: u64, limit: usize) -> Vec<Inference> {
        self.inferences
            .range(from..)
            .take(limit)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Dispute `index` over request `request`.
    pub fn dispute(&self, request: u64, index: u32) -> Option<DisputeRecord> {
        self.disputes.get(&(request, index)).cloned()
    }

    /// Every dispute over request `request`, by index.
    pub fn disputes_of(&self, request: u64) -> Vec<DisputeRecord> {
        self.disputes
            .range((request, 0)..=(request, u32::MAX))
            .map(|(_, d)| d.clone())
            .collect()
    }

    /// (deadline, id) of every live request, by deadline: what end-block looks at.
    pub fn live_inference_deadlines(&self) -> Vec<(u64, u64)> {
        self.inference_deadlines.iter().copied().collect()
    }

    /// The id the next request gets.
    pub fn next_inference_id(&self) -> u64 {
        self.inferences
            .keys()
            .next_back()
            .map_or(1, |id| id.saturating_add(1))
    }

    /// Tokens held by live inference requests (escrowed payments and bonds).
    pub fn inference_funds(&self) -> Option<Amount> {
        // Only live requests hold anything: walk the live index, not every request.
        self.inference_deadlines
            .iter()
            .try_fold(0u64, |acc, (_, id)| {
                acc.checked_add(self.inferences.get(id)?.held()?)
            })
    }

    /// Blob deposits held by registered models.
    pub fn model_deposits(&self) -> Option<Amount> {
        self.models
            .values()
            .try_fold(0u64, |acc, m| acc.checked_add(m.deposit))
    }
}
