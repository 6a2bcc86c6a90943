//! Every rejection is a specific error variant with the offending index or size.

use cairn_fixed::limits::{
    ELEMENTS_MAX, FRAC_BITS_MAX, NAME_MAX_BYTES, RANK_MAX, TENSORS_MAX, UPDATES_MAX,
};
use cairn_fixed::{
    AggregateError, DecodeError, ModelError, QModel, QTensor, QuantizeError, TensorError, fedavg,
    krum, median, multi_krum, quantize_f32, trimmed_mean,
};

use crate::{updates, vector_model};

#[test]
fn shape_mismatch_names_update_and_tensor() {
    let mut ups = updates(0, &[&[1, 2], &[3, 4]]);
    ups.push(vector_model(0, &[1, 2, 3]));
    let expected = AggregateError::ShapeMismatch {
        update: 2,
        tensor: "w".into(),
        expected: vec![2],
        got: vec![3],
    };
    assert_eq!(fedavg(&ups, &[1, 1, 1]).unwrap_err(), expected);
    assert_eq!(median(&ups).unwrap_err(), expected);
    assert_eq!(trimmed_mean(&ups, 1).unwrap_err(), expected);
}

#[test]
fn layout_mismatches_are_typed() {
    let base = vector_model(0, &[1]);
    let renamed = QModel::new(vec![("v".into(), QTensor::vector(0, vec![1]).unwrap())]).unwrap();
    assert_eq!(
        median(&[base.clone(), renamed]).unwrap_err(),
        AggregateError::NameMismatch {
            update: 1,
            tensor: 0,
            expected: "w".into(),
            got: "v".into()
        }
    );
    let rescaled = vector_model(3, &[1]);
    assert_eq!(
        median(&[base.clone(), base.clone(), rescaled]).unwrap_err(),
        AggregateError::FracBitsMismatch {
            update: 2,
            tensor: "w".into(),
            expected: 0,
            got: 3
        }
    );
    let two = QModel::new(vec![
        ("w".into(), QTensor::vector(0, vec![1]).unwrap()),
        ("b".into(), QTensor::vector(0, vec![1]).unwrap()),
    ])
    .unwrap();
    assert_eq!(
        median(&[base, two]).unwrap_err(),
        AggregateError::TensorCountMismatch {
            update: 1,
            expected: 1,
            got: 2
        }
    );
}

#[test]
fn aggregation_argument_errors() {
    let ups = updates(0, &[&[1], &[2], &[3], &[4]]);
    assert_eq!(median(&[]).unwrap_err(), AggregateError::NoUpdates);
    assert_eq!(
        median(&vec![vector_model(0, &[1]); UPDATES_MAX + 1]).unwrap_err(),
        AggregateError::TooManyUpdates {
            count: UPDATES_MAX + 1,
            max: UPDATES_MAX
        }
    );
    assert_eq!(
        fedavg(&ups, &[1, 1]).unwrap_err(),
        AggregateError::WeightCountMismatch {
            updates: 4,
            weights: 2
        }
    );
    assert_eq!(
        fedavg(&ups, &[0; 4]).unwrap_err(),
        AggregateError::ZeroTotalWeight
    );
    assert_eq!(
        trimmed_mean(&ups, 2).unwrap_err(),
        AggregateError::TrimTooLarge {
            trim_count: 2,
            updates: 4
        }
    );
    assert!(trimmed_mean(&ups, 1).is_ok());
    assert_eq!(
        trimmed_mean(&ups, usize::MAX).unwrap_err(),
        AggregateError::TrimTooLarge {
            trim_count: usize::MAX,
            updates: 4
        }
    );
}

