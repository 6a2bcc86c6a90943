//! Running a [`Graph`]: integer kernels and the per-element reference semantics.
//!
//! Two implementations of every op live here and must agree bit for bit (a property test
//! checks it): the whole-tensor kernels [`run`] uses, and [`compute_element`], which computes
//! one output element from whatever input elements it reads through a callback — what the
//! one-step dispute check runs on opened rows.
//!
//! Arithmetic: `x - zp` fits `i16`, products fit `i32`, sums are `i32` and cannot overflow by
//! [`crate::graph::DEPTH_MAX`] and [`crate::graph::BIAS_ABS_MAX`]; the hot loops use
//! `wrapping_add` only so the compiler may vectorize them (integer addition is associative,
//! so the order does not change the bits). Requantization is [`crate::requant::requantize`].
//!
//! Invariant: nothing here panics, for any argument. [`run`] takes a [`Graph`], whose checks
//! bound every index and accumulator (the few kernel loops that index directly say so where
//! they do); [`compute_element`] takes an unvalidated [`Node`] and unvalidated [`TensorInfo`]s
//! (a dispute opens them from a model root before or without validation), so it checks what
//! it relies on itself — its indices with checked arithmetic and `get`, its accumulators with
//! `checked_add`, its work and allocation by the opened weights and by protocol limits — and
//! returns an [`ElementError`] instead.
#![deny(clippy::float_arithmetic)]

use crate::graph::{
    ARGMAX_AXIS_MAX, Channels, ConvGeom, DIM_MAX, Graph, Node, Op, POOL_KERNEL_MAX, PoolGeom,
    SOFTMAX_ONE, SOFTMAX_TABLE_LEN, TENSOR_ELEMENTS_MAX, TensorInfo,
};
use crate::requant::{Multiplier, requantize, rounding_shift, saturate_i8};

pub use crate::graph::ChannelRef;

/// Why an input was not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// More elements than any tensor may hold (rejected before anything else is looked at).
    #[error("input has {got} elements, at most {max} allowed")]
    OversizeInput {
        /// Elements supplied.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// The input does not have the graph's input shape.
    #[error("input has {got} elements, the graph takes {expected}")]
    InputLength {
        /// Elements the input node declares.
        expected: usize,
        /// Elements supplied.
        got: usize,
    },
    /// A node the kernels cannot run. [`Graph::new`] excludes every such node, so this is
    /// never returned; it exists so that a broken invariant is an error, not a crash.
    #[error("node {node} cannot be run: {reason}")]
    Uncomputable {
        /// The node.
        node: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Every node's output tensor, in node order; the last is the graph output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// `outputs[i]` is node `i`'s output, row-major, shaped as the graph says.
    pub outputs: Vec<Vec<i8>>,
}

impl Trace {
    /// The graph output.
    pub fn output(&self) -> &[i8] {
        self.outputs.last().map_or(&[], |v| v)
    }
}

/// Runs `graph` on `input` (node 0's shape, row-major) and returns the execution trace.
pub fn run(graph: &Graph, input: &[i8]) -> Result<Trace, RunError> {
    if input.len() > TENSOR_ELEMENTS_MAX {
        return Err(RunError::OversizeInput {
            got: input.len(),
            max: TENSOR_ELEMENTS_MAX,
        });
    }
    let expected = graph.input().elements();
    if input.len() != expected {
        return Err(RunError::InputLength {
            expected,
            got: input.len(),
        });
    }
    let nodes = graph.nodes();
    let mut outputs: Vec<Vec<i8>> = Vec::with_capacity(nodes.len());
    outputs.push(input.to_vec());
    for (i, node) in nodes.iter().enumerate().skip(1) {
        let y = run_node(node, nodes, &outputs)
            .and_then(|y| {
                // Equal for every node of a Graph; checked, not asserted, so it cannot panic.
                (y.len() == node.output.elements())
                    .then_some(y)
                    .ok_or("kernel output does not have the node's shape")
            })
            .map_err(|reason| RunError::Uncomputable { node: i, reason })?;
        outputs.push(y);
    }
    Ok(Trace { outputs })
}

/// The input of MNIST-style models: pixel `p` in `0..=255` at scale 1/255, zero point -128.
pub fn pixels_to_input(pixels: &[u8]) -> Vec<i8> {
    // p - 128 as i8 is p with its top bit flipped, read as two's complement.
    pixels.iter().map(|&p| (p ^ 0x80) as i8).collect()
}

/// A kernel's complaint about a node (never raised for a [`Graph`]).
type Kernel<T> = Result<T, &'static str>;

/// Input `slot` of `node`: its output tensor and info.
fn kernel_input<'a>(
    node: &Node,
    nodes: &'a [Node],
    outputs: &'a [Vec<i8>],
    slot: usize,
) -> Kernel<(&'a [i8], &'a TensorInfo)> {
    let j = *node.inputs.get(slot).ok_or("missing input")? as usize;
    match (outputs.get(j), nodes.get(j)) {
        (Some(x), Some(n)) => Ok((x, &n.output)),
        _ => Err("input is not an earlier node"),
    }
}

