//! How close local training gets to the core's FP32 peak, and whether threads change bits.
//!
//! Run: `cargo run --release -p cairn-ml --example train_speed [-- --steps N]`
//!
//! (a) peak multiply-add rate of one core (independent `acc = acc*c + d` chains),
//! (b) training GFLOP/s of the CNN and the 2NN (GEMM FLOPs counted analytically),
//! (c) threads = 1 vs 2 vs 3 from one seed: identical weight hashes?
//! (d) a sanity check that the numbers are learning: one 2NN epoch, test accuracy.
#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark has to read the wall clock"
)]

use std::path::Path;
use std::time::Instant;

use cairn_ml::gemm::{Isa, detect_isa};
use cairn_ml::{Dataset, Model, SyntheticConfig, TrainConfig, data, evaluate, train, train_steps};

fn main() {
    let steps_cnn = arg("--steps").unwrap_or(60);
    println!("== (a) peak FP32 multiply-add rate, one core ==");
    let peak = report_peak();

    let dataset = load_data();
    let indices: Vec<usize> = (0..dataset.len()).collect();
    println!("\n== (b) local training throughput (B = 10 unless noted, lr 0.05) ==");
    println!(
        "GEMM kernel: {:?}; FLOPs = 2 x multiply-adds of every GEMM, forward + backward",
        detect_isa()
    );
    let mut cnn_rate_1t = 0.0;
    for (label, arch_cnn, batch, steps, threads) in [
        ("CNN ", true, 10, steps_cnn, 1),
        ("CNN ", true, 50, steps_cnn / 5 + 1, 1),
        ("CNN ", true, 10, steps_cnn, 2),
        ("2NN ", false, 10, steps_cnn * 20, 1),
        ("2NN ", false, 50, steps_cnn * 4, 1),
        ("2NN ", false, 10, steps_cnn * 20, 2),
    ] {
        let mut model = if arch_cnn {
            Model::mnist_cnn(1)
        } else {
            Model::two_nn(1)
        };
        let config = TrainConfig {
            threads,
            batch_size: batch,
            ..TrainConfig::default()
        };
        // Warm up caches and the allocator, then keep the best of 3 timed runs: this is a
        // shared 2-core VM and neighbours steal time.
        train_steps(&mut model, &dataset, &indices, &config, 3).expect("train");
        let mut samples_per_s: f64 = 0.0;
        for _ in 0..3 {
            let t0 = Instant::now();
            let report =
                train_steps(&mut model, &dataset, &indices, &config, steps).expect("train");
            samples_per_s = samples_per_s.max(report.samples as f64 / t0.elapsed().as_secs_f64());
        }
        let gflops = model.train_flops_per_sample() as f64 * samples_per_s / 1e9;
        let ratio = gflops / (peak * threads as f64);
        println!(
            "{label} B={batch:<3} threads={threads}: {gflops:6.1} GFLOP/s = {:5.1}% of {threads} x peak | {samples_per_s:8.0} samples/s | MNIST epoch (60k) ≈ {:6.1} s",
            100.0 * ratio,
            60_000.0 / samples_per_s
        );
        if arch_cnn && batch == 10 && threads == 1 {
            cnn_rate_1t = samples_per_s;
        }
    }
    println!(
        "CNN: {:.1} MFLOP per training sample; 2NN: {:.2} MFLOP",
        Model::mnist_cnn(0).train_flops_per_sample() as f64 / 1e6,
        Model::two_nn(0).train_flops_per_sample() as f64 / 1e6
    );
    println!(
        "CNN single-thread MNIST epoch (B=10) extrapolated: {:.1} s",
        60_000.0 / cnn_rate_1t
    );

    println!("\n== (c) thread-count independence ==");
    for (name, cnn) in [("CNN", true), ("2NN", false)] {
        let hashes: Vec<u64> = [1, 2, 3]
            .iter()
            .map(|&threads| {
                let mut model = if cnn {
                    Model::mnist_cnn(7)
                } else {
                    Model::two_nn(7)
                };
                let config = TrainConfig {
                    threads,
                    batch_size: 32,
                    seed: 9,
                    ..TrainConfig::default()
                };
                train_steps(&mut model, &dataset, &indices, &config, 8).expect("train");
                model.weights_hash()
            })
            .collect();
        let same = hashes.iter().all(|&h| h == hashes[0]);
        println!(
            "{name}: 8 steps, threads 1/2/3 → hashes {:016x} {:016x} {:016x}: {}",
            hashes[0],
            hashes[1],
            hashes[2],
            if same {
                "IDENTICAL"
            } else {
                "DIFFERENT (bug!)"
            }
        );
    }
    sanity(&dataset);
}

