//! The node's side of the JSON-RPC API: answers from the finalized state, the mempool, and
//! marshal's block archive.

use crate::chain::LockChain;
use crate::engine::NodeHandle;
use cairn_rpc::{
    RpcError,
    api::{
        AccountProofView, AccountView, ActionView, DelegationView, Receipt, Status, TxStatus,
        UnbondingView, ValidatorView,
    },
    backend::Backend,
};
use cairn_types::{Block, SignedTx, parse_digest, parse_public_key, to_hex};
use commonware_consensus::types::Height;
use commonware_runtime::Metrics;
use std::sync::Arc;
// Blobs.
use crate::blobs::{BLOB_SIZE_MAX_BYTES, Uploader};
use cairn_blobs::{Admission, BlobId};
use cairn_rpc::error::{blob_error, quota_error};
use cairn_rpc::{RpcStats, Upload, UploadRequest};

pub struct RpcBackend<E: Metrics> {
    node: NodeHandle,
    /// Runtime context whose registry holds every metric of the node.
    metrics: Arc<E>,
    /// Blob store, quota and RPC server figures, refreshed into `metrics` at each scrape.
    gauges: Arc<Gauges>,
}

impl<E: Metrics> Clone for RpcBackend<E> {
    fn clone(&self) -> Self {
        RpcBackend {
            node: self.node.clone(),
            metrics: self.metrics.clone(),
            gauges: self.gauges.clone(),
        }
    }
}

impl<E: Metrics> RpcBackend<E> {
    /// The backend over `node`, reporting every metric of the registry `metrics` belongs to,
    /// with `server`'s counters registered on `metrics` and the blob store's figures on
    /// `blob_metrics`.
    pub fn new(node: NodeHandle, metrics: E, blob_metrics: E, server: Arc<RpcStats>) -> Self {
        let gauges = Gauges::register(&metrics, &blob_metrics, server);
        RpcBackend {
            node,
            metrics: Arc::new(metrics),
            gauges: Arc::new(gauges),
        }
    }

    async fn block(&self, height: u64) -> Option<Arc<Block>> {
        if let Some(block) = self.node.chain.locked().recent_block(height) {
            return Some(block);
        }
        if height > self.node.chain.locked().finalized_height() {
            return None;
        }
        self.node
            .marshal
            .get_block(Height::new(height))
            .await
            .map(|b| b.inner_shared())
    }
}

fn bad(param: &str, reason: String) -> RpcError {
    RpcError::invalid_param(param, reason)
}

