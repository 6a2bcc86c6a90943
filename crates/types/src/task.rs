//! Federated-learning task definitions carried by transactions: what a task trains, on which
//! committed data, how its rounds are paced and how the chain aggregates accepted updates.
//!
//! Everything is integers (learning rate in millionths, thresholds in thousandths) so a task's
//! definition hashes and compares the same on every node.

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};

/// BLAKE3 hash of a content-addressed blob (model weights, an update, a dataset manifest).
pub type BlobHash = [u8; 32];

/// Longest model spec string (e.g. `mlp:784-200-200-10`).
pub const MODEL_SPEC_MAX_BYTES: usize = 64;
/// Most rounds a task may ask for.
pub const TASK_ROUNDS_MAX: u32 = 10_000;
/// Most updates accepted into one round (bounds score vectors and aggregation work).
pub const TRAINERS_PER_ROUND_MAX: u32 = 64;
/// Largest blob a task may allow for one update or checkpoint (the node-wide blob limit).
pub const TASK_BLOB_MAX_BYTES: u64 = crate::limits::BLOB_SIZE_MAX_BYTES;
/// Longest phase of a task, in blocks.
pub const PHASE_BLOCKS_MAX: u32 = 1_000_000;

/// How the chain combines a round's accepted updates into the next global model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregationRule {
    /// Weighted mean, weights = each update's consensus score.
    FedAvg,
    /// Coordinate-wise median.
    Median,
    /// Coordinate-wise mean after dropping `trim_per_mille`‰ of the updates at each end.
    TrimmedMean { trim_per_mille: u32 },
    /// The one update closest to its n − f − 2 neighbours.
    Krum { byzantine: u32 },
    /// Mean of the `select` updates with the best Krum scores.
    MultiKrum { byzantine: u32, select: u32 },
}

impl AggregationRule {
    /// Short name, as the CLI accepts it.
    pub fn name(&self) -> &'static str {
        match self {
            AggregationRule::FedAvg => "fedavg",
            AggregationRule::Median => "median",
            AggregationRule::TrimmedMean { .. } => "trimmed-mean",
            AggregationRule::Krum { .. } => "krum",
            AggregationRule::MultiKrum { .. } => "multi-krum",
        }
    }

    /// Whether the rule can run on `n` updates (the task checks it for its largest round, the
    /// round close checks it for the accepted count).
    pub fn admits(&self, n: u32) -> Result<(), String> {
        match *self {
            AggregationRule::FedAvg | AggregationRule::Median => Ok(()),
            AggregationRule::TrimmedMean { trim_per_mille } if trim_per_mille >= 500 => Err(
                format!("trimmed mean drops {trim_per_mille}‰ at each end; it must be below 500‰"),
            ),
            AggregationRule::TrimmedMean { .. } => Ok(()),
            AggregationRule::Krum { byzantine } | AggregationRule::MultiKrum { byzantine, .. }
                if u64::from(n) < 2 * u64::from(byzantine) + 3 =>
            {
                Err(format!(
                    "krum with f = {byzantine} needs at least 2f + 3 = {} updates per round, got {n}",
                    2 * u64::from(byzantine) + 3
                ))
            }
            AggregationRule::MultiKrum { select, .. } if select == 0 || select > n => Err(format!(
                "multi-krum must select between 1 and {n} updates, got {select}"
            )),
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for AggregationRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AggregationRule::FedAvg | AggregationRule::Median => write!(f, "{}", self.name()),
            AggregationRule::TrimmedMean { trim_per_mille } => {
                write!(f, "trimmed-mean:{trim_per_mille}")
            }
            AggregationRule::Krum { byzantine } => write!(f, "krum:{byzantine}"),
            AggregationRule::MultiKrum { byzantine, select } => {
                write!(f, "multi-krum:{byzantine}:{select}")
            }
        }
    }
}

