//! The model: a validated list of nodes, each an op over earlier nodes' outputs.
//!
//! Tensors are int8, row-major; images are `[height, width, channels]` (one sample, no batch
//! axis). A node's output carries its shape and zero point; scales never appear here (they
//! are folded into the integer [`Multiplier`]s by the off-chain quantizer).
//!
//! Validation comes in three pieces, so that the chain can run exactly the checks a graph
//! decode runs on the few headers and channels a dispute opens:
//!
//! - [`validate_header`]: one node header on its own, its index known (op parameters in range,
//!   output shape within limits, arity, inputs naming earlier nodes, `Input` iff node 0);
//! - [`validate_against_inputs`]: a header against its inputs' [`TensorInfo`]s (shape
//!   relations, zero points passed through);
//! - [`validate_channel`]: one output channel's parameters (weights `depth` long, bias within
//!   ±[`BIAS_ABS_MAX`], multiplier valid).
//!
//! [`Graph::new`] runs all three on every node (plus the channel counts), and
//! `cairn_infer::step::verify_step` runs them on every header and channel it opens under a model
//! root: a commitment to a header that fails them is a commitment to a model no graph has.
//!
//! Invariant: a [`Graph`] that exists has passed [`Graph::new`]'s checks, so running it cannot
//! index out of bounds, overflow an accumulator, or divide by zero. The validators themselves
//! are total: any header, however hostile, gets a [`GraphError`], never a panic (shape
//! arithmetic is checked, in `u64`).
#![deny(clippy::float_arithmetic)]

use crate::encode::DecodeError;
use crate::requant::{Multiplier, SHIFT_MAX};

/// Most nodes in a graph.
pub const NODES_MAX: usize = 4096;
/// Most inputs of one node.
pub const NODE_INPUTS_MAX: usize = 2;
/// Highest tensor rank.
pub const RANK_MAX: usize = 4;
/// Largest single dimension.
pub const DIM_MAX: u32 = 1 << 16;
/// Most elements in one tensor.
pub const TENSOR_ELEMENTS_MAX: usize = 1 << 22;
/// Longest dot product (dense `in_features`, conv `kh·kw·ic`). With `|x - zp| <= 255`,
/// `|w| <= 128` and `|bias| <= BIAS_ABS_MAX` the int32 accumulator stays below
/// `32_768 · 32_640 + 2^30 < 2^31`: it can never overflow.
pub const DEPTH_MAX: usize = 32_768;
/// Largest bias magnitude.
pub const BIAS_ABS_MAX: i32 = 1 << 30;
/// Most weights in one node.
pub const WEIGHTS_MAX: usize = 1 << 25;
/// Largest pooling window side (a window reads at most 64² elements).
pub const POOL_KERNEL_MAX: u32 = 64;
/// Widest argmax axis: the index must fit in an int8 output.
pub const ARGMAX_AXIS_MAX: u32 = 128;
/// Softmax table entries (one per `max - x` difference of two int8 values).
pub const SOFTMAX_TABLE_LEN: usize = 256;
/// `exp(0)` in the softmax table's fixed point (Q16).
pub const SOFTMAX_ONE: u32 = 1 << 16;
/// Softmax outputs have scale 1/256 and this zero point: `p = (q + 128) / 256`.
pub const SOFTMAX_ZERO_POINT: i8 = -128;

/// Shape and zero point of a node's output.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorInfo {
    /// Dimensions, row-major.
    pub shape: Vec<u32>,
    /// The int8 value that means real zero.
    pub zero_point: i8,
}

impl TensorInfo {
    /// Number of elements.
    pub fn elements(&self) -> usize {
        elements(&self.shape)
    }

    /// Length of one row (the last dimension): the unit of commitment leaves.
    pub fn row_len(&self) -> usize {
        self.shape.last().map_or(1, |&d| d as usize)
    }

    /// Number of rows (0 if a dimension is 0).
    pub fn rows(&self) -> usize {
        self.elements().checked_div(self.row_len()).unwrap_or(0)
    }
}

