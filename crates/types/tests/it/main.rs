//! Encodings are canonical, bounded and tamper-evident; genesis validation names what is wrong.

use cairn_types::{
    Action, Block, Genesis, GenesisAccount, GenesisError, GenesisValidator, Params, PrivateKey,
    SignedTx, Transaction, TxDecodeError, limits, to_hex,
};
use commonware_codec::{DecodeExt, Encode};
use commonware_cryptography::Signer;
use proptest::prelude::*;

fn key(seed: u64) -> PrivateKey {
    PrivateKey::from_seed(seed)
}

fn transfer(seed: u64, nonce: u64, amount: u64) -> SignedTx {
    Transaction {
        chain_id: "cairn-test".into(),
        signer: key(seed).public_key(),
        nonce,
        fee: 1,
        action: Action::Transfer {
            to: key(seed + 1).public_key(),
            amount,
        },
    }
    .sign(&key(seed))
}

/// Hash of `transfer(1, 7, 1_000)`; ed25519 signatures are deterministic, so this is fixed.
const GOLDEN_TX_HASH: &str = "539ec15e5c4afefb01e739e2b9deeb64f0f5d713251503538f071116bc7bef7d";

#[test]
fn transaction_encoding_is_pinned() {
    // A change here is a consensus-breaking change of the transaction encoding or hash.
    let tx = transfer(1, 7, 1_000);
    assert_eq!(tx.encode().len(), 1 + 10 + 32 + 8 + 8 + 1 + 32 + 8 + 64);
    assert_eq!(to_hex(tx.hash()), GOLDEN_TX_HASH);
    assert_eq!(
        to_hex(tx.hash()),
        to_hex(cairn_types::sha256(&[&tx.encode()])),
        "the tx hash is the SHA-256 of its canonical encoding"
    );
    assert!(tx.verify_signature());
}

#[test]
fn oversize_bytes_are_refused_before_decoding() {
    let bytes = vec![0u8; limits::TX_SIZE_MAX_BYTES + 1];
    assert_eq!(
        SignedTx::decode_bounded(&bytes),
        Err(TxDecodeError::TooLarge {
            size: limits::TX_SIZE_MAX_BYTES + 1,
            max: limits::TX_SIZE_MAX_BYTES
        })
    );
}

#[test]
fn truncated_and_trailing_bytes_are_malformed() {
    let bytes = transfer(1, 0, 5).encode().to_vec();
    for cut in [0, 1, 10, bytes.len() - 1] {
        assert!(matches!(
            SignedTx::decode_bounded(&bytes[..cut]),
            Err(TxDecodeError::Malformed(_))
        ));
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        SignedTx::decode_bounded(&longer),
        Err(TxDecodeError::Malformed(_))
    ));
}

#[test]
fn unknown_action_tag_is_malformed() {
    let tx = transfer(1, 0, 5);
    let mut bytes = tx.encode().to_vec();
    // The action tag follows chain id (1 + 10 bytes), signer (32), nonce (8) and fee (8).
    let tag_at = 1 + "cairn-test".len() + 32 + 8 + 8;
    assert_eq!(bytes[tag_at], 0, "transfer tag");
    bytes[tag_at] = 99;
    assert!(matches!(
        SignedTx::decode_bounded(&bytes),
        Err(TxDecodeError::Malformed(_))
    ));
}

#[test]
fn signature_covers_chain_id_and_every_field() {
    let tx = transfer(3, 0, 5);
    let mut other_chain = tx.clone();
    other_chain.tx.chain_id = "another-chain".into();
    assert!(
        !other_chain.verify_signature(),
        "a signature must not replay on another chain"
    );
    let mut bumped = tx.clone();
    bumped.tx.nonce += 1;
    assert!(!bumped.verify_signature());
    let mut richer = tx;
    richer.tx.action = Action::Transfer {
        to: key(4).public_key(),
        amount: 6,
    };
    assert!(!richer.verify_signature());
}

fn block_with(txs: Vec<SignedTx>) -> Block {
    let genesis = Block::genesis(key(1).public_key(), cairn_types::sha256(&[b"root"]), 0);
    let mut context = genesis.context.clone();
    context.parent = (context.parent.0, genesis.hash());
    Block::new(
        context,
        genesis.hash(),
        1,
        5,
        cairn_types::sha256(&[b"root1"]),
        txs,
        Vec::new(),
    )
}

#[test]
fn block_digest_is_recomputed_from_content_on_decode() {
    let block = block_with(vec![transfer(1, 0, 5), transfer(2, 0, 6)]);
    let decoded = Block::decode(block.encode()).unwrap();
    assert_eq!(decoded, block);
    assert_eq!(decoded.hash(), block.hash());

    // Swapping a transaction changes the body root and so the block hash.
    let tampered = block_with(vec![transfer(1, 0, 5), transfer(2, 0, 7)]);
    assert_ne!(tampered.hash(), block.hash());
}

fn valid_genesis() -> Genesis {
    Genesis {
        chain_id: "cairn-test".into(),
        genesis_time_ms: 0,
        accounts: vec![GenesisAccount {
            address: to_hex(key(1).public_key()),
            balance: 10,
        }],
        validators: vec![GenesisValidator {
            consensus_key: to_hex(key(2).public_key()),
            operator: to_hex(key(1).public_key()),
            stake: 5_000,
            moniker: "v".into(),
        }],
        params: Params::default(),
    }
}

