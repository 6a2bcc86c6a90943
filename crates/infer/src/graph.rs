//! The model: a validated list of nodes, each an op over earlier nodes' outputs.
//!
//! Tensors are int8, row-major; images are `[height, width, channels]` (one sample, no batch
//! axis). A node's output carries its shape and zero point; scales never appear here (they
//! are folded into the integer [`Multiplier`]s by the off-chain quantizer).
//!
//! Invariant: a [`Graph`] that exists has passed [`Graph::new`]'s checks, so running it cannot
//! index out of bounds, overflow an accumulator, or divide by zero.
#![deny(clippy::float_arithmetic)]

use crate::requant::Multiplier;

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

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.elements() / self.row_len().max(1)
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
    /// Dot-product length `kh · kw · ic`.
    pub fn depth(&self) -> usize {
        self.kernel_h as usize * self.kernel_w as usize * self.in_channels as usize
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
    /// Weights of output channel `o` (`depth` long).
    pub fn row(&self, o: usize, depth: usize) -> &[i8] {
        &self.weights[o * depth..(o + 1) * depth]
    }
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
}

/// A validated graph; the last node is the output.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Graph {
    nodes: Vec<Node>,
}

impl Graph {
    /// Validates `nodes` (see [`GraphError`]).
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
        for i in 0..nodes.len() {
            validate_node(&nodes, i)?;
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
    pub fn input(&self) -> &TensorInfo {
        &self.nodes[0].output
    }

    /// The output node's shape and zero point.
    pub fn output(&self) -> &TensorInfo {
        &self.nodes[self.nodes.len() - 1].output
    }

    /// Total weights and biases.
    pub fn parameter_count(&self) -> usize {
        self.nodes
            .iter()
            .filter_map(|n| n.channels.as_ref())
            .map(|c| c.weights.len() + c.bias.len())
            .sum()
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

fn validate_node(nodes: &[Node], i: usize) -> Result<(), GraphError> {
    let node = &nodes[i];
    let op = node.op.name();
    check_shape(i, &node.output.shape)?;
    if (i == 0) != matches!(node.op, Op::Input) {
        return Err(GraphError::MisplacedInput { node: i });
    }
    let arity = match node.op {
        Op::Input => 0,
        Op::Add { .. } => 2,
        _ => 1,
    };
    if node.inputs.len() != arity {
        return Err(GraphError::Arity {
            node: i,
            op,
            expected: arity,
            got: node.inputs.len(),
        });
    }
    if let Some(&input) = node.inputs.iter().find(|&&j| j as usize >= i) {
        return Err(GraphError::UnknownInput { node: i, input });
    }
    check_channels(node, i)?;
    let ins: Vec<&TensorInfo> = node
        .inputs
        .iter()
        .map(|&j| &nodes[j as usize].output)
        .collect();
    let out = &node.output;
    let expected = match &node.op {
        Op::Input => return Ok(()),
        Op::Dense {
            in_features,
            out_features,
        } => {
            expect_last(i, op, &ins[0].shape, *in_features)?;
            let mut s = ins[0].shape.clone();
            *s.last_mut().expect("rank >= 1") = *out_features;
            s
        }
        Op::Conv2d(g) => conv_shape(i, op, g, &ins[0].shape)?,
        Op::Relu | Op::Flatten | Op::MaxPool(_) => {
            same_zero_point(i, op, ins[0].zero_point, out.zero_point)?;
            match &node.op {
                Op::MaxPool(p) => pool_shape(i, op, *p, &ins[0].shape)?,
                Op::Flatten => vec![ins[0].elements() as u32],
                _ => ins[0].shape.clone(),
            }
        }
        Op::AvgPool { pool, multiplier } => {
            check_multiplier(i, op, *multiplier)?;
            pool_shape(i, op, *pool, &ins[0].shape)?
        }
        Op::Add { ma, mb, shift } => {
            if *ma < 0 || *mb < 0 || !(1..=crate::requant::SHIFT_MAX).contains(shift) {
                return bad_param(i, op, "multipliers must be >= 0 and shift in 1..=62".into());
            }
            expect_shape(i, op, &ins[0].shape, &ins[1].shape)?;
            ins[0].shape.clone()
        }
        Op::Argmax => {
            same_zero_point(i, op, 0, out.zero_point)?;
            let shape = &ins[0].shape;
            let axis = *shape.last().expect("rank >= 1");
            if axis > ARGMAX_AXIS_MAX {
                return bad_param(i, op, format!("axis of {axis} exceeds {ARGMAX_AXIS_MAX}"));
            }
            if shape.len() == 1 {
                vec![1]
            } else {
                shape[..shape.len() - 1].to_vec()
            }
        }
        Op::Softmax { table } => {
            same_zero_point(i, op, SOFTMAX_ZERO_POINT, out.zero_point)?;
            if table.len() != SOFTMAX_TABLE_LEN
                || table[0] != SOFTMAX_ONE
                || table.iter().any(|&e| e > SOFTMAX_ONE)
            {
                return bad_param(
                    i,
                    op,
                    "table must have 256 entries, [0] = 2^16, all <= 2^16".into(),
                );
            }
            ins[0].shape.clone()
        }
    };
    expect_shape(i, op, &expected, &out.shape)
}

fn bad_param(node: usize, op: &'static str, reason: String) -> Result<(), GraphError> {
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
    let mut expected = shape.to_vec();
    if let Some(l) = expected.last_mut() {
        *l = last;
    }
    expect_shape(node, op, &expected, shape)
}

fn conv_shape(
    node: usize,
    op: &'static str,
    g: &ConvGeom,
    input: &[u32],
) -> Result<Vec<u32>, GraphError> {
    if input.len() != 3 {
        return Err(GraphError::ShapeMismatch {
            node,
            op,
            expected: vec![0, 0, g.in_channels],
            got: input.to_vec(),
        });
    }
    expect_last(node, op, input, g.in_channels)?;
    if g.kernel_h == 0 || g.kernel_w == 0 || g.stride == 0 || g.pad >= g.kernel_h.max(g.kernel_w) {
        bad_param(node, op, format!("bad geometry {g:?}"))?;
    }
    let (h, w) = (input[0] + 2 * g.pad, input[1] + 2 * g.pad);
    if h < g.kernel_h || w < g.kernel_w {
        bad_param(
            node,
            op,
            format!("kernel larger than padded input {input:?}"),
        )?;
    }
    Ok(vec![
        (h - g.kernel_h) / g.stride + 1,
        (w - g.kernel_w) / g.stride + 1,
        g.out_channels,
    ])
}

fn pool_shape(
    node: usize,
    op: &'static str,
    p: PoolGeom,
    input: &[u32],
) -> Result<Vec<u32>, GraphError> {
    if input.len() != 3 {
        return Err(GraphError::ShapeMismatch {
            node,
            op,
            expected: vec![0, 0, 0],
            got: input.to_vec(),
        });
    }
    if p.kernel == 0 || p.stride == 0 || p.kernel > 64 || input[0] < p.kernel || input[1] < p.kernel
    {
        bad_param(node, op, format!("bad window {p:?} for input {input:?}"))?;
    }
    Ok(vec![
        (input[0] - p.kernel) / p.stride + 1,
        (input[1] - p.kernel) / p.stride + 1,
        input[2],
    ])
}

fn check_channels(node: &Node, i: usize) -> Result<(), GraphError> {
    let op = node.op.name();
    let (Some((out, depth)), Some(c)) = (node.op.channel_dims(), &node.channels) else {
        return if node.op.channel_dims().is_some() == node.channels.is_some() {
            Ok(())
        } else {
            bad_param(
                i,
                op,
                "weights present on an op without them, or missing".into(),
            )
        };
    };
    if depth == 0 || depth > DEPTH_MAX || out == 0 {
        return bad_param(
            i,
            op,
            format!("dot depth {depth} must be in 1..={DEPTH_MAX}"),
        );
    }
    if out.saturating_mul(depth) > WEIGHTS_MAX
        || c.weights.len() != out * depth
        || c.bias.len() != out
        || c.multipliers.len() != out
    {
        return bad_param(
            i,
            op,
            format!(
                "expected {out}x{depth} weights and {out} biases/multipliers, got {}, {}, {}",
                c.weights.len(),
                c.bias.len(),
                c.multipliers.len()
            ),
        );
    }
    if let Some(b) = c
        .bias
        .iter()
        .find(|b| b.unsigned_abs() > BIAS_ABS_MAX as u32)
    {
        return bad_param(i, op, format!("bias {b} exceeds ±2^30"));
    }
    if let Some(m) = c.multipliers.iter().find(|m| !m.is_valid()) {
        return bad_param(i, op, format!("multiplier {m:?} out of range"));
    }
    Ok(())
}
