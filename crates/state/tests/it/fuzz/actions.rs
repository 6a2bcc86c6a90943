//! Transactions from ops: each op's selectors are resolved against the state the block is
//! being built on (whose turn it is, which round is open, what a bond must be), then the
//! op's seed decides how right or how wrong the transaction is.

use super::ops::{Kind, Op};
use super::party::{ClaimBytes, Source, mix};
use super::steer::pick_task;
use super::world::{CHAIN, HOT_KEYS, SIGNERS, VALIDATOR_KEYS, World, any_signer};
use cairn_dispute::{Move, Side, forge};
use cairn_state::{Inference, InferenceStatus, Phase, State, Task};
use cairn_types::infer::{Lineage, ModelRegistration, bond_min, elements};
use cairn_types::{
    Action, Address, AggregationRule, Amount, PublicKey, Role, SignedTx, TaskSpec, score_commitment,
};

/// Mostly small amounts below `scale`; sometimes zero, exactly `scale`, or near `u64::MAX`.
pub fn amount(x: u64, scale: u64) -> Amount {
    let v = x >> 8;
    match x % 16 {
        0 => 0,
        1 => u64::MAX - v % 4,
        2 => scale,
        3..=11 => 1 + v % scale.max(1),
        _ => 1 + v % (scale / 10).max(1),
    }
}

fn bytes32(x: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&mix(x ^ i as u64).to_le_bytes());
    }
    out
}

/// `sel`'s pick of `items` (or `None` when empty).
fn pick<T: Clone>(items: &[T], sel: u64) -> Option<T> {
    (!items.is_empty()).then(|| items[(sel % items.len() as u64) as usize].clone())
}

impl World {
    /// The transaction `op` asks for, built on `s`; `None` when it needs something the run
    /// has not made yet.
    pub fn tx_for(&mut self, s: &State, op: &Op) -> Option<SignedTx> {
        let op = self.steer(s, *op);
        let Op {
            who,
            target,
            env,
            x,
            ..
        } = op;
        let anyone = self.signer(s, who, &[]);
        let (signer, action) = match op.kind {
            Kind::Transfer => (anyone, self.transfer(s, target, x)),
            Kind::Bond => {
                let validator = self.validator_key(target);
                let amount = amount(x, 20_000);
                (anyone, Action::Bond { validator, amount })
            }
            Kind::Unbond => (anyone, self.unbond(s, anyone, target, x)),
            Kind::LinkHotKey => (anyone, self.link(anyone, target, x)),
            Kind::UnlinkHotKey => self.unlink(s, who, target, x),
            Kind::SetMoniker => self.moniker(s, who, target, x),
            Kind::CreateValidator => (anyone, self.create_validator(anyone, target, x)),
            Kind::Unjail => self.unjail(s, who, target),
            Kind::ProposeTask => (
                anyone,
                Action::ProposeTask {
                    spec: spec(target, x),
                },
            ),
            Kind::VoteTask => self.vote(s, who, target, x),
            Kind::JoinTask => self.join(s, who, target, x),
            Kind::SubmitUpdate => self.submit(s, who, target, x),
            Kind::CommitScores => self.scores(s, who, target, x, true),
            Kind::RevealScores => self.scores(s, who, target, x, false),
            Kind::AttestCheckpoint => self.attest(s, who, target, x),
            Kind::RegisterModel => (anyone, self.register(s, target, x)),
            Kind::RetireModel => self.retire(s, who, target, x),
            Kind::RequestInference => self.request(s, who, target, x)?,
            Kind::PostResult => self.post(s, who, target, x, false)?,
            Kind::Challenge => self.post(s, who, target, x, true)?,
            Kind::DisputeMove => self.dispute_move(s, who, target, x)?,
            Kind::Evidence | Kind::Misses | Kind::Proposer | Kind::Idle | Kind::BadBlock => {
                return None;
            }
        };
        Some(self.sign(s, signer, action, env))
    }

