//! Shared fixtures: a small MLP and the demo data.

use std::sync::OnceLock;

use cairn_fl::{Dataset, ModelSpec, TrainConfig, demo_dataset};

/// A model small enough to train in milliseconds at opt-level 1.
pub fn small_spec() -> ModelSpec {
    "mlp:784-16-10".parse().expect("valid spec")
}

/// The demo splits for seed 7, built once per test binary.
pub fn demo() -> &'static (Dataset, Dataset, Dataset) {
    static DEMO: OnceLock<(Dataset, Dataset, Dataset)> = OnceLock::new();
    DEMO.get_or_init(|| demo_dataset(7))
}

/// One epoch of B = 10 at lr 0.05.
pub fn train_cfg(threads: usize) -> TrainConfig {
    TrainConfig {
        threads,
        batch_size: 10,
        epochs: 1,
        lr: 0.05,
        momentum: 0.0,
        seed: 3,
    }
}
