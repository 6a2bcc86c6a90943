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

use crate::encode::{DecodeError, decode_node_header, encode_header};
use crate::engine::Trace;
use crate::graph::{ChannelRef, Graph, Node, TensorInfo};
use crate::merkle::{self, Hash, Proof};
use crate::requant::Multiplier;

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
    /// An opened node header is proven under the model root but does not decode: the root
    /// commits to bytes no graph has (checked only after the proof, so this variant always
    /// means "proven, and invalid").
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
    // A rank over 255 is no tensor's (RANK_MAX = 4); saturating keeps it from aliasing one.
    let mut b = vec![u8::try_from(shape.len()).unwrap_or(u8::MAX)];
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
    // Every proof's count is a u32 and is compared with `count` first, so a count past
    // u32::MAX never verifies; saturating only keeps the binding total.
    let count = u32::try_from(count).unwrap_or(u32::MAX);
    merkle::tagged(tag, &[&count.to_le_bytes(), &tree])
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
    /// Commits `trace` (which must come from running `graph`, or at least hold tensors of its
    /// shapes: a liar's trace). One tensor root per graph node whatever `trace` holds; a
    /// missing or mis-sized output is committed as the rows it has.
    pub fn new(graph: &Graph, trace: &Trace) -> Self {
        let tensors = graph.nodes().iter().enumerate().map(|(i, node)| {
            let data = trace.outputs.get(i).map_or(&[][..], Vec::as_slice);
            (&node.output.shape[..], data)
        });
        Self::from_tensors(tensors)
    }

    /// Commits `(shape, data)` per node, for any shapes and data (graph or not).
    pub(crate) fn from_tensors<'a>(tensors: impl Iterator<Item = (&'a [u32], &'a [i8])>) -> Self {
        let mut node_roots = Vec::new();
        let mut row_leaves = Vec::new();
        for (shape, data) in tensors {
            let row_len = shape.last().map_or(1, |&d| d as usize).max(1);
            let leaves: Vec<Hash> = data.chunks(row_len).map(row_leaf).collect();
            node_roots.push(bind_shape(shape, merkle::root(&leaves)));
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

    /// Proof of node `i`'s tensor root under the execution root (`None`: no node `i`).
    pub fn prove_node(&self, i: usize) -> Option<Proof> {
        Proof::new(&self.node_leaves, i)
    }

    /// Row `row` of node `i`'s output with its proof (`None`: no such node or row in `graph`
    /// and `trace`).
    pub fn open_row(
        &self,
        graph: &Graph,
        trace: &Trace,
        i: usize,
        row: usize,
    ) -> Option<RowOpening> {
        let len = graph.nodes().get(i)?.output.row_len();
        self.open_row_of(trace.outputs.get(i)?, len, i, row)
    }

    /// Row `row` of node `i`, whose output is `data` in rows of `len`.
    pub(crate) fn open_row_of(
        &self,
        data: &[i8],
        len: usize,
        i: usize,
        row: usize,
    ) -> Option<RowOpening> {
        let start = row.checked_mul(len)?;
        Some(RowOpening {
            data: data.get(start..start.checked_add(len)?)?.to_vec(),
            proof: Proof::new(self.row_leaves.get(i)?, row)?,
        })
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

/// `H(CHANNEL ‖ weights ‖ bias ‖ m ‖ shift)`.
fn channel_leaf(c: ChannelRef<'_>) -> Hash {
    let mut bytes: Vec<u8> = Vec::with_capacity(c.weights.len().saturating_add(9));
    bytes.extend(c.weights.iter().map(|&w| w as u8)); // i8 → u8: the same bits
    bytes.extend_from_slice(&c.bias.to_le_bytes());
    bytes.extend_from_slice(&c.multiplier.m.to_le_bytes());
    bytes.push(c.multiplier.shift);
    merkle::tagged(merkle::CHANNEL, &[&bytes])
}

fn model_leaf(header: &[u8], channel_root: &Hash) -> Hash {
    merkle::tagged(merkle::MODEL_NODE, &[header, channel_root])
}

/// Output channel `o` of `node` as committed: its weights row (empty if there is none), bias
/// and multiplier. `None` past the node's biases. For a node of a [`Graph`] this is exactly
/// row `o` of its [`crate::Channels`].
fn channel_of(node: &Node, o: usize) -> Option<ChannelRef<'_>> {
    let c = node.channels.as_ref()?;
    let (_, depth) = node.op.channel_dims()?;
    Some(ChannelRef {
        weights: c.row(o, depth).unwrap_or(&[]),
        bias: *c.bias.get(o)?,
        multiplier: c
            .multipliers
            .get(o)
            .copied()
            .unwrap_or(Multiplier { m: 0, shift: 0 }),
    })
}

impl ModelCommitment {
    /// Commits `graph`.
    pub fn new(graph: &Graph) -> Self {
        Self::from_nodes(graph.nodes())
    }

    /// Commits any nodes, valid or not (for a [`Graph`]'s nodes, the same as [`Self::new`]):
    /// each node's header and one channel leaf per bias it has (`out` for a valid node).
    pub(crate) fn from_nodes(nodes: &[Node]) -> Self {
        let mut headers = Vec::with_capacity(nodes.len());
        let mut channel_roots = Vec::with_capacity(nodes.len());
        let mut channel_leaves = Vec::with_capacity(nodes.len());
        for node in nodes {
            let mut header = Vec::new();
            encode_header(node, &mut header);
            headers.push(header);
            let out = match (&node.channels, node.op.channel_dims()) {
                (Some(c), Some(_)) => c.bias.len(),
                _ => 0,
            };
            let leaves: Vec<Hash> = (0..out)
                .filter_map(|o| channel_of(node, o).map(channel_leaf))
                .collect();
            let root = if leaves.is_empty() {
                [0; 32]
            } else {
                counted_root(merkle::CHANNELS, out as u64, merkle::root(&leaves))
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

    /// Node `i`'s header with its proof (`None`: no node `i`).
    pub fn open_header(&self, i: usize) -> Option<HeaderOpening> {
        Some(HeaderOpening {
            header: self.headers.get(i)?.clone(),
            channel_root: *self.channel_roots.get(i)?,
            proof: Proof::new(&self.node_leaves, i)?,
        })
    }

    /// Output channel `o` of node `i` (a dense or conv node of `graph`, the graph committed)
    /// with its proof; `None` if there is no such channel.
    pub fn open_channel(&self, graph: &Graph, i: usize, o: usize) -> Option<ChannelOpening> {
        self.open_channel_of(graph.nodes().get(i)?, i, o)
    }

    /// [`Self::open_channel`] for node `i` given as `node` (graph or not).
    pub(crate) fn open_channel_of(
        &self,
        node: &Node,
        i: usize,
        o: usize,
    ) -> Option<ChannelOpening> {
        let c = channel_of(node, o)?;
        Some(ChannelOpening {
            weights: c.weights.to_vec(),
            bias: c.bias,
            multiplier: c.multiplier,
            proof: Proof::new(self.channel_leaves.get(i)?, o)?,
        })
    }
}

/// Checks a header opening for node `index` of `node_count` under `model_root`; returns the
/// decoded node (without channels). The proof is checked first, so
/// [`ProofError::Header`] means the bytes are proven under the root and do not decode; the
/// decoded node is *not* validated (see `crate::step::verify_valid_header`).
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
    let leaf = channel_leaf(ChannelRef {
        weights: &opening.weights,
        bias: opening.bias,
        multiplier: opening.multiplier,
    });
    check(
        "channel",
        &opening.proof,
        channel as u64,
        channels as u64,
        leaf,
        bound,
        channel_root,
    )
}
