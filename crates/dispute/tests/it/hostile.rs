//! Hostile registrations through the game: a model root that commits to headers or channels
//! no valid graph has.
//!
//! The chain rebuilds every dispute by replaying its moves inside block execution, so each of
//! these crashed every validator (or left an honest challenger unable to move, losing on time).
//! Now a header the pick reveals, or a header or channel the step opens, that is proven under
//! the registered root and fails validation ends the game: the challenger wins with
//! `Reason::InvalidModel`. The same move with an opening that is not proven is rejected and
//! changes nothing.

use cairn_dispute::testkit::RawGame;
use cairn_dispute::{Clock, Dispute, Move, MoveError, Params, Reason, Reveal, Side};
use cairn_infer::{Channels, ConvGeom, Multiplier, Node, Op, PoolGeom};

use crate::common::node;

const M: Multiplier = Multiplier {
    m: 1 << 30,
    shift: 40,
};

/// Opens the dispute over `case` (k = 16).
fn open(case: &RawGame) -> Dispute {
    Dispute::open(Params {
        model_root: case.raw.root(),
        node_count: case.raw.len() as u32,
        input_root: case.exec(Side::Challenger).node_roots[0],
        provider: case.claim(Side::Provider),
        challenger: case.claim(Side::Challenger),
        provider_bond: 1_000,
        challenger_bond: 700,
        k: 16,
        clock: Clock {
            move_blocks_max: 10,
            budget_blocks: 1_000,
        },
        start_height: 100,
    })
    .expect("opens")
}

/// Breaks the proof of the header or channel that `mv` opens (flips a bit of the proven
/// bytes), so the opening is no longer under the registered root.
fn unproven(mv: &Move) -> Move {
    let mut mv = mv.clone();
    match &mut mv {
        Move::Pick { reveal, .. } => {
            let h = reveal
                .header
                .as_mut()
                .expect("a node pick reveals a header");
            *h.header.last_mut().expect("header bytes") ^= 1;
        }
        Move::Step(p) => match &mut p.channel {
            Some(c) => c.bias ^= 1,
            None => *p.node.header.header.last_mut().expect("bytes") ^= 1,
        },
        Move::Split { .. } => unreachable!("splits open nothing"),
    }
    mv
}

/// Plays the case to the end with honest moves. Before the move that opens the invalid
/// header or channel (the last one), posts it unproven and checks it is rejected with
/// nothing changed. The challenger must win by `InvalidModel` at `bad`, on a `kind` move.
fn assert_invalid_model(case: RawGame, bad: u32, kind: &str) {
    let mut d = open(&case);
    let mut height = 100;
    for _ in 0..8 {
        let (side, mv) = case.answer(&d);
        height += 1;
        if matches!(
            mv,
            Move::Pick {
                reveal: Reveal {
                    header: Some(_),
                    ..
                },
                ..
            } | Move::Step(_)
        ) {
            let before = d.clone();
            let err = d.apply(side, &unproven(&mv), height).expect_err("unproven");
            assert!(
                matches!(err, MoveError::Header(_) | MoveError::Step(_)),
                "{err:?}"
            );
            assert_eq!(d, before, "a rejected move changes nothing");
        }
        let outcome = d.apply(side, &mv, height).expect("accepted").copied();
        if let Some(o) = outcome {
            assert_eq!(mv.name(), kind);
            assert_eq!(o.winner, Side::Challenger);
            assert_eq!(o.reason, Reason::InvalidModel { node: bad });
            assert_eq!((o.slashed, o.payout), (1_000, 1_700));
            return;
        }
    }
    panic!("the game did not end");
}

fn relu(inputs: &[u32], shape: &[u32]) -> Node {
    node(Op::Relu, inputs, shape, 0)
}

fn input(shape: &[u32]) -> Node {
    node(Op::Input, &[], shape, 0)
}

fn with_channels(mut n: Node, weights: Vec<i8>, bias: Vec<i32>) -> Node {
    n.channels = Some(Channels {
        weights,
        multipliers: vec![M; bias.len()],
        bias,
    });
    n
}

// Headers invalid on their own: the pick that reveals one ends the game.

#[test]
fn relu_without_inputs_ends_the_game_at_the_pick() {
    let nodes = vec![input(&[4]), relu(&[], &[4])];
    let case = RawGame::new(nodes, vec![vec![1; 4], vec![1; 4]], 1);
    assert_invalid_model(case, 1, "pick");
}

#[test]
fn dense_with_zero_out_features_ends_the_game_at_the_pick() {
    let dense = Op::Dense {
        in_features: 4,
        out_features: 0,
    };
    let d = with_channels(node(dense, &[0], &[1], 0), vec![1; 4], vec![0]);
    let case = RawGame::new(vec![input(&[4]), d], vec![vec![1; 4], vec![0]], 1);
    assert_invalid_model(case, 1, "pick");
}

