//! The errors the server reports, each with its JSON-RPC error code, and the replies and
//! HTTP responses that carry them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

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
/// Cairn error code: an upload would pass a quota for blobs nothing references yet (HTTP 429).
pub const CODE_BLOB_QUOTA_EXCEEDED: i64 = -32013;
/// Cairn error code: a limit on work in flight was reached; retry shortly (HTTP 503).
pub const CODE_BUSY: i64 = -32014;
/// Cairn error code: a request body stalled (HTTP 408).
pub const CODE_BODY_TIMEOUT: i64 = -32015;

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
    /// An upload of `requested` bytes would take `used` past `max` bytes of blobs nothing
    /// references yet; `limit` names the quota (`per_uploader` or `total`) and `reason` says
    /// what to do.
    #[error("{reason}")]
    BlobQuotaExceeded {
        limit: String,
        used: u64,
        requested: u64,
        max: u64,
        reason: String,
    },
    // --- Load ---
    /// `max` `what` are already in flight: the limit named `limit` was reached.
    #[error("node busy: {max} {what} already in flight (limit `{limit}`); retry shortly")]
    Busy {
        what: String,
        limit: String,
        max: u64,
    },
    /// Nothing of the request body arrived for `timeout_ms` ms.
    #[error("request body stalled: nothing arrived for {timeout_ms} ms")]
    BodyTimeout { timeout_ms: u64 },
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
            RpcError::BlobQuotaExceeded { .. } => CODE_BLOB_QUOTA_EXCEEDED,
            RpcError::Busy { .. } => CODE_BUSY,
            RpcError::BodyTimeout { .. } => CODE_BODY_TIMEOUT,
        }
    }

    /// Shorthand for an invalid parameter.
    pub fn invalid_param(param: &str, reason: impl Into<String>) -> Self {
        RpcError::InvalidParams {
            param: param.to_string(),
            reason: reason.into(),
        }
    }

    /// The error body's `data` member, for errors that carry numbers a client can act on.
    pub fn data(&self) -> Option<serde_json::Value> {
        use serde_json::json;
        match self {
            RpcError::InvalidParams { param, .. } => Some(json!({ "param": param })),
            RpcError::BlobHashMismatch { expected, got } => {
                Some(json!({ "expected": expected, "got": got }))
            }
            RpcError::BlobTooLarge { size, max } => Some(json!({ "size": size, "max": max })),
            RpcError::BlobQuotaExceeded {
                limit,
                used,
                requested,
                max,
                ..
            } => Some(json!({ "limit": limit, "used": used, "requested": requested, "max": max })),
            RpcError::Busy { limit, max, .. } => Some(json!({ "limit": limit, "max": max })),
            RpcError::BodyTimeout { timeout_ms } => Some(json!({ "timeout_ms": timeout_ms })),
            _ => None,
        }
    }

    /// The HTTP status an error travels with when it is not a JSON-RPC 200 answer (blob
    /// routes, refusals before a request is parsed).
    pub fn http_status(&self) -> u16 {
        match self {
            RpcError::Parse { .. }
            | RpcError::InvalidRequest { .. }
            | RpcError::InvalidParams { .. }
            | RpcError::BlobHashMismatch { .. } => 400,
            RpcError::NotFound { .. } => 404,
            RpcError::BodyTimeout { .. } => 408,
            RpcError::BlobTooLarge { .. } => 413,
            RpcError::BlobQuotaExceeded { .. } => 429,
            RpcError::Busy { .. } => 503,
            RpcError::BlobStoreFull { .. } => 507,
            _ => 500,
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

/// A blob store refusal as the RPC error a client can act on; faults are internal errors.
pub fn blob_error(err: cairn_blobs::BlobError) -> RpcError {
    use cairn_blobs::BlobError;
    match err {
        BlobError::HashMismatch { expected, got } => RpcError::BlobHashMismatch {
            expected: expected.to_hex(),
            got: got.to_hex(),
        },
        BlobError::TooLarge { size, max } => RpcError::BlobTooLarge { size, max },
        err @ BlobError::StoreFull { .. } => RpcError::BlobStoreFull {
            reason: err.to_string(),
        },
        err => RpcError::internal(err),
    }
}

/// A quota refusal with its numbers (HTTP 429).
pub fn quota_error(err: &cairn_blobs::QuotaError) -> RpcError {
    let (limit, used, requested, max) = err.numbers();
    RpcError::BlobQuotaExceeded {
        limit: limit.to_string(),
        used,
        requested,
        max,
        reason: err.to_string(),
    }
}

/// Seconds a refused client is told to wait (`Retry-After` of a 503).
const BUSY_RETRY_AFTER_SECONDS: &str = "1";

/// A JSON-RPC 2.0 error reply to request `id` (`null` when the request was never read).
pub(crate) fn error_reply(id: Value, error: &RpcError) -> Value {
    let mut object = json!({ "code": error.code(), "message": error.to_string() });
    if let (Some(data), Some(fields)) = (error.data(), object.as_object_mut()) {
        fields.insert("data".into(), data);
    }
    json!({ "jsonrpc": "2.0", "id": id, "error": object })
}

/// An error refused outside JSON-RPC's answers: its HTTP status and a body that is both a
/// JSON-RPC error reply and a blob route's `{"error": ..}`, so either kind of client reads it.
pub(crate) fn error_response(error: &RpcError) -> Response {
    let status =
        StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    refusal(status, error)
}

/// [error_response] with an explicit status.
pub(crate) fn refusal(status: StatusCode, error: &RpcError) -> Response {
    let mut response = (status, axum::Json(error_reply(Value::Null, error))).into_response();
    if matches!(error, RpcError::Busy { .. }) {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(BUSY_RETRY_AFTER_SECONDS),
        );
    }
    response
}
