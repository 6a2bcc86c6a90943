//! The HTTP server: JSON-RPC 2.0 on `POST /`, Prometheus metrics on `GET /metrics`, liveness on
//! `GET /health`.
//!
//! Every request is parsed and its parameters validated here, so backends see only canonical
//! values. Errors travel as JSON-RPC error objects with HTTP 200, except a body over
//! [RPC_BODY_MAX_BYTES], which is refused with HTTP 413 before it is read.

use crate::api::{BlockView, SubmitResult};
use crate::{BLOB_BODY_MAX_BYTES, api::BlobInfo};
use crate::{Backend, RPC_BATCH_MAX, RPC_BODY_MAX_BYTES, RpcError};
use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::routing::{get, post};
use cairn_blobs::BlobId;
use cairn_types::{Block, SignedTx, limits, parse_digest, parse_public_key, to_hex};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::future::Future;

/// Content type of `GET /metrics` (Prometheus text exposition format 0.0.4).
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every method with its parameter names, in positional order.
pub const METHODS: &[(&str, &[&str])] = &[
    ("cairn_status", &[]),
    ("cairn_getBlockByHeight", &["height"]),
    ("cairn_getBlockByHash", &["hash"]),
    ("cairn_latestBlock", &[]),
    ("cairn_submitTx", &["tx"]),
    ("cairn_getTxReceipt", &["hash"]),
    ("cairn_isTxPending", &["hash"]),
    ("cairn_getAccount", &["address"]),
    ("cairn_getValidators", &[]),
    ("cairn_getAccountProof", &["address"]),
    // Blobs.
    ("cairn_hasBlob", &["id"]),
    // Tasks.
    ("cairn_getTask", &["id"]),
    ("cairn_getTasks", &[]),
    ("cairn_getTaskRounds", &["id"]),
    // Verified inference.
    ("cairn_getModel", &["id"]),
    ("cairn_getModels", &[]),
    ("cairn_getInference", &["id"]),
    ("cairn_getInferences", &["from"]),
];

/// The RPC's routes over `backend`.
pub fn router<B: Backend + Clone + Send + Sync + 'static>(backend: B) -> Router {
    Router::new()
        .route("/", post(rpc::<B>))
        .route("/metrics", get(metrics::<B>))
        .route("/health", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(RPC_BODY_MAX_BYTES))
        // After the 1 MiB layer: the blob routes carry their own, larger limit.
        .merge(blob_routes::<B>())
        .with_state(backend)
}

/// Serves `router` on `listener` until the process ends or the listener fails.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, router).await
}

