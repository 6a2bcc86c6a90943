//! The validator role (`cairn validate`): scores each round's updates on the held-out
//! validation data, commits then reveals the scores, and recomputes the aggregate of the
//! accepted updates in fixed point to attest its hash.

use super::{Log, Participant, ROLE_POLL_MS};
use anyhow::{Context, bail};
use cairn_fl::{Dataset, ScoreConfig};
use cairn_rpc::task_api::{RoundView, TaskView};
use cairn_types::{Action, Role, score_commitment};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub struct ValidatorConfig {
    pub task: u64,
    /// Held-out validation data (must match the task's commitment).
    pub validation: Dataset,
    pub stake: Option<u64>,
    pub threads: usize,
    /// Salted scores are kept here between commit and reveal (a restart can still reveal).
    pub state_dir: PathBuf,
}

/// What a validator must remember between committing and revealing.
#[derive(Serialize, Deserialize)]
struct Committed {
    scores: Vec<u16>,
    salt: String,
}

/// Runs until the task is over or `stop` is set.
pub fn run(
    me: &Participant,
    cfg: &ValidatorConfig,
    stop: &Arc<AtomicBool>,
    log: &Log,
) -> anyhow::Result<()> {
    let task = super::read_task(&me.client, cfg.task)?;
    let commitment = super::parse_hash("task validation set", &task.spec.validation_set)?;
    if commitment != super::dataset_commitment(&cfg.validation) {
        bail!(
            "this validator's validation data does not match task {}'s commitment ({})",
            cfg.task,
            task.spec.validation_set
        );
    }
    super::ensure_joined(me, &task, Role::Validator, cfg.stake, log)?;
    while !stop.load(Ordering::Relaxed) {
        let task = super::read_task(&me.client, cfg.task)?;
        if super::finished(&task) {
            return Ok(());
        }
        let acted = match task.round.as_ref().filter(|_| task.status == "running") {
            Some(round) => step(me, cfg, &task, round, log)?,
            None => false,
        };
        if !acted {
            std::thread::sleep(Duration::from_millis(ROLE_POLL_MS));
        }
    }
    Ok(())
}

