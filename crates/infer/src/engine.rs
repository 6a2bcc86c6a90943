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
#![deny(clippy::float_arithmetic)]

use crate::graph::{
    Channels, ConvGeom, Graph, Node, Op, PoolGeom, TENSOR_ELEMENTS_MAX, TensorInfo,
};
use crate::requant::{Multiplier, requantize, rounding_shift, saturate_i8};

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
    for node in &nodes[1..] {
        let ins: Vec<(&[i8], &TensorInfo)> = node
            .inputs
            .iter()
            .map(|&j| (&outputs[j as usize][..], &nodes[j as usize].output))
            .collect();
        let y = run_node(node, &ins);
        debug_assert_eq!(y.len(), node.output.elements());
        outputs.push(y);
    }
    Ok(Trace { outputs })
}

/// The input of MNIST-style models: pixel `p` in `0..=255` at scale 1/255, zero point -128.
pub fn pixels_to_input(pixels: &[u8]) -> Vec<i8> {
    pixels.iter().map(|&p| (i16::from(p) - 128) as i8).collect()
}

fn run_node(node: &Node, ins: &[(&[i8], &TensorInfo)]) -> Vec<i8> {
    let (x, xi) = ins[0];
    let out = &node.output;
    match &node.op {
        Op::Input => unreachable!("validated: only node 0 is an input"),
        Op::Dense { in_features, .. } => dense(
            x,
            xi.zero_point,
            *in_features as usize,
            channels(node),
            out.zero_point,
        ),
        Op::Conv2d(g) => conv2d(x, xi, g, channels(node), out),
        Op::Relu => x.iter().map(|&v| v.max(xi.zero_point)).collect(),
        Op::Flatten => x.to_vec(),
        Op::MaxPool(p) => pool(x, xi, *p, out, |w| w.iter().copied().max().unwrap_or(0)),
        Op::AvgPool {
            pool: p,
            multiplier,
        } => {
            let zp = i32::from(xi.zero_point);
            pool(x, xi, *p, out, |w| {
                let acc = w.iter().map(|&v| i32::from(v) - zp).sum::<i32>();
                requantize(acc, *multiplier, out.zero_point)
            })
        }
        Op::Add { ma, mb, shift } => {
            let (b, bi) = ins[1];
            x.iter()
                .zip(b)
                .map(|(&a, &b)| {
                    add(
                        a,
                        xi.zero_point,
                        b,
                        bi.zero_point,
                        [*ma, *mb],
                        *shift,
                        out.zero_point,
                    )
                })
                .collect()
        }
        Op::Argmax => x.chunks_exact(xi.row_len()).map(argmax).collect(),
        Op::Softmax { table } => {
            let mut y = Vec::with_capacity(x.len());
            for row in x.chunks_exact(xi.row_len()) {
                softmax_row(row, table, &mut y);
            }
            y
        }
    }
}

fn channels(node: &Node) -> &Channels {
    node.channels
        .as_ref()
        .expect("validated: dense/conv nodes have channels")
}

/// `Σ a·b` over equal-length slices in `i32` (bounded by `DEPTH_MAX`, so it never wraps).
#[inline]
fn dot16(a: &[i16], b: &[i16]) -> i32 {
    a.iter().zip(b).fold(0i32, |s, (&x, &w)| {
        s.wrapping_add(i32::from(x) * i32::from(w))
    })
}

/// [`dot16`] with int8 weights (used where each weight is read once per run).
#[inline]
fn dot(a: &[i16], b: &[i8]) -> i32 {
    a.iter().zip(b).fold(0i32, |s, (&x, &w)| {
        s.wrapping_add(i32::from(x) * i32::from(w))
    })
}

fn dense(x: &[i8], zp_x: i8, depth: usize, c: &Channels, zp_y: i8) -> Vec<i8> {
    let n_out = c.bias.len();
    let mut y = Vec::with_capacity(x.len() / depth * n_out);
    let mut centred = vec![0i16; depth];
    for row in x.chunks_exact(depth) {
        for (d, &v) in centred.iter_mut().zip(row) {
            *d = i16::from(v) - i16::from(zp_x);
        }
        for o in 0..n_out {
            let acc = c.bias[o].wrapping_add(dot(&centred, c.row(o, depth)));
            y.push(requantize(acc, c.multipliers[o], zp_y));
        }
    }
    y
}

