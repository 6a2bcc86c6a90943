//! Post-training quantization against float models: MNIST when the data is present, a
//! synthetic set (always) for the CNN path.

use std::path::Path;

use cairn_infer::quantize::{FloatNet, accuracy, float_input, quantize_model};
use cairn_ml::{Arch, CnnConfig, Model, SyntheticConfig, TrainConfig, data, evaluate, train};

const MNIST_DIR: &str = "/work/shared/data/mnist";

/// The float network in engine layout must compute what cairn-ml computes (this checks the
/// conv reordering and the flatten permutation).
#[test]
fn float_net_matches_cairn_ml() {
    let arch = Arch::Cnn(CnnConfig {
        in_channels: 1,
        height: 8,
        width: 8,
        kernel: 3,
        conv1: 3,
        conv2: 4,
        hidden: 6,
        classes: 3,
    });
    let mut model = Model::new(arch, 9).unwrap();
    let net = FloatNet::from_model(&model).unwrap();
    let x: Vec<f32> = (0..64).map(|i| (i % 7) as f32 / 7.0).collect();
    let ours = net.forward(&x).pop().unwrap();
    let theirs = model.forward(&x, 1, 1).into_data();
    for (a, b) in ours.iter().zip(&theirs) {
        assert!((a - b).abs() < 1e-4, "{ours:?} vs {theirs:?}");
    }
}

#[test]
fn small_cnn_quantizes_on_synthetic_data() {
    let data = data::synthetic(&SyntheticConfig {
        samples: 300,
        ..SyntheticConfig::default()
    });
    let arch = Arch::Cnn(CnnConfig {
        in_channels: 1,
        height: data.rows(),
        width: data.cols(),
        kernel: 3,
        conv1: 4,
        conv2: 8,
        hidden: 16,
        classes: data.classes(),
    });
    let mut model = Model::new(arch, 1).unwrap();
    let idx: Vec<usize> = (0..data.len()).collect();
    train(
        &mut model,
        &data,
        &idx[..200],
        &TrainConfig {
            epochs: 3,
            ..TrainConfig::default()
        },
    )
    .unwrap();
    let graph = quantize_model(&model, &data, &idx[..100]).unwrap();
    let float = evaluate(&mut model, &data, Some(&idx[200..]), 1)
        .unwrap()
        .accuracy;
    let quant = accuracy(&graph, &data, &idx[200..]);
    assert!(
        (float - quant).abs() <= 0.05,
        "float {float} vs quantized {quant}"
    );
    let _ = float_input(&data, 0);
}

#[test]
fn mlp_on_mnist_stays_within_two_points() {
    if !Path::new(MNIST_DIR).is_dir() {
        eprintln!(
            "skipping: MNIST not found at {MNIST_DIR} (place the idx .gz files there to run this test)"
        );
        return;
    }
    let train_set = data::load_mnist(Path::new(MNIST_DIR), data::Split::Train)
        .unwrap()
        .truncated(3000);
    let test_set = data::load_mnist(Path::new(MNIST_DIR), data::Split::Test)
        .unwrap()
        .truncated(1000);
    let mut model = Model::new(
        Arch::Mlp {
            input: 784,
            hidden: vec![64],
            classes: 10,
        },
        1,
    )
    .unwrap();
    let idx: Vec<usize> = (0..train_set.len()).collect();
    train(
        &mut model,
        &train_set,
        &idx,
        &TrainConfig {
            epochs: 2,
            ..TrainConfig::default()
        },
    )
    .unwrap();
    let graph = quantize_model(&model, &train_set, &idx[..300]).unwrap();
    let test_idx: Vec<usize> = (0..test_set.len()).collect();
    let float = evaluate(&mut model, &test_set, None, 1).unwrap().accuracy;
    let quant = accuracy(&graph, &test_set, &test_idx);
    eprintln!("mlp 784-64-10 on 1000 MNIST test samples: float {float:.4}, int8 {quant:.4}");
    assert!(float > 0.8, "float model did not train: {float}");
    assert!(
        (float - quant).abs() <= 0.02,
        "float {float} vs quantized {quant}"
    );
}
