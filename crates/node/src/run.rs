//! Runs a validator for real: commonware's tokio runtime, authenticated discovery p2p on TCP,
//! the JSON-RPC server, and a clean shutdown on Ctrl-C / SIGTERM.

use crate::chain::LockChain;
use crate::{
    config::{NodeConfig, read_key_file},
    engine::{
        self, Channels, EngineConfig, NodeHandle, P2P_MESSAGE_SIZE_MAX_BYTES, P2P_NAMESPACE,
        channel,
    },
    rpc::RpcBackend,
};
use cairn_types::{Genesis, parse_public_key};
use commonware_cryptography::{ChaCha20Poly1305, Signer};
use commonware_p2p::authenticated::discovery;
use commonware_runtime::{Quota, Runner, Spawner, Supervisor as _, tokio as cw_tokio};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{NZU32, NZUsize};
use std::net::SocketAddr;
use std::time::Duration;
use tracing::{error, info, warn};

/// Errors that stop a node from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Genesis(#[from] cairn_types::GenesisError),
    #[error("bootstrapper key {key:?}: {reason}")]
    Bootstrapper { key: String, reason: String },
    #[error("cannot open the blob store: {0}")]
    Blobs(#[from] cairn_blobs::BlobError),
}

/// Called once the RPC server listens (the CLI prints it).
pub type OnReady = Box<dyn FnOnce(&NodeHandle, SocketAddr) + Send>;

