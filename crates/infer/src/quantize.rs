//! Off-chain post-training quantization: cairn-ml f32 models → integer [`Graph`]s.
//!
//! **The only module in this crate that uses floats.** It runs once, when a model is
//! registered; the chain stores and checks the resulting graph bytes, so the floats here never
//! reach consensus (whoever registers a model may quantize it any way they like).
//!
//! Scheme: weights int8 symmetric per output channel (`s_w = max|w| / 127`); activations int8
//! asymmetric per tensor from min/max calibration over a few hundred samples; a dense/conv
//! followed by ReLU is calibrated on the ReLU's output, so its int8 range is spent on `[0, max]`
//! (the ReLU node then passes values through); biases int32 at `s_x · s_w`; input pixels at
//! scale 1/255, zero point -128 (exact). The graph ends with a softmax (table) and an argmax
//! over the logits.
// Off-chain tooling over a trusted local float model (feature `ptq`, never in a node): it runs
// once per registration on the owner's machine, and its output is checked by `Graph::new`
// like any other graph. The crate's no-panic lints guard what the chain runs, so they are
// lifted here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use cairn_ml::model::Layer;
use cairn_ml::{Arch, Dataset, Model};

use crate::engine::{pixels_to_input, run};
use crate::graph::{
    Channels, ConvGeom, Graph, GraphError, Node, Op, PoolGeom, SOFTMAX_ONE, SOFTMAX_TABLE_LEN,
    SOFTMAX_ZERO_POINT, TensorInfo,
};
use crate::requant::{Multiplier, SHIFT_MAX};

/// Scale of the graph input (pixels / 255).
pub const INPUT_SCALE: f64 = 1.0 / 255.0;
/// Zero point of the graph input.
pub const INPUT_ZERO_POINT: i8 = -128;

/// Why a model could not be quantized.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    /// No calibration samples.
    #[error("calibration needs at least one sample")]
    NoCalibration,
    /// A weight, bias or activation is NaN or infinite.
    #[error("{what} is not finite")]
    NotFinite {
        /// Where.
        what: String,
    },
    /// A scale ratio cannot be represented as a multiplier.
    #[error("multiplier {0} is out of range")]
    Multiplier(f64),
    /// The model has a layer sequence this quantizer does not handle.
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// The produced graph did not validate (a bug).
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// One float layer in the engine's layouts (HWC activations, conv weights `[oc, kh, kw, ic]`).
#[derive(Clone, Debug)]
pub enum FloatLayer {
    /// `y = W x + b`, `W: [out, in]`.
    Dense {
        /// Input features.
        in_features: usize,
        /// Output features.
        out_features: usize,
        /// `[out, in]`.
        weight: Vec<f32>,
        /// `[out]`.
        bias: Vec<f32>,
    },
    /// Stride-1 'same' convolution with an odd square kernel.
    Conv2d {
        /// Input channels.
        in_channels: usize,
        /// Output channels.
        out_channels: usize,
        /// Kernel side.
        kernel: usize,
        /// `[oc, k, k, ic]`.
        weight: Vec<f32>,
        /// `[oc]`.
        bias: Vec<f32>,
    },
    /// `max(x, 0)`.
    Relu,
    /// 2x2 max-pool, stride 2.
    MaxPool2,
    /// Row-major reshape to one dimension.
    Flatten,
}

/// A float network in engine layouts, for calibration and as the reference.
#[derive(Clone, Debug)]
pub struct FloatNet {
    /// Input shape: `[features]` or `[h, w, c]`.
    pub input_shape: Vec<usize>,
    /// The layers.
    pub layers: Vec<FloatLayer>,
}

