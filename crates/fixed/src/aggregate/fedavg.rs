//! Weighted FedAvg: `out[j] = ⌊ Σᵢ wᵢ·xᵢ[j] / Σᵢ wᵢ ⌋`, exact, floor toward −∞.
//!
//! Two code paths compute the same exact value, so they return the same bits:
//!
//! - **i64 path** when `W = Σ wᵢ ≤ FEDAVG_I64_WEIGHT_SUM_MAX` (2^30). Overflow argument:
//!   every `wᵢ ≤ W ≤ 2^30` and `|xᵢ[j]| ≤ 2^31`, so every prefix of the sum satisfies
//!   `|Σ wᵢ·xᵢ[j]| ≤ W·2^31 ≤ 2^61 < 2^63`: an i64 accumulator cannot overflow, which is why the
//!   loop may use wrapping operations (they never wrap; they only let the compiler vectorise
//!   under `overflow-checks = true`). Coordinates are processed in blocks of 16 whose
//!   accumulators stay in registers while every update streams through them, and the division
//!   by the loop-invariant `W` is a multiply by a precomputed reciprocal that is exact for every
//!   numerator in range ([`FloorDivisor`], proof there).
//! - **i128 path** otherwise. `wᵢ < 2^64`, `|xᵢ[j]| ≤ 2^31`, n ≤ `UPDATES_MAX` = 2^10, so
//!   `|Σ| < 2^105 < 2^127`, then `div_euclid`.
//!
//! On x86-64 CPUs with AVX2 (detected at run time) the i64 path runs the same Rust code compiled
//! for AVX2; integer operations give the same bits whatever instructions implement them, and a
//! test checks the two builds agree.
//!
//! The quotient lies between the smallest and largest input (a weighted mean), so it always fits
//! in `i32`; the saturation to `i32` in the i128 path is a backstop that can never trigger.

use super::{Aggregate, AggregateError, Lineage, check_layout, floor_div_i128, map_tensors};
use crate::model::QModel;

/// Largest weight sum that takes the i64 path (see the module documentation).
pub const FEDAVG_I64_WEIGHT_SUM_MAX: u64 = 1 << 30;

/// Coordinates per register block of the i64 path: 16 i64 accumulators (four AVX2 registers).
const BLOCK_LEN: usize = 16;

/// Weighted FedAvg of `updates` with `weights[i]` for update `i` (sample counts, scores, …).
///
/// Permutation-invariant when weights move with their updates. A zero weight is allowed (the
/// update contributes nothing but must still have the common layout); all-zero weights are an
/// error. Rounding: floor toward −∞ (`div_euclid`), so −7/3 → −3.
pub fn fedavg(updates: &[QModel], weights: &[u64]) -> Result<Aggregate, AggregateError> {
    let refs: Vec<&QModel> = updates.iter().collect();
    let model = fedavg_refs(&refs, weights)?;
    Ok(Aggregate {
        model,
        lineage: Lineage::All,
    })
}

pub(crate) fn fedavg_refs(updates: &[&QModel], weights: &[u64]) -> Result<QModel, AggregateError> {
    check_layout(updates)?;
    if weights.len() != updates.len() {
        return Err(AggregateError::WeightCountMismatch {
            updates: updates.len(),
            weights: weights.len(),
        });
    }
    // ≤ 2^10 terms below 2^64: no overflow in u128.
    let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if total == 0 {
        return Err(AggregateError::ZeroTotalWeight);
    }
    let model = if total <= u128::from(FEDAVG_I64_WEIGHT_SUM_MAX) {
        // Every weight ≤ total ≤ 2^30, so these conversions are exact.
        let small: Vec<i32> = weights.iter().map(|&w| w as i32).collect();
        let divisor = FloorDivisor::new(total as u64);
        map_tensors(updates, |columns, out| {
            weighted_mean_i64(columns, &small, &divisor, out)
        })
    } else {
        map_tensors(updates, |columns, out| {
            weighted_mean_i128(columns, weights, total as i128, out)
        })
    };
    Ok(model)
}

