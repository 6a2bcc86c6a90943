//! The crate's single integration-test binary: reference vectors (data-driven), fixed-point semantics,
//! input validation, and properties.

mod errors;
mod fixed_point;
mod harness;
mod median;
mod original;
mod props;
mod yuma3;

/// Nearest Q32.32 to `x` (test-only conversion; the library never sees a float).
pub fn fx(x: f64) -> cairn_yuma::I32F32 {
    cairn_yuma::I32F32::from_bits((x * 4_294_967_296.0).round() as i64)
}

/// Value of a Q32.32 as f64 (test-only).
pub fn to_f64(x: cairn_yuma::I32F32) -> f64 {
    x.to_bits() as f64 / 4_294_967_296.0
}
