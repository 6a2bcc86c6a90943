//! The canonical binary encoding of a [`QModel`] and its BLAKE3 content hash.
//! The byte layout is specified in the crate documentation ("Format").

use std::collections::BTreeSet;

use crate::limits::{
    ELEMENTS_MAX, FRAC_BITS_MAX, HEADER_BYTES, NAME_MAX_BYTES, RANK_MAX, TENSORS_MAX,
};
use crate::model::{QModel, QTensor, shape_elements};

/// First four bytes of every encoding.
pub const MAGIC: [u8; 4] = *b"CQMD";
/// The only version this crate writes and reads.
pub const VERSION: u16 = 1;

/// Why bytes are not a canonical model encoding. `tensor` fields are the 0-based record index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("bad magic {got:02x?}, expected {expected:02x?}")]
    BadMagic { got: [u8; 4], expected: [u8; 4] },
    #[error("unsupported version {got}, this decoder reads version {supported}")]
    UnsupportedVersion { got: u16, supported: u16 },
    #[error("truncated at byte {offset}: need {needed} more bytes, {remaining} left")]
    Truncated {
        offset: usize,
        needed: u64,
        remaining: usize,
    },
    #[error("{count} tensors, more than the maximum {max}")]
    TooManyTensors { count: u32, max: usize },
    #[error("tensor {tensor}: name is {len_bytes} bytes, more than the maximum {max}")]
    NameTooLong {
        tensor: usize,
        len_bytes: usize,
        max: usize,
    },
    #[error("tensor {tensor}: name is not UTF-8")]
    NameNotUtf8 { tensor: usize },
    #[error("tensor {tensor}: repeats the name {name:?}")]
    DuplicateName { tensor: usize, name: String },
    #[error("tensor {tensor}: frac_bits {frac_bits} exceeds the maximum {max}")]
    FracBitsTooLarge {
        tensor: usize,
        frac_bits: u8,
        max: u8,
    },
    #[error("tensor {tensor}: rank {rank} exceeds the maximum {max}")]
    RankTooLarge {
        tensor: usize,
        rank: usize,
        max: usize,
    },
    #[error(
        "tensor {tensor}: shape holds {shape_elements} elements but {value_count} values follow"
    )]
    ShapeLenMismatch {
        tensor: usize,
        shape_elements: u64,
        value_count: u32,
    },
    #[error("tensor {tensor}: model would hold {elements} elements, more than the maximum {max}")]
    TooManyElements {
        tensor: usize,
        elements: u64,
        max: u64,
    },
    #[error("{count} bytes after the last tensor")]
    TrailingBytes { count: usize },
}

/// Where encoded bytes go: a buffer or a hasher, so hashing never materialises the encoding.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for blake3::Hasher {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

/// Values are staged through a buffer of this many bytes so the hasher sees large writes.
const STAGE_BYTES: usize = 4_096;

fn write_model(model: &QModel, out: &mut impl Sink) {
    // Lengths below fit their fields because QModel/QTensor enforce the limits on construction.
    out.put(&MAGIC);
    out.put(&VERSION.to_le_bytes());
    out.put(&(model.tensors().len() as u32).to_le_bytes());
    for (name, tensor) in model.tensors() {
        out.put(&(name.len() as u16).to_le_bytes());
        out.put(name.as_bytes());
        out.put(&[tensor.frac_bits(), tensor.shape().len() as u8]);
        for dim in tensor.shape() {
            out.put(&dim.to_le_bytes());
        }
        out.put(&(tensor.len() as u32).to_le_bytes());
        let mut stage = [0u8; STAGE_BYTES];
        for chunk in tensor.values().chunks(STAGE_BYTES / 4) {
            for (dst, v) in stage.chunks_exact_mut(4).zip(chunk) {
                dst.copy_from_slice(&v.to_le_bytes());
            }
            out.put(&stage[..chunk.len() * 4]);
        }
    }
}

