//! Cairn's deterministic ledger state machine.
//!
//! [State] holds accounts, validators, delegations, unbondings, hot-key links, slash records,
//! the active validator set, the parameters and the chain's height/epoch. It validates and
//! applies transactions ([State::check_tx], [State::apply_tx]), executes whole blocks
//! atomically ([State::execute_block]) and commits to everything it holds with a Merkle root
//! ([State::root]) under which any account can be proven ([State::prove_account]).
//!
//! # Invariants (consensus-critical)
//!
//! - Invariant: every node computes the same bytes for the same inputs. Hence:
//! - Invariant: no `f32`/`f64` anywhere; amounts are `u64`, ratios are basis points in `u128`.
//! - Invariant: no `HashMap`/`HashSet`; only `BTreeMap`/`BTreeSet`, so iteration order is
//!   defined by the keys.
//! - Invariant: no clock, no randomness, no I/O: the state is a pure function of genesis and
//!   the blocks executed.
//! - Invariant: checked arithmetic everywhere; an overflow is a typed error
//!   ([TxError::Overflow], [BlockError::Overflow]), never a wrap or a panic.
//! - Invariant: a rejected transaction or block changes nothing (every write is journaled
//!   and rolled back on error).
//! - Invariant: `total_supply == Σ balances + Σ self-bonds + Σ delegations + Σ unbondings +
//!   Σ task escrow, blob deposits and stakes + Σ inference payments and bonds in escrow +
//!   Σ model blob deposits`; only fees without a recipient, slashes and task penalties burn
//!   tokens, and nothing mints after genesis (task rewards come from the proposer's escrow).
//!
//! # State root
//!
//! Every entry is a leaf `sha256("_CAIRN_STATE_LEAF_V1" || tag || key || value)` where `tag`
//! names the entry kind, `key` is the entry key's codec encoding (fixed width per tag) and
//! `value` its codec encoding. Leaves are sorted by `(tag, key)` and committed with
//! `commonware_storage::bmt`. Leaf digests are cached and updated on every write.

// No panics on outside input (see ARCHITECTURE.md, "No input can panic a node"): unwraps,
// indexing and unchecked arithmetic are refused outside tests; each reviewed exception is an
// `#[allow]` on the smallest item, with the reason it cannot fire.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]
// Errors and undo records carry ed25519 keys, which hold their decoded curve point (~200
// bytes). Keeping them typed beats boxing them for callers that match on them, and a
// rejection costs far less than the signature check that precedes it.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

mod blobs;
mod block;
pub use block::{INACTIVITY_MISSED_MIN, MISSED_SLOTS_PER_BLOCK_MAX, epoch_after, next_epoch_after};
mod entry;
mod error;
mod infer;
mod slash;
mod snapshot;
mod state;
mod task;
#[cfg(feature = "testkit")]
pub mod testkit;
mod tx;

pub use entry::{Account, Liveness, Receipt, SlashEvent, Unbonding, Validator};
pub use error::{BlockError, InferError, ProofError, SnapshotError, TaskError, TxError};
pub use infer::{
    DISPUTE_MOVES_MAX, DisputeEnd, DisputeRecord, DisputeVerdict, Inference, InferenceStatus,
    Model, ModelStatus, PostedClaim, dispute_game,
};
pub use snapshot::{SNAPSHOT_ENTRIES_MAX, SNAPSHOT_VERSION};
pub use state::{AccountProof, State};
pub use task::{
    Member, Phase, Round, RoundRecord, Submission, TASK_TRAINERS_MAX, TASK_VALIDATORS_MAX,
    TRAINER_PENALTY_BPS, Task, TaskStatus, UpdateOutcome, VALIDATOR_PENALTY_BPS, ValidatorOutcome,
};
pub use tx::{HOT_KEYS_PER_ACCOUNT_MAX, VALIDATORS_REGISTERED_MAX};