impl<E: Metrics + Send + Sync + 'static> Backend for RpcBackend<E> {
    async fn status(&self) -> Result<Status, RpcError> {
        let chain = self.node.chain.locked();
        let state = chain.finalized();
        let set = state.active_validator_set();
        let validators = set.len() as u32;
        let in_active_set = set.iter().any(|(k, _)| *k == self.node.public_key);
        Ok(Status {
            chain_id: chain.chain_id.clone(),
            node_key: to_hex(&self.node.public_key),
            height: state.height(),
            last_block_hash: to_hex(chain.finalized_hash()),
            state_root: to_hex(state.root()),
            epoch: state.epoch(),
            validators,
            in_active_set,
            mempool_size: chain.mempool.len() as u32,
            peers: validators.saturating_sub(1),
        })
    }

    async fn block_by_height(&self, height: u64) -> Result<Option<Block>, RpcError> {
        Ok(self.block(height).await.map(|b| (*b).clone()))
    }

    async fn block_by_hash(&self, hash: String) -> Result<Option<Block>, RpcError> {
        let digest = parse_digest(&hash).map_err(|e| bad("hash", e))?;
        let height = self.node.chain.locked().height_of(&digest);
        if let Some(height) = height {
            return self.block_by_height(height).await;
        }
        Ok(self
            .node
            .marshal
            .get_block(&digest)
            .await
            .map(|b| b.inner().clone()))
    }

    async fn submit_tx(&self, tx: Vec<u8>) -> Result<String, RpcError> {
        let tx = SignedTx::decode_bounded(&tx).map_err(RpcError::tx_rejected)?;
        // Check the signature before taking the chain lock (the result is cached), so
        // consensus never waits behind a client's signature checks.
        let state = self.node.chain.locked().finalized();
        let _ = state.check_tx(&tx);
        let hash = self
            .node
            .chain
            .locked()
            .submit(tx)
            .map_err(RpcError::tx_rejected)?;
        Ok(to_hex(hash))
    }

    async fn tx_receipt(&self, hash: String) -> Result<Option<Receipt>, RpcError> {
        let digest = parse_digest(&hash).map_err(|e| bad("hash", e))?;
        let Some(found) = self.node.chain.locked().receipt(&digest) else {
            return Ok(None);
        };
        let r = found.receipt;
        let block = self.block(r.height).await.ok_or_else(|| {
            RpcError::internal(format!("block {} of a receipt is missing", r.height))
        })?;
        let tx = block
            .txs
            .get(r.index as usize)
            .ok_or_else(|| RpcError::internal("receipt index outside its block"))?;
        Ok(Some(Receipt {
            tx_hash: to_hex(r.tx_hash),
            height: r.height,
            block_hash: to_hex(found.block_hash),
            index: r.index,
            signer: to_hex(&r.signer),
            account: to_hex(&r.account),
            action: ActionView::from_action(&tx.tx.action),
            fee: r.fee,
            status: TxStatus::Finalized,
            error: None,
        }))
    }

    async fn tx_pending(&self, hash: String) -> Result<bool, RpcError> {
        let digest = parse_digest(&hash).map_err(|e| bad("hash", e))?;
        Ok(self.node.chain.locked().mempool.contains(&digest))
    }

    async fn account(&self, address: String) -> Result<AccountView, RpcError> {
        let key = parse_public_key(&address).map_err(|e| bad("address", e))?;
        let state = self.node.chain.locked().finalized();
        let mut view = AccountView::empty(to_hex(&key));
        if let Some(account) = state.account(&key) {
            view.balance = account.balance;
            view.nonce = account.nonce;
        }
        view.hot_key_of = state.hot_key_owner(&key).map(to_hex);
        view.hot_keys = state.hot_keys_of(&key).iter().map(to_hex).collect();
        view.delegations = state
            .validators()
            .iter()
            .filter_map(|v| {
                let amount = state.delegation(&key, &v.consensus_key);
                (amount > 0).then(|| DelegationView {
                    validator: to_hex(&v.consensus_key),
                    amount,
                })
            })
            .collect();
        view.unbonding = state
            .unbondings_of(&key)
            .into_iter()
            .map(|u| UnbondingView {
                validator: to_hex(&u.validator),
                amount: u.amount,
                matures_at: u.matures_at,
            })
            .collect();
        Ok(view)
    }

    // --- Tasks ---

    async fn task(&self, id: u64) -> Result<Option<cairn_rpc::task_api::TaskView>, RpcError> {
        let state = self.node.chain.locked().finalized();
        Ok(state.task(id).as_ref().map(crate::task_views::task_view))
    }

    async fn tasks(&self) -> Result<Vec<cairn_rpc::task_api::TaskView>, RpcError> {
        let state = self.node.chain.locked().finalized();
        Ok(state
            .tasks()
            .iter()
            .map(crate::task_views::task_view)
            .collect())
    }

    async fn task_rounds(
        &self,
        id: u64,
    ) -> Result<Vec<cairn_rpc::task_api::RoundRecordView>, RpcError> {
        let state = self.node.chain.locked().finalized();
        Ok(state
            .round_records(id)
            .iter()
            .map(|(round, r)| crate::task_views::round_record_view(id, *round, r))
            .collect())
    }

    // --- Verified inference ---

    async fn model(&self, id: String) -> Result<Option<cairn_rpc::infer_api::ModelView>, RpcError> {
        let mut key = [0u8; 32];
        hex::decode_to_slice(&id, &mut key).map_err(RpcError::internal)?;
        let state = self.node.chain.locked().finalized();
        Ok(state
            .model(&key)
            .as_ref()
            .map(crate::infer_views::model_view))
    }

    async fn models(&self) -> Result<Vec<cairn_rpc::infer_api::ModelView>, RpcError> {
        let state = self.node.chain.locked().finalized();
        Ok(state
            .models()
            .iter()
            .map(crate::infer_views::model_view)
            .collect())
    }

    async fn inference(
        &self,
        id: u64,
    ) -> Result<Option<cairn_rpc::infer_api::InferenceView>, RpcError> {
        let state = self.node.chain.locked().finalized();
        Ok(state
            .inference(id)
            .as_ref()
            .map(|i| crate::infer_views::inference_view(&state, i)))
    }

    async fn inferences(
        &self,
        from: u64,
    ) -> Result<Vec<cairn_rpc::infer_api::InferenceView>, RpcError> {
        let state = self.node.chain.locked().finalized();
        Ok(state
            .inferences(from, cairn_rpc::INFERENCES_PAGE_MAX)
            .iter()
            .map(|i| crate::infer_views::inference_view(&state, i))
            .collect())
    }

    async fn validators(&self) -> Result<Vec<ValidatorView>, RpcError> {
        let state = self.node.chain.locked().finalized();
        let active = state.active_validator_set();
        Ok(state
            .validators()
            .into_iter()
            .map(|v| ValidatorView {
                consensus_key: to_hex(&v.consensus_key),
                operator: to_hex(&v.operator),
                moniker: v.moniker.clone(),
                self_bond: v.self_bond,
                delegated: v.delegated,
                total_bond: v.total_bond(),
                jailed: v.jailed,
                slashed_total: v.slashed_total,
                active: active.iter().any(|(k, _)| *k == v.consensus_key),
                missed_this_epoch: state.liveness(&v.consensus_key).map_or(0, |l| l.missed),
                jailed_for_inactivity_at: state
                    .liveness(&v.consensus_key)
                    .and_then(|l| l.jailed_at),
            })
            .collect())
    }

    async fn account_proof(&self, address: String) -> Result<AccountProofView, RpcError> {
        let key = parse_public_key(&address).map_err(|e| bad("address", e))?;
        let state = self.node.chain.locked().finalized();
        let proof = state.prove_account(&key).ok_or_else(|| {
            RpcError::not_found(format!(
                "account {} (it holds no state to prove)",
                to_hex(&key)
            ))
        })?;
        Ok(AccountProofView {
            address: to_hex(&key),
            balance: proof.account.balance,
            nonce: proof.account.nonce,
            leaf_index: proof.leaf_index as u64,
            leaf_count: proof.leaf_count as u64,
            proof: to_hex(&proof.proof),
            state_root: to_hex(state.root()),
            height: state.height(),
        })
    }

    async fn metrics(&self) -> Result<String, RpcError> {
        self.gauges.refresh(&self.node.blobs);
        Ok(self.metrics.encode())
    }

    // --- Blobs ---

    type UploadHold = Admission<Uploader>;

    async fn open_upload(
        &self,
        request: UploadRequest,
    ) -> Result<Upload<Admission<Uploader>>, RpcError> {
        let blobs = &self.node.blobs;
        // No declared length: hold room for the largest blob (given back at the end).
        let requested = request.size_bytes.unwrap_or(BLOB_SIZE_MAX_BYTES);
        let uploader = Uploader::Client(request.client);
        let hold = blobs
            .policy()
            .admit(uploader, request.expected, requested)
            .map_err(|e| quota_error(&e))?;
        let max = hold.max_bytes().min(BLOB_SIZE_MAX_BYTES);
        let writer = blobs.store().writer(max).map_err(blob_error)?;
        Ok(Upload { writer, hold })
    }

    async fn uploaded(&self, id: BlobId, size: u64, hold: Admission<Uploader>) {
        let blobs = &self.node.blobs;
        blobs.policy().settle(hold, id, size);
        // Peers get it too (best effort: one that misses it fetches it on demand). Read back
        // off the server's threads; the bytes live only as long as the push.
        let store = blobs.store().clone();
        match tokio::task::spawn_blocking(move || store.get(id)).await {
            Ok(Ok(Some(bytes))) => blobs.push_stored(id, bytes).await,
            Ok(Ok(None)) => {}
            Ok(Err(err)) => tracing::warn!(%id, %err, "cannot read back an uploaded blob"),
            Err(err) => tracing::warn!(%id, %err, "blob read-back task failed"),
        }
    }

    async fn get_blob(&self, id: String) -> Result<Option<Vec<u8>>, RpcError> {
        self.node
            .blobs
            .get_or_fetch(parse_blob_id(&id)?)
            .await
            .map_err(blob_error)
    }

    async fn has_blob(&self, id: String) -> Result<bool, RpcError> {
        Ok(self.node.blobs.has(parse_blob_id(&id)?))
    }
}

