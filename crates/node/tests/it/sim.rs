//! A whole Cairn network in one seeded, single-threaded process: commonware's deterministic
//! runtime and simulated p2p network, real engines. The same seed replays the same run.

use cairn_blobs::{BlobLimits, BlobStore};
use cairn_node::engine::{self, Channels, EngineConfig, NodeHandle, channel};
use cairn_types::{
    Action, Genesis, GenesisAccount, GenesisValidator, Params, PrivateKey, PublicKey, Transaction,
    to_hex,
};
use commonware_cryptography::Signer;
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_runtime::{Clock, Handle, Quota, Spawner, Supervisor as _, deterministic};
use commonware_utils::{NZU32, NZUsize, probability};
use futures::channel::oneshot;
use std::sync::Arc;
use std::time::Duration;

pub const CHAIN_ID: &str = "cairn-sim";
pub const FUNDED: u64 = 1_000_000_000;

pub fn validator_key(i: usize) -> PrivateKey {
    PrivateKey::from_seed(1_000 + i as u64)
}

pub fn account_key(i: usize) -> PrivateKey {
    PrivateKey::from_seed(2_000 + i as u64)
}

/// Genesis with `n` validators (operated by accounts 0..n) and `accounts` funded accounts.
pub fn genesis(n: usize, accounts: usize) -> Genesis {
    Genesis {
        chain_id: CHAIN_ID.into(),
        genesis_time_ms: 0,
        accounts: (0..accounts.max(n))
            .map(|i| GenesisAccount {
                address: to_hex(account_key(i).public_key()),
                balance: FUNDED,
            })
            .collect(),
        validators: (0..n)
            .map(|i| GenesisValidator {
                consensus_key: to_hex(validator_key(i).public_key()),
                operator: to_hex(account_key(i).public_key()),
                stake: 1_000_000,
                moniker: format!("v{i}"),
            })
            .collect(),
        params: Params::default(),
    }
}

pub fn transfer(
    from: &PrivateKey,
    nonce: u64,
    to: &PublicKey,
    amount: u64,
) -> cairn_types::SignedTx {
    Transaction {
        chain_id: CHAIN_ID.into(),
        signer: from.public_key(),
        nonce,
        fee: 1,
        action: Action::Transfer {
            to: to.clone(),
            amount,
        },
    }
    .sign(from)
}

/// A simulated network linking every key in `participants` that admits only `admitted` at
/// first (peer set 0); nodes track later sets as the ledger admits validators.
pub async fn network_admitting(
    context: &deterministic::Context,
    admitted: &[PublicKey],
    participants: &[PublicKey],
    link: Link,
) -> Oracle<PublicKey, deterministic::Context> {
    let (network, oracle) = Network::new_with_peers(
        context.child("network"),
        simulated::Config {
            max_size: engine::P2P_MESSAGE_SIZE_MAX_BYTES,
            max_peers_per_set: NZUsize!(participants.len()),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(4),
        },
        admitted.to_vec(),
    )
    .await;
    network.start();
    for a in participants {
        for b in participants {
            if a != b {
                oracle
                    .add_link(a.clone(), b.clone(), link.clone())
                    .await
                    .expect("link");
            }
        }
    }
    oracle
}

pub fn lan() -> Link {
    Link {
        latency: Duration::from_millis(10),
        jitter: Duration::from_millis(2),
        success_rate: probability!(1.0),
    }
}

