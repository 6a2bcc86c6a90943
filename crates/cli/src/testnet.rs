// Supervising local processes waits on wall-clock deadlines; none of this is consensus code.
#![allow(clippy::disallowed_methods)]

//! `cairn testnet up|down|status|restart|add-node`: a local network of validator processes on 127.0.0.1,
//! managed only through files in its directory: `node-i.toml` (from `cairn testnet init`),
//! `node-i.pid` (the running process) and `node-i.log` (its stdout and stderr, appended).

use crate::{keys, node_cmd, query::short};
use anyhow::{Context, bail};
use cairn_node::config::NodeConfig;
use cairn_rpc::{api::Status, client::RpcClient};
use serde_json::json;
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Most nodes one testnet directory holds (`cairn testnet init` makes up to 100 validators;
/// `cairn testnet add-node` adds more).
const NODES_MAX: usize = 200;
/// Blocks per epoch of a new testnet: short enough to watch a validator join (about a minute
/// and a half on an idle network, which makes a block a second).
pub const EPOCH_BLOCKS_DEFAULT: u64 = 100;
/// Longest wait for a started node's RPC to answer `cairn_status`.
const READY_TIMEOUT_S: u64 = 60;
/// Longest wait for a node to exit after Ctrl-C (SIGINT) before it is killed.
const STOP_TIMEOUT_S: u64 = 10;
/// Longest wait for a process to vanish after SIGKILL.
const KILL_TIMEOUT_S: u64 = 5;
/// Pause between two checks of a process or an RPC endpoint.
const POLL_INTERVAL_MS: u64 = 200;
/// Password sealing the operator keys when none is given (local testnets only).
const DEFAULT_PASSWORD: &str = "testnet";
/// Lines of a node's log quoted when it fails to start.
const LOG_TAIL_LINES: usize = 5;
/// Bytes read from the end of a log to find those lines.
const LOG_TAIL_MAX_BYTES: u64 = 8 * 1024;

#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// Testnet directory (created with `cairn testnet init` when it holds no genesis.json).
    #[arg(long)]
    pub dir: PathBuf,
    /// Validators to create when the directory holds no testnet yet.
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// First p2p port when creating (validator i listens on base+i).
    #[arg(long, default_value_t = 26600)]
    pub p2p_base_port: u16,
    /// First RPC port when creating (validator i answers on base+i).
    #[arg(long, default_value_t = 8600)]
    pub rpc_base_port: u16,
    /// Blocks per epoch when creating: the validator set changes with stake at each epoch's
    /// last block.
    #[arg(long, default_value_t = EPOCH_BLOCKS_DEFAULT)]
    pub epoch_blocks: u64,
    #[command(flatten)]
    pub password: keys::PasswordArgs,
}

#[derive(clap::Args, Debug)]
pub struct DirArgs {
    /// Testnet directory.
    #[arg(long)]
    pub dir: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct RestartArgs {
    /// Testnet directory.
    #[arg(long)]
    pub dir: PathBuf,
    /// Index of the node to restart (node-i.toml).
    #[arg(long)]
    pub node: usize,
    /// Stop it with SIGKILL (a crash) instead of Ctrl-C (a clean stop).
    #[arg(long)]
    pub kill9: bool,
}

/// One validator of the testnet, as its directory describes it.
struct Node {
    index: usize,
    config: PathBuf,
    rpc_url: String,
}

impl Node {
    fn name(&self) -> String {
        format!("node-{}", self.index)
    }

    fn config_name(&self) -> String {
        format!("node-{}.toml", self.index)
    }

    fn pid_file(&self, dir: &Path) -> PathBuf {
        dir.join(format!("node-{}.pid", self.index))
    }

    fn log_file(&self, dir: &Path) -> PathBuf {
        dir.join(format!("node-{}.log", self.index))
    }

    /// The pid in this node's pid file, when that process is alive and runs this node.
    fn running_pid(&self, dir: &Path) -> Option<u32> {
        let pid = std::fs::read_to_string(self.pid_file(dir))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        is_node_process(pid, &self.config_name()).then_some(pid)
    }

