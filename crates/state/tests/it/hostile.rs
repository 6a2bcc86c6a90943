//! The hostile-input attacks, each through real transactions (checked as the mempool checks
//! them, then executed in a block): crafted model headers in a dispute, a hijacked hot key,
//! a squatted model, unbond-then-equivocate, and transfers to keys nobody can sign for.

use crate::*;
use cairn_dispute::Side;
use cairn_dispute::testkit::RawGame;
use cairn_infer::{Channels, Multiplier, Node, Op};
use cairn_state::{
    BlockError, DisputeVerdict, InferError, InferenceStatus, ModelStatus, TxError, dispute_game,
};
use cairn_types::infer::{ModelRegistration, model_id};
use cairn_types::{Evidence, EvidenceKind};
use commonware_codec::DecodeExt;

const OWNER: u64 = 41;
const CLIENT: u64 = 42;
const PROVIDER: u64 = 43;
const CHALLENGER: u64 = 44;
const STRANGER: u64 = 45;
const PAYMENT: Amount = 100;
const BOND: Amount = 2_000;

fn accounts() -> Net {
    Net::with_accounts(&[
        (OWNER, 100_000),
        (CLIENT, 100_000),
        (PROVIDER, 100_000),
        (CHALLENGER, 100_000),
        (STRANGER, 100_000),
    ])
}

/// The registration of `case`'s raw nodes (no graph blob: the chain never reads it).
fn registration(case: &RawGame) -> ModelRegistration {
    let nodes = case.raw.nodes();
    ModelRegistration {
        graph: [0xab; 32],
        graph_bytes: 2_000,
        model_root: case.raw.root(),
        node_count: nodes.len() as u32,
        input_shape: nodes[0].output.shape.clone(),
        output_shape: nodes[nodes.len() - 1].output.shape.clone(),
        name: "hostile".into(),
        licence: "MIT".into(),
        price: 10,
        lineage: None,
    }
}

/// (output bytes, execution root, encoded output proof) of `side`'s claim, as transactions
/// carry them.
fn posted_claim(case: &RawGame, side: Side) -> (Vec<u8>, [u8; 32], Vec<u8>) {
    let claim = case.claim(side);
    let mut proof = Vec::new();
    cairn_dispute::encode::encode_proof(&mut proof, &claim.output_proof);
    let last = case.raw.len() - 1;
    let output = case.trace(side)[last].iter().map(|&v| v as u8).collect();
    (output, claim.exec_root, proof)
}

/// Registers `case`, has it requested, served by the provider's trace and challenged with the
/// honest one, then plays the dispute with real transactions, each checked first as the
/// mempool checks it. Returns the model id.
fn play_hostile(net: &mut Net, case: &RawGame) -> [u8; 32] {
    let registration = registration(case);
    let id = model_id(&pk(OWNER), &registration.graph);
    let input = case.challenger[0].iter().map(|&v| v as u8).collect();
    let register = Action::RegisterModel {
        model: registration.clone(),
    };
    net.block(vec![(OWNER, register)]);
    let request = Action::RequestInference {
        model: id,
        input,
        payment: PAYMENT,
        provider: None,
    };
    net.block(vec![(CLIENT, request)]);
    let (output, exec_root, output_proof) = posted_claim(case, Side::Provider);
    let post = Action::PostResult {
        request: 1,
        output,
        exec_root,
        output_proof,
        bond: BOND,
    };
    net.block(vec![(PROVIDER, post)]);
    let (output, exec_root, output_proof) = posted_claim(case, Side::Challenger);
    let challenge = Action::Challenge {
        request: 1,
        output,
        exec_root,
        output_proof,
        k: 16,
        bond: BOND,
    };
    net.block(vec![(CHALLENGER, challenge)]);
    for _ in 0..16 {
        let i = net.state.inference(1).expect("requested");
        let Some(d) = net.state.dispute(1, 0).filter(|d| d.is_open()) else {
            return id;
        };
        let (game, _, _) = dispute_game(&registration, &i, &d).expect("replays");
        let (side, mv) = case.answer(&game);
        let seed = match side {
            Side::Provider => PROVIDER,
            Side::Challenger => CHALLENGER,
        };
        let action = Action::DisputeMove {
            request: 1,
            dispute: 0,
            mv: mv.encode(),
        };
        net.check(seed, &action).expect("the mempool admits it");
        net.block(vec![(seed, action)]);
    }
    panic!("the dispute did not end");
}

