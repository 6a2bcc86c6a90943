//! Epoch inputs and parameters (reference §2), their validation, and the storage encodings that callers
//! need to build them (§1.3).

use crate::error::EpochError;
use crate::fixed::I32F32;

/// Most uids an epoch accepts. Why: the epoch is O(n²) in dense matrices, and raw u16 weight rows are
/// summed in I32F32 (max 2³¹), which `MAX_NEURONS · 65535` must not reach.
pub const MAX_NEURONS: usize = 4096;

/// Largest `bonds_moving_average`: it is read as `bma / 10⁶`, and α = 1 − that must stay in [0, 1].
pub const BONDS_MOVING_AVERAGE_MAX: u64 = 1_000_000;

/// One uid's state as the epoch reads it from storage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Neuron {
    /// Raw stake in rao, already combined (`alpha + tao · tao_weight`, inherited), before the threshold.
    pub stake: u64,
    /// Block of the last weight update (or commit, or registration).
    pub last_update: u64,
    /// Block at which this uid was last (re)registered.
    pub block_at_registration: u64,
    /// The validator permit issued by the previous epoch (P, used for masking in this epoch).
    pub validator_permit: bool,
    /// Earliest unexpired weight commit (commit–reveal, §5.3); `None` when there is none or commit–reveal
    /// is off. Weights to uids registered after it are masked.
    pub commit_block: Option<u64>,
    /// Stored weight row `(uid, value)`: max-upscaled u16 values as set (see [`max_upscale_weights`]).
    pub weights: Vec<(u16, u16)>,
    /// Stored bond row `(uid, value)`, as the previous epoch output it ([`crate::EpochOutput::bonds`]).
    pub bonds: Vec<(u16, u16)>,
}

/// Everything an epoch reads besides the parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EpochInput {
    /// The current block.
    pub current_block: u64,
    /// Blocks between epochs.
    pub tempo: u64,
    /// A uid is inactive when `last_update + activity_cutoff_blocks < current_block`; see
    /// [`activity_cutoff_blocks`].
    pub activity_cutoff_blocks: u64,
    /// Block of the previous successful epoch step (`LastMechansimStepBlock`), 0 if never recorded.
    pub last_step_block: u64,
    /// The subnet owner's uid, if registered: exempt from the stake threshold, permit forced, own
    /// self-weight kept.
    pub owner_uid: Option<u16>,
    /// Amount (rao) the epoch distributes.
    pub emission: u64,
    /// All uids, indexed by uid.
    pub neurons: Vec<Neuron>,
}

/// Which bond computation runs (§3.10 / §3.11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BondsMode {
    /// Original Yuma: stake-weighted ΔB, column-normalized EMA, max-upscaled storage.
    Original,
    /// Yuma 3: EMA of the bond weights themselves, stored as proportions; optional liquid α.
    Yuma3 {
        /// Per-entry α; `None` for the fixed α of `bonds_moving_average`.
        liquid_alpha: Option<LiquidAlpha>,
    },
}

/// Liquid-alpha parameters (Yuma 3 only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiquidAlpha {
    /// α_low, in [0, 1].
    pub low: I32F32,
    /// α_high, in [α_low, 1].
    pub high: I32F32,
    /// Sigmoid steepness as stored (slope = steepness / 100).
    pub steepness: i16,
}

impl LiquidAlpha {
    /// From the stored `AlphaValues` pair (each `v / 65535`) and `AlphaSigmoidSteepness`.
    pub fn from_stored(low: u16, high: u16, steepness: i16) -> Self {
        Self {
            low: I32F32::from_u16_proportion(low),
            high: I32F32::from_u16_proportion(high),
            steepness,
        }
    }
}

/// Epoch parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochParams {
    /// κ in [0, 1]: the share of voting stake that must support a consensus weight.
    pub kappa: I32F32,
    /// β in [0, 1]: 0 bonds on raw weights, 1 on weights clipped to consensus.
    pub bonds_penalty: I32F32,
    /// Fixed EMA α = 1 − bonds_moving_average / 10⁶; at most [`BONDS_MOVING_AVERAGE_MAX`].
    pub bonds_moving_average: u64,
    /// k for the top-k validator permits.
    pub max_allowed_validators: u16,
    /// Raw stake below this (in rao) is zeroed, the owner excepted.
    pub stake_threshold: u64,
    /// Bond variant.
    pub bonds_mode: BondsMode,
}

impl EpochParams {
    /// From the stored u16 encodings: κ = kappa/65535 and β = bonds_penalty/65535.
    pub fn from_stored(
        kappa: u16,
        bonds_penalty: u16,
        bonds_moving_average: u64,
        max_allowed_validators: u16,
        bonds_mode: BondsMode,
    ) -> Self {
        Self {
            kappa: I32F32::from_u16_proportion(kappa),
            bonds_penalty: I32F32::from_u16_proportion(bonds_penalty),
            bonds_moving_average,
            max_allowed_validators,
            stake_threshold: 0,
            bonds_mode,
        }
    }

