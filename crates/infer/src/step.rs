//! The one-step check a dispute ends with: recompute one output element of one node from
//! opened inputs and weights, each proven against the provider's own commitments.
//!
//! [`verify_step`] takes everything as arguments (the model root and node count registered on
//! chain, the execution root the provider posted, and the [`StepProof`]) and does no I/O; its
//! cost is the proofs (a few dozen BLAKE3 calls) plus one dot product.
//!
//! The chain registers a model by its root alone, so the headers and channels a step opens
//! were never validated as a graph. [`verify_step`] validates each one right after its proof
//! checks, with the same functions [`Graph::new`] uses, before anything is computed: the
//! disputed node's header on its own, every opened input's header on its own, the disputed
//! node against its inputs, and the opened channel. Something proven under the model root that
//! fails is no fault of the step's sender: it proves the registered model invalid, and the
//! verdict says so ([`StepVerdict::InvalidModel`]). Anything that is not proven stays a
//! [`StepError`]. The recomputation itself ([`compute_element`]) is total as well, so a bug in
//! this order could only turn into an error, never a panic.
#![deny(clippy::float_arithmetic)]

use std::collections::{BTreeMap, BTreeSet};

use crate::commit::{
    ChannelOpening, ExecCommitment, HeaderOpening, ModelCommitment, ProofError, RowOpening,
    verify_channel, verify_header, verify_node_root, verify_row,
};
use crate::engine::{ChannelRef, ElementError, Trace, compute_element, output_channel};
use crate::graph::{
    Graph, GraphError, NODE_INPUTS_MAX, NODES_MAX, Node, TensorInfo, validate_against_inputs,
    validate_channel, validate_header,
};
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// A header or channel proven under the model root fails validation (or a proven header
    /// does not decode): the registered model is no valid graph, so the provider served a
    /// result for a model that cannot run. It loses (an honest provider checks the graph
    /// against the model root before serving, so it never gets here).
    InvalidModel {
        /// The node whose header or channel is invalid.
        node: u32,
        /// What validation found.
        reason: GraphError,
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
    /// The openings do not match the node's inputs or weights (or, for [`prove_step`], the
    /// commitments and trace do not cover what the step must open).
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
    /// The recomputation refused the node. Never returned after validation passed (the
    /// engine's own checks are implied by it); a typed error so that a bug cannot panic.
    #[error("{op} element cannot be computed: {reason}")]
    Uncomputable {
        /// Op name.
        op: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

impl From<ElementError> for StepError {
    fn from(e: ElementError) -> Self {
        match e {
            ElementError::Missing { slot, index } => StepError::MissingInput { slot, index },
            ElementError::Uncomputable { op, reason } => StepError::Uncomputable { op, reason },
        }
    }
}

/// Why [`verify_step`] stopped early: the sender's fault, or the model's.
enum Stop {
    /// Not proven, or not the right openings: the move is rejected.
    Step(StepError),
    /// Proven under the model root and invalid.
    Model(u32, GraphError),
}

impl<E: Into<StepError>> From<E> for Stop {
    fn from(e: E) -> Self {
        Stop::Step(e.into())
    }
}

/// Verifies `opening` as node `index` of `node_count` under `model_root`, then decodes and
/// validates the header on its own ([`validate_header`]). `Err`: not proven (the sender's
/// fault); `Ok(Err(reason))`: proven, but no valid graph has this header at this index (the
/// registered model is invalid; a header that does not decode is
/// [`GraphError::Undecodable`]); `Ok(Ok(node))`: proven and valid on its own.
pub fn verify_valid_header(
    model_root: &Hash,
    node_count: usize,
    index: usize,
    opening: &HeaderOpening,
) -> Result<Result<Node, GraphError>, ProofError> {
    match verify_header(model_root, node_count, index, opening) {
        Ok(node) => Ok(validate_header(index, &node).map(|()| node)),
        // verify_header decodes only after the proof passed: proven, and not a header.
        Err(ProofError::Header(error)) => Ok(Err(GraphError::Undecodable {
            node: index,
            error: Box::new(error),
        })),
        Err(e) => Err(e),
    }
}

/// Node `o.index`'s header, proven and valid on its own, with its output root proven under
/// the execution root.
fn verify_opening(
    model_root: &Hash,
    exec_root: &Hash,
    count: usize,
    o: &NodeOpening,
) -> Result<Node, Stop> {
    let index = o.index as usize;
    let node = verify_valid_header(model_root, count, index, &o.header)?
        .map_err(|reason| Stop::Model(o.index, reason))?;
    verify_node_root(exec_root, count, index, &o.output_root, &o.output_proof)?;
    Ok(node)
}

/// Judges one step. `node_count` and `model_root` are the registered model's; `exec_root` the
/// provider's posted commitment. Never panics; see the module docs for what is validated when.
pub fn verify_step(
    model_root: &Hash,
    node_count: usize,
    exec_root: &Hash,
    proof: &StepProof,
) -> Result<StepVerdict, StepError> {
    match judge(model_root, node_count, exec_root, proof) {
        Ok(verdict) => Ok(verdict),
        Err(Stop::Step(e)) => Err(e),
        Err(Stop::Model(node, reason)) => Ok(StepVerdict::InvalidModel { node, reason }),
    }
}

fn judge(
    model_root: &Hash,
    node_count: usize,
    exec_root: &Hash,
    proof: &StepProof,
) -> Result<StepVerdict, Stop> {
    let index = proof.node.index;
    if index == 0 || index as usize >= node_count || node_count > NODES_MAX {
        return Err(Stop::Step(StepError::BadNode {
            index,
            count: node_count,
        }));
    }
    let node = verify_opening(model_root, exec_root, node_count, &proof.node)?;
    let e = proof.element as usize;
    let info = &node.output;
    if e >= info.elements() {
        return Err(Stop::Step(StepError::BadElement {
            element: proof.element,
            elements: info.elements(),
        }));
    }
    // Validated: the row length is in 1..=DIM_MAX, so these cannot fail.
    let len = info.row_len();
    let (row, col) = match (e.checked_div(len), e.checked_rem(len)) {
        (Some(row), Some(col)) => (row, col),
        _ => return Err(Stop::Step(StepError::Shape("empty output rows"))),
    };
    verify_row(&proof.node.output_root, info, row, &proof.output_row)?;
    let committed = *proof
        .output_row
        .data
        .get(col)
        .ok_or(StepError::Shape("output row shorter than its shape"))?;
    let channel_root = &proof.node.header.channel_root;
    let channel = verified_channel(index, &node, e, channel_root, proof.channel.as_ref())?;
    let (infos, rows) = verified_inputs(model_root, exec_root, node_count, &node, proof)?;
    let infos: Vec<&TensorInfo> = infos.iter().collect();
    validate_against_inputs(index as usize, &node, &infos)
        .map_err(|reason| Stop::Model(index, reason))?;
    // Everything compute_element relies on is now validated, so it only refuses on a
    // missing input row (the sender's fault).
    let get = |slot: usize, i: usize| {
        let len = infos.get(slot)?.row_len();
        let row = rows.get(&(slot, i.checked_div(len)?))?;
        row.get(i.checked_rem(len)?).copied()
    };
    let recomputed = compute_element(&node, &infos, channel, e, get).map_err(StepError::from)?;
    Ok(if recomputed == committed {
        StepVerdict::Consistent { value: committed }
    } else {
        StepVerdict::Mismatch {
            committed,
            recomputed,
        }
    })
}

/// The opened channel of element `e` (for dense and conv), proven under the node's channel
/// root and then validated.
fn verified_channel<'a>(
    index: u32,
    node: &Node,
    e: usize,
    channel_root: &Hash,
    opening: Option<&'a ChannelOpening>,
) -> Result<Option<ChannelRef<'a>>, Stop> {
    let (dims, o) = (node.op.channel_dims(), output_channel(node, e));
    let (Some((out, depth)), Some(o), Some(c)) = (dims, o, opening) else {
        return if dims.is_none() && opening.is_none() {
            Ok(None)
        } else {
            Err(Stop::Step(StepError::Shape(
                "channel opening present iff the op has weights",
            )))
        };
    };
    verify_channel(channel_root, out, depth, o, c)?;
    let channel = ChannelRef {
        weights: &c.weights,
        bias: c.bias,
        multiplier: c.multiplier,
    };
    validate_channel(index as usize, &node.op, channel)
        .map_err(|reason| Stop::Model(index, reason))?;
    Ok(Some(channel))
}

