//! `I32F32`: signed Q32.32 fixed point with the exact rounding of `substrate-fixed` v0.6.0.
//!
//! Why our own type: the reference pins `substrate-fixed` (a git-only fork) and bit-exact test vectors
//! depend on its rounding, so the rounding is spelled out here instead of inherited:
//! - multiplication floors (toward −∞) to 2⁻³²;
//! - division truncates toward zero;
//! - addition and subtraction are exact, the `saturating_` forms clamp at the range;
//! - [`I32F32::safe_div`] returns 0 on division by zero *and* on overflow;
//! - conversion to integers floors ([`I32F32::saturating_floor_u64`] clamps to the target range).

use core::fmt;

/// Number of fractional bits.
const FRAC_BITS: u32 = 32;
/// 1.0 in bits.
const ONE_BITS: i64 = 1 << FRAC_BITS;

/// Signed Q32.32 number; `bits / 2³²` is its value. Ordering is numeric ordering.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct I32F32(i64);

impl fmt::Debug for I32F32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Integer-only rendering, 10 decimals, truncated: no float ever formats consensus values.
        let bits = i128::from(self.0);
        let sign = if bits < 0 { "-" } else { "" };
        let abs = bits.unsigned_abs();
        let int = abs >> FRAC_BITS;
        let frac = ((abs & u128::from(u32::MAX)) * 10_000_000_000) >> FRAC_BITS;
        write!(f, "{sign}{int}.{frac:010}")
    }
}

