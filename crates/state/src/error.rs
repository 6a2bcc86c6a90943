//! Why a transaction, a block, a snapshot or a proof was rejected.
//!
//! Every rejection is a value with structured fields and a message the user can act on; none
//! of them leaves a trace in the state.

use cairn_types::{Address, Amount, PublicKey};

/// Why a transaction is invalid against the current state. Variants follow the order in
/// which the checks run (see [crate::State::check_tx]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error(
        "transaction is {size} bytes; the limit is {max} bytes: split it or shorten its strings"
    )]
    TooLarge { size: usize, max: usize },
    #[error(
        "transaction is for chain {got:?} but this chain is {expected:?}: re-sign it with chain id {expected:?}"
    )]
    WrongChainId { expected: String, got: String },
    #[error(
        "signature does not verify for signer {signer}: sign the exact transaction with that key"
    )]
    BadSignature { signer: PublicKey },
    #[error("account {address} does not exist: fund it with a transfer before it signs")]
    UnknownAccount { address: Address },
    #[error("nonce {got} is stale: account {account}'s next nonce is {expected}")]
    StaleNonce {
        account: Address,
        expected: u64,
        got: u64,
    },
    #[error("nonce {got} is in the future: account {account}'s next nonce is {expected}")]
    FutureNonce {
        account: Address,
        expected: u64,
        got: u64,
    },
    #[error("fee {fee} is below the minimum fee {min}")]
    FeeTooLow { fee: Amount, min: Amount },
    #[error("hot key may not sign {action} for account {cold}: sign it with the cold key")]
    HotKeyNotAllowed { action: &'static str, cold: Address },
    #[error("balance {available} is below the {needed} this transaction needs (fee plus amount)")]
    InsufficientBalance { needed: Amount, available: Amount },
    #[error("validator {validator} does not exist")]
    UnknownValidator { validator: PublicKey },
    #[error("{bonded} is bonded to this validator; cannot unbond {requested}")]
    InsufficientBond { bonded: Amount, requested: Amount },
    #[error("amount must be greater than zero")]
    ZeroAmount,
    #[error(
        "account {account} is not the operator of validator {validator} (operator is {operator})"
    )]
    NotOperator {
        account: Address,
        validator: PublicKey,
        operator: Address,
    },
    #[error("moniker is {len} bytes; the limit is {max} bytes")]
    MonikerTooLong { len: usize, max: usize },
    #[error(
        "validator {validator} is not jailed for inactivity (only missed leader slots can be undone by unjail)"
    )]
    NotJailedForInactivity { validator: PublicKey },
    #[error("validator {validator} sits out a whole epoch first: unjail from height {height}")]
    UnjailTooEarly { validator: PublicKey, height: u64 },
    #[error("validator {validator} already exists")]
    ValidatorExists { validator: PublicKey },
    #[error("self-bond {bond} is below the minimum validator bond {min}")]
    SelfBondTooLow { bond: Amount, min: Amount },
    #[error(
        "the proof of possession does not verify: sign your address with the consensus key (cairn tx create-validator --key-file does)"
    )]
    BadProofOfPossession,
    #[error("the chain already registers the most validators it can ({max})")]
    TooManyValidators { max: usize },
    #[error("hot key {hot} cannot be used: {reason}")]
    HotKeyInvalid {
        hot: PublicKey,
        reason: &'static str,
    },
    #[error("{0}")]
    Task(TaskError),
    #[error("{0}")]
    Infer(InferError),
    #[error("arithmetic overflow while computing {what}")]
    Overflow { what: &'static str },
    #[error(
        "{what} {key} is not a usable public key (not the canonical encoding of a point of the prime-order subgroup): nobody could sign for it"
    )]
    InvalidKey { what: &'static str, key: PublicKey },
    #[error(
        "checking or applying this transaction hit an internal fault ({message}); it is refused and nothing changed: please report it"
    )]
    Internal { message: String },
}