fn run_node(node: &Node, nodes: &[Node], outputs: &[Vec<i8>]) -> Kernel<Vec<i8>> {
    if matches!(node.op, Op::Input) {
        return Err("the input node is not computed");
    }
    let (x, xi) = kernel_input(node, nodes, outputs, 0)?;
    let out = &node.output;
    match &node.op {
        Op::Input => Err("the input node is not computed"),
        Op::Dense { in_features, .. } => dense(
            x,
            xi.zero_point,
            *in_features as usize,
            channels(node)?,
            out,
        ),
        Op::Conv2d(g) => conv2d(x, xi, g, channels(node)?, out),
        Op::Relu => Ok(x.iter().map(|&v| v.max(xi.zero_point)).collect()),
        Op::Flatten => Ok(x.to_vec()),
        Op::MaxPool(p) => pool(x, xi, *p, out, |w| w.iter().copied().max().unwrap_or(0)),
        Op::AvgPool {
            pool: p,
            multiplier,
        } => pool(x, xi, *p, out, |w| {
            avg(w, xi.zero_point, *multiplier, out.zero_point)
        }),
        Op::Add { ma, mb, shift } => {
            let (b, bi) = kernel_input(node, nodes, outputs, 1)?;
            let (zp, m) = ([xi.zero_point, bi.zero_point, out.zero_point], [*ma, *mb]);
            Ok(x.iter()
                .zip(b)
                .map(|(&a, &b)| add([a, b], zp, m, *shift))
                .collect())
        }
        Op::Argmax => x
            .chunks_exact(xi.row_len().max(1))
            .map(|row| argmax(row.iter().copied()).ok_or("argmax axis wider than int8"))
            .collect(),
        Op::Softmax { table } => {
            let mut y = Vec::with_capacity(x.len());
            for row in x.chunks_exact(xi.row_len().max(1)) {
                softmax_row(row, table, &mut y).ok_or("softmax table sums to zero")?;
            }
            Ok(y)
        }
    }
}

fn channels(node: &Node) -> Kernel<&Channels> {
    node.channels
        .as_ref()
        .ok_or("dense/conv node without channels")
}

/// `Σ a·b` over equal-length slices in `i32`. Cannot wrap: at most `DEPTH_MAX` (2^15) terms of
/// `|a| <= 255` times `|b| <= 128`; `wrapping_add` only lets the compiler vectorize.
#[inline]
fn dot16(a: &[i16], b: &[i16]) -> i32 {
    a.iter().zip(b).fold(0i32, |s, (&x, &w)| {
        s.wrapping_add(i32::from(x).wrapping_mul(i32::from(w)))
    })
}

/// [`dot16`] with int8 weights (used where each weight is read once per run).
#[inline]
fn dot(a: &[i16], b: &[i8]) -> i32 {
    a.iter().zip(b).fold(0i32, |s, (&x, &w)| {
        s.wrapping_add(i32::from(x).wrapping_mul(i32::from(w)))
    })
}

/// `v - zp` for two int8 values: always in `-255..=255`, so it cannot wrap.
#[inline]
fn centre(v: i8, zp: i8) -> i16 {
    i16::from(v).wrapping_sub(i16::from(zp))
}

/// `(v - zp) · w` for int8 values: at most `255 · 128` in magnitude, so it cannot wrap.
#[inline]
fn term(v: i8, zp: i8, w: i8) -> i32 {
    i32::from(centre(v, zp)).wrapping_mul(i32::from(w))
}

