// The test measures wall-clock deadlines and memory against a real process.
#![allow(clippy::disallowed_methods)]

//! A validator under RPC abuse, as a real process: `cairn node --dev` under `ulimit -n 1024`
//! while this test holds 1,100 half-sent HTTP requests open (reopening whatever the node
//! closes) and 40 clients flood it with 32 MiB uploads, for 15 s. Throughout, the node must
//! keep finalizing, answer `cairn query status` every second, refuse the excess uploads with a
//! clear HTTP error, and stay under 1 GiB resident.
//!
//! Before the RPC limits, the half-sent requests alone filled the node's file table and
//! consensus panicked on "Too many open files"; the uploads took it past 3 GB.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod common;

use common::{CAIRN, Cli, free_port};

/// The node's open-file limit, as an operator who never raised it would have.
const NODE_FD_LIMIT: u64 = 1_024;
/// Half-sent requests held open at once: more than the node's whole file table.
const HALF_SENT_REQUESTS: usize = 1_100;
/// Clients uploading at once, each blob this large (the RPC blob limit).
const UPLOADERS: usize = 40;
const UPLOAD_BYTES: usize = 32 * 1024 * 1024;
/// How long the abuse lasts.
const ABUSE: Duration = Duration::from_secs(15);
/// Between two status queries (and two memory samples).
const STATUS_INTERVAL: Duration = Duration::from_secs(1);
/// Between two passes of the attacker over its sockets (reopening what the node closed).
const ATTACK_PASS_INTERVAL: Duration = Duration::from_millis(500);
/// Pause of an uploader after a refusal.
const UPLOAD_RETRY_INTERVAL: Duration = Duration::from_millis(250);
/// The most resident memory the node may reach.
const NODE_RSS_MAX_BYTES: u64 = 1 << 30;
/// Blocks the node must finalize during the abuse (one every few seconds at least).
const HEIGHT_GROWTH_MIN: u64 = 3;

/// A request head cut off before its blank line.
const HALF_SENT_HEAD: &[u8] =
    b"POST / HTTP/1.1\r\nHost: cairn\r\nContent-Type: application/json\r\n";

