//! Every size bound of this crate, as named constants with the unit last.
//!
//! The aggregation overflow arguments in [`crate::aggregate`] rely on these bounds; raising one
//! means re-checking them.

/// Most tensors in one [`crate::QModel`].
pub const TENSORS_MAX: usize = 4_096;
/// Longest tensor name, in bytes of UTF-8.
pub const NAME_MAX_BYTES: usize = 256;
/// Most dimensions in one tensor shape.
pub const RANK_MAX: usize = 8;
/// Most `i32` elements in one model, summed over all its tensors (2^26 = 256 MiB of values).
pub const ELEMENTS_MAX: u64 = 1 << 26;
/// Largest `frac_bits`: an `i32` with 31 fractional bits spans [-1, 1).
pub const FRAC_BITS_MAX: u8 = 31;
/// Most updates one aggregation accepts (2^10). Krum is quadratic in this.
pub const UPDATES_MAX: usize = 1_024;

/// Fixed bytes of an encoding before the first tensor: magic, version, tensor count.
pub const HEADER_BYTES: usize = 4 + 2 + 4;
/// Fixed bytes of one tensor record besides its name, dims and values:
/// name length, frac_bits, rank, value count.
pub const TENSOR_HEADER_BYTES: usize = 2 + 1 + 1 + 4;
/// Largest encoding any valid model can have.
pub const ENCODED_MAX_BYTES: u64 = HEADER_BYTES as u64
    + TENSORS_MAX as u64 * (TENSOR_HEADER_BYTES + NAME_MAX_BYTES + 4 * RANK_MAX) as u64
    + 4 * ELEMENTS_MAX;
