//! Float vs integer inference on MNIST: accuracy, time per sample, commitment overhead and
//! one-step verification time, for the 2NN and the MNIST CNN.
//!
//! `cargo run --release -p cairn-infer --example infer_bench -- [MNIST_DIR] [CNN_TRAIN_SAMPLES] [CNN_TEST_SAMPLES]`
//! (defaults: /work/shared/data/mnist, 6000, 2000). The 2NN trains one epoch on all 60 000
//! samples; the CNN one epoch on the first CNN_TRAIN_SAMPLES (both batch 10, lr 0.05, 2 threads).
#![allow(clippy::disallowed_methods)] // a benchmark reads the wall clock

use std::path::PathBuf;
use std::time::Instant;

use cairn_infer::quantize::{accuracy, float_input, quantize_model};
use cairn_infer::{
    ExecCommitment, Graph, ModelCommitment, Op, StepVerdict, pixels_to_input, prove_step, run,
    verify_step,
};
use cairn_ml::data::{Split, load_mnist};
use cairn_ml::{Dataset, Model, TrainConfig, evaluate, train};

const TIMING_SAMPLES: usize = 200;
const CALIBRATION_SAMPLES: usize = 300;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(
        args.first()
            .map_or("/work/shared/data/mnist", String::as_str),
    );
    let cnn_train: usize = args
        .get(1)
        .map_or(6000, |s| s.parse().expect("CNN_TRAIN_SAMPLES"));
    let cnn_test: usize = args
        .get(2)
        .map_or(2000, |s| s.parse().expect("CNN_TEST_SAMPLES"));
    let (train_set, test_set) = match (
        load_mnist(&dir, Split::Train),
        load_mnist(&dir, Split::Test),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!(
                "cannot load MNIST from {}: {e}\npass the directory holding the idx(.gz) files as the first argument",
                dir.display()
            );
            std::process::exit(2);
        }
    };
    let config = TrainConfig {
        threads: 2,
        batch_size: 10,
        epochs: 1,
        lr: 0.05,
        ..TrainConfig::default()
    };
    let all: Vec<usize> = (0..train_set.len()).collect();

    let mut mlp = Model::two_nn(1);
    let t = Instant::now();
    train(&mut mlp, &train_set, &all, &config).expect("trains");
    println!(
        "2NN: trained 1 epoch on {} samples in {:.1} s",
        all.len(),
        t.elapsed().as_secs_f64()
    );
    report(
        "2NN (784-200-200-10)",
        &mut mlp,
        &train_set,
        &test_set,
        test_set.len(),
    );

    let mut cnn = Model::mnist_cnn(1);
    let t = Instant::now();
    train(
        &mut cnn,
        &train_set,
        &all[..cnn_train.min(all.len())],
        &config,
    )
    .expect("trains");
    println!(
        "CNN: trained 1 epoch on {cnn_train} samples in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    report(
        "MNIST CNN (McMahan)",
        &mut cnn,
        &train_set,
        &test_set,
        cnn_test,
    );
}

