//! How requests end: disputes resolved (by a move or a timeout), results settled after their
//! challenge window, unanswered requests expired, and the fallback that unwinds a request
//! which cannot be advanced. Also the scheduling of each request's next due height.

use crate::error::{InferError, TxError};
use crate::infer::game::{dispute_game, err, reason_text};
use crate::infer::{
    DisputeEnd, DisputeRecord, DisputeVerdict, Inference, InferenceStatus, ModelStatus,
};
use crate::state::State;
use cairn_dispute::{Dispute, Outcome, Reason, Side};
use cairn_types::Address;

fn overflow(what: &'static str) -> TxError {
    TxError::Overflow { what }
}

impl State {
    /// Dispute `d` over request `i`, rebuilt by replaying every recorded move.
    pub(crate) fn replay(
        &self,
        i: &Inference,
        d: &DisputeRecord,
    ) -> Result<(Dispute, Address, Address), TxError> {
        let model = &self.known_model(&i.model)?.registration;
        dispute_game(model, i, d).map_err(|reason| {
            err(InferError::Replay {
                request: i.id,
                reason,
            })
        })
    }

    /// The open disputes over `request`, by index.
    pub(crate) fn open_disputes_of(&self, request: u64) -> impl Iterator<Item = &DisputeRecord> {
        self.disputes
            .range((request, 0)..=(request, u32::MAX))
            .map(|(_, d)| d)
            .filter(|d| d.is_open())
    }

    /// Sets request `request`'s next due height: the earliest move deadline of its open
    /// disputes, or the end of its challenge window when none is open.
    pub(crate) fn reschedule(&mut self, request: u64) -> Result<(), TxError> {
        let next = self.open_disputes_of(request).map(|d| d.deadline).min();
        let mut i = self.known_request(request)?.clone();
        i.deadline = next.unwrap_or(i.window_end);
        self.put_inference(i);
        Ok(())
    }

    /// Ends dispute `d` with `outcome` and pays it out: the loser's bond goes to the winner.
    /// A challenger's win refutes the result: the client is refunded and every other open
    /// dispute over it is cancelled with its bond returned.
    pub(crate) fn end_dispute(
        &mut self,
        mut d: DisputeRecord,
        outcome: &Outcome,
        height: u64,
    ) -> Result<(), TxError> {
        let request = d.request;
        let mut i = self.known_request(request)?.clone();
        let result = i.result.clone().ok_or(overflow("dispute without a result"))?;
        let bond = d.challenge.bond;
        let provider_won = outcome.winner == Side::Provider;
        d.end = Some(DisputeEnd {
            verdict: if provider_won {
                DisputeVerdict::ProviderWon
            } else {
                DisputeVerdict::ChallengerWon
            },
            reason: reason_text(&outcome.reason),
            height,
            slashed: outcome.slashed,
        });
        d.deadline = height;
        let challenger = d.challenge.account.clone();
        let index = d.index;
        self.put_dispute(d);
        i.open_disputes = i.open_disputes.checked_sub(1).ok_or(overflow("open disputes"))?;
        i.challenge_bonds = i
            .challenge_bonds
            .checked_sub(bond)
            .ok_or(overflow("challenge bonds"))?;
        if provider_won {
            self.credit(&result.account, bond)?;
            if i.open_disputes == 0 {
                i.status = InferenceStatus::Served;
            }
            self.put_inference(i);
            return self.reschedule(request);
        }
        let payout = bond
            .checked_add(result.bond)
            .ok_or(overflow("challenger payout"))?;
        self.credit(&challenger, payout)?;
        self.credit(&i.client, i.payment)?;
        let why = format!("the result was refuted in dispute {index}");
        self.cancel_open_disputes(&mut i, &why, height)?;
        i.status = InferenceStatus::Refuted;
        i.deadline = height;
        let model_id = i.model;
        self.put_inference(i);
        let mut model = self.known_model(&model_id)?.clone();
        model.refuted = model.refuted.saturating_add(1);
        if let Some(reason) = invalid_model_reason(outcome) {
            // The registration itself was proven impossible: its deposit rewards the proof.
            self.credit(&challenger, model.deposit)?;
            model.deposit = 0;
            model.status = ModelStatus::Invalid { at: height, reason };
        }
        self.put_model(model);
        Ok(())
    }