fn dense(x: &[i8], zp_x: i8, depth: usize, c: &Channels, out: &TensorInfo) -> Kernel<Vec<i8>> {
    if depth == 0 {
        return Err("dense with no input features");
    }
    let mut y = Vec::with_capacity(out.elements());
    let mut centred = vec![0i16; depth];
    for row in x.chunks_exact(depth) {
        for (d, &v) in centred.iter_mut().zip(row) {
            *d = centre(v, zp_x);
        }
        let channels = c
            .weights
            .chunks_exact(depth)
            .zip(&c.bias)
            .zip(&c.multipliers);
        for ((w, &bias), &m) in channels {
            // bias <= 2^30 and the dot < 2^30 in magnitude (Graph::new): cannot wrap.
            let acc = bias.wrapping_add(dot(&centred, w));
            y.push(requantize(acc, m, out.zero_point));
        }
    }
    Ok(y)
}

/// `[d0, d1, d2]` of a rank-3 shape as `usize`.
fn dims3(shape: &[u32]) -> Kernel<[usize; 3]> {
    match shape {
        &[a, b, c] => Ok([a as usize, b as usize, c as usize]),
        _ => Err("expected a rank-3 shape"),
    }
}

fn conv2d(
    x: &[i8],
    xi: &TensorInfo,
    g: &ConvGeom,
    c: &Channels,
    out: &TensorInfo,
) -> Kernel<Vec<i8>> {
    let ([h, w, _], [oh, ow, _]) = (dims3(&xi.shape)?, dims3(&out.shape)?);
    let ic = g.in_channels as usize;
    let (kh, kw) = (g.kernel_h as usize, g.kernel_w as usize);
    let (stride, pad) = (g.stride as usize, g.pad as usize);
    let depth = g
        .checked_depth()
        .filter(|&d| d > 0 && ic > 0)
        .ok_or("bad conv depth")?;
    let zp = xi.zero_point;
    let mut patch = vec![0i16; depth];
    // Each weight is reused at every position: widen once so the dot is i16 x i16.
    let weights: Vec<i16> = c.weights.iter().map(|&v| i16::from(v)).collect();
    let mut y = Vec::with_capacity(out.elements());
    for oy in 0..oh {
        for ox in 0..ow {
            // kh·kw cells of ic values, in weight order; padding reads as the zero point,
            // i.e. a centred 0.
            let mut cells = patch.chunks_exact_mut(ic);
            for ky in 0..kh {
                for kx in 0..kw {
                    let dst = cells.next().ok_or("patch shorter than the kernel")?;
                    match conv_source(x, [oy, ox, ky, kx], [h, w, ic], stride, pad) {
                        Some(src) => {
                            for (d, &v) in dst.iter_mut().zip(src) {
                                *d = centre(v, zp);
                            }
                        }
                        None => dst.fill(0),
                    }
                }
            }
            let channels = weights.chunks_exact(depth).zip(&c.bias).zip(&c.multipliers);
            for ((wr, &bias), &m) in channels {
                // Bounded like dense: |bias| <= 2^30, |dot| < 2^30 (Graph::new).
                let acc = bias.wrapping_add(dot16(&patch, wr));
                y.push(requantize(acc, m, out.zero_point));
            }
        }
    }
    Ok(y)
}

/// The `ic` input values under kernel cell `(ky, kx)` at output `(oy, ox)`, or `None` in the
/// padding. Checked arithmetic: the same cost as the overflow checks release builds carry.
#[inline]
fn conv_source(
    x: &[i8],
    [oy, ox, ky, kx]: [usize; 4],
    [h, w, ic]: [usize; 3],
    stride: usize,
    pad: usize,
) -> Option<&[i8]> {
    let iy = oy.checked_mul(stride)?.checked_add(ky)?.checked_sub(pad)?;
    let ix = ox.checked_mul(stride)?.checked_add(kx)?.checked_sub(pad)?;
    if iy >= h || ix >= w {
        return None;
    }
    let start = iy.checked_mul(w)?.checked_add(ix)?.checked_mul(ic)?;
    x.get(start..start.checked_add(ic)?)
}

