//! `cairn bench fl`: the same federated training through the chain and without it (same seed,
//! same partition, same local-training seeds), round by round: accuracy gap and the chain's
//! share of the round wall time.

use super::DataSource;
use super::demo::{DemoArgs, Overrides};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct FlBenchArgs {
    /// MNIST IDX directory; default: the built-in synthetic data.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Model [default: mlp:784-64-10 synthetic, 2nn MNIST].
    #[arg(long)]
    pub model: Option<String>,
    /// Trainers (= clients; all take part every round).
    #[arg(long, default_value_t = 10)]
    pub trainers: usize,
    #[arg(long, default_value_t = 3)]
    pub validators: usize,
    #[arg(long, default_value_t = 5)]
    pub rounds: u32,
    #[arg(long, default_value_t = 1)]
    pub epochs: u32,
    #[arg(long, default_value_t = 10)]
    pub batch: u32,
    /// Learning rate × 10⁶.
    #[arg(long, default_value_t = 50_000)]
    pub lr_micro: u32,
}

// Off-chain benchmark timings read the wall clock.
#[allow(clippy::disallowed_methods)]
pub fn run(args: FlBenchArgs) -> anyhow::Result<()> {
    let source = DataSource::from_flag(args.data.as_deref());
    let model = args.model.clone().unwrap_or_else(|| match source {
        DataSource::Synthetic { .. } => "mlp:784-64-10".into(),
        DataSource::Mnist { .. } => "2nn".into(),
    });
    let spec: cairn_fl::ModelSpec = model.parse().map_err(|e| anyhow::anyhow!("--model: {e}"))?;
    let data = source.load()?;
    let seed = 0;
    let cfg = cairn_fl::FederationConfig {
        spec: spec.clone(),
        clients: args.trainers,
        per_round: args.trainers,
        rounds: args.rounds as usize,
        train: cairn_fl::TrainConfig {
            threads: 1,
            batch_size: args.batch as usize,
            epochs: args.epochs as usize,
            lr: args.lr_micro as f32 / 1e6,
            momentum: 0.0,
            seed,
        },
        rule: cairn_fl::Rule::FedAvg,
        seed,
        threads: 2,
        ..cairn_fl::FederationConfig::default()
    };
    println!(
        "== without a chain: {} clients, all per round, E={} B={} lr={}e-6, FedAvg by sample count",
        args.trainers, args.epochs, args.batch, args.lr_micro
    );
    let started = std::time::Instant::now();
    let baseline = cairn_fl::run_federation(&cfg, &data.train, &data.test, |r| {
        println!(
            "round {:>3}: test accuracy {:.2}%  ({} ms)",
            r.round - 1,
            f64::from(r.accuracy_ppm) / 1e4,
            r.wall_ms
        );
    })?;
    let baseline_ms = started.elapsed().as_millis() as u64;

    println!("\n== through the chain: same partition, same local seeds, FedAvg by consensus score");
    let shards = cairn_fl::federation_shards(&cfg, &data.train)?;
    let outcome = super::demo::run_with(
        DemoArgs {
            data: args.data.clone(),
            trainers: args.trainers,
            attackers: 0,
            validators: args.validators,
            rounds: args.rounds,
            rule: "fedavg".into(),
            model: Some(model),
            epochs: args.epochs,
            batch: args.batch,
            lr_micro: args.lr_micro,
            accept_per_mille: 500,
            home: None,
            verbose: false,
        },
        Overrides {
            shards: Some(shards),
            seed_base: Some(seed),
            quiet: true,
        },
    )?;
    let chain_ms = outcome.rounds.last().map_or(0, |r| r.closed_ms);

    let last_baseline = baseline.last().map_or(0, |r| r.accuracy_ppm);
    let gap_pp = (f64::from(last_baseline) - f64::from(outcome.final_accuracy_ppm)) / 1e4;
    let rounds = args.rounds.max(1) as f64;
    let (base_round, chain_round) = (baseline_ms as f64 / rounds, chain_ms as f64 / rounds);
    println!("\n== comparison after {} rounds", args.rounds);
    println!("round   no chain   chain");
    for (b, c) in baseline.iter().zip(&outcome.rounds) {
        let chain = c
            .accuracy_ppm
            .map_or("-".to_string(), |a| format!("{:.2}%", f64::from(a) / 1e4));
        println!(
            "{:>5}   {:>7.2}%   {chain:>7}",
            c.round,
            f64::from(b.accuracy_ppm) / 1e4
        );
    }
    println!(
        "final test accuracy: no chain {:.2}%, chain {:.2}% (gap {gap_pp:+.2} pp)",
        f64::from(last_baseline) / 1e4,
        f64::from(outcome.final_accuracy_ppm) / 1e4
    );
    println!(
        "mean round wall time: no chain {base_round:.0} ms, chain {chain_round:.0} ms (chain overhead {:.1}% of the chain round)",
        if chain_round > 0.0 {
            (chain_round - base_round) / chain_round * 100.0
        } else {
            0.0
        }
    );
    Ok(())
}