/// Starts validator `key` in its own task (abort the task to crash the node: every actor it
/// spawned is its descendant and dies with it; its storage survives for a restart).
pub async fn start_validator(
    context: &deterministic::Context,
    oracle: &Oracle<PublicKey, deterministic::Context>,
    key: PrivateKey,
    genesis: Genesis,
    incarnation: u32,
) -> (Handle<()>, NodeHandle) {
    let me = key.public_key();
    let control = oracle.control(me.clone());
    let quota = engine::channel_quota();
    let mut reg = Vec::new();
    for ch in [
        channel::VOTES,
        channel::CERTIFICATES,
        channel::CONSENSUS_RESOLVER,
        channel::BLOCKS,
        channel::BACKFILL,
        channel::TXS,
    ] {
        reg.push(control.register(ch, quota).await.expect("register channel"));
    }
    let blob_quota = Quota::per_second(NZU32!(cairn_node::blobs::BLOB_CHANNEL_RATE_PER_SECOND));
    reg.push(
        control
            .register(channel::BLOBS, blob_quota)
            .await
            .expect("register channel"),
    );
    let mut reg = reg.into_iter();
    let channels = Channels {
        votes: reg.next().unwrap(),
        certificates: reg.next().unwrap(),
        consensus_resolver: reg.next().unwrap(),
        blocks: reg.next().unwrap(),
        backfill: reg.next().unwrap(),
        txs: reg.next().unwrap(),
        blobs: reg.next().unwrap(),
    };
    // Blobs are real files: each incarnation gets a fresh directory, removed with the task.
    let blob_dir = tempfile::tempdir().expect("blob directory");
    let blob_store =
        BlobStore::open(blob_dir.path(), BlobLimits::default()).expect("blob store opens");
    let config = EngineConfig::new(
        key,
        genesis,
        format!("node-{}", to_hex(&me)),
        Arc::new(blob_store),
    );
    let manager = oracle.manager();
    let (sender, receiver) = oneshot::channel();
    let task = context
        .child("validator")
        .with_attribute("key", &me)
        .with_attribute("incarnation", incarnation)
        .spawn(move |ctx| async move {
            let _blob_dir = blob_dir;
            let handle = engine::start(ctx, config, manager, control, channels).await;
            let _ = sender.send(handle);
            futures::future::pending::<()>().await;
        });
    let handle = receiver.await.expect("validator started");
    (task, handle)
}

pub fn height(node: &NodeHandle) -> u64 {
    node.chain.lock().unwrap().finalized_height()
}

