//! Wires one validator together: commonware simplex (consensus) → marshal (block dissemination,
//! backfill, ordered finality) → our application (execution) and finalizer (canonical state),
//! plus transaction gossip. Generic over the runtime and the p2p network, so the same code runs
//! on tokio with authenticated TCP and on the deterministic runtime with a simulated network.

use crate::chain::LockChain;
use crate::fault::OrFatal;
use crate::{
    Scheme,
    app::App,
    blobs::{self, BlobService},
    chain::Chain,
    epochs::{EpochSchemes, Orchestrator, SimplexSettings},
    evidence::EvidenceReporter,
    finalizer, gossip,
};
use cairn_blobs::BlobStore;
use cairn_state::State;
use cairn_types::{Block, Digest, Genesis, PrivateKey, PublicKey};
use commonware_broadcast::buffered;
use commonware_consensus::{
    Reporters,
    marshal::{
        self,
        core::Mailbox as MarshalMailbox,
        standard::{Inline, Standard},
    },
    types::{FixedEpocher, Height, ViewDelta},
};
use commonware_cryptography::{Signer, certificate::Verifier as _};
use commonware_p2p::{Blocker, Manager, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, Metrics, Spawner, Storage, buffer::paged::CacheRef};
use commonware_storage::archive::immutable;
use commonware_utils::{NZDuration, NZU16, NZU64, NZUsize, ordered::Set};
use std::{
    num::NonZeroU64,
    sync::{Arc, Mutex},
    time::Duration,
};
use tracing::info;

/// Namespace for consensus signatures (votes cannot be replayed in another protocol).
pub const CONSENSUS_NAMESPACE: &[u8] = b"_CAIRN_CONSENSUS";
/// Namespace for p2p handshakes.
pub const P2P_NAMESPACE: &[u8] = b"_CAIRN_P2P";

/// p2p channel numbers.
pub mod channel {
    pub const VOTES: u64 = 0;
    pub const CERTIFICATES: u64 = 1;
    pub const CONSENSUS_RESOLVER: u64 = 2;
    pub const BLOCKS: u64 = 3;
    pub const BACKFILL: u64 = 4;
    pub const TXS: u64 = 5;
    /// Blob replication ([`crate::blobs`]); register it with
    /// [`BLOB_CHANNEL_RATE_PER_SECOND`](crate::blobs::BLOB_CHANNEL_RATE_PER_SECOND).
    pub const BLOBS: u64 = crate::blobs::BLOBS;
}

/// Messages per second each peer may send us on each channel. Sized well above what a block
/// every ~100 ms needs, so the rate limiter never throttles finality (the commonware example's
/// 10/s default caps it near 3 blocks/s); it still bounds a flooding peer.
pub const CHANNEL_RATE_PER_SECOND: u32 = 2_000;
/// Messages a peer may send on one channel at once before the rate applies. The network sizes
/// each channel's inbound mailbox (preallocated) as one burst from every peer it may track, so
/// a burst as large as the rate would cost gigabytes once peer sets follow the ledger.
pub const CHANNEL_BURST: u32 = 64;

/// The inbound quota of every consensus, block and transaction channel.
pub fn channel_quota() -> commonware_runtime::Quota {
    commonware_runtime::Quota::per_second(commonware_utils::NZU32!(CHANNEL_RATE_PER_SECOND))
        .allow_burst(commonware_utils::NZU32!(CHANNEL_BURST))
}
/// Largest p2p message: a full block or a whole blob, whichever is larger, plus framing.
pub const P2P_MESSAGE_SIZE_MAX_BYTES: u32 = {
    let block = cairn_types::limits::BLOCK_SIZE_MAX_BYTES as u64;
    let blob = blobs::BLOB_SIZE_MAX_BYTES;
    (if block > blob { block } else { blob } + 64 * 1024) as u32
};