impl FloatNet {
    /// Converts a cairn-ml model: conv weights `[oc, ic, k, k]` → `[oc, k, k, ic]`, and the
    /// dense layer after a flatten has its columns permuted from cairn-ml's `(c, h, w)` order
    /// to the engine's row-major `(h, w, c)`, so no transpose is needed at run time.
    pub fn from_model(model: &Model) -> Result<Self, QuantizeError> {
        let mut shape = match model.arch() {
            Arch::Mlp { input, .. } => vec![*input],
            Arch::Cnn(c) => vec![c.height, c.width, c.in_channels],
        };
        let input_shape = shape.clone();
        let mut flattened_from: Option<Vec<usize>> = None;
        let mut layers = Vec::new();
        for layer in model.layers() {
            match layer {
                Layer::Dense(d) => {
                    let weight = match flattened_from.take() {
                        Some(hwc) => permute_chw_columns(&d.weight, d.out_features, &hwc),
                        None => d.weight.clone(),
                    };
                    shape = vec![d.out_features];
                    layers.push(FloatLayer::Dense {
                        in_features: d.in_features,
                        out_features: d.out_features,
                        weight,
                        bias: d.bias.clone(),
                    });
                }
                Layer::Conv2d(c) => {
                    let (ic, oc, k) = (c.in_channels, c.out_channels, c.kernel);
                    let mut weight = vec![0.0; c.weight.len()];
                    for o in 0..oc {
                        for ch in 0..ic {
                            for t in 0..k * k {
                                weight[(o * k * k + t) * ic + ch] =
                                    c.weight[(o * ic + ch) * k * k + t];
                            }
                        }
                    }
                    shape[2] = oc;
                    layers.push(FloatLayer::Conv2d {
                        in_channels: ic,
                        out_channels: oc,
                        kernel: k,
                        weight,
                        bias: c.bias.clone(),
                    });
                }
                Layer::Relu(_) => layers.push(FloatLayer::Relu),
                Layer::MaxPool2(_) => {
                    shape = vec![shape[0] / 2, shape[1] / 2, shape[2]];
                    layers.push(FloatLayer::MaxPool2);
                }
                Layer::Flatten(_) => {
                    flattened_from = Some(shape.clone());
                    shape = vec![shape.iter().product()];
                    layers.push(FloatLayer::Flatten);
                }
            }
        }
        Ok(Self {
            input_shape,
            layers,
        })
    }

    /// Every layer's output for one sample (`x` in engine layout).
    pub fn forward(&self, x: &[f32]) -> Vec<Vec<f32>> {
        let mut shape = self.input_shape.clone();
        let mut cur = x.to_vec();
        let mut outs = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            cur = match layer {
                FloatLayer::Dense {
                    in_features,
                    out_features,
                    weight,
                    bias,
                } => {
                    shape = vec![*out_features];
                    (0..*out_features)
                        .map(|o| {
                            let w = &weight[o * in_features..(o + 1) * in_features];
                            bias[o] + w.iter().zip(&cur).map(|(a, b)| a * b).sum::<f32>()
                        })
                        .collect()
                }
                FloatLayer::Conv2d {
                    in_channels,
                    out_channels,
                    kernel,
                    weight,
                    bias,
                } => {
                    let y = conv_same(
                        &cur,
                        [shape[0], shape[1], *in_channels],
                        *out_channels,
                        *kernel,
                        weight,
                        bias,
                    );
                    shape[2] = *out_channels;
                    y
                }
                FloatLayer::Relu => cur.iter().map(|&v| if v > 0.0 { v } else { 0.0 }).collect(),
                FloatLayer::MaxPool2 => {
                    let (h, w, c) = (shape[0], shape[1], shape[2]);
                    let mut y = Vec::with_capacity(cur.len() / 4);
                    for oy in 0..h / 2 {
                        for ox in 0..w / 2 {
                            for ch in 0..c {
                                let at = |dy: usize, dx: usize| {
                                    cur[((2 * oy + dy) * w + 2 * ox + dx) * c + ch]
                                };
                                y.push(at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1)));
                            }
                        }
                    }
                    shape = vec![h / 2, w / 2, c];
                    y
                }
                FloatLayer::Flatten => {
                    shape = vec![cur.len()];
                    cur
                }
            };
            outs.push(cur.clone());
        }
        outs
    }
}

fn permute_chw_columns(weight: &[f32], out: usize, hwc: &[usize]) -> Vec<f32> {
    let (h, w, c) = (hwc[0], hwc[1], hwc[2]);
    let inp = h * w * c;
    let mut permuted = vec![0.0; weight.len()];
    for o in 0..out {
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    permuted[o * inp + (y * w + x) * c + ch] =
                        weight[o * inp + (ch * h + y) * w + x];
                }
            }
        }
    }
    permuted
}

fn conv_same(
    x: &[f32],
    [h, w, ic]: [usize; 3],
    oc: usize,
    k: usize,
    weight: &[f32],
    bias: &[f32],
) -> Vec<f32> {
    let pad = k / 2;
    let mut y = Vec::with_capacity(h * w * oc);
    for oy in 0..h {
        for ox in 0..w {
            for o in 0..oc {
                let mut acc = bias[o];
                for ky in 0..k {
                    let iy = (oy + ky).wrapping_sub(pad);
                    for kx in 0..k {
                        let ix = (ox + kx).wrapping_sub(pad);
                        if iy >= h || ix >= w {
                            continue;
                        }
                        let xs = &x[(iy * w + ix) * ic..][..ic];
                        let ws = &weight[((o * k + ky) * k + kx) * ic..][..ic];
                        acc += xs.iter().zip(ws).map(|(a, b)| a * b).sum::<f32>();
                    }
                }
                y.push(acc);
            }
        }
    }
    y
}

