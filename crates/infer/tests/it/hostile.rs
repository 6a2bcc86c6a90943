//! Hostile registrations: a model root commits to headers or channels no valid graph has.
//!
//! The chain registers a model by its root alone, so a one-step check opens headers that were
//! never validated. Each case here crashed every validator before validation ran in
//! `verify_step` (index out of bounds, remainder by zero, `unreachable!`, overflow), or gave a
//! verdict that blamed the wrong party. Now: a header or channel proven under the root that
//! fails validation is `StepVerdict::InvalidModel` with exactly the error `Graph::new` gives
//! for the same nodes; the same opening under any other root is a rejected step.

use cairn_infer::testkit::RawModel;
use cairn_infer::{
    Channels, ConvGeom, Graph, GraphError, Multiplier, Node, Op, PoolGeom, ProofError, StepError,
    StepVerdict, verify_step,
};

use crate::common::{input, node};

const M: Multiplier = Multiplier {
    m: 1 << 30,
    shift: 40,
};

fn with_channels(mut n: Node, weights: Vec<i8>, bias: Vec<i32>) -> Node {
    let multipliers = vec![M; bias.len()];
    n.channels = Some(Channels {
        weights,
        bias,
        multipliers,
    });
    n
}

/// Disputes `element` of node `index` of the raw model over `nodes` (with `outputs` as the
/// provider's trace) and checks: no panic; the verdict is `InvalidModel` at `bad` with the
/// error `Graph::new` gives for the same nodes; and the same openings checked against the root
/// of another model (so not proven) are a rejected step.
fn assert_invalid(nodes: Vec<Node>, outputs: &[Vec<i8>], index: usize, element: usize, bad: u32) {
    let expected = Graph::new(nodes.clone()).expect_err("no valid graph has these nodes");
    let raw = RawModel::new(nodes);
    let exec = raw.commit_outputs(outputs);
    let proof = raw.prove_step(&exec, outputs, index, element);
    let verdict = verify_step(&raw.root(), raw.len(), &exec.root, &proof);
    assert_eq!(
        verdict,
        Ok(StepVerdict::InvalidModel {
            node: bad,
            reason: expected
        })
    );
    // Not proven: the same openings against another registered root.
    let mut other = raw.nodes().to_vec();
    other[0].output.zero_point = other[0].output.zero_point.wrapping_add(1);
    let other = RawModel::new(other);
    let rejected = verify_step(&other.root(), raw.len(), &exec.root, &proof);
    assert!(
        matches!(
            rejected,
            Err(StepError::Proof(ProofError::RootMismatch { .. }))
        ),
        "{rejected:?}"
    );
}

fn relu(inputs: &[u32], shape: &[u32]) -> Node {
    node(Op::Relu, inputs, shape, 0)
}

#[test]
fn relu_without_inputs_is_an_invalid_model() {
    let nodes = vec![input(&[4], 0), relu(&[], &[4])];
    assert_invalid(nodes, &[vec![1, 2, 3, 4], vec![1, 2, 3, 4]], 1, 0, 1);
}

#[test]
fn dense_with_zero_out_features_is_an_invalid_model() {
    let dense = Op::Dense {
        in_features: 4,
        out_features: 0,
    };
    let d = with_channels(node(dense, &[0], &[1], 0), vec![1; 4], vec![0]);
    assert_invalid(vec![input(&[4], 0), d], &[vec![1; 4], vec![0]], 1, 0, 1);
}

#[test]
fn input_op_disputed_at_node_1_is_an_invalid_model() {
    let nodes = vec![input(&[4], 0), input(&[4], 0)];
    assert_invalid(nodes, &[vec![1; 4], vec![2; 4]], 1, 0, 1);
}

fn add_with_shift(shift: u8) -> Vec<Node> {
    let add = Op::Add {
        ma: 1 << 20,
        mb: 1 << 20,
        shift,
    };
    vec![
        input(&[4], 0),
        relu(&[0], &[4]),
        node(add, &[0, 1], &[4], 0),
    ]
}

#[test]
fn add_shift_out_of_range_is_an_invalid_model() {
    let outputs = [vec![-5, 7, 0, 100], vec![0, 7, 0, 100], vec![9; 4]];
    for shift in [0, 63, 64, 200, 255] {
        assert_invalid(add_with_shift(shift), &outputs, 2, 1, 2);
    }
}

#[test]
fn add_with_one_input_is_an_invalid_model() {
    let add = Op::Add {
        ma: 1,
        mb: 1,
        shift: 1,
    };
    let nodes = vec![input(&[4], 0), node(add, &[0], &[4], 0)];
    assert_invalid(nodes, &[vec![3; 4], vec![3; 4]], 1, 2, 1);
}

#[test]
fn bias_of_i32_max_is_an_invalid_model() {
    let dense = Op::Dense {
        in_features: 4,
        out_features: 1,
    };
    // (100 - 0) · 127 added to i32::MAX overflowed the accumulator.
    let d = with_channels(node(dense, &[0], &[1], 0), vec![127; 4], vec![i32::MAX]);
    assert_invalid(vec![input(&[4], 0), d], &[vec![100; 4], vec![5]], 1, 0, 1);
}

