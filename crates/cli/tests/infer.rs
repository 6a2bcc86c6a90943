// Tests measure wall-clock deadlines against real processes.
#![allow(clippy::disallowed_methods)]

//! Verified inference end to end, as a user runs it: `cairn demo` trains a model and leaves
//! its chain in a home; `cairn node --dev` restarts that chain; the CLI alone registers the
//! trained model (quantized, with lineage), gets an honest answer that settles, then watches a
//! deliberately dishonest provider (`cairn serve --lie-at`) lose its bond to `cairn watch`.
//! Bad inputs are refused with a reason before anything is escrowed.

mod common;

use common::{CAIRN, Cli, Daemon, Node, free_port};
use std::process::Command;
use std::time::Duration;

fn balance(cli: &Cli, key: &str) -> u64 {
    let address = cli.json(&["keys", "show", key])["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    cli.json(&["query", "account", &address])["balance"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_demo_model_is_registered_served_and_a_lying_provider_loses_its_bond() {
    let home = std::env::temp_dir().join(format!("cairn-e2e-infer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let demo = Command::new(CAIRN)
        .args([
            "demo",
            "--rounds",
            "1",
            "--trainers",
            "2",
            "--validators",
            "1",
            "--home",
        ])
        .arg(&home)
        .output()
        .expect("run cairn demo");
    assert!(
        demo.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&demo.stderr)
    );

    let (rpc, p2p) = (free_port(), free_port());
    let _node = Node::start(&home, rpc, p2p);
    let cli = Cli {
        rpc: format!("http://127.0.0.1:{rpc}"),
        keystore: home.join("keys"),
    };
    cli.wait_height(1);

    // Register the demo's trained model: quantized from task 1's checkpoint, with lineage.
    let out = cli.ok(&[
        "model", "register", "--task", "1", "--from", "alice", "--name", "demo-mlp", "--price",
        "10",
    ]);
    assert!(out.contains("test accuracy"), "{out}");
    let models = cli.json(&["model", "list"]);
    let model = &models[0];
    let id = model["id"].as_str().unwrap().to_string();
    assert_eq!(model["lineage"]["task"], 1, "{model}");
    assert!(model["checkpoint"].is_string(), "{model}");
    let shown = cli.ok(&["model", "show", &id]);
    assert!(shown.contains("verified"), "{shown}");

    // Bad inputs: refused with a reason, nothing escrowed.
    let before = balance(&cli, "dev");
    let small = home.join("small.bin");
    std::fs::write(&small, [1u8; 10]).unwrap();
    let refused = cli.run(&["infer", &id, small.to_str().unwrap(), "--from", "dev"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("takes 784 int8 values"), "{err}");
    let refused = cli.run(&["infer", &id, "synthetic:999999", "--from", "dev"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("test split has"));
    let garbage = home.join("garbage.graph");
    std::fs::write(&garbage, b"not a graph").unwrap();
    let refused = cli.run(&[
        "model",
        "register",
        "--graph",
        garbage.to_str().unwrap(),
        "--from",
        "alice",
    ]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a valid model graph"));
    let refused = cli.run(&["watch", "--k", "3", "--from", "carol"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--k 3"));
    assert_eq!(balance(&cli, "dev"), before, "refusals cost nothing");

    let logs = home.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let watch = Daemon::start(
        &cli,
        &["watch", "--from", "carol", "--count", "1"],
        &logs.join("watch.log"),
    );

    // 1. An honest provider: the answer settles; the local re-execution agrees.
    let honest = Daemon::start(
        &cli,
        &["serve", "--from", "bob", "--model", &id, "--count", "1"],
        &logs.join("honest.log"),
    );
    let answer = cli.ok(&["infer", &id, "synthetic:0", "--from", "dev"]);
    assert!(
        answer.contains("stood through the challenge window"),
        "{answer}"
    );
    assert!(answer.contains("agrees, bit for bit"), "{answer}");
    honest.finish(Duration::from_secs(60), &logs.join("honest.log"));
    let bob = balance(&cli, "bob");
    let carol = balance(&cli, "carol");

    // 2. A lying provider: the watcher challenges and wins the dispute on chain.
    let liar = Daemon::start(
        &cli,
        &[
            "serve", "--from", "bob", "--model", &id, "--lie-at", "2", "--count", "1",
        ],
        &logs.join("liar.log"),
    );
    let answer = cli.ok(&["infer", &id, "synthetic:1", "--from", "dev"]);
    assert!(answer.contains("proven wrong on chain"), "{answer}");
    assert!(answer.contains("challenger won"), "{answer}");
    assert!(answer.contains("one-step check"), "{answer}");
    liar.finish(Duration::from_secs(60), &logs.join("liar.log"));
    watch.finish(Duration::from_secs(60), &logs.join("watch.log"));
    let request = cli.json(&["query", "inference", "2"]);
    assert_eq!(request["status"], "refuted", "{request}");
    let dispute = &request["disputes"][0];
    assert_eq!(dispute["end"]["winner"], "challenger", "{request}");
    let moves = dispute["moves"].as_u64().unwrap();
    // Bob lost the 2,000 bond (and paid a fee per transaction); Carol won it.
    assert!(
        balance(&cli, "bob") + 2_000 <= bob,
        "bob {bob} → {}",
        balance(&cli, "bob")
    );
    assert!(
        balance(&cli, "carol") >= carol + 2_000 - moves - 1,
        "carol {carol} → {}",
        balance(&cli, "carol")
    );
    let model = &cli.json(&["model", "list"])[0];
    assert_eq!(model["served"], 1);
    assert_eq!(model["refuted"], 1);
    let _ = std::fs::remove_dir_all(&home);
}