/// Serves `router` on `listener` until `shutdown` completes, then drains open requests.
pub async fn serve_with_shutdown(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics<B: Backend + Clone + Send + Sync + 'static>(State(backend): State<B>) -> Response {
    match backend.metrics().await {
        Ok(text) => ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn rpc<B: Backend + Clone + Send + Sync + 'static>(
    State(backend): State<B>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let reason = format!(
                "request body refused ({}); the limit is {RPC_BODY_MAX_BYTES} bytes",
                rejection.body_text()
            );
            let reply = error_reply(Value::Null, &RpcError::InvalidRequest { reason });
            return (rejection.status(), axum::Json(reply)).into_response();
        }
    };
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            let reply = error_reply(
                Value::Null,
                &RpcError::Parse {
                    reason: e.to_string(),
                },
            );
            return axum::Json(reply).into_response();
        }
    };
    let reply = match request {
        Value::Array(batch) => handle_batch(&backend, batch).await,
        single => handle_one(&backend, single).await,
    };
    match reply {
        Some(reply) => axum::Json(reply).into_response(),
        // Only notifications: JSON-RPC 2.0 says to answer nothing.
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn handle_batch<B: Backend + Sync>(backend: &B, batch: Vec<Value>) -> Option<Value> {
    let refusal = if batch.is_empty() {
        Some("a batch must hold at least one request".to_string())
    } else if batch.len() > RPC_BATCH_MAX {
        Some(format!(
            "a batch holds at most {RPC_BATCH_MAX} requests, got {}",
            batch.len()
        ))
    } else {
        None
    };
    if let Some(reason) = refusal {
        return Some(error_reply(
            Value::Null,
            &RpcError::InvalidRequest { reason },
        ));
    }
    let mut replies = Vec::with_capacity(batch.len());
    for request in batch {
        replies.extend(handle_one(backend, request).await);
    }
    (!replies.is_empty()).then_some(Value::Array(replies))
}

/// One parsed JSON-RPC request.
struct Request {
    /// `None` for a notification (no `id` member): executed, never answered.
    id: Option<Value>,
    method: String,
    params: Params,
}

/// Handles one request; `None` for a notification.
async fn handle_one<B: Backend + Sync>(backend: &B, request: Value) -> Option<Value> {
    let request = match parse_request(request) {
        Ok(request) => request,
        Err((id, e)) => return Some(error_reply(id, &e)),
    };
    let outcome = dispatch(backend, &request.method, request.params).await;
    let id = request.id?;
    Some(match outcome {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err(e) => error_reply(id, &e),
    })
}

fn parse_request(request: Value) -> Result<Request, (Value, RpcError)> {
    let invalid = |id: &Value, reason: &str| {
        (
            id.clone(),
            RpcError::InvalidRequest {
                reason: reason.to_string(),
            },
        )
    };
    let Value::Object(mut fields) = request else {
        return Err(invalid(&Value::Null, "a request must be a JSON object"));
    };
    let id = fields.remove("id");
    let shown_id = id.clone().unwrap_or(Value::Null);
    if !matches!(
        id,
        None | Some(Value::Null | Value::String(_) | Value::Number(_))
    ) {
        return Err(invalid(
            &Value::Null,
            "`id` must be a string, a number or null",
        ));
    }
    if fields.get("jsonrpc") != Some(&Value::String("2.0".into())) {
        return Err(invalid(&shown_id, "`jsonrpc` must be \"2.0\""));
    }
    let Some(Value::String(method)) = fields.remove("method") else {
        return Err(invalid(&shown_id, "`method` must be a string"));
    };
    let params = match fields.remove("params") {
        None | Some(Value::Null) => Params::Positional(Vec::new()),
        Some(Value::Array(values)) => Params::Positional(values),
        Some(Value::Object(values)) => Params::Named(values),
        Some(_) => return Err(invalid(&shown_id, "`params` must be an array or an object")),
    };
    Ok(Request { id, method, params })
}

fn error_reply(id: Value, error: &RpcError) -> Value {
    let mut object = json!({ "code": error.code(), "message": error.to_string() });
    if let RpcError::InvalidParams { param, .. } = error {
        object["data"] = json!({ "param": param });
    }
    json!({ "jsonrpc": "2.0", "id": id, "error": object })
}

async fn dispatch<B: Backend + Sync>(
    backend: &B,
    method: &str,
    params: Params,
) -> Result<Value, RpcError> {
    let Some((method, names)) = METHODS.iter().find(|(name, _)| *name == method) else {
        return Err(RpcError::MethodNotFound {
            method: method.to_string(),
        });
    };
    let mut args = params.bind(method, names)?.into_iter();
    let mut next = || args.next().expect("bind returns one value per name");
    match *method {
        "cairn_status" => to_json(backend.status().await?),
        "cairn_getBlockByHeight" => {
            let height = parse_height(next())?;
            let block = backend.block_by_height(height).await?;
            block_or_not_found(block, || format!("block at height {height}"))
        }
        "cairn_getBlockByHash" => {
            let hash = parse_hash(next())?;
            let block = backend.block_by_hash(hash.clone()).await?;
            block_or_not_found(block, || format!("block {hash}"))
        }
        "cairn_latestBlock" => {
            let height = backend.status().await?.height;
            let block = backend.block_by_height(height).await?;
            block_or_not_found(block, || format!("latest block (height {height})"))
        }
        "cairn_submitTx" => {
            let tx = parse_tx(next())?;
            to_json(SubmitResult {
                tx_hash: backend.submit_tx(tx).await?,
            })
        }
        "cairn_getTxReceipt" => to_json(backend.tx_receipt(parse_hash(next())?).await?),
        "cairn_isTxPending" => to_json(backend.tx_pending(parse_hash(next())?).await?),
        "cairn_getAccount" => to_json(backend.account(parse_address(next())?).await?),
        "cairn_getValidators" => to_json(backend.validators().await?),
        "cairn_getAccountProof" => to_json(backend.account_proof(parse_address(next())?).await?),
        // Blobs.
        "cairn_hasBlob" => to_json(backend.has_blob(parse_blob_id_arg(next())?).await?),
        // Tasks.
        "cairn_getTask" => {
            let id = parse_height(next())?;
            match backend.task(id).await? {
                Some(task) => to_json(task),
                None => Err(RpcError::not_found(format!("task {id}"))),
            }
        }
        "cairn_getTasks" => to_json(backend.tasks().await?),
        "cairn_getTaskRounds" => {
            let id = parse_height(next())?;
            to_json(backend.task_rounds(id).await?)
        }
        // Verified inference.
        "cairn_getModel" => {
            let id = parse_blob_id_arg(next())?;
            match backend.model(id.clone()).await? {
                Some(model) => to_json(model),
                None => Err(RpcError::not_found(format!("model {id}"))),
            }
        }
        "cairn_getModels" => to_json(backend.models().await?),
        "cairn_getInference" => {
            let id = parse_height(next())?;
            match backend.inference(id).await? {
                Some(i) => to_json(i),
                None => Err(RpcError::not_found(format!("inference request {id}"))),
            }
        }
        "cairn_getInferences" => {
            let from = match next() {
                (_, Value::Null) => 0,
                arg => parse_height(arg)?,
            };
            to_json(backend.inferences(from).await?)
        }
        _ => unreachable!("every entry of METHODS has a branch"),
    }
}

fn to_json(value: impl Serialize) -> Result<Value, RpcError> {
    serde_json::to_value(value).map_err(RpcError::internal)
}

fn block_or_not_found(
    block: Option<Block>,
    what: impl FnOnce() -> String,
) -> Result<Value, RpcError> {
    match block {
        Some(block) => to_json(BlockView::from_block(&block)),
        None => Err(RpcError::not_found(what())),
    }
}

/// Parameters as sent: positional (`[..]`) or named (`{..}`).
enum Params {
    Positional(Vec<Value>),
    Named(Map<String, Value>),
}

impl Params {
    /// One value per name (in `names` order), each `Value::Null` when absent; refuses extra or
    /// unknown parameters so a typo is reported rather than ignored.
    fn bind(
        self,
        method: &str,
        names: &[&'static str],
    ) -> Result<Vec<(&'static str, Value)>, RpcError> {
        let takes = || format!("{method} takes [{}]", names.join(", "));
        match self {
            Params::Positional(mut values) => {
                if values.len() > names.len() {
                    let reason = format!("has {} entries; {}", values.len(), takes());
                    return Err(RpcError::invalid_param("params", reason));
                }
                values.resize(names.len(), Value::Null);
                Ok(names.iter().copied().zip(values).collect())
            }
            Params::Named(mut values) => {
                let bound = names
                    .iter()
                    .map(|name| (*name, values.remove(*name).unwrap_or(Value::Null)))
                    .collect();
                match values.keys().next() {
                    Some(unknown) => Err(RpcError::invalid_param(
                        unknown,
                        format!("is not a parameter; {}", takes()),
                    )),
                    None => Ok(bound),
                }
            }
        }
    }
}

type Arg = (&'static str, Value);

fn parse_height((name, value): Arg) -> Result<u64, RpcError> {
    let parsed = match &value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| describe_bad(name, &value, "a non-negative integer"))
}

fn parse_string<'a>((name, value): &'a Arg, expected: &str) -> Result<&'a str, RpcError> {
    value
        .as_str()
        .ok_or_else(|| describe_bad(name, value, expected))
}