    /// The fixed EMA α: `1 − I32F32(I64F64(bma) ⊘ 10⁶)`; the narrowing floors, so α = 1 − ⌊bma·2³²/10⁶⌋·2⁻³².
    pub fn fixed_alpha(&self) -> I32F32 {
        let scaled = (u128::from(self.bonds_moving_average) << 32) / 1_000_000;
        let bits = i64::try_from(scaled).unwrap_or(i64::MAX);
        I32F32::ONE.saturating_sub(I32F32::from_bits(bits))
    }

    /// Reject parameters outside their documented ranges.
    pub fn validate(&self) -> Result<(), EpochError> {
        let unit = |v: I32F32| v >= I32F32::ZERO && v <= I32F32::ONE;
        if !unit(self.kappa) {
            return Err(EpochError::KappaOutOfRange { kappa: self.kappa });
        }
        if !unit(self.bonds_penalty) {
            return Err(EpochError::BondsPenaltyOutOfRange {
                bonds_penalty: self.bonds_penalty,
            });
        }
        if self.bonds_moving_average > BONDS_MOVING_AVERAGE_MAX {
            return Err(EpochError::BondsMovingAverageOutOfRange {
                got: self.bonds_moving_average,
                max: BONDS_MOVING_AVERAGE_MAX,
            });
        }
        if let BondsMode::Yuma3 {
            liquid_alpha: Some(la),
        } = self.bonds_mode
            && !(unit(la.low) && unit(la.high) && la.low <= la.high)
        {
            return Err(EpochError::AlphaValuesOutOfRange {
                low: la.low,
                high: la.high,
            });
        }
        Ok(())
    }
}

/// Activity cutoff in blocks: `max(1, ⌊factor_milli · tempo / 1000⌋)` (`ActivityCutoffFactorMilli`).
pub fn activity_cutoff_blocks(factor_milli: u32, tempo: u64) -> u64 {
    (u64::from(factor_milli).saturating_mul(tempo) / 1000).max(1)
}

/// The stored form of a submitted weight list (§1.3): rescaled so its maximum is 65535, each value
/// `round(v·65535/max)` (halves away from zero); if max > 32768, `65535/max` (truncating) is computed
/// first, then multiplied (flooring) and rounded. All-zero input stays zero.
pub fn max_upscale_weights(values: &[u16]) -> Vec<u16> {
    let u16_max = I32F32::from_int(i64::from(u16::MAX));
    let max = values.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return vec![0; values.len()];
    }
    let max_fx = I32F32::from_int(i64::from(max));
    values
        .iter()
        .map(|&v| {
            let v = I32F32::from_int(i64::from(v));
            let scaled = if max > 32768 {
                v.saturating_mul(u16_max.safe_div(max_fx))
            } else {
                v.saturating_mul(u16_max).safe_div(max_fx)
            };
            scaled.round().saturating_floor_u16()
        })
        .collect()
}

/// Check the input's shape: size limit, uid ranges in rows, duplicate columns, owner uid.
pub(crate) fn validate_input(input: &EpochInput) -> Result<(), EpochError> {
    let n = input.neurons.len();
    if n > MAX_NEURONS {
        return Err(EpochError::TooManyNeurons {
            got: n,
            max: MAX_NEURONS,
        });
    }
    if let Some(owner) = input.owner_uid
        && usize::from(owner) >= n
    {
        return Err(EpochError::OwnerUidOutOfRange {
            owner_uid: owner,
            n,
        });
    }
    for (uid, neuron) in input.neurons.iter().enumerate() {
        check_row(uid, &neuron.weights, n, RowKind::Weights)?;
        check_row(uid, &neuron.bonds, n, RowKind::Bonds)?;
    }
    Ok(())
}

/// Which matrix a malformed row belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowKind {
    /// A weight row.
    Weights,
    /// A bond row.
    Bonds,
}

fn check_row(uid: usize, row: &[(u16, u16)], n: usize, kind: RowKind) -> Result<(), EpochError> {
    let mut seen = vec![false; n];
    for &(col, _) in row {
        let j = usize::from(col);
        let Some(cell) = seen.get_mut(j) else {
            return Err(EpochError::ColumnOutOfRange {
                kind,
                uid,
                column: col,
                n,
            });
        };
        if *cell {
            return Err(EpochError::DuplicateColumn {
                kind,
                uid,
                column: col,
            });
        }
        *cell = true;
    }
    Ok(())
}