#[test]
fn genesis_problems_are_named() {
    assert!(valid_genesis().validate().is_ok());

    let mut g = valid_genesis();
    g.chain_id = "has space".into();
    assert!(matches!(g.validate(), Err(GenesisError::ChainId { .. })));

    let mut g = valid_genesis();
    g.validators.clear();
    assert!(matches!(g.validate(), Err(GenesisError::NoValidators)));

    let mut g = valid_genesis();
    g.accounts.push(g.accounts[0].clone());
    let err = g.validate().unwrap_err();
    assert!(err.to_string().contains("duplicate address"), "{err}");

    let mut g = valid_genesis();
    g.accounts[0].address = "zz".into();
    assert!(matches!(
        g.validate(),
        Err(GenesisError::Entry {
            what: "account",
            index: 0,
            ..
        })
    ));

    let mut g = valid_genesis();
    g.validators[0].stake = 1;
    assert!(
        g.validate()
            .unwrap_err()
            .to_string()
            .contains("below validator_bond_min")
    );

    let mut g = valid_genesis();
    g.accounts[0].balance = u64::MAX;
    assert!(matches!(g.validate(), Err(GenesisError::SupplyOverflow)));

    for length in [0, 1] {
        let mut g = valid_genesis();
        g.params.epoch_length_blocks = length;
        assert!(matches!(
            g.validate(),
            Err(GenesisError::Param {
                name: "epoch_length_blocks",
                ..
            })
        ));
    }
}

fn task_spec() -> cairn_types::TaskSpec {
    cairn_types::TaskSpec {
        model: "2nn".into(),
        initial_model: [1; 32],
        dataset: [2; 32],
        validation_set: [3; 32],
        rounds: 1,
        trainers_per_round: 4,
        local_epochs: 1,
        batch_size: 10,
        learning_rate_micro: 1,
        rule: "multi-krum:1:2".parse().unwrap(),
        accept_per_mille: 1,
        min_trainer_stake: 1,
        min_validator_stake: 1,
        reward_pool: 1,
        blob_max_bytes: 1,
        review_blocks: 1,
        commit_blocks: 1,
        score_blocks: 1,
        reveal_blocks: 1,
        aggregate_blocks: 1,
    }
}

proptest! {
    #[test]
    fn every_transaction_round_trips_canonically(seed in 0u64..1_000, nonce: u64, fee: u64, amount: u64, tag in 0u8..21, moniker in "[a-z]{0,40}", scores in proptest::collection::vec(any::<u16>(), 0..64), round: u32, flag: bool) {
        let signer = key(seed);
        let other = key(seed + 1).public_key();
        let action = match tag {
            0 => Action::Transfer { to: other, amount },
            1 => Action::Bond { validator: other, amount },
            2 => Action::Unbond { validator: other, amount },
            3 => Action::LinkHotKey { hot: other, proof: cairn_types::sign_hot_key_link(&key(seed + 1), "c", &signer.public_key()) },
            4 => Action::UnlinkHotKey { hot: other },
            5 => Action::SetValidatorMoniker { validator: other, moniker },
            6 => Action::ProposeTask { spec: cairn_types::TaskSpec { model: moniker, rounds: round, reward_pool: amount, ..task_spec() } },
            7 => Action::VoteTask { task: amount, validator: other, approve: flag },
            8 => Action::JoinTask { task: amount, role: if flag { cairn_types::Role::Trainer } else { cairn_types::Role::Validator }, stake: fee },
            9 => Action::SubmitUpdate { task: amount, round, update: [seed as u8; 32] },
            10 => Action::CommitScores { task: amount, round, commitment: cairn_types::sha256(&[&seed.to_be_bytes()]) },
            11 => Action::RevealScores { task: amount, round, scores, salt: [nonce as u8; 32] },
            12 => Action::AttestCheckpoint { task: amount, round, model: [fee as u8; 32] },
            13 => Action::RegisterModel { model: cairn_types::ModelRegistration {
                graph: [seed as u8; 32], graph_bytes: fee, model_root: [fee as u8; 32], node_count: round,
                input_shape: vec![round, 3], output_shape: vec![10], name: moniker.clone(),
                licence: moniker, price: amount,
                lineage: flag.then_some(cairn_types::Lineage { task: nonce, round }),
            } },
            14 => Action::RequestInference { model: [seed as u8; 32], input: moniker.into_bytes(), payment: amount, provider: flag.then_some(other) },
            15 => Action::PostResult { request: amount, output: scores.iter().map(|&v| v as u8).collect(), exec_root: [fee as u8; 32], output_proof: moniker.into_bytes(), bond: fee },
            16 => Action::Challenge { request: amount, output: moniker.clone().into_bytes(), exec_root: [fee as u8; 32], output_proof: moniker.into_bytes(), k: round as u8, bond: fee },
            18 => Action::CreateValidator { consensus_key: other.clone(), moniker, self_bond: amount, proof_of_possession: cairn_types::sign_validator_pop(&key(seed + 1), &signer.public_key()) },
            19 => Action::Unjail { validator: other },
            20 => Action::RetireModel { model: [nonce as u8; 32] },
            _ => Action::DisputeMove { request: amount, dispute: round, mv: scores.iter().flat_map(|v| v.to_le_bytes()).collect() },
        };
        let tx = Transaction { chain_id: "c".into(), signer: signer.public_key(), nonce, fee, action }.sign(&signer);
        let bytes = tx.encode();
        let decoded = SignedTx::decode_bounded(&bytes).unwrap();
        prop_assert_eq!(&decoded, &tx);
        prop_assert_eq!(decoded.encode(), bytes);
        prop_assert!(decoded.verify_signature());
    }
}
