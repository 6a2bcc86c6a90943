//! Federated-learning tasks on chain: proposal and validator review, stake-backed
//! registration, rounds with deadlines (submit → commit scores → reveal scores → aggregate),
//! Yuma consensus on the revealed scores, rewards and penalties, and checkpoints with lineage.
//!
//! The chain never touches model bytes: it records blob hashes, decides which updates are
//! accepted and with which weights, and records the aggregate hash that at least two thirds
//! of the task's validator stake attest after each recomputed it from the accepted blobs in
//! fixed point (`cairn-fixed`). Everything here is integers; phase changes happen in
//! [State::end_block_tasks], so a round's outcome is a pure function of the blocks.

use crate::error::{TaskError, TxError};
use crate::state::State;
use bytes::BufMut;
use cairn_types::task::BlobHash;
use cairn_types::{Action, Address, Amount, Digest, PublicKey, Role, TaskSpec, score_commitment};
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize, RangeCfg, Read, ReadExt, Write,
};
use std::collections::BTreeMap;

/// Most trainers one task registers.
pub const TASK_TRAINERS_MAX: usize = 1_024;
/// Most validators one task registers (bounds the Yuma matrix and the attestation tally).
pub const TASK_VALIDATORS_MAX: usize = 64;
/// Share of a trainer's task stake burnt when validators' consensus scores its update zero
/// (undecodable, wrong shape, a copy, or poisoned), in basis points.
pub const TRAINER_PENALTY_BPS: u64 = 1_000;
/// Share of a validator's task stake burnt when it commits scores and does not reveal them.
pub const VALIDATOR_PENALTY_BPS: u64 = 1_000;
/// Yuma κ as a u16 proportion (0.5: a score is supported by half the revealing stake).
pub const YUMA_KAPPA: u16 = 32_767;
/// Yuma β (bonds penalty) as a u16 proportion (1.0: bonds on clipped weights).
pub const YUMA_BONDS_PENALTY: u16 = u16::MAX;

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskStatus {
    /// Waiting for the validator set's vote until `deadline` (a height).
    Review {
        deadline: u64,
    },
    Running,
    /// Every round ran; escrow leftovers and stakes were returned.
    Completed,
    /// Voted down or not approved in time; escrow returned.
    Rejected,
}

impl TaskStatus {
    pub fn name(&self) -> &'static str {
        match self {
            TaskStatus::Review { .. } => "review",
            TaskStatus::Running => "running",
            TaskStatus::Completed => "completed",
            TaskStatus::Rejected => "rejected",
        }
    }
}

/// The phase of a running round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Trainers submit update hashes.
    Submit,
    /// Validators commit to their scores.
    CommitScores,
    /// Validators reveal their scores.
    RevealScores,
    /// Validators attest the aggregate of the accepted updates.
    Aggregate,
}

impl Phase {
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Submit => "submit",
            Phase::CommitScores => "commit-scores",
            Phase::RevealScores => "reveal-scores",
            Phase::Aggregate => "aggregate",
        }
    }
}

/// A registered participant's standing in one task.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Member {
    /// Locked until the task ends (penalties burn from it).
    pub stake: Amount,
    pub joined_at: u64,
    /// Paid to the balance so far.
    pub rewards: Amount,
    /// Burnt from the stake so far.
    pub penalties: Amount,
}

/// One trainer's update in the current round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submission {
    pub trainer: Address,
    pub update: BlobHash,
    pub height: u64,
}

/// The round being run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Round {
    pub index: u32,
    /// The model trainers start from.
    pub global_model: BlobHash,
    pub phase: Phase,
    /// Last height of the current phase.
    pub phase_deadline: u64,
    /// In submission order (scores are revealed in this order).
    pub submissions: Vec<Submission>,
    pub score_commits: BTreeMap<Address, Digest>,
    pub reveals: BTreeMap<Address, Vec<u16>>,
    pub attestations: BTreeMap<Address, BlobHash>,
}

/// A task and everyone in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    pub id: u64,
    pub proposer: Address,
    pub spec: TaskSpec,
    pub status: TaskStatus,
    pub proposed_at: u64,
    /// Reward pool not yet paid out.
    pub escrow: Amount,
    /// The blob deposit ([TaskSpec::blob_deposit]) held while the task runs; returned to the
    /// proposer when it ends.
    pub deposit: Amount,
    /// Review votes by validator consensus key.
    pub votes: BTreeMap<PublicKey, bool>,
    pub trainers: BTreeMap<Address, Member>,
    pub validators: BTreeMap<Address, Member>,
    /// The latest checkpoint (the initial model before the first).
    pub global_model: BlobHash,
    /// Rounds closed so far (with or without a checkpoint).
    pub rounds_closed: u32,
    pub round: Option<Round>,
}

impl Member {
    /// Records a round's reward (paid to the balance by the caller) and burns `penalty` from
    /// the stake.
    fn settle(&mut self, reward: Amount, penalty: Amount) -> Result<(), TxError> {
        let overflow = |what| TxError::Overflow { what };
        self.stake = self.stake.checked_sub(penalty).ok_or(overflow("stake"))?;
        self.penalties = self
            .penalties
            .checked_add(penalty)
            .ok_or(overflow("penalty"))?;
        self.rewards = self.rewards.checked_add(reward).ok_or(overflow("reward"))?;
        Ok(())
    }
}

