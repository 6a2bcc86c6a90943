//! The genesis file: chain id, initial token allocations, the validator set and parameters.
//!
//! Stored as JSON (keys as hex). [Genesis::load] validates everything a typo could break and
//! names the offending entry.

use crate::{Address, Amount, PublicKey, limits, parse_public_key, to_hex};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Protocol parameters fixed at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// Blocks between an unbond and the tokens' return to the balance.
    pub unbonding_period_blocks: u64,
    /// Share of a validator's bonded stake (self + delegated) burnt per equivocation, in basis points.
    pub slash_fraction_bps: u64,
    /// Smallest fee a transaction may carry.
    pub min_fee: Amount,
    /// Blocks per epoch; validator-set changes take effect at epoch boundaries.
    pub epoch_length_blocks: u64,
    /// Largest validator set (top-N by bonded stake).
    pub validators_max: u32,
    /// Least self-bond for a validator to be in the set.
    pub validator_bond_min: Amount,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            unbonding_period_blocks: 100,
            slash_fraction_bps: 500,
            min_fee: 1,
            epoch_length_blocks: 1_000,
            validators_max: 100,
            validator_bond_min: 1_000,
        }
    }
}

/// An initial balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisAccount {
    /// Hex ed25519 public key of the (cold) account.
    pub address: String,
    pub balance: Amount,
}

/// An initial validator: its consensus (and p2p) key, the account that operates it, and its
/// self-bond (taken from nowhere: genesis stake is minted bonded).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisValidator {
    pub consensus_key: String,
    pub operator: String,
    pub stake: Amount,
    #[serde(default)]
    pub moniker: String,
}

/// The genesis document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    pub chain_id: String,
    /// Milliseconds since the Unix epoch of the genesis block (the only clock reading genesis
    /// carries; blocks carry their proposer's timestamp, which consensus code never trusts).
    #[serde(default)]
    pub genesis_time_ms: u64,
    pub accounts: Vec<GenesisAccount>,
    pub validators: Vec<GenesisValidator>,
    #[serde(default)]
    pub params: Params,
}

/// What is wrong with a genesis document.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    #[error("cannot read genesis file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("genesis file {path} is not valid genesis JSON: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error("genesis chain_id must be 1..={max} printable ASCII bytes, got {chain_id:?}")]
    ChainId { chain_id: String, max: usize },
    #[error("genesis {what} #{index}: {reason}")]
    Entry {
        what: &'static str,
        index: usize,
        reason: String,
    },
    #[error("genesis has no validators; a chain needs at least one")]
    NoValidators,
    #[error("genesis parameter {name} = {value} is invalid: {reason}")]
    Param {
        name: &'static str,
        value: u64,
        reason: &'static str,
    },
    #[error("genesis token supply overflows u64")]
    SupplyOverflow,
}

/// A genesis validator with its keys parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorEntry {
    pub consensus_key: PublicKey,
    pub operator: Address,
    pub stake: Amount,
    pub moniker: String,
}

impl Genesis {
    /// Reads and validates a genesis file.
    pub fn load(path: &Path) -> Result<Self, GenesisError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| GenesisError::Io {
            path: shown.clone(),
            source,
        })?;
        let genesis: Genesis =
            serde_json::from_str(&text).map_err(|source| GenesisError::Json {
                path: shown,
                source,
            })?;
        genesis.validate()?;
        Ok(genesis)
    }

    /// Writes the document as pretty JSON.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).expect("genesis serializes");
        std::fs::write(path, text + "\n")
    }

    /// Parsed initial balances, in file order.
    pub fn balances(&self) -> Result<Vec<(Address, Amount)>, GenesisError> {
        self.accounts
            .iter()
            .enumerate()
            .map(|(index, a)| {
                let address =
                    parse_usable_key(&a.address).map_err(|reason| GenesisError::Entry {
                        what: "account",
                        index,
                        reason,
                    })?;
                Ok((address, a.balance))
            })
            .collect()
    }

    /// Parsed validators, in file order.
    pub fn validator_entries(&self) -> Result<Vec<ValidatorEntry>, GenesisError> {
        self.validators
            .iter()
            .enumerate()
            .map(|(index, v)| {
                let entry = |reason| GenesisError::Entry {
                    what: "validator",
                    index,
                    reason,
                };
                Ok(ValidatorEntry {
                    consensus_key: parse_usable_key(&v.consensus_key).map_err(entry)?,
                    operator: parse_usable_key(&v.operator).map_err(entry)?,
                    stake: v.stake,
                    moniker: v.moniker.clone(),
                })
            })
            .collect()
    }

    /// Checks every field; the error names the first problem found.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let id = &self.chain_id;
        if id.is_empty()
            || id.len() > limits::CHAIN_ID_MAX_BYTES
            || !id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(GenesisError::ChainId {
                chain_id: id.clone(),
                max: limits::CHAIN_ID_MAX_BYTES,
            });
        }
        let balances = self.balances()?;
        let validators = self.validator_entries()?;
        if validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        let mut seen = std::collections::BTreeSet::new();
        for (index, (address, _)) in balances.iter().enumerate() {
            if !seen.insert(address.clone()) {
                return Err(GenesisError::Entry {
                    what: "account",
                    index,
                    reason: format!("duplicate address {}", to_hex(address)),
                });
            }
        }
        let mut keys = std::collections::BTreeSet::new();
        for (index, v) in validators.iter().enumerate() {
            if !keys.insert(v.consensus_key.clone()) {
                return Err(GenesisError::Entry {
                    what: "validator",
                    index,
                    reason: format!("duplicate consensus key {}", to_hex(&v.consensus_key)),
                });
            }
            if v.stake < self.params.validator_bond_min {
                return Err(GenesisError::Entry {
                    what: "validator",
                    index,
                    reason: format!(
                        "stake {} is below validator_bond_min {}",
                        v.stake, self.params.validator_bond_min
                    ),
                });
            }
        }
        let supply = balances
            .iter()
            .map(|(_, b)| *b)
            .chain(validators.iter().map(|v| v.stake))
            .try_fold(0u64, |acc, x| acc.checked_add(x));
        if supply.is_none() {
            return Err(GenesisError::SupplyOverflow);
        }
        let p = &self.params;
        let param = |name, value, reason| {
            Err(GenesisError::Param {
                name,
                value,
                reason,
            })
        };
        if p.epoch_length_blocks < 2 {
            // The last block of an epoch is re-proposed until the next epoch's engine takes
            // over, so an epoch needs a block after the one it starts from.
            return param(
                "epoch_length_blocks",
                p.epoch_length_blocks,
                "must be at least 2",
            );
        }
        if p.slash_fraction_bps > 10_000 {
            return param(
                "slash_fraction_bps",
                p.slash_fraction_bps,
                "must be at most 10000",
            );
        }
        if p.validators_max == 0 || p.validators_max > crate::limits::VALIDATORS_ACTIVE_MAX {
            return param(
                "validators_max",
                p.validators_max as u64,
                "must be 1..=1000",
            );
        }
        Ok(())
    }
}

/// A hex public key that someone can sign for ([crate::is_valid_public_key]).
fn parse_usable_key(text: &str) -> Result<Address, String> {
    let key = parse_public_key(text)?;
    if !crate::is_valid_public_key(&key) {
        return Err(format!(
            "'{text}' is not a usable public key (small-order, mixed-order or non-canonical point)"
        ));
    }
    Ok(key)
}
