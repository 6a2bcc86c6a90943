//! An in-memory node: enough chain logic to exercise every RPC method through real HTTP.
//! Each accepted transaction is finalized at once in a block of its own.

use cairn_blobs::{Admission, BlobId, BlobLimits, BlobStore, QuotaLimits, UploadQuota};
use cairn_rpc::api::{
    AccountProofView, AccountView, ActionView, DelegationView, Receipt, Status, TxStatus,
    ValidatorView,
};
use cairn_rpc::error::{blob_error, quota_error};
use cairn_rpc::{BLOB_BODY_MAX_BYTES, Backend, RpcError, Upload, UploadRequest};
use cairn_types::{Action, Block, BlockContext, Digest, PublicKey, SignedTx, to_hex};
use commonware_consensus::types::{Epoch, Round, View};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

pub const CHAIN_ID: &str = "cairn-test";

#[derive(Clone)]
pub struct FakeNode {
    state: Arc<Mutex<State>>,
    blobs: Arc<FakeBlobs>,
    /// While `false`, `cairn_status` waits (a request held in flight on purpose).
    status_open: watch::Sender<bool>,
    /// Status calls waiting on `status_open`.
    status_waiting: Arc<AtomicUsize>,
}

/// A real blob store in a temporary directory, the upload quota and the declared blobs: the
/// node's upload policy in miniature.
pub struct FakeBlobs {
    store: Arc<BlobStore>,
    quota: UploadQuota<IpAddr>,
    declared: Mutex<BTreeMap<BlobId, u64>>,
    /// Blobs served with a flipped byte, as a faulty node or link would.
    corrupt: Mutex<std::collections::BTreeSet<BlobId>>,
    /// How long `uploaded` waits before it settles (a busy node).
    settle_delay: Mutex<std::time::Duration>,
    _dir: tempfile::TempDir,
}

struct State {
    node_key: PublicKey,
    blocks: Vec<Block>,
    accounts: BTreeMap<String, AccountView>,
    receipts: BTreeMap<String, Receipt>,
    /// Receipt queries answered `None` after each submission, to exercise polling.
    receipt_delay_polls: u32,
    pending_polls: u32,
}

impl FakeNode {
    /// A chain at height 0 where `funded` holds `balance`.
    pub fn new(node_key: PublicKey, funded: &PublicKey, balance: u64) -> Self {
        let genesis = Block::genesis(node_key.clone(), Digest::from([7u8; 32]), 1_000);
        let mut accounts = BTreeMap::new();
        let address = to_hex(funded);
        accounts.insert(
            address.clone(),
            AccountView {
                balance,
                ..AccountView::empty(address)
            },
        );
        let state = State {
            node_key,
            blocks: vec![genesis],
            accounts,
            receipts: BTreeMap::new(),
            receipt_delay_polls: 2,
            pending_polls: 0,
        };
        let dir = tempfile::tempdir().expect("blob store directory");
        let limits = BlobLimits {
            blob_size_max_bytes: BLOB_BODY_MAX_BYTES as u64,
            store_size_max_bytes: FAKE_BLOB_STORE_MAX_BYTES,
        };
        let store = BlobStore::open(dir.path(), limits).expect("blob store");
        let blobs = FakeBlobs {
            store: Arc::new(store),
            quota: UploadQuota::new(FAKE_QUOTA),
            declared: Mutex::default(),
            corrupt: Mutex::default(),
            settle_delay: Mutex::default(),
            _dir: dir,
        };
        FakeNode {
            state: Arc::new(Mutex::new(state)),
            blobs: Arc::new(blobs),
            status_open: watch::Sender::new(true),
            status_waiting: Arc::default(),
        }
    }

    /// Holds every `cairn_status` call in flight until [release_status](Self::release_status).
    pub fn hold_status(&self) {
        self.status_open.send_replace(false);
    }

    pub fn release_status(&self) {
        self.status_open.send_replace(true);
    }

