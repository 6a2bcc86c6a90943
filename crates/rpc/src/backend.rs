//! The seam between the RPC server and the node.

use crate::RpcError;
use crate::api::{AccountProofView, AccountView, Receipt, Status, ValidatorView};
use cairn_types::Block;
use std::future::Future;

/// What the server needs from a node. Hex arguments arrive validated and in canonical form
/// (lower-case, no `0x`, keys 32 bytes, hashes 32 bytes).
///
/// Backends report [RpcError::TxRejected], [RpcError::NotFound] or [RpcError::Internal].
pub trait Backend {
    /// The node's view of the chain.
    fn status(&self) -> impl Future<Output = Result<Status, RpcError>> + Send;

    /// The finalized block at `height`, if any.
    fn block_by_height(
        &self,
        height: u64,
    ) -> impl Future<Output = Result<Option<Block>, RpcError>> + Send;

    /// The finalized block with hash `hash` (hex), if any.
    fn block_by_hash(
        &self,
        hash: String,
    ) -> impl Future<Output = Result<Option<Block>, RpcError>> + Send;

    /// Admits an encoded `SignedTx` to the mempool and returns its hash (hex); a transaction
    /// the node refuses is [RpcError::TxRejected] with the node's reason.
    fn submit_tx(&self, tx: Vec<u8>) -> impl Future<Output = Result<String, RpcError>> + Send;

    /// The receipt of a finalized transaction; `None` when unknown or not yet finalized.
    fn tx_receipt(
        &self,
        hash: String,
    ) -> impl Future<Output = Result<Option<Receipt>, RpcError>> + Send;

    /// The account at `address` (hex); an unknown account is [AccountView::empty], not an error.
    fn account(
        &self,
        address: String,
    ) -> impl Future<Output = Result<AccountView, RpcError>> + Send;

    /// Every known validator, active or not.
    fn validators(&self) -> impl Future<Output = Result<Vec<ValidatorView>, RpcError>> + Send;

    /// The account at `address` with a proof against the latest finalized state root.
    fn account_proof(
        &self,
        address: String,
    ) -> impl Future<Output = Result<AccountProofView, RpcError>> + Send;

    /// Metrics in the Prometheus text format.
    fn metrics(&self) -> impl Future<Output = Result<String, RpcError>> + Send;
}
