//! The registry and market actions: validation (no writes) and execution.

use crate::error::{InferError, TxError};
use crate::infer::game::{as_i8, checked_claim, err, game_params};
use crate::infer::{
    DISPUTE_MOVES_MAX, DisputeRecord, Inference, InferenceStatus, Model, ModelStatus,
    PostedClaim,
};
use crate::state::State;
use cairn_dispute::{Dispute, Move, Side};
use cairn_types::infer::{self as limits, Lineage, ModelRegistration, bond_min, elements, model_id};
use cairn_types::task::BlobHash;
use cairn_types::{Action, Address, Amount, to_hex};

fn overflow(what: &'static str) -> TxError {
    TxError::Overflow { what }
}

/// The blob deposit a registration escrows.
pub(crate) fn model_deposit(r: &ModelRegistration) -> Result<Amount, TxError> {
    cairn_types::limits::blob_deposit(r.graph_bytes).ok_or(overflow("blob deposit"))
}

/// A challenge as posted: what [State::open_game] checks.
pub(crate) struct ChallengeArgs<'a> {
    pub output: &'a [u8],
    pub exec_root: &'a [u8; 32],
    pub output_proof: &'a [u8],
    pub k: u8,
    pub bond: Amount,
}

impl State {
    pub(crate) fn known_model(&self, id: &BlobHash) -> Result<&Model, TxError> {
        self.models
            .get(id)
            .ok_or_else(|| err(InferError::UnknownModel { model: to_hex(id) }))
    }

    pub(crate) fn known_request(&self, id: u64) -> Result<&Inference, TxError> {
        self.inferences
            .get(&id)
            .ok_or(err(InferError::UnknownRequest { request: id }))
    }

    fn check_bond(&self, bond: Amount, payment: Amount) -> Result<(), TxError> {
        let min = bond_min(payment);
        if bond < min {
            return Err(err(InferError::BondTooLow { bond, min }));
        }
        Ok(())
    }

    /// The checkpoint round `l.round` of task `l.task` recorded.
    pub(crate) fn lineage_checkpoint(&self, l: Lineage) -> Result<BlobHash, TxError> {
        let bad = |reason| {
            err(InferError::BadLineage {
                task: l.task,
                round: l.round,
                reason,
            })
        };
        if !self.tasks.contains_key(&l.task) {
            return Err(bad("the task does not exist"));
        }
        let record = self
            .round_records
            .get(&(l.task, l.round))
            .ok_or(bad("that round has no record"))?;
        record
            .checkpoint
            .ok_or(bad("that round closed without a checkpoint"))
    }

    /// Checks a registry or market action for `acting` at `height`; `Ok` means
    /// [State::execute_infer_action] succeeds unless arithmetic overflows.
    pub(crate) fn validate_infer_action(
        &self,
        acting: &Address,
        action: &Action,
        height: u64,
    ) -> Result<(), TxError> {
        match action {
            Action::RegisterModel { model } => self.check_register(acting, model),
            Action::RetireModel { model } => self.check_retire(acting, model).map(|_| ()),
            Action::RequestInference { model, input, payment, .. } => {
                self.check_request(model, input, *payment)
            }
            Action::PostResult {
                request,
                output,
                exec_root,
                output_proof,
                bond,
            } => {
                let i = self.check_post(acting, *request, *bond, height)?;
                let m = &self.known_model(&i.model)?.registration;
                checked_claim(m, output, exec_root, output_proof).map(|_| ())
            }
            Action::Challenge {
                request,
                output,
                exec_root,
                output_proof,
                k,
                bond,
            } => {
                let args = ChallengeArgs {
                    output,
                    exec_root,
                    output_proof,
                    k: *k,
                    bond: *bond,
                };
                self.open_game(acting, *request, &args, height).map(|_| ())
            }
            Action::DisputeMove {
                request,
                dispute,
                mv,
            } => self
                .judge_move(acting, *request, *dispute, mv, height)
                .map(|_| ()),
            _ => Ok(()),
        }
    }

