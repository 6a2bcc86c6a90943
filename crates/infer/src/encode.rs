//! Canonical binary encoding of a [`Graph`] and its BLAKE3 content hash.
//!
//! Little-endian, fixed-width fields, no optional padding: every graph has exactly one
//! encoding, and [`decode`] accepts exactly the encodings (`encode(decode(b)) == b`).
//!
//! ```text
//! graph   = "CAIRNINF" version:u8=1 count:u32 node*
//! node    = header has_channels:u8(0|1) [channels]
//! header  = tag:u8 op_fields n_inputs:u8 input:u32* rank:u8 dim:u32* zero_point:i8
//! channels= n_weights:u32 weight:i8* n_out:u32 bias:i32* (m:i32 shift:u8)*
//! ```
#![deny(clippy::float_arithmetic)]

use crate::graph::{
    Channels, ConvGeom, Graph, GraphError, NODE_INPUTS_MAX, NODES_MAX, Node, Op, PoolGeom,
    RANK_MAX, SOFTMAX_TABLE_LEN, TensorInfo, WEIGHTS_MAX,
};
use crate::requant::Multiplier;

/// Leading bytes of an encoded graph.
pub const MAGIC: &[u8; 8] = b"CAIRNINF";
/// Encoding version.
pub const VERSION: u8 = 1;
/// Largest encoded graph accepted by [`decode`].
pub const GRAPH_BYTES_MAX: usize = 256 << 20;
/// BLAKE3 key-derivation context of [`Graph::hash`].
pub const GRAPH_HASH_CONTEXT: &str = "cairn-infer 2025 graph v1";

/// Why bytes are not a graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Over [`GRAPH_BYTES_MAX`].
    #[error("encoded graph is {got} bytes, at most {max} allowed")]
    Oversize {
        /// Bytes supplied.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// Wrong magic or version.
    #[error("not a cairn-infer graph (bad magic or version)")]
    BadMagic,
    /// Ran out of bytes.
    #[error("truncated at byte {at}")]
    Truncated {
        /// Offset.
        at: usize,
    },
    /// An unknown op tag or a non-boolean flag.
    #[error("bad tag {tag} at byte {at}")]
    BadTag {
        /// Offset.
        at: usize,
        /// The byte.
        tag: u8,
    },
    /// A count is over its limit.
    #[error("{what}: {got} exceeds {max}")]
    TooLarge {
        /// Which count.
        what: &'static str,
        /// Value read.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// Bytes left after the last node.
    #[error("{count} trailing bytes")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// The nodes decode but do not form a valid graph.
    #[error("invalid graph: {0}")]
    Invalid(#[from] GraphError),
}

impl Graph {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let headers = self.len().saturating_mul(64);
        let mut out = Vec::with_capacity(self.parameter_count().saturating_add(headers));
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&len_u32(self.len()).to_le_bytes());
        for node in self.nodes() {
            encode_header(node, &mut out);
            match &node.channels {
                None => out.push(0),
                Some(c) => {
                    out.push(1);
                    encode_channels(c, &mut out);
                }
            }
        }
        out
    }

    /// Plain BLAKE3 of [`Graph::encode`]: the graph's content address in Cairn's blob store,
    /// and its id in the model registry.
    pub fn blob_id(&self) -> [u8; 32] {
        *blake3::hash(&self.encode()).as_bytes()
    }

    /// BLAKE3 (derive-key mode, [`GRAPH_HASH_CONTEXT`]) of [`Graph::encode`].
    pub fn hash(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new_derive_key(GRAPH_HASH_CONTEXT);
        h.update(&self.encode());
        *h.finalize().as_bytes()
    }
}

/// Decodes and validates a graph.
pub fn decode(bytes: &[u8]) -> Result<Graph, DecodeError> {
    if bytes.len() > GRAPH_BYTES_MAX {
        return Err(DecodeError::Oversize {
            got: bytes.len(),
            max: GRAPH_BYTES_MAX,
        });
    }
    let mut r = Reader { bytes, at: 0 };
    if r.take(MAGIC.len())? != MAGIC || r.u8()? != VERSION {
        return Err(DecodeError::BadMagic);
    }
    let count = r.u32()? as usize;
    limit("node count", count, NODES_MAX)?;
    let mut nodes = Vec::with_capacity(count);
    for _ in 0..count {
        let mut node = decode_header(&mut r)?;
        if r.flag()? {
            node.channels = Some(decode_channels(&mut r)?);
        }
        nodes.push(node);
    }
    r.finish()?;
    Ok(Graph::new(nodes)?)
}

/// A length as its `u32` field. Lengths in a [`Graph`] are far below `u32::MAX`; a hostile
/// in-memory node (never a decoded one) saturates, which [`decode`] then rejects as over a
/// limit, so no encoding aliases another.
fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A length as its `u8` field (saturating, as [`len_u32`]).
fn len_u8(n: usize) -> u8 {
    u8::try_from(n).unwrap_or(u8::MAX)
}