impl std::str::FromStr for AggregationRule {
    type Err = String;
    /// `fedavg`, `median`, `trimmed-mean:PER_MILLE`, `krum:F`, `multi-krum:F:M`.
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.trim().split(':').collect();
        let num = |i: usize| -> Result<u32, String> {
            parts
                .get(i)
                .ok_or_else(|| format!("aggregation rule '{s}' is missing a parameter"))?
                .parse::<u32>()
                .map_err(|e| format!("aggregation rule '{s}': parameter {i} is not a number: {e}"))
        };
        let (rule, arity) = match parts[0] {
            "fedavg" => (AggregationRule::FedAvg, 1),
            "median" => (AggregationRule::Median, 1),
            "trimmed-mean" => (
                AggregationRule::TrimmedMean {
                    trim_per_mille: num(1)?,
                },
                2,
            ),
            "krum" => (AggregationRule::Krum { byzantine: num(1)? }, 2),
            "multi-krum" => (
                AggregationRule::MultiKrum {
                    byzantine: num(1)?,
                    select: num(2)?,
                },
                3,
            ),
            other => {
                return Err(format!(
                    "unknown aggregation rule '{other}': use fedavg, median, trimmed-mean:PER_MILLE, krum:F or multi-krum:F:M"
                ));
            }
        };
        if parts.len() != arity {
            return Err(format!(
                "aggregation rule '{s}' has {} parameters; expected {}",
                parts.len() - 1,
                arity - 1
            ));
        }
        Ok(rule)
    }
}

impl Write for AggregationRule {
    fn write(&self, w: &mut impl BufMut) {
        match *self {
            AggregationRule::FedAvg => 0u8.write(w),
            AggregationRule::Median => 1u8.write(w),
            AggregationRule::TrimmedMean { trim_per_mille } => {
                2u8.write(w);
                trim_per_mille.write(w);
            }
            AggregationRule::Krum { byzantine } => {
                3u8.write(w);
                byzantine.write(w);
            }
            AggregationRule::MultiKrum { byzantine, select } => {
                4u8.write(w);
                byzantine.write(w);
                select.write(w);
            }
        }
    }
}

impl EncodeSize for AggregationRule {
    fn encode_size(&self) -> usize {
        1 + match self {
            AggregationRule::FedAvg | AggregationRule::Median => 0,
            AggregationRule::TrimmedMean { .. } | AggregationRule::Krum { .. } => u32::SIZE,
            AggregationRule::MultiKrum { .. } => 2 * u32::SIZE,
        }
    }
}

impl Read for AggregationRule {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(r)? {
            0 => AggregationRule::FedAvg,
            1 => AggregationRule::Median,
            2 => AggregationRule::TrimmedMean {
                trim_per_mille: u32::read(r)?,
            },
            3 => AggregationRule::Krum {
                byzantine: u32::read(r)?,
            },
            4 => AggregationRule::MultiKrum {
                byzantine: u32::read(r)?,
                select: u32::read(r)?,
            },
            tag => return Err(CodecError::InvalidEnum(tag)),
        })
    }
}

/// The part a task participant plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Trains on its own shard and submits updates.
    Trainer,
    /// Scores updates on the held-out validation set and attests aggregates.
    Validator,
}

impl Role {
    pub fn name(&self) -> &'static str {
        match self {
            Role::Trainer => "trainer",
            Role::Validator => "validator",
        }
    }
}

impl Write for Role {
    fn write(&self, w: &mut impl BufMut) {
        (*self as u8).write(w);
    }
}

impl FixedSize for Role {
    const SIZE: usize = 1;
}

impl Read for Role {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        match u8::read(r)? {
            0 => Ok(Role::Trainer),
            1 => Ok(Role::Validator),
            tag => Err(CodecError::InvalidEnum(tag)),
        }
    }
}

