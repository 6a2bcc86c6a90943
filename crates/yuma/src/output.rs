//! What an epoch produces (reference §3.13), in fixed point and in the stored u16 / u64 forms.

use crate::fixed::I32F32;

/// The epoch's results, indexed by uid. Fixed-point vectors are the exact values; the `*_u16`
/// accessors give what subtensor persists (`q(x) = ⌊x ⊗ 65535⌋`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EpochOutput {
    /// Not inactive: `last_update + cutoff ≥ current_block`.
    pub active: Vec<bool>,
    /// S: thresholded stake, normalized in 128 bits and floored to Q32.32.
    pub stake: Vec<I32F32>,
    /// A: S masked by activity and the previous permits, renormalized (the voting stake).
    pub active_stake: Vec<I32F32>,
    /// P′: top-k non-zero stake (owner forced); governs the next epoch.
    pub new_validator_permits: Vec<bool>,
    /// c: per-miner stake-weighted κ-quantile of the normalized weights.
    pub consensus: Vec<I32F32>,
    /// VT: per-validator sum of its weights clipped to consensus.
    pub validator_trust: Vec<I32F32>,
    /// R: `Σ_i A_i ⊗ W̄_ij`, before normalization.
    pub ranks: Vec<I32F32>,
    /// I = normalize(R).
    pub incentive: Vec<I32F32>,
    /// D, normalized.
    pub dividends: Vec<I32F32>,
    /// Bond rows to store for the next epoch, `(uid, value)` with value > 0, ascending uid. Uids
    /// without a new permit get an empty row. Original variant: column max-upscaled; Yuma 3: q(B).
    pub bonds: Vec<Vec<(u16, u16)>>,
    /// Miner (server) share of the emission, rao.
    pub server_emission: Vec<u64>,
    /// Validator share of the emission, rao.
    pub validator_emission: Vec<u64>,
    /// Combined emission as persisted (`Emission`), rao.
    pub emission: Vec<u64>,
}

fn quantize(v: &[I32F32]) -> Vec<u16> {
    v.iter().map(|x| x.to_u16_proportion()).collect()
}

impl EpochOutput {
    /// `StakeWeight`.
    pub fn stake_weight_u16(&self) -> Vec<u16> {
        quantize(&self.stake)
    }
    /// `Consensus`.
    pub fn consensus_u16(&self) -> Vec<u16> {
        quantize(&self.consensus)
    }
    /// `ValidatorTrust`.
    pub fn validator_trust_u16(&self) -> Vec<u16> {
        quantize(&self.validator_trust)
    }
    /// `Incentive`.
    pub fn incentive_u16(&self) -> Vec<u16> {
        quantize(&self.incentive)
    }
    /// `Dividends`.
    pub fn dividends_u16(&self) -> Vec<u16> {
        quantize(&self.dividends)
    }
    /// Stored bond value of row `i`, column `j` (0 if absent).
    pub fn bond(&self, i: usize, j: usize) -> u16 {
        self.bonds
            .get(i)
            .and_then(|row| row.iter().find(|(c, _)| usize::from(*c) == j))
            .map_or(0, |(_, v)| *v)
    }
}