    /// The signer `who` selects: one of `preferred` (the party the action is meant for) when
    /// there is one, unless its top three bits are set; else any signer; with bits 5 and 6 set, a hot key
    /// linked to it signs instead, when it has one.
    pub fn signer(&self, s: &State, who: u8, preferred: &[PublicKey]) -> u64 {
        let base = match pick(preferred, u64::from(who & 0x1f)) {
            Some(p) if who & 0xe0 != 0xe0 => p,
            _ => self.fx.pk(any_signer(who)),
        };
        let key = match s.hot_keys_of(&base).first() {
            Some(hot) if who & 0x60 == 0x60 => hot.clone(),
            _ => base,
        };
        self.fx.seed_of(&key).unwrap_or(SIGNERS[0])
    }

    /// Whom `seed` acts for: its cold account when it is a linked hot key.
    fn acting(&self, s: &State, seed: u64) -> Address {
        let pk = self.fx.pk(seed);
        s.hot_key_owner(&pk).unwrap_or(pk)
    }

    fn validator_key(&self, sel: u8) -> PublicKey {
        self.fx
            .pk(VALIDATOR_KEYS[usize::from(sel) % VALIDATOR_KEYS.len()])
    }

    /// A transfer; one in four funds a linked hot key (so it can pay its own fees).
    fn transfer(&self, s: &State, to: u8, x: u64) -> Action {
        let linked: Vec<PublicKey> = HOT_KEYS
            .iter()
            .map(|k| self.fx.pk(*k))
            .filter(|k| s.hot_key_owner(k).is_some())
            .collect();
        if let Some(to) = pick(&linked, u64::from(to >> 2)).filter(|_| to.is_multiple_of(4)) {
            return Action::Transfer {
                to,
                amount: 1 + (x >> 8) % 500,
            };
        }
        let mut recipients: Vec<PublicKey> = SIGNERS.iter().map(|k| self.fx.pk(*k)).collect();
        recipients.extend([80, 81].map(|k| self.fx.pk(k)));
        recipients.extend(self.fx.weak.iter().cloned());
        let to = pick(&recipients, u64::from(to)).expect("recipients");
        Action::Transfer {
            to,
            amount: amount(x, 50_000),
        }
    }

    /// An unbond, mostly from a validator the signer has stake with.
    fn unbond(&self, s: &State, signer: u64, validator: u8, x: u64) -> Action {
        let owner = self.acting(s, signer);
        let staked: Vec<PublicKey> = s
            .validators()
            .into_iter()
            .filter(|v| v.operator == owner || s.delegation(&owner, &v.consensus_key) > 0)
            .map(|v| v.consensus_key)
            .collect();
        let v = match pick(&staked, u64::from(validator)) {
            Some(v) if validator & 0x80 == 0 => v,
            _ => self.validator_key(validator),
        };
        let bonded = match s.validator(&v) {
            Some(val) if val.operator == owner => val.self_bond,
            _ => s.delegation(&owner, &v),
        };
        let amount = match x % 3 {
            0 => bonded,
            1 => amount(x, bonded.saturating_add(1)),
            _ => bonded / 2 + 1,
        };
        Action::Unbond {
            validator: v,
            amount,
        }
    }

    /// A hot-key link: mostly with the hot key's consent to this signer on this chain;
    /// sometimes consent to another account, on another chain, or by the wrong key.
    fn link(&self, signer: u64, hot: u8, x: u64) -> Action {
        let hot_seed = if hot & 0x80 == 0 {
            HOT_KEYS[usize::from(hot) % HOT_KEYS.len()]
        } else {
            SIGNERS[usize::from(hot) % SIGNERS.len()]
        };
        let cold = self.fx.pk(signer);
        let other = self.fx.pk(SIGNERS[(signer as usize + 1) % SIGNERS.len()]);
        let proof = match x % 8 {
            5 => cairn_types::sign_hot_key_link(self.fx.key(hot_seed), CHAIN, &other),
            6 => cairn_types::sign_hot_key_link(self.fx.key(hot_seed), "cairn-other", &cold),
            7 => cairn_types::sign_hot_key_link(self.fx.key(signer), CHAIN, &cold),
            _ => cairn_types::sign_hot_key_link(self.fx.key(hot_seed), CHAIN, &cold),
        };
        let hot = match (hot % 16, self.fx.weak.first()) {
            (15, Some(weak)) => weak.clone(),
            _ => self.fx.pk(hot_seed),
        };
        Action::LinkHotKey { hot, proof }
    }

