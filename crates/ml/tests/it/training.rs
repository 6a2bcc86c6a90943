//! Learning actually happens.

use cairn_ml::{Model, SyntheticConfig, TrainConfig, data, evaluate, train};

#[test]
fn mlp_reaches_90_percent_on_synthetic_data_in_a_few_epochs() {
    // One generator run, split: the first 2000 train, the last 500 are held out.
    let set = data::synthetic(&SyntheticConfig {
        samples: 2500,
        seed: 1,
        ..SyntheticConfig::default()
    });
    let train_idx: Vec<usize> = (0..2000).collect();
    let test_idx: Vec<usize> = (2000..2500).collect();
    let mut model = Model::two_nn(1);
    let before = evaluate(&mut model, &set, Some(&test_idx), 1).expect("eval");
    let config = TrainConfig {
        threads: 2,
        batch_size: 10,
        epochs: 3,
        lr: 0.05,
        ..TrainConfig::default()
    };
    let report = train(&mut model, &set, &train_idx, &config).expect("train");
    let after = evaluate(&mut model, &set, Some(&test_idx), 2).expect("eval");
    println!(
        "synthetic 2NN: accuracy {:.3} → {:.3}, epoch losses {:?}",
        before.accuracy, after.accuracy, report.epoch_losses
    );
    assert_eq!(report.steps, 600);
    assert!(
        after.accuracy >= 0.90,
        "held-out accuracy {} < 0.90",
        after.accuracy
    );
    assert!(after.mean_loss < before.mean_loss);
    assert!(
        report.epoch_losses.windows(2).all(|w| w[1] < w[0]),
        "loss should fall each epoch: {:?}",
        report.epoch_losses
    );
}

#[test]
fn cnn_loss_falls_on_synthetic_data() {
    let set = data::synthetic(&SyntheticConfig {
        samples: 200,
        seed: 2,
        ..SyntheticConfig::default()
    });
    let idx: Vec<usize> = (0..set.len()).collect();
    let mut model = Model::mnist_cnn(2);
    let before = evaluate(&mut model, &set, None, 2).expect("eval");
    let config = TrainConfig {
        threads: 2,
        batch_size: 10,
        epochs: 2,
        lr: 0.1,
        ..TrainConfig::default()
    };
    train(&mut model, &set, &idx, &config).expect("train");
    let after = evaluate(&mut model, &set, None, 2).expect("eval");
    println!(
        "synthetic CNN: loss {:.3} → {:.3}, accuracy {:.3} → {:.3}",
        before.mean_loss, after.mean_loss, before.accuracy, after.accuracy
    );
    assert!(
        after.mean_loss < before.mean_loss * 0.8,
        "loss {} → {}",
        before.mean_loss,
        after.mean_loss
    );
}

#[test]
fn bad_configs_are_rejected() {
    let set = data::synthetic(&SyntheticConfig {
        samples: 10,
        ..SyntheticConfig::default()
    });
    let mut model = Model::two_nn(0);
    for config in [
        TrainConfig {
            threads: 0,
            ..TrainConfig::default()
        },
        TrainConfig {
            batch_size: 0,
            ..TrainConfig::default()
        },
        TrainConfig {
            lr: f32::NAN,
            ..TrainConfig::default()
        },
        TrainConfig {
            momentum: 1.0,
            ..TrainConfig::default()
        },
    ] {
        assert!(
            train(&mut model, &set, &[0, 1], &config).is_err(),
            "{config:?}"
        );
    }
    assert!(
        train(&mut model, &set, &[10], &TrainConfig::default()).is_err(),
        "index out of range"
    );
    let mut small = Model::new(
        cairn_ml::Arch::Mlp {
            input: 10,
            hidden: vec![],
            classes: 10,
        },
        0,
    )
    .expect("model");
    assert!(
        train(&mut small, &set, &[0], &TrainConfig::default()).is_err(),
        "feature mismatch"
    );
}