/// Exact `⌊s / w⌋` for a fixed `w` in `1..=2^30` and every `s` in `[−2^31·w, (2^31 − 1)·w]`
/// (the range of a weighted sum of i32 values with weight sum `w`), without a division.
///
/// Shift `s` to `u = s + 2^31·w ∈ [0, 2^32·w)`, so `⌊s/w⌋ = ⌊u/w⌋ − 2^31`. A power of two `w =
/// 2^k` is an arithmetic shift. Otherwise, with `L = ⌈log2 w⌉ ∈ [2, 30]`, `F = max(64, 32 + 2L)`
/// and `c = ⌈2^F / w⌉`: `c·w = 2^F + e` with `0 ≤ e < w ≤ 2^L ≤ 2^(F−N)` for `N = 32 + L` (u <
/// 2^N), which is the condition under which `⌊u·c / 2^F⌋ = ⌊u / w⌋` for every `u < 2^N`
/// (Granlund & Montgomery 1994, Thm 4.2; Lemire et al. 2019, Thm 1). Sizes: `w > 2^(L−1)`, so
/// `c ≤ 2^(F−L+1) ≤ 2^63` fits u64, and `u·c < 2^(F+33) ≤ 2^125` fits u128; the quotient is the
/// high word of the 64×64→128 product shifted right by `F − 64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FloorDivisor {
    Shift { bits: u32 },
    Reciprocal { w: u64, c: u64, shift: u32 },
}

impl FloorDivisor {
    /// `w` must be in `1..=FEDAVG_I64_WEIGHT_SUM_MAX`.
    pub(crate) fn new(w: u64) -> Self {
        debug_assert!((1..=FEDAVG_I64_WEIGHT_SUM_MAX).contains(&w));
        if w.is_power_of_two() {
            return Self::Shift {
                bits: w.trailing_zeros(),
            };
        }
        let l = 64 - (w - 1).leading_zeros();
        let f = (32 + 2 * l).max(64);
        let c = (1u128 << f).div_ceil(u128::from(w));
        Self::Reciprocal {
            w,
            c: c as u64,
            shift: f - 64,
        }
    }

    /// `⌊s / w⌋` for `s` in the documented range; the result fits i32.
    #[inline(always)]
    pub(crate) fn floor_div(&self, s: i64) -> i32 {
        match *self {
            // Arithmetic shift floors toward −∞; |s >> bits| ≤ 2^31 by the range of s.
            Self::Shift { bits } => (s >> bits) as i32,
            Self::Reciprocal { w, c, shift } => {
                // In range, u ∈ [0, 2^32·w) and no operation below wraps (see the type's proof).
                let u = (s as u64).wrapping_add(w << 31);
                let q = ((u128::from(u).wrapping_mul(u128::from(c)) >> 64) as u64) >> shift;
                // q < 2^32; q − 2^31 by flipping the top bit of its low 32 bits.
                ((q as u32) ^ 0x8000_0000) as i32
            }
        }
    }
}

/// The i64 path; `weights` are non-negative and sum to the divisor's `w` ≤ 2^30.
fn weighted_mean_i64(columns: &[&[i32]], weights: &[i32], divisor: &FloorDivisor, out: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        #[allow(unsafe_code)]
        // SAFETY: the only requirement of a `target_feature` function is that the CPU supports
        // the feature, which was just detected.
        unsafe {
            weighted_mean_i64_avx2(columns, weights, divisor, out)
        };
        return;
    }
    weighted_mean_i64_kernel(columns, weights, divisor, out);
}

/// The same kernel compiled with AVX2 enabled (`vpmuldq` makes the i32×i32→i64 product cheap).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn weighted_mean_i64_avx2(
    columns: &[&[i32]],
    weights: &[i32],
    divisor: &FloorDivisor,
    out: &mut [i32],
) {
    weighted_mean_i64_kernel(columns, weights, divisor, out);
}

#[inline(always)]
fn weighted_mean_i64_kernel(
    columns: &[&[i32]],
    weights: &[i32],
    divisor: &FloorDivisor,
    out: &mut [i32],
) {
    // One monomorphised loop per divisor kind, so the match is outside the loop.
    match *divisor {
        FloorDivisor::Shift { bits } => blocks(columns, weights, out, |s| (s >> bits) as i32),
        reciprocal => blocks(columns, weights, out, |s| reciprocal.floor_div(s)),
    }
}

