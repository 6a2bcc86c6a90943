//! A blocking JSON-RPC client for the CLI and scripts. Errors say what went wrong and what to
//! try next.

use crate::api::{
    AccountProofView, AccountView, BlockView, Receipt, Status, SubmitResult, ValidatorView,
    encode_tx_hex,
};
use crate::{BLOB_BODY_MAX_BYTES, api::BlobInfo, server::BLOB_CONTENT_TYPE};
use cairn_blobs::BlobId;
use cairn_types::SignedTx;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Longest wait for one HTTP exchange with the node.
pub const CLIENT_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Longest wait to open a connection to the node.
pub const CLIENT_CONNECT_TIMEOUT_MS: u64 = 3_000;
/// Largest reply read (a full block in JSON is several times its binary size).
pub const CLIENT_RESPONSE_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Pause between two receipt queries in [RpcClient::wait_for_receipt].
pub const RECEIPT_POLL_INTERVAL_MS: u64 = 250;
/// Longest HTTP body quoted in an error.
const ERROR_BODY_QUOTED_MAX_CHARS: usize = 200;

/// Why a call to the node failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach node at {url}: {reason} — is `cairn node` running, and is the RPC address right?"
    )]
    Unreachable { url: String, reason: String },
    #[error("node at {url} answered HTTP {status}: {body}")]
    Http {
        url: String,
        status: u16,
        body: String,
    },
    /// The node answered with a JSON-RPC error (codes in [crate::error]).
    #[error("{message} ({method} failed with JSON-RPC error {code})")]
    Rpc {
        method: String,
        code: i64,
        message: String,
    },
    #[error(
        "cannot read the node's answer to {method} from {url}: {reason} — are the CLI and the node the same version?"
    )]
    Decode {
        url: String,
        method: String,
        reason: String,
    },
    #[error(
        "transaction {tx_hash} was not finalized within {waited_ms} ms; it may still be pending — check later with `cairn query tx {tx_hash}`"
    )]
    ReceiptTimeout { tx_hash: String, waited_ms: u64 },
    // --- Blobs ---
    /// Bytes from (or acknowledged by) the node do not hash to the blob id asked for.
    #[error(
        "blob {expected} from {url} hashes to {got}: refused — the node or the link corrupted it; try again, or another node"
    )]
    BlobHashMismatch {
        url: String,
        expected: String,
        got: String,
    },
    #[error(
        "{id:?} is not a blob id: {reason} — a blob id is the 64-hex-digit BLAKE3 hash of its bytes"
    )]
    InvalidBlobId { id: String, reason: String },
}

