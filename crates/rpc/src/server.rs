//! The HTTP server: JSON-RPC 2.0 on `POST /`, Prometheus metrics on `GET /metrics`, liveness on
//! `GET /health`, blobs on `PUT /blobs`, `PUT /blobs/{id}` and `GET /blobs/{id}`.
//!
//! Every request is parsed and its parameters validated here, so backends see only canonical
//! values. Errors travel as JSON-RPC error objects with HTTP 200, except refusals before a
//! request is handled, each with the HTTP status that fits: a body over
//! [RPC_BODY_MAX_BYTES] (413), a body that stalls (408), and a request beyond the in-flight
//! limit (503). Connections are served by [crate::listener] under [RpcLimits].

use crate::api::{BlockView, SubmitResult};
use crate::error::{error_reply, error_response, refusal};
use crate::limits::{REFUSED_BODY_DRAIN_MAX_BYTES, REFUSED_BODY_DRAIN_TIMEOUT, RpcLimits};
use crate::stats::RpcStats;
use crate::{Backend, RPC_BATCH_MAX, RPC_BODY_MAX_BYTES, RpcError};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use cairn_types::{Block, SignedTx, limits, parse_digest, parse_public_key, to_hex};
use http_body_util::BodyExt as _;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use crate::blob_routes::BLOB_CONTENT_TYPE;

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

/// One server: its limits, its counters and the permits its routes share. Build the router
/// and serve through the same value so both count into the same [RpcStats].
#[derive(Clone, Debug, Default)]
pub struct RpcServer {
    shared: Arc<Shared>,
}

/// What every route and the accept loop of one server share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) limits: RpcLimits,
    pub(crate) stats: Arc<RpcStats>,
    requests: Arc<Semaphore>,
    pub(crate) uploads: Arc<Semaphore>,
    pub(crate) downloads: Arc<Semaphore>,
}

impl Default for Shared {
    fn default() -> Self {
        Self::new(RpcLimits::default())
    }
}

impl Shared {
    fn new(limits: RpcLimits) -> Self {
        Self {
            limits,
            stats: Arc::default(),
            requests: Arc::new(Semaphore::new(limits.requests_in_flight_max)),
            uploads: Arc::new(Semaphore::new(limits.uploads_in_flight_max)),
            downloads: Arc::new(Semaphore::new(limits.downloads_in_flight_max)),
        }
    }

    /// A permit for one request in flight, or the 503 refusal naming the limit.
    pub(crate) fn admit_request(&self) -> Result<OwnedSemaphorePermit, RpcError> {
        let max = self.limits.requests_in_flight_max;
        take(&self.requests, "requests", "requests_in_flight_max", max).inspect_err(|_| {
            self.stats.shed();
        })
    }
}

/// A permit of `permits`, or [RpcError::Busy] naming `what` and the `limit` of `max`.
pub(crate) fn take(
    permits: &Arc<Semaphore>,
    what: &str,
    limit: &str,
    max: usize,
) -> Result<OwnedSemaphorePermit, RpcError> {
    permits
        .clone()
        .try_acquire_owned()
        .map_err(|_| RpcError::Busy {
            what: what.to_string(),
            limit: limit.to_string(),
            max: u64::try_from(max).unwrap_or(u64::MAX),
        })
}

impl RpcServer {
    /// A server with `limits`.
    pub fn new(limits: RpcLimits) -> Self {
        Self {
            shared: Arc::new(Shared::new(limits)),
        }
    }

    /// The limits it runs with.
    pub fn limits(&self) -> RpcLimits {
        self.shared.limits
    }

    /// Its counters (connections, evictions, refusals), for the node's metrics.
    pub fn stats(&self) -> Arc<RpcStats> {
        self.shared.stats.clone()
    }

    /// The routes over `backend`.
    pub fn router<B: Backend + Clone + Send + Sync + 'static>(&self, backend: B) -> Router {
        Router::new()
            .route("/", post(rpc::<B>))
            .route("/metrics", get(metrics::<B>))
            .route("/health", get(health))
            .merge(crate::blob_routes::routes::<B>())
            .layer(Extension(self.shared.clone()))
            .with_state(backend)
    }

    /// Serves `router` on `listener` until `shutdown` completes, then lets open requests
    /// finish.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        router: Router,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        let (limits, stats) = (self.shared.limits, self.shared.stats.clone());
        crate::listener::serve(listener, router, limits, stats, shutdown).await
    }
}

/// The RPC's routes over `backend`, with the default limits.
pub fn router<B: Backend + Clone + Send + Sync + 'static>(backend: B) -> Router {
    RpcServer::default().router(backend)
}

/// Serves `router` on `listener`, with the default limits, until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    serve_with_shutdown(listener, router, std::future::pending()).await
}

/// Serves `router` on `listener`, with the default limits, until `shutdown` completes, then
/// drains open requests.
pub async fn serve_with_shutdown(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    RpcServer::default().serve(listener, router, shutdown).await
}

