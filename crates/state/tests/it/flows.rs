//! Transfers, staking, unbonding maturity and hot keys, end to end through blocks.

use crate::rejections::link_and_fund;
use crate::*;
use cairn_state::TxError;

fn owners() -> Vec<Address> {
    [ALICE, BOB, OP1, OP2, OP3, 50, 60].map(pk).to_vec()
}

#[test]
fn transfer_moves_tokens_pays_fee_and_creates_recipient() {
    let mut s = fixture();
    let supply = s.total_supply();
    let t = tx(
        ALICE,
        0,
        7,
        Action::Transfer {
            to: pk(60),
            amount: 1_000,
        },
    );
    let receipts = s
        .execute_block(1, &pk(VAL2), std::slice::from_ref(&t), &[])
        .unwrap();
    assert_eq!(receipts.len(), 1);
    let r = &receipts[0];
    assert_eq!(
        (r.tx_hash, r.height, r.index, r.fee, r.action),
        (t.hash(), 1, 0, 7, "transfer")
    );
    assert_eq!(r.account, pk(ALICE));
    assert_eq!(
        s.account(&pk(ALICE)).unwrap(),
        cairn_state::Account {
            balance: 1_000_000 - 1_007,
            nonce: 1
        }
    );
    assert_eq!(
        s.account(&pk(60)).unwrap(),
        cairn_state::Account {
            balance: 1_000,
            nonce: 0
        }
    );
    // The fee goes to the proposer's operator.
    assert_eq!(balance(&s, &pk(OP2)), 100_007);
    assert_eq!(s.total_supply(), supply);
    assert_eq!(held_tokens(&s, &owners()), supply);
    assert_eq!(s.height(), 1);
}

#[test]
fn fee_is_burnt_when_proposer_is_unknown() {
    let mut s = fixture();
    let supply = s.total_supply();
    s.execute_block(1, &pk(999), &[transfer(ALICE, 0, BOB, 10)], &[])
        .unwrap();
    assert_eq!(s.total_supply(), supply - 1);
    assert_eq!(held_tokens(&s, &owners()), supply - 1);
}

#[test]
fn bond_self_and_delegate() {
    let mut s = fixture();
    block(
        &mut s,
        &[bond(OP1, 0, VAL1, 500), bond(ALICE, 0, VAL1, 300)],
    );
    let v = s.validator(&pk(VAL1)).unwrap();
    assert_eq!(
        (v.self_bond, v.delegated, v.total_bond()),
        (10_500, 300, 10_800)
    );
    assert_eq!(s.delegation(&pk(ALICE), &pk(VAL1)), 300);
    assert_eq!(s.delegation(&pk(OP1), &pk(VAL1)), 0);
    assert_eq!(balance(&s, &pk(ALICE)), 1_000_000 - 301);
    assert_eq!(held_tokens(&s, &owners()), s.total_supply());
}

#[test]
fn unbond_matures_after_the_period() {
    let mut s = fixture();
    block(&mut s, &[bond(ALICE, 0, VAL1, 300)]);
    block(&mut s, &[unbond(ALICE, 1, VAL1, 200)]);
    let pending = s.unbondings_of(&pk(ALICE));
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].amount, pending[0].matures_at),
        (200, 2 + params().unbonding_period_blocks)
    );
    assert_eq!(pending[0].validator, pk(VAL1));
    assert_eq!(s.delegation(&pk(ALICE), &pk(VAL1)), 100);
    assert_eq!(s.validator(&pk(VAL1)).unwrap().delegated, 100);
    let before = balance(&s, &pk(ALICE));
    block(&mut s, &[]);
    block(&mut s, &[]);
    assert_eq!(balance(&s, &pk(ALICE)), before, "not matured at height 4");
    block(&mut s, &[]);
    assert_eq!(s.height(), 5);
    assert_eq!(balance(&s, &pk(ALICE)), before + 200);
    assert!(s.unbondings_of(&pk(ALICE)).is_empty());
    assert_eq!(held_tokens(&s, &owners()), s.total_supply());
}

#[test]
fn operator_unbonds_self_bond() {
    let mut s = fixture();
    block(&mut s, &[unbond(OP3, 0, VAL3, 4_500)]);
    assert_eq!(s.validator(&pk(VAL3)).unwrap().self_bond, 500);
    assert!(
        s.compute_validator_set()
            .iter()
            .all(|(k, _)| *k != pk(VAL3))
    );
}