/// Everything a proposer fixes about a task. Phase lengths are in blocks; a phase also ends
/// early once everyone expected in it has acted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSpec {
    /// Model architecture, e.g. `mlp:784-64-10`, `2nn`, `cnn` (printable ASCII).
    pub model: String,
    /// Blob hash of the round-0 global model.
    pub initial_model: BlobHash,
    /// Commitment to the training data (trainers hold shards of it).
    pub dataset: BlobHash,
    /// Commitment to the held-out validation data validators score on.
    pub validation_set: BlobHash,
    pub rounds: u32,
    /// Most updates one round takes (first come, first served).
    pub trainers_per_round: u32,
    pub local_epochs: u32,
    pub batch_size: u32,
    /// Learning rate × 10⁶.
    pub learning_rate_micro: u32,
    pub rule: AggregationRule,
    /// An update is accepted when its consensus score is at least this many thousandths of
    /// the round's best consensus score (and above zero).
    pub accept_per_mille: u32,
    pub min_trainer_stake: u64,
    pub min_validator_stake: u64,
    /// Escrowed from the proposer at proposal; paid out over the rounds.
    pub reward_pool: u64,
    /// Largest update or checkpoint blob, in bytes.
    pub blob_max_bytes: u64,
    /// Blocks the validator set has to approve the proposal.
    pub review_blocks: u32,
    /// Blocks trainers have to submit update hashes.
    pub commit_blocks: u32,
    /// Blocks validators have to commit their scores.
    pub score_blocks: u32,
    /// Blocks validators have to reveal their scores.
    pub reveal_blocks: u32,
    /// Blocks validators have to attest the aggregated model.
    pub aggregate_blocks: u32,
}

impl TaskSpec {
    /// Most blobs the task can pin on every node, each at most `blob_max_bytes`: the initial
    /// model, then per round a checkpoint and up to `trainers_per_round` updates.
    pub fn pinned_blobs_max(&self) -> u64 {
        let per_round = 1 + u64::from(self.trainers_per_round);
        1 + u64::from(self.rounds) * per_round
    }

    /// What the proposer escrows for the blobs the task pins ([crate::limits::blob_deposit]
    /// of `blob_max_bytes`, times [TaskSpec::pinned_blobs_max]); returned when the task ends.
    pub fn blob_deposit(&self) -> Option<u64> {
        crate::limits::blob_deposit(self.blob_max_bytes)?.checked_mul(self.pinned_blobs_max())
    }

    /// Every check on a proposal that needs no state: the first impossible field, named.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let m = &self.model;
        if m.is_empty()
            || m.len() > MODEL_SPEC_MAX_BYTES
            || !m.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err((
                "model",
                format!("must be 1..={MODEL_SPEC_MAX_BYTES} printable ASCII bytes, got {m:?}"),
            ));
        }
        if self.rounds == 0 || self.rounds > TASK_ROUNDS_MAX {
            return Err((
                "rounds",
                format!("must be 1..={TASK_ROUNDS_MAX}, got {}", self.rounds),
            ));
        }
        if self.trainers_per_round == 0 || self.trainers_per_round > TRAINERS_PER_ROUND_MAX {
            return Err((
                "trainers_per_round",
                format!(
                    "must be 1..={TRAINERS_PER_ROUND_MAX}, got {}",
                    self.trainers_per_round
                ),
            ));
        }
        if self.local_epochs == 0 || self.local_epochs > 1_000 {
            return Err((
                "local_epochs",
                format!("must be 1..=1000, got {}", self.local_epochs),
            ));
        }
        if self.batch_size == 0 || self.batch_size > 1_024 {
            return Err((
                "batch_size",
                format!("must be 1..=1024, got {}", self.batch_size),
            ));
        }
        if self.learning_rate_micro == 0 || self.learning_rate_micro > 10_000_000 {
            return Err((
                "learning_rate_micro",
                format!(
                    "must be 1..=10000000 (a rate of 0.000001..=10), got {}",
                    self.learning_rate_micro
                ),
            ));
        }
        self.rule
            .admits(self.trainers_per_round)
            .map_err(|e| ("rule", e))?;
        if self.accept_per_mille == 0 || self.accept_per_mille > 1_000 {
            return Err((
                "accept_per_mille",
                format!("must be 1..=1000, got {}", self.accept_per_mille),
            ));
        }
        if self.min_trainer_stake == 0 {
            return Err((
                "min_trainer_stake",
                "must be above zero (it is the Sybil cost)".into(),
            ));
        }
        if self.min_validator_stake == 0 {
            return Err(("min_validator_stake", "must be above zero".into()));
        }
        if self.reward_pool < u64::from(self.rounds) {
            return Err((
                "reward_pool",
                format!(
                    "{} cannot pay {} rounds at least 1 each",
                    self.reward_pool, self.rounds
                ),
            ));
        }
        if self.blob_max_bytes == 0 || self.blob_max_bytes > TASK_BLOB_MAX_BYTES {
            return Err((
                "blob_max_bytes",
                format!(
                    "must be 1..={TASK_BLOB_MAX_BYTES}, got {}",
                    self.blob_max_bytes
                ),
            ));
        }
        for (name, v) in [
            ("review_blocks", self.review_blocks),
            ("commit_blocks", self.commit_blocks),
            ("score_blocks", self.score_blocks),
            ("reveal_blocks", self.reveal_blocks),
            ("aggregate_blocks", self.aggregate_blocks),
        ] {
            if v == 0 || v > PHASE_BLOCKS_MAX {
                return Err((
                    name,
                    format!("must be 1..={PHASE_BLOCKS_MAX} blocks, got {v}"),
                ));
            }
        }
        Ok(())
    }
}