/// Product of `shape` (saturating, so hostile shapes cannot wrap).
pub fn elements(shape: &[u32]) -> usize {
    shape
        .iter()
        .fold(1usize, |n, &d| n.saturating_mul(d as usize))
}

/// Convolution geometry on `[h, w, in_channels]` inputs, zero-padded by `pad` on every side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvGeom {
    /// Input channels.
    pub in_channels: u32,
    /// Output channels.
    pub out_channels: u32,
    /// Kernel height.
    pub kernel_h: u32,
    /// Kernel width.
    pub kernel_w: u32,
    /// Stride (both axes).
    pub stride: u32,
    /// Padding on each side (both axes), filled with the input zero point (real 0).
    pub pad: u32,
}

impl ConvGeom {
    /// Dot-product length `kh · kw · ic`, or `None` if it overflows `usize`.
    pub fn checked_depth(&self) -> Option<usize> {
        (self.kernel_h as usize)
            .checked_mul(self.kernel_w as usize)?
            .checked_mul(self.in_channels as usize)
    }

    /// Dot-product length `kh · kw · ic`, saturating at `usize::MAX` (any value over
    /// [`DEPTH_MAX`] is invalid, so saturation never changes a verdict).
    pub fn depth(&self) -> usize {
        self.checked_depth().unwrap_or(usize::MAX)
    }
}

/// Square pooling window without padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolGeom {
    /// Window side.
    pub kernel: u32,
    /// Stride (both axes).
    pub stride: u32,
}

/// What a node computes. Integer semantics of each op are in [`crate::engine`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// The graph input (node 0 only).
    Input,
    /// `y[.., o] = requant(bias[o] + Σ_k (x[.., k] - zp_x) · w[o, k], M[o]) + zp_y`.
    Dense {
        /// `K`.
        in_features: u32,
        /// `N`.
        out_features: u32,
    },
    /// 2-D convolution; weights `[oc, kh, kw, ic]`, per-output-channel multipliers.
    Conv2d(ConvGeom),
    /// `max(x, zp)`; output quantization equals the input's.
    Relu,
    /// Window maximum; output quantization equals the input's.
    MaxPool(PoolGeom),
    /// `requant(Σ_window (x - zp_x), M) + zp_y` (`M` includes the `1/k²`).
    AvgPool {
        /// Window.
        pool: PoolGeom,
        /// `s_x / (s_y · k²)`.
        multiplier: Multiplier,
    },
    /// Reshape to one dimension (row-major order is unchanged).
    Flatten,
    /// `round_half_up(((a - zp_a) · ma + (b - zp_b) · mb) / 2^shift) + zp_y`.
    Add {
        /// `s_a / s_y · 2^shift`.
        ma: i32,
        /// `s_b / s_y · 2^shift`.
        mb: i32,
        /// Common shift, `1..=62`.
        shift: u8,
    },
    /// Index of the first maximum along the last axis (zero point 0).
    Argmax,
    /// Softmax along the last axis by table: `e_j = table[max - x_j]` (Q16, `table[0] = 2^16`),
    /// `y_j = min((e_j · 256 + S/2) / S, 255) - 128` with `S = Σ e` (output scale 1/256).
    Softmax {
        /// `round(exp(-s_x · d) · 2^16)` for `d` in `0..256`.
        table: Vec<u32>,
    },
}

impl Op {
    /// Stable name for errors and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input => "input",
            Op::Dense { .. } => "dense",
            Op::Conv2d(_) => "conv2d",
            Op::Relu => "relu",
            Op::MaxPool(_) => "maxpool",
            Op::AvgPool { .. } => "avgpool",
            Op::Flatten => "flatten",
            Op::Add { .. } => "add",
            Op::Argmax => "argmax",
            Op::Softmax { .. } => "softmax",
        }
    }

    /// `(output channels, dot depth)` for ops with weights.
    pub fn channel_dims(&self) -> Option<(usize, usize)> {
        match self {
            Op::Dense {
                in_features,
                out_features,
            } => Some((*out_features as usize, *in_features as usize)),
            Op::Conv2d(g) => Some((g.out_channels as usize, g.depth())),
            _ => None,
        }
    }
}