    fn client(&self) -> RpcClient {
        RpcClient::new(&self.rpc_url)
    }
}

/// True when `/proc/<pid>` exists and its command line names `config_name` (a zombie's is empty,
/// and a recycled pid runs something else).
fn is_node_process(pid: u32, config_name: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    cmdline
        .split(|b| *b == 0)
        .filter_map(|arg| std::str::from_utf8(arg).ok())
        .any(|arg| Path::new(arg).file_name().is_some_and(|f| f == config_name))
}

/// The nodes of the testnet in `dir`, or an error saying how to make one.
fn load_nodes(dir: &Path) -> anyhow::Result<Vec<Node>> {
    let shown = dir.display();
    if !dir.join("genesis.json").exists() {
        bail!("no testnet in {shown}: run `cairn testnet up --dir {shown}`");
    }
    let mut nodes = Vec::new();
    for index in 0..NODES_MAX {
        let config = dir.join(format!("node-{index}.toml"));
        if !config.exists() {
            break;
        }
        let rpc_listen = NodeConfig::load(&config)?.rpc_listen;
        nodes.push(Node {
            index,
            config,
            rpc_url: format!("http://{rpc_listen}"),
        });
    }
    if nodes.is_empty() {
        bail!(
            "{shown} has a genesis.json but no node-0.toml: recreate it with `cairn testnet init --dir NEW_DIR`"
        );
    }
    Ok(nodes)
}

fn node_by_index(dir: &Path, index: usize) -> anyhow::Result<Node> {
    let nodes = load_nodes(dir)?;
    let count = nodes.len();
    nodes.into_iter().nth(index).with_context(|| {
        format!(
            "no node-{index} in {}: it has node-0 … node-{}",
            dir.display(),
            count - 1
        )
    })
}

/// Starts `node` as a detached process (its own process group, so a Ctrl-C in this terminal
/// does not reach it), appending to its log and recording its pid.
fn start(dir: &Path, node: &Node) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("cannot find the cairn executable")?;
    let config = node
        .config
        .canonicalize()
        .with_context(|| format!("cannot read {}", node.config.display()))?;
    let log_path = node.log_file(dir);
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let unix_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    std::io::Write::write_all(
        &mut log,
        format!(
            "--- cairn testnet: starting {} (unix time {unix_s}) ---\n",
            node.name()
        )
        .as_bytes(),
    )?;
    let child = Command::new(exe)
        .arg("node")
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {}", node.name()))?;
    std::fs::write(node.pid_file(dir), format!("{}\n", child.id()))
        .with_context(|| format!("cannot write {}", node.pid_file(dir).display()))?;
    Ok(child)
}

/// Sends `signal` (e.g. "INT", "KILL") to `pid` with the system's `kill`.
fn signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .context("cannot run `kill`")?;
    if !status.success() && std::path::Path::new(&format!("/proc/{pid}")).exists() {
        bail!("`kill -{signal} {pid}` failed ({status})");
    }
    Ok(())
}

/// Waits until none of `procs` (pid, config name) is alive or `timeout` passes; returns the
/// ones still alive.
fn wait_exit(procs: &[(u32, String)], timeout: Duration) -> Vec<(u32, String)> {
    let deadline = Instant::now() + timeout;
    loop {
        let alive: Vec<(u32, String)> = procs
            .iter()
            .filter(|(pid, name)| is_node_process(*pid, name))
            .cloned()
            .collect();
        if alive.is_empty() || Instant::now() >= deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(POLL_INTERVAL_MS));
    }
}

/// How a stop went.
enum Stopped {
    Clean,
    Killed,
}

/// Stops the process `pid` of `node`: SIGINT (or SIGKILL when `kill9`), waiting up to
/// [STOP_TIMEOUT_S] before SIGKILL; removes the pid file.
fn stop(dir: &Path, node: &Node, pid: u32, kill9: bool) -> anyhow::Result<Stopped> {
    let proc = [(pid, node.config_name())];
    let outcome = if kill9 {
        signal(pid, "KILL")?;
        Stopped::Killed
    } else {
        signal(pid, "INT")?;
        if wait_exit(&proc, Duration::from_secs(STOP_TIMEOUT_S)).is_empty() {
            Stopped::Clean
        } else {
            signal(pid, "KILL")?;
            Stopped::Killed
        }
    };
    if !wait_exit(&proc, Duration::from_secs(KILL_TIMEOUT_S)).is_empty() {
        bail!(
            "{} (pid {pid}) is still alive after SIGKILL; check `ps -p {pid}`",
            node.name()
        );
    }
    let _ = std::fs::remove_file(node.pid_file(dir));
    Ok(outcome)
}

