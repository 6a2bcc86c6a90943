//! [`QTensor`] and [`QModel`]: validated on construction, so every value of these types obeys
//! the limits in [`crate::limits`] and every tensor's shape matches its length.

use std::collections::BTreeSet;

use crate::limits::{ELEMENTS_MAX, FRAC_BITS_MAX, NAME_MAX_BYTES, RANK_MAX, TENSORS_MAX};

/// Why a tensor could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TensorError {
    #[error("tensor rank {rank} exceeds the maximum {max}")]
    RankTooLarge { rank: usize, max: usize },
    #[error("frac_bits {frac_bits} exceeds the maximum {max}")]
    FracBitsTooLarge { frac_bits: u8, max: u8 },
    /// `elements` saturates at `u64::MAX` when the shape's product overflows.
    #[error("tensor has {elements} elements, more than the maximum {max}")]
    TooManyElements { elements: u64, max: u64 },
    #[error("shape holds {shape_elements} elements but {values_len} values were given")]
    ShapeLenMismatch {
        shape_elements: u64,
        values_len: usize,
    },
}

/// Why a model could not be built from valid tensors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("{count} tensors, more than the maximum {max}")]
    TooManyTensors { count: usize, max: usize },
    #[error("name of tensor {tensor} is {len_bytes} bytes, more than the maximum {max}")]
    NameTooLong {
        tensor: usize,
        len_bytes: usize,
        max: usize,
    },
    #[error("tensor {tensor} repeats the name {name:?}")]
    DuplicateName { tensor: usize, name: String },
    #[error("model has {elements} elements in all, more than the maximum {max}")]
    TooManyElements { elements: u64, max: u64 },
}

/// Product of the dimensions, saturating at `u64::MAX` (which every limit rejects).
pub fn shape_elements(shape: &[u32]) -> u64 {
    shape
        .iter()
        .fold(1u64, |acc, &d| acc.saturating_mul(u64::from(d)))
}

/// A fixed-point tensor: the real value of `values[i]` is `values[i] · 2^-frac_bits`,
/// row-major over `shape` (an empty shape is a scalar with one value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QTensor {
    shape: Vec<u32>,
    frac_bits: u8,
    values: Vec<i32>,
}

impl QTensor {
    /// Checks rank, `frac_bits`, size and that `values.len()` is the product of `shape`.
    pub fn new(shape: Vec<u32>, frac_bits: u8, values: Vec<i32>) -> Result<Self, TensorError> {
        if shape.len() > RANK_MAX {
            return Err(TensorError::RankTooLarge {
                rank: shape.len(),
                max: RANK_MAX,
            });
        }
        if frac_bits > FRAC_BITS_MAX {
            return Err(TensorError::FracBitsTooLarge {
                frac_bits,
                max: FRAC_BITS_MAX,
            });
        }
        let elements = shape_elements(&shape);
        if elements > ELEMENTS_MAX {
            return Err(TensorError::TooManyElements {
                elements,
                max: ELEMENTS_MAX,
            });
        }
        if elements != values.len() as u64 {
            return Err(TensorError::ShapeLenMismatch {
                shape_elements: elements,
                values_len: values.len(),
            });
        }
        Ok(Self {
            shape,
            frac_bits,
            values,
        })
    }

    /// A rank-1 tensor holding `values`.
    pub fn vector(frac_bits: u8, values: Vec<i32>) -> Result<Self, TensorError> {
        let len = u32::try_from(values.len()).map_err(|_| TensorError::TooManyElements {
            elements: values.len() as u64,
            max: ELEMENTS_MAX,
        })?;
        Self::new(vec![len], frac_bits, values)
    }

    /// Built from parts already known to be valid (same shape as a validated tensor).
    pub(crate) fn from_valid_parts(shape: Vec<u32>, frac_bits: u8, values: Vec<i32>) -> Self {
        debug_assert_eq!(shape_elements(&shape), values.len() as u64);
        Self {
            shape,
            frac_bits,
            values,
        }
    }

    pub fn shape(&self) -> &[u32] {
        &self.shape
    }

    pub fn frac_bits(&self) -> u8 {
        self.frac_bits
    }

