//! A federated-learning task end to end on a simulated 4-validator network: a funded account
//! proposes a tiny MLP task, three operators approve it, three trainers and two task
//! validators join, and three rounds run (submit → commit scores → reveal scores → attest)
//! with real fixed-point models from cairn-fl. One trainer poisons its update (label flip);
//! the task validators score it 0, so it is rejected and penalized every round. Every node
//! must record the same round records, checkpoints, balances and state roots.

use crate::sim::*;
use cairn_fl::{Attack, Dataset, ModelSpec, QModel, Rule, ScoreConfig, TrainConfig};
use cairn_node::engine::NodeHandle;
use cairn_state::{Phase, RoundRecord, State, TaskStatus};
use cairn_types::{
    Action, AggregationRule, BlobHash, PrivateKey, PublicKey, Role, TaskSpec, Transaction,
    score_commitment,
};
use commonware_cryptography::Signer as _;
use commonware_runtime::{Clock, Runner as _};
use std::collections::BTreeMap;
use std::time::Duration;

const MODEL: &str = "mlp:16-8-4";
const ROUNDS: u32 = 3;
const POOL: u64 = 30_000;
const STAKE: u64 = 1_000;
const EPOCHS: usize = 5;
const LEARNING_RATE_MICRO: u32 = 500_000;
/// Accounts (see `sim::account_key`): 0..4 operate the validators.
const PROPOSER: usize = 4;
const TRAINERS: [usize; 3] = [5, 6, 7];
/// This trainer trains on flipped labels.
const POISONER: usize = 7;
const SCORERS: [usize; 2] = [8, 9];
const ACCOUNTS: usize = 10;
/// Simulated-time bound on the whole task.
const TASK_LIMIT: Duration = Duration::from_secs(600);

/// splitmix64: the test's own deterministic randomness for the synthetic data.
struct Rand(u64);

impl Rand {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `samples` 4×4 images in 4 classes: class `c` lights up quadrant `c`, plus noise.
fn dataset(seed: u64, samples: usize) -> Dataset {
    let mut rng = Rand(seed);
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for i in 0..samples {
        let class = (i % 4) as u8;
        for y in 0..4 {
            for x in 0..4 {
                let quadrant = (y / 2) * 2 + x / 2;
                let base = if quadrant == class as usize { 200 } else { 0 };
                pixels.push((base + rng.below(50)) as u8);
            }
        }
        labels.push(class);
    }
    Dataset::new(4, 4, 4, pixels, labels)
}

fn blob_commitment(data: &Dataset) -> BlobHash {
    let mut bytes = data.labels().to_vec();
    for i in 0..data.len() {
        bytes.extend_from_slice(data.image(i));
    }
    let digest = cairn_types::sha256(&[&bytes]);
    digest.as_ref().try_into().expect("32-byte digest")
}

fn spec(initial: BlobHash, data: BlobHash, validation: BlobHash) -> TaskSpec {
    TaskSpec {
        model: MODEL.into(),
        initial_model: initial,
        dataset: data,
        validation_set: validation,
        rounds: ROUNDS,
        trainers_per_round: TRAINERS.len() as u32,
        local_epochs: EPOCHS as u32,
        batch_size: 8,
        learning_rate_micro: LEARNING_RATE_MICRO,
        rule: AggregationRule::FedAvg,
        accept_per_mille: 100,
        min_trainer_stake: STAKE,
        min_validator_stake: STAKE,
        reward_pool: POOL,
        blob_max_bytes: 1 << 20,
        review_blocks: 20,
        commit_blocks: 20,
        score_blocks: 20,
        reveal_blocks: 20,
        aggregate_blocks: 20,
    }
}

/// An account the test signs for, with the nonce of its next transaction.
struct Signer {
    key: PrivateKey,
    nonce: u64,
}

impl Signer {
    fn address(&self) -> PublicKey {
        self.key.public_key()
    }

    /// Whether `state` has seen every transaction this signer sent (so it can send the next).
    fn settled(&self, state: &State) -> bool {
        state.account(&self.address()).map_or(0, |a| a.nonce) == self.nonce
    }

