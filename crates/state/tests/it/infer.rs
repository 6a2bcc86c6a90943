//! Verified inference on chain: registry, paid requests, bonded results, challenges and the
//! dispute game played move by move through transactions, timeouts, and every bad input
//! rejected with the state untouched.

use crate::Net;
use cairn_dispute::{Player, Side, forge};
use cairn_infer::{Channels, Graph, ModelCommitment, Multiplier, Node, Op, Trace, run};
use cairn_state::{DisputeVerdict, InferError, InferenceStatus, State, TxError, dispute_game};
use cairn_types::infer::{self, Lineage, ModelRegistration};
use cairn_types::{Action, Amount};

const OWNER: u64 = 41;
const CLIENT: u64 = 42;
const PROVIDER: u64 = 43;
const CHALLENGER: u64 = 44;
const STRANGER: u64 = 45;
const PRICE: Amount = 30;
const PAYMENT: Amount = 100;
const BOND: Amount = 2_000;

fn node(op: Op, inputs: &[u32], shape: &[u32], zero_point: i8) -> Node {
    Node::new(op, inputs, shape, zero_point)
}

/// input [2, 4] → flatten [8] → dense 8→3 → relu [3]: two input rows, weights, four nodes.
fn graph() -> Graph {
    let mut dense = node(
        Op::Dense {
            in_features: 8,
            out_features: 3,
        },
        &[1],
        &[3],
        -5,
    );
    dense.channels = Some(Channels {
        weights: (0..24).map(|i| (i * 37 % 255) as u8 as i8).collect(),
        bias: vec![120, -340, 55],
        multipliers: vec![
            Multiplier {
                m: 1 << 30,
                shift: 38,
            };
            3
        ],
    });
    Graph::new(vec![
        node(Op::Input, &[], &[2, 4], 3),
        node(Op::Flatten, &[0], &[8], 3),
        dense,
        node(Op::Relu, &[2], &[3], -5),
    ])
    .expect("valid graph")
}

fn input() -> Vec<u8> {
    vec![10, 250, 33, 7, 0, 128, 99, 64]
}

fn as_i8(b: &[u8]) -> Vec<i8> {
    b.iter().map(|&x| x as i8).collect()
}

/// The test model's id (registered by OWNER).
pub fn model_id() -> [u8; 32] {
    infer::model_id(&crate::pk(OWNER), &graph().blob_id())
}

/// The blob deposit OWNER escrows for the test graph.
fn deposit() -> Amount {
    cairn_types::limits::blob_deposit(graph().encode().len() as u64).unwrap()
}

fn registration(g: &Graph) -> ModelRegistration {
    ModelRegistration {
        graph: g.blob_id(),
        graph_bytes: g.encode().len() as u64,
        model_root: ModelCommitment::new(g).root,
        node_count: g.len() as u32,
        input_shape: vec![2, 4],
        output_shape: vec![3],
        name: "tiny-dense".into(),
        licence: "CC-BY-4.0".into(),
        price: PRICE,
        lineage: None,
    }
}

fn truth() -> Trace {
    run(&graph(), &as_i8(&input())).expect("runs")
}

/// A trace lying at `node` (recomputed consistently after it).
fn lie(node: usize) -> Trace {
    forge::lie_at(&graph(), &truth(), node, 9).expect("a computed node")
}

fn post(request: u64, player: &Player, bond: Amount) -> Action {
    let claim = player.claim();
    let mut proof = Vec::new();
    cairn_dispute::encode::encode_proof(&mut proof, &claim.output_proof);
    Action::PostResult {
        request,
        output: player.trace().output().iter().map(|&v| v as u8).collect(),
        exec_root: claim.exec_root,
        output_proof: proof,
        bond,
    }
}

fn challenge(request: u64, player: &Player, k: u8, bond: Amount) -> Action {
    match post(request, player, bond) {
        Action::PostResult {
            request,
            output,
            exec_root,
            output_proof,
            bond,
        } => Action::Challenge {
            request,
            output,
            exec_root,
            output_proof,
            k,
            bond,
        },
        _ => unreachable!(),
    }
}

