// Tests measure wall-clock deadlines against real processes.
#![allow(clippy::disallowed_methods)]

//! A local network as `cairn testnet` runs it: four validator processes under a load of signed
//! transfers while one of them is killed with SIGKILL and restarted; afterwards every node agrees
//! and no transaction a node accepted is lost (about 10 s); and a fifth node that joins with the
//! CLI alone and becomes a validator the others need.

use cairn_rpc::client::RpcClient;
use cairn_types::{Action, PrivateKey, Transaction, to_hex};
use commonware_cryptography::Signer;
use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");
const VALIDATORS: usize = 4;
/// The node killed and restarted mid-load.
const RESTARTED: usize = 2;
/// Transfers accepted from the senders that talk to the other nodes.
const LOAD_TXS: usize = 160;
/// Transfers accepted by the restarted node after it came back.
const AFTER_RESTART_TXS: usize = 40;
/// The restart starts once this many transfers were accepted.
const RESTART_AT_TX: usize = 60;
/// Pause between two submissions, so the load spans the restart.
const SUBMIT_INTERVAL_MS: u64 = 40;
const LOAD_TIMEOUT_S: u64 = 120;
const CONVERGE_TIMEOUT_S: u64 = 120;
/// Wait for a converged node's receipts once node 0 has them all.
const RECEIPT_GRACE_S: u64 = 10;
const PASSWORD: &str = "testnet-process-test";

/// The first of `len` consecutive free ports on 127.0.0.1, outside `avoid`.
fn free_ports(len: u16, avoid: std::ops::Range<u16>) -> u16 {
    for _ in 0..200 {
        let first = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let Some(end) = first.checked_add(len) else {
            continue;
        };
        if avoid.contains(&first) || avoid.contains(&(end - 1)) {
            continue;
        }
        let held: Vec<_> = (first..end)
            .filter_map(|p| TcpListener::bind(("127.0.0.1", p)).ok())
            .collect();
        if held.len() == len as usize {
            return first;
        }
    }
    panic!("no run of {len} free ports on 127.0.0.1");
}

/// A testnet directory; `testnet down` runs whatever happens, and the directory (with the
/// nodes' logs) is kept when the test fails.
struct Net {
    dir: PathBuf,
}

