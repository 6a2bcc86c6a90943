//! An in-memory node: enough chain logic to exercise every RPC method through real HTTP.
//! Each accepted transaction is finalized at once in a block of its own.

use cairn_blobs::BlobId;
use cairn_rpc::api::BlobInfo;
use cairn_rpc::api::{
    AccountProofView, AccountView, ActionView, DelegationView, Receipt, Status, TxStatus,
    ValidatorView,
};
use cairn_rpc::{Backend, RpcError};
use cairn_types::{Action, Block, BlockContext, Digest, PublicKey, SignedTx, to_hex};
use commonware_consensus::types::{Epoch, Round, View};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub const CHAIN_ID: &str = "cairn-test";

#[derive(Clone)]
pub struct FakeNode {
    state: Arc<Mutex<State>>,
    blobs: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
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
        FakeNode {
            state: Arc::new(Mutex::new(state)),
            blobs: Arc::default(),
        }
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
pub const FAKE_BLOB_STORE_MAX_BYTES: u64 = 3 * 1024 * 1024;

impl FakeNode {
    /// Flips a byte of a stored blob, as a faulty node or link would (the client must notice).
    pub fn corrupt_blob(&self, id: &str) {
        let mut blobs = self.blobs.lock().expect("fake blobs lock");
        let bytes = blobs.get_mut(id).expect("blob to corrupt is stored");
        bytes[0] ^= 0xff;
    }
}

impl Backend for FakeNode {
    async fn status(&self) -> Result<Status, RpcError> {
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

    async fn put_blob(
        &self,
        bytes: Vec<u8>,
        expected: Option<String>,
    ) -> Result<BlobInfo, RpcError> {
        let id = BlobId::of(&bytes).to_hex();
        if let Some(expected) = expected
            && expected != id
        {
            return Err(RpcError::BlobHashMismatch { expected, got: id });
        }
        let mut blobs = self.blobs.lock().expect("fake blobs lock");
        let total: u64 = blobs.values().map(|b| b.len() as u64).sum();
        let size = bytes.len() as u64;
        if !blobs.contains_key(&id) && total + size > FAKE_BLOB_STORE_MAX_BYTES {
            let reason =
                format!("{total} bytes stored + {size} new exceed {FAKE_BLOB_STORE_MAX_BYTES}");
            return Err(RpcError::BlobStoreFull { reason });
        }
        blobs.insert(id.clone(), bytes);
        Ok(BlobInfo { id, size })
    }

    async fn get_blob(&self, id: String) -> Result<Option<Vec<u8>>, RpcError> {
        Ok(self
            .blobs
            .lock()
            .expect("fake blobs lock")
            .get(&id)
            .cloned())
    }

    async fn has_blob(&self, id: String) -> Result<bool, RpcError> {
        Ok(self
            .blobs
            .lock()
            .expect("fake blobs lock")
            .contains_key(&id))
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
