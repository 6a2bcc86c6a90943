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
    #[error("hot key {hot} cannot be used: {reason}")]
    HotKeyInvalid {
        hot: PublicKey,
        reason: &'static str,
    },
    #[error("arithmetic overflow while computing {what}")]
    Overflow { what: &'static str },
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
    #[error("evidence against {offender} for epoch {epoch} view {view} was already applied")]
    DuplicateEvidence {
        offender: PublicKey,
        epoch: u64,
        view: u64,
    },
    #[error("evidence names {offender}, which is not a validator")]
    UnknownOffender { offender: PublicKey },
    #[error("transaction #{index} is invalid: {error}")]
    InvalidTx { index: u32, error: TxError },
    #[error("arithmetic overflow while computing {what}")]
    Overflow { what: &'static str },
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
