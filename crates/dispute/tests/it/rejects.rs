//! Every rejection: a typed error, and the dispute unchanged.

use cairn_dispute::{
    Dispute, Move, MoveError, OpenError, Params, Player, Reason, Request, Side, TimeoutError,
};
use cairn_infer::{Channels, ConvGeom, Graph, Multiplier, Op, Trace};

use crate::common::{Lie, force_output_lie, forge, node, params, setup};

/// input [4,4,2] → conv 1x1 [4,4,3] → relu → add(conv, relu) → flatten [48] → dense [5] →
/// argmax [1]: multi-row and single-row nodes and a skip connection.
fn small_graph() -> Graph {
    let g = ConvGeom {
        in_channels: 2,
        out_channels: 3,
        kernel_h: 1,
        kernel_w: 1,
        stride: 1,
        pad: 0,
    };
    let mult = Multiplier {
        m: 1 << 30,
        shift: 38,
    };
    let mut conv = node(Op::Conv2d(g), &[0], &[4, 4, 3], 3);
    conv.channels = Some(Channels {
        weights: vec![5, -7, 11, 2, -3, 9],
        bias: vec![10, -20, 30],
        multipliers: vec![mult; 3],
    });
    let mut dense = node(
        Op::Dense {
            in_features: 48,
            out_features: 5,
        },
        &[4],
        &[5],
        -2,
    );
    dense.channels = Some(Channels {
        weights: (0..240).map(|i| ((i * 37) % 251) as i8).collect(),
        bias: vec![1, 2, 3, 4, 5],
        multipliers: vec![mult; 5],
    });
    Graph::new(vec![
        node(Op::Input, &[], &[4, 4, 2], -1),
        conv,
        node(Op::Relu, &[1], &[4, 4, 3], 3),
        node(
            Op::Add {
                ma: 1 << 30,
                mb: 1 << 29,
                shift: 31,
            },
            &[1, 2],
            &[4, 4, 3],
            0,
        ),
        node(Op::Flatten, &[3], &[48], 0),
        dense,
        node(Op::Argmax, &[5], &[1], 0),
    ])
    .expect("valid")
}

struct Fixture {
    truth: Trace,
    provider: Player,
    challenger: Player,
    params: Params,
}

/// A provider lying at `at` against an honest challenger.
fn fixture(at: usize, k: u8) -> Fixture {
    let g = small_graph();
    let (_, truth) = setup(&g, 3);
    let mut forged = forge(&g, &truth, &[(at, Lie::Garbage(9))]);
    force_output_lie(&truth, &mut forged, 10);
    let provider = Player::new(g.clone(), forged);
    let challenger = Player::new(g.clone(), truth.clone());
    let params = params(&g, &truth, &provider, &challenger, k);
    Fixture {
        truth,
        provider,
        challenger,
        params,
    }
}