impl Write for TaskSpec {
    fn write(&self, w: &mut impl BufMut) {
        crate::tx::write_string(&self.model, w);
        self.initial_model.write(w);
        self.dataset.write(w);
        self.validation_set.write(w);
        self.rounds.write(w);
        self.trainers_per_round.write(w);
        self.local_epochs.write(w);
        self.batch_size.write(w);
        self.learning_rate_micro.write(w);
        self.rule.write(w);
        self.accept_per_mille.write(w);
        self.min_trainer_stake.write(w);
        self.min_validator_stake.write(w);
        self.reward_pool.write(w);
        self.blob_max_bytes.write(w);
        self.review_blocks.write(w);
        self.commit_blocks.write(w);
        self.score_blocks.write(w);
        self.reveal_blocks.write(w);
        self.aggregate_blocks.write(w);
    }
}

impl EncodeSize for TaskSpec {
    fn encode_size(&self) -> usize {
        self.model.as_bytes().to_vec().encode_size()
            + 3 * 32
            + 11 * u32::SIZE
            + 4 * u64::SIZE
            + self.rule.encode_size()
    }
}

impl Read for TaskSpec {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(TaskSpec {
            model: crate::tx::read_string(r, MODEL_SPEC_MAX_BYTES)?,
            initial_model: <[u8; 32]>::read(r)?,
            dataset: <[u8; 32]>::read(r)?,
            validation_set: <[u8; 32]>::read(r)?,
            rounds: u32::read(r)?,
            trainers_per_round: u32::read(r)?,
            local_epochs: u32::read(r)?,
            batch_size: u32::read(r)?,
            learning_rate_micro: u32::read(r)?,
            rule: AggregationRule::read(r)?,
            accept_per_mille: u32::read(r)?,
            min_trainer_stake: u64::read(r)?,
            min_validator_stake: u64::read(r)?,
            reward_pool: u64::read(r)?,
            blob_max_bytes: u64::read(r)?,
            review_blocks: u32::read(r)?,
            commit_blocks: u32::read(r)?,
            score_blocks: u32::read(r)?,
            reveal_blocks: u32::read(r)?,
            aggregate_blocks: u32::read(r)?,
        })
    }
}

/// Domain separator of score commitments.
pub const SCORE_COMMIT_NAMESPACE: &[u8] = b"_CAIRN_SCORE_COMMIT_V1";

