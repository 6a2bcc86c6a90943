// Tests measure wall-clock deadlines against real processes.
#![allow(clippy::disallowed_methods)]

//! End to end, as a user runs it: `cairn node --dev` as a real process, driven only through the
//! `cairn` CLI (keys, tx, query), then stopped with Ctrl-C and restarted from its home.

use serde_json::Value;
use std::time::{Duration, Instant};

mod common;

use common::{Cli, Daemon, Node, free_port};

#[test]
fn dev_node_driven_by_the_cli_transfers_and_survives_restart() {
    let home = std::env::temp_dir().join(format!("cairn-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let (rpc, p2p) = (free_port(), free_port());
    let node = Node::start(&home, rpc, p2p);
    let cli = Cli {
        rpc: format!("http://127.0.0.1:{rpc}"),
        keystore: home.join("keys"),
    };
    cli.wait_height(1);

    // A new cold key, funded from the dev account through a signed transfer.
    let alice = cli.json(&["keys", "new", "erin"]);
    let alice = alice["public_key"]
        .as_str()
        .expect("public key in keys new --json")
        .to_string();
    let sent = cli.json(&[
        "tx", "transfer", "--from", "dev", "--to", &alice, "--amount", "1000",
    ]);
    assert_eq!(sent["receipt"]["status"], "finalized", "{sent}");
    let account = cli.json(&["query", "account", &alice]);
    assert_eq!(account["balance"], 1000);

    // The account's proof verifies offline against the committed state root.
    let proof = cli.json(&["query", "proof", &alice]);
    assert_eq!(proof["verified"], true);
    assert_eq!(proof["proof"]["balance"], 1000);

    // A transaction the chain must refuse comes back with a reason, and changes nothing.
    let refused = cli.run(&[
        "tx", "transfer", "--from", "erin", "--to", &alice, "--amount", "5000",
    ]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("balance"),
        "refusal should explain the balance problem: {stderr}"
    );
    assert_eq!(cli.json(&["query", "account", &alice])["balance"], 1000);

    // A new validator registered from the CLI alone: its key file signs the proof of
    // possession; it is known at once and enters the active set at an epoch boundary.
    use commonware_codec::Encode;
    use commonware_cryptography::Signer;
    let consensus = cairn_types::PrivateKey::from_seed(77);
    let key_file = home.join("newcomer.key");
    std::fs::write(&key_file, hex::encode(consensus.encode())).unwrap();
    let bad_file = home.join("bad.key");
    std::fs::write(&bad_file, "not hex").unwrap();
    let refused = cli.run(&[
        "tx",
        "create-validator",
        "--key-file",
        bad_file.to_str().unwrap(),
        "--moniker",
        "x",
        "--self-bond",
        "5000",
        "--from",
        "dev",
    ]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--key-file"));
    cli.ok(&[
        "tx",
        "create-validator",
        "--key-file",
        key_file.to_str().unwrap(),
        "--moniker",
        "newcomer",
        "--self-bond",
        "5000",
        "--from",
        "dev",
    ]);
    let validators = cli.json(&["query", "validators"]);
    let newcomer = cairn_types::to_hex(consensus.public_key());
    let v = validators
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["consensus_key"] == newcomer.as_str())
        .expect("registered");
    assert_eq!(v["self_bond"], 5000, "{v}");
    assert_eq!(v["moniker"], "newcomer", "{v}");

    // Ctrl-C, restart from the same home: the same chain (the block at the old tip has the
    // same hash and state root), and the same balance.
    let before = cli.wait_height(1);
    let tip = cli.json(&["query", "block", &before.to_string()]);
    node.interrupt();
    let _node = Node::start(&home, rpc, p2p);
    cli.wait_height(before);
    let again = cli.json(&["query", "block", &before.to_string()]);
    assert_eq!(
        (&again["hash"], &again["state_root"]),
        (&tip["hash"], &tip["state_root"]),
        "the restarted node's block {before} differs"
    );
    assert!(tip["hash"].as_str().is_some_and(|h| h.len() == 64), "{tip}");
    assert_eq!(cli.json(&["query", "account", &alice])["balance"], 1000);
    let _ = std::fs::remove_dir_all(&home);
}

fn wait_task(cli: &Cli, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let task = cli.json(&["task", "show", "1"]);
        if done(&task) {
            return task;
        }
        assert!(
            Instant::now() < deadline,
            "task never reached: {what}: {task}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn trainer_and_validator_daemons_run_a_task_and_survive_a_kill() {
    let home = std::env::temp_dir().join(format!("cairn-e2e-fl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let (rpc, p2p) = (free_port(), free_port());
    let _node = Node::start(&home, rpc, p2p);
    let cli = Cli {
        rpc: format!("http://127.0.0.1:{rpc}"),
        keystore: home.join("keys"),
    };
    cli.wait_height(1);
    let validator_key = cli.json(&["query", "status"])["node_key"]
        .as_str()
        .unwrap()
        .to_string();

    // Three funded keys: two trainers and a validator.
    for name in ["t0", "t1", "v0"] {
        let key = cli.json(&["keys", "new", name])["public_key"]
            .as_str()
            .unwrap()
            .to_string();
        cli.ok(&[
            "tx", "transfer", "--from", "dev", "--to", &key, "--amount", "100000",
        ]);
    }
    // Bad input first: an impossible task is refused before anything is escrowed.
    let refused = cli.run(&[
        "task",
        "propose",
        "--from",
        "dev",
        "--rule",
        "krum:4",
        "--trainers-per-round",
        "2",
    ]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("2f + 3"));

    cli.ok(&[
        "task",
        "propose",
        "--from",
        "dev",
        "--rounds",
        "2",
        "--trainers-per-round",
        "2",
        "--phase-blocks",
        "600",
    ]);
    let logs = home.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let state = |n: &str| home.join("roles").join(n).display().to_string();
    let t0 = Daemon::start(
        &cli,
        &[
            "train",
            "--task",
            "1",
            "--from",
            "t0",
            "--shard",
            "0/2",
            "--state-dir",
            &state("t0"),
        ],
        &logs.join("t0.log"),
    );
    let t1 = Daemon::start(
        &cli,
        &[
            "train",
            "--task",
            "1",
            "--from",
            "t1",
            "--shard",
            "1/2",
            "--state-dir",
            &state("t1"),
        ],
        &logs.join("t1.log"),
    );
    let v0_args = [
        "validate",
        "--task",
        "1",
        "--from",
        "v0",
        "--state-dir",
        &state("v0"),
    ];
    let v0 = Daemon::start(&cli, &v0_args, &logs.join("v0.log"));
    wait_task(&cli, "everyone joined", |t| {
        t["trainers"].as_array().unwrap().len() == 2
            && t["validators"].as_array().unwrap().len() == 1
    });
    cli.ok(&[
        "task",
        "vote",
        "1",
        "--from",
        "dev",
        "--validator",
        &validator_key,
    ]);

    // Round 0 closes; kill -9 the validator, then restart it: it resumes from the chain and
    // its state directory.
    wait_task(&cli, "round 0 closed", |t| {
        t["rounds_closed"].as_u64().unwrap() >= 1
    });
    drop(v0);
    let v0 = Daemon::start(&cli, &v0_args, &logs.join("v0-restarted.log"));

    let within = Duration::from_secs(120);
    v0.finish(within, &logs.join("v0-restarted.log"));
    t0.finish(within, &logs.join("t0.log"));
    t1.finish(within, &logs.join("t1.log"));
    let task = cli.json(&["task", "show", "1"]);
    assert_eq!(task["status"], "completed", "{task}");
    let rounds = cli.json(&["task", "rounds", "1"]);
    let rounds = rounds.as_array().unwrap();
    assert_eq!(rounds.len(), 2);
    assert!(
        rounds.iter().all(|r| r["checkpoint"].is_string()),
        "{rounds:?}"
    );
    assert_eq!(task["global_model"], rounds[1]["checkpoint"]);
    // Both trainers were paid and got their stake back.
    for t in task["trainers"].as_array().unwrap() {
        assert!(t["rewards"].as_u64().unwrap() > 0, "{t}");
        assert_eq!(t["stake"], 0);
    }
    let _ = std::fs::remove_dir_all(&home);
}