fn pool(
    x: &[i8],
    xi: &TensorInfo,
    p: PoolGeom,
    out: &TensorInfo,
    f: impl Fn(&[i8]) -> i8,
) -> Kernel<Vec<i8>> {
    let ([_, w, ch], [oh, ow, _]) = (dims3(&xi.shape)?, dims3(&out.shape)?);
    let (k, s) = (p.kernel as usize, p.stride as usize);
    let mut window = Vec::with_capacity(k.saturating_mul(k));
    let mut y = Vec::with_capacity(out.elements());
    for oy in 0..oh {
        for ox in 0..ow {
            for c in 0..ch {
                window.clear();
                for ky in 0..k {
                    for kx in 0..k {
                        let i = window_index([oy, ox, c], [ky, kx], s, [w, ch]);
                        window.push(*i.and_then(|i| x.get(i)).ok_or("window outside the input")?);
                    }
                }
                y.push(f(&window));
            }
        }
    }
    Ok(y)
}

/// Flat index of window cell `(ky, kx)` of output `(oy, ox, c)` in a `[_, w, ch]` input.
#[inline]
fn window_index(
    [oy, ox, c]: [usize; 3],
    [ky, kx]: [usize; 2],
    stride: usize,
    [w, ch]: [usize; 2],
) -> Option<usize> {
    let iy = oy.checked_mul(stride)?.checked_add(ky)?;
    let ix = ox.checked_mul(stride)?.checked_add(kx)?;
    iy.checked_mul(w)?
        .checked_add(ix)?
        .checked_mul(ch)?
        .checked_add(c)
}

/// `requant(Σ (x - zp), M) + zp_y`. At most 64² terms of `|x - zp| <= 255`: the sum is below
/// 2^21, so `saturating_add` never saturates (it only states the bound to the lint).
fn avg(window: &[i8], zp: i8, m: Multiplier, zp_y: i8) -> i8 {
    let acc = window
        .iter()
        .fold(0i32, |s, &v| s.saturating_add(i32::from(centre(v, zp))));
    requantize(acc, m, zp_y)
}

/// `round_half_up(((a - zp_a) · ma + (b - zp_b) · mb) / 2^shift) + zp_y`; `zp` is
/// `[zp_a, zp_b, zp_y]`. `|a - zp| <= 255` and `|m| < 2^31`, so `|sum| < 2^40` in `i64`;
/// [`rounding_shift`] is exact for any shift.
fn add(v: [i8; 2], zp: [i8; 3], m: [i32; 2], shift: u8) -> i8 {
    let term = |v: i8, zp: i8, m: i32| i64::from(centre(v, zp)).saturating_mul(i64::from(m));
    let [a, b] = v;
    let [zp_a, zp_b, zp_y] = zp;
    let sum = term(a, zp_a, m[0]).saturating_add(term(b, zp_b, m[1]));
    saturate_i8(rounding_shift(sum, shift).saturating_add(i64::from(zp_y)))
}

/// Index of the first maximum, or `None` if it does not fit an int8 (a row wider than
/// [`ARGMAX_AXIS_MAX`], which validation rejects).
fn argmax(row: impl Iterator<Item = i8>) -> Option<i8> {
    let (mut best, mut best_value) = (0usize, i8::MIN);
    for (i, v) in row.enumerate() {
        if v > best_value {
            (best, best_value) = (i, v);
        }
    }
    i8::try_from(best).ok()
}

/// `table[max - v]` (Q16); 0 past the table's end (a valid table has all 256 entries, and
/// `max - v` is in `0..=255`).
#[inline]
fn softmax_exp(table: &[u32], max: i8, v: i8) -> u64 {
    let d = usize::from(max.abs_diff(v));
    table.get(d).map_or(0, |&e| u64::from(e))
}

/// `S = Σ e` over a row: at most `DIM_MAX` (2^16) terms below 2^32 each, so below 2^48.
fn softmax_sum(row: &[i8], table: &[u32], max: i8) -> u64 {
    row.iter()
        .fold(0u64, |s, &v| s.saturating_add(softmax_exp(table, max, v)))
}

/// Appends a row's softmax to `y`; `None` if the row sums to zero (impossible for a valid
/// table, whose `table[0] = 2^16` is in every sum).
fn softmax_row(row: &[i8], table: &[u32], y: &mut Vec<i8>) -> Option<()> {
    let max = row.iter().copied().max().unwrap_or(0);
    let sum = softmax_sum(row, table, max);
    for &v in row {
        y.push(softmax_value(softmax_exp(table, max, v), sum)?);
    }
    Some(())
}