fn describe_bad(name: &str, value: &Value, expected: &str) -> RpcError {
    if value.is_null() {
        return RpcError::invalid_param(name, format!("is missing: expected {expected}"));
    }
    RpcError::invalid_param(name, format!("must be {expected}, got {value}"))
}

/// A hash in canonical hex (lower case, no `0x`).
fn parse_hash(arg: Arg) -> Result<String, RpcError> {
    let text = parse_string(&arg, "a hex string of 64 characters")?;
    let digest = parse_digest(text).map_err(|e| RpcError::invalid_param(arg.0, e))?;
    Ok(to_hex(digest))
}

/// An address (ed25519 public key) in canonical hex.
fn parse_address(arg: Arg) -> Result<String, RpcError> {
    let text = parse_string(&arg, "a hex public key of 64 characters")?;
    let key = parse_public_key(text).map_err(|e| RpcError::invalid_param(arg.0, e))?;
    Ok(to_hex(&key))
}

/// Bytes of a hex-encoded `SignedTx`, checked to decode (signature and state are the node's).
fn parse_tx(arg: Arg) -> Result<Vec<u8>, RpcError> {
    let text = parse_string(&arg, "the hex of an encoded signed transaction")?;
    let text = text.trim().trim_start_matches("0x");
    let hex_max = 2 * limits::TX_SIZE_MAX_BYTES;
    if text.len() > hex_max {
        let reason = format!("is {} hex characters; the limit is {hex_max}", text.len());
        return Err(RpcError::invalid_param(arg.0, reason));
    }
    let bytes = hex::decode(text)
        .map_err(|e| RpcError::invalid_param(arg.0, format!("is not hex: {e}")))?;
    SignedTx::decode_bounded(&bytes)
        .map_err(|e| RpcError::invalid_param(arg.0, format!("is not a signed transaction: {e}")))?;
    Ok(bytes)
}

