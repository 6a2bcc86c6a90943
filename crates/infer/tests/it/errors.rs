//! Bad inputs give clear typed errors.

use cairn_infer::graph::{NODES_MAX, TENSOR_ELEMENTS_MAX};
use cairn_infer::{
    Channels, DecodeError, ExecCommitment, Graph, GraphError, ModelCommitment, Multiplier, Op,
    ProofError, RunError, StepError, StepVerdict, decode, prove_step, run, verify_step,
};

use crate::common::{input, node, random_graph};

#[test]
fn malformed_graphs() {
    assert_eq!(Graph::new(vec![]), Err(GraphError::Empty));
    let relu = || node(Op::Relu, &[0], &[4], 0);
    let too_many = vec![input(&[4], 0)]
        .into_iter()
        .chain((0..NODES_MAX).map(|_| relu()))
        .collect();
    assert!(matches!(
        Graph::new(too_many),
        Err(GraphError::TooManyNodes { .. })
    ));
    assert_eq!(
        Graph::new(vec![relu()]),
        Err(GraphError::MisplacedInput { node: 0 })
    );
    assert_eq!(
        Graph::new(vec![input(&[4], 0), node(Op::Relu, &[1], &[4], 0)]),
        Err(GraphError::UnknownInput { node: 1, input: 1 })
    );
    assert!(matches!(
        Graph::new(vec![input(&[4], 0), node(Op::Relu, &[0], &[5], 0)]),
        Err(GraphError::ShapeMismatch { node: 1, .. })
    ));
    assert!(matches!(
        Graph::new(vec![input(&[4], 0), node(Op::Relu, &[0], &[4], 1)]),
        Err(GraphError::ZeroPoint { node: 1, .. })
    ));
    assert!(matches!(
        Graph::new(vec![input(&[0, 3], 0)]),
        Err(GraphError::BadShape { node: 0, .. })
    ));
    // Dense over the wrong width, and weights of the wrong size.
    let mut d = node(
        Op::Dense {
            in_features: 3,
            out_features: 1,
        },
        &[0],
        &[1],
        0,
    );
    d.channels = Some(Channels {
        weights: vec![0; 3],
        bias: vec![0],
        multipliers: vec![Multiplier { m: 1, shift: 31 }],
    });
    assert!(matches!(
        Graph::new(vec![input(&[4], 0), d.clone()]),
        Err(GraphError::ShapeMismatch {
            node: 1,
            op: "dense",
            ..
        })
    ));
    d.channels.as_mut().unwrap().weights.pop();
    assert!(matches!(
        Graph::new(vec![input(&[3], 0), d.clone()]),
        Err(GraphError::BadParam { node: 1, .. })
    ));
    d.channels.as_mut().unwrap().weights.push(0);
    d.channels.as_mut().unwrap().multipliers[0].shift = 0;
    assert!(matches!(
        Graph::new(vec![input(&[3], 0), d]),
        Err(GraphError::BadParam { node: 1, .. })
    ));
}

#[test]
fn bad_run_inputs() {
    let g = random_graph(7);
    let n = g.input().elements();
    assert_eq!(
        run(&g, &vec![0; n + 1]),
        Err(RunError::InputLength {
            expected: n,
            got: n + 1
        })
    );
    let huge = vec![0i8; TENSOR_ELEMENTS_MAX + 1];
    assert!(matches!(
        run(&g, &huge),
        Err(RunError::OversizeInput { .. })
    ));
}

#[test]
fn bad_encodings() {
    let bytes = random_graph(3).encode();
    assert!(matches!(
        decode(&bytes[..bytes.len() - 1]),
        Err(DecodeError::Truncated { .. })
    ));
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(decode(&long), Err(DecodeError::TrailingBytes { count: 1 }));
    assert_eq!(decode(b"NOTAGRAPH"), Err(DecodeError::BadMagic));
    let mut tag = bytes.clone();
    tag[13] = 200; // the first node's op tag
    assert_eq!(decode(&tag), Err(DecodeError::BadTag { at: 13, tag: 200 }));
}

#[test]
fn step_rejections() {
    let g = random_graph(11);
    let x = vec![1i8; g.input().elements()];
    let trace = run(&g, &x).unwrap();
    let (model, exec) = (ModelCommitment::new(&g), ExecCommitment::new(&g, &trace));
    let last = g.len() - 2; // the softmax node
    assert!(matches!(
        prove_step(&g, &model, &trace, &exec, 0, 0),
        Err(StepError::BadNode { .. })
    ));
    assert!(matches!(
        prove_step(&g, &model, &trace, &exec, last, 1 << 20),
        Err(StepError::BadElement { .. })
    ));
    let proof = prove_step(&g, &model, &trace, &exec, last, 0).unwrap();
    // Wrong node count: every position check fails.
    assert!(matches!(
        verify_step(&model.root, g.len() + 1, &exec.root, &proof),
        Err(StepError::Proof(ProofError::Position { .. }))
    ));
    // Withheld input rows.
    let mut withheld = proof.clone();
    withheld.inputs[0].rows.clear();
    assert!(matches!(
        verify_step(&model.root, g.len(), &exec.root, &withheld),
        Err(StepError::MissingInput { .. })
    ));
    // A tampered row.
    let mut tampered = proof;
    tampered.inputs[0].rows[0].data[0] ^= 1;
    assert!(matches!(
        verify_step(&model.root, g.len(), &exec.root, &tampered),
        Err(StepError::Proof(ProofError::RootMismatch { what: "row" }))
    ));
}

/// A provider that commits a wrong value (consistently, with valid proofs) is caught.
#[test]
fn cheating_provider_loses_the_step() {
    let g = random_graph(5);
    let x = vec![3i8; g.input().elements()];
    let mut trace = run(&g, &x).unwrap();
    let i = g.len() - 3; // the dense logits
    trace.outputs[i][0] = trace.outputs[i][0].wrapping_add(1);
    let (model, exec) = (ModelCommitment::new(&g), ExecCommitment::new(&g, &trace));
    let proof = prove_step(&g, &model, &trace, &exec, i, 0).unwrap();
    let verdict = verify_step(&model.root, g.len(), &exec.root, &proof).unwrap();
    assert!(
        matches!(verdict, StepVerdict::Mismatch { .. }),
        "{verdict:?}"
    );
}