/// `min((e · 256 + S/2) / S, 255) - 128`; `None` for `S = 0`. `e < 2^32` and `S < 2^48`, so
/// nothing saturates.
fn softmax_value(e: u64, sum: u64) -> Option<i8> {
    let q = e
        .saturating_mul(256)
        .saturating_add(sum / 2)
        .checked_div(sum)?;
    // q - 128 for q in 0..=255, as an int8: flip the top bit.
    Some((q.min(255) as u8 ^ 0x80) as i8)
}

/// Why [`compute_element`] produced no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElementError {
    /// An input element was needed but not supplied.
    #[error("input {slot} element {index} was not supplied")]
    Missing {
        /// Which of the node's inputs.
        slot: usize,
        /// Flat element index in that input.
        index: usize,
    },
    /// The node, its inputs' infos or its channel cannot describe a computation. Never
    /// returned for a node, inputs and channel that pass validation
    /// ([`crate::graph::validate_header`], [`crate::graph::validate_against_inputs`],
    /// [`crate::graph::validate_channel`]).
    #[error("{op} element cannot be computed: {reason}")]
    Uncomputable {
        /// Op name.
        op: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Output channel (for dense/conv) of flat output element `e`; `None` for ops without weights
/// (or with zero output channels, which validation rejects).
pub fn output_channel(node: &Node, e: usize) -> Option<usize> {
    node.op.channel_dims().and_then(|(oc, _)| e.checked_rem(oc))
}

/// Reads input elements for [`compute_element`], turning a refusal into [`ElementError`].
struct Reader<F> {
    get: F,
}

impl<F: FnMut(usize, usize) -> Option<i8>> Reader<F> {
    fn at(&mut self, slot: usize, index: usize) -> Result<i8, ElementError> {
        (self.get)(slot, index).ok_or(ElementError::Missing { slot, index })
    }
}

/// What [`compute_element`] works on: the node, its inputs' infos, the element.
struct Element<'a> {
    node: &'a Node,
    inputs: &'a [&'a TensorInfo],
    e: usize,
}

impl Element<'_> {
    fn bad(&self, reason: &'static str) -> ElementError {
        ElementError::Uncomputable {
            op: self.node.op.name(),
            reason,
        }
    }

    /// Input `slot`'s info.
    fn input(&self, slot: usize) -> Result<&TensorInfo, ElementError> {
        self.inputs
            .get(slot)
            .copied()
            .ok_or(self.bad("an input's info is missing"))
    }

    /// Dimension `axis` of `info`, at least 1 (a zero dimension has no elements to index).
    fn dim(&self, info: &TensorInfo, axis: usize) -> Result<usize, ElementError> {
        match info.shape.get(axis) {
            Some(&d) if d >= 1 => Ok(d as usize),
            _ => Err(self.bad("shape lacks a dimension the op indexes")),
        }
    }

    /// `Some` arithmetic result, or the overflow named.
    fn checked(&self, v: Option<usize>) -> Result<usize, ElementError> {
        v.ok_or(self.bad("index arithmetic overflows"))
    }
}

