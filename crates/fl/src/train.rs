//! Local training and evaluation on fixed-point models.

use cairn_fixed::QModel;
use cairn_ml::{Dataset, TrainConfig, TrainReport, evaluate, train};

use crate::{FlError, ModelSpec, to_fixed, to_float};

/// Trains `spec` from `global` on every sample of `shard` and returns the full new weights in
/// fixed point (an update is a whole model: FedAvg averages models), with the training report.
///
/// Deterministic: the result depends on the inputs and `cfg` except `cfg.threads`.
pub fn local_train(
    spec: &ModelSpec,
    global: &QModel,
    shard: &Dataset,
    cfg: &TrainConfig,
) -> Result<(QModel, TrainReport), FlError> {
    if shard.is_empty() {
        return Err(FlError::EmptyDataset { what: "training" });
    }
    let mut model = to_float(spec, global)?;
    let indices: Vec<usize> = (0..shard.len()).collect();
    let report = train(&mut model, shard, &indices, cfg)?;
    Ok((to_fixed(&model)?, report))
}

/// A model's quality on a dataset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Eval {
    /// Correctly classified samples per million, `⌊correct · 10^6 / samples⌋`.
    pub accuracy_ppm: u32,
    /// Mean cross-entropy.
    pub loss: f32,
}

impl Eval {
    /// Accuracy as a fraction, for printing.
    pub fn accuracy(&self) -> f64 {
        f64::from(self.accuracy_ppm) / 1e6
    }
}

/// Evaluates `model` (a `spec` model) on all of `data`. `threads` never changes the result.
pub fn evaluate_fixed(
    spec: &ModelSpec,
    model: &QModel,
    data: &Dataset,
    threads: usize,
) -> Result<Eval, FlError> {
    if data.is_empty() {
        return Err(FlError::EmptyDataset { what: "evaluation" });
    }
    let mut float = to_float(spec, model)?;
    let e = evaluate(
        &mut float,
        data,
        None,
        threads.clamp(1, cairn_ml::train::MAX_THREADS),
    )?;
    // `accuracy` is correct / samples in f64; both are < 2^53, so rounding recovers `correct`.
    let correct = (e.accuracy * e.samples as f64).round() as u64;
    let accuracy_ppm = (correct * 1_000_000 / e.samples as u64) as u32;
    Ok(Eval {
        accuracy_ppm,
        loss: e.mean_loss as f32,
    })
}
