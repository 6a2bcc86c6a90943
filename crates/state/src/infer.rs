//! Verified inference on chain: the model registry and the bonded inference market, with
//! cairn-dispute's k-ary fraud-proof game run by the state machine itself.
//!
//! ```text
//! RequestInference ─► Requested ──PostResult──► Served ──window closes──► Settled
//!        (payment escrowed)  │ result window        │  ▲ (provider bond)        owner: price
//!                            ▼                      │  │                        provider: rest + bond
//!                         Expired (refund)   Challenge  provider wins: challenger's bond
//!                                                   ▼  │  to the provider, window reopens
//!                                                Disputed ──challenger wins──► Refuted
//!                                                (moves, chess clocks)         challenger: both bonds
//!                                                                              client: refund
//! ```
//!
//! The chain derives the input's tensor root from the input bytes the request carries and
//! each claimed output's tensor root from the output bytes posted, and checks both claims'
//! output roots under their execution roots before a dispute opens. A dispute is stored as its
//! opening data plus the accepted moves (with their heights); the game state is rebuilt by
//! replaying them with [`cairn_dispute::Dispute`], which reads no clock and no float, so the
//! stored record is all consensus needs. Timeouts are claimed by the chain itself in
//! [`State::end_block_inference`]: silence past a deadline loses.

use crate::error::{InferError, TxError};
use crate::state::State;
use bytes::BufMut;
use cairn_dispute::{Claim, Clock, Dispute, Move, Params as GameParams, Reason, Side};
use cairn_types::infer::{self as limits, Lineage, ModelRegistration, elements};
use cairn_types::task::BlobHash;
use cairn_types::{Action, Address, Amount, PublicKey};
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize, RangeCfg, Read, ReadExt, Write,
};

/// Most challenges one result can face (each lost challenge reopens the window).
pub const CHALLENGES_PER_RESULT_MAX: usize = 8;
/// Most moves one dispute records (the chess clock ends a game long before).
pub const DISPUTE_MOVES_MAX: usize = 1_024;
/// Longest reason text an outcome records.
const REASON_MAX_BYTES: usize = 256;

/// A registered model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    pub owner: Address,
    pub registration: ModelRegistration,
    pub registered_at: u64,
    /// The checkpoint its lineage points at (the task round's recorded aggregate).
    pub checkpoint: Option<BlobHash>,
    /// Inferences settled in the provider's favour.
    pub served: u64,
    /// Results refuted by a challenger.
    pub refuted: u64,
}

/// Where a request is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InferenceStatus {
    /// Waiting for a result until `deadline`.
    Requested,
    /// A result is posted; challengeable until `deadline`.
    Served,
    /// A dispute is running; the side to move must move by `deadline`.
    Disputed,
    /// The result stood: paid out.
    Settled,
    /// A challenger proved the result wrong: client refunded, provider's bond lost.
    Refuted,
    /// Nobody answered in time: client refunded.
    Expired,
}

impl InferenceStatus {
    pub fn name(&self) -> &'static str {
        match self {
            InferenceStatus::Requested => "requested",
            InferenceStatus::Served => "served",
            InferenceStatus::Disputed => "disputed",
            InferenceStatus::Settled => "settled",
            InferenceStatus::Refuted => "refuted",
            InferenceStatus::Expired => "expired",
        }
    }

    fn code(&self) -> u8 {
        match self {
            InferenceStatus::Requested => 0,
            InferenceStatus::Served => 1,
            InferenceStatus::Disputed => 2,
            InferenceStatus::Settled => 3,
            InferenceStatus::Refuted => 4,
            InferenceStatus::Expired => 5,
        }
    }

    /// Whether the request still holds escrowed funds.
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            InferenceStatus::Requested | InferenceStatus::Served | InferenceStatus::Disputed
        )
    }
}

/// A claimed output: its bytes, the execution root and the proof of the output's tensor root
/// under it (cairn-dispute's proof encoding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostedClaim {
    pub account: Address,
    pub output: Vec<u8>,
    pub exec_root: [u8; 32],
    pub output_root: [u8; 32],
    pub output_proof: Vec<u8>,
    pub bond: Amount,
    pub posted_at: u64,
}

/// How a dispute ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisputeEnd {
    /// True when the provider won.
    pub provider_won: bool,
    pub reason: String,
    pub height: u64,
    /// The loser's bond, moved to the winner.
    pub slashed: Amount,
}