fn per_sample_us(n: usize, mut f: impl FnMut(usize)) -> f64 {
    let t = Instant::now();
    for i in 0..n {
        f(i);
    }
    t.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn report(name: &str, model: &mut Model, train_set: &Dataset, test_set: &Dataset, test_n: usize) {
    let calib: Vec<usize> = (0..CALIBRATION_SAMPLES).collect();
    let t = Instant::now();
    let graph = quantize_model(model, train_set, &calib).expect("quantizes");
    let quantize_s = t.elapsed().as_secs_f64();
    let test_idx: Vec<usize> = (0..test_n.min(test_set.len())).collect();
    let float_acc = evaluate(model, test_set, Some(&test_idx), 1)
        .expect("evaluates")
        .accuracy;
    let int_acc = accuracy(&graph, test_set, &test_idx);

    let inputs: Vec<Vec<i8>> = (0..TIMING_SAMPLES)
        .map(|i| pixels_to_input(test_set.image(i)))
        .collect();
    let floats: Vec<Vec<f32>> = (0..TIMING_SAMPLES)
        .map(|i| float_input(test_set, i))
        .collect();
    let float_us = per_sample_us(TIMING_SAMPLES, |i| {
        std::hint::black_box(model.forward(&floats[i], 1, 1));
    });
    let run_us = per_sample_us(TIMING_SAMPLES, |i| {
        std::hint::black_box(run(&graph, &inputs[i]).expect("runs"));
    });
    let commit_us = per_sample_us(TIMING_SAMPLES, |i| {
        let trace = run(&graph, &inputs[i]).expect("runs");
        std::hint::black_box(ExecCommitment::new(&graph, &trace).root);
    });
    let t = Instant::now();
    let model_commit = ModelCommitment::new(&graph);
    let model_commit_ms = t.elapsed().as_secs_f64() * 1e3;

    println!("\n== {name} ==");
    println!(
        "graph: {} nodes, {} parameters, {} bytes, hash {}",
        graph.len(),
        graph.parameter_count(),
        graph.encode().len(),
        hex(&graph.hash())
    );
    println!(
        "quantization (calibration on {CALIBRATION_SAMPLES} train samples): {quantize_s:.2} s; model root {model_commit_ms:.1} ms"
    );
    println!(
        "test accuracy on {} samples: float {:.2} %, int8 {:.2} % (diff {:+.2} points)",
        test_idx.len(),
        float_acc * 100.0,
        int_acc * 100.0,
        (int_acc - float_acc) * 100.0
    );
    println!(
        "per sample (1 thread, batch 1, mean of {TIMING_SAMPLES}): float forward {float_us:.1} us, int8 run {run_us:.1} us, int8 run + commit {commit_us:.1} us (x{:.2} of run)",
        commit_us / run_us
    );
    step_timings(&graph, &model_commit, &inputs[0]);
}

/// Times the one-step check on every node kind (first, middle and last element of each node).
fn step_timings(graph: &Graph, model: &ModelCommitment, input: &[i8]) {
    let trace = run(graph, input).expect("runs");
    let exec = ExecCommitment::new(graph, &trace);
    for (i, node) in graph.nodes().iter().enumerate().skip(1) {
        let n = node.output.elements();
        let mut worst_us: f64 = 0.0;
        let mut proof_bytes = 0;
        for e in [0, n / 2, n - 1] {
            let proof = prove_step(graph, model, &trace, &exec, i, e).expect("proves");
            proof_bytes = proof_size(&proof);
            let reps = 50;
            let t = Instant::now();
            for _ in 0..reps {
                let v = verify_step(
                    &model.root,
                    graph.len(),
                    &exec.root,
                    std::hint::black_box(&proof),
                )
                .expect("verifies");
                assert!(matches!(v, StepVerdict::Consistent { .. }));
            }
            worst_us = worst_us.max(t.elapsed().as_secs_f64() * 1e6 / reps as f64);
        }
        let depth = match &node.op {
            Op::Dense { in_features, .. } => format!(" K={in_features}"),
            Op::Conv2d(g) => format!(" K={}", g.depth()),
            _ => String::new(),
        };
        println!(
            "  one-step node {i:2} {:8}{depth:7} out {:?}: verify {worst_us:7.1} us (worst of 3 elements), proof ~{proof_bytes} B",
            node.op.name(),
            node.output.shape
        );
    }
}

fn proof_size(p: &cairn_infer::StepProof) -> usize {
    let node = |n: &cairn_infer::step::NodeOpening| {
        n.header.header.len()
            + 32 * (2 + n.header.proof.siblings.len() + n.output_proof.siblings.len())
            + 12
    };
    let row = |r: &cairn_infer::commit::RowOpening| r.data.len() + 32 * r.proof.siblings.len() + 8;
    node(&p.node)
        + row(&p.output_row)
        + p.channel
            .as_ref()
            .map_or(0, |c| c.weights.len() + 9 + 32 * c.proof.siblings.len())
        + p.inputs
            .iter()
            .map(|i| node(&i.node) + i.rows.iter().map(row).sum::<usize>())
            .sum::<usize>()
}

fn hex(h: &[u8; 32]) -> String {
    h.iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        + "…"
}
