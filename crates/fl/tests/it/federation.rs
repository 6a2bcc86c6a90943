use cairn_fl::data::partition_indices;
use cairn_fl::{FederationConfig, FlError, Partition, Rule, run_federation, shard};

use crate::common::{demo, small_spec, train_cfg};

fn config(threads: usize) -> FederationConfig {
    FederationConfig {
        spec: small_spec(),
        clients: 10,
        per_round: 4,
        rounds: 3,
        train: train_cfg(1),
        rule: Rule::FedAvg,
        seed: 5,
        target_accuracy_ppm: Some(990_000),
        stop_at_target: false,
        partition: Partition::Iid,
        threads,
        time_limit_ms: None,
    }
}

#[test]
fn federation_on_demo_data_learns_and_threads_do_not_matter() {
    let (train, _, test) = demo();
    let mut seen = Vec::new();
    let reports = run_federation(&config(1), train, test, |r| seen.push(r.round)).expect("run");
    assert_eq!(seen, [1, 2, 3]);
    let acc: Vec<u32> = reports.iter().map(|r| r.accuracy_ppm).collect();
    assert!(acc[2] > acc[0], "{acc:?}");
    assert!(acc[2] > 300_000, "{acc:?}");
    assert!(reports.iter().all(|r| r.clients.len() == 4));
    let threaded = run_federation(&config(2), train, test, |_| {}).expect("run");
    let key = |rs: &[cairn_fl::RoundReport]| {
        rs.iter()
            .map(|r| (r.model_hash, r.accuracy_ppm, r.clients.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&threaded), key(&reports));
}

#[test]
fn federation_stops_at_the_target_and_checks_its_config() {
    let (train, _, test) = demo();
    let cfg = FederationConfig {
        target_accuracy_ppm: Some(1),
        stop_at_target: true,
        ..config(1)
    };
    let reports = run_federation(&cfg, train, test, |_| {}).expect("run");
    assert_eq!(reports.len(), 1);
    assert!(reports[0].reached_target);
    for (bad, reason) in [
        (
            FederationConfig {
                per_round: 11,
                ..config(1)
            },
            "per_round must be in 1..=10 (at most the clients), got 11",
        ),
        (
            FederationConfig {
                clients: 0,
                ..config(1)
            },
            "clients must be in 1..=1048576, got 0",
        ),
        (
            FederationConfig {
                threads: 0,
                ..config(1)
            },
            "threads must be in 1..=256, got 0",
        ),
    ] {
        match run_federation(&bad, train, test, |_| {}) {
            Err(FlError::Config(got)) => assert_eq!(got, reason),
            other => panic!("expected Config({reason:?}), got {:?}", other.err()),
        }
    }
}

#[test]
fn shards_cover_the_data_once() {
    let (train, _, _) = demo();
    let sizes: Vec<usize> = (0..7).map(|c| shard(train, 7, c, 3).len()).collect();
    assert_eq!(sizes.iter().sum::<usize>(), train.len());
    assert!(
        sizes
            .iter()
            .all(|&s| s == train.len() / 7 || s == train.len() / 7 + 1)
    );
    assert!(shard(train, 7, 7, 3).is_empty());
    assert_eq!(shard(train, 7, 2, 3), shard(train, 7, 2, 3));
    for p in [
        Partition::Dirichlet { alpha: 0.3 },
        Partition::Shards { per_client: 2 },
    ] {
        let parts = partition_indices(train, &p, 10, 1).expect("partition");
        let mut all: Vec<usize> = parts.concat();
        all.sort_unstable();
        assert_eq!(all, (0..train.len()).collect::<Vec<_>>(), "{p}");
    }
}
