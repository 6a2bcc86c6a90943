//! An off-chain party: answers each [`Request`] from the trace it committed to.
//!
//! It is honest with respect to its own trace; the tests build lying parties by giving it a
//! forged trace or by tampering with its moves.
//!
//! A player runs in the provider's and the challenger's daemons and answers requests derived
//! from the counterparty's moves, so it never panics: a request it cannot answer (a node, row
//! or level its graph and trace do not have) gets `None`, as when it has nothing to post.
#![deny(clippy::float_arithmetic)]

use cairn_infer::merkle::{Hash, Proof};
use cairn_infer::{ExecCommitment, Graph, ModelCommitment, TensorInfo, Trace, prove_step};

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
        // ExecCommitment::new commits one root per graph node and a graph has at least one
        // node, so the last node and its proof exist; the fallbacks are never taken.
        let last = self.graph.len().saturating_sub(1);
        Claim {
            exec_root: self.exec.root,
            output_root: self.exec.node_roots.get(last).copied().unwrap_or_default(),
            output_proof: self.exec.prove_node(last).unwrap_or(Proof {
                index: 0,
                count: 0,
                siblings: Vec::new(),
            }),
        }
    }

    /// Node `node`'s output info and tensor in this party's trace.
    fn output(&self, node: u32) -> Option<(&TensorInfo, &[i8])> {
        let i = usize::try_from(node).ok()?;
        Some((
            &self.graph.nodes().get(i)?.output,
            self.trace.outputs.get(i)?,
        ))
    }

    /// Node `node`'s row hashes at `level` of its row tree.
    fn row_level(&self, node: u32, level: u32) -> Option<Vec<Hash>> {
        let (info, data) = self.output(node)?;
        let rows = data.chunks(info.row_len().max(1)).map(tree::row_leaf);
        let level = usize::try_from(level).ok()?;
        tree::levels(rows.collect()).into_iter().nth(level)
    }

    fn subtrees(&self, t: &Tree, level: u32, first: u64, count: u64) -> Option<Vec<Hash>> {
        let start = usize::try_from(first).ok()?;
        let range = start..start.checked_add(usize::try_from(count).ok()?)?;
        let slice = |v: &[Hash]| v.get(range.clone()).map(<[Hash]>::to_vec);
        match t {
            Tree::Exec if level == 0 => slice(&self.exec.node_roots),
            Tree::Exec => slice(self.levels.get(usize::try_from(level).ok()?)?),
            Tree::Rows { node, .. } => slice(&self.row_level(*node, level)?),
        }
    }

    /// The row `row` of node `node` in this party's trace.
    fn row(&self, node: u32, row: u64) -> Option<Vec<i8>> {
        let (info, data) = self.output(node)?;
        let len = info.row_len();
        let start = usize::try_from(row).ok()?.checked_mul(len)?;
        Some(data.get(start..start.checked_add(len)?)?.to_vec())
    }

    /// The honest answer to `request` as `side`, or None if there is nothing it can post
    /// (not its turn, no disagreement to pick, or a request its graph and trace cannot answer).
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
                children: self.subtrees(tree, *level, *first, *count)?,
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
                let count = u64::try_from(provider.len()).ok()?;
                let children = self.subtrees(tree, *level, *first, count)?;
                let index = provider.iter().zip(&children).position(|(p, c)| p != c)?;
                let at = first.checked_add(u64::try_from(index).ok()?)?;
                let reveal = self.reveal(tree, *level, at)?;
                Some(Move::Pick {
                    children,
                    index: u8::try_from(index).ok()?,
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
                let mine = self.row(*node, u64::from(*row))?;
                let e = mine.iter().zip(*challenger_row).position(|(a, b)| a != b)?;
                let element = (*row as usize).checked_mul(mine.len())?.checked_add(e)?;
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

    /// What a pick of child `at` at `level` must reveal (`None`: nothing this party has).
    fn reveal(&self, t: &Tree, level: u32, at: u64) -> Option<Reveal> {
        if level > 0 {
            return Some(Reveal::default());
        }
        match t {
            Tree::Exec if at == 0 => Some(Reveal::default()),
            Tree::Exec => {
                let node = u32::try_from(at).ok()?;
                let (info, _) = self.output(node)?;
                let single = info.rows() == 1;
                Some(Reveal {
                    header: Some(self.model.open_header(node as usize)?),
                    row: if single {
                        Some(self.row(node, 0)?)
                    } else {
                        None
                    },
                })
            }
            Tree::Rows { node, .. } => Some(Reveal {
                header: None,
                row: Some(self.row(*node, at)?),
            }),
        }
    }
}
