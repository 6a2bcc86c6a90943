//! Layers with hand-written forward and backward passes.
//!
//! Layouts: dense activations are `[batch, features]`; convolutional activations are NHWC
//! `[batch, height, width, channels]`, so a convolution over the whole batch is one GEMM
//! (`rows [n*h*w, k*k*ic] · tapsᵀ`) whose output is already the next layer's NHWC input, and
//! the weight gradient (`dyᵀ · rows`) reads both operands in place. Parameters use PyTorch's
//! layouts (`[out, in]`, `[oc, ic, kh, kw]`) so checkpoints read naturally elsewhere.
//!
//! Invariant: every reduction (GEMM depth, bias gradient over the batch, col2im overlaps) runs
//! in a fixed index order on one thread; threads only split independent outputs.

use crate::gemm::{MatRef, gemm, gemm_overwrite, transpose};
use crate::math;
use crate::parallel::for_each_chunk;
use crate::rng::Rng;

/// Below this many output elements, elementwise work stays on the calling thread.
const PARALLEL_MIN_ELEMENTS: usize = 1 << 16;

fn threads_for(threads: usize, elements: usize) -> usize {
    if elements < PARALLEL_MIN_ELEMENTS {
        1
    } else {
        threads.max(1)
    }
}

/// A dense f32 tensor with a shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl Tensor {
    /// Wraps `data`. Panics if its length is not the product of `shape`.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "tensor shape {shape:?} does not match {} elements",
            data.len()
        );
        Self { shape, data }
    }

    /// All zeros.
    pub fn zeros(shape: Vec<usize>) -> Self {
        let len = shape.iter().product();
        Self {
            shape,
            data: vec![0.0; len],
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The elements, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The elements, mutable.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// The elements, by value.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }
}

/// Kaiming-uniform with a = √5, i.e. `U(±1/sqrt(fan_in))` (PyTorch's default for `Linear`
/// and `Conv2d` weights and biases), drawn in order from `rng`. `sqrt` and `/` are correctly
/// rounded in IEEE-754, so the bits are the same everywhere.
fn init_uniform(rng: &mut Rng, len: usize, fan_in: usize) -> Vec<f32> {
    let bound = 1.0 / (fan_in as f32).sqrt();
    (0..len)
        .map(|_| (rng.uniform_f32() * 2.0 - 1.0) * bound)
        .collect()
}

/// Fully connected layer `y = x · Wᵀ + b`, `W: [out, in]`.
#[derive(Clone, Debug)]
pub struct Dense {
    /// Parameter name prefix, e.g. `fc1`.
    pub name: String,
    /// Input features.
    pub in_features: usize,
    /// Output features.
    pub out_features: usize,
    /// `[out, in]`, row-major.
    pub weight: Vec<f32>,
    /// `[out]`.
    pub bias: Vec<f32>,
    /// Gradient of the last backward pass (mean loss over its batch), same layout as `weight`.
    pub grad_weight: Vec<f32>,
    /// Gradient of the last backward pass, same layout as `bias`.
    pub grad_bias: Vec<f32>,
    /// Whether `backward` must return `dL/dx` (false for a network's first layer).
    pub needs_input_grad: bool,
    input: Vec<f32>,
    batch: usize,
}

impl Dense {
    /// A seeded layer.
    pub fn new(name: &str, in_features: usize, out_features: usize, rng: &mut Rng) -> Self {
        let weight = init_uniform(rng, in_features * out_features, in_features);
        let bias = init_uniform(rng, out_features, in_features);
        Self {
            name: name.to_string(),
            in_features,
            out_features,
            grad_weight: vec![0.0; weight.len()],
            grad_bias: vec![0.0; bias.len()],
            weight,
            bias,
            needs_input_grad: true,
            input: Vec::new(),
            batch: 0,
        }
    }

    /// `x: [batch, in]` → `[batch, out]`; keeps `x` for `backward`.
    pub fn forward(&mut self, x: &Tensor, threads: usize) -> Tensor {
        let n = x.data.len() / self.in_features;
        assert_eq!(
            x.shape,
            [n, self.in_features],
            "{}: bad input shape",
            self.name
        );
        let mut y = Vec::with_capacity(n * self.out_features);
        for _ in 0..n {
            y.extend_from_slice(&self.bias);
        }
        let w_t = MatRef::row_major(&self.weight, self.out_features, self.in_features).t();
        gemm(
            threads,
            MatRef::row_major(&x.data, n, self.in_features),
            w_t,
            &mut y,
        );
        self.input.clone_from(&x.data);
        self.batch = n;
        Tensor::new(vec![n, self.out_features], y)
    }

    /// Stores the parameter gradients for `dy: [batch, out]`; returns `dx` if needed.
    pub fn backward(&mut self, dy: &Tensor, threads: usize) -> Option<Tensor> {
        let (n, out, inp) = (self.batch, self.out_features, self.in_features);
        assert_eq!(dy.shape, [n, out], "{}: bad gradient shape", self.name);
        let dy_mat = MatRef::row_major(&dy.data, n, out);
        gemm_overwrite(
            threads,
            dy_mat.t(),
            MatRef::row_major(&self.input, n, inp),
            &mut self.grad_weight,
        );
        self.grad_bias.fill(0.0);
        for row in dy.data.chunks_exact(out) {
            for (g, d) in self.grad_bias.iter_mut().zip(row) {
                *g += *d;
            }
        }
        if !self.needs_input_grad {
            return None;
        }
        let mut dx = vec![0.0; n * inp];
        gemm_overwrite(
            threads,
            dy_mat,
            MatRef::row_major(&self.weight, out, inp),
            &mut dx,
        );
        Some(Tensor::new(vec![n, inp], dx))
    }
}

/// 2-D convolution, stride 1, odd square kernel, zero 'same' padding, on NHWC activations.
///
/// The weight is stored in PyTorch's `[oc, ic, k, k]`; each forward pass reorders it to
/// `[oc, k, k, ic]` (`taps`) so that one im2row row is 25 contiguous channel vectors.
#[derive(Clone, Debug)]
pub struct Conv2d {
    /// Parameter name prefix, e.g. `conv1`.
    pub name: String,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel side (odd).
    pub kernel: usize,
    /// `[oc, ic, k, k]`, row-major.
    pub weight: Vec<f32>,
    /// `[oc]`.
    pub bias: Vec<f32>,
    /// Gradient of the last backward pass, same layout as `weight`.
    pub grad_weight: Vec<f32>,
    /// Gradient of the last backward pass, same layout as `bias`.
    pub grad_bias: Vec<f32>,
    /// Whether `backward` must return `dL/dx`.
    pub needs_input_grad: bool,
    taps: Vec<f32>,
    rows: Vec<f32>,
    dims: [usize; 3],
}

impl Conv2d {
    /// A seeded layer. Panics on an even kernel.
    pub fn new(
        name: &str,
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        rng: &mut Rng,
    ) -> Self {
        assert!(
            kernel % 2 == 1,
            "'same' padding needs an odd kernel, got {kernel}"
        );
        let fan_in = in_channels * kernel * kernel;
        let weight = init_uniform(rng, out_channels * fan_in, fan_in);
        let bias = init_uniform(rng, out_channels, fan_in);
        Self {
            name: name.to_string(),
            in_channels,
            out_channels,
            kernel,
            grad_weight: vec![0.0; weight.len()],
            grad_bias: vec![0.0; bias.len()],
            weight,
            bias,
            needs_input_grad: true,
            taps: Vec::new(),
            rows: Vec::new(),
            dims: [0; 3],
        }
    }

    /// `x: [n, h, w, ic]` → `[n, h, w, oc]`.
    pub fn forward(&mut self, x: &Tensor, threads: usize) -> Tensor {
        assert!(
            x.shape.len() == 4 && x.shape[3] == self.in_channels,
            "{}: bad input shape {:?}",
            self.name,
            x.shape
        );
        let (n, h, w) = (x.shape[0], x.shape[1], x.shape[2]);
        let (ic, oc, k) = (self.in_channels, self.out_channels, self.kernel);
        let depth = ic * k * k;
        self.dims = [n, h, w];
        // [oc, ic, k, k] → [oc, k, k, ic]
        self.taps.resize(self.weight.len(), 0.0);
        for o in 0..oc {
            for c in 0..ic {
                for t in 0..k * k {
                    self.taps[(o * k * k + t) * ic + c] = self.weight[(o * ic + c) * k * k + t];
                }
            }
        }
        self.rows.resize(n * h * w * depth, 0.0);
        let sample_len = h * w * ic;
        for_each_chunk(
            threads_for(threads, self.rows.len()),
            &mut self.rows,
            h * w * depth,
            |b, rows| {
                im2row_sample(
                    &x.data[b * sample_len..(b + 1) * sample_len],
                    rows,
                    [h, w, ic],
                    k,
                );
            },
        );
        let positions = n * h * w;
        let mut y = Vec::with_capacity(positions * oc);
        for _ in 0..positions {
            y.extend_from_slice(&self.bias);
        }
        let taps_t = MatRef::row_major(&self.taps, oc, depth).t();
        gemm(
            threads,
            MatRef::row_major(&self.rows, positions, depth),
            taps_t,
            &mut y,
        );
        Tensor::new(vec![n, h, w, oc], y)
    }

    /// Stores the parameter gradients for `dy: [n, h, w, oc]`; returns `dx` if needed.
    pub fn backward(&mut self, dy: &Tensor, threads: usize) -> Option<Tensor> {
        let [n, h, w] = self.dims;
        let positions = n * h * w;
        let (ic, oc, k) = (self.in_channels, self.out_channels, self.kernel);
        let depth = ic * k * k;
        assert_eq!(dy.shape, [n, h, w, oc], "{}: bad gradient shape", self.name);
        let dy_mat = MatRef::row_major(&dy.data, positions, oc);
        let mut grad_taps = vec![0.0; oc * depth];
        gemm_overwrite(
            threads,
            dy_mat.t(),
            MatRef::row_major(&self.rows, positions, depth),
            &mut grad_taps,
        );
        for o in 0..oc {
            for c in 0..ic {
                for t in 0..k * k {
                    self.grad_weight[(o * ic + c) * k * k + t] =
                        grad_taps[(o * k * k + t) * ic + c];
                }
            }
        }
        self.grad_bias.fill(0.0);
        for row in dy.data.chunks_exact(oc) {
            for (g, d) in self.grad_bias.iter_mut().zip(row) {
                *g += *d;
            }
        }
        if !self.needs_input_grad {
            return None;
        }
        // d rows = dy · taps, then scatter-add the overlapping windows back (col2im).
        let mut drows = std::mem::take(&mut self.rows);
        gemm_overwrite(
            threads,
            dy_mat,
            MatRef::row_major(&self.taps, oc, depth),
            &mut drows,
        );
        let mut dx = vec![0.0; n * h * w * ic];
        for_each_chunk(
            threads_for(threads, drows.len()),
            &mut dx,
            h * w * ic,
            |b, dx_sample| {
                row2im_sample(
                    &drows[b * h * w * depth..(b + 1) * h * w * depth],
                    dx_sample,
                    [h, w, ic],
                    k,
                );
            },
        );
        self.rows = drows; // keep the allocation; its contents are stale until the next forward
        Some(Tensor::new(vec![n, h, w, ic], dx))
    }
}

/// im2row for one sample: `rows[(y, x), (ky, kx, c)] = x[y + ky - pad, x + kx - pad, c]`, 0 outside.
fn im2row_sample(x: &[f32], rows: &mut [f32], [h, w, c]: [usize; 3], k: usize) {
    let pad = k / 2;
    let depth = k * k * c;
    for y in 0..h {
        for xo in 0..w {
            let row = &mut rows[(y * w + xo) * depth..(y * w + xo + 1) * depth];
            for ky in 0..k {
                let sy = y + ky;
                let dst = &mut row[ky * k * c..(ky + 1) * k * c];
                if sy < pad || sy - pad >= h {
                    dst.fill(0.0);
                    continue;
                }
                // Source columns xo - pad .. xo + pad, clipped to the image.
                let x_lo = xo.saturating_sub(pad);
                let x_hi = (xo + pad + 1).min(w);
                let kx_lo = x_lo + pad - xo;
                dst[..kx_lo * c].fill(0.0);
                let span = (x_hi - x_lo) * c;
                let src = &x[((sy - pad) * w + x_lo) * c..][..span];
                dst[kx_lo * c..kx_lo * c + span].copy_from_slice(src);
                dst[kx_lo * c + span..].fill(0.0);
            }
        }
    }
}

/// The adjoint of [`im2row_sample`]: `dx[y + ky - pad, x + kx - pad, c] += rows[(y, x), (ky, kx, c)]`,
/// visiting positions and taps in increasing order (a fixed summation order per element).
fn row2im_sample(rows: &[f32], dx: &mut [f32], [h, w, c]: [usize; 3], k: usize) {
    let pad = k / 2;
    let depth = k * k * c;
    for y in 0..h {
        for xo in 0..w {
            let row = &rows[(y * w + xo) * depth..(y * w + xo + 1) * depth];
            for ky in 0..k {
                let sy = y + ky;
                if sy < pad || sy - pad >= h {
                    continue;
                }
                let x_lo = xo.saturating_sub(pad);
                let x_hi = (xo + pad + 1).min(w);
                let kx_lo = x_lo + pad - xo;
                let span = (x_hi - x_lo) * c;
                let src = &row[ky * k * c + kx_lo * c..][..span];
                let dst = &mut dx[((sy - pad) * w + x_lo) * c..][..span];
                for (d, s) in dst.iter_mut().zip(src) {
                    *d += *s;
                }
            }
        }
    }
}

/// 2x2 max-pooling with stride 2 on NHWC activations (even height and width).
#[derive(Clone, Debug, Default)]
pub struct MaxPool2 {
    argmax: Vec<u8>,
    in_shape: Vec<usize>,
}

impl MaxPool2 {
    /// `x: [n, h, w, c]` → `[n, h/2, w/2, c]`. Ties go to the first maximum in the order
    /// (0,0), (0,1), (1,0), (1,1).
    pub fn forward(&mut self, x: &Tensor) -> Tensor {
        assert!(
            x.shape.len() == 4 && x.shape[1].is_multiple_of(2) && x.shape[2].is_multiple_of(2),
            "maxpool2: bad input shape {:?}",
            x.shape
        );
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        let (oh, ow) = (h / 2, w / 2);
        let mut y = vec![0.0; n * oh * ow * c];
        self.argmax.resize(y.len(), 0);
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    let o = ((b * oh + oy) * ow + ox) * c;
                    let at = |dy: usize, dx: usize| ((b * h + 2 * oy + dy) * w + 2 * ox + dx) * c;
                    let src = [at(0, 0), at(0, 1), at(1, 0), at(1, 1)];
                    for ch in 0..c {
                        let mut best = 0;
                        let mut value = x.data[src[0] + ch];
                        for (i, s) in src.iter().enumerate().skip(1) {
                            if x.data[s + ch] > value {
                                best = i;
                                value = x.data[s + ch];
                            }
                        }
                        y[o + ch] = value;
                        self.argmax[o + ch] = best as u8;
                    }
                }
            }
        }
        self.in_shape = x.shape.clone();
        Tensor::new(vec![n, oh, ow, c], y)
    }

    /// Routes each gradient to the input that won its window.
    pub fn backward(&self, dy: &Tensor) -> Tensor {
        let (n, h, w, c) = (
            self.in_shape[0],
            self.in_shape[1],
            self.in_shape[2],
            self.in_shape[3],
        );
        let (oh, ow) = (h / 2, w / 2);
        let mut dx = Tensor::zeros(self.in_shape.clone());
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    let o = ((b * oh + oy) * ow + ox) * c;
                    let grads = &dy.data[o..o + c];
                    let args = &self.argmax[o..o + c];
                    for (win, (dy_off, dx_off)) in
                        [(0, 0), (0, 1), (1, 0), (1, 1)].into_iter().enumerate()
                    {
                        let base = ((b * h + 2 * oy + dy_off) * w + 2 * ox + dx_off) * c;
                        for ((d, &g), &arg) in
                            dx.data[base..base + c].iter_mut().zip(grads).zip(args)
                        {
                            *d = if arg as usize == win { g } else { 0.0 };
                        }
                    }
                }
            }
        }
        dx
    }
}

