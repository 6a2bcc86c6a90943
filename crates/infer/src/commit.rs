//! Commitments: the model root (weights, per output channel) and the execution root (every
//! node's output tensor, per row), with openings and their verification.
//!
//! ```text
//! tensor root    = H(TENSOR ‖ rank:u8 ‖ dims:u32* ‖ merkle(H(ROW ‖ row bytes) per row))
//! execution root = H(EXECUTION ‖ count:u32 ‖ merkle(H(NODE_OUTPUT ‖ tensor root_i)))
//! channel root   = H(CHANNELS ‖ count:u32 ‖ merkle(H(CHANNEL ‖ weights ‖ bias ‖ m ‖ shift)))
//!                  (32 zero bytes for ops without weights)
//! model root     = H(MODEL ‖ count:u32 ‖ merkle(H(MODEL_NODE ‖ header ‖ channel root_i)))
//! ```
//!
//! A row is a run of the last dimension (one pixel's channels, one dense vector), the unit a
//! one-step check opens. The model root is the dispute-friendly counterpart of
//! [`Graph::hash`]: both are pure functions of the graph.
#![deny(clippy::float_arithmetic)]

use crate::encode::{DecodeError, decode_node_header, encode_channel_row, encode_header};
use crate::engine::Trace;
use crate::graph::{Graph, Node, TensorInfo};
use crate::merkle::{self, Hash, Proof};

/// Why an opening does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The proof is for another position or tree size than the one claimed.
    #[error(
        "{what}: proof is for leaf {index} of {count}, expected leaf {expected_index} of {expected_count}"
    )]
    Position {
        /// Which opening.
        what: &'static str,
        /// Proof's index.
        index: u32,
        /// Proof's count.
        count: u32,
        /// Required index.
        expected_index: u64,
        /// Required count.
        expected_count: u64,
    },
    /// The recomputed root differs from the committed one.
    #[error("{what}: proof does not lead to the committed root")]
    RootMismatch {
        /// Which opening.
        what: &'static str,
    },
    /// Opened data has the wrong length.
    #[error("{what}: opened {got} values, expected {expected}")]
    Length {
        /// Which opening.
        what: &'static str,
        /// Required.
        expected: usize,
        /// Opened.
        got: usize,
    },
    /// An opened node header does not decode.
    #[error("node header: {0}")]
    Header(#[from] DecodeError),
}

fn check(
    what: &'static str,
    proof: &Proof,
    index: u64,
    count: u64,
    leaf: Hash,
    bound: impl Fn(Hash) -> Hash,
    root: &Hash,
) -> Result<(), ProofError> {
    if u64::from(proof.index) != index || u64::from(proof.count) != count {
        return Err(ProofError::Position {
            what,
            index: proof.index,
            count: proof.count,
            expected_index: index,
            expected_count: count,
        });
    }
    match proof.climb(leaf) {
        Some(r) if bound(r) == *root => Ok(()),
        _ => Err(ProofError::RootMismatch { what }),
    }
}

fn shape_bytes(shape: &[u32]) -> Vec<u8> {
    let mut b = vec![shape.len() as u8];
    shape
        .iter()
        .for_each(|d| b.extend_from_slice(&d.to_le_bytes()));
    b
}

fn row_leaf(row: &[i8]) -> Hash {
    // i8 → u8 is a bit-for-bit reinterpretation.
    let bytes: Vec<u8> = row.iter().map(|&v| v as u8).collect();
    merkle::tagged(merkle::ROW, &[&bytes])
}

fn bind_shape(shape: &[u32], tree: Hash) -> Hash {
    merkle::tagged(merkle::TENSOR, &[&shape_bytes(shape), &tree])
}

fn counted_root(tag: u8, count: u64, tree: Hash) -> Hash {
    merkle::tagged(tag, &[&(count as u32).to_le_bytes(), &tree])
}

/// Root of a tensor of `shape` holding `data` (row-major), as the execution commitment binds
/// each node's output: the chain derives a request's input root and a result's output root
/// with it. `None` if `data` does not have `shape`'s element count or a dimension is zero.
pub fn tensor_root(shape: &[u32], data: &[i8]) -> Option<Hash> {
    let info = TensorInfo {
        shape: shape.to_vec(),
        zero_point: 0,
    };
    let row_len = info.row_len();
    if row_len == 0 || shape.contains(&0) || data.len() != info.elements() {
        return None;
    }
    let leaves: Vec<Hash> = data.chunks(row_len).map(row_leaf).collect();
    Some(bind_shape(shape, merkle::root(&leaves)))
}

