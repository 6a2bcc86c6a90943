//! §1.2–§1.4: the operation semantics bit-exact vectors depend on.

use cairn_yuma::{BondsMode, EpochParams, I32F32, max_upscale_weights};

use crate::{fx, to_f64};

const ULP: I32F32 = I32F32::from_bits(1);

#[test]
fn multiplication_floors_toward_negative_infinity() {
    assert_eq!(ULP.saturating_mul(I32F32::HALF), I32F32::ZERO);
    assert_eq!(
        I32F32::from_bits(-1).saturating_mul(I32F32::HALF),
        I32F32::from_bits(-1)
    );
    assert_eq!(I32F32::MAX.saturating_mul(I32F32::from_int(2)), I32F32::MAX);
    assert_eq!(I32F32::MAX.checked_mul(I32F32::from_int(2)), None);
}

#[test]
fn division_truncates_toward_zero_and_safe_div_gives_zero() {
    // 1/3 and −1/3: both truncate toward zero.
    assert_eq!(
        I32F32::ONE.safe_div(I32F32::from_int(3)).to_bits(),
        1_431_655_765
    );
    assert_eq!(
        I32F32::from_int(-1).safe_div(I32F32::from_int(3)).to_bits(),
        -1_431_655_765
    );
    assert_eq!(I32F32::ONE.safe_div(I32F32::ZERO), I32F32::ZERO);
    assert_eq!(
        I32F32::from_int(1 << 30).safe_div(ULP),
        I32F32::ZERO,
        "overflow gives 0"
    );
    assert_eq!(I32F32::from_int(1 << 30).saturating_div(ULP), I32F32::MAX);
}

#[test]
fn u16_encodings() {
    // κ = 32767/65535 = 0.4999923704 (bits 2 147 450 879).
    assert_eq!(I32F32::from_u16_proportion(32_767).to_bits(), 2_147_450_879);
    assert_eq!(I32F32::from_u16_proportion(u16::MAX), I32F32::ONE);
    // "1 minus a few ulps" stores as 65534 (vector B's validator trust 0.9999999995).
    assert_eq!(I32F32::from_bits((1 << 32) - 2).to_u16_proportion(), 65_534);
    assert_eq!(I32F32::ONE.to_u16_proportion(), 65_535);
    assert_eq!(I32F32::from_int(2).to_u16_proportion(), 65_535, "saturates");
    assert_eq!(
        I32F32::from_bits(-5).to_u16_proportion(),
        0,
        "negative gives 0"
    );
}

#[test]
fn rounding_is_half_away_from_zero() {
    assert_eq!(fx(2.5).round(), I32F32::from_int(3));
    assert_eq!(fx(-2.5).round(), I32F32::from_int(-3));
    assert_eq!(fx(2.4999).round(), I32F32::from_int(2));
}

#[test]
fn fixed_alpha_from_bonds_moving_average() {
    let alpha = |bma| EpochParams::from_stored(0, 0, bma, 0, BondsMode::Original).fixed_alpha();
    assert_eq!(alpha(900_000).to_bits(), 429_496_730, "α = 0.1");
    assert!(
        (to_f64(alpha(975_000)) - 0.025_000_000_1).abs() < 1e-10,
        "α = 0.0250000001"
    );
}

#[test]
fn exp_matches_the_library() {
    assert_eq!(I32F32::ZERO.checked_exp(), Some(I32F32::ONE));
    assert_eq!(I32F32::ONE.checked_exp(), Some(I32F32::E));
    // Accuracy figures quoted by the reference (§1.4), to the digits it gives.
    let cases = [
        (-5, 0.006_737_947, 1e-9),
        (5, 148.413_159_098_5, 1e-9),
        (10, 22_026.465_25, 1e-5),
    ];
    for (x, expected, tol) in cases {
        let got = to_f64(I32F32::from_int(x).exp_safe());
        assert!(
            (got - expected).abs() <= tol,
            "exp({x}) = {got}, want {expected}"
        );
    }
    // Clamped at ±20.
    assert_eq!(
        I32F32::from_int(50).exp_safe(),
        I32F32::from_int(20).exp_safe()
    );
}

#[test]
fn weights_are_stored_max_upscaled() {
    assert_eq!(
        max_upscale_weights(&[16_383, 32_767, 49_149, 65_535]),
        [16_383, 32_767, 49_149, 65_535]
    );
    assert_eq!(max_upscale_weights(&[32_767, 32_767]), [65_535, 65_535]);
    assert_eq!(max_upscale_weights(&[127; 3]), [65_535; 3]);
    assert_eq!(
        max_upscale_weights(&[32_767, 0, 32_767]),
        [65_535, 0, 65_535]
    );
    assert_eq!(
        max_upscale_weights(&[1, 2]),
        [32_768, 65_535],
        "32767.5 rounds away from zero"
    );
    assert_eq!(max_upscale_weights(&[0, 0]), [0, 0]);
}

#[test]
fn liquid_alpha_range_matches_reference() {
    // With (0.1, 0.3) and steepness 1000, α runs from 0.10133 (x = 0) to 0.29865 (x = 1).
    let la = cairn_yuma::LiquidAlpha::from_stored(6_553, 19_660, 1_000);
    let at = |c: f64, w: f64, b: f64| to_f64(cairn_yuma::liquid_alpha(fx(c), fx(w), fx(b), la));
    assert!(
        (at(1.0, 1.0, 0.0) - 0.10133).abs() < 1e-5,
        "buying at consensus"
    );
    assert!(
        (at(0.0, 1.0, 0.0) - 0.29865).abs() < 1e-5,
        "buying far above consensus"
    );
    // Hand check of E-1 e1, A selling uid 3: x = 0.10132 → α = 0.10364.
    assert!((at(0.0, 0.0, 6_640.0 / 65_535.0) - 0.10364).abs() < 1e-5);
}
