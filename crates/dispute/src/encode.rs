//! Canonical bytes of a move and of a claim, as posted on chain (little-endian,
//! length-prefixed), and their strict decoders.
//!
//! ```text
//! proof  = index:u32 count:u32 n:u8 sibling:[32]*n
//! split  = 0x01 n:u8 child:[32]*n
//! pick   = 0x02 n:u8 child:[32]*n index:u8 header? row?     (? = flag:u8 then the value)
//! header = len:u32 bytes channel_root:[32] proof
//! row    = len:u32 bytes
//! step   = 0x03 node_opening element:u32 row_opening channel? inputs:u8 (node_opening rows:u16 row_opening*)*
//! node_opening = index:u32 header output_root:[32] proof
//! row_opening  = row proof
//! channel      = weights(len:u32 bytes) bias:i32 m:i32 shift:u8 proof
//! claim  = exec_root:[32] output_root:[32] proof
//! ```
//!
//! Header bytes are opaque here (only length-prefixed); rows and weights are `i8` stored as
//! `u8`. Decoding is strict, so the encoding is canonical: every flag is exactly 0 or 1,
//! trailing bytes are an error, and every declared length is capped ([`CHILDREN_MAX`]
//! children, [`PROOF_DEPTH_MAX`] siblings, [`NODE_INPUTS_MAX`] step inputs,
//! [`STEP_ROWS_MAX`] rows per input, [`BYTES_MAX`] bytes per byte string) and checked
//! against the bytes that remain before anything is allocated. For every byte string `b`
//! that [`Move::decode`] accepts, `Move::decode(b)?.encode() == b` (likewise for
//! [`Claim::decode`] and [`decode_proof`]).
#![deny(clippy::float_arithmetic)]

use cairn_infer::Multiplier;
use cairn_infer::commit::{ChannelOpening, HeaderOpening, RowOpening};
use cairn_infer::graph::NODE_INPUTS_MAX;
use cairn_infer::merkle::{Hash, PROOF_DEPTH_MAX, Proof};
use cairn_infer::step::{InputOpening, NodeOpening, STEP_ROWS_MAX, StepProof};

use crate::game::{Claim, Move, Reveal};

/// Most children a split or pick may carry (the largest arity).
pub const CHILDREN_MAX: usize = 16;
/// Longest byte string (header, row, weights) a decoder accepts: 1 MiB.
pub const BYTES_MAX: usize = 1 << 20;

const TAG_SPLIT: u8 = 1;
const TAG_PICK: u8 = 2;
const TAG_STEP: u8 = 3;

/// Why bytes are not a canonical encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes end in the middle of a field.
    #[error("truncated while reading {what}")]
    Truncated {
        /// The part being read.
        what: &'static str,
    },
    /// Bytes remain after a complete encoding.
    #[error("{extra} trailing byte(s) after the encoding")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// The move tag is not split (1), pick (2) or step (3).
    #[error("unknown move tag {tag:#04x}")]
    UnknownTag {
        /// The tag read.
        tag: u8,
    },
    /// A presence flag is neither 0 nor 1.
    #[error("{what} must be 0 or 1, got {value}")]
    BadFlag {
        /// Which flag.
        what: &'static str,
        /// The byte read.
        value: u8,
    },
    /// A declared length or count is over its cap.
    #[error("{what} declares length {len}, over the limit of {max}")]
    TooLong {
        /// The part whose length is over.
        what: &'static str,
        /// Declared.
        len: usize,
        /// Most accepted.
        max: usize,
    },
}

/// A declared length as its `u8` field. Every cap is below `u8::MAX`, so a length that does
/// not fit saturates to one the decoder rejects: an oversized in-memory value encodes to
/// bytes that fail to decode, never to the bytes of another value.
fn len_u8(n: usize) -> u8 {
    u8::try_from(n).unwrap_or(u8::MAX)
}

