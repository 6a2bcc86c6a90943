//! `cairn task …`, `cairn train` and `cairn validate`.

use super::trainer::TrainerConfig;
use super::validator::ValidatorConfig;
use super::{DataSource, Log, Participant};
use crate::query::short;
use anyhow::bail;
use cairn_rpc::client::RpcClient;
use cairn_rpc::task_api::TaskView;
use cairn_types::{Action, AggregationRule, PrivateKey, Role, TaskSpec, parse_public_key};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

#[derive(Subcommand, Debug)]
pub enum TaskCommand {
    /// Every task with its status and progress.
    List,
    /// One task: spec, members, the current round.
    Show { id: u64 },
    /// A task's scored rounds: accepted updates, weights, rewards, checkpoints.
    Rounds { id: u64 },
    /// Propose a task (escrows the reward pool from --from).
    Propose(ProposeArgs),
    /// Approve or reject a task under review, as the operator of an active validator.
    Vote {
        id: u64,
        /// Validator consensus key you operate (hex).
        #[arg(long)]
        validator: String,
        /// Vote to reject instead of approve.
        #[arg(long)]
        reject: bool,
    },
    /// Register for a task with stake.
    Join {
        id: u64,
        /// trainer or validator.
        #[arg(long)]
        role: String,
        /// Stake to lock [default: the task's minimum for the role].
        #[arg(long)]
        stake: Option<u64>,
    },
}

#[derive(Args, Debug)]
pub struct ProposeArgs {
    /// Model architecture: mlp:784-64-10, 2nn, cnn.
    #[arg(long, default_value = "mlp:784-64-10")]
    pub model: String,
    /// MNIST IDX directory whose splits the commitments cover (default: built-in synthetic data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Seed of the initial model's weights.
    #[arg(long, default_value_t = 0)]
    pub init_seed: u64,
    #[arg(long, default_value_t = 5)]
    pub rounds: u32,
    #[arg(long, default_value_t = 10)]
    pub trainers_per_round: u32,
    #[arg(long, default_value_t = 1)]
    pub epochs: u32,
    #[arg(long, default_value_t = 10)]
    pub batch: u32,
    /// Learning rate × 10⁶.
    #[arg(long, default_value_t = 50_000)]
    pub lr_micro: u32,
    /// fedavg, median, trimmed-mean:PER_MILLE, krum:F, multi-krum:F:M.
    #[arg(long, default_value = "fedavg")]
    pub rule: String,
    /// Accept updates scoring at least this ‰ of the round's best consensus score.
    #[arg(long, default_value_t = 500)]
    pub accept_per_mille: u32,
    #[arg(long, default_value_t = 1_000)]
    pub min_trainer_stake: u64,
    #[arg(long, default_value_t = 1_000)]
    pub min_validator_stake: u64,
    #[arg(long, default_value_t = 1_000_000)]
    pub reward_pool: u64,
    /// Blocks for review and for each round phase (phases end early when everyone acted).
    #[arg(long, default_value_t = 600)]
    pub phase_blocks: u32,
}

/// `cairn train` / `cairn validate` options.
#[derive(Args, Debug)]
pub struct RoleArgs {
    /// Task id.
    #[arg(long)]
    pub task: u64,
    /// MNIST IDX directory (default: the built-in synthetic data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// This trainer's shard, as INDEX/COUNT (e.g. 0/10): an IID split of the training data.
    #[arg(long, default_value = "0/1")]
    pub shard: String,
    /// Stake to join with [default: the task's minimum].
    #[arg(long)]
    pub stake: Option<u64>,
    /// Worker threads for training and scoring (results never depend on it).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Where resumable state lives [default: ~/.cairn/roles/<address>].
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// (trainers) Poison updates instead: sign-flip, scaled[:K], label-flip, noise.
    #[arg(long)]
    pub attack: Option<String>,
}