/// The model is invalid, the provider lost its bond to the challenger (who also gets the
/// owner's deposit), the client got its payment back, and the model takes no more requests.
fn assert_invalid(net: &mut Net, id: [u8; 32], node: u32) {
    let model = net.state.model(&id).expect("registered");
    let ModelStatus::Invalid { reason, .. } = &model.status else {
        panic!("model is {:?}", model.status);
    };
    assert!(reason.contains(&format!("node {node}")), "{reason}");
    assert_eq!(model.deposit, 0);
    let end = net.state.dispute(1, 0).unwrap().end.expect("ended");
    assert_eq!(end.verdict, DisputeVerdict::ChallengerWon, "{}", end.reason);
    let i = net.state.inference(1).unwrap();
    assert_eq!(i.status, InferenceStatus::Refuted);
    let deposit = cairn_types::limits::blob_deposit(2_000).unwrap();
    let fees = |seed| net.state.account(&pk(seed)).map_or(0, |a| a.nonce);
    let gained = balance(&net.state, &pk(CHALLENGER)) + fees(CHALLENGER);
    assert_eq!(gained, 100_000 + BOND + deposit);
    assert_eq!(balance(&net.state, &pk(CLIENT)), 100_000 - 1);
    assert_eq!(net.state.inference_funds(), Some(0));
    let again = Action::RequestInference {
        model: id,
        input: vec![0; 4],
        payment: PAYMENT,
        provider: None,
    };
    let e = net.reject(CLIENT, again);
    assert!(
        matches!(e, TxError::Infer(InferError::ModelNotActive { .. })),
        "{e}"
    );
}

fn node(op: Op, inputs: &[u32], shape: &[u32], zero_point: i8) -> Node {
    Node::new(op, inputs, shape, zero_point)
}

fn input_node() -> Node {
    node(Op::Input, &[], &[4], 0)
}

fn dense(out_features: u32, bias: i32) -> Node {
    let op = Op::Dense {
        in_features: 4,
        out_features,
    };
    let mut n = node(op, &[0], &[1], 0);
    n.channels = Some(Channels {
        weights: vec![127; 4],
        bias: vec![bias],
        multipliers: vec![Multiplier {
            m: 1 << 30,
            shift: 40,
        }],
    });
    n
}

#[test]
fn a_relu_without_inputs_proves_the_model_invalid() {
    let mut net = accounts();
    let nodes = vec![input_node(), node(Op::Relu, &[], &[4], 0)];
    let id = play_hostile(&mut net, &RawGame::new(nodes, vec![vec![1; 4]; 2], 1));
    assert_invalid(&mut net, id, 1);
}

#[test]
fn a_dense_with_no_outputs_proves_the_model_invalid() {
    let mut net = accounts();
    let nodes = vec![input_node(), dense(0, 0)];
    let case = RawGame::new(nodes, vec![vec![1; 4], vec![0]], 1);
    let id = play_hostile(&mut net, &case);
    assert_invalid(&mut net, id, 1);
}

#[test]
fn an_input_op_opened_as_the_disputed_node_proves_the_model_invalid() {
    let mut net = accounts();
    let nodes = vec![input_node(), input_node()];
    let id = play_hostile(&mut net, &RawGame::new(nodes, vec![vec![1; 4]; 2], 1));
    assert_invalid(&mut net, id, 1);
}

#[test]
fn an_add_whose_shift_overflows_proves_the_model_invalid() {
    for shift in [0, 64] {
        let mut net = accounts();
        let add = Op::Add {
            ma: 1 << 20,
            mb: 1 << 20,
            shift,
        };
        let nodes = vec![
            input_node(),
            node(Op::Relu, &[0], &[4], 0),
            node(add, &[0, 1], &[4], 0),
        ];
        let outputs = vec![vec![-5, 7, 0, 100], vec![0, 7, 0, 100], vec![9; 4]];
        let id = play_hostile(&mut net, &RawGame::new(nodes, outputs, 2));
        assert_invalid(&mut net, id, 2);
    }
}

#[test]
fn a_bias_of_i32_max_proves_the_model_invalid() {
    let mut net = accounts();
    let nodes = vec![input_node(), dense(1, i32::MAX)];
    let case = RawGame::new(nodes, vec![vec![100; 4], vec![5]], 1);
    let id = play_hostile(&mut net, &case);
    assert_invalid(&mut net, id, 1);
}

#[test]
fn a_hot_key_cannot_be_linked_without_its_consent() {
    let mut net = accounts();
    let victim = 70;
    // Today's attack: link a stranger's fresh key as one's own hot key, freezing it.
    let forged = Action::LinkHotKey {
        hot: pk(victim),
        proof: cairn_types::sign_hot_key_link(&key(STRANGER), CHAIN, &pk(STRANGER)),
    };
    let e = net.reject(STRANGER, forged);
    assert!(matches!(e, TxError::HotKeyInvalid { .. }), "{e}");
    assert!(e.to_string().contains("consent"), "{e}");
    // The victim's consent to another account, or on another chain, does not transfer.
    let for_owner = cairn_types::sign_hot_key_link(&key(victim), CHAIN, &pk(OWNER));
    let other_chain = cairn_types::sign_hot_key_link(&key(victim), "other", &pk(STRANGER));
    for proof in [for_owner, other_chain] {
        let replayed = Action::LinkHotKey {
            hot: pk(victim),
            proof,
        };
        assert!(matches!(
            net.reject(STRANGER, replayed),
            TxError::HotKeyInvalid { .. }
        ));
    }
    // The victim's key stays its own: funded, it transfers freely.
    let fund = Action::Transfer {
        to: pk(victim),
        amount: 50,
    };
    net.block(vec![(OWNER, fund)]);
    let spend = Action::Transfer {
        to: pk(OWNER),
        amount: 10,
    };
    net.block(vec![(victim, spend)]);
    assert_eq!(net.state.hot_key_owner(&pk(victim)), None);
}

