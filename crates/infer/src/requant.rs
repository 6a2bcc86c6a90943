//! The one requantization rule every node uses.
//!
//! **Rule (single rounding, round half up):** for an `i32` accumulator `acc` and a multiplier
//! `(m, shift)` meaning the real number `m · 2^-shift`,
//!
//! ```text
//! y = clamp(((acc · m + 2^(shift-1)) >> shift) + zero_point, -128, 127)
//! ```
//!
//! computed in `i64`, where `>>` is the arithmetic (flooring) shift. That is exactly
//! `floor(acc · m / 2^shift + 1/2)`: ties round toward +∞. There is no second rounding (unlike
//! gemmlowp's doubling high-multiply followed by a rounding shift, which can differ in the
//! last bit), no float, and no platform dependence.
//!
//! Bounds: `0 <= m < 2^31` and `1 <= shift <= 62`, so `|acc · m| < 2^62` and adding the
//! rounding term `2^61` at most stays below `2^63`: the `i64` expression never overflows.
//!
//! Totality: every function here is defined for every argument, valid or not, and never
//! panics. A multiplier outside the bounds (which [`crate::graph`] validation rejects, so it
//! never reaches a verdict) still gets the exact value `floor(x / 2^shift + 1/2)` (`x` itself
//! for shift 0, computed in `i128` where `i64` could overflow), so a hostile header can at worst
//! produce a number, never a crash.
#![deny(clippy::float_arithmetic)]

/// Largest allowed shift.
pub const SHIFT_MAX: u8 = 62;
/// Exclusive upper bound of a multiplier's integer part (Q31).
pub const MULTIPLIER_LIMIT: i64 = 1 << 31;

/// A real multiplier `m · 2^-shift` with `0 <= m < 2^31`, `1 <= shift <= 62`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Multiplier {
    /// Integer part (Q31 when `shift >= 31`).
    pub m: i32,
    /// Right shift applied after the multiply.
    pub shift: u8,
}

impl Multiplier {
    /// Whether the fields are in range (the graph validator rejects anything else).
    pub fn is_valid(self) -> bool {
        self.m >= 0 && (1..=SHIFT_MAX).contains(&self.shift)
    }

    /// `round_half_up(value · m / 2^shift)` (no clamping). Exact whenever the result fits an
    /// `i64` (always for `|value| < 2^31`, the only case the engine uses); saturates otherwise.
    #[inline]
    pub fn apply(self, value: i64) -> i64 {
        match value.checked_mul(i64::from(self.m)) {
            Some(product) => rounding_shift(product, self.shift),
            // |value| >= 2^32 here; i64 · i32 always fits i128.
            None => saturate_i64(rounding_shift_wide(
                i128::from(value).saturating_mul(i128::from(self.m)),
                self.shift,
            )),
        }
    }
}

/// `floor(x / 2^shift + 1/2)`, exactly, for every `x` and `shift` (`x` for shift 0). The rule
/// only uses `1 <= shift <= 62` with `|x| <= 2^62`, where the `i64` fast path cannot overflow.
#[inline]
pub fn rounding_shift(x: i64, shift: u8) -> i64 {
    if (1..=SHIFT_MAX).contains(&shift) {
        let half = 1i64 << shift.wrapping_sub(1); // shift - 1 in 0..=61
        if let Some(v) = x.checked_add(half) {
            return v >> shift;
        }
    }
    // |result| <= 2^62 + 1 for shift >= 1, and x itself for shift 0: it always fits.
    saturate_i64(rounding_shift_wide(i128::from(x), shift))
}

/// [`rounding_shift`] in `i128` for `|x| < 2^126`: `2^(shift-1) <= 2^126` for `shift <= 127`,
/// so the sum cannot overflow; for `shift >= 128` the exact result is 0 (or the sign's floor).
fn rounding_shift_wide(x: i128, shift: u8) -> i128 {
    match shift {
        0 => x,
        1..=127 => x.saturating_add(1i128 << shift.wrapping_sub(1)) >> shift,
        // |x / 2^shift| < 2^-1 here, so x / 2^shift + 1/2 is in (0, 1): the floor is 0.
        _ => 0,
    }
}

fn saturate_i64(x: i128) -> i64 {
    i64::try_from(x).unwrap_or(if x < 0 { i64::MIN } else { i64::MAX })
}

/// Clamps to the int8 range.
#[inline]
pub fn saturate_i8(x: i64) -> i8 {
    // In range after the clamp, so the cast is exact.
    x.clamp(i64::from(i8::MIN), i64::from(i8::MAX)) as i8
}

/// The rule above: `clamp(round_half_up(acc · m / 2^shift) + zero_point, -128, 127)`.
#[inline]
pub fn requantize(acc: i32, multiplier: Multiplier, zero_point: i8) -> i8 {
    // |apply(acc)| <= 2^62 + 1 (an i32 times an i32), so adding an i8 never saturates.
    saturate_i8(
        multiplier
            .apply(i64::from(acc))
            .saturating_add(i64::from(zero_point)),
    )
}