/// A declared length as its `u16` field (saturating, as [`len_u8`]).
fn len_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// A declared length as its `u32` field (saturating, as [`len_u8`]).
fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Appends the canonical bytes of `p` (`index:u32 count:u32 n:u8 sibling:[32]*n`).
///
/// A proof with more than [`PROOF_DEPTH_MAX`] siblings encodes to bytes that
/// [`decode_proof`] rejects (no valid proof is that deep).
pub fn encode_proof(out: &mut Vec<u8>, p: &Proof) {
    out.extend_from_slice(&p.index.to_le_bytes());
    out.extend_from_slice(&p.count.to_le_bytes());
    out.push(len_u8(p.siblings.len()));
    p.siblings.iter().for_each(|s| out.extend_from_slice(s));
}

/// Decodes a proof that fills all of `bytes` (the inverse of [`encode_proof`]).
pub fn decode_proof(bytes: &[u8]) -> Result<Proof, DecodeError> {
    let mut r = Reader::new(bytes);
    let p = r.proof("the proof")?;
    r.finish()?;
    Ok(p)
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&len_u32(b.len()).to_le_bytes());
    out.extend_from_slice(b);
}

fn row(out: &mut Vec<u8>, r: &[i8]) {
    let b: Vec<u8> = r.iter().map(|&v| v as u8).collect(); // i8 → u8: the same bits
    bytes(out, &b);
}

fn header(out: &mut Vec<u8>, h: &HeaderOpening) {
    bytes(out, &h.header);
    out.extend_from_slice(&h.channel_root);
    encode_proof(out, &h.proof);
}

fn node(out: &mut Vec<u8>, n: &NodeOpening) {
    out.extend_from_slice(&n.index.to_le_bytes());
    header(out, &n.header);
    out.extend_from_slice(&n.output_root);
    encode_proof(out, &n.output_proof);
}

fn row_opening(out: &mut Vec<u8>, r: &RowOpening) {
    row(out, &r.data);
    encode_proof(out, &r.proof);
}

fn channel(out: &mut Vec<u8>, c: &ChannelOpening) {
    row(out, &c.weights);
    out.extend_from_slice(&c.bias.to_le_bytes());
    out.extend_from_slice(&c.multiplier.m.to_le_bytes());
    out.push(c.multiplier.shift);
    encode_proof(out, &c.proof);
}

fn children(out: &mut Vec<u8>, c: &[[u8; 32]]) {
    out.push(len_u8(c.len()));
    c.iter().for_each(|h| out.extend_from_slice(h));
}

fn reveal(out: &mut Vec<u8>, r: &Reveal) {
    out.push(u8::from(r.header.is_some()));
    if let Some(h) = &r.header {
        header(out, h);
    }
    out.push(u8::from(r.row.is_some()));
    if let Some(r) = &r.row {
        row(out, r);
    }
}

impl Move {
    /// The canonical encoding (its length is what a move costs on chain).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Move::Split { children: c } => {
                out.push(TAG_SPLIT);
                children(&mut out, c);
            }
            Move::Pick {
                children: c,
                index,
                reveal: r,
            } => {
                out.push(TAG_PICK);
                children(&mut out, c);
                out.push(*index);
                reveal(&mut out, r);
            }
            Move::Step(p) => {
                out.push(TAG_STEP);
                node(&mut out, &p.node);
                out.extend_from_slice(&p.element.to_le_bytes());
                row_opening(&mut out, &p.output_row);
                out.push(u8::from(p.channel.is_some()));
                if let Some(c) = &p.channel {
                    channel(&mut out, c);
                }
                out.push(len_u8(p.inputs.len()));
                for input in &p.inputs {
                    node(&mut out, &input.node);
                    out.extend_from_slice(&len_u16(input.rows.len()).to_le_bytes());
                    input.rows.iter().for_each(|r| row_opening(&mut out, r));
                }
            }
        }
        out
    }

    /// Decodes a move from exactly `bytes` (the inverse of [`Move::encode`]). Never panics
    /// and allocates no more than `bytes` can fill.
    pub fn decode(bytes: &[u8]) -> Result<Move, DecodeError> {
        let mut r = Reader::new(bytes);
        let mv = match r.u8("the move tag")? {
            TAG_SPLIT => Move::Split {
                children: r.children("the split's children")?,
            },
            TAG_PICK => {
                let children = r.children("the pick's children")?;
                let index = r.u8("the pick's index")?;
                let header = if r.flag("the pick's header flag")? {
                    Some(r.header(&PICK_HEADER)?)
                } else {
                    None
                };
                let row = if r.flag("the pick's row flag")? {
                    Some(r.row("the pick's row")?)
                } else {
                    None
                };
                Move::Pick {
                    children,
                    index,
                    reveal: Reveal { header, row },
                }
            }
            TAG_STEP => Move::Step(Box::new(r.step()?)),
            tag => return Err(DecodeError::UnknownTag { tag }),
        };
        r.finish()?;
        Ok(mv)
    }
}

