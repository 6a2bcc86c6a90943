//! Opt-in network benchmark on commonware's deterministic runtime and simulated p2p network:
//! real Cairn engines, links with a fixed one-way latency (default 50 ms, ±5 ms jitter, no
//! loss), signed transfers offered at a fixed rate.
//!
//! ```sh
//! cargo run --release -p cairn-node --example sim_bench -- load --validators 4 --rate 1000 --secs 40
//! cargo run --release -p cairn-node --example sim_bench -- catchup --blocks 300 --rate 1000
//! ```
//!
//! All latencies and rates are in *simulated* time. The deterministic runtime advances its clock
//! by one 1 ms cycle per scheduler pass (or jumps to the next timer when every task is idle);
//! the CPU a pass spends (signature checks, re-execution, storage) is not charged to it. So these
//! figures are what the protocol costs on the modelled network with infinitely fast CPUs; the
//! wall time each run took is printed beside them, and process-level CPU costs are measured by
//! `cairn bench ledger`.

#[allow(dead_code, unused_imports)]
#[path = "../tests/it/sim.rs"]
mod sim;

use cairn_node::engine::NodeHandle;
use cairn_types::{Digest, PrivateKey, PublicKey};
use commonware_codec::EncodeSize;
use commonware_cryptography::Signer;
use commonware_p2p::simulated::Link;
use commonware_runtime::{Clock, Runner, deterministic};
use commonware_utils::probability;
use sim::*;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// Funded accounts that send transfers; each sends only through one node (as a wallet would).
const SENDERS: usize = 64;
/// Transactions submitted before this much simulated time has passed are not measured.
const WARMUP: Duration = Duration::from_secs(5);
/// After the load stops, how long to wait for measured transactions to finalize.
const DRAIN_MAX: Duration = Duration::from_secs(30);
/// Simulated-time step of the submit/observe loop (the runtime's own cycle is 1 ms).
const STEP: Duration = Duration::from_millis(1);
/// The whole simulation gives up after this much simulated time.
const SIM_TIMEOUT: Duration = Duration::from_secs(7_200);

#[derive(Clone, Copy, Debug)]
struct Args {
    validators: usize,
    rate: u64,
    secs: u64,
    blocks: u64,
    latency_ms: u64,
    jitter_ms: u64,
    bandwidth_mbps: Option<u64>,
    seed: u64,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            validators: 4,
            rate: 1_000,
            secs: 40,
            blocks: 300,
            latency_ms: 50,
            jitter_ms: 5,
            bandwidth_mbps: None,
            seed: 1,
        }
    }
}

fn parse(mut it: impl Iterator<Item = String>) -> Args {
    let mut args = Args::default();
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let number: u64 = value
            .parse()
            .unwrap_or_else(|_| panic!("{flag}: not a number: {value}"));
        match flag.as_str() {
            "--validators" => args.validators = number as usize,
            "--rate" => args.rate = number,
            "--secs" => args.secs = number,
            "--blocks" => args.blocks = number,
            "--latency-ms" => args.latency_ms = number,
            "--jitter-ms" => args.jitter_ms = number,
            "--bandwidth-mbps" => args.bandwidth_mbps = Some(number),
            "--seed" => args.seed = number,
            _ => panic!("unknown flag {flag}"),
        }
    }
    args
}

fn link(args: &Args) -> Link {
    Link {
        latency: Duration::from_millis(args.latency_ms),
        jitter: Duration::from_millis(args.jitter_ms),
        success_rate: probability!(1.0),
    }
}

fn runner(seed: u64) -> deterministic::Runner {
    deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(seed)
            .with_timeout(Some(SIM_TIMEOUT)),
    )
}

fn since(context: &deterministic::Context, start: SystemTime) -> Duration {
    context.current().duration_since(start).unwrap_or_default()
}

/// Offers signed transfers at a fixed rate, each sender's nonce run through one node.
struct Load {
    senders: Vec<PrivateKey>,
    nonces: Vec<u64>,
    next_sender: usize,
    recipient: PublicKey,
    offered: u64,
    rejected: u64,
    /// Submission time of every transaction not yet seen finalized.
    submitted: BTreeMap<Digest, SystemTime>,
}

impl Load {
    /// Senders are accounts `n..n + SENDERS`; the recipient is the account after them.
    fn new(validators: usize) -> Load {
        Load {
            senders: (validators..validators + SENDERS)
                .map(account_key)
                .collect(),
            nonces: vec![0; SENDERS],
            next_sender: 0,
            recipient: account_key(validators + SENDERS).public_key(),
            offered: 0,
            rejected: 0,
            submitted: BTreeMap::new(),
        }
    }