/// Blocks per epoch: the genesis parameter `epoch_length_blocks` (validated to be at least 2).
pub fn blocks_per_epoch(genesis: &Genesis) -> NonZeroU64 {
    NonZeroU64::new(genesis.params.epoch_length_blocks).unwrap_or(NonZeroU64::MIN.saturating_add(1))
}

/// Largest p2p peer set a node admits under `genesis`: `State::peer_keys` (at most twice the
/// active set's bound) plus the node itself.
pub fn peer_set_max(genesis: &Genesis) -> std::num::NonZeroUsize {
    std::num::NonZeroUsize::MIN
        .saturating_add((genesis.params.validators_max as usize).saturating_mul(2))
}

/// How many finalized blocks' receipts a restarted node re-indexes from its archive.
pub const RECEIPT_REINDEX_BLOCKS_MAX: u64 = 100_000;

/// Tunables of a validator.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub signer: PrivateKey,
    pub genesis: Genesis,
    /// Prefix of every storage partition (one node per prefix).
    pub partition_prefix: String,
    pub leader_timeout: Duration,
    pub certification_timeout: Duration,
    pub timeout_retry: Duration,
    /// The node's blob store (`<data_dir>/blobs` for a real node), shared with the RPC.
    pub blob_store: Arc<BlobStore>,
}

impl EngineConfig {
    pub fn new(
        signer: PrivateKey,
        genesis: Genesis,
        partition_prefix: String,
        blob_store: Arc<BlobStore>,
    ) -> Self {
        EngineConfig {
            signer,
            genesis,
            partition_prefix,
            blob_store,
            leader_timeout: Duration::from_secs(2),
            certification_timeout: Duration::from_secs(3),
            timeout_retry: Duration::from_secs(5),
        }
    }
}

/// The seven p2p channels a validator uses.
pub struct Channels<S, R> {
    pub votes: (S, R),
    pub certificates: (S, R),
    pub consensus_resolver: (S, R),
    pub blocks: (S, R),
    pub backfill: (S, R),
    pub txs: (S, R),
    pub blobs: (S, R),
}

/// What a running validator exposes to the RPC server and tests.
#[derive(Clone)]
pub struct NodeHandle {
    pub chain: Arc<Mutex<Chain>>,
    pub marshal: MarshalMailbox<Scheme, Standard<Block>>,
    pub public_key: PublicKey,
    pub genesis_hash: Digest,
    /// Blobs: the local store and replication to and from peers.
    pub blobs: BlobService,
}

/// The genesis state, its validator set (sorted) and the genesis block.
pub fn genesis_parts(
    genesis: &Genesis,
) -> Result<(State, Set<PublicKey>, Block), cairn_types::GenesisError> {
    let state = State::from_genesis(genesis)?;
    let keys: Vec<PublicKey> = state
        .active_validator_set()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let participants = Set::from_iter_dedup(keys);
    let leader = participants
        .iter()
        .next()
        .cloned()
        .ok_or(cairn_types::GenesisError::NoValidators)?;
    let block = Block::genesis(leader, state.root(), genesis.genesis_time_ms);
    Ok((state, participants, block))
}

fn archive_config<C>(
    prefix: &str,
    name: &str,
    page_cache: CacheRef,
    codec_config: C,
) -> immutable::Config<C> {
    immutable::Config {
        metadata_partition: format!("{prefix}-{name}-metadata"),
        freezer_table_partition: format!("{prefix}-{name}-freezer-table"),
        freezer_table_initial_size: 65_536,
        freezer_table_resize_frequency: 4,
        freezer_table_resize_chunk_size: 16_384,
        freezer_key_partition: format!("{prefix}-{name}-freezer-key"),
        freezer_key_page_cache: page_cache,
        freezer_value_partition: format!("{prefix}-{name}-freezer-value"),
        freezer_value_target_size: 64 * 1024 * 1024,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        items_per_section: NZU64!(4_096),
        codec_config,
        replay_buffer: NZUsize!(1024 * 1024),
        freezer_key_write_buffer: NZUsize!(1024 * 1024),
        freezer_value_write_buffer: NZUsize!(1024 * 1024),
        ordinal_write_buffer: NZUsize!(1024 * 1024),
    }
}