/// One dispute over a result: the challenge and every accepted move.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisputeRecord {
    pub challenge: PostedClaim,
    /// Bisection arity.
    pub k: u8,
    /// Accepted moves with the height each was applied at, in order.
    pub moves: Vec<(u64, Vec<u8>)>,
    pub end: Option<DisputeEnd>,
}

/// One paid inference request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inference {
    pub id: u64,
    pub client: Address,
    pub model: BlobHash,
    /// The input (int8 elements as bytes).
    pub input: Vec<u8>,
    /// Its tensor root (the execution trace's node 0).
    pub input_root: [u8; 32],
    pub payment: Amount,
    /// The owner's share, fixed at request time.
    pub price: Amount,
    pub requested_at: u64,
    pub status: InferenceStatus,
    /// Result deadline (requested), challenge deadline (served), move deadline (disputed),
    /// or the height it ended at.
    pub deadline: u64,
    pub result: Option<PostedClaim>,
    pub disputes: Vec<DisputeRecord>,
}

impl Inference {
    /// Tokens this request holds in escrow (payment and live bonds).
    pub fn held(&self) -> Option<Amount> {
        if !self.status.is_live() {
            return Some(0);
        }
        let bond = self.result.as_ref().map_or(0, |r| r.bond);
        let challenge = match self.disputes.last() {
            Some(d) if d.end.is_none() => d.challenge.bond,
            _ => 0,
        };
        self.payment.checked_add(bond)?.checked_add(challenge)
    }

    /// The dispute in progress, if any.
    pub fn open_dispute(&self) -> Option<&DisputeRecord> {
        self.disputes.last().filter(|d| d.end.is_none())
    }
}

// ---- codec ----

fn bytes_cfg(max: usize) -> (RangeCfg<usize>, ()) {
    (RangeCfg::new(0..=max), ())
}

impl Write for Model {
    fn write(&self, w: &mut impl BufMut) {
        self.owner.write(w);
        self.registration.write(w);
        self.registered_at.write(w);
        self.checkpoint.write(w);
        self.served.write(w);
        self.refuted.write(w);
    }
}

impl EncodeSize for Model {
    fn encode_size(&self) -> usize {
        PublicKey::SIZE
            + self.registration.encode_size()
            + u64::SIZE
            + self.checkpoint.encode_size()
            + 2 * u64::SIZE
    }
}

impl Read for Model {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Model {
            owner: PublicKey::read(r)?,
            registration: ModelRegistration::read(r)?,
            registered_at: u64::read(r)?,
            checkpoint: Option::<[u8; 32]>::read(r)?,
            served: u64::read(r)?,
            refuted: u64::read(r)?,
        })
    }
}

impl Write for PostedClaim {
    fn write(&self, w: &mut impl BufMut) {
        self.account.write(w);
        self.output.write(w);
        self.exec_root.write(w);
        self.output_root.write(w);
        self.output_proof.write(w);
        self.bond.write(w);
        self.posted_at.write(w);
    }
}

impl EncodeSize for PostedClaim {
    fn encode_size(&self) -> usize {
        PublicKey::SIZE
            + self.output.encode_size()
            + 64
            + self.output_proof.encode_size()
            + 2 * u64::SIZE
    }
}

impl Read for PostedClaim {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(PostedClaim {
            account: PublicKey::read(r)?,
            output: Vec::<u8>::read_cfg(r, &bytes_cfg(limits::OUTPUT_MAX_BYTES))?,
            exec_root: <[u8; 32]>::read(r)?,
            output_root: <[u8; 32]>::read(r)?,
            output_proof: Vec::<u8>::read_cfg(r, &bytes_cfg(limits::PROOF_MAX_BYTES))?,
            bond: u64::read(r)?,
            posted_at: u64::read(r)?,
        })
    }
}

impl Write for DisputeEnd {
    fn write(&self, w: &mut impl BufMut) {
        self.provider_won.write(w);
        self.reason.as_bytes().to_vec().write(w);
        self.height.write(w);
        self.slashed.write(w);
    }
}

impl EncodeSize for DisputeEnd {
    fn encode_size(&self) -> usize {
        1 + self.reason.as_bytes().to_vec().encode_size() + 2 * u64::SIZE
    }
}

