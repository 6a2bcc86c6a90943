//! The one-step check a dispute ends with: recompute one output element of one node from
//! opened inputs and weights, each proven against the provider's own commitments.
//!
//! [`verify_step`] takes everything as arguments (the model root and node count registered on
//! chain, the execution root the provider posted, and the [`StepProof`]) and does no I/O; its
//! cost is the proofs (a few dozen BLAKE3 calls) plus one dot product.
#![deny(clippy::float_arithmetic)]

use std::collections::BTreeMap;

use crate::commit::{
    ChannelOpening, ExecCommitment, HeaderOpening, ModelCommitment, ProofError, RowOpening,
    verify_channel, verify_header, verify_node_root, verify_row,
};
use crate::engine::{ChannelRef, Missing, Trace, compute_element, output_channel};
use crate::graph::{Graph, NODE_INPUTS_MAX, NODES_MAX, Node};
use crate::merkle::{Hash, Proof};

/// Most input rows one step may open (a 5x5 conv opens 25; a pooling window up to 64²).
pub const STEP_ROWS_MAX: usize = 4096;

/// A node opened for a step: its header under the model root and its output root under the
/// execution root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeOpening {
    /// Node index.
    pub index: u32,
    /// Header and channel root, proven under the model root.
    pub header: HeaderOpening,
    /// The node's output tensor root.
    pub output_root: Hash,
    /// Proof of `output_root` under the execution root.
    pub output_proof: Proof,
}

/// One input of the disputed node with the rows the element reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputOpening {
    /// The input node.
    pub node: NodeOpening,
    /// Opened rows (each proof's index is the row).
    pub rows: Vec<RowOpening>,
}

/// Everything the one-step check needs for element `element` of node `node.index`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepProof {
    /// The disputed node.
    pub node: NodeOpening,
    /// Flat index of the disputed output element.
    pub element: u32,
    /// The committed output row holding the element.
    pub output_row: RowOpening,
    /// The output channel's weights, for dense and conv.
    pub channel: Option<ChannelOpening>,
    /// The node's inputs, in its input order.
    pub inputs: Vec<InputOpening>,
}

/// The outcome of a well-formed step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepVerdict {
    /// The committed element equals the recomputation: the provider wins this step.
    Consistent {
        /// The value.
        value: i8,
    },
    /// The provider committed a wrong value: it loses.
    Mismatch {
        /// What the execution root commits to.
        committed: i8,
        /// What the op gives on the committed inputs.
        recomputed: i8,
    },
}

/// Why a step could not be judged (for a provider's proof: it loses at its deadline).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// Node index out of range, or the input node (which is not computed).
    #[error("node {index} cannot be disputed in a graph of {count} nodes")]
    BadNode {
        /// The index.
        index: u32,
        /// Nodes in the graph.
        count: usize,
    },
    /// Element index out of the node's output.
    #[error("element {element} is outside the output of {elements} elements")]
    BadElement {
        /// The index.
        element: u32,
        /// Output size.
        elements: usize,
    },
    /// The openings do not match the node's inputs or weights.
    #[error("openings do not match the node: {0}")]
    Shape(&'static str),
    /// A proof failed.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// An input element the op reads was not opened.
    #[error("input {slot} element {index} was not opened")]
    MissingInput {
        /// Input slot.
        slot: usize,
        /// Flat element index.
        index: usize,
    },
}

fn verify_opening(
    model_root: &Hash,
    exec_root: &Hash,
    count: usize,
    o: &NodeOpening,
) -> Result<Node, StepError> {
    let index = o.index as usize;
    let node = verify_header(model_root, count, index, &o.header)?;
    verify_node_root(exec_root, count, index, &o.output_root, &o.output_proof)?;
    Ok(node)
}

