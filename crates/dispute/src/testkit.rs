//! Test tooling (feature `testkit`): a dispute over a hostile registration, played honestly.
//!
//! [`RawGame`] holds a model root committed over raw, possibly invalid nodes
//! ([`cairn_infer::testkit::RawModel`]) and two traces over it that first differ at one node,
//! and answers whatever the game asks next with the honest move for either side: what the
//! dispute tests and the state's hostile-input tests play to show that an invalid node ends a
//! dispute instead of crashing the referee.
// Test tooling: slices of the traces are indexed by positions the game itself produced;
// a missing node or an identical pair of traces is a broken test, so it panics with a name.
#![allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic,
    clippy::expect_used
)]

use crate::{Claim, Dispute, Move, Request, Reveal, Side};
use cairn_infer::testkit::RawModel;
use cairn_infer::{ExecCommitment, Node};

/// A hostile registration and two traces over it: the challenger's (`outputs`) and the
/// provider's, which differs from node `lie` on.
pub struct RawGame {
    pub raw: RawModel,
    pub provider: Vec<Vec<i8>>,
    pub challenger: Vec<Vec<i8>>,
}

impl RawGame {
    /// `outputs` is the challenger's trace; the provider's adds 1 to every value from node
    /// `lie` on.
    pub fn new(nodes: Vec<Node>, outputs: Vec<Vec<i8>>, lie: usize) -> Self {
        let mut provider = outputs.clone();
        for out in &mut provider[lie..] {
            for v in out.iter_mut() {
                *v = v.wrapping_add(1);
            }
        }
        Self {
            raw: RawModel::new(nodes),
            provider,
            challenger: outputs,
        }
    }

    /// `side`'s trace.
    pub fn trace(&self, side: Side) -> &[Vec<i8>] {
        match side {
            Side::Provider => &self.provider,
            Side::Challenger => &self.challenger,
        }
    }

    /// `side`'s execution commitment.
    pub fn exec(&self, side: Side) -> ExecCommitment {
        self.raw.commit_outputs(self.trace(side))
    }

    /// `side`'s claim: its execution root and its output's root with the proof.
    pub fn claim(&self, side: Side) -> Claim {
        let exec = self.exec(side);
        let last = self.raw.len() - 1;
        Claim {
            exec_root: exec.root,
            output_root: exec.node_roots[last],
            output_proof: exec.prove_node(last).expect("the last node"),
        }
    }

    /// The honest answer to the game's request: splits and picks from the two traces, the
    /// step from [`RawModel::prove_step`] on the provider's trace.
    pub fn answer(&self, d: &Dispute) -> (Side, Move) {
        match d.request() {
            Request::Split { first, count, .. } => {
                let roots = &self.exec(Side::Provider).node_roots;
                let children = roots[first as usize..(first + count) as usize].to_vec();
                (Side::Provider, Move::Split { children })
            }
            Request::Pick {
                first, provider, ..
            } => (Side::Challenger, self.pick(first as usize, provider)),
            Request::Step {
                node,
                row,
                challenger_row,
            } => {
                let node = node as usize;
                let len = challenger_row.len();
                let mine = &self.provider[node][row as usize * len..][..len];
                let e = mine.iter().zip(challenger_row).position(|(a, b)| a != b);
                let element = row as usize * len + e.expect("the rows differ");
                let exec = self.exec(Side::Provider);
                let proof = self.raw.prove_step(&exec, &self.provider, node, element);
                (Side::Provider, Move::Step(Box::new(proof)))
            }
            Request::Done(o) => panic!("already resolved: {o:?}"),
        }
    }

    /// The challenger's pick of the first node where the provider's children differ, revealing
    /// that node's header (and its only row, when it has one).
    fn pick(&self, first: usize, provider: &[cairn_infer::Hash]) -> Move {
        let roots = &self.exec(Side::Challenger).node_roots;
        let children = roots[first..first + provider.len()].to_vec();
        let index = provider.iter().zip(&children).position(|(p, c)| p != c);
        let index = index.expect("the traces differ");
        let at = first + index;
        let single = self.raw.nodes()[at].output.rows() == 1;
        let reveal = Reveal {
            header: self.raw.open_header(at),
            row: single.then(|| self.challenger[at].clone()),
        };
        Move::Pick {
            children,
            index: index as u8,
            reveal,
        }
    }
}
