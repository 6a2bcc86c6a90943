//! Graph builders (as cairn-infer's tests build them), forged traces and a game driver.

use cairn_dispute::{Clock, Dispute, Move, Outcome, Params, Player};
use cairn_infer::graph::SOFTMAX_TABLE_LEN;
use cairn_infer::{
    Channels, ConvGeom, Graph, ModelCommitment, Multiplier, Node, Op, PoolGeom, Trace, run,
};

pub fn node(op: Op, inputs: &[u32], shape: &[u32], zero_point: i8) -> Node {
    Node::new(op, inputs, shape, zero_point)
}

pub use cairn_dispute::forge::SplitMix as Rng;

/// What the graph builders draw beyond [`Rng`]'s own methods.
pub trait RngExt {
    fn i8(&mut self) -> i8;
    fn multiplier(&mut self) -> Multiplier;
}

impl RngExt for Rng {
    fn i8(&mut self) -> i8 {
        self.next() as i8
    }
    fn multiplier(&mut self) -> Multiplier {
        Multiplier {
            m: (1 << 30) + self.below(1 << 30) as i32,
            shift: 36 + self.below(10) as u8,
        }
    }
}

fn channels(rng: &mut Rng, out: usize, depth: usize) -> Channels {
    Channels {
        weights: rng.bytes(out * depth),
        bias: (0..out)
            .map(|_| rng.below(20_001) as i32 - 10_000)
            .collect(),
        multipliers: (0..out).map(|_| rng.multiplier()).collect(),
    }
}

/// A random small valid graph (convs, relu, pools, skip adds, flatten, dense, softmax,
/// argmax): multi-row tensors, two-input nodes and skip connections.
pub fn random_graph(seed: u64) -> Graph {
    let mut rng = Rng(seed);
    let (h, w, c) = (
        3 + rng.below(4) as u32,
        3 + rng.below(4) as u32,
        1 + rng.below(3) as u32,
    );
    let mut nodes = vec![node(Op::Input, &[], &[h, w, c], rng.i8())];
    let mut shape = vec![h, w, c];
    let last = |nodes: &Vec<Node>| (nodes.len() - 1) as u32;
    for _ in 0..1 + rng.below(4) {
        let prev = last(&nodes);
        let zp_in = nodes[prev as usize].output.zero_point;
        match rng.below(5) {
            0 => {
                let k = if shape[0] >= 3 && shape[1] >= 3 {
                    1 + 2 * rng.below(2) as u32
                } else {
                    1
                };
                let oc = 1 + rng.below(3) as u32;
                let g = ConvGeom {
                    in_channels: shape[2],
                    out_channels: oc,
                    kernel_h: k,
                    kernel_w: k,
                    stride: 1,
                    pad: k / 2,
                };
                shape = vec![shape[0], shape[1], oc];
                let mut n = node(Op::Conv2d(g), &[prev], &shape, rng.i8());
                n.channels = Some(channels(&mut rng, oc as usize, g.depth()));
                nodes.push(n);
            }
            1 => nodes.push(node(Op::Relu, &[prev], &shape, zp_in)),
            2 if shape[0] >= 2 && shape[1] >= 2 => {
                let p = PoolGeom {
                    kernel: 2,
                    stride: 1,
                };
                shape = vec![shape[0] - 1, shape[1] - 1, shape[2]];
                nodes.push(node(Op::MaxPool(p), &[prev], &shape, zp_in));
            }
            _ => {
                // A skip connection: prev + relu(prev).
                nodes.push(node(Op::Relu, &[prev], &shape, zp_in));
                let r = last(&nodes);
                let op = Op::Add {
                    ma: rng.below(1 << 30) as i32,
                    mb: rng.below(1 << 30) as i32,
                    shift: 31,
                };
                nodes.push(node(op, &[prev, r], &shape, rng.i8()));
            }
        }
    }
    let prev = last(&nodes);
    let zp = nodes[prev as usize].output.zero_point;
    let flat: u32 = shape.iter().product();
    nodes.push(node(Op::Flatten, &[prev], &[flat], zp));
    let classes = 2 + rng.below(5) as u32;
    let mut dense = node(
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
    nodes.push(node(Op::Softmax { table }, &[logits], &[classes], -128));
    nodes.push(node(Op::Argmax, &[logits], &[1], 0));
    Graph::new(nodes).expect("random graph is valid")
}

pub use cairn_dispute::forge::{Lie, force_output_lie};

/// [`cairn_dispute::forge::forge`] on a graph it always succeeds on.
pub fn forge(graph: &Graph, truth: &Trace, lies: &[(usize, Lie)]) -> Trace {
    cairn_dispute::forge::forge(graph, truth, lies).expect("forgeable")
}

pub const CLOCK: Clock = Clock {
    move_blocks_max: 10,
    budget_blocks: 1_000,
};

pub fn params(graph: &Graph, input_trace: &Trace, p: &Player, c: &Player, k: u8) -> Params {
    let input_root = cairn_infer::ExecCommitment::new(graph, input_trace).node_roots[0];
    Params {
        model_root: ModelCommitment::new(graph).root,
        node_count: graph.len() as u32,
        input_root,
        provider: p.claim(),
        challenger: c.claim(),
        provider_bond: 1_000,
        challenger_bond: 700,
        k,
        clock: CLOCK,
        start_height: 100,
    }
}

/// A party's behaviour: its player plus how it departs from answering honestly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tamper {
    /// Answers every request from its trace.
    None,
    /// Stops answering at its n-th move.
    SilentAt(u32),
    /// At its n-th move posts a corrupted version of its answer (then falls silent if
    /// rejected, as a real liar has nothing better).
    CorruptAt(u32, u64),
}

