//! The blob routes: `PUT /blobs`, `PUT /blobs/{id}`, `GET /blobs/{id}`.
//!
//! Blobs travel as raw bytes (never hex inside JSON), up to [BLOB_BODY_MAX_BYTES]. Errors are
//! JSON `{"error": {"code", "message", "data"?}}` with an HTTP status that says what happened:
//! 400 (malformed id, hash mismatch), 404 (no one has the blob), 408 (the body stalled), 413
//! (over the limit, or over the size the ledger declared), 429 (upload quota), 503 (every
//! upload or download slot taken), 507 (store full), 500 (node fault).
//!
//! An upload is decided before a byte of its body is read (declared length, upload slot, the
//! backend's quota); a refused body is read and discarded (bounded) unless the client waits
//! for `100 Continue`, so it sees the refusal rather than a reset. An accepted one streams: chunks are gathered into batches of
//! [UPLOAD_WRITE_BATCH_BYTES] and written to a [BlobWriter] on a blocking thread while it
//! hashes them, so one upload holds about one batch of memory whatever its size. The blob
//! appears only once complete and matching its id.

use crate::api::BlobInfo;
use crate::backend::{Upload, UploadRequest};
use crate::error::error_response;
use crate::limits::UPLOAD_WRITE_BATCH_BYTES;
use crate::listener::HeldBody;
use crate::server::{Arg, Shared, content_length, drain_refused, millis, parse_string, take};
use crate::stats::UploadRefusal;
use crate::{BLOB_BODY_MAX_BYTES, Backend, RpcError};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::{Extension, Json};
use cairn_blobs::{BlobError, BlobId, BlobWriter};
use http_body_util::BodyExt as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

/// Content type of a blob's bytes in `GET /blobs/{id}`.
pub const BLOB_CONTENT_TYPE: &str = "application/octet-stream";

/// The blob routes (they read their bodies themselves, under their own limits).
pub(crate) fn routes<B: Backend + Clone + Send + Sync + 'static>() -> Router<B> {
    Router::new()
        .route("/blobs", put(put_blob::<B>))
        .route("/blobs/{id}", put(put_blob_with_id::<B>).get(get_blob::<B>))
}

/// `PUT /blobs`: stores the body under its own hash.
async fn put_blob<B: Backend + Clone + Send + Sync + 'static>(
    State(backend): State<B>,
    Extension(shared): Extension<Arc<Shared>>,
    request: Request,
) -> Response {
    let stored = upload(&backend, &shared, None, request).await;
    upload_reply(&shared, stored)
}

/// `PUT /blobs/{id}`: stores the body only if it hashes to `id`.
async fn put_blob_with_id<B: Backend + Clone + Send + Sync + 'static>(
    State(backend): State<B>,
    Extension(shared): Extension<Arc<Shared>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let stored = match parse_blob_id("id", &id) {
        Ok(expected) => upload(&backend, &shared, Some(expected), request).await,
        Err(e) => Err(e),
    };
    upload_reply(&shared, stored)
}

fn upload_reply(shared: &Shared, stored: Result<BlobInfo, RpcError>) -> Response {
    match stored {
        Ok(info) => Json(info).into_response(),
        Err(e) => {
            if let Some(reason) = refusal_reason(&e) {
                shared.stats.upload_refused(reason);
            }
            error_response(&e)
        }
    }
}

/// Which refusal counter an upload error belongs to (faults and bad ids count in none).
fn refusal_reason(error: &RpcError) -> Option<UploadRefusal> {
    match error {
        RpcError::BlobQuotaExceeded { .. } => Some(UploadRefusal::Quota),
        RpcError::Busy { .. } => Some(UploadRefusal::Busy),
        RpcError::BlobTooLarge { .. } => Some(UploadRefusal::TooLarge),
        RpcError::BlobHashMismatch { .. } => Some(UploadRefusal::HashMismatch),
        RpcError::BlobStoreFull { .. } => Some(UploadRefusal::StoreFull),
        RpcError::BodyTimeout { .. } => Some(UploadRefusal::Timeout),
        _ => None,
    }
}

/// One upload: every refusal that needs no body first (declared length, a free upload slot,
/// the backend's verdict), then the body streamed into the backend's writer, then the hash
/// check and the move into place.
async fn upload<B: Backend + Clone + Send + Sync + 'static>(
    backend: &B,
    shared: &Shared,
    expected: Option<BlobId>,
    request: Request,
) -> Result<BlobInfo, RpcError> {
    let (parts, body) = request.into_parts();
    let size_bytes = content_length(&parts.headers);
    let client = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
    let request = UploadRequest {
        expected,
        size_bytes,
        client,
    };
    let (_slot, Upload { writer, hold }, limit) = match admit(backend, shared, request).await {
        Ok(admitted) => admitted,
        Err(e) => {
            drain_refused(&parts.headers, body, size_bytes).await;
            return Err(e);
        }
    };
    let writer = stream_body(writer, body, limit, shared.limits.body_read_timeout).await?;
    let (id, size) = store_and_settle(backend.clone(), writer, expected, hold).await?;
    Ok(BlobInfo {
        id: id.to_hex(),
        size,
    })
}

