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
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = next_level(&level);
    }
    level.first().copied().unwrap_or([0; 32])
}

/// The level above `level`: pairs hashed left to right, an unpaired last node carried up.
fn next_level(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .filter_map(|p| match p {
            [l, r] => Some(inner(l, r)),
            [one] => Some(*one),
            _ => None, // chunks(2) yields only 1- or 2-long slices
        })
        .collect()
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
    /// Proves `leaves[index]`; `None` if `index` is out of range or the tree is too large for a
    /// proof's `u32` fields.
    pub fn new(leaves: &[Hash], index: usize) -> Option<Self> {
        if index >= leaves.len() {
            return None;
        }
        let (index_u32, count) = (
            u32::try_from(index).ok()?,
            u32::try_from(leaves.len()).ok()?,
        );
        let mut siblings = Vec::new();
        let mut level = leaves.to_vec();
        let mut i = index;
        while level.len() > 1 {
            if let Some(s) = level.get(i ^ 1) {
                siblings.push(*s);
            }
            level = next_level(&level);
            i /= 2;
        }
        Some(Self {
            index: index_u32,
            count,
            siblings,
        })
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
