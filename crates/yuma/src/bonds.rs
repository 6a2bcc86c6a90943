//! Bonds and dividends: the original variant (§3.10) and Yuma 3 (§3.11), including liquid α.

use crate::fixed::I32F32;
use crate::input::LiquidAlpha;
use crate::math::{self, Matrix};

/// What a bond variant hands back to the epoch.
pub(crate) struct BondsResult {
    /// Dividends, normalized.
    pub dividends: Vec<I32F32>,
    /// The new bonds in stored u16 form, one dense row per uid.
    pub stored: Vec<Vec<u16>>,
}

/// Original Yuma (§3.10). `prev` holds the stored u16 values as raw numbers (0…65535), already masked
/// for recently registered columns.
pub(crate) fn original(
    prev: Matrix,
    weights_for_bonds: &Matrix,
    active_stake: &[I32F32],
    incentive: &[I32F32],
    alpha: I32F32,
) -> BondsResult {
    let n = incentive.len();
    let mut old = prev;
    math::col_normalize(&mut old, n);
    let mut delta: Matrix = weights_for_bonds
        .iter()
        .zip(active_stake)
        .map(|(row, a)| row.iter().map(|w| a.saturating_mul(*w)).collect())
        .collect();
    math::col_normalize(&mut delta, n);
    let mut ema = ema_fixed(&delta, &old, alpha);
    math::col_normalize(&mut ema, n);
    // Not multiplied by active stake: an inactive permit holder keeps earning on old bonds (vector C).
    let mut dividends = math::weighted_row_sums(&ema, incentive);
    math::normalize(&mut dividends);
    math::col_max_upscale(&mut ema, n);
    BondsResult {
        dividends,
        stored: quantize(&ema),
    }
}

/// Yuma 3 (§3.11). `prev` holds stored proportions (v / 65535), already masked for recently
/// registered columns.
pub(crate) fn yuma3(
    prev: &Matrix,
    weights_for_bonds: &Matrix,
    consensus: &[I32F32],
    active_stake: &[I32F32],
    incentive: &[I32F32],
    alpha: I32F32,
    liquid: Option<LiquidAlpha>,
) -> BondsResult {
    let n = incentive.len();
    let ema = match liquid {
        Some(la) if consensus.iter().any(|c| !c.is_zero()) => {
            ema_liquid(weights_for_bonds, prev, consensus, la)
        }
        _ => ema_fixed(weights_for_bonds, prev, alpha),
    };
    let mut shares = ema.clone();
    math::col_normalize(&mut shares, n);
    let per_validator: Vec<I32F32> = shares
        .iter()
        .map(|row| {
            row.iter().zip(incentive).fold(I32F32::ZERO, |acc, (b, i)| {
                acc.saturating_add(b.checked_mul(*i).unwrap_or(I32F32::ZERO))
            })
        })
        .collect();
    let mut dividends: Vec<I32F32> = per_validator
        .iter()
        .zip(active_stake)
        .map(|(t, a)| t.checked_mul(*a).unwrap_or(I32F32::ZERO))
        .collect();
    math::normalize(&mut dividends);
    BondsResult {
        dividends,
        stored: quantize(&ema),
    }
}

/// `α ⊗ new + (1 − α) ⊗ old`, element-wise, saturating.
fn ema_fixed(new: &Matrix, old: &Matrix, alpha: I32F32) -> Matrix {
    let keep = I32F32::ONE.saturating_sub(alpha);
    new.iter()
        .zip(old)
        .map(|(rn, ro)| {
            rn.iter()
                .zip(ro)
                .map(|(w, b)| {
                    alpha
                        .saturating_mul(*w)
                        .saturating_add(keep.saturating_mul(*b))
                })
                .collect()
        })
        .collect()
}

/// Liquid-α EMA: `min(1, (1 − α_ij) ⊗ b + max(0, α_ij ⊗ w))` with α_ij from [`liquid_alpha`].
fn ema_liquid(new: &Matrix, old: &Matrix, consensus: &[I32F32], la: LiquidAlpha) -> Matrix {
    new.iter()
        .zip(old)
        .map(|(rn, ro)| {
            rn.iter()
                .zip(ro)
                .zip(consensus)
                .map(|((w, b), c)| {
                    let a = liquid_alpha(*c, *w, *b, la);
                    let decayed = I32F32::ONE.saturating_sub(a).saturating_mul(*b);
                    let gained = a.saturating_mul(*w).max(I32F32::ZERO);
                    decayed.saturating_add(gained).min(I32F32::ONE)
                })
                .collect()
        })
        .collect()
}

/// Per-entry α (§3.11 step 3): buying (w ≥ b) measures `x = clamp(w − c, 0, 1)`, selling
/// `x = clamp(b − w, 0, 1)`; `σ = 1 / (1 + exp((steepness ⊘ −100) ⊗ (x − ½)))`;
/// `α = clamp(α_low + σ ⊗ (α_high − α_low), α_low, α_high)`.
pub fn liquid_alpha(consensus: I32F32, weight: I32F32, bond: I32F32, la: LiquidAlpha) -> I32F32 {
    let unit = |v: I32F32| v.min(I32F32::ONE).max(I32F32::ZERO);
    let x = if weight >= bond {
        unit(weight.saturating_sub(consensus))
    } else {
        unit(bond.saturating_sub(weight))
    };
    let slope = I32F32::from_int(i64::from(la.steepness)).saturating_div(I32F32::from_int(-100));
    let exponent = slope.saturating_mul(x.saturating_sub(I32F32::HALF));
    let sigmoid = I32F32::ONE.saturating_div(I32F32::ONE.saturating_add(exponent.exp_safe()));
    let alpha = la
        .low
        .saturating_add(sigmoid.saturating_mul(la.high.saturating_sub(la.low)));
    alpha.min(la.high).max(la.low)
}

fn quantize(m: &Matrix) -> Vec<Vec<u16>> {
    m.iter()
        .map(|row| row.iter().map(|v| v.to_u16_proportion()).collect())
        .collect()
}