fn conv2d(x: &[i8], xi: &TensorInfo, g: &ConvGeom, c: &Channels, out: &TensorInfo) -> Vec<i8> {
    let (h, w, ic) = (
        xi.shape[0] as usize,
        xi.shape[1] as usize,
        g.in_channels as usize,
    );
    let (oh, ow, oc) = (
        out.shape[0] as usize,
        out.shape[1] as usize,
        g.out_channels as usize,
    );
    let (kh, kw) = (g.kernel_h as usize, g.kernel_w as usize);
    let (stride, pad) = (g.stride as usize, g.pad as usize);
    let depth = g.depth();
    let zp = i16::from(xi.zero_point);
    let mut patch = vec![0i16; depth];
    // Each weight is reused at every position: widen once so the dot is i16 x i16.
    let weights: Vec<i16> = c.weights.iter().map(|&v| i16::from(v)).collect();
    let mut y = Vec::with_capacity(oh * ow * oc);
    for oy in 0..oh {
        for ox in 0..ow {
            // Padding reads as the zero point, i.e. a centred 0.
            for ky in 0..kh {
                let iy = (oy * stride + ky).wrapping_sub(pad);
                for kx in 0..kw {
                    let ix = (ox * stride + kx).wrapping_sub(pad);
                    let dst = &mut patch[(ky * kw + kx) * ic..][..ic];
                    if iy < h && ix < w {
                        let src = &x[(iy * w + ix) * ic..][..ic];
                        for (d, &v) in dst.iter_mut().zip(src) {
                            *d = i16::from(v) - zp;
                        }
                    } else {
                        dst.fill(0);
                    }
                }
            }
            for o in 0..oc {
                let acc =
                    c.bias[o].wrapping_add(dot16(&patch, &weights[o * depth..(o + 1) * depth]));
                y.push(requantize(acc, c.multipliers[o], out.zero_point));
            }
        }
    }
    y
}

fn pool(
    x: &[i8],
    xi: &TensorInfo,
    p: PoolGeom,
    out: &TensorInfo,
    f: impl Fn(&[i8]) -> i8,
) -> Vec<i8> {
    let (w, ch) = (xi.shape[1] as usize, xi.shape[2] as usize);
    let (oh, ow) = (out.shape[0] as usize, out.shape[1] as usize);
    let (k, s) = (p.kernel as usize, p.stride as usize);
    let mut window = Vec::with_capacity(k * k);
    let mut y = Vec::with_capacity(oh * ow * ch);
    for oy in 0..oh {
        for ox in 0..ow {
            for c in 0..ch {
                window.clear();
                for ky in 0..k {
                    for kx in 0..k {
                        window.push(x[((oy * s + ky) * w + ox * s + kx) * ch + c]);
                    }
                }
                y.push(f(&window));
            }
        }
    }
    y
}

fn add(a: i8, zp_a: i8, b: i8, zp_b: i8, m: [i32; 2], shift: u8, zp_y: i8) -> i8 {
    let da = i64::from(a) - i64::from(zp_a);
    let db = i64::from(b) - i64::from(zp_b);
    let sum = da * i64::from(m[0]) + db * i64::from(m[1]);
    saturate_i8(rounding_shift(sum, shift) + i64::from(zp_y))
}

/// Index of the first maximum.
fn argmax(row: &[i8]) -> i8 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as i8
}

fn softmax_row(row: &[i8], table: &[u32], y: &mut Vec<i8>) {
    let max = row.iter().copied().max().unwrap_or(0);
    let e = |v: i8| u64::from(table[(i16::from(max) - i16::from(v)) as usize]);
    let sum: u64 = row.iter().map(|&v| e(v)).sum();
    y.extend(row.iter().map(|&v| softmax_value(e(v), sum)));
}

/// `min((e · 256 + S/2) / S, 255) - 128`; `S >= 2^16` because the maximum contributes `table[0]`.
fn softmax_value(e: u64, sum: u64) -> i8 {
    (((e * 256 + sum / 2) / sum).min(255) as i16 - 128) as i8
}

/// An input element was needed but not supplied: `(input slot, flat index)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Missing {
    /// Which of the node's inputs.
    pub slot: usize,
    /// Flat element index in that input.
    pub index: usize,
}

/// One output channel's parameters as opened in a dispute.
#[derive(Clone, Copy, Debug)]
pub struct ChannelRef<'a> {
    /// Weights of the channel (`depth` long).
    pub weights: &'a [i8],
    /// Its bias.
    pub bias: i32,
    /// Its multiplier.
    pub multiplier: Multiplier,
}