    fn unlink(&self, s: &State, who: u8, hot: u8, x: u64) -> (u64, Action) {
        let hot_seed = HOT_KEYS[usize::from(hot) % HOT_KEYS.len()];
        let hot = self.fx.pk(hot_seed);
        let signer = match (x % 3, s.hot_key_owner(&hot)) {
            (0, _) => hot_seed,
            (1, Some(cold)) => self.fx.seed_of(&cold).unwrap_or(SIGNERS[0]),
            _ => self.signer(s, who, &[]),
        };
        (signer, Action::UnlinkHotKey { hot })
    }

    fn operator_of(&self, s: &State, v: &PublicKey) -> Vec<PublicKey> {
        s.validator(v).map(|v| v.operator).into_iter().collect()
    }

    fn moniker(&self, s: &State, who: u8, validator: u8, x: u64) -> (u64, Action) {
        let v = self.validator_key(validator);
        let signer = self.signer(s, who, &self.operator_of(s, &v));
        let text = "<b>v</b>&\"'ü ";
        let moniker: String = text.chars().cycle().take((x % 140) as usize).collect();
        (
            signer,
            Action::SetValidatorMoniker {
                validator: v,
                moniker,
            },
        )
    }

    /// A new validator: mostly a fresh key with its proof of possession for this operator;
    /// sometimes a registered or unusable key, a proof for another operator or by another key.
    fn create_validator(&self, signer: u64, key: u8, x: u64) -> Action {
        let seed = [107, 108, 107, 101, 99][usize::from(key) % 5];
        let operator = self.fx.pk(signer);
        let other = self.fx.pk(SIGNERS[(signer as usize + 1) % SIGNERS.len()]);
        let proof_of_possession = match x % 4 {
            2 => cairn_types::sign_validator_pop(self.fx.key(seed), &other),
            3 => cairn_types::sign_validator_pop(self.fx.key(signer), &operator),
            _ => cairn_types::sign_validator_pop(self.fx.key(seed), &operator),
        };
        let consensus_key = match (key % 16, self.fx.weak.first()) {
            (15, Some(weak)) => weak.clone(),
            _ => self.fx.pk(seed),
        };
        let self_bond = match (x >> 2) % 4 {
            0 => 1_000,
            1 => 999,
            2 => 5_000,
            _ => amount(x >> 4, 30_000),
        };
        let moniker = "m".repeat((x >> 8) as usize % 140);
        Action::CreateValidator {
            consensus_key,
            moniker,
            self_bond,
            proof_of_possession,
        }
    }

    /// Unjail, mostly of a validator jailed for inactivity by its operator (or the operator's hot key).
    fn unjail(&self, s: &State, who: u8, validator: u8) -> (u64, Action) {
        let jailed: Vec<PublicKey> = s
            .validators()
            .into_iter()
            .filter(|v| {
                v.jailed
                    && s.liveness(&v.consensus_key)
                        .is_some_and(|l| l.jailed_at.is_some())
            })
            .map(|v| v.consensus_key)
            .collect();
        let v = match pick(&jailed, u64::from(validator)) {
            Some(v) if validator & 0x80 == 0 => v,
            _ => self.validator_key(validator),
        };
        let signer = self.signer(s, who, &self.operator_of(s, &v));
        (signer, Action::Unjail { validator: v })
    }
}

