//! Every layer's backward pass against f64 finite differences of an f64 reference forward.
//! Loss used per layer: `L = Σ y ⊙ r` for a fixed random `r`, so `dL/dy = r`.

use cairn_ml::layers::{Conv2d, Dense, Flatten, MaxPool2, Relu, Tensor, softmax_cross_entropy};
use cairn_ml::model::{Arch, CnnConfig, Model};
use cairn_ml::rng::Rng;

use crate::reference::{self as r, assert_close, numeric_grad, to_f64};

fn random(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.uniform_f32() * 2.0 - 1.0).collect()
}

fn dot(a: &[f64], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * *y as f64).sum()
}

#[test]
fn dense_gradients_match_finite_differences() {
    let mut rng = Rng::new(1);
    let (n, inp, out) = (3, 7, 5);
    let mut layer = Dense::new("fc", inp, out, &mut rng);
    let x = random(&mut rng, n * inp);
    let weights = random(&mut rng, n * out);
    let y = layer.forward(&Tensor::new(vec![n, inp], x.clone()), 1);
    let expected = r::dense(
        &to_f64(&x),
        n,
        &to_f64(&layer.weight),
        &to_f64(&layer.bias),
        out,
    );
    assert_close("dense forward", y.data(), &expected);
    let dx = layer
        .backward(&Tensor::new(vec![n, out], weights.clone()), 1)
        .expect("dx");
    let (w, b, xs) = (to_f64(&layer.weight), to_f64(&layer.bias), to_f64(&x));
    assert_close(
        "dense dW",
        &layer.grad_weight,
        &numeric_grad(&w, |w| dot(&r::dense(&xs, n, w, &b, out), &weights)),
    );
    assert_close(
        "dense db",
        &layer.grad_bias,
        &numeric_grad(&b, |b| dot(&r::dense(&xs, n, &w, b, out), &weights)),
    );
    assert_close(
        "dense dx",
        dx.data(),
        &numeric_grad(&xs, |x| dot(&r::dense(x, n, &w, &b, out), &weights)),
    );
}

#[test]
fn conv_gradients_match_finite_differences() {
    for (k, ic, oc) in [(5, 2, 3), (3, 1, 4)] {
        let mut rng = Rng::new(2 + k as u64);
        let (n, h, w) = (2, 6, 5);
        let mut layer = Conv2d::new("conv", ic, oc, k, &mut rng);
        let x_nhwc = random(&mut rng, n * h * w * ic);
        let weights = random(&mut rng, n * h * w * oc);
        let y = layer.forward(&Tensor::new(vec![n, h, w, ic], x_nhwc.clone()), 1);
        // Compare in NCHW: the reference is PyTorch's convolution.
        let x = r::nhwc_to_nchw(&to_f64(&x_nhwc), [n, h, w, ic]);
        let rw: Vec<f32> = r::nhwc_to_nchw(&to_f64(&weights), [n, h, w, oc])
            .iter()
            .map(|&v| v as f32)
            .collect();
        let (wt, b) = (to_f64(&layer.weight), to_f64(&layer.bias));
        let y_ref = r::conv(&x, [n, ic, h, w], &wt, &b, oc, k);
        assert_close(
            "conv forward",
            &r::nhwc_to_nchw(&to_f64(y.data()), [n, h, w, oc])
                .iter()
                .map(|&v| v as f32)
                .collect::<Vec<_>>(),
            &y_ref,
        );
        let dx = layer
            .backward(&Tensor::new(vec![n, h, w, oc], weights), 1)
            .expect("dx");
        let loss =
            |x: &[f64], wt: &[f64], b: &[f64]| dot(&r::conv(x, [n, ic, h, w], wt, b, oc, k), &rw);
        assert_close(
            "conv dW",
            &layer.grad_weight,
            &numeric_grad(&wt, |v| loss(&x, v, &b)),
        );
        assert_close(
            "conv db",
            &layer.grad_bias,
            &numeric_grad(&b, |v| loss(&x, &wt, v)),
        );
        let dx_nchw: Vec<f32> = r::nhwc_to_nchw(&to_f64(dx.data()), [n, h, w, ic])
            .iter()
            .map(|&v| v as f32)
            .collect();
        assert_close("conv dx", &dx_nchw, &numeric_grad(&x, |v| loss(v, &wt, &b)));
    }
}

#[test]
fn maxpool_relu_flatten_gradients_match_finite_differences() {
    let mut rng = Rng::new(5);
    let (n, h, w, c) = (2, 4, 6, 3);
    let x_nhwc = random(&mut rng, n * h * w * c);
    let x = r::nhwc_to_nchw(&to_f64(&x_nhwc), [n, h, w, c]);
    // Pool → ReLU → flatten (PyTorch order), checked as one composition and per layer.
    let (mut pool, mut relu, mut flat) = (MaxPool2::default(), Relu::default(), Flatten::default());
    let p = pool.forward(&Tensor::new(vec![n, h, w, c], x_nhwc));
    let a = relu.forward(p);
    let y = flat.forward(&a);
    assert_eq!(y.shape(), [n, c * (h / 2) * (w / 2)]);
    let reference = |x: &[f64]| r::relu(&r::maxpool(x, [n, c, h, w]));
    assert_close("pool+relu+flatten forward", y.data(), &reference(&x));
    let weights = random(&mut rng, y.data().len());
    let g = flat.backward(&Tensor::new(y.shape().to_vec(), weights.clone()));
    let g = relu.backward(g);
    let dx = pool.backward(&g);
    let dx_nchw: Vec<f32> = r::nhwc_to_nchw(&to_f64(dx.data()), [n, h, w, c])
        .iter()
        .map(|&v| v as f32)
        .collect();
    assert_close(
        "pool+relu+flatten dx",
        &dx_nchw,
        &numeric_grad(&x, |x| dot(&reference(x), &weights)),
    );
}

