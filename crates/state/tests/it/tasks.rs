//! Federated-learning tasks: review, registration, the round phases, score consensus,
//! rewards, penalties, checkpoints, and every rejection leaving the state untouched.

use crate::{Net, pk};
use cairn_state::{Phase, State, TaskError, TaskStatus, TxError};
use cairn_types::{Action, Address, AggregationRule, Amount, Role, TaskSpec, score_commitment};

const PROPOSER: u64 = 1;
const TRAINERS: [u64; 3] = [21, 22, 23];
const SCORERS: [u64; 2] = [31, 32];
/// Operators of the two active validators (consensus keys 101, 102).
const OPS: [(u64, u64); 2] = [(11, 101), (12, 102)];
const POOL: Amount = 9_000;

fn spec() -> TaskSpec {
    TaskSpec {
        model: "mlp:784-64-10".into(),
        initial_model: [7; 32],
        dataset: [8; 32],
        validation_set: [9; 32],
        rounds: 2,
        trainers_per_round: 3,
        local_epochs: 1,
        batch_size: 10,
        learning_rate_micro: 100_000,
        rule: AggregationRule::FedAvg,
        accept_per_mille: 500,
        min_trainer_stake: 100,
        min_validator_stake: 100,
        reward_pool: POOL,
        blob_max_bytes: 1 << 20,
        review_blocks: 5,
        commit_blocks: 5,
        score_blocks: 5,
        reveal_blocks: 5,
        aggregate_blocks: 5,
    }
}

/// A state plus the bookkeeping to drive it block by block.
impl Net {
    fn new() -> Net {
        let mut accounts = vec![
            (PROPOSER, 1_000_000),
            (11, 100_000),
            (12, 100_000),
            (13, 100_000),
        ];
        accounts.extend(TRAINERS.iter().chain(SCORERS.iter()).map(|s| (*s, 10_000)));
        Net::with_accounts(&accounts)
    }

    /// Proposes the task, approves it by both active validators and registers everyone.
    fn running_task(&mut self) -> u64 {
        self.running_task_with(spec())
    }

    /// [Net::running_task] with another spec.
    fn running_task_with(&mut self, spec: TaskSpec) -> u64 {
        self.block(vec![(PROPOSER, Action::ProposeTask { spec })]);
        let id = 1;
        assert!(matches!(
            self.state.task(id).unwrap().status,
            TaskStatus::Review { .. }
        ));
        let mut joins: Vec<(u64, Action)> = TRAINERS
            .iter()
            .map(|t| {
                (
                    *t,
                    Action::JoinTask {
                        task: id,
                        role: Role::Trainer,
                        stake: 1_000,
                    },
                )
            })
            .collect();
        joins.extend(SCORERS.iter().map(|v| {
            (
                *v,
                Action::JoinTask {
                    task: id,
                    role: Role::Validator,
                    stake: 1_000,
                },
            )
        }));
        self.block(joins);
        self.block(
            OPS.iter()
                .map(|(op, v)| {
                    (
                        *op,
                        Action::VoteTask {
                            task: id,
                            validator: pk(*v),
                            approve: true,
                        },
                    )
                })
                .collect(),
        );
        assert_eq!(self.state.task(id).unwrap().status, TaskStatus::Running);
        id
    }

    fn phase(&self, id: u64) -> Option<(u32, Phase)> {
        self.state
            .task(id)
            .unwrap()
            .round
            .map(|r| (r.index, r.phase))
    }

    /// Every token the state holds, tasks included.
    fn held(&self) -> Amount {
        let mut owners: Vec<Address> = [PROPOSER, 11, 12, 13]
            .iter()
            .chain(TRAINERS.iter())
            .chain(SCORERS.iter())
            .map(|s| pk(*s))
            .collect();
        owners.extend(self.state.validators().iter().map(|v| v.operator.clone()));
        owners.sort();
        owners.dedup();
        let balances: Amount = owners
            .iter()
            .map(|a| self.state.account(a).map_or(0, |a| a.balance))
            .sum();
        let bonds: Amount = self.state.validators().iter().map(|v| v.total_bond()).sum();
        let tasks: Amount = self.state.tasks().iter().map(|t| t.held().unwrap()).sum();
        balances + bonds + tasks
    }

