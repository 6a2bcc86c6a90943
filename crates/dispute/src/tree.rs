//! Geometry and hashing of the binary Merkle trees the game descends: the execution tree
//! (one leaf per graph node) and a node's row tree (one leaf per output row).
//!
//! The hash formats are cairn-infer's (`commit.rs` module docs); the few that crate keeps
//! private (the tensor and execution root bindings) are restated here and pinned by a test
//! against `ExecCommitment`.
#![deny(clippy::float_arithmetic)]

use cairn_infer::merkle::{self, Hash};

/// Height of a tree over `leaves` leaves (`ceil(log2 leaves)`, 0 for one leaf).
pub fn height(leaves: u64) -> u32 {
    if leaves <= 1 {
        0
    } else {
        64 - (leaves - 1).leading_zeros()
    }
}

/// Nodes at `level` of a tree over `leaves` leaves (levels pair left to right; an unpaired
/// last node is carried up).
pub fn width(leaves: u64, level: u32) -> u64 {
    leaves.div_ceil(1u64 << level)
}

/// Descendants of node `(level, index)` at `child_level`: `(first, count)`.
pub fn children(leaves: u64, level: u32, index: u64, child_level: u32) -> (u64, u64) {
    let shift = level - child_level;
    let first = index << shift;
    let end = ((index + 1) << shift).min(width(leaves, child_level));
    (first, end - first)
}

/// Moves down past carried nodes (those with a single child, whose hash equals the child's),
/// so every split reveals at least two children.
pub fn normalize(leaves: u64, mut level: u32, mut index: u64) -> (u32, u64) {
    while level > 0 && 2 * index + 1 >= width(leaves, level - 1) {
        level -= 1;
        index *= 2;
    }
    (level, index)
}

/// The subtree hash an aligned block of sibling subtrees climbs to (the block starts at an
/// even position at every level, so pairing inside it is the global pairing).
pub fn fold(nodes: &[Hash]) -> Hash {
    merkle::root(nodes)
}

/// Leaf of the execution tree for a node's tensor root.
pub fn node_leaf(tensor_root: &Hash) -> Hash {
    merkle::tagged(merkle::NODE_OUTPUT, &[tensor_root])
}

/// Leaf of a row tree for one row.
pub fn row_leaf(row: &[i8]) -> Hash {
    let bytes: Vec<u8> = row.iter().map(|&v| v as u8).collect();
    merkle::tagged(merkle::ROW, &[&bytes])
}

/// `H(EXECUTION ‖ count:u32 ‖ tree)`.
pub fn exec_root(count: u32, tree: &Hash) -> Hash {
    merkle::tagged(merkle::EXECUTION, &[&count.to_le_bytes(), tree])
}

/// `H(TENSOR ‖ rank:u8 ‖ dims:u32* ‖ tree)`.
pub fn tensor_root(shape: &[u32], tree: &Hash) -> Hash {
    let mut b = vec![shape.len() as u8];
    shape
        .iter()
        .for_each(|d| b.extend_from_slice(&d.to_le_bytes()));
    merkle::tagged(merkle::TENSOR, &[&b, tree])
}

/// All levels of the tree over `leaves` (`levels[0]` = the leaves), for provers.
pub fn levels(leaves: Vec<Hash>) -> Vec<Vec<Hash>> {
    let mut out = vec![leaves];
    while out.last().is_some_and(|l| l.len() > 1) {
        let next = out[out.len() - 1]
            .chunks(2)
            .map(|p| {
                if p.len() == 2 {
                    merkle::inner(&p[0], &p[1])
                } else {
                    p[0]
                }
            })
            .collect();
        out.push(next);
    }
    out
}