#[test]
fn softmax_cross_entropy_gradient_matches_finite_differences() {
    let mut rng = Rng::new(6);
    let (n, classes) = (4, 10);
    let logits: Vec<f32> = random(&mut rng, n * classes)
        .iter()
        .map(|v| v * 5.0)
        .collect();
    let labels = [3u8, 0, 9, 3];
    let out = softmax_cross_entropy(&Tensor::new(vec![n, classes], logits.clone()), &labels);
    let z = to_f64(&logits);
    assert!((out.mean_loss as f64 - r::cross_entropy(&z, &labels)).abs() < 1e-5);
    assert_close(
        "softmax CE dlogits",
        out.grad.data(),
        &numeric_grad(&z, |z| r::cross_entropy(z, &labels)),
    );
}

/// The whole network against the reference, so layouts (NCHW input → NHWC inside, flatten
/// order, weight layouts) are checked end to end, not just each layer alone.
#[test]
fn whole_cnn_and_mlp_gradients_match_finite_differences() {
    let cnn = CnnConfig {
        in_channels: 2,
        height: 8,
        width: 4,
        kernel: 3,
        conv1: 2,
        conv2: 3,
        hidden: 5,
        classes: 4,
    };
    let mlp = Arch::Mlp {
        input: 6,
        hidden: vec![5, 4],
        classes: 3,
    };
    for arch in [Arch::Cnn(cnn), mlp] {
        let mut model = Model::new(arch.clone(), 11).expect("model");
        let n = 3;
        let mut rng = Rng::new(12);
        let x = random(&mut rng, n * arch.input_len());
        let labels: Vec<u8> = (0..n).map(|i| (i % arch.classes()) as u8).collect();
        let logits = model.forward(&x, n, 1);
        let loss = softmax_cross_entropy(&logits, &labels);
        model.backward(&loss.grad, 1);
        let params = model.parameters();
        let flat: Vec<f64> = params.iter().flat_map(|(_, _, v)| to_f64(v)).collect();
        let reference_loss = |theta: &[f64]| {
            let mut at = 0;
            let mut take = |len: usize| {
                at += len;
                theta[at - len..at].to_vec()
            };
            let mut tensors: Vec<Vec<f64>> = params.iter().map(|(_, _, v)| take(v.len())).collect();
            tensors.reverse();
            reference_forward(&arch, &to_f64(&x), n, &mut tensors, &labels)
        };
        assert!(
            (reference_loss(&flat) - loss.mean_loss as f64).abs() < 1e-5,
            "{arch:?}: loss differs from reference"
        );
        let numeric = numeric_grad(&flat, reference_loss);
        let analytic: Vec<f32> = model
            .gradients()
            .into_iter()
            .flat_map(|(_, _, g)| g)
            .collect();
        assert_close(&format!("{arch:?} gradients"), &analytic, &numeric);
    }
}

/// `tensors` holds the parameters in reverse `parameters()` order (pop = next).
fn reference_forward(
    arch: &Arch,
    x: &[f64],
    n: usize,
    tensors: &mut Vec<Vec<f64>>,
    labels: &[u8],
) -> f64 {
    let mut next = || tensors.pop().expect("parameter");
    let logits = match arch {
        Arch::Cnn(c) => {
            let (h, w) = (c.height, c.width);
            let (w1, b1) = (next(), next());
            let a = r::maxpool(
                &r::relu(&r::conv(
                    x,
                    [n, c.in_channels, h, w],
                    &w1,
                    &b1,
                    c.conv1,
                    c.kernel,
                )),
                [n, c.conv1, h, w],
            );
            let (w2, b2) = (next(), next());
            let a = r::maxpool(
                &r::relu(&r::conv(
                    &a,
                    [n, c.conv1, h / 2, w / 2],
                    &w2,
                    &b2,
                    c.conv2,
                    c.kernel,
                )),
                [n, c.conv2, h / 2, w / 2],
            );
            let (w3, b3) = (next(), next());
            let a = r::relu(&r::dense(&a, n, &w3, &b3, c.hidden));
            let (w4, b4) = (next(), next());
            r::dense(&a, n, &w4, &b4, c.classes)
        }
        Arch::Mlp {
            hidden, classes, ..
        } => {
            let mut a = x.to_vec();
            let widths: Vec<usize> = hidden.iter().copied().chain([*classes]).collect();
            for (i, &out) in widths.iter().enumerate() {
                let (wt, b) = (next(), next());
                a = r::dense(&a, n, &wt, &b, out);
                if i + 1 < widths.len() {
                    a = r::relu(&a);
                }
            }
            a
        }
    };
    r::cross_entropy(&logits, labels)
}