/// Runs the node until Ctrl-C; returns the process exit code.
pub fn run(config: NodeConfig, on_ready: OnReady) -> Result<i32, StartError> {
    let fd_limit = raise_fd_limit();
    let signer = read_key_file(&config.key_file)?;
    let genesis = Genesis::load(&config.genesis)?;
    let (_, participants, _) = engine::genesis_parts(&genesis)?;
    let me = signer.public_key();
    if !participants.iter().any(|p| *p == me) {
        // A validator created by transaction (`cairn tx create-validator`): peers admit it once
        // that transaction is finalized; it then catches up and votes from the epoch it joins.
        info!(key = %cairn_types::to_hex(&me), "this key is not in the genesis set; following the chain until it is a validator");
    }
    let mut bootstrappers = Vec::new();
    for b in &config.bootstrappers {
        let key = parse_public_key(&b.public_key).map_err(|reason| StartError::Bootstrapper {
            key: b.public_key.clone(),
            reason,
        })?;
        if key != me {
            bootstrappers.push((key, b.address.into()));
        }
    }
    std::fs::create_dir_all(&config.data_dir).map_err(|source| crate::config::ConfigError::Io {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    // Blobs live beside the runtime's storage, as plain files named by their hash.
    let blob_store = std::sync::Arc::new(open_blob_store(&config.data_dir.join("blobs"))?);
    let runtime = cw_tokio::Config::new()
        .with_storage_directory(config.data_dir.join("storage"))
        .with_worker_threads(2);
    let executor = cw_tokio::Runner::new(runtime);
    let code = executor.start(async move |context| {
        let max_peers = engine::peer_set_max(&genesis);
        let upgrader = Cups::<_, ChaCha20Poly1305>::new(
            Sake {
                signer: signer.clone(),
                synchrony_bound: Duration::from_secs(5),
                max_handshake_age: Duration::from_secs(10),
                version: sake::Version::V1,
            },
            cups::Version::V1,
        );
        let p2p = discovery::Config::local(
            upgrader,
            P2P_NAMESPACE,
            config.p2p_listen,
            config.p2p_listen,
            bootstrappers,
            max_peers,
            P2P_MESSAGE_SIZE_MAX_BYTES,
            NZUsize!(4_096),
        );
        // The epoch orchestrator tracks the admitted validator keys as the ledger changes them.
        let (mut network, oracle) = discovery::Network::new(context.child("p2p"), p2p);
        let quota = engine::channel_quota();
        let channels = Channels {
            votes: network.register(channel::VOTES, quota),
            certificates: network.register(channel::CERTIFICATES, quota),
            consensus_resolver: network.register(channel::CONSENSUS_RESOLVER, quota),
            blocks: network.register(channel::BLOCKS, quota),
            backfill: network.register(channel::BACKFILL, quota),
            txs: network.register(channel::TXS, quota),
            blobs: network.register(
                channel::BLOBS,
                Quota::per_second(NZU32!(crate::blobs::BLOB_CHANNEL_RATE_PER_SECOND)),
            ),
        };
        network.start();
        let engine_config = EngineConfig::new(signer, genesis, "cairn".to_string(), blob_store);
        let handle = engine::start(
            context.child("node"),
            engine_config,
            oracle.clone(),
            oracle,
            channels,
        )
        .await;

        let listener = match tokio::net::TcpListener::bind(config.rpc_listen).await {
            Ok(listener) => listener,
            Err(err) => {
                error!(%err, addr = %config.rpc_listen, "cannot bind the RPC address");
                return 1;
            }
        };
        let rpc_addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(err) => {
                error!(%err, "the RPC listener has no address");
                return 1;
            }
        };
        let metrics = (context.child("rpc"), context.child("blobs"));
        spawn_rpc(&handle, metrics, listener, fd_limit);
        info!(%rpc_addr, "RPC listening");
        spawn_blob_pruner(handle.clone());
        on_ready(&handle, rpc_addr);

        shutdown_signal().await;
        info!("shutting down");
        let _ = context
            .stop(0, Some(std::time::Duration::from_secs(5)))
            .await;
        0
    });
    Ok(code)
}

/// Serves the RPC on `listener`: blobs the chain declares are free to upload, the rest is
/// charged; the connection cap is a quarter of the process's file handles, so consensus
/// storage and p2p always keep most of them.
fn spawn_rpc<E: commonware_runtime::Metrics>(
    handle: &NodeHandle,
    (rpc_metrics, blob_metrics): (E, E),
    listener: tokio::net::TcpListener,
    fd_limit: u64,
) {
    let declared = crate::blobs::ChainDeclared::new(handle.chain.clone());
    handle
        .blobs
        .policy()
        .set_declared(std::sync::Arc::new(declared));
    let limits = cairn_rpc::RpcLimits {
        connections_max: cairn_rpc::limits::connections_max_for_fd_limit(fd_limit),
        ..cairn_rpc::RpcLimits::default()
    };
    info!(
        connections_max = limits.connections_max,
        fd_limit, "RPC limits"
    );
    let server = cairn_rpc::RpcServer::new(limits);
    let backend = RpcBackend::new(handle.clone(), rpc_metrics, blob_metrics, server.stats());
    let router = server.router(backend);
    tokio::spawn(async move {
        let forever = std::future::pending();
        if let Err(err) = server.serve(listener, router, forever).await {
            error!(%err, "RPC server stopped");
        }
    });
}

/// How many times, [LOCK_RETRY_INTERVAL] apart, a starting node tries to take its blob store's
/// lock: a previous incarnation killed with SIGKILL may still be exiting (the kernel tears down
/// its memory, then closes its files), about 10 s in all.
const LOCK_RETRIES: u32 = 50;
const LOCK_RETRY_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

/// Opens the node's blob store, waiting for a previous process to release it, with its cap
/// fitted to the free disk.
fn open_blob_store(dir: &std::path::Path) -> Result<cairn_blobs::BlobStore, StartError> {
    let store = open_locked_blob_store(dir)?;
    fit_blob_cap(&store);
    Ok(store)
}

/// At most half the free disk, never above the 64 GiB ceiling: blobs must not take the space
/// consensus journals and snapshots need.
fn fit_blob_cap(store: &cairn_blobs::BlobStore) {
    let ceiling = cairn_blobs::limits::DEFAULT_STORE_SIZE_MAX_BYTES;
    match store.fit_cap_to_disk(ceiling) {
        Ok(cap) => tracing::debug!(cap, "blob store cap fitted to the free disk"),
        // Keep the previous cap: a failed measurement is no reason to stop serving blobs.
        Err(err) => warn!(%err, "cannot measure the free disk for the blob store cap"),
    }
}

fn open_locked_blob_store(dir: &std::path::Path) -> Result<cairn_blobs::BlobStore, StartError> {
    let limits = cairn_blobs::BlobLimits {
        blob_size_max_bytes: crate::blobs::BLOB_SIZE_MAX_BYTES,
        ..cairn_blobs::BlobLimits::default()
    };
    let mut attempt = 0;
    loop {
        match cairn_blobs::BlobStore::open(dir, limits) {
            Err(cairn_blobs::BlobError::Locked { .. }) if attempt < LOCK_RETRIES => {
                if attempt == 0 {
                    info!(dir = %dir.display(), "blob store locked: waiting for the previous process to exit");
                }
                attempt = attempt.saturating_add(1);
                std::thread::sleep(LOCK_RETRY_INTERVAL);
            }
            result => return Ok(result?),
        }
    }
}

/// Every [BLOB_PRUNE_INTERVAL](crate::blobs::prune::BLOB_PRUNE_INTERVAL): drops blobs the
/// finalized ledger no longer references and nothing declares (after a grace period for fresh
/// uploads), stops charging quotas for blobs that became declared or left, and refits the
/// store cap to the free disk.
fn spawn_blob_pruner(handle: NodeHandle) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(crate::blobs::prune::BLOB_PRUNE_INTERVAL).await;
            let referenced = handle.chain.locked().finalized().referenced_blobs();
            let blobs = handle.blobs.clone();
            let pruned = tokio::task::spawn_blocking(move || prune_once(&blobs, &referenced)).await;
            match pruned {
                Ok(Ok(report)) if !report.removed.is_empty() => {
                    info!(
                        blobs = report.removed.len(),
                        bytes = report.bytes_freed,
                        "pruned unreferenced blobs"
                    )
                }
                Ok(Ok(_)) => {}
                Ok(Err(err)) => warn!(%err, "blob pruning failed"),
                Err(err) => warn!(%err, "blob pruning task failed"),
            }
        }
    });
}