/// The commitment a validator posts before revealing `scores` for a round:
/// `sha256(namespace ‖ task ‖ round ‖ validator ‖ count ‖ scores (u16 BE each) ‖ salt)`. Binding
/// the validator's address means a copied commitment cannot be revealed by anyone else.
pub fn score_commitment(
    task: u64,
    round: u32,
    validator: &crate::Address,
    scores: &[u16],
    salt: &[u8; 32],
) -> crate::Digest {
    let mut body = Vec::with_capacity(8 + 4 + 32 + 4 + 2 * scores.len() + 32);
    body.extend_from_slice(&task.to_be_bytes());
    body.extend_from_slice(&round.to_be_bytes());
    body.extend_from_slice(validator.as_ref());
    body.extend_from_slice(&(scores.len() as u32).to_be_bytes());
    for s in scores {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(salt);
    crate::sha256(&[SCORE_COMMIT_NAMESPACE, &body])
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt, Encode};

    pub(crate) fn spec() -> TaskSpec {
        TaskSpec {
            model: "mlp:784-64-10".into(),
            initial_model: [1; 32],
            dataset: [2; 32],
            validation_set: [3; 32],
            rounds: 3,
            trainers_per_round: 8,
            local_epochs: 1,
            batch_size: 10,
            learning_rate_micro: 100_000,
            rule: AggregationRule::MultiKrum {
                byzantine: 1,
                select: 3,
            },
            accept_per_mille: 500,
            min_trainer_stake: 10,
            min_validator_stake: 10,
            reward_pool: 3_000,
            blob_max_bytes: 1 << 20,
            review_blocks: 10,
            commit_blocks: 10,
            score_blocks: 10,
            reveal_blocks: 10,
            aggregate_blocks: 10,
        }
    }

    #[test]
    fn spec_round_trips_and_size_matches() {
        let s = spec();
        let bytes = s.encode();
        assert_eq!(bytes.len(), s.encode_size());
        assert_eq!(TaskSpec::decode(bytes).unwrap(), s);
        assert!(s.validate().is_ok());
    }

    #[test]
    fn rule_strings_round_trip() {
        for text in [
            "fedavg",
            "median",
            "trimmed-mean:100",
            "krum:1",
            "multi-krum:1:3",
        ] {
            let rule: AggregationRule = text.parse().unwrap();
            assert_eq!(rule.to_string(), text);
        }
        assert!("krum".parse::<AggregationRule>().is_err());
        assert!("fedavg:1".parse::<AggregationRule>().is_err());
        assert!(
            "mean"
                .parse::<AggregationRule>()
                .unwrap_err()
                .contains("unknown aggregation rule")
        );
    }

    #[test]
    fn impossible_specs_name_the_field() {
        let field = |f: fn(&mut TaskSpec)| {
            let mut s = spec();
            f(&mut s);
            s.validate().unwrap_err().0
        };
        assert_eq!(field(|s| s.rounds = 0), "rounds");
        assert_eq!(field(|s| s.trainers_per_round = 65), "trainers_per_round");
        assert_eq!(
            field(|s| s.rule = AggregationRule::Krum { byzantine: 3 }),
            "rule"
        );
        assert_eq!(
            field(|s| s.rule = AggregationRule::MultiKrum {
                byzantine: 1,
                select: 9
            }),
            "rule"
        );
        assert_eq!(
            field(|s| s.rule = AggregationRule::TrimmedMean {
                trim_per_mille: 500
            }),
            "rule"
        );
        assert_eq!(field(|s| s.reward_pool = 2), "reward_pool");
        assert_eq!(field(|s| s.model = String::new()), "model");
        assert_eq!(field(|s| s.commit_blocks = 0), "commit_blocks");
        assert_eq!(field(|s| s.min_trainer_stake = 0), "min_trainer_stake");
        assert_eq!(field(|s| s.accept_per_mille = 1_001), "accept_per_mille");
    }

    #[test]
    fn commitment_binds_every_input() {
        use commonware_cryptography::Signer;
        let v = commonware_cryptography::ed25519::PrivateKey::from_seed(1).public_key();
        let w = commonware_cryptography::ed25519::PrivateKey::from_seed(2).public_key();
        let base = score_commitment(1, 2, &v, &[5, 6], &[7; 32]);
        assert_ne!(base, score_commitment(2, 2, &v, &[5, 6], &[7; 32]));
        assert_ne!(base, score_commitment(1, 3, &v, &[5, 6], &[7; 32]));
        assert_ne!(base, score_commitment(1, 2, &w, &[5, 6], &[7; 32]));
        assert_ne!(base, score_commitment(1, 2, &v, &[5, 7], &[7; 32]));
        assert_ne!(base, score_commitment(1, 2, &v, &[5, 6], &[8; 32]));
    }
}