impl ClientError {
    /// The JSON-RPC error code, when the node answered with one.
    pub fn rpc_code(&self) -> Option<i64> {
        match self {
            ClientError::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// The envelope of a JSON-RPC reply.
#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error: Option<ReplyError>,
}

#[derive(Deserialize)]
struct ReplyError {
    code: i64,
    message: String,
}

/// A connection-less client for one node's RPC endpoint (`http://host:port`).
#[derive(Debug)]
pub struct RpcClient {
    url: String,
    agent: ureq::Agent,
    next_id: AtomicU64,
}

impl RpcClient {
    /// A client for the node at `url`, e.g. `http://127.0.0.1:8545`.
    pub fn new(url: impl Into<String>) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_millis(CLIENT_REQUEST_TIMEOUT_MS)))
            .timeout_connect(Some(Duration::from_millis(CLIENT_CONNECT_TIMEOUT_MS)))
            .build();
        let url = url.into().trim_end_matches('/').to_string();
        RpcClient {
            url,
            agent: ureq::Agent::new_with_config(config),
            next_id: AtomicU64::new(1),
        }
    }

    /// The node's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn status(&self) -> Result<Status, ClientError> {
        self.call("cairn_status", json!([]))
    }

    pub fn block_by_height(&self, height: u64) -> Result<BlockView, ClientError> {
        self.call("cairn_getBlockByHeight", json!([height]))
    }

    pub fn block_by_hash(&self, hash: &str) -> Result<BlockView, ClientError> {
        self.call("cairn_getBlockByHash", json!([hash]))
    }

    pub fn latest_block(&self) -> Result<BlockView, ClientError> {
        self.call("cairn_latestBlock", json!([]))
    }

    /// Submits a signed transaction; returns its hash once the node's mempool accepted it.
    pub fn submit_tx(&self, tx: &SignedTx) -> Result<String, ClientError> {
        self.submit_tx_hex(&encode_tx_hex(tx))
    }

    /// Submits the hex of an encoded signed transaction.
    pub fn submit_tx_hex(&self, tx_hex: &str) -> Result<String, ClientError> {
        let result: SubmitResult = self.call("cairn_submitTx", json!([tx_hex]))?;
        Ok(result.tx_hash)
    }

    /// The receipt of a finalized transaction; `None` while pending or when unknown.
    pub fn tx_receipt(&self, tx_hash: &str) -> Result<Option<Receipt>, ClientError> {
        self.call("cairn_getTxReceipt", json!([tx_hash]))
    }

    /// Whether the node still holds `tx_hash` in its mempool.
    pub fn is_tx_pending(&self, tx_hash: &str) -> Result<bool, ClientError> {
        self.call("cairn_isTxPending", json!([tx_hash]))
    }

    pub fn account(&self, address: &str) -> Result<AccountView, ClientError> {
        self.call("cairn_getAccount", json!([address]))
    }

    pub fn validators(&self) -> Result<Vec<ValidatorView>, ClientError> {
        self.call("cairn_getValidators", json!([]))
    }

    pub fn account_proof(&self, address: &str) -> Result<AccountProofView, ClientError> {
        self.call("cairn_getAccountProof", json!([address]))
    }

    /// Task `id` (a [ClientError] with the not-found code when unknown).
    pub fn task(&self, id: u64) -> Result<crate::task_api::TaskView, ClientError> {
        self.call("cairn_getTask", json!([id]))
    }

    pub fn tasks(&self) -> Result<Vec<crate::task_api::TaskView>, ClientError> {
        self.call("cairn_getTasks", json!([]))
    }

    /// Registered model `id` (graph hash hex).
    pub fn model(&self, id: &str) -> Result<crate::infer_api::ModelView, ClientError> {
        self.call("cairn_getModel", json!([id]))
    }

    /// Every registered model.
    pub fn models(&self) -> Result<Vec<crate::infer_api::ModelView>, ClientError> {
        self.call("cairn_getModels", json!([]))
    }

    /// Inference request `id`.
    pub fn inference(&self, id: u64) -> Result<crate::infer_api::InferenceView, ClientError> {
        self.call("cairn_getInference", json!([id]))
    }

    /// Inference requests from id `from` on (one page).
    pub fn inferences(
        &self,
        from: u64,
    ) -> Result<Vec<crate::infer_api::InferenceView>, ClientError> {
        self.call("cairn_getInferences", json!([from]))
    }

    /// The scored rounds of task `id`.
    pub fn task_rounds(
        &self,
        id: u64,
    ) -> Result<Vec<crate::task_api::RoundRecordView>, ClientError> {
        self.call("cairn_getTaskRounds", json!([id]))
    }

    /// The node's metrics (Prometheus text).
    pub fn metrics(&self) -> Result<String, ClientError> {
        self.get_text("/metrics")
    }

    /// `Ok` when the node's `/health` answers `ok`.
    pub fn health(&self) -> Result<(), ClientError> {
        let body = self.get_text("/health")?;
        match body.trim() {
            "ok" => Ok(()),
            other => Err(ClientError::Http {
                url: self.url.clone(),
                status: 200,
                body: quote(other),
            }),
        }
    }

    /// Polls for the receipt of `tx_hash` every [RECEIPT_POLL_INTERVAL_MS] until it is
    /// finalized or `timeout` passes.
    // Client-side polling deadline; not consensus code.
    #[allow(clippy::disallowed_methods)]
    pub fn wait_for_receipt(
        &self,
        tx_hash: &str,
        timeout: Duration,
    ) -> Result<Receipt, ClientError> {
        let start = Instant::now();
        loop {
            if let Some(receipt) = self.tx_receipt(tx_hash)? {
                return Ok(receipt);
            }
            let waited = start.elapsed();
            if waited >= timeout {
                let waited_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
                return Err(ClientError::ReceiptTimeout {
                    tx_hash: tx_hash.to_string(),
                    waited_ms,
                });
            }
            let pause =
                Duration::from_millis(RECEIPT_POLL_INTERVAL_MS).min(timeout.saturating_sub(waited));
            std::thread::sleep(pause);
        }
    }

    /// Calls `method` with `params` and decodes its result as `T`.
    pub fn call<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let request = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let (status, body) = self.exchange(
            self.agent
                .post(format!("{}/", self.url))
                .send_json(&request),
        )?;
        let decode_error = |reason: String| ClientError::Decode {
            url: self.url.clone(),
            method: method.to_string(),
            reason,
        };
        let reply: Reply = match serde_json::from_str(&body) {
            Ok(reply) => reply,
            Err(_) if status != 200 => {
                return Err(ClientError::Http {
                    url: self.url.clone(),
                    status,
                    body: quote(&body),
                });
            }
            Err(e) => return Err(decode_error(e.to_string())),
        };
        if let Some(error) = reply.error {
            return Err(ClientError::Rpc {
                method: method.to_string(),
                code: error.code,
                message: error.message,
            });
        }
        serde_json::from_value(reply.result.unwrap_or(Value::Null))
            .map_err(|e| decode_error(e.to_string()))
    }

    fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let (status, body) = self.exchange(self.agent.get(format!("{}{path}", self.url)).call())?;
        if status != 200 {
            return Err(ClientError::Http {
                url: format!("{}{path}", self.url),
                status,
                body: quote(&body),
            });
        }
        Ok(body)
    }

    /// The status and body of a sent request, or why there is none.
    fn exchange(
        &self,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(u16, String), ClientError> {
        let unreachable = |e: ureq::Error| ClientError::Unreachable {
            url: self.url.clone(),
            reason: describe_transport(e),
        };
        let mut response = sent.map_err(unreachable)?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(CLIENT_RESPONSE_MAX_BYTES)
            .read_to_string()
            .map_err(unreachable)?;
        Ok((status, body))
    }
}