/// The execution commitment of one inference, with what is needed to open it.
#[derive(Clone, Debug)]
pub struct ExecCommitment {
    /// The execution root.
    pub root: Hash,
    /// Each node's tensor root.
    pub node_roots: Vec<Hash>,
    row_leaves: Vec<Vec<Hash>>,
    node_leaves: Vec<Hash>,
}

/// A row of a node's output with its proof under that node's tensor root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowOpening {
    /// The row (`proof.index` is its position).
    pub data: Vec<i8>,
    /// Proof under the tensor root.
    pub proof: Proof,
}

impl ExecCommitment {
    /// Commits `trace` (which must come from running `graph`).
    pub fn new(graph: &Graph, trace: &Trace) -> Self {
        let mut node_roots = Vec::with_capacity(graph.len());
        let mut row_leaves = Vec::with_capacity(graph.len());
        for (node, out) in graph.nodes().iter().zip(&trace.outputs) {
            let leaves: Vec<Hash> = out.chunks(node.output.row_len()).map(row_leaf).collect();
            node_roots.push(bind_shape(&node.output.shape, merkle::root(&leaves)));
            row_leaves.push(leaves);
        }
        let node_leaves: Vec<Hash> = node_roots
            .iter()
            .map(|r| merkle::tagged(merkle::NODE_OUTPUT, &[r]))
            .collect();
        let root = counted_root(
            merkle::EXECUTION,
            node_leaves.len() as u64,
            merkle::root(&node_leaves),
        );
        Self {
            root,
            node_roots,
            row_leaves,
            node_leaves,
        }
    }

    /// Proof of node `i`'s tensor root under the execution root.
    pub fn prove_node(&self, i: usize) -> Proof {
        Proof::new(&self.node_leaves, i)
    }

    /// Row `row` of node `i`'s output with its proof.
    pub fn open_row(&self, graph: &Graph, trace: &Trace, i: usize, row: usize) -> RowOpening {
        let len = graph.nodes()[i].output.row_len();
        RowOpening {
            data: trace.outputs[i][row * len..(row + 1) * len].to_vec(),
            proof: Proof::new(&self.row_leaves[i], row),
        }
    }
}

/// Checks that `tensor_root` is node `index`'s output root under `exec_root` of `node_count` nodes.
pub fn verify_node_root(
    exec_root: &Hash,
    node_count: usize,
    index: usize,
    tensor_root: &Hash,
    proof: &Proof,
) -> Result<(), ProofError> {
    let leaf = merkle::tagged(merkle::NODE_OUTPUT, &[tensor_root]);
    let bound = |r| counted_root(merkle::EXECUTION, node_count as u64, r);
    check(
        "node output root",
        proof,
        index as u64,
        node_count as u64,
        leaf,
        bound,
        exec_root,
    )
}

/// Checks that `opening` is row `row` of a tensor shaped `info` whose root is `tensor_root`.
pub fn verify_row(
    tensor_root: &Hash,
    info: &TensorInfo,
    row: usize,
    opening: &RowOpening,
) -> Result<(), ProofError> {
    if opening.data.len() != info.row_len() {
        return Err(ProofError::Length {
            what: "row",
            expected: info.row_len(),
            got: opening.data.len(),
        });
    }
    let bound = |r| bind_shape(&info.shape, r);
    check(
        "row",
        &opening.proof,
        row as u64,
        info.rows() as u64,
        row_leaf(&opening.data),
        bound,
        tensor_root,
    )
}

/// The model commitment of a graph, with what is needed to open it.
#[derive(Clone, Debug)]
pub struct ModelCommitment {
    /// The model root.
    pub root: Hash,
    headers: Vec<Vec<u8>>,
    channel_roots: Vec<Hash>,
    channel_leaves: Vec<Vec<Hash>>,
    node_leaves: Vec<Hash>,
}

/// A node's header and channel root with its proof under the model root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderOpening {
    /// [`encode_header`] bytes.
    pub header: Vec<u8>,
    /// Root of the node's channels (zeros if it has none).
    pub channel_root: Hash,
    /// Proof under the model root.
    pub proof: Proof,
}

/// One output channel's parameters with a proof under its node's channel root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelOpening {
    /// Weights (`depth` long).
    pub weights: Vec<i8>,
    /// Bias.
    pub bias: i32,
    /// Multiplier.
    pub multiplier: crate::requant::Multiplier,
    /// Proof under the channel root (`proof.index` is the channel).
    pub proof: Proof,
}