/// Waits until each node answers `cairn_status` (or its process, when we started it, exits)
/// within [READY_TIMEOUT_S]; one result per node, an error saying why it is not ready.
fn wait_ready(
    dir: &Path,
    nodes: &[&Node],
    children: &mut [Option<Child>],
) -> Vec<Result<Status, String>> {
    let deadline = Instant::now() + Duration::from_secs(READY_TIMEOUT_S);
    let clients: Vec<RpcClient> = nodes.iter().map(|n| n.client()).collect();
    let mut results: Vec<Option<Result<Status, String>>> = nodes.iter().map(|_| None).collect();
    loop {
        let mut last_errors = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            if results[i].is_some() {
                continue;
            }
            if let Some(Ok(Some(exit))) = children[i].as_mut().map(Child::try_wait) {
                let tail = log_tail(&node.log_file(dir));
                results[i] = Some(Err(format!(
                    "exited at start ({exit}); last lines of {}:\n{tail}",
                    node.log_file(dir).display()
                )));
                continue;
            }
            match clients[i].status() {
                Ok(status) => results[i] = Some(Ok(status)),
                Err(e) => last_errors.push((i, e.to_string())),
            }
        }
        if last_errors.is_empty() || Instant::now() >= deadline {
            for (i, error) in last_errors {
                let log = nodes[i].log_file(dir);
                results[i] = Some(Err(format!(
                    "RPC not answering after {READY_TIMEOUT_S} s ({error}); see {}",
                    log.display()
                )));
            }
            return results
                .into_iter()
                .map(|r| r.unwrap_or_else(|| Err("not checked".into())))
                .collect();
        }
        std::thread::sleep(Duration::from_millis(POLL_INTERVAL_MS));
    }
}

/// The last [LOG_TAIL_LINES] lines of a log, indented.
fn log_tail(path: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return "    (no log)".into();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_MAX_BYTES)));
    let mut bytes = Vec::new();
    let _ = file.take(LOG_TAIL_MAX_BYTES).read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..]
        .iter()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The operators' keystore password: the one given (file, `--password-env`, `CAIRN_PASSWORD`),
/// else [DEFAULT_PASSWORD], said aloud.
fn operator_password(args: &keys::PasswordArgs) -> anyhow::Result<String> {
    let given = args.password_file.is_some()
        || args.password_env.is_some()
        || std::env::var_os(keys::PASSWORD_ENV_DEFAULT).is_some();
    if given {
        return args.read("password for the operator keys", true);
    }
    println!(
        "operator keys sealed with the default password '{DEFAULT_PASSWORD}' (local testnets only; \
         set {} or pass --password-file to choose one)",
        keys::PASSWORD_ENV_DEFAULT
    );
    Ok(DEFAULT_PASSWORD.into())
}