pub use cairn_dispute::forge::corrupt;

/// What a finished game looked like.
pub struct Played {
    pub outcome: Outcome,
    pub moves: u32,
    pub rejected: u32,
}

/// Plays a dispute to the end, one block per move; a side that posts nothing (or whose move
/// is rejected) is timed out.
pub fn play(d: Dispute, players: [(&Player, Tamper); 2]) -> Played {
    play_with(d, players, |_| {})
}

/// [`play`], showing `posted` every move a side posts (accepted or not).
pub fn play_with(
    mut d: Dispute,
    players: [(&Player, Tamper); 2],
    mut posted: impl FnMut(&Move),
) -> Played {
    let (mut height, mut rejected) = (d.params().start_height, 0);
    let mut count = [0u32; 2];
    while d.outcome().is_none() {
        let side = d.turn().expect("unresolved");
        let (player, tamper) = players[side as usize];
        let n = count[side as usize];
        count[side as usize] += 1;
        let honest = player.respond(side, &d.request());
        let mv = match (tamper, honest) {
            (Tamper::SilentAt(s), _) if s == n => None,
            (Tamper::CorruptAt(s, seed), Some(mv)) if s == n => Some(corrupt(&mv, seed)),
            (_, mv) => mv,
        };
        height += 1;
        if let Some(mv) = &mv {
            posted(mv);
        }
        let accepted = match &mv {
            Some(mv) => match d.apply(side, mv, height) {
                Ok(_) => true,
                Err(_) => {
                    rejected += 1;
                    false
                }
            },
            None => false,
        };
        if !accepted {
            let deadline = d.deadline().expect("unresolved");
            assert!(
                d.claim_timeout(deadline).is_err(),
                "no timeout before the deadline"
            );
            d.claim_timeout(deadline + 1).expect("deadline passed");
        }
    }
    Played {
        outcome: *d.outcome().expect("resolved"),
        moves: d.moves(),
        rejected,
    }
}

/// Input, truth trace and the honest player for `graph`.
pub fn setup(graph: &Graph, seed: u64) -> (Vec<i8>, Trace) {
    let input = Rng(seed).bytes(graph.input().elements());
    let truth = run(graph, &input).expect("runs");
    (input, truth)
}

pub fn open(graph: &Graph, truth: &Trace, p: &Player, c: &Player, k: u8) -> Option<Dispute> {
    Dispute::open(params(graph, truth, p, c, k)).ok()
}
