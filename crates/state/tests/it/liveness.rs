//! Inactivity: leader slots consensus skipped are charged to their leaders; the epoch's last
//! block jails those that missed too many (at most a third of the set); `Unjail` brings them
//! back after they sat out an epoch, and never a validator jailed for equivocation.

use crate::{genesis_of, pk, tx};
use cairn_state::{BlockError, State, TxError};
use cairn_types::{Action, Evidence, EvidenceKind, Params, PublicKey};

const OPS: [u64; 4] = [11, 12, 13, 14];
const VALS: [u64; 4] = [101, 102, 103, 104];
const EPOCH: u64 = 10;

fn four_validators() -> State {
    let params = Params {
        unbonding_period_blocks: 3,
        slash_fraction_bps: 500,
        min_fee: 1,
        epoch_length_blocks: EPOCH,
        validators_max: 4,
        validator_bond_min: 1_000,
    };
    let accounts: Vec<(u64, u64)> = OPS.iter().map(|op| (*op, 100_000)).collect();
    let validators: Vec<(u64, u64, u64)> = VALS
        .iter()
        .zip(OPS)
        .map(|(v, op)| (*v, op, 10_000))
        .collect();
    State::from_genesis(&genesis_of(&accounts, &validators, params)).expect("valid genesis")
}