fn net() -> Net {
    Net::with_accounts(&[
        (OWNER, 10_000),
        (CLIENT, 10_000),
        (PROVIDER, 10_000),
        (CHALLENGER, 10_000),
        (STRANGER, 10_000),
    ])
}

fn balance(s: &State, seed: u64) -> Amount {
    crate::balance(s, &crate::pk(seed))
}

/// `seed`'s balance plus the fees it paid (one per transaction, so its nonce).
fn before_fees(s: &State, seed: u64) -> Amount {
    balance(s, seed) + s.account(&crate::pk(seed)).map_or(0, |a| a.nonce)
}

/// Registers the model and requests one inference; returns the request id.
fn requested(net: &mut Net) -> u64 {
    net.block(vec![(
        OWNER,
        Action::RegisterModel {
            model: registration(&graph()),
        },
    )]);
    net.block(vec![(
        CLIENT,
        Action::RequestInference {
            model: model_id(),
            input: input(),
            payment: PAYMENT,
            provider: None,
        },
    )]);
    1
}

/// How one side misbehaves in [`play`].
#[derive(Clone, Copy)]
enum Misbehave {
    /// Never moves.
    Silent,
    /// At its `n`-th move posts a corrupted move (which the chain must refuse, changing
    /// nothing), then either moves properly or falls silent.
    Corrupt {
        n: u32,
        seed: u64,
        then_silent: bool,
    },
}

/// Plays the dispute over `request` to the end through transactions, one move per block.
fn play(
    net: &mut Net,
    request: u64,
    provider: &Player,
    challenger: &Player,
    bad: Option<(Side, Misbehave)>,
) {
    let model = net
        .state
        .model(&model_id())
        .expect("registered")
        .registration;
    let mut count = [0u32; 2];
    let mut silenced = None;
    for _ in 0..200 {
        let i = net.state.inference(request).expect("exists");
        if i.status != InferenceStatus::Disputed {
            return;
        }
        let d = net.state.dispute(request, 0).expect("opened");
        let (game, _, _) = dispute_game(&model, &i, &d).expect("replays");
        let side = game.turn().expect("open");
        let (seed, player) = match side {
            Side::Provider => (PROVIDER, provider),
            Side::Challenger => (CHALLENGER, challenger),
        };
        let n = count[side as usize];
        count[side as usize] += 1;
        let mv = player.respond(side, &game.request());
        match (bad, mv) {
            _ if silenced == Some(side) => net.idle(1),
            (Some((who, Misbehave::Silent)), _) if who == side => net.idle(1),
            (
                Some((
                    who,
                    Misbehave::Corrupt {
                        n: at,
                        seed: s,
                        then_silent,
                    },
                )),
                Some(mv),
            ) if who == side && at == n => {
                let wrong = forge::corrupt(&mv, s);
                let action = Action::DisputeMove {
                    request,
                    dispute: 0,
                    mv: wrong.encode(),
                };
                let e = net.reject(seed, action);
                assert!(
                    matches!(
                        e,
                        TxError::Infer(InferError::BadMove { .. } | InferError::Malformed { .. })
                    ),
                    "{e}"
                );
                if then_silent {
                    silenced = Some(side);
                    net.idle(1);
                } else {
                    net.block(vec![(
                        seed,
                        Action::DisputeMove {
                            request,
                            dispute: 0,
                            mv: mv.encode(),
                        },
                    )]);
                }
            }
            (_, Some(mv)) => net.block(vec![(
                seed,
                Action::DisputeMove {
                    request,
                    dispute: 0,
                    mv: mv.encode(),
                },
            )]),
            (_, None) => net.idle(1),
        }
        // Snapshots carry a dispute mid-game; the live-deadline index matches the requests.
        let copy = State::decode_snapshot(&net.state.encode_snapshot()).expect("decodes");
        assert_eq!(copy.root(), net.state.root());
        assert_eq!(
            copy.live_inference_deadlines(),
            net.state.live_inference_deadlines()
        );
        let mut live: Vec<(u64, u64)> = net
            .state
            .inferences(0, usize::MAX)
            .iter()
            .filter(|i| i.status.is_live())
            .map(|i| (i.deadline, i.id))
            .collect();
        live.sort();
        assert_eq!(net.state.live_inference_deadlines(), live);
    }
    panic!("the dispute did not end");
}