/// `cairn testnet up`: creates the testnet when needed, starts every node not already running,
/// waits for their RPC and prints where they are.
pub fn up(args: UpArgs) -> anyhow::Result<i32> {
    let dir = &args.dir;
    if !dir.join("genesis.json").exists() {
        let password = operator_password(&args.password)?;
        node_cmd::testnet_init(
            dir,
            args.validators,
            args.p2p_base_port,
            args.rpc_base_port,
            &password,
            &[],
            args.epoch_blocks,
        )?;
    }
    let nodes = load_nodes(dir)?;
    let mut children = Vec::new();
    for node in &nodes {
        match node.running_pid(dir) {
            Some(pid) => {
                println!("{} already running (pid {pid})", node.name());
                children.push(None);
            }
            None => children.push(Some(start(dir, node)?)),
        }
    }
    println!(
        "waiting for {} nodes to answer on RPC (up to {READY_TIMEOUT_S} s)…",
        nodes.len()
    );
    let refs: Vec<&Node> = nodes.iter().collect();
    let ready = wait_ready(dir, &refs, &mut children);
    println!("{:<8} {:>8}  {:<24} {:>8}", "node", "pid", "RPC", "height");
    for (node, result) in nodes.iter().zip(&ready) {
        let pid = node
            .running_pid(dir)
            .map_or("-".to_string(), |p| p.to_string());
        let height = match result {
            Ok(status) => status.height.to_string(),
            Err(_) => "down".to_string(),
        };
        println!(
            "{:<8} {:>8}  {:<24} {:>8}",
            node.name(),
            pid,
            node.rpc_url,
            height
        );
    }
    let shown = dir.display();
    let failed: Vec<String> = nodes
        .iter()
        .zip(&ready)
        .filter_map(|(node, r)| r.as_ref().err().map(|e| format!("{}: {e}", node.name())))
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} of {} nodes are not up:\n{}\nfix the cause, then `cairn testnet up --dir {shown}` starts the missing ones \
             (`cairn testnet down --dir {shown}` stops the rest)",
            failed.len(),
            nodes.len(),
            failed.join("\n")
        );
    }
    println!(
        "testnet up: {} validators in {shown}; operator keys in {}",
        nodes.len(),
        dir.join("keys").display()
    );
    println!("next:");
    println!(
        "  cairn testnet status --dir {shown}                 # heights, state roots, mempools"
    );
    println!(
        "  tail -f {}                  # a node's log",
        nodes[0].log_file(dir).display()
    );
    println!("  cairn --rpc {} query status", nodes[0].rpc_url);
    println!(
        "  cairn testnet restart --dir {shown} --node 1 [--kill9]   # stop one node and start it again"
    );
    println!(
        "  cairn testnet add-node --dir {shown}               # a new node; register it with `cairn tx create-validator`"
    );
    println!("  cairn testnet down --dir {shown}                   # stop every node");
    Ok(0)
}

/// `cairn testnet down`: Ctrl-C to every running node, SIGKILL for those still up after
/// [STOP_TIMEOUT_S]; removes the pid files.
pub fn down(args: DirArgs) -> anyhow::Result<i32> {
    let dir = &args.dir;
    let nodes = load_nodes(dir)?;
    let running: Vec<(&Node, u32)> = nodes
        .iter()
        .filter_map(|n| n.running_pid(dir).map(|p| (n, p)))
        .collect();
    for (_, pid) in &running {
        signal(*pid, "INT")?;
    }
    let procs: Vec<(u32, String)> = running.iter().map(|(n, p)| (*p, n.config_name())).collect();
    let stragglers = wait_exit(&procs, Duration::from_secs(STOP_TIMEOUT_S));
    for (pid, _) in &stragglers {
        signal(*pid, "KILL")?;
    }
    let survivors = wait_exit(&stragglers, Duration::from_secs(KILL_TIMEOUT_S));
    for node in &nodes {
        let pid = running
            .iter()
            .find(|(n, _)| n.index == node.index)
            .map(|(_, p)| *p);
        let line = match pid {
            None => "not running".to_string(),
            Some(pid) if survivors.iter().any(|(p, _)| *p == pid) => {
                format!("pid {pid} STILL ALIVE after SIGKILL; check `ps -p {pid}`")
            }
            Some(pid) if stragglers.iter().any(|(p, _)| *p == pid) => {
                format!("pid {pid} killed (no exit within {STOP_TIMEOUT_S} s of Ctrl-C)")
            }
            Some(pid) => format!("pid {pid} stopped cleanly"),
        };
        if !pid.is_some_and(|p| survivors.iter().any(|(s, _)| *s == p)) {
            let _ = std::fs::remove_file(node.pid_file(dir));
        }
        println!("{:<8} {line}", node.name());
    }
    if !survivors.is_empty() {
        bail!("{} nodes could not be stopped", survivors.len());
    }
    println!(
        "testnet down; its state stays in {shown}: `cairn testnet up --dir {shown}` resumes it",
        shown = dir.display()
    );
    Ok(0)
}

/// What `cairn testnet status` reports for one node.
struct NodeReport {
    pid: Option<u32>,
    status: Result<Status, String>,
    /// Its state root differs from the majority of nodes at the same height.
    diverged: bool,
}