pub fn run_task(
    cmd: TaskCommand,
    client: &RpcClient,
    signer: impl FnOnce() -> anyhow::Result<PrivateKey>,
    json: bool,
) -> anyhow::Result<()> {
    match cmd {
        TaskCommand::List => {
            let tasks = client.tasks()?;
            if json {
                return print_json(&tasks);
            }
            if tasks.is_empty() {
                println!("no tasks yet; propose one with `cairn task propose --from KEY`");
            }
            for t in tasks {
                println!("{}", line(&t));
            }
            Ok(())
        }
        TaskCommand::Show { id } => {
            let t = super::read_task(client, id)?;
            if json {
                return print_json(&t);
            }
            show(&t);
            Ok(())
        }
        TaskCommand::Rounds { id } => {
            let rounds = client.task_rounds(id)?;
            if json {
                return print_json(&rounds);
            }
            if rounds.is_empty() {
                println!("task {id} has no scored rounds yet");
            }
            for r in rounds {
                println!(
                    "round {}: input {} → checkpoint {} (scored at {}, closed at {})",
                    r.round,
                    short(&r.global_in),
                    r.checkpoint.as_deref().map_or("(none)".into(), short),
                    r.scored_at,
                    r.closed_at.map_or("-".into(), |h| h.to_string())
                );
                for o in &r.outcomes {
                    println!(
                        "  trainer {}  update {}  consensus {:>5}  {}  weight {:>5}  reward {:>7}  penalty {}",
                        short(&o.trainer),
                        short(&o.update),
                        o.consensus,
                        if o.accepted { "accepted" } else { "rejected" },
                        o.weight,
                        o.reward,
                        o.penalty
                    );
                }
                for v in &r.validators {
                    println!(
                        "  validator {}  {}  reward {:>7}  penalty {}",
                        short(&v.validator),
                        if v.revealed {
                            "revealed"
                        } else {
                            "did not reveal"
                        },
                        v.reward,
                        v.penalty
                    );
                }
            }
            Ok(())
        }
        TaskCommand::Propose(args) => {
            let me = Participant::new(RpcClient::new(client.url()), signer()?)?;
            let spec = proposal(&args, client)?;
            let (id, height) = me.propose(spec)?;
            println!(
                "task {id} proposed in block {height}; validators vote with `cairn task vote {id} --validator KEY`"
            );
            Ok(())
        }
        TaskCommand::Vote {
            id,
            validator,
            reject,
        } => {
            let validator =
                parse_public_key(&validator).map_err(|e| anyhow::anyhow!("--validator: {e}"))?;
            let me = Participant::new(RpcClient::new(client.url()), signer()?)?;
            let receipt = me.send(Action::VoteTask {
                task: id,
                validator,
                approve: !reject,
            })?;
            let t = super::read_task(client, id)?;
            println!(
                "vote recorded in block {}; task {id} is {}",
                receipt.height, t.status
            );
            Ok(())
        }
        TaskCommand::Join { id, role, stake } => {
            let role = parse_role(&role)?;
            let me = Participant::new(RpcClient::new(client.url()), signer()?)?;
            let t = super::read_task(client, id)?;
            let log: Log = Arc::new(|l: &str| println!("{l}"));
            super::ensure_joined(&me, &t, role, stake, &log)
        }
    }
}

fn parse_role(text: &str) -> anyhow::Result<Role> {
    match text {
        "trainer" => Ok(Role::Trainer),
        "validator" => Ok(Role::Validator),
        other => bail!("--role must be trainer or validator, got {other:?}"),
    }
}

fn proposal(args: &ProposeArgs, client: &RpcClient) -> anyhow::Result<TaskSpec> {
    let model: cairn_fl::ModelSpec = args
        .model
        .parse()
        .map_err(|e| anyhow::anyhow!("--model: {e}"))?;
    let rule: AggregationRule = args
        .rule
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--rule: {e}"))?;
    let data = DataSource::from_flag(args.data.as_deref()).load()?;
    let initial = cairn_fl::initial_model(&model, args.init_seed)?;
    let initial_id = super::upload_model(client, &initial)?;
    let spec = TaskSpec {
        model: model.to_string(),
        initial_model: super::parse_hash("initial model", &initial_id)?,
        dataset: super::dataset_commitment(&data.train),
        validation_set: super::dataset_commitment(&data.validation),
        rounds: args.rounds,
        trainers_per_round: args.trainers_per_round,
        local_epochs: args.epochs,
        batch_size: args.batch,
        learning_rate_micro: args.lr_micro,
        rule,
        accept_per_mille: args.accept_per_mille,
        min_trainer_stake: args.min_trainer_stake,
        min_validator_stake: args.min_validator_stake,
        reward_pool: args.reward_pool,
        // Every update and checkpoint has the initial model's shapes, so its size: the
        // bound nodes enforce and the blob deposit is paid for.
        blob_max_bytes: initial.encoded_len() as u64,
        review_blocks: args.phase_blocks,
        commit_blocks: args.phase_blocks,
        score_blocks: args.phase_blocks,
        reveal_blocks: args.phase_blocks,
        aggregate_blocks: args.phase_blocks,
    };
    spec.validate()
        .map_err(|(field, reason)| anyhow::anyhow!("task {field} is impossible: {reason}"))?;
    Ok(spec)
}

