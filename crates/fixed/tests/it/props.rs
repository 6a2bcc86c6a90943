//! Properties: permutation invariance, bounds, agreement with an f64 reference, codec round
//! trips, and decoding arbitrary bytes without panicking.

use cairn_fixed::quantize::step;
use cairn_fixed::{
    Lineage, QModel, QTensor, dequantize, fedavg, krum, krum_scores, median, multi_krum,
    quantize_f32, trimmed_mean,
};
use proptest::prelude::*;

use crate::values;

/// `n` updates of `len` values each, plus a permutation of `0..n`.
fn rows_and_permutation(
    n: std::ops::Range<usize>,
    len: std::ops::Range<usize>,
    value: std::ops::RangeInclusive<i32>,
) -> impl Strategy<Value = (Vec<Vec<i32>>, Vec<usize>)> {
    (n, len).prop_flat_map(move |(n, len)| {
        let rows = prop::collection::vec(prop::collection::vec(value.clone(), len), n);
        (rows, Just((0..n).collect::<Vec<_>>()).prop_shuffle())
    })
}

fn models(frac_bits: u8, rows: &[Vec<i32>]) -> Vec<QModel> {
    rows.iter()
        .map(|r| crate::vector_model(frac_bits, r))
        .collect()
}

fn permuted<T: Clone>(items: &[T], perm: &[usize]) -> Vec<T> {
    perm.iter().map(|&i| items[i].clone()).collect()
}

/// Asserts `lo ≤ out[j] ≤ hi` with lo/hi the column's min/max.
fn assert_within_columns(rows: &[Vec<i32>], out: &[i32]) -> Result<(), TestCaseError> {
    for (j, &o) in out.iter().enumerate() {
        let lo = rows.iter().map(|r| r[j]).min().unwrap();
        let hi = rows.iter().map(|r| r[j]).max().unwrap();
        prop_assert!(
            lo <= o && o <= hi,
            "coordinate {j}: {o} outside [{lo}, {hi}]"
        );
    }
    Ok(())
}

