//! The one error type of this crate.

use cairn_fixed::{AggregateError, DecodeError};
use cairn_ml::{DataError, PartitionError, TrainError};

/// Everything that can go wrong in off-chain FL work. Variants carry the offending values so a
/// message names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum FlError {
    /// A model spec string (`2nn`, `cnn`, `mlp:784-64-10`) is malformed.
    #[error(
        "invalid model spec {input:?}: {reason} (expected `2nn`, `cnn` or `mlp:IN-HIDDEN...-CLASSES`, e.g. `mlp:784-64-10`)"
    )]
    BadSpec {
        /// The string given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A rule, attack or partition name is malformed.
    #[error("invalid {what} {input:?}: {reason}")]
    BadName {
        /// Which kind of name (`rule`, `attack`, `partition`).
        what: &'static str,
        /// The string given.
        input: String,
        /// What is wrong with it, including the accepted forms.
        reason: String,
    },
    /// A weight is NaN or infinite, so it has no fixed-point value.
    #[error("tensor `{tensor}` value {index} is {value}, not a finite number (training diverged?)")]
    NotFinite {
        /// The parameter.
        tensor: String,
        /// Index of the first bad value.
        index: usize,
        /// The value.
        value: f32,
    },
    /// A fixed-point model has the wrong number of tensors for the spec.
    #[error("model has {got} tensors, {spec} has {expected}")]
    TensorCount {
        /// The spec, as a string.
        spec: String,
        /// Tensors the spec has.
        expected: usize,
        /// Tensors the model has.
        got: usize,
    },
    /// A tensor is named differently from the spec's tensor at the same position.
    #[error("tensor {index} is named {got:?}, {spec} names it {expected:?}")]
    TensorName {
        /// The spec, as a string.
        spec: String,
        /// Position in the model.
        index: usize,
        /// The spec's name.
        expected: String,
        /// The model's name.
        got: String,
    },
    /// A tensor has the wrong shape.
    #[error("tensor `{tensor}` has shape {got:?}, {spec} needs {expected:?}")]
    TensorShape {
        /// The spec, as a string.
        spec: String,
        /// The tensor.
        tensor: String,
        /// The spec's shape.
        expected: Vec<u32>,
        /// The model's shape.
        got: Vec<u32>,
    },
    /// A tensor uses a different fixed-point scale.
    #[error("tensor `{tensor}` has frac_bits {got}, cairn-fl uses {expected}")]
    FracBits {
        /// The tensor.
        tensor: String,
        /// [`crate::FRAC_BITS`].
        expected: u8,
        /// The model's value.
        got: u8,
    },
    /// Bytes are not a canonical fixed-point model.
    #[error("not a fixed-point model: {0}")]
    Decode(#[from] DecodeError),
    /// A float model could not be built.
    #[error(transparent)]
    Model(#[from] cairn_ml::ModelError),
    /// A fixed-point tensor could not be built.
    #[error(transparent)]
    Tensor(#[from] cairn_fixed::TensorError),
    /// A fixed-point model could not be built.
    #[error(transparent)]
    QModel(#[from] cairn_fixed::ModelError),
    /// Training or evaluation refused its inputs.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// Aggregation refused its inputs.
    #[error("aggregation failed: {0}")]
    Aggregate(#[from] AggregateError),
    /// A partition could not be made.
    #[error(transparent)]
    Partition(#[from] PartitionError),
    /// A dataset could not be loaded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A dataset that must hold samples is empty.
    #[error("the {what} dataset is empty")]
    EmptyDataset {
        /// Which dataset.
        what: &'static str,
    },
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    Config(String),
}
