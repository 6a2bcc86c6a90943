//! Federated-learning tasks as the RPC returns them (`cairn_task`, `cairn_tasks`,
//! `cairn_taskRounds`). Hashes are lower-case hex; blob hashes are BLAKE3, the score
//! commitment SHA-256.

use cairn_types::{TaskSpec, to_hex};
use serde::{Deserialize, Serialize};

/// A task's fixed definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpecView {
    pub model: String,
    pub initial_model: String,
    pub dataset: String,
    pub validation_set: String,
    pub rounds: u32,
    pub trainers_per_round: u32,
    pub local_epochs: u32,
    pub batch_size: u32,
    pub learning_rate_micro: u32,
    /// `fedavg`, `median`, `trimmed-mean:‰`, `krum:f`, `multi-krum:f:m`.
    pub rule: String,
    pub accept_per_mille: u32,
    pub min_trainer_stake: u64,
    pub min_validator_stake: u64,
    pub reward_pool: u64,
    pub blob_max_bytes: u64,
    pub review_blocks: u32,
    pub commit_blocks: u32,
    pub score_blocks: u32,
    pub reveal_blocks: u32,
    pub aggregate_blocks: u32,
}

impl TaskSpecView {
    pub fn from_spec(s: &TaskSpec) -> Self {
        TaskSpecView {
            model: s.model.clone(),
            initial_model: to_hex(s.initial_model),
            dataset: to_hex(s.dataset),
            validation_set: to_hex(s.validation_set),
            rounds: s.rounds,
            trainers_per_round: s.trainers_per_round,
            local_epochs: s.local_epochs,
            batch_size: s.batch_size,
            learning_rate_micro: s.learning_rate_micro,
            rule: s.rule.to_string(),
            accept_per_mille: s.accept_per_mille,
            min_trainer_stake: s.min_trainer_stake,
            min_validator_stake: s.min_validator_stake,
            reward_pool: s.reward_pool,
            blob_max_bytes: s.blob_max_bytes,
            review_blocks: s.review_blocks,
            commit_blocks: s.commit_blocks,
            score_blocks: s.score_blocks,
            reveal_blocks: s.reveal_blocks,
            aggregate_blocks: s.aggregate_blocks,
        }
    }

    /// Parses the view back into a spec (what a client proposes).
    pub fn to_spec(&self) -> Result<TaskSpec, String> {
        let hash = |name: &str, text: &str| -> Result<[u8; 32], String> {
            let bytes = hex::decode(text.trim().trim_start_matches("0x"))
                .map_err(|e| format!("{name} '{text}' is not hex: {e}"))?;
            <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                format!(
                    "{name} must be 32 bytes (64 hex characters), got {}",
                    bytes.len()
                )
            })
        };
        Ok(TaskSpec {
            model: self.model.clone(),
            initial_model: hash("initial_model", &self.initial_model)?,
            dataset: hash("dataset", &self.dataset)?,
            validation_set: hash("validation_set", &self.validation_set)?,
            rounds: self.rounds,
            trainers_per_round: self.trainers_per_round,
            local_epochs: self.local_epochs,
            batch_size: self.batch_size,
            learning_rate_micro: self.learning_rate_micro,
            rule: self.rule.parse()?,
            accept_per_mille: self.accept_per_mille,
            min_trainer_stake: self.min_trainer_stake,
            min_validator_stake: self.min_validator_stake,
            reward_pool: self.reward_pool,
            blob_max_bytes: self.blob_max_bytes,
            review_blocks: self.review_blocks,
            commit_blocks: self.commit_blocks,
            score_blocks: self.score_blocks,
            reveal_blocks: self.reveal_blocks,
            aggregate_blocks: self.aggregate_blocks,
        })
    }
}

/// A registered trainer or validator of a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub address: String,
    /// Still locked in the task.
    pub stake: u64,
    pub joined_at: u64,
    pub rewards: u64,
    pub penalties: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteView {
    pub validator: String,
    pub approve: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionView {
    pub trainer: String,
    pub update: String,
    pub height: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationView {
    pub validator: String,
    pub model: String,
}

/// The round being run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundView {
    pub index: u32,
    pub global_model: String,
    /// `submit`, `commit-scores`, `reveal-scores` or `aggregate`.
    pub phase: String,
    /// Last height of the phase.
    pub phase_deadline: u64,
    /// In submission order (the order scores are revealed in).
    pub submissions: Vec<SubmissionView>,
    /// Validators that committed scores.
    pub score_commits: Vec<String>,
    /// Validators that revealed.
    pub reveals: Vec<String>,
    pub attestations: Vec<AttestationView>,
}

/// A task and its participants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskView {
    pub id: u64,
    pub proposer: String,
    /// `review`, `running`, `completed` or `rejected`.
    pub status: String,
    /// The height the review ends at, while under review.
    pub review_deadline: Option<u64>,
    pub proposed_at: u64,
    pub spec: TaskSpecView,
    /// Reward pool not yet paid out.
    pub escrow: u64,
    pub votes: Vec<VoteView>,
    pub trainers: Vec<MemberView>,
    pub validators: Vec<MemberView>,
    /// The latest checkpoint (the initial model before the first).
    pub global_model: String,
    pub rounds_closed: u32,
    pub round: Option<RoundView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateOutcomeView {
    pub trainer: String,
    pub update: String,
    /// Yuma consensus score, a u16 proportion (65535 = 1).
    pub consensus: u16,
    pub accepted: bool,
    /// Aggregation weight (FedAvg).
    pub weight: u64,
    pub reward: u64,
    pub penalty: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorOutcomeView {
    pub validator: String,
    pub revealed: bool,
    pub reward: u64,
    pub penalty: u64,
}

/// A scored round: lineage (updates, trainers, weights) and its checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundRecordView {
    pub task: u64,
    pub round: u32,
    pub global_in: String,
    pub checkpoint: Option<String>,
    pub scored_at: u64,
    pub closed_at: Option<u64>,
    pub outcomes: Vec<UpdateOutcomeView>,
    pub validators: Vec<ValidatorOutcomeView>,
}