impl Read for DisputeEnd {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let provider_won = bool::read(r)?;
        let reason = Vec::<u8>::read_cfg(r, &bytes_cfg(REASON_MAX_BYTES))?;
        Ok(DisputeEnd {
            provider_won,
            reason: String::from_utf8(reason)
                .map_err(|_| CodecError::Invalid("reason", "not utf-8"))?,
            height: u64::read(r)?,
            slashed: u64::read(r)?,
        })
    }
}

impl Write for DisputeRecord {
    fn write(&self, w: &mut impl BufMut) {
        self.challenge.write(w);
        self.k.write(w);
        self.moves.write(w);
        self.end.write(w);
    }
}

impl EncodeSize for DisputeRecord {
    fn encode_size(&self) -> usize {
        self.challenge.encode_size() + 1 + self.moves.encode_size() + self.end.encode_size()
    }
}

impl Read for DisputeRecord {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(DisputeRecord {
            challenge: PostedClaim::read(r)?,
            k: u8::read(r)?,
            moves: Vec::<(u64, Vec<u8>)>::read_cfg(
                r,
                &(
                    RangeCfg::new(0..=DISPUTE_MOVES_MAX),
                    ((), bytes_cfg(limits::MOVE_MAX_BYTES)),
                ),
            )?,
            end: Option::<DisputeEnd>::read(r)?,
        })
    }
}

impl Write for Inference {
    fn write(&self, w: &mut impl BufMut) {
        self.id.write(w);
        self.client.write(w);
        self.model.write(w);
        self.input.write(w);
        self.input_root.write(w);
        self.payment.write(w);
        self.price.write(w);
        self.requested_at.write(w);
        self.status.code().write(w);
        self.deadline.write(w);
        self.result.write(w);
        self.disputes.write(w);
    }
}

impl EncodeSize for Inference {
    fn encode_size(&self) -> usize {
        u64::SIZE
            + PublicKey::SIZE
            + 32
            + self.input.encode_size()
            + 32
            + 3 * u64::SIZE
            + 1
            + u64::SIZE
            + self.result.encode_size()
            + self.disputes.encode_size()
    }
}

impl Read for Inference {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Inference {
            id: u64::read(r)?,
            client: PublicKey::read(r)?,
            model: <[u8; 32]>::read(r)?,
            input: Vec::<u8>::read_cfg(r, &bytes_cfg(limits::INPUT_MAX_BYTES))?,
            input_root: <[u8; 32]>::read(r)?,
            payment: u64::read(r)?,
            price: u64::read(r)?,
            requested_at: u64::read(r)?,
            status: match u8::read(r)? {
                0 => InferenceStatus::Requested,
                1 => InferenceStatus::Served,
                2 => InferenceStatus::Disputed,
                3 => InferenceStatus::Settled,
                4 => InferenceStatus::Refuted,
                5 => InferenceStatus::Expired,
                tag => return Err(CodecError::InvalidEnum(tag)),
            },
            deadline: u64::read(r)?,
            result: Option::<PostedClaim>::read(r)?,
            disputes: Vec::<DisputeRecord>::read_cfg(
                r,
                &(RangeCfg::new(0..=CHALLENGES_PER_RESULT_MAX), ()),
            )?,
        })
    }
}

// ---- helpers ----

fn err(e: InferError) -> TxError {
    TxError::Infer(e)
}

fn hex(bytes: &[u8]) -> String {
    cairn_types::to_hex(bytes)
}

fn as_i8(bytes: &[u8]) -> Vec<i8> {
    // u8 → i8 is a bit-for-bit reinterpretation.
    bytes.iter().map(|&b| b as i8).collect()
}

/// The output's tensor root, after checking its element count against the model.
fn output_root(model: &ModelRegistration, output: &[u8]) -> Result<[u8; 32], TxError> {
    let expected = elements(&model.output_shape);
    if output.len() as u64 != expected {
        return Err(err(InferError::ShapeMismatch {
            what: "output",
            shape: model.output_shape.clone(),
            expected,
            got: output.len(),
        }));
    }
    cairn_infer::commit::tensor_root(&model.output_shape, &as_i8(output)).ok_or_else(|| {
        err(InferError::ShapeMismatch {
            what: "output",
            shape: model.output_shape.clone(),
            expected,
            got: output.len(),
        })
    })
}