/// A small task (1–2 rounds of 1–3 trainers, a review of 4–9 blocks, phases of 2–5); one in eight with one
/// field out of bounds.
fn spec(how: u8, x: u64) -> TaskSpec {
    let r = |i: u64| mix(x ^ i);
    let mut spec = TaskSpec {
        model: "mlp:4-2".into(),
        initial_model: [0x11; 32],
        dataset: [0x22; 32],
        validation_set: [0x33; 32],
        rounds: 1 + (r(1) % 2) as u32,
        trainers_per_round: 1 + (r(2) % 3) as u32,
        local_epochs: 1,
        batch_size: 8,
        learning_rate_micro: 1_000,
        rule: match r(3) % 6 {
            0 => AggregationRule::Median,
            1 => AggregationRule::TrimmedMean {
                trim_per_mille: 100,
            },
            2 => AggregationRule::Krum { byzantine: 0 },
            _ => AggregationRule::FedAvg,
        },
        accept_per_mille: 1 + (r(4) % 1_000) as u32,
        min_trainer_stake: 10 + r(5) % 100,
        min_validator_stake: 10 + r(6) % 100,
        reward_pool: 10 + r(7) % 5_000,
        blob_max_bytes: 1 + r(8) % 4_096,
        review_blocks: 4 + (r(9) % 6) as u32,
        commit_blocks: 2 + (r(10) % 4) as u32,
        score_blocks: 2 + (r(11) % 4) as u32,
        reveal_blocks: 2 + (r(12) % 4) as u32,
        aggregate_blocks: 2 + (r(13) % 4) as u32,
    };
    if how.is_multiple_of(8) {
        match r(14) % 6 {
            0 => spec.rounds = 0,
            1 => spec.model = String::new(),
            2 => spec.reward_pool = 0,
            3 => spec.blob_max_bytes = 0,
            4 => spec.trainers_per_round = 65,
            _ => spec.review_blocks = 0,
        }
    }
    spec
}

/// The members of `task` in `role` that have not yet done what `stage` asks of them (all
/// of them when `stage` asks nothing of that role).
fn idle_members(t: &Task, role: Role, stage: Option<Phase>) -> Vec<PublicKey> {
    let members = match role {
        Role::Trainer => &t.trainers,
        Role::Validator => &t.validators,
    };
    let round = t.round.as_ref();
    let done = |a: &Address| match (stage, round) {
        (Some(Phase::Submit), Some(r)) => r.submissions.iter().any(|s| s.trainer == *a),
        (Some(Phase::CommitScores), Some(r)) => r.score_commits.contains_key(a),
        (Some(Phase::RevealScores), Some(r)) => {
            !r.score_commits.contains_key(a) || r.reveals.contains_key(a)
        }
        (Some(Phase::Aggregate), Some(r)) => r.attestations.contains_key(a),
        _ => false,
    };
    members.keys().filter(|a| !done(a)).cloned().collect()
}

/// The scores `validator` gives in `round` of `task` and its salt: a function of the three,
/// so a reveal many blocks later can recompute what was committed.
fn scores_of(task: u64, round: u32, validator: &Address, n: usize) -> (Vec<u16>, [u8; 32]) {
    let id = u64::from_le_bytes(validator.as_ref()[..8].try_into().expect("32-byte key"));
    let base = id ^ task.rotate_left(32) ^ u64::from(round);
    let scores = (0..n as u64)
        .map(|i| (mix(base ^ i) % 1_000) as u16)
        .collect();
    (scores, bytes32(base))
}

impl World {
    /// A review vote, mostly by an active validator that has not voted yet, mostly yes.
    fn vote(&self, s: &State, who: u8, task: u8, x: u64) -> (u64, Action) {
        let task = pick_task(s, task, Some(None));
        let voted = s.task(task).map(|t| t.votes).unwrap_or_default();
        let active: Vec<PublicKey> = s
            .active_validator_set()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let fresh: Vec<PublicKey> = active
            .iter()
            .filter(|k| !voted.contains_key(*k))
            .cloned()
            .collect();
        let validator = match (x % 4, pick(&fresh, x >> 2), pick(&active, x >> 2)) {
            (0, ..) => self.validator_key((x >> 2) as u8),
            (1, _, Some(v)) | (_, Some(v), _) => v,
            _ => self.validator_key((x >> 2) as u8),
        };
        let signer = self.signer(s, who, &self.operator_of(s, &validator));
        let approve = !(x >> 8).is_multiple_of(8);
        (
            signer,
            Action::VoteTask {
                task,
                validator,
                approve,
            },
        )
    }