/// Runs `cairn ARGS --dir DIR`.
fn cairn(dir: &Path, args: &[&str]) -> Output {
    Command::new(CAIRN)
        .args(args)
        .arg("--dir")
        .arg(dir)
        .env("CAIRN_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .output()
        .expect("run cairn")
}

/// Runs `cairn ARGS --dir DIR`, which must succeed; its stdout and stderr.
fn cairn_ok(dir: &Path, args: &[&str]) -> String {
    let out = cairn(dir, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "cairn {args:?} failed:\n{text}");
    text
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = cairn(&self.dir, &["testnet", "down"]);
        if std::thread::panicking() {
            eprintln!(
                "testnet directory kept for inspection: {}",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `cairn testnet up` with 4 validators, 10-block epochs and the given base ports.
fn testnet_up(dir: &Path, p2p: u16, rpc: u16) -> String {
    let (p2p, rpc) = (p2p.to_string(), rpc.to_string());
    cairn_ok(
        dir,
        &["testnet", "up", "--validators", "4", "--epoch-blocks", "10"]
            .into_iter()
            .chain(["--p2p-base-port", &p2p, "--rpc-base-port", &rpc])
            .collect::<Vec<_>>(),
    )
}

struct Sender {
    key: PrivateKey,
    node: usize,
    nonce: u64,
}

/// One transfer from `sender` to `to`, submitted to its node; the hash when accepted.
fn submit(
    sender: &mut Sender,
    to: &PrivateKey,
    chain_id: &str,
    clients: &[RpcClient],
) -> Result<String, String> {
    let tx = Transaction {
        chain_id: chain_id.to_string(),
        signer: sender.key.public_key(),
        nonce: sender.nonce,
        fee: 1,
        action: Action::Transfer {
            to: to.public_key(),
            amount: 1,
        },
    }
    .sign(&sender.key);
    let hash = clients[sender.node]
        .submit_tx(&tx)
        .map_err(|e| e.to_string())?;
    sender.nonce += 1;
    Ok(hash)
}

/// Waits until every node reports the same height and state root.
fn wait_converged(clients: &[RpcClient]) -> (u64, String) {
    let deadline = Instant::now() + Duration::from_secs(CONVERGE_TIMEOUT_S);
    loop {
        let tips: Vec<Option<(u64, String)>> = clients
            .iter()
            .map(|c| c.status().ok().map(|s| (s.height, s.state_root)))
            .collect();
        if let Some(Some(first)) = tips.first()
            && tips.iter().all(|t| t.as_ref() == Some(first))
        {
            return first.clone();
        }
        assert!(
            Instant::now() < deadline,
            "nodes did not converge within {CONVERGE_TIMEOUT_S} s: {tips:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `client` has a finalized receipt for each of `hashes`; returns the missing ones.
fn missing_receipts(client: &RpcClient, hashes: &[String], timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut missing: Vec<String> = hashes.to_vec();
    loop {
        missing.retain(|h| !matches!(client.tx_receipt(h), Ok(Some(_))));
        if missing.is_empty() || Instant::now() >= deadline {
            return missing;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The tests of this file each run a testnet of validator processes: one at a time, so a 2-core
/// machine is not asked to run nine nodes at once.
static ONE_TESTNET_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn testnet_loses_no_accepted_transaction_across_a_kill9_restart() {
    let _turn = ONE_TESTNET_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("cairn-testnet-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let p2p = free_ports(VALIDATORS as u16, 0..0);
    let rpc = free_ports(VALIDATORS as u16, p2p..p2p + VALIDATORS as u16);
    let _net = Net { dir: dir.clone() };
    // Short epochs, so the load and the restart span several epoch boundaries.
    let up = testnet_up(&dir, p2p, rpc);
    println!("{up}");

    let clients: Vec<RpcClient> = (0..VALIDATORS)
        .map(|i| RpcClient::new(format!("http://127.0.0.1:{}", rpc + i as u16)))
        .collect();
    let keystore = cairn_keystore::Keystore::open(dir.join("keys")).unwrap();
    let keys: Vec<PrivateKey> = (0..VALIDATORS)
        .map(|i| keystore.unlock(&format!("operator-{i}"), PASSWORD).unwrap())
        .collect();
    let chain_id = clients[0].status().unwrap().chain_id;
    // Operator i talks to node i only (as a wallet would), so its nonce run never races gossip.
    let mut senders: Vec<Sender> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let nonce = clients[i].account(&to_hex(key.public_key())).unwrap().nonce;
            Sender {
                key: key.clone(),
                node: i,
                nonce,
            }
        })
        .collect();

    // The load, on the nodes that stay up; node 2 is killed and restarted in the middle of it.
    let deadline = Instant::now() + Duration::from_secs(LOAD_TIMEOUT_S);
    let mut accepted: Vec<String> = Vec::new();
    let mut rejections: Vec<String> = Vec::new();
    let mut restart = None;
    let others: Vec<usize> = (0..VALIDATORS).filter(|&i| i != RESTARTED).collect();
    let mut round = 0;
    while accepted.len() < LOAD_TXS {
        assert!(
            Instant::now() < deadline,
            "load stalled: {} accepted; rejections: {rejections:?}",
            accepted.len()
        );
        if accepted.len() == RESTART_AT_TX && restart.is_none() {
            let dir = dir.clone();
            restart = Some(std::thread::spawn(move || {
                cairn_ok(
                    &dir,
                    &[
                        "testnet",
                        "restart",
                        "--node",
                        &RESTARTED.to_string(),
                        "--kill9",
                    ],
                )
            }));
        }
        let from = others[round % others.len()];
        round += 1;
        let to = keys[(from + 1) % VALIDATORS].clone();
        match submit(&mut senders[from], &to, &chain_id, &clients) {
            Ok(hash) => accepted.push(hash),
            Err(e) => rejections.push(e),
        }
        std::thread::sleep(Duration::from_millis(SUBMIT_INTERVAL_MS));
    }
    let restart_output = match restart.expect("restart began").join() {
        Ok(text) => text,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    println!("{restart_output}");

    // The restarted node takes transactions again.
    let mut after_restart = 0;
    while after_restart < AFTER_RESTART_TXS {
        assert!(
            Instant::now() < deadline,
            "restarted node stalled; rejections: {rejections:?}"
        );
        let to = keys[0].clone();
        match submit(&mut senders[RESTARTED], &to, &chain_id, &clients) {
            Ok(hash) => {
                accepted.push(hash);
                after_restart += 1;
            }
            Err(e) => rejections.push(e),
        }
        std::thread::sleep(Duration::from_millis(SUBMIT_INTERVAL_MS));
    }
    println!(
        "{} transfers accepted, {} rejected submissions: {rejections:?}",
        accepted.len(),
        rejections.len()
    );

    let (height, root) = wait_converged(&clients);
    println!(
        "all {VALIDATORS} nodes at height {height} (epoch {}), state root {root}",
        clients[0].status().map(|s| s.epoch).unwrap_or_default()
    );
    let status: Value =
        serde_json::from_str(&cairn_ok(&dir, &["--json", "testnet", "status"])).unwrap();
    for node in status.as_array().unwrap() {
        assert_eq!(node["running"], true, "{node}");
        assert_eq!(node["diverged"], false, "{node}");
    }

    // Zero lost transactions: every accepted one is finalized, on node 0 and on the restarted node.
    let missing = missing_receipts(
        &clients[0],
        &accepted,
        Duration::from_secs(CONVERGE_TIMEOUT_S),
    );
    assert!(
        missing.is_empty(),
        "node 0 has no receipt for {} of {} accepted txs: {missing:?}",
        missing.len(),
        accepted.len()
    );
    // The restarted node re-indexes receipts of blocks finalized before its crash from its
    // archive, so it must answer for every accepted transaction too.
    let missing = missing_receipts(
        &clients[RESTARTED],
        &accepted,
        Duration::from_secs(RECEIPT_GRACE_S),
    );
    assert!(
        missing.is_empty(),
        "restarted node {RESTARTED} has no receipt for {} of {} accepted txs: {missing:?}",
        missing.len(),
        accepted.len()
    );
    println!(
        "all {} accepted txs finalized with receipts on node 0 and the restarted node {RESTARTED}",
        accepted.len()
    );

    let down = cairn_ok(&dir, &["testnet", "down"]);
    println!("{down}");
    for (i, client) in clients.iter().enumerate() {
        assert!(
            !dir.join(format!("node-{i}.pid")).exists(),
            "node-{i}.pid left behind"
        );
        assert!(
            client.status().is_err(),
            "node {i} still answers after down"
        );
    }
    println!("wall time: {:.1} s", started.elapsed().as_secs_f64());
}

/// Waits until `check` holds for `client`'s status, or panics after `timeout` naming `what`.
fn wait_status(
    client: &RpcClient,
    timeout: Duration,
    what: &str,
    check: impl Fn(&cairn_rpc::api::Status) -> bool,
) -> cairn_rpc::api::Status {
    let deadline = Instant::now() + timeout;
    loop {
        let status = client.status();
        if let Ok(s) = &status
            && check(s)
        {
            return s.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{what} within {timeout:?}; last status {status:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_node_added_with_the_cli_alone_validates_from_the_next_epoch() {
    let _turn = ONE_TESTNET_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("cairn-testnet-join-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // `add-node` takes the ports after the last node's: reserve five of each.
    let p2p = free_ports(5, 0..0);
    let rpc = free_ports(5, p2p..p2p + 5);
    let _net = Net { dir: dir.clone() };
    testnet_up(&dir, p2p, rpc);
    let clients: Vec<RpcClient> = (0..5)
        .map(|i| RpcClient::new(format!("http://127.0.0.1:{}", rpc + i as u16)))
        .collect();

    // A new node: it runs, but validates nothing until its key is registered.
    let added = cairn_ok(&dir, &["testnet", "add-node"]);
    assert!(added.contains("node-4 started"), "{added}");
    let status = clients[4].status().expect("node-4 answers");
    assert!(
        !status.in_active_set,
        "an unregistered node is not a validator"
    );

    // Register it from the CLI, as add-node says; bad input first.
    let create = |key_file: &Path| {
        Command::new(CAIRN)
            .args(["--rpc", &format!("http://127.0.0.1:{rpc}"), "--keystore"])
            .arg(dir.join("keys"))
            .args([
                "tx",
                "create-validator",
                "--from",
                "operator-0",
                "--moniker",
                "node-4",
                "--self-bond",
                "1000000",
            ])
            .arg("--key-file")
            .arg(key_file)
            .env("CAIRN_PASSWORD", PASSWORD)
            .stdin(Stdio::null())
            .output()
            .expect("run cairn")
    };
    let missing = create(&dir.join("node-4/no-such.key"));
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("--key-file"),
        "{missing:?}"
    );
    let out = create(&dir.join("node-4/validator.key"));
    assert!(
        out.status.success(),
        "create-validator: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let registered_at = clients[0].status().unwrap().height;

    // At the end of the epoch it enters the set, having caught up from its peers.
    let joined = wait_status(
        &clients[4],
        Duration::from_secs(120),
        "node-4 never became a validator",
        |s| s.in_active_set,
    );
    assert!(
        joined.epoch >= 1 && joined.height >= registered_at,
        "{joined:?}"
    );
    assert_eq!(joined.validators, 5);

    // It votes: with node-0 killed, the other three genesis validators need node-4 for the
    // quorum of 4 out of 5.
    let pid: u32 = std::fs::read_to_string(dir.join("node-0.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let before = clients[1].status().unwrap().height;
    for (i, client) in clients.iter().enumerate().skip(1) {
        wait_status(
            client,
            Duration::from_secs(90),
            &format!("node-{i} stopped finalizing without node-0"),
            |s| s.height >= before + 5,
        );
    }
    let (height, root) = wait_converged(&clients[1..]);
    println!(
        "node-4 registered at height {registered_at}, validating from epoch {} (height {}); without node-0 the set reached \
         height {height} (root {root}); wall time {:.1} s",
        joined.epoch,
        joined.height,
        started.elapsed().as_secs_f64()
    );
}
