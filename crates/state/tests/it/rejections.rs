//! One test per `TxError` variant: the exact variant, and no trace in the state.

use crate::*;
use cairn_state::TxError;
use cairn_types::limits;

/// Asserts both `check_tx` and `apply_tx` reject `tx` with exactly `expected`, and that the
/// root, every fixture balance and the whole snapshot are unchanged.
fn assert_rejected(state: &mut State, tx: &SignedTx, expected: TxError) {
    let root = state.root();
    let snapshot = state.encode_snapshot();
    let owners: Vec<Address> = [ALICE, BOB, OP1, OP2, OP3].map(pk).to_vec();
    let balances: Vec<Amount> = owners.iter().map(|a| balance(state, a)).collect();
    assert_eq!(state.check_tx(tx), Err(expected.clone()));
    assert_eq!(
        state.apply_tx(tx, &pk(VAL1), state.height() + 1, 0),
        Err(expected)
    );
    assert_eq!(state.root(), root);
    assert_eq!(
        owners.iter().map(|a| balance(state, a)).collect::<Vec<_>>(),
        balances
    );
    assert_eq!(state.encode_snapshot(), snapshot);
}

#[test]
fn too_large() {
    let mut s = fixture();
    let moniker = "x".repeat(limits::TX_SIZE_MAX_BYTES);
    let t = tx(
        OP1,
        0,
        1,
        Action::SetValidatorMoniker {
            validator: pk(VAL1),
            moniker,
        },
    );
    let size = commonware_codec::EncodeSize::encode_size(&t);
    assert_rejected(
        &mut s,
        &t,
        TxError::TooLarge {
            size,
            max: limits::TX_SIZE_MAX_BYTES,
        },
    );
}

#[test]
fn wrong_chain_id() {
    let mut s = fixture();
    let t = Transaction {
        chain_id: "other".into(),
        signer: pk(ALICE),
        nonce: 0,
        fee: 1,
        action: Action::Transfer {
            to: pk(BOB),
            amount: 5,
        },
    }
    .sign(&key(ALICE));
    let expected = TxError::WrongChainId {
        expected: CHAIN.into(),
        got: "other".into(),
    };
    assert_rejected(&mut s, &t, expected);
}

#[test]
fn bad_signature() {
    let mut s = fixture();
    let body = Transaction {
        chain_id: CHAIN.into(),
        signer: pk(ALICE),
        nonce: 0,
        fee: 1,
        action: Action::Transfer {
            to: pk(BOB),
            amount: 5,
        },
    };
    let t = body.sign(&key(BOB));
    assert_rejected(&mut s, &t, TxError::BadSignature { signer: pk(ALICE) });
}

#[test]
fn unknown_account() {
    let mut s = fixture();
    let t = transfer(999, 0, BOB, 5);
    assert_rejected(&mut s, &t, TxError::UnknownAccount { address: pk(999) });
}

#[test]
fn stale_nonce() {
    let mut s = fixture();
    let first = transfer(ALICE, 0, BOB, 5);
    block(&mut s, std::slice::from_ref(&first));
    let expected = TxError::StaleNonce {
        account: pk(ALICE),
        expected: 1,
        got: 0,
    };
    assert!(
        expected.to_string().contains("nonce 0 is stale"),
        "{expected}"
    );
    assert_rejected(&mut s, &first, expected);
}

#[test]
fn future_nonce() {
    let mut s = fixture();
    let t = transfer(ALICE, 7, BOB, 5);
    assert_rejected(
        &mut s,
        &t,
        TxError::FutureNonce {
            account: pk(ALICE),
            expected: 0,
            got: 7,
        },
    );
}

#[test]
fn fee_too_low() {
    let mut s = fixture();
    let t = tx(
        ALICE,
        0,
        0,
        Action::Transfer {
            to: pk(BOB),
            amount: 5,
        },
    );
    assert_rejected(&mut s, &t, TxError::FeeTooLow { fee: 0, min: 1 });
}

/// Links hot key `hot` to `cold` and funds it for fees (two blocks).
pub fn link_and_fund(s: &mut State, cold: u64, cold_nonce: u64, hot: u64) {
    let link = tx(cold, cold_nonce, 1, crate::link_hot(cold, hot));
    let fund = transfer(cold, cold_nonce + 1, hot, 100);
    block(s, &[link, fund]);
}