    /// A join, mostly by a funded account not yet in the role, staking about the minimum.
    fn join(&self, s: &State, who: u8, task: u8, x: u64) -> (u64, Action) {
        let task = pick_task(s, task, Some(None));
        let role = if x & 2 == 0 {
            Role::Trainer
        } else {
            Role::Validator
        };
        let t = s.task(task);
        let members = t
            .as_ref()
            .map(|t| idle_members(t, role, None))
            .unwrap_or_default();
        let outsiders: Vec<PublicKey> = (0..10u8)
            .map(|i| self.fx.pk(any_signer(i)))
            .filter(|a| !members.contains(a))
            .collect();
        let min = t.map_or(10, |t| match role {
            Role::Trainer => t.spec.min_trainer_stake,
            Role::Validator => t.spec.min_validator_stake,
        });
        let stake = match (x >> 2) % 8 {
            0 => min - 1,
            1 => amount(x >> 5, 1_000),
            _ => min + (x >> 5) % 100,
        };
        let signer = self.signer(s, who, &outsiders);
        (signer, Action::JoinTask { task, role, stake })
    }

    /// The task, its open round, the members of `role` that have not acted in `phase`, and
    /// the round's submission count.
    fn round_for(
        &self,
        s: &State,
        sel: u8,
        role: Role,
        phase: Phase,
    ) -> (u64, u32, Vec<PublicKey>, usize) {
        let task = pick_task(s, sel, Some(Some(phase)));
        let Some(t) = s.task(task) else {
            return (task, 0, Vec::new(), 0);
        };
        let members = idle_members(&t, role, Some(phase));
        let (round, n) = t
            .round
            .as_ref()
            .map_or((0, 0), |r| (r.index, r.submissions.len()));
        (task, round, members, n)
    }

    fn submit(&self, s: &State, who: u8, task: u8, x: u64) -> (u64, Action) {
        let (task, round, trainers, _) = self.round_for(s, task, Role::Trainer, Phase::Submit);
        let signer = self.signer(s, who, &trainers);
        let global = s.task(task).map_or([0; 32], |t| t.global_model);
        let update = match (x >> 3) % 16 {
            0 => global,
            u => [u as u8; 32],
        };
        let round = if x.is_multiple_of(8) {
            round + 1
        } else {
            round
        };
        (
            signer,
            Action::SubmitUpdate {
                task,
                round,
                update,
            },
        )
    }

    /// A score commitment (`commit`) or its reveal, mostly right; sometimes a commitment to
    /// nothing, a reveal with the wrong salt or one score too many.
    fn scores(&self, s: &State, who: u8, task: u8, x: u64, commit: bool) -> (u64, Action) {
        let phase = if commit {
            Phase::CommitScores
        } else {
            Phase::RevealScores
        };
        let (task, round, validators, submitted) = self.round_for(s, task, Role::Validator, phase);
        let signer = self.signer(s, who, &validators);
        let acting = self.acting(s, signer);
        let (mut scores, mut salt) = scores_of(task, round, &acting, submitted);
        let action = if commit {
            let commitment = match x % 8 {
                0 => cairn_types::sha256(&[&x.to_le_bytes()]),
                _ => score_commitment(task, round, &acting, &scores, &salt),
            };
            Action::CommitScores {
                task,
                round,
                commitment,
            }
        } else {
            match x % 8 {
                0 => salt[0] ^= 1,
                1 => scores.push(7),
                _ => {}
            }
            Action::RevealScores {
                task,
                round,
                scores,
                salt,
            }
        };
        (signer, action)
    }

    fn attest(&self, s: &State, who: u8, task: u8, x: u64) -> (u64, Action) {
        let (task, round, validators, _) =
            self.round_for(s, task, Role::Validator, Phase::Aggregate);
        let signer = self.signer(s, who, &validators);
        let model = [0xc0 | u8::from(x % 4 == 3); 32];
        (signer, Action::AttestCheckpoint { task, round, model })
    }

    /// A registration: one of the catalogue's models (sometimes with a lineage), or random
    /// fields, most of them out of bounds.
    fn register(&self, s: &State, source: u8, x: u64) -> Action {
        let n = self.fx.catalogue.len();
        let sel = usize::from(source) % (n + 2);
        let model = match self.fx.catalogue.get(sel) {
            Some(src) => {
                let mut r = src.registration([0xa0 + sel as u8; 32], x % 200);
                if (x >> 8).is_multiple_of(6) {
                    r.lineage = Some(lineage(s, x >> 12));
                }
                r
            }
            None => random_registration(x),
        };
        Action::RegisterModel { model }
    }