fn channel_leaf(c: &ChannelOpening) -> Hash {
    let mut bytes: Vec<u8> = c.weights.iter().map(|&w| w as u8).collect();
    bytes.extend_from_slice(&c.bias.to_le_bytes());
    bytes.extend_from_slice(&c.multiplier.m.to_le_bytes());
    bytes.push(c.multiplier.shift);
    merkle::tagged(merkle::CHANNEL, &[&bytes])
}

fn model_leaf(header: &[u8], channel_root: &Hash) -> Hash {
    merkle::tagged(merkle::MODEL_NODE, &[header, channel_root])
}

impl ModelCommitment {
    /// Commits `graph`.
    pub fn new(graph: &Graph) -> Self {
        let mut headers = Vec::with_capacity(graph.len());
        let mut channel_roots = Vec::with_capacity(graph.len());
        let mut channel_leaves = Vec::with_capacity(graph.len());
        for node in graph.nodes() {
            let mut header = Vec::new();
            encode_header(node, &mut header);
            headers.push(header);
            let (leaves, root) = match (&node.channels, node.op.channel_dims()) {
                (Some(c), Some((out, depth))) => {
                    let leaves: Vec<Hash> = (0..out)
                        .map(|o| {
                            let mut bytes = Vec::with_capacity(depth + 9);
                            encode_channel_row(c, o, depth, &mut bytes);
                            merkle::tagged(merkle::CHANNEL, &[&bytes])
                        })
                        .collect();
                    let root = counted_root(merkle::CHANNELS, out as u64, merkle::root(&leaves));
                    (leaves, root)
                }
                _ => (Vec::new(), [0; 32]),
            };
            channel_leaves.push(leaves);
            channel_roots.push(root);
        }
        let node_leaves: Vec<Hash> = headers
            .iter()
            .zip(&channel_roots)
            .map(|(h, c)| model_leaf(h, c))
            .collect();
        let root = counted_root(
            merkle::MODEL,
            node_leaves.len() as u64,
            merkle::root(&node_leaves),
        );
        Self {
            root,
            headers,
            channel_roots,
            channel_leaves,
            node_leaves,
        }
    }

    /// Node `i`'s header with its proof.
    pub fn open_header(&self, i: usize) -> HeaderOpening {
        HeaderOpening {
            header: self.headers[i].clone(),
            channel_root: self.channel_roots[i],
            proof: Proof::new(&self.node_leaves, i),
        }
    }

    /// Output channel `o` of node `i` (a dense or conv node) with its proof.
    pub fn open_channel(&self, graph: &Graph, i: usize, o: usize) -> ChannelOpening {
        let node = &graph.nodes()[i];
        let c = node.channels.as_ref().expect("node has channels");
        let (_, depth) = node.op.channel_dims().expect("node has channels");
        ChannelOpening {
            weights: c.row(o, depth).to_vec(),
            bias: c.bias[o],
            multiplier: c.multipliers[o],
            proof: Proof::new(&self.channel_leaves[i], o),
        }
    }
}

/// Checks a header opening for node `index` of `node_count` under `model_root`; returns the
/// decoded node (without channels).
pub fn verify_header(
    model_root: &Hash,
    node_count: usize,
    index: usize,
    opening: &HeaderOpening,
) -> Result<Node, ProofError> {
    let leaf = model_leaf(&opening.header, &opening.channel_root);
    let bound = |r| counted_root(merkle::MODEL, node_count as u64, r);
    check(
        "node header",
        &opening.proof,
        index as u64,
        node_count as u64,
        leaf,
        bound,
        model_root,
    )?;
    Ok(decode_node_header(&opening.header)?)
}

/// Checks that `opening` is output channel `channel` of `channels` under `channel_root`.
pub fn verify_channel(
    channel_root: &Hash,
    channels: usize,
    depth: usize,
    channel: usize,
    opening: &ChannelOpening,
) -> Result<(), ProofError> {
    if opening.weights.len() != depth {
        return Err(ProofError::Length {
            what: "channel weights",
            expected: depth,
            got: opening.weights.len(),
        });
    }
    let bound = |r| counted_root(merkle::CHANNELS, channels as u64, r);
    check(
        "channel",
        &opening.proof,
        channel as u64,
        channels as u64,
        channel_leaf(opening),
        bound,
        channel_root,
    )
}
