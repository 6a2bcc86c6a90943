//! Training is a pure function of (seed, data, config minus threads).

use cairn_ml::{Model, SyntheticConfig, TrainConfig, data, train};

fn weight_bytes(model: &Model) -> Vec<u8> {
    model
        .parameters()
        .iter()
        .flat_map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()))
        .collect()
}

fn trained(cnn: bool, seed: u64, threads: usize) -> Model {
    let set = data::synthetic(&SyntheticConfig {
        samples: 24,
        seed: 3,
        ..SyntheticConfig::default()
    });
    let indices: Vec<usize> = (0..set.len()).collect();
    let mut model = if cnn {
        Model::mnist_cnn(seed)
    } else {
        Model::two_nn(seed)
    };
    // Batches of 12 make every large GEMM (conv2: 2352 x 800 x 64) split across threads.
    let config = TrainConfig {
        threads,
        batch_size: 12,
        epochs: 1,
        lr: 0.05,
        momentum: 0.5,
        seed,
    };
    train(&mut model, &set, &indices, &config).expect("train");
    model
}

#[test]
fn cnn_weights_are_bit_identical_for_1_2_and_3_threads() {
    let one = weight_bytes(&trained(true, 5, 1));
    assert_eq!(one, weight_bytes(&trained(true, 5, 2)), "1 vs 2 threads");
    assert_eq!(one, weight_bytes(&trained(true, 5, 3)), "1 vs 3 threads");
}

#[test]
fn mlp_weights_are_bit_identical_for_1_2_and_3_threads() {
    let one = weight_bytes(&trained(false, 5, 1));
    assert_eq!(one, weight_bytes(&trained(false, 5, 2)), "1 vs 2 threads");
    assert_eq!(one, weight_bytes(&trained(false, 5, 3)), "1 vs 3 threads");
}

/// The portable kernel, AVX2 and AVX-512 give the same trained bytes (a node without
/// AVX-512 must agree with one that has it). Forcing is process-wide, which is harmless
/// precisely because the results are identical.
#[test]
fn every_gemm_kernel_trains_the_same_bytes() {
    use cairn_ml::gemm::{Isa, force_isa, isa_available};
    let mut results = Vec::new();
    for isa in [Isa::Portable, Isa::Avx2, Isa::Avx512]
        .into_iter()
        .filter(|&i| isa_available(i))
    {
        force_isa(Some(isa));
        results.push((isa, weight_bytes(&trained(false, 8, 2))));
    }
    force_isa(None);
    for (isa, bytes) in &results[1..] {
        assert!(
            bytes == &results[0].1,
            "{isa:?} differs from {:?}",
            results[0].0
        );
    }
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    assert_eq!(
        Model::mnist_cnn(9).weights_hash(),
        Model::mnist_cnn(9).weights_hash()
    );
    assert_ne!(
        Model::mnist_cnn(9).weights_hash(),
        Model::mnist_cnn(10).weights_hash()
    );
    let a = trained(false, 4, 1);
    let b = trained(false, 4, 1);
    assert_eq!(weight_bytes(&a), weight_bytes(&b));
    assert_eq!(a.weights_hash(), b.weights_hash());
    assert_ne!(a.weights_hash(), trained(false, 6, 1).weights_hash());
}

/// A golden value: if this changes, every node's training output changed. Update it only on
/// purpose (and treat it as a consensus-breaking change).
#[test]
fn two_nn_initial_weights_hash_is_stable() {
    assert_eq!(
        format!("{:016x}", Model::two_nn(0).weights_hash()),
        GOLDEN_2NN_SEED0
    );
}

const GOLDEN_2NN_SEED0: &str = "66475149b842f84f";