// --- Blobs: `PUT /blobs`, `PUT /blobs/{id}`, `GET /blobs/{id}` ---
//
// Blobs travel as raw bytes (never hex inside JSON), under their own body limit
// [BLOB_BODY_MAX_BYTES]. Errors are JSON `{"error": {"code", "message", "data"?}}` with an HTTP
// status that says what happened: 400 (malformed id, hash mismatch), 404 (no one has the
// blob), 413 (over the limit), 507 (store full), 500 (node fault).

/// Content type of a blob's bytes in `GET /blobs/{id}`.
pub const BLOB_CONTENT_TYPE: &str = "application/octet-stream";

/// The blob routes, each with the blob body limit.
fn blob_routes<B: Backend + Clone + Send + Sync + 'static>() -> Router<B> {
    Router::new()
        .route("/blobs", put(put_blob::<B>))
        .route("/blobs/{id}", put(put_blob_with_id::<B>).get(get_blob::<B>))
        .layer(DefaultBodyLimit::max(BLOB_BODY_MAX_BYTES))
}

/// `PUT /blobs`: stores the body under its own hash.
async fn put_blob<B: Backend + Clone + Send + Sync + 'static>(
    State(backend): State<B>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let stored = match blob_body(&headers, body) {
        Ok(bytes) => backend.put_blob(bytes, None).await,
        Err(e) => Err(e),
    };
    blob_stored_reply(stored)
}

