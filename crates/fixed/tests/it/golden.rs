//! Small hand-computed inputs with exact expected outputs (derivations in the comments).

use cairn_fixed::codec::MAGIC;
use cairn_fixed::{
    Lineage, QModel, QTensor, fedavg, krum, krum_scores, median, multi_krum, quantize_f32, rescale,
    trim_count_per_mille, trimmed_mean,
};

use crate::{updates, values};

#[test]
fn fedavg_weighted_floors_toward_negative_infinity() {
    // Σw·x = [-3+8, 5-12, 7+2] = [5, -7, 9]; W = 3; ⌊5/3⌋=1, ⌊-7/3⌋=-3 (truncation: -2), 9/3=3.
    let ups = updates(8, &[&[-3, 5, 7], &[4, -6, 1]]);
    let agg = fedavg(&ups, &[1, 2]).unwrap();
    assert_eq!(values(&agg.model), [1, -3, 3]);
    assert_eq!(agg.model.get("w").unwrap().frac_bits(), 8);
    assert_eq!(agg.lineage, Lineage::All);
}

#[test]
fn fedavg_large_weights_take_the_i128_path_with_the_same_result() {
    // Same ratios as above, W = 3·2^40 > 2^30.
    let ups = updates(8, &[&[-3, 5, 7], &[4, -6, 1]]);
    let agg = fedavg(&ups, &[1 << 40, 2 << 40]).unwrap();
    assert_eq!(values(&agg.model), [1, -3, 3]);
}

#[test]
fn fedavg_power_of_two_weight_sum_shifts() {
    // W = 2: ⌊(-3+0)/2⌋ = -2, ⌊(1+0)/2⌋ = 0, ⌊(-1-1)/2⌋ = -1. W = 4 (weights 1, 3): ⌊-1/4⌋ = -1.
    let ups = updates(0, &[&[-3, 1, -1], &[0, 0, -1]]);
    assert_eq!(values(&fedavg(&ups, &[1, 1]).unwrap().model), [-2, 0, -1]);
    assert_eq!(values(&fedavg(&ups, &[1, 3]).unwrap().model), [-1, 0, -1]);
}

#[test]
fn fedavg_extremes_stay_exact() {
    // All-min and all-max inputs average to themselves; a zero weight drops its update.
    let ups = updates(0, &[&[i32::MIN, i32::MAX], &[i32::MIN, i32::MAX], &[5, 5]]);
    assert_eq!(
        values(&fedavg(&ups, &[7, 1 << 29, 0]).unwrap().model),
        [i32::MIN, i32::MAX]
    );
    assert_eq!(
        values(&fedavg(&ups, &[u64::MAX, u64::MAX, 0]).unwrap().model),
        [i32::MIN, i32::MAX]
    );
    // (MIN + MAX) / 2 = -0.5 → -1.
    let ups = updates(0, &[&[i32::MIN], &[i32::MAX]]);
    assert_eq!(values(&fedavg(&ups, &[1, 1]).unwrap().model), [-1]);
}

#[test]
fn median_odd_and_even_counts() {
    // Odd: columns {1,3,2} → 2 and {-5,-1,-9} → -5.
    let ups = updates(4, &[&[1, -5], &[3, -1], &[2, -9]]);
    assert_eq!(values(&median(&ups).unwrap().model), [2, -5]);
    // Even: ⌊(1+4)/2⌋ = 2, ⌊(-4-1)/2⌋ = ⌊-2.5⌋ = -3, ⌊(0+1)/2⌋ = 0.
    let ups = updates(4, &[&[1, -4, 0], &[4, -1, 1]]);
    assert_eq!(values(&median(&ups).unwrap().model), [2, -3, 0]);
    // Even with four: sorted {-7, -2, 3, 10} → ⌊(-2+3)/2⌋ = 0.
    let ups = updates(0, &[&[10], &[-2], &[-7], &[3]]);
    assert_eq!(values(&median(&ups).unwrap().model), [0]);
}