    fn retire(&self, s: &State, who: u8, model: u8, x: u64) -> (u64, Action) {
        let models = s.models();
        let (id, owner) = match pick(&models, u64::from(model)) {
            Some(m) => (m.id, vec![m.owner]),
            None => (bytes32(x), Vec::new()),
        };
        (
            self.signer(s, who, &owner),
            Action::RetireModel { model: id },
        )
    }

    /// The catalogue entry a registration commits to, by model root.
    pub fn source_of(&self, registration: &ModelRegistration) -> Option<&'static Source> {
        let i = self
            .fx
            .roots
            .iter()
            .position(|r| *r == registration.model_root)?;
        self.fx.catalogue.get(i)
    }

    fn request(&self, s: &State, who: u8, model: u8, x: u64) -> Option<(u64, Action)> {
        let models = s.models();
        let active: Vec<_> = models.iter().filter(|m| m.is_active()).cloned().collect();
        let m = match pick(&active, u64::from(model)) {
            Some(m) if model & 0x80 == 0 => m,
            _ => pick(&models, u64::from(model))?,
        };
        let r = &m.registration;
        let mut input = match self.source_of(r) {
            Some(src) => src.input(x),
            None => vec![1; elements(&r.input_shape).min(4_096) as usize],
        };
        if x.is_multiple_of(10) {
            input.push(0);
        }
        let payment = match x % 7 {
            0 => r.price.saturating_sub(1),
            1 => amount(x >> 4, 100_000),
            _ => r.price.saturating_add((x >> 8) % 100),
        };
        let provider = (x >> 16)
            .is_multiple_of(3)
            .then(|| self.fx.pk(any_signer((x >> 20) as u8)));
        let action = Action::RequestInference {
            model: m.id,
            input,
            payment,
            provider,
        };
        Some((self.signer(s, who, &[]), action))
    }
}

/// A training lineage: mostly a round that recorded a checkpoint, when one did; else any
/// task and round (most of them without one).
fn lineage(s: &State, x: u64) -> Lineage {
    let checkpoints: Vec<Lineage> = s
        .tasks()
        .iter()
        .flat_map(|t| {
            s.round_records(t.id)
                .into_iter()
                .map(move |(r, rec)| (t.id, r, rec))
        })
        .filter(|(_, _, rec)| rec.checkpoint.is_some())
        .map(|(task, round, _)| Lineage { task, round })
        .collect();
    match pick(&checkpoints, x >> 2) {
        Some(l) if !x.is_multiple_of(4) => l,
        _ => Lineage {
            task: 1 + (x >> 2) % (s.tasks().len() as u64 + 1),
            round: ((x >> 8) % 2) as u32,
        },
    }
}

/// Registration fields drawn from edge values: empty and oversized shapes, zero and huge
/// sizes, bad names, a zero root.
fn random_registration(x: u64) -> ModelRegistration {
    let r = |i: u64| mix(x ^ i);
    let shapes: [&[u32]; 7] = [
        &[],
        &[0],
        &[4],
        &[2, 4],
        &[64, 64, 2],
        &[1, 1, 1, 1, 1],
        &[u32::MAX, 2],
    ];
    let names = ["m", "", "a b", "<script>", "x"];
    ModelRegistration {
        graph: if r(1) % 8 == 0 {
            [0; 32]
        } else {
            bytes32(r(2))
        },
        graph_bytes: [0, 1, r(3) % 100_000, 32 << 20, (32 << 20) + 1, u64::MAX]
            [(r(4) % 6) as usize],
        model_root: if r(5) % 8 == 0 {
            [0; 32]
        } else {
            bytes32(r(6))
        },
        node_count: [0, 1, 2, 3, 4_096, 4_097, u32::MAX][(r(7) % 7) as usize],
        input_shape: shapes[(r(8) % 7) as usize].to_vec(),
        output_shape: shapes[(r(9) % 7) as usize].to_vec(),
        name: names[(r(10) % 5) as usize].repeat(1 + (r(11) % 70) as usize),
        licence: "L".repeat((r(12) % 130) as usize),
        price: if r(13) % 8 == 0 {
            u64::MAX
        } else {
            r(13) % 100
        },
        lineage: (r(14) % 4 == 0).then(|| Lineage {
            task: r(15) % 3,
            round: (r(16) % 3) as u32,
        }),
    }
}