    /// Status calls being held.
    pub fn status_waiting(&self) -> usize {
        self.status_waiting.load(Ordering::SeqCst)
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().expect("fake node state lock"))
    }
}

impl State {
    fn account(&self, address: &str) -> AccountView {
        self.accounts
            .get(address)
            .cloned()
            .unwrap_or_else(|| AccountView::empty(address))
    }

    fn apply(&mut self, tx: &SignedTx) -> Result<(), RpcError> {
        let signer = to_hex(&tx.tx.signer);
        let mut account = self.account(&signer);
        if tx.tx.chain_id != CHAIN_ID {
            return Err(RpcError::tx_rejected(format!(
                "chain id {:?} is not {CHAIN_ID:?}",
                tx.tx.chain_id
            )));
        }
        if tx.tx.nonce != account.nonce {
            return Err(RpcError::tx_rejected(format!(
                "nonce {} is stale: the next nonce of {signer} is {}",
                tx.tx.nonce, account.nonce
            )));
        }
        let cost = tx.tx.fee
            + match &tx.tx.action {
                Action::Transfer { amount, .. } | Action::Bond { amount, .. } => *amount,
                _ => 0,
            };
        if cost > account.balance {
            return Err(RpcError::tx_rejected(format!(
                "balance {} is below {cost}",
                account.balance
            )));
        }
        account.balance -= cost;
        account.nonce += 1;
        match &tx.tx.action {
            Action::Transfer { to, amount } => {
                let to = to_hex(to);
                let mut recipient = self.account(&to);
                recipient.balance += amount;
                self.accounts.insert(to, recipient);
            }
            Action::Bond { validator, amount } => account.delegations.push(DelegationView {
                validator: to_hex(validator),
                amount: *amount,
            }),
            Action::LinkHotKey { hot, .. } => account.hot_keys.push(to_hex(hot)),
            _ => {}
        }
        self.accounts.insert(signer, account);
        Ok(())
    }

    fn finalize(&mut self, tx: SignedTx) {
        let parent = self.blocks.last().expect("genesis exists");
        let height = parent.height + 1;
        let context = BlockContext {
            round: Round::new(Epoch::zero(), View::new(height)),
            leader: self.node_key.clone(),
            parent: (View::new(height - 1), parent.hash()),
        };
        let block = Block::new(
            context,
            parent.hash(),
            height,
            1_000 + height,
            Digest::from([height as u8; 32]),
            vec![tx.clone()],
            Vec::new(),
        );
        let receipt = Receipt {
            tx_hash: to_hex(tx.hash()),
            height,
            block_hash: to_hex(block.hash()),
            index: 0,
            signer: to_hex(&tx.tx.signer),
            account: to_hex(&tx.tx.signer),
            action: ActionView::from_action(&tx.tx.action),
            fee: tx.tx.fee,
            status: TxStatus::Finalized,
            error: None,
        };
        self.receipts.insert(receipt.tx_hash.clone(), receipt);
        self.blocks.push(block);
        self.pending_polls = self.receipt_delay_polls;
    }
}

// --- Blobs ---

/// Largest total of blob bytes the fake holds (to exercise "store full").
pub const FAKE_BLOB_STORE_MAX_BYTES: u64 = 12 * 1024 * 1024;
/// The fake's upload quota: small, so tests reach it.
pub const FAKE_QUOTA: QuotaLimits = QuotaLimits {
    per_uploader_max_bytes: 4 * 1024 * 1024,
    total_max_bytes: 6 * 1024 * 1024,
};

impl FakeNode {
    /// Serves blob `id` with a flipped byte from now on, as a faulty node or link would (the
    /// client must notice).
    pub fn corrupt_blob(&self, id: &str) {
        let id: BlobId = id.parse().expect("blob id");
        self.blobs.corrupt.lock().expect("corrupt lock").insert(id);
    }