/// The multiplier nearest to `real` with `m` in `[2^30, 2^31)` where the shift allows.
pub fn multiplier(real: f64) -> Result<Multiplier, QuantizeError> {
    if !(real.is_finite() && real > 0.0) {
        return Err(QuantizeError::Multiplier(real));
    }
    let two31 = 2f64.powi(31);
    let (mut m, mut shift) = (real * two31, 31i32);
    while m >= two31 && shift > 1 {
        m /= 2.0;
        shift -= 1;
    }
    while m < two31 / 2.0 && shift < i32::from(SHIFT_MAX) {
        m *= 2.0;
        shift += 1;
    }
    let mut mi = m.round() as i64;
    if mi >= 1 << 31 {
        mi /= 2;
        shift -= 1;
    }
    if mi >= 1 << 31 || shift < 1 {
        return Err(QuantizeError::Multiplier(real));
    }
    Ok(Multiplier {
        m: mi as i32,
        shift: shift as u8,
    })
}

/// `(scale, zero point)` covering `[lo, hi]` (widened to include 0).
pub fn activation_params(lo: f32, hi: f32) -> (f64, i8) {
    let (lo, hi) = (f64::from(lo.min(0.0)), f64::from(hi.max(0.0)));
    let scale = if hi > lo {
        (hi - lo) / 255.0
    } else {
        1.0 / 255.0
    };
    let zp = (-128.0 - lo / scale).round().clamp(-128.0, 127.0);
    (scale, zp as i8)
}

/// The softmax table for logits of scale `scale`.
pub fn softmax_table(scale: f64) -> Vec<u32> {
    (0..SOFTMAX_TABLE_LEN)
        .map(|d| ((-scale * d as f64).exp() * f64::from(SOFTMAX_ONE)).round() as u32)
        .collect()
}

/// `(min, max)` of each layer's output over the calibration samples.
fn calibrate(net: &FloatNet, samples: &[Vec<f32>]) -> Result<Vec<(f32, f32)>, QuantizeError> {
    let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); net.layers.len()];
    for s in samples {
        for (r, out) in ranges.iter_mut().zip(net.forward(s)) {
            for v in out {
                if !v.is_finite() {
                    return Err(QuantizeError::NotFinite {
                        what: "a calibration activation".into(),
                    });
                }
                *r = (r.0.min(v), r.1.max(v));
            }
        }
    }
    Ok(ranges)
}

