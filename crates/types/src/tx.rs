//! Transactions: what an account asks the chain to do, signed with its ed25519 key.
//!
//! Signed bytes: `TX_NAMESPACE` (as the signature namespace) over the canonical encoding of
//! [Transaction], which starts with the chain id, so a signature is valid on one chain only.

use crate::infer::{self, ModelRegistration, read_bytes};
use crate::task::{BlobHash, Role, TRAINERS_PER_ROUND_MAX, TaskSpec};
use crate::{Address, Amount, Digest, PrivateKey, PublicKey, Signature, TX_NAMESPACE, limits};
use bytes::BufMut;
use commonware_codec::Buf;
use commonware_codec::{
    DecodeExt, Encode, EncodeSize, Error as CodecError, RangeCfg, Read, ReadExt, Write,
};
use commonware_cryptography::{Signer, Verifier};

/// An operation on chain state. Tags are part of the consensus encoding: never reorder them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Move `amount` from the signer to `to` (creates `to` if new). Cold key only.
    Transfer { to: Address, amount: Amount },
    /// Bond `amount` of the signer's balance to `validator` (self-bond when the signer
    /// operates it, delegation otherwise). Cold key only.
    Bond {
        validator: PublicKey,
        amount: Amount,
    },
    /// Start unbonding `amount` from `validator`; the tokens return after the unbonding
    /// period (in blocks). Cold key only.
    Unbond {
        validator: PublicKey,
        amount: Amount,
    },
    /// Link `hot` as the signer's hot key: it may sign operational actions for the signer's
    /// account but can never move funds or stake. `proof` is the hot key's own signature over
    /// the link ([crate::hot_key_link_message]): nobody can bind a key they do not hold.
    /// Cold key only.
    LinkHotKey { hot: PublicKey, proof: Signature },
    /// Remove the link of `hot` to the signer's account: signed by the cold key, or by `hot`
    /// itself (a hot key can always leave).
    UnlinkHotKey { hot: PublicKey },
    /// Set the public moniker of a validator the signer operates. Allowed for the operator's
    /// cold key or any hot key linked to it (the operational action of this release).
    SetValidatorMoniker {
        validator: PublicKey,
        moniker: String,
    },
    /// Propose a federated-learning task; `spec.reward_pool` is escrowed from the signer.
    /// Cold key only.
    ProposeTask { spec: TaskSpec },
    /// Vote, as the operator of active validator `validator`, to approve or reject task `task`
    /// while it is under review.
    VoteTask {
        task: u64,
        validator: PublicKey,
        approve: bool,
    },
    /// Register for `task` in `role`, locking `stake` until the task ends. Cold key only.
    JoinTask {
        task: u64,
        role: Role,
        stake: Amount,
    },
    /// A trainer commits the BLAKE3 hash of its update for `round` (blob uploaded off chain).
    SubmitUpdate {
        task: u64,
        round: u32,
        update: BlobHash,
    },
    /// A validator commits to its scores for `round` (see [crate::task::score_commitment]).
    CommitScores {
        task: u64,
        round: u32,
        commitment: Digest,
    },
    /// A validator reveals the scores it committed to, one per submitted update, in
    /// submission order, with the commitment's salt.
    RevealScores {
        task: u64,
        round: u32,
        scores: Vec<u16>,
        salt: [u8; 32],
    },
    /// A validator attests the hash of the model it aggregated for `round`.
    AttestCheckpoint {
        task: u64,
        round: u32,
        model: BlobHash,
    },
    /// Register a quantized model (its graph uploaded as a blob) owned by the signer. Cold
    /// key only.
    RegisterModel { model: ModelRegistration },
    /// Ask for one inference of registered model `model` (its id, [crate::infer::model_id])
    /// on `input` (int8 elements), escrowing `payment` (at least the model's price). When
    /// `provider` is set only that account may post the result, so nobody can copy its work
    /// and take the payment. Cold key only.
    RequestInference {
        model: BlobHash,
        input: Vec<u8>,
        payment: Amount,
        provider: Option<Address>,
    },
    /// A provider answers request `request` with `output`, the execution root of its trace
    /// and the proof of the output's tensor root under it, escrowing `bond`. Cold key only.
    PostResult {
        request: u64,
        output: Vec<u8>,
        exec_root: [u8; 32],
        output_proof: Vec<u8>,
        bond: Amount,
    },
    /// Dispute the result of `request` with another output and execution root, escrowing
    /// `bond`; `k` is the bisection arity (2, 4, 8 or 16). Cold key only.
    Challenge {
        request: u64,
        output: Vec<u8>,
        exec_root: [u8; 32],
        output_proof: Vec<u8>,
        k: u8,
        bond: Amount,
    },
    /// A move in dispute `dispute` (0, 1, … in the order challenges opened) over `request`
    /// (cairn-dispute's canonical move bytes).
    DisputeMove {
        request: u64,
        dispute: u32,
        mv: Vec<u8>,
    },
    /// Register a new validator operated by the signer, self-bonding `self_bond`; it joins
    /// the active set at the next epoch boundary if its bond ranks in the top
    /// `validators_max`. `proof_of_possession` is the consensus key's signature over the
    /// operator's address ([crate::validator_pop_message]), so nobody can register a key they
    /// do not hold. Cold key only.
    CreateValidator {
        consensus_key: PublicKey,
        moniker: String,
        self_bond: Amount,
        proof_of_possession: crate::Signature,
    },
    /// Return a validator jailed for inactivity (missed leader slots) to the candidates, once
    /// it has sat out a whole epoch. A validator jailed for equivocation cannot. Its operator
    /// or a linked hot key signs.
    Unjail { validator: PublicKey },
    /// Retire a model the signer registered: no new requests, its graph is no longer pinned,
    /// and its blob deposit returns to the owner. Cold key only.
    RetireModel { model: BlobHash },
}