/// `out[j] = finish(Σᵢ wᵢ·xᵢ[j])`, 16 coordinates at a time with register accumulators.
#[inline(always)]
fn blocks(columns: &[&[i32]], weights: &[i32], out: &mut [i32], finish: impl Fn(i64) -> i32) {
    let full = out.len() / BLOCK_LEN * BLOCK_LEN;
    let (head, tail) = out.split_at_mut(full);
    for (block, out) in head.chunks_exact_mut(BLOCK_LEN).enumerate() {
        let start = block * BLOCK_LEN;
        let mut acc = [0i64; BLOCK_LEN];
        for (column, &w) in columns.iter().zip(weights) {
            let w = i64::from(w);
            let xs: &[i32; BLOCK_LEN] = column[start..start + BLOCK_LEN]
                .try_into()
                .expect("slice of BLOCK_LEN");
            for (a, &x) in acc.iter_mut().zip(xs) {
                // Never wraps: see the module documentation.
                *a = a.wrapping_add(w.wrapping_mul(i64::from(x)));
            }
        }
        for (o, &a) in out.iter_mut().zip(&acc) {
            *o = finish(a);
        }
    }
    for (j, o) in (full..).zip(tail) {
        let sum = columns.iter().zip(weights).fold(0i64, |s, (column, &w)| {
            s.wrapping_add(i64::from(w).wrapping_mul(i64::from(column[j])))
        });
        *o = finish(sum);
    }
}

/// The i128 path, for weight sums above 2^30.
fn weighted_mean_i128(columns: &[&[i32]], weights: &[u64], total: i128, out: &mut [i32]) {
    for (j, o) in out.iter_mut().enumerate() {
        // Never wraps (|Σ| < 2^105, module documentation); wrapping ops avoid the checked
        // 128-bit multiply's library call.
        let sum = columns.iter().zip(weights).fold(0i128, |s, (column, &w)| {
            s.wrapping_add(i128::from(w).wrapping_mul(i128::from(column[j])))
        });
        *o = floor_div_i128(sum, total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(w: u64, s: i64) {
        let d = FloorDivisor::new(w);
        assert_eq!(
            i64::from(d.floor_div(s)),
            s.div_euclid(w as i64),
            "w={w} s={s}"
        );
    }

    #[test]
    fn floor_divisor_is_exact_at_range_edges() {
        let ws = [
            1,
            2,
            3,
            5,
            7,
            10,
            255,
            641,
            65_535,
            65_537,
            (1 << 29) + 1,
            (1 << 30) - 1,
            1 << 30,
        ];
        for w in ws {
            let (lo, hi) = (-(1i64 << 31) * w as i64, ((1i64 << 31) - 1) * w as i64);
            for s in [
                lo,
                lo + 1,
                -(w as i64) - 1,
                -(w as i64),
                -1,
                0,
                1,
                w as i64 - 1,
                w as i64,
                hi - 1,
                hi,
            ] {
                check(w, s);
            }
        }
    }

    proptest! {
        #[test]
        fn floor_divisor_matches_div_euclid(w in 1u64..=FEDAVG_I64_WEIGHT_SUM_MAX, frac in 0u64..=u64::MAX) {
            // s uniformly placed in [−2^31·w, (2^31 − 1)·w].
            let span = (u128::from(w) << 32) - u128::from(w);
            let s = ((u128::from(frac) * (span + 1)) >> 64) as i64 - (w as i64) * (1 << 31);
            check(w, s);
        }

        #[test]
        fn kernel_builds_agree(
            rows in proptest::collection::vec(proptest::collection::vec(any::<i32>(), 37), 1..6),
            weights in proptest::collection::vec(0i32..1000, 6),
        ) {
            let weights = &weights[..rows.len()];
            let total: i64 = weights.iter().map(|&w| i64::from(w)).sum();
            prop_assume!(total > 0);
            let columns: Vec<&[i32]> = rows.iter().map(Vec::as_slice).collect();
            let divisor = FloorDivisor::new(total as u64);
            let mut portable = vec![0; 37];
            weighted_mean_i64_kernel(&columns, weights, &divisor, &mut portable);
            let mut dispatched = vec![0; 37];
            weighted_mean_i64(&columns, weights, &divisor, &mut dispatched);
            prop_assert_eq!(&portable, &dispatched);
            for (j, &o) in portable.iter().enumerate() {
                let s: i64 = columns.iter().zip(weights).map(|(c, &w)| i64::from(w) * i64::from(c[j])).sum();
                prop_assert_eq!(i64::from(o), s.div_euclid(total));
            }
        }
    }
}
