//! What the inference market stores: registered models, requests, posted claims and
//! disputes, with their canonical encodings (consensus-critical: never reorder a field).

use bytes::BufMut;
use cairn_types::infer::{self as limits, ModelRegistration};
use cairn_types::task::BlobHash;
use cairn_types::{Address, Amount, PublicKey};
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize, RangeCfg, Read, ReadExt, Write,
};

use crate::entry::{read_string, string_size, write_string};

/// Most moves one dispute records (a real game needs about 2·log_k(nodes · rows) + 1; the
/// chess clock ends one long before this).
pub const DISPUTE_MOVES_MAX: usize = 1_024;
/// Longest reason text a model status or a dispute outcome records.
const REASON_MAX_BYTES: usize = 256;

/// Whether a model takes requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelStatus {
    /// Takes requests; its graph is pinned and its deposit held.
    Active,
    /// Its owner retired it at height `at`: no new requests, deposit returned.
    Retired { at: u64 },
    /// A dispute proved at height `at` that the registration commits to a graph that cannot
    /// run (`reason`): no new requests, its deposit went to the challenger who proved it.
    Invalid { at: u64, reason: String },
}

impl ModelStatus {
    pub fn name(&self) -> &'static str {
        match self {
            ModelStatus::Active => "active",
            ModelStatus::Retired { .. } => "retired",
            ModelStatus::Invalid { .. } => "invalid",
        }
    }
}

/// A registered model, keyed by its id ([cairn_types::infer::model_id] of owner and graph).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    pub id: BlobHash,
    pub owner: Address,
    pub registration: ModelRegistration,
    pub registered_at: u64,
    /// The checkpoint its lineage points at (the task round's recorded aggregate).
    pub checkpoint: Option<BlobHash>,
    /// Inferences settled in the provider's favour.
    pub served: u64,
    /// Results refuted by a challenger.
    pub refuted: u64,
    /// Blob deposit held for the graph ([cairn_types::limits::blob_deposit] of its size).
    pub deposit: Amount,
    pub status: ModelStatus,
}

impl Model {
    /// Whether it takes new requests.
    pub fn is_active(&self) -> bool {
        self.status == ModelStatus::Active
    }
}

/// Where a request is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InferenceStatus {
    /// Waiting for a result until `deadline`.
    Requested,
    /// A result is posted and no dispute is open; challengeable until `window_end`.
    Served,
    /// A result is posted and at least one dispute over it is open.
    Disputed,
    /// The result stood: paid out.
    Settled,
    /// A challenger proved the result wrong: client refunded, provider's bond lost.
    Refuted,
    /// Nobody answered in time (or the request could not be advanced): everyone refunded.
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

    fn from_code(code: u8) -> Result<Self, CodecError> {
        Ok(match code {
            0 => InferenceStatus::Requested,
            1 => InferenceStatus::Served,
            2 => InferenceStatus::Disputed,
            3 => InferenceStatus::Settled,
            4 => InferenceStatus::Refuted,
            5 => InferenceStatus::Expired,
            tag => return Err(CodecError::InvalidEnum(tag)),
        })
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

/// Who a finished dispute went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisputeVerdict {
    /// The challenge was false (or the challenger let its clock run out).
    ProviderWon,
    /// The result was proven wrong (or the provider let its clock run out).
    ChallengerWon,
    /// Closed without a winner, bond refunded: another dispute refuted the result first, or
    /// the request had to be unwound.
    Cancelled,
}

impl DisputeVerdict {
    pub fn name(&self) -> &'static str {
        match self {
            DisputeVerdict::ProviderWon => "provider",
            DisputeVerdict::ChallengerWon => "challenger",
            DisputeVerdict::Cancelled => "cancelled",
        }
    }
}

/// How a dispute ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisputeEnd {
    pub verdict: DisputeVerdict,
    pub reason: String,
    pub height: u64,
    /// The loser's bond, moved to the winner (0 when cancelled).
    pub slashed: Amount,
}