impl Action {
    /// Whether the linked hot key `signer` may sign this action on its cold account's
    /// behalf: operational actions, and unlinking itself.
    pub fn allowed_for_hot_key(&self, signer: &PublicKey) -> bool {
        if let Action::UnlinkHotKey { hot } = self {
            return hot == signer;
        }
        matches!(
            self,
            Action::SetValidatorMoniker { .. }
                | Action::Unjail { .. }
                | Action::VoteTask { .. }
                | Action::SubmitUpdate { .. }
                | Action::CommitScores { .. }
                | Action::RevealScores { .. }
                | Action::AttestCheckpoint { .. }
                | Action::DisputeMove { .. }
        )
    }

    /// Short name for logs, receipts and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Transfer { .. } => "transfer",
            Action::Bond { .. } => "bond",
            Action::Unbond { .. } => "unbond",
            Action::LinkHotKey { .. } => "link_hot_key",
            Action::UnlinkHotKey { .. } => "unlink_hot_key",
            Action::SetValidatorMoniker { .. } => "set_validator_moniker",
            Action::ProposeTask { .. } => "propose_task",
            Action::VoteTask { .. } => "vote_task",
            Action::JoinTask { .. } => "join_task",
            Action::SubmitUpdate { .. } => "submit_update",
            Action::CommitScores { .. } => "commit_scores",
            Action::RevealScores { .. } => "reveal_scores",
            Action::AttestCheckpoint { .. } => "attest_checkpoint",
            Action::RegisterModel { .. } => "register_model",
            Action::RequestInference { .. } => "request_inference",
            Action::PostResult { .. } => "post_result",
            Action::Challenge { .. } => "challenge",
            Action::DisputeMove { .. } => "dispute_move",
            Action::CreateValidator { .. } => "create_validator",
            Action::Unjail { .. } => "unjail",
            Action::RetireModel { .. } => "retire_model",
        }
    }
}

pub(crate) fn write_string(s: &str, w: &mut impl BufMut) {
    s.as_bytes().to_vec().write(w);
}

pub(crate) fn read_string(r: &mut impl Buf, max: usize) -> Result<String, CodecError> {
    let bytes = Vec::<u8>::read_cfg(r, &(RangeCfg::new(0..=max), ()))?;
    String::from_utf8(bytes).map_err(|_| CodecError::Invalid("string", "not utf-8"))
}