/// Appends a node's header: everything except its channels (weights, biases, multipliers).
pub fn encode_header(node: &Node, out: &mut Vec<u8>) {
    let u32s = |out: &mut Vec<u8>, vs: &[u32]| {
        vs.iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes()))
    };
    match &node.op {
        Op::Input => out.push(0),
        Op::Dense {
            in_features,
            out_features,
        } => {
            out.push(1);
            u32s(out, &[*in_features, *out_features]);
        }
        Op::Conv2d(g) => {
            out.push(2);
            u32s(
                out,
                &[
                    g.in_channels,
                    g.out_channels,
                    g.kernel_h,
                    g.kernel_w,
                    g.stride,
                    g.pad,
                ],
            );
        }
        Op::Relu => out.push(3),
        Op::MaxPool(p) => {
            out.push(4);
            u32s(out, &[p.kernel, p.stride]);
        }
        Op::AvgPool { pool, multiplier } => {
            out.push(5);
            u32s(out, &[pool.kernel, pool.stride]);
            encode_multiplier(*multiplier, out);
        }
        Op::Flatten => out.push(6),
        Op::Add { ma, mb, shift } => {
            out.push(7);
            out.extend_from_slice(&ma.to_le_bytes());
            out.extend_from_slice(&mb.to_le_bytes());
            out.push(*shift);
        }
        Op::Argmax => out.push(8),
        Op::Softmax { table } => {
            out.push(9);
            out.extend_from_slice(&len_u32(table.len()).to_le_bytes());
            u32s(out, table);
        }
    }
    out.push(len_u8(node.inputs.len()));
    u32s(out, &node.inputs);
    out.push(len_u8(node.output.shape.len()));
    u32s(out, &node.output.shape);
    out.push(node.output.zero_point as u8);
}

fn encode_multiplier(m: Multiplier, out: &mut Vec<u8>) {
    out.extend_from_slice(&m.m.to_le_bytes());
    out.push(m.shift);
}

fn encode_channels(c: &Channels, out: &mut Vec<u8>) {
    out.extend_from_slice(&len_u32(c.weights.len()).to_le_bytes());
    out.extend(c.weights.iter().map(|&w| w as u8));
    out.extend_from_slice(&len_u32(c.bias.len()).to_le_bytes());
    c.bias
        .iter()
        .for_each(|b| out.extend_from_slice(&b.to_le_bytes()));
    c.multipliers
        .iter()
        .for_each(|&m| encode_multiplier(m, out));
}

/// Decodes one node header (channels left `None`); used for graph decoding and dispute openings.
pub fn decode_node_header(bytes: &[u8]) -> Result<Node, DecodeError> {
    let mut r = Reader { bytes, at: 0 };
    let node = decode_header(&mut r)?;
    r.finish()?;
    Ok(node)
}

fn limit(what: &'static str, got: usize, max: usize) -> Result<(), DecodeError> {
    if got > max {
        Err(DecodeError::TooLarge { what, got, max })
    } else {
        Ok(())
    }
}

fn decode_header(r: &mut Reader<'_>) -> Result<Node, DecodeError> {
    let at = r.at;
    let op = match r.u8()? {
        0 => Op::Input,
        1 => Op::Dense {
            in_features: r.u32()?,
            out_features: r.u32()?,
        },
        2 => Op::Conv2d(ConvGeom {
            in_channels: r.u32()?,
            out_channels: r.u32()?,
            kernel_h: r.u32()?,
            kernel_w: r.u32()?,
            stride: r.u32()?,
            pad: r.u32()?,
        }),
        3 => Op::Relu,
        4 => Op::MaxPool(PoolGeom {
            kernel: r.u32()?,
            stride: r.u32()?,
        }),
        5 => Op::AvgPool {
            pool: PoolGeom {
                kernel: r.u32()?,
                stride: r.u32()?,
            },
            multiplier: r.multiplier()?,
        },
        6 => Op::Flatten,
        7 => Op::Add {
            ma: r.i32()?,
            mb: r.i32()?,
            shift: r.u8()?,
        },
        8 => Op::Argmax,
        9 => {
            let len = r.u32()? as usize;
            limit("softmax table", len, SOFTMAX_TABLE_LEN)?;
            Op::Softmax {
                table: (0..len).map(|_| r.u32()).collect::<Result<_, _>>()?,
            }
        }
        tag => return Err(DecodeError::BadTag { at, tag }),
    };
    let n_inputs = r.u8()? as usize;
    limit("node inputs", n_inputs, NODE_INPUTS_MAX)?;
    let inputs = (0..n_inputs).map(|_| r.u32()).collect::<Result<_, _>>()?;
    let rank = r.u8()? as usize;
    limit("rank", rank, RANK_MAX)?;
    let shape = (0..rank).map(|_| r.u32()).collect::<Result<_, _>>()?;
    let zero_point = r.u8()? as i8;
    Ok(Node {
        op,
        inputs,
        output: TensorInfo { shape, zero_point },
        channels: None,
    })
}

fn decode_channels(r: &mut Reader<'_>) -> Result<Channels, DecodeError> {
    let n = r.u32()? as usize;
    limit("weights", n, WEIGHTS_MAX)?;
    let weights = r.take(n)?.iter().map(|&b| b as i8).collect();
    let out = r.u32()? as usize;
    limit("channels", out, WEIGHTS_MAX)?;
    let bias = (0..out).map(|_| r.i32()).collect::<Result<_, _>>()?;
    let multipliers = (0..out).map(|_| r.multiplier()).collect::<Result<_, _>>()?;
    Ok(Channels {
        weights,
        bias,
        multipliers,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n);
        let s = end.and_then(|end| Some((self.bytes.get(self.at..end)?, end)));
        let (s, end) = s.ok_or(DecodeError::Truncated { at: self.at })?;
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let at = self.at;
        self.take(N)?
            .try_into()
            .map_err(|_| DecodeError::Truncated { at })
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.array().map(u8::from_le_bytes)
    }

    fn flag(&mut self) -> Result<bool, DecodeError> {
        let at = self.at;
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::BadTag { at, tag }),
        }
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array().map(u32::from_le_bytes)
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        self.array().map(i32::from_le_bytes)
    }

    fn multiplier(&mut self) -> Result<Multiplier, DecodeError> {
        Ok(Multiplier {
            m: self.i32()?,
            shift: self.u8()?,
        })
    }

    /// Fails if bytes are left.
    fn finish(&self) -> Result<(), DecodeError> {
        match self.bytes.len().saturating_sub(self.at) {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { count }),
        }
    }
}
