use cairn_fixed::{QModel, QTensor};
use cairn_fl::{FRAC_BITS, FlError, ModelSpec, initial_model, local_train, to_fixed, to_float};
use cairn_ml::Model;

use crate::common::{demo, small_spec, train_cfg};

#[test]
fn fixed_float_fixed_is_the_identity() {
    for spec in [small_spec(), ModelSpec::TwoNn] {
        let q = initial_model(&spec, 11).expect("init");
        assert!(q.tensors().iter().all(|(_, t)| t.frac_bits() == FRAC_BITS));
        let back = to_fixed(&to_float(&spec, &q).expect("to_float")).expect("to_fixed");
        assert_eq!(back, q);
    }
}

#[test]
fn float_fixed_float_is_within_half_a_step() {
    let spec = small_spec();
    let model = Model::new(spec.arch(), 5).expect("model");
    let round_trip = to_float(&spec, &to_fixed(&model).expect("fixed")).expect("float");
    let half_step = 0.5 / f64::from(1u32 << FRAC_BITS);
    for ((name, _, a), (_, _, b)) in model.parameters().iter().zip(round_trip.parameters()) {
        for (x, y) in a.iter().zip(&b) {
            assert!(f64::from(x - y).abs() <= half_step, "{name}: {x} vs {y}");
        }
    }
}

#[test]
fn nan_and_infinity_are_rejected_with_the_tensor_name() {
    let spec = small_spec();
    for bad in [f32::NAN, f32::INFINITY] {
        let mut model = Model::new(spec.arch(), 5).expect("model");
        let mut params = model.parameters();
        params[3].2[4] = bad;
        model.set_parameters(&params).expect("set");
        let err = to_fixed(&model).expect_err("non-finite");
        assert!(
            matches!(&err, FlError::NotFinite { tensor, index: 4, .. } if tensor == "fc2.bias"),
            "{err:?}"
        );
        assert!(err.to_string().contains("fc2.bias"));
    }
}

/// Rebuilds `q` with `edit` applied to its tensor list.
fn edited(q: &QModel, edit: impl FnOnce(&mut Vec<(String, QTensor)>)) -> QModel {
    let mut tensors = q.tensors().to_vec();
    edit(&mut tensors);
    QModel::new(tensors).expect("valid model")
}

#[test]
fn to_float_names_the_mismatch() {
    let spec = small_spec();
    let q = initial_model(&spec, 1).expect("init");
    let other = initial_model(&ModelSpec::TwoNn, 1).expect("init");
    let err = to_float(&spec, &other).expect_err("2nn is not mlp:784-16-10");
    assert!(
        matches!(
            err,
            FlError::TensorCount {
                expected: 4,
                got: 6,
                ..
            }
        ),
        "{err:?}"
    );

    let wide: ModelSpec = "mlp:784-17-10".parse().expect("spec");
    let err = to_float(&wide, &q).expect_err("shape");
    assert!(matches!(&err, FlError::TensorShape { tensor, .. } if tensor == "fc1.weight"));

    let swapped = edited(&q, |t| t.swap(0, 1));
    let err = to_float(&spec, &swapped).expect_err("order");
    assert!(
        matches!(&err, FlError::TensorName { index: 0, expected, got, .. }
        if expected == "fc1.weight" && got == "fc1.bias"),
        "{err:?}"
    );

    let rescaled = edited(&q, |t| {
        t[2].1 = t[2].1.rescale(FRAC_BITS - 1).expect("rescale")
    });
    let err = to_float(&spec, &rescaled).expect_err("frac_bits");
    assert!(matches!(&err, FlError::FracBits { got: 15, .. }), "{err:?}");
    assert!(err.to_string().contains("fc2.weight"), "{err}");
}

#[test]
fn local_train_is_deterministic_across_threads_and_moves_the_model() {
    let spec = small_spec();
    let (train, _, _) = demo();
    let shard = cairn_fl::shard(train, 10, 3, 0);
    let global = initial_model(&spec, 2).expect("init");
    let (one, report) = local_train(&spec, &global, &shard, &train_cfg(1)).expect("train");
    let (two, _) = local_train(&spec, &global, &shard, &train_cfg(2)).expect("train");
    assert_eq!(one.encode(), two.encode());
    assert_ne!(one, global);
    assert_eq!(report.samples, shard.len());
    let err = local_train(&spec, &global, &cairn_fl::subset(train, &[]), &train_cfg(1));
    assert!(matches!(err, Err(FlError::EmptyDataset { .. })));
}