/// Computes flat output element `e` of `node` from single input elements read through
/// `get(slot, flat_index)`. `inputs` are the input nodes' output infos; `channel` is the
/// output channel's parameters for dense/conv ([`output_channel`]). Total: any node, infos,
/// channel or element gets a value or an [`ElementError`] (see the module invariant), and
/// the work is bounded by the channel's weights or by [`POOL_KERNEL_MAX`]² / [`DIM_MAX`]
/// input reads.
pub fn compute_element(
    node: &Node,
    inputs: &[&TensorInfo],
    channel: Option<ChannelRef<'_>>,
    e: usize,
    get: impl FnMut(usize, usize) -> Option<i8>,
) -> Result<i8, ElementError> {
    let el = Element { node, inputs, e };
    let mut r = Reader { get };
    let out = &node.output;
    match &node.op {
        Op::Input => Err(el.bad("the input node is not recomputed")),
        Op::Dense { in_features, .. } => {
            let ch = channel.ok_or(el.bad("dense needs its channel"))?;
            dense_element(&el, &mut r, *in_features as usize, ch)
        }
        Op::Conv2d(g) => {
            let ch = channel.ok_or(el.bad("conv needs its channel"))?;
            conv_element(&el, &mut r, g, ch)
        }
        Op::Relu => Ok(r.at(0, e)?.max(el.input(0)?.zero_point)),
        Op::Flatten => r.at(0, e),
        Op::MaxPool(p) => {
            let mut best = i8::MIN;
            for i in pool_window(&el, *p)? {
                best = best.max(r.at(0, el.checked(i)?)?);
            }
            Ok(best)
        }
        Op::AvgPool {
            pool: p,
            multiplier,
        } => {
            let zp = el.input(0)?.zero_point;
            let mut acc = 0i32;
            for i in pool_window(&el, *p)? {
                let v = i32::from(centre(r.at(0, el.checked(i)?)?, zp));
                acc = acc.checked_add(v).ok_or(el.bad("accumulator overflows"))?;
            }
            Ok(requantize(acc, *multiplier, out.zero_point))
        }
        Op::Add { ma, mb, shift } => {
            let zp = [
                el.input(0)?.zero_point,
                el.input(1)?.zero_point,
                out.zero_point,
            ];
            let (a, b) = (r.at(0, e)?, r.at(1, e)?);
            Ok(add([a, b], zp, [*ma, *mb], *shift))
        }
        Op::Argmax => argmax_element(&el, &mut r),
        Op::Softmax { table } => softmax_element(&el, &mut r, table),
    }
}

/// `bias + Σ_k (x[row, k] - zp) · w[k]`, requantized; the channel's weights must be
/// `in_features` long (a verified opening is), which bounds the work.
fn dense_element(
    el: &Element<'_>,
    r: &mut Reader<impl FnMut(usize, usize) -> Option<i8>>,
    depth: usize,
    ch: ChannelRef<'_>,
) -> Result<i8, ElementError> {
    if depth == 0 || ch.weights.len() != depth {
        return Err(el.bad("channel weights are not in_features long"));
    }
    let zp = el.input(0)?.zero_point;
    let row = el.checked(el.e.checked_div(el.node.output.row_len()))?;
    let base = el.checked(row.checked_mul(depth))?;
    let mut acc = ch.bias;
    for (k, &w) in ch.weights.iter().enumerate() {
        let x = r.at(0, el.checked(base.checked_add(k))?)?;
        acc = acc
            .checked_add(term(x, zp, w))
            .ok_or(el.bad("accumulator overflows"))?;
    }
    Ok(requantize(acc, ch.multiplier, el.node.output.zero_point))
}

fn conv_element(
    el: &Element<'_>,
    r: &mut Reader<impl FnMut(usize, usize) -> Option<i8>>,
    g: &ConvGeom,
    ch: ChannelRef<'_>,
) -> Result<i8, ElementError> {
    let xi = el.input(0)?;
    let (h, w, ow) = (el.dim(xi, 0)?, el.dim(xi, 1)?, el.dim(&el.node.output, 1)?);
    let (ic, oc) = (g.in_channels as usize, g.out_channels as usize);
    let (kh, kw) = (g.kernel_h as usize, g.kernel_w as usize);
    // With ic >= 1, kh · kw <= depth = the opened weights: the loops below are that long.
    if ic == 0 || g.checked_depth() != Some(ch.weights.len()) {
        return Err(el.bad("channel weights are not kh·kw·ic long"));
    }
    let pos = el.e.checked_div(oc).ok_or(el.bad("no output channels"))?;
    let (oy, ox) = (
        el.checked(pos.checked_div(ow))?,
        el.checked(pos.checked_rem(ow))?,
    );
    let (stride, pad) = (g.stride as usize, g.pad as usize);
    let zp = xi.zero_point;
    let mut weights = ch.weights.chunks_exact(ic);
    let mut acc = ch.bias;
    for ky in 0..kh {
        for kx in 0..kw {
            let cell = weights
                .next()
                .ok_or(el.bad("weights shorter than the kernel"))?;
            // Outside the input (the padding) reads as the zero point: a centred 0.
            let iy = oy.checked_mul(stride).and_then(|v| v.checked_add(ky));
            let ix = ox.checked_mul(stride).and_then(|v| v.checked_add(kx));
            let (Some(iy), Some(ix)) = (
                iy.and_then(|v| v.checked_sub(pad)),
                ix.and_then(|v| v.checked_sub(pad)),
            ) else {
                continue;
            };
            if iy >= h || ix >= w {
                continue;
            }
            let start = el.checked(
                iy.checked_mul(w)
                    .and_then(|v| v.checked_add(ix)?.checked_mul(ic)),
            )?;
            for (c, &wt) in cell.iter().enumerate() {
                let v = r.at(0, el.checked(start.checked_add(c))?)?;
                acc = acc
                    .checked_add(term(v, zp, wt))
                    .ok_or(el.bad("accumulator overflows"))?;
            }
        }
    }
    Ok(requantize(acc, ch.multiplier, el.node.output.zero_point))
}

