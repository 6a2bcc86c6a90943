//! Transaction gossip: every transaction this node admits from a client is validated first,
//! then sent in batches to all peers on a dedicated p2p channel; peers validate each one again
//! before admitting it (and do not forward: validators are fully connected).

use crate::chain::Chain;
use crate::chain::LockChain;
use cairn_types::SignedTx;
use commonware_codec::{Decode, Encode, RangeCfg};
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::Clock;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::debug;

/// Most transactions in one gossip message.
pub const GOSSIP_BATCH_TXS_MAX: usize = 2_048;
/// How often queued transactions are flushed to peers.
pub const GOSSIP_FLUSH_INTERVAL: Duration = Duration::from_millis(10);

/// Sends batches of locally admitted transactions to every peer.
pub async fn send_loop<E: Clock, S: Sender>(context: E, chain: Arc<Mutex<Chain>>, mut sender: S) {
    loop {
        context.sleep(GOSSIP_FLUSH_INTERVAL).await;
        let batch: Vec<SignedTx> = {
            let mut chain = chain.locked();
            let take = chain.outbox.len().min(GOSSIP_BATCH_TXS_MAX);
            chain.outbox.drain(..take).collect()
        };
        if !batch.is_empty() {
            sender.send(Recipients::All, batch.encode(), false);
        }
    }
}

/// Admits transactions peers gossip, after validating each against our finalized state.
pub async fn receive_loop<R: Receiver>(chain: Arc<Mutex<Chain>>, mut receiver: R) {
    while let Ok((peer, message)) = receiver.recv().await {
        let cfg = (RangeCfg::new(0..=GOSSIP_BATCH_TXS_MAX), ());
        let batch = match Vec::<SignedTx>::decode_cfg(message, &cfg) {
            Ok(batch) => batch,
            Err(err) => {
                debug!(?peer, %err, "undecodable transaction gossip");
                continue;
            }
        };
        // Verify signatures outside the lock (results are cached for admission below).
        let state = chain.locked().finalized();
        for tx in &batch {
            let _ = state.check_tx(tx);
        }
        let mut chain = chain.locked();
        let state = chain.finalized();
        for tx in batch {
            let _ = chain.mempool.admit(&state, tx);
        }
    }
}
