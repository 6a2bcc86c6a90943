//! `cairn demo`: a whole federated-learning task on a fresh one-node dev chain.
//!
//! It starts a dev node in this process, proposes a task on the built-in synthetic data (or
//! MNIST with `--data`), has the validator approve it, runs trainer and validator roles in
//! threads — the same code as `cairn train` / `cairn validate`, over the node's RPC — and
//! prints a table per round from what the chain recorded.

use super::trainer::TrainerConfig;
use super::validator::ValidatorConfig;
use super::{DataSource, Log, Participant};
use crate::node_cmd::{new_dev_home, random_key};
use anyhow::{Context, bail};
use cairn_fl::{Attack, ModelSpec};
use cairn_rpc::client::RpcClient;
use cairn_rpc::task_api::{RoundRecordView, TaskView};
use cairn_types::{Action, AggregationRule, PrivateKey, TaskSpec, to_hex};
use clap::Args;
use commonware_cryptography::Signer;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The attacks `--attackers` cycles through.
const ATTACKS: [&str; 4] = ["sign-flip", "scaled", "label-flip", "noise"];
/// Longest the demo waits for the task to finish.
const DEMO_TIMEOUT_S: u64 = 3_600;

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// MNIST IDX directory (train-images-idx3-ubyte[.gz] …); default: built-in synthetic data.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Honest trainers.
    #[arg(long, default_value_t = 5)]
    pub trainers: usize,
    /// Extra trainers that poison their updates (sign-flip, scaled, label-flip, noise, …).
    #[arg(long, default_value_t = 0)]
    pub attackers: usize,
    /// Task validators scoring the updates.
    #[arg(long, default_value_t = 3)]
    pub validators: usize,
    #[arg(long, default_value_t = 5)]
    pub rounds: u32,
    /// Aggregation rule: fedavg, median, trimmed-mean:PER_MILLE, krum:F, multi-krum:F:M.
    #[arg(long, default_value = "fedavg")]
    pub rule: String,
    /// Model architecture [default: mlp:784-64-10 on synthetic data, 2nn on MNIST].
    #[arg(long)]
    pub model: Option<String>,
    /// Local epochs per round.
    #[arg(long, default_value_t = 1)]
    pub epochs: u32,
    /// Accept updates whose consensus score is at least this ‰ of the round's best.
    #[arg(long, default_value_t = 500)]
    pub accept_per_mille: u32,
    /// Local mini-batch size.
    #[arg(long, default_value_t = 10)]
    pub batch: u32,
    /// Local learning rate × 10⁶.
    #[arg(long, default_value_t = 50_000)]
    pub lr_micro: u32,
    /// Directory for the node and the roles' state (default: a fresh temporary directory).
    #[arg(long)]
    pub home: Option<PathBuf>,
    /// Print every role's actions.
    #[arg(long)]
    pub verbose: bool,
}

struct Role {
    name: String,
    key: PrivateKey,
    attack: Option<Attack>,
}

/// One closed round as the demo saw it.
pub struct RoundRow {
    pub round: u32,
    /// Test accuracy of the checkpoint (None: the round closed without one).
    pub accuracy_ppm: Option<u32>,
    /// When the round closed, ms after the task was approved (observed by polling).
    pub closed_ms: u64,
}

/// What a run produced.
pub struct Outcome {
    pub rounds: Vec<RoundRow>,
    pub final_accuracy_ppm: u32,
}

/// Knobs `cairn bench fl` sets to compare a chain run with a chain-free one.
#[derive(Default)]
pub struct Overrides {
    /// Trainer i trains on `shards[i]` instead of an IID shard of its own.
    pub shards: Option<Vec<cairn_fl::Dataset>>,
    /// Seed local training like [cairn_fl::client_seed] with this base.
    pub seed_base: Option<u64>,
    /// Skip the closing summary (reward table, how to query).
    pub quiet: bool,
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    run_with(args, Overrides::default()).map(|_| ())
}