impl Task {
    fn members(&self, role: Role) -> &BTreeMap<Address, Member> {
        match role {
            Role::Trainer => &self.trainers,
            Role::Validator => &self.validators,
        }
    }

    fn members_mut(&mut self, role: Role) -> &mut BTreeMap<Address, Member> {
        match role {
            Role::Trainer => &mut self.trainers,
            Role::Validator => &mut self.validators,
        }
    }

    /// Tokens the task holds: escrow, blob deposit and every member's stake.
    pub fn held(&self) -> Option<Amount> {
        self.trainers
            .values()
            .chain(self.validators.values())
            .try_fold(self.escrow.checked_add(self.deposit)?, |acc, m| {
                acc.checked_add(m.stake)
            })
    }

    /// Whether the blobs it names are pinned: a task that was rejected never ran, so nothing
    /// of it is kept (its lineage is empty).
    pub fn pins_blobs(&self) -> bool {
        self.status != TaskStatus::Rejected
    }
}

/// How one submitted update fared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateOutcome {
    pub trainer: Address,
    pub update: BlobHash,
    /// Yuma consensus score as a u16 proportion of the normalized weights.
    pub consensus: u16,
    pub accepted: bool,
    /// Aggregation weight (FedAvg): the consensus score when accepted, else 0.
    pub weight: u64,
    pub reward: Amount,
    pub penalty: Amount,
}

/// How one task validator fared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorOutcome {
    pub validator: Address,
    pub revealed: bool,
    pub reward: Amount,
    pub penalty: Amount,
}

/// The record of a scored round: its lineage (which updates, which trainers, which weights)
/// and, once attested, its checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundRecord {
    pub global_in: BlobHash,
    pub outcomes: Vec<UpdateOutcome>,
    pub validators: Vec<ValidatorOutcome>,
    pub scored_at: u64,
    /// The attested aggregate; `None` when the round closed without one (no accepted update,
    /// no quorum before the deadline).
    pub checkpoint: Option<BlobHash>,
    pub closed_at: Option<u64>,
}

impl RoundRecord {
    /// The accepted updates, in submission order, with their aggregation weights.
    pub fn accepted(&self) -> Vec<(BlobHash, u64)> {
        self.outcomes
            .iter()
            .filter(|o| o.accepted)
            .map(|o| (o.update, o.weight))
            .collect()
    }
}

// ---- codecs (consensus-critical: never reorder fields) ----

fn map_cfg(max: usize) -> (RangeCfg<usize>, ((), ())) {
    (RangeCfg::new(0..=max), ((), ()))
}

impl Write for TaskStatus {
    fn write(&self, w: &mut impl BufMut) {
        match self {
            TaskStatus::Review { deadline } => {
                0u8.write(w);
                deadline.write(w);
            }
            TaskStatus::Running => 1u8.write(w),
            TaskStatus::Completed => 2u8.write(w),
            TaskStatus::Rejected => 3u8.write(w),
        }
    }
}

impl EncodeSize for TaskStatus {
    fn encode_size(&self) -> usize {
        1 + match self {
            TaskStatus::Review { .. } => u64::SIZE,
            _ => 0,
        }
    }
}

impl Read for TaskStatus {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(r)? {
            0 => TaskStatus::Review {
                deadline: u64::read(r)?,
            },
            1 => TaskStatus::Running,
            2 => TaskStatus::Completed,
            3 => TaskStatus::Rejected,
            tag => return Err(CodecError::InvalidEnum(tag)),
        })
    }
}

impl Write for Phase {
    fn write(&self, w: &mut impl BufMut) {
        (*self as u8).write(w);
    }
}

impl FixedSize for Phase {
    const SIZE: usize = 1;
}

impl Read for Phase {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(r)? {
            0 => Phase::Submit,
            1 => Phase::CommitScores,
            2 => Phase::RevealScores,
            3 => Phase::Aggregate,
            tag => return Err(CodecError::InvalidEnum(tag)),
        })
    }
}

impl Write for Member {
    fn write(&self, w: &mut impl BufMut) {
        self.stake.write(w);
        self.joined_at.write(w);
        self.rewards.write(w);
        self.penalties.write(w);
    }
}

impl FixedSize for Member {
    const SIZE: usize = 4 * u64::SIZE;
}

impl Read for Member {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Member {
            stake: u64::read(r)?,
            joined_at: u64::read(r)?,
            rewards: u64::read(r)?,
            penalties: u64::read(r)?,
        })
    }
}

impl Write for Submission {
    fn write(&self, w: &mut impl BufMut) {
        self.trainer.write(w);
        self.update.write(w);
        self.height.write(w);
    }
}

impl FixedSize for Submission {
    const SIZE: usize = PublicKey::SIZE + 32 + u64::SIZE;
}

impl Read for Submission {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Submission {
            trainer: PublicKey::read(r)?,
            update: <[u8; 32]>::read(r)?,
            height: u64::read(r)?,
        })
    }
}

const ROUND_UPDATES_MAX: usize = cairn_types::task::TRAINERS_PER_ROUND_MAX as usize;

impl Write for Round {
    fn write(&self, w: &mut impl BufMut) {
        self.index.write(w);
        self.global_model.write(w);
        self.phase.write(w);
        self.phase_deadline.write(w);
        self.submissions.write(w);
        self.score_commits.write(w);
        self.reveals.write(w);
        self.attestations.write(w);
    }
}