/// One dispute over a request's result, keyed by (request, index): the challenge and every
/// accepted move with the height it was applied at. Disputes over one result run in
/// parallel, so no challenger waits for another and none can be crowded out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisputeRecord {
    pub request: u64,
    pub index: u32,
    pub challenge: PostedClaim,
    /// Bisection arity.
    pub k: u8,
    pub moves: Vec<(u64, Vec<u8>)>,
    /// While open: the last height the side to move may move at. Once ended: the end height.
    pub deadline: u64,
    pub end: Option<DisputeEnd>,
}

impl DisputeRecord {
    pub fn is_open(&self) -> bool {
        self.end.is_none()
    }
}

/// One paid inference request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inference {
    pub id: u64,
    pub client: Address,
    /// The model's id.
    pub model: BlobHash,
    /// The input (int8 elements as bytes).
    pub input: Vec<u8>,
    /// Its tensor root (the execution trace's node 0).
    pub input_root: [u8; 32],
    pub payment: Amount,
    /// The owner's share, fixed at request time.
    pub price: Amount,
    /// The only account that may post the result, when the client named one.
    pub provider: Option<Address>,
    pub requested_at: u64,
    pub status: InferenceStatus,
    /// The next height something is due (result deadline; the challenge window's end or the
    /// earliest move deadline of the open disputes), or the height the request ended at.
    pub deadline: u64,
    pub result: Option<PostedClaim>,
    /// Last height a challenge is accepted (set when the result is posted).
    pub window_end: u64,
    /// Disputes opened so far (their indices are `0..disputes`).
    pub disputes: u32,
    /// Disputes still open.
    pub open_disputes: u32,
    /// Bonds the open disputes' challengers escrowed.
    pub challenge_bonds: Amount,
}

impl Inference {
    /// Tokens this request holds in escrow (payment, the result's bond, open challenges'
    /// bonds).
    pub fn held(&self) -> Option<Amount> {
        if !self.status.is_live() {
            return Some(0);
        }
        let bond = self.result.as_ref().map_or(0, |r| r.bond);
        self.payment
            .checked_add(bond)?
            .checked_add(self.challenge_bonds)
    }
}

// ---- codec ----

fn bytes_cfg(max: usize) -> (RangeCfg<usize>, ()) {
    (RangeCfg::new(0..=max), ())
}

impl Write for ModelStatus {
    fn write(&self, w: &mut impl BufMut) {
        match self {
            ModelStatus::Active => 0u8.write(w),
            ModelStatus::Retired { at } => {
                1u8.write(w);
                at.write(w);
            }
            ModelStatus::Invalid { at, reason } => {
                2u8.write(w);
                at.write(w);
                write_string(reason, w);
            }
        }
    }
}

impl EncodeSize for ModelStatus {
    fn encode_size(&self) -> usize {
        1 + match self {
            ModelStatus::Active => 0,
            ModelStatus::Retired { .. } => u64::SIZE,
            ModelStatus::Invalid { reason, .. } => u64::SIZE + string_size(reason),
        }
    }
}

impl Read for ModelStatus {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(r)? {
            0 => ModelStatus::Active,
            1 => ModelStatus::Retired { at: u64::read(r)? },
            2 => ModelStatus::Invalid {
                at: u64::read(r)?,
                reason: read_string(r, REASON_MAX_BYTES)?,
            },
            tag => return Err(CodecError::InvalidEnum(tag)),
        })
    }
}

impl Write for Model {
    fn write(&self, w: &mut impl BufMut) {
        self.id.write(w);
        self.owner.write(w);
        self.registration.write(w);
        self.registered_at.write(w);
        self.checkpoint.write(w);
        self.served.write(w);
        self.refuted.write(w);
        self.deposit.write(w);
        self.status.write(w);
    }
}

