//! Coordinate-wise trimmed mean: drop the `k` smallest and `k` largest values of each coordinate
//! and take the **floor** (toward −∞) of the mean of the remaining `n − 2k`.
//!
//! Sums of at most `UPDATES_MAX` = 2^10 values of magnitude ≤ 2^31 are below 2^41: i64 is ample,
//! and the mean lies within the kept values, so it fits in `i32`.
//!
//! Ties are broken by input index (each value is sorted as the pair `(value, index)`, packed
//! into one i64 as `value·2^32 + index`), which decides only the lineage counts: the mean itself
//! depends only on the multiset of values and is permutation-invariant.

use super::{Aggregate, AggregateError, Lineage, check_layout, map_tensors};
use crate::model::QModel;

/// `k = ⌊n · trim_per_mille / 1000⌋`, the per-side trim count for a fraction β in per mille.
pub fn trim_count_per_mille(updates: usize, trim_per_mille: u32) -> usize {
    // n ≤ usize::MAX and per mille ≤ u32::MAX: the product fits in u128.
    (updates as u128 * u128::from(trim_per_mille) / 1_000) as usize
}

/// Trimmed mean dropping `trim_count` values from each side; requires `2·trim_count < n`.
/// The lineage counts, per input, the coordinates where its value was kept.
pub fn trimmed_mean(updates: &[QModel], trim_count: usize) -> Result<Aggregate, AggregateError> {
    let refs: Vec<&QModel> = updates.iter().collect();
    check_layout(&refs)?;
    let n = refs.len();
    if trim_count >= n.div_ceil(2) {
        return Err(AggregateError::TrimTooLarge {
            trim_count,
            updates: n,
        });
    }
    let kept_len = (n - 2 * trim_count) as i64;
    let mut keys = vec![0i64; n];
    let mut kept_coordinates = vec![0u64; n];
    let model = map_tensors(&refs, |columns, out| {
        for (j, o) in out.iter_mut().enumerate() {
            for (i, (key, column)) in keys.iter_mut().zip(columns).enumerate() {
                // value·2^32 + index with 0 ≤ index < 2^10: orders by value, then index.
                *key = (i64::from(column[j]) << 32) | i as i64;
            }
            keys.sort_unstable();
            let mut sum = 0i64;
            for &key in &keys[trim_count..n - trim_count] {
                sum += key >> 32;
                kept_coordinates[(key & 0xffff_ffff) as usize] += 1;
            }
            *o = sum.div_euclid(kept_len) as i32;
        }
    });
    Ok(Aggregate {
        model,
        lineage: Lineage::Trimmed { kept_coordinates },
    })
}