fn line(t: &TaskView) -> String {
    let round = t.round.as_ref().map_or(String::new(), |r| {
        format!(", round {} ({})", r.index, r.phase)
    });
    format!(
        "task {}: {} | {} | {}/{} rounds closed{round} | {} trainers, {} validators | escrow {}",
        t.id,
        t.status,
        t.spec.model,
        t.rounds_closed,
        t.spec.rounds,
        t.trainers.len(),
        t.validators.len(),
        t.escrow
    )
}

fn show(t: &TaskView) {
    println!("{}", line(t));
    println!("  proposer        {}", t.proposer);
    println!(
        "  rule            {} (accept ≥ {}‰ of the best consensus score)",
        t.spec.rule, t.spec.accept_per_mille
    );
    println!("  initial model   {}", t.spec.initial_model);
    println!("  global model    {}", t.global_model);
    println!("  dataset         {}", t.spec.dataset);
    println!("  validation set  {}", t.spec.validation_set);
    println!(
        "  local training  {} epoch(s), batch {}, lr {}e-6",
        t.spec.local_epochs, t.spec.batch_size, t.spec.learning_rate_micro
    );
    for (kind, members) in [("trainer", &t.trainers), ("validator", &t.validators)] {
        for m in members {
            println!(
                "  {kind:<9} {}  stake {:>8}  rewards {:>8}  penalties {}",
                short(&m.address),
                m.stake,
                m.rewards,
                m.penalties
            );
        }
    }
    if let Some(r) = &t.round {
        println!(
            "  round {} in phase {} until height {}: {} updates, {} score commits, {} reveals, {} attestations",
            r.index,
            r.phase,
            r.phase_deadline,
            r.submissions.len(),
            r.score_commits.len(),
            r.reveals.len(),
            r.attestations.len()
        );
    }
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn state_dir(args: &RoleArgs, me: &Participant) -> PathBuf {
    args.state_dir.clone().unwrap_or_else(|| {
        crate::keys::default_keystore_dir()
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_else(|| PathBuf::from("."))
            .join("roles")
            .join(&me.address[..16])
    })
}

fn stdout_log() -> Log {
    Arc::new(|line: &str| println!("{line}"))
}

/// `cairn train`: the trainer daemon, until the task ends (Ctrl-C stops it; rerun resumes).
pub fn train(args: RoleArgs, client: &RpcClient, key: PrivateKey) -> anyhow::Result<()> {
    let me = Participant::new(RpcClient::new(client.url()), key)?;
    let (index, count) = parse_shard(&args.shard)?;
    let data = DataSource::from_flag(args.data.as_deref()).load()?;
    let attack = args.attack.as_deref().map(str::parse).transpose()?;
    let cfg = TrainerConfig {
        task: args.task,
        shard: cairn_fl::shard(&data.train, count, index, 0),
        dataset_commitment: super::dataset_commitment(&data.train),
        attack,
        stake: args.stake,
        threads: args.threads,
        state_dir: state_dir(&args, &me),
        baseline_seed: None,
    };
    println!(
        "trainer {} on task {} with shard {index}/{count} ({} samples)",
        me.address,
        args.task,
        cfg.shard.len()
    );
    super::trainer::run(&me, &cfg, &Arc::new(AtomicBool::new(false)), &stdout_log())?;
    println!("task {} is over", args.task);
    Ok(())
}

/// `cairn validate`: the validator daemon, until the task ends.
pub fn validate(args: RoleArgs, client: &RpcClient, key: PrivateKey) -> anyhow::Result<()> {
    let me = Participant::new(RpcClient::new(client.url()), key)?;
    let data = DataSource::from_flag(args.data.as_deref()).load()?;
    let cfg = ValidatorConfig {
        task: args.task,
        validation: data.validation,
        stake: args.stake,
        threads: args.threads,
        state_dir: state_dir(&args, &me),
    };
    println!(
        "validator {} on task {} ({} validation samples)",
        me.address,
        args.task,
        cfg.validation.len()
    );
    super::validator::run(&me, &cfg, &Arc::new(AtomicBool::new(false)), &stdout_log())?;
    println!("task {} is over", args.task);
    Ok(())
}

fn parse_shard(text: &str) -> anyhow::Result<(usize, usize)> {
    let parsed = text
        .split_once('/')
        .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
    match parsed {
        Some((i, n)) if n > 0 && i < n => Ok((i, n)),
        _ => bail!("--shard must be INDEX/COUNT with INDEX < COUNT (e.g. 0/10), got {text:?}"),
    }
}