    fn check_register(&self, acting: &Address, model: &ModelRegistration) -> Result<(), TxError> {
        model
            .validate()
            .map_err(|(field, reason)| err(InferError::InvalidModel { field, reason }))?;
        let id = model_id(acting, &model.graph);
        if self.models.contains_key(&id) {
            return Err(err(InferError::ModelExists { model: to_hex(id) }));
        }
        if self.models.len() >= crate::snapshot::SNAPSHOT_ENTRIES_MAX {
            return Err(err(InferError::Full { what: "models" }));
        }
        model_deposit(model)?;
        if let Some(l) = model.lineage {
            self.lineage_checkpoint(l)?;
        }
        Ok(())
    }

    fn check_retire(&self, acting: &Address, id: &BlobHash) -> Result<&Model, TxError> {
        let m = self.known_model(id)?;
        if m.owner != *acting {
            return Err(err(InferError::NotModelOwner {
                model: to_hex(id),
                owner: m.owner.clone(),
            }));
        }
        if !m.is_active() {
            return Err(err(InferError::ModelNotActive {
                model: to_hex(id),
                status: m.status.name(),
            }));
        }
        Ok(m)
    }

    fn check_request(&self, model: &BlobHash, input: &[u8], payment: Amount) -> Result<(), TxError> {
        let m = self.known_model(model)?;
        if !m.is_active() {
            return Err(err(InferError::ModelNotActive {
                model: to_hex(model),
                status: m.status.name(),
            }));
        }
        let m = &m.registration;
        let expected = elements(&m.input_shape);
        if u64::try_from(input.len()).ok() != Some(expected) {
            return Err(err(InferError::ShapeMismatch {
                what: "input",
                shape: m.input_shape.clone(),
                expected,
                got: input.len(),
            }));
        }
        if payment < m.price {
            return Err(err(InferError::PaymentBelowPrice {
                payment,
                price: m.price,
            }));
        }
        if self.inferences.len() >= crate::snapshot::SNAPSHOT_ENTRIES_MAX {
            return Err(err(InferError::Full {
                what: "inference requests",
            }));
        }
        Ok(())
    }

    /// Request `request` can take `acting`'s result with `bond` at `height`.
    fn check_post(
        &self,
        acting: &Address,
        request: u64,
        bond: Amount,
        height: u64,
    ) -> Result<&Inference, TxError> {
        let i = self.known_request(request)?;
        if i.status != InferenceStatus::Requested {
            return Err(err(InferError::WrongStatus {
                request,
                status: i.status.name(),
                needed: InferenceStatus::Requested.name(),
            }));
        }
        if height > i.deadline {
            return Err(err(InferError::WindowClosed {
                request,
                window: "result window",
                deadline: i.deadline,
            }));
        }
        if let Some(provider) = i.provider.as_ref().filter(|p| *p != acting) {
            return Err(err(InferError::NotAssignedProvider {
                request,
                provider: provider.clone(),
            }));
        }
        self.check_bond(bond, i.payment)?;
        Ok(i)
    }

    /// The dispute a challenge by `challenger` opens over `request`'s result (checked exactly
    /// as the chain will run it), with the challenge as it will be recorded.
    pub(crate) fn open_game(
        &self,
        challenger: &Address,
        request: u64,
        args: &ChallengeArgs<'_>,
        height: u64,
    ) -> Result<(Dispute, PostedClaim), TxError> {
        let i = self.known_request(request)?;
        if !matches!(i.status, InferenceStatus::Served | InferenceStatus::Disputed) {
            return Err(err(InferError::WrongStatus {
                request,
                status: i.status.name(),
                needed: "served or disputed",
            }));
        }
        if height > i.window_end {
            return Err(err(InferError::WindowClosed {
                request,
                window: "challenge window",
                deadline: i.window_end,
            }));
        }
        let result = i.result.as_ref().ok_or(overflow("served without a result"))?;
        if result.account == *challenger {
            return Err(err(InferError::SelfChallenge));
        }
        i.disputes.checked_add(1).ok_or(overflow("dispute count"))?;
        self.check_bond(args.bond, i.payment)?;
        let m = &self.known_model(&i.model)?.registration;
        let claim = checked_claim(m, args.output, args.exec_root, args.output_proof)?;
        let output_root = claim.output_root;
        let params = game_params(m, i, result, claim, args.k, args.bond, height)
            .map_err(|reason| err(InferError::Replay { request, reason }))?;
        let game = Dispute::open(params).map_err(|e| {
            err(InferError::InvalidChallenge {
                reason: e.to_string(),
            })
        })?;
        let posted = PostedClaim {
            account: challenger.clone(),
            output: args.output.to_vec(),
            exec_root: *args.exec_root,
            output_root,
            output_proof: args.output_proof.to_vec(),
            bond: args.bond,
            posted_at: height,
        };
        Ok((game, posted))
    }