/// Decodes a claim's proof and checks the output root under the execution root.
fn checked_claim(
    model: &ModelRegistration,
    output: &[u8],
    exec_root: &[u8; 32],
    proof: &[u8],
) -> Result<Claim, TxError> {
    let output_root = output_root(model, output)?;
    let output_proof = cairn_dispute::encode::decode_proof(proof).map_err(|e| {
        err(InferError::Malformed {
            what: "output proof",
            reason: e.to_string(),
        })
    })?;
    let n = model.node_count as usize;
    cairn_infer::commit::verify_node_root(exec_root, n, n - 1, &output_root, &output_proof)
        .map_err(|e| {
            err(InferError::BadProof {
                what: "output root under the execution root",
                reason: e.to_string(),
            })
        })?;
    Ok(Claim {
        exec_root: *exec_root,
        output_root,
        output_proof,
    })
}

fn claim_of(posted: &PostedClaim) -> Result<Claim, String> {
    Ok(Claim {
        exec_root: posted.exec_root,
        output_root: posted.output_root,
        output_proof: cairn_dispute::encode::decode_proof(&posted.output_proof)
            .map_err(|e| e.to_string())?,
    })
}

/// The open dispute over `i` (whose model is `model`), rebuilt by replaying its recorded
/// moves, with the provider's and the challenger's accounts. Parties off chain use it to see
/// whose turn it is and what to post; the chain uses it to judge each move.
pub fn dispute_game(
    model: &ModelRegistration,
    i: &Inference,
) -> Result<(Dispute, Address, Address), String> {
    let record = i.open_dispute().ok_or("no open dispute")?;
    let result = i.result.as_ref().ok_or("no result")?;
    let params = GameParams {
        model_root: model.model_root,
        node_count: model.node_count,
        input_root: i.input_root,
        provider: claim_of(result)?,
        challenger: claim_of(&record.challenge)?,
        provider_bond: result.bond,
        challenger_bond: record.challenge.bond,
        k: record.k,
        clock: Clock {
            move_blocks_max: limits::MOVE_BLOCKS_MAX,
            budget_blocks: limits::DISPUTE_BUDGET_BLOCKS,
        },
        start_height: record.challenge.posted_at,
    };
    let mut game = Dispute::open(params).map_err(|e| e.to_string())?;
    for (height, bytes) in &record.moves {
        let side = game.turn().ok_or("a move after the end")?;
        let mv = Move::decode(bytes).map_err(|e| e.to_string())?;
        game.apply(side, &mv, *height).map_err(|e| e.to_string())?;
    }
    Ok((
        game,
        result.account.clone(),
        record.challenge.account.clone(),
    ))
}

fn reason_text(reason: &Reason) -> String {
    match reason {
        Reason::Timeout => "the side to move let its clock run out".into(),
        Reason::InputMismatch => {
            "the provider's trace does not start from the request's input".into()
        }
        Reason::StepMismatch {
            committed,
            recomputed,
        } => format!(
            "one-step check: the provider committed {committed} where the chain recomputes {recomputed}"
        ),
        Reason::StepConsistent { value } => {
            format!(
                "one-step check: the provider's element {value} is right; the challenge was false"
            )
        }
    }
}

impl State {
    // ---- reads ----

    pub fn model(&self, id: &BlobHash) -> Option<Model> {
        self.models.get(id).cloned()
    }