    /// Closes every open dispute over `i` without a winner and returns its bond.
    fn cancel_open_disputes(
        &mut self,
        i: &mut Inference,
        reason: &str,
        height: u64,
    ) -> Result<(), TxError> {
        let open: Vec<DisputeRecord> = self.open_disputes_of(i.id).cloned().collect();
        for mut d in open {
            self.credit(&d.challenge.account, d.challenge.bond)?;
            i.challenge_bonds = i
                .challenge_bonds
                .checked_sub(d.challenge.bond)
                .ok_or(overflow("challenge bonds"))?;
            d.end = Some(DisputeEnd {
                verdict: DisputeVerdict::Cancelled,
                reason: reason.to_string(),
                height,
                slashed: 0,
            });
            d.deadline = height;
            self.put_dispute(d);
        }
        i.open_disputes = 0;
        Ok(())
    }

    /// Expires unanswered requests, resolves disputes whose side to move ran out of time, and
    /// settles results whose challenge window closed with no dispute open.
    pub(crate) fn end_block_inference(&mut self, height: u64) -> Result<(), TxError> {
        let due: Vec<u64> = self
            .inference_deadlines
            .range(..(height, 0))
            .map(|(_, id)| *id)
            .collect();
        for id in due {
            let mark = self.journal_mark();
            if self.advance_inference(id, height).is_err() {
                // Never halt the chain over one request: undo its partial writes and unwind
                // it (everyone gets back what they escrowed). Only if even that fails is the
                // error the block's.
                self.rollback_to(mark);
                self.unwind(id, height)?;
            }
        }
        Ok(())
    }

    fn advance_inference(&mut self, id: u64, height: u64) -> Result<(), TxError> {
        let i = self.known_request(id)?.clone();
        match i.status {
            InferenceStatus::Requested => {
                self.credit(&i.client, i.payment)?;
                let mut i = i;
                i.status = InferenceStatus::Expired;
                i.deadline = height;
                self.put_inference(i);
                Ok(())
            }
            InferenceStatus::Served | InferenceStatus::Disputed => {
                self.claim_timeouts(id, height)?;
                let i = self.known_request(id)?.clone();
                if i.status == InferenceStatus::Served && i.window_end < height {
                    self.settle(i, height)
                } else {
                    Ok(())
                }
            }
            InferenceStatus::Settled | InferenceStatus::Refuted | InferenceStatus::Expired => {
                Ok(())
            }
        }
    }

    /// Ends, against the side to move, every open dispute over `id` whose deadline passed.
    fn claim_timeouts(&mut self, id: u64, height: u64) -> Result<(), TxError> {
        let late: Vec<DisputeRecord> = self
            .open_disputes_of(id)
            .filter(|d| d.deadline < height)
            .cloned()
            .collect();
        for d in late {
            let i = self.known_request(id)?;
            if i.status == InferenceStatus::Refuted {
                break;
            }
            let (mut game, _, _) = self.replay(i, &d)?;
            let outcome = *game.claim_timeout(height).map_err(|e| {
                err(InferError::Replay {
                    request: id,
                    reason: e.to_string(),
                })
            })?;
            self.end_dispute(d, &outcome, height)?;
        }
        Ok(())
    }

    /// Returns every escrowed amount of request `id` to whoever posted it and ends it as
    /// expired (the fallback when a due request cannot be advanced normally).
    fn unwind(&mut self, id: u64, height: u64) -> Result<(), TxError> {
        let mut i = self.known_request(id)?.clone();
        self.credit(&i.client, i.payment)?;
        if let Some(r) = &i.result {
            self.credit(&r.account, r.bond)?;
        }
        self.cancel_open_disputes(&mut i, "the request was unwound", height)?;
        i.status = InferenceStatus::Expired;
        i.deadline = height;
        self.put_inference(i);
        Ok(())
    }

    /// The result stood through its challenge window: the owner gets the price, the provider
    /// the rest of the payment and its bond back.
    fn settle(&mut self, mut i: Inference, height: u64) -> Result<(), TxError> {
        let result = i.result.clone().ok_or(overflow("settled without a result"))?;
        let mut model = self.known_model(&i.model)?.clone();
        let fee = i.payment.checked_sub(i.price).ok_or(overflow("provider fee"))?;
        self.credit(&model.owner, i.price)?;
        let payout = fee.checked_add(result.bond).ok_or(overflow("provider payout"))?;
        self.credit(&result.account, payout)?;
        model.served = model.served.saturating_add(1);
        self.put_model(model);
        i.status = InferenceStatus::Settled;
        i.deadline = height;
        self.put_inference(i);
        Ok(())
    }
}

/// When `outcome` proves the registration invalid (a header or channel under the model root
/// that no valid graph has), why.
fn invalid_model_reason(outcome: &Outcome) -> Option<String> {
    match outcome.reason {
        Reason::InvalidModel { .. } => Some(reason_text(&outcome.reason)),
        Reason::Timeout
        | Reason::InputMismatch
        | Reason::StepMismatch { .. }
        | Reason::StepConsistent { .. } => None,
    }
}
