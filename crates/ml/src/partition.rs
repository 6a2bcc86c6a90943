//! Splitting a dataset over federated clients: IID, Dirichlet(α) label skew, and McMahan et
//! al.'s pathological 2-shards-per-client split.
//!
//! Invariant: every function returns one ascending index list per client, every sample in
//! exactly one list, and the same result for the same inputs and seed on every machine.

use crate::rng::Rng;

/// Most clients a partition may have.
pub const MAX_CLIENTS: usize = 1 << 20;

/// Why a partition cannot be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PartitionError {
    /// Zero clients, or more than [`MAX_CLIENTS`].
    #[error("client count {got} is not in 1..={max}")]
    BadClientCount {
        /// Requested clients.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// α must be positive and finite.
    #[error("Dirichlet alpha must be positive and finite, got {0}")]
    BadAlpha(f64),
    /// Not enough shards to cover every label, or more shards than samples.
    #[error(
        "{shards} shards cannot cover {labels} labels and {samples} samples with one label per shard"
    )]
    BadShardCount {
        /// Total shards (`clients * shards_per_client`).
        shards: usize,
        /// Distinct labels present.
        labels: usize,
        /// Samples.
        samples: usize,
    },
}

fn check_clients(clients: usize) -> Result<(), PartitionError> {
    if clients == 0 || clients > MAX_CLIENTS {
        Err(PartitionError::BadClientCount {
            got: clients,
            max: MAX_CLIENTS,
        })
    } else {
        Ok(())
    }
}

fn finish(mut parts: Vec<Vec<usize>>) -> Vec<Vec<usize>> {
    for p in &mut parts {
        p.sort_unstable();
    }
    parts
}

/// Shuffles `0..n` and deals it into `clients` contiguous runs whose sizes differ by at most one.
pub fn iid(n: usize, clients: usize, seed: u64) -> Result<Vec<Vec<usize>>, PartitionError> {
    check_clients(clients)?;
    let mut order: Vec<usize> = (0..n).collect();
    Rng::new(seed).shuffle(&mut order);
    let parts = (0..clients)
        .map(|c| order[c * n / clients..(c + 1) * n / clients].to_vec())
        .collect();
    Ok(finish(parts))
}

/// Label skew: for each class, client proportions are drawn from a symmetric Dirichlet(α)
/// and the class's (shuffled) samples are cut at the rounded cumulative proportions. Small α
/// gives each client few classes; large α approaches IID. A client may receive nothing.
pub fn dirichlet(
    labels: &[u8],
    classes: usize,
    clients: usize,
    alpha: f64,
    seed: u64,
) -> Result<Vec<Vec<usize>>, PartitionError> {
    check_clients(clients)?;
    if !(alpha > 0.0 && alpha.is_finite()) {
        return Err(PartitionError::BadAlpha(alpha));
    }
    let mut rng = Rng::new(seed);
    let mut parts = vec![Vec::new(); clients];
    for class in 0..classes {
        let mut members: Vec<usize> = (0..labels.len())
            .filter(|&i| labels[i] as usize == class)
            .collect();
        rng.shuffle(&mut members);
        let proportions = rng.dirichlet(alpha, clients);
        let mut cumulative = 0.0;
        let mut start = 0;
        for (client, p) in proportions.iter().enumerate() {
            cumulative += p;
            let end = if client + 1 == clients {
                members.len()
            } else {
                ((cumulative * members.len() as f64) + 0.5) as usize
            };
            let end = end.clamp(start, members.len());
            parts[client].extend_from_slice(&members[start..end]);
            start = end;
        }
    }
    Ok(finish(parts))
}

/// McMahan et al.'s pathological non-IID split: samples sorted by label are cut into
/// `clients * shards_per_client` shards and each client gets `shards_per_client` random
/// shards. Unlike a plain cut every 300 samples (which can straddle two digits), shards here
/// never cross a label: each label gets a number of shards proportional to its size (at least
/// one; largest remainder), split evenly, so a client with 2 shards holds at most 2 labels.
/// For MNIST's 60 000 with 100 clients the shards are 300 ± ~10 samples.
pub fn shards(
    labels: &[u8],
    clients: usize,
    shards_per_client: usize,
    seed: u64,
) -> Result<Vec<Vec<usize>>, PartitionError> {
    check_clients(clients)?;
    let total_shards = clients * shards_per_client;
    let mut by_label: Vec<Vec<usize>> = vec![Vec::new(); 256];
    for (i, &l) in labels.iter().enumerate() {
        by_label[l as usize].push(i);
    }
    by_label.retain(|members| !members.is_empty());
    let counts = shard_counts(&by_label, total_shards, labels.len())?;
    let mut all_shards: Vec<Vec<usize>> = Vec::with_capacity(total_shards);
    for (members, &count) in by_label.iter().zip(&counts) {
        for s in 0..count {
            all_shards
                .push(members[s * members.len() / count..(s + 1) * members.len() / count].to_vec());
        }
    }
    Rng::new(seed).shuffle(&mut all_shards);
    let parts = all_shards
        .chunks(shards_per_client)
        .map(|group| group.concat())
        .collect();
    Ok(finish(parts))
}

/// Shards per label: proportional to size, at least one each, summing to `total`.
fn shard_counts(
    by_label: &[Vec<usize>],
    total: usize,
    samples: usize,
) -> Result<Vec<usize>, PartitionError> {
    let err = PartitionError::BadShardCount {
        shards: total,
        labels: by_label.len(),
        samples,
    };
    if total < by_label.len() || total > samples {
        return Err(err);
    }
    let mut counts: Vec<usize> = by_label
        .iter()
        .map(|m| (m.len() * total / samples).max(1).min(m.len()))
        .collect();
    // Remainders, largest first (ties by label order), decide who gets the leftover shards.
    let mut order: Vec<usize> = (0..by_label.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse((by_label[i].len() * total) % samples));
    let mut assigned: usize = counts.iter().sum();
    let mut cursor = 0;
    while assigned < total {
        let i = order[cursor % order.len()];
        if counts[i] < by_label[i].len() {
            counts[i] += 1;
            assigned += 1;
        }
        cursor += 1;
    }
    while assigned > total {
        // The `max(1)` floor over-allocated: take from the label with the most shards.
        let i = (0..counts.len())
            .max_by_key(|&i| (counts[i], std::cmp::Reverse(i)))
            .expect("non-empty");
        if counts[i] <= 1 {
            return Err(err);
        }
        counts[i] -= 1;
        assigned -= 1;
    }
    Ok(counts)
}