impl Claim {
    /// The canonical encoding: `exec_root:[32] output_root:[32] proof`.
    pub fn encode(&self) -> Vec<u8> {
        let siblings = self.output_proof.siblings.len().saturating_mul(32);
        let mut out = Vec::with_capacity(siblings.saturating_add(64 + 9));
        out.extend_from_slice(&self.exec_root);
        out.extend_from_slice(&self.output_root);
        encode_proof(&mut out, &self.output_proof);
        out
    }

    /// Decodes a claim from exactly `bytes` (the inverse of [`Claim::encode`]).
    pub fn decode(bytes: &[u8]) -> Result<Claim, DecodeError> {
        let mut r = Reader::new(bytes);
        let claim = Claim {
            exec_root: r.hash("the claim's execution root")?,
            output_root: r.hash("the claim's output root")?,
            output_proof: r.proof("the claim's output proof")?,
        };
        r.finish()?;
        Ok(claim)
    }
}

/// What to call the parts of a header opening in errors.
struct HeaderLabels {
    bytes: &'static str,
    channel_root: &'static str,
    proof: &'static str,
}

/// What to call the parts of a node opening in errors.
struct NodeLabels {
    index: &'static str,
    header: HeaderLabels,
    output_root: &'static str,
    output_proof: &'static str,
}

/// What to call the parts of a row opening in errors.
struct RowLabels {
    data: &'static str,
    proof: &'static str,
}

const PICK_HEADER: HeaderLabels = HeaderLabels {
    bytes: "the pick's header bytes",
    channel_root: "the pick's header channel root",
    proof: "the pick's header proof",
};

const STEP_NODE: NodeLabels = NodeLabels {
    index: "the step's node index",
    header: HeaderLabels {
        bytes: "the step's node header bytes",
        channel_root: "the step's node channel root",
        proof: "the step's node header proof",
    },
    output_root: "the step's node output root",
    output_proof: "the step's node output proof",
};

const INPUT_NODE: NodeLabels = NodeLabels {
    index: "a step input's node index",
    header: HeaderLabels {
        bytes: "a step input's header bytes",
        channel_root: "a step input's channel root",
        proof: "a step input's header proof",
    },
    output_root: "a step input's output root",
    output_proof: "a step input's output proof",
};

const OUTPUT_ROW: RowLabels = RowLabels {
    data: "the step's output row",
    proof: "the step's output row proof",
};

const INPUT_ROW: RowLabels = RowLabels {
    data: "a step input's row",
    proof: "a step input's row proof",
};