/// Output channel (for dense/conv) of flat output element `e`.
pub fn output_channel(node: &Node, e: usize) -> Option<usize> {
    node.op.channel_dims().map(|(oc, _)| e % oc)
}

/// Computes flat output element `e` of `node` from single input elements read through
/// `get(slot, flat_index)`. `inputs` are the input nodes' output infos; `channel` is the
/// output channel's parameters for dense/conv ([`output_channel`]). The caller checks that
/// `e` is in range and `node` is not the input.
pub fn compute_element(
    node: &Node,
    inputs: &[&TensorInfo],
    channel: Option<ChannelRef<'_>>,
    e: usize,
    mut get: impl FnMut(usize, usize) -> Option<i8>,
) -> Result<i8, Missing> {
    let mut at = |slot: usize, index: usize| get(slot, index).ok_or(Missing { slot, index });
    let xi = inputs[0];
    let zp = i32::from(xi.zero_point);
    let out = &node.output;
    let window = |p: PoolGeom| {
        let (w, ch) = (xi.shape[1] as usize, xi.shape[2] as usize);
        let ow = out.shape[1] as usize;
        let (pos, c) = (e / ch, e % ch);
        let (oy, ox) = (pos / ow, pos % ow);
        let (k, s) = (p.kernel as usize, p.stride as usize);
        (0..k * k).map(move |t| ((oy * s + t / k) * w + ox * s + t % k) * ch + c)
    };
    Ok(match &node.op {
        Op::Input => unreachable!("the input node is not recomputed"),
        Op::Dense { in_features, .. } => {
            let ch = channel.expect("dense needs its channel");
            let (depth, row) = (*in_features as usize, e / node.output.row_len());
            let mut acc = ch.bias;
            for (k, &w) in ch.weights.iter().enumerate().take(depth) {
                acc += (i32::from(at(0, row * depth + k)?) - zp) * i32::from(w);
            }
            requantize(acc, ch.multiplier, out.zero_point)
        }
        Op::Conv2d(g) => {
            let ch = channel.expect("conv needs its channel");
            let (h, w, ic) = (
                xi.shape[0] as usize,
                xi.shape[1] as usize,
                g.in_channels as usize,
            );
            let (ow, oc) = (out.shape[1] as usize, g.out_channels as usize);
            let pos = e / oc;
            let (oy, ox) = (pos / ow, pos % ow);
            let (kh, kw) = (g.kernel_h as usize, g.kernel_w as usize);
            let mut acc = ch.bias;
            for ky in 0..kh {
                let iy = (oy * g.stride as usize + ky).wrapping_sub(g.pad as usize);
                for kx in 0..kw {
                    let ix = (ox * g.stride as usize + kx).wrapping_sub(g.pad as usize);
                    if iy >= h || ix >= w {
                        continue;
                    }
                    for c in 0..ic {
                        let v = i32::from(at(0, (iy * w + ix) * ic + c)?) - zp;
                        acc += v * i32::from(ch.weights[(ky * kw + kx) * ic + c]);
                    }
                }
            }
            requantize(acc, ch.multiplier, out.zero_point)
        }
        Op::Relu => at(0, e)?.max(xi.zero_point),
        Op::Flatten => at(0, e)?,
        Op::MaxPool(p) => {
            let mut best = i8::MIN;
            for i in window(*p) {
                best = best.max(at(0, i)?);
            }
            best
        }
        Op::AvgPool {
            pool: p,
            multiplier,
        } => {
            let mut acc = 0i32;
            for i in window(*p) {
                acc += i32::from(at(0, i)?) - zp;
            }
            requantize(acc, *multiplier, out.zero_point)
        }
        Op::Add { ma, mb, shift } => {
            let (a, b) = (at(0, e)?, at(1, e)?);
            add(
                a,
                xi.zero_point,
                b,
                inputs[1].zero_point,
                [*ma, *mb],
                *shift,
                out.zero_point,
            )
        }
        Op::Argmax => {
            let len = xi.row_len();
            let mut row = Vec::with_capacity(len);
            for k in 0..len {
                row.push(at(0, e * len + k)?);
            }
            argmax(&row)
        }
        Op::Softmax { table } => {
            let len = xi.row_len();
            let start = e / len * len;
            let mut row = Vec::with_capacity(len);
            for k in 0..len {
                row.push(at(0, start + k)?);
            }
            let mut y = Vec::with_capacity(len);
            softmax_row(&row, table, &mut y);
            y[e - start]
        }
    })
}