/// Judges one step. `node_count` and `model_root` are the registered model's; `exec_root` the
/// provider's posted commitment.
pub fn verify_step(
    model_root: &Hash,
    node_count: usize,
    exec_root: &Hash,
    proof: &StepProof,
) -> Result<StepVerdict, StepError> {
    let index = proof.node.index;
    if index == 0 || index as usize >= node_count || node_count > NODES_MAX {
        return Err(StepError::BadNode {
            index,
            count: node_count,
        });
    }
    let node = verify_opening(model_root, exec_root, node_count, &proof.node)?;
    let e = proof.element as usize;
    let info = &node.output;
    if e >= info.elements() {
        return Err(StepError::BadElement {
            element: proof.element,
            elements: info.elements(),
        });
    }
    let row = e / info.row_len();
    verify_row(&proof.node.output_root, info, row, &proof.output_row)?;
    let committed = proof.output_row.data[e % info.row_len()];

    let channel = match (node.op.channel_dims(), &proof.channel) {
        (Some((out, depth)), Some(c)) => {
            let o = output_channel(&node, e).expect("op has channels");
            verify_channel(&proof.node.header.channel_root, out, depth, o, c)?;
            Some(ChannelRef {
                weights: &c.weights,
                bias: c.bias,
                multiplier: c.multiplier,
            })
        }
        (None, None) => None,
        _ => {
            return Err(StepError::Shape(
                "channel opening present iff the op has weights",
            ));
        }
    };

    if proof.inputs.len() != node.inputs.len() || node.inputs.len() > NODE_INPUTS_MAX {
        return Err(StepError::Shape("one opening per input"));
    }
    let mut input_nodes = Vec::with_capacity(proof.inputs.len());
    let mut rows: BTreeMap<(usize, usize), &[i8]> = BTreeMap::new();
    let opened: usize = proof.inputs.iter().map(|i| i.rows.len()).sum();
    if opened > STEP_ROWS_MAX {
        return Err(StepError::Shape("too many rows opened"));
    }
    for (slot, (input, &want)) in proof.inputs.iter().zip(&node.inputs).enumerate() {
        if input.node.index != want {
            return Err(StepError::Shape("input opening is for another node"));
        }
        let in_node = verify_opening(model_root, exec_root, node_count, &input.node)?;
        for r in &input.rows {
            let row = r.proof.index as usize;
            verify_row(&input.node.output_root, &in_node.output, row, r)?;
            rows.insert((slot, row), &r.data);
        }
        input_nodes.push(in_node);
    }
    let infos: Vec<_> = input_nodes.iter().map(|n| &n.output).collect();
    let get = |slot: usize, i: usize| {
        let len = infos[slot].row_len();
        rows.get(&(slot, i / len)).map(|r| r[i % len])
    };
    let recomputed = compute_element(&node, &infos, channel, e, get)
        .map_err(|Missing { slot, index }| StepError::MissingInput { slot, index })?;
    Ok(if recomputed == committed {
        StepVerdict::Consistent { value: committed }
    } else {
        StepVerdict::Mismatch {
            committed,
            recomputed,
        }
    })
}

/// Builds the [`StepProof`] for element `element` of node `index` (the provider's side).
pub fn prove_step(
    graph: &Graph,
    model: &ModelCommitment,
    trace: &Trace,
    exec: &ExecCommitment,
    index: usize,
    element: usize,
) -> Result<StepProof, StepError> {
    let nodes = graph.nodes();
    if index == 0 || index >= nodes.len() {
        return Err(StepError::BadNode {
            index: index as u32,
            count: nodes.len(),
        });
    }
    let node = &nodes[index];
    if element >= node.output.elements() {
        return Err(StepError::BadElement {
            element: element as u32,
            elements: node.output.elements(),
        });
    }
    let open = |i: usize| NodeOpening {
        index: i as u32,
        header: model.open_header(i),
        output_root: exec.node_roots[i],
        output_proof: exec.prove_node(i),
    };
    let o = output_channel(node, element);
    let channel = o.map(|o| model.open_channel(graph, index, o));
    let ch_ref = channel.as_ref().map(|c| ChannelRef {
        weights: &c.weights,
        bias: c.bias,
        multiplier: c.multiplier,
    });
    // Record which input rows the element reads by computing it on the full trace.
    let infos: Vec<_> = node
        .inputs
        .iter()
        .map(|&j| &nodes[j as usize].output)
        .collect();
    let mut needed = vec![std::collections::BTreeSet::new(); node.inputs.len()];
    compute_element(node, &infos, ch_ref, element, |slot, i| {
        needed[slot].insert(i / infos[slot].row_len());
        trace.outputs[node.inputs[slot] as usize].get(i).copied()
    })
    .map_err(|Missing { slot, index }| StepError::MissingInput { slot, index })?;
    let inputs = node
        .inputs
        .iter()
        .zip(&needed)
        .map(|(&j, rows)| InputOpening {
            node: open(j as usize),
            rows: rows
                .iter()
                .map(|&r| exec.open_row(graph, trace, j as usize, r))
                .collect(),
        })
        .collect();
    Ok(StepProof {
        node: open(index),
        element: element as u32,
        output_row: exec.open_row(graph, trace, index, element / node.output.row_len()),
        channel,
        inputs,
    })
}