/// One pass of [spawn_blob_pruner] (blocking file-system work).
// Local housekeeping by file age; the wall clock never reaches consensus from here.
#[allow(clippy::disallowed_methods)]
fn prune_once(
    blobs: &crate::blobs::BlobService,
    referenced: &[[u8; 32]],
) -> Result<cairn_blobs::PruneReport, cairn_blobs::BlobError> {
    use crate::blobs::prune::{BLOB_PRUNE_GRACE, prune_unreferenced};
    let store = blobs.store();
    let mut keep = blobs.policy().declared();
    keep.extend(referenced.iter().map(|h| cairn_blobs::BlobId::from(*h)));
    let report = prune_unreferenced(store, &keep, BLOB_PRUNE_GRACE, std::time::SystemTime::now());
    blobs.policy().release_settled(store);
    fit_blob_cap(store);
    report
}

/// Raises this process's soft limit on open files to its hard limit (consensus journals, the
/// block archive, p2p and RPC connections all need handles) and returns the soft limit now in
/// force, from which the RPC connection cap is derived. Unknown or unlimited: a large value.
fn raise_fd_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let soft = limit.current.unwrap_or(u64::MAX);
    if limit.maximum.is_some_and(|hard| hard <= soft) {
        return soft;
    }
    let raised = rustix::process::Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => limit.maximum.unwrap_or(u64::MAX),
        Err(err) => {
            warn!(%err, soft, "cannot raise the open-file limit; keeping it");
            soft
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(err) => {
                warn!(%err, "cannot watch for SIGTERM; stop the node with Ctrl-C");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
