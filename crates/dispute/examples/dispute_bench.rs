//! Dispute cost: moves, bytes posted and one-step verification time, for a 4,096-node chain
//! and MNIST-sized graphs (random weights), at k = 2, 4, 16.
//!
//! `cargo run --release -p cairn-dispute --example dispute_bench`

// A benchmark measures wall time; it is not consensus code.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use cairn_dispute::{Clock, Dispute, Move, Params, Player, Side};
use cairn_infer::graph::SOFTMAX_TABLE_LEN;
use cairn_infer::{
    Channels, ConvGeom, Graph, ModelCommitment, Multiplier, Node, Op, PoolGeom, Trace, run,
    verify_step,
};

use cairn_dispute::forge::SplitMix as Rng;

fn node(op: Op, inputs: &[u32], shape: &[u32], zero_point: i8) -> Node {
    Node::new(op, inputs, shape, zero_point)
}

fn weighted(op: Op, inputs: &[u32], shape: &[u32], rng: &mut Rng) -> Node {
    let (out, depth) = op.channel_dims().expect("weighted op");
    let mut n = node(op, inputs, shape, 0);
    n.channels = Some(Channels {
        weights: rng.bytes(out * depth),
        bias: (0..out)
            .map(|_| (rng.next() % 2001) as i32 - 1000)
            .collect(),
        multipliers: vec![
            Multiplier {
                m: 1 << 30,
                shift: 40
            };
            out
        ],
    });
    n
}

/// 4,096 nodes: input [16], then relu / add(prev, prev-1) alternating (skip connections).
fn chain() -> Graph {
    let mut nodes = vec![node(Op::Input, &[], &[16], 0)];
    for i in 1..4096u32 {
        nodes.push(if i % 2 == 1 {
            node(Op::Relu, &[i - 1], &[16], 0)
        } else {
            node(
                Op::Add {
                    ma: 1 << 30,
                    mb: 1 << 29,
                    shift: 31,
                },
                &[i - 1, i - 2],
                &[16],
                0,
            )
        });
    }
    Graph::new(nodes).expect("valid")
}

fn softmax() -> Op {
    let mut table = vec![0u32; SOFTMAX_TABLE_LEN];
    let mut e = 1u64 << 16;
    for t in table.iter_mut() {
        *t = e as u32;
        e = e * 15 / 16;
    }
    Op::Softmax { table }
}

fn two_nn(rng: &mut Rng) -> Graph {
    let dense = |k, n| Op::Dense {
        in_features: k,
        out_features: n,
    };
    Graph::new(vec![
        node(Op::Input, &[], &[784], -128),
        weighted(dense(784, 200), &[0], &[200], rng),
        node(Op::Relu, &[1], &[200], 0),
        weighted(dense(200, 200), &[2], &[200], rng),
        node(Op::Relu, &[3], &[200], 0),
        weighted(dense(200, 10), &[4], &[10], rng),
        node(softmax(), &[5], &[10], -128),
        node(Op::Argmax, &[5], &[1], 0),
    ])
    .expect("valid")
}

fn cnn(rng: &mut Rng) -> Graph {
    let conv = |ic, oc| {
        Op::Conv2d(ConvGeom {
            in_channels: ic,
            out_channels: oc,
            kernel_h: 5,
            kernel_w: 5,
            stride: 1,
            pad: 2,
        })
    };
    let pool = Op::MaxPool(PoolGeom {
        kernel: 2,
        stride: 2,
    });
    Graph::new(vec![
        node(Op::Input, &[], &[28, 28, 1], -128),
        weighted(conv(1, 32), &[0], &[28, 28, 32], rng),
        node(Op::Relu, &[1], &[28, 28, 32], 0),
        node(pool.clone(), &[2], &[14, 14, 32], 0),
        weighted(conv(32, 64), &[3], &[14, 14, 64], rng),
        node(Op::Relu, &[4], &[14, 14, 64], 0),
        node(pool, &[5], &[7, 7, 64], 0),
        node(Op::Flatten, &[6], &[3136], 0),
        weighted(
            Op::Dense {
                in_features: 3136,
                out_features: 512,
            },
            &[7],
            &[512],
            rng,
        ),
        node(Op::Relu, &[8], &[512], 0),
        weighted(
            Op::Dense {
                in_features: 512,
                out_features: 10,
            },
            &[9],
            &[10],
            rng,
        ),
        node(softmax(), &[10], &[10], -128),
        node(Op::Argmax, &[10], &[1], 0),
    ])
    .expect("valid")
}