#[test]
fn trimmed_mean_drops_k_per_side_and_floors() {
    // Columns: {10,-20,3,4,100} keeps {3,4,10}: 17/3 → 5. {-1,-2,-3,-4,-100} keeps
    // {-4,-3,-2}: -9/3 = -3. {-1,-2,0,0,7} keeps {-1,0,0}: -1/3 → -1.
    let ups = updates(
        0,
        &[
            &[10, -1, -1],
            &[-20, -2, -2],
            &[3, -3, 0],
            &[4, -4, 0],
            &[100, -100, 7],
        ],
    );
    let agg = trimmed_mean(&ups, 1).unwrap();
    assert_eq!(values(&agg.model), [5, -3, -1]);
    // Kept: col0 → inputs 2,3,0; col1 → 3,2,1; col2 → 0,2,3.
    assert_eq!(
        agg.lineage,
        Lineage::Trimmed {
            kept_coordinates: vec![2, 1, 3, 3, 0]
        }
    );
    // k = 0 is the plain mean: (10-20+3+4+100)/5 = 97/5 → 19.
    assert_eq!(values(&trimmed_mean(&ups, 0).unwrap().model)[0], 19);
}

#[test]
fn trimmed_mean_ties_keep_the_middle_index() {
    let ups = updates(0, &[&[5], &[5], &[5]]);
    let agg = trimmed_mean(&ups, 1).unwrap();
    assert_eq!(values(&agg.model), [5]);
    assert_eq!(
        agg.lineage,
        Lineage::Trimmed {
            kept_coordinates: vec![0, 1, 0]
        }
    );
}

#[test]
fn trim_count_from_per_mille() {
    assert_eq!(trim_count_per_mille(10, 100), 1);
    assert_eq!(trim_count_per_mille(19, 100), 1); // 1.9 → 1
    assert_eq!(trim_count_per_mille(20, 250), 5);
    assert_eq!(trim_count_per_mille(3, 0), 0);
}

#[test]
fn krum_one_dimension() {
    // Values 0,-1,-2,-10,-100, f = 1 → n-f-2 = 2 nearest. Squared distances:
    // 0: {1,4,100,10000} → 5; -1: {1,1,81,9801} → 2; -2: {4,1,64,9604} → 5;
    // -10: {100,81,64,8100} → 145; -100: {10000,9801,9604,8100} → 17704.
    let ups = updates(0, &[&[0], &[-1], &[-2], &[-10], &[-100]]);
    let scores = vec![5, 2, 5, 145, 17_704];
    assert_eq!(krum_scores(&ups, 1).unwrap(), scores);
    let agg = krum(&ups, 1).unwrap();
    assert_eq!(values(&agg.model), [-1]);
    assert_eq!(
        agg.lineage,
        Lineage::Selected {
            indices: vec![1],
            scores: scores.clone()
        }
    );
    // m = 2: inputs 1 then 0 (tie 5 = 5 goes to the lower index) → ⌊(-1+0)/2⌋ = -1.
    let agg = multi_krum(&ups, 1, 2).unwrap();
    assert_eq!(values(&agg.model), [-1]);
    assert_eq!(
        agg.lineage,
        Lineage::Selected {
            indices: vec![1, 0],
            scores: scores.clone()
        }
    );
    // m = n - f = 4: inputs 1,0,2,3 → ⌊-13/4⌋ = -4.
    let agg = multi_krum(&ups, 1, 4).unwrap();
    assert_eq!(values(&agg.model), [-4]);
    assert_eq!(
        agg.lineage,
        Lineage::Selected {
            indices: vec![1, 0, 2, 3],
            scores
        }
    );
}

#[test]
fn krum_sums_distances_over_every_tensor() {
    // Points (a, b) in two tensors: (0,0) (1,1) (0,2) (3,0) (50,50); f = 1, 2 nearest.
    // d01=2 d02=4 d03=9 d04=5000 d12=2 d13=5 d14=4802 d23=13 d24=4804 d34=4709.
    let ups: Vec<QModel> = [(0, 0), (1, 1), (0, 2), (3, 0), (50, 50)]
        .iter()
        .map(|&(a, b)| {
            QModel::new(vec![
                ("a".into(), QTensor::vector(2, vec![a]).unwrap()),
                ("b".into(), QTensor::new(vec![], 2, vec![b]).unwrap()),
            ])
            .unwrap()
        })
        .collect();
    assert_eq!(krum_scores(&ups, 1).unwrap(), vec![6, 4, 6, 14, 9_511]);
    assert_eq!(krum(&ups, 1).unwrap().model, ups[1]);
}

