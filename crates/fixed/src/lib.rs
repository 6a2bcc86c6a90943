//! Fixed-point model tensors, their canonical encoding, and robust aggregation computed by the
//! chain itself: every validator must produce the same bits for the same updates.
//!
//! # Invariants
//!
//! - Invariant: every function on the consensus path (all of [`model`], [`codec`] and
//!   [`aggregate`]) uses integers only. Floats (`f32`/`f64`) appear only in the explicitly
//!   named off-chain entry points of [`quantize`] ([`quantize_f32`] for trainers,
//!   [`dequantize`] for reports) and in test references. `clippy::float_arithmetic` is denied
//!   crate-wide and allowed only in [`quantize`].
//! - Invariant: no `HashMap`/`HashSet` (the workspace clippy configuration forbids them); no
//!   threads, so no reduction depends on a thread count; every loop visits inputs in index order.
//! - Invariant: arithmetic is exact. Each accumulator's width is chosen so that, under the limits
//!   in [`limits`], it cannot overflow (each module states the bound); where a result is narrowed
//!   to `i32` it is saturated, and each rule documents that the saturation cannot trigger.
//!   Rounding is always **floor toward −∞** (`div_euclid`, arithmetic `>>`), never truncation.
//! - Invariant: same inputs ⇒ same output bits on every platform (no floats, no
//!   platform-dependent widths: `usize` is never encoded or used as an accumulator).
//! - Invariant: the only `unsafe` (denied elsewhere) is the call into the FedAvg kernel compiled
//!   for AVX2 after run-time detection; it is the same integer code, so it returns the same bits
//!   as the portable build, and a test compares the two.
//! - Invariant: every value of [`QTensor`]/[`QModel`] is valid (limits, shape = length, unique
//!   names), because the constructors and the decoder check everything.
//!
//! # Format
//!
//! A tensor ([`QTensor`]) is `shape: Vec<u32>` (row-major, rank ≤ [`limits::RANK_MAX`]; the
//! empty shape is a scalar), `frac_bits: u8` (≤ [`limits::FRAC_BITS_MAX`] = 31) and
//! `values: Vec<i32>` with `values.len() = Π shape`; the real value of `v` is `v · 2^-frac_bits`,
//! one scale per tensor. A model or update ([`QModel`]) is an ordered list of uniquely named
//! tensors. Its canonical encoding, all integers little-endian, no padding:
//!
//! | bytes | field | check on decode |
//! |---|---|---|
//! | 4 | magic `"CQMD"` | [`DecodeError::BadMagic`] |
//! | 2 | version `u16` = 1 | [`DecodeError::UnsupportedVersion`] |
//! | 4 | tensor count `u32` | ≤ [`limits::TENSORS_MAX`] (4,096), [`DecodeError::TooManyTensors`] |
//! | | then per tensor: | |
//! | 2 | name length `u16` | ≤ [`limits::NAME_MAX_BYTES`] (256), [`DecodeError::NameTooLong`] |
//! | len | name, UTF-8 | [`DecodeError::NameNotUtf8`], unique: [`DecodeError::DuplicateName`] |
//! | 1 | `frac_bits` `u8` | ≤ 31, [`DecodeError::FracBitsTooLarge`] |
//! | 1 | rank `u8` | ≤ [`limits::RANK_MAX`] (8), [`DecodeError::RankTooLarge`] |
//! | 4·rank | dims, `u32` each | |
//! | 4 | value count `u32` | = Π dims, [`DecodeError::ShapeLenMismatch`]; running total ≤ [`limits::ELEMENTS_MAX`] (2^26), [`DecodeError::TooManyElements`] |
//! | 4·count | values, `i32` two's complement each | |
//!
//! A short input is [`DecodeError::Truncated`] and anything after the last tensor is
//! [`DecodeError::TrailingBytes`], so the encoding is canonical: decode → encode is the identity.
//! The content hash ([`QModel::content_hash`]) is BLAKE3 over the encoding.
//!
//! # Numerics
//!
//! - [`quantize_f32`]: `x · 2^frac_bits` rounded to nearest, **ties to even**, saturated to the
//!   `i32` range; NaN/∞ rejected with their index. Off-chain only.
//! - [`rescale`]: to fewer fractional bits by arithmetic `>>` (floors toward −∞: `-3 >> 1 = -2`);
//!   to more by `<<`, saturating.
//! - Aggregation ([`aggregate`]): [`fedavg`] (u64 weights, exact Σwx / Σw, floor), [`median`]
//!   (even count: floor of the mean of the two middle values), [`trimmed_mean`] (drop `k` per
//!   side, floor of the mean), [`krum`] and [`multi_krum`] (exact u128 scores, ties to the lowest
//!   index). Inputs must share tensor names, order, shapes and `frac_bits`.
#![deny(clippy::float_arithmetic)]
#![deny(unsafe_code)]

pub mod aggregate;
pub mod codec;
pub mod limits;
pub mod model;
pub mod quantize;

pub use aggregate::{
    Aggregate, AggregateError, Lineage, fedavg, krum, krum_scores, median, multi_krum,
    trim_count_per_mille, trimmed_mean,
};
pub use codec::DecodeError;
pub use model::{ModelError, QModel, QTensor, TensorError, rescale};
pub use quantize::{QuantizeError, dequantize, quantize_f32};