    /// From now on `uploaded` waits `delay` before it settles an upload's hold, as a busy node
    /// would: the window in which a stored blob is not charged yet.
    pub fn delay_settling(&self, delay: std::time::Duration) {
        *self.blobs.settle_delay.lock().expect("delay lock") = delay;
    }

    /// Declares blob `id` with at most `max_bytes`, as a finalized or pending transaction would.
    pub fn declare_blob(&self, id: BlobId, max_bytes: u64) {
        let mut declared = self.blobs.declared.lock().expect("declared lock");
        declared.insert(id, max_bytes);
    }

    fn declared(&self, id: BlobId) -> Option<u64> {
        let declared = self.blobs.declared.lock().expect("declared lock");
        declared.get(&id).copied()
    }

    /// Bytes of unreferenced uploads charged to `client` (reserved or stored).
    pub fn quota_used_by(&self, client: IpAddr) -> u64 {
        self.blobs.quota.used_by(&client)
    }

    /// The blob store's temporary directory (uploads in progress).
    pub fn blob_tmp_dir(&self) -> std::path::PathBuf {
        self.blobs.store.dir().join("tmp")
    }
}

impl Backend for FakeNode {
    async fn status(&self) -> Result<Status, RpcError> {
        let mut open = self.status_open.subscribe();
        if !*open.borrow() {
            self.status_waiting.fetch_add(1, Ordering::SeqCst);
            let _ = open.wait_for(|open| *open).await;
            self.status_waiting.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(self.with(|s| {
            let last = s.blocks.last().expect("genesis exists");
            Status {
                chain_id: CHAIN_ID.to_string(),
                node_key: to_hex(&s.node_key),
                height: last.height,
                last_block_hash: to_hex(last.hash()),
                state_root: to_hex(last.state_root),
                epoch: 0,
                validators: 1,
                in_active_set: true,
                mempool_size: 0,
                peers: 3,
            }
        }))
    }

    async fn block_by_height(&self, height: u64) -> Result<Option<Block>, RpcError> {
        Ok(self.with(|s| {
            usize::try_from(height)
                .ok()
                .and_then(|h| s.blocks.get(h).cloned())
        }))
    }

    async fn block_by_hash(&self, hash: String) -> Result<Option<Block>, RpcError> {
        Ok(self.with(|s| s.blocks.iter().find(|b| to_hex(b.hash()) == hash).cloned()))
    }

    async fn submit_tx(&self, tx: Vec<u8>) -> Result<String, RpcError> {
        let tx = SignedTx::decode_bounded(&tx).map_err(RpcError::tx_rejected)?;
        if !tx.verify_signature() {
            return Err(RpcError::tx_rejected("signature does not verify"));
        }
        self.with(|s| {
            s.apply(&tx)?;
            let hash = to_hex(tx.hash());
            s.finalize(tx);
            Ok(hash)
        })
    }

    async fn tx_receipt(&self, hash: String) -> Result<Option<Receipt>, RpcError> {
        Ok(self.with(|s| {
            if s.pending_polls > 0 {
                s.pending_polls -= 1;
                return None;
            }
            s.receipts.get(&hash).cloned()
        }))
    }

    async fn tx_pending(&self, hash: String) -> Result<bool, RpcError> {
        // Submitted transactions finalize after `pending_polls` receipt polls; until then
        // they are pending.
        Ok(self.with(|s| s.pending_polls > 0 && s.receipts.contains_key(&hash)))
    }

    async fn account(&self, address: String) -> Result<AccountView, RpcError> {
        Ok(self.with(|s| s.account(&address)))
    }

    async fn validators(&self) -> Result<Vec<ValidatorView>, RpcError> {
        Ok(self.with(|s| {
            vec![ValidatorView {
                consensus_key: to_hex(&s.node_key),
                operator: to_hex(&s.node_key),
                moniker: "alpha".to_string(),
                self_bond: 1_000,
                delegated: 50,
                total_bond: 1_050,
                jailed: false,
                slashed_total: 0,
                active: true,
                missed_this_epoch: 0,
                jailed_for_inactivity_at: None,
            }]
        }))
    }

    async fn account_proof(&self, address: String) -> Result<AccountProofView, RpcError> {
        self.with(|s| {
            let Some(account) = s.accounts.get(&address) else {
                return Err(RpcError::not_found(format!("account {address}")));
            };
            let last = s.blocks.last().expect("genesis exists");
            Ok(AccountProofView {
                address: address.clone(),
                balance: account.balance,
                nonce: account.nonce,
                leaf_index: 0,
                leaf_count: s.accounts.len() as u64,
                proof: "00ff".to_string(),
                state_root: to_hex(last.state_root),
                height: last.height,
            })
        })
    }

    type UploadHold = Admission<IpAddr>;

    async fn open_upload(
        &self,
        request: UploadRequest,
    ) -> Result<Upload<Admission<IpAddr>>, RpcError> {
        let declared = request.expected.and_then(|id| self.declared(id));
        let requested = request.size_bytes.unwrap_or(BLOB_BODY_MAX_BYTES as u64);
        let hold = self
            .blobs
            .quota
            .admit(request.client, declared, requested)
            .map_err(|e| quota_error(&e))?;
        let writer = self
            .blobs
            .store
            .writer(hold.max_bytes())
            .map_err(blob_error)?;
        Ok(Upload { writer, hold })
    }

    async fn uploaded(&self, id: BlobId, size: u64, hold: Admission<IpAddr>) {
        let delay = *self.blobs.settle_delay.lock().expect("delay lock");
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let declared = self.declared(id).is_some_and(|max| size <= max);
        hold.settle(id, size, declared);
    }

    async fn get_blob(&self, id: String) -> Result<Option<Vec<u8>>, RpcError> {
        let id: BlobId = id.parse().map_err(RpcError::internal)?;
        let mut bytes = self.blobs.store.get(id).map_err(blob_error)?;
        let corrupt = self
            .blobs
            .corrupt
            .lock()
            .expect("corrupt lock")
            .contains(&id);
        if let Some(first) = bytes.as_mut().and_then(|b| b.first_mut())
            && corrupt
        {
            *first ^= 0xff;
        }
        Ok(bytes)
    }

    async fn has_blob(&self, id: String) -> Result<bool, RpcError> {
        let id: BlobId = id.parse().map_err(RpcError::internal)?;
        Ok(self.blobs.store.has(id))
    }

    // The fake runs no task state machine: it knows no tasks (the node's tests cover tasks).
    async fn task(&self, _id: u64) -> Result<Option<cairn_rpc::task_api::TaskView>, RpcError> {
        Ok(None)
    }

    async fn tasks(&self) -> Result<Vec<cairn_rpc::task_api::TaskView>, RpcError> {
        Ok(Vec::new())
    }

    async fn task_rounds(
        &self,
        _id: u64,
    ) -> Result<Vec<cairn_rpc::task_api::RoundRecordView>, RpcError> {
        Ok(Vec::new())
    }

    async fn model(
        &self,
        _id: String,
    ) -> Result<Option<cairn_rpc::infer_api::ModelView>, RpcError> {
        Ok(None)
    }

    async fn models(&self) -> Result<Vec<cairn_rpc::infer_api::ModelView>, RpcError> {
        Ok(Vec::new())
    }

    async fn inference(
        &self,
        _id: u64,
    ) -> Result<Option<cairn_rpc::infer_api::InferenceView>, RpcError> {
        Ok(None)
    }

    async fn inferences(
        &self,
        _from: u64,
    ) -> Result<Vec<cairn_rpc::infer_api::InferenceView>, RpcError> {
        Ok(Vec::new())
    }

    async fn metrics(&self) -> Result<String, RpcError> {
        let height = self.with(|s| s.blocks.len() - 1);
        Ok(format!(
            "# TYPE cairn_height gauge\ncairn_height {height}\n"
        ))
    }
}