/// Moves the upload into place and settles its hold as one step that outlives this request: a
/// client that hangs up after its last byte drops the request's handler, and a blob stored but
/// never settled would stay on disk charged to no one.
async fn store_and_settle<B: Backend + Send + Sync + 'static>(
    backend: B,
    writer: BlobWriter,
    expected: Option<BlobId>,
    hold: B::UploadHold,
) -> Result<(BlobId, u64), RpcError> {
    let task = tokio::spawn(async move {
        let (id, size) = blocking(move || writer.finish(expected)).await?;
        backend.uploaded(id, size, hold).await;
        Ok((id, size))
    });
    match task.await {
        Ok(stored) => stored,
        Err(e) => Err(RpcError::internal(format!("blob store task failed: {e}"))),
    }
}

/// The refusals decided before the body: over the blob limit by its declared length, no free
/// upload slot, the backend's verdict (quota, declared size, store room). Returns the slot, the
/// backend's upload and the most bytes the body may have.
async fn admit<B: Backend + Sync>(
    backend: &B,
    shared: &Shared,
    request: UploadRequest,
) -> Result<(OwnedSemaphorePermit, Upload<B::UploadHold>, u64), RpcError> {
    let max = u64::try_from(BLOB_BODY_MAX_BYTES).unwrap_or(u64::MAX);
    let size_bytes = request.size_bytes;
    if let Some(size) = size_bytes
        && size > max
    {
        return Err(RpcError::BlobTooLarge { size, max });
    }
    let uploads_max = shared.limits.uploads_in_flight_max;
    let slot = take(
        &shared.uploads,
        "uploads",
        "uploads_in_flight_max",
        uploads_max,
    )?;
    let upload = backend.open_upload(request).await?;
    let limit = upload.writer.max_bytes().min(max);
    if let Some(size) = size_bytes
        && size > limit
    {
        return Err(RpcError::BlobTooLarge { size, max: limit });
    }
    Ok((slot, upload, limit))
}

/// Writes `body` into `writer` in batches, refusing more than `limit` bytes and a body that
/// sends nothing for `idle`.
async fn stream_body(
    mut writer: BlobWriter,
    mut body: Body,
    limit: u64,
    idle: Duration,
) -> Result<BlobWriter, RpcError> {
    let mut batch = Vec::new();
    let mut received: u64 = 0;
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => {
                let timeout_ms = millis(idle);
                return Err(RpcError::BodyTimeout { timeout_ms });
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                let reason = format!("blob body unreadable: {e}");
                return Err(RpcError::InvalidRequest { reason });
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry nothing of the blob
        };
        received = received.saturating_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
        if received > limit {
            let (size, max) = (received, limit);
            return Err(RpcError::BlobTooLarge { size, max });
        }
        batch.extend_from_slice(&data);
        if batch.len() >= UPLOAD_WRITE_BATCH_BYTES {
            (writer, batch) = write_batch(writer, batch).await?;
        }
    }
    if !batch.is_empty() {
        (writer, _) = write_batch(writer, batch).await?;
    }
    Ok(writer)
}

/// Hands `batch` to the writer on a blocking thread (disk writes and hashing must not stall
/// the server's threads); returns both, the batch emptied for reuse.
async fn write_batch(
    mut writer: BlobWriter,
    mut batch: Vec<u8>,
) -> Result<(BlobWriter, Vec<u8>), RpcError> {
    blocking(move || {
        writer.write(&batch)?;
        batch.clear();
        Ok((writer, batch))
    })
    .await
}

/// Runs a store operation on a blocking thread, its error as the RPC error a client can act on.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, RpcError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(crate::error::blob_error),
        Err(e) => Err(RpcError::internal(format!("blob writer task failed: {e}"))),
    }
}

/// `GET /blobs/{id}`: the blob's bytes, from this node or (after a bounded wait) its peers.
async fn get_blob<B: Backend + Clone + Send + Sync + 'static>(
    State(backend): State<B>,
    Extension(shared): Extension<Arc<Shared>>,
    Path(id): Path<String>,
) -> Response {
    let id = match parse_blob_id("id", &id) {
        Ok(id) => id,
        Err(e) => return error_response(&e),
    };
    let _request = match shared.admit_request() {
        Ok(permit) => permit,
        Err(e) => return error_response(&e),
    };
    let max = shared.limits.downloads_in_flight_max;
    let download = match take(
        &shared.downloads,
        "downloads",
        "downloads_in_flight_max",
        max,
    ) {
        Ok(permit) => permit,
        Err(e) => return error_response(&e),
    };
    match backend.get_blob(id.to_hex()).await {
        Ok(Some(bytes)) => {
            // The download slot is held until the last byte is sent: it bounds the blobs held
            // in memory, slow readers included.
            let body = Body::new(HeldBody::new(Body::from(bytes), download));
            ([(header::CONTENT_TYPE, BLOB_CONTENT_TYPE)], body).into_response()
        }
        Ok(None) => error_response(&RpcError::not_found(format!(
            "blob {id} (neither this node nor its peers hold it)"
        ))),
        Err(e) => error_response(&e),
    }
}

/// A blob id (64 hex digits, any case, optional `0x`).
fn parse_blob_id(param: &str, text: &str) -> Result<BlobId, RpcError> {
    let trimmed = text.trim();
    let hex = trimmed.strip_prefix("0x").unwrap_or(trimmed);
    hex.parse()
        .map_err(|e| RpcError::invalid_param(param, format!("is not a blob id: {e}")))
}

/// A blob id parameter of a JSON-RPC method, in canonical hex.
pub(crate) fn parse_blob_id_arg(arg: Arg) -> Result<String, RpcError> {
    let text = parse_string(&arg, "a blob id of 64 hex characters")?;
    Ok(parse_blob_id(arg.0, text)?.to_hex())
}