    /// Open dispute `index` over `request`.
    pub(crate) fn open_dispute(&self, request: u64, index: u32) -> Result<&DisputeRecord, TxError> {
        let d = self
            .disputes
            .get(&(request, index))
            .ok_or(err(InferError::UnknownDispute {
                request,
                dispute: index,
            }))?;
        if !d.is_open() {
            return Err(err(InferError::DisputeClosed {
                request,
                dispute: index,
            }));
        }
        Ok(d)
    }

    /// Applies `acting`'s move to the replayed game; returns the game after it.
    fn judge_move(
        &self,
        acting: &Address,
        request: u64,
        index: u32,
        mv: &[u8],
        height: u64,
    ) -> Result<Dispute, TxError> {
        let d = self.open_dispute(request, index)?;
        let i = self.known_request(request)?;
        let (mut game, provider, challenger) = self.replay(i, d)?;
        let side = if *acting == provider {
            Side::Provider
        } else if *acting == challenger {
            Side::Challenger
        } else {
            return Err(err(InferError::NotAParty {
                request,
                account: acting.clone(),
            }));
        };
        if d.moves.len() >= DISPUTE_MOVES_MAX {
            return Err(err(InferError::BadMove {
                reason: format!("the dispute already holds {DISPUTE_MOVES_MAX} moves"),
            }));
        }
        let mv = Move::decode(mv).map_err(|e| {
            err(InferError::Malformed {
                what: "dispute move",
                reason: e.to_string(),
            })
        })?;
        game.apply(side, &mv, height).map_err(|e| {
            err(InferError::BadMove {
                reason: e.to_string(),
            })
        })?;
        Ok(game)
    }

    // ---- execution ----

    pub(crate) fn execute_infer_action(
        &mut self,
        acting: &Address,
        action: &Action,
        height: u64,
    ) -> Result<(), TxError> {
        match action {
            Action::RegisterModel { model } => self.register_model(acting, model, height),
            Action::RetireModel { model } => self.retire_model(acting, model, height),
            Action::RequestInference {
                model,
                input,
                payment,
                provider,
            } => self.request_inference(acting, model, input, *payment, provider, height),
            Action::PostResult {
                request,
                output,
                exec_root,
                output_proof,
                bond,
            } => {
                let mut i = self.check_post(acting, *request, *bond, height)?.clone();
                let m = self.known_model(&i.model)?.registration.clone();
                let claim = checked_claim(&m, output, exec_root, output_proof)?;
                self.debit(acting, *bond)?;
                i.result = Some(PostedClaim {
                    account: acting.clone(),
                    output: output.clone(),
                    exec_root: *exec_root,
                    output_root: claim.output_root,
                    output_proof: output_proof.clone(),
                    bond: *bond,
                    posted_at: height,
                });
                i.status = InferenceStatus::Served;
                i.window_end = height
                    .checked_add(limits::CHALLENGE_WINDOW_BLOCKS)
                    .ok_or(overflow("challenge deadline"))?;
                i.deadline = i.window_end;
                self.put_inference(i);
                Ok(())
            }
            Action::Challenge {
                request,
                output,
                exec_root,
                output_proof,
                k,
                bond,
            } => {
                let args = ChallengeArgs {
                    output,
                    exec_root,
                    output_proof,
                    k: *k,
                    bond: *bond,
                };
                self.challenge(acting, *request, &args, height)
            }
            Action::DisputeMove {
                request,
                dispute,
                mv,
            } => {
                let game = self.judge_move(acting, *request, *dispute, mv, height)?;
                let mut d = self.open_dispute(*request, *dispute)?.clone();
                d.moves.push((height, mv.clone()));
                match game.outcome().copied() {
                    Some(outcome) => self.end_dispute(d, &outcome, height),
                    None => {
                        d.deadline = game.deadline().ok_or(overflow("move deadline"))?;
                        self.put_dispute(d);
                        self.reschedule(*request)
                    }
                }
            }
            _ => Ok(()),
        }
    }