#[test]
fn a_node_under_ulimit_1024_survives_half_sent_requests_and_an_upload_flood() {
    raise_own_fd_limit(HALF_SENT_REQUESTS as u64 + 512);
    let home = std::env::temp_dir().join(format!("cairn-rpc-abuse-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let (rpc, p2p) = (free_port(), free_port());
    let mut node = LimitedNode::start(&home, rpc, p2p);
    let cli = Cli {
        rpc: format!("http://127.0.0.1:{rpc}"),
        keystore: home.join("keys"),
    };
    cli.wait_height(1);
    let addr: SocketAddr = format!("127.0.0.1:{rpc}").parse().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let attacker = spawn_attacker(addr, stop.clone());
    let uploaders: Vec<_> = (0..UPLOADERS)
        .map(|i| spawn_uploader(addr, i as u64, stop.clone()))
        .collect();
    let watch = watch_node(&cli, node.pid(), &node.log);
    stop.store(true, Ordering::SeqCst);
    let attack = attacker.join().expect("attacker");
    let outcomes: Vec<Outcome> = uploaders
        .into_iter()
        .flat_map(|u| u.join().expect("uploader"))
        .collect();

    let alive = node.alive();
    let log = std::fs::read_to_string(&node.log).unwrap_or_default();
    let report = format!(
        "attack: {attack:?}\nheights: {:?}\nRSS peak: {} MiB\nuploads: {}\nnode log tail:\n{}",
        watch.heights,
        watch.rss_peak_bytes >> 20,
        summarize(&outcomes),
        tail(&log, 30)
    );
    eprintln!("{report}");
    assert!(alive, "the node died\n{report}");
    assert!(
        !log.contains("Too many open files"),
        "the node ran out of file handles\n{report}"
    );
    assert_eq!(
        watch.failures,
        Vec::<String>::new(),
        "status failed\n{report}"
    );
    let (first, last) = (watch.heights[0], watch.heights[watch.heights.len() - 1]);
    assert!(
        last >= first + HEIGHT_GROWTH_MIN,
        "the node stopped finalizing\n{report}"
    );
    assert!(
        attack.opened >= HALF_SENT_REQUESTS,
        "the attack never reached full strength\n{report}"
    );
    assert!(
        watch.rss_peak_bytes < NODE_RSS_MAX_BYTES,
        "the node grew past 1 GiB\n{report}"
    );
    check_uploads(&outcomes, &report);
    node.stop();
    // The store holds up to 128 MiB of test blobs: leave nothing behind.
    let _ = std::fs::remove_dir_all(&home);
    let _ = std::fs::remove_file(home.with_extension("log"));
}

/// Raises this process's soft open-file limit to its hard limit: the attack needs more
/// sockets than a default soft limit of 1,024 allows.
fn raise_own_fd_limit(needed: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    setrlimit(Resource::Nofile, raised).expect("raise the open-file soft limit");
    let soft = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    assert!(
        soft >= needed,
        "this test needs {needed} open files; the hard limit allows {soft} (raise `ulimit -Hn`)"
    );
}

/// `cairn node --dev` started by a shell that first lowers its open-file limit to
/// [NODE_FD_LIMIT] (soft and hard, so the node cannot raise it back).
struct LimitedNode {
    child: Child,
    log: std::path::PathBuf,
}

impl LimitedNode {
    fn start(home: &std::path::Path, rpc: u16, p2p: u16) -> Self {
        let log = home.with_extension("log");
        let script = format!("ulimit -n {NODE_FD_LIMIT} && exec \"$0\" \"$@\"");
        let child = Command::new("bash")
            .args(["-c", &script, CAIRN, "node", "--dev", "--home"])
            .arg(home)
            .args(["--rpc-listen", &format!("127.0.0.1:{rpc}")])
            .args(["--p2p-listen", &format!("127.0.0.1:{p2p}")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start cairn node");
        Self { child, log }
    }

    /// The node's pid (the shell `exec`s it).
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LimitedNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the attacker managed.
#[derive(Debug, Default)]
struct Attack {
    /// Connections opened in all (first ones and reopened ones).
    opened: usize,
    /// Of them, reopened after the node closed them (evicted or timed out).
    reopened: usize,
    /// Connects that failed.
    connect_failures: usize,
}

/// Opens [HALF_SENT_REQUESTS] connections that each send half a request head, then keeps
/// that many open until `stop`: every pass, whatever the node closed is reopened.
fn spawn_attacker(addr: SocketAddr, stop: Arc<AtomicBool>) -> JoinHandle<Attack> {
    std::thread::spawn(move || {
        let mut attack = Attack::default();
        let mut sockets: Vec<Option<TcpStream>> = (0..HALF_SENT_REQUESTS).map(|_| None).collect();
        while !stop.load(Ordering::SeqCst) {
            for slot in sockets.iter_mut() {
                if slot.as_mut().is_some_and(still_open) {
                    continue;
                }
                let reopening = slot.is_some();
                *slot = half_sent(addr);
                match slot {
                    Some(_) => {
                        attack.opened += 1;
                        attack.reopened += usize::from(reopening);
                    }
                    None => attack.connect_failures += 1,
                }
            }
            std::thread::sleep(ATTACK_PASS_INTERVAL);
        }
        attack
    })
}

fn half_sent(addr: SocketAddr) -> Option<TcpStream> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.write_all(HALF_SENT_HEAD).ok()?;
    stream.set_nonblocking(true).ok()?;
    Some(stream)
}

/// Whether the node has not closed `stream` (a non-blocking read would block).
fn still_open(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 512];
    match stream.read(&mut buf) {
        Ok(0) => false,
        Ok(_) => false, // an answer (an error) means it is closing
        Err(e) => e.kind() == ErrorKind::WouldBlock,
    }
}

/// One upload attempt: the HTTP status and the node's message.
#[derive(Debug, Clone)]
struct Outcome {
    status: u16,
    body: String,
}

/// Uploads distinct 32 MiB blobs, one after the other, until `stop`; each waits for the
/// node's go-ahead (`Expect: 100-continue`) before sending its body, as the CLI does.
fn spawn_uploader(addr: SocketAddr, seed: u64, stop: Arc<AtomicBool>) -> JoinHandle<Vec<Outcome>> {
    std::thread::spawn(move || {
        let mut outcomes = Vec::new();
        let mut attempt = 0u64;
        while !stop.load(Ordering::SeqCst) {
            let unique = seed << 32 | attempt;
            attempt += 1;
            let outcome = upload(addr, unique).unwrap_or_else(|e| Outcome {
                status: 0,
                body: e.to_string(),
            });
            let refused = outcome.status != 200;
            outcomes.push(outcome);
            if refused {
                std::thread::sleep(UPLOAD_RETRY_INTERVAL);
            }
        }
        outcomes
    })
}

fn upload(addr: SocketAddr, unique: u64) -> std::io::Result<Outcome> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let head = format!(
        "PUT /blobs HTTP/1.1\r\nHost: cairn\r\nContent-Length: {UPLOAD_BYTES}\r\n\
         Expect: 100-continue\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes())?;
    let mut reader = Answers::default();
    let (status, body) = reader.next(&mut stream)?;
    if status != 100 {
        return Ok(Outcome { status, body });
    }
    send_blob_body(&mut stream, unique)?;
    let (status, body) = reader.next(&mut stream)?;
    Ok(Outcome { status, body })
}

/// A distinct blob of [UPLOAD_BYTES]: `unique` in its first bytes, a fixed pattern after.
fn send_blob_body(stream: &mut TcpStream, unique: u64) -> std::io::Result<()> {
    const CHUNK: usize = 1024 * 1024;
    let mut chunk: Vec<u8> = (0..CHUNK).map(|i| (i % 251) as u8).collect();
    chunk[..8].copy_from_slice(&unique.to_le_bytes());
    stream.write_all(&chunk)?;
    chunk[..8].copy_from_slice(&[0; 8]);
    for _ in 1..UPLOAD_BYTES / CHUNK {
        stream.write_all(&chunk)?;
    }
    Ok(())
}

/// Reads HTTP answers one after the other from a connection.
#[derive(Default)]
struct Answers {
    buffered: Vec<u8>,
}

impl Answers {
    /// The next answer's status and body (by `Content-Length`).
    fn next(&mut self, stream: &mut TcpStream) -> std::io::Result<(u16, String)> {
        let mut buf = [0u8; 8192];
        loop {
            if let Some(at) = self.buffered.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buffered[..at]).to_lowercase();
                let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if self.buffered.len() >= at + 4 + length {
                    let body = String::from_utf8_lossy(&self.buffered[at + 4..at + 4 + length]);
                    let body = body.to_string();
                    self.buffered.drain(..at + 4 + length);
                    return Ok((status, body));
                }
            }
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            self.buffered.extend_from_slice(&buf[..n]);
        }
    }
}

/// What the watcher saw of the node during the abuse.
struct Watch {
    /// The height `cairn query status` reported, once per second.
    heights: Vec<u64>,
    /// Status queries that failed, with why.
    failures: Vec<String>,
    rss_peak_bytes: u64,
}

/// Queries `cairn query status` and samples the node's resident memory every second for
/// [ABUSE].
fn watch_node(cli: &Cli, pid: u32, log: &std::path::Path) -> Watch {
    let started = Instant::now();
    let mut watch = Watch {
        heights: Vec::new(),
        failures: Vec::new(),
        rss_peak_bytes: 0,
    };
    while started.elapsed() < ABUSE {
        let tick = Instant::now();
        let out = cli.run(&["--json", "query", "status"]);
        let height = serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|status| status["height"].as_u64());
        match height {
            Some(height) if out.status.success() => watch.heights.push(height),
            _ => watch.failures.push(format!(
                "at {:?}: {}",
                started.elapsed(),
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        }
        watch.rss_peak_bytes = watch.rss_peak_bytes.max(vm_rss_bytes(pid).unwrap_or(0));
        if let Some(rest) = STATUS_INTERVAL.checked_sub(tick.elapsed()) {
            // Sample memory more often than status: a spike between two queries counts.
            let deadline = Instant::now() + rest;
            while Instant::now() < deadline {
                watch.rss_peak_bytes = watch.rss_peak_bytes.max(vm_rss_bytes(pid).unwrap_or(0));
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    if watch.heights.is_empty() {
        watch.heights.push(0);
        let log = std::fs::read_to_string(log).unwrap_or_default();
        watch
            .failures
            .push(format!("no status answered; log:\n{}", tail(&log, 20)));
    }
    watch
}

/// The resident memory of process `pid` (`VmRSS` in `/proc/<pid>/status`).
fn vm_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Every upload was either stored (within the client's quota) or refused with a clear HTTP
/// error: 429 (quota), 503 (every upload slot taken) or 413, each with a JSON message.
fn check_uploads(outcomes: &[Outcome], report: &str) {
    let stored = outcomes.iter().filter(|o| o.status == 200).count();
    // A 200 must mean a stored blob: a request cut off by the connection cap once got a bare
    // 200 with no body.
    for o in outcomes.iter().filter(|o| o.status == 200) {
        let body = serde_json::from_str::<serde_json::Value>(&o.body).unwrap_or_default();
        assert!(
            body["id"].as_str().is_some_and(|id| id.len() == 64),
            "a 200 that names no stored blob: {:?}\n{report}",
            o.body
        );
    }
    let refused: Vec<&Outcome> = outcomes.iter().filter(|o| o.status != 200).collect();
    assert!(
        outcomes.len() >= UPLOADERS,
        "not every uploader got an answer\n{report}"
    );
    // 128 MiB per client of blobs nothing references: at most four 32 MiB blobs.
    assert!(
        stored <= 4,
        "{stored} anonymous 32 MiB uploads stored\n{report}"
    );
    assert!(!refused.is_empty(), "nothing was refused\n{report}");
    for o in refused {
        assert!(
            matches!(o.status, 429 | 503 | 413),
            "refused with HTTP {}: {}\n{report}",
            o.status,
            o.body
        );
        let message = serde_json::from_str::<serde_json::Value>(&o.body)
            .ok()
            .and_then(|body| body["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_default();
        assert!(
            message.contains("quota") || message.contains("busy") || message.contains("limit"),
            "unclear refusal: {}\n{report}",
            o.body
        );
    }
}

fn summarize(outcomes: &[Outcome]) -> String {
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for o in outcomes {
        *by_status.entry(o.status).or_default() += 1;
    }
    let example = |status: u16| {
        outcomes
            .iter()
            .find(|o| o.status == status)
            .map(|o| o.body.chars().take(200).collect::<String>())
            .unwrap_or_default()
    };
    by_status
        .iter()
        .map(|(status, n)| format!("{n} × HTTP {status} (e.g. {})", example(*status)))
        .collect::<Vec<_>>()
        .join("; ")
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