    /// Submits transactions until `rate × elapsed` have been offered.
    fn top_up(&mut self, nodes: &[NodeHandle], rate: u64, elapsed: Duration, now: SystemTime) {
        let due = (rate as u128 * elapsed.as_millis() / 1_000) as u64;
        while self.offered < due {
            let s = self.next_sender;
            self.next_sender = (s + 1) % SENDERS;
            let tx = transfer(&self.senders[s], self.nonces[s], &self.recipient, 1);
            let hash = tx.hash();
            match nodes[s % nodes.len()].chain.lock().unwrap().submit(tx) {
                Ok(_) => {
                    self.nonces[s] += 1;
                    self.submitted.insert(hash, now);
                }
                Err(_) => self.rejected += 1,
            }
            self.offered += 1;
        }
    }
}

/// Watches one node's finalized blocks and records each measured transaction's latency.
#[derive(Default)]
struct Observer {
    next_height: u64,
    latencies: Vec<Duration>,
    window_blocks: u64,
    window_txs: u64,
    window_bytes: u64,
}

impl Observer {
    fn poll(
        &mut self,
        node: &NodeHandle,
        load: &mut Load,
        now: SystemTime,
        window: (SystemTime, SystemTime),
    ) {
        let tip = height(node);
        while self.next_height < tip {
            self.next_height += 1;
            let block = node
                .chain
                .lock()
                .unwrap()
                .recent_block(self.next_height)
                .expect("polled within the recent window");
            if now >= window.0 && now < window.1 {
                self.window_blocks += 1;
                self.window_txs += block.txs.len() as u64;
                self.window_bytes += block.encode_size() as u64;
            }
            for tx in &block.txs {
                if let Some(at) = load.submitted.remove(&tx.hash())
                    && at >= window.0
                    && at < window.1
                {
                    self.latencies
                        .push(now.duration_since(at).unwrap_or_default());
                }
            }
        }
    }
}

fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

async fn limit_bandwidth(net: &Net, args: &Args) {
    if let Some(mbps) = args.bandwidth_mbps {
        let bytes_per_second = Some(mbps as usize * 1_000_000 / 8);
        for peer in &net.participants {
            net.oracle
                .limit_bandwidth(peer.clone(), bytes_per_second, bytes_per_second)
                .await
                .expect("limit bandwidth");
        }
    }
}

/// Steady load through `validators` nodes; latency observed on node 0.
#[allow(clippy::disallowed_methods)] // reason: wall time of the run, reported beside simulated time
fn load(args: Args) {
    let wall = std::time::Instant::now();
    let n = args.validators;
    let report = runner(args.seed).start(|context| async move {
        let net = Net::start(&context, n, n + SENDERS + 1, link(&args), n).await;
        limit_bandwidth(&net, &args).await;
        let start = context.current();
        let window = (start + WARMUP, start + Duration::from_secs(args.secs));
        let (mut load, mut observer) = (Load::new(n), Observer::default());
        while context.current() < window.1 {
            load.top_up(
                &net.nodes,
                args.rate,
                since(&context, start),
                context.current(),
            );
            observer.poll(&net.nodes[0], &mut load, context.current(), window);
            context.sleep(STEP).await;
        }
        let drain = context.current();
        let measured = |l: &Load| {
            l.submitted
                .values()
                .filter(|at| **at >= window.0 && **at < window.1)
                .count()
        };
        while measured(&load) > 0 && since(&context, drain) < DRAIN_MAX {
            observer.poll(&net.nodes[0], &mut load, context.current(), window);
            context.sleep(STEP).await;
        }
        (
            observer,
            measured(&load),
            load.rejected,
            height(&net.nodes[0]),
        )
    });
    let (mut observer, unfinalized, rejected, tip) = report;
    observer.latencies.sort();
    let window_secs = (args.secs as f64) - WARMUP.as_secs_f64();
    println!(
        "load: validators={n} link={}±{} ms offered={} tx/s sim={} s (measured {:.0} s after {} s warm-up) seed={}",
        args.latency_ms,
        args.jitter_ms,
        args.rate,
        args.secs,
        window_secs,
        WARMUP.as_secs(),
        args.seed
    );
    println!(
        "  finalized {:.0} tx/s, {:.2} blocks/s, {:.0} tx/block, {:.1} KB/block (simulated time)",
        observer.window_txs as f64 / window_secs,
        observer.window_blocks as f64 / window_secs,
        observer.window_txs as f64 / observer.window_blocks.max(1) as f64,
        observer.window_bytes as f64 / observer.window_blocks.max(1) as f64 / 1e3,
    );
    println!(
        "  finality (submit -> finalized on node 0): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms over {} txs; {unfinalized} unfinalized, {rejected} rejected; tip {tip}",
        percentile_ms(&observer.latencies, 0.50),
        percentile_ms(&observer.latencies, 0.99),
        percentile_ms(&observer.latencies, 1.0),
        observer.latencies.len(),
    );
    println!("  wall time {:.1} s", wall.elapsed().as_secs_f64());
}