impl EncodeSize for Round {
    fn encode_size(&self) -> usize {
        u32::SIZE
            + 32
            + Phase::SIZE
            + u64::SIZE
            + self.submissions.encode_size()
            + self.score_commits.encode_size()
            + self.reveals.encode_size()
            + self.attestations.encode_size()
    }
}

impl Read for Round {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let reveals_cfg = (
            RangeCfg::new(0..=TASK_VALIDATORS_MAX),
            ((), (RangeCfg::new(0..=ROUND_UPDATES_MAX), ())),
        );
        Ok(Round {
            index: u32::read(r)?,
            global_model: <[u8; 32]>::read(r)?,
            phase: Phase::read(r)?,
            phase_deadline: u64::read(r)?,
            submissions: Vec::read_cfg(r, &(RangeCfg::new(0..=ROUND_UPDATES_MAX), ()))?,
            score_commits: BTreeMap::read_cfg(r, &map_cfg(TASK_VALIDATORS_MAX))?,
            reveals: BTreeMap::read_cfg(r, &reveals_cfg)?,
            attestations: BTreeMap::read_cfg(r, &map_cfg(TASK_VALIDATORS_MAX))?,
        })
    }
}

impl Write for Task {
    fn write(&self, w: &mut impl BufMut) {
        self.id.write(w);
        self.proposer.write(w);
        self.spec.write(w);
        self.status.write(w);
        self.proposed_at.write(w);
        self.escrow.write(w);
        self.deposit.write(w);
        self.votes.write(w);
        self.trainers.write(w);
        self.validators.write(w);
        self.global_model.write(w);
        self.rounds_closed.write(w);
        self.round.write(w);
    }
}

impl EncodeSize for Task {
    fn encode_size(&self) -> usize {
        u64::SIZE
            + PublicKey::SIZE
            + self.spec.encode_size()
            + self.status.encode_size()
            + 3 * u64::SIZE
            + self.votes.encode_size()
            + self.trainers.encode_size()
            + self.validators.encode_size()
            + 32
            + u32::SIZE
            + self.round.encode_size()
    }
}

impl Read for Task {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Task {
            id: u64::read(r)?,
            proposer: PublicKey::read(r)?,
            spec: TaskSpec::read(r)?,
            status: TaskStatus::read(r)?,
            proposed_at: u64::read(r)?,
            escrow: u64::read(r)?,
            deposit: u64::read(r)?,
            votes: BTreeMap::read_cfg(r, &map_cfg(crate::snapshot::SNAPSHOT_ENTRIES_MAX))?,
            trainers: BTreeMap::read_cfg(r, &map_cfg(TASK_TRAINERS_MAX))?,
            validators: BTreeMap::read_cfg(r, &map_cfg(TASK_VALIDATORS_MAX))?,
            global_model: <[u8; 32]>::read(r)?,
            rounds_closed: u32::read(r)?,
            round: Option::<Round>::read(r)?,
        })
    }
}

impl Write for UpdateOutcome {
    fn write(&self, w: &mut impl BufMut) {
        self.trainer.write(w);
        self.update.write(w);
        self.consensus.write(w);
        self.accepted.write(w);
        self.weight.write(w);
        self.reward.write(w);
        self.penalty.write(w);
    }
}

impl FixedSize for UpdateOutcome {
    const SIZE: usize = PublicKey::SIZE + 32 + u16::SIZE + bool::SIZE + 3 * u64::SIZE;
}

impl Read for UpdateOutcome {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(UpdateOutcome {
            trainer: PublicKey::read(r)?,
            update: <[u8; 32]>::read(r)?,
            consensus: u16::read(r)?,
            accepted: bool::read(r)?,
            weight: u64::read(r)?,
            reward: u64::read(r)?,
            penalty: u64::read(r)?,
        })
    }
}

impl Write for ValidatorOutcome {
    fn write(&self, w: &mut impl BufMut) {
        self.validator.write(w);
        self.revealed.write(w);
        self.reward.write(w);
        self.penalty.write(w);
    }
}

impl FixedSize for ValidatorOutcome {
    const SIZE: usize = PublicKey::SIZE + bool::SIZE + 2 * u64::SIZE;
}

impl Read for ValidatorOutcome {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(ValidatorOutcome {
            validator: PublicKey::read(r)?,
            revealed: bool::read(r)?,
            reward: u64::read(r)?,
            penalty: u64::read(r)?,
        })
    }
}

impl Write for RoundRecord {
    fn write(&self, w: &mut impl BufMut) {
        self.global_in.write(w);
        self.outcomes.write(w);
        self.validators.write(w);
        self.scored_at.write(w);
        self.checkpoint.write(w);
        self.closed_at.write(w);
    }
}

impl EncodeSize for RoundRecord {
    fn encode_size(&self) -> usize {
        32 + self.outcomes.encode_size()
            + self.validators.encode_size()
            + u64::SIZE
            + self.checkpoint.encode_size()
            + self.closed_at.encode_size()
    }
}

impl Read for RoundRecord {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(RoundRecord {
            global_in: <[u8; 32]>::read(r)?,
            outcomes: Vec::read_cfg(r, &(RangeCfg::new(0..=ROUND_UPDATES_MAX), ()))?,
            validators: Vec::read_cfg(r, &(RangeCfg::new(0..=TASK_VALIDATORS_MAX), ()))?,
            scored_at: u64::read(r)?,
            checkpoint: Option::<[u8; 32]>::read(r)?,
            closed_at: Option::<u64>::read(r)?,
        })
    }
}

