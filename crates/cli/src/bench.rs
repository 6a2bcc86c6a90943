// A benchmark harness measures wall time and indexes by hash; none of it is consensus code.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

//! `cairn bench ledger`: a real local network (validator processes on 127.0.0.1) under a load of
//! signed transfers; reports sustained finalized tx/s and submit-to-finality latency.
//! Opt-in (never run by CI): it takes the machine for its whole duration.

use crate::node_cmd;
use anyhow::{Context, bail};
use cairn_rpc::{api::encode_tx_hex, client::RpcClient};
use cairn_types::{Action, PrivateKey, Transaction, to_hex};
use commonware_cryptography::Signer;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug, Clone)]
pub struct LedgerBenchArgs {
    /// Validator processes to run.
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// Seconds of measured load (after a warm-up of 3 s).
    #[arg(long, default_value_t = 30)]
    pub duration_secs: u64,
    /// Funded sender accounts (each keeps its own nonce run).
    #[arg(long, default_value_t = 512)]
    pub accounts: usize,
    /// Offered load in tx/s (0 = as fast as the nodes accept).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Transactions per JSON-RPC batch (the server takes at most 100).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Load-generator threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// First p2p port (validator i uses base+i); RPC uses 8700+i.
    #[arg(long, default_value_t = 27600)]
    pub p2p_base_port: u16,
    #[arg(long, default_value_t = 8700)]
    pub rpc_base_port: u16,
    /// Catch-up mode: keep the last validator down during the load, then start it and time
    /// how fast it backfills and re-executes every block it missed (blocks/s, MB/s, tx/s).
    #[arg(long)]
    pub catch_up: bool,
}

struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = Command::new("kill")
                .arg("-INT")
                .arg(child.id().to_string())
                .status();
        }
        for child in &mut self.0 {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn load_key(i: usize) -> PrivateKey {
    PrivateKey::from_seed(7_000_000 + i as u64)
}

fn spawn_nodes(dir: &Path, nodes: std::ops::Range<usize>) -> anyhow::Result<Nodes> {
    let exe = std::env::current_exe().context("cannot find the cairn executable")?;
    let mut children = Vec::new();
    for i in nodes {
        let log = std::fs::File::create(dir.join(format!("node-{i}.log")))?;
        let child = Command::new(&exe)
            .arg("node")
            .arg("--config")
            .arg(dir.join(format!("node-{i}.toml")))
            .env("CAIRN_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start a validator process")?;
        children.push(child);
    }
    Ok(Nodes(children))
}

fn wait_ready(clients: &[RpcClient], height: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = clients
            .iter()
            .all(|c| c.status().map(|s| s.height >= height).unwrap_or(false));
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("validators did not reach height {height} within 60 s (see node-*.log)");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

pub fn ledger(args: LedgerBenchArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("cairn-bench-{}", std::process::id()));
    let senders: Vec<PrivateKey> = (0..args.accounts).map(load_key).collect();
    let extra: Vec<_> = senders.iter().map(|k| k.public_key()).collect();
    node_cmd::testnet_init(
        &dir,
        args.validators,
        args.p2p_base_port,
        args.rpc_base_port,
        "bench",
        &extra,
        cairn_types::Params::default().epoch_length_blocks,
    )?;
    if args.catch_up && args.validators < 4 {
        bail!(
            "--catch-up needs at least 4 validators, so the others keep a quorum while one is down"
        );
    }
    let live = if args.catch_up {
        args.validators - 1
    } else {
        args.validators
    };
    let mut nodes = spawn_nodes(&dir, 0..live)?;
    let urls: Vec<String> = (0..live)
        .map(|i| format!("http://127.0.0.1:{}", args.rpc_base_port + i as u16))
        .collect();
    let clients: Vec<RpcClient> = urls.iter().map(RpcClient::new).collect();
    wait_ready(&clients, 2)?;
    let chain_id = clients[0].status()?.chain_id;
    eprintln!(
        "{} validators up in {}; loading for {} s",
        args.validators,
        dir.display(),
        args.duration_secs
    );

    let submitted: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let rejected = Arc::new(AtomicU64::new(0));
    let first_rejection: Arc<Mutex<Option<String>>> = Arc::default();
    let mut workers = Vec::new();
    for t in 0..args.threads {
        let mine: Vec<PrivateKey> = senders
            .iter()
            .skip(t)
            .step_by(args.threads)
            .cloned()
            .collect();
        let (submitted, stop, sent, rejected, urls, chain_id, first_rejection) = (
            submitted.clone(),
            stop.clone(),
            sent.clone(),
            rejected.clone(),
            urls.clone(),
            chain_id.clone(),
            first_rejection.clone(),
        );
        let per_thread_rate = args.rate as f64 / args.threads as f64;
        let batch = args.batch;
        workers.push(std::thread::spawn(move || {
            let agent = ureq::Agent::new_with_defaults();
            // Each account talks to one node (as a wallet would), so its nonce run never
            // races gossip between nodes.
            let nodes = urls.len();
            let mut nonces = vec![0u64; mine.len()];
            let mut cursor = vec![0usize; nodes];
            let started = Instant::now();
            let mut count = 0u64;
            let mut round = 0usize;
            let recipient = mine[0].public_key();
            while !stop.load(Ordering::Relaxed) {
                let node = round % nodes;
                round += 1;
                let accounts: Vec<usize> = (0..mine.len()).filter(|i| i % nodes == node).collect();
                if accounts.is_empty() {
                    continue;
                }
                let mut requests = Vec::with_capacity(batch);
                let mut hashes = Vec::with_capacity(batch);
                for _ in 0..batch {
                    let i = accounts[cursor[node] % accounts.len()];
                    cursor[node] += 1;
                    let tx = Transaction {
                        chain_id: chain_id.clone(),
                        signer: mine[i].public_key(),
                        nonce: nonces[i],
                        fee: 1,
                        action: Action::Transfer { to: recipient.clone(), amount: 1 },
                    }
                    .sign(&mine[i]);
                    nonces[i] += 1;
                    hashes.push(to_hex(tx.hash()));
                    requests.push(json!({"jsonrpc":"2.0","id":requests.len(),"method":"cairn_submitTx","params":[encode_tx_hex(&tx)]}));
                }
                let now = Instant::now();
                {
                    let mut map = submitted.lock().unwrap();
                    for h in &hashes {
                        map.insert(h.clone(), now);
                    }
                }
                let url = &urls[node];
                let reply: Option<Value> = agent
                    .post(format!("{url}/"))
                    .send_json(Value::Array(requests))
                    .ok()
                    .and_then(|mut r| r.body_mut().read_json().ok());
                let errors = match reply.as_ref().and_then(Value::as_array) {
                    Some(replies) => {
                        let errors: Vec<&Value> = replies.iter().filter_map(|r| r.get("error")).collect();
                        if let Some(e) = errors.first() {
                            first_rejection.lock().unwrap().get_or_insert_with(|| e.to_string());
                        }
                        errors.len()
                    }
                    None => {
                        first_rejection.lock().unwrap().get_or_insert_with(|| format!("no batch reply: {reply:?}"));
                        batch
                    }
                };
                rejected.fetch_add(errors as u64, Ordering::Relaxed);
                sent.fetch_add(batch as u64, Ordering::Relaxed);
                count += batch as u64;
                if per_thread_rate > 0.0 {
                    let due = Duration::from_secs_f64(count as f64 / per_thread_rate);
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        std::thread::sleep(wait);
                    }
                }
            }
        }));
    }

    // Observe finality from validator 0: every finalized tx's latency since its submission.
    let warmup = Duration::from_secs(3);
    let begin = Instant::now();
    let measure_from = begin + warmup;
    let measure_to = measure_from + Duration::from_secs(args.duration_secs);
    let mut latencies_ms = Vec::new();
    let mut finalized_total = 0u64;
    let mut finalized_in_window = 0u64;
    let mut blocks_in_window = 0u64;
    let mut height = clients[0].status()?.height;
    while Instant::now() < measure_to {
        std::thread::sleep(Duration::from_millis(10));
        let tip = clients[0].status()?.height;
        while height < tip {
            height += 1;
            let block = clients[0].block_by_height(height)?;
            let now = Instant::now();
            let in_window = now >= measure_from;
            if in_window {
                blocks_in_window += 1;
            }
            finalized_total += block.txs.len() as u64;
            let mut map = submitted.lock().unwrap();
            for tx in &block.txs {
                if let Some(at) = map.remove(&tx.hash)
                    && in_window
                {
                    finalized_in_window += 1;
                    latencies_ms.push(now.duration_since(at).as_secs_f64() * 1e3);
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let catch_up = if args.catch_up {
        Some(catch_up(
            &args,
            &dir,
            &clients[0],
            &mut nodes,
            finalized_total,
        )?)
    } else {
        None
    };
    drop(nodes);
    latencies_ms.sort_by(f64::total_cmp);
    let window = args.duration_secs as f64;
    let report = json!({
        "validators": args.validators,
        "duration_s": args.duration_secs,
        "offered_tx": sent.load(Ordering::Relaxed),
        "rejected_tx": rejected.load(Ordering::Relaxed),
        "first_rejection": first_rejection.lock().unwrap().clone(),
        "finalized_tx_per_s": finalized_in_window as f64 / window,
        "blocks_per_s": blocks_in_window as f64 / window,
        "finality_ms_p50": percentile(&latencies_ms, 0.50),
        "finality_ms_p99": percentile(&latencies_ms, 0.99),
        "catch_up": catch_up,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Starts the validator kept down, and times its catch-up to the live nodes' tip. Bytes are
/// the transactions' encoded size (every load tx is a transfer of one size) plus the block
/// headers, so they are what was sent, not counting p2p framing.
fn catch_up(
    args: &LedgerBenchArgs,
    dir: &Path,
    live: &RpcClient,
    nodes: &mut Nodes,
    txs: u64,
) -> anyhow::Result<Value> {
    use commonware_codec::EncodeSize;
    let target = live.status()?.height;
    let sample = Transaction {
        chain_id: live.status()?.chain_id,
        signer: load_key(0).public_key(),
        nonce: 0,
        fee: 1,
        action: Action::Transfer {
            to: load_key(1).public_key(),
            amount: 1,
        },
    }
    .sign(&load_key(0));
    let bytes = txs * sample.encode_size() as u64 + target * BLOCK_HEADER_BYTES;
    let late = args.validators - 1;
    let client = RpcClient::new(format!(
        "http://127.0.0.1:{}",
        args.rpc_base_port + late as u16
    ));
    eprintln!("catch-up: starting validator {late}, {target} blocks / {txs} txs behind");
    let started = Instant::now();
    nodes.0.append(&mut spawn_nodes(dir, late..late + 1)?.0);
    let deadline = started + Duration::from_secs(600);
    loop {
        if client.status().map(|s| s.height >= target).unwrap_or(false) {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "validator {late} did not catch up to height {target} within 600 s (see node-{late}.log)"
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(json!({
        "blocks": target,
        "txs": txs,
        "bytes": bytes,
        "seconds": secs,
        "blocks_per_s": target as f64 / secs,
        "mb_per_s": bytes as f64 / 1e6 / secs,
        "tx_per_s": txs as f64 / secs,
    }))
}

/// Encoded block header bytes (context, parent, height, timestamp, roots, digest), rounded up.
const BLOCK_HEADER_BYTES: u64 = 256;
