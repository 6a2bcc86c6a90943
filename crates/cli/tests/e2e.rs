// Tests measure wall-clock deadlines against real processes.
#![allow(clippy::disallowed_methods)]

//! End to end, as a user runs it: `cairn node --dev` as a real process, driven only through the
//! `cairn` CLI (keys, tx, query), then stopped with Ctrl-C and restarted from its home.

use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Node {
    child: Child,
}

impl Node {
    fn start(home: &Path, rpc: u16, p2p: u16) -> Node {
        let log = std::fs::File::create(home.with_extension("log")).unwrap();
        let child = Command::new(CAIRN)
            .args(["node", "--dev", "--home"])
            .arg(home)
            .args(["--rpc-listen", &format!("127.0.0.1:{rpc}"), "--p2p-listen", &format!("127.0.0.1:{p2p}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start cairn node");
        Node { child }
    }

    /// Ctrl-C; the node must exit by itself, successfully, within 15 s.
    fn interrupt(mut self) {
        Command::new("kill").arg("-INT").arg(self.child.id().to_string()).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "node exited with {status} after Ctrl-C");
                return;
            }
            assert!(Instant::now() < deadline, "node ignored Ctrl-C");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Cli {
    rpc: String,
    keystore: PathBuf,
}

impl Cli {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(CAIRN)
            .args(["--rpc", &self.rpc, "--keystore"])
            .arg(&self.keystore)
            .args(args)
            .env("CAIRN_PASSWORD", "dev")
            .stdin(Stdio::null())
            .output()
            .expect("run cairn")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "cairn {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        serde_json::from_str(&self.ok(&full)).expect("valid JSON output")
    }

    fn wait_height(&self, at_least: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = self.run(&["--json", "query", "status"]);
            if out.status.success() {
                let status: Value = serde_json::from_slice(&out.stdout).unwrap();
                let height = status["height"].as_u64().unwrap();
                if height >= at_least {
                    return height;
                }
            }
            assert!(Instant::now() < deadline, "node never reached height {at_least}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn dev_node_driven_by_the_cli_transfers_and_survives_restart() {
    let home = std::env::temp_dir().join(format!("cairn-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let (rpc, p2p) = (free_port(), free_port());
    let node = Node::start(&home, rpc, p2p);
    let cli = Cli { rpc: format!("http://127.0.0.1:{rpc}"), keystore: home.join("keys") };
    cli.wait_height(1);

    // A new cold key, funded from the dev account through a signed transfer.
    let alice = cli.json(&["keys", "new", "alice"]);
    let alice = alice["public_key"].as_str().expect("public key in keys new --json").to_string();
    let sent = cli.json(&["tx", "transfer", "--from", "dev", "--to", &alice, "--amount", "1000"]);
    assert_eq!(sent["receipt"]["status"], "finalized", "{sent}");
    let account = cli.json(&["query", "account", &alice]);
    assert_eq!(account["balance"], 1000);

    // The account's proof verifies offline against the committed state root.
    let proof = cli.json(&["query", "proof", &alice]);
    assert_eq!(proof["verified"], true);
    assert_eq!(proof["proof"]["balance"], 1000);

    // A transaction the chain must refuse comes back with a reason, and changes nothing.
    let refused = cli.run(&["tx", "transfer", "--from", "alice", "--to", &alice, "--amount", "5000"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("balance"), "refusal should explain the balance problem: {stderr}");
    assert_eq!(cli.json(&["query", "account", &alice])["balance"], 1000);

    // Ctrl-C, restart from the same home: same chain, at least the same height, same balance.
    let before = cli.wait_height(1);
    node.interrupt();
    let _node = Node::start(&home, rpc, p2p);
    let after = cli.wait_height(before);
    assert!(after >= before);
    assert_eq!(cli.json(&["query", "account", &alice])["balance"], 1000);
    let _ = std::fs::remove_dir_all(&home);
}