pub fn run_with(args: DemoArgs, overrides: Overrides) -> anyhow::Result<Outcome> {
    let trainers_total = args.trainers + args.attackers;
    if args.trainers == 0 || args.validators == 0 {
        bail!("the demo needs at least one honest trainer and one validator");
    }
    if trainers_total > cairn_types::task::TRAINERS_PER_ROUND_MAX as usize {
        bail!(
            "--trainers plus --attackers is {trainers_total}; a round takes at most {}",
            cairn_types::task::TRAINERS_PER_ROUND_MAX
        );
    }
    let rule: AggregationRule = args
        .rule
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--rule: {e}"))?;
    let source = DataSource::from_flag(args.data.as_deref());
    let model_text = args.model.clone().unwrap_or_else(|| match source {
        DataSource::Synthetic { .. } => "mlp:784-64-10".into(),
        DataSource::Mnist { .. } => "2nn".into(),
    });
    let spec: ModelSpec = model_text
        .parse()
        .map_err(|e| anyhow::anyhow!("--model: {e}"))?;

    let home = args
        .home
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("cairn-demo-{}", std::process::id())));
    println!("cairn demo: a federated-learning task trained, scored and aggregated on chain");
    println!(
        "  data:       {}",
        match &source {
            DataSource::Synthetic { .. } =>
                "built-in synthetic digits (28x28, 10 classes)".to_string(),
            DataSource::Mnist { dir } => format!("MNIST from {}", dir.display()),
        }
    );
    let data = source.load()?;
    println!(
        "  model:      {spec} | {} trainers ({} poisoning) | {} validators | {} rounds | rule {rule}",
        trainers_total, args.attackers, args.validators, args.rounds
    );

    let mut roles = Vec::new();
    for i in 0..args.trainers {
        roles.push(Role {
            name: format!("trainer-{}", i + 1),
            key: random_key(),
            attack: None,
        });
    }
    for i in 0..args.attackers {
        let attack: Attack = ATTACKS[i % ATTACKS.len()].parse()?;
        roles.push(Role {
            name: format!("attacker-{} ({attack})", i + 1),
            key: random_key(),
            attack: Some(attack),
        });
    }
    let validators: Vec<Role> = (0..args.validators)
        .map(|i| Role {
            name: format!("validator-{}", i + 1),
            key: random_key(),
            attack: None,
        })
        .collect();
    let proposer = random_key();
    let mut funded: Vec<_> = roles
        .iter()
        .chain(validators.iter())
        .map(|r| r.key.public_key())
        .collect();
    funded.push(proposer.public_key());

    // 1. The task: initial model and data commitments (checked before anything starts).
    let initial = cairn_fl::initial_model(&spec, 0)?;
    let task_spec = TaskSpec {
        model: spec.to_string(),
        initial_model: initial.content_hash(),
        dataset: super::dataset_commitment(&data.train),
        validation_set: super::dataset_commitment(&data.validation),
        rounds: args.rounds,
        trainers_per_round: u32::try_from(trainers_total)?,
        local_epochs: args.epochs,
        batch_size: args.batch,
        learning_rate_micro: args.lr_micro,
        rule,
        accept_per_mille: args.accept_per_mille,
        min_trainer_stake: 1_000,
        min_validator_stake: 1_000,
        reward_pool: 1_000_000,
        // Every update and checkpoint has the initial model's shapes, so its size: the
        // bound nodes enforce and the blob deposit is paid for.
        blob_max_bytes: initial.encoded_len() as u64,
        review_blocks: 600,
        commit_blocks: 600,
        score_blocks: 600,
        reveal_blocks: 600,
        aggregate_blocks: 600,
    };
    task_spec
        .validate()
        .map_err(|(field, reason)| anyhow::anyhow!("demo task: {field}: {reason}"))?;
    // 2. A one-node dev chain in this process; the initial model goes to its blob store.
    let any = "127.0.0.1:0".parse().context("listen address")?;
    let dev = new_dev_home(&home, any, any, &funded, "warn")?;
    let url = start_node(&dev.config)?;
    println!("  node:       {url} (home {})", home.display());
    let client = RpcClient::new(&url);

    super::upload_model(&client, &initial)?;
    let proposer = Participant::new(RpcClient::new(client.url()), proposer)?;
    let (task_id, _) = proposer.propose(task_spec)?;
    println!("  task:       {task_id} proposed (reward pool 1,000,000 escrowed)");

    // 3. Roles, each a thread with its own key, over the RPC.
    let progress = MultiProgress::new();
    let verbose = args.verbose;
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    let shards = roles.len();
    for (i, role) in roles.iter().enumerate() {
        let me = Participant::new(RpcClient::new(client.url()), role.key.clone())?;
        let cfg = TrainerConfig {
            task: task_id,
            shard: match &overrides.shards {
                Some(given) => given
                    .get(i)
                    .cloned()
                    .context("fewer shards than trainers")?,
                None => cairn_fl::shard(&data.train, shards, i, 0),
            },
            dataset_commitment: super::dataset_commitment(&data.train),
            attack: role.attack.clone(),
            stake: None,
            threads: 1,
            state_dir: home.join("roles").join(format!("trainer{i}")),
            baseline_seed: overrides.seed_base.map(|base| (base, i)),
        };
        let log = role_log(&progress, &role.name, verbose);
        let stop = stop.clone();
        handles.push((
            role.name.clone(),
            std::thread::spawn(move || super::trainer::run(&me, &cfg, &stop, &log)),
        ));
    }
    for (i, role) in validators.iter().enumerate() {
        let me = Participant::new(RpcClient::new(client.url()), role.key.clone())?;
        let cfg = ValidatorConfig {
            task: task_id,
            validation: data.validation.clone(),
            stake: None,
            threads: 1,
            state_dir: home.join("roles").join(format!("validator{i}")),
        };
        let log = role_log(&progress, &role.name, verbose);
        let stop = stop.clone();
        handles.push((
            role.name.clone(),
            std::thread::spawn(move || super::validator::run(&me, &cfg, &stop, &log)),
        ));
    }

    // 4. Everyone registered (stake locked): the validator set approves the task.
    wait_for(&client, task_id, |t| {
        t.trainers.len() == roles.len() && t.validators.len() == validators.len()
    })?;
    let operator = Participant::new(RpcClient::new(client.url()), dev.operator.clone())?;
    operator.send(Action::VoteTask {
        task: task_id,
        validator: dev.validator.clone(),
        approve: true,
    })?;
    println!(
        "  approved by the validator set; {} trainers and {} validators staked\n",
        roles.len(),
        validators.len()
    );

    // 5. Follow the rounds.
    let bar = progress.add(ProgressBar::new(u64::from(args.rounds)));
    bar.set_style(
        ProgressStyle::with_template("{spinner} round {pos}/{len} [{bar:30}] {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    say(
        &progress,
        &format!(
            "{:>5}  {:>8}  {:>7}  {:>8}  {:>8}  {:<14}",
            "round", "accuracy", "loss", "accepted", "rewards", "checkpoint"
        ),
    );
    // The demo's overall deadline: a CLI timer, not consensus code.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let mut shown = 0usize;
    let mut rows = Vec::new();
    let final_task = loop {
        if started.elapsed() > Duration::from_secs(DEMO_TIMEOUT_S) {
            bail!("the task did not finish within {DEMO_TIMEOUT_S} s");
        }
        let task = super::read_task(&client, task_id)?;
        if let Some(r) = &task.round {
            bar.set_message(format!("phase {}", r.phase));
        }
        let records = client.task_rounds(task_id)?;
        for rec in records.iter().filter(|r| r.closed_at.is_some()).skip(shown) {
            let (line, accuracy_ppm) = row(&client, &spec, &data.test, rec)?;
            say(&progress, &line);
            rows.push(RoundRow {
                round: rec.round,
                accuracy_ppm,
                closed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            });
            shown += 1;
            bar.set_position(shown as u64);
        }
        if super::finished(&task) && shown >= task.rounds_closed as usize {
            break task;
        }
        for (name, h) in &handles {
            if h.is_finished() && !super::finished(&task) {
                bail!("{name} stopped before the task finished; rerun with --verbose to see why");
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    bar.finish_and_clear();
    stop.store(true, Ordering::Relaxed);
    for (name, h) in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("{name}: {e:#}"),
            Err(_) => eprintln!("{name}: panicked"),
        }
    }
    let model = super::fetch_model(&client, &final_task.global_model)?;
    let final_accuracy_ppm = cairn_fl::evaluate_fixed(&spec, &model, &data.test, 2)?.accuracy_ppm;
    if !overrides.quiet {
        summary(
            &final_task,
            final_accuracy_ppm,
            &roles,
            &validators,
            &url,
            &home,
        );
    }
    Ok(Outcome {
        rounds: rows,
        final_accuracy_ppm,
    })
}

/// Starts the node on a thread and returns its RPC URL once it listens.
fn start_node(config: &std::path::Path) -> anyhow::Result<String> {
    let config = cairn_node::config::NodeConfig::load(config)?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let on_ready: cairn_node::run::OnReady = Box::new(move |_, addr| {
            let _ = tx.send(format!("http://{addr}"));
        });
        if let Err(e) = cairn_node::run::run(config, on_ready) {
            eprintln!("error: the demo node stopped: {e}");
            std::process::exit(1);
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .context("the demo node did not start within 60 s")
}

/// The id of the task `proposer` created in block `height`.
fn wait_for(client: &RpcClient, id: u64, done: impl Fn(&TaskView) -> bool) -> anyhow::Result<()> {
    for _ in 0..600 {
        if done(&super::read_task(client, id)?) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("task {id}: participants did not register within 60 s")
}

/// Prints above the progress bars, or plainly when they are hidden (output is not a terminal).
fn say(progress: &MultiProgress, line: &str) {
    if progress.is_hidden() {
        println!("{line}");
    } else {
        let _ = progress.println(line);
    }
}

fn role_log(progress: &MultiProgress, name: &str, verbose: bool) -> Log {
    let progress = progress.clone();
    let name = name.to_string();
    Arc::new(move |line: &str| {
        if verbose {
            say(&progress, &format!("  [{name}] {line}"));
        }
    })
}

fn row(
    client: &RpcClient,
    spec: &ModelSpec,
    test: &cairn_fl::Dataset,
    rec: &RoundRecordView,
) -> anyhow::Result<(String, Option<u32>)> {
    let accepted = rec.outcomes.iter().filter(|o| o.accepted).count();
    let rewards: u64 = rec
        .outcomes
        .iter()
        .map(|o| o.reward)
        .chain(rec.validators.iter().map(|v| v.reward))
        .sum();
    let (acc, loss, cp, ppm) = match &rec.checkpoint {
        Some(cp) => {
            let model = super::fetch_model(client, cp)?;
            let eval = cairn_fl::evaluate_fixed(spec, &model, test, 2)?;
            (
                format!("{:.2}%", eval.accuracy() * 100.0),
                format!("{:.4}", eval.loss),
                cp[..12].to_string(),
                Some(eval.accuracy_ppm),
            )
        }
        None => ("-".into(), "-".into(), "(none)".into(), None),
    };
    let line = format!(
        "{:>5}  {:>8}  {:>7}  {:>8}  {:>8}  {:<14}",
        rec.round,
        acc,
        loss,
        format!("{accepted}/{}", rec.outcomes.len()),
        rewards,
        cp
    );
    Ok((line, ppm))
}

fn summary(
    task: &TaskView,
    final_accuracy_ppm: u32,
    trainers: &[Role],
    validators: &[Role],
    url: &str,
    home: &std::path::Path,
) {
    println!(
        "\ntask {} {}: {} rounds closed",
        task.id, task.status, task.rounds_closed
    );
    println!(
        "final model: {}  (test accuracy {:.2}%)",
        task.global_model,
        f64::from(final_accuracy_ppm) / 1e4
    );
    println!(
        "\n{:<28} {:<10} {:>10} {:>10}",
        "participant", "role", "rewards", "penalties"
    );
    let rows = trainers
        .iter()
        .map(|r| (r, "trainer", &task.trainers))
        .chain(
            validators
                .iter()
                .map(|r| (r, "validator", &task.validators)),
        );
    for (role, kind, members) in rows {
        let address = to_hex(role.key.public_key());
        let m = members.iter().find(|m| m.address == address);
        println!(
            "{:<28} {:<10} {:>10} {:>10}",
            role.name,
            kind,
            m.map_or(0, |m| m.rewards),
            m.map_or(0, |m| m.penalties)
        );
    }
    println!(
        "\nthe chain is kept in {}; to query it later:",
        home.display()
    );
    println!(
        "  cairn node --dev --home {}        # restarts the node on RPC 127.0.0.1:8545",
        home.display()
    );
    println!(
        "  cairn --rpc <RPC> task show {}      # task, members, rewards",
        task.id
    );
    println!(
        "  cairn --rpc <RPC> task rounds {}    # per-round lineage and checkpoints",
        task.id
    );
    println!(
        "then serve the trained model with verified inference (keys alice, bob, carol, dev; password dev):"
    );
    println!(
        "  CAIRN_KEYSTORE={}/keys CAIRN_PASSWORD=dev cairn model register --task {} --from alice",
        home.display(),
        task.id
    );
    println!(
        "  (see README, \"Verified inference\", for cairn serve, cairn watch and cairn infer)"
    );
    println!("(this run's node answered at {url})");
}