/// Why a model-registry or inference-market action is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InferError {
    #[error("model field {field} is invalid: {reason}")]
    InvalidModel { field: &'static str, reason: String },
    #[error("model {model} is already registered")]
    ModelExists { model: String },
    #[error("the chain holds the most {what} it can")]
    Full { what: &'static str },
    #[error("lineage to round {round} of task {task} is invalid: {reason}")]
    BadLineage {
        task: u64,
        round: u32,
        reason: &'static str,
    },
    #[error("model {model} is not registered")]
    UnknownModel { model: String },
    #[error("model {model} is {status}: it takes no requests and cannot be retired again")]
    ModelNotActive { model: String, status: &'static str },
    #[error("model {model} belongs to {owner}: only its owner may retire it")]
    NotModelOwner { model: String, owner: Address },
    #[error("request {request} names provider {provider}: only that account may post its result")]
    NotAssignedProvider { request: u64, provider: Address },
    #[error("request {request} has no dispute {dispute}")]
    UnknownDispute { request: u64, dispute: u32 },
    #[error("dispute {dispute} over request {request} has ended")]
    DisputeClosed { request: u64, dispute: u32 },
    #[error("{what} has {got} elements but the model's {what} shape {shape:?} has {expected}")]
    ShapeMismatch {
        what: &'static str,
        shape: Vec<u32>,
        expected: u64,
        got: usize,
    },
    #[error("payment {payment} is below the model's price {price}")]
    PaymentBelowPrice { payment: Amount, price: Amount },
    #[error("inference request {request} does not exist")]
    UnknownRequest { request: u64 },
    #[error("inference request {request} is {status}; this action needs it {needed}")]
    WrongStatus {
        request: u64,
        status: &'static str,
        needed: &'static str,
    },
    #[error("inference request {request}'s {window} closed at height {deadline}")]
    WindowClosed {
        request: u64,
        window: &'static str,
        deadline: u64,
    },
    #[error("bond {bond} is below the minimum bond {min}")]
    BondTooLow { bond: Amount, min: Amount },
    #[error("{what} does not decode: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("{what} does not verify: {reason}")]
    BadProof { what: &'static str, reason: String },
    #[error("the provider cannot challenge its own result")]
    SelfChallenge,
    #[error("challenge refused: {reason}")]
    InvalidChallenge { reason: String },
    #[error("account {account} is not a party to the dispute over request {request}")]
    NotAParty { request: u64, account: Address },
    #[error("dispute move refused: {reason}")]
    BadMove { reason: String },
    #[error("dispute record of request {request} does not replay: {reason}")]
    Replay { request: u64, reason: String },
}

/// Why a federated-learning task action is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    #[error("task spec field {field} is impossible: {reason}")]
    InvalidSpec { field: &'static str, reason: String },
    #[error("the chain holds the most tasks it can")]
    TooManyTasks,
    #[error("task {task} does not exist")]
    UnknownTask { task: u64 },
    #[error("task {task} is {status}, not under review: votes are closed")]
    NotUnderReview { task: u64, status: &'static str },
    #[error("validator {validator} is not in the active set: only active validators review tasks")]
    NotActiveValidator { validator: PublicKey },
    #[error("validator {validator} already voted on task {task}")]
    AlreadyVoted { task: u64, validator: PublicKey },
    #[error("task {task} is {status}: it no longer takes members")]
    Closed { task: u64, status: &'static str },
    #[error("this account is already a {role} of task {task}")]
    AlreadyJoined { task: u64, role: &'static str },
    #[error("stake {stake} is below task {task}'s minimum {role} stake {min}")]
    StakeTooLow {
        task: u64,
        role: &'static str,
        stake: Amount,
        min: Amount,
    },
    #[error("task {task} already has the most {role}s it takes ({max})")]
    Full {
        task: u64,
        role: &'static str,
        max: usize,
    },
    #[error("account {account} is not a registered {role} of task {task}: join it first")]
    NotRegistered {
        task: u64,
        role: &'static str,
        account: Address,
    },
    #[error("task {task} has no open round (it is {status})")]
    NoOpenRound { task: u64, status: &'static str },
    #[error("task {task} is in round {current}, not round {got}")]
    WrongRound { task: u64, current: u32, got: u32 },
    #[error(
        "round {round} of task {task} is in phase {current} (phase deadline: height {deadline}); this action needs phase {needed}: too late or too early"
    )]
    WrongPhase {
        task: u64,
        round: u32,
        needed: &'static str,
        current: &'static str,
        deadline: u64,
    },
    #[error("this trainer already submitted an update for round {round} of task {task}")]
    AlreadySubmitted { task: u64, round: u32 },
    #[error("round {round} of task {task} already holds its maximum of {max} updates")]
    RoundFull { task: u64, round: u32, max: u32 },
    #[error(
        "update is the round's global model itself (round {round} of task {task}): an unchanged model earns nothing"
    )]
    CopyOfGlobal { task: u64, round: u32 },
    #[error(
        "update is identical to trainer {trainer}'s update in round {round} of task {task}: copies earn nothing"
    )]
    CopyOfUpdate {
        task: u64,
        round: u32,
        trainer: Address,
    },
    #[error("this validator already committed scores for round {round} of task {task}")]
    AlreadyCommitted { task: u64, round: u32 },
    #[error(
        "this validator committed no scores for round {round} of task {task}, so it cannot reveal"
    )]
    NotCommitted { task: u64, round: u32 },
    #[error("this validator already revealed its scores for round {round} of task {task}")]
    AlreadyRevealed { task: u64, round: u32 },
    #[error("the round has {expected} updates but {got} scores were revealed")]
    ScoreCount { expected: usize, got: usize },
    #[error(
        "revealed scores and salt do not match this validator's commitment for round {round} of task {task}"
    )]
    RevealMismatch { task: u64, round: u32 },
    #[error("this validator already attested a checkpoint for round {round} of task {task}")]
    AlreadyAttested { task: u64, round: u32 },
    #[error("score consensus for task {task} failed: {reason}")]
    Consensus { task: u64, reason: String },
}