/// `0 ≤ reference − got < step` (floor rounding) with a tiny allowance for f64 error.
fn assert_floor_of(reference: f64, got: f64, step: f64) -> Result<(), TestCaseError> {
    let diff = reference - got;
    let slack = 1e-9 * step.max(reference.abs() * 1e-6);
    prop_assert!(
        diff >= -slack && diff < step + slack,
        "reference {reference}, got {got}, step {step}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn fedavg_is_permutation_invariant_with_weights(
        (rows, perm) in rows_and_permutation(1..9, 1..40, i32::MIN..=i32::MAX),
        weights in prop::collection::vec(0u64..10_000, 9),
        huge in any::<bool>(),
    ) {
        let mut weights = weights[..rows.len()].to_vec();
        weights[0] += 1; // non-zero total
        if huge {
            weights.iter_mut().for_each(|w| *w <<= 33); // the i128 path
        }
        let ups = models(5, &rows);
        let a = fedavg(&ups, &weights).unwrap();
        let b = fedavg(&permuted(&ups, &perm), &permuted(&weights, &perm)).unwrap();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn fedavg_paths_agree(
        (rows, _) in rows_and_permutation(1..9, 1..40, i32::MIN..=i32::MAX),
        weights in prop::collection::vec(1u64..1_000, 9),
    ) {
        // Scaling every weight by 2^33 changes neither Σwx/Σw nor its floor, but moves the
        // computation from the i64 to the i128 path.
        let weights = &weights[..rows.len()];
        let scaled: Vec<u64> = weights.iter().map(|w| w << 33).collect();
        let ups = models(0, &rows);
        prop_assert_eq!(fedavg(&ups, weights).unwrap().model, fedavg(&ups, &scaled).unwrap().model);
    }

    #[test]
    fn fedavg_within_bounds_and_one_step_of_f64(
        (rows, _) in rows_and_permutation(1..9, 1..40, i32::MIN..=i32::MAX),
        weights in prop::collection::vec(0u64..5_000, 9),
        frac_bits in 0u8..=31,
    ) {
        let mut weights = weights[..rows.len()].to_vec();
        weights[0] += 1;
        let out = values(&fedavg(&models(frac_bits, &rows), &weights).unwrap().model);
        let kept: Vec<Vec<i32>> = rows.iter().zip(&weights).filter(|(_, w)| **w > 0).map(|(r, _)| r.clone()).collect();
        assert_within_columns(&kept, &out)?;
        let total: f64 = weights.iter().map(|&w| w as f64).sum();
        let deq: Vec<Vec<f64>> = rows.iter().map(|r| dequantize(r, frac_bits)).collect();
        let got = dequantize(&out, frac_bits);
        for j in 0..out.len() {
            let reference: f64 = deq.iter().zip(&weights).map(|(r, &w)| r[j] * w as f64).sum::<f64>() / total;
            assert_floor_of(reference, got[j], step(frac_bits))?;
        }
    }

    #[test]
    fn median_is_permutation_invariant_and_bounded(
        (rows, perm) in rows_and_permutation(1..10, 1..30, i32::MIN..=i32::MAX),
    ) {
        let ups = models(0, &rows);
        let a = median(&ups).unwrap();
        prop_assert_eq!(&a, &median(&permuted(&ups, &perm)).unwrap());
        let out = values(&a.model);
        assert_within_columns(&rows, &out)?;
        // f64 reference: middle value, or the mean of the two middle values, floored.
        for (j, &o) in out.iter().enumerate() {
            let mut col: Vec<f64> = rows.iter().map(|r| f64::from(r[j])).collect();
            col.sort_by(f64::total_cmp);
            let n = col.len();
            let reference = if n % 2 == 1 { col[n / 2] } else { (col[n / 2 - 1] + col[n / 2]) / 2.0 };
            assert_floor_of(reference, f64::from(o), 1.0)?;
        }
    }

    #[test]
    fn trimmed_mean_is_permutation_invariant_bounded_and_near_f64(
        (rows, perm) in rows_and_permutation(1..12, 1..30, i32::MIN..=i32::MAX),
        trim in 0usize..6,
        frac_bits in 0u8..=31,
    ) {
        let n = rows.len();
        let trim = trim.min((n - 1) / 2);
        let ups = models(frac_bits, &rows);
        let a = trimmed_mean(&ups, trim).unwrap();
        let b = trimmed_mean(&permuted(&ups, &perm), trim).unwrap();
        prop_assert_eq!(&a.model, &b.model);
        let Lineage::Trimmed { kept_coordinates } = &a.lineage else { panic!("lineage {:?}", a.lineage) };
        let len = rows[0].len() as u64;
        prop_assert_eq!(kept_coordinates.iter().sum::<u64>(), len * (n - 2 * trim) as u64);
        let out = values(&a.model);
        assert_within_columns(&rows, &out)?;
        let got = dequantize(&out, frac_bits);
        for j in 0..out.len() {
            let mut col: Vec<f64> = rows.iter().map(|r| dequantize(&[r[j]], frac_bits)[0]).collect();
            col.sort_by(f64::total_cmp);
            let kept = &col[trim..n - trim];
            let reference = kept.iter().sum::<f64>() / kept.len() as f64;
            assert_floor_of(reference, got[j], step(frac_bits))?;
        }
    }

    #[test]
    fn krum_selection_is_permutation_invariant(
        (rows, perm) in rows_and_permutation(5..12, 1..8, -1_000_000..=1_000_000),
        f in 0usize..4,
        m in 1usize..12,
    ) {
        let n = rows.len();
        let f = f.min((n - 3) / 2);
        let m = m.min(n - f);
        let ups = models(0, &rows);
        let scores = krum_scores(&ups, f).unwrap();
        // Ties at the selection boundary are decided by index, which a permutation changes.
        let mut sorted = scores.clone();
        sorted.sort_unstable();
        prop_assume!(m == n || sorted[m - 1] != sorted[m]);
        prop_assume!(sorted[0] != sorted[1]);
        let permuted_ups = permuted(&ups, &perm);
        // Scores move with their updates.
        prop_assert_eq!(permuted(&scores, &perm), krum_scores(&permuted_ups, f).unwrap());
        let selected = |agg: &cairn_fixed::Aggregate, order: &[usize]| -> Vec<usize> {
            let Lineage::Selected { indices, .. } = &agg.lineage else { panic!() };
            let mut set: Vec<usize> = indices.iter().map(|&i| order[i]).collect();
            set.sort_unstable();
            set
        };
        let identity: Vec<usize> = (0..n).collect();
        let a = krum(&ups, f).unwrap();
        let b = krum(&permuted_ups, f).unwrap();
        prop_assert_eq!(selected(&a, &identity), selected(&b, &perm));
        prop_assert_eq!(&a.model, &b.model);
        let a = multi_krum(&ups, f, m).unwrap();
        let b = multi_krum(&permuted_ups, f, m).unwrap();
        prop_assert_eq!(selected(&a, &identity), selected(&b, &perm));
        prop_assert_eq!(&a.model, &b.model);
        // Multi-Krum is the floored mean of its selection.
        let chosen = selected(&a, &identity);
        for (j, &o) in values(&a.model).iter().enumerate() {
            let reference = chosen.iter().map(|&i| f64::from(rows[i][j])).sum::<f64>() / chosen.len() as f64;
            assert_floor_of(reference, f64::from(o), 1.0)?;
        }
    }

    #[test]
    fn krum_picks_a_minimum_score(
        (rows, _) in rows_and_permutation(3..10, 1..6, i32::MIN..=i32::MAX),
    ) {
        let ups = models(0, &rows);
        let scores = krum_scores(&ups, 0).unwrap();
        let agg = krum(&ups, 0).unwrap();
        let Lineage::Selected { indices, .. } = &agg.lineage else { panic!() };
        let best = indices[0];
        prop_assert_eq!(scores[best], *scores.iter().min().unwrap());
        prop_assert!(scores[..best].iter().all(|&s| s > scores[best]), "ties go to the lowest index");
        prop_assert_eq!(&agg.model, &ups[best]);
    }

    #[test]
    fn quantize_is_within_half_a_step(
        xs in prop::collection::vec(-1.0e4f32..1.0e4, 0..64),
        frac_bits in 0u8..=16,
    ) {
        let q = quantize_f32(&xs, frac_bits).unwrap();
        let back = dequantize(&q, frac_bits);
        for (x, y) in xs.iter().zip(&back) {
            prop_assert!((f64::from(*x) - y).abs() <= step(frac_bits) / 2.0);
        }
    }
}

fn arb_model() -> impl Strategy<Value = QModel> {
    let tensor = (prop::collection::vec(0u32..4, 0..4), 0u8..=31).prop_flat_map(|(shape, fb)| {
        let len = shape.iter().product::<u32>() as usize;
        prop::collection::vec(any::<i32>(), len)
            .prop_map(move |v| QTensor::new(shape.clone(), fb, v).unwrap())
    });
    prop::collection::vec(("[a-z.é]{0,12}", tensor), 0..5).prop_map(|tensors| {
        let mut seen = std::collections::BTreeSet::new();
        let unique = tensors
            .into_iter()
            .filter(|(n, _)| seen.insert(n.clone()))
            .collect();
        QModel::new(unique).unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn codec_round_trips(model in arb_model()) {
        let bytes = model.encode();
        prop_assert_eq!(bytes.len(), model.encoded_len());
        let back = QModel::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &model);
        prop_assert_eq!(back.content_hash(), model.content_hash());
        prop_assert_eq!(model.content_hash(), *blake3::hash(&bytes).as_bytes());
    }

    #[test]
    fn decoding_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(model) = QModel::decode(&bytes) {
            prop_assert_eq!(model.encode(), bytes);
        }
    }

    #[test]
    fn decoding_mutated_encodings_is_canonical(
        model in arb_model(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let original = model.encode();
        // Every strict prefix of a canonical encoding is rejected.
        let cut = cut.index(original.len());
        prop_assert!(QModel::decode(&original[..cut]).is_err());
        let mut bytes = original;
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        // Decode must not panic; if it accepts, the bytes are the canonical encoding.
        if let Ok(decoded) = QModel::decode(&bytes) {
            prop_assert_eq!(decoded.encode(), bytes.clone());
        }
    }
}