/// Per-output-channel parameters of a dense or conv node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Channels {
    /// `[out, depth]` int8, symmetric (zero point 0).
    pub weights: Vec<i8>,
    /// `[out]` at scale `s_x · s_w[o]`.
    pub bias: Vec<i32>,
    /// `[out]`: `s_x · s_w[o] / s_y`.
    pub multipliers: Vec<Multiplier>,
}

impl Channels {
    /// Weights of output channel `o` (`depth` long), or `None` if there is no such row.
    pub fn row(&self, o: usize, depth: usize) -> Option<&[i8]> {
        let start = o.checked_mul(depth)?;
        self.weights.get(start..start.checked_add(depth)?)
    }
}

/// One output channel's parameters: a row of [`Channels`], or what a dispute opens.
#[derive(Clone, Copy, Debug)]
pub struct ChannelRef<'a> {
    /// Weights of the channel (`depth` long).
    pub weights: &'a [i8],
    /// Its bias.
    pub bias: i32,
    /// Its multiplier.
    pub multiplier: Multiplier,
}

/// One node: an op, the earlier nodes it reads, and its output's shape and zero point.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Node {
    /// The op.
    pub op: Op,
    /// Indices of earlier nodes.
    pub inputs: Vec<u32>,
    /// Output shape and zero point.
    pub output: TensorInfo,
    /// Weights, for dense and conv only.
    pub channels: Option<Channels>,
}

impl Node {
    /// A node without weights (set [`Node::channels`] for dense and conv).
    pub fn new(op: Op, inputs: &[u32], shape: &[u32], zero_point: i8) -> Node {
        Node {
            op,
            inputs: inputs.to_vec(),
            output: TensorInfo {
                shape: shape.to_vec(),
                zero_point,
            },
            channels: None,
        }
    }
}

/// Why a graph was rejected. `node` is the offending node's index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// No nodes.
    #[error("graph has no nodes")]
    Empty,
    /// Over [`NODES_MAX`].
    #[error("graph has {got} nodes, at most {max} allowed")]
    TooManyNodes {
        /// Nodes supplied.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// Node 0 must be the only `Input`.
    #[error("node {node}: the input op must be node 0 and only node 0")]
    MisplacedInput {
        /// The node.
        node: usize,
    },
    /// An input index does not name an earlier node.
    #[error("node {node}: input {input} is not an earlier node")]
    UnknownInput {
        /// The node.
        node: usize,
        /// The bad index.
        input: u32,
    },
    /// Wrong number of inputs.
    #[error("node {node} ({op}): expected {expected} inputs, got {got}")]
    Arity {
        /// The node.
        node: usize,
        /// Op name.
        op: &'static str,
        /// Inputs the op takes.
        expected: usize,
        /// Inputs given.
        got: usize,
    },
    /// A shape is out of limits (rank, a dimension or the element count).
    #[error("node {node}: shape {shape:?} is invalid: {reason}")]
    BadShape {
        /// The node.
        node: usize,
        /// The shape.
        shape: Vec<u32>,
        /// What is wrong.
        reason: &'static str,
    },
    /// The declared output shape or an input's shape is not what the op needs.
    #[error("node {node} ({op}): expected shape {expected:?}, got {got:?}")]
    ShapeMismatch {
        /// The node.
        node: usize,
        /// Op name.
        op: &'static str,
        /// What the op needs or produces.
        expected: Vec<u32>,
        /// What the graph says.
        got: Vec<u32>,
    },
    /// An op that passes quantization through declares another zero point.
    #[error("node {node} ({op}): output zero point must be {expected}, got {got}")]
    ZeroPoint {
        /// The node.
        node: usize,
        /// Op name.
        op: &'static str,
        /// Required.
        expected: i8,
        /// Declared.
        got: i8,
    },
    /// An op parameter is out of range.
    #[error("node {node} ({op}): {reason}")]
    BadParam {
        /// The node.
        node: usize,
        /// Op name.
        op: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A header committed under a model root is not the encoding of any node header.
    #[error("node {node}: header bytes do not decode: {error}")]
    Undecodable {
        /// The node.
        node: usize,
        /// Why (boxed: a [`DecodeError`] can itself hold a [`GraphError`]).
        error: Box<DecodeError>,
    },
}

/// A validated graph; the last node is the output.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Graph {
    nodes: Vec<Node>,
}

