//! Geometry and hashing of the binary Merkle trees the game descends: the execution tree
//! (one leaf per graph node) and a node's row tree (one leaf per output row).
//!
//! The hash formats are cairn-infer's (`commit.rs` module docs); the few that crate keeps
//! private (the tensor and execution root bindings) are restated here and pinned by a test
//! against `ExecCommitment`.
//!
//! Every function is total: the game only asks about levels `<= height(leaves)` and indices
//! inside the tree, and for anything else the arithmetic saturates instead of panicking.
#![deny(clippy::float_arithmetic)]

use cairn_infer::merkle::{self, Hash};

/// Height of a tree over `leaves` leaves (`ceil(log2 leaves)`, 0 for one leaf).
pub fn height(leaves: u64) -> u32 {
    // ceil(log2 n) = floor(log2 (n - 1)) + 1 for n >= 2; ilog2 <= 63, so + 1 cannot overflow.
    leaves
        .saturating_sub(1)
        .checked_ilog2()
        .map_or(0, |h| h.saturating_add(1))
}

/// Nodes at `level` of a tree over `leaves` leaves (levels pair left to right; an unpaired
/// last node is carried up).
pub fn width(leaves: u64, level: u32) -> u64 {
    match 1u64.checked_shl(level) {
        Some(span) => leaves.div_ceil(span),
        None => u64::from(leaves > 0), // level >= 64: one node above any tree
    }
}

/// `index · 2^shift`, saturating.
fn scale(index: u64, shift: u32) -> u64 {
    1u64.checked_shl(shift)
        .map_or(u64::MAX, |span| index.saturating_mul(span))
}

/// Descendants of node `(level, index)` at `child_level`: `(first, count)`.
pub fn children(leaves: u64, level: u32, index: u64, child_level: u32) -> (u64, u64) {
    let shift = level.saturating_sub(child_level);
    let first = scale(index, shift);
    let end = scale(index.saturating_add(1), shift).min(width(leaves, child_level));
    (first, end.saturating_sub(first))
}

/// Moves down past carried nodes (those with a single child, whose hash equals the child's),
/// so every split reveals at least two children.
pub fn normalize(leaves: u64, mut level: u32, mut index: u64) -> (u32, u64) {
    while let Some(below) = level.checked_sub(1) {
        let right = index.saturating_mul(2).saturating_add(1);
        if right < width(leaves, below) {
            break;
        }
        level = below;
        index = index.saturating_mul(2);
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
    let bytes: Vec<u8> = row.iter().map(|&v| v as u8).collect(); // i8 → u8: the same bits
    merkle::tagged(merkle::ROW, &[&bytes])
}

/// `H(EXECUTION ‖ count:u32 ‖ tree)`.
pub fn exec_root(count: u32, tree: &Hash) -> Hash {
    merkle::tagged(merkle::EXECUTION, &[&count.to_le_bytes(), tree])
}

/// `H(TENSOR ‖ rank:u8 ‖ dims:u32* ‖ tree)`.
pub fn tensor_root(shape: &[u32], tree: &Hash) -> Hash {
    // Ranks are at most 4; saturating keeps a hostile one from aliasing a small rank.
    let mut b = vec![u8::try_from(shape.len()).unwrap_or(u8::MAX)];
    shape
        .iter()
        .for_each(|d| b.extend_from_slice(&d.to_le_bytes()));
    merkle::tagged(merkle::TENSOR, &[&b, tree])
}

/// All levels of the tree over `leaves` (`levels[0]` = the leaves), for provers.
pub fn levels(leaves: Vec<Hash>) -> Vec<Vec<Hash>> {
    let mut out = vec![leaves];
    while let Some(last) = out.last().filter(|l| l.len() > 1) {
        let next = last
            .chunks(2)
            .filter_map(|p| match p {
                [l, r] => Some(merkle::inner(l, r)),
                [one] => Some(*one),
                _ => None, // chunks(2) yields only 1- or 2-long slices
            })
            .collect();
        out.push(next);
    }
    out
}
