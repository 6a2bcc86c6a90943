//! The errors the server reports, each with its JSON-RPC error code.

/// JSON-RPC error code: the body is not JSON.
pub const CODE_PARSE_ERROR: i64 = -32700;
/// JSON-RPC error code: JSON, but not a JSON-RPC 2.0 request.
pub const CODE_INVALID_REQUEST: i64 = -32600;
/// JSON-RPC error code: no such method.
pub const CODE_METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC error code: a parameter is missing or malformed.
pub const CODE_INVALID_PARAMS: i64 = -32602;
/// JSON-RPC error code: the node failed unexpectedly.
pub const CODE_INTERNAL: i64 = -32603;
/// Cairn error code: the node rejected a submitted transaction.
pub const CODE_TX_REJECTED: i64 = -32000;
/// Cairn error code: the requested block, account proof, ... does not exist.
pub const CODE_NOT_FOUND: i64 = -32001;
/// Cairn error code: blob bytes do not hash to the id they were sent under.
pub const CODE_BLOB_HASH_MISMATCH: i64 = -32010;
/// Cairn error code: a blob is over the size limit.
pub const CODE_BLOB_TOO_LARGE: i64 = -32011;
/// Cairn error code: the node's blob store is full.
pub const CODE_BLOB_STORE_FULL: i64 = -32012;

/// Why a JSON-RPC request failed. Backends return [RpcError::TxRejected], [RpcError::NotFound]
/// and [RpcError::Internal]; the server produces the others.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    #[error("parse error: {reason}")]
    Parse { reason: String },
    #[error("invalid request: {reason}")]
    InvalidRequest { reason: String },
    #[error("method not found: `{method}` (see docs/API.md for the methods)")]
    MethodNotFound { method: String },
    #[error("invalid params: `{param}` {reason}")]
    InvalidParams { param: String, reason: String },
    /// The node's typed rejection, verbatim (e.g. "nonce 3 is stale: the next nonce is 5").
    #[error("{reason}")]
    TxRejected { reason: String },
    /// `what` names the missing thing, e.g. "block at height 12".
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("internal error: {reason}")]
    Internal { reason: String },
    // --- Blobs ---
    /// Blob bytes hash to `got`, not to the id `expected` they were sent under (hex ids).
    #[error("blob bytes hash to {got}, not to the id {expected} they were sent under")]
    BlobHashMismatch { expected: String, got: String },
    /// A blob of `size` bytes is over the limit of `max` bytes.
    #[error("blob of {size} bytes is over the limit of {max} bytes")]
    BlobTooLarge { size: u64, max: u64 },
    /// The node's blob store cannot take the blob (the reason says how full it is).
    #[error("blob store full: {reason}")]
    BlobStoreFull { reason: String },
}

impl RpcError {
    /// The JSON-RPC error code.
    pub fn code(&self) -> i64 {
        match self {
            RpcError::Parse { .. } => CODE_PARSE_ERROR,
            RpcError::InvalidRequest { .. } => CODE_INVALID_REQUEST,
            RpcError::MethodNotFound { .. } => CODE_METHOD_NOT_FOUND,
            RpcError::InvalidParams { .. } => CODE_INVALID_PARAMS,
            RpcError::TxRejected { .. } => CODE_TX_REJECTED,
            RpcError::NotFound { .. } => CODE_NOT_FOUND,
            RpcError::Internal { .. } => CODE_INTERNAL,
            RpcError::BlobHashMismatch { .. } => CODE_BLOB_HASH_MISMATCH,
            RpcError::BlobTooLarge { .. } => CODE_BLOB_TOO_LARGE,
            RpcError::BlobStoreFull { .. } => CODE_BLOB_STORE_FULL,
        }
    }

    /// Shorthand for an invalid parameter.
    pub fn invalid_param(param: &str, reason: impl Into<String>) -> Self {
        RpcError::InvalidParams {
            param: param.to_string(),
            reason: reason.into(),
        }
    }

    /// Shorthand for a missing thing.
    pub fn not_found(what: impl Into<String>) -> Self {
        RpcError::NotFound { what: what.into() }
    }

    /// Shorthand for a rejected transaction.
    pub fn tx_rejected(reason: impl std::fmt::Display) -> Self {
        RpcError::TxRejected {
            reason: reason.to_string(),
        }
    }

    /// Shorthand for an unexpected node failure.
    pub fn internal(reason: impl std::fmt::Display) -> Self {
        RpcError::Internal {
            reason: reason.to_string(),
        }
    }
}
