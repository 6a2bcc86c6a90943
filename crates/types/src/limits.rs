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
/// Largest blob (model graph, FL model or update) a node stores, from a client or a peer.
pub const BLOB_SIZE_MAX_BYTES: u64 = 32 * 1024 * 1024;
/// Tokens escrowed per KiB (rounded up) of every blob a transaction pins on every node (a
/// registered model's graph, a task's models and updates); returned when the pin is released.
pub const BLOB_DEPOSIT_PER_KIB: u64 = 10;

/// The deposit that pins `bytes` of blob: `⌈bytes / 1024⌉ · BLOB_DEPOSIT_PER_KIB`.
pub fn blob_deposit(bytes: u64) -> Option<u64> {
    bytes.div_ceil(1024).checked_mul(BLOB_DEPOSIT_PER_KIB)
}