/// A cursor over the bytes being decoded; every read checks what remains first.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// The next `n` bytes.
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(DecodeError::Truncated { what });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        self.take(N, what)?
            .try_into()
            .map_err(|_| DecodeError::Truncated { what })
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        self.array(what).map(u8::from_le_bytes)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        self.array(what).map(u16::from_le_bytes)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        self.array(what).map(i32::from_le_bytes)
    }

    fn hash(&mut self, what: &'static str) -> Result<Hash, DecodeError> {
        self.array(what)
    }

    fn flag(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::BadFlag { what, value }),
        }
    }

    /// A declared length, checked against its cap.
    fn cap(&self, len: usize, max: usize, what: &'static str) -> Result<usize, DecodeError> {
        if len > max {
            return Err(DecodeError::TooLong { what, len, max });
        }
        Ok(len)
    }

    /// `count` hashes, checked against the remaining bytes before allocating.
    fn hashes(&mut self, count: usize, what: &'static str) -> Result<Vec<Hash>, DecodeError> {
        // count is capped (at most PROOF_DEPTH_MAX or CHILDREN_MAX) before it gets here.
        let raw = self.take(count.saturating_mul(32), what)?;
        Ok(raw
            .chunks_exact(32)
            .filter_map(|c| Hash::try_from(c).ok()) // every chunk is exactly 32 bytes
            .collect())
    }

    fn children(&mut self, what: &'static str) -> Result<Vec<Hash>, DecodeError> {
        let n = usize::from(self.u8(what)?);
        let n = self.cap(n, CHILDREN_MAX, what)?;
        self.hashes(n, what)
    }

    fn proof(&mut self, what: &'static str) -> Result<Proof, DecodeError> {
        let index = self.u32(what)?;
        let count = self.u32(what)?;
        let n = usize::from(self.u8(what)?);
        let n = self.cap(n, PROOF_DEPTH_MAX, what)?;
        Ok(Proof {
            index,
            count,
            siblings: self.hashes(n, what)?,
        })
    }

    fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(what)?;
        // A u32 that does not fit in usize is over the cap anyway.
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let len = self.cap(len, BYTES_MAX, what)?;
        self.take(len, what)
    }

    fn row(&mut self, what: &'static str) -> Result<Vec<i8>, DecodeError> {
        Ok(self.bytes(what)?.iter().map(|&b| b as i8).collect())
    }

    fn header(&mut self, l: &HeaderLabels) -> Result<HeaderOpening, DecodeError> {
        Ok(HeaderOpening {
            header: self.bytes(l.bytes)?.to_vec(),
            channel_root: self.hash(l.channel_root)?,
            proof: self.proof(l.proof)?,
        })
    }

    fn node(&mut self, l: &NodeLabels) -> Result<NodeOpening, DecodeError> {
        Ok(NodeOpening {
            index: self.u32(l.index)?,
            header: self.header(&l.header)?,
            output_root: self.hash(l.output_root)?,
            output_proof: self.proof(l.output_proof)?,
        })
    }

    fn row_opening(&mut self, l: &RowLabels) -> Result<RowOpening, DecodeError> {
        Ok(RowOpening {
            data: self.row(l.data)?,
            proof: self.proof(l.proof)?,
        })
    }

    fn channel(&mut self) -> Result<ChannelOpening, DecodeError> {
        Ok(ChannelOpening {
            weights: self.row("the step's channel weights")?,
            bias: self.i32("the step's channel bias")?,
            multiplier: Multiplier {
                m: self.i32("the step's channel multiplier")?,
                shift: self.u8("the step's channel shift")?,
            },
            proof: self.proof("the step's channel proof")?,
        })
    }

    fn step(&mut self) -> Result<StepProof, DecodeError> {
        let node = self.node(&STEP_NODE)?;
        let element = self.u32("the step's element")?;
        let output_row = self.row_opening(&OUTPUT_ROW)?;
        let channel = if self.flag("the step's channel flag")? {
            Some(self.channel()?)
        } else {
            None
        };
        let n = usize::from(self.u8("the step's input count")?);
        let n = self.cap(n, NODE_INPUTS_MAX, "the step's inputs")?;
        let mut inputs = Vec::with_capacity(n);
        for _ in 0..n {
            let node = self.node(&INPUT_NODE)?;
            let count = usize::from(self.u16("a step input's row count")?);
            let count = self.cap(count, STEP_ROWS_MAX, "a step input's rows")?;
            // Grown as rows are read (each takes at least 13 bytes), never from `count`.
            let mut rows = Vec::new();
            for _ in 0..count {
                rows.push(self.row_opening(&INPUT_ROW)?);
            }
            inputs.push(InputOpening { node, rows });
        }
        Ok(StepProof {
            node,
            element,
            output_row,
            channel,
            inputs,
        })
    }

    /// Fails if anything is left.
    fn finish(&self) -> Result<(), DecodeError> {
        match self.rest.len() {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes { extra }),
        }
    }
}
