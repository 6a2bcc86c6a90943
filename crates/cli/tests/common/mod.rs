// Helpers measure wall-clock deadlines against real processes.
#![allow(clippy::disallowed_methods, dead_code)]

//! Real processes for the end-to-end tests: a dev node, one-shot CLI calls and daemons.

use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Node {
    child: Child,
}

impl Node {
    pub fn start(home: &Path, rpc: u16, p2p: u16) -> Node {
        let log = std::fs::File::create(home.with_extension("log")).unwrap();
        let child = Command::new(CAIRN)
            .args(["node", "--dev", "--home"])
            .arg(home)
            .args([
                "--rpc-listen",
                &format!("127.0.0.1:{rpc}"),
                "--p2p-listen",
                &format!("127.0.0.1:{p2p}"),
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start cairn node");
        Node { child }
    }

    /// Ctrl-C; the node must exit by itself, successfully, within 15 s.
    pub fn interrupt(mut self) {
        Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
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

pub struct Cli {
    pub rpc: String,
    pub keystore: PathBuf,
}

impl Cli {
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(CAIRN)
            .args(["--rpc", &self.rpc, "--keystore"])
            .arg(&self.keystore)
            .args(args)
            .env("CAIRN_PASSWORD", "dev")
            .stdin(Stdio::null())
            .output()
            .expect("run cairn")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "cairn {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        serde_json::from_str(&self.ok(&full)).expect("valid JSON output")
    }

    pub fn wait_height(&self, at_least: u64) -> u64 {
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
            assert!(
                Instant::now() < deadline,
                "node never reached height {at_least}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A daemon (`cairn train`, `cairn validate`, `cairn serve`, `cairn watch`) as a background
/// process.
pub struct Daemon {
    child: Child,
}

impl Daemon {
    pub fn start(cli: &Cli, args: &[&str], log: &Path) -> Daemon {
        let child = Command::new(CAIRN)
            .args(["--rpc", &cli.rpc, "--keystore"])
            .arg(&cli.keystore)
            .args(args)
            .env("CAIRN_PASSWORD", "dev")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(log).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
            .spawn()
            .expect("start daemon");
        Daemon { child }
    }

    /// Waits for the daemon to exit by itself, successfully.
    pub fn finish(mut self, within: Duration, log: &Path) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let err = std::fs::read_to_string(log.with_extension("err")).unwrap_or_default();
                assert!(status.success(), "daemon exited with {status}: {err}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not finish: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