    fn register_model(
        &mut self,
        acting: &Address,
        model: &ModelRegistration,
        height: u64,
    ) -> Result<(), TxError> {
        self.check_register(acting, model)?;
        let checkpoint = match model.lineage {
            Some(l) => Some(self.lineage_checkpoint(l)?),
            None => None,
        };
        let deposit = model_deposit(model)?;
        self.debit(acting, deposit)?;
        let id = model_id(acting, &model.graph);
        self.put_model(Model {
            id,
            owner: acting.clone(),
            registration: model.clone(),
            registered_at: height,
            checkpoint,
            served: 0,
            refuted: 0,
            deposit,
            status: ModelStatus::Active,
        });
        Ok(())
    }

    fn retire_model(&mut self, acting: &Address, id: &BlobHash, height: u64) -> Result<(), TxError> {
        let mut m = self.check_retire(acting, id)?.clone();
        self.credit(acting, m.deposit)?;
        m.deposit = 0;
        m.status = ModelStatus::Retired { at: height };
        self.put_model(m);
        Ok(())
    }

    fn request_inference(
        &mut self,
        acting: &Address,
        model: &BlobHash,
        input: &[u8],
        payment: Amount,
        provider: &Option<Address>,
        height: u64,
    ) -> Result<(), TxError> {
        self.check_request(model, input, payment)?;
        let m = self.known_model(model)?.registration.clone();
        let input_root = cairn_infer::commit::tensor_root(&m.input_shape, &as_i8(input))
            .ok_or(overflow("input root"))?;
        self.debit(acting, payment)?;
        let id = self.next_inference_id();
        let deadline = height
            .checked_add(limits::RESULT_WINDOW_BLOCKS)
            .ok_or(overflow("result deadline"))?;
        self.put_inference(Inference {
            id,
            client: acting.clone(),
            model: *model,
            input: input.to_vec(),
            input_root,
            payment,
            price: m.price,
            provider: provider.clone(),
            requested_at: height,
            status: InferenceStatus::Requested,
            deadline,
            result: None,
            window_end: 0,
            disputes: 0,
            open_disputes: 0,
            challenge_bonds: 0,
        });
        Ok(())
    }

    fn challenge(
        &mut self,
        acting: &Address,
        request: u64,
        args: &ChallengeArgs<'_>,
        height: u64,
    ) -> Result<(), TxError> {
        let (game, challenge) = self.open_game(acting, request, args, height)?;
        self.debit(acting, args.bond)?;
        let mut i = self.known_request(request)?.clone();
        let index = i.disputes;
        i.disputes = index.checked_add(1).ok_or(overflow("dispute count"))?;
        i.open_disputes = i
            .open_disputes
            .checked_add(1)
            .ok_or(overflow("open disputes"))?;
        i.challenge_bonds = i
            .challenge_bonds
            .checked_add(args.bond)
            .ok_or(overflow("challenge bonds"))?;
        i.status = InferenceStatus::Disputed;
        self.put_inference(i);
        self.put_dispute(DisputeRecord {
            request,
            index,
            challenge,
            k: args.k,
            moves: Vec::new(),
            deadline: game.deadline().ok_or(overflow("move deadline"))?,
            end: None,
        });
        self.reschedule(request)
    }
}
