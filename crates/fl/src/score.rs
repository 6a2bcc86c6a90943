//! How a validator scores the updates submitted in a round.
//!
//! For each update, in submission order:
//!
//! 1. Bytes that do not decode, or decode to other tensor names / order / shapes /
//!    `frac_bits` than the spec's → [`Verdict::Invalid`] with the reason. (Every valid update
//!    encodes to exactly as many bytes as the global model, so bytes more than twice that long
//!    are refused before decoding, which bounds memory.)
//! 2. Within `copy_tolerance` of the global model (largest |Δ| over every parameter, in
//!    quantized units) → [`Verdict::CopyOfGlobal`]: free-riding, no training done.
//! 3. Within `copy_tolerance` of an earlier well-formed update → [`Verdict::CopyOf`] the
//!    lowest such index: the earlier submission wins.
//! 4. Otherwise the update is evaluated on the validator's validation set and
//!    [`Verdict::Valid`] with a score from its accuracy `a` relative to the global model's `g`
//!    (all in ppm; `chance = 10^6 / classes`):
//!
//!    ```text
//!    margin = SCORE_MARGIN_MIN_PPM + max(g − chance, 0) · SCORE_MARGIN_SHARE_PER_MILLE / 1000
//!    floor  = max(g − margin, 0)
//!    score  = 0                                       if a ≤ floor
//!           = ⌊(a − floor) · 65 535 / (10^6 − floor)⌋  otherwise
//!    ```
//!
//!    An update that makes the model clearly worse than not updating at all (poisoned, broken)
//!    scores 0; above the floor the score rises linearly to 65 535 at 100 %. The margin absorbs
//!    honest noise: one client's model, trained on a few hundred samples from the global one,
//!    is often several points below it on the validator's data early in training (measured on
//!    the demo set: up to 12 points at g ≈ 49 %), more on non-IID shards. Measuring from the
//!    floor rather than from 0 makes a slightly harmful update (a late-round sign flip, a few
//!    points under `g`) score a fraction of an honest one instead of nearly as much.
//!
//! Invariant: the verdicts are a pure function of (spec, global, updates, validation,
//! copy_tolerance); `threads` never changes them.

use cairn_fixed::QModel;
use cairn_ml::Dataset;

use crate::convert::check_against;
use crate::{FlError, ModelSpec, evaluate_fixed};

/// Fixed part of how far below the global model's validation accuracy an update may fall and
/// still score: 5 percentage points.
pub const SCORE_MARGIN_MIN_PPM: u32 = 50_000;
/// Variable part: a quarter of the global model's lead over chance.
pub const SCORE_MARGIN_SHARE_PER_MILLE: u32 = 250;
/// The score of a model with 100 % validation accuracy.
pub const SCORE_MAX: u16 = u16::MAX;

/// Bytes beyond twice the expected size still decoded to explain a malformed update.
const DECODE_SLACK_BYTES: usize = 4_096;

/// A validator's judgement of one update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Well-formed, original, evaluated.
    Valid {
        /// Weight for consensus; see the module docs for the mapping.
        score: u16,
        /// Validation accuracy, correct per million.
        accuracy_ppm: u32,
    },
    /// Not a usable update; the reason is for the submitter.
    Invalid(String),
    /// (Nearly) identical to the global model.
    CopyOfGlobal,
    /// (Nearly) identical to the earlier update at this index.
    CopyOf(usize),
}

impl Verdict {
    /// The score if [`Verdict::Valid`], else 0.
    pub fn score(&self) -> u16 {
        match self {
            Verdict::Valid { score, .. } => *score,
            _ => 0,
        }
    }
}

/// Validator settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoreConfig {
    /// Largest |Δ| in quantized units (2^-FRAC_BITS each) over every parameter under which two
    /// models count as the same. 0 catches exact copies only; negative disables copy checks.
    pub copy_tolerance: i32,
    /// Threads for evaluation (never changes the verdicts).
    pub threads: usize,
}

impl Default for ScoreConfig {
    /// Tolerance 16 units (2.4e-4 in weight space: far below one honest SGD step's movement
    /// over a shard, far above re-quantization noise), one thread.
    fn default() -> Self {
        Self {
            copy_tolerance: 16,
            threads: 1,
        }
    }
}