/// Plays honest moves (one block each) until `stop` holds for the request.
fn advance(d: &mut Dispute, f: &Fixture, mut h: u64, stop: impl Fn(&Request<'_>) -> bool) -> u64 {
    while !stop(&d.request()) {
        let side = d.turn().expect("unresolved");
        let p = if side == Side::Provider {
            &f.provider
        } else {
            &f.challenger
        };
        let mv = p.respond(side, &d.request()).expect("has an answer");
        h += 1;
        d.apply(side, &mv, h).expect("honest move accepted");
    }
    h
}

fn rejects(d: &mut Dispute, side: Side, mv: &Move, h: u64) -> MoveError {
    let before = d.clone();
    let err = d.apply(side, mv, h).expect_err("rejected");
    assert_eq!(*d, before, "a rejected move changes nothing");
    err
}

#[test]
fn open_rejections() {
    let f = fixture(1, 4);
    let with = |edit: &dyn Fn(&mut Params)| {
        let mut p = f.params.clone();
        edit(&mut p);
        Dispute::open(p).expect_err("rejected")
    };
    assert_eq!(with(&|p| p.k = 3), OpenError::Arity { k: 3 });
    assert!(matches!(
        with(&|p| p.node_count = 1),
        OpenError::NodeCount { got: 1, .. }
    ));
    assert!(matches!(
        with(&|p| p.node_count = 5000),
        OpenError::NodeCount { got: 5000, .. }
    ));
    assert_eq!(
        with(&|p| p.challenger = p.provider.clone()),
        OpenError::SameOutput
    );
    assert!(matches!(
        with(&|p| p.challenger.output_root[0] ^= 1),
        OpenError::ClaimProof {
            side: Side::Challenger,
            ..
        }
    ));
    assert_eq!(
        with(&|p| p.provider_bond = 0),
        OpenError::ZeroBond {
            side: Side::Provider
        }
    );
    assert_eq!(
        with(&|p| p.challenger_bond = 0),
        OpenError::ZeroBond {
            side: Side::Challenger
        }
    );
    assert_eq!(with(&|p| p.clock.move_blocks_max = 0), OpenError::ZeroClock);
    assert!(Dispute::open(f.params.clone()).is_ok());
}

#[test]
fn turn_height_deadline_and_kind() {
    let f = fixture(1, 2);
    let mut d = Dispute::open(f.params.clone()).expect("opens");
    let split = f
        .provider
        .respond(Side::Provider, &d.request())
        .expect("split");
    let start = f.params.start_height;
    assert_eq!(
        rejects(&mut d, Side::Challenger, &split, start + 1),
        MoveError::NotYourTurn {
            expected: Side::Provider,
            got: Side::Challenger
        }
    );
    assert_eq!(
        rejects(&mut d, Side::Provider, &split, start - 1),
        MoveError::HeightInPast {
            height: start - 1,
            turn_started: start
        }
    );
    let deadline = d.deadline().expect("open");
    assert_eq!(deadline, start + 10);
    assert_eq!(
        rejects(&mut d, Side::Provider, &split, deadline + 1),
        MoveError::DeadlinePassed {
            height: deadline + 1,
            deadline
        }
    );
    let pick = Move::Pick {
        children: vec![],
        index: 0,
        reveal: Default::default(),
    };
    assert_eq!(
        rejects(&mut d, Side::Provider, &pick, start + 1),
        MoveError::UnexpectedMove {
            expected: "split",
            got: "pick"
        }
    );
    assert_eq!(
        d.claim_timeout(deadline),
        Err(TimeoutError::NotExpired {
            height: deadline,
            deadline
        })
    );
    // The clock: the provider spends 4 blocks; only its budget shrinks.
    d.apply(Side::Provider, &split, start + 4)
        .expect("accepted");
    assert_eq!(
        (
            d.budget_left(Side::Provider),
            d.budget_left(Side::Challenger)
        ),
        (996, 1000)
    );
    assert_eq!(d.deadline(), Some(start + 14));
    let outcome = *d.claim_timeout(start + 15).expect("expired");
    assert_eq!(
        (outcome.winner, outcome.reason),
        (Side::Provider, Reason::Timeout)
    );
    assert_eq!((outcome.slashed, outcome.payout), (700, 1_700));
    assert_eq!(d.claim_timeout(start + 16), Err(TimeoutError::Resolved));
    assert_eq!(
        rejects(&mut d, Side::Challenger, &split, start + 16),
        MoveError::Resolved
    );
}

#[test]
fn bisection_rejections() {
    let f = fixture(3, 2);
    let mut d = Dispute::open(f.params.clone()).expect("opens");
    let h = f.params.start_height + 1;
    let Some(Move::Split { children }) = f.provider.respond(Side::Provider, &d.request()) else {
        panic!("split");
    };
    let short = Move::Split {
        children: children[1..].to_vec(),
    };
    assert!(matches!(
        rejects(&mut d, Side::Provider, &short, h),
        MoveError::ChildCount { .. }
    ));
    let mut bad = children.clone();
    bad[0][0] ^= 1;
    assert_eq!(
        rejects(&mut d, Side::Provider, &Move::Split { children: bad }, h),
        MoveError::RootMismatch {
            side: Side::Provider
        }
    );
    d.apply(Side::Provider, &Move::Split { children }, h)
        .expect("accepted");
    let Some(Move::Pick {
        children,
        index,
        reveal,
    }) = f.challenger.respond(Side::Challenger, &d.request())
    else {
        panic!("pick");
    };
    let wrong = Move::Pick {
        children: children.clone(),
        index: index + 1,
        reveal: reveal.clone(),
    };
    assert_eq!(
        rejects(&mut d, Side::Challenger, &wrong, h + 1),
        MoveError::NotFirstDisagreement {
            index: index + 1,
            first: Some(index)
        }
    );
    // Copying the provider's children: no disagreement left to pick.
    let Request::Pick { provider, .. } = d.request() else {
        panic!("pick")
    };
    let copy = Move::Pick {
        children: provider.to_vec(),
        index,
        reveal: reveal.clone(),
    };
    assert_eq!(
        rejects(&mut d, Side::Challenger, &copy, h + 1),
        MoveError::RootMismatch {
            side: Side::Challenger
        }
    );
}

/// Advances to the challenger's pick that isolates node `at` (a level-0 execution pick).
fn at_node_pick(f: &Fixture) -> (Dispute, u64, Move) {
    let mut d = Dispute::open(f.params.clone()).expect("opens");
    let h = advance(&mut d, f, f.params.start_height, |r| {
        matches!(
            r,
            Request::Pick {
                level: 0,
                tree: cairn_dispute::Tree::Exec,
                ..
            }
        )
    });
    let mv = f
        .challenger
        .respond(Side::Challenger, &d.request())
        .expect("pick");
    (d, h + 1, mv)
}

#[test]
fn reveal_rejections() {
    // Lie at the flatten node (one row): the pick must reveal the header and the row.
    let f = fixture(4, 16);
    let (mut d, h, mv) = at_node_pick(&f);
    let Move::Pick {
        children,
        index,
        reveal,
    } = mv
    else {
        panic!("pick")
    };
    let with = |edit: &dyn Fn(&mut cairn_dispute::Reveal)| {
        let mut r = reveal.clone();
        edit(&mut r);
        Move::Pick {
            children: children.clone(),
            index,
            reveal: r,
        }
    };
    assert_eq!(
        rejects(&mut d, Side::Challenger, &with(&|r| r.header = None), h),
        MoveError::MissingReveal("the node header")
    );
    assert_eq!(
        rejects(&mut d, Side::Challenger, &with(&|r| r.row = None), h),
        MoveError::MissingReveal("its only row")
    );
    assert!(matches!(
        rejects(
            &mut d,
            Side::Challenger,
            &with(&|r| r.header.as_mut().expect("h").header[0] ^= 1),
            h
        ),
        MoveError::Header(_)
    ));
    assert_eq!(
        rejects(
            &mut d,
            Side::Challenger,
            &with(&|r| {
                r.row.as_mut().expect("r").pop();
            }),
            h
        ),
        MoveError::RowLength {
            expected: 48,
            got: 47
        }
    );
    assert_eq!(
        rejects(
            &mut d,
            Side::Challenger,
            &with(&|r| r.row.as_mut().expect("r")[0] ^= 1),
            h
        ),
        MoveError::RowMismatch
    );
    d.apply(Side::Challenger, &with(&|_| ()), h)
        .expect("accepted");
    assert!(matches!(
        d.request(),
        Request::Step {
            node: 4,
            row: 0,
            ..
        }
    ));
}

#[test]
fn row_bisection_and_step_rejections() {
    // Lie at the conv node (16 rows): a row bisection, then the step.
    let f = fixture(1, 4);
    let (mut d, h, mv) = at_node_pick(&f);
    let Move::Pick {
        children,
        index,
        reveal,
    } = mv
    else {
        panic!("pick")
    };
    let mut with_row = reveal.clone();
    with_row.row = Some(vec![0; 3]);
    let early = Move::Pick {
        children: children.clone(),
        index,
        reveal: with_row,
    };
    assert_eq!(
        rejects(&mut d, Side::Challenger, &early, h),
        MoveError::UnexpectedReveal("a row before the row bisection")
    );
    d.apply(
        Side::Challenger,
        &Move::Pick {
            children,
            index,
            reveal,
        },
        h,
    )
    .expect("accepted");
    assert!(matches!(
        d.request(),
        Request::Split {
            tree: cairn_dispute::Tree::Rows { node: 1, .. },
            ..
        }
    ));
    let h = advance(&mut d, &f, h, |r| matches!(r, Request::Step { .. })) + 1;
    let Some(Move::Step(proof)) = f.provider.respond(Side::Provider, &d.request()) else {
        panic!("step")
    };
    let step = |edit: &dyn Fn(&mut cairn_infer::StepProof)| {
        let mut p = proof.clone();
        edit(&mut p);
        Move::Step(p)
    };
    assert!(matches!(
        rejects(&mut d, Side::Provider, &step(&|p| p.node.index = 2), h),
        MoveError::WrongNode {
            expected: 1,
            got: 2
        }
    ));
    assert_eq!(
        rejects(
            &mut d,
            Side::Provider,
            &step(&|p| p.node.output_root[0] ^= 1),
            h
        ),
        MoveError::UnboundOutputRoot
    );
    let Request::Step { challenger_row, .. } = d.request() else {
        panic!("step")
    };
    let theirs = challenger_row.to_vec();
    assert_eq!(
        rejects(
            &mut d,
            Side::Provider,
            &step(&|p| p.output_row.data = theirs.clone()),
            h
        ),
        MoveError::RowNotDisputed
    );
    assert!(matches!(
        rejects(&mut d, Side::Provider, &step(&|p| p.element += 1), h),
        MoveError::WrongElement { .. }
    ));
    assert!(matches!(
        rejects(
            &mut d,
            Side::Provider,
            &step(&|p| p.inputs[0].rows[0].data[0] ^= 1),
            h
        ),
        MoveError::Step(_)
    ));
    assert!(matches!(
        rejects(
            &mut d,
            Side::Provider,
            &step(&|p| p.channel.as_mut().expect("conv").weights[0] ^= 1),
            h
        ),
        MoveError::Step(_)
    ));
    let outcome = d
        .apply(Side::Provider, &Move::Step(proof), h)
        .expect("accepted")
        .copied()
        .expect("resolved");
    assert_eq!(outcome.winner, Side::Challenger);
    assert!(matches!(outcome.reason, Reason::StepMismatch { .. }));
    let _ = &f.truth;
}

#[test]
fn input_node() {
    // The provider ran another input: the game isolates node 0 and it loses there.
    let f = fixture(0, 4);
    let (mut d, h, mv) = at_node_pick(&f);
    let outcome = d
        .apply(Side::Challenger, &mv, h)
        .expect("accepted")
        .copied()
        .expect("resolved");
    assert_eq!(
        (outcome.winner, outcome.reason),
        (Side::Challenger, Reason::InputMismatch)
    );

    // A challenger that ran another input cannot pick node 0.
    let g = small_graph();
    let (_, truth) = setup(&g, 3);
    let mut forged = forge(&g, &truth, &[(0, Lie::Garbage(4))]);
    force_output_lie(&truth, &mut forged, 5);
    let f = Fixture {
        provider: Player::new(g.clone(), truth.clone()),
        challenger: Player::new(g.clone(), forged),
        params: Params {
            ..params(
                &g,
                &truth,
                &Player::new(g.clone(), truth.clone()),
                &Player::new(g.clone(), forge(&g, &truth, &[(0, Lie::Garbage(4))])),
                4,
            )
        },
        truth,
    };
    let mut f = f;
    f.params.challenger = f.challenger.claim();
    let (mut d, h, mv) = at_node_pick(&f);
    assert_eq!(
        rejects(&mut d, Side::Challenger, &mv, h),
        MoveError::InputNotRegistered
    );
}
