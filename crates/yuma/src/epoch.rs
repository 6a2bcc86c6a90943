//! The epoch (reference §3.1–§3.13), one step per function, in the reference's order.

use crate::bonds::{self, BondsResult};
use crate::error::EpochError;
use crate::fixed::I32F32;
use crate::input::{BondsMode, EpochInput, EpochParams, validate_input};
use crate::math::{self, Matrix};
use crate::output::EpochOutput;

/// Run one epoch. Pure: the same input gives the same bytes on every machine.
pub fn run_epoch(params: &EpochParams, input: &EpochInput) -> Result<EpochOutput, EpochError> {
    params.validate()?;
    validate_input(input)?;
    let n = input.neurons.len();
    let active = activity(input);
    let stake = normalized_stake(input, params.stake_threshold)?;
    let (permits, new_validator_permits) = permits(input, &stake, params.max_allowed_validators);
    let active_stake = active_stake(&stake, &active, &permits);

    let weights = masked_weights(input, &permits);
    let consensus = math::weighted_median_col(&active_stake, &weights, params.kappa, n);
    let clipped = clip(&weights, &consensus);
    let validator_trust: Vec<I32F32> = clipped.iter().map(|r| math::sum(r)).collect();
    let ranks = math::weighted_col_sums(&clipped, &active_stake, n);
    let mut incentive = ranks.clone();
    math::normalize(&mut incentive);

    let weights_for_bonds = math::interpolate(&weights, &clipped, params.bonds_penalty);
    let BondsResult { dividends, stored } = match params.bonds_mode {
        BondsMode::Original => bonds::original(
            previous_bonds(input, |v| I32F32::from_int(i64::from(v))),
            &weights_for_bonds,
            &active_stake,
            &incentive,
            params.fixed_alpha(),
        ),
        BondsMode::Yuma3 { liquid_alpha } => bonds::yuma3(
            &previous_bonds(input, I32F32::from_u16_proportion),
            &weights_for_bonds,
            &consensus,
            &active_stake,
            &incentive,
            params.fixed_alpha(),
            liquid_alpha,
        ),
    };
    let bonds = stored_bonds(stored, &new_validator_permits);
    let split = emission(
        &incentive,
        &dividends,
        &active_stake,
        &stake,
        input.emission,
    );
    Ok(EpochOutput {
        active,
        stake,
        active_stake,
        new_validator_permits,
        consensus,
        validator_trust,
        ranks,
        incentive,
        dividends,
        bonds,
        server_emission: split.server,
        validator_emission: split.validator,
        emission: split.combined,
    })
}

/// §3.1: active unless `last_update + cutoff < current_block` (strict).
fn activity(input: &EpochInput) -> Vec<bool> {
    input
        .neurons
        .iter()
        .map(|nr| {
            nr.last_update.saturating_add(input.activity_cutoff_blocks) >= input.current_block
        })
        .collect()
}

/// §3.2: zero stakes below the threshold (owner exempt), normalize in 128 bits, floor to Q32.32.
/// I64F64 `a ⊘ Σ` then a flooring narrow equals `⌊a·2³²/Σ⌋` directly, computed here in u128.
fn normalized_stake(input: &EpochInput, threshold: u64) -> Result<Vec<I32F32>, EpochError> {
    let raw: Vec<u64> = input
        .neurons
        .iter()
        .enumerate()
        .map(|(uid, nr)| {
            let owner = input.owner_uid.is_some_and(|o| usize::from(o) == uid);
            if !owner && nr.stake < threshold {
                0
            } else {
                nr.stake
            }
        })
        .collect();
    let total: u128 = raw.iter().map(|&s| u128::from(s)).sum();
    if total == 0 {
        return Err(EpochError::ZeroTotalStake);
    }
    Ok(raw
        .iter()
        .map(|&s| {
            // s ≤ total, so the quotient is at most 2³² and fits.
            let bits = (u128::from(s) << 32) / total;
            I32F32::from_bits(i64::try_from(bits).unwrap_or(i64::MAX))
        })
        .collect())
}

/// §3.3: the old permits P (owner forced) used for masking, and the new top-k permits P′.
fn permits(input: &EpochInput, stake: &[I32F32], k: u16) -> (Vec<bool>, Vec<bool>) {
    let mut old: Vec<bool> = input.neurons.iter().map(|nr| nr.validator_permit).collect();
    let mut new = math::is_topk_nonzero(stake, usize::from(k));
    if let Some(owner) = input.owner_uid {
        old[usize::from(owner)] = true;
        new[usize::from(owner)] = true;
    }
    (old, new)
}

/// §3.4: A = S with inactive and unpermitted uids zeroed, renormalized.
fn active_stake(stake: &[I32F32], active: &[bool], permits: &[bool]) -> Vec<I32F32> {
    let mut a: Vec<I32F32> = stake
        .iter()
        .zip(active.iter().zip(permits))
        .map(|(s, (&act, &perm))| if act && perm { *s } else { I32F32::ZERO })
        .collect();
    math::normalize(&mut a);
    a
}