    fn submit_all(&mut self, id: u64, round: u32, updates: &[[u8; 32]]) {
        let actions = TRAINERS
            .iter()
            .zip(updates)
            .map(|(t, u)| {
                (
                    *t,
                    Action::SubmitUpdate {
                        task: id,
                        round,
                        update: *u,
                    },
                )
            })
            .collect();
        self.block(actions);
    }

    fn commit(&mut self, id: u64, round: u32, scores: &[Vec<u16>]) {
        let actions = SCORERS
            .iter()
            .zip(scores)
            .map(|(v, s)| {
                let commitment = score_commitment(id, round, &pk(*v), s, &[*v as u8; 32]);
                (
                    *v,
                    Action::CommitScores {
                        task: id,
                        round,
                        commitment,
                    },
                )
            })
            .collect();
        self.block(actions);
    }

    fn reveal(&mut self, id: u64, round: u32, scores: &[Vec<u16>]) {
        let actions = SCORERS
            .iter()
            .zip(scores)
            .map(|(v, s)| {
                (
                    *v,
                    Action::RevealScores {
                        task: id,
                        round,
                        scores: s.clone(),
                        salt: [*v as u8; 32],
                    },
                )
            })
            .collect();
        self.block(actions);
    }
}

fn updates() -> [[u8; 32]; 3] {
    [[1; 32], [2; 32], [3; 32]]
}

fn honest_scores() -> Vec<Vec<u16>> {
    // Trainer 23's update is scored zero by both validators (a poisoned update).
    vec![vec![60_000, 50_000, 0], vec![58_000, 52_000, 0]]
}

#[test]
fn a_round_runs_from_submission_to_checkpoint() {
    let mut net = Net::new();
    let supply = net.state.total_supply();
    let id = net.running_task();
    assert_eq!(net.phase(id), Some((0, Phase::Submit)));
    let deposit = net.state.task(id).unwrap().deposit;
    assert_eq!(
        deposit,
        spec().blob_deposit().unwrap(),
        "1 MiB blobs: the initial model, then per round a checkpoint and 3 updates"
    );
    assert_eq!(
        net.state.account(&pk(PROPOSER)).unwrap().balance,
        1_000_000 - POOL - deposit - 1
    );

    net.submit_all(id, 0, &updates());
    // Every registered trainer submitted: the phase ends early.
    assert_eq!(net.phase(id), Some((0, Phase::CommitScores)));
    net.commit(id, 0, &honest_scores());
    assert_eq!(net.phase(id), Some((0, Phase::RevealScores)));
    let before: Vec<Amount> = TRAINERS
        .iter()
        .map(|t| net.state.account(&pk(*t)).unwrap().balance)
        .collect();
    net.reveal(id, 0, &honest_scores());
    assert_eq!(net.phase(id), Some((0, Phase::Aggregate)));

    let record = net.state.round_record(id, 0).expect("round 0 is scored");
    assert_eq!(record.global_in, [7; 32]);
    let accepted: Vec<bool> = record.outcomes.iter().map(|o| o.accepted).collect();
    assert_eq!(accepted, vec![true, true, false]);
    assert!(record.outcomes[0].consensus > record.outcomes[1].consensus);
    assert!(record.outcomes[0].reward > 0 && record.outcomes[1].reward > 0);
    assert_eq!(record.outcomes[2].reward, 0);
    assert_eq!(
        record.outcomes[2].penalty, 100,
        "10% of the zero-scored trainer's stake"
    );
    assert_eq!(record.validators.len(), SCORERS.len());
    assert!(record.validators.iter().all(|v| v.revealed && v.reward > 0));
    let paid: Amount = record.outcomes.iter().map(|o| o.reward).sum::<Amount>()
        + record.validators.iter().map(|v| v.reward).sum::<Amount>();
    assert!(
        paid <= POOL / 2,
        "round 0 of 2 pays at most half the pool: {paid}"
    );
    for (i, t) in TRAINERS.iter().enumerate() {
        let now = net.state.account(&pk(*t)).unwrap().balance;
        assert_eq!(now, before[i] + record.outcomes[i].reward);
    }
    assert_eq!(
        record.accepted(),
        vec![
            ([1; 32], u64::from(record.outcomes[0].consensus)),
            ([2; 32], u64::from(record.outcomes[1].consensus))
        ]
    );

    // Both validators attest the same aggregate: the checkpoint is recorded and round 1 opens
    // from it.
    let model = [42u8; 32];
    net.block(
        SCORERS
            .iter()
            .map(|v| {
                (
                    *v,
                    Action::AttestCheckpoint {
                        task: id,
                        round: 0,
                        model,
                    },
                )
            })
            .collect(),
    );
    let record = net.state.round_record(id, 0).unwrap();
    assert_eq!(record.checkpoint, Some(model));
    let task = net.state.task(id).unwrap();
    assert_eq!(task.global_model, model);
    assert_eq!(net.phase(id), Some((1, Phase::Submit)));
    assert_eq!(task.round.unwrap().global_model, model);
    assert_eq!(
        net.state.total_supply(),
        supply - 100,
        "only the penalty was burnt"
    );
    assert_eq!(net.held(), net.state.total_supply());
    assert!(net.state.referenced_blobs().contains(&model));

    // A quantized model registered with lineage to this round records its checkpoint; a
    // round without a record cannot be named.
    let registration = |round| cairn_types::ModelRegistration {
        graph: [7; 32],
        graph_bytes: 4_096,
        model_root: [8; 32],
        node_count: 3,
        input_shape: vec![4],
        output_shape: vec![2],
        name: "from-task".into(),
        licence: "MIT".into(),
        price: 0,
        lineage: Some(cairn_types::Lineage { task: id, round }),
    };
    let e = net.reject(
        PROPOSER,
        Action::RegisterModel {
            model: registration(1),
        },
    );
    assert!(e.to_string().contains("no record"), "{e}");
    net.block(vec![(
        PROPOSER,
        Action::RegisterModel {
            model: registration(0),
        },
    )]);
    let id = cairn_types::infer::model_id(&pk(PROPOSER), &[7; 32]);
    let registered = net.state.model(&id).expect("registered");
    assert_eq!(registered.checkpoint, Some(model));
    assert_eq!(registered.owner, pk(PROPOSER));
    assert!(
        net.state.referenced_blobs().contains(&[7; 32]),
        "graphs are kept"
    );
}

