//! Vector A (§4.1): `test_math_weighted_median_col` and `test_math_weighted_median`, exact.

use cairn_yuma::I32F32;
use cairn_yuma::math::{weighted_median_col, weighted_quantile};

use crate::fx;

fn fxv(v: &[f64]) -> Vec<I32F32> {
    v.iter().map(|&x| fx(x)).collect()
}

fn matrix(rows: &[&[f64]]) -> Vec<Vec<I32F32>> {
    rows.iter().map(|r| fxv(r)).collect()
}

#[test]
fn vector_a_weighted_median_col() {
    let w = matrix(&[
        &[0.0, 0.1, 0.0],
        &[0.0, 0.2, 0.4],
        &[0.0, 0.3, 0.1],
        &[0.0, 0.4, 0.5],
    ]);
    let stake = fxv(&[0.0, 0.75, 0.25, 0.0]);
    let cases: [(f64, [f64; 3]); 3] = [
        (0.24, [0.0, 0.3, 0.4]),
        (0.26, [0.0, 0.2, 0.4]),
        (0.76, [0.0, 0.2, 0.1]),
    ];
    for (kappa, expected) in cases {
        assert_eq!(
            weighted_median_col(&stake, &w, fx(kappa), 3),
            fxv(&expected),
            "κ = {kappa}"
        );
    }
    let w = matrix(&[
        &[0.0, 0.1, 0.0],
        &[0.0, 0.2, 0.4],
        &[0.0, 0.3, 0.1],
        &[0.0, 0.0, 0.5],
    ]);
    let stake = fxv(&[0.0, 0.3, 0.2, 0.5]);
    assert_eq!(
        weighted_median_col(&stake, &w, fx(0.51), 3),
        fxv(&[0.0, 0.0, 0.4])
    );
}

#[test]
fn vector_a_weighted_median_scalar() {
    let minority = I32F32::ONE.saturating_sub(fx(0.51));
    let cases: [(&[f64], &[f64], f64); 5] = [
        (&[0.51, 0.49], &[0.5, 1.0], 0.5),
        (&[0.49, 0.51], &[0.5, 1.0], 1.0),
        (&[0.49, 0.01, 0.5], &[0.5, 0.7, 1.0], 0.7),
        (&[0.2; 5], &[0.8, 0.2, 1.0, 0.6, 0.4], 0.6),
        (&[1.0], &[1.0], 1.0),
    ];
    for (stake, score, expected) in cases {
        assert_eq!(
            weighted_quantile(&fxv(stake), &fxv(score), minority),
            fx(expected),
            "{stake:?} {score:?}"
        );
    }
    assert_eq!(
        weighted_quantile(&[], &[], minority),
        I32F32::ZERO,
        "no voters"
    );
}

#[test]
fn median_boundaries() {
    let stake = fxv(&[0.5, 0.5]);
    let score = fxv(&[0.2, 0.9]);
    // Default κ: exactly half the stake already reaches κ, so the higher value wins (§3.6 item 7).
    let kappa = I32F32::from_u16_proportion(32_767);
    assert_eq!(
        weighted_quantile(&stake, &score, I32F32::ONE.saturating_sub(kappa)),
        fx(0.9)
    );
    // κ = 1 with σ a few ulps short of 1: negative minority gives the smallest score.
    assert_eq!(
        weighted_quantile(&stake, &score, I32F32::from_bits(-3)),
        fx(0.2)
    );
    // κ = 0: minority = σ gives the largest score.
    assert_eq!(weighted_quantile(&stake, &score, I32F32::ONE), fx(0.9));
}