/// Opened rows of the inputs, by `(slot, row)`.
type Rows<'a> = BTreeMap<(usize, usize), &'a [i8]>;

/// The inputs' output infos (each header proven and valid on its own, in the node's input
/// order) and their opened rows (each proven under its input's output root).
fn verified_inputs<'a>(
    model_root: &Hash,
    exec_root: &Hash,
    node_count: usize,
    node: &Node,
    proof: &'a StepProof,
) -> Result<(Vec<TensorInfo>, Rows<'a>), Stop> {
    if proof.inputs.len() != node.inputs.len() || node.inputs.len() > NODE_INPUTS_MAX {
        return Err(Stop::Step(StepError::Shape("one opening per input")));
    }
    let opened = proof
        .inputs
        .iter()
        .fold(0usize, |n, i| n.saturating_add(i.rows.len()));
    if opened > STEP_ROWS_MAX {
        return Err(Stop::Step(StepError::Shape("too many rows opened")));
    }
    let mut infos = Vec::with_capacity(proof.inputs.len());
    let mut rows = Rows::new();
    for (slot, (input, &want)) in proof.inputs.iter().zip(&node.inputs).enumerate() {
        if input.node.index != want {
            return Err(Stop::Step(StepError::Shape(
                "input opening is for another node",
            )));
        }
        let in_node = verify_opening(model_root, exec_root, node_count, &input.node)?;
        for r in &input.rows {
            let row = r.proof.index as usize;
            verify_row(&input.node.output_root, &in_node.output, row, r)?;
            rows.insert((slot, row), &r.data);
        }
        infos.push(in_node.output);
    }
    Ok((infos, rows))
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
    let bad_node = || StepError::BadNode {
        index: u32::try_from(index).unwrap_or(u32::MAX),
        count: nodes.len(),
    };
    let node = nodes
        .get(index)
        .filter(|_| index > 0)
        .ok_or_else(bad_node)?;
    let elements = node.output.elements();
    let element_u32 = u32::try_from(element).ok().filter(|_| element < elements);
    let element_u32 = element_u32.ok_or(StepError::BadElement {
        element: u32::try_from(element).unwrap_or(u32::MAX),
        elements,
    })?;
    let uncovered = StepError::Shape("the commitments or trace do not cover the node");
    let channel = match output_channel(node, element) {
        Some(o) => Some(
            model
                .open_channel(graph, index, o)
                .ok_or(uncovered.clone())?,
        ),
        None => None,
    };
    let needed = needed_rows(graph, trace, node, element, channel.as_ref())?;
    let open = |i: usize| open_node(model, exec, i).ok_or(uncovered.clone());
    let mut inputs = Vec::with_capacity(node.inputs.len());
    for (&j, rows) in node.inputs.iter().zip(&needed) {
        let j = j as usize;
        let rows = rows
            .iter()
            .map(|&r| exec.open_row(graph, trace, j, r))
            .collect::<Option<_>>()
            .ok_or(uncovered.clone())?;
        inputs.push(InputOpening {
            node: open(j)?,
            rows,
        });
    }
    let row = element
        .checked_div(node.output.row_len())
        .ok_or(uncovered.clone())?;
    Ok(StepProof {
        node: open(index)?,
        element: element_u32,
        output_row: exec
            .open_row(graph, trace, index, row)
            .ok_or(uncovered.clone())?,
        channel,
        inputs,
    })
}

