//! Models: a sequence of layers built from an [`Arch`], with named parameters.

use crate::layers::{Conv2d, Dense, Flatten, MaxPool2, Relu, Tensor};
use crate::rng::Rng;

/// Largest layer width or channel count accepted, so a hostile config cannot allocate terabytes.
pub const MAX_LAYER_WIDTH: usize = 1 << 16;

/// A network's shape. Two models with equal `Arch` have interchangeable parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arch {
    /// Fully connected ReLU network: `input → hidden... → classes`.
    Mlp {
        /// Input features (784 for MNIST).
        input: usize,
        /// Hidden layer widths.
        hidden: Vec<usize>,
        /// Output classes.
        classes: usize,
    },
    /// conv → ReLU → pool → conv → ReLU → pool → fc → ReLU → fc.
    Cnn(CnnConfig),
}

/// The convolutional architecture's sizes; [`CnnConfig::mnist`] is McMahan et al. 2017's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CnnConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Input height (divisible by 4).
    pub height: usize,
    /// Input width (divisible by 4).
    pub width: usize,
    /// Kernel side (odd, 'same' padding).
    pub kernel: usize,
    /// First convolution's output channels.
    pub conv1: usize,
    /// Second convolution's output channels.
    pub conv2: usize,
    /// Hidden fully connected width.
    pub hidden: usize,
    /// Output classes.
    pub classes: usize,
}

impl CnnConfig {
    /// The "CNN" of McMahan et al. 2017 for 28x28 MNIST: 5x5x32, 5x5x64, fc512, fc10.
    pub fn mnist() -> Self {
        Self {
            in_channels: 1,
            height: 28,
            width: 28,
            kernel: 5,
            conv1: 32,
            conv2: 64,
            hidden: 512,
            classes: 10,
        }
    }
}

impl Arch {
    /// McMahan et al.'s "2NN": 784-200-200-10.
    pub fn two_nn() -> Self {
        Arch::Mlp {
            input: 784,
            hidden: vec![200, 200],
            classes: 10,
        }
    }

    /// McMahan et al.'s MNIST CNN.
    pub fn mnist_cnn() -> Self {
        Arch::Cnn(CnnConfig::mnist())
    }

    /// Features per input sample.
    pub fn input_len(&self) -> usize {
        match self {
            Arch::Mlp { input, .. } => *input,
            Arch::Cnn(c) => c.in_channels * c.height * c.width,
        }
    }

    /// Output classes.
    pub fn classes(&self) -> usize {
        match self {
            Arch::Mlp { classes, .. } | Arch::Cnn(CnnConfig { classes, .. }) => *classes,
        }
    }

    fn validate(&self) -> Result<(), ModelError> {
        let widths: Vec<usize> = match self {
            Arch::Mlp {
                input,
                hidden,
                classes,
            } => [*input, *classes].iter().chain(hidden).copied().collect(),
            Arch::Cnn(c) => {
                if c.height % 4 != 0 || c.width % 4 != 0 || c.kernel % 2 == 0 {
                    return Err(ModelError::InvalidArch(format!(
                        "CNN needs height and width divisible by 4 and an odd kernel: {c:?}"
                    )));
                }
                vec![
                    c.in_channels,
                    c.height,
                    c.width,
                    c.kernel,
                    c.conv1,
                    c.conv2,
                    c.hidden,
                    c.classes,
                ]
            }
        };
        if let Some(&bad) = widths.iter().find(|&&w| w == 0 || w > MAX_LAYER_WIDTH) {
            return Err(ModelError::InvalidArch(format!(
                "every size must be in 1..={MAX_LAYER_WIDTH}, got {bad} in {self:?}"
            )));
        }
        Ok(())
    }
}