impl QModel {
    /// The canonical encoding (see the crate documentation, "Format").
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        write_model(self, &mut out);
        out
    }

    /// Length of [`QModel::encode`]'s output, in bytes.
    pub fn encoded_len(&self) -> usize {
        HEADER_BYTES
            + self
                .tensors()
                .iter()
                .map(|(name, t)| {
                    crate::limits::TENSOR_HEADER_BYTES
                        + name.len()
                        + 4 * t.shape().len()
                        + 4 * t.len()
                })
                .sum::<usize>()
    }

    /// BLAKE3 of the canonical encoding (the magic doubles as the domain separator).
    pub fn content_hash(&self) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new();
        write_model(self, &mut hasher);
        *hasher.finalize().as_bytes()
    }

    /// Decodes a canonical encoding; every limit is checked before anything is allocated
    /// for it, and `decode(encode(m)) == m`, `encode(decode(b)) == b` whenever decode succeeds.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { bytes, offset: 0 };
        let magic: [u8; 4] = r.array()?;
        if magic != MAGIC {
            return Err(DecodeError::BadMagic {
                got: magic,
                expected: MAGIC,
            });
        }
        let version = u16::from_le_bytes(r.array()?);
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion {
                got: version,
                supported: VERSION,
            });
        }
        let count = u32::from_le_bytes(r.array()?);
        if count as usize > TENSORS_MAX {
            return Err(DecodeError::TooManyTensors {
                count,
                max: TENSORS_MAX,
            });
        }
        let mut tensors = Vec::with_capacity(count as usize);
        let mut names = BTreeSet::new();
        let mut elements = 0u64;
        for tensor in 0..count as usize {
            let (name, t) = read_tensor(&mut r, tensor, &mut elements)?;
            if !names.insert(name.clone()) {
                return Err(DecodeError::DuplicateName { tensor, name });
            }
            tensors.push((name, t));
        }
        let count = r.bytes.len() - r.offset;
        if count != 0 {
            return Err(DecodeError::TrailingBytes { count });
        }
        Ok(QModel::from_valid_tensors(tensors))
    }
}

/// Reads one tensor record; `elements` is the running total over the model so far.
fn read_tensor(
    r: &mut Reader<'_>,
    tensor: usize,
    elements: &mut u64,
) -> Result<(String, QTensor), DecodeError> {
    let name_len = usize::from(u16::from_le_bytes(r.array()?));
    if name_len > NAME_MAX_BYTES {
        return Err(DecodeError::NameTooLong {
            tensor,
            len_bytes: name_len,
            max: NAME_MAX_BYTES,
        });
    }
    let name = std::str::from_utf8(r.take(name_len as u64)?)
        .map_err(|_| DecodeError::NameNotUtf8 { tensor })?
        .to_owned();
    let [frac_bits, rank] = r.array()?;
    if frac_bits > FRAC_BITS_MAX {
        return Err(DecodeError::FracBitsTooLarge {
            tensor,
            frac_bits,
            max: FRAC_BITS_MAX,
        });
    }
    let rank = usize::from(rank);
    if rank > RANK_MAX {
        return Err(DecodeError::RankTooLarge {
            tensor,
            rank,
            max: RANK_MAX,
        });
    }
    let mut shape = Vec::with_capacity(rank);
    for _ in 0..rank {
        shape.push(u32::from_le_bytes(r.array()?));
    }
    let value_count = u32::from_le_bytes(r.array()?);
    let shape_elements = shape_elements(&shape);
    if shape_elements != u64::from(value_count) {
        return Err(DecodeError::ShapeLenMismatch {
            tensor,
            shape_elements,
            value_count,
        });
    }
    // Both terms ≤ u32::MAX-ish or ELEMENTS_MAX, so the sum cannot overflow u64.
    *elements += u64::from(value_count);
    if *elements > ELEMENTS_MAX {
        return Err(DecodeError::TooManyElements {
            tensor,
            elements: *elements,
            max: ELEMENTS_MAX,
        });
    }
    let raw = r.take(4 * u64::from(value_count))?;
    let values = raw
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((name, QTensor::from_valid_parts(shape, frac_bits, values)))
}

/// A bounds-checked cursor over untrusted bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, needed: u64) -> Result<&'a [u8], DecodeError> {
        let remaining = self.bytes.len() - self.offset;
        if needed > remaining as u64 {
            return Err(DecodeError::Truncated {
                offset: self.offset,
                needed,
                remaining,
            });
        }
        // needed ≤ remaining, so it fits in usize.
        let start = self.offset;
        self.offset += needed as usize;
        Ok(&self.bytes[start..self.offset])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N as u64)?);
        Ok(out)
    }
}
