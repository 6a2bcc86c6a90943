//! [`BlobId`]: the BLAKE3 hash of a blob's bytes, and its hex text form.

use std::fmt;
use std::str::FromStr;

/// The identity of a blob: the BLAKE3 hash of its bytes, the same 32 bytes the ledger stores.
///
/// Text form: 64 lowercase hex digits ([`fmt::Display`]); [`FromStr`] also accepts uppercase
/// digits so a pasted id works, and `parse(display(id)) == id` always holds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlobId([u8; 32]);

/// Why a string is not a [`BlobId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseBlobIdError {
    /// A blob id is exactly [`BlobId::HEX_LEN`] hex digits.
    #[error("a blob id is {expected} hex digits, got {got} bytes")]
    Length { got: usize, expected: usize },
    /// A character that is not a hex digit.
    #[error("character {ch:?} at index {index} is not a hex digit")]
    InvalidChar { index: usize, ch: char },
}

impl BlobId {
    /// Length of an id in bytes.
    pub const LEN_BYTES: usize = 32;
    /// Length of an id's hex form in characters.
    pub const HEX_LEN: usize = 2 * Self::LEN_BYTES;

    /// The id of `bytes`: their BLAKE3 hash.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// Wraps a hash read from the ledger (no check is possible without the bytes).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64-character lowercase hex form (the file name on disk).
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

impl From<[u8; 32]> for BlobId {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl From<BlobId> for [u8; 32] {
    fn from(id: BlobId) -> Self {
        id.0
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId({self})")
    }
}

impl FromStr for BlobId {
    type Err = ParseBlobIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Length first (in bytes: cheap and bounded); a multi-byte character in a 64-byte
        // string then fails as an invalid digit below.
        if s.len() != Self::HEX_LEN {
            return Err(ParseBlobIdError::Length {
                got: s.len(),
                expected: Self::HEX_LEN,
            });
        }
        let mut bytes = [0u8; 32];
        let mut chars = s.chars().enumerate();
        for byte in &mut bytes {
            for _ in 0..2 {
                // A multi-byte character fails as a digit before the characters run out.
                let (index, ch) = chars.next().ok_or(ParseBlobIdError::Length {
                    got: s.len(),
                    expected: Self::HEX_LEN,
                })?;
                let nibble = ch
                    .to_digit(16)
                    .ok_or(ParseBlobIdError::InvalidChar { index, ch })?;
                *byte = (*byte << 4) | nibble as u8;
            }
        }
        Ok(Self(bytes))
    }
}
