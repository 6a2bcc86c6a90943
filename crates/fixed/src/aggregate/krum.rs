//! Krum and Multi-Krum (Blanchard et al., NeurIPS 2017), in exact integer arithmetic.
//!
//! With `f` the assumed number of Byzantine updates and `n > 2f + 2`, the score of update `i` is
//! the sum of its `n − f − 2` smallest squared L2 distances to the other updates (over every
//! coordinate of every tensor). Krum picks the lowest score; Multi-Krum averages the `m` lowest
//! (unweighted FedAvg, floor rounding). Ranking is by `(score, index)`: ties go to the lowest index.
//!
//! Arithmetic: a coordinate difference is below 2^32 in magnitude, so its square is below 2^64
//! (u64); a distance sums at most `ELEMENTS_MAX` = 2^26 of those, below 2^90; a score sums at most
//! `UPDATES_MAX` = 2^10 distances, below 2^100. All of this fits u128, so the saturating adds
//! used for distances and scores never saturate under the crate limits.

use super::{Aggregate, AggregateError, Lineage, check_layout, fedavg::fedavg_refs};
use crate::model::QModel;

/// Krum: the single update with the lowest score (ties: lowest index), returned unchanged.
pub fn krum(updates: &[QModel], byzantine_max: usize) -> Result<Aggregate, AggregateError> {
    let scores = krum_scores(updates, byzantine_max)?;
    let best = rank(&scores)[0];
    Ok(Aggregate {
        model: updates[best].clone(),
        lineage: Lineage::Selected {
            indices: vec![best],
            scores,
        },
    })
}

/// Multi-Krum: the unweighted FedAvg of the `select_count` best-scored updates,
/// `1 ≤ select_count ≤ n − f`.
pub fn multi_krum(
    updates: &[QModel],
    byzantine_max: usize,
    select_count: usize,
) -> Result<Aggregate, AggregateError> {
    let scores = krum_scores(updates, byzantine_max)?;
    // krum_scores guarantees n > 2f + 2, so n − f does not underflow.
    let max = updates.len() - byzantine_max;
    if select_count == 0 || select_count > max {
        return Err(AggregateError::SelectCountOutOfRange { select_count, max });
    }
    let mut indices = rank(&scores);
    indices.truncate(select_count);
    let chosen: Vec<&QModel> = indices.iter().map(|&i| &updates[i]).collect();
    let model = fedavg_refs(&chosen, &vec![1; select_count])?;
    Ok(Aggregate {
        model,
        lineage: Lineage::Selected { indices, scores },
    })
}

/// Every update's Krum score, in input order. Checks the layout and `n > 2f + 2`.
pub fn krum_scores(updates: &[QModel], byzantine_max: usize) -> Result<Vec<u128>, AggregateError> {
    let refs: Vec<&QModel> = updates.iter().collect();
    check_layout(&refs)?;
    let n = refs.len();
    let min_updates = byzantine_max.saturating_mul(2).saturating_add(3);
    if n < min_updates {
        return Err(AggregateError::TooFewForKrum {
            updates: n,
            byzantine_max,
            min_updates,
        });
    }
    let neighbours = n - byzantine_max - 2;
    let distances = pairwise_distances(&refs);
    let mut row = Vec::with_capacity(n - 1);
    let scores = (0..n)
        .map(|i| {
            row.clear();
            row.extend((0..n).filter(|&k| k != i).map(|k| distances[i * n + k]));
            row.sort_unstable();
            row[..neighbours]
                .iter()
                .fold(0u128, |s, &d| s.saturating_add(d))
        })
        .collect();
    Ok(scores)
}

/// Indices ordered by `(score, index)`.
fn rank(scores: &[u128]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by_key(|&i| (scores[i], i));
    order
}

/// The symmetric n×n matrix of squared L2 distances, row-major.
fn pairwise_distances(updates: &[&QModel]) -> Vec<u128> {
    let n = updates.len();
    let mut distances = vec![0u128; n * n];
    for i in 0..n {
        for k in i + 1..n {
            let d = squared_distance(updates[i], updates[k]);
            distances[i * n + k] = d;
            distances[k * n + i] = d;
        }
    }
    distances
}

/// Σ over every coordinate of (a − b)², exact (see the module documentation).
fn squared_distance(a: &QModel, b: &QModel) -> u128 {
    let mut total = 0u128;
    for ((_, ta), (_, tb)) in a.tensors().iter().zip(b.tensors()) {
        for (&x, &y) in ta.values().iter().zip(tb.values()) {
            let d = (i64::from(x) - i64::from(y)).unsigned_abs();
            // d < 2^32, so d·d < 2^64.
            total = total.saturating_add(u128::from(d * d));
        }
    }
    total
}