/// The score of an update with `accuracy_ppm` when the global model has `global_ppm`, for a
/// `classes`-way task (see the module docs).
pub fn score_for(accuracy_ppm: u32, global_ppm: u32, classes: usize) -> u16 {
    const FULL: u64 = 1_000_000;
    let (a, g) = (
        u64::from(accuracy_ppm).min(FULL),
        u64::from(global_ppm).min(FULL),
    );
    let chance = FULL / classes.max(1) as u64;
    let margin = u64::from(SCORE_MARGIN_MIN_PPM)
        + g.saturating_sub(chance) * u64::from(SCORE_MARGIN_SHARE_PER_MILLE) / 1_000;
    let floor = g.saturating_sub(margin);
    if a <= floor {
        return 0;
    }
    // margin ≥ 50 000, so floor < FULL and the division is safe; the quotient is ≤ SCORE_MAX.
    ((a - floor) * u64::from(SCORE_MAX) / (FULL - floor)) as u16
}

/// Whether every coordinate of `a` and `b` differs by at most `tolerance`. Both must share a
/// layout (checked by the caller). Stops at the first coordinate over the tolerance.
pub fn within_tolerance(a: &QModel, b: &QModel, tolerance: i32) -> bool {
    if tolerance < 0 || a.tensors().len() != b.tensors().len() {
        return false;
    }
    let tol = i64::from(tolerance);
    a.tensors().iter().zip(b.tensors()).all(|((_, x), (_, y))| {
        x.len() == y.len()
            && x.values()
                .iter()
                .zip(y.values())
                .all(|(&p, &q)| (i64::from(p) - i64::from(q)).abs() <= tol)
    })
}

/// Scores `updates` (raw blob bytes, in submission order) against `global`; one verdict per
/// update. If the validator itself cannot score (the global model does not match `spec`, or
/// the validation set does not fit it), every verdict is `Invalid` naming that cause; use
/// [`try_score_updates`] to get it as an error instead.
pub fn score_updates(
    spec: &ModelSpec,
    global: &QModel,
    updates: &[Vec<u8>],
    validation: &Dataset,
    cfg: &ScoreConfig,
) -> Vec<Verdict> {
    match try_score_updates(spec, global, updates, validation, cfg) {
        Ok(verdicts) => verdicts,
        Err(e) => {
            let reason = format!("validator cannot score this round: {e}");
            vec![Verdict::Invalid(reason); updates.len()]
        }
    }
}

/// [`score_updates`], failing if the global model or the validation set is unusable.
pub fn try_score_updates(
    spec: &ModelSpec,
    global: &QModel,
    updates: &[Vec<u8>],
    validation: &Dataset,
    cfg: &ScoreConfig,
) -> Result<Vec<Verdict>, FlError> {
    let layout = spec.layout()?;
    check_against(spec, &layout, global)?;
    let global_eval = evaluate_fixed(spec, global, validation, cfg.threads)?;
    let expected_bytes = global.encoded_len();
    let classes = spec.arch().classes();
    let mut decoded: Vec<Option<QModel>> = Vec::with_capacity(updates.len());
    let mut verdicts = Vec::with_capacity(updates.len());
    for bytes in updates {
        let model = match decode_update(spec, &layout, bytes, expected_bytes) {
            Ok(m) => m,
            Err(reason) => {
                decoded.push(None);
                verdicts.push(Verdict::Invalid(reason));
                continue;
            }
        };
        let verdict = if within_tolerance(&model, global, cfg.copy_tolerance) {
            Verdict::CopyOfGlobal
        } else if let Some(earlier) = decoded.iter().position(|d| {
            d.as_ref()
                .is_some_and(|d| within_tolerance(&model, d, cfg.copy_tolerance))
        }) {
            Verdict::CopyOf(earlier)
        } else {
            match evaluate_fixed(spec, &model, validation, cfg.threads) {
                Ok(eval) => Verdict::Valid {
                    score: score_for(eval.accuracy_ppm, global_eval.accuracy_ppm, classes),
                    accuracy_ppm: eval.accuracy_ppm,
                },
                Err(e) => Verdict::Invalid(format!("cannot evaluate: {e}")),
            }
        };
        decoded.push(Some(model));
        verdicts.push(verdict);
    }
    Ok(verdicts)
}

/// Decodes one update and checks it against the spec, or says why not.
fn decode_update(
    spec: &ModelSpec,
    layout: &[(String, Vec<u32>)],
    bytes: &[u8],
    expected_bytes: usize,
) -> Result<QModel, String> {
    // A well-formed update encodes to exactly `expected_bytes`; anything much larger is
    // refused before decoding allocates for it, anything else is decoded for a precise reason.
    if bytes.len()
        > expected_bytes
            .saturating_mul(2)
            .saturating_add(DECODE_SLACK_BYTES)
    {
        return Err(format!(
            "update is {} bytes; a {spec} update at frac_bits {} is exactly {expected_bytes}",
            bytes.len(),
            crate::FRAC_BITS
        ));
    }
    let model = QModel::decode(bytes).map_err(|e| FlError::Decode(e).to_string())?;
    check_against(spec, layout, &model).map_err(|e| e.to_string())?;
    Ok(model)
}
