//! The trainer role (`cairn train`): for each round it fetches the global model, trains on
//! its own shard, uploads the update blob and commits its hash on chain.

use super::{Log, Participant, ROLE_POLL_MS};
use anyhow::{Context, bail};
use cairn_fl::{Attack, Dataset, QModel};
use cairn_types::{Action, Role};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub struct TrainerConfig {
    pub task: u64,
    /// This trainer's shard of the training data.
    pub shard: Dataset,
    /// Commitment to the full training set the shard was cut from (checked against the task).
    pub dataset_commitment: [u8; 32],
    /// Poison the updates instead of training honestly (demos and benchmarks).
    pub attack: Option<Attack>,
    /// Stake to join with (default: the task's minimum).
    pub stake: Option<u64>,
    pub threads: usize,
    /// Trained updates are kept here, so a restart re-submits instead of re-training.
    pub state_dir: PathBuf,
    /// Seed local training like client `.1` of a chain-free run seeded `.0`
    /// ([cairn_fl::client_seed]), to compare the two; default: from task, round and address.
    pub baseline_seed: Option<(u64, usize)>,
}

/// Runs until the task is over or `stop` is set.
pub fn run(
    me: &Participant,
    cfg: &TrainerConfig,
    stop: &Arc<AtomicBool>,
    log: &Log,
) -> anyhow::Result<()> {
    let task = super::read_task(&me.client, cfg.task)?;
    let commitment = super::parse_hash("task dataset", &task.spec.dataset)?;
    if commitment != cfg.dataset_commitment {
        bail!(
            "this trainer's data does not match task {}'s dataset commitment ({}); train on the data the task was proposed with",
            cfg.task,
            task.spec.dataset
        );
    }
    let spec = super::model_spec(&task)?;
    super::ensure_joined(me, &task, Role::Trainer, cfg.stake, log)?;
    while !stop.load(Ordering::Relaxed) {
        let task = super::read_task(&me.client, cfg.task)?;
        if super::finished(&task) {
            return Ok(());
        }
        let due = task.round.as_ref().filter(|r| {
            r.phase == "submit" && !r.submissions.iter().any(|s| s.trainer == me.address)
        });
        let Some(round) = due else {
            std::thread::sleep(Duration::from_millis(ROLE_POLL_MS));
            continue;
        };
        if task.status != "running" {
            std::thread::sleep(Duration::from_millis(ROLE_POLL_MS));
            continue;
        }
        let cache = cfg
            .state_dir
            .join(format!("task{}-round{}.cqmd", cfg.task, round.index));
        let update = match std::fs::read(&cache)
            .ok()
            .and_then(|b| QModel::decode(&b).ok())
        {
            Some(update) => update,
            None => {
                let global = super::fetch_model(&me.client, &round.global_model)?;
                let seed = match cfg.baseline_seed {
                    Some((base, client)) => {
                        cairn_fl::client_seed(base, round.index as usize + 1, client)
                    }
                    None => super::round_seed(cfg.task, round.index, &me.address),
                };
                let train = super::train_config(&task.spec, seed, cfg.threads);
                let update = match &cfg.attack {
                    None => cairn_fl::local_train(&spec, &global, &cfg.shard, &train)
                        .map(|(u, _)| u)
                        .context("local training failed")?,
                    Some(attack) => {
                        cairn_fl::attacked_update(attack, &spec, &global, &cfg.shard, &train, seed)
                            .context("building the attacked update failed")?
                    }
                };
                super::write_atomic(&cache, &update.encode())?;
                update
            }
        };
        let id = super::upload_model(&me.client, &update)?;
        if !super::still_in_phase(&me.client, cfg.task, round.index, "submit") {
            continue;
        }
        let hash = super::parse_hash("update", &id)?;
        match me.send(Action::SubmitUpdate {
            task: cfg.task,
            round: round.index,
            update: hash,
        }) {
            Ok(_) => log(&format!(
                "round {}: submitted update {}",
                round.index,
                &id[..12]
            )),
            // The phase may have closed between the read and the submission: try next round.
            Err(e) => log(&format!(
                "round {}: submission not recorded: {e:#}",
                round.index
            )),
        }
    }
    Ok(())
}