fn bps(amount: Amount, bps: u64) -> Amount {
    // amount * bps / 10_000 <= amount for bps <= 10_000: fits.
    u64::try_from(u128::from(amount) * u128::from(bps.min(10_000)) / 10_000).unwrap_or(amount)
}

fn task_err(error: TaskError) -> TxError {
    TxError::Task(error)
}

impl State {
    // ---- reads ----

    pub fn task(&self, id: u64) -> Option<Task> {
        self.tasks.get(&id).cloned()
    }

    /// Every task, by id.
    pub fn tasks(&self) -> Vec<Task> {
        self.tasks.values().cloned().collect()
    }

    /// The record of `round` of `task`, once scored.
    pub fn round_record(&self, task: u64, round: u32) -> Option<RoundRecord> {
        self.round_records.get(&(task, round)).cloned()
    }

    /// Every round record of `task`, by round.
    pub fn round_records(&self, task: u64) -> Vec<(u32, RoundRecord)> {
        self.round_records
            .range((task, 0)..=(task, u32::MAX))
            .map(|((_, r), rec)| (*r, rec.clone()))
            .collect()
    }

    /// The id the next proposed task gets.
    pub fn next_task_id(&self) -> u64 {
        self.tasks
            .keys()
            .next_back()
            .map_or(1, |id| id.saturating_add(1))
    }

    // ---- validation (no writes) ----