/// Starts every component of a validator and returns its handle.
pub async fn start<E, P, B, S, R>(
    context: E,
    config: EngineConfig,
    peers: P,
    blocker: B,
    channels: Channels<S, R>,
) -> NodeHandle
where
    E: Spawner + Metrics + Clock + Storage + rand_core::CryptoRng,
    P: Manager<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    let me = config.signer.public_key();
    let prefix = config.partition_prefix.clone();
    let (genesis_state, _, genesis_block) =
        genesis_parts(&config.genesis).or_fatal("genesis was validated before start");
    let genesis_hash = genesis_block.hash();
    let blocks_per_epoch = blocks_per_epoch(&config.genesis);
    // Each epoch's scheme, registered by the orchestrator when the epoch starts.
    let schemes = EpochSchemes::new(config.signer.clone());

    // Canonical state: the persisted snapshot, else genesis.
    let (store, persisted) =
        finalizer::open_store(context.child("state_store"), format!("{prefix}-state")).await;
    let (state, tip) = match persisted {
        Some((state, tip)) => (state, tip),
        None => (genesis_state, genesis_hash),
    };
    info!(height = state.height(), root = %state.root(), "state loaded");
    let chain = Arc::new(Mutex::new(Chain::new(me.clone(), state, tip)));

    // Marshal: ordered delivery of finalized blocks, dissemination and backfill.
    let page_cache = CacheRef::new(NZU16!(16_384), NZUsize!(4_096));
    let finalizations = immutable::Archive::init(
        context.child("finalizations_by_height"),
        archive_config(
            &prefix,
            "finalizations",
            page_cache.clone(),
            Scheme::certificate_codec_config_unbounded(),
        ),
    )
    .await
    .or_fatal("finalizations archive must open: storage fault");
    let blocks = immutable::Archive::init(
        context.child("finalized_blocks"),
        archive_config(&prefix, "blocks", page_cache.clone(), ()),
    )
    .await
    .or_fatal("blocks archive must open: storage fault");
    let marshal_config = marshal::Config {
        provider: schemes.clone(),
        epocher: FixedEpocher::new(blocks_per_epoch),
        start: marshal::Start::Genesis(commonware_cryptography::Digested::precomputed(
            genesis_block.clone(),
            genesis_hash,
        )),
        partition_prefix: format!("{prefix}-marshal"),
        mailbox_size: NZUsize!(4_096),
        view_retention: ViewDelta::new(64),
        prunable_items_per_section: NZU64!(1_024),
        page_cache: page_cache.clone(),
        replay_buffer: NZUsize!(1024 * 1024),
        key_write_buffer: NZUsize!(1024 * 1024),
        value_write_buffer: NZUsize!(1024 * 1024),
        block_codec_config: (),
        max_repair: NZUsize!(64),
        max_pending_acks: NZUsize!(16),
        strategy: Sequential,
    };
    let (marshal_actor, marshal_mailbox, _floor) = marshal::core::Actor::init(
        context.child("marshal"),
        finalizations,
        blocks,
        marshal_config,
    )
    .await;

    let (broadcast_engine, buffer) = buffered::Engine::new(
        context.child("broadcast"),
        buffered::Config {
            public_key: me.clone(),
            mailbox_size: NZUsize!(4_096),
            deque_size: 64,
            priority: false,
            codec_config: (),
            peer_provider: peers.clone(),
            strategy: Sequential,
        },
    );
    broadcast_engine.start(channels.blocks);

    let resolver = marshal::resolver::p2p::init(
        context.child("backfill"),
        marshal::resolver::p2p::Config {
            public_key: me.clone(),
            peer_provider: peers.clone(),
            blocker: blocker.clone(),
            mailbox_size: NZUsize!(4_096),
            fetch_timeout: NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        channels.backfill,
    );

    let (notices, notice_receiver) = futures::channel::mpsc::unbounded();
    let (finalizer, finalizer_actor) = finalizer::new(&context, chain.clone(), store, notices);
    context
        .child("finalizer")
        .spawn(move |_| finalizer_actor.run());
    marshal_actor.start(finalizer, buffer, resolver);

    // After a restart the receipt index is empty: rebuild it from the archived blocks.
    let reindex_chain = chain.clone();
    let reindex_marshal = marshal_mailbox.clone();
    context.child("receipt_reindex").spawn(move |_| async move {
        let tip = reindex_chain.locked().finalized_height();
        let from = tip.saturating_sub(RECEIPT_REINDEX_BLOCKS_MAX).max(1);
        for height in from..=tip {
            if let Some(block) = reindex_marshal.get_block(Height::new(height)).await {
                reindex_chain.locked().reindex(block.inner());
            }
        }
    });

    // Consensus: one simplex engine per epoch, each with the set the state fixed for it.
    let app = App {
        chain: chain.clone(),
        schemes: schemes.clone(),
    };
    let inline = Inline::new(
        context.child("application"),
        app,
        marshal_mailbox.clone(),
        FixedEpocher::new(blocks_per_epoch),
    );
    let evidence = EvidenceReporter {
        chain: chain.clone(),
        schemes: schemes.clone(),
    };
    let orchestrator = Orchestrator {
        chain: chain.clone(),
        schemes,
        marshal: marshal_mailbox.clone(),
        blocker,
        manager: peers,
        automaton: inline.clone(),
        reporter: Reporters::from((inline, evidence)),
        notices: notice_receiver,
        blocks_per_epoch,
        genesis_hash,
        settings: SimplexSettings {
            partition_prefix: prefix.clone(),
            leader_timeout: config.leader_timeout,
            certification_timeout: config.certification_timeout,
            timeout_retry: config.timeout_retry,
            page_cache,
        },
    };
    let (votes, certificates, consensus_resolver) = (
        channels.votes,
        channels.certificates,
        channels.consensus_resolver,
    );
    context
        .child("epochs")
        .spawn(move |ctx| orchestrator.run(ctx, votes, certificates, consensus_resolver));

    // Transaction gossip.
    let (tx_sender, tx_receiver) = channels.txs;
    let gossip_chain = chain.clone();
    context
        .child("tx_gossip_send")
        .spawn(move |ctx| gossip::send_loop(ctx, gossip_chain, tx_sender));
    let gossip_chain = chain.clone();
    context
        .child("tx_gossip_recv")
        .spawn(move |_| gossip::receive_loop(gossip_chain, tx_receiver));

    // Blob replication.
    let (blob_actor, blobs) = blobs::Actor::new(
        context.child("blobs"),
        config.blob_store.clone(),
        channels.blobs,
    );
    context.child("blobs").spawn(move |_| blob_actor.run());
    // Blob backfill: fetch whatever the finalized ledger references and this node lacks.
    let (sync_chain, sync_blobs) = (chain.clone(), blobs.clone());
    context.child("blob_sync").spawn(move |ctx| async move {
        loop {
            ctx.sleep(blobs::sync::BLOB_SYNC_INTERVAL).await;
            let referenced = sync_chain.locked().finalized().referenced_blobs();
            match blobs::sync::fetch_referenced(&sync_blobs, &referenced).await {
                Ok(r) if r.fetched > 0 || r.unavailable > 0 => {
                    info!(
                        held = r.held,
                        fetched = r.fetched,
                        unavailable = r.unavailable,
                        "blob sync"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(%e, "blob sync stopped by a storage fault"),
            }
        }
    });

    NodeHandle {
        chain,
        marshal: marshal_mailbox,
        public_key: me,
        genesis_hash,
        blobs,
    }
}
