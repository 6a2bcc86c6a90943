//! Random valid graphs for property tests and benchmarks (feature `testkit`; never in a node).
#![deny(clippy::float_arithmetic)]
// Test tooling: a panic here fails a test, it cannot reach a node (the feature is off in every
// non-test build), so the crate's no-panic lints do not apply.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use crate::graph::SOFTMAX_TABLE_LEN;
use crate::rng::SplitMix;
use crate::{Channels, ConvGeom, Graph, Multiplier, Node, Op, PoolGeom};

fn channels(rng: &mut SplitMix, out: usize, depth: usize) -> Channels {
    Channels {
        weights: rng.bytes(out * depth),
        bias: (0..out)
            .map(|_| rng.below(20_001) as i32 - 10_000)
            .collect(),
        multipliers: (0..out).map(|_| rng.multiplier()).collect(),
    }
}

/// A random small valid graph exercising every op: convs, relu, pools, add, flatten, dense,
/// softmax and argmax.
pub fn random_graph(seed: u64) -> Graph {
    let mut rng = SplitMix(seed);
    let (h, w, c) = (
        4 + rng.below(5) as u32,
        4 + rng.below(5) as u32,
        1 + rng.below(3) as u32,
    );
    let mut nodes = vec![Node::new(Op::Input, &[], &[h, w, c], rng.i8())];
    let mut shape = vec![h, w, c];
    let last = |nodes: &Vec<Node>| (nodes.len() - 1) as u32;
    for _ in 0..1 + rng.below(3) {
        let prev = last(&nodes);
        let zp_in = nodes[prev as usize].output.zero_point;
        match rng.below(5) {
            0 | 1 => {
                let fits3 = shape[0] >= 3 && shape[1] >= 3;
                let k = if fits3 {
                    1 + 2 * rng.below(2) as u32
                } else {
                    1
                };
                let stride = 1 + rng.below(2) as u32;
                let oc = 1 + rng.below(4) as u32;
                let g = ConvGeom {
                    in_channels: shape[2],
                    out_channels: oc,
                    kernel_h: k,
                    kernel_w: k,
                    stride,
                    pad: rng.below(u64::from(k / 2 + 1)) as u32,
                };
                let oh = (shape[0] + 2 * g.pad - k) / stride + 1;
                let ow = (shape[1] + 2 * g.pad - k) / stride + 1;
                shape = vec![oh, ow, oc];
                let mut n = Node::new(Op::Conv2d(g), &[prev], &shape, rng.i8());
                n.channels = Some(channels(&mut rng, oc as usize, g.depth()));
                nodes.push(n);
            }
            2 => nodes.push(Node::new(Op::Relu, &[prev], &shape, zp_in)),
            3 if shape[0] >= 2 && shape[1] >= 2 => {
                let p = PoolGeom {
                    kernel: 2,
                    stride: 1 + rng.below(2) as u32,
                };
                shape = vec![
                    (shape[0] - 2) / p.stride + 1,
                    (shape[1] - 2) / p.stride + 1,
                    shape[2],
                ];
                let op = if rng.below(2) == 0 {
                    Op::MaxPool(p)
                } else {
                    Op::AvgPool {
                        pool: p,
                        multiplier: Multiplier {
                            m: 1 << 30,
                            shift: 32,
                        },
                    }
                };
                let zp = if matches!(op, Op::MaxPool(_)) {
                    zp_in
                } else {
                    rng.i8()
                };
                nodes.push(Node::new(op, &[prev], &shape, zp));
            }
            _ => {
                // Add the previous node to a relu of itself.
                nodes.push(Node::new(Op::Relu, &[prev], &shape, zp_in));
                let r = last(&nodes);
                let op = Op::Add {
                    ma: rng.below(1 << 30) as i32,
                    mb: rng.below(1 << 30) as i32,
                    shift: 31,
                };
                nodes.push(Node::new(op, &[prev, r], &shape, rng.i8()));
            }
        }
    }
    let prev = last(&nodes);
    let zp = nodes[prev as usize].output.zero_point;
    let flat: u32 = shape.iter().product();
    nodes.push(Node::new(Op::Flatten, &[prev], &[flat], zp));
    let classes = 2 + rng.below(9) as u32;
    let mut dense = Node::new(
        Op::Dense {
            in_features: flat,
            out_features: classes,
        },
        &[last(&nodes)],
        &[classes],
        rng.i8(),
    );
    dense.channels = Some(channels(&mut rng, classes as usize, flat as usize));
    nodes.push(dense);
    let logits = last(&nodes);
    let mut table = vec![0u32; SOFTMAX_TABLE_LEN];
    let mut e = 1u64 << 16;
    for t in table.iter_mut() {
        *t = e as u32;
        e = e * 15 / 16;
    }
    nodes.push(Node::new(
        Op::Softmax { table },
        &[logits],
        &[classes],
        -128,
    ));
    nodes.push(Node::new(Op::Argmax, &[logits], &[1], 0));
    Graph::new(nodes).expect("random graph is valid")
}
