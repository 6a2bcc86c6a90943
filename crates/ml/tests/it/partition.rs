//! Partitioner invariants.

use cairn_ml::partition::{self, PartitionError};

/// MNIST's training label counts, in label order.
const MNIST_COUNTS: [usize; 10] = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];

fn mnist_like_labels() -> Vec<u8> {
    // Interleaved like real data, not sorted.
    let mut remaining = MNIST_COUNTS;
    let mut labels = Vec::with_capacity(60_000);
    while labels.len() < 60_000 {
        for (l, r) in remaining.iter_mut().enumerate() {
            if *r > 0 {
                *r -= 1;
                labels.push(l as u8);
            }
        }
    }
    labels
}

fn assert_exact_cover(parts: &[Vec<usize>], n: usize) {
    let mut seen = vec![0u8; n];
    for part in parts {
        assert!(
            part.windows(2).all(|w| w[0] < w[1]),
            "indices ascending and unique"
        );
        for &i in part {
            seen[i] += 1;
        }
    }
    assert!(seen.iter().all(|&s| s == 1), "every sample exactly once");
}

#[test]
fn iid_covers_everything_once_with_balanced_sizes() {
    let parts = partition::iid(60_000, 100, 1).expect("iid");
    assert_exact_cover(&parts, 60_000);
    assert!(parts.iter().all(|p| p.len() == 600));
    let uneven = partition::iid(1003, 10, 1).expect("iid");
    assert_exact_cover(&uneven, 1003);
    assert!(uneven.iter().all(|p| p.len() == 100 || p.len() == 101));
    assert_eq!(
        partition::iid(10, 0, 1),
        Err(PartitionError::BadClientCount {
            got: 0,
            max: partition::MAX_CLIENTS
        })
    );
}

#[test]
fn two_shards_per_client_gives_at_most_two_labels() {
    let labels = mnist_like_labels();
    let parts = partition::shards(&labels, 100, 2, 7).expect("shards");
    assert_eq!(parts.len(), 100);
    assert_exact_cover(&parts, labels.len());
    for part in &parts {
        let mut distinct: Vec<u8> = part.iter().map(|&i| labels[i]).collect();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() <= 2, "client has labels {distinct:?}");
        assert!(
            (560..=640).contains(&part.len()),
            "client size {}",
            part.len()
        );
    }
    assert_eq!(
        parts,
        partition::shards(&labels, 100, 2, 7).expect("shards"),
        "seeded"
    );
    assert_ne!(
        parts,
        partition::shards(&labels, 100, 2, 8).expect("shards")
    );
    assert!(
        partition::shards(&labels[..5], 100, 2, 7).is_err(),
        "more shards than samples"
    );
}

#[test]
fn dirichlet_covers_everything_once_and_is_reproducible_by_seed() {
    let labels = mnist_like_labels();
    let a = partition::dirichlet(&labels, 10, 20, 0.5, 3).expect("dirichlet");
    assert_exact_cover(&a, labels.len());
    assert_eq!(
        a,
        partition::dirichlet(&labels, 10, 20, 0.5, 3).expect("dirichlet")
    );
    assert_ne!(
        a,
        partition::dirichlet(&labels, 10, 20, 0.5, 4).expect("dirichlet")
    );
    // Small α concentrates each client on few labels; large α approaches IID.
    let dominant_share = |alpha: f64| {
        let parts = partition::dirichlet(&labels, 10, 20, alpha, 5).expect("dirichlet");
        let shares: Vec<f64> = parts
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| {
                let mut counts = [0usize; 10];
                p.iter().for_each(|&i| counts[labels[i] as usize] += 1);
                *counts.iter().max().expect("10") as f64 / p.len() as f64
            })
            .collect();
        shares.iter().sum::<f64>() / shares.len() as f64
    };
    let (skewed, flat) = (dominant_share(0.05), dominant_share(1000.0));
    assert!(
        skewed > 0.6 && flat < 0.2,
        "dominant label share: α=0.05 → {skewed}, α=1000 → {flat}"
    );
    assert_eq!(
        partition::dirichlet(&labels, 10, 20, 0.0, 1),
        Err(PartitionError::BadAlpha(0.0))
    );
}