impl Write for Action {
    fn write(&self, w: &mut impl BufMut) {
        match self {
            Action::Transfer { to, amount } => {
                0u8.write(w);
                to.write(w);
                amount.write(w);
            }
            Action::Bond { validator, amount } => {
                1u8.write(w);
                validator.write(w);
                amount.write(w);
            }
            Action::Unbond { validator, amount } => {
                2u8.write(w);
                validator.write(w);
                amount.write(w);
            }
            Action::LinkHotKey { hot, proof } => {
                3u8.write(w);
                hot.write(w);
                proof.write(w);
            }
            Action::UnlinkHotKey { hot } => {
                4u8.write(w);
                hot.write(w);
            }
            Action::SetValidatorMoniker { validator, moniker } => {
                5u8.write(w);
                validator.write(w);
                write_string(moniker, w);
            }
            Action::ProposeTask { spec } => {
                6u8.write(w);
                spec.write(w);
            }
            Action::VoteTask {
                task,
                validator,
                approve,
            } => {
                7u8.write(w);
                task.write(w);
                validator.write(w);
                approve.write(w);
            }
            Action::JoinTask { task, role, stake } => {
                8u8.write(w);
                task.write(w);
                role.write(w);
                stake.write(w);
            }
            Action::SubmitUpdate {
                task,
                round,
                update,
            } => {
                9u8.write(w);
                task.write(w);
                round.write(w);
                update.write(w);
            }
            Action::CommitScores {
                task,
                round,
                commitment,
            } => {
                10u8.write(w);
                task.write(w);
                round.write(w);
                commitment.write(w);
            }
            Action::RevealScores {
                task,
                round,
                scores,
                salt,
            } => {
                11u8.write(w);
                task.write(w);
                round.write(w);
                scores.write(w);
                salt.write(w);
            }
            Action::AttestCheckpoint { task, round, model } => {
                12u8.write(w);
                task.write(w);
                round.write(w);
                model.write(w);
            }
            Action::RegisterModel { model } => {
                13u8.write(w);
                model.write(w);
            }
            Action::RequestInference {
                model,
                input,
                payment,
                provider,
            } => {
                14u8.write(w);
                model.write(w);
                input.write(w);
                payment.write(w);
                provider.write(w);
            }
            Action::PostResult {
                request,
                output,
                exec_root,
                output_proof,
                bond,
            } => {
                15u8.write(w);
                request.write(w);
                output.write(w);
                exec_root.write(w);
                output_proof.write(w);
                bond.write(w);
            }
            Action::Challenge {
                request,
                output,
                exec_root,
                output_proof,
                k,
                bond,
            } => {
                16u8.write(w);
                request.write(w);
                output.write(w);
                exec_root.write(w);
                output_proof.write(w);
                k.write(w);
                bond.write(w);
            }
            Action::DisputeMove {
                request,
                dispute,
                mv,
            } => {
                17u8.write(w);
                request.write(w);
                dispute.write(w);
                mv.write(w);
            }
            Action::CreateValidator {
                consensus_key,
                moniker,
                self_bond,
                proof_of_possession,
            } => {
                18u8.write(w);
                consensus_key.write(w);
                write_string(moniker, w);
                self_bond.write(w);
                proof_of_possession.write(w);
            }
            Action::Unjail { validator } => {
                19u8.write(w);
                validator.write(w);
            }
            Action::RetireModel { model } => {
                20u8.write(w);
                model.write(w);
            }
        }
    }
}

