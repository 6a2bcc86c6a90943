//! Property: no registration, however hostile, makes `verify_step` panic.
//!
//! Each case takes a random valid graph and its trace, then either mutates fields of its nodes
//! to extreme values or replaces a node with a random one (any op, any fields, any inputs and
//! shape, any channels), commits the raw nodes into a model root (`RawModel`), and verifies
//! steps at random nodes and elements. Invariants: no panic; a verdict that blames the model
//! (`InvalidModel`) only for nodes `Graph::new` rejects, naming the node its error names; never
//! `InvalidModel` for nodes `Graph::new` accepts; never the engine's own refusal
//! (`StepError::Uncomputable`), which validation must imply. Fixed seed, bounded case count
//! (well under a second in a debug build).

use std::panic::{AssertUnwindSafe, catch_unwind};

use cairn_infer::testkit::RawModel;
use cairn_infer::{
    Channels, ConvGeom, Graph, GraphError, Multiplier, Node, Op, PoolGeom, StepError, StepVerdict,
    run, verify_step,
};

use crate::common::{Rng, random_graph};

const SEED: u64 = 0x5eed_cafe_f00d_0001;
const CASES: u64 = 2_000;
const STEPS_PER_CASE: usize = 4;
/// Largest output regenerated for a mutated shape (bigger ones keep their old data).
const REGENERATED_MAX: usize = 512;

const U32S: [u32; 18] = [
    0,
    1,
    2,
    3,
    4,
    7,
    63,
    64,
    65,
    128,
    129,
    255,
    256,
    65_535,
    65_536,
    65_537,
    1 << 31,
    u32::MAX,
];
const I32S: [i32; 9] = [
    i32::MIN,
    -(1 << 30) - 1,
    -1,
    0,
    1,
    1 << 20,
    1 << 30,
    (1 << 30) + 1,
    i32::MAX,
];
const SHIFTS: [u8; 10] = [0, 1, 2, 31, 40, 62, 63, 64, 128, 255];

fn pick<T: Copy>(rng: &mut Rng, values: &[T]) -> T {
    values[rng.below(values.len() as u64) as usize]
}

/// An extreme u32, or a small random one.
fn u32_field(rng: &mut Rng) -> u32 {
    if rng.below(3) == 0 {
        rng.below(9) as u32
    } else {
        pick(rng, &U32S)
    }
}

fn multiplier(rng: &mut Rng) -> Multiplier {
    Multiplier {
        m: pick(rng, &I32S),
        shift: pick(rng, &SHIFTS),
    }
}

fn table(rng: &mut Rng) -> Vec<u32> {
    let len = pick(rng, &[0usize, 1, 10, 255, 256, 256, 256, 257]);
    let mut t: Vec<u32> = (0..len)
        .map(|_| {
            pick(
                rng,
                &[
                    0,
                    1,
                    1 << 15,
                    (1 << 16) - 1,
                    1 << 16,
                    (1 << 16) + 1,
                    u32::MAX,
                ],
            )
        })
        .collect();
    if let Some(first) = t.first_mut().filter(|_| rng.below(2) == 0) {
        *first = 1 << 16;
    }
    t
}

fn op(rng: &mut Rng) -> Op {
    let pool = |rng: &mut Rng| PoolGeom {
        kernel: u32_field(rng),
        stride: u32_field(rng),
    };
    match rng.below(10) {
        0 => Op::Input,
        1 => Op::Dense {
            in_features: u32_field(rng),
            out_features: u32_field(rng),
        },
        2 => Op::Conv2d(ConvGeom {
            in_channels: u32_field(rng),
            out_channels: u32_field(rng),
            kernel_h: u32_field(rng),
            kernel_w: u32_field(rng),
            stride: u32_field(rng),
            pad: u32_field(rng),
        }),
        3 => Op::Relu,
        4 => Op::MaxPool(pool(rng)),
        5 => Op::AvgPool {
            pool: pool(rng),
            multiplier: multiplier(rng),
        },
        6 => Op::Flatten,
        7 => Op::Add {
            ma: pick(rng, &I32S),
            mb: pick(rng, &I32S),
            shift: pick(rng, &SHIFTS),
        },
        8 => Op::Argmax,
        _ => Op::Softmax { table: table(rng) },
    }
}

fn shape(rng: &mut Rng) -> Vec<u32> {
    let rank = rng.below(6) as usize;
    (0..rank).map(|_| u32_field(rng)).collect()
}

fn inputs(rng: &mut Rng, i: u32) -> Vec<u32> {
    let n = rng.below(4) as usize;
    let choices = [
        0,
        i.saturating_sub(1),
        i,
        i + 1,
        u32::MAX,
        rng.below(u64::from(i) + 1) as u32,
    ];
    (0..n).map(|_| pick(rng, &choices)).collect()
}

/// Channels of up to 64 biases and weights of an arbitrary (small) length, extreme values.
fn channels(rng: &mut Rng, op: &Op) -> Option<Channels> {
    if rng.below(4) == 0 {
        return None;
    }
    let (out, depth) = op.channel_dims().unwrap_or((1, 1));
    let out = if out <= 64 && rng.below(4) != 0 {
        out
    } else {
        rng.below(65) as usize
    };
    let depth = if depth <= 64 && rng.below(4) != 0 {
        depth
    } else {
        rng.below(65) as usize
    };
    let weights = (0..out * depth)
        .map(|_| pick(rng, &[i8::MIN, -1, 0, 1, i8::MAX]))
        .collect();
    Some(Channels {
        weights,
        bias: (0..out).map(|_| pick(rng, &I32S)).collect(),
        multipliers: (0..out).map(|_| multiplier(rng)).collect(),
    })
}