impl Graph {
    /// Validates `nodes` (see [`GraphError`]): every node's header on its own, its channels,
    /// and its header against its inputs'.
    pub fn new(nodes: Vec<Node>) -> Result<Self, GraphError> {
        if nodes.is_empty() {
            return Err(GraphError::Empty);
        }
        if nodes.len() > NODES_MAX {
            return Err(GraphError::TooManyNodes {
                got: nodes.len(),
                max: NODES_MAX,
            });
        }
        for (i, node) in nodes.iter().enumerate() {
            validate_header(i, node)?;
            validate_channels(i, node)?;
            // validate_header proved every input index is below i, so each lookup succeeds.
            let inputs: Vec<&TensorInfo> = node
                .inputs
                .iter()
                .map(|&j| nodes.get(j as usize).map(|n| &n.output))
                .collect::<Option<_>>()
                .ok_or(GraphError::UnknownInput {
                    node: i,
                    input: node.inputs.first().copied().unwrap_or(0),
                })?;
            validate_against_inputs(i, node, &inputs)?;
        }
        Ok(Self { nodes })
    }

    /// The nodes, in execution order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Number of nodes (never 0).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a graph has an input node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The input's shape and zero point.
    #[allow(
        clippy::indexing_slicing,
        reason = "Graph::new rejects an empty node list, so node 0 exists"
    )]
    pub fn input(&self) -> &TensorInfo {
        &self.nodes[0].output
    }

    /// The output node's shape and zero point.
    #[allow(
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        reason = "Graph::new rejects an empty node list, so len - 1 is a node"
    )]
    pub fn output(&self) -> &TensorInfo {
        &self.nodes[self.nodes.len() - 1].output
    }

    /// Total weights and biases.
    pub fn parameter_count(&self) -> usize {
        self.nodes
            .iter()
            .filter_map(|n| n.channels.as_ref())
            .fold(0usize, |n, c| {
                n.saturating_add(c.weights.len())
                    .saturating_add(c.bias.len())
            })
    }
}

fn check_shape(node: usize, shape: &[u32]) -> Result<(), GraphError> {
    let bad = |reason| {
        Err(GraphError::BadShape {
            node,
            shape: shape.to_vec(),
            reason,
        })
    };
    if shape.is_empty() || shape.len() > RANK_MAX {
        return bad("rank must be 1..=4");
    }
    if shape.iter().any(|&d| d == 0 || d > DIM_MAX) {
        return bad("every dimension must be in 1..=65536");
    }
    if elements(shape) > TENSOR_ELEMENTS_MAX {
        return bad("more than 2^22 elements");
    }
    Ok(())
}

/// Inputs an op reads.
fn arity(op: &Op) -> usize {
    match op {
        Op::Input => 0,
        Op::Add { .. } => 2,
        _ => 1,
    }
}

/// Checks node `index`'s header on its own: its output shape is within limits, it is the
/// `Input` iff it is node 0, it has its op's number of inputs and each names an earlier node,
/// and its op parameters are in range. Ignores [`Node::channels`] (see [`validate_channel`]).
/// Everything a header alone can be wrong about is caught here; relations to the inputs'
/// shapes are [`validate_against_inputs`]'s.
pub fn validate_header(index: usize, node: &Node) -> Result<(), GraphError> {
    check_shape(index, &node.output.shape)?;
    if (index == 0) != matches!(node.op, Op::Input) {
        return Err(GraphError::MisplacedInput { node: index });
    }
    let expected = arity(&node.op);
    if node.inputs.len() != expected {
        return Err(GraphError::Arity {
            node: index,
            op: node.op.name(),
            expected,
            got: node.inputs.len(),
        });
    }
    if let Some(&input) = node.inputs.iter().find(|&&j| j as usize >= index) {
        return Err(GraphError::UnknownInput { node: index, input });
    }
    validate_params(index, node)
}

