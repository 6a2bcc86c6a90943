//! The float ↔ fixed-point boundary: trainers work in `f32` ([`cairn_ml`]), the chain stores and
//! aggregates [`QModel`]s ([`cairn_fixed`]).
//!
//! Invariant: [`to_fixed`] and [`to_float`] are pure functions of their inputs (rounding is
//! round-to-nearest-even both ways), so every node converts a model to the same bytes.

use cairn_fixed::{QModel, QTensor, QuantizeError, dequantize, quantize_f32};
use cairn_ml::Model;

use crate::{FlError, ModelSpec};

/// Fractional bits of every tensor cairn-fl produces: a weight `w` is stored as
/// `round(w · 2^16)` in an `i32`.
///
/// Why 16: the step is 2^-16 ≈ 1.5e-5, two orders of magnitude below a typical SGD step at
/// lr 0.01–0.1 (and quantization happens once per local training run, not per step), while the
/// range ±32 768 is far beyond any honest weight (|w| < 10), so only poisoned updates saturate.
/// It also leaves Krum's squared distances and FedAvg's weighted sums far from their limits.
pub const FRAC_BITS: u8 = 16;

/// Quantizes every parameter of `model` at [`FRAC_BITS`], in model order. A NaN or ±∞ weight
/// is rejected with its tensor name and index.
pub fn to_fixed(model: &Model) -> Result<QModel, FlError> {
    let tensors = model
        .parameters()
        .into_iter()
        .map(|(name, shape, values)| {
            let values = quantize_f32(&values, FRAC_BITS).map_err(|e| match e {
                QuantizeError::NotFinite { index, value } => FlError::NotFinite {
                    tensor: name.clone(),
                    index,
                    value,
                },
                QuantizeError::FracBitsTooLarge { .. } => {
                    FlError::Config(format!("FRAC_BITS {FRAC_BITS} is too large"))
                }
            })?;
            let dims = shape
                .iter()
                .map(|&d| u32::try_from(d))
                .collect::<Result<Vec<u32>, _>>()
                .map_err(|_| FlError::Config(format!("tensor `{name}` is too large")))?;
            Ok((name, QTensor::new(dims, FRAC_BITS, values)?))
        })
        .collect::<Result<Vec<_>, FlError>>()?;
    Ok(QModel::new(tensors)?)
}

/// Checks that `q` has exactly `spec`'s tensors: same count, names in the same order, same
/// shapes, and [`FRAC_BITS`] everywhere. The first difference is the error.
pub fn check_layout(spec: &ModelSpec, q: &QModel) -> Result<(), FlError> {
    check_against(spec, &spec.layout()?, q)
}

/// Parameter names and shapes of `model`, in order.
pub(crate) fn layout_of(model: &Model) -> Result<Vec<(String, Vec<u32>)>, FlError> {
    model
        .parameters()
        .into_iter()
        .map(|(name, shape, _)| {
            let dims = shape
                .iter()
                .map(|&d| u32::try_from(d))
                .collect::<Result<Vec<u32>, _>>()
                .map_err(|_| FlError::Config(format!("tensor `{name}` is too large")))?;
            Ok((name, dims))
        })
        .collect()
}

/// [`check_layout`] against a layout computed once.
pub(crate) fn check_against(
    spec: &ModelSpec,
    layout: &[(String, Vec<u32>)],
    q: &QModel,
) -> Result<(), FlError> {
    if layout.len() != q.tensors().len() {
        return Err(FlError::TensorCount {
            spec: spec.to_string(),
            expected: layout.len(),
            got: q.tensors().len(),
        });
    }
    for (index, ((want_name, want_shape), (name, t))) in layout.iter().zip(q.tensors()).enumerate()
    {
        if want_name != name {
            return Err(FlError::TensorName {
                spec: spec.to_string(),
                index,
                expected: want_name.clone(),
                got: name.clone(),
            });
        }
        if want_shape.as_slice() != t.shape() {
            return Err(FlError::TensorShape {
                spec: spec.to_string(),
                tensor: name.clone(),
                expected: want_shape.clone(),
                got: t.shape().to_vec(),
            });
        }
        if t.frac_bits() != FRAC_BITS {
            return Err(FlError::FracBits {
                tensor: name.clone(),
                expected: FRAC_BITS,
                got: t.frac_bits(),
            });
        }
    }
    Ok(())
}

/// A float model of `spec` holding `q`'s weights, after [`check_layout`].
///
/// Each value becomes the `f32` nearest to `v · 2^-FRAC_BITS`: exact for |w| < 256 (24
/// significant bits), so `to_fixed(&to_float(spec, q)?)? == q` for every honest model.
pub fn to_float(spec: &ModelSpec, q: &QModel) -> Result<Model, FlError> {
    let mut model = Model::new(spec.arch(), 0)?;
    check_against(spec, &layout_of(&model)?, q)?;
    let params: Vec<cairn_ml::NamedTensor> = q
        .tensors()
        .iter()
        .map(|(name, t)| {
            let shape = t.shape().iter().map(|&d| d as usize).collect();
            let values = dequantize(t.values(), t.frac_bits())
                .into_iter()
                .map(|v| v as f32)
                .collect();
            (name.clone(), shape, values)
        })
        .collect();
    model.set_parameters(&params)?;
    Ok(model)
}

/// The round-0 global model: `spec` initialised from `seed` ([`cairn_ml::Model::new`]), quantized.
pub fn initial_model(spec: &ModelSpec, seed: u64) -> Result<QModel, FlError> {
    to_fixed(&Model::new(spec.arch(), seed)?)
}