#[test]
fn krum_extreme_values_do_not_overflow() {
    // (MAX - MIN)^2 = (2^32 - 1)^2 per coordinate, three coordinates.
    let far = [i32::MAX; 3];
    let near = [i32::MIN; 3];
    let ups = updates(0, &[&near, &near, &near, &far, &far]);
    let d = 3 * (u128::from(u32::MAX) * u128::from(u32::MAX));
    // f = 1: 2 nearest. Each `near` has two neighbours at 0; each `far` has one at 0, then d.
    assert_eq!(krum_scores(&ups, 1).unwrap(), vec![0, 0, 0, d, d]);
}

#[test]
fn quantize_rounds_half_to_even_and_saturates() {
    let got = quantize_f32(
        &[
            0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.25, 1e10, -1e10, -0.0, 0.75,
        ],
        0,
    )
    .unwrap();
    assert_eq!(got, [0, 2, 2, 0, -2, -2, 0, i32::MAX, i32::MIN, 0, 1]);
    // At 2 fractional bits: 0.125·4 = 0.5 → 0; 0.375·4 = 1.5 → 2; 1.0 → 4; -0.625·4 = -2.5 → -2.
    assert_eq!(
        quantize_f32(&[0.125, 0.375, 1.0, -0.625], 2).unwrap(),
        [0, 2, 4, -2]
    );
    // 31 fractional bits: 0.5 → 2^30; 1.0 → 2^31 saturates; -1.0 → -2^31 exactly.
    assert_eq!(
        quantize_f32(&[0.5, 1.0, -1.0], 31).unwrap(),
        [1 << 30, i32::MAX, i32::MIN]
    );
}

#[test]
fn rescale_floors_down_and_saturates_up() {
    // >> 1 floors toward −∞: -3 → -2, 3 → 1, -1 → -1, 1 → 0, 7 → 3.
    assert_eq!(
        rescale(&[-3, 3, -1, 1, 7], 4, 3).unwrap(),
        [-2, 1, -1, 0, 3]
    );
    assert_eq!(
        rescale(&[(1 << 30), -(1 << 30) - 1, 5, -5], 0, 1).unwrap(),
        [i32::MAX, i32::MIN, 10, -10]
    );
    assert_eq!(rescale(&[i32::MIN, -1], 31, 0).unwrap(), [-1, -1]);
    assert_eq!(rescale(&[9], 6, 6).unwrap(), [9]);
}

fn golden_model() -> QModel {
    QModel::new(vec![
        ("w".into(), QTensor::new(vec![2], 3, vec![1, -2]).unwrap()),
        ("b".into(), QTensor::new(vec![], 0, vec![7]).unwrap()),
    ])
    .unwrap()
}

/// The encoding, byte by byte (see the crate documentation's Format table).
const GOLDEN_BYTES: &[u8] = &[
    b'C', b'Q', b'M', b'D', // magic
    1, 0, // version
    2, 0, 0, 0, // tensor count
    1, 0, b'w', 3, 1, // name "w", frac_bits 3, rank 1
    2, 0, 0, 0, // dim 2
    2, 0, 0, 0, // value count 2
    1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, // 1, -2
    1, 0, b'b', 0, 0, // name "b", frac_bits 0, rank 0 (scalar)
    1, 0, 0, 0, // value count 1
    7, 0, 0, 0, // 7
];

#[test]
fn encoding_is_pinned() {
    let model = golden_model();
    assert_eq!(&GOLDEN_BYTES[..4], &MAGIC);
    assert_eq!(model.encode(), GOLDEN_BYTES);
    assert_eq!(model.encoded_len(), GOLDEN_BYTES.len());
    assert_eq!(QModel::decode(GOLDEN_BYTES).unwrap(), model);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn content_hash_is_pinned() {
    let model = golden_model();
    assert_eq!(model.content_hash(), *blake3::hash(GOLDEN_BYTES).as_bytes());
    assert_eq!(
        hex(&model.content_hash()),
        "5779523a071a08545c181bccd4c568bb206f7294fb5a1348f3382f5357966828"
    );
    // A large model hashes through the staging buffer: pin one past its size too.
    let big = crate::vector_model(
        16,
        &(0..5_000).map(|i| i * 7919 - 1_000_000).collect::<Vec<_>>(),
    );
    assert_eq!(big.content_hash(), *blake3::hash(&big.encode()).as_bytes());
    assert_eq!(
        hex(&big.content_hash()),
        "4156eb9e817cf7085e688bc63d47bd5684c1a97edef26fa9cc9a3f4eb2a12ff9"
    );
}
