//! Chain-free FedAvg baseline on MNIST (or the synthetic demo set): McMahan et al.'s setup with
//! Cairn's deterministic training and fixed-point aggregation.
//!
//! Run: `cargo run --release -p cairn-fl --example fl_baseline -- --model 2nn --epochs 1 --target 0.97`
//!
//! Flags (defaults in brackets): `--model 2nn|cnn|mlp:784-64-10` [2nn], `--data DIR`
//! [../shared/data/mnist from the repo root], `--demo` (synthetic data instead of MNIST),
//! `--clients` [100], `--per-round` [10], `--epochs` [5], `--batch` [10], `--lr` [0.1],
//! `--momentum` [0], `--rounds` [100], `--target` (fraction, e.g. 0.97), `--keep-going` (do not
//! stop at the target), `--time-limit SECONDS`, `--threads` [available cores], `--seed` [0],
//! `--rule fedavg|median|trimmed-mean:P|krum:F|multi-krum:F:M` [fedavg],
//! `--partition iid|dirichlet:A|shards:K` [iid].
#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark has to read the wall clock"
)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use cairn_fl::{
    FederationConfig, ModelSpec, Partition, RoundReport, Rule, TrainConfig, demo_dataset,
    load_mnist, run_federation,
};

struct Args {
    cfg: FederationConfig,
    data: Option<PathBuf>,
    demo: bool,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist")
}

fn parse_args() -> Result<Args, String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut cfg = FederationConfig {
        spec: ModelSpec::TwoNn,
        clients: 100,
        per_round: 10,
        rounds: 100,
        train: TrainConfig {
            threads: 1,
            batch_size: 10,
            epochs: 5,
            lr: 0.1,
            momentum: 0.0,
            seed: 0,
        },
        rule: Rule::FedAvg,
        seed: 0,
        target_accuracy_ppm: None,
        stop_at_target: true,
        partition: Partition::Iid,
        threads,
        time_limit_ms: None,
    };
    let (mut data, mut demo) = (None, false);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => cfg.spec = value()?.parse().map_err(|e| format!("{e}"))?,
            "--data" => data = Some(PathBuf::from(value()?)),
            "--demo" => demo = true,
            "--clients" => cfg.clients = num(&flag, &value()?)?,
            "--per-round" => cfg.per_round = num(&flag, &value()?)?,
            "--epochs" => cfg.train.epochs = num(&flag, &value()?)?,
            "--batch" => cfg.train.batch_size = num(&flag, &value()?)?,
            "--lr" => cfg.train.lr = num(&flag, &value()?)?,
            "--momentum" => cfg.train.momentum = num(&flag, &value()?)?,
            "--rounds" => cfg.rounds = num(&flag, &value()?)?,
            "--target" => {
                let t: f64 = num(&flag, &value()?)?;
                if !(0.0..=1.0).contains(&t) {
                    return Err(format!("--target is a fraction in [0, 1], got {t}"));
                }
                cfg.target_accuracy_ppm = Some((t * 1e6).round() as u32);
            }
            "--keep-going" => cfg.stop_at_target = false,
            "--time-limit" => {
                cfg.time_limit_ms = Some(num::<u64>(&flag, &value()?)?.saturating_mul(1000))
            }
            "--threads" => cfg.threads = num(&flag, &value()?)?,
            "--seed" => {
                cfg.seed = num(&flag, &value()?)?;
                cfg.train.seed = cfg.seed;
            }
            "--rule" => cfg.rule = value()?.parse().map_err(|e| format!("{e}"))?,
            "--partition" => cfg.partition = value()?.parse().map_err(|e| format!("{e}"))?,
            "-h" | "--help" => {
                return Err("see the flags at the top of crates/fl/examples/fl_baseline.rs".into());
            }
            other => return Err(format!("unknown flag {other:?} (try --help)")),
        }
    }
    Ok(Args { cfg, data, demo })
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag}: {v:?} is not a valid number"))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (train, test) = if args.demo {
        let (train, _, test) = demo_dataset(args.cfg.seed);
        (train, test)
    } else {
        let dir = args.data.clone().unwrap_or_else(default_data_dir);
        match load_mnist(&dir) {
            Ok(d) => d,
            Err(e) => {
                eprintln!(
                    "error: cannot load MNIST from {}: {e}\n\
                     Put train-images-idx3-ubyte(.gz), train-labels-idx1-ubyte(.gz), \
                     t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz) there, \
                     pass --data DIR, or run with --demo for synthetic data.",
                    dir.display()
                );
                return ExitCode::FAILURE;
            }
        }
    };
    let c = &args.cfg;
    println!(
        "model {} ({} params) | {} train / {} test samples | K={} C·K={} E={} B={} lr={} momentum={} | rule {} | partition {} | threads {} | seed {}",
        c.spec,
        c.spec.parameter_count(),
        train.len(),
        test.len(),
        c.clients,
        c.per_round,
        c.train.epochs,
        c.train.batch_size,
        c.train.lr,
        c.train.momentum,
        c.rule,
        c.partition,
        c.threads,
        c.seed
    );
    let started = Instant::now();
    let mut first_hit: Option<(usize, f64)> = None;
    let on_round = |r: &RoundReport| {
        let total_s = started.elapsed().as_secs_f64();
        println!(
            "round {:4} | test acc {:6.2}% | test loss {:.4} | train loss {:.4} | {:6.2} s (train {:.2} s, eval {:.2} s) | total {:7.1} s | model {}",
            r.round,
            f64::from(r.accuracy_ppm) / 1e4,
            r.loss,
            r.train_loss,
            r.wall_ms as f64 / 1e3,
            r.train_ms as f64 / 1e3,
            r.eval_ms as f64 / 1e3,
            total_s,
            hex8(&r.model_hash),
        );
        if r.reached_target && first_hit.is_none() {
            first_hit = Some((r.round, total_s));
        }
    };
    let reports = match run_federation(c, &train, &test, on_round) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let best = reports.iter().map(|r| r.accuracy_ppm).max().unwrap_or(0);
    match (c.target_accuracy_ppm, first_hit) {
        (Some(t), Some((round, s))) => println!(
            "target {:.2}% reached at round {round} after {s:.1} s",
            f64::from(t) / 1e4
        ),
        (Some(t), None) => println!(
            "target {:.2}% NOT reached in {} rounds (best {:.2}%, {:.1} s)",
            f64::from(t) / 1e4,
            reports.len(),
            f64::from(best) / 1e4,
            started.elapsed().as_secs_f64()
        ),
        (None, _) => println!(
            "{} rounds, best {:.2}%, {:.1} s",
            reports.len(),
            f64::from(best) / 1e4,
            started.elapsed().as_secs_f64()
        ),
    }
    ExitCode::SUCCESS
}

fn hex8(hash: &[u8; 32]) -> String {
    hash[..4].iter().map(|b| format!("{b:02x}")).collect()
}
