//! The float boundary, used **off-chain only**: trainers turn `f32` weights into fixed point with
//! [`quantize_f32`], reports turn them back with [`dequantize`]. Nothing on the consensus path
//! calls into this module; it is the only module of the crate allowed to touch floats.
#![allow(clippy::float_arithmetic)]

use crate::limits::FRAC_BITS_MAX;

/// Why floats could not be quantized.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuantizeError {
    #[error("value {index} is {value}, not a finite number")]
    NotFinite { index: usize, value: f32 },
    #[error("frac_bits {frac_bits} exceeds the maximum {max}")]
    FracBitsTooLarge { frac_bits: u8, max: u8 },
}

/// `values[i] · 2^frac_bits`, **rounded to nearest, ties to even** (IEEE 754
/// `roundTiesToEven`: 0.5 → 0, 1.5 → 2, −2.5 → −2), then **saturated** to
/// `i32::MIN..=i32::MAX`. NaN and ±∞ are rejected with the index of the first one.
///
/// Exact and platform-independent: an `f32` times a power of two ≤ 2^31 is exact in `f64`,
/// rounding to an integer is exact, and Rust's float-to-int `as` saturates.
pub fn quantize_f32(values: &[f32], frac_bits: u8) -> Result<Vec<i32>, QuantizeError> {
    if frac_bits > FRAC_BITS_MAX {
        return Err(QuantizeError::FracBitsTooLarge {
            frac_bits,
            max: FRAC_BITS_MAX,
        });
    }
    let scale = (1u64 << frac_bits) as f64;
    values
        .iter()
        .enumerate()
        .map(|(index, &value)| {
            if !value.is_finite() {
                return Err(QuantizeError::NotFinite { index, value });
            }
            // Saturating cast: out-of-range values become i32::MIN / i32::MAX.
            Ok((f64::from(value) * scale).round_ties_even() as i32)
        })
        .collect()
}

/// `values[i] · 2^-frac_bits` as `f64`, exact for every `frac_bits` up to [`FRAC_BITS_MAX`]
/// (for reporting; never feed the result back into consensus).
pub fn dequantize(values: &[i32], frac_bits: u8) -> Vec<f64> {
    let step = step(frac_bits);
    values.iter().map(|&v| f64::from(v) * step).collect()
}

/// The real value of one quantization step, `2^-frac_bits`.
pub fn step(frac_bits: u8) -> f64 {
    // Halving is exact down to 2^-1022, far below 2^-255.
    (0..frac_bits).fold(1.0f64, |s, _| s * 0.5)
}