/// Does what the round's phase asks of this validator, if anything; returns whether it acted.
fn step(
    me: &Participant,
    cfg: &ValidatorConfig,
    task: &TaskView,
    round: &RoundView,
    log: &Log,
) -> anyhow::Result<bool> {
    let saved = cfg
        .state_dir
        .join(format!("task{}-round{}.scores.json", task.id, round.index));
    let me_in = |list: &[String]| list.contains(&me.address);
    match round.phase.as_str() {
        "commit-scores" if !me_in(&round.score_commits) => {
            let scores = match score(me, cfg, task, round, log) {
                Ok(scores) => scores,
                Err(e) => {
                    log(&format!("round {}: cannot score yet: {e:#}", round.index));
                    return Ok(false);
                }
            };
            if !super::still_in_phase(&me.client, task.id, round.index, "commit-scores") {
                return Ok(false);
            }
            let mut salt = [0u8; 32];
            getrandom::fill(&mut salt)
                .map_err(|e| anyhow::anyhow!("no randomness for the score salt: {e}"))?;
            let committed = Committed {
                scores: scores.clone(),
                salt: hex::encode(salt),
            };
            // Remember the salt before the commitment is public: without it there is no reveal.
            super::write_atomic(&saved, &serde_json::to_vec(&committed)?)?;
            let address = cairn_types::parse_public_key(&me.address).map_err(anyhow::Error::msg)?;
            let commitment = score_commitment(task.id, round.index, &address, &scores, &salt);
            report(
                log,
                round.index,
                "committed scores",
                me.send(Action::CommitScores {
                    task: task.id,
                    round: round.index,
                    commitment,
                }),
            );
            Ok(true)
        }
        "reveal-scores" if me_in(&round.score_commits) && !me_in(&round.reveals) => {
            let text = std::fs::read(&saved).with_context(|| {
                format!(
                    "cannot reveal round {}: the salted scores in {} are gone",
                    round.index,
                    saved.display()
                )
            })?;
            let committed: Committed = serde_json::from_slice(&text)
                .with_context(|| format!("{} is corrupt", saved.display()))?;
            let salt = super::parse_hash("saved salt", &committed.salt)?;
            report(
                log,
                round.index,
                "revealed scores",
                me.send(Action::RevealScores {
                    task: task.id,
                    round: round.index,
                    scores: committed.scores,
                    salt,
                }),
            );
            Ok(true)
        }
        "aggregate" if !round.attestations.iter().any(|a| a.validator == me.address) => {
            let model = match aggregate(me, task, round.index) {
                Ok(model) => model,
                // A blob not yet fetchable, say: log it and try again on the next poll.
                Err(e) => {
                    log(&format!(
                        "round {}: cannot aggregate yet: {e:#}",
                        round.index
                    ));
                    return Ok(false);
                }
            };
            if !super::still_in_phase(&me.client, task.id, round.index, "aggregate") {
                return Ok(false);
            }
            let hash = super::parse_hash("aggregate", &model)?;
            report(
                log,
                round.index,
                &format!("attested aggregate {}", &model[..12]),
                me.send(Action::AttestCheckpoint {
                    task: task.id,
                    round: round.index,
                    model: hash,
                }),
            );
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn report(log: &Log, round: u32, what: &str, outcome: anyhow::Result<cairn_rpc::api::Receipt>) {
    match outcome {
        Ok(_) => log(&format!("round {round}: {what}")),
        Err(e) => log(&format!("round {round}: not recorded ({what}): {e:#}")),
    }
}

/// Scores every submitted update of the round, in submission order.
fn score(
    me: &Participant,
    cfg: &ValidatorConfig,
    task: &TaskView,
    round: &RoundView,
    log: &Log,
) -> anyhow::Result<Vec<u16>> {
    let spec = super::model_spec(task)?;
    let global = super::fetch_model(&me.client, &round.global_model)?;
    // A blob no one can serve, or one over the task's size limit, is scored like garbage:
    // empty bytes are invalid.
    let limit = usize::try_from(task.spec.blob_max_bytes).unwrap_or(usize::MAX);
    let updates: Vec<Vec<u8>> = round
        .submissions
        .iter()
        .map(|s| match me.client.get_blob(&s.update) {
            Ok(bytes) => bytes,
            Err(e) => {
                log(&format!(
                    "round {}: update {} unavailable, scored as invalid: {e:#}",
                    round.index, s.update
                ));
                Vec::new()
            }
        })
        .map(|bytes| {
            if bytes.len() > limit {
                Vec::new()
            } else {
                bytes
            }
        })
        .collect();
    let config = ScoreConfig {
        threads: cfg.threads,
        ..ScoreConfig::default()
    };
    let verdicts = cairn_fl::score_updates(&spec, &global, &updates, &cfg.validation, &config);
    for (s, v) in round.submissions.iter().zip(&verdicts) {
        if v.score() == 0 {
            log(&format!(
                "round {}: update {} from {} scores 0: {v:?}",
                round.index,
                &s.update[..12],
                &s.trainer[..12]
            ));
        }
    }
    Ok(verdicts.iter().map(|v| v.score()).collect())
}

/// Recomputes the round's aggregate from the accepted updates the chain recorded, uploads it
/// and returns its hash.
fn aggregate(me: &Participant, task: &TaskView, round: u32) -> anyhow::Result<String> {
    let records = me.client.task_rounds(task.id)?;
    let Some(record) = records.iter().find(|r| r.round == round) else {
        bail!("task {} round {round} has no scored record yet", task.id);
    };
    let accepted: Vec<_> = record.outcomes.iter().filter(|o| o.accepted).collect();
    let mut models = Vec::with_capacity(accepted.len());
    for o in &accepted {
        models.push(super::fetch_model(&me.client, &o.update)?);
    }
    let weights: Vec<u64> = accepted.iter().map(|o| o.weight).collect();
    let rule: cairn_types::AggregationRule = task.spec.rule.parse().map_err(anyhow::Error::msg)?;
    let model = cairn_fl::aggregate(&super::rule_of(&rule), &models, &weights)
        .with_context(|| format!("aggregating round {round} of task {}", task.id))?;
    super::upload_model(&me.client, &model)
}
