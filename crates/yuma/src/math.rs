//! Vector and matrix helpers (reference §1.2) and the stake-weighted κ-quantile (§3.6).
//!
//! Matrices are dense, row-major `Vec<Vec<I32F32>>` with row = validator i and column = uid j; every row
//! has the same length. Absent sparse entries are zeros, which the epoch's arithmetic cannot tell apart
//! from explicit zeros (see the crate docs for the one place upstream's sparse path can).

use crate::fixed::I32F32;

/// A dense matrix, row-major.
pub type Matrix = Vec<Vec<I32F32>>;

/// Sum with saturating adds (exact when in range, so summation order is irrelevant).
pub fn sum(x: &[I32F32]) -> I32F32 {
    x.iter().fold(I32F32::ZERO, |acc, v| acc.saturating_add(*v))
}

/// Divide each element by the exact sum; left unchanged when the sum is 0.
pub fn normalize(x: &mut [I32F32]) {
    let total = sum(x);
    normalize_by(x, total);
}

/// Divide each element by `total` (`safe_div`); left unchanged when `total` is 0.
pub fn normalize_by(x: &mut [I32F32], total: I32F32) {
    if total.is_zero() {
        return;
    }
    for v in x.iter_mut() {
        *v = v.safe_div(total);
    }
}

/// Normalize each row whose sum is positive.
pub fn row_normalize(m: &mut Matrix) {
    for row in m.iter_mut() {
        let total = sum(row);
        if total > I32F32::ZERO {
            normalize_by(row, total);
        }
    }
}

/// Per-column sums.
pub fn col_sums(m: &Matrix, cols: usize) -> Vec<I32F32> {
    let mut out = vec![I32F32::ZERO; cols];
    for row in m {
        for (acc, v) in out.iter_mut().zip(row) {
            *acc = acc.saturating_add(*v);
        }
    }
    out
}

/// Normalize each column with a non-zero sum.
pub fn col_normalize(m: &mut Matrix, cols: usize) {
    let totals = col_sums(m, cols);
    divide_cols(m, &totals);
}

/// Divide each column by its maximum (when non-zero): the storage form of original-variant bonds.
pub fn col_max_upscale(m: &mut Matrix, cols: usize) {
    let mut maxes = vec![I32F32::ZERO; cols];
    for row in m.iter() {
        for (mx, v) in maxes.iter_mut().zip(row) {
            *mx = (*mx).max(*v);
        }
    }
    divide_cols(m, &maxes);
}

fn divide_cols(m: &mut Matrix, divisors: &[I32F32]) {
    for row in m.iter_mut() {
        for (v, d) in row.iter_mut().zip(divisors) {
            if !d.is_zero() {
                *v = v.safe_div(*d);
            }
        }
    }
}

/// `r_j = Σ_i x_i ⊗ m_ij` (saturating adds).
pub fn weighted_col_sums(m: &Matrix, x: &[I32F32], cols: usize) -> Vec<I32F32> {
    let mut out = vec![I32F32::ZERO; cols];
    for (row, xi) in m.iter().zip(x) {
        for (acc, v) in out.iter_mut().zip(row) {
            *acc = acc.saturating_add(xi.saturating_mul(*v));
        }
    }
    out
}

/// `d_i = Σ_j m_ij ⊗ y_j` (saturating adds).
pub fn weighted_row_sums(m: &Matrix, y: &[I32F32]) -> Vec<I32F32> {
    m.iter()
        .map(|row| {
            row.iter().zip(y).fold(I32F32::ZERO, |acc, (v, yj)| {
                acc.saturating_add(v.saturating_mul(*yj))
            })
        })
        .collect()
}

/// Stake-weighted κ-quantile of one column given its `minority = σ − κ` (§3.6, "definition"): the
/// distinct score `w` with `C(<w) ≤ minority < C(≤w)`, where `C` sums the stakes of voters by score.
/// Smallest score when `minority < 0`, largest when `minority ≥ σ`, 0 with no voters.
///
/// Equivalent to upstream's fixed-pivot quickselect (checked by the reference on 200 000 cases, and by
/// a property test here against an independent transcription of it).
pub fn weighted_quantile(stake: &[I32F32], score: &[I32F32], minority: I32F32) -> I32F32 {
    let mut order: Vec<usize> = (0..stake.len().min(score.len())).collect();
    // Stable sort by score: only the score value matters among ties, so stability is not needed for
    // the result, but it keeps the work deterministic.
    order.sort_by_key(|&i| score[i]);
    let mut cum = I32F32::ZERO;
    let mut k = 0;
    while k < order.len() {
        let w = score[order[k]];
        while k < order.len() && score[order[k]] == w {
            cum = cum.saturating_add(stake[order[k]]);
            k += 1;
        }
        // Every earlier group had C(≤w') ≤ minority, so C(<w) ≤ minority holds here.
        if minority < cum {
            return w;
        }
    }
    order.last().map_or(I32F32::ZERO, |&i| score[i])
}

/// Consensus for every column (§3.6): voters are rows with `active_stake > 0`, in uid order; their
/// stakes are renormalized to `s` (sum σ); a voter without an entry votes 0; `c_j` is the
/// [`weighted_quantile`] at `minority = σ − κ` (saturating, may be negative).
pub fn weighted_median_col(
    active_stake: &[I32F32],
    w: &Matrix,
    kappa: I32F32,
    cols: usize,
) -> Vec<I32F32> {
    let voters: Vec<usize> = (0..active_stake.len())
        .filter(|&i| active_stake[i] > I32F32::ZERO)
        .collect();
    if voters.is_empty() {
        return vec![I32F32::ZERO; cols];
    }
    let mut s: Vec<I32F32> = voters.iter().map(|&i| active_stake[i]).collect();
    normalize(&mut s);
    let minority = sum(&s).saturating_sub(kappa);
    (0..cols)
        .map(|j| {
            let scores: Vec<I32F32> = voters
                .iter()
                .map(|&i| {
                    w.get(i)
                        .and_then(|r| r.get(j))
                        .copied()
                        .unwrap_or(I32F32::ZERO)
                })
                .collect();
            weighted_quantile(&s, &scores, minority)
        })
        .collect()
}

/// `a + ratio ⊗ (b − a)` element-wise; exactly `a` at ratio 0 and exactly `b` at ratio 1 (§3.9).
pub fn interpolate(a: &Matrix, b: &Matrix, ratio: I32F32) -> Matrix {
    if ratio == I32F32::ZERO {
        return a.clone();
    }
    if ratio == I32F32::ONE {
        return b.clone();
    }
    a.iter()
        .zip(b)
        .map(|(ra, rb)| {
            ra.iter()
                .zip(rb)
                .map(|(x, y)| x.saturating_add(ratio.saturating_mul(y.saturating_sub(*x))))
                .collect()
        })
        .collect()
}

/// Is each entry among the top `k` of `x`, counting only non-zero entries (§3.3)? Ties at the cut are
/// lost by the lower index (ascending stable sort, the first `n − k` cleared).
pub fn is_topk_nonzero(x: &[I32F32], k: usize) -> Vec<bool> {
    let n = x.len();
    let mut out: Vec<bool> = x.iter().map(|v| !v.is_zero()).collect();
    if n < k {
        return out;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| x[i]);
    for &i in order.iter().take(n - k) {
        out[i] = false;
    }
    out
}