#[test]
fn hot_key_link_and_leaked_hot_key_cannot_move_stake() {
    let mut s = fixture();
    block(&mut s, &[bond(OP1, 0, VAL1, 1)]);
    link_and_fund(&mut s, OP1, 1, 50);
    assert_eq!(s.hot_key_owner(&pk(50)), Some(pk(OP1)));
    assert_eq!(s.hot_keys_of(&pk(OP1)), vec![pk(50)]);

    // A leaked hot key can neither unbond, bond, transfer nor link another key.
    let root = s.root();
    for action in [
        Action::Unbond {
            validator: pk(VAL1),
            amount: 1,
        },
        Action::Bond {
            validator: pk(VAL1),
            amount: 1,
        },
        Action::Transfer {
            to: pk(999),
            amount: 1,
        },
        crate::link_hot(OP1, 61),
        Action::UnlinkHotKey { hot: pk(51) },
    ] {
        let name = action.name();
        let err = s
            .execute_block(s.height() + 1, &pk(VAL1), &[tx(50, 0, 1, action)], &[])
            .unwrap_err();
        let expected = TxError::HotKeyNotAllowed {
            action: name,
            cold: pk(OP1),
        };
        assert_eq!(
            err,
            cairn_state::BlockError::InvalidTx {
                index: 0,
                error: expected
            }
        );
    }
    assert_eq!(s.root(), root);

    // The operational action is allowed: it acts on the cold account, the hot key pays.
    let hot_before = balance(&s, &pk(50));
    let cold_before = s.account(&pk(OP1)).unwrap();
    let set = tx(
        50,
        0,
        1,
        Action::SetValidatorMoniker {
            validator: pk(VAL1),
            moniker: "hot".into(),
        },
    );
    let receipts = s
        .execute_block(s.height() + 1, &pk(VAL2), &[set], &[])
        .unwrap();
    assert_eq!(receipts[0].account, pk(OP1));
    assert_eq!(receipts[0].signer, pk(50));
    assert_eq!(s.validator(&pk(VAL1)).unwrap().moniker, "hot");
    assert_eq!(balance(&s, &pk(50)), hot_before - 1);
    assert_eq!(s.account(&pk(OP1)).unwrap(), cold_before);
    assert_eq!(s.account(&pk(50)).unwrap().nonce, 1);

    // After unlinking, the key is an ordinary account again.
    block(
        &mut s,
        &[tx(OP1, 3, 1, Action::UnlinkHotKey { hot: pk(50) })],
    );
    assert_eq!(s.hot_key_owner(&pk(50)), None);
    assert!(s.hot_keys_of(&pk(OP1)).is_empty());
    block(&mut s, &[transfer(50, 1, BOB, 10)]);
}

#[test]
fn a_hot_key_can_unlink_itself() {
    let mut s = fixture();
    link_and_fund(&mut s, OP1, 0, 50);
    // It may not unlink another account's hot key, only itself.
    link_and_fund(&mut s, OP2, 0, 52);
    let other = tx(50, 0, 1, Action::UnlinkHotKey { hot: pk(52) });
    assert!(matches!(
        s.check_tx(&other),
        Err(TxError::HotKeyNotAllowed { .. })
    ));
    block(&mut s, &[tx(50, 0, 1, Action::UnlinkHotKey { hot: pk(50) })]);
    assert_eq!(s.hot_key_owner(&pk(50)), None);
    assert_eq!(s.hot_key_owner(&pk(52)), Some(pk(OP2)));
}

#[test]
fn moniker_by_cold_operator() {
    let mut s = fixture();
    block(
        &mut s,
        &[tx(
            OP2,
            0,
            1,
            Action::SetValidatorMoniker {
                validator: pk(VAL2),
                moniker: "two".into(),
            },
        )],
    );
    assert_eq!(s.validator(&pk(VAL2)).unwrap().moniker, "two");
}

#[test]
fn apply_tx_then_check_tx_sees_new_nonce() {
    let mut s = fixture();
    let t = transfer(ALICE, 0, BOB, 10);
    s.check_tx(&t).unwrap();
    s.apply_tx(&t, &pk(VAL1), 1, 0).unwrap();
    assert!(matches!(s.check_tx(&t), Err(TxError::StaleNonce { .. })));
    s.check_tx(&transfer(ALICE, 1, BOB, 10)).unwrap();
}
