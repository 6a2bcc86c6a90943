//! The subtensor epoch ("Yuma Consensus") in deterministic Q32.32 fixed point.
//!
//! Validators' weights on miners are reduced, per miner, to a stake-weighted κ-quantile (the
//! *consensus*); weights above it are clipped; miners are paid by clipped, stake-weighted weight
//! (*incentive*); validators are paid through *bonds*, an EMA of the weights they set (*dividends*).
//! This crate is a port of the computation specified in `shared/reference/yuma-consensus.md`
//! (subtensor commit `14bc6f9f`), including both bond variants: original Yuma and Yuma 3 (fixed or
//! liquid α). [`run_epoch`] takes an [`EpochParams`] and an [`EpochInput`] and returns an
//! [`EpochOutput`]; the caller persists the output (permits, bonds) and feeds it to the next epoch.
//!
//! # Invariants
//! - Invariant: no floating point, no hash-ordered collection, no clock, no randomness. All arithmetic
//!   is integer fixed point ([`I32F32`]) with `substrate-fixed`'s rounding (multiply floors, divide
//!   truncates, `safe_div` gives 0 on zero/overflow), so every node computes the same bytes.
//! - Invariant: the epoch is a pure function and never panics on any input that passes validation;
//!   malformed input is an [`EpochError`] naming the offending value.
//! - Invariant: summation is exact (or saturating), so the order of validators never changes a sum;
//!   the only order-dependent steps are the top-k permit tie-break (lower uid loses) and the storage
//!   row order of bonds (ascending uid).
//! - Invariant: the consensus of a miner is one of the scores its voters gave it (0 for silent
//!   voters), hence never above the largest weight it received.
//! - Invariant: incentive and dividends are each normalized (sum 1 within n ulps) or all zero.
//!
//! # Reference → code
//! | Reference | Formula | Code |
//! |---|---|---|
//! | §1.2 | floor-multiply, truncating divide, `safe_div` | [`I32F32`] |
//! | §1.3 | `q(x) = ⌊x ⊗ 65535⌋`; `v ⊘ 65535` | [`I32F32::to_u16_proportion`], [`I32F32::from_u16_proportion`] |
//! | §1.3 | weight max-upscale on set | [`max_upscale_weights`] |
//! | §1.4 | `exp` (Taylor, 31 terms), clamped to ±20 | [`I32F32::checked_exp`], [`I32F32::exp_safe`] |
//! | §2 | activity cutoff `max(1, ⌊f·tempo/1000⌋)` | [`activity_cutoff_blocks`] |
//! | §3.1 | `inactive = last_update + cutoff < block` | `epoch::activity` |
//! | §3.2 | S = floor₃₂(normalize₁₂₈(stake ≥ threshold)) | `epoch::normalized_stake` |
//! | §3.3 | P (old, masks) and P′ = top-k non-zero | `epoch::permits`, [`math::is_topk_nonzero`] |
//! | §3.4 | A = normalize(S · active · P) | `epoch::active_stake` |
//! | §3.5 | permit / self / outdated / commit–reveal masks, row-normalize | `epoch::masked_weights` |
//! | §3.6 | `c_j`: `C(<w) ≤ σ − κ < C(≤w)` | [`math::weighted_median_col`], [`math::weighted_quantile`] |
//! | §3.7 | `W̄ = min(W, c)`, `VT = Σ_j W̄` | `epoch::clip` |
//! | §3.8 | `R = Σ_i A_i ⊗ W̄_ij`, `I = normalize(R)` | [`math::weighted_col_sums`] |
//! | §3.9 | `W̃ = W + β ⊗ (W̄ − W)` | [`math::interpolate`] |
//! | §3.10 | original: `B = colnorm(α ΔB + (1−α) B⁰)`, `D = normalize(B I)`, max-upscale | `bonds::original` |
//! | §3.11 | Yuma 3: EMA, liquid α, `D = normalize(A · B̂ I)`, store `q(B)` | `bonds::yuma3`, [`liquid_alpha`] |
//! | §3.12 | emission shares and fallback, `⌊share · E⌋` | `epoch::emission` |
//! | §3.13 | stored bond rows (empty without P′) | [`EpochOutput::bonds`] |
//!
//! # Deliberate choices where the reference leaves room
//! - Internally every matrix is dense, so a weight a validator omitted behaves exactly like an
//!   explicit 0 (upstream's *dense* semantics). The only place upstream's production sparse path differs
//!   is Yuma 3 with liquid α (§3.16): there an omitted miner's bond is dropped at once rather than
//!   decayed, and rows submitted in descending uid order pair entries wrongly. We do not mirror those
//!   quirks; no reference vector exercises them.
//! - Production semantics are used for the subnet owner (stake-threshold exemption, forced permit,
//!   kept self-weight) and for the commit–reveal column mask ([`Neuron::commit_block`]). With no owner
//!   and no commits, this equals the dense test path, so every reference vector applies.
//! - Input rows naming a uid ≥ n, or the same uid twice, are rejected rather than silently dropped.
//! - Stake arrives as one u64 per uid (alpha plus tao-weighted tao, already combined by the caller).

mod bonds;
mod epoch;
mod error;
mod fixed;
mod input;
pub mod math;
mod output;

pub use bonds::liquid_alpha;
pub use epoch::run_epoch;
pub use error::EpochError;
pub use fixed::I32F32;
pub use input::{
    BONDS_MOVING_AVERAGE_MAX, BondsMode, EpochInput, EpochParams, LiquidAlpha, MAX_NEURONS, Neuron,
    RowKind, activity_cutoff_blocks, max_upscale_weights,
};
pub use output::EpochOutput;