/// `max(x, 0)`.
#[derive(Clone, Debug, Default)]
pub struct Relu {
    active: Vec<bool>,
}

impl Relu {
    /// Elementwise `max(x, 0)` (NaN maps to 0). Written as a select, not `f32::max`, whose
    /// choice between -0 and +0 is unspecified.
    pub fn forward(&mut self, mut x: Tensor) -> Tensor {
        self.active.clear();
        self.active.extend(x.data.iter().map(|&v| v > 0.0));
        for v in x.data.iter_mut() {
            *v = if *v > 0.0 { *v } else { 0.0 };
        }
        x
    }

    /// Passes the gradient where the input was positive.
    pub fn backward(&self, mut dy: Tensor) -> Tensor {
        for (d, &on) in dy.data.iter_mut().zip(&self.active) {
            *d = if on { *d } else { 0.0 };
        }
        dy
    }
}

/// NHWC `[n, h, w, c]` → `[n, c*h*w]` in PyTorch's per-sample `c, h, w` order, so `fc1`'s
/// weight means the same thing as in a PyTorch model.
#[derive(Clone, Debug, Default)]
pub struct Flatten {
    in_shape: Vec<usize>,
}

impl Flatten {
    /// Reorders each sample from `(h, w, c)` to `(c, h, w)`.
    pub fn forward(&mut self, x: &Tensor) -> Tensor {
        let (n, hw, c) = (x.shape[0], x.shape[1] * x.shape[2], x.shape[3]);
        let mut y = vec![0.0; x.data.len()];
        for b in 0..n {
            transpose(
                &x.data[b * hw * c..(b + 1) * hw * c],
                hw,
                c,
                &mut y[b * hw * c..(b + 1) * hw * c],
            );
        }
        self.in_shape = x.shape.clone();
        Tensor::new(vec![n, c * hw], y)
    }