/// Why a block cannot be executed. On any error the state is exactly as before the call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("block height {got} does not follow the state's height: expected {expected}")]
    WrongHeight { expected: u64, got: u64 },
    #[error("block carries {count} transactions; the limit is {max}")]
    TooManyTxs { count: usize, max: usize },
    #[error("block carries {count} evidence items; the limit is {max}")]
    TooMuchEvidence { count: usize, max: usize },
    #[error("block charges {count} missed leader slots; the limit is {max}")]
    TooManyMissedSlots { count: usize, max: usize },
    #[error("evidence against {offender} for epoch {epoch} view {view} was already applied")]
    DuplicateEvidence {
        offender: PublicKey,
        epoch: u64,
        view: u64,
    },
    #[error("evidence is for epoch {got}; a block carries evidence of its own epoch {expected} only")]
    EvidenceEpoch { got: u64, expected: u64 },
    #[error("evidence names {offender}, which is not a validator")]
    UnknownOffender { offender: PublicKey },
    #[error("transaction #{index} is invalid: {error}")]
    InvalidTx { index: u32, error: TxError },
    #[error("closing task phases failed: {0}")]
    Tasks(TxError),
    #[error("settling inference requests failed: {0}")]
    Inference(TxError),
    #[error("arithmetic overflow while computing {what}")]
    Overflow { what: &'static str },
    #[error(
        "{what} {key} is not a usable public key (not the canonical encoding of a point of the prime-order subgroup): nobody could sign for it"
    )]
    InvalidKey { what: &'static str, key: PublicKey },
    #[error(
        "checking or applying this transaction hit an internal fault ({message}); it is refused and nothing changed: please report it"
    )]
    Internal { message: String },
}

/// Why snapshot bytes were not accepted as a state.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot bytes do not decode: {0}")]
    Codec(#[from] commonware_codec::Error),
    #[error("snapshot version {got} is not supported (this build reads version {expected})")]
    Version { expected: u8, got: u8 },
    #[error("snapshot is inconsistent: {0}")]
    Inconsistent(String),
}

/// Why an [crate::AccountProof] does not prove its account under a root.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("proof bytes do not decode: {0}")]
    Codec(#[from] commonware_codec::Error),
    #[error("proof is for {proof} leaves but claims {claimed}")]
    LeafCount { proof: u32, claimed: u32 },
    #[error("proof does not verify against the root: {0}")]
    Mismatch(String),
}