    /// Every registered model, by graph hash.
    pub fn models(&self) -> Vec<(BlobHash, Model)> {
        self.models.iter().map(|(k, v)| (*k, v.clone())).collect()
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

    fn known_model(&self, id: &BlobHash) -> Result<&Model, TxError> {
        self.models
            .get(id)
            .ok_or_else(|| err(InferError::UnknownModel { model: hex(id) }))
    }

    fn known_request(&self, id: u64) -> Result<&Inference, TxError> {
        self.inferences
            .get(&id)
            .ok_or(err(InferError::UnknownRequest { request: id }))
    }

    fn in_status(
        &self,
        id: u64,
        needed: InferenceStatus,
        window: &'static str,
        height: u64,
    ) -> Result<&Inference, TxError> {
        let i = self.known_request(id)?;
        if i.status != needed {
            return Err(err(InferError::WrongStatus {
                request: id,
                status: i.status.name(),
                needed: needed.name(),
            }));
        }
        if height > i.deadline {
            return Err(err(InferError::WindowClosed {
                request: id,
                window,
                deadline: i.deadline,
            }));
        }
        Ok(i)
    }

    /// The dispute game over request `i`, rebuilt from its record by replaying every move.
    fn replay(&self, i: &Inference) -> Result<(Dispute, Address, Address), TxError> {
        let model = &self.known_model(&i.model)?.registration;
        dispute_game(model, i).map_err(|reason| {
            err(InferError::Replay {
                request: i.id,
                reason,
            })
        })
    }

    // ---- validation (no writes) ----

    /// Checks a registry or market action for `acting` at `height`; `Ok` means
    /// [State::execute_infer_action] succeeds unless arithmetic overflows.
    pub(crate) fn validate_infer_action(
        &self,
        acting: &Address,
        action: &Action,
        height: u64,
    ) -> Result<(), TxError> {
        match action {
            Action::RegisterModel { model } => {
                model
                    .validate()
                    .map_err(|(field, reason)| err(InferError::InvalidModel { field, reason }))?;
                if self.models.contains_key(&model.graph) {
                    return Err(err(InferError::ModelExists {
                        model: hex(&model.graph),
                    }));
                }
                if self.models.len() >= crate::snapshot::SNAPSHOT_ENTRIES_MAX {
                    return Err(err(InferError::Full { what: "models" }));
                }
                if let Some(l) = model.lineage {
                    self.lineage_checkpoint(l)?;
                }
                Ok(())
            }
            Action::RequestInference {
                model,
                input,
                payment,
            } => {
                let m = &self.known_model(model)?.registration;
                let expected = elements(&m.input_shape);
                if input.len() as u64 != expected {
                    return Err(err(InferError::ShapeMismatch {
                        what: "input",
                        shape: m.input_shape.clone(),
                        expected,
                        got: input.len(),
                    }));
                }
                if *payment < m.price {
                    return Err(err(InferError::PaymentBelowPrice {
                        payment: *payment,
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
            Action::PostResult {
                request,
                output,
                exec_root,
                output_proof,
                bond,
            } => {
                let i = self.in_status(
                    *request,
                    InferenceStatus::Requested,
                    "result window",
                    height,
                )?;
                check_bond(*bond)?;
                let m = &self.known_model(&i.model)?.registration;
                checked_claim(m, output, exec_root, output_proof)?;
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
                let i = self.in_status(
                    *request,
                    InferenceStatus::Served,
                    "challenge window",
                    height,
                )?;
                let result = i.result.as_ref().ok_or(err(InferError::WrongStatus {
                    request: *request,
                    status: "served without a result",
                    needed: "served",
                }))?;
                if result.account == *acting {
                    return Err(err(InferError::SelfChallenge));
                }
                if i.disputes.len() >= CHALLENGES_PER_RESULT_MAX {
                    return Err(err(InferError::TooManyChallenges {
                        request: *request,
                        count: i.disputes.len(),
                    }));
                }
                check_bond(*bond)?;
                self.open_game(
                    i,
                    acting,
                    output,
                    exec_root,
                    output_proof,
                    *k,
                    *bond,
                    height,
                )?;
                Ok(())
            }
            Action::DisputeMove { request, mv } => {
                self.judge_move(acting, *request, mv, height).map(|_| ())
            }
            _ => Ok(()),
        }
    }

    /// The dispute a challenge opens (checked exactly as the chain will run it).
    #[allow(clippy::too_many_arguments)]
    fn open_game(
        &self,
        i: &Inference,
        challenger: &Address,
        output: &[u8],
        exec_root: &[u8; 32],
        output_proof: &[u8],
        k: u8,
        bond: Amount,
        height: u64,
    ) -> Result<(Dispute, PostedClaim), TxError> {
        let request = i.id;
        let result = i.result.as_ref().ok_or(err(InferError::WrongStatus {
            request,
            status: "served without a result",
            needed: "served",
        }))?;
        let m = &self.known_model(&i.model)?.registration;
        let claim = checked_claim(m, output, exec_root, output_proof)?;
        let provider =
            claim_of(result).map_err(|reason| err(InferError::Replay { request, reason }))?;
        let game = Dispute::open(GameParams {
            model_root: m.model_root,
            node_count: m.node_count,
            input_root: i.input_root,
            provider,
            challenger: claim.clone(),
            provider_bond: result.bond,
            challenger_bond: bond,
            k,
            clock: Clock {
                move_blocks_max: limits::MOVE_BLOCKS_MAX,
                budget_blocks: limits::DISPUTE_BUDGET_BLOCKS,
            },
            start_height: height,
        })
        .map_err(|e| {
            err(InferError::InvalidChallenge {
                reason: e.to_string(),
            })
        })?;
        let posted = PostedClaim {
            account: challenger.clone(),
            output: output.to_vec(),
            exec_root: *exec_root,
            output_root: claim.output_root,
            output_proof: output_proof.to_vec(),
            bond,
            posted_at: height,
        };
        Ok((game, posted))
    }

    /// The checkpoint round `l.round` of task `l.task` recorded.
    fn lineage_checkpoint(&self, l: Lineage) -> Result<BlobHash, TxError> {
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

    /// Applies `acting`'s move to the replayed game; returns the game after it.
    fn judge_move(
        &self,
        acting: &Address,
        request: u64,
        mv: &[u8],
        height: u64,
    ) -> Result<Dispute, TxError> {
        let i = self.known_request(request)?;
        if i.status != InferenceStatus::Disputed {
            return Err(err(InferError::WrongStatus {
                request,
                status: i.status.name(),
                needed: InferenceStatus::Disputed.name(),
            }));
        }
        let (mut game, provider, challenger) = self.replay(i)?;
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
        if i.open_dispute()
            .is_some_and(|d| d.moves.len() >= DISPUTE_MOVES_MAX)
        {
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
        let overflow = |what| TxError::Overflow { what };
        match action {
            Action::RegisterModel { model } => {
                let checkpoint = match model.lineage {
                    Some(l) => Some(self.lineage_checkpoint(l)?),
                    None => None,
                };
                self.put_model(
                    model.graph,
                    Model {
                        owner: acting.clone(),
                        registration: model.clone(),
                        registered_at: height,
                        checkpoint,
                        served: 0,
                        refuted: 0,
                    },
                );
            }
            Action::RequestInference {
                model,
                input,
                payment,
            } => {
                let m = self.known_model(model)?.registration.clone();
                let input_root = cairn_infer::commit::tensor_root(&m.input_shape, &as_i8(input))
                    .ok_or(overflow("input root"))?;
                self.debit(acting, *payment)?;
                let id = self.next_inference_id();
                let deadline = height
                    .checked_add(limits::RESULT_WINDOW_BLOCKS)
                    .ok_or(overflow("result deadline"))?;
                self.put_inference(Inference {
                    id,
                    client: acting.clone(),
                    model: *model,
                    input: input.clone(),
                    input_root,
                    payment: *payment,
                    price: m.price,
                    requested_at: height,
                    status: InferenceStatus::Requested,
                    deadline,
                    result: None,
                    disputes: Vec::new(),
                });
            }
            Action::PostResult {
                request,
                output,
                exec_root,
                output_proof,
                bond,
            } => {
                let mut i = self.known_request(*request)?.clone();
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
                i.deadline = height
                    .checked_add(limits::CHALLENGE_WINDOW_BLOCKS)
                    .ok_or(overflow("challenge deadline"))?;
                self.put_inference(i);
            }
            Action::Challenge {
                request,
                output,
                exec_root,
                output_proof,
                k,
                bond,
            } => {
                let mut i = self.known_request(*request)?.clone();
                let (game, challenge) = self.open_game(
                    &i,
                    acting,
                    output,
                    exec_root,
                    output_proof,
                    *k,
                    *bond,
                    height,
                )?;
                self.debit(acting, *bond)?;
                i.disputes.push(DisputeRecord {
                    challenge,
                    k: *k,
                    moves: Vec::new(),
                    end: None,
                });
                i.status = InferenceStatus::Disputed;
                i.deadline = game.deadline().ok_or(overflow("move deadline"))?;
                self.put_inference(i);
            }
            Action::DisputeMove { request, mv } => {
                let game = self.judge_move(acting, *request, mv, height)?;
                let mut i = self.known_request(*request)?.clone();
                if let Some(record) = i.disputes.last_mut() {
                    record.moves.push((height, mv.clone()));
                }
                match game.outcome().copied() {
                    Some(outcome) => self.end_dispute(i, &outcome, height)?,
                    None => {
                        i.deadline = game.deadline().ok_or(overflow("move deadline"))?;
                        self.put_inference(i);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Pays out a finished dispute: the loser's bond goes to the winner.
    fn end_dispute(
        &mut self,
        mut i: Inference,
        outcome: &cairn_dispute::Outcome,
        height: u64,
    ) -> Result<(), TxError> {
        let overflow = |what| TxError::Overflow { what };
        let result = i
            .result
            .clone()
            .ok_or(overflow("dispute without a result"))?;
        let record = i.disputes.last_mut().ok_or(overflow("dispute record"))?;
        let provider_won = outcome.winner == Side::Provider;
        record.end = Some(DisputeEnd {
            provider_won,
            reason: reason_text(&outcome.reason),
            height,
            slashed: outcome.slashed,
        });
        let challenger = record.challenge.account.clone();
        let challenger_bond = record.challenge.bond;
        if provider_won {
            // The provider's bond stays in escrow: the result may be challenged again.
            self.credit(&result.account, challenger_bond)?;
            i.status = InferenceStatus::Served;
            i.deadline = if i.disputes.len() >= CHALLENGES_PER_RESULT_MAX {
                height
            } else {
                height
                    .checked_add(limits::CHALLENGE_WINDOW_BLOCKS)
                    .ok_or(overflow("challenge deadline"))?
            };
            self.put_inference(i);
        } else {
            let payout = challenger_bond
                .checked_add(result.bond)
                .ok_or(overflow("challenger payout"))?;
            self.credit(&challenger, payout)?;
            self.credit(&i.client, i.payment)?;
            i.status = InferenceStatus::Refuted;
            i.deadline = height;
            let model_id = i.model;
            self.put_inference(i);
            let mut model = self.known_model(&model_id)?.clone();
            model.refuted = model.refuted.saturating_add(1);
            self.put_model(model_id, model);
        }
        Ok(())
    }

    /// Expires unanswered requests, settles results whose challenge window closed, and
    /// resolves disputes whose side to move ran out of time.
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
        {
            let i = self.known_request(id)?.clone();
            match i.status {
                InferenceStatus::Requested => {
                    self.credit(&i.client, i.payment)?;
                    let mut i = i;
                    i.status = InferenceStatus::Expired;
                    i.deadline = height;
                    self.put_inference(i);
                }
                InferenceStatus::Served => self.settle(i, height)?,
                InferenceStatus::Disputed => {
                    let (mut game, _, _) = self.replay(&i)?;
                    let outcome = *game.claim_timeout(height).map_err(|e| {
                        err(InferError::Replay {
                            request: id,
                            reason: e.to_string(),
                        })
                    })?;
                    self.end_dispute(i, &outcome, height)?;
                }
                _ => {}
            }
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
        if let Some(d) = i.open_dispute() {
            let (account, bond) = (d.challenge.account.clone(), d.challenge.bond);
            self.credit(&account, bond)?;
        }
        i.status = InferenceStatus::Expired;
        i.deadline = height;
        self.put_inference(i);
        Ok(())
    }

    /// The result stood through its challenge window: the owner gets the price, the provider
    /// the rest of the payment and its bond back.
    fn settle(&mut self, mut i: Inference, height: u64) -> Result<(), TxError> {
        let overflow = |what| TxError::Overflow { what };
        let result = i
            .result
            .clone()
            .ok_or(overflow("settled without a result"))?;
        let mut model = self.known_model(&i.model)?.clone();
        let fee = i
            .payment
            .checked_sub(i.price)
            .ok_or(overflow("provider fee"))?;
        self.credit(&model.owner, i.price)?;
        self.credit(
            &result.account,
            fee.checked_add(result.bond)
                .ok_or(overflow("provider payout"))?,
        )?;
        model.served = model.served.saturating_add(1);
        self.put_model(i.model, model);
        i.status = InferenceStatus::Settled;
        i.deadline = height;
        self.put_inference(i);
        Ok(())
    }
}

fn check_bond(bond: Amount) -> Result<(), TxError> {
    if bond < limits::BOND_MIN {
        return Err(err(InferError::BondTooLow {
            bond,
            min: limits::BOND_MIN,
        }));
    }
    Ok(())
}