/// Waits (in simulated time) until every node has finalized `target`, or panics after `limit`.
pub async fn wait_for_height(
    context: &deterministic::Context,
    nodes: &[&NodeHandle],
    target: u64,
    limit: Duration,
) {
    let start = context.current();
    loop {
        if nodes.iter().all(|n| height(n) >= target) {
            return;
        }
        let elapsed = context.current().duration_since(start).unwrap_or_default();
        assert!(
            elapsed < limit,
            "nodes stuck at heights {:?} (target {target}) after {elapsed:?}",
            nodes.iter().map(|n| height(n)).collect::<Vec<_>>()
        );
        context.sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (at most `limit`) until `node` and every node of `live` have finalized `target`, then
/// checks that `node` finalized the same blocks with the same state roots as `live[0]`.
pub async fn assert_caught_up(
    context: &deterministic::Context,
    live: &[NodeHandle],
    node: &NodeHandle,
    target: u64,
    limit: Duration,
) {
    let all: Vec<_> = live.iter().chain(std::iter::once(node)).collect();
    wait_for_height(context, &all, target, limit).await;
    assert_eq!(
        chain_summary(node, target).await,
        chain_summary(&live[0], target).await
    );
}

/// Block hash and state root at every height `1..=upto` as `node` finalized them.
pub async fn chain_summary(node: &NodeHandle, upto: u64) -> Vec<(u64, String, String)> {
    let mut out = Vec::new();
    for h in 1..=upto {
        let block = node.chain.lock().unwrap().recent_block(h);
        let block = match block {
            Some(b) => b,
            None => {
                let b = node
                    .marshal
                    .get_block(commonware_consensus::types::Height::new(h))
                    .await
                    .unwrap_or_else(|| panic!("block {h} missing"));
                b.inner_shared()
            }
        };
        out.push((h, to_hex(block.hash()), to_hex(block.state_root)));
    }
    out
}

/// The deterministic runtime for a test's `seed` (shifted by [seed_offset]).
pub fn runner(seed: u64) -> deterministic::Runner {
    deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(seed + seed_offset())
            .with_timeout(Some(Duration::from_secs(3_600))),
    )
}

/// `CAIRN_SIM_SEED_OFFSET=k` shifts every simulation's seed, to explore other schedules; a
/// seed that ever fails becomes a test of its own.
pub fn seed_offset() -> u64 {
    std::env::var("CAIRN_SIM_SEED_OFFSET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A simulated network of `n` validators of which the first `honest` run Cairn (the rest are
/// left to the test, e.g. for Byzantine mocks).
pub struct Net {
    pub oracle: Oracle<PublicKey, deterministic::Context>,
    pub keys: Vec<PrivateKey>,
    pub participants: Vec<PublicKey>,
    pub genesis: Genesis,
    pub nodes: Vec<NodeHandle>,
    pub tasks: Vec<Handle<()>>,
}

impl Net {
    pub async fn start(
        context: &deterministic::Context,
        n: usize,
        accounts: usize,
        link: Link,
        honest: usize,
    ) -> Net {
        Net::start_with(context, genesis(n, accounts), n, link, honest).await
    }

    /// Like [Net::start] with a given genesis and `nodes` validator keys on the network (keys
    /// beyond the genesis set belong to validators that join by transaction); runs the first
    /// `running` of them.
    pub async fn start_with(
        context: &deterministic::Context,
        genesis: Genesis,
        nodes: usize,
        link: Link,
        running: usize,
    ) -> Net {
        let keys: Vec<_> = (0..nodes).map(validator_key).collect();
        let participants: Vec<_> = keys.iter().map(|k| k.public_key()).collect();
        let admitted: Vec<_> = genesis
            .validators
            .iter()
            .map(|v| cairn_types::parse_public_key(&v.consensus_key).expect("genesis key"))
            .collect();
        let oracle = network_admitting(context, &admitted, &participants, link).await;
        let (mut nodes, mut tasks) = (Vec::new(), Vec::new());
        for key in &keys[..running] {
            let (task, node) =
                start_validator(context, &oracle, key.clone(), genesis.clone(), 0).await;
            tasks.push(task);
            nodes.push(node);
        }
        Net {
            oracle,
            keys,
            participants,
            genesis,
            nodes,
            tasks,
        }
    }

    /// Consensus scheme of validator `i` (for Byzantine mocks that sign as it).
    pub fn scheme(&self, i: usize) -> cairn_node::Scheme {
        let set = commonware_utils::ordered::Set::from_iter_dedup(self.participants.clone());
        cairn_node::Scheme::signer(
            cairn_node::engine::CONSENSUS_NAMESPACE,
            set,
            self.keys[i].clone(),
        )
        .expect("validator is a participant")
    }
}

/// Channel `channel` of `key`'s p2p control as epoch 0's consensus engine speaks it: honest
/// nodes multiplex consensus channels by epoch, so a Byzantine mock registers the same way.
pub async fn epoch_zero_channel(
    context: &deterministic::Context,
    oracle: &Oracle<PublicKey, deterministic::Context>,
    key: &PublicKey,
    channel: u64,
    quota: Quota,
) -> (
    commonware_p2p::utils::mux::SubSender<simulated::Sender<PublicKey, deterministic::Context>>,
    commonware_p2p::utils::mux::SubReceiver<PublicKey>,
) {
    let (sender, receiver) = oracle
        .control(key.clone())
        .register(channel, quota)
        .await
        .expect("register channel");
    let (mux, mut handle) = commonware_p2p::utils::mux::Muxer::new(
        context.child("mux").with_attribute("channel", channel),
        sender,
        receiver,
    );
    mux.start();
    handle.register(0).await.expect("epoch 0 subchannel")
}
