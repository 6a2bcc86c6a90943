//! Cairn's dispute game over a bonded integer inference.
//!
//! A provider serves a result with an execution root `H_P` (cairn-infer's Merkle root over
//! every graph node's output-tensor root); a challenger disputes it with its own root `H_C`
//! and another output. The game finds, under chess clocks, the first place where the two
//! commitments differ, then the chain recomputes one output element natively.
//!
//! - Phase A, execution bisection: a k-ary descent (k ∈ {2, 4, 8, 16}) of the binary
//!   execution tree. The provider posts the `k` subtree hashes `log2 k` levels below the
//!   current subtree (tensor roots at the leaf level); they must climb to its own committed
//!   subtree. The challenger posts its own `k` children (which must climb to *its*
//!   committed subtree) and names the **first** child where they differ; the chain checks
//!   agreement on every child to the left and disagreement at the pick. Agreement on every
//!   left sibling all the way down means the two traces agree on *all* nodes before the
//!   isolated node `d`, not only at sampled split points: this is what makes the game
//!   sound on graphs with skip connections (an input of `d` may be any earlier node).
//! - Phase A', row bisection: the same descent over node `d`'s row tree (its shape comes
//!   from the header the challenger opens under the model root), down to the first row that
//!   differs; the challenger reveals its version of that row.
//! - Phase B, one step: the element is the first position where the provider's committed row
//!   differs from the challenger's; the provider posts cairn-infer's `StepProof` for exactly
//!   that node, row and element (all taken from the game state, never from the mover), with
//!   its output root equal to the tensor root it posted in phase A; the chain runs
//!   `verify_step` against `H_P`. Mismatch: the provider loses; consistent: the challenger.
//! - Node 0 (the input) is not computed: if the descent isolates it, the challenger's root
//!   there must be the registered input root and the provider loses on the spot.
//!
//! - An invalid model: the chain registers a model by its root alone, so the header a pick
//!   reveals and the headers and channel a step opens are validated (cairn-infer's
//!   `validate_header` / `validate_against_inputs` / `validate_channel`, the checks a graph
//!   decode runs) right after their proofs. One that is proven under the model root and
//!   fails ends the game for the challenger with [`Reason::InvalidModel`]: the provider served
//!   a model that cannot run (an honest provider checks the graph against the root first).
//!
//! Invariant: the state machine ([`game`]) reads no clock (heights are passed in), no RNG,
//! no float, uses no hash map, and a rejected move changes nothing.
//!
//! Invariant: nothing here panics or overflows, for any parameters, moves or bytes: the chain
//! rebuilds a [`Dispute`] by replaying recorded moves inside block execution. The crate denies
//! `unwrap`/`expect`/`panic!`/`unreachable!`, slice indexing and unchecked arithmetic outside
//! tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

pub mod encode;
pub mod forge;
pub mod game;
pub mod player;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod tree;

pub use encode::DecodeError;
pub use game::{
    ARITIES, Claim, Clock, Dispute, Move, MoveError, OpenError, Outcome, Params, Reason, Request,
    Reveal, Side, TimeoutError, Tree,
};
pub use player::Player;