fn active(s: &State) -> Vec<PublicKey> {
    s.active_validator_set()
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

/// One block proposed by VAL1 that charges `missed`.
#[allow(clippy::result_large_err)] // the state's own error type, as its API returns it
fn block(
    s: &mut State,
    missed: &[PublicKey],
    txs: &[cairn_types::SignedTx],
) -> Result<(), BlockError> {
    let height = s.height() + 1;
    s.execute_block_with_misses(height, &pk(VALS[0]), missed, txs, &[])
        .map(|_| ())
}

fn to_epoch_end(s: &mut State) {
    while !(s.height() + 1).is_multiple_of(EPOCH) {
        block(s, &[], &[]).unwrap();
    }
}

fn unjail(op: u64, nonce: u64, validator: u64) -> cairn_types::SignedTx {
    tx(
        op,
        nonce,
        1,
        Action::Unjail {
            validator: pk(validator),
        },
    )
}

#[test]
fn a_validator_that_misses_its_slots_is_jailed_at_the_epoch_end_and_unjails_after_an_epoch() {
    let mut s = four_validators();
    let (absent, op) = (pk(VALS[3]), OPS[3]);
    // Threshold: max(3, 10 / (2 · 4)) = 3 missed slots in the epoch.
    block(&mut s, &[absent.clone(), absent.clone()], &[]).unwrap();
    assert_eq!(s.liveness(&absent).unwrap().missed, 2);
    // A key outside the active set is not charged.
    block(&mut s, &[pk(999)], &[]).unwrap();
    assert!(s.liveness(&pk(999)).is_none());
    // Two misses are tolerated: counts restart each epoch.
    to_epoch_end(&mut s);
    assert!(active(&s).contains(&absent));
    assert!(
        s.liveness(&absent).is_none(),
        "counts reset at the epoch end"
    );

    // Three misses in the next epoch: jailed at its last block, out of the next set.
    let root = s.root();
    for _ in 0..3 {
        block(&mut s, std::slice::from_ref(&absent), &[]).unwrap();
    }
    assert_ne!(s.root(), root);
    to_epoch_end(&mut s);
    let boundary = s.height();
    assert!(s.validator(&absent).unwrap().jailed);
    assert_eq!(s.liveness(&absent).unwrap().jailed_at, Some(boundary));
    assert!(!active(&s).contains(&absent));
    assert_eq!(active(&s).len(), 3);
    // Its peers still admit it: it must catch up to come back.
    assert!(s.peer_keys().contains(&absent));

    // Unjail: not the operator, too early, then fine after a whole epoch.
    block(&mut s, &[], &[]).unwrap();
    let err = s.check_tx(&unjail(OPS[0], 0, VALS[3])).unwrap_err();
    assert!(matches!(err, TxError::NotOperator { .. }), "{err}");
    let err = s.check_tx(&unjail(op, 0, VALS[3])).unwrap_err();
    assert!(
        matches!(err, TxError::UnjailTooEarly { height, .. } if height == boundary + EPOCH),
        "{err}"
    );
    let err = s.check_tx(&unjail(OPS[0], 0, VALS[0])).unwrap_err();
    assert!(
        matches!(err, TxError::NotJailedForInactivity { .. }),
        "{err}"
    );
    // (The first height allowed, boundary + EPOCH, is itself an epoch's last block; unjail
    // one block later so the set change waits for the next boundary.)
    while s.height() < boundary + EPOCH {
        block(&mut s, &[], &[]).unwrap();
    }
    block(&mut s, &[], &[unjail(op, 0, VALS[3])]).unwrap();
    assert!(!s.validator(&absent).unwrap().jailed);
    assert!(s.liveness(&absent).is_none());
    // Back in the set from the next epoch.
    assert!(!active(&s).contains(&absent));
    to_epoch_end(&mut s);
    assert!(active(&s).contains(&absent));

    let copy = State::decode_snapshot(&s.encode_snapshot()).unwrap();
    assert_eq!(copy.root(), s.root());
}

#[test]
fn at_most_a_third_of_the_set_is_jailed_at_once_the_most_absent_first() {
    let mut s = four_validators();
    let (a, b) = (pk(VALS[2]), pk(VALS[3]));
    for _ in 0..4 {
        block(&mut s, &[a.clone(), b.clone(), b.clone()], &[]).unwrap();
    }
    // Mid-epoch snapshot carries the counts.
    let copy = State::decode_snapshot(&s.encode_snapshot()).unwrap();
    assert_eq!(copy.liveness(&b).unwrap().missed, 8);
    to_epoch_end(&mut s);
    assert!(s.validator(&b).unwrap().jailed, "the most absent is jailed");
    assert!(
        !s.validator(&a).unwrap().jailed,
        "(4 − 1) / 3 = 1 jailed per epoch"
    );
    assert_eq!(active(&s).len(), 3);
}

#[test]
fn an_equivocator_cannot_unjail_and_too_many_misses_reject_the_block() {
    let mut s = four_validators();
    let absent = pk(VALS[3]);
    for _ in 0..3 {
        block(&mut s, std::slice::from_ref(&absent), &[]).unwrap();
    }
    to_epoch_end(&mut s);
    assert_eq!(s.liveness(&absent).unwrap().jailed_at, Some(s.height()));
    // Evidence of equivocation while jailed for inactivity: the fault jail is final.
    let evidence = Evidence {
        kind: EvidenceKind::ConflictingNotarize,
        offender: absent.clone(),
        epoch: 1,
        view: 3,
        proof: vec![1],
    };
    let height = s.height() + 1;
    s.execute_block(height, &pk(VALS[0]), &[], &[evidence])
        .unwrap();
    assert_eq!(s.liveness(&absent), None);
    assert!(
        !s.peer_keys().contains(&absent),
        "an equivocator is not admitted"
    );
    for _ in 0..EPOCH {
        block(&mut s, &[], &[]).unwrap();
    }
    let err = s.check_tx(&unjail(OPS[3], 0, VALS[3])).unwrap_err();
    assert!(
        matches!(err, TxError::NotJailedForInactivity { .. }),
        "{err}"
    );

    // A block charging more slots than the bound is refused, the state untouched.
    let root = s.root();
    let missed = vec![pk(VALS[0]); cairn_state::MISSED_SLOTS_PER_BLOCK_MAX + 1];
    let err = block(&mut s, &missed, &[]).unwrap_err();
    assert!(
        matches!(err, BlockError::TooManyMissedSlots { .. }),
        "{err}"
    );
    assert_eq!(s.root(), root);
}
