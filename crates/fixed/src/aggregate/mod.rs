//! Robust aggregation of N updates with identical layouts (same tensor names, order, shapes and
//! `frac_bits`), in integers only. Each rule documents its rounding and why its accumulators
//! cannot overflow under [`crate::limits`].

mod fedavg;
mod krum;
mod median;
mod trimmed;

pub use fedavg::{FEDAVG_I64_WEIGHT_SUM_MAX, fedavg};
pub use krum::{krum, krum_scores, multi_krum};
pub use median::median;
pub use trimmed::{trim_count_per_mille, trimmed_mean};

use crate::limits::UPDATES_MAX;
use crate::model::{QModel, QTensor};

/// Why updates could not be aggregated. `update` fields are 0-based input indices.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AggregateError {
    #[error("no updates to aggregate")]
    NoUpdates,
    #[error("{count} updates, more than the maximum {max}")]
    TooManyUpdates { count: usize, max: usize },
    #[error("update {update} has {got} tensors, update 0 has {expected}")]
    TensorCountMismatch {
        update: usize,
        expected: usize,
        got: usize,
    },
    #[error("update {update}, tensor {tensor}: named {got:?}, update 0 names it {expected:?}")]
    NameMismatch {
        update: usize,
        tensor: usize,
        expected: String,
        got: String,
    },
    #[error("update {update}, tensor {tensor:?}: shape {got:?}, update 0 has {expected:?}")]
    ShapeMismatch {
        update: usize,
        tensor: String,
        expected: Vec<u32>,
        got: Vec<u32>,
    },
    #[error("update {update}, tensor {tensor:?}: frac_bits {got}, update 0 has {expected}")]
    FracBitsMismatch {
        update: usize,
        tensor: String,
        expected: u8,
        got: u8,
    },
    #[error("{weights} weights for {updates} updates")]
    WeightCountMismatch { updates: usize, weights: usize },
    #[error("the weights sum to zero")]
    ZeroTotalWeight,
    #[error(
        "trimming {trim_count} from each side of {updates} updates leaves nothing (need 2·trim < updates)"
    )]
    TrimTooLarge { trim_count: usize, updates: usize },
    #[error(
        "Krum with {byzantine_max} Byzantine updates needs at least {min_updates} updates (n > 2f + 2), got {updates}"
    )]
    TooFewForKrum {
        updates: usize,
        byzantine_max: usize,
        min_updates: usize,
    },
    #[error("Multi-Krum select count {select_count} is outside 1..={max}")]
    SelectCountOutOfRange { select_count: usize, max: usize },
}

/// An aggregated model and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    pub model: QModel,
    pub lineage: Lineage,
}

/// Which inputs an aggregate was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lineage {
    /// Every input contributed (FedAvg: in proportion to its weight; median).
    All,
    /// Krum / Multi-Krum: the chosen inputs, best first (lowest score, ties to the lowest
    /// index), and every input's Krum score.
    Selected {
        indices: Vec<usize>,
        scores: Vec<u128>,
    },
    /// Trimmed mean: per input, in how many coordinates its value was kept. Among equal values
    /// the lower input index counts as the smaller, which decides ties at the trim boundary.
    Trimmed { kept_coordinates: Vec<u64> },
}

/// Checks that `updates` is non-empty, within [`UPDATES_MAX`], and that every update has
/// update 0's layout; the first difference found (by update, then tensor) is the error.
pub(crate) fn check_layout(updates: &[&QModel]) -> Result<(), AggregateError> {
    let Some(first) = updates.first() else {
        return Err(AggregateError::NoUpdates);
    };
    if updates.len() > UPDATES_MAX {
        return Err(AggregateError::TooManyUpdates {
            count: updates.len(),
            max: UPDATES_MAX,
        });
    }
    for (update, model) in updates.iter().enumerate().skip(1) {
        let (expected, got) = (first.tensors(), model.tensors());
        if expected.len() != got.len() {
            return Err(AggregateError::TensorCountMismatch {
                update,
                expected: expected.len(),
                got: got.len(),
            });
        }
        for (tensor, ((en, et), (gn, gt))) in expected.iter().zip(got).enumerate() {
            if en != gn {
                return Err(AggregateError::NameMismatch {
                    update,
                    tensor,
                    expected: en.clone(),
                    got: gn.clone(),
                });
            }
            if et.shape() != gt.shape() {
                return Err(AggregateError::ShapeMismatch {
                    update,
                    tensor: en.clone(),
                    expected: et.shape().to_vec(),
                    got: gt.shape().to_vec(),
                });
            }
            if et.frac_bits() != gt.frac_bits() {
                return Err(AggregateError::FracBitsMismatch {
                    update,
                    tensor: en.clone(),
                    expected: et.frac_bits(),
                    got: gt.frac_bits(),
                });
            }
        }
    }
    Ok(())
}

/// Builds the output model tensor by tensor: `reduce` gets every update's values of one tensor
/// (in input order) and fills the output values. Requires a checked layout.
pub(crate) fn map_tensors(
    updates: &[&QModel],
    mut reduce: impl FnMut(&[&[i32]], &mut [i32]),
) -> QModel {
    let first = updates[0];
    let mut columns: Vec<&[i32]> = Vec::with_capacity(updates.len());
    let tensors = first
        .tensors()
        .iter()
        .enumerate()
        .map(|(t, (name, template))| {
            columns.clear();
            columns.extend(updates.iter().map(|u| u.tensors()[t].1.values()));
            let mut out = vec![0i32; template.len()];
            reduce(&columns, &mut out);
            let tensor =
                QTensor::from_valid_parts(template.shape().to_vec(), template.frac_bits(), out);
            (name.clone(), tensor)
        })
        .collect();
    QModel::from_valid_tensors(tensors)
}

/// `⌊num / den⌋` (toward −∞) for `den > 0`, saturated to `i32`. Callers' bounds keep the
/// quotient inside `i32` already; the clamp is the documented backstop.
pub(crate) fn floor_div_i128(num: i128, den: i128) -> i32 {
    let q = num.div_euclid(den);
    q.clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i32
}
