//! Block execution: atomicity, heights, slashing and epoch boundaries.

use crate::*;
use cairn_state::{BlockError, TxError};
use cairn_types::{Evidence, EvidenceKind};

fn evidence(offender: u64, epoch: u64, view: u64) -> Evidence {
    Evidence {
        kind: EvidenceKind::ConflictingNotarize,
        offender: pk(offender),
        epoch,
        view,
        proof: vec![1, 2, 3],
    }
}

#[test]
fn failing_tx_leaves_state_untouched() {
    let mut s = fixture();
    let root = s.root();
    let snapshot = s.encode_snapshot();
    let txs = [
        transfer(ALICE, 0, BOB, 10),
        transfer(BOB, 3, ALICE, 10), // future nonce
        transfer(ALICE, 1, BOB, 10),
    ];
    let err = s
        .execute_block(1, &pk(VAL1), &txs, &[evidence(VAL2, 0, 1)])
        .unwrap_err();
    let expected = TxError::FutureNonce {
        account: pk(BOB),
        expected: 0,
        got: 3,
    };
    assert_eq!(
        err,
        BlockError::InvalidTx {
            index: 1,
            error: expected
        }
    );
    assert_eq!(s.root(), root);
    assert_eq!(s.encode_snapshot(), snapshot);
    assert_eq!(s.height(), 0);
    assert!(s.slashes().is_empty());
    // The same block without the bad tx then executes.
    s.execute_block(1, &pk(VAL1), &[txs[0].clone(), txs[2].clone()], &[])
        .unwrap();
    assert_eq!(s.account(&pk(ALICE)).unwrap().nonce, 2);
}

#[test]
fn wrong_height_is_rejected() {
    let mut s = fixture();
    let root = s.root();
    assert_eq!(
        s.execute_block(2, &pk(VAL1), &[], &[]),
        Err(BlockError::WrongHeight {
            expected: 1,
            got: 2
        })
    );
    assert_eq!(
        s.execute_block(0, &pk(VAL1), &[], &[]),
        Err(BlockError::WrongHeight {
            expected: 1,
            got: 0
        })
    );
    assert_eq!(s.root(), root);
}

#[test]
fn empty_block_changes_root_through_height() {
    let mut s = fixture();
    let root = s.root();
    block(&mut s, &[]);
    assert_ne!(s.root(), root);
}

#[test]
fn slashing_burns_jails_and_removes_from_set() {
    let mut s = fixture();
    // VAL2: self 20_000, plus Alice 3_000 and Bob 1_001 delegated: total 24_001.
    block(
        &mut s,
        &[bond(ALICE, 0, VAL2, 3_000), bond(BOB, 0, VAL2, 1_001)],
    );
    assert!(
        s.compute_validator_set()
            .iter()
            .any(|(k, _)| *k == pk(VAL2))
    );
    let supply = s.total_supply();
    s.execute_block(2, &pk(VAL1), &[], &[evidence(VAL2, 0, 7)])
        .unwrap();

    let amount = 24_001 * 500 / 10_000; // 1_200 (floor of 1_200.05)
    assert_eq!(amount, 1_200);
    assert_eq!(s.total_supply(), supply - amount);
    let v = s.validator(&pk(VAL2)).unwrap();
    assert!(v.jailed);
    assert_eq!(v.slashed_total, amount);
    // Alice: floor(3000*1200/24001) = 149; Bob: floor(1001*1200/24001) = 50; self: the rest.
    assert_eq!(s.delegation(&pk(ALICE), &pk(VAL2)), 3_000 - 149);
    assert_eq!(s.delegation(&pk(BOB), &pk(VAL2)), 1_001 - 50);
    assert_eq!(v.self_bond, 20_000 - (1_200 - 149 - 50));
    assert_eq!(v.delegated, 4_001 - 199);
    assert_eq!(v.total_bond(), 24_001 - amount);
    let owners = [ALICE, BOB, OP1, OP2, OP3].map(pk);
    assert_eq!(held_tokens(&s, &owners), s.total_supply());

    let events = s.slashes();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].offender.clone(), events[0].epoch, events[0].view),
        (pk(VAL2), 0, 7)
    );
    assert_eq!(
        (events[0].amount, events[0].height, events[0].kind),
        (amount, 2, EvidenceKind::ConflictingNotarize)
    );

    // Jailed: out of the computed set, which now takes VAL3.
    let set: Vec<PublicKey> = s
        .compute_validator_set()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let mut want = vec![pk(VAL1), pk(VAL3)];
    want.sort();
    assert_eq!(set, want);

    // The same evidence again is an error, not a second slash.
    let root = s.root();
    let dup = s.execute_block(3, &pk(VAL1), &[], &[evidence(VAL2, 0, 7)]);
    assert_eq!(
        dup,
        Err(BlockError::DuplicateEvidence {
            offender: pk(VAL2),
            epoch: 0,
            view: 7
        })
    );
    assert_eq!(s.root(), root);
    assert_eq!(s.total_supply(), supply - amount);
}

