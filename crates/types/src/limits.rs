//! Every size bound of the protocol, as named constants with the unit last.

/// Largest encoded transaction accepted anywhere (mempool, block, RPC): room for the largest
/// dispute move ([`crate::infer::MOVE_MAX_BYTES`]) plus the envelope.
pub const TX_SIZE_MAX_BYTES: usize = 16 * 1024;
/// Most transactions in one block.
pub const BLOCK_TXS_MAX: usize = 10_000;
/// Most evidence items in one block.
pub const BLOCK_EVIDENCE_MAX: usize = 64;
/// Largest encoded evidence item (two signed votes plus framing).
pub const EVIDENCE_SIZE_MAX_BYTES: usize = 1024;
/// Longest chain id.
pub const CHAIN_ID_MAX_BYTES: usize = 64;
/// Longest free-form memo/moniker string.
pub const MEMO_MAX_BYTES: usize = 128;
/// Largest encoded block, header and evidence included; a proposer stops adding txs before it.
pub const BLOCK_SIZE_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Largest `validators_max` a genesis may set: bounds consensus certificates and the p2p peer
/// sets a node admits (see `State::peer_keys`, at most twice this many keys).
pub const VALIDATORS_ACTIVE_MAX: u32 = 1_000;