impl EncodeSize for Action {
    fn encode_size(&self) -> usize {
        1 + match self {
            Action::Transfer { to, amount } => to.encode_size() + amount.encode_size(),
            Action::Bond { validator, amount } | Action::Unbond { validator, amount } => {
                validator.encode_size() + amount.encode_size()
            }
            Action::LinkHotKey { hot, proof } => hot.encode_size() + proof.encode_size(),
            Action::UnlinkHotKey { hot } => hot.encode_size(),
            Action::SetValidatorMoniker { validator, moniker } => {
                validator.encode_size() + moniker.as_bytes().to_vec().encode_size()
            }
            Action::ProposeTask { spec } => spec.encode_size(),
            Action::VoteTask { validator, .. } => 8 + validator.encode_size() + 1,
            Action::JoinTask { .. } => 8 + 1 + 8,
            Action::SubmitUpdate { .. } | Action::AttestCheckpoint { .. } => 8 + 4 + 32,
            Action::CommitScores { commitment, .. } => 8 + 4 + commitment.encode_size(),
            Action::RevealScores { scores, .. } => 8 + 4 + scores.encode_size() + 32,
            Action::RegisterModel { model } => model.encode_size(),
            Action::RequestInference {
                input, provider, ..
            } => 32 + input.encode_size() + 8 + provider.encode_size(),
            Action::PostResult {
                output,
                output_proof,
                ..
            } => 8 + output.encode_size() + 32 + output_proof.encode_size() + 8,
            Action::Challenge {
                output,
                output_proof,
                ..
            } => 8 + output.encode_size() + 32 + output_proof.encode_size() + 1 + 8,
            Action::DisputeMove { mv, .. } => 8 + 4 + mv.encode_size(),
            Action::CreateValidator {
                consensus_key,
                moniker,
                proof_of_possession,
                ..
            } => {
                consensus_key.encode_size()
                    + moniker.as_bytes().to_vec().encode_size()
                    + 8
                    + proof_of_possession.encode_size()
            }
            Action::Unjail { validator } => validator.encode_size(),
            Action::RetireModel { .. } => 32,
        }
    }
}

impl Read for Action {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(r)? {
            0 => Action::Transfer {
                to: PublicKey::read(r)?,
                amount: u64::read(r)?,
            },
            1 => Action::Bond {
                validator: PublicKey::read(r)?,
                amount: u64::read(r)?,
            },
            2 => Action::Unbond {
                validator: PublicKey::read(r)?,
                amount: u64::read(r)?,
            },
            3 => Action::LinkHotKey {
                hot: PublicKey::read(r)?,
                proof: Signature::read(r)?,
            },
            4 => Action::UnlinkHotKey {
                hot: PublicKey::read(r)?,
            },
            5 => Action::SetValidatorMoniker {
                validator: PublicKey::read(r)?,
                moniker: read_string(r, limits::MEMO_MAX_BYTES)?,
            },
            6 => Action::ProposeTask {
                spec: TaskSpec::read(r)?,
            },
            7 => Action::VoteTask {
                task: u64::read(r)?,
                validator: PublicKey::read(r)?,
                approve: bool::read(r)?,
            },
            8 => Action::JoinTask {
                task: u64::read(r)?,
                role: Role::read(r)?,
                stake: u64::read(r)?,
            },
            9 => Action::SubmitUpdate {
                task: u64::read(r)?,
                round: u32::read(r)?,
                update: BlobHash::read(r)?,
            },
            10 => Action::CommitScores {
                task: u64::read(r)?,
                round: u32::read(r)?,
                commitment: Digest::read(r)?,
            },
            11 => Action::RevealScores {
                task: u64::read(r)?,
                round: u32::read(r)?,
                scores: Vec::<u16>::read_cfg(
                    r,
                    &(RangeCfg::new(0..=TRAINERS_PER_ROUND_MAX as usize), ()),
                )?,
                salt: <[u8; 32]>::read(r)?,
            },
            12 => Action::AttestCheckpoint {
                task: u64::read(r)?,
                round: u32::read(r)?,
                model: BlobHash::read(r)?,
            },
            13 => Action::RegisterModel {
                model: ModelRegistration::read(r)?,
            },
            14 => Action::RequestInference {
                model: BlobHash::read(r)?,
                input: read_bytes(r, infer::INPUT_MAX_BYTES)?,
                payment: u64::read(r)?,
                provider: Option::<Address>::read(r)?,
            },
            15 => Action::PostResult {
                request: u64::read(r)?,
                output: read_bytes(r, infer::OUTPUT_MAX_BYTES)?,
                exec_root: <[u8; 32]>::read(r)?,
                output_proof: read_bytes(r, infer::PROOF_MAX_BYTES)?,
                bond: u64::read(r)?,
            },
            16 => Action::Challenge {
                request: u64::read(r)?,
                output: read_bytes(r, infer::OUTPUT_MAX_BYTES)?,
                exec_root: <[u8; 32]>::read(r)?,
                output_proof: read_bytes(r, infer::PROOF_MAX_BYTES)?,
                k: u8::read(r)?,
                bond: u64::read(r)?,
            },
            17 => Action::DisputeMove {
                request: u64::read(r)?,
                dispute: u32::read(r)?,
                mv: read_bytes(r, infer::MOVE_MAX_BYTES)?,
            },
            18 => Action::CreateValidator {
                consensus_key: PublicKey::read(r)?,
                moniker: read_string(r, limits::MEMO_MAX_BYTES)?,
                self_bond: u64::read(r)?,
                proof_of_possession: crate::Signature::read(r)?,
            },
            19 => Action::Unjail {
                validator: PublicKey::read(r)?,
            },
            20 => Action::RetireModel {
                model: BlobHash::read(r)?,
            },
            tag => return Err(CodecError::InvalidEnum(tag)),
        })
    }
}