#[test]
fn duplicate_evidence_within_one_block_is_rejected() {
    let mut s = fixture();
    let root = s.root();
    let err = s.execute_block(
        1,
        &pk(VAL1),
        &[],
        &[evidence(VAL1, 0, 3), evidence(VAL1, 0, 3)],
    );
    assert_eq!(
        err,
        Err(BlockError::DuplicateEvidence {
            offender: pk(VAL1),
            epoch: 0,
            view: 3
        })
    );
    assert_eq!(s.root(), root);
    // Another view is another offence.
    s.execute_block(
        1,
        &pk(VAL1),
        &[],
        &[evidence(VAL1, 0, 3), evidence(VAL1, 0, 4)],
    )
    .unwrap();
    assert_eq!(s.slashes().len(), 2);
}

#[test]
fn unknown_offender_is_rejected() {
    let mut s = fixture();
    let root = s.root();
    let err = s.execute_block(1, &pk(VAL1), &[], &[evidence(999, 0, 1)]);
    assert_eq!(err, Err(BlockError::UnknownOffender { offender: pk(999) }));
    assert_eq!(s.root(), root);
}

#[test]
fn slash_with_empty_self_bond_takes_from_delegations() {
    let mut s = fixture();
    block(
        &mut s,
        &[
            bond(ALICE, 0, VAL3, 333),
            bond(BOB, 0, VAL3, 667),
            unbond(OP3, 0, VAL3, 5_000),
        ],
    );
    // The self-bond left in epoch 0; the evidence is of epoch 1, so only the delegations
    // were at stake (the unbonding matured at the epoch's end).
    while s.epoch() == 0 {
        block(&mut s, &[]);
    }
    let supply = s.total_supply();
    let h = s.height() + 1;
    s.execute_block(h, &pk(VAL1), &[], &[evidence(VAL3, 1, 1)])
        .unwrap();
    let v = s.validator(&pk(VAL3)).unwrap();
    assert_eq!(v.slashed_total, 50);
    assert_eq!(v.self_bond, 0);
    assert_eq!(v.total_bond(), 950);
    assert_eq!(s.total_supply(), supply - 50);
    let delegated = s.delegation(&pk(ALICE), &pk(VAL3)) + s.delegation(&pk(BOB), &pk(VAL3));
    assert_eq!(delegated, 950);
    assert!(
        s.unbondings_of(&pk(OP3)).is_empty(),
        "the epoch-0 unbonding matured whole"
    );
}

#[test]
fn epoch_boundary_swaps_active_set() {
    let mut s = fixture();
    let sorted = |mut v: Vec<PublicKey>| {
        v.sort();
        v
    };
    let keys = |set: Vec<(PublicKey, Amount)>| set.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    let genesis_set = sorted(vec![pk(VAL1), pk(VAL2)]);
    assert_eq!(keys(s.active_validator_set()), genesis_set);
    assert_eq!(s.epoch(), 0);

    // VAL3 overtakes VAL1 at height 1; the active set only follows when height 4, the last
    // block of epoch 0 (heights 0..=4), fixes epoch 1's set.
    block(&mut s, &[bond(ALICE, 0, VAL3, 50_000)]);
    let next = sorted(vec![pk(VAL2), pk(VAL3)]);
    assert_eq!(keys(s.compute_validator_set()), next);
    for _ in 2..4 {
        block(&mut s, &[]);
        assert_eq!(keys(s.active_validator_set()), genesis_set);
        assert_eq!(s.epoch(), 0);
    }
    block(&mut s, &[]);
    assert_eq!(s.height(), 4);
    assert_eq!(s.epoch(), 1);
    assert_eq!(cairn_state::next_epoch_after(4, 5), Some(1));
    assert_eq!(cairn_state::next_epoch_after(5, 5), None);
    assert_eq!(cairn_state::epoch_after(9, 5), 2);
    assert_eq!(keys(s.active_validator_set()), next);
    let val3 = s
        .active_validator_set()
        .into_iter()
        .find(|(k, _)| *k == pk(VAL3))
        .unwrap();
    assert_eq!(val3.1, 55_000);
}