#[test]
fn the_last_round_completes_the_task_and_returns_stakes_and_leftovers() {
    let mut net = Net::new();
    let id = net.running_task();
    for round in 0..2 {
        let ups: Vec<[u8; 32]> = updates()
            .iter()
            .map(|u| [u[0] + 10 * round as u8; 32])
            .collect();
        net.submit_all(id, round, &ups);
        net.commit(id, round, &honest_scores());
        net.reveal(id, round, &honest_scores());
        net.block(
            SCORERS
                .iter()
                .map(|v| {
                    (
                        *v,
                        Action::AttestCheckpoint {
                            task: id,
                            round,
                            model: [50 + round as u8; 32],
                        },
                    )
                })
                .collect(),
        );
    }
    let task = net.state.task(id).unwrap();
    assert_eq!(task.status, TaskStatus::Completed);
    assert_eq!(task.global_model, [51; 32]);
    assert_eq!(task.escrow, 0);
    assert_eq!(
        (task.trainers.len(), task.validators.len()),
        (TRAINERS.len(), SCORERS.len())
    );
    assert!(
        task.trainers
            .values()
            .chain(task.validators.values())
            .all(|m| m.stake == 0)
    );
    // Trainer 23 lost 10% twice (100 then 90) and got its remaining stake back.
    assert_eq!(task.trainers[&pk(23)].penalties, 190);
    assert_eq!(net.held(), net.state.total_supply());
    assert_eq!(net.phase(id), None);
}

#[test]
fn a_validator_that_commits_and_does_not_reveal_is_penalized() {
    let mut net = Net::new();
    let id = net.running_task();
    net.submit_all(id, 0, &updates());
    net.commit(id, 0, &honest_scores());
    // Only the first validator reveals; the phase runs to its deadline.
    net.block(vec![(
        SCORERS[0],
        Action::RevealScores {
            task: id,
            round: 0,
            scores: honest_scores()[0].clone(),
            salt: [SCORERS[0] as u8; 32],
        },
    )]);
    assert_eq!(net.phase(id), Some((0, Phase::RevealScores)));
    net.idle(5);
    let record = net.state.round_record(id, 0).unwrap();
    let silent = record
        .validators
        .iter()
        .find(|v| v.validator == pk(SCORERS[1]))
        .unwrap();
    assert!(!silent.revealed);
    assert_eq!(silent.penalty, 100);
    assert_eq!(silent.reward, 0);
    assert_eq!(net.held(), net.state.total_supply());
}