/// §3.5: stored weights as numbers 0…65535, masked (permit, self-weight except the owner's, outdated,
/// commit–reveal), then row-normalized.
fn masked_weights(input: &EpochInput, permits: &[bool]) -> Matrix {
    let n = input.neurons.len();
    let mut w = vec![vec![I32F32::ZERO; n]; n];
    for (i, nr) in input.neurons.iter().enumerate() {
        if !permits[i] {
            continue;
        }
        let is_owner = input.owner_uid.is_some_and(|o| usize::from(o) == i);
        for &(col, value) in &nr.weights {
            let j = usize::from(col);
            let reg_j = input.neurons[j].block_at_registration;
            let self_weight = i == j && !is_owner;
            let outdated = nr.last_update <= reg_j;
            let sniped = nr.commit_block.is_some_and(|cb| cb < reg_j);
            if !(self_weight || outdated || sniped) {
                w[i][j] = I32F32::from_int(i64::from(value));
            }
        }
    }
    math::row_normalize(&mut w);
    w
}

/// §3.7: `W̄_ij = min(W_ij, c_j)`.
fn clip(weights: &Matrix, consensus: &[I32F32]) -> Matrix {
    weights
        .iter()
        .map(|row| {
            row.iter()
                .zip(consensus)
                .map(|(w, c)| (*w).min(*c))
                .collect()
        })
        .collect()
}

/// §3.10 steps 1–2 / §3.11 steps 1–2: previous bonds decoded by `read`, with columns of uids
/// registered at or after `last_tempo` zeroed.
fn previous_bonds(input: &EpochInput, read: impl Fn(u16) -> I32F32) -> Matrix {
    let n = input.neurons.len();
    let last_tempo = if input.last_step_block == 0 {
        input.current_block.saturating_sub(input.tempo)
    } else {
        input.last_step_block.saturating_add(1)
    };
    let mut b = vec![vec![I32F32::ZERO; n]; n];
    for (i, nr) in input.neurons.iter().enumerate() {
        for &(col, value) in &nr.bonds {
            let j = usize::from(col);
            if last_tempo > input.neurons[j].block_at_registration {
                b[i][j] = read(value);
            }
        }
    }
    b
}

/// §3.13: rows of uids holding a new permit keep their non-zero entries; all others are emptied.
fn stored_bonds(stored: Vec<Vec<u16>>, new_permits: &[bool]) -> Vec<Vec<(u16, u16)>> {
    stored
        .into_iter()
        .zip(new_permits)
        .map(|(row, &permit)| {
            if !permit {
                return Vec::new();
            }
            (0u16..).zip(row).filter(|(_, v)| *v > 0).collect()
        })
        .collect()
}

/// Emission amounts per uid (§3.12).
struct EmissionSplit {
    server: Vec<u64>,
    validator: Vec<u64>,
    combined: Vec<u64>,
}

/// §3.12: shares `I/Σ`, `D/Σ`, `normalize(I + D)` with `Σ = Σ(I + D)`; if Σ = 0 the validator and
/// combined shares fall back to A (or S when A is all zero). Amounts `⌊share · E⌋`.
fn emission(
    incentive: &[I32F32],
    dividends: &[I32F32],
    active_stake: &[I32F32],
    stake: &[I32F32],
    amount: u64,
) -> EmissionSplit {
    let mut combined: Vec<I32F32> = incentive
        .iter()
        .zip(dividends)
        .map(|(i, d)| i.saturating_add(*d))
        .collect();
    let total = math::sum(&combined);
    let mut server = incentive.to_vec();
    let mut validator = dividends.to_vec();
    math::normalize_by(&mut server, total);
    math::normalize_by(&mut validator, total);
    math::normalize(&mut combined);
    if total.is_zero() {
        let fallback = if math::sum(active_stake).is_zero() {
            stake
        } else {
            active_stake
        };
        validator = fallback.to_vec();
        combined = fallback.to_vec();
    }
    EmissionSplit {
        server: to_amounts(&server, amount),
        validator: to_amounts(&validator, amount),
        combined: to_amounts(&combined, amount),
    }
}

/// `⌊I96F32(share) × amount⌋`: the I96F32 product of a Q32.32 share and an integer is exact, so this is
/// `⌊bits · amount / 2³²⌋`, clamped to u64 (negative shares give 0).
fn to_amounts(shares: &[I32F32], amount: u64) -> Vec<u64> {
    shares
        .iter()
        .map(|s| {
            let product = i128::from(s.to_bits()) * i128::from(amount);
            u64::try_from((product >> 32).max(0)).unwrap_or(u64::MAX)
        })
        .collect()
}