fn held(s: &State) -> Amount {
    s.inference_funds().expect("no overflow")
}

#[test]
fn an_unchallenged_result_settles_and_pays_owner_and_provider() {
    let mut net = net();
    let id = requested(&mut net);
    assert_eq!(balance(&net.state, CLIENT), 10_000 - 1 - PAYMENT);
    let honest = Player::new(graph(), truth());
    net.block(vec![(PROVIDER, post(id, &honest, BOND))]);
    let i = net.state.inference(id).unwrap();
    assert_eq!(i.status, InferenceStatus::Served);
    assert_eq!(held(&net.state), PAYMENT + BOND);
    net.idle(infer::CHALLENGE_WINDOW_BLOCKS + 1);
    let i = net.state.inference(id).unwrap();
    assert_eq!(i.status, InferenceStatus::Settled);
    assert_eq!(held(&net.state), 0);
    assert_eq!(balance(&net.state, OWNER), 10_000 - 1 - deposit() + PRICE);
    assert_eq!(
        balance(&net.state, PROVIDER),
        10_000 - 1 + (PAYMENT - PRICE)
    );
    assert_eq!(net.state.model(&model_id()).unwrap().served, 1);
    assert_eq!(
        i.result.unwrap().output,
        honest
            .trace()
            .output()
            .iter()
            .map(|&v| v as u8)
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_dishonest_provider_loses_its_bond_to_the_challenger_at_every_node_and_arity() {
    for at in 1..graph().len() {
        for k in [2u8, 4, 16] {
            let mut net = net();
            let id = requested(&mut net);
            let liar = Player::new(graph(), lie(at));
            let honest = Player::new(graph(), truth());
            net.block(vec![(PROVIDER, post(id, &liar, BOND))]);
            net.block(vec![(CHALLENGER, challenge(id, &honest, k, BOND))]);
            assert_eq!(held(&net.state), PAYMENT + 2 * BOND);
            play(&mut net, id, &liar, &honest, None);
            let i = net.state.inference(id).unwrap();
            assert_eq!(i.status, InferenceStatus::Refuted, "lie at {at}, k = {k}");
            let end = net.state.dispute(id, 0).unwrap().end.unwrap();
            assert_eq!(
                end.verdict,
                DisputeVerdict::ChallengerWon,
                "lie at {at}, k = {k}: {}",
                end.reason
            );
            assert_eq!(before_fees(&net.state, PROVIDER), 10_000 - BOND);
            assert_eq!(
                before_fees(&net.state, CHALLENGER),
                10_000 + BOND,
                "the challenger gets both bonds"
            );
            assert_eq!(balance(&net.state, CLIENT), 10_000 - 1, "client refunded");
            assert_eq!(held(&net.state), 0);
            assert_eq!(net.state.model(&model_id()).unwrap().refuted, 1);
        }
    }
}

#[test]
fn a_false_challenge_loses_and_the_result_still_settles() {
    let mut net = net();
    let id = requested(&mut net);
    let honest = Player::new(graph(), truth());
    let liar = Player::new(graph(), lie(2));
    net.block(vec![(PROVIDER, post(id, &honest, BOND))]);
    net.block(vec![(CHALLENGER, challenge(id, &liar, 4, BOND))]);
    play(&mut net, id, &honest, &liar, None);
    let i = net.state.inference(id).unwrap();
    assert_eq!(i.status, InferenceStatus::Served, "no dispute is open");
    let end = net.state.dispute(id, 0).unwrap().end.unwrap();
    assert_eq!(end.verdict, DisputeVerdict::ProviderWon);
    // The provider got the challenger's bond; its own stays in escrow until settlement.
    assert_eq!(held(&net.state), PAYMENT + BOND);
    net.idle(infer::CHALLENGE_WINDOW_BLOCKS + 1);
    assert_eq!(
        net.state.inference(id).unwrap().status,
        InferenceStatus::Settled
    );
    assert_eq!(
        before_fees(&net.state, PROVIDER),
        10_000 + BOND + (PAYMENT - PRICE)
    );
    assert_eq!(before_fees(&net.state, CHALLENGER), 10_000 - BOND);
}

#[test]
fn silence_past_the_deadline_loses() {
    for silent in [Side::Provider, Side::Challenger] {
        let mut net = net();
        let id = requested(&mut net);
        let liar = Player::new(graph(), lie(3));
        let honest = Player::new(graph(), truth());
        net.block(vec![(PROVIDER, post(id, &liar, BOND))]);
        net.block(vec![(CHALLENGER, challenge(id, &honest, 2, BOND))]);
        play(
            &mut net,
            id,
            &liar,
            &honest,
            Some((silent, Misbehave::Silent)),
        );
        let end = net.state.dispute(id, 0).unwrap().end.unwrap();
        assert_eq!(
            end.verdict == DisputeVerdict::ProviderWon,
            silent == Side::Challenger,
            "{}",
            end.reason
        );
        assert!(end.reason.contains("clock"), "{}", end.reason);
    }
}

#[test]
fn a_rejected_block_leaves_requests_and_their_deadlines_untouched() {
    let mut net = net();
    let id = requested(&mut net);
    let (root, live) = (net.state.root(), net.state.live_inference_deadlines());
    let honest = Player::new(graph(), truth());
    // A valid result followed by an invalid transaction: the whole block is refused.
    let txs = vec![
        net.sign(PROVIDER, post(id, &honest, BOND)),
        net.sign(
            STRANGER,
            Action::Transfer {
                to: crate::pk(CLIENT),
                amount: 1_000_000,
            },
        ),
    ];
    let h = net.height() + 1;
    assert!(
        net.state
            .execute_block(h, &crate::pk(crate::VAL1), &txs, &[])
            .is_err()
    );
    assert_eq!(net.state.root(), root);
    assert_eq!(net.state.live_inference_deadlines(), live);
    assert_eq!(
        net.state.inference(id).unwrap().status,
        InferenceStatus::Requested
    );
}

#[test]
fn an_unanswered_request_expires_and_refunds_the_client() {
    let mut net = net();
    let id = requested(&mut net);
    net.idle(infer::RESULT_WINDOW_BLOCKS + 1);
    assert_eq!(
        net.state.inference(id).unwrap().status,
        InferenceStatus::Expired
    );
    assert_eq!(balance(&net.state, CLIENT), 10_000 - 1);
    let honest = Player::new(graph(), truth());
    assert!(matches!(
        infer_error(net.reject(PROVIDER, post(id, &honest, BOND))),
        InferError::WrongStatus { .. }
    ));
}

fn infer_error(e: TxError) -> InferError {
    match e {
        TxError::Infer(i) => i,
        other => panic!("expected an inference error, got {other:?}"),
    }
}

#[test]
fn bad_inference_input_is_rejected_with_a_clear_error_and_bonds_untouched() {
    let mut net = net();
    let g = graph();
    let register = |m: ModelRegistration| Action::RegisterModel { model: m };

    // Malformed registrations, each naming the field.
    for (field, edit) in [
        (
            "node_count",
            Box::new(|m: &mut ModelRegistration| m.node_count = 1)
                as Box<dyn Fn(&mut ModelRegistration)>,
        ),
        (
            "input_shape",
            Box::new(|m: &mut ModelRegistration| m.input_shape = vec![]),
        ),
        (
            "input_shape",
            Box::new(|m: &mut ModelRegistration| m.input_shape = vec![2, 0]),
        ),
        (
            "input_shape",
            Box::new(|m: &mut ModelRegistration| m.input_shape = vec![4_097]),
        ),
        (
            "output_shape",
            Box::new(|m: &mut ModelRegistration| m.output_shape = vec![2_000]),
        ),
        (
            "name",
            Box::new(|m: &mut ModelRegistration| m.name = "has space".into()),
        ),
        (
            "licence",
            Box::new(|m: &mut ModelRegistration| m.licence = String::new()),
        ),
    ] {
        let mut m = registration(&g);
        edit(&mut m);
        let e = infer_error(net.reject(OWNER, register(m)));
        assert!(
            matches!(&e, InferError::InvalidModel { field: f, .. } if *f == field),
            "{field}: {e}"
        );
        assert!(e.to_string().contains(field), "{e}");
    }
    let mut m = registration(&g);
    m.lineage = Some(Lineage { task: 7, round: 0 });
    assert!(matches!(
        infer_error(net.reject(OWNER, register(m))),
        InferError::BadLineage { task: 7, .. }
    ));
    assert!(matches!(
        infer_error(net.reject(
            CLIENT,
            Action::RequestInference {
                model: model_id(),
                input: input(),
                payment: PAYMENT,
                provider: None,
            }
        )),
        InferError::UnknownModel { .. }
    ));

    let id = requested(&mut net);
    assert!(matches!(
        infer_error(net.reject(OWNER, register(registration(&g)))),
        InferError::ModelExists { .. }
    ));
    // Shape mismatch (too short, oversize) and underpayment.
    for bad in [vec![1u8; 7], vec![1u8; 9]] {
        let e = infer_error(net.reject(
            CLIENT,
            Action::RequestInference {
                model: model_id(),
                input: bad,
                payment: PAYMENT,
                provider: None,
            },
        ));
        assert!(
            matches!(
                e,
                InferError::ShapeMismatch {
                    what: "input",
                    expected: 8,
                    ..
                }
            ),
            "{e}"
        );
    }
    assert!(matches!(
        infer_error(net.reject(
            CLIENT,
            Action::RequestInference {
                model: model_id(),
                input: input(),
                payment: PRICE - 1,
                provider: None,
            }
        )),
        InferError::PaymentBelowPrice { .. }
    ));

    // Results: unknown request, low bond, wrong output length, undecodable and wrong proofs.
    let honest = Player::new(g.clone(), truth());
    assert!(matches!(
        infer_error(net.reject(PROVIDER, post(99, &honest, BOND))),
        InferError::UnknownRequest { request: 99 }
    ));
    assert!(matches!(
        infer_error(net.reject(PROVIDER, post(id, &honest, infer::BOND_MIN - 1))),
        InferError::BondTooLow { .. }
    ));
    type Edit<'a> = &'a dyn Fn(&mut Vec<u8>, &mut [u8; 32], &mut Vec<u8>);
    let with = |edit: Edit| match post(id, &honest, BOND) {
        Action::PostResult {
            request,
            mut output,
            mut exec_root,
            mut output_proof,
            bond,
        } => {
            edit(&mut output, &mut exec_root, &mut output_proof);
            Action::PostResult {
                request,
                output,
                exec_root,
                output_proof,
                bond,
            }
        }
        _ => unreachable!(),
    };
    let e = infer_error(net.reject(PROVIDER, with(&|o, _, _| o.push(0))));
    assert!(
        matches!(e, InferError::ShapeMismatch { what: "output", .. }),
        "{e}"
    );
    let e = infer_error(net.reject(PROVIDER, with(&|_, _, p| p.truncate(3))));
    assert!(
        matches!(
            e,
            InferError::Malformed {
                what: "output proof",
                ..
            }
        ),
        "{e}"
    );
    let e = infer_error(net.reject(PROVIDER, with(&|_, r, _| r[0] ^= 1)));
    assert!(matches!(e, InferError::BadProof { .. }), "{e}");
    let e = infer_error(net.reject(PROVIDER, with(&|o, _, _| o[0] = o[0].wrapping_add(1))));
    assert!(matches!(e, InferError::BadProof { .. }), "{e}");

    // A posted result: challenges that cannot open.
    let liar = Player::new(g.clone(), lie(2));
    net.block(vec![(PROVIDER, post(id, &liar, BOND))]);
    let bonds = (held(&net.state), balance(&net.state, PROVIDER));
    assert!(matches!(
        infer_error(net.reject(PROVIDER, challenge(id, &honest, 4, BOND))),
        InferError::SelfChallenge
    ));
    let e = infer_error(net.reject(CHALLENGER, challenge(id, &liar, 4, BOND)));
    assert!(matches!(e, InferError::InvalidChallenge { .. }), "{e}");
    assert!(e.to_string().contains("same output"), "{e}");
    let e = infer_error(net.reject(CHALLENGER, challenge(id, &honest, 3, BOND)));
    assert!(e.to_string().contains("k = 3"), "{e}");
    assert!(matches!(
        infer_error(net.reject(CHALLENGER, challenge(id, &honest, 4, 10))),
        InferError::BondTooLow { .. }
    ));
    assert!(matches!(
        infer_error(net.reject(CHALLENGER, post(id, &honest, BOND))),
        InferError::WrongStatus { .. }
    ));

    // A dispute: moves by strangers, out of turn, malformed, and wrong.
    net.block(vec![(CHALLENGER, challenge(id, &honest, 2, BOND))]);
    let model = net.state.model(&model_id()).unwrap().registration;
    let d = net.state.dispute(id, 0).unwrap();
    let (game, _, _) = dispute_game(&model, &net.state.inference(id).unwrap(), &d).unwrap();
    let split = liar
        .respond(Side::Provider, &game.request())
        .expect("a split");
    let mv = |bytes: Vec<u8>| Action::DisputeMove {
        request: id,
        dispute: 0,
        mv: bytes,
    };
    assert!(matches!(
        infer_error(net.reject(STRANGER, mv(split.encode()))),
        InferError::NotAParty { .. }
    ));
    let e = infer_error(net.reject(CHALLENGER, mv(split.encode())));
    assert!(matches!(e, InferError::BadMove { .. }), "{e}");
    let e = infer_error(net.reject(PROVIDER, mv(vec![9, 9, 9])));
    assert!(
        matches!(
            e,
            InferError::Malformed {
                what: "dispute move",
                ..
            }
        ),
        "{e}"
    );
    let mut wrong = split.encode();
    let last = wrong.len() - 1;
    wrong[last] ^= 1;
    let e = infer_error(net.reject(PROVIDER, mv(wrong)));
    assert!(matches!(e, InferError::BadMove { .. }), "{e}");
    assert_eq!(
        held(&net.state),
        bonds.0 + BOND,
        "only the challenge bond was added"
    );
    assert_eq!(balance(&net.state, PROVIDER), bonds.1);
}

#[test]
fn protocol_bounds_and_roots_agree_with_the_engine() {
    assert_eq!(
        infer::MODEL_NODES_MAX as usize,
        cairn_infer::graph::NODES_MAX
    );
    let (g, t) = (graph(), truth());
    let exec = cairn_infer::ExecCommitment::new(&g, &t);
    let root = cairn_infer::commit::tensor_root;
    assert_eq!(root(&[2, 4], &t.outputs[0]), Some(exec.node_roots[0]));
    assert_eq!(root(&[3], t.output()), Some(exec.node_roots[3]));
    assert_eq!(root(&[3], &[1, 2]), None);
    assert_eq!(root(&[0, 3], &[]), None);
}

#[test]
fn corrupted_moves_are_refused_and_the_honest_side_still_wins() {
    for seed in 0..24u64 {
        let liar_provides = seed % 2 == 0;
        let mut net = net();
        let id = requested(&mut net);
        let honest = Player::new(graph(), truth());
        let liar = Player::new(graph(), lie(1 + (seed as usize / 2) % 3));
        let (provider, challenger) = if liar_provides {
            (&liar, &honest)
        } else {
            (&honest, &liar)
        };
        let liar_side = if liar_provides {
            Side::Provider
        } else {
            Side::Challenger
        };
        net.block(vec![(PROVIDER, post(id, provider, BOND))]);
        let k = [2u8, 4, 16][(seed as usize / 6) % 3];
        net.block(vec![(CHALLENGER, challenge(id, challenger, k, BOND))]);
        let bad = Misbehave::Corrupt {
            n: (seed % 3) as u32,
            seed,
            then_silent: seed % 4 == 1,
        };
        play(&mut net, id, provider, challenger, Some((liar_side, bad)));
        let end = net.state.dispute(id, 0).unwrap().end.expect("ended");
        assert_eq!(
            end.verdict == DisputeVerdict::ProviderWon,
            !liar_provides,
            "seed {seed}: {}",
            end.reason
        );
        // Either way the request ends: refuted, or settled once the challenge window closed
        // with no dispute open.
        net.idle(infer::CHALLENGE_WINDOW_BLOCKS + 1);
        let status = net.state.inference(id).unwrap().status;
        let expected = if liar_provides {
            InferenceStatus::Refuted
        } else {
            InferenceStatus::Settled
        };
        assert_eq!(status, expected, "seed {seed}");
        assert_eq!(held(&net.state), 0);
    }
}