#[test]
fn hot_key_not_allowed() {
    let mut s = fixture();
    link_and_fund(&mut s, ALICE, 0, 50);
    let t = transfer(50, 0, BOB, 5);
    let expected = TxError::HotKeyNotAllowed {
        action: "transfer",
        cold: pk(ALICE),
    };
    assert_rejected(&mut s, &t, expected);
}

#[test]
fn insufficient_balance() {
    let mut s = fixture();
    let t = transfer(BOB, 0, ALICE, 500_000);
    assert_rejected(
        &mut s,
        &t,
        TxError::InsufficientBalance {
            needed: 500_001,
            available: 500_000,
        },
    );
}

#[test]
fn unknown_validator() {
    let mut s = fixture();
    let t = bond(ALICE, 0, 777, 10);
    assert_rejected(&mut s, &t, TxError::UnknownValidator { validator: pk(777) });
}

#[test]
fn insufficient_bond() {
    let mut s = fixture();
    block(&mut s, &[bond(ALICE, 0, VAL1, 100)]);
    let t = unbond(ALICE, 1, VAL1, 101);
    assert_rejected(
        &mut s,
        &t,
        TxError::InsufficientBond {
            bonded: 100,
            requested: 101,
        },
    );
    let own = unbond(OP1, 0, VAL1, 10_001);
    assert_rejected(
        &mut s,
        &own,
        TxError::InsufficientBond {
            bonded: 10_000,
            requested: 10_001,
        },
    );
}

#[test]
fn zero_amount() {
    let mut s = fixture();
    assert_rejected(&mut s, &transfer(ALICE, 0, BOB, 0), TxError::ZeroAmount);
    let bond = bond(ALICE, 0, VAL1, 0);
    assert_rejected(&mut s, &bond, TxError::ZeroAmount);
}

#[test]
fn not_operator() {
    let mut s = fixture();
    let t = tx(
        ALICE,
        0,
        1,
        Action::SetValidatorMoniker {
            validator: pk(VAL1),
            moniker: "mine".into(),
        },
    );
    let expected = TxError::NotOperator {
        account: pk(ALICE),
        validator: pk(VAL1),
        operator: pk(OP1),
    };
    assert_rejected(&mut s, &t, expected);
}

#[test]
fn moniker_too_long() {
    let mut s = fixture();
    let moniker = "m".repeat(limits::MEMO_MAX_BYTES + 1);
    let t = tx(
        OP1,
        0,
        1,
        Action::SetValidatorMoniker {
            validator: pk(VAL1),
            moniker,
        },
    );
    assert_rejected(
        &mut s,
        &t,
        TxError::MonikerTooLong {
            len: 129,
            max: limits::MEMO_MAX_BYTES,
        },
    );
}

#[test]
fn hot_key_invalid() {
    let mut s = fixture();
    let invalid = |hot: u64, reason: &'static str| TxError::HotKeyInvalid {
        hot: pk(hot),
        reason,
    };
    let own = tx(ALICE, 0, 1, crate::link_hot(ALICE, ALICE));
    assert_rejected(
        &mut s,
        &own,
        invalid(ALICE, "an account cannot be its own hot key"),
    );
    let funded = tx(ALICE, 0, 1, crate::link_hot(ALICE, BOB));
    assert_rejected(
        &mut s,
        &funded,
        invalid(BOB, "it is an account holding a balance; use a fresh key"),
    );
    let unlinked = tx(ALICE, 0, 1, Action::UnlinkHotKey { hot: pk(50) });
    assert_rejected(
        &mut s,
        &unlinked,
        invalid(50, "it is not linked to the signing account"),
    );
    link_and_fund(&mut s, ALICE, 0, 50);
    let taken = tx(BOB, 0, 1, crate::link_hot(BOB, 50));
    assert_rejected(
        &mut s,
        &taken,
        invalid(50, "it is already linked to an account"),
    );
    let foreign = tx(BOB, 0, 1, Action::UnlinkHotKey { hot: pk(50) });
    assert_rejected(
        &mut s,
        &foreign,
        invalid(50, "it is not linked to the signing account"),
    );
}

#[test]
fn overflow() {
    let mut s = fixture();
    let t = tx(
        ALICE,
        0,
        u64::MAX,
        Action::Transfer {
            to: pk(BOB),
            amount: 1,
        },
    );
    assert_rejected(
        &mut s,
        &t,
        TxError::Overflow {
            what: "fee plus amount",
        },
    );
}
