//! Off-chain federated-learning work for Cairn's roles, over [`cairn_ml`] (deterministic f32
//! training) and [`cairn_fixed`] (the on-chain fixed-point model format and aggregation):
//!
//! - [`spec`]: [`ModelSpec`], the architecture as a string (`2nn`, `cnn`, `mlp:784-64-10`).
//! - [`convert`]: [`to_fixed`] / [`to_float`] at [`FRAC_BITS`], [`initial_model`].
//! - [`train`]: [`local_train`] (a trainer's update: the full new model), [`evaluate_fixed`].
//! - [`score`]: [`score_updates`], a validator's verdict on each submitted blob (invalid,
//!   copy of the global model, copy of an earlier update, or a score from validation accuracy).
//! - [`aggregate`](mod@aggregate): [`Rule`] and [`aggregate()`] over cairn-fixed's integer rules.
//! - [`attack`]: poisoning attacks ([`Attack`], [`attacked_update`]) for demos and benchmarks.
//! - [`data`]: [`demo_dataset`], [`shard`] and the non-IID [`Partition`]s, [`load_mnist`].
//! - [`federation`]: [`run_federation`], the chain-free FedAvg baseline.
//!
//! Invariant: every function is deterministic: the same inputs give the same bytes, and thread
//! counts never change a result (cairn-ml guarantees this for training and evaluation; this
//! crate only adds integer model arithmetic and index-ordered collection of parallel work).
//! Floats are allowed here because nothing in this crate runs inside consensus: the chain only
//! sees the [`cairn_fixed::QModel`]s it produces and the verdicts validators sign.

pub mod aggregate;
pub mod attack;
pub mod convert;
pub mod data;
mod error;
pub mod federation;
pub mod score;
pub mod spec;
pub mod train;

pub use aggregate::{Rule, aggregate};
pub use attack::{Attack, attacked_update};
pub use convert::{FRAC_BITS, check_layout, initial_model, to_fixed, to_float};
pub use data::{Partition, demo_dataset, load_mnist, shard, shard_with, subset};
pub use error::FlError;
pub use federation::{
    FederationConfig, RoundReport, client_seed, federation_shards, run_federation,
    run_federation_from,
};
pub use score::{ScoreConfig, Verdict, score_updates, try_score_updates};
pub use spec::ModelSpec;
pub use train::{Eval, evaluate_fixed, local_train};

// Re-exported so callers need not depend on cairn-ml / cairn-fixed for the types in this API.
pub use cairn_fixed::QModel;
pub use cairn_ml::{Dataset, TrainConfig, TrainReport};
