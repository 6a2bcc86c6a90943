//! [`Rule`]: which of cairn-fixed's integer aggregation rules combines a round's updates.

use std::fmt;
use std::str::FromStr;

use cairn_fixed::{QModel, fedavg, krum, median, multi_krum, trim_count_per_mille, trimmed_mean};

use crate::FlError;

/// An aggregation rule. All are integer-only and bit-deterministic (see [`cairn_fixed`]).
///
/// String forms (`Display`/`FromStr` round-trip): `fedavg`, `median`, `trimmed-mean:100`
/// (per mille trimmed from each side), `krum:2` (assumed Byzantine count),
/// `multi-krum:2:5` (Byzantine count, models averaged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Weighted mean (McMahan et al.); weights are usually sample counts.
    FedAvg,
    /// Coordinate-wise median.
    Median,
    /// Coordinate-wise mean after dropping `⌊n · trim_per_mille / 1000⌋` values per side.
    TrimmedMean {
        /// Fraction trimmed from each side, per mille.
        trim_per_mille: u32,
    },
    /// The single update closest to its `n − f − 2` nearest neighbours.
    Krum {
        /// Assumed Byzantine updates `f` (needs `n > 2f + 2`).
        byzantine: u32,
    },
    /// Unweighted mean of the `select` best Krum-scored updates.
    MultiKrum {
        /// Assumed Byzantine updates `f`.
        byzantine: u32,
        /// Updates averaged, `1..=n − f`.
        select: u32,
    },
}

/// Aggregates `updates` (identical layouts) by `rule`. `weights` (one per update) are used by
/// [`Rule::FedAvg`] only and ignored otherwise.
pub fn aggregate(rule: &Rule, updates: &[QModel], weights: &[u64]) -> Result<QModel, FlError> {
    let aggregate = match rule {
        Rule::FedAvg => fedavg(updates, weights)?,
        Rule::Median => median(updates)?,
        Rule::TrimmedMean { trim_per_mille } => trimmed_mean(
            updates,
            trim_count_per_mille(updates.len(), *trim_per_mille),
        )?,
        Rule::Krum { byzantine } => krum(updates, *byzantine as usize)?,
        Rule::MultiKrum { byzantine, select } => {
            multi_krum(updates, *byzantine as usize, *select as usize)?
        }
    };
    Ok(aggregate.model)
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::FedAvg => f.write_str("fedavg"),
            Rule::Median => f.write_str("median"),
            Rule::TrimmedMean { trim_per_mille } => write!(f, "trimmed-mean:{trim_per_mille}"),
            Rule::Krum { byzantine } => write!(f, "krum:{byzantine}"),
            Rule::MultiKrum { byzantine, select } => write!(f, "multi-krum:{byzantine}:{select}"),
        }
    }
}

impl FromStr for Rule {
    type Err = FlError;

    fn from_str(input: &str) -> Result<Self, FlError> {
        const FORMS: &str =
            "expected fedavg, median, trimmed-mean:PER_MILLE, krum:F or multi-krum:F:M";
        let bad = |reason: String| FlError::BadName {
            what: "aggregation rule",
            input: input.to_string(),
            reason: format!("{reason}; {FORMS}"),
        };
        let lower = input.trim().to_ascii_lowercase();
        let mut parts = lower.split(':');
        let name = parts.next().unwrap_or_default();
        let args: Vec<u32> = parts
            .map(|p| {
                p.trim()
                    .parse::<u32>()
                    .map_err(|_| bad(format!("{p:?} is not a non-negative integer")))
            })
            .collect::<Result<_, _>>()?;
        let rule = match (name, args.as_slice()) {
            ("fedavg", []) => Rule::FedAvg,
            ("median", []) => Rule::Median,
            ("trimmed-mean", [t]) if *t < 500 => Rule::TrimmedMean { trim_per_mille: *t },
            ("trimmed-mean", [t]) => {
                return Err(bad(format!(
                    "trimming {t}‰ per side leaves nothing (< 500)"
                )));
            }
            ("krum", [f]) => Rule::Krum { byzantine: *f },
            ("multi-krum", [f, m]) if *m > 0 => Rule::MultiKrum {
                byzantine: *f,
                select: *m,
            },
            ("multi-krum", [_, _]) => return Err(bad("select must be at least 1".into())),
            _ => return Err(bad("unknown rule or wrong number of arguments".into())),
        };
        Ok(rule)
    }
}