/// Breaks a claim the way `how` says (0–3), or leaves it alone.
fn mangle_claim(claim: &mut ClaimBytes, how: u64, x: u64) {
    match how {
        0 => {
            let keep = (x as usize) % claim.2.len().max(1);
            claim.2.truncate(keep);
        }
        1 => claim.2 = bytes32(x).to_vec(),
        2 => claim.0.push(0),
        3 => claim.1[(x % 32) as usize] ^= 1,
        _ => {}
    }
}

impl World {
    /// A claim for request `i` by a party serving trace `variant` (remembered by its
    /// execution root), or bytes of the right output size that prove nothing.
    fn claim_for(&mut self, s: &State, i: &Inference, variant: u8, x: u64) -> ClaimBytes {
        let m = s.model(&i.model);
        let party = m
            .as_ref()
            .and_then(|m| self.source_of(&m.registration)?.party(&i.input, variant));
        if let Some(party) = party {
            let claim = party.claim();
            self.parties.insert(claim.1, party);
            return claim;
        }
        let n = m.map_or(1, |m| {
            elements(&m.registration.output_shape).min(1_024) as usize
        });
        (vec![x as u8; n], bytes32(x), bytes32(x >> 1).to_vec())
    }

    /// A result (or, with `challenge`, a challenge of one): mostly an honest or lying trace
    /// of the catalogue model with a proper proof and the least bond; sometimes broken.
    fn post(
        &mut self,
        s: &State,
        who: u8,
        request: u8,
        x: u64,
        challenge: bool,
    ) -> Option<(u64, Action)> {
        let all = s.inferences(0, usize::MAX);
        let wanted = |i: &&Inference| match challenge {
            false => i.status == InferenceStatus::Requested,
            true => matches!(
                i.status,
                InferenceStatus::Served | InferenceStatus::Disputed
            ),
        };
        let live: Vec<Inference> = all.iter().filter(wanted).cloned().collect();
        let i = match pick(&live, u64::from(request)) {
            Some(i) if request & 0x80 == 0 => i,
            _ => pick(&all, u64::from(request))?,
        };
        let variant = if x.is_multiple_of(3) {
            0
        } else {
            (x >> 8) as u8
        };
        let mut claim = self.claim_for(s, &i, variant, x);
        mangle_claim(&mut claim, (x >> 16) % 12, x);
        let least = bond_min(i.payment);
        let bond = match (x >> 24) % 8 {
            0 => least - 1,
            1 => least.saturating_add((x >> 32) % 100),
            2 => amount(x >> 32, 100_000),
            _ => least,
        };
        let preferred: Vec<PublicKey> = i.provider.iter().cloned().collect();
        let signer = self.signer(s, who, if challenge { &[] } else { &preferred });
        let (output, exec_root, output_proof) = claim;
        let request = i.id;
        let action = if challenge {
            // Mostly a valid arity; else one of the edges around them, or any byte.
            let k = match (x >> 34) % 8 {
                0 => [0, 1, 3, 5, 15, 17, 32, 255, (x >> 40) as u8][(x >> 37) as usize % 9],
                c => [2, 4, 8, 16][(c % 4) as usize],
            };
            Action::Challenge {
                request,
                output,
                exec_root,
                output_proof,
                k,
                bond,
            }
        } else {
            Action::PostResult {
                request,
                output,
                exec_root,
                output_proof,
                bond,
            }
        };
        Some((signer, action))
    }