/// Flat input indices of element `e`'s window (`None`: the index overflows). The kernel is
/// capped at [`POOL_KERNEL_MAX`], so a window is at most 64² reads.
fn pool_window(
    el: &Element<'_>,
    p: PoolGeom,
) -> Result<impl Iterator<Item = Option<usize>> + use<>, ElementError> {
    if !(1..=POOL_KERNEL_MAX).contains(&p.kernel) {
        return Err(el.bad("pool window outside 1..=64"));
    }
    let xi = el.input(0)?;
    let (w, ch, ow) = (el.dim(xi, 1)?, el.dim(xi, 2)?, el.dim(&el.node.output, 1)?);
    let (k, s) = (p.kernel as usize, p.stride as usize);
    // ch, ow and k are all >= 1 (dim, the kernel check), so none of these can fail.
    let (pos, c) = (
        el.checked(el.e.checked_div(ch))?,
        el.checked(el.e.checked_rem(ch))?,
    );
    let (oy, ox) = (
        el.checked(pos.checked_div(ow))?,
        el.checked(pos.checked_rem(ow))?,
    );
    let cells = el.checked(k.checked_mul(k))?; // <= 64²
    Ok((0..cells).map(move |t| {
        let cell = [t.checked_div(k)?, t.checked_rem(k)?];
        window_index([oy, ox, c], cell, s, [w, ch])
    }))
}

fn argmax_element(
    el: &Element<'_>,
    r: &mut Reader<impl FnMut(usize, usize) -> Option<i8>>,
) -> Result<i8, ElementError> {
    let len = el.input(0)?.row_len();
    if !(1..=ARGMAX_AXIS_MAX as usize).contains(&len) {
        return Err(el.bad("argmax axis outside 1..=128"));
    }
    let base = el.checked(el.e.checked_mul(len))?;
    let mut row = Vec::with_capacity(len); // <= 128
    for k in 0..len {
        row.push(r.at(0, el.checked(base.checked_add(k))?)?);
    }
    argmax(row.into_iter()).ok_or(el.bad("argmax index does not fit int8"))
}

fn softmax_element(
    el: &Element<'_>,
    r: &mut Reader<impl FnMut(usize, usize) -> Option<i8>>,
    table: &[u32],
) -> Result<i8, ElementError> {
    let len = el.input(0)?.row_len();
    if !(1..=DIM_MAX as usize).contains(&len) {
        return Err(el.bad("softmax row longer than 65536"));
    }
    // table[0] = 2^16 is in every row's sum (the maximum's own term), so S >= 2^16 > 0.
    if table.len() != SOFTMAX_TABLE_LEN || table.first() != Some(&SOFTMAX_ONE) {
        return Err(el.bad("softmax table must have 256 entries, [0] = 2^16"));
    }
    let (row_index, k) = (
        el.checked(el.e.checked_div(len))?,
        el.checked(el.e.checked_rem(len))?,
    );
    let start = el.checked(row_index.checked_mul(len))?;
    let mut row = Vec::with_capacity(len); // <= DIM_MAX
    for j in 0..len {
        row.push(r.at(0, el.checked(start.checked_add(j))?)?);
    }
    let max = row.iter().copied().max().unwrap_or(0);
    let x = *row.get(k).ok_or(el.bad("element outside its row"))?;
    softmax_value(softmax_exp(table, max, x), softmax_sum(&row, table, max))
        .ok_or(el.bad("softmax row sums to zero"))
}