    pub fn values(&self) -> &[i32] {
        &self.values
    }

    pub fn into_values(self) -> Vec<i32> {
        self.values
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The same tensor at another scale; see [`rescale`] for the rounding.
    pub fn rescale(&self, to_frac_bits: u8) -> Result<Self, TensorError> {
        let values = rescale(&self.values, self.frac_bits, to_frac_bits)?;
        Ok(Self {
            shape: self.shape.clone(),
            frac_bits: to_frac_bits,
            values,
        })
    }
}

/// Converts values from `from_frac_bits` to `to_frac_bits` fractional bits, integers only.
///
/// - Fewer bits: arithmetic shift right by the difference, which **floors toward −∞** on
///   negative values (`-3 >> 1 == -2`), not toward zero.
/// - More bits: shift left by the difference, **saturating** at `i32::MIN` / `i32::MAX`.
///
/// Both bit counts must be at most [`FRAC_BITS_MAX`], so the shift is at most 31.
pub fn rescale(
    values: &[i32],
    from_frac_bits: u8,
    to_frac_bits: u8,
) -> Result<Vec<i32>, TensorError> {
    for frac_bits in [from_frac_bits, to_frac_bits] {
        if frac_bits > FRAC_BITS_MAX {
            return Err(TensorError::FracBitsTooLarge {
                frac_bits,
                max: FRAC_BITS_MAX,
            });
        }
    }
    let out = if to_frac_bits <= from_frac_bits {
        let shift = u32::from(from_frac_bits - to_frac_bits);
        values.iter().map(|&v| v >> shift).collect()
    } else {
        // |v| ≤ 2^31 and shift ≤ 31, so v·2^shift fits in i64 (≤ 2^62) before clamping.
        let shift = u32::from(to_frac_bits - from_frac_bits);
        values
            .iter()
            .map(|&v| saturate_i32(i64::from(v) << shift))
            .collect()
    };
    Ok(out)
}

/// Clamps to the `i32` range.
pub(crate) fn saturate_i32(v: i64) -> i32 {
    // The clamp makes the narrowing exact.
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// An ordered list of named tensors: a model or an update to one.
///
/// Order is part of the value (and of its encoding and hash); names are unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QModel {
    tensors: Vec<(String, QTensor)>,
}

impl QModel {
    /// Checks tensor count, name lengths, name uniqueness and the total element count.
    pub fn new(tensors: Vec<(String, QTensor)>) -> Result<Self, ModelError> {
        if tensors.len() > TENSORS_MAX {
            return Err(ModelError::TooManyTensors {
                count: tensors.len(),
                max: TENSORS_MAX,
            });
        }
        let mut names = BTreeSet::new();
        let mut elements = 0u64;
        for (tensor, (name, t)) in tensors.iter().enumerate() {
            if name.len() > NAME_MAX_BYTES {
                return Err(ModelError::NameTooLong {
                    tensor,
                    len_bytes: name.len(),
                    max: NAME_MAX_BYTES,
                });
            }
            if !names.insert(name.as_str()) {
                return Err(ModelError::DuplicateName {
                    tensor,
                    name: name.clone(),
                });
            }
            // Each tensor is ≤ ELEMENTS_MAX and there are ≤ TENSORS_MAX of them: no overflow.
            elements += t.len() as u64;
        }
        if elements > ELEMENTS_MAX {
            return Err(ModelError::TooManyElements {
                elements,
                max: ELEMENTS_MAX,
            });
        }
        Ok(Self { tensors })
    }

    /// Built from tensors already known to satisfy [`QModel::new`]'s checks.
    pub(crate) fn from_valid_tensors(tensors: Vec<(String, QTensor)>) -> Self {
        Self { tensors }
    }

    pub fn tensors(&self) -> &[(String, QTensor)] {
        &self.tensors
    }

    pub fn into_tensors(self) -> Vec<(String, QTensor)> {
        self.tensors
    }

    /// The tensor called `name`, if any (linear scan: models have few tensors).
    pub fn get(&self, name: &str) -> Option<&QTensor> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// Total number of values over all tensors.
    pub fn elements(&self) -> u64 {
        self.tensors.iter().map(|(_, t)| t.len() as u64).sum()
    }
}