#[test]
fn krum_needs_more_than_two_f_plus_two() {
    let ups = updates(0, &[&[1], &[2], &[3], &[4]]);
    assert_eq!(
        krum(&ups, 1).unwrap_err(),
        AggregateError::TooFewForKrum {
            updates: 4,
            byzantine_max: 1,
            min_updates: 5
        }
    );
    assert_eq!(
        multi_krum(&ups, usize::MAX, 1).unwrap_err(),
        AggregateError::TooFewForKrum {
            updates: 4,
            byzantine_max: usize::MAX,
            min_updates: usize::MAX
        }
    );
    assert!(krum(&ups, 0).is_ok()); // 4 > 2
    assert_eq!(
        krum(&ups[..2], 0).unwrap_err(),
        AggregateError::TooFewForKrum {
            updates: 2,
            byzantine_max: 0,
            min_updates: 3
        }
    );
    let five = updates(0, &[&[1], &[2], &[3], &[4], &[5]]);
    assert_eq!(
        multi_krum(&five, 1, 0).unwrap_err(),
        AggregateError::SelectCountOutOfRange {
            select_count: 0,
            max: 4
        }
    );
    assert_eq!(
        multi_krum(&five, 1, 5).unwrap_err(),
        AggregateError::SelectCountOutOfRange {
            select_count: 5,
            max: 4
        }
    );
}

#[test]
fn quantize_rejects_nan_and_infinity_by_index() {
    let err = quantize_f32(&[0.0, 1.0, f32::NAN], 8).unwrap_err();
    assert!(matches!(err, QuantizeError::NotFinite { index: 2, value } if value.is_nan()));
    assert_eq!(
        quantize_f32(&[f32::INFINITY], 8).unwrap_err(),
        QuantizeError::NotFinite {
            index: 0,
            value: f32::INFINITY
        }
    );
    assert_eq!(
        quantize_f32(&[1.0, f32::NEG_INFINITY], 0).unwrap_err(),
        QuantizeError::NotFinite {
            index: 1,
            value: f32::NEG_INFINITY
        }
    );
    assert_eq!(
        quantize_f32(&[1.0], 32).unwrap_err(),
        QuantizeError::FracBitsTooLarge {
            frac_bits: 32,
            max: FRAC_BITS_MAX
        }
    );
}

#[test]
fn construction_limits() {
    assert_eq!(
        QTensor::new(vec![2, 3], 0, vec![0; 5]).unwrap_err(),
        TensorError::ShapeLenMismatch {
            shape_elements: 6,
            values_len: 5
        }
    );
    assert_eq!(
        QTensor::new(vec![1 << 14, 1 << 13], 0, vec![]).unwrap_err(),
        TensorError::TooManyElements {
            elements: 1 << 27,
            max: ELEMENTS_MAX
        }
    );
    assert_eq!(
        QTensor::new(vec![u32::MAX; 3], 0, vec![]).unwrap_err(),
        TensorError::TooManyElements {
            elements: u64::MAX,
            max: ELEMENTS_MAX
        }
    );
    assert_eq!(
        QTensor::new(vec![1; RANK_MAX + 1], 0, vec![0]).unwrap_err(),
        TensorError::RankTooLarge {
            rank: RANK_MAX + 1,
            max: RANK_MAX
        }
    );
    assert_eq!(
        QTensor::new(vec![1], 32, vec![0]).unwrap_err(),
        TensorError::FracBitsTooLarge {
            frac_bits: 32,
            max: FRAC_BITS_MAX
        }
    );
    let t = QTensor::vector(0, vec![1]).unwrap();
    assert_eq!(
        QModel::new(vec![("a".into(), t.clone()), ("a".into(), t.clone())]).unwrap_err(),
        ModelError::DuplicateName {
            tensor: 1,
            name: "a".into()
        }
    );
    let long = "x".repeat(NAME_MAX_BYTES + 1);
    assert_eq!(
        QModel::new(vec![(long, t.clone())]).unwrap_err(),
        ModelError::NameTooLong {
            tensor: 0,
            len_bytes: NAME_MAX_BYTES + 1,
            max: NAME_MAX_BYTES
        }
    );
    let many: Vec<_> = (0..=TENSORS_MAX)
        .map(|i| (i.to_string(), t.clone()))
        .collect();
    assert_eq!(
        QModel::new(many).unwrap_err(),
        ModelError::TooManyTensors {
            count: TENSORS_MAX + 1,
            max: TENSORS_MAX
        }
    );
}

/// A valid one-tensor encoding: name "w", frac_bits 2, shape [2], values [5, -1].
fn valid() -> Vec<u8> {
    let bytes = vector_model(2, &[5, -1]).encode();
    assert_eq!(bytes.len(), 10 + 2 + 1 + 2 + 4 + 4 + 8);
    bytes
}

