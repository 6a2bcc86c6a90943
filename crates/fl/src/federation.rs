//! A chain-free federation: the FedAvg baseline (McMahan et al. 2017) that Cairn's on-chain
//! rounds are measured against, using the same local training, quantization and aggregation.
//!
//! Each round: pick `per_round` of the `clients` with a seeded shuffle, train each from the
//! global model on its shard, aggregate the fixed-point models by `rule` (FedAvg weights are
//! shard sizes), evaluate on the test set.
//!
//! Invariant: every report field except the `*_ms` timings is a pure function of the config
//! (minus `threads` / `train.threads`) and the data.

use std::time::Instant;

use cairn_fixed::QModel;
use cairn_fixed::limits::UPDATES_MAX;
use cairn_ml::partition::MAX_CLIENTS;
use cairn_ml::rng::Rng;
use cairn_ml::{Dataset, TrainConfig, TrainReport};

use crate::data::{Partition, partition_indices, subset};
use crate::{FlError, ModelSpec, Rule, aggregate, evaluate_fixed, initial_model, local_train};

/// Most rounds one run may ask for.
pub const ROUNDS_MAX: usize = 1_000_000;

// Stream labels for `Rng::derive`, so that the partition, the selection and the local
// training seeds are independent draws from one `seed`.
const STREAM_PARTITION: u64 = 1;
const STREAM_SELECTION: u64 = 2;

/// A federation run.
#[derive(Clone, Debug, PartialEq)]
pub struct FederationConfig {
    /// The model trained.
    pub spec: ModelSpec,
    /// Clients the training set is split over ("K").
    pub clients: usize,
    /// Clients selected per round ("C·K"), `1..=clients`.
    pub per_round: usize,
    /// Most rounds run.
    pub rounds: usize,
    /// Local training ("E", "B", lr). `train.seed` is mixed with the round and client to seed
    /// each local run; `train.threads` is per client.
    pub train: TrainConfig,
    /// How the round's models are combined.
    pub rule: Rule,
    /// Seeds the initial model, the partition and the client selection.
    pub seed: u64,
    /// Test accuracy that counts as converged.
    pub target_accuracy_ppm: Option<u32>,
    /// Stop after the first round that reaches the target.
    pub stop_at_target: bool,
    /// How the training set is split.
    pub partition: Partition,
    /// Clients trained concurrently (each on `train.threads`), and threads for evaluation.
    /// Never changes the results.
    pub threads: usize,
    /// Stop after the first round that ends past this much wall time (results stay
    /// deterministic per round; only how many rounds run depends on the clock).
    pub time_limit_ms: Option<u64>,
}

impl Default for FederationConfig {
    /// The demo: `mlp:784-64-10`, 10 IID clients, 5 per round, E = 1, B = 10, lr 0.05, FedAvg,
    /// 10 rounds, one thread.
    fn default() -> Self {
        Self {
            spec: ModelSpec::Mlp {
                input: 784,
                hidden: vec![64],
                classes: 10,
            },
            clients: 10,
            per_round: 5,
            rounds: 10,
            train: TrainConfig::default(),
            rule: Rule::FedAvg,
            seed: 0,
            target_accuracy_ppm: None,
            stop_at_target: false,
            partition: Partition::Iid,
            threads: 1,
            time_limit_ms: None,
        }
    }
}

/// What one round did.
#[derive(Clone, Debug, PartialEq)]
pub struct RoundReport {
    /// 1-based round number.
    pub round: usize,
    /// Test accuracy of the new global model, correct per million.
    pub accuracy_ppm: u32,
    /// Its mean test cross-entropy.
    pub loss: f32,
    /// Mean over the selected clients of their last epoch's training loss.
    pub train_loss: f32,
    /// The selected clients, ascending.
    pub clients: Vec<usize>,
    /// BLAKE3 content hash of the new global model.
    pub model_hash: [u8; 32],
    /// Whether `accuracy_ppm` reached the target (if any).
    pub reached_target: bool,
    /// Wall time of the whole round.
    pub wall_ms: u64,
    /// Of which local training.
    pub train_ms: u64,
    /// Of which test evaluation.
    pub eval_ms: u64,
}

/// Every client's shard of `train` under `cfg` (what [`run_federation`] trains on; exposed so
/// a run through the chain can use the very same partition).
pub fn federation_shards(cfg: &FederationConfig, train: &Dataset) -> Result<Vec<Dataset>, FlError> {
    Ok(partition_indices(
        train,
        &cfg.partition,
        cfg.clients,
        Rng::derive(cfg.seed, STREAM_PARTITION).next_u64(),
    )?
    .iter()
    .map(|p| subset(train, p))
    .collect())
}

/// Runs a federation from [`initial_model`]`(spec, seed)`, calling `on_round` after each
/// round, and returns every round's report.
pub fn run_federation(
    cfg: &FederationConfig,
    train: &Dataset,
    test: &Dataset,
    on_round: impl FnMut(&RoundReport),
) -> Result<Vec<RoundReport>, FlError> {
    let initial = initial_model(&cfg.spec, cfg.seed)?;
    run_federation_from(cfg, initial, train, test, on_round).map(|(_, reports)| reports)
}