    /// A move in an open dispute (mostly): the honest answer of the side to move, or that
    /// answer corrupted, bit-flipped, truncated, with a swapped header opening, or garbage;
    /// signed mostly by the side to move (or its hot key), sometimes by the other or a
    /// stranger.
    fn dispute_move(&self, s: &State, who: u8, sel: u8, x: u64) -> Option<(u64, Action)> {
        let all: Vec<_> = s
            .inferences(0, usize::MAX)
            .iter()
            .flat_map(|i| s.disputes_of(i.id))
            .collect();
        let open: Vec<_> = all.iter().filter(|d| d.is_open()).cloned().collect();
        let d = match pick(&open, u64::from(sel)) {
            Some(d) if sel & 0x80 == 0 => d,
            _ => pick(&all, u64::from(sel))?,
        };
        let i = s.inference(d.request)?;
        let registration = s.model(&i.model)?.registration;
        let game = cairn_state::dispute_game(&registration, &i, &d).ok();
        let side = game
            .as_ref()
            .and_then(|(g, _, _)| g.turn())
            .unwrap_or(Side::Provider);
        let (provider, challenger) = (
            i.result.as_ref()?.account.clone(),
            d.challenge.account.clone(),
        );
        let (mover, other, root) = match side {
            Side::Provider => (provider, challenger, i.result.as_ref()?.exec_root),
            Side::Challenger => (challenger, provider, d.challenge.exec_root),
        };
        let honest = game
            .as_ref()
            .and_then(|(g, _, _)| self.parties.get(&root)?.respond(side, &g.request()));
        let mv = mutate_move(honest, self.source_of(&registration), x);
        let preferred = match (x >> 8) % 8 {
            0 => vec![other],
            1 => Vec::new(),
            _ => vec![mover],
        };
        let signer = self.signer(s, who & 0x7f, &preferred);
        let dispute = if (x >> 11).is_multiple_of(16) {
            d.index + 1
        } else {
            d.index
        };
        Some((
            signer,
            Action::DisputeMove {
                request: d.request,
                dispute,
                mv,
            },
        ))
    }
}

/// The bytes of `honest` (when there is an honest move), or a hostile variant of it.
fn mutate_move(honest: Option<Move>, source: Option<&Source>, x: u64) -> Vec<u8> {
    let how = (x >> 16) % 16;
    let Some(mv) = honest.filter(|_| how < 14) else {
        return garbage_move(x);
    };
    match how {
        8 | 9 => forge::corrupt(&mv, x).encode(),
        10 => {
            let mut bytes = mv.encode();
            for i in 0..1 + (x >> 40) % 3 {
                let r = mix(x ^ i);
                let at = (r % bytes.len() as u64) as usize;
                bytes[at] ^= 1 << ((r >> 8) % 8);
            }
            bytes
        }
        11 => {
            let bytes = mv.encode();
            bytes[..(x as usize >> 20) % bytes.len()].to_vec()
        }
        12 => swap_header(mv, source, x).encode(),
        13 => {
            let mut bytes = mv.encode();
            bytes.push(x as u8);
            bytes
        }
        _ => mv.encode(),
    }
}

/// `mv` with an adversarial header: another node's (valid, proven) opening where the move
/// reveals or opens one.
fn swap_header(mut mv: Move, source: Option<&Source>, x: u64) -> Move {
    let header = source.and_then(|s| s.header((x >> 24) as usize % 8));
    match (&mut mv, header) {
        (Move::Pick { reveal, .. }, h) => reveal.header = h,
        (Move::Step(p), Some(h)) => match p.inputs.first_mut() {
            Some(input) if x & 1 == 0 => input.node.header = h,
            _ => p.node.header = h,
        },
        (Move::Split { children }, _) => children.reverse(),
        (Move::Step(p), None) => p.channel = None,
    }
    mv
}

/// Bytes that are no move: random, a bare tag, or larger than any move may be.
fn garbage_move(x: u64) -> Vec<u8> {
    match x % 4 {
        0 => Vec::new(),
        1 => vec![(x >> 8) as u8 % 4],
        2 => vec![(x >> 8) as u8 % 4; cairn_types::infer::MOVE_MAX_BYTES + 1],
        _ => (0..(x >> 8) % 300).map(|i| mix(x ^ i) as u8).collect(),
    }
}