/// The unsigned body of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// Chain this transaction is valid on (replay protection across chains).
    pub chain_id: String,
    /// Key that signs: an account's cold key, or a hot key linked to one.
    pub signer: PublicKey,
    /// Must equal the signer's next nonce (replay protection within the chain).
    pub nonce: u64,
    /// Paid by the signer to the block proposer, whatever the action's outcome.
    pub fee: Amount,
    pub action: Action,
}

impl Write for Transaction {
    fn write(&self, w: &mut impl BufMut) {
        write_string(&self.chain_id, w);
        self.signer.write(w);
        self.nonce.write(w);
        self.fee.write(w);
        self.action.write(w);
    }
}

impl EncodeSize for Transaction {
    fn encode_size(&self) -> usize {
        self.chain_id.as_bytes().to_vec().encode_size()
            + self.signer.encode_size()
            + self.nonce.encode_size()
            + self.fee.encode_size()
            + self.action.encode_size()
    }
}

impl Read for Transaction {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Transaction {
            chain_id: read_string(r, limits::CHAIN_ID_MAX_BYTES)?,
            signer: PublicKey::read(r)?,
            nonce: u64::read(r)?,
            fee: u64::read(r)?,
            action: Action::read(r)?,
        })
    }
}

impl Transaction {
    /// Signs this transaction with `key` (which must be `self.signer`'s private key).
    pub fn sign(self, key: &PrivateKey) -> SignedTx {
        let signature = key.sign(TX_NAMESPACE, &self.encode());
        SignedTx {
            tx: self,
            signature,
        }
    }
}

/// A transaction with its signature. Its hash (SHA-256 of the encoding) identifies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTx {
    pub tx: Transaction,
    pub signature: Signature,
}

impl Write for SignedTx {
    fn write(&self, w: &mut impl BufMut) {
        self.tx.write(w);
        self.signature.write(w);
    }
}

impl EncodeSize for SignedTx {
    fn encode_size(&self) -> usize {
        self.tx.encode_size() + self.signature.encode_size()
    }
}

impl Read for SignedTx {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(SignedTx {
            tx: Transaction::read(r)?,
            signature: Signature::read(r)?,
        })
    }
}

/// Why bytes could not be taken as a transaction.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TxDecodeError {
    #[error("transaction is {size} bytes; the limit is {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("transaction bytes do not decode: {0}")]
    Malformed(String),
}

impl SignedTx {
    /// The transaction's identifier.
    pub fn hash(&self) -> crate::Digest {
        crate::sha256(&[&self.encode()])
    }

    /// Whether the signature is valid for the signer over the encoded body.
    pub fn verify_signature(&self) -> bool {
        self.tx
            .signer
            .verify(TX_NAMESPACE, &self.tx.encode(), &self.signature)
    }

    /// Decodes untrusted bytes, checking the size limit first.
    pub fn decode_bounded(bytes: &[u8]) -> Result<Self, TxDecodeError> {
        if bytes.len() > limits::TX_SIZE_MAX_BYTES {
            return Err(TxDecodeError::TooLarge {
                size: bytes.len(),
                max: limits::TX_SIZE_MAX_BYTES,
            });
        }
        SignedTx::decode(commonware_codec::Copying(bytes))
            .map_err(|e| TxDecodeError::Malformed(e.to_string()))
    }
}
