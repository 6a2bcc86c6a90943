//! Deterministic `exp` and `ln`, built only from IEEE-754 `+ - * /` and bit manipulation.
//!
//! Why: `f64::exp`/`ln` call the platform's libm, whose last-bit results differ between
//! glibc versions, musl, macOS and Windows. Every node must compute the same bytes, so the
//! loss, the Gamma sampler and the synthetic data use these instead. Accuracy is a few ulp of
//! f64, far below what the f32 training math can see.

/// ln 2 split as in fdlibm: the high part has trailing zero bits so `n * LN2_HI` is exact.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
const LN2: f64 = core::f64::consts::LN_2;

/// `e^x`, deterministic on every platform.
pub fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > 709.0 {
        return f64::INFINITY;
    }
    if x < -745.0 {
        return 0.0;
    }
    // x = n*ln2 + r with |r| <= ln2/2; n computed by rounding half away from zero by hand
    // (`f64::round` is exact everywhere, but this keeps the dependence visible).
    let t = x / LN2;
    let n = if t >= 0.0 {
        (t + 0.5) as i64
    } else {
        (t - 0.5) as i64
    };
    let nf = n as f64;
    let r = (x - nf * LN2_HI) - nf * LN2_LO;
    // Taylor series to r^13: the truncation error is below 1e-17 for |r| <= 0.35.
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..=13 {
        term = term * r / k as f64;
        sum += term;
    }
    scale_by_pow2(sum, n)
}

/// `sum * 2^n` by exponent manipulation, in two steps so that subnormal results stay exact.
fn scale_by_pow2(sum: f64, n: i64) -> f64 {
    let (first, second) = if n < -1000 {
        (n + 1000, -1000)
    } else if n > 1000 {
        (n - 1000, 1000)
    } else {
        (n, 0)
    };
    sum * pow2(first) * pow2(second)
}

fn pow2(n: i64) -> f64 {
    debug_assert!((-1022..=1023).contains(&n));
    f64::from_bits(((n + 1023) as u64) << 52)
}

/// Natural logarithm, deterministic on every platform. `ln(0) = -inf`, negative → NaN.
pub fn ln(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_infinite() {
        return x;
    }
    let mut bits = x.to_bits();
    let mut exponent: i64 = 0;
    if bits >> 52 == 0 {
        // Subnormal: scale into the normal range first.
        bits = (x * pow2(64)).to_bits();
        exponent -= 64;
    }
    exponent += ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52)); // [1, 2)
    if m > core::f64::consts::SQRT_2 {
        m *= 0.5;
        exponent += 1;
    }
    // ln m = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.1716: the series to s^27 is exact in f64.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut power = s;
    let mut sum = 0.0;
    let mut k = 1.0;
    while k < 28.0 {
        sum += power / k;
        power *= s2;
        k += 2.0;
    }
    let e = exponent as f64;
    (e * LN2_HI + 2.0 * sum) + e * LN2_LO
}

/// Deterministic `e^x` for f32 work (computed in f64, rounded once).
pub fn expf(x: f32) -> f32 {
    exp(x as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_ln_match_libm_closely() {
        let mut x = -700.0;
        while x < 700.0 {
            let rel = (exp(x) - x.exp()).abs() / x.exp();
            assert!(rel < 1e-14, "exp({x}) rel err {rel}");
            x += 0.7319;
        }
        let mut y = 1e-300;
        while y < 1e300 {
            let err = (ln(y) - y.ln()).abs();
            assert!(err <= 1e-13 * y.ln().abs().max(1.0), "ln({y}) err {err}");
            y *= 3.7;
        }
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(ln(1.0), 0.0);
        assert!(ln(5e-324).is_finite());
        assert_eq!(exp(-800.0), 0.0);
    }
}
