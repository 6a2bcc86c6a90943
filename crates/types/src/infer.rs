//! Verified inference carried by transactions: the model registry entry a model owner signs,
//! and the protocol's bounds and clocks for the inference market and its dispute game.
//!
//! The chain never decodes a model graph (it lives off ledger as a content-addressed blob);
//! it records the graph's BLAKE3 hash, its cairn-infer model root (what a dispute's openings
//! are checked against), its node count and its input and output shapes. Anyone holding the
//! blob can check that the four agree (`cairn model show` does). Moves and Merkle proofs
//! travel as opaque, length-bounded bytes that the state machine decodes with cairn-dispute.

use crate::Amount;
use crate::task::BlobHash;
use crate::tx::{read_string, write_string};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, RangeCfg, Read, ReadExt, Write};

/// Longest model name.
pub const MODEL_NAME_MAX_BYTES: usize = 64;
/// Longest licence text (an SPDX id or a short URL).
pub const LICENCE_MAX_BYTES: usize = 128;
/// Most dimensions of an input or output tensor.
pub const TENSOR_RANK_MAX: usize = 4;
/// Most nodes of a registered graph (cairn-infer's `NODES_MAX`; a state test checks they agree).
pub const MODEL_NODES_MAX: u32 = 4_096;
/// Least nodes: the input and one computed node.
pub const MODEL_NODES_MIN: u32 = 2;
/// Largest input an inference request carries (int8 elements, one byte each). The input
/// travels in the request so that the chain itself derives its hash and its tensor root.
pub const INPUT_MAX_BYTES: usize = 4_096;
/// Largest output a provider posts.
pub const OUTPUT_MAX_BYTES: usize = 1_024;
/// Largest encoded Merkle proof (index, count, up to 64 siblings).
pub const PROOF_MAX_BYTES: usize = 9 + 64 * 32;
/// Largest encoded dispute move (a one-step proof of a dense layer over 3,136 inputs is ~8 kB).
pub const MOVE_MAX_BYTES: usize = 15 * 1024;

/// Blocks a request waits for a result before the client is refunded.
pub const RESULT_WINDOW_BLOCKS: u64 = 300;
/// Blocks after a result (or after a challenger lost) during which anyone may challenge it.
pub const CHALLENGE_WINDOW_BLOCKS: u64 = 30;
/// Longest one dispute move may take (chess clock, per move).
pub const MOVE_BLOCKS_MAX: u64 = 30;
/// Each side's total thinking time over one dispute.
pub const DISPUTE_BUDGET_BLOCKS: u64 = 300;
/// Least bond a provider posts with a result and a challenger with a challenge.
pub const BOND_MIN: Amount = 1_000;
/// A bond must also be at least this many basis points of the request's payment, so what a
/// liar risks grows with what it is paid (10 000: the whole payment).
pub const BOND_PAYMENT_BPS: u64 = 10_000;
/// Largest graph a model registration may declare (the blob limit every node enforces).
pub const GRAPH_BYTES_MAX: u64 = crate::limits::BLOB_SIZE_MAX_BYTES;

/// Domain of [model_id].
const MODEL_ID_NAMESPACE: &[u8] = b"_CAIRN_MODEL_ID";

/// The id a registration of `graph` by `owner` gets: registrations are bound to their
/// registrant, so anyone may register the same graph under their own id (and price), and
/// nobody can take another's by sending it first.
pub fn model_id(owner: &crate::Address, graph: &BlobHash) -> BlobHash {
    use commonware_codec::Encode;
    let digest = crate::sha256(&[MODEL_ID_NAMESPACE, &owner.encode(), graph]);
    let mut id = [0u8; 32];
    id.copy_from_slice(digest.as_ref());
    id
}

/// The least bond a result or a challenge on a request paying `payment` must post:
/// `max(BOND_MIN, payment · BOND_PAYMENT_BPS / 10 000)`.
pub fn bond_min(payment: Amount) -> Amount {
    let scaled = u128::from(payment) * u128::from(BOND_PAYMENT_BPS) / 10_000;
    BOND_MIN.max(u64::try_from(scaled).unwrap_or(u64::MAX))
}

/// Where a model came from: the training task and round whose checkpoint it quantizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lineage {
    pub task: u64,
    pub round: u32,
}

/// What a model owner registers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelRegistration {
    /// BLAKE3 of the canonical graph bytes (the blob id). The model's id on chain is
    /// [model_id] of the owner and this hash.
    pub graph: BlobHash,
    /// Size of the graph blob in bytes: nodes store no larger blob under `graph`, and the
    /// owner escrows [crate::limits::blob_deposit] of it while the model is registered.
    pub graph_bytes: u64,
    /// cairn-infer model root over the graph's node headers and weights.
    pub model_root: [u8; 32],
    /// Nodes in the graph (node 0 is the input).
    pub node_count: u32,
    /// Shape of the input tensor.
    pub input_shape: Vec<u32>,
    /// Shape of the last node's output.
    pub output_shape: Vec<u32>,
    /// Human-readable name.
    pub name: String,
    /// Licence terms.
    pub licence: String,
    /// Paid to the owner for every settled inference.
    pub price: Amount,
    /// The training checkpoint it was quantized from, if any.
    pub lineage: Option<Lineage>,
}