    /// Checks a task action for `acting` at `height`; `Ok` means [State::execute_task_action]
    /// will succeed unless arithmetic overflows.
    pub(crate) fn validate_task_action(
        &self,
        acting: &Address,
        action: &Action,
        height: u64,
    ) -> Result<(), TxError> {
        match action {
            Action::ProposeTask { spec } => {
                spec.validate().map_err(|(field, reason)| {
                    task_err(TaskError::InvalidSpec { field, reason })
                })?;
                if self.tasks.len() >= crate::snapshot::SNAPSHOT_ENTRIES_MAX {
                    return Err(task_err(TaskError::TooManyTasks));
                }
                Ok(())
            }
            Action::VoteTask {
                task,
                validator,
                approve: _,
            } => {
                let t = self.known_task(*task)?;
                if !matches!(t.status, TaskStatus::Review { .. }) {
                    return Err(task_err(TaskError::NotUnderReview {
                        task: *task,
                        status: t.status.name(),
                    }));
                }
                self.operated_validator(validator, acting)?;
                if !self.active_set.iter().any(|(k, _)| k == validator) {
                    return Err(task_err(TaskError::NotActiveValidator {
                        validator: validator.clone(),
                    }));
                }
                if t.votes.contains_key(validator) {
                    return Err(task_err(TaskError::AlreadyVoted {
                        task: *task,
                        validator: validator.clone(),
                    }));
                }
                Ok(())
            }
            Action::JoinTask { task, role, stake } => {
                let t = self.known_task(*task)?;
                if !matches!(t.status, TaskStatus::Review { .. } | TaskStatus::Running) {
                    return Err(task_err(TaskError::Closed {
                        task: *task,
                        status: t.status.name(),
                    }));
                }
                if t.members(*role).contains_key(acting) {
                    return Err(task_err(TaskError::AlreadyJoined {
                        task: *task,
                        role: role.name(),
                    }));
                }
                let min = match role {
                    Role::Trainer => t.spec.min_trainer_stake,
                    Role::Validator => t.spec.min_validator_stake,
                };
                if *stake < min {
                    return Err(task_err(TaskError::StakeTooLow {
                        task: *task,
                        role: role.name(),
                        stake: *stake,
                        min,
                    }));
                }
                let max = match role {
                    Role::Trainer => TASK_TRAINERS_MAX,
                    Role::Validator => TASK_VALIDATORS_MAX,
                };
                if t.members(*role).len() >= max {
                    return Err(task_err(TaskError::Full {
                        task: *task,
                        role: role.name(),
                        max,
                    }));
                }
                Ok(())
            }
            Action::SubmitUpdate {
                task,
                round,
                update,
            } => {
                let (t, r) = self.round_in_phase(*task, *round, Phase::Submit, height)?;
                self.member(t, Role::Trainer, acting)?;
                if r.submissions.iter().any(|s| s.trainer == *acting) {
                    return Err(task_err(TaskError::AlreadySubmitted {
                        task: *task,
                        round: *round,
                    }));
                }
                if r.submissions.len() >= t.spec.trainers_per_round as usize {
                    return Err(task_err(TaskError::RoundFull {
                        task: *task,
                        round: *round,
                        max: t.spec.trainers_per_round,
                    }));
                }
                if *update == r.global_model {
                    return Err(task_err(TaskError::CopyOfGlobal {
                        task: *task,
                        round: *round,
                    }));
                }
                if let Some(s) = r.submissions.iter().find(|s| s.update == *update) {
                    return Err(task_err(TaskError::CopyOfUpdate {
                        task: *task,
                        round: *round,
                        trainer: s.trainer.clone(),
                    }));
                }
                Ok(())
            }
            Action::CommitScores { task, round, .. } => {
                let (t, r) = self.round_in_phase(*task, *round, Phase::CommitScores, height)?;
                self.member(t, Role::Validator, acting)?;
                if r.score_commits.contains_key(acting) {
                    return Err(task_err(TaskError::AlreadyCommitted {
                        task: *task,
                        round: *round,
                    }));
                }
                Ok(())
            }
            Action::RevealScores {
                task,
                round,
                scores,
                salt,
            } => {
                let (t, r) = self.round_in_phase(*task, *round, Phase::RevealScores, height)?;
                self.member(t, Role::Validator, acting)?;
                let Some(commitment) = r.score_commits.get(acting) else {
                    return Err(task_err(TaskError::NotCommitted {
                        task: *task,
                        round: *round,
                    }));
                };
                if r.reveals.contains_key(acting) {
                    return Err(task_err(TaskError::AlreadyRevealed {
                        task: *task,
                        round: *round,
                    }));
                }
                if scores.len() != r.submissions.len() {
                    return Err(task_err(TaskError::ScoreCount {
                        expected: r.submissions.len(),
                        got: scores.len(),
                    }));
                }
                if score_commitment(*task, *round, acting, scores, salt) != *commitment {
                    return Err(task_err(TaskError::RevealMismatch {
                        task: *task,
                        round: *round,
                    }));
                }
                Ok(())
            }
            Action::AttestCheckpoint { task, round, .. } => {
                let (t, r) = self.round_in_phase(*task, *round, Phase::Aggregate, height)?;
                self.member(t, Role::Validator, acting)?;
                if r.attestations.contains_key(acting) {
                    return Err(task_err(TaskError::AlreadyAttested {
                        task: *task,
                        round: *round,
                    }));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn known_task(&self, id: u64) -> Result<&Task, TxError> {
        self.tasks
            .get(&id)
            .ok_or(task_err(TaskError::UnknownTask { task: id }))
    }

    fn member<'a>(&self, t: &'a Task, role: Role, who: &Address) -> Result<&'a Member, TxError> {
        t.members(role).get(who).ok_or_else(|| {
            task_err(TaskError::NotRegistered {
                task: t.id,
                role: role.name(),
                account: who.clone(),
            })
        })
    }

    /// The running round `round` of `task`, which must be in `phase` at `height`.
    fn round_in_phase(
        &self,
        task: u64,
        round: u32,
        phase: Phase,
        height: u64,
    ) -> Result<(&Task, &Round), TxError> {
        let t = self.known_task(task)?;
        let Some(r) = t.round.as_ref().filter(|_| t.status == TaskStatus::Running) else {
            return Err(task_err(TaskError::NoOpenRound {
                task,
                status: t.status.name(),
            }));
        };
        if r.index != round {
            return Err(task_err(TaskError::WrongRound {
                task,
                current: r.index,
                got: round,
            }));
        }
        if r.phase != phase || height > r.phase_deadline {
            return Err(task_err(TaskError::WrongPhase {
                task,
                round,
                needed: phase.name(),
                current: r.phase.name(),
                deadline: r.phase_deadline,
            }));
        }
        Ok((t, r))
    }

    // ---- execution ----

    /// Applies a validated task action. Errors leave partial writes for the caller to roll back.
    pub(crate) fn execute_task_action(
        &mut self,
        acting: &Address,
        action: &Action,
        height: u64,
    ) -> Result<(), TxError> {
        let overflow = |what| TxError::Overflow { what };
        match action {
            Action::ProposeTask { spec } => {
                let deposit = spec.blob_deposit().ok_or(overflow("blob deposit"))?;
                self.debit(acting, spec.reward_pool)?;
                self.debit(acting, deposit)?;
                let id = self.next_task_id();
                let deadline = height
                    .checked_add(u64::from(spec.review_blocks))
                    .ok_or(overflow("review deadline"))?;
                let task = Task {
                    id,
                    proposer: acting.clone(),
                    spec: spec.clone(),
                    status: TaskStatus::Review { deadline },
                    proposed_at: height,
                    escrow: spec.reward_pool,
                    deposit,
                    votes: BTreeMap::new(),
                    trainers: BTreeMap::new(),
                    validators: BTreeMap::new(),
                    global_model: spec.initial_model,
                    rounds_closed: 0,
                    round: None,
                };
                self.put_task(task);
            }
            Action::VoteTask {
                task,
                validator,
                approve,
            } => {
                let mut t = self.known_task(*task)?.clone();
                t.votes.insert(validator.clone(), *approve);
                let total: u128 = self.active_set.iter().map(|(_, s)| u128::from(*s)).sum();
                let tally = |want: bool| -> u128 {
                    self.active_set
                        .iter()
                        .filter(|(k, _)| t.votes.get(k) == Some(&want))
                        .map(|(_, s)| u128::from(*s))
                        .sum()
                };
                let (yes, no) = (tally(true), tally(false));
                if yes * 3 > total * 2 {
                    t.status = TaskStatus::Running;
                    self.open_round(&mut t, height)?;
                    self.put_task(t);
                } else if no * 3 >= total {
                    // Two thirds can no longer approve.
                    self.put_task(t);
                    self.reject_task(*task)?;
                } else {
                    self.put_task(t);
                }
            }
            Action::JoinTask { task, role, stake } => {
                self.debit(acting, *stake)?;
                let mut t = self.known_task(*task)?.clone();
                t.members_mut(*role).insert(
                    acting.clone(),
                    Member {
                        stake: *stake,
                        joined_at: height,
                        rewards: 0,
                        penalties: 0,
                    },
                );
                self.put_task(t);
            }
            Action::SubmitUpdate { task, update, .. } => {
                self.update_round(*task, |r| {
                    r.submissions.push(Submission {
                        trainer: acting.clone(),
                        update: *update,
                        height,
                    })
                })?;
            }
            Action::CommitScores {
                task, commitment, ..
            } => {
                self.update_round(*task, |r| {
                    r.score_commits.insert(acting.clone(), *commitment);
                })?;
            }
            Action::RevealScores { task, scores, .. } => {
                self.update_round(*task, |r| {
                    r.reveals.insert(acting.clone(), scores.clone());
                })?;
            }
            Action::AttestCheckpoint { task, round, model } => {
                self.update_round(*task, |r| {
                    r.attestations.insert(acting.clone(), *model);
                })?;
                self.try_checkpoint(*task, *round, *model, height)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn update_round(&mut self, task: u64, f: impl FnOnce(&mut Round)) -> Result<(), TxError> {
        let mut t = self.known_task(task)?.clone();
        let round = t
            .round
            .as_mut()
            .ok_or(TxError::Overflow { what: "open round" })?;
        f(round);
        self.put_task(t);
        Ok(())
    }

    /// Opens the next round of `t` at `height` (the caller stores `t`).
    fn open_round(&self, t: &mut Task, height: u64) -> Result<(), TxError> {
        let deadline =
            height
                .checked_add(u64::from(t.spec.commit_blocks))
                .ok_or(TxError::Overflow {
                    what: "submit deadline",
                })?;
        t.round = Some(Round {
            index: t.rounds_closed,
            global_model: t.global_model,
            phase: Phase::Submit,
            phase_deadline: deadline,
            submissions: Vec::new(),
            score_commits: BTreeMap::new(),
            reveals: BTreeMap::new(),
            attestations: BTreeMap::new(),
        });
        Ok(())
    }

    /// Returns the escrow to the proposer and marks the task rejected.
    fn reject_task(&mut self, task: u64) -> Result<(), TxError> {
        let mut t = self.known_task(task)?.clone();
        let refund = t.held().ok_or(TxError::Overflow { what: "task funds" })?;
        // Before running, members only hold their stakes; give everything back.
        for (who, m) in t.trainers.iter().chain(t.validators.iter()) {
            self.credit(who, m.stake)?;
        }
        self.credit(
            &t.proposer,
            refund
                .checked_sub(
                    t.trainers
                        .values()
                        .chain(t.validators.values())
                        .map(|m| m.stake)
                        .sum(),
                )
                .ok_or(TxError::Overflow { what: "refund" })?,
        )?;
        for m in t.trainers.values_mut().chain(t.validators.values_mut()) {
            m.stake = 0;
        }
        t.escrow = 0;
        t.deposit = 0;
        t.status = TaskStatus::Rejected;
        t.round = None;
        self.put_task(t);
        Ok(())
    }

    /// Records `model` as the round's checkpoint once attesters holding at least two thirds
    /// of the task's validator stake named it; then opens the next round (or completes).
    fn try_checkpoint(
        &mut self,
        task: u64,
        round: u32,
        model: BlobHash,
        height: u64,
    ) -> Result<(), TxError> {
        let t = self.known_task(task)?;
        let Some(r) = &t.round else { return Ok(()) };
        let total: u128 = t.validators.values().map(|m| u128::from(m.stake)).sum();
        let attesting: u128 = r
            .attestations
            .iter()
            .filter(|(_, m)| **m == model)
            .filter_map(|(v, _)| t.validators.get(v))
            .map(|m| u128::from(m.stake))
            .sum();
        if total == 0 || attesting * 3 < total * 2 {
            return Ok(());
        }
        self.close_round(task, round, Some(model), height)
    }

    /// Ends the current round: records the checkpoint (if any), moves the global model, and
    /// opens the next round or completes the task.
    fn close_round(
        &mut self,
        task: u64,
        round: u32,
        checkpoint: Option<BlobHash>,
        height: u64,
    ) -> Result<(), TxError> {
        let mut t = self.known_task(task)?.clone();
        let global_in = t.round.as_ref().map_or(t.global_model, |r| r.global_model);
        let mut record = self
            .round_records
            .get(&(task, round))
            .cloned()
            .unwrap_or(RoundRecord {
                global_in,
                outcomes: Vec::new(),
                validators: Vec::new(),
                scored_at: height,
                checkpoint: None,
                closed_at: None,
            });
        record.checkpoint = checkpoint;
        record.closed_at = Some(height);
        self.put_round_record((task, round), record);
        if let Some(model) = checkpoint {
            t.global_model = model;
        }
        t.rounds_closed = t
            .rounds_closed
            .checked_add(1)
            .ok_or(TxError::Overflow { what: "rounds" })?;
        t.round = None;
        if t.rounds_closed >= t.spec.rounds {
            self.complete_task(t)
        } else {
            self.open_round(&mut t, height)?;
            self.put_task(t);
            Ok(())
        }
    }

    /// Returns every member's remaining stake and the unpaid escrow to the proposer.
    fn complete_task(&mut self, mut t: Task) -> Result<(), TxError> {
        let members: Vec<(Address, Amount)> = t
            .trainers
            .iter()
            .chain(t.validators.iter())
            .map(|(a, m)| (a.clone(), m.stake))
            .collect();
        for (who, stake) in members {
            self.credit(&who, stake)?;
        }
        let returned = t
            .escrow
            .checked_add(t.deposit)
            .ok_or(TxError::Overflow { what: "escrow" })?;
        self.credit(&t.proposer.clone(), returned)?;
        for m in t.trainers.values_mut().chain(t.validators.values_mut()) {
            m.stake = 0;
        }
        t.escrow = 0;
        t.deposit = 0;
        t.status = TaskStatus::Completed;
        self.put_task(t);
        Ok(())
    }

    // ---- end of block: deadlines and early phase ends ----

    /// Moves every task whose phase is over (deadline reached, or everyone expected acted):
    /// review timeouts, submit → commit scores → reveal → scoring → aggregate, and aggregate
    /// timeouts. Tasks are visited in id order.
    pub(crate) fn end_block_tasks(&mut self, height: u64) -> Result<(), TxError> {
        let ids: Vec<u64> = self
            .tasks
            .iter()
            .filter(|(_, t)| matches!(t.status, TaskStatus::Review { .. } | TaskStatus::Running))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let mark = self.journal_mark();
            if self.advance_task(id, height).is_err() {
                // A round that cannot be closed normally (an arithmetic bound, a consensus
                // error) must not halt the chain: undo its partial writes and close the round
                // without a checkpoint, so the task moves on. Only if even that fails is the
                // error the block's.
                self.rollback_to(mark);
                let round = self
                    .tasks
                    .get(&id)
                    .and_then(|t| t.round.as_ref())
                    .map(|r| r.index);
                if let Some(round) = round {
                    self.close_round(id, round, None, height)?;
                }
            }
        }
        Ok(())
    }

    fn advance_task(&mut self, id: u64, height: u64) -> Result<(), TxError> {
        let t = self.known_task(id)?.clone();
        if let TaskStatus::Review { deadline } = t.status {
            if height >= deadline {
                self.reject_task(id)?;
            }
            return Ok(());
        }
        let Some(mut r) = t.round.clone() else {
            return Ok(());
        };
        let expired = height >= r.phase_deadline;
        let next_deadline = |blocks: u32| {
            height
                .checked_add(u64::from(blocks))
                .ok_or(TxError::Overflow { what: "deadline" })
        };
        match r.phase {
            Phase::Submit => {
                let expected = (t.spec.trainers_per_round as usize).min(t.trainers.len());
                let all_in = expected > 0 && r.submissions.len() >= expected;
                if !(expired || all_in) {
                    return Ok(());
                }
                if r.submissions.is_empty() {
                    return self.close_round(id, r.index, None, height);
                }
                r.phase = Phase::CommitScores;
                r.phase_deadline = next_deadline(t.spec.score_blocks)?;
            }
            Phase::CommitScores => {
                let all_in =
                    !t.validators.is_empty() && r.score_commits.len() >= t.validators.len();
                if !(expired || all_in) {
                    return Ok(());
                }
                if r.score_commits.is_empty() {
                    return self.close_round(id, r.index, None, height);
                }
                r.phase = Phase::RevealScores;
                r.phase_deadline = next_deadline(t.spec.reveal_blocks)?;
            }
            Phase::RevealScores => {
                let all_in = r.reveals.len() >= r.score_commits.len();
                if !(expired || all_in) {
                    return Ok(());
                }
                let accepted = self.score_round(id, height)?;
                // Nothing to aggregate, or too few updates for the task's rule (Krum needs
                // 2f + 3): the round keeps the previous global model.
                if accepted == 0 || t.spec.rule.admits(accepted).is_err() {
                    return self.close_round(id, r.index, None, height);
                }
                // score_round stored the task; re-read it to move the phase.
                let mut t = self.known_task(id)?.clone();
                let Some(r) = t.round.as_mut() else {
                    return Ok(());
                };
                r.phase = Phase::Aggregate;
                r.phase_deadline = next_deadline(t.spec.aggregate_blocks)?;
                self.put_task(t);
                return Ok(());
            }
            Phase::Aggregate => {
                if expired {
                    return self.close_round(id, r.index, None, height);
                }
                return Ok(());
            }
        }
        let mut t = t;
        t.round = Some(r);
        self.put_task(t);
        Ok(())
    }

    /// Runs Yuma consensus over the revealed scores, decides acceptance, pays the round's
    /// rewards, burns penalties and writes the round record. Returns how many updates were
    /// accepted.
    fn score_round(&mut self, id: u64, height: u64) -> Result<u32, TxError> {
        use cairn_yuma::{BondsMode, EpochInput, EpochParams, Neuron, max_upscale_weights};
        let overflow = |what| TxError::Overflow { what };
        let mut t = self.known_task(id)?.clone();
        let r = t.round.clone().ok_or(overflow("open round"))?;
        let revealers: Vec<(Address, Vec<u16>)> = r
            .reveals
            .iter()
            .map(|(a, s)| (a.clone(), s.clone()))
            .collect();
        let n_val = revealers.len();
        let n_upd = r.submissions.len();

        // The round's budget: the unpaid escrow spread over the rounds left.
        let rounds_left = u64::from(t.spec.rounds.saturating_sub(t.rounds_closed).max(1));
        let budget = t.escrow / rounds_left;

        let mut neurons = Vec::with_capacity(n_val + n_upd);
        for (addr, scores) in &revealers {
            let stake = t.validators.get(addr).map_or(0, |m| m.stake);
            let upscaled = max_upscale_weights(scores);
            let weights = upscaled
                .iter()
                .enumerate()
                .filter(|(_, w)| **w > 0)
                .map(|(j, w)| (u16::try_from(n_val + j).unwrap_or(u16::MAX), *w))
                .collect();
            neurons.push(Neuron {
                stake,
                last_update: height,
                block_at_registration: 0,
                validator_permit: true,
                commit_block: None,
                weights,
                bonds: Vec::new(),
            });
        }
        for _ in 0..n_upd {
            neurons.push(Neuron {
                last_update: height,
                ..Neuron::default()
            });
        }
        let params = EpochParams::from_stored(
            YUMA_KAPPA,
            YUMA_BONDS_PENALTY,
            900_000,
            u16::try_from(TASK_VALIDATORS_MAX).unwrap_or(u16::MAX),
            BondsMode::Original,
        );
        let input = EpochInput {
            current_block: height,
            tempo: 1,
            activity_cutoff_blocks: 1,
            last_step_block: 0,
            owner_uid: None,
            emission: budget,
            neurons,
        };
        let out = if n_val > 0 && n_upd > 0 {
            Some(cairn_yuma::run_epoch(&params, &input).map_err(|e| {
                task_err(TaskError::Consensus {
                    task: id,
                    reason: e.to_string(),
                })
            })?)
        } else {
            None
        };

        let consensus: Vec<u16> = (0..n_upd)
            .map(|j| {
                out.as_ref()
                    .and_then(|o| o.consensus.get(n_val + j))
                    .map_or(0, |c| c.to_u16_proportion())
            })
            .collect();
        let best = consensus.iter().copied().max().unwrap_or(0);
        let mut paid: Amount = 0;
        let mut burnt: Amount = 0;
        let mut outcomes = Vec::with_capacity(n_upd);
        for (j, s) in r.submissions.iter().enumerate() {
            let c = consensus[j];
            let accepted = c > 0
                && u64::from(c) * 1_000 >= u64::from(t.spec.accept_per_mille) * u64::from(best);
            let reward = if accepted {
                out.as_ref()
                    .and_then(|o| o.server_emission.get(n_val + j).copied())
                    .unwrap_or(0)
            } else {
                0
            };
            let member = t.trainers.get_mut(&s.trainer).ok_or(overflow("trainer"))?;
            // Zero consensus is a verdict only when validators revealed; silence is not the
            // trainer's fault.
            let penalty = if c == 0 && out.is_some() {
                bps(member.stake, TRAINER_PENALTY_BPS)
            } else {
                0
            };
            member.settle(reward, penalty)?;
            paid = paid.checked_add(reward).ok_or(overflow("paid"))?;
            burnt = burnt.checked_add(penalty).ok_or(overflow("burnt"))?;
            outcomes.push(UpdateOutcome {
                trainer: s.trainer.clone(),
                update: s.update,
                consensus: c,
                accepted,
                weight: if accepted { u64::from(c) } else { 0 },
                reward,
                penalty,
            });
        }
        let mut validator_outcomes = Vec::with_capacity(r.score_commits.len());
        for addr in r.score_commits.keys() {
            let position = revealers.iter().position(|(a, _)| a == addr);
            let reward = position
                .and_then(|i| {
                    out.as_ref()
                        .and_then(|o| o.validator_emission.get(i).copied())
                })
                .unwrap_or(0);
            let member = t.validators.get_mut(addr).ok_or(overflow("validator"))?;
            let penalty = if position.is_none() {
                bps(member.stake, VALIDATOR_PENALTY_BPS)
            } else {
                0
            };
            member.settle(reward, penalty)?;
            paid = paid.checked_add(reward).ok_or(overflow("paid"))?;
            burnt = burnt.checked_add(penalty).ok_or(overflow("burnt"))?;
            validator_outcomes.push(ValidatorOutcome {
                validator: addr.clone(),
                revealed: position.is_some(),
                reward,
                penalty,
            });
        }
        if paid > budget {
            return Err(overflow("round rewards exceed the budget"));
        }
        t.escrow = t.escrow.checked_sub(paid).ok_or(overflow("escrow"))?;
        let accepted = u32::try_from(outcomes.iter().filter(|o| o.accepted).count())
            .map_err(|_| overflow("accepted count"))?;
        let payouts: Vec<(Address, Amount)> = outcomes
            .iter()
            .map(|o| (o.trainer.clone(), o.reward))
            .chain(
                validator_outcomes
                    .iter()
                    .map(|v| (v.validator.clone(), v.reward)),
            )
            .filter(|(_, a)| *a > 0)
            .collect();
        self.put_task(t);
        for (who, amount) in payouts {
            self.credit(&who, amount)?;
        }
        if burnt > 0 {
            self.burn(burnt).ok_or(overflow("supply"))?;
        }
        self.put_round_record(
            (id, r.index),
            RoundRecord {
                global_in: r.global_model,
                outcomes,
                validators: validator_outcomes,
                scored_at: height,
                checkpoint: None,
                closed_at: None,
            },
        );
        Ok(accepted)
    }
}
