//! Dishonest traces: what a lying provider commits to. Used by `cairn serve --lie-at` (a
//! deliberately dishonest provider for demonstrations), the property tests and the benchmark.
//!
//! A careful liar changes one node's output and recomputes every later node from it, so its
//! trace is internally consistent everywhere except at that node: the hardest case for a
//! challenger, since only the one-step check at the lying node can catch it.
//!
//! Off-chain tooling, but it runs in a daemon (`--lie-at`), so it keeps the crate's no-panic
//! rules: an index it cannot honour makes it return `None` or leave the move unchanged.
#![deny(clippy::float_arithmetic)]

use cairn_infer::engine::{ChannelRef, compute_element, output_channel};
use cairn_infer::{Graph, TensorInfo, Trace};

use crate::game::Move;

/// Node `i` of `graph` recomputed from `outputs` (which must hold every earlier node).
/// Returns `None` if an input is missing or a node has no channels where its op needs them.
pub fn recompute(graph: &Graph, outputs: &[Vec<i8>], i: usize) -> Option<Vec<i8>> {
    let nodes = graph.nodes();
    let n = nodes.get(i)?;
    let infos: Vec<&TensorInfo> = n
        .inputs
        .iter()
        .map(|&j| nodes.get(j as usize).map(|m| &m.output))
        .collect::<Option<_>>()?;
    (0..n.output.elements())
        .map(|e| {
            let channel = match output_channel(n, e) {
                Some(o) => {
                    let c = n.channels.as_ref()?;
                    let (_, depth) = n.op.channel_dims()?;
                    Some(ChannelRef {
                        weights: c.row(o, depth)?,
                        bias: *c.bias.get(o)?,
                        multiplier: *c.multipliers.get(o)?,
                    })
                }
                None => None,
            };
            compute_element(n, &infos, channel, e, |slot, k| {
                outputs.get(*n.inputs.get(slot)? as usize)?.get(k).copied()
            })
            .ok()
        })
        .collect()
}

pub use cairn_infer::rng::SplitMix;

/// `v` with pseudo-random elements changed (always at least one).
pub fn garbage(v: &[i8], seed: u64) -> Vec<i8> {
    let mut rng = SplitMix(seed);
    let mut out = v.to_vec();
    for x in out.iter_mut() {
        if rng.below(4) == 0 {
            *x = rng.next() as i8;
        }
    }
    let k = rng.below(out.len() as u64) as usize; // < len, so it fits a usize
    if let (Some(o), Some(&x)) = (out.get_mut(k), v.get(k)) {
        // 1..=255 added mod 256: always a different value.
        *o = x.wrapping_add(rng.below(255).wrapping_add(1) as u8 as i8);
    }
    out
}

/// How a forged trace departs from the truth at one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lie {
    /// Pseudo-random values from this seed (at least one element changed).
    Garbage(u64),
    /// The true value again (a liar "repairing" a later node after an earlier lie).
    Truth,
}

/// A trace that follows `lies` at their nodes and is recomputed consistently everywhere
/// else (node 0, the input, is taken from `truth` unless a lie names it).
pub fn forge(graph: &Graph, truth: &Trace, lies: &[(usize, Lie)]) -> Option<Trace> {
    let mut outputs: Vec<Vec<i8>> = Vec::with_capacity(graph.len());
    for i in 0..graph.len() {
        let honest = if i == 0 {
            truth.outputs.first()?.clone()
        } else {
            recompute(graph, &outputs, i)?
        };
        let value = match lies.iter().find(|(n, _)| *n == i) {
            None => honest,
            Some((_, Lie::Truth)) => truth.outputs.get(i)?.clone(),
            Some((_, Lie::Garbage(seed))) => garbage(&honest, *seed),
        };
        outputs.push(value);
    }
    Some(Trace { outputs })
}

/// Makes `forged`'s output differ from `truth`'s (a liar must, or there is nothing to
/// dispute).
pub fn force_output_lie(truth: &Trace, forged: &mut Trace, seed: u64) {
    let (Some(t), Some(f)) = (truth.outputs.last(), forged.outputs.last_mut()) else {
        return;
    };
    if f == t {
        *f = garbage(t, seed);
    }
}

/// The lie of a careful cheat: `truth` with node `at`'s output changed (from `seed`),
/// every later node recomputed from it, and the final output changed if the lie did not
/// reach it. `None` if `at` is not a computed node of `graph`.
pub fn lie_at(graph: &Graph, truth: &Trace, at: usize, seed: u64) -> Option<Trace> {
    if at == 0 || at >= graph.len() {
        return None;
    }
    let mut forged = forge(graph, truth, &[(at, Lie::Garbage(seed))])?;
    force_output_lie(truth, &mut forged, seed.wrapping_add(1));
    Some(forged)
}

/// Flips a pseudo-random bit of a pseudo-random child (draws: child, bit, byte).
fn flip_child(children: &mut [cairn_infer::merkle::Hash], rng: &mut SplitMix) {
    let i = rng.below(children.len() as u64) as usize;
    let bit = rng.below(8);
    let byte = rng.below(32) as usize;
    if let Some(b) = children.get_mut(i).and_then(|c| c.get_mut(byte)) {
        *b ^= 1 << bit;
    }
}

/// Adds 1 to element `i` of `v`, if it exists.
fn bump(v: &mut [i8], i: usize) {
    if let Some(x) = v.get_mut(i) {
        *x = x.wrapping_add(1);
    }
}

/// One thing in `mv` corrupted (a child hash, the pick index, a revealed row, a step's element,
/// node or opened data): what an adversary posts to see if the referee notices.
pub fn corrupt(mv: &Move, seed: u64) -> Move {
    let mut rng = SplitMix(seed);
    let mut mv = mv.clone();
    match &mut mv {
        Move::Split { children } => flip_child(children, &mut rng),
        Move::Pick {
            children,
            index,
            reveal,
        } => match (rng.below(3), reveal.row.as_mut()) {
            (0, _) => *index = index.wrapping_add(1).wrapping_add(rng.below(3) as u8),
            (1, Some(r)) => {
                let i = rng.below(r.len() as u64) as usize;
                bump(r, i);
            }
            _ => flip_child(children, &mut rng),
        },
        Move::Step(p) => match rng.below(4) {
            0 => p.element = p.element.wrapping_add(1),
            1 => p.node.index = p.node.index.wrapping_add(1),
            2 => {
                let i = rng.below(p.output_row.data.len() as u64) as usize;
                bump(&mut p.output_row.data, i);
            }
            _ => match p.inputs.first_mut().and_then(|i| i.rows.first_mut()) {
                Some(r) => bump(&mut r.data, 0),
                None => p.element = p.element.wrapping_add(1),
            },
        },
    }
    mv
}
