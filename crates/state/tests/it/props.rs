//! Property tests and the golden state root.

use crate::*;
use cairn_state::{BlockError, ProofError, SnapshotError, TxError};
use proptest::prelude::*;

/// Root of [golden_genesis]. A change here is a consensus-breaking change to the state
/// encoding (leaf layout, tags, value encodings or the tree): every existing chain's roots
/// would no longer match. Only update it deliberately, with a new leaf namespace version.
const GOLDEN_ROOT: &str = "74defb9da8ba9cfd85cca2b37085c0ea256f527affdbaf6796451bf497df0316";

fn golden_genesis() -> Genesis {
    genesis_of(
        &[(1, 1_000), (2, 2_000), (3, 3_000)],
        &[(101, 11, 10_000), (102, 12, 20_000)],
        Params::default(),
    )
}

#[test]
fn golden_root() {
    let s = State::from_genesis(&golden_genesis()).unwrap();
    assert_eq!(to_hex(s.root()), GOLDEN_ROOT);
}

#[test]
fn snapshot_rejects_corruption() {
    let mut s = fixture();
    block(&mut s, &[bond(ALICE, 0, VAL1, 300)]);
    block(&mut s, &[unbond(ALICE, 1, VAL1, 100)]);
    let bytes = s.encode_snapshot();
    for len in 0..bytes.len() {
        assert!(
            State::decode_snapshot(&bytes[..len]).is_err(),
            "truncated to {len} decodes"
        );
    }
    let mut extra = bytes.clone();
    extra.push(0);
    assert!(State::decode_snapshot(&extra).is_err());
    let mut version = bytes.clone();
    version[0] = 9;
    assert!(matches!(
        State::decode_snapshot(&version),
        Err(SnapshotError::Version { got: 9, .. })
    ));
    // Flip one bit of the total supply (in the meta entry, right after version and chain id).
    let mut supply = bytes.clone();
    let offset = 1 + 1 + CHAIN.len() + 8 + 8 + 7;
    supply[offset] ^= 1;
    assert!(matches!(
        State::decode_snapshot(&supply),
        Err(SnapshotError::Inconsistent(_))
    ));
}

#[test]
fn proof_rejects_wrong_root_and_leaf_count() {
    let s = fixture();
    let proof = s.prove_account(&pk(ALICE)).unwrap();
    proof.verify(&s.root()).unwrap();
    let mut other = fixture();
    block(&mut other, &[]);
    assert!(matches!(
        proof.verify(&other.root()),
        Err(ProofError::Mismatch(_))
    ));
    let mut lied = proof.clone();
    lied.leaf_count += 1;
    assert_eq!(
        lied.verify(&s.root()).err().map(|e| e.to_string()),
        Some(format!(
            "proof is for {} leaves but claims {}",
            proof.leaf_count, lied.leaf_count
        ))
    );
    let mut moved = proof.clone();
    moved.leaf_index += 1;
    assert!(matches!(
        moved.verify(&s.root()),
        Err(ProofError::Mismatch(_))
    ));
    assert!(s.prove_account(&pk(999)).is_none());
}

#[derive(Clone, Debug)]
enum Op {
    Transfer {
        from: usize,
        to: usize,
        amount: Amount,
        fee: Amount,
    },
    Bond {
        from: usize,
        validator: usize,
        amount: Amount,
    },
    Unbond {
        from: usize,
        validator: usize,
        amount: Amount,
    },
    Empty,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..6usize, 0..8usize, 0..400_000u64, 0..5u64).prop_map(|(from, to, amount, fee)| {
            Op::Transfer {
                from,
                to,
                amount,
                fee,
            }
        }),
        (0..6usize, 0..3usize, 0..30_000u64).prop_map(|(from, validator, amount)| Op::Bond {
            from,
            validator,
            amount
        }),
        (0..6usize, 0..3usize, 0..30_000u64).prop_map(|(from, validator, amount)| Op::Unbond {
            from,
            validator,
            amount
        }),
        Just(Op::Empty),
    ]
}

/// Account seeds the random ops use: Alice, Bob, the three operators, a stranger; and two fresh
/// recipients.
const SEEDS: [u64; 8] = [ALICE, BOB, OP1, OP2, OP3, 70, 71, 72];
const VALIDATORS: [u64; 3] = [VAL1, VAL2, VAL3];