/// Elements of a tensor of `shape` (saturating; shapes are bounded before use).
pub fn elements(shape: &[u32]) -> u64 {
    shape
        .iter()
        .fold(1u64, |acc, &d| acc.saturating_mul(u64::from(d)))
}

fn check_shape(
    field: &'static str,
    shape: &[u32],
    max: usize,
) -> Result<(), (&'static str, String)> {
    if shape.is_empty() || shape.len() > TENSOR_RANK_MAX {
        return Err((
            field,
            format!(
                "must have 1..={TENSOR_RANK_MAX} dimensions, got {}",
                shape.len()
            ),
        ));
    }
    if shape.contains(&0) {
        return Err((field, format!("has a zero dimension: {shape:?}")));
    }
    let n = elements(shape);
    if n > max as u64 {
        return Err((
            field,
            format!("{shape:?} has {n} elements; at most {max} travel on chain"),
        ));
    }
    Ok(())
}

impl ModelRegistration {
    /// Checks every bound; the error names the field.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(MODEL_NODES_MIN..=MODEL_NODES_MAX).contains(&self.node_count) {
            return Err((
                "node_count",
                format!(
                    "must be {MODEL_NODES_MIN}..={MODEL_NODES_MAX}, got {}",
                    self.node_count
                ),
            ));
        }
        check_shape("input_shape", &self.input_shape, INPUT_MAX_BYTES)?;
        check_shape("output_shape", &self.output_shape, OUTPUT_MAX_BYTES)?;
        let name = &self.name;
        if name.is_empty()
            || name.len() > MODEL_NAME_MAX_BYTES
            || !name.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err((
                "name",
                format!(
                    "must be 1..={MODEL_NAME_MAX_BYTES} printable ASCII bytes without spaces, got {name:?}"
                ),
            ));
        }
        if self.licence.is_empty() || self.licence.len() > LICENCE_MAX_BYTES {
            return Err(("licence", format!("must be 1..={LICENCE_MAX_BYTES} bytes")));
        }
        if self.graph_bytes == 0 || self.graph_bytes > GRAPH_BYTES_MAX {
            return Err((
                "graph_bytes",
                format!(
                    "must be 1..={GRAPH_BYTES_MAX}, got {}",
                    self.graph_bytes
                ),
            ));
        }
        if self.graph == [0; 32] || self.model_root == [0; 32] {
            return Err(("graph", "graph hash and model root must not be zero".into()));
        }
        Ok(())
    }
}

fn write_shape(shape: &[u32], w: &mut impl BufMut) {
    shape.to_vec().write(w);
}

fn read_shape(r: &mut impl Buf) -> Result<Vec<u32>, CodecError> {
    Vec::<u32>::read_cfg(r, &(RangeCfg::new(0..=TENSOR_RANK_MAX), ()))
}

impl Write for ModelRegistration {
    fn write(&self, w: &mut impl BufMut) {
        self.graph.write(w);
        self.graph_bytes.write(w);
        self.model_root.write(w);
        self.node_count.write(w);
        write_shape(&self.input_shape, w);
        write_shape(&self.output_shape, w);
        write_string(&self.name, w);
        write_string(&self.licence, w);
        self.price.write(w);
        match self.lineage {
            None => 0u8.write(w),
            Some(l) => {
                1u8.write(w);
                l.task.write(w);
                l.round.write(w);
            }
        }
    }
}

impl EncodeSize for ModelRegistration {
    fn encode_size(&self) -> usize {
        32 + 8
            + 32
            + 4
            + self.input_shape.to_vec().encode_size()
            + self.output_shape.to_vec().encode_size()
            + self.name.as_bytes().to_vec().encode_size()
            + self.licence.as_bytes().to_vec().encode_size()
            + 8
            + 1
            + if self.lineage.is_some() { 12 } else { 0 }
    }
}

impl Read for ModelRegistration {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(ModelRegistration {
            graph: <[u8; 32]>::read(r)?,
            graph_bytes: u64::read(r)?,
            model_root: <[u8; 32]>::read(r)?,
            node_count: u32::read(r)?,
            input_shape: read_shape(r)?,
            output_shape: read_shape(r)?,
            name: read_string(r, MODEL_NAME_MAX_BYTES)?,
            licence: read_string(r, LICENCE_MAX_BYTES)?,
            price: u64::read(r)?,
            lineage: match u8::read(r)? {
                0 => None,
                1 => Some(Lineage {
                    task: u64::read(r)?,
                    round: u32::read(r)?,
                }),
                tag => return Err(CodecError::InvalidEnum(tag)),
            },
        })
    }
}

/// Reads a length-prefixed byte string of at most `max` bytes.
pub(crate) fn read_bytes(r: &mut impl Buf, max: usize) -> Result<Vec<u8>, CodecError> {
    Vec::<u8>::read_cfg(r, &(RangeCfg::new(0..=max), ()))
}