/// Op parameters in range (the part of [`validate_header`] that looks at the op).
fn validate_params(index: usize, node: &Node) -> Result<(), GraphError> {
    let op = node.op.name();
    match &node.op {
        Op::Input | Op::Relu | Op::Flatten => Ok(()),
        Op::Dense {
            in_features,
            out_features,
        } => check_dot(index, op, *out_features, Some(*in_features as usize)),
        Op::Conv2d(g) => {
            if g.kernel_h == 0
                || g.kernel_w == 0
                || g.stride == 0
                || g.pad >= g.kernel_h.max(g.kernel_w)
            {
                return bad_param(index, op, format!("bad geometry {g:?}"));
            }
            check_dot(index, op, g.out_channels, g.checked_depth())
        }
        Op::MaxPool(p) => check_window(index, op, *p),
        Op::AvgPool { pool, multiplier } => {
            check_window(index, op, *pool)?;
            check_multiplier(index, op, *multiplier)
        }
        Op::Add { ma, mb, shift } => {
            if *ma < 0 || *mb < 0 || !(1..=SHIFT_MAX).contains(shift) {
                return bad_param(
                    index,
                    op,
                    "multipliers must be >= 0 and shift in 1..=62".into(),
                );
            }
            Ok(())
        }
        Op::Argmax => same_zero_point(index, op, 0, node.output.zero_point),
        Op::Softmax { table } => {
            same_zero_point(index, op, SOFTMAX_ZERO_POINT, node.output.zero_point)?;
            if table.len() != SOFTMAX_TABLE_LEN
                || table.first() != Some(&SOFTMAX_ONE)
                || table.iter().any(|&e| e > SOFTMAX_ONE)
            {
                return bad_param(
                    index,
                    op,
                    "table must have 256 entries, [0] = 2^16, all <= 2^16".into(),
                );
            }
            Ok(())
        }
    }
}

/// A dot product of `depth` (`None`: it overflowed) over `out` channels: depth in
/// `1..=DEPTH_MAX` bounds the int32 accumulator, `out · depth <= WEIGHTS_MAX` the weights.
fn check_dot(
    index: usize,
    op: &'static str,
    out: u32,
    depth: Option<usize>,
) -> Result<(), GraphError> {
    let depth = match depth {
        Some(d) if (1..=DEPTH_MAX).contains(&d) => d,
        Some(d) => {
            return bad_param(
                index,
                op,
                format!("dot depth {d} must be in 1..={DEPTH_MAX}"),
            );
        }
        None => return bad_param(index, op, "dot depth kh·kw·ic overflows".into()),
    };
    if out == 0 {
        return bad_param(index, op, "needs at least one output channel".into());
    }
    // depth <= 2^15 and out < 2^32, so the u64 product cannot overflow.
    let weights = u64::from(out).saturating_mul(depth as u64);
    if weights > WEIGHTS_MAX as u64 {
        return bad_param(
            index,
            op,
            format!("{out}x{depth} weights exceed {WEIGHTS_MAX}"),
        );
    }
    Ok(())
}

fn check_window(index: usize, op: &'static str, p: PoolGeom) -> Result<(), GraphError> {
    if (1..=POOL_KERNEL_MAX).contains(&p.kernel) && p.stride >= 1 {
        Ok(())
    } else {
        bad_param(index, op, format!("bad window {p:?}"))
    }
}