/// Quantizes `net` with min/max calibration on `calibration` (engine-layout float samples,
/// pixels / 255). The graph: input, the layers, then softmax over the logits and a final
/// argmax (the graph output is the predicted class).
pub fn quantize(net: &FloatNet, calibration: &[Vec<f32>]) -> Result<Graph, QuantizeError> {
    if calibration.is_empty() {
        return Err(QuantizeError::NoCalibration);
    }
    let ranges = calibrate(net, calibration)?;
    let mut nodes = vec![Node {
        op: Op::Input,
        inputs: vec![],
        output: TensorInfo {
            shape: net.input_shape.iter().map(|&d| d as u32).collect(),
            zero_point: INPUT_ZERO_POINT,
        },
        channels: None,
    }];
    let (mut scale, mut zp) = (INPUT_SCALE, INPUT_ZERO_POINT);
    let mut shape: Vec<u32> = nodes[0].output.shape.clone();
    for (i, layer) in net.layers.iter().enumerate() {
        let prev = (nodes.len() - 1) as u32;
        // A weighted layer followed by ReLU takes the ReLU's range.
        let relu_next = matches!(net.layers.get(i + 1), Some(FloatLayer::Relu));
        let range = if relu_next { ranges[i + 1] } else { ranges[i] };
        let (op, channels, out_shape, out_q) = match layer {
            FloatLayer::Dense {
                in_features,
                out_features,
                weight,
                bias,
            } => {
                let (s_y, zp_y) = activation_params(range.0, range.1);
                let ch = quantize_channels(weight, bias, *out_features, *in_features, scale, s_y)?;
                let op = Op::Dense {
                    in_features: *in_features as u32,
                    out_features: *out_features as u32,
                };
                let mut s = shape.clone();
                *s.last_mut().expect("rank >= 1") = *out_features as u32;
                (op, Some(ch), s, (s_y, zp_y))
            }
            FloatLayer::Conv2d {
                in_channels,
                out_channels,
                kernel,
                weight,
                bias,
            } => {
                let (s_y, zp_y) = activation_params(range.0, range.1);
                let depth = kernel * kernel * in_channels;
                let ch = quantize_channels(weight, bias, *out_channels, depth, scale, s_y)?;
                let k = *kernel as u32;
                let op = Op::Conv2d(ConvGeom {
                    in_channels: *in_channels as u32,
                    out_channels: *out_channels as u32,
                    kernel_h: k,
                    kernel_w: k,
                    stride: 1,
                    pad: k / 2,
                });
                (
                    op,
                    Some(ch),
                    vec![shape[0], shape[1], *out_channels as u32],
                    (s_y, zp_y),
                )
            }
            FloatLayer::Relu => (Op::Relu, None, shape.clone(), (scale, zp)),
            FloatLayer::MaxPool2 => {
                let op = Op::MaxPool(PoolGeom {
                    kernel: 2,
                    stride: 2,
                });
                (
                    op,
                    None,
                    vec![shape[0] / 2, shape[1] / 2, shape[2]],
                    (scale, zp),
                )
            }
            FloatLayer::Flatten => (Op::Flatten, None, vec![shape.iter().product()], (scale, zp)),
        };
        (scale, zp) = out_q;
        shape = out_shape.clone();
        nodes.push(Node {
            op,
            inputs: vec![prev],
            output: TensorInfo {
                shape: out_shape,
                zero_point: zp,
            },
            channels,
        });
    }
    let logits = (nodes.len() - 1) as u32;
    let rows_shape = shape.clone();
    nodes.push(Node {
        op: Op::Softmax {
            table: softmax_table(scale),
        },
        inputs: vec![logits],
        output: TensorInfo {
            shape: rows_shape,
            zero_point: SOFTMAX_ZERO_POINT,
        },
        channels: None,
    });
    let arg_shape = if shape.len() == 1 {
        vec![1]
    } else {
        shape[..shape.len() - 1].to_vec()
    };
    nodes.push(Node {
        op: Op::Argmax,
        inputs: vec![logits],
        output: TensorInfo {
            shape: arg_shape,
            zero_point: 0,
        },
        channels: None,
    });
    Ok(Graph::new(nodes)?)
}

fn quantize_channels(
    weight: &[f32],
    bias: &[f32],
    out: usize,
    depth: usize,
    s_x: f64,
    s_y: f64,
) -> Result<Channels, QuantizeError> {
    if weight.iter().chain(bias).any(|v| !v.is_finite()) {
        return Err(QuantizeError::NotFinite {
            what: "a weight or bias".into(),
        });
    }
    let mut ch = Channels {
        weights: Vec::with_capacity(out * depth),
        bias: Vec::with_capacity(out),
        multipliers: Vec::with_capacity(out),
    };
    for o in 0..out {
        let row = &weight[o * depth..(o + 1) * depth];
        let max = row.iter().fold(0f32, |m, w| m.max(w.abs()));
        let s_w = if max > 0.0 {
            f64::from(max) / 127.0
        } else {
            1.0
        };
        ch.weights.extend(
            row.iter()
                .map(|&w| (f64::from(w) / s_w).round().clamp(-127.0, 127.0) as i8),
        );
        let limit = f64::from(crate::graph::BIAS_ABS_MAX);
        ch.bias.push(
            (f64::from(bias[o]) / (s_x * s_w))
                .round()
                .clamp(-limit, limit) as i32,
        );
        ch.multipliers.push(multiplier(s_x * s_w / s_y)?);
    }
    Ok(ch)
}

/// Sample `i` of `data` as an engine-layout float input (pixels / 255).
pub fn float_input(data: &Dataset, i: usize) -> Vec<f32> {
    data.image(i)
        .iter()
        .map(|&p| f32::from(p) / 255.0)
        .collect()
}

/// Quantizes `model`, calibrating on samples `calibration` of `data`.
pub fn quantize_model(
    model: &Model,
    data: &Dataset,
    calibration: &[usize],
) -> Result<Graph, QuantizeError> {
    let net = FloatNet::from_model(model)?;
    let samples: Vec<Vec<f32>> = calibration.iter().map(|&i| float_input(data, i)).collect();
    quantize(&net, &samples)
}

/// Fraction of `indices` whose graph output (the argmax node) equals the label.
pub fn accuracy(graph: &Graph, data: &Dataset, indices: &[usize]) -> f64 {
    let correct = indices
        .iter()
        .filter(|&&i| {
            let trace = run(graph, &pixels_to_input(data.image(i))).expect("input fits the graph");
            trace.output()[0] as u8 == data.labels()[i]
        })
        .count();
    correct as f64 / indices.len().max(1) as f64
}