#[test]
fn input_op_at_node_1_ends_the_game_at_the_pick() {
    let case = RawGame::new(vec![input(&[4]), input(&[4])], vec![vec![1; 4]; 2], 1);
    assert_invalid_model(case, 1, "pick");
}

#[test]
fn add_shift_out_of_range_ends_the_game_at_the_pick() {
    for shift in [0, 64, 255] {
        let add = Op::Add {
            ma: 1 << 20,
            mb: 1 << 20,
            shift,
        };
        let nodes = vec![input(&[4]), relu(&[0], &[4]), node(add, &[0, 1], &[4], 0)];
        let outputs = vec![vec![-5, 7, 0, 100], vec![0, 7, 0, 100], vec![9; 4]];
        assert_invalid_model(RawGame::new(nodes, outputs, 2), 2, "pick");
    }
}

#[test]
fn add_with_one_input_ends_the_game_at_the_pick() {
    let add = Op::Add {
        ma: 1,
        mb: 1,
        shift: 1,
    };
    let nodes = vec![input(&[4]), node(add, &[0], &[4], 0)];
    assert_invalid_model(RawGame::new(nodes, vec![vec![3; 4]; 2], 1), 1, "pick");
}

#[test]
fn softmax_table_short_or_all_zero_ends_the_game_at_the_pick() {
    for table in [vec![1 << 16; 10], vec![0; 256]] {
        let nodes = vec![input(&[4]), node(Op::Softmax { table }, &[0], &[4], -128)];
        let outputs = vec![vec![100, -100, 0, 50], vec![0; 4]];
        assert_invalid_model(RawGame::new(nodes, outputs, 1), 1, "pick");
    }
}

const UNIT: ConvGeom = ConvGeom {
    in_channels: 1,
    out_channels: 1,
    kernel_h: 1,
    kernel_w: 1,
    stride: 1,
    pad: 0,
};

fn conv(g: ConvGeom, input_shape: &[u32]) -> Vec<Node> {
    let c = with_channels(node(Op::Conv2d(g), &[0], &[1, 1, 1], 0), vec![1], vec![0]);
    vec![input(input_shape), c]
}

#[test]
fn convolution_depth_overflow_ends_the_game_at_the_pick() {
    let g = ConvGeom {
        in_channels: u32::MAX,
        kernel_h: u32::MAX,
        kernel_w: u32::MAX,
        ..UNIT
    };
    let case = RawGame::new(conv(g, &[4, 4, 1]), vec![vec![1; 16], vec![0]], 1);
    assert_invalid_model(case, 1, "pick");
}

#[test]
fn row_length_of_2_pow_32_minus_1_ends_the_game_at_the_pick() {
    // Before: the pick had to reveal a row of 2^32 - 1 values, so the challenger could not
    // move and lost on time.
    let nodes = vec![input(&[4]), relu(&[0], &[u32::MAX])];
    let case = RawGame::new(nodes, vec![vec![1; 4]; 2], 1);
    assert_invalid_model(case, 1, "pick");
}

// Headers valid on their own, invalid against their inputs or in a channel: the provider's
// step opens them and loses.

#[test]
fn bias_of_i32_max_ends_the_game_at_the_step() {
    let dense = Op::Dense {
        in_features: 4,
        out_features: 1,
    };
    let d = with_channels(node(dense, &[0], &[1], 0), vec![127; 4], vec![i32::MAX]);
    let case = RawGame::new(vec![input(&[4]), d], vec![vec![100; 4], vec![5]], 1);
    assert_invalid_model(case, 1, "step");
}

#[test]
fn pool_and_conv_geometry_past_the_input_end_the_game_at_the_step() {
    let pool = PoolGeom {
        kernel: 2,
        stride: 1,
    };
    let rank1_pool = vec![input(&[4]), node(Op::MaxPool(pool), &[0], &[1, 1, 1], 0)];
    let wide = Op::MaxPool(PoolGeom {
        kernel: 3,
        stride: 1,
    });
    let wide_pool = vec![input(&[2, 2, 1]), node(wide, &[0], &[1, 1, 1], 0)];
    for nodes in [rank1_pool, wide_pool, conv(UNIT, &[4])] {
        let case = RawGame::new(nodes, vec![vec![1; 4], vec![0]], 1);
        assert_invalid_model(case, 1, "step");
    }
}

#[test]
fn input_row_length_of_2_pow_32_minus_1_ends_the_game_at_the_step() {
    // The argmax is valid on its own; its input's header, opened by the step, is not.
    let nodes = vec![input(&[u32::MAX]), node(Op::Argmax, &[0], &[1], 0)];
    let case = RawGame::new(nodes, vec![vec![1; 4], vec![0]], 1);
    assert_invalid_model(case, 0, "step");
}