/// `PUT /blobs/{id}`: stores the body only if it hashes to `id`.
async fn put_blob_with_id<B: Backend + Clone + Send + Sync + 'static>(
    State(backend): State<B>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let checked = parse_blob_id("id", &id).and_then(|expected| {
        let bytes = blob_body(&headers, body)?;
        let got = BlobId::of(&bytes);
        if got != expected {
            return Err(RpcError::BlobHashMismatch {
                expected: expected.to_hex(),
                got: got.to_hex(),
            });
        }
        Ok((expected, bytes))
    });
    let stored = match checked {
        Ok((expected, bytes)) => backend.put_blob(bytes, Some(expected.to_hex())).await,
        Err(e) => Err(e),
    };
    blob_stored_reply(stored)
}

/// `GET /blobs/{id}`: the blob's bytes, from this node or (after a bounded wait) its peers.
async fn get_blob<B: Backend + Clone + Send + Sync + 'static>(
    State(backend): State<B>,
    Path(id): Path<String>,
) -> Response {
    let id = match parse_blob_id("id", &id) {
        Ok(id) => id,
        Err(e) => return blob_error_reply(&e),
    };
    match backend.get_blob(id.to_hex()).await {
        Ok(Some(bytes)) => ([(header::CONTENT_TYPE, BLOB_CONTENT_TYPE)], bytes).into_response(),
        Ok(None) => blob_error_reply(&RpcError::not_found(format!(
            "blob {id} (neither this node nor its peers hold it)"
        ))),
        Err(e) => blob_error_reply(&e),
    }
}

/// The request body as blob bytes, or why it was refused (over the limit: 413).
fn blob_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Vec<u8>, RpcError> {
    match body {
        Ok(bytes) => Ok(Vec::from(bytes)),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            // The declared length when there is one; else all we know is "over the limit".
            let declared = headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let max = BLOB_BODY_MAX_BYTES as u64;
            Err(RpcError::BlobTooLarge {
                size: declared.unwrap_or(max + 1),
                max,
            })
        }
        Err(rejection) => Err(RpcError::InvalidRequest {
            reason: format!("blob body refused: {}", rejection.body_text()),
        }),
    }
}

fn blob_stored_reply(stored: Result<BlobInfo, RpcError>) -> Response {
    match stored {
        Ok(info) => axum::Json(info).into_response(),
        Err(e) => blob_error_reply(&e),
    }
}

/// A blob route's error: the HTTP status that fits, and the JSON error object.
fn blob_error_reply(error: &RpcError) -> Response {
    let status = match error {
        RpcError::Parse { .. }
        | RpcError::InvalidRequest { .. }
        | RpcError::InvalidParams { .. }
        | RpcError::BlobHashMismatch { .. } => StatusCode::BAD_REQUEST,
        RpcError::NotFound { .. } => StatusCode::NOT_FOUND,
        RpcError::BlobTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        RpcError::BlobStoreFull { .. } => StatusCode::INSUFFICIENT_STORAGE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut object = json!({ "code": error.code(), "message": error.to_string() });
    match error {
        RpcError::InvalidParams { param, .. } => object["data"] = json!({ "param": param }),
        RpcError::BlobHashMismatch { expected, got } => {
            object["data"] = json!({ "expected": expected, "got": got });
        }
        RpcError::BlobTooLarge { size, max } => {
            object["data"] = json!({ "size": size, "max": max });
        }
        _ => {}
    }
    (status, axum::Json(json!({ "error": object }))).into_response()
}

/// A blob id (64 hex digits, any case, optional `0x`).
fn parse_blob_id(param: &str, text: &str) -> Result<BlobId, RpcError> {
    let trimmed = text.trim();
    let hex = trimmed.strip_prefix("0x").unwrap_or(trimmed);
    hex.parse()
        .map_err(|e| RpcError::invalid_param(param, format!("is not a blob id: {e}")))
}

/// A blob id parameter of a JSON-RPC method, in canonical hex.
fn parse_blob_id_arg(arg: Arg) -> Result<String, RpcError> {
    let text = parse_string(&arg, "a blob id of 64 hex characters")?;
    Ok(parse_blob_id(arg.0, text)?.to_hex())
}
