//! Applies finalized blocks, in order, to the node's canonical state; persists the state before
//! acknowledging each block to marshal, so a crash at any point resumes at a height whose state
//! is on disk (marshal redelivers anything not acknowledged).

use crate::app::execute;
use crate::chain::Chain;
use crate::chain::LockChain;
use crate::epochs::{Notice, NoticeSender};
use crate::fault::OrFatal;
use cairn_state::State;
use cairn_types::{Block, Digest};
use commonware_codec::DecodeExt;
use commonware_consensus::{Reporter, marshal::Update};
use commonware_runtime::{
    Clock, Metrics, Storage,
    telemetry::metrics::{Gauge, GaugeExt, MetricsExt},
};
use commonware_storage::metadata::{self, Metadata};
use commonware_utils::{Acknowledgement, sequence::U64};
use futures::{StreamExt, channel::mpsc};
use std::sync::{Arc, Mutex};
use tracing::{error, info};

/// Largest state snapshot read back from disk.
pub const SNAPSHOT_SIZE_MAX_BYTES: usize = 1 << 30;
const SNAPSHOT_KEY: u64 = 0;

/// Marshal's view of this node's application: receives finalized blocks and tips.
#[derive(Clone)]
pub struct Finalizer {
    sender: mpsc::UnboundedSender<Update<Block>>,
}

impl Reporter for Finalizer {
    type Activity = Update<Block>;
    fn report(&mut self, activity: Self::Activity) -> commonware_actor::Feedback {
        match self.sender.unbounded_send(activity) {
            Ok(()) => commonware_actor::Feedback::Ok,
            Err(_) => commonware_actor::Feedback::Closed,
        }
    }
}

/// The persisted state snapshot store.
pub type SnapshotStore<E> = Metadata<E, U64, Vec<u8>>;

/// Opens the snapshot store and returns the persisted state with its block's hash, if any.
///
/// Stored value: the 32-byte hash of the last applied block, then the state snapshot.
pub async fn open_store<E: Storage + Metrics + Clock>(
    context: E,
    partition: String,
) -> (SnapshotStore<E>, Option<(State, Digest)>) {
    let store = Metadata::init(
        context,
        metadata::Config {
            partition,
            codec_config: ((0..=SNAPSHOT_SIZE_MAX_BYTES).into(), ()),
        },
    )
    .await
    .or_fatal("state snapshot store must open: storage fault");
    let state = store.get(&U64::new(SNAPSHOT_KEY)).map(|bytes: &Vec<u8>| {
        let (hash, snapshot) = bytes
            .split_at_checked(32)
            .or_fatal("state snapshot on disk is truncated: refusing to start");
        let hash = Digest::decode(commonware_codec::Copying(hash))
            .or_fatal("state snapshot on disk: its block hash does not decode");
        let state = State::decode_snapshot(snapshot)
            .or_fatal("state snapshot on disk is corrupt: refusing to start");
        (state, hash)
    });
    (store, state)
}

pub struct FinalizerActor<E: Storage + Metrics + Clock> {
    pub chain: Arc<Mutex<Chain>>,
    /// Every applied block is announced to the epoch orchestrator.
    notices: NoticeSender,
    store: Option<SnapshotStore<E>>,
    pub receiver: mpsc::UnboundedReceiver<Update<Block>>,
    pub finalized_height: Gauge,
    pub finalized_txs: commonware_runtime::telemetry::metrics::Counter,
}

pub fn new<E: Storage + Metrics + Clock>(
    context: &E,
    chain: Arc<Mutex<Chain>>,
    store: SnapshotStore<E>,
    notices: NoticeSender,
) -> (Finalizer, FinalizerActor<E>) {
    let (sender, receiver) = mpsc::unbounded();
    let finalized_height = context.gauge(
        "finalized_height",
        "height of the last finalized block applied",
    );
    let finalized_txs =
        context.counter("finalized_txs", "transactions in finalized blocks applied");
    (
        Finalizer { sender },
        FinalizerActor {
            chain,
            notices,
            store: Some(store),
            receiver,
            finalized_height,
            finalized_txs,
        },
    )
}

impl<E: Storage + Metrics + Clock> FinalizerActor<E> {
    pub async fn run(mut self) {
        while let Some(update) = self.receiver.next().await {
            match update {
                Update::Tip(_, height, _) => {
                    let mut chain = self.chain.locked();
                    chain.network_tip = chain.network_tip.max(height.get());
                }
                Update::Block(block, ack) => {
                    self.apply(block.inner_shared()).await;
                    ack.acknowledge();
                }
            }
        }
    }

    async fn apply(&mut self, block: Arc<Block>) {
        let (parent_hash, parent_state, cached) = {
            let chain = self.chain.locked();
            if block.height <= chain.finalized_height() {
                return; // redelivery after restart: already applied and persisted
            }
            (
                chain.finalized_hash(),
                chain.finalized(),
                chain.executed(&block.hash()),
            )
        };
        if block.parent != parent_hash {
            error!(
                height = block.height,
                "finalized block does not extend our finalized tip"
            );
            crate::fault::fatal(format_args!(
                "finalized block {} does not extend finalized tip {}",
                block.hash(),
                parent_hash
            ));
        }
        let (state, receipts) = match cached {
            Some(executed) => (executed.state.clone(), executed.receipts.clone()),
            None => match execute(&parent_state, &block) {
                Ok((state, receipts)) => (Arc::new(state), receipts),
                Err(err) => crate::fault::fatal(format_args!(
                    "consensus finalized a block this node cannot execute: {err}"
                )),
            },
        };
        let mut snapshot = block.hash().as_ref().to_vec();
        snapshot.extend_from_slice(&state.encode_snapshot());
        let height = block.height;
        let digest = block.hash();
        let txs = block.txs.len();
        self.chain.locked().finalize(block, state.clone(), receipts);
        let mut store = self
            .store
            .take()
            .or_fatal("snapshot store present between blocks");
        store.put(U64::new(SNAPSHOT_KEY), snapshot);
        let store = store
            .sync()
            .await
            .or_fatal("persisting state snapshot failed: storage fault");
        self.store = Some(store);
        // Only fails once the orchestrator has stopped, i.e. the node is shutting down.
        let _ = self.notices.unbounded_send(Notice {
            height,
            digest,
            state,
        });
        let _ = self.finalized_height.try_set(height);
        self.finalized_txs.inc_by(txs as u64);
        if height.is_multiple_of(100) || txs > 0 {
            info!(height, txs, "finalized block applied");
        }
    }
}