    /// Signs `action` with the next nonce and submits it to `node` (which must have `settled`).
    fn send(&mut self, node: &NodeHandle, action: Action) {
        let tx = Transaction {
            chain_id: CHAIN_ID.into(),
            signer: self.address(),
            nonce: self.nonce,
            fee: 1,
            action,
        }
        .sign(&self.key);
        let name = tx.tx.action.name();
        if let Err(e) = node.chain.lock().unwrap().submit(tx) {
            panic!(
                "{name} from {} refused: {e:?}",
                cairn_types::to_hex(self.address())
            );
        }
        self.nonce += 1;
    }
}

/// What one run of the scenario produced, for comparing runs.
#[derive(Debug, PartialEq)]
struct Outcome {
    checkpoints: Vec<BlobHash>,
    records: Vec<RoundRecord>,
    balances: Vec<u64>,
}

fn state_of(node: &NodeHandle) -> std::sync::Arc<State> {
    node.chain.lock().unwrap().finalized()
}

fn run_task(seed: u64) -> Outcome {
    crate::sim::runner(seed).start(|context| async move {
        let net = Net::start(&context, 4, ACCOUNTS, lan(), 4).await;
        let nodes = &net.nodes;

        // Off-chain material: the initial model, each trainer's shard, the validation set.
        let model_spec: ModelSpec = MODEL.parse().expect("model spec parses");
        let initial = cairn_fl::initial_model(&model_spec, seed).expect("initial model");
        let shards: BTreeMap<usize, Dataset> = TRAINERS
            .iter()
            .map(|t| (*t, dataset(seed * 100 + *t as u64, 32)))
            .collect();
        let validation = dataset(seed * 100 + 99, 64);
        let task_spec = spec(
            initial.content_hash(),
            blob_commitment(&shards[&TRAINERS[0]]),
            blob_commitment(&validation),
        );
        let rule = Rule::FedAvg;

        // Blobs by content hash (what the blob network would serve), and per-round work.
        let mut blobs: BTreeMap<BlobHash, QModel> = BTreeMap::new();
        blobs.insert(initial.content_hash(), initial);
        let mut scores: BTreeMap<u32, Vec<u16>> = BTreeMap::new();
        let mut checkpoints: BTreeMap<u32, BlobHash> = BTreeMap::new();

        let mut signers: BTreeMap<usize, Signer> = (0..ACCOUNTS)
            .map(|i| {
                (
                    i,
                    Signer {
                        key: account_key(i),
                        nonce: 0,
                    },
                )
            })
            .collect();
        signers
            .get_mut(&PROPOSER)
            .unwrap()
            .send(&nodes[0], Action::ProposeTask { spec: task_spec });
        let id = 1;

        let start = context.current();
        let mut turn = 0usize;
        loop {
            let elapsed = context.current().duration_since(start).unwrap_or_default();
            assert!(
                elapsed < TASK_LIMIT,
                "task {id} did not complete in {elapsed:?}"
            );
            // Read a different node each turn and submit to the node read (its mempool checks
            // against the same state); gossip carries the transactions to the proposers.
            let node = &nodes[turn % nodes.len()];
            turn += 1;
            let state = state_of(node);
            let Some(task) = state.task(id) else {
                context.sleep(Duration::from_millis(50)).await;
                continue;
            };
            match task.status {
                TaskStatus::Completed => break,
                TaskStatus::Rejected => panic!("task {id} rejected"),
                TaskStatus::Review { .. } => {
                    // Everyone joins first (a round opened with fewer trainers would close its
                    // submit phase as soon as those few submitted), then the operators vote.
                    let mut all_joined = true;
                    for (who, role) in TRAINERS
                        .iter()
                        .map(|t| (t, Role::Trainer))
                        .chain(SCORERS.iter().map(|v| (v, Role::Validator)))
                    {
                        let signer = signers.get_mut(who).unwrap();
                        let members = if role == Role::Trainer {
                            &task.trainers
                        } else {
                            &task.validators
                        };
                        if members.contains_key(&signer.address()) {
                            continue;
                        }
                        all_joined = false;
                        if signer.settled(&state) {
                            signer.send(
                                node,
                                Action::JoinTask {
                                    task: id,
                                    role,
                                    stake: STAKE,
                                },
                            );
                        }
                    }
                    if all_joined {
                        for operator in 0..3 {
                            let validator = validator_key(operator).public_key();
                            let signer = signers.get_mut(&operator).unwrap();
                            if !task.votes.contains_key(&validator) && signer.settled(&state) {
                                signer.send(
                                    node,
                                    Action::VoteTask {
                                        task: id,
                                        validator,
                                        approve: true,
                                    },
                                );
                            }
                        }
                    }
                }
                TaskStatus::Running => {
                    let round = task
                        .round
                        .as_ref()
                        .expect("a running task has an open round");
                    let r = round.index;
                    let global = blobs
                        .get(&round.global_model)
                        .expect("the global model is a known blob")
                        .clone();
                    match round.phase {
                        Phase::Submit => {
                            for trainer in TRAINERS {
                                let signer = signers.get_mut(&trainer).unwrap();
                                if round
                                    .submissions
                                    .iter()
                                    .any(|s| s.trainer == signer.address())
                                    || !signer.settled(&state)
                                {
                                    continue;
                                }
                                let cfg = TrainConfig {
                                    batch_size: 8,
                                    epochs: EPOCHS,
                                    lr: LEARNING_RATE_MICRO as f32 / 1e6,
                                    seed: seed + u64::from(r) * 10 + trainer as u64,
                                    ..TrainConfig::default()
                                };
                                let shard = &shards[&trainer];
                                let update = if trainer == POISONER {
                                    cairn_fl::attacked_update(
                                        &Attack::LabelFlip,
                                        &model_spec,
                                        &global,
                                        shard,
                                        &cfg,
                                        seed,
                                    )
                                    .expect("poisoned update")
                                } else {
                                    cairn_fl::local_train(&model_spec, &global, shard, &cfg)
                                        .expect("local training")
                                        .0
                                };
                                let hash = update.content_hash();
                                blobs.insert(hash, update);
                                signer.send(
                                    node,
                                    Action::SubmitUpdate {
                                        task: id,
                                        round: r,
                                        update: hash,
                                    },
                                );
                            }
                        }
                        Phase::CommitScores => {
                            // Both task validators score the submitted blobs, in submission
                            // order, on the held-out set (deterministic: they agree).
                            let verdicts = scores.entry(r).or_insert_with(|| {
                                let updates: Vec<Vec<u8>> = round
                                    .submissions
                                    .iter()
                                    .map(|s| {
                                        blobs
                                            .get(&s.update)
                                            .expect("submitted blob is known")
                                            .encode()
                                    })
                                    .collect();
                                cairn_fl::score_updates(
                                    &model_spec,
                                    &global,
                                    &updates,
                                    &validation,
                                    &ScoreConfig::default(),
                                )
                                .iter()
                                .map(|v| v.score())
                                .collect()
                            });
                            for scorer in SCORERS {
                                let signer = signers.get_mut(&scorer).unwrap();
                                if round.score_commits.contains_key(&signer.address())
                                    || !signer.settled(&state)
                                {
                                    continue;
                                }
                                let commitment = score_commitment(
                                    id,
                                    r,
                                    &signer.address(),
                                    verdicts,
                                    &salt(scorer, r),
                                );
                                signer.send(
                                    node,
                                    Action::CommitScores {
                                        task: id,
                                        round: r,
                                        commitment,
                                    },
                                );
                            }
                        }
                        Phase::RevealScores => {
                            let verdicts = scores.get(&r).expect("scores were committed").clone();
                            for scorer in SCORERS {
                                let signer = signers.get_mut(&scorer).unwrap();
                                if round.reveals.contains_key(&signer.address())
                                    || !signer.settled(&state)
                                {
                                    continue;
                                }
                                let action = Action::RevealScores {
                                    task: id,
                                    round: r,
                                    scores: verdicts.clone(),
                                    salt: salt(scorer, r),
                                };
                                signer.send(node, action);
                            }
                        }
                        Phase::Aggregate => {
                            // The chain's round record names the accepted updates and their
                            // weights; the aggregate is recomputed in fixed point.
                            let model = match checkpoints.get(&r) {
                                Some(model) => *model,
                                None => {
                                    let record = state
                                        .round_record(id, r)
                                        .expect("a scored round has a record");
                                    let (updates, weights): (Vec<QModel>, Vec<u64>) = record
                                        .accepted()
                                        .into_iter()
                                        .map(|(hash, weight)| (blobs[&hash].clone(), weight))
                                        .unzip();
                                    let aggregate = cairn_fl::aggregate(&rule, &updates, &weights)
                                        .expect("aggregate");
                                    let hash = aggregate.content_hash();
                                    blobs.insert(hash, aggregate);
                                    checkpoints.insert(r, hash);
                                    hash
                                }
                            };
                            for scorer in SCORERS {
                                let signer = signers.get_mut(&scorer).unwrap();
                                if round.attestations.contains_key(&signer.address())
                                    || !signer.settled(&state)
                                {
                                    continue;
                                }
                                signer.send(
                                    node,
                                    Action::AttestCheckpoint {
                                        task: id,
                                        round: r,
                                        model,
                                    },
                                );
                            }
                        }
                    }
                }
            }
            context.sleep(Duration::from_millis(50)).await;
        }

        // Every node completes the task and records the same rounds.
        let start = context.current();
        while !nodes.iter().all(|n| {
            state_of(n)
                .task(id)
                .is_some_and(|t| t.status == TaskStatus::Completed)
        }) {
            assert!(
                context.current().duration_since(start).unwrap_or_default() < TASK_LIMIT,
                "not every node completed"
            );
            context.sleep(Duration::from_millis(50)).await;
        }
        let expected: Vec<BlobHash> = (0..ROUNDS).map(|r| checkpoints[&r]).collect();
        let participants: Vec<PublicKey> = std::iter::once(PROPOSER)
            .chain(TRAINERS)
            .chain(SCORERS)
            .map(|i| account_key(i).public_key())
            .collect();
        let reference = state_of(&nodes[0]);
        let records: Vec<RoundRecord> = (0..ROUNDS)
            .map(|r| {
                reference
                    .round_record(id, r)
                    .expect("every round has a record")
            })
            .collect();
        let balances: Vec<u64> = participants
            .iter()
            .map(|p| reference.account(p).expect("participant account").balance)
            .collect();
        for (i, node) in nodes.iter().enumerate() {
            let state = state_of(node);
            for r in 0..ROUNDS {
                assert_eq!(
                    state.round_record(id, r).as_ref(),
                    Some(&records[r as usize]),
                    "node {i} round {r}"
                );
            }
            let mine: Vec<u64> = participants
                .iter()
                .map(|p| state.account(p).unwrap().balance)
                .collect();
            assert_eq!(mine, balances, "node {i} balances");
            let task = state.task(id).unwrap();
            assert_eq!(task.escrow, 0, "node {i}: escrow is paid out or returned");
            assert!(
                task.trainers
                    .values()
                    .chain(task.validators.values())
                    .all(|m| m.stake == 0),
                "node {i}: stakes returned"
            );
            assert_eq!(task.rounds_closed, ROUNDS);
            assert_eq!(
                task.global_model,
                expected[ROUNDS as usize - 1],
                "node {i}: global model is the last checkpoint"
            );
        }

        // The rounds went as designed: each checkpoint is the aggregate the test computed and
        // feeds the next round; the poisoned update is rejected and penalized, the honest ones
        // accepted and rewarded.
        let poisoner = account_key(POISONER).public_key();
        let mut global_in = reference.task(id).unwrap().spec.initial_model;
        for (r, record) in records.iter().enumerate() {
            assert_eq!(record.checkpoint, Some(expected[r]), "round {r} checkpoint");
            assert_eq!(
                record.global_in, global_in,
                "round {r} starts from the previous checkpoint"
            );
            global_in = expected[r];
            assert_eq!(
                record.outcomes.len(),
                TRAINERS.len(),
                "round {r}: every trainer submitted"
            );
            for o in &record.outcomes {
                if o.trainer == poisoner {
                    assert!(
                        !o.accepted && o.weight == 0 && o.reward == 0 && o.penalty > 0,
                        "round {r}: {o:?}"
                    );
                } else {
                    assert!(
                        o.accepted && o.weight > 0 && o.reward > 0 && o.penalty == 0,
                        "round {r}: {o:?}"
                    );
                }
            }
            assert!(
                record
                    .validators
                    .iter()
                    .all(|v| v.revealed && v.penalty == 0),
                "round {r}: {:?}",
                record.validators
            );
        }
        // Balances: funded − fees − penalties + rewards; the proposer gets back what was not paid.
        let task = reference.task(id).unwrap();
        let mut paid = 0;
        for (i, p) in participants.iter().enumerate().skip(1) {
            let member = task
                .trainers
                .get(p)
                .or_else(|| task.validators.get(p))
                .expect("member");
            let fees = reference.account(p).unwrap().nonce;
            assert_eq!(
                balances[i],
                FUNDED - fees - member.penalties + member.rewards,
                "participant {i} balance"
            );
            paid += member.rewards;
        }
        assert!(paid > 0 && paid <= POOL);
        let proposer_fees = reference.account(&participants[0]).unwrap().nonce;
        assert_eq!(
            balances[0],
            FUNDED - proposer_fees - paid,
            "the proposer gets the unpaid pool back"
        );

        // Same blocks and state roots everywhere; each node's own state root matches.
        let snapshots: Vec<(u64, String)> = nodes
            .iter()
            .map(|n| {
                let s = state_of(n);
                (s.height(), cairn_types::to_hex(s.root()))
            })
            .collect();
        let top = snapshots.iter().map(|(h, _)| *h).max().unwrap();
        let refs: Vec<&NodeHandle> = nodes.iter().collect();
        wait_for_height(&context, &refs, top, TASK_LIMIT).await;
        let summary = chain_summary(&nodes[0], top).await;
        for (i, node) in nodes.iter().enumerate() {
            assert_eq!(chain_summary(node, top).await, summary, "node {i} chain");
            let (h, root) = &snapshots[i];
            assert_eq!(
                &summary[*h as usize - 1].2,
                root,
                "node {i} state root at height {h}"
            );
        }

        Outcome {
            checkpoints: expected,
            records,
            balances,
        }
    })
}

fn salt(scorer: usize, round: u32) -> [u8; 32] {
    let mut salt = [scorer as u8; 32];
    salt[..4].copy_from_slice(&round.to_be_bytes());
    salt
}

#[test]
fn fl_task_runs_three_rounds_and_every_validator_agrees() {
    let first = run_task(17);
    let second = run_task(17);
    assert_eq!(
        first, second,
        "the same seed replays the same checkpoints, records and balances"
    );
}