/// The truth with node `at` changed, recomputed consistently after it.
fn lie_at(graph: &Graph, truth: &Trace, at: usize) -> Trace {
    cairn_dispute::forge::lie_at(graph, truth, at, 77).expect("a computed node")
}

struct Cost {
    moves: u32,
    provider_moves: u32,
    bytes: usize,
    step_bytes: usize,
    step_us: f64,
}

fn dispute(graph: &Graph, truth: &Trace, provider: &Player, challenger: &Player, k: u8) -> Cost {
    let params = Params {
        model_root: ModelCommitment::new(graph).root,
        node_count: graph.len() as u32,
        input_root: challenger.exec().node_roots[0],
        provider: provider.claim(),
        challenger: challenger.claim(),
        provider_bond: 1_000,
        challenger_bond: 1_000,
        k,
        clock: Clock {
            move_blocks_max: 100,
            budget_blocks: 10_000,
        },
        start_height: 0,
    };
    let _ = truth;
    let mut d = Dispute::open(params.clone()).expect("opens");
    let (mut h, mut bytes, mut provider_moves, mut step) = (0, 0, 0, None);
    while d.outcome().is_none() {
        let side = d.turn().expect("unresolved");
        let player = if side == Side::Provider {
            provider
        } else {
            challenger
        };
        let mv = player.respond(side, &d.request()).expect("answers");
        h += 1;
        bytes += mv.encode().len();
        if side == Side::Provider {
            provider_moves += 1;
        }
        if let Move::Step(p) = &mv {
            step = Some(p.clone());
        }
        d.apply(side, &mv, h).expect("accepted");
    }
    assert_eq!(d.outcome().expect("resolved").winner, Side::Challenger);
    let proof = step.expect("ends in a step");
    let step_bytes = Move::Step(proof.clone()).encode().len();
    const ITERS: u32 = 200;
    let t = Instant::now();
    for _ in 0..ITERS {
        let v = verify_step(
            &params.model_root,
            graph.len(),
            &params.provider.exec_root,
            &proof,
        );
        std::hint::black_box(v).expect("verifies");
    }
    let step_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(ITERS);
    Cost {
        moves: d.moves(),
        provider_moves,
        bytes,
        step_bytes,
        step_us,
    }
}

fn report(name: &str, graph: &Graph, input: &[i8], lies: &[usize]) {
    let truth = run(graph, input).expect("runs");
    let challenger = Player::new(graph.clone(), truth.clone());
    println!("== {name}: {} nodes ==", graph.len());
    for &at in lies {
        let provider = Player::new(graph.clone(), lie_at(graph, &truth, at));
        let op = graph.nodes()[at].op.name();
        for k in [2u8, 4, 16] {
            let c = dispute(graph, &truth, &provider, &challenger, k);
            println!(
                "  lie at node {at:4} ({op:7}) k={k:2}: {:2} rounds (provider moves), {:2} moves, {:6} B posted (step {:5} B), one-step verify {:6.1} us",
                c.provider_moves, c.moves, c.bytes, c.step_bytes, c.step_us
            );
        }
    }
}

fn main() {
    let mut rng = Rng(1);
    let g = chain();
    report(
        "chain of relu/add over [16]",
        &g,
        &rng.bytes(16),
        &[1, 2048, 4095],
    );
    let g = two_nn(&mut rng);
    report(
        "2NN 784-200-200-10 (random weights)",
        &g,
        &rng.bytes(784),
        &[1, 5],
    );
    let g = cnn(&mut rng);
    report(
        "MNIST CNN (random weights)",
        &g,
        &rng.bytes(784),
        &[1, 4, 8],
    );
}