fn random_node(rng: &mut Rng, i: u32) -> Node {
    let op = op(rng);
    let mut n = Node::new(op, &inputs(rng, i), &shape(rng), rng.i8());
    n.channels = channels(rng, &n.op);
    n
}

/// One field of `n` set to an extreme value (the op's own fields, inputs, shape, zero point,
/// channel values).
fn mutate(rng: &mut Rng, n: &mut Node, i: u32) {
    match (rng.below(8), &mut n.op) {
        (
            0,
            Op::Dense {
                in_features,
                out_features,
            },
        ) => {
            *if rng.below(2) == 0 {
                in_features
            } else {
                out_features
            } = u32_field(rng);
        }
        (0, Op::Conv2d(g)) => {
            let fields = [
                &mut g.in_channels,
                &mut g.out_channels,
                &mut g.kernel_h,
                &mut g.kernel_w,
                &mut g.stride,
                &mut g.pad,
            ];
            let k = rng.below(6) as usize;
            *fields.into_iter().nth(k).expect("6 fields") = u32_field(rng);
        }
        (0, Op::MaxPool(p) | Op::AvgPool { pool: p, .. }) => {
            *if rng.below(2) == 0 {
                &mut p.kernel
            } else {
                &mut p.stride
            } = u32_field(rng);
        }
        (0, Op::Add { ma, mb, shift }) => match rng.below(3) {
            0 => *ma = pick(rng, &I32S),
            1 => *mb = pick(rng, &I32S),
            _ => *shift = pick(rng, &SHIFTS),
        },
        (0, Op::Softmax { table: t }) => *t = table(rng),
        (0 | 1, _) => n.op = op(rng),
        (2, _) => n.inputs = inputs(rng, i),
        (3, _) => {
            let k = rng.below(n.output.shape.len() as u64 + 1) as usize;
            match n.output.shape.get_mut(k) {
                Some(d) => *d = u32_field(rng),
                None => n.output.shape = shape(rng),
            }
        }
        (4, _) => n.output.zero_point = rng.i8(),
        (5, _) => match n.channels.as_mut() {
            Some(c) if !c.bias.is_empty() => {
                let o = rng.below(c.bias.len() as u64) as usize;
                c.bias[o] = pick(rng, &I32S);
                c.multipliers[o] = multiplier(rng);
            }
            _ => n.channels = channels(rng, &n.op),
        },
        _ => *n = random_node(rng, i),
    }
}

/// The `node` field of a [`GraphError`], if it has one.
fn error_node(e: &GraphError) -> Option<usize> {
    match e {
        GraphError::Empty | GraphError::TooManyNodes { .. } => None,
        GraphError::MisplacedInput { node }
        | GraphError::UnknownInput { node, .. }
        | GraphError::Arity { node, .. }
        | GraphError::BadShape { node, .. }
        | GraphError::ShapeMismatch { node, .. }
        | GraphError::ZeroPoint { node, .. }
        | GraphError::BadParam { node, .. }
        | GraphError::Undecodable { node, .. } => Some(*node),
    }
}

fn one_case(seed: u64) {
    let mut rng = Rng(seed);
    let g = random_graph(rng.next());
    let x = rng.bytes(g.input().elements());
    let mut outputs = run(&g, &x).expect("runs").outputs;
    let mut nodes = g.nodes().to_vec();
    let mut mutated = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let i = rng.below(nodes.len() as u64) as usize;
        mutate(&mut rng, &mut nodes[i], i as u32);
        mutated.push(i.max(1));
        let elements = nodes[i].output.elements();
        if elements <= REGENERATED_MAX {
            outputs[i] = rng.bytes(elements);
        }
    }
    let valid = Graph::new(nodes.clone());
    let raw = RawModel::new(nodes);
    let exec = raw.commit_outputs(&outputs);
    for _ in 0..STEPS_PER_CASE {
        // Mostly a mutated node (or the node after it, which may read it), in-range elements.
        let index = match rng.below(4) {
            0 => 1 + rng.below(raw.len() as u64 - 1) as usize,
            k => (pick(&mut rng, &mutated) + usize::from(k == 3)).min(raw.len() - 1),
        };
        let len = outputs[index].len() as u64;
        let bound = if rng.below(8) == 0 {
            len + 2
        } else {
            len.max(1)
        };
        let element = rng.below(bound) as usize;
        let proof = raw.prove_step(&exec, &outputs, index, element);
        let verdict = verify_step(&raw.root(), raw.len(), &exec.root, &proof);
        // The engine's own refusals are implied by validation: they never surface.
        assert!(
            !matches!(verdict, Err(StepError::Uncomputable { .. })),
            "{verdict:?}"
        );
        if let Ok(StepVerdict::InvalidModel { node, reason }) = &verdict {
            let err = valid
                .as_ref()
                .expect_err("InvalidModel only for an invalid model");
            assert_eq!(error_node(reason), Some(*node as usize), "{reason:?}");
            assert!(error_node(err).is_some(), "{err:?}");
        }
    }
}

#[test]
fn hostile_registrations_never_panic_verify_step() {
    let mut rng = Rng(SEED);
    for case in 0..CASES {
        let seed = rng.next();
        if catch_unwind(AssertUnwindSafe(|| one_case(seed))).is_err() {
            panic!("case {case} (seed {seed:#x}) panicked");
        }
    }
}