/// Runs `ops`, one block each (a rejected tx is dropped from its block), returning the state.
fn run(ops: &[Op]) -> State {
    let mut s = fixture();
    for op in ops {
        let action_tx = match *op {
            Op::Transfer {
                from,
                to,
                amount,
                fee,
            } => {
                let from = SEEDS[from];
                let nonce = s.account(&pk(from)).map(|a| a.nonce).unwrap_or(0);
                Some(tx(
                    from,
                    nonce,
                    fee,
                    Action::Transfer {
                        to: pk(SEEDS[to]),
                        amount,
                    },
                ))
            }
            Op::Bond {
                from,
                validator,
                amount,
            }
            | Op::Unbond {
                from,
                validator,
                amount,
            } => {
                let from = SEEDS[from];
                let nonce = s.account(&pk(from)).map(|a| a.nonce).unwrap_or(0);
                let validator = pk(VALIDATORS[validator]);
                let action = if matches!(op, Op::Bond { .. }) {
                    Action::Bond { validator, amount }
                } else {
                    Action::Unbond { validator, amount }
                };
                Some(tx(from, nonce, 1, action))
            }
            Op::Empty => None,
        };
        let txs: Vec<SignedTx> = action_tx
            .into_iter()
            .filter(|t| s.check_tx(t).is_ok())
            .collect();
        let height = s.height() + 1;
        s.execute_block(height, &pk(VALIDATORS[(height % 3) as usize]), &txs, &[])
            .unwrap();
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn root_is_independent_of_genesis_order(
        accounts in proptest::collection::btree_map(200..400u64, 1..1_000_000u64, 1..12)
            .prop_flat_map(|m| Just(m.into_iter().collect::<Vec<_>>()).prop_shuffle())
    ) {
        let validators = [(VAL1, OP1, 10_000), (VAL2, OP2, 20_000)];
        let shuffled = State::from_genesis(&genesis_of(&accounts, &validators, params())).unwrap();
        let mut sorted_accounts = accounts.clone();
        sorted_accounts.sort();
        let mut validators_rev = validators.to_vec();
        validators_rev.reverse();
        let sorted = State::from_genesis(&genesis_of(&sorted_accounts, &validators_rev, params())).unwrap();
        prop_assert_eq!(shuffled.root(), sorted.root());
        prop_assert_eq!(shuffled.encode_snapshot(), sorted.encode_snapshot());
    }

    #[test]
    fn supply_is_conserved_and_snapshots_round_trip(ops in proptest::collection::vec(op(), 1..24)) {
        let s = run(&ops);
        let owners: Vec<Address> = SEEDS.map(pk).to_vec();
        let genesis_supply = fixture().total_supply();
        // Every proposer is a validator, so fees move to operators and nothing is burnt.
        prop_assert_eq!(s.total_supply(), genesis_supply);
        prop_assert_eq!(held_tokens(&s, &owners), genesis_supply);

        let bytes = s.encode_snapshot();
        let back = State::decode_snapshot(&bytes).unwrap();
        prop_assert_eq!(back.root(), s.root());
        prop_assert_eq!(back.encode_snapshot(), bytes);
        prop_assert_eq!(back.active_validator_set(), s.active_validator_set());
    }

    #[test]
    fn account_proofs_verify_and_detect_tampering(ops in proptest::collection::vec(op(), 0..12)) {
        let s = run(&ops);
        let root = s.root();
        for seed in SEEDS {
            let Some(account) = s.account(&pk(seed)) else { continue };
            let proof = s.prove_account(&pk(seed)).unwrap();
            prop_assert_eq!(&proof.account, &account);
            prop_assert!(proof.verify(&root).is_ok());
            let mut tampered = proof.clone();
            tampered.account.balance ^= 1;
            prop_assert!(tampered.verify(&root).is_err());
            let mut renonced = proof.clone();
            renonced.account.nonce += 1;
            prop_assert!(renonced.verify(&root).is_err());
        }
    }

    #[test]
    fn rejected_block_is_a_no_op(ops in proptest::collection::vec(op(), 0..8), bad_at in 0..3usize) {
        let mut s = run(&ops);
        let before = s.encode_snapshot();
        let root = s.root();
        let alice_nonce = s.account(&pk(ALICE)).unwrap().nonce;
        let mut txs: Vec<SignedTx> = (0..3).map(|i| transfer(ALICE, alice_nonce + i, BOB, 1)).collect();
        txs.insert(bad_at, transfer(ALICE, alice_nonce + 100, BOB, 1));
        let height = s.height() + 1;
        let refused = s.execute_block(height, &pk(VAL1), &txs, &[]);
        prop_assert!(
            matches!(
                &refused,
                Err(BlockError::InvalidTx { index, error: TxError::FutureNonce { .. } })
                    if *index as usize == bad_at
            ),
            "refused as {:?}",
            refused
        );
        prop_assert_eq!(s.root(), root);
        prop_assert_eq!(s.encode_snapshot(), before);
    }
}
