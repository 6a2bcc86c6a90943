//! Plain f64 reference implementations in PyTorch's semantics (NCHW, `[oc, ic, k, k]`,
//! `[out, in]`, flatten in `c, h, w` order). Slow and obvious on purpose.

/// `x: [n, c, h, w]`, `w: [oc, c, k, k]` → `[n, oc, h, w]`, stride 1, zero 'same' padding.
pub fn conv(
    x: &[f64],
    [n, c, h, w]: [usize; 4],
    weight: &[f64],
    bias: &[f64],
    oc: usize,
    k: usize,
) -> Vec<f64> {
    let pad = (k / 2) as isize;
    let mut y = vec![0.0; n * oc * h * w];
    for b in 0..n {
        for o in 0..oc {
            for i in 0..h {
                for j in 0..w {
                    let mut acc = bias[o];
                    for ci in 0..c {
                        for ky in 0..k {
                            for kx in 0..k {
                                let (si, sj) = (
                                    i as isize + ky as isize - pad,
                                    j as isize + kx as isize - pad,
                                );
                                if si < 0 || sj < 0 || si >= h as isize || sj >= w as isize {
                                    continue;
                                }
                                acc += weight[((o * c + ci) * k + ky) * k + kx]
                                    * x[((b * c + ci) * h + si as usize) * w + sj as usize];
                            }
                        }
                    }
                    y[((b * oc + o) * h + i) * w + j] = acc;
                }
            }
        }
    }
    y
}

/// 2x2 max-pool, stride 2, `[n, c, h, w]` → `[n, c, h/2, w/2]`.
pub fn maxpool(x: &[f64], [n, c, h, w]: [usize; 4]) -> Vec<f64> {
    let (oh, ow) = (h / 2, w / 2);
    let mut y = vec![0.0; n * c * oh * ow];
    for p in 0..n * c {
        for i in 0..oh {
            for j in 0..ow {
                let at = |dy: usize, dx: usize| x[p * h * w + (2 * i + dy) * w + 2 * j + dx];
                y[p * oh * ow + i * ow + j] = at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1));
            }
        }
    }
    y
}

/// `x: [n, in]`, `w: [out, in]` → `[n, out]`.
pub fn dense(x: &[f64], n: usize, weight: &[f64], bias: &[f64], out: usize) -> Vec<f64> {
    let inp = x.len() / n;
    let mut y = vec![0.0; n * out];
    for b in 0..n {
        for o in 0..out {
            y[b * out + o] = bias[o]
                + (0..inp)
                    .map(|i| weight[o * inp + i] * x[b * inp + i])
                    .sum::<f64>();
        }
    }
    y
}

pub fn relu(x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| v.max(0.0)).collect()
}

/// Mean softmax cross-entropy of `logits: [n, classes]`.
pub fn cross_entropy(logits: &[f64], labels: &[u8]) -> f64 {
    let classes = logits.len() / labels.len();
    let total: f64 = logits
        .chunks(classes)
        .zip(labels)
        .map(|(row, &l)| {
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + row.iter().map(|z| (z - max).exp()).sum::<f64>().ln();
            lse - row[l as usize]
        })
        .sum();
    total / labels.len() as f64
}

/// NHWC → NCHW.
pub fn nhwc_to_nchw(x: &[f64], [n, h, w, c]: [usize; 4]) -> Vec<f64> {
    let mut y = vec![0.0; x.len()];
    for b in 0..n {
        for s in 0..h * w {
            for ci in 0..c {
                y[(b * c + ci) * h * w + s] = x[(b * h * w + s) * c + ci];
            }
        }
    }
    y
}

/// Central finite differences of `f` at `x`, in f64.
pub fn numeric_grad(x: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    const H: f64 = 1e-6;
    let mut probe = x.to_vec();
    (0..x.len())
        .map(|i| {
            let orig = probe[i];
            probe[i] = orig + H;
            let up = f(&probe);
            probe[i] = orig - H;
            let down = f(&probe);
            probe[i] = orig;
            (up - down) / (2.0 * H)
        })
        .collect()
}

/// Asserts an f32 analytic gradient matches an f64 numeric one.
pub fn assert_close(what: &str, analytic: &[f32], numeric: &[f64]) {
    assert_eq!(analytic.len(), numeric.len(), "{what}: length");
    for (i, (&a, &n)) in analytic.iter().zip(numeric).enumerate() {
        let tol = 2e-4 + 2e-3 * n.abs();
        assert!(
            (a as f64 - n).abs() <= tol,
            "{what}[{i}]: analytic {a} vs numeric {n}"
        );
    }
}

pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}
