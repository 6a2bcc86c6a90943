//! The seam between the RPC server and the node.

use crate::RpcError;
use crate::api::{AccountProofView, AccountView, Receipt, Status, ValidatorView};
use cairn_blobs::{BlobId, BlobWriter};
use cairn_types::Block;
use std::future::Future;
use std::net::IpAddr;

/// An upload as the server knows it before reading a byte of its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadRequest {
    /// The id the bytes must hash to (`PUT /blobs/{id}`); `None` for `PUT /blobs`.
    pub expected: Option<BlobId>,
    /// The body's declared length (`Content-Length`), when the client sent one.
    pub size_bytes: Option<u64>,
    /// The client's address: quotas are per address.
    pub client: IpAddr,
}

/// An upload the backend agreed to take: the writer its body streams into (the writer's
/// `max_bytes` bounds the body) and what the backend holds for it (a quota reservation, say),
/// handed back to [Backend::uploaded] once the blob is stored, or dropped if it fails.
#[derive(Debug)]
pub struct Upload<H> {
    pub writer: BlobWriter,
    pub hold: H,
}

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

    /// Whether `hash` (hex) waits in this node's mempool. A transaction that is neither
    /// pending nor finalized was dropped (its next action became invalid, say).
    fn tx_pending(&self, hash: String) -> impl Future<Output = Result<bool, RpcError>> + Send;

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

    // --- Blobs (`PUT /blobs`, `GET /blobs/{id}`, `cairn_hasBlob`) ---
    // Ids are canonical lower-case hex of a 32-byte BLAKE3 hash; blobs are at most
    // [BLOB_BODY_MAX_BYTES](crate::BLOB_BODY_MAX_BYTES).

    /// What an accepted upload holds until it ends (dropped when it fails).
    type UploadHold: Send + 'static;

    /// Decides, before any byte is read, whether to take an upload and how large it may be.
    /// Refusals: [RpcError::BlobQuotaExceeded] (nothing references the blob and the client's
    /// quota is spent), [RpcError::BlobTooLarge] (over the size the ledger declared for it),
    /// [RpcError::BlobStoreFull].
    fn open_upload(
        &self,
        request: UploadRequest,
    ) -> impl Future<Output = Result<Upload<Self::UploadHold>, RpcError>> + Send;

    /// Blob `id` of `size` bytes, streamed through an upload this backend opened, is stored
    /// (hash-checked): settle what `hold` held and share the blob with peers.
    fn uploaded(
        &self,
        id: BlobId,
        size: u64,
        hold: Self::UploadHold,
    ) -> impl Future<Output = ()> + Send;

    /// The bytes of blob `id`, verified against it; a node without it asks its peers first
    /// (bounded wait). `None` when no one had it.
    fn get_blob(
        &self,
        id: String,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, RpcError>> + Send;

    /// Whether this node holds blob `id` locally (no peer is asked).
    fn has_blob(&self, id: String) -> impl Future<Output = Result<bool, RpcError>> + Send;

    // --- Tasks (`cairn_getTask`, `cairn_getTasks`, `cairn_getTaskRounds`) ---

    /// Task `id` as of the latest finalized block.
    fn task(
        &self,
        id: u64,
    ) -> impl Future<Output = Result<Option<crate::task_api::TaskView>, RpcError>> + Send;

    /// Every task, by id.
    fn tasks(
        &self,
    ) -> impl Future<Output = Result<Vec<crate::task_api::TaskView>, RpcError>> + Send;

    /// The scored rounds of task `id` (lineage, rewards, checkpoints), by round; empty when
    /// the task is unknown or has none.
    fn task_rounds(
        &self,
        id: u64,
    ) -> impl Future<Output = Result<Vec<crate::task_api::RoundRecordView>, RpcError>> + Send;

    // --- Verified inference (`cairn_getModel`, `cairn_getModels`, `cairn_getInference`,
    // `cairn_getInferences`) ---

    /// Registered model `id` (graph hash, canonical hex).
    fn model(
        &self,
        id: String,
    ) -> impl Future<Output = Result<Option<crate::infer_api::ModelView>, RpcError>> + Send;

    /// Every registered model, by id.
    fn models(
        &self,
    ) -> impl Future<Output = Result<Vec<crate::infer_api::ModelView>, RpcError>> + Send;

    /// Inference request `id`.
    fn inference(
        &self,
        id: u64,
    ) -> impl Future<Output = Result<Option<crate::infer_api::InferenceView>, RpcError>> + Send;

    /// Requests with id ≥ `from`, at most [crate::INFERENCES_PAGE_MAX], by id.
    fn inferences(
        &self,
        from: u64,
    ) -> impl Future<Output = Result<Vec<crate::infer_api::InferenceView>, RpcError>> + Send;
}