#[test]
fn no_attestation_quorum_closes_the_round_without_a_checkpoint() {
    let mut net = Net::new();
    let id = net.running_task();
    net.submit_all(id, 0, &updates());
    net.commit(id, 0, &honest_scores());
    net.reveal(id, 0, &honest_scores());
    // The validators disagree: neither hash reaches two thirds of the stake.
    net.block(vec![
        (
            SCORERS[0],
            Action::AttestCheckpoint {
                task: id,
                round: 0,
                model: [1; 32],
            },
        ),
        (
            SCORERS[1],
            Action::AttestCheckpoint {
                task: id,
                round: 0,
                model: [2; 32],
            },
        ),
    ]);
    assert_eq!(net.phase(id), Some((0, Phase::Aggregate)));
    net.idle(5);
    assert_eq!(net.state.round_record(id, 0).unwrap().checkpoint, None);
    let task = net.state.task(id).unwrap();
    assert_eq!(task.global_model, [7; 32], "the global model is unchanged");
    assert_eq!(net.phase(id), Some((1, Phase::Submit)));
}

#[test]
fn an_unapproved_task_is_rejected_at_its_review_deadline_and_refunded() {
    let mut net = Net::new();
    let before = net.state.account(&pk(PROPOSER)).unwrap().balance;
    net.block(vec![(PROPOSER, Action::ProposeTask { spec: spec() })]);
    net.block(vec![(
        21,
        Action::JoinTask {
            task: 1,
            role: Role::Trainer,
            stake: 500,
        },
    )]);
    net.idle(5);
    let task = net.state.task(1).unwrap();
    assert_eq!(task.status, TaskStatus::Rejected);
    assert_eq!(
        net.state.account(&pk(PROPOSER)).unwrap().balance,
        before - 1
    );
    assert_eq!(net.state.account(&pk(21)).unwrap().balance, 10_000 - 1);
    assert_eq!(net.held(), net.state.total_supply());
}

#[test]
fn one_third_voting_no_rejects_the_task() {
    let mut net = Net::new();
    net.block(vec![(PROPOSER, Action::ProposeTask { spec: spec() })]);
    net.block(vec![(
        12,
        Action::VoteTask {
            task: 1,
            validator: pk(102),
            approve: false,
        },
    )]);
    assert_eq!(net.state.task(1).unwrap().status, TaskStatus::Rejected);
}

fn task_error(e: TxError) -> TaskError {
    match e {
        TxError::Task(t) => t,
        other => panic!("expected a task error, got {other:?}"),
    }
}