// --- Blobs ---

/// Longest wait for one blob upload or download: a node without the blob first asks its peers
/// (a bounded wait of its own), and 32 MiB over a slow link takes a while.
pub const CLIENT_BLOB_TIMEOUT_MS: u64 = 120_000;

impl RpcClient {
    /// Uploads `bytes` as a blob and returns its id (BLAKE3, lower-case hex). The id is
    /// computed here and sent along (`PUT /blobs/{id}`), so the node stores exactly what was
    /// hashed or refuses it.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<String, ClientError> {
        let id = BlobId::of(bytes).to_hex();
        let url = format!("{}/blobs/{id}", self.url);
        let sent = self
            .agent
            .put(&url)
            .config()
            .timeout_global(Some(Duration::from_millis(CLIENT_BLOB_TIMEOUT_MS)))
            .build()
            .header("content-type", BLOB_CONTENT_TYPE)
            // Wait for the node's go-ahead before sending the body: a refused upload (quota,
            // busy, too large) is answered at once, and no bytes are sent for nothing.
            .header("expect", "100-continue")
            .send(bytes);
        let (status, body) = self.exchange(sent)?;
        if status != 200 {
            return Err(blob_http_error(&url, "PUT", status, &body));
        }
        let info: BlobInfo = serde_json::from_str(&body).map_err(|e| ClientError::Decode {
            url: url.clone(),
            method: "PUT /blobs".to_string(),
            reason: e.to_string(),
        })?;
        if info.id != id {
            return Err(ClientError::BlobHashMismatch {
                url,
                expected: id,
                got: info.id,
            });
        }
        Ok(id)
    }

    /// Downloads blob `id` and checks here that the bytes hash to it.
    pub fn get_blob(&self, id: &str) -> Result<Vec<u8>, ClientError> {
        let expected: BlobId = id.trim().parse().map_err(|e| ClientError::InvalidBlobId {
            id: id.to_string(),
            reason: format!("{e}"),
        })?;
        let url = format!("{}/blobs/{expected}", self.url);
        let unreachable = |e: ureq::Error| ClientError::Unreachable {
            url: self.url.clone(),
            reason: describe_transport(e),
        };
        let mut response = self
            .agent
            .get(&url)
            .config()
            .timeout_global(Some(Duration::from_millis(CLIENT_BLOB_TIMEOUT_MS)))
            .build()
            .call()
            .map_err(unreachable)?;
        let status = response.status().as_u16();
        let body = response.body_mut().with_config();
        if status != 200 {
            let text = body
                .limit(CLIENT_RESPONSE_MAX_BYTES)
                .read_to_string()
                .map_err(unreachable)?;
            return Err(blob_http_error(&url, "GET", status, &text));
        }
        let bytes = body
            .limit(BLOB_BODY_MAX_BYTES as u64)
            .read_to_vec()
            .map_err(unreachable)?;
        let got = BlobId::of(&bytes);
        if got != expected {
            return Err(ClientError::BlobHashMismatch {
                url,
                expected: expected.to_hex(),
                got: got.to_hex(),
            });
        }
        Ok(bytes)
    }

    /// Whether the node holds blob `id` itself (`cairn_hasBlob`; peers are not asked).
    pub fn has_blob(&self, id: &str) -> Result<bool, ClientError> {
        self.call("cairn_hasBlob", json!([id]))
    }
}

/// A blob route's error answer: its JSON error object when it has one, else the raw body.
fn blob_http_error(url: &str, verb: &str, status: u16, body: &str) -> ClientError {
    #[derive(Deserialize)]
    struct Answer {
        error: ReplyError,
    }
    match serde_json::from_str::<Answer>(body) {
        Ok(answer) => ClientError::Rpc {
            method: format!("{verb} {url}"),
            code: answer.error.code,
            message: answer.error.message,
        },
        Err(_) => ClientError::Http {
            url: url.to_string(),
            status,
            body: quote(body),
        },
    }
}

/// A transport failure in the words a user would search for ("connection refused").
fn describe_transport(error: ureq::Error) -> String {
    use std::io::ErrorKind;
    match error {
        ureq::Error::Io(e) => match e.kind() {
            ErrorKind::ConnectionRefused => "connection refused".to_string(),
            ErrorKind::ConnectionReset => "connection reset".to_string(),
            ErrorKind::TimedOut => "timed out".to_string(),
            _ => e.to_string(),
        },
        ureq::Error::Timeout(which) => format!("timed out ({which})"),
        ureq::Error::HostNotFound => "host not found".to_string(),
        other => other.to_string(),
    }
}

fn quote(body: &str) -> String {
    let mut quoted: String = body.chars().take(ERROR_BODY_QUOTED_MAX_CHARS).collect();
    if quoted.len() < body.len() {
        quoted.push('…');
    }
    quoted
}
