//! Graph builders shared by the tests.

use cairn_infer::{Node, Op};

pub fn node(op: Op, inputs: &[u32], shape: &[u32], zero_point: i8) -> Node {
    Node::new(op, inputs, shape, zero_point)
}

pub fn input(shape: &[u32], zero_point: i8) -> Node {
    node(Op::Input, &[], shape, zero_point)
}

pub use cairn_infer::rng::SplitMix as Rng;
pub use cairn_infer::testkit::random_graph;