async fn health(Extension(shared): Extension<Arc<Shared>>) -> Response {
    match shared.admit_request() {
        Ok(_permit) => "ok".into_response(),
        Err(e) => error_response(&e),
    }
}

async fn metrics<B: Backend + Clone + Send + Sync + 'static>(
    State(backend): State<B>,
    Extension(shared): Extension<Arc<Shared>>,
) -> Response {
    let _permit = match shared.admit_request() {
        Ok(permit) => permit,
        Err(e) => return error_response(&e),
    };
    match backend.metrics().await {
        Ok(text) => ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn rpc<B: Backend + Clone + Send + Sync + 'static>(
    State(backend): State<B>,
    Extension(shared): Extension<Arc<Shared>>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = match read_body(&parts.headers, body, &shared.limits).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    // Counted in flight only once its body is here: a client trickling a body cannot hold
    // one of the permits that every other client's calls need.
    let _permit = match shared.admit_request() {
        Ok(permit) => permit,
        Err(e) => return error_response(&e),
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

/// A JSON-RPC body in full: at most [RPC_BODY_MAX_BYTES] (413), all of it within the body
/// timeout (408). A body refused for its size is drained first (see [drain_refused]).
async fn read_body(
    headers: &HeaderMap,
    mut body: Body,
    limits: &RpcLimits,
) -> Result<Bytes, Response> {
    let too_large = |size: &str| {
        let reason =
            format!("request body of {size} refused; the limit is {RPC_BODY_MAX_BYTES} bytes");
        refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            &RpcError::InvalidRequest { reason },
        )
    };
    let max = u64::try_from(RPC_BODY_MAX_BYTES).unwrap_or(u64::MAX);
    let declared = content_length(headers);
    if let Some(size) = declared
        && size > max
    {
        drain_refused(headers, body, declared).await;
        return Err(too_large(&format!("{size} bytes")));
    }
    let now = tokio::time::Instant::now();
    let deadline = now.checked_add(limits.body_read_timeout).unwrap_or(now);
    let mut bytes = Vec::new();
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => {
                let timeout_ms = millis(limits.body_read_timeout);
                return Err(error_response(&RpcError::BodyTimeout { timeout_ms }));
            }
            Ok(None) => return Ok(Bytes::from(bytes)),
            Ok(Some(Err(e))) => {
                let reason = format!("request body unreadable: {e}");
                return Err(error_response(&RpcError::InvalidRequest { reason }));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if bytes.len().saturating_add(data.len()) > RPC_BODY_MAX_BYTES {
                drain_refused(headers, body, None).await;
                return Err(too_large("more bytes"));
            }
            bytes.extend_from_slice(&data);
        }
    }
}

/// Reads and discards the rest of a refused body, at most [REFUSED_BODY_DRAIN_MAX_BYTES]
/// within [REFUSED_BODY_DRAIN_TIMEOUT], unless the client waits for `100 Continue` (then it
/// never sent it) or declared more than that. Why: closing a socket with unread bytes sends a
/// reset, which would discard the refusal before the client reads it. Nothing is kept.
pub(crate) async fn drain_refused(headers: &HeaderMap, mut body: Body, declared: Option<u64>) {
    let max = u64::try_from(REFUSED_BODY_DRAIN_MAX_BYTES).unwrap_or(u64::MAX);
    if expects_continue(headers) || declared.is_some_and(|size| size > max) {
        return;
    }
    let discard = async {
        let mut read: u64 = 0;
        while let Some(Ok(frame)) = body.frame().await {
            let len = frame.data_ref().map_or(0, |data| data.len());
            read = read.saturating_add(u64::try_from(len).unwrap_or(u64::MAX));
            if read > max {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(REFUSED_BODY_DRAIN_TIMEOUT, discard).await;
}

/// Whether the client waits for `100 Continue` before sending its body.
fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
}

/// The `Content-Length` a request declares, if it is a number.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

pub(crate) fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
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
    // `bind` returns one value per name; a missing one reads as absent (null) all the same.
    let mut next = || args.next().unwrap_or(("", Value::Null));
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
        "cairn_hasBlob" => to_json(
            backend
                .has_blob(crate::blob_routes::parse_blob_id_arg(next())?)
                .await?,
        ),
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
            let id = crate::blob_routes::parse_blob_id_arg(next())?;
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
        // Every entry of METHODS has a branch above; a new one without a branch is refused
        // rather than crashing the handler.
        other => Err(RpcError::MethodNotFound {
            method: other.to_string(),
        }),
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

pub(crate) type Arg = (&'static str, Value);

fn parse_height((name, value): Arg) -> Result<u64, RpcError> {
    let parsed = match &value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| describe_bad(name, &value, "a non-negative integer"))
}

pub(crate) fn parse_string<'a>(
    (name, value): &'a Arg,
    expected: &str,
) -> Result<&'a str, RpcError> {
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
