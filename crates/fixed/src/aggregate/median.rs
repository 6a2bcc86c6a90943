//! Coordinate-wise median.
//!
//! Odd n: the middle value. Even n: the **floor of the mean of the two middle values**,
//! `⌊(a + b) / 2⌋` computed as `(a + b) >> 1` in i64 (arithmetic shift floors toward −∞, so
//! the two middle values −4 and −1 give −3). The result lies between the two middle values, so
//! it fits in `i32`. Permutation-invariant: it depends only on the multiset of values.

use super::{Aggregate, AggregateError, Lineage, check_layout, map_tensors};
use crate::model::QModel;

/// Coordinate-wise median of `updates` (see the module documentation for even counts).
pub fn median(updates: &[QModel]) -> Result<Aggregate, AggregateError> {
    let refs: Vec<&QModel> = updates.iter().collect();
    check_layout(&refs)?;
    let n = refs.len();
    let mut scratch = vec![0i32; n];
    let model = map_tensors(&refs, |columns, out| {
        for (j, o) in out.iter_mut().enumerate() {
            for (s, column) in scratch.iter_mut().zip(columns) {
                *s = column[j];
            }
            *o = median_of(&mut scratch);
        }
    });
    Ok(Aggregate {
        model,
        lineage: Lineage::All,
    })
}

/// Median of a non-empty slice, reordering it. Selection, not sorting: O(n) per coordinate,
/// and the selected value is unique whatever order selection visits elements in.
fn median_of(values: &mut [i32]) -> i32 {
    let n = values.len();
    let (left, &mut upper, _) = values.select_nth_unstable(n / 2);
    if n % 2 == 1 {
        return upper;
    }
    // Even: the lower middle value is the largest of the part selection left below n/2.
    let lower = left.iter().copied().max().unwrap_or(upper);
    ((i64::from(lower) + i64::from(upper)) >> 1) as i32
}