impl fmt::Display for I32F32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Clamp an i128 into the i64 bit range.
fn clamp_bits(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

impl I32F32 {
    /// 0.
    pub const ZERO: Self = Self(0);
    /// 1.
    pub const ONE: Self = Self(ONE_BITS);
    /// 0.5.
    pub const HALF: Self = Self(ONE_BITS / 2);
    /// Largest representable value.
    pub const MAX: Self = Self(i64::MAX);
    /// Smallest representable value.
    pub const MIN: Self = Self(i64::MIN);
    /// The library's e: `substrate-fixed` stores e as I9F23, i.e. ⌊e·2²³⌋·2⁻²³ = 2.7182817459….
    pub const E: Self = Self(22_802_600 << 9);

    /// From raw bits (value = bits · 2⁻³²).
    pub const fn from_bits(bits: i64) -> Self {
        Self(bits)
    }

    /// Raw bits (value = bits · 2⁻³²).
    pub const fn to_bits(self) -> i64 {
        self.0
    }

    /// An integer, saturating at the range (±2³¹).
    pub fn from_int(v: i64) -> Self {
        Self(clamp_bits(i128::from(v) << FRAC_BITS))
    }

    /// `v / 65535`, truncating: how stored u16 proportions (kappa, alpha values, Yuma 3 bonds) read back.
    pub fn from_u16_proportion(v: u16) -> Self {
        Self::from_int(i64::from(v)).safe_div(Self::from_int(i64::from(u16::MAX)))
    }

    /// `q(x) = floor_u16(x ⊗ 65535)`, clamped to 0…65535: how proportions are stored.
    pub fn to_u16_proportion(self) -> u16 {
        self.saturating_mul(Self::from_int(i64::from(u16::MAX)))
            .saturating_floor_u16()
    }

    /// Floor to u16, clamping (negative gives 0).
    pub fn saturating_floor_u16(self) -> u16 {
        u16::try_from((self.0 >> FRAC_BITS).max(0)).unwrap_or(u16::MAX)
    }

    /// Floor to u64, clamping (negative gives 0).
    pub fn saturating_floor_u64(self) -> u64 {
        u64::try_from((self.0 >> FRAC_BITS).max(0)).unwrap_or(u64::MAX)
    }

    /// Is this exactly zero?
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Exact sum, clamped at the range.
    pub fn saturating_add(self, rhs: Self) -> Self {
        Self(self.0.saturating_add(rhs.0))
    }

    /// Exact difference, clamped at the range (it can go negative: the type is signed).
    pub fn saturating_sub(self, rhs: Self) -> Self {
        Self(self.0.saturating_sub(rhs.0))
    }

    /// Exact sum, `None` on overflow.
    pub fn checked_add(self, rhs: Self) -> Option<Self> {
        self.0.checked_add(rhs.0).map(Self)
    }

    /// Exact product floored to 2⁻³² (an arithmetic shift of the 128-bit product floors toward −∞).
    fn mul_wide(self, rhs: Self) -> i128 {
        (i128::from(self.0) * i128::from(rhs.0)) >> FRAC_BITS
    }

    /// Flooring product, clamped at the range.
    pub fn saturating_mul(self, rhs: Self) -> Self {
        Self(clamp_bits(self.mul_wide(rhs)))
    }

    /// Flooring product, `None` on overflow.
    pub fn checked_mul(self, rhs: Self) -> Option<Self> {
        i64::try_from(self.mul_wide(rhs)).ok().map(Self)
    }

    /// Truncating quotient (toward zero), `None` on division by zero or overflow.
    pub fn checked_div(self, rhs: Self) -> Option<Self> {
        if rhs.0 == 0 {
            return None;
        }
        // i128 division truncates toward zero, as the fixed crate's division does.
        i64::try_from((i128::from(self.0) << FRAC_BITS) / i128::from(rhs.0))
            .ok()
            .map(Self)
    }

    /// Truncating quotient; 0 on division by zero *and* on overflow (subtensor's `safe_div`).
    pub fn safe_div(self, rhs: Self) -> Self {
        self.checked_div(rhs).unwrap_or(Self::ZERO)
    }

    /// Truncating quotient clamped at the range on overflow; 0 on division by zero.
    pub fn saturating_div(self, rhs: Self) -> Self {
        if rhs.0 == 0 {
            return Self::ZERO;
        }
        Self(clamp_bits(
            (i128::from(self.0) << FRAC_BITS) / i128::from(rhs.0),
        ))
    }

    /// Round to the nearest integer, halves away from zero.
    pub fn round(self) -> Self {
        let half = i128::from(Self::HALF.0);
        let mask = !(i128::from(ONE_BITS) - 1);
        let bits = i128::from(self.0);
        let rounded = if bits >= 0 {
            (bits + half) & mask
        } else {
            -((-bits + half) & mask)
        };
        Self(clamp_bits(rounded))
    }

    /// `e^x` exactly as `substrate_fixed::transcendental::exp` computes it for I32F32: exp(0) = 1,
    /// exp(1) = [`I32F32::E`], otherwise the Taylor series of |x| with terms k = 2…31 (flooring
    /// multiply, truncating divide), reciprocal for negative x. `None` where the library errs.
    pub fn checked_exp(self) -> Option<Self> {
        if self == Self::ZERO {
            return Some(Self::ONE);
        }
        if self == Self::ONE {
            return Some(Self::E);
        }
        let neg = self.0 < 0;
        let x = if neg {
            Self(self.0.checked_neg()?)
        } else {
            self
        };
        let mut result = x.checked_add(Self::ONE)?;
        let mut term = x;
        for k in 2..i64::from(FRAC_BITS) {
            term = term.checked_mul(x)?.checked_div(Self::from_int(k))?;
            result = result.checked_add(term)?;
        }
        if neg {
            result = Self::ONE.checked_div(result)?;
        }
        Some(result)
    }

    /// subtensor's `exp_safe`: input clamped to [−20, 20]; on a library error 0 (x ≤ 0) or MAX.
    pub fn exp_safe(self) -> Self {
        let x = self.clamp(Self::from_int(-20), Self::from_int(20));
        x.checked_exp().unwrap_or(if x <= Self::ZERO {
            Self::ZERO
        } else {
            Self::MAX
        })
    }
}
