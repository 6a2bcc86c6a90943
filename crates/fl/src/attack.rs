//! Poisoning attacks, for demos, tests and benchmarks of the robust rules and the scoring.
//!
//! Byzantine behaviour lives here beside the honest code so tests can mix both. Every attack
//! is deterministic given its inputs; model arithmetic is integer (saturating) on [`QModel`]s.

use std::fmt;
use std::str::FromStr;

use cairn_fixed::{QModel, QTensor};
use cairn_ml::rng::Rng;
use cairn_ml::{Dataset, TrainConfig};

use crate::{FRAC_BITS, FlError, ModelSpec, local_train};

/// Factor of `scaled` when none is given: boosting by the number of clients per round (10)
/// lets one update replace the FedAvg aggregate (Bagdasaryan et al. 2020).
pub const DEFAULT_SCALE: i32 = 10;
/// Half-width of the uniform noise added by [`Attack::Noise`], in quantized units: ±1.0 in
/// weight space, some 20× a typical trained weight, which destroys the model.
pub const NOISE_AMPLITUDE_UNITS: i32 = 1 << FRAC_BITS;

/// A poisoning attack on one client's update. Strings: `sign-flip`, `scaled` (factor
/// [`DEFAULT_SCALE`]) or `scaled:K`, `label-flip`, `noise`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attack {
    /// `global − (honest − global)`: step against the honest direction.
    SignFlip,
    /// `global + k · (honest − global)`, saturating: boosted update.
    Scaled(i32),
    /// Honest training on labels `classes − 1 − y` (9 − y for MNIST).
    LabelFlip,
    /// `global + U[−A, A]` per weight, `A =` [`NOISE_AMPLITUDE_UNITS`]; no training.
    Noise,
}

impl fmt::Display for Attack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attack::SignFlip => f.write_str("sign-flip"),
            Attack::Scaled(DEFAULT_SCALE) => f.write_str("scaled"),
            Attack::Scaled(k) => write!(f, "scaled:{k}"),
            Attack::LabelFlip => f.write_str("label-flip"),
            Attack::Noise => f.write_str("noise"),
        }
    }
}

impl FromStr for Attack {
    type Err = FlError;

    fn from_str(input: &str) -> Result<Self, FlError> {
        let bad = |reason: &str| FlError::BadName {
            what: "attack",
            input: input.to_string(),
            reason: format!("{reason}; expected sign-flip, scaled, scaled:K, label-flip or noise"),
        };
        let s = input.trim().to_ascii_lowercase();
        match s.as_str() {
            "sign-flip" => Ok(Attack::SignFlip),
            "scaled" => Ok(Attack::Scaled(DEFAULT_SCALE)),
            "label-flip" => Ok(Attack::LabelFlip),
            "noise" => Ok(Attack::Noise),
            other => match other.strip_prefix("scaled:") {
                Some(k) => k
                    .trim()
                    .parse::<i32>()
                    .map(Attack::Scaled)
                    .map_err(|_| bad("the scale factor is not an i32")),
                None => Err(bad("unknown attack")),
            },
        }
    }
}

/// The update a malicious client submits instead of its honest one. `seed` drives the noise of
/// [`Attack::Noise`]; training-based attacks train exactly like an honest client with `cfg`.
pub fn attacked_update(
    attack: &Attack,
    spec: &ModelSpec,
    global: &QModel,
    shard: &Dataset,
    cfg: &TrainConfig,
    seed: u64,
) -> Result<QModel, FlError> {
    match attack {
        Attack::SignFlip => {
            let (honest, _) = local_train(spec, global, shard, cfg)?;
            combine(global, &honest, |g, h| 2 * g - h)
        }
        Attack::Scaled(k) => {
            let (honest, _) = local_train(spec, global, shard, cfg)?;
            let k = i64::from(*k);
            combine(global, &honest, |g, h| {
                g.saturating_add(k.saturating_mul(h - g))
            })
        }
        Attack::LabelFlip => Ok(local_train(spec, global, &flip_labels(shard), cfg)?.0),
        Attack::Noise => {
            crate::convert::check_layout(spec, global)?;
            let mut rng = Rng::new(seed);
            let span = 2 * NOISE_AMPLITUDE_UNITS as usize + 1;
            let amplitude = i64::from(NOISE_AMPLITUDE_UNITS);
            combine(global, global, |g, _| {
                g + rng.below(span) as i64 - amplitude
            })
        }
    }
}

/// `shard` with every label `y` replaced by `classes − 1 − y`.
pub fn flip_labels(shard: &Dataset) -> Dataset {
    let top = shard.classes().saturating_sub(1);
    let labels: Vec<u8> = shard
        .labels()
        .iter()
        .map(|&y| (top - y as usize) as u8)
        .collect();
    let pixels: Vec<u8> = (0..shard.len())
        .flat_map(|i| shard.image(i).iter().copied())
        .collect();
    Dataset::new(shard.rows(), shard.cols(), shard.classes(), pixels, labels)
}

/// Element-wise `f(global, other)` in i64, saturated to i32; same layout as `global`. The
/// arguments of `f` are < 2^31 in magnitude, so `2g − h` and the like cannot overflow i64.
fn combine(
    global: &QModel,
    other: &QModel,
    mut f: impl FnMut(i64, i64) -> i64,
) -> Result<QModel, FlError> {
    let tensors = global
        .tensors()
        .iter()
        .zip(other.tensors())
        .map(|((name, g), (_, o))| {
            let values = g
                .values()
                .iter()
                .zip(o.values())
                .map(|(&a, &b)| {
                    f(i64::from(a), i64::from(b)).clamp(i64::from(i32::MIN), i64::from(i32::MAX))
                        as i32
                })
                .collect();
            Ok((
                name.clone(),
                QTensor::new(g.shape().to_vec(), g.frac_bits(), values)?,
            ))
        })
        .collect::<Result<Vec<_>, FlError>>()?;
    Ok(QModel::new(tensors)?)
}