#[test]
fn bad_task_input_is_rejected_with_a_clear_error_and_changes_nothing() {
    let mut net = Net::new();

    // Impossible parameters.
    let mut bad = spec();
    bad.rule = AggregationRule::Krum { byzantine: 1 };
    let e = task_error(net.reject(PROPOSER, Action::ProposeTask { spec: bad }));
    assert!(
        matches!(e, TaskError::InvalidSpec { field: "rule", .. }),
        "{e}"
    );
    assert!(e.to_string().contains("2f + 3"), "{e}");
    let mut bad = spec();
    bad.reward_pool = 1;
    let e = task_error(net.reject(PROPOSER, Action::ProposeTask { spec: bad }));
    assert!(matches!(
        e,
        TaskError::InvalidSpec {
            field: "reward_pool",
            ..
        }
    ));
    let mut rich = spec();
    rich.reward_pool = 10_000_000;
    assert!(matches!(
        net.reject(PROPOSER, Action::ProposeTask { spec: rich }),
        TxError::InsufficientBalance { .. }
    ));
    assert!(matches!(
        task_error(net.reject(
            21,
            Action::JoinTask {
                task: 9,
                role: Role::Trainer,
                stake: 100
            }
        )),
        TaskError::UnknownTask { task: 9 }
    ));

    let id = net.running_task();
    // Review is over.
    assert!(matches!(
        task_error(net.reject(
            13,
            Action::VoteTask {
                task: id,
                validator: pk(103),
                approve: true
            }
        )),
        TaskError::NotUnderReview { .. }
    ));
    // Stake below the minimum, joining twice.
    assert!(matches!(
        task_error(net.reject(
            PROPOSER,
            Action::JoinTask {
                task: id,
                role: Role::Trainer,
                stake: 99
            }
        )),
        TaskError::StakeTooLow { min: 100, .. }
    ));
    assert!(matches!(
        task_error(net.reject(
            21,
            Action::JoinTask {
                task: id,
                role: Role::Trainer,
                stake: 100
            }
        )),
        TaskError::AlreadyJoined { .. }
    ));

    let submit = |round, update| Action::SubmitUpdate {
        task: id,
        round,
        update,
    };
    // Unregistered trainer.
    assert!(matches!(
        task_error(net.reject(PROPOSER, submit(0, [1; 32]))),
        TaskError::NotRegistered {
            role: "trainer",
            ..
        }
    ));
    // Wrong round.
    assert!(matches!(
        task_error(net.reject(21, submit(1, [1; 32]))),
        TaskError::WrongRound {
            current: 0,
            got: 1,
            ..
        }
    ));
    // The global model itself.
    assert!(matches!(
        task_error(net.reject(21, submit(0, [7; 32]))),
        TaskError::CopyOfGlobal { .. }
    ));
    net.block(vec![(21, submit(0, [1; 32]))]);
    // Twice, and a copy of another trainer's update.
    assert!(matches!(
        task_error(net.reject(21, submit(0, [4; 32]))),
        TaskError::AlreadySubmitted { .. }
    ));
    let e = task_error(net.reject(22, submit(0, [1; 32])));
    assert!(matches!(e, TaskError::CopyOfUpdate { .. }), "{e}");
    // Scores cannot be committed during the submit phase.
    let early = Action::CommitScores {
        task: id,
        round: 0,
        commitment: cairn_types::sha256(&[b"x"]),
    };
    assert!(matches!(
        task_error(net.reject(31, early)),
        TaskError::WrongPhase {
            needed: "commit-scores",
            ..
        }
    ));

    // Let the submit phase expire: a late submission is refused.
    net.idle(5);
    assert_eq!(net.phase(id), Some((0, Phase::CommitScores)));
    let e = task_error(net.reject(22, submit(0, [2; 32])));
    assert!(
        matches!(
            e,
            TaskError::WrongPhase {
                needed: "submit",
                current: "commit-scores",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("too late"));

    // A reveal that does not match its commitment; the wrong number of scores.
    let scores = vec![40_000u16];
    net.commit(id, 0, &[scores.clone(), scores.clone()]);
    assert_eq!(net.phase(id), Some((0, Phase::RevealScores)));
    let revealing = |scores: Vec<u16>, salt: u8| Action::RevealScores {
        task: id,
        round: 0,
        scores,
        salt: [salt; 32],
    };
    let lie = revealing(vec![65_535], 31);
    assert!(matches!(
        task_error(net.reject(31, lie)),
        TaskError::RevealMismatch { .. }
    ));
    let wrong_salt = revealing(scores.clone(), 0);
    assert!(matches!(
        task_error(net.reject(31, wrong_salt)),
        TaskError::RevealMismatch { .. }
    ));
    let too_many = Action::RevealScores {
        task: id,
        round: 0,
        scores: vec![1, 2],
        salt: [31; 32],
    };
    assert!(matches!(
        task_error(net.reject(31, too_many)),
        TaskError::ScoreCount {
            expected: 1,
            got: 2
        }
    ));
    // Another validator's reveal cannot be replayed by a copier: the commitment binds the address.
    let copied = revealing(scores.clone(), 31);
    assert!(matches!(
        task_error(net.reject(32, copied)),
        TaskError::RevealMismatch { .. }
    ));
    // A trainer is not a validator.
    let by_trainer = revealing(scores, 21);
    assert!(matches!(
        task_error(net.reject(21, by_trainer)),
        TaskError::NotRegistered {
            role: "validator",
            ..
        }
    ));
    assert_eq!(net.held(), net.state.total_supply());
}

#[test]
fn a_hot_key_may_submit_but_not_stake() {
    let mut net = Net::new();
    let id = net.running_task();
    let hot = 77;
    net.block(vec![(21, crate::link_hot(21, hot))]);
    net.block(vec![(
        PROPOSER,
        Action::Transfer {
            to: pk(hot),
            amount: 10,
        },
    )]);
    // The hot key has a balance now, but linking happened before: it acts for trainer 21.
    net.block(vec![(
        hot,
        Action::SubmitUpdate {
            task: id,
            round: 0,
            update: [5; 32],
        },
    )]);
    let round = net.state.task(id).unwrap().round.unwrap();
    assert_eq!(round.submissions[0].trainer, pk(21));
    assert!(matches!(
        net.reject(
            hot,
            Action::JoinTask {
                task: id,
                role: Role::Validator,
                stake: 100
            }
        ),
        TxError::HotKeyNotAllowed { .. }
    ));
}

#[test]
fn snapshots_carry_tasks_mid_round() {
    let mut net = Net::new();
    let id = net.running_task();
    net.submit_all(id, 0, &updates());
    net.commit(id, 0, &honest_scores());
    let bytes = net.state.encode_snapshot();
    let restored = State::decode_snapshot(&bytes).expect("snapshot decodes");
    assert_eq!(restored.root(), net.state.root());
    assert_eq!(restored.task(id), net.state.task(id));
}

#[test]
fn a_rejected_block_leaves_tasks_untouched() {
    let mut net = Net::new();
    let id = net.running_task();
    let root = net.state.root();
    let good = net.sign(
        21,
        Action::SubmitUpdate {
            task: id,
            round: 0,
            update: [1; 32],
        },
    );
    let bad = net.sign(
        22,
        Action::SubmitUpdate {
            task: id,
            round: 0,
            update: [1; 32],
        },
    );
    let h = net.height() + 1;
    let err = net
        .state
        .execute_block(h, &pk(101), &[good, bad], &[])
        .unwrap_err();
    assert!(err.to_string().contains("identical to trainer"), "{err}");
    assert_eq!(net.state.root(), root);
    assert!(
        net.state
            .task(id)
            .unwrap()
            .round
            .unwrap()
            .submissions
            .is_empty()
    );
}

#[test]
fn when_no_validator_reveals_trainers_are_not_penalized() {
    let mut net = Net::new();
    let id = net.running_task();
    net.submit_all(id, 0, &updates());
    net.commit(id, 0, &honest_scores());
    // Nobody reveals: the reveal phase runs to its deadline.
    net.idle(5);
    let record = net.state.round_record(id, 0).unwrap();
    assert_eq!(record.outcomes.len(), TRAINERS.len());
    assert_eq!(record.validators.len(), SCORERS.len());
    assert!(
        record
            .outcomes
            .iter()
            .all(|o| o.penalty == 0 && !o.accepted && o.reward == 0)
    );
    assert!(
        record
            .validators
            .iter()
            .all(|v| !v.revealed && v.penalty == 100)
    );
    assert_eq!(record.checkpoint, None);
    assert_eq!(net.phase(id), Some((1, Phase::Submit)));
    assert_eq!(net.held(), net.state.total_supply());
}

#[test]
fn too_few_accepted_updates_for_krum_close_the_round_without_a_checkpoint() {
    let mut net = Net::new();
    let mut krum = spec();
    krum.rule = AggregationRule::Krum { byzantine: 0 };
    net.running_task_with(krum);
    net.submit_all(1, 0, &updates());
    net.commit(1, 0, &honest_scores());
    net.reveal(1, 0, &honest_scores());
    // Two accepted updates; Krum with f = 0 needs three: no aggregate phase, rewards still paid.
    let record = net.state.round_record(1, 0).unwrap();
    assert_eq!(record.outcomes.iter().filter(|o| o.accepted).count(), 2);
    assert_eq!(record.checkpoint, None);
    assert!(record.outcomes[0].reward > 0);
    assert_eq!(net.phase(1), Some((1, Phase::Submit)));
    assert_eq!(net.state.task(1).unwrap().global_model, [7; 32]);
}