/// Marks each answering node whose state root differs from the most common root at its height
/// (a tie marks nobody: there is no majority to differ from).
fn mark_divergence(reports: &mut [NodeReport]) {
    let mut roots: BTreeMap<u64, BTreeMap<String, usize>> = BTreeMap::new();
    for r in reports.iter() {
        if let Ok(s) = &r.status {
            *roots
                .entry(s.height)
                .or_default()
                .entry(s.state_root.clone())
                .or_default() += 1;
        }
    }
    for r in reports.iter_mut() {
        if let Ok(s) = &r.status {
            let at_height = &roots[&s.height];
            let mine = at_height[&s.state_root];
            r.diverged = at_height.values().any(|&count| count > mine);
        }
    }
}

/// `cairn testnet status`: each node's process, height, tip, state root and mempool.
pub fn status(args: DirArgs, as_json: bool) -> anyhow::Result<i32> {
    let dir = &args.dir;
    let nodes = load_nodes(dir)?;
    let mut reports: Vec<NodeReport> = nodes
        .iter()
        .map(|n| NodeReport {
            pid: n.running_pid(dir),
            status: n.client().status().map_err(|e| e.to_string()),
            diverged: false,
        })
        .collect();
    mark_divergence(&mut reports);
    if as_json {
        let rows: Vec<serde_json::Value> = nodes
            .iter()
            .zip(&reports)
            .map(|(node, r)| {
                let mut row = json!({
                    "node": node.index,
                    "pid": r.pid,
                    "running": r.pid.is_some(),
                    "rpc": node.rpc_url,
                    "diverged": r.diverged,
                });
                match &r.status {
                    Ok(s) => {
                        row["height"] = json!(s.height);
                        row["last_block_hash"] = json!(s.last_block_hash);
                        row["state_root"] = json!(s.state_root);
                        row["mempool_size"] = json!(s.mempool_size);
                        row["epoch"] = json!(s.epoch);
                        row["validating"] = json!(s.in_active_set);
                    }
                    Err(e) => row["error"] = json!(e),
                }
                row
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    println!(
        "{:<8} {:>8}  {:<24} {:>8} {:>6}  {:<10} {:<14} {:<14} {:>7}",
        "node", "pid", "RPC", "height", "epoch", "role", "block", "state root", "mempool"
    );
    for (node, r) in nodes.iter().zip(&reports) {
        let pid = r.pid.map_or("stopped".to_string(), |p| p.to_string());
        match &r.status {
            Ok(s) => println!(
                "{:<8} {:>8}  {:<24} {:>8} {:>6}  {:<10} {:<14} {:<14} {:>7}{}",
                node.name(),
                pid,
                node.rpc_url,
                s.height,
                s.epoch,
                if s.in_active_set {
                    "validator"
                } else {
                    "follower"
                },
                short(&s.last_block_hash),
                short(&s.state_root),
                s.mempool_size,
                if r.diverged {
                    "  ← state root differs from the majority at this height"
                } else {
                    ""
                }
            ),
            Err(_) => println!(
                "{:<8} {:>8}  {:<24} {:>8}",
                node.name(),
                pid,
                node.rpc_url,
                "no RPC"
            ),
        }
    }
    let shown = dir.display();
    if reports.iter().any(|r| r.pid.is_none()) {
        println!("stopped nodes start again with `cairn testnet up --dir {shown}`");
    } else if reports.iter().any(|r| r.status.is_err()) {
        println!(
            "a running node without RPC may still be starting; see its log ({shown}/node-i.log)"
        );
    }
    if reports.iter().any(|r| r.diverged) {
        println!(
            "a diverged node computed a different state for the same block: keep its log and data dir and report it"
        );
    }
    Ok(0)
}

/// `cairn testnet restart`: stops one node (Ctrl-C, or SIGKILL with `--kill9`) and starts it
/// again with the same config, data and log.
pub fn restart(args: RestartArgs) -> anyhow::Result<i32> {
    let dir = &args.dir;
    let node = node_by_index(dir, args.node)?;
    match node.running_pid(dir) {
        Some(pid) => {
            let how = match stop(dir, &node, pid, args.kill9)? {
                Stopped::Clean => "stopped cleanly (Ctrl-C)".to_string(),
                Stopped::Killed if args.kill9 => "killed (SIGKILL)".to_string(),
                Stopped::Killed => format!("killed (no exit within {STOP_TIMEOUT_S} s of Ctrl-C)"),
            };
            println!("{} (pid {pid}) {how}", node.name());
        }
        None => println!("{} was not running", node.name()),
    }
    let mut children = vec![Some(start(dir, &node)?)];
    let pid = children[0].as_ref().map_or(0, Child::id);
    let ready = wait_ready(dir, &[&node], &mut children);
    match &ready[0] {
        Ok(status) => {
            println!(
                "{} started again: pid {pid}, RPC {}, height {}",
                node.name(),
                node.rpc_url,
                status.height
            );
            println!(
                "it backfills the blocks it missed from its peers; watch with `cairn testnet status --dir {}`",
                dir.display()
            );
            Ok(0)
        }
        Err(e) => bail!("{} (pid {pid}) did not come back: {e}", node.name()),
    }
}

/// `cairn testnet add-node`: writes `node-N.toml` with a fresh validator key (ports after the
/// last node's, every existing node a bootstrapper), starts it and says how to register it.
/// Until `cairn tx create-validator` registers its key, peers do not admit it; once they do, it
/// catches up from them and votes from the epoch its bond puts it in.
pub fn add_node(args: DirArgs) -> anyhow::Result<i32> {
    let dir = &args.dir;
    let shown = dir.display();
    let nodes = load_nodes(dir)?;
    if nodes.len() >= NODES_MAX {
        bail!("{shown} already holds {NODES_MAX} nodes, the most one testnet directory may");
    }
    let index = nodes.len();
    let mut bootstrappers = Vec::new();
    for node in &nodes {
        let config = NodeConfig::load(&node.config)?;
        let key = cairn_node::config::read_key_file(&config.key_file)
            .with_context(|| format!("reading {}'s validator key", node.name()))?;
        bootstrappers.push(cairn_node::config::Bootstrapper {
            public_key: cairn_types::to_hex(commonware_cryptography::Signer::public_key(&key)),
            address: config.p2p_listen,
        });
    }
    let last = NodeConfig::load(&nodes[index - 1].config)?;
    let next_port =
        |addr: std::net::SocketAddr, flag: &str| -> anyhow::Result<std::net::SocketAddr> {
            let port = addr
                .port()
                .checked_add(1)
                .with_context(|| format!("no {flag} port after {addr}"))?;
            Ok(std::net::SocketAddr::new(addr.ip(), port))
        };
    let home = dir.join(format!("node-{index}"));
    std::fs::create_dir_all(&home).with_context(|| format!("cannot create {}", home.display()))?;
    let key_path = home.join("validator.key");
    if key_path.exists() {
        bail!(
            "{} already exists: remove the half-made node-{index} directory first",
            key_path.display()
        );
    }
    let key = node_cmd::random_key();
    cairn_node::config::write_key_file(&key_path, &key)?;
    let config = NodeConfig {
        genesis: "genesis.json".into(),
        key_file: format!("node-{index}/validator.key").into(),
        data_dir: format!("node-{index}/data").into(),
        p2p_listen: next_port(last.p2p_listen, "p2p")?,
        rpc_listen: next_port(last.rpc_listen, "RPC")?,
        bootstrappers,
        log: "info".into(),
    };
    let config_path = dir.join(format!("node-{index}.toml"));
    config.save(&config_path)?;
    let node = Node {
        index,
        config: config_path,
        rpc_url: format!("http://{}", config.rpc_listen),
    };
    let mut children = vec![Some(start(dir, &node)?)];
    let ready = wait_ready(dir, &[&node], &mut children);
    if let Some(Err(e)) = ready.first() {
        bail!("{} did not come up: {e}", node.name());
    }
    let public = cairn_types::to_hex(commonware_cryptography::Signer::public_key(&key));
    println!("{} started with validator key {public}", node.name());
    println!(
        "  RPC {}   log {}",
        node.rpc_url,
        node.log_file(dir).display()
    );
    println!(
        "it follows the chain once a validator registers its key, and votes from the next epoch:"
    );
    println!(
        "  CAIRN_PASSWORD={DEFAULT_PASSWORD} cairn --rpc {} --keystore {} tx create-validator --from operator-0 \\\n      --key-file {} --moniker {} --self-bond {}",
        nodes[0].rpc_url,
        dir.join("keys").display(),
        key_path.display(),
        node.name(),
        node_cmd::GENESIS_STAKE
    );
    println!(
        "then `cairn testnet status --dir {shown}` shows it catching up and, after the epoch's last block, validating"
    );
    Ok(0)
}