/// Checks node `index`'s header against its inputs' output infos (`inputs[s]` is the output of
/// node `node.inputs[s]`): the declared output shape is the one the op produces from them, the
/// ops that pass quantization through keep the input's zero point, and the input shapes are
/// ones the op accepts. Expects [`validate_header`] to have passed for the node and for each
/// input; still total (a [`GraphError`], never a panic) if it has not.
pub fn validate_against_inputs(
    index: usize,
    node: &Node,
    inputs: &[&TensorInfo],
) -> Result<(), GraphError> {
    let op = node.op.name();
    if inputs.len() != node.inputs.len() {
        return Err(GraphError::Arity {
            node: index,
            op,
            expected: node.inputs.len(),
            got: inputs.len(),
        });
    }
    let Some(first) = inputs.first() else {
        return Ok(()); // the input node: nothing to relate
    };
    let out = &node.output;
    let expected = match &node.op {
        Op::Input => return Ok(()),
        Op::Dense {
            in_features,
            out_features,
        } => {
            expect_last(index, op, &first.shape, *in_features)?;
            with_last(&first.shape, *out_features)
        }
        Op::Conv2d(g) => conv_shape(index, op, g, &first.shape)?,
        Op::Relu | Op::Flatten | Op::MaxPool(_) => {
            same_zero_point(index, op, first.zero_point, out.zero_point)?;
            match &node.op {
                Op::MaxPool(p) => pool_shape(index, op, *p, &first.shape)?,
                // A valid input has at most 2^22 elements; a hostile one saturates and mismatches.
                Op::Flatten => vec![u32::try_from(first.elements()).unwrap_or(u32::MAX)],
                _ => first.shape.clone(),
            }
        }
        Op::AvgPool { pool, .. } => pool_shape(index, op, *pool, &first.shape)?,
        Op::Add { .. } => {
            let second = inputs.get(1).map_or(&[][..], |b| &b.shape[..]);
            expect_shape(index, op, &first.shape, second)?;
            first.shape.clone()
        }
        Op::Argmax => argmax_shape(index, op, &first.shape)?,
        Op::Softmax { .. } => first.shape.clone(),
    };
    expect_shape(index, op, &expected, &out.shape)
}

fn with_last(shape: &[u32], last: u32) -> Vec<u32> {
    let mut s = shape.to_vec();
    if let Some(l) = s.last_mut() {
        *l = last;
    }
    s
}

fn argmax_shape(index: usize, op: &'static str, shape: &[u32]) -> Result<Vec<u32>, GraphError> {
    let Some((&axis, rest)) = shape.split_last() else {
        return Err(GraphError::ShapeMismatch {
            node: index,
            op,
            expected: vec![0],
            got: Vec::new(),
        });
    };
    if axis > ARGMAX_AXIS_MAX {
        return Err(GraphError::BadParam {
            node: index,
            op,
            reason: format!("axis of {axis} exceeds {ARGMAX_AXIS_MAX}"),
        });
    }
    Ok(if rest.is_empty() {
        vec![1]
    } else {
        rest.to_vec()
    })
}

/// Checks one output channel of a dense or conv node `index` (whose op is `op`): its weights
/// are the op's dot depth long, its bias is within ±[`BIAS_ABS_MAX`] (which, with
/// [`DEPTH_MAX`], keeps the int32 accumulator from overflowing) and its multiplier is valid.
pub fn validate_channel(index: usize, op: &Op, channel: ChannelRef<'_>) -> Result<(), GraphError> {
    let name = op.name();
    let Some((_, depth)) = op.channel_dims() else {
        return bad_param(index, name, "weights present on an op without them".into());
    };
    if channel.weights.len() != depth {
        return bad_param(
            index,
            name,
            format!(
                "channel has {} weights, expected {depth}",
                channel.weights.len()
            ),
        );
    }
    if channel.bias.unsigned_abs() > BIAS_ABS_MAX.unsigned_abs() {
        return bad_param(index, name, format!("bias {} exceeds ±2^30", channel.bias));
    }
    check_multiplier(index, name, channel.multiplier)
}

/// The channels of node `index` as [`Graph::new`] holds them: present iff the op has weights,
/// `out · depth` weights and `out` biases and multipliers, each channel valid.
fn validate_channels(index: usize, node: &Node) -> Result<(), GraphError> {
    let op = node.op.name();
    let (Some((out, depth)), Some(c)) = (node.op.channel_dims(), &node.channels) else {
        return if node.op.channel_dims().is_some() == node.channels.is_some() {
            Ok(())
        } else {
            bad_param(
                index,
                op,
                "weights present on an op without them, or missing".into(),
            )
        };
    };
    // validate_header bounded out · depth by WEIGHTS_MAX, so the product cannot overflow.
    if Some(c.weights.len()) != out.checked_mul(depth)
        || c.bias.len() != out
        || c.multipliers.len() != out
    {
        return bad_param(
            index,
            op,
            format!(
                "expected {out}x{depth} weights and {out} biases/multipliers, got {}, {}, {}",
                c.weights.len(),
                c.bias.len(),
                c.multipliers.len()
            ),
        );
    }
    let rows = c.weights.chunks_exact(depth.max(1));
    for ((weights, &bias), &multiplier) in rows.zip(&c.bias).zip(&c.multipliers) {
        let channel = ChannelRef {
            weights,
            bias,
            multiplier,
        };
        validate_channel(index, &node.op, channel)?;
    }
    Ok(())
}