/// [`run_federation`] from a given global model; also returns the final model.
#[allow(
    clippy::disallowed_methods,
    reason = "off-chain benchmark: the round timings read the wall clock, nothing else does"
)]
pub fn run_federation_from(
    cfg: &FederationConfig,
    initial: QModel,
    train: &Dataset,
    test: &Dataset,
    mut on_round: impl FnMut(&RoundReport),
) -> Result<(QModel, Vec<RoundReport>), FlError> {
    check_config(cfg)?;
    if test.is_empty() {
        return Err(FlError::EmptyDataset { what: "test" });
    }
    let shards = federation_shards(cfg, train)?;
    let started = Instant::now();
    let mut global = initial;
    let mut reports = Vec::new();
    for round in 1..=cfg.rounds {
        let t0 = Instant::now();
        let selected = select_clients(cfg, &shards, round);
        let trained = train_clients(cfg, &global, &shards, &selected, round)?;
        let train_ms = t0.elapsed().as_millis() as u64;
        let weights: Vec<u64> = selected.iter().map(|&c| shards[c].len() as u64).collect();
        let (models, runs): (Vec<QModel>, Vec<TrainReport>) = trained.into_iter().unzip();
        global = aggregate(&cfg.rule, &models, &weights)?;
        let t1 = Instant::now();
        let eval = evaluate_fixed(&cfg.spec, &global, test, cfg.threads)?;
        let eval_ms = t1.elapsed().as_millis() as u64;
        let reached_target = cfg
            .target_accuracy_ppm
            .is_some_and(|t| eval.accuracy_ppm >= t);
        let report = RoundReport {
            round,
            accuracy_ppm: eval.accuracy_ppm,
            loss: eval.loss,
            train_loss: mean_last_loss(&runs),
            clients: selected,
            model_hash: global.content_hash(),
            reached_target,
            wall_ms: t0.elapsed().as_millis() as u64,
            train_ms,
            eval_ms,
        };
        on_round(&report);
        reports.push(report);
        let out_of_time = cfg
            .time_limit_ms
            .is_some_and(|limit| started.elapsed().as_millis() as u64 >= limit);
        if (reached_target && cfg.stop_at_target) || out_of_time {
            break;
        }
    }
    Ok((global, reports))
}

fn check_config(cfg: &FederationConfig) -> Result<(), FlError> {
    let bad = |msg: String| Err(FlError::Config(msg));
    if cfg.clients == 0 || cfg.clients > MAX_CLIENTS {
        return bad(format!(
            "clients must be in 1..={MAX_CLIENTS}, got {}",
            cfg.clients
        ));
    }
    let per_round_max = cfg.clients.min(UPDATES_MAX);
    if cfg.per_round == 0 || cfg.per_round > per_round_max {
        return bad(format!(
            "per_round must be in 1..={per_round_max} (at most the clients), got {}",
            cfg.per_round
        ));
    }
    if cfg.rounds > ROUNDS_MAX {
        return bad(format!(
            "rounds must be at most {ROUNDS_MAX}, got {}",
            cfg.rounds
        ));
    }
    if cfg.threads == 0 || cfg.threads > cairn_ml::train::MAX_THREADS {
        return bad(format!(
            "threads must be in 1..={}, got {}",
            cairn_ml::train::MAX_THREADS,
            cfg.threads
        ));
    }
    Ok(())
}

/// `per_round` clients with non-empty shards (ascending), by a shuffle seeded from
/// `(seed, round)`. Fewer if fewer clients hold data.
pub fn select_clients_for(
    seed: u64,
    round: usize,
    clients: usize,
    per_round: usize,
    has_data: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..clients).filter(|&c| has_data(c)).collect();
    let mut rng = Rng::derive(Rng::derive(seed, STREAM_SELECTION).next_u64(), round as u64);
    rng.shuffle(&mut order);
    order.truncate(per_round);
    order.sort_unstable();
    order
}

fn select_clients(cfg: &FederationConfig, shards: &[Dataset], round: usize) -> Vec<usize> {
    select_clients_for(cfg.seed, round, cfg.clients, cfg.per_round, |c| {
        !shards[c].is_empty()
    })
}

/// The local training seed of `client` in `round`.
pub fn client_seed(train_seed: u64, round: usize, client: usize) -> u64 {
    Rng::derive(
        Rng::derive(train_seed, round as u64).next_u64(),
        client as u64,
    )
    .next_u64()
}

/// Trains every selected client from `global`, on up to `cfg.threads` OS threads; results are
/// in `selected` order whatever the thread count.
fn train_clients(
    cfg: &FederationConfig,
    global: &QModel,
    shards: &[Dataset],
    selected: &[usize],
    round: usize,
) -> Result<Vec<(QModel, TrainReport)>, FlError> {
    if selected.is_empty() {
        return Err(FlError::EmptyDataset {
            what: "every client's training",
        });
    }
    let one = |i: usize| {
        let client = selected[i];
        let train = TrainConfig {
            seed: client_seed(cfg.train.seed, round, client),
            ..cfg.train.clone()
        };
        local_train(&cfg.spec, global, &shards[client], &train)
    };
    let workers = cfg.threads.clamp(1, selected.len());
    if workers == 1 {
        return (0..selected.len()).map(one).collect();
    }
    let mut slots: Vec<Option<Result<(QModel, TrainReport), FlError>>> =
        (0..selected.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let one = &one;
                s.spawn(move || {
                    (w..selected.len())
                        .step_by(workers)
                        .map(|i| (i, one(i)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for handle in handles {
            match handle.join() {
                Ok(done) => done.into_iter().for_each(|(i, r)| slots[i] = Some(r)),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    slots
        .into_iter()
        .map(|slot| slot.unwrap_or_else(|| Err(FlError::Config("a client was not trained".into()))))
        .collect()
}

fn mean_last_loss(runs: &[TrainReport]) -> f32 {
    let losses: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.epoch_losses.last().map(|&l| f64::from(l)))
        .collect();
    if losses.is_empty() {
        return f32::NAN;
    }
    (losses.iter().sum::<f64>() / losses.len() as f64) as f32
}
