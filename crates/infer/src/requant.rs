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

    /// `round_half_up(value · m / 2^shift)` in `i64` (no clamping). Requires [`Self::is_valid`]
    /// and `|value| < 2^31`.
    #[inline]
    pub fn apply(self, value: i64) -> i64 {
        rounding_shift(value * i64::from(self.m), self.shift)
    }
}

/// `floor(x / 2^shift + 1/2)` for `1 <= shift <= 62` and `|x| < 2^62`.
#[inline]
pub fn rounding_shift(x: i64, shift: u8) -> i64 {
    (x + (1i64 << (shift - 1))) >> shift
}

/// Clamps to the int8 range.
#[inline]
pub fn saturate_i8(x: i64) -> i8 {
    x.clamp(i64::from(i8::MIN), i64::from(i8::MAX)) as i8
}

/// The rule above: `clamp(round_half_up(acc · m / 2^shift) + zero_point, -128, 127)`.
#[inline]
pub fn requantize(acc: i32, multiplier: Multiplier, zero_point: i8) -> i8 {
    saturate_i8(multiplier.apply(i64::from(acc)) + i64::from(zero_point))
}