impl EncodeSize for Model {
    fn encode_size(&self) -> usize {
        32 + PublicKey::SIZE
            + self.registration.encode_size()
            + u64::SIZE
            + self.checkpoint.encode_size()
            + 3 * u64::SIZE
            + self.status.encode_size()
    }
}

impl Read for Model {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Model {
            id: <[u8; 32]>::read(r)?,
            owner: PublicKey::read(r)?,
            registration: ModelRegistration::read(r)?,
            registered_at: u64::read(r)?,
            checkpoint: Option::<[u8; 32]>::read(r)?,
            served: u64::read(r)?,
            refuted: u64::read(r)?,
            deposit: u64::read(r)?,
            status: ModelStatus::read(r)?,
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
        let verdict: u8 = match self.verdict {
            DisputeVerdict::ProviderWon => 0,
            DisputeVerdict::ChallengerWon => 1,
            DisputeVerdict::Cancelled => 2,
        };
        verdict.write(w);
        write_string(&self.reason, w);
        self.height.write(w);
        self.slashed.write(w);
    }
}

impl EncodeSize for DisputeEnd {
    fn encode_size(&self) -> usize {
        1 + string_size(&self.reason) + 2 * u64::SIZE
    }
}

impl Read for DisputeEnd {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let verdict = match u8::read(r)? {
            0 => DisputeVerdict::ProviderWon,
            1 => DisputeVerdict::ChallengerWon,
            2 => DisputeVerdict::Cancelled,
            tag => return Err(CodecError::InvalidEnum(tag)),
        };
        Ok(DisputeEnd {
            verdict,
            reason: read_string(r, REASON_MAX_BYTES)?,
            height: u64::read(r)?,
            slashed: u64::read(r)?,
        })
    }
}

impl Write for DisputeRecord {
    fn write(&self, w: &mut impl BufMut) {
        self.request.write(w);
        self.index.write(w);
        self.challenge.write(w);
        self.k.write(w);
        self.moves.write(w);
        self.deadline.write(w);
        self.end.write(w);
    }
}

impl EncodeSize for DisputeRecord {
    fn encode_size(&self) -> usize {
        u64::SIZE
            + u32::SIZE
            + self.challenge.encode_size()
            + 1
            + self.moves.encode_size()
            + u64::SIZE
            + self.end.encode_size()
    }
}

impl Read for DisputeRecord {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(DisputeRecord {
            request: u64::read(r)?,
            index: u32::read(r)?,
            challenge: PostedClaim::read(r)?,
            k: u8::read(r)?,
            moves: Vec::<(u64, Vec<u8>)>::read_cfg(
                r,
                &(
                    RangeCfg::new(0..=DISPUTE_MOVES_MAX),
                    ((), bytes_cfg(limits::MOVE_MAX_BYTES)),
                ),
            )?,
            deadline: u64::read(r)?,
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
        self.provider.write(w);
        self.requested_at.write(w);
        self.status.code().write(w);
        self.deadline.write(w);
        self.result.write(w);
        self.window_end.write(w);
        self.disputes.write(w);
        self.open_disputes.write(w);
        self.challenge_bonds.write(w);
    }
}

impl EncodeSize for Inference {
    fn encode_size(&self) -> usize {
        u64::SIZE
            + PublicKey::SIZE
            + 32
            + self.input.encode_size()
            + 32
            + 2 * u64::SIZE
            + self.provider.encode_size()
            + u64::SIZE
            + 1
            + u64::SIZE
            + self.result.encode_size()
            + u64::SIZE
            + 2 * u32::SIZE
            + u64::SIZE
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
            provider: Option::<Address>::read(r)?,
            requested_at: u64::read(r)?,
            status: InferenceStatus::from_code(u8::read(r)?)?,
            deadline: u64::read(r)?,
            result: Option::<PostedClaim>::read(r)?,
            window_end: u64::read(r)?,
            disputes: u32::read(r)?,
            open_disputes: u32::read(r)?,
            challenge_bonds: u64::read(r)?,
        })
    }
}