#[test]
fn pooling_over_a_rank_1_input_is_an_invalid_model() {
    let pool = PoolGeom {
        kernel: 2,
        stride: 1,
    };
    for op in [
        Op::MaxPool(pool),
        Op::AvgPool {
            pool,
            multiplier: M,
        },
    ] {
        let nodes = vec![input(&[4], 0), node(op, &[0], &[1, 1, 1], 0)];
        assert_invalid(nodes, &[vec![1; 4], vec![0]], 1, 0, 1);
    }
}

#[test]
fn pooling_window_past_the_input_is_an_invalid_model() {
    let pool = Op::MaxPool(PoolGeom {
        kernel: 3,
        stride: 1,
    });
    let nodes = vec![input(&[2, 2, 1], 0), node(pool, &[0], &[1, 1, 1], 0)];
    assert_invalid(nodes, &[vec![1; 4], vec![0]], 1, 0, 1);
}

fn conv(g: ConvGeom, input_shape: &[u32], out_shape: &[u32]) -> Vec<Node> {
    let c = with_channels(node(Op::Conv2d(g), &[0], out_shape, 0), vec![1], vec![0]);
    vec![input(input_shape, 0), c]
}

const UNIT: ConvGeom = ConvGeom {
    in_channels: 1,
    out_channels: 1,
    kernel_h: 1,
    kernel_w: 1,
    stride: 1,
    pad: 0,
};

#[test]
fn convolution_over_a_rank_1_input_is_an_invalid_model() {
    let nodes = conv(UNIT, &[4], &[1, 1, 1]);
    assert_invalid(nodes, &[vec![1; 4], vec![0]], 1, 0, 1);
}

#[test]
fn convolution_depth_overflow_is_an_invalid_model() {
    let g = ConvGeom {
        in_channels: u32::MAX,
        kernel_h: u32::MAX,
        kernel_w: u32::MAX,
        ..UNIT
    };
    let nodes = conv(g, &[4, 4, 1], &[1, 1, 1]);
    assert_invalid(nodes, &[vec![1; 16], vec![0]], 1, 0, 1);
}

fn softmax(table: Vec<u32>) -> Vec<Node> {
    vec![
        input(&[4], 0),
        node(Op::Softmax { table }, &[0], &[4], -128),
    ]
}

#[test]
fn softmax_table_short_or_all_zero_is_an_invalid_model() {
    // max - x reaches 200: past a 10-entry table; an all-zero table sums to 0.
    let outputs = [vec![100, -100, 0, 50], vec![0; 4]];
    for table in [vec![1 << 16; 10], vec![0; 256], Vec::new()] {
        assert_invalid(softmax(table), &outputs, 1, 1, 1);
    }
}

#[test]
fn row_length_of_2_pow_32_minus_1_is_an_invalid_model() {
    // As the disputed node's shape, and as its input's (an argmax over it allocated a row of
    // 2^32 - 1 bytes before anything was checked).
    let nodes = vec![input(&[4], 0), relu(&[0], &[u32::MAX])];
    assert_invalid(nodes, &[vec![1; 4], vec![1; 4]], 1, 0, 1);
    let nodes = vec![input(&[u32::MAX], 0), node(Op::Argmax, &[0], &[1], 0)];
    assert_invalid(nodes, &[vec![1; 4], vec![0]], 1, 0, 0);
}

#[test]
fn graph_validation_and_step_validation_agree_on_a_valid_graph() {
    // The honest side: a raw model over a valid graph's nodes has the graph's root, and every
    // step verifies as consistent (validation never blames a valid model).
    let g = crate::common::random_graph(9);
    let x = crate::common::Rng(9).bytes(g.input().elements());
    let trace = cairn_infer::run(&g, &x).expect("runs");
    let raw = RawModel::new(g.nodes().to_vec());
    assert_eq!(raw.root(), cairn_infer::ModelCommitment::new(&g).root);
    let exec = raw.commit_outputs(&trace.outputs);
    for i in 1..g.len() {
        let proof = raw.prove_step(&exec, &trace.outputs, i, 0);
        let verdict = verify_step(&raw.root(), raw.len(), &exec.root, &proof);
        assert_eq!(
            verdict,
            Ok(StepVerdict::Consistent {
                value: trace.outputs[i][0]
            }),
            "node {i}"
        );
    }
}

#[test]
fn undecodable_header_proven_under_the_root_is_an_invalid_model() {
    // Three inputs encode as n_inputs = 3, which the header decoder refuses (at most 2).
    let nodes = vec![input(&[4], 0), relu(&[0, 0, 0], &[4])];
    let raw = RawModel::new(nodes);
    let outputs = [vec![1; 4], vec![1; 4]];
    let exec = raw.commit_outputs(&outputs);
    let proof = raw.prove_step(&exec, &outputs, 1, 0);
    let verdict = verify_step(&raw.root(), raw.len(), &exec.root, &proof);
    assert!(
        matches!(
            verdict,
            Ok(StepVerdict::InvalidModel {
                node: 1,
                reason: GraphError::Undecodable { node: 1, .. }
            })
        ),
        "{verdict:?}"
    );
}