fn bad_param<T>(node: usize, op: &'static str, reason: String) -> Result<T, GraphError> {
    Err(GraphError::BadParam { node, op, reason })
}

fn check_multiplier(node: usize, op: &'static str, m: Multiplier) -> Result<(), GraphError> {
    if m.is_valid() {
        Ok(())
    } else {
        bad_param(node, op, format!("multiplier {m:?} out of range"))
    }
}

fn same_zero_point(node: usize, op: &'static str, expected: i8, got: i8) -> Result<(), GraphError> {
    if expected == got {
        Ok(())
    } else {
        Err(GraphError::ZeroPoint {
            node,
            op,
            expected,
            got,
        })
    }
}

fn expect_shape(
    node: usize,
    op: &'static str,
    expected: &[u32],
    got: &[u32],
) -> Result<(), GraphError> {
    if expected == got {
        Ok(())
    } else {
        Err(GraphError::ShapeMismatch {
            node,
            op,
            expected: expected.to_vec(),
            got: got.to_vec(),
        })
    }
}

fn expect_last(node: usize, op: &'static str, shape: &[u32], last: u32) -> Result<(), GraphError> {
    if shape.last() == Some(&last) {
        return Ok(());
    }
    expect_shape(node, op, &with_last(shape, last), shape)
}

/// `[h, w, c]` of an image input, or a shape mismatch naming what was expected.
fn image(
    node: usize,
    op: &'static str,
    input: &[u32],
    channels: u32,
) -> Result<[u64; 3], GraphError> {
    match input {
        &[h, w, c] => Ok([u64::from(h), u64::from(w), u64::from(c)]),
        _ => Err(GraphError::ShapeMismatch {
            node,
            op,
            expected: vec![0, 0, channels],
            got: input.to_vec(),
        }),
    }
}

/// `(size - kernel) / stride + 1` in `u64`, or `None` if the window does not fit. Every
/// operand is below 2^34, so nothing here can overflow; the checked forms say so to the lint.
fn windows(size: u64, kernel: u64, stride: u64) -> Option<u32> {
    let span = size.checked_sub(kernel)?;
    u32::try_from(span.checked_div(stride)?.checked_add(1)?).ok()
}

fn conv_shape(
    node: usize,
    op: &'static str,
    g: &ConvGeom,
    input: &[u32],
) -> Result<Vec<u32>, GraphError> {
    let [h, w, _] = image(node, op, input, g.in_channels)?;
    expect_last(node, op, input, g.in_channels)?;
    let pad2 = u64::from(g.pad).saturating_mul(2);
    let (ph, pw) = (h.saturating_add(pad2), w.saturating_add(pad2));
    let oh = windows(ph, u64::from(g.kernel_h), u64::from(g.stride));
    let ow = windows(pw, u64::from(g.kernel_w), u64::from(g.stride));
    match (oh, ow) {
        (Some(oh), Some(ow)) => Ok(vec![oh, ow, g.out_channels]),
        _ => bad_param(
            node,
            op,
            format!("kernel larger than padded input {input:?}"),
        ),
    }
}

fn pool_shape(
    node: usize,
    op: &'static str,
    p: PoolGeom,
    input: &[u32],
) -> Result<Vec<u32>, GraphError> {
    let [h, w, c] = image(node, op, input, 0)?;
    let (k, s) = (u64::from(p.kernel), u64::from(p.stride));
    match (windows(h, k, s), windows(w, k, s), u32::try_from(c)) {
        (Some(oh), Some(ow), Ok(c)) if p.kernel >= 1 => Ok(vec![oh, ow, c]),
        _ => bad_param(node, op, format!("bad window {p:?} for input {input:?}")),
    }
}