#[test]
fn decode_rejects_each_malformation() {
    let ok = valid();
    let with = |offset: usize, patch: &[u8]| {
        let mut b = ok.clone();
        b[offset..offset + patch.len()].copy_from_slice(patch);
        QModel::decode(&b).unwrap_err()
    };
    assert_eq!(
        with(0, b"XQMD"),
        DecodeError::BadMagic {
            got: *b"XQMD",
            expected: *b"CQMD"
        }
    );
    assert_eq!(
        with(4, &[2, 0]),
        DecodeError::UnsupportedVersion {
            got: 2,
            supported: 1
        }
    );
    assert_eq!(
        with(6, &(TENSORS_MAX as u32 + 1).to_le_bytes()),
        DecodeError::TooManyTensors {
            count: TENSORS_MAX as u32 + 1,
            max: TENSORS_MAX
        }
    );
    assert_eq!(
        with(10, &[1, 1]),
        DecodeError::NameTooLong {
            tensor: 0,
            len_bytes: 257,
            max: NAME_MAX_BYTES
        }
    );
    assert_eq!(with(12, &[0xff]), DecodeError::NameNotUtf8 { tensor: 0 });
    assert_eq!(
        with(13, &[32]),
        DecodeError::FracBitsTooLarge {
            tensor: 0,
            frac_bits: 32,
            max: FRAC_BITS_MAX
        }
    );
    assert_eq!(
        with(14, &[9]),
        DecodeError::RankTooLarge {
            tensor: 0,
            rank: 9,
            max: RANK_MAX
        }
    );
    assert_eq!(
        with(19, &[3, 0, 0, 0]),
        DecodeError::ShapeLenMismatch {
            tensor: 0,
            shape_elements: 2,
            value_count: 3
        }
    );
    // Oversize: shape and count agree on 2^27 elements; rejected before any value is read.
    let huge = (1u32 << 27).to_le_bytes();
    let mut b = ok.clone();
    b[15..19].copy_from_slice(&huge);
    b[19..23].copy_from_slice(&huge);
    assert_eq!(
        QModel::decode(&b).unwrap_err(),
        DecodeError::TooManyElements {
            tensor: 0,
            elements: 1 << 27,
            max: ELEMENTS_MAX
        }
    );
    // Truncated values, then trailing bytes.
    assert_eq!(
        QModel::decode(&ok[..ok.len() - 1]).unwrap_err(),
        DecodeError::Truncated {
            offset: 23,
            needed: 8,
            remaining: 7
        }
    );
    assert_eq!(
        QModel::decode(&[]).unwrap_err(),
        DecodeError::Truncated {
            offset: 0,
            needed: 4,
            remaining: 0
        }
    );
    let mut long = ok.clone();
    long.extend_from_slice(&[0, 0]);
    assert_eq!(
        QModel::decode(&long).unwrap_err(),
        DecodeError::TrailingBytes { count: 2 }
    );
    // Two tensors with the same name.
    let mut dup = ok.clone();
    dup[6] = 2;
    dup.extend_from_slice(&ok[10..]);
    assert_eq!(
        QModel::decode(&dup).unwrap_err(),
        DecodeError::DuplicateName {
            tensor: 1,
            name: "w".into()
        }
    );
}

#[test]
fn decode_total_elements_limit_spans_tensors() {
    // One element, then 2^26 elements (alone within the limit): the total 2^26 + 1 is rejected
    // from the second header, before its values are needed.
    let mut b = b"CQMD".to_vec();
    b.extend_from_slice(&[1, 0, 2, 0, 0, 0]);
    b.extend_from_slice(&[1, 0, b'a', 0, 0, 1, 0, 0, 0, 9, 0, 0, 0]);
    b.extend_from_slice(&[1, 0, b'b', 0, 1]);
    let count = 1u32 << 26;
    b.extend_from_slice(&count.to_le_bytes());
    b.extend_from_slice(&count.to_le_bytes());
    assert_eq!(
        QModel::decode(&b).unwrap_err(),
        DecodeError::TooManyElements {
            tensor: 1,
            elements: (1 << 26) + 1,
            max: ELEMENTS_MAX
        }
    );
}