/// What can go wrong building a model or replacing its parameters.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    /// The architecture is malformed.
    #[error("invalid architecture: {0}")]
    InvalidArch(String),
    /// A supplied parameter name is not in the model.
    #[error("unknown parameter `{name}`")]
    UnknownParameter {
        /// The offending name.
        name: String,
    },
    /// A model parameter was not supplied.
    #[error("missing parameter `{name}`")]
    MissingParameter {
        /// The missing name.
        name: String,
    },
    /// A parameter has the wrong shape or element count.
    #[error("parameter `{name}`: expected shape {expected:?}, got {got:?} with {len} values")]
    ShapeMismatch {
        /// The parameter.
        name: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The supplied shape.
        got: Vec<usize>,
        /// The supplied number of values.
        len: usize,
    },
}

/// One layer of a [`Model`].
#[derive(Clone, Debug)]
pub enum Layer {
    /// Fully connected.
    Dense(Dense),
    /// Convolution.
    Conv2d(Conv2d),
    /// 2x2 max-pooling.
    MaxPool2(MaxPool2),
    /// ReLU.
    Relu(Relu),
    /// NHWC → `[n, features]` in `(c, h, w)` order.
    Flatten(Flatten),
}

/// A named parameter tensor: `(name, shape, values)`.
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// `(name, shape, values, gradient)` of one parameter, borrowed from the model.
type ParamSlot<'a> = (String, Vec<usize>, &'a [f32], &'a [f32]);

/// A trainable network.
#[derive(Clone, Debug)]
pub struct Model {
    arch: Arch,
    layers: Vec<Layer>,
}

impl Model {
    /// Builds `arch` with parameters drawn from `seed`.
    pub fn new(arch: Arch, seed: u64) -> Result<Self, ModelError> {
        arch.validate()?;
        let mut rng = Rng::new(seed);
        let mut layers = Vec::new();
        match &arch {
            Arch::Mlp {
                input,
                hidden,
                classes,
            } => {
                let widths: Vec<usize> = std::iter::once(*input)
                    .chain(hidden.iter().copied())
                    .chain([*classes])
                    .collect();
                for (i, pair) in widths.windows(2).enumerate() {
                    if i > 0 {
                        layers.push(Layer::Relu(Relu::default()));
                    }
                    layers.push(Layer::Dense(Dense::new(
                        &format!("fc{}", i + 1),
                        pair[0],
                        pair[1],
                        &mut rng,
                    )));
                }
            }
            Arch::Cnn(c) => {
                let flat = c.conv2 * (c.height / 4) * (c.width / 4);
                layers.push(Layer::Conv2d(Conv2d::new(
                    "conv1",
                    c.in_channels,
                    c.conv1,
                    c.kernel,
                    &mut rng,
                )));
                layers.push(Layer::Relu(Relu::default()));
                layers.push(Layer::MaxPool2(MaxPool2::default()));
                layers.push(Layer::Conv2d(Conv2d::new(
                    "conv2", c.conv1, c.conv2, c.kernel, &mut rng,
                )));
                layers.push(Layer::Relu(Relu::default()));
                layers.push(Layer::MaxPool2(MaxPool2::default()));
                layers.push(Layer::Flatten(Flatten::default()));
                layers.push(Layer::Dense(Dense::new("fc1", flat, c.hidden, &mut rng)));
                layers.push(Layer::Relu(Relu::default()));
                layers.push(Layer::Dense(Dense::new(
                    "fc2", c.hidden, c.classes, &mut rng,
                )));
            }
        }
        // The input needs no gradient: skipping it saves a GEMM (and a col2im) per step.
        match layers.first_mut() {
            Some(Layer::Dense(d)) => d.needs_input_grad = false,
            Some(Layer::Conv2d(c)) => c.needs_input_grad = false,
            _ => {}
        }
        Ok(Self { arch, layers })
    }

    /// McMahan et al.'s 2NN with parameters from `seed`.
    pub fn two_nn(seed: u64) -> Self {
        Self::new(Arch::two_nn(), seed).expect("2NN is valid")
    }

    /// McMahan et al.'s MNIST CNN with parameters from `seed`.
    pub fn mnist_cnn(seed: u64) -> Self {
        Self::new(Arch::mnist_cnn(), seed).expect("MNIST CNN is valid")
    }

