//! Mini-batch SGD and evaluation.
//!
//! Invariant: the weights after training are a pure function of (initial weights, data,
//! indices, config minus `threads`): shuffles come from the seed, every reduction has a fixed
//! order, and `threads` only changes who computes independent outputs.

use crate::data::Dataset;
use crate::layers::softmax_cross_entropy;
use crate::model::Model;
use crate::parallel::with_threads;
use crate::rng::Rng;

/// Largest batch accepted (bounds the im2col buffer: 2 048 MNIST samples is ~1.3 GB for conv2).
pub const MAX_BATCH: usize = 1024;
/// Most threads used.
pub const MAX_THREADS: usize = 256;

/// Local training settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Worker threads (1 = the calling thread only). Never changes the result.
    pub threads: usize,
    /// Samples per step ("B").
    pub batch_size: usize,
    /// Passes over the data ("E").
    pub epochs: usize,
    /// Learning rate.
    pub lr: f32,
    /// Heavy-ball momentum; 0 (the default) is plain SGD.
    pub momentum: f32,
    /// Seed for the per-epoch shuffles.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            threads: 1,
            batch_size: 10,
            epochs: 1,
            lr: 0.05,
            momentum: 0.0,
            seed: 0,
        }
    }
}

/// Why training could not start.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TrainError {
    /// A setting is out of range.
    #[error("invalid training config: {0}")]
    Config(String),
    /// The model and the data disagree on input size or classes.
    #[error(
        "model expects {model_features} features and {model_classes} classes; data has {data_features} and {data_classes}"
    )]
    Shape {
        /// Features the model takes.
        model_features: usize,
        /// Classes the model outputs.
        model_classes: usize,
        /// Features per sample in the data.
        data_features: usize,
        /// Classes in the data.
        data_classes: usize,
    },
    /// A sample index is out of range.
    #[error("sample index {index} is out of range for {len} samples")]
    Index {
        /// The index.
        index: usize,
        /// Dataset size.
        len: usize,
    },
}

/// What a training run did.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainReport {
    /// SGD steps taken.
    pub steps: usize,
    /// Samples processed (with repetition across epochs).
    pub samples: usize,
    /// Mean training loss of each epoch (over its steps' batch means).
    pub epoch_losses: Vec<f32>,
}

/// Plain SGD with optional heavy-ball momentum: `v = μv + g; w -= lr·v`.
#[derive(Clone, Debug)]
pub struct Sgd {
    lr: f32,
    momentum: f32,
    velocity: Vec<Vec<f32>>,
}

impl Sgd {
    /// An optimiser with empty momentum state.
    pub fn new(lr: f32, momentum: f32) -> Self {
        Self {
            lr,
            momentum,
            velocity: Vec::new(),
        }
    }

    /// Applies the model's stored gradients.
    pub fn step(&mut self, model: &mut Model) {
        let (lr, mu) = (self.lr, self.momentum);
        let slots = model.params_and_grads_mut();
        if mu == 0.0 {
            for (w, g) in slots {
                for (wi, gi) in w.iter_mut().zip(g) {
                    *wi -= lr * *gi;
                }
            }
            return;
        }
        if self.velocity.len() != slots.len() {
            self.velocity = slots.iter().map(|(w, _)| vec![0.0; w.len()]).collect();
        }
        for ((w, g), v) in slots.into_iter().zip(&mut self.velocity) {
            for ((wi, gi), vi) in w.iter_mut().zip(g).zip(v.iter_mut()) {
                *vi = mu * *vi + *gi;
                *wi -= lr * *vi;
            }
        }
    }
}

fn validate(
    model: &Model,
    data: &Dataset,
    indices: &[usize],
    config: &TrainConfig,
) -> Result<(), TrainError> {
    let bad = |msg: String| Err(TrainError::Config(msg));
    if config.threads == 0 || config.threads > MAX_THREADS {
        return bad(format!(
            "threads must be in 1..={MAX_THREADS}, got {}",
            config.threads
        ));
    }
    if config.batch_size == 0 || config.batch_size > MAX_BATCH {
        return bad(format!(
            "batch_size must be in 1..={MAX_BATCH}, got {}",
            config.batch_size
        ));
    }
    if !(config.lr.is_finite() && config.lr > 0.0 && (0.0..1.0).contains(&config.momentum)) {
        return bad(format!(
            "need lr > 0 and 0 <= momentum < 1, got lr {} momentum {}",
            config.lr, config.momentum
        ));
    }
    let arch = model.arch();
    if arch.input_len() != data.features() || arch.classes() < data.classes() {
        return Err(TrainError::Shape {
            model_features: arch.input_len(),
            model_classes: arch.classes(),
            data_features: data.features(),
            data_classes: data.classes(),
        });
    }
    if let Some(&index) = indices.iter().find(|&&i| i >= data.len()) {
        return Err(TrainError::Index {
            index,
            len: data.len(),
        });
    }
    Ok(())
}

