//! Why an epoch input was rejected. Every variant names the offending value so a caller can act on it.

use crate::fixed::I32F32;
use crate::input::RowKind;

/// A malformed epoch input or parameter set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EpochError {
    /// More uids than [`crate::MAX_NEURONS`].
    #[error("{got} neurons exceed the limit of {max}")]
    TooManyNeurons {
        /// Neurons given.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// A row names a uid that does not exist.
    #[error("{kind:?} row of uid {uid} names column {column}, but only {n} uids exist")]
    ColumnOutOfRange {
        /// Weights or bonds.
        kind: RowKind,
        /// Row owner.
        uid: usize,
        /// The bad column.
        column: u16,
        /// Number of uids.
        n: usize,
    },
    /// A row names the same uid twice.
    #[error("{kind:?} row of uid {uid} names column {column} twice")]
    DuplicateColumn {
        /// Weights or bonds.
        kind: RowKind,
        /// Row owner.
        uid: usize,
        /// The repeated column.
        column: u16,
    },
    /// The owner uid is not a registered uid.
    #[error("owner uid {owner_uid} is out of range for {n} uids")]
    OwnerUidOutOfRange {
        /// The given owner uid.
        owner_uid: u16,
        /// Number of uids.
        n: usize,
    },
    /// Every uid has zero raw stake (or none passes the stake threshold): nothing can be weighted.
    #[error("total stake is zero (after the stake threshold): no uid can vote or be paid")]
    ZeroTotalStake,
    /// κ outside [0, 1].
    #[error("kappa {kappa} is outside [0, 1]")]
    KappaOutOfRange {
        /// The given κ.
        kappa: I32F32,
    },
    /// β outside [0, 1].
    #[error("bonds penalty {bonds_penalty} is outside [0, 1]")]
    BondsPenaltyOutOfRange {
        /// The given β.
        bonds_penalty: I32F32,
    },
    /// `bonds_moving_average` above 10⁶ (α would be negative).
    #[error("bonds moving average {got} exceeds {max}")]
    BondsMovingAverageOutOfRange {
        /// The given value.
        got: u64,
        /// The limit.
        max: u64,
    },
    /// Liquid-alpha bounds not `0 ≤ low ≤ high ≤ 1`.
    #[error("liquid alpha bounds ({low}, {high}) are not 0 <= low <= high <= 1")]
    AlphaValuesOutOfRange {
        /// α_low.
        low: I32F32,
        /// α_high.
        high: I32F32,
    },
}