    /// The architecture.
    pub fn arch(&self) -> &Arch {
        &self.arch
    }

    /// The layers (for inspection and tests).
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Logits `[n, classes]` for `n` samples laid out back to back in `batch`.
    pub fn forward(&mut self, batch: &[f32], n: usize, threads: usize) -> Tensor {
        let features = self.arch.input_len();
        assert_eq!(
            batch.len(),
            n * features,
            "forward: {} values for {n} samples of {features}",
            batch.len()
        );
        let mut x = match &self.arch {
            Arch::Mlp { .. } => Tensor::new(vec![n, features], batch.to_vec()),
            Arch::Cnn(c) => {
                // [n, c, h, w] → NHWC.
                let (hw, ch) = (c.height * c.width, c.in_channels);
                let mut data = vec![0.0; batch.len()];
                for b in 0..n {
                    crate::gemm::transpose(
                        &batch[b * ch * hw..(b + 1) * ch * hw],
                        ch,
                        hw,
                        &mut data[b * ch * hw..(b + 1) * ch * hw],
                    );
                }
                Tensor::new(vec![n, c.height, c.width, ch], data)
            }
        };
        for layer in &mut self.layers {
            x = match layer {
                Layer::Dense(d) => d.forward(&x, threads),
                Layer::Conv2d(c) => c.forward(&x, threads),
                Layer::MaxPool2(p) => p.forward(&x),
                Layer::Relu(r) => r.forward(x),
                Layer::Flatten(f) => f.forward(&x),
            };
        }
        x
    }

    /// Back-propagates `d loss / d logits` from the last `forward`, storing parameter gradients.
    pub fn backward(&mut self, grad_logits: &Tensor, threads: usize) {
        let mut g = grad_logits.clone();
        for layer in self.layers.iter_mut().rev() {
            let next = match layer {
                Layer::Dense(d) => d.backward(&g, threads),
                Layer::Conv2d(c) => c.backward(&g, threads),
                Layer::MaxPool2(p) => Some(p.backward(&g)),
                Layer::Relu(r) => Some(r.backward(g)),
                Layer::Flatten(f) => Some(f.backward(&g)),
            };
            match next {
                Some(next) => g = next,
                None => return,
            }
        }
    }

    /// Every parameter as `(name, shape, values)`, in a fixed order (layer order, weight
    /// before bias). Names: `conv1.weight`, `fc1.bias`, ...
    pub fn parameters(&self) -> Vec<NamedTensor> {
        self.param_slots()
            .into_iter()
            .map(|(name, shape, values, _)| (name, shape, values.to_vec()))
            .collect()
    }

    /// The gradients of the last `backward`, named like [`Model::parameters`].
    pub fn gradients(&self) -> Vec<NamedTensor> {
        self.param_slots()
            .into_iter()
            .map(|(name, shape, _, grad)| (name, shape, grad.to_vec()))
            .collect()
    }

    /// Total number of scalar parameters.
    pub fn parameter_count(&self) -> usize {
        self.param_slots().iter().map(|s| s.2.len()).sum()
    }