/// Trains for `config.epochs` passes over `indices` (reshuffled each epoch from the seed;
/// the last batch of an epoch may be smaller).
pub fn train(
    model: &mut Model,
    data: &Dataset,
    indices: &[usize],
    config: &TrainConfig,
) -> Result<TrainReport, TrainError> {
    train_steps(model, data, indices, config, usize::MAX)
}

/// [`train`], stopping after at most `max_steps` SGD steps.
pub fn train_steps(
    model: &mut Model,
    data: &Dataset,
    indices: &[usize],
    config: &TrainConfig,
    max_steps: usize,
) -> Result<TrainReport, TrainError> {
    validate(model, data, indices, config)?;
    Ok(with_threads(config.threads, || {
        run_steps(model, data, indices, config, max_steps)
    }))
}

fn run_steps(
    model: &mut Model,
    data: &Dataset,
    indices: &[usize],
    config: &TrainConfig,
    max_steps: usize,
) -> TrainReport {
    let mut sgd = Sgd::new(config.lr, config.momentum);
    let mut report = TrainReport {
        steps: 0,
        samples: 0,
        epoch_losses: Vec::new(),
    };
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for epoch in 0..config.epochs {
        let mut order = indices.to_vec();
        Rng::derive(config.seed, epoch as u64).shuffle(&mut order);
        let mut loss_sum = 0.0f64;
        let mut batches = 0usize;
        for batch in order.chunks(config.batch_size) {
            if report.steps == max_steps {
                break;
            }
            data.gather(batch, &mut images, &mut labels);
            let logits = model.forward(&images, batch.len(), config.threads);
            let loss = softmax_cross_entropy(&logits, &labels);
            model.backward(&loss.grad, config.threads);
            sgd.step(model);
            loss_sum += loss.mean_loss as f64;
            batches += 1;
            report.steps += 1;
            report.samples += batch.len();
        }
        if batches > 0 {
            report.epoch_losses.push((loss_sum / batches as f64) as f32);
        }
    }
    report
}

/// Accuracy and mean loss on a dataset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Fraction classified correctly.
    pub accuracy: f64,
    /// Mean cross-entropy.
    pub mean_loss: f64,
    /// Samples evaluated.
    pub samples: usize,
}

/// Evaluates `model` on `indices` of `data` (all samples if `None`) in batches of 100.
pub fn evaluate(
    model: &mut Model,
    data: &Dataset,
    indices: Option<&[usize]>,
    threads: usize,
) -> Result<Evaluation, TrainError> {
    let all: Vec<usize>;
    let indices = match indices {
        Some(i) => i,
        None => {
            all = (0..data.len()).collect();
            &all
        }
    };
    let probe = TrainConfig {
        threads: threads.max(1),
        ..TrainConfig::default()
    };
    validate(model, data, indices, &probe)?;
    Ok(with_threads(probe.threads, || {
        evaluate_batches(model, data, indices, probe.threads)
    }))
}

fn evaluate_batches(
    model: &mut Model,
    data: &Dataset,
    indices: &[usize],
    threads: usize,
) -> Evaluation {
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    let (mut correct, mut loss_sum) = (0usize, 0.0f64);
    for batch in indices.chunks(100) {
        data.gather(batch, &mut images, &mut labels);
        let logits = model.forward(&images, batch.len(), threads);
        let out = softmax_cross_entropy(&logits, &labels);
        correct += out
            .predictions
            .iter()
            .zip(&labels)
            .filter(|(p, l)| **p == **l as usize)
            .count();
        loss_sum += out.losses.iter().map(|&l| l as f64).sum::<f64>();
    }
    let n = indices.len().max(1) as f64;
    Evaluation {
        accuracy: correct as f64 / n,
        mean_loss: loss_sum / n,
        samples: indices.len(),
    }
}
