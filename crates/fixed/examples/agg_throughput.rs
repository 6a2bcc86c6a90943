//! Aggregation throughput against a plain read of the same bytes, in one run.
//!
//! ```sh
//! cargo run --release -p cairn-fixed --example agg_throughput -- --params 1000000 --updates 10
//! ```
//!
//! Throughput is parameters × updates per second; the baseline is a single-threaded sum of every
//! `i32` of every update (the least any rule must do: read each value once). Each figure is the
//! best of `--reps` rounds; a round times the plain read and then the rule, so machine load from
//! other processes hits both alike. Wall-clock reads are fine here: this is a benchmark, not consensus code.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use cairn_fixed::{QModel, QTensor, fedavg, krum, median, multi_krum, trimmed_mean};

struct Args {
    params: usize,
    updates: usize,
    reps: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        params: 1_000_000,
        updates: 10,
        reps: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().and_then(|v| v.parse::<usize>().ok());
        match (flag.as_str(), value) {
            ("--params", Some(v)) => args.params = v,
            ("--updates", Some(v)) => args.updates = v,
            ("--reps", Some(v)) => args.reps = v.max(1),
            _ => {
                eprintln!("usage: agg_throughput [--params N] [--updates N] [--reps N]");
                std::process::exit(2);
            }
        }
    }
    args
}

/// Deterministic pseudo-random updates (xorshift64*): values in ±2^20, i.e. ±16 at 16 fractional
/// bits, in four tensors like a small network's layers.
fn make_updates(params: usize, updates: usize) -> Vec<QModel> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let sizes = [
        params / 2,
        params / 4,
        params / 8,
        params - params / 2 - params / 4 - params / 8,
    ];
    (0..updates)
        .map(|_| {
            let tensors = sizes
                .iter()
                .enumerate()
                .map(|(t, &len)| {
                    let values = (0..len)
                        .map(|_| ((next() >> 43) as i32) - (1 << 20))
                        .collect();
                    (
                        format!("layer{t}"),
                        QTensor::vector(16, values).expect("valid tensor"),
                    )
                })
                .collect();
            QModel::new(tensors).expect("valid model")
        })
        .collect()
}

/// The baseline: one pass over every value, single thread, wrapping i64 adds (vectorisable).
fn plain_read(updates: &[QModel]) -> i64 {
    let mut sum = 0i64;
    for model in updates {
        for (_, tensor) in model.tensors() {
            sum = tensor
                .values()
                .iter()
                .fold(sum, |s, &v| s.wrapping_add(i64::from(v)));
        }
    }
    sum
}

fn main() {
    let args = parse_args();
    let n = args.updates;
    let updates = make_updates(args.params, n);
    let small: Vec<u64> = (0..n as u64).map(|i| 100 + 37 * i).collect();
    let large: Vec<u64> = (0..n as u64).map(|i| (1 << 40) + i).collect();
    let byzantine = (n.saturating_sub(3)) / 2;
    let trim = n / 10;

    type Rule<'a> = (String, Box<dyn FnMut() -> usize + 'a>);
    let u = &updates;
    let rules: Vec<Rule<'_>> = vec![
        (
            "plain read (sum of i32)".into(),
            Box::new(|| plain_read(u) as usize),
        ),
        (
            "fedavg (Σw ≤ 2^30, i64 path)".into(),
            Box::new(|| {
                fedavg(u, &small)
                    .map(|a| a.model.elements() as usize)
                    .unwrap_or(0)
            }),
        ),
        (
            "fedavg (Σw > 2^30, i128 path)".into(),
            Box::new(|| {
                fedavg(u, &large)
                    .map(|a| a.model.elements() as usize)
                    .unwrap_or(0)
            }),
        ),
        (
            "median".into(),
            Box::new(|| median(u).map(|a| a.model.elements() as usize).unwrap_or(0)),
        ),
        (
            format!("trimmed mean (k={trim})"),
            Box::new(move || {
                trimmed_mean(u, trim)
                    .map(|a| a.model.elements() as usize)
                    .unwrap_or(0)
            }),
        ),
        (
            format!("krum (f={byzantine})"),
            Box::new(move || {
                krum(u, byzantine)
                    .map(|a| a.model.elements() as usize)
                    .unwrap_or(0)
            }),
        ),
        (
            format!("multi-krum (f={byzantine}, m={})", n - byzantine),
            Box::new(move || {
                multi_krum(u, byzantine, n - byzantine)
                    .map(|a| a.model.elements() as usize)
                    .unwrap_or(0)
            }),
        ),
    ];

    // Each rule is timed in rounds that alternate it with the plain read, so machine load from
    // other processes hits both alike and each ratio uses the baseline measured beside it.
    let work = (args.params * n) as f64;
    println!(
        "params {} × updates {} = {} values, best of {} rounds",
        args.params,
        n,
        args.params * n,
        args.reps
    );
    println!(
        "{:<32} {:>9} {:>13} {:>13} {:>9}",
        "rule", "ms", "param·upd/s", "read ms", "vs read"
    );
    for (name, mut f) in rules {
        let (mut read_best, mut rule_best) = (Duration::MAX, Duration::MAX);
        for _ in 0..args.reps {
            let start = Instant::now();
            black_box(plain_read(u));
            read_best = read_best.min(start.elapsed());
            let start = Instant::now();
            black_box(f());
            rule_best = rule_best.min(start.elapsed());
        }
        let (read, rule) = (read_best.as_secs_f64(), rule_best.as_secs_f64());
        println!(
            "{name:<32} {:>9.2} {:>13.3e} {:>13.2} {:>8.1}%",
            rule * 1e3,
            work / rule,
            read * 1e3,
            100.0 * read / rule
        );
    }
}
