//! `run` alone, timed robustly on a shared machine: the MNIST-CNN and 2NN shapes of
//! BENCH.md with random weights (timing does not depend on their values), one thread, the
//! minimum and median per-sample time over batches. Compare two builds by running their
//! binaries alternately and comparing minima.
//!
//! `cargo run --release -p cairn-infer --example run_bench`
#![allow(clippy::disallowed_methods)] // a benchmark reads the wall clock

use std::time::Instant;

use cairn_infer::rng::SplitMix;
use cairn_infer::{Channels, ConvGeom, Graph, Multiplier, Node, Op, PoolGeom, run};

fn channels(rng: &mut SplitMix, out: usize, depth: usize) -> Channels {
    Channels {
        weights: rng.bytes(out * depth),
        bias: (0..out).map(|_| rng.below(2001) as i32 - 1000).collect(),
        multipliers: (0..out)
            .map(|_| Multiplier {
                m: (1 << 30) + rng.below(1 << 29) as i32,
                shift: 40,
            })
            .collect(),
    }
}

/// A 5x5 "same" convolution over node `input` (`hw`² pixels, `ic` → `oc` channels).
fn conv(rng: &mut SplitMix, input: u32, ic: u32, oc: u32, hw: u32) -> Node {
    let g = ConvGeom {
        in_channels: ic,
        out_channels: oc,
        kernel_h: 5,
        kernel_w: 5,
        stride: 1,
        pad: 2,
    };
    let mut n = Node::new(Op::Conv2d(g), &[input], &[hw, hw, oc], -10);
    n.channels = Some(channels(rng, oc as usize, 25 * ic as usize));
    n
}

fn dense(rng: &mut SplitMix, input: u32, k: u32, out: u32) -> Node {
    let op = Op::Dense {
        in_features: k,
        out_features: out,
    };
    let mut n = Node::new(op, &[input], &[out], -10);
    n.channels = Some(channels(rng, out as usize, k as usize));
    n
}

fn softmax(input: u32, classes: u32) -> Node {
    let mut e = 1u64 << 16;
    let table = (0..256)
        .map(|_| {
            let t = e as u32;
            e = e * 15 / 16;
            t
        })
        .collect();
    Node::new(Op::Softmax { table }, &[input], &[classes], -128)
}

fn relu(input: u32, shape: &[u32]) -> Node {
    Node::new(Op::Relu, &[input], shape, -10)
}

fn cnn() -> Graph {
    let mut r = SplitMix(1);
    let p = Op::MaxPool(PoolGeom {
        kernel: 2,
        stride: 2,
    });
    Graph::new(vec![
        Node::new(Op::Input, &[], &[28, 28, 1], -128),
        conv(&mut r, 0, 1, 32, 28),
        relu(1, &[28, 28, 32]),
        Node::new(p.clone(), &[2], &[14, 14, 32], -10),
        conv(&mut r, 3, 32, 64, 14),
        relu(4, &[14, 14, 64]),
        Node::new(p, &[5], &[7, 7, 64], -10),
        Node::new(Op::Flatten, &[6], &[3136], -10),
        dense(&mut r, 7, 3136, 512),
        relu(8, &[512]),
        dense(&mut r, 9, 512, 10),
        softmax(10, 10),
        Node::new(Op::Argmax, &[10], &[1], 0),
    ])
    .expect("valid")
}

fn two_nn() -> Graph {
    let mut r = SplitMix(2);
    Graph::new(vec![
        Node::new(Op::Input, &[], &[784], -128),
        dense(&mut r, 0, 784, 200),
        relu(1, &[200]),
        dense(&mut r, 2, 200, 200),
        relu(3, &[200]),
        dense(&mut r, 4, 200, 10),
        softmax(5, 10),
        Node::new(Op::Argmax, &[5], &[1], 0),
    ])
    .expect("valid")
}

/// `(min, median)` µs per sample over `batches` batches of `per_batch` runs.
fn time(g: &Graph, per_batch: usize, batches: usize) -> (f64, f64) {
    let mut r = SplitMix(7);
    let xs: Vec<Vec<i8>> = (0..16).map(|_| r.bytes(g.input().elements())).collect();
    let mut sink = 0i64;
    let mut v: Vec<f64> = (0..batches)
        .map(|b| {
            let t = Instant::now();
            for i in 0..per_batch {
                let trace = run(g, &xs[(b + i) % xs.len()]).expect("runs");
                sink += i64::from(trace.output()[0]);
            }
            t.elapsed().as_secs_f64() * 1e6 / per_batch as f64
        })
        .collect();
    std::hint::black_box(sink);
    v.sort_by(f64::total_cmp);
    (v[0], v[batches / 2])
}

fn main() {
    let (cnn_min, cnn_med) = time(&cnn(), 20, 40);
    let (nn_min, nn_med) = time(&two_nn(), 400, 40);
    println!(
        "int8 run per sample: MNIST CNN min {cnn_min:.1} us (median {cnn_med:.1}), \
         2NN min {nn_min:.2} us (median {nn_med:.2})"
    );
}
