//! `cairn demo` as a user runs it: a whole FL task on a fresh dev chain, with a poisoning
//! trainer, to completion.

use std::process::Command;

#[test]
fn demo_runs_a_task_to_completion_and_the_attacker_earns_nothing() {
    let home = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "demo",
            "--rounds",
            "2",
            "--trainers",
            "3",
            "--attackers",
            "1",
            "--validators",
            "2",
        ])
        .arg("--home")
        .arg(home.path().join("demo"))
        .output()
        .expect("cairn runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("task 1 completed: 2 rounds closed"),
        "{stdout}"
    );
    assert!(stdout.contains("final model: "), "{stdout}");
    // Two round rows with a checkpoint each.
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with(['0', '1']) && l.contains('%'))
        .collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    // The attacker's row in the reward table: no reward, a penalty.
    let attacker = stdout
        .lines()
        .find(|l| l.starts_with("attacker-1"))
        .unwrap_or_else(|| panic!("no attacker row:\n{stdout}"));
    let numbers: Vec<u64> = attacker
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(numbers.first(), Some(&0), "attacker rewarded: {attacker}");
    assert!(
        numbers.get(1).is_some_and(|p| *p > 0),
        "attacker not penalized: {attacker}"
    );
    let honest = stdout
        .lines()
        .find(|l| l.starts_with("trainer-1"))
        .expect("trainer row");
    let reward: u64 = honest
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .expect("reward");
    assert!(reward > 0, "honest trainer unpaid: {honest}");
}

#[test]
fn demo_refuses_impossible_settings_with_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["demo", "--rule", "krum:5"])
        .output()
        .expect("cairn runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rule") && stderr.contains("2f + 3"),
        "{stderr}"
    );
}