// --- Blobs ---

fn parse_blob_id(id: &str) -> Result<BlobId, RpcError> {
    id.parse()
        .map_err(|e| bad("id", format!("is not a blob id: {e}")))
}

// --- Metrics of the blob store, the upload quota and the RPC server ---

use commonware_runtime::telemetry::metrics::{
    Counter, CounterFamily, Gauge, GaugeExt as _, MetricsExt as _,
};

/// Labels of `blob_uploads_refused` (`reason`).
type ReasonLabel = Vec<(String, String)>;

/// Figures that live outside the metrics registry (the store, the quota ledger, the server's
/// atomics), copied into registered metrics when `GET /metrics` is scraped.
struct Gauges {
    server: Arc<RpcStats>,
    store_bytes: Gauge,
    store_blobs: Gauge,
    store_cap_bytes: Gauge,
    quota_used_bytes: Gauge,
    connections_open: Gauge,
    connections_evicted: Counter,
    connections_refused: Counter,
    connections_timed_out: Counter,
    requests_shed: Counter,
    uploads_refused: CounterFamily<ReasonLabel>,
    /// Serializes refreshes, so two scrapes never add the same increment twice.
    refreshing: std::sync::Mutex<()>,
}

impl Gauges {
    /// Registers the server's figures on `rpc` and the blob store's on `blobs` (each context
    /// prefixes its names: `rpc_connections_open`, `blobs_store_bytes`, ...).
    fn register(rpc: &impl Metrics, blobs: &impl Metrics, server: Arc<RpcStats>) -> Self {
        Gauges {
            server,
            store_bytes: blobs.gauge("store_bytes", "bytes of blobs stored"),
            store_blobs: blobs.gauge("store_blobs", "blobs stored"),
            store_cap_bytes: blobs.gauge(
                "store_cap_bytes",
                "cap on stored blob bytes (follows the free disk)",
            ),
            quota_used_bytes: blobs.gauge(
                "quota_used_bytes",
                "bytes of undeclared uploads and peer pushes charged to their senders",
            ),
            connections_open: rpc.gauge("connections_open", "RPC connections open"),
            connections_evicted: rpc.counter(
                "connections_evicted",
                "idle or half-sent RPC connections closed to make room at the cap",
            ),
            connections_refused: rpc.counter(
                "connections_refused",
                "RPC connections closed at once: every open one had a request in flight",
            ),
            connections_timed_out: rpc.counter(
                "connections_timed_out",
                "RPC connections closed because a request outlived the request timeout",
            ),
            requests_shed: rpc.counter(
                "requests_shed",
                "RPC requests refused with 503 at the in-flight limit",
            ),
            uploads_refused: rpc.family("uploads_refused", "blob uploads refused, by reason"),
            refreshing: std::sync::Mutex::new(()),
        }
    }

    fn refresh(&self, blobs: &crate::blobs::BlobService) {
        let _one_at_a_time = self
            .refreshing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let store = blobs.store();
        let _ = self.store_bytes.try_set(store.total_bytes());
        let _ = self.store_blobs.try_set(store.list().len());
        let _ = self
            .store_cap_bytes
            .try_set(store.limits().store_size_max_bytes);
        let _ = self
            .quota_used_bytes
            .try_set(blobs.policy().quota().used_bytes());
        let server = &self.server;
        let _ = self.connections_open.try_set(server.connections_open());
        catch_up(&self.connections_evicted, server.connections_evicted());
        catch_up(&self.connections_refused, server.connections_refused());
        catch_up(&self.connections_timed_out, server.connections_timed_out());
        catch_up(&self.requests_shed, server.requests_shed());
        for reason in cairn_rpc::UploadRefusal::ALL {
            let label = vec![("reason".to_string(), reason.label().to_string())];
            catch_up(
                &self.uploads_refused.get_or_create(&label),
                server.uploads_refused(reason),
            );
        }
    }
}

/// Raises `counter` to `total` (the server's own monotonic count).
fn catch_up(counter: &commonware_runtime::telemetry::metrics::raw::Counter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total.saturating_sub(now));
    }
}
