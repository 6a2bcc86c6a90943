//! Deterministic local training for Cairn's federated learning.
//!
//! Every node must be able to re-run a trainer's local training and get the same bytes, so
//! everything here is hand-written and order-fixed:
//!
//! - [`gemm`]: cache-blocked f32 GEMM; each output is a left fold over `k` of separately
//!   rounded products (no FMA), bit-identical to the naive loop on any CPU / thread count.
//! - [`layers`]: dense, 5x5 'same' conv (im2col + GEMM), 2x2 max-pool, ReLU, softmax CE.
//! - [`model`]: the 2NN MLP and McMahan et al.'s MNIST CNN, named parameters.
//! - [`train`]: SGD, [`TrainConfig`] (`threads` never changes the result), evaluation.
//! - [`data`]: MNIST/Fashion-MNIST IDX(.gz) loaders with typed errors; a synthetic set.
//! - [`partition`]: IID, Dirichlet(α), 2-shards-per-client.
//! - [`checkpoint`]: safetensors save/load with shape checks.
//! - [`rng`], [`math`]: SplitMix64, Gamma/normal samplers, libm-free `exp`/`ln`.

pub mod checkpoint;
pub mod data;
pub mod gemm;
pub mod layers;
pub mod math;
pub mod model;
pub mod parallel;
pub mod partition;
pub mod rng;
pub mod train;

pub use checkpoint::CheckpointError;
pub use data::{DataError, Dataset, Split, SyntheticConfig};
pub use layers::Tensor;
pub use model::{Arch, CnnConfig, Model, ModelError, NamedTensor};
pub use partition::PartitionError;
pub use train::{Evaluation, TrainConfig, TrainError, TrainReport, evaluate, train, train_steps};