#[test]
fn a_squatter_cannot_take_a_graph_registration() {
    let mut net = accounts();
    let case = RawGame::new(
        vec![input_node(), dense(1, 0)],
        vec![vec![1; 4], vec![0]],
        1,
    );
    let registration = registration(&case);
    let register = || Action::RegisterModel {
        model: registration.clone(),
    };
    // The squatter registers the owner's graph first; the owner can still register it.
    net.block(vec![(STRANGER, register())]);
    net.block(vec![(OWNER, register())]);
    let squatted = model_id(&pk(STRANGER), &registration.graph);
    let owned = model_id(&pk(OWNER), &registration.graph);
    assert_ne!(squatted, owned);
    assert_eq!(net.state.model(&owned).unwrap().owner, pk(OWNER));
    assert_eq!(net.state.model(&squatted).unwrap().owner, pk(STRANGER));
    let e = net.reject(OWNER, register());
    assert!(
        matches!(e, TxError::Infer(InferError::ModelExists { .. })),
        "{e}"
    );
}

fn evidence(offender: u64, epoch: u64, view: u64) -> Evidence {
    Evidence {
        kind: EvidenceKind::ConflictingFinalize,
        offender: pk(offender),
        epoch,
        view,
        proof: vec![7],
    }
}

#[test]
fn unbond_then_equivocate_is_slashed_like_equivocating_while_bonded() {
    // Validator 3 (5,000 self-bonded) withdraws everything, then equivocates in the same
    // epoch; its twin equivocates while still bonded.
    let mut left = fixture();
    let mut stayed = fixture();
    block(&mut left, &[unbond(OP3, 0, VAL3, 5_000)]);
    block(&mut stayed, &[transfer(OP3, 0, BOB, 1)]);
    assert_eq!(left.validator(&pk(VAL3)).unwrap().self_bond, 0);
    let pending = left.unbondings_of(&pk(OP3));
    assert_eq!(pending.len(), 1);
    assert!(
        pending[0].matures_at >= left.params().epoch_length_blocks,
        "an unbonding never matures before its epoch ends"
    );
    for s in [&mut left, &mut stayed] {
        let supply = s.total_supply();
        s.execute_block(2, &pk(VAL1), &[], &[evidence(VAL3, 0, 1)])
            .expect("evidence of this epoch applies");
        assert_eq!(supply - s.total_supply(), 250, "5 % of 5,000 burnt");
        assert_eq!(s.validator(&pk(VAL3)).unwrap().slashed_total, 250);
    }
    assert_eq!(left.unbondings_of(&pk(OP3))[0].amount, 4_750);
    // Evidence of an earlier epoch cannot land later, so nothing escapes in between.
    while left.epoch() == 0 {
        block(&mut left, &[]);
    }
    let h = left.height() + 1;
    let e = left.execute_block(h, &pk(VAL1), &[], &[evidence(VAL3, 0, 2)]);
    assert_eq!(
        e,
        Err(BlockError::EvidenceEpoch {
            got: 0,
            expected: 1
        })
    );
}

/// A public key that decodes (ZIP-215 accepts it) but that anyone can sign for: the
/// identity point, of order 1.
fn identity_point() -> PublicKey {
    let mut bytes = [0u8; 32];
    bytes[0] = 1;
    PublicKey::decode(commonware_codec::Copying(bytes.as_slice())).expect("decodes")
}

#[test]
fn transfers_to_keys_nobody_can_hold_are_refused() {
    let mut net = accounts();
    let weak = identity_point();
    assert!(!cairn_types::is_valid_public_key(&weak));
    assert!(cairn_types::is_valid_public_key(&pk(ALICE)));
    let send = Action::Transfer {
        to: weak.clone(),
        amount: 10,
    };
    let e = net.reject(OWNER, send);
    assert!(
        matches!(
            e,
            TxError::InvalidKey {
                what: "recipient",
                ..
            }
        ),
        "{e}"
    );
    assert!(net.state.account(&weak).is_none());
    // Nor may such a key be linked as a hot key (its consent would be forgeable).
    let link = Action::LinkHotKey {
        hot: weak,
        proof: cairn_types::sign_hot_key_link(&key(STRANGER), CHAIN, &pk(OWNER)),
    };
    assert!(matches!(
        net.reject(OWNER, link),
        TxError::InvalidKey {
            what: "hot key",
            ..
        }
    ));
}