/// Bytes of blocks `from..=to` as `node` finalized them.
async fn block_bytes(node: &NodeHandle, from: u64, to: u64) -> u64 {
    let mut bytes = 0;
    for h in from..=to {
        let recent = node.chain.lock().unwrap().recent_block(h);
        bytes += match recent {
            Some(block) => block.encode_size(),
            None => {
                let block = node
                    .marshal
                    .get_block(commonware_consensus::types::Height::new(h))
                    .await
                    .expect("archived");
                block.inner().encode_size()
            }
        } as u64;
    }
    bytes
}

/// 3 of 4 validators build `blocks` blocks under load; then the 4th starts from empty storage
/// and backfills through marshal. Reports how fast it reaches the tip it saw at start.
#[allow(clippy::disallowed_methods)] // reason: wall time of the catch-up, reported beside simulated time
fn catchup(args: Args) {
    let wall_total = std::time::Instant::now();
    let n = 4;
    let report = runner(args.seed).start(|context| async move {
        let net = Net::start(&context, n, n + SENDERS + 1, link(&args), n - 1).await;
        limit_bandwidth(&net, &args).await;
        let (start, mut load) = (context.current(), Load::new(n));
        while height(&net.nodes[0]) < args.blocks {
            load.top_up(
                &net.nodes,
                args.rate,
                since(&context, start),
                context.current(),
            );
            load.submitted.clear(); // latency is not measured here
            context.sleep(STEP).await;
        }
        let build_sim = since(&context, start);
        let target = height(&net.nodes[0]);
        let bytes = block_bytes(&net.nodes[0], 1, target).await;
        let txs: u64 = (1..=target)
            .filter_map(|h| net.nodes[0].chain.lock().unwrap().recent_block(h))
            .map(|b| b.txs.len() as u64)
            .sum();

        let wall = std::time::Instant::now();
        let joined = context.current();
        let (_task, late) = start_validator(
            &context,
            &net.oracle,
            net.keys[n - 1].clone(),
            net.genesis.clone(),
            0,
        )
        .await;
        while height(&late) < target {
            context.sleep(STEP).await;
        }
        let (sync_sim, sync_wall) = (since(&context, joined), wall.elapsed());
        (build_sim, target, bytes, txs, sync_sim, sync_wall)
    });
    let (build_sim, target, bytes, txs, sync_sim, sync_wall) = report;
    let mb = bytes as f64 / 1e6;
    println!(
        "catchup: 3 of 4 validators built {target} blocks ({txs} txs, {mb:.2} MB) in {:.1} s simulated at {} tx/s offered; link={}±{} ms bandwidth={} seed={}",
        build_sim.as_secs_f64(),
        args.rate,
        args.latency_ms,
        args.jitter_ms,
        args.bandwidth_mbps
            .map_or("unlimited".into(), |m| format!("{m} Mbit/s per peer")),
        args.seed
    );
    for (label, took) in [("simulated", sync_sim), ("wall", sync_wall)] {
        let secs = took.as_secs_f64();
        println!(
            "  late joiner synced {target} blocks in {secs:.2} s {label}: {:.0} blocks/s, {:.2} MB/s, {:.0} tx/s re-executed",
            target as f64 / secs,
            mb / secs,
            txs as f64 / secs
        );
    }
    println!(
        "  wall time (whole run) {:.1} s",
        wall_total.elapsed().as_secs_f64()
    );
}

fn main() {
    let mut argv = std::env::args().skip(1);
    match argv.next().as_deref() {
        Some("load") => load(parse(argv)),
        Some("catchup") => catchup(parse(argv)),
        _ => {
            eprintln!(
                "usage: sim_bench load [--validators N] [--rate TX_PER_S] [--secs S] [--latency-ms 50] [--jitter-ms 5] [--bandwidth-mbps M] [--seed K]\n       sim_bench catchup [--blocks B] [--rate TX_PER_S] [--latency-ms 50] [--jitter-ms 5] [--bandwidth-mbps M] [--seed K]"
            );
            std::process::exit(2);
        }
    }
}