fn open_node(model: &ModelCommitment, exec: &ExecCommitment, i: usize) -> Option<NodeOpening> {
    Some(NodeOpening {
        index: u32::try_from(i).ok()?,
        header: model.open_header(i)?,
        output_root: *exec.node_roots.get(i)?,
        output_proof: exec.prove_node(i)?,
    })
}

/// Which rows of each input the element reads: recorded by computing it on the full trace.
fn needed_rows(
    graph: &Graph,
    trace: &Trace,
    node: &Node,
    element: usize,
    channel: Option<&ChannelOpening>,
) -> Result<Vec<BTreeSet<usize>>, StepError> {
    let nodes = graph.nodes();
    let infos: Vec<&TensorInfo> = node
        .inputs
        .iter()
        .filter_map(|&j| nodes.get(j as usize).map(|n| &n.output))
        .collect();
    let ch_ref = channel.map(|c| ChannelRef {
        weights: &c.weights,
        bias: c.bias,
        multiplier: c.multiplier,
    });
    let mut needed = vec![BTreeSet::new(); node.inputs.len()];
    compute_element(node, &infos, ch_ref, element, |slot, i| {
        let row = i.checked_div(infos.get(slot)?.row_len())?;
        needed.get_mut(slot)?.insert(row);
        let j = *node.inputs.get(slot)? as usize;
        trace.outputs.get(j)?.get(i).copied()
    })?;
    Ok(needed)
}
