//! Test tooling (feature `testkit`; never in a node): random valid graphs for property tests
//! and benchmarks, and [`RawModel`], a model root over raw, unvalidated nodes with openings
//! and a step prover, for building the hostile registrations a model owner could make.
#![deny(clippy::float_arithmetic)]
// Test tooling: a panic here fails a test, it cannot reach a node (the feature is off in every
// non-test build), so the crate's no-panic lints do not apply.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::collections::BTreeSet;

use crate::commit::{ChannelOpening, HeaderOpening, RowOpening};
use crate::engine::{ChannelRef, compute_element, output_channel};
use crate::graph::SOFTMAX_TABLE_LEN;
use crate::merkle::{Hash, Proof};
use crate::rng::SplitMix;
use crate::step::{InputOpening, NodeOpening, STEP_ROWS_MAX, StepProof};
use crate::{
    Channels, ConvGeom, ExecCommitment, Graph, ModelCommitment, Multiplier, Node, Op, PoolGeom,
    TensorInfo,
};

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

/// A model root over raw nodes, none of them validated: what a hostile owner can register on
/// chain, where only the root is posted. ([`ModelCommitment::new`] takes a validated
/// [`Graph`]; this is the same commitment over anything.) For the nodes of a valid graph the
/// root equals `ModelCommitment::new(&graph).root`.
#[derive(Clone, Debug)]
pub struct RawModel {
    nodes: Vec<Node>,
    model: ModelCommitment,
}

impl RawModel {
    /// Commits `nodes` as they are.
    pub fn new(nodes: Vec<Node>) -> Self {
        let model = ModelCommitment::from_nodes(&nodes);
        Self { nodes, model }
    }

    /// The nodes.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Number of nodes (the node count to register).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The model root.
    pub fn root(&self) -> Hash {
        self.model.root
    }

    /// Node `i`'s header opening.
    pub fn open_header(&self, i: usize) -> Option<HeaderOpening> {
        self.model.open_header(i)
    }

    /// Output channel `o` of node `i` (one leaf per bias the node has).
    pub fn open_channel(&self, i: usize, o: usize) -> Option<ChannelOpening> {
        self.model.open_channel_of(self.nodes.get(i)?, i, o)
    }

    /// Commits one output tensor per node, shaped as each header says (whatever the data).
    pub fn commit_outputs(&self, outputs: &[Vec<i8>]) -> ExecCommitment {
        let tensors = self.nodes.iter().enumerate().map(|(i, n)| {
            let data = outputs.get(i).map_or(&[][..], Vec::as_slice);
            (&n.output.shape[..], data)
        });
        ExecCommitment::from_tensors(tensors)
    }

    /// What a hostile provider can post for element `element` of node `index`: the node, the
    /// element's row, the element's channel (or channel 0 when the header names none) and the
    /// input rows the element reads (recorded by [`compute_element`] on the raw node, as far
    /// as it gets; row 0 of an input it never read), with empty, unprovable stand-ins for
    /// openings that do not exist.
    pub fn prove_step(
        &self,
        exec: &ExecCommitment,
        outputs: &[Vec<i8>],
        index: usize,
        element: usize,
    ) -> StepProof {
        let node = &self.nodes[index];
        let channel = match (&node.channels, output_channel(node, element)) {
            (None, _) => None,
            (Some(_), o) => self.open_channel(index, o.unwrap_or(0)),
        };
        let inputs: Vec<usize> = node
            .inputs
            .iter()
            .map(|&j| j as usize)
            .filter(|&j| j < self.nodes.len())
            .collect();
        let row_len = |j: usize| self.nodes[j].output.row_len().max(1);
        let data = |j: usize| outputs.get(j).map_or(&[][..], Vec::as_slice);
        let infos: Vec<&TensorInfo> = inputs.iter().map(|&j| &self.nodes[j].output).collect();
        let mut needed = vec![BTreeSet::new(); inputs.len()];
        let ch = channel.as_ref().map(|c| ChannelRef {
            weights: &c.weights,
            bias: c.bias,
            multiplier: c.multiplier,
        });
        let _ = compute_element(node, &infos, ch, element, |slot, i| {
            let j = *inputs.get(slot)?;
            needed[slot].insert(i / row_len(j));
            data(j).get(i).copied()
        });
        let inputs = inputs
            .iter()
            .zip(&mut needed)
            .map(|(&j, rows)| {
                if rows.is_empty() {
                    rows.insert(0);
                }
                let rows = rows
                    .iter()
                    .take(STEP_ROWS_MAX / 2)
                    .filter_map(|&r| exec.open_row_of(data(j), row_len(j), j, r))
                    .collect();
                InputOpening {
                    node: self.open_node(exec, j),
                    rows,
                }
            })
            .collect();
        let row = element / row_len(index);
        StepProof {
            node: self.open_node(exec, index),
            element: element as u32,
            output_row: exec
                .open_row_of(data(index), row_len(index), index, row)
                .unwrap_or_else(|| RowOpening {
                    data: Vec::new(),
                    proof: no_proof(),
                }),
            channel,
            inputs,
        }
    }

    fn open_node(&self, exec: &ExecCommitment, i: usize) -> NodeOpening {
        NodeOpening {
            index: i as u32,
            header: self.open_header(i).expect("node exists"),
            output_root: exec.node_roots.get(i).copied().unwrap_or([0; 32]),
            output_proof: exec.prove_node(i).unwrap_or_else(no_proof),
        }
    }
}

fn no_proof() -> Proof {
    Proof {
        index: 0,
        count: 0,
        siblings: Vec::new(),
    }
}