    fn param_slots(&self) -> Vec<ParamSlot<'_>> {
        let mut out = Vec::new();
        for layer in &self.layers {
            match layer {
                Layer::Dense(d) => {
                    out.push((
                        format!("{}.weight", d.name),
                        vec![d.out_features, d.in_features],
                        &d.weight[..],
                        &d.grad_weight[..],
                    ));
                    out.push((
                        format!("{}.bias", d.name),
                        vec![d.out_features],
                        &d.bias[..],
                        &d.grad_bias[..],
                    ));
                }
                Layer::Conv2d(c) => {
                    let shape = vec![c.out_channels, c.in_channels, c.kernel, c.kernel];
                    out.push((
                        format!("{}.weight", c.name),
                        shape,
                        &c.weight[..],
                        &c.grad_weight[..],
                    ));
                    out.push((
                        format!("{}.bias", c.name),
                        vec![c.out_channels],
                        &c.bias[..],
                        &c.grad_bias[..],
                    ));
                }
                _ => {}
            }
        }
        out
    }

    /// Mutable parameter slices paired with their gradients, in [`Model::parameters`] order.
    pub fn params_and_grads_mut(&mut self) -> Vec<(&mut [f32], &[f32])> {
        let mut out: Vec<(&mut [f32], &[f32])> = Vec::new();
        for layer in &mut self.layers {
            match layer {
                Layer::Dense(d) => {
                    out.push((&mut d.weight, &d.grad_weight));
                    out.push((&mut d.bias, &d.grad_bias));
                }
                Layer::Conv2d(c) => {
                    out.push((&mut c.weight, &c.grad_weight));
                    out.push((&mut c.bias, &c.grad_bias));
                }
                _ => {}
            }
        }
        out
    }

    /// Replaces every parameter. All names must be present with exactly the model's shapes;
    /// on error nothing is changed.
    pub fn set_parameters(&mut self, params: &[NamedTensor]) -> Result<(), ModelError> {
        let expected: Vec<(String, Vec<usize>)> = self
            .param_slots()
            .into_iter()
            .map(|(n, s, _, _)| (n, s))
            .collect();
        let mut sources = Vec::with_capacity(expected.len());
        for (name, want) in &expected {
            let Some((_, shape, values)) = params.iter().find(|(n, _, _)| n == name) else {
                return Err(ModelError::MissingParameter { name: name.clone() });
            };
            if shape != want || values.len() != want.iter().product::<usize>() {
                return Err(ModelError::ShapeMismatch {
                    name: name.clone(),
                    expected: want.clone(),
                    got: shape.clone(),
                    len: values.len(),
                });
            }
            sources.push(values);
        }
        if let Some((name, _, _)) = params
            .iter()
            .find(|(n, _, _)| !expected.iter().any(|(e, _)| e == n))
        {
            return Err(ModelError::UnknownParameter { name: name.clone() });
        }
        for ((dst, _), src) in self.params_and_grads_mut().into_iter().zip(sources) {
            dst.copy_from_slice(src);
        }
        Ok(())
    }

    /// FNV-1a 64 over every parameter's name, shape and little-endian bytes: equal hashes
    /// mean (with overwhelming likelihood) bit-identical weights.
    pub fn weights_hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        for (name, shape, values, _) in self.param_slots() {
            eat(name.as_bytes());
            for d in shape {
                eat(&(d as u64).to_le_bytes());
            }
            for v in values {
                eat(&v.to_le_bytes());
            }
        }
        h
    }

    /// Analytic FLOPs per sample of one training step (forward + backward), counting the
    /// GEMMs only (2 per multiply-add); elementwise work is a few percent and not counted.
    pub fn train_flops_per_sample(&self) -> u64 {
        let (fwd, bwd) = self.flops_per_sample();
        fwd + bwd
    }

    /// `(forward, backward)` GEMM FLOPs per sample.
    pub fn flops_per_sample(&self) -> (u64, u64) {
        let (mut fwd, mut bwd) = (0u64, 0u64);
        let mut hw = match &self.arch {
            Arch::Mlp { .. } => 1,
            Arch::Cnn(c) => (c.height * c.width) as u64,
        };
        for layer in &self.layers {
            let (macs, input_grad) = match layer {
                Layer::Dense(d) => ((d.in_features * d.out_features) as u64, d.needs_input_grad),
                Layer::Conv2d(c) => (
                    (c.out_channels * c.in_channels * c.kernel * c.kernel) as u64 * hw,
                    c.needs_input_grad,
                ),
                Layer::MaxPool2(_) => {
                    hw /= 4;
                    continue;
                }
                _ => continue,
            };
            fwd += 2 * macs;
            bwd += 2 * macs * if input_grad { 2 } else { 1 };
        }
        (fwd, bwd)
    }
}
