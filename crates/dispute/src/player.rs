//! An off-chain party: answers each [`Request`] from the trace it committed to.
//!
//! It is honest with respect to its own trace; the tests build lying parties by giving it a
//! forged trace or by tampering with its moves.
#![deny(clippy::float_arithmetic)]

use cairn_infer::merkle::Hash;
use cairn_infer::{ExecCommitment, Graph, ModelCommitment, Trace, prove_step};

use crate::game::{Claim, Move, Request, Reveal, Side, Tree};
use crate::tree;

/// A party with its graph, its (possibly forged) trace and the commitments over them.
#[derive(Clone, Debug)]
pub struct Player {
    graph: Graph,
    trace: Trace,
    model: ModelCommitment,
    exec: ExecCommitment,
    levels: Vec<Vec<Hash>>,
}

impl Player {
    /// Commits `trace` (any tensors of the graph's shapes: a liar's trace need not be a run).
    pub fn new(graph: Graph, trace: Trace) -> Self {
        let model = ModelCommitment::new(&graph);
        let exec = ExecCommitment::new(&graph, &trace);
        let leaves = exec.node_roots.iter().map(tree::node_leaf).collect();
        Self {
            levels: tree::levels(leaves),
            graph,
            trace,
            model,
            exec,
        }
    }

    /// Its execution commitment.
    pub fn exec(&self) -> &ExecCommitment {
        &self.exec
    }

    /// Its trace.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Its claim for [`crate::Params`].
    pub fn claim(&self) -> Claim {
        let last = self.graph.len() - 1;
        Claim {
            exec_root: self.exec.root,
            output_root: self.exec.node_roots[last],
            output_proof: self.exec.prove_node(last),
        }
    }

    /// Node `node`'s row hashes at `level` of its row tree.
    fn row_level(&self, node: u32, level: u32) -> Vec<Hash> {
        let info = &self.graph.nodes()[node as usize].output;
        let rows = self.trace.outputs[node as usize]
            .chunks(info.row_len())
            .map(tree::row_leaf);
        tree::levels(rows.collect()).swap_remove(level as usize)
    }

    fn subtrees(&self, t: &Tree, level: u32, first: u64, count: u64) -> Vec<Hash> {
        let range = first as usize..(first + count) as usize;
        match t {
            Tree::Exec if level == 0 => self.exec.node_roots[range].to_vec(),
            Tree::Exec => self.levels[level as usize][range].to_vec(),
            Tree::Rows { node, .. } => self.row_level(*node, level)[range].to_vec(),
        }
    }

    /// The row `row` of node `node` in this party's trace.
    fn row(&self, node: u32, row: u64) -> Vec<i8> {
        let len = self.graph.nodes()[node as usize].output.row_len();
        let start = row as usize * len;
        self.trace.outputs[node as usize][start..start + len].to_vec()
    }

    /// The honest answer to `request` as `side`, or None if there is nothing it can post
    /// (not its turn, or no disagreement to pick).
    pub fn respond(&self, side: Side, request: &Request<'_>) -> Option<Move> {
        match (side, request) {
            (
                Side::Provider,
                Request::Split {
                    tree,
                    level,
                    first,
                    count,
                },
            ) => Some(Move::Split {
                children: self.subtrees(tree, *level, *first, *count),
            }),
            (
                Side::Challenger,
                Request::Pick {
                    tree,
                    level,
                    first,
                    provider,
                },
            ) => {
                let children = self.subtrees(tree, *level, *first, provider.len() as u64);
                let index = provider.iter().zip(&children).position(|(p, c)| p != c)?;
                let at = first + index as u64;
                let reveal = self.reveal(tree, *level, at);
                Some(Move::Pick {
                    children,
                    index: index as u8,
                    reveal,
                })
            }
            (
                Side::Provider,
                Request::Step {
                    node,
                    row,
                    challenger_row,
                },
            ) => {
                let mine = self.row(*node, u64::from(*row));
                let e = mine.iter().zip(*challenger_row).position(|(a, b)| a != b)?;
                let element = *row as usize * mine.len() + e;
                let proof = prove_step(
                    &self.graph,
                    &self.model,
                    &self.trace,
                    &self.exec,
                    *node as usize,
                    element,
                )
                .ok()?;
                Some(Move::Step(Box::new(proof)))
            }
            _ => None,
        }
    }

    /// What a pick of child `at` at `level` must reveal.
    fn reveal(&self, t: &Tree, level: u32, at: u64) -> Reveal {
        if level > 0 {
            return Reveal::default();
        }
        match t {
            Tree::Exec if at == 0 => Reveal::default(),
            Tree::Exec => {
                let node = at as u32;
                let single = self.graph.nodes()[at as usize].output.rows() == 1;
                Reveal {
                    header: Some(self.model.open_header(at as usize)),
                    row: single.then(|| self.row(node, 0)),
                }
            }
            Tree::Rows { node, .. } => Reveal {
                header: None,
                row: Some(self.row(*node, at)),
            },
        }
    }
}