    /// Reorders back to NHWC.
    pub fn backward(&self, dy: &Tensor) -> Tensor {
        let (n, hw, c) = (
            self.in_shape[0],
            self.in_shape[1] * self.in_shape[2],
            self.in_shape[3],
        );
        let mut dx = vec![0.0; dy.data.len()];
        for b in 0..n {
            transpose(
                &dy.data[b * hw * c..(b + 1) * hw * c],
                c,
                hw,
                &mut dx[b * hw * c..(b + 1) * hw * c],
            );
        }
        Tensor::new(self.in_shape.clone(), dx)
    }
}

/// Softmax cross-entropy over `logits: [n, classes]`.
#[derive(Clone, Debug)]
pub struct LossOutput {
    /// Mean loss over the batch.
    pub mean_loss: f32,
    /// Per-sample losses.
    pub losses: Vec<f32>,
    /// Per-sample argmax of the logits (first maximum on ties).
    pub predictions: Vec<usize>,
    /// `d mean_loss / d logits`, `[n, classes]`.
    pub grad: Tensor,
}

/// Softmax cross-entropy with the max-subtraction trick; `exp`/`ln` from [`crate::math`].
pub fn softmax_cross_entropy(logits: &Tensor, labels: &[u8]) -> LossOutput {
    let n = labels.len();
    assert!(
        logits.shape.len() == 2 && logits.shape[0] == n,
        "loss: logits {:?} vs {n} labels",
        logits.shape
    );
    let classes = logits.shape[1];
    let mut grad = vec![0.0f32; n * classes];
    let mut losses = Vec::with_capacity(n);
    let mut predictions = Vec::with_capacity(n);
    let inv_n = 1.0 / n as f32;
    for (i, (row, g)) in logits
        .data
        .chunks_exact(classes)
        .zip(grad.chunks_exact_mut(classes))
        .enumerate()
    {
        let label = labels[i] as usize;
        assert!(
            label < classes,
            "label {label} out of range for {classes} classes"
        );
        let mut arg = 0;
        for (j, v) in row.iter().enumerate() {
            if *v > row[arg] {
                arg = j;
            }
        }
        let max = row[arg];
        let mut sum = 0.0f32;
        for (gj, &z) in g.iter_mut().zip(row) {
            *gj = math::expf(z - max);
            sum += *gj;
        }
        for (j, gj) in g.iter_mut().enumerate() {
            let p = *gj / sum;
            *gj = (if j == label { p - 1.0 } else { p }) * inv_n;
        }
        losses.push((math::ln(sum as f64) - (row[label] - max) as f64) as f32);
        predictions.push(arg);
    }
    let mean_loss = (losses.iter().map(|&l| l as f64).sum::<f64>() / n.max(1) as f64) as f32;
    LossOutput {
        mean_loss,
        losses,
        predictions,
        grad: Tensor::new(vec![n, classes], grad),
    }
}
