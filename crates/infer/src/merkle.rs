//! Binary BLAKE3 Merkle trees with domain-separated hashing and inclusion proofs.
//!
//! `leaf = BLAKE3(tag ‖ data)` with a per-kind tag (never [`INNER`]), `inner = BLAKE3(INNER ‖
//! left ‖ right)`. Levels pair nodes left to right; an unpaired last node is carried up
//! unchanged (no duplication, so no second-preimage via duplicated leaves). Proofs carry the
//! leaf count, and each commitment binds its count or shape into the root above the tree, so a
//! proof for a tree of another size cannot verify.
#![deny(clippy::float_arithmetic)]

/// A 32-byte BLAKE3 digest.
pub type Hash = [u8; 32];

/// Tag of inner nodes.
pub const INNER: u8 = 0x01;
/// Leaf tag: one row of a tensor.
pub const ROW: u8 = 0x10;
/// Leaf tag: one node's output root in the execution tree.
pub const NODE_OUTPUT: u8 = 0x11;
/// Leaf tag: one node (header and channel root) in the model tree.
pub const MODEL_NODE: u8 = 0x12;
/// Leaf tag: one output channel's parameters.
pub const CHANNEL: u8 = 0x13;
/// Root tag binding a tensor's shape to its row tree.
pub const TENSOR: u8 = 0x20;
/// Root tag binding the node count to the execution tree.
pub const EXECUTION: u8 = 0x21;
/// Root tag binding the node count to the model tree.
pub const MODEL: u8 = 0x22;
/// Root tag binding the channel count to a node's channel tree.
pub const CHANNELS: u8 = 0x23;

/// Most levels a proof may have (trees hold at most 2^32 leaves).
pub const PROOF_DEPTH_MAX: usize = 32;

/// `BLAKE3(tag ‖ parts...)`.
pub fn tagged(tag: u8, parts: &[&[u8]]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[tag]);
    for p in parts {
        h.update(p);
    }
    *h.finalize().as_bytes()
}

/// `BLAKE3(INNER ‖ left ‖ right)`.
pub fn inner(left: &Hash, right: &Hash) -> Hash {
    tagged(INNER, &[left, right])
}

/// The tree root over `leaves` (all zeros for no leaves).
pub fn root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return [0; 32];
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| {
                if p.len() == 2 {
                    inner(&p[0], &p[1])
                } else {
                    p[0]
                }
            })
            .collect();
    }
    level[0]
}

/// Inclusion proof of leaf `index` among `count`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    /// Leaf position.
    pub index: u32,
    /// Leaves in the tree.
    pub count: u32,
    /// Siblings from the leaf level up (levels where the node is unpaired have none).
    pub siblings: Vec<Hash>,
}

impl Proof {
    /// Proves `leaves[index]`. Panics if `index` is out of range (a prover bug).
    pub fn new(leaves: &[Hash], index: usize) -> Self {
        assert!(index < leaves.len(), "leaf {index} of {}", leaves.len());
        let mut siblings = Vec::new();
        let mut level = leaves.to_vec();
        let mut i = index;
        while level.len() > 1 {
            let sibling = i ^ 1;
            if sibling < level.len() {
                siblings.push(level[sibling]);
            }
            level = level
                .chunks(2)
                .map(|p| {
                    if p.len() == 2 {
                        inner(&p[0], &p[1])
                    } else {
                        p[0]
                    }
                })
                .collect();
            i /= 2;
        }
        Self {
            index: index as u32,
            count: leaves.len() as u32,
            siblings,
        }
    }

    /// The root `leaf` climbs to, or `None` if the proof's shape is inconsistent.
    pub fn climb(&self, leaf: Hash) -> Option<Hash> {
        let (mut i, mut n) = (self.index as usize, self.count as usize);
        if i >= n || self.siblings.len() > PROOF_DEPTH_MAX {
            return None;
        }
        let mut node = leaf;
        let mut siblings = self.siblings.iter();
        while n > 1 {
            if i ^ 1 < n {
                let s = siblings.next()?;
                node = if i % 2 == 0 {
                    inner(&node, s)
                } else {
                    inner(s, &node)
                };
            }
            i /= 2;
            n = n.div_ceil(2);
        }
        siblings.next().is_none().then_some(node)
    }
}