fn sanity(train_set: &Dataset) {
    println!("\n== (d) sanity: 2NN, one epoch, B = 10, lr 0.05, threads = 2 ==");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist");
    let test =
        data::load_mnist(&dir, data::Split::Test).unwrap_or_else(|_| train_set.truncated(1000));
    let indices: Vec<usize> = (0..train_set.len()).collect();
    let mut model = Model::two_nn(3);
    let config = TrainConfig {
        threads: 2,
        ..TrainConfig::default()
    };
    let t0 = Instant::now();
    train(&mut model, train_set, &indices, &config).expect("train");
    let secs = t0.elapsed().as_secs_f64();
    let eval = evaluate(&mut model, &test, None, 2).expect("eval");
    println!(
        "{} training samples in {secs:.1} s → test accuracy {:.2}% (mean loss {:.3}) on {} samples",
        indices.len(),
        100.0 * eval.accuracy,
        eval.mean_loss,
        eval.samples
    );
}

fn arg(name: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

fn load_data() -> Dataset {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist");
    match data::load_mnist(&dir, data::Split::Train) {
        Ok(d) => {
            println!(
                "\ndata: MNIST train from {} ({} samples)",
                dir.display(),
                d.len()
            );
            d
        }
        Err(e) => {
            println!("\ndata: synthetic (MNIST not loaded: {e})");
            data::synthetic(&SyntheticConfig {
                samples: 6000,
                ..SyntheticConfig::default()
            })
        }
    }
}

/// Measures every available ISA; returns the best non-fused rate (training never fuses).
fn report_peak() -> f64 {
    const ITERS: usize = 20_000_000;
    let mut best: f64 = 0.0;
    let isas = [Isa::Portable, Isa::Avx2, Isa::Avx512];
    for isa in isas
        .into_iter()
        .filter(|&i| cairn_ml::gemm::isa_available(i))
    {
        // Best of 3: the clock ramps up and neighbours steal time.
        let rate = (0..3)
            .map(|_| {
                let (flops, secs) = peak::run(isa, ITERS);
                flops / secs / 1e9
            })
            .fold(0.0, f64::max);
        best = best.max(rate);
        println!(
            "{:<9} mul+add (separately rounded): {rate:6.1} GFLOP/s",
            format!("{isa:?}")
        );
    }
    if let Some((flops, secs)) = peak::run_fma(ITERS) {
        println!(
            "AVX2 FMA  (fused, for reference only)  : {:6.1} GFLOP/s",
            flops / secs / 1e9
        );
    }
    println!("peak used for ratios (best non-fused): {best:.1} GFLOP/s");
    best
}

mod peak {
    use super::*;

    /// Independent dependency chains: enough to hide the mul→add latency, few enough to stay
    /// in registers (AVX2 has 16 ymm registers).
    const CHAINS: usize = 14;
    /// AVX-512 has 32 zmm registers and needs more chains in flight to saturate.
    const CHAINS_512: usize = 24;

    /// `CHAINS` independent chains `acc = acc * c + d`, `lanes` wide: enough chains to cover
    /// the mul→add latency at full issue rate. 2 FLOPs per lane per chain per iteration.
    pub fn run(isa: Isa, iters: usize) -> (f64, f64) {
        let t0 = Instant::now();
        let (lanes, sink) = match isa {
            Isa::Portable => (4, portable(iters / 4)),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: availability checked by the caller.
            Isa::Avx2 => (8, unsafe { x86::avx2(iters) }),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => (16, unsafe { x86::avx512(iters) }),
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!(),
        };
        let secs = t0.elapsed().as_secs_f64();
        std::hint::black_box(sink);
        let iters = if isa == Isa::Portable {
            iters / 4
        } else {
            iters
        };
        let chains = if isa == Isa::Avx512 {
            CHAINS_512
        } else {
            CHAINS
        };
        (2.0 * chains as f64 * lanes as f64 * iters as f64, secs)
    }

    pub fn run_fma(iters: usize) -> Option<(f64, f64)> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("fma") && std::arch::is_x86_feature_detected!("avx2")
        {
            let t0 = Instant::now();
            // SAFETY: features checked above.
            let sink = unsafe { x86::fma(iters) };
            let secs = t0.elapsed().as_secs_f64();
            std::hint::black_box(sink);
            return Some((2.0 * CHAINS as f64 * 8.0 * iters as f64, secs));
        }
        let _ = iters;
        None
    }

    /// Baseline-ISA version the compiler vectorises by itself (SSE2 on x86-64: 4 lanes).
    fn portable(iters: usize) -> f32 {
        let mut acc = [[1.0f32; 4]; CHAINS];
        let c = std::hint::black_box(0.999_999_9f32);
        let d = std::hint::black_box(1e-7f32);
        for _ in 0..iters {
            for chain in acc.iter_mut() {
                for v in chain.iter_mut() {
                    *v = *v * c + d;
                }
            }
        }
        acc.iter().flatten().sum()
    }

    #[cfg(target_arch = "x86_64")]
    mod x86 {
        use core::arch::x86_64::*;

        #[target_feature(enable = "avx2")]
        pub unsafe fn avx2(iters: usize) -> f32 {
            let mut acc = [_mm256_set1_ps(1.0); super::CHAINS];
            let c = _mm256_set1_ps(std::hint::black_box(0.999_999_9));
            let d = _mm256_set1_ps(std::hint::black_box(1e-7));
            for _ in 0..iters {
                for a in acc.iter_mut() {
                    *a = _mm256_add_ps(_mm256_mul_ps(*a, c), d);
                }
            }
            let mut out = [0.0f32; 8];
            let total = acc
                .iter()
                .fold(_mm256_setzero_ps(), |s, a| _mm256_add_ps(s, *a));
            // SAFETY: out has 8 floats.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), total) };
            out.iter().sum()
        }

        #[target_feature(enable = "avx512f")]
        pub unsafe fn avx512(iters: usize) -> f32 {
            let mut acc = [_mm512_set1_ps(1.0); super::CHAINS_512];
            let c = _mm512_set1_ps(std::hint::black_box(0.999_999_9));
            let d = _mm512_set1_ps(std::hint::black_box(1e-7));
            for _ in 0..iters {
                for a in acc.iter_mut() {
                    *a = _mm512_add_ps(_mm512_mul_ps(*a, c), d);
                }
            }
            _mm512_reduce_add_ps(
                acc.iter()
                    .fold(_mm512_setzero_ps(), |s, a| _mm512_add_ps(s, *a)),
            )
        }

        #[target_feature(enable = "avx2,fma")]
        pub unsafe fn fma(iters: usize) -> f32 {
            let mut acc = [_mm256_set1_ps(1.0); super::CHAINS];
            let c = _mm256_set1_ps(std::hint::black_box(0.999_999_9));
            let d = _mm256_set1_ps(std::hint::black_box(1e-7));
            for _ in 0..iters {
                for a in acc.iter_mut() {
                    *a = _mm256_fmadd_ps(*a, c, d);
                }
            }
            let mut out = [0.0f32; 8];
            let total = acc
                .iter()
                .fold(_mm256_setzero_ps(), |s, a| _mm256_add_ps(s, *a));
            // SAFETY: out has 8 floats.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), total) };
            out.iter().sum()
        }
    }
}