#[test]
fn too_much_evidence_is_rejected() {
    let mut s = fixture();
    let items: Vec<Evidence> = (0..=cairn_types::limits::BLOCK_EVIDENCE_MAX as u64)
        .map(|v| evidence(VAL1, 0, v))
        .collect();
    let err = s.execute_block(1, &pk(VAL1), &[], &items);
    assert!(matches!(err, Err(BlockError::TooMuchEvidence { .. })));
}

#[test]
fn a_validator_created_by_transaction_joins_at_the_next_boundary_and_leaves_by_unbonding() {
    const NEW: u64 = 104;
    let mut net = crate::Net::with_accounts(&[(ALICE, 1_000_000), (BOB, 500_000), (OP1, 100_000)]);
    let keys = |s: &cairn_state::State| {
        s.active_validator_set()
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>()
    };
    let create = |bond: Amount, pop: cairn_types::Signature| cairn_types::Action::CreateValidator {
        consensus_key: pk(NEW),
        moniker: "newcomer".into(),
        self_bond: bond,
        proof_of_possession: pop,
    };
    let pop = cairn_types::sign_validator_pop(&key(NEW), &pk(BOB));

    // Bad input first: each refused with a reason, nothing changed.
    let forged = cairn_types::sign_validator_pop(&key(NEW), &pk(ALICE));
    assert!(matches!(
        net.reject(BOB, create(15_000, forged)),
        TxError::BadProofOfPossession
    ));
    assert!(matches!(
        net.reject(BOB, create(999, pop.clone())),
        TxError::SelfBondTooLow {
            bond: 999,
            min: 1_000
        }
    ));
    assert!(matches!(
        net.reject(BOB, create(600_000, pop.clone())),
        TxError::InsufficientBalance { .. }
    ));
    let existing = cairn_types::Action::CreateValidator {
        consensus_key: pk(VAL1),
        moniker: "again".into(),
        self_bond: 5_000,
        proof_of_possession: cairn_types::sign_validator_pop(&key(VAL1), &pk(BOB)),
    };
    assert!(matches!(
        net.reject(BOB, existing),
        TxError::ValidatorExists { .. }
    ));

    // Created at height 1 with a bond that outranks VAL1: in the set that height 4, the last
    // block of epoch 0, fixes for epoch 1.
    net.block(vec![(BOB, create(15_000, pop))]);
    let v = net
        .state
        .validators()
        .into_iter()
        .find(|v| v.consensus_key == pk(NEW))
        .unwrap();
    assert_eq!((v.operator.clone(), v.self_bond), (pk(BOB), 15_000));
    assert!(!keys(&net.state).contains(&pk(NEW)));
    net.idle(4 - net.height() % 5);
    assert_eq!(net.height() % 5, 4, "the last block of an epoch");
    assert!(
        keys(&net.state).contains(&pk(NEW)),
        "joined at the boundary"
    );
    assert!(!keys(&net.state).contains(&pk(VAL1)), "the weakest left");

    // Unbonding below the minimum takes it out at the following boundary.
    net.block(vec![(
        BOB,
        cairn_types::Action::Unbond {
            validator: pk(NEW),
            amount: 14_500,
        },
    )]);
    net.idle(4 - net.height() % 5);
    assert!(!keys(&net.state).contains(&pk(NEW)), "left after unbonding");
    assert!(keys(&net.state).contains(&pk(VAL1)));
    let copy = cairn_state::State::decode_snapshot(&net.state.encode_snapshot()).unwrap();
    assert_eq!(copy.root(), net.state.root());
}
