//! `cairn tx`: build, sign, submit and (by default) wait for a transaction.
//!
//! The chain id comes from the node's status and the nonce from the signer's account, so a
//! user names only what the action needs; `--nonce` overrides for offline queues and retries.

use crate::query::{describe_action, short};
use anyhow::{Context, bail};
use cairn_rpc::api::{ActionView, Receipt};
use cairn_rpc::client::RpcClient;
use cairn_types::{Action, PrivateKey, PublicKey, Transaction, limits, parse_public_key, to_hex};
use clap::{Args, Subcommand};
use commonware_cryptography::Signer;
use serde::Serialize;
use std::time::Duration;

/// How long `cairn tx` waits for its transaction to be finalized before giving up waiting.
pub const TX_FINALIZE_WAIT_MAX_MS: u64 = 30_000;

#[derive(Subcommand, Debug)]
pub enum TxCommand {
    /// Send tokens to another account.
    Transfer {
        /// Recipient address (hex public key).
        #[arg(long)]
        to: String,
        #[arg(long)]
        amount: u64,
    },
    /// Bond your own tokens to a validator you operate (self-bond).
    Stake {
        /// Validator consensus key (hex).
        #[arg(long)]
        validator: String,
        #[arg(long)]
        amount: u64,
    },
    /// Start unbonding tokens from a validator; they return after the unbonding period.
    Unstake {
        /// Validator consensus key (hex).
        #[arg(long)]
        validator: String,
        #[arg(long)]
        amount: u64,
    },
    /// Bond your tokens to someone else's validator.
    Delegate {
        /// Validator consensus key (hex).
        #[arg(long)]
        validator: String,
        #[arg(long)]
        amount: u64,
    },
    /// Let a hot key sign operational actions (never transfers or stake) for this account.
    /// The hot key consents by signing the link, so it must be in your keystore.
    LinkHotKey {
        /// Name of the hot key in the keystore (`cairn keys new NAME --hot`).
        #[arg(long, value_name = "NAME")]
        hot: String,
    },
    /// Remove a linked hot key (sign with the cold key, or with the hot key itself).
    UnlinkHotKey {
        /// Hot key to unlink (hex public key).
        #[arg(long)]
        hot: String,
    },
    /// Register a new validator you operate, self-bonding from your balance; it joins the
    /// active set at the next epoch boundary if its bond ranks in the top `validators_max`.
    CreateValidator {
        /// The validator's consensus key file (hex secret, as `cairn node` and `cairn testnet
        /// init` write `validator.key`): it signs the proof of possession, never leaves here.
        #[arg(long)]
        key_file: std::path::PathBuf,
        #[arg(long)]
        moniker: String,
        #[arg(long)]
        self_bond: u64,
    },
    /// Bring back a validator you operate that was jailed for inactivity, once it has sat out
    /// a whole epoch (a linked hot key may sign this).
    Unjail {
        /// Validator consensus key (hex).
        #[arg(long)]
        validator: String,
    },
    /// Set the public name of a validator you operate (a linked hot key may sign this).
    SetMoniker {
        /// Validator consensus key (hex).
        #[arg(long)]
        validator: String,
        #[arg(long)]
        moniker: String,
    },
}

/// Options shared by every `cairn tx` command.
#[derive(Args, Debug, Clone)]
pub struct TxArgs {
    /// Name of the keystore key that signs.
    #[arg(long, global = true, env = "CAIRN_FROM", value_name = "KEY")]
    pub from: Option<String>,
    /// Fee paid to the block proposer, whatever the action's outcome.
    #[arg(long, global = true, default_value_t = 1)]
    pub fee: u64,
    /// Nonce to use [default: the signer's next nonce, fetched from the node].
    #[arg(long, global = true)]
    pub nonce: Option<u64>,
    /// Return once the node accepted the transaction, without waiting for finalization.
    #[arg(long, global = true)]
    pub no_wait: bool,
}

/// Unlocks another key of the keystore by name (a hot key consenting to a link).
pub type KeyLoader<'a> = &'a dyn Fn(&str) -> anyhow::Result<PrivateKey>;

/// Builds the action of `cmd` for `signer` on `chain_id`, naming the flag when a value is
/// malformed.
pub fn action(
    cmd: TxCommand,
    signer: &PublicKey,
    chain_id: &str,
    load_key: KeyLoader<'_>,
) -> anyhow::Result<Action> {
    Ok(match cmd {
        TxCommand::CreateValidator {
            key_file,
            moniker,
            self_bond,
        } => {
            check_moniker(&moniker)?;
            let consensus = cairn_node::config::read_key_file(&key_file)
                .map_err(|e| anyhow::anyhow!("--key-file: {e}"))?;
            Action::CreateValidator {
                consensus_key: commonware_cryptography::Signer::public_key(&consensus),
                moniker,
                self_bond,
                proof_of_possession: cairn_types::sign_validator_pop(&consensus, signer),
            }
        }
        TxCommand::Transfer { to, amount } => Action::Transfer {
            to: key("--to", &to)?,
            amount,
        },
        TxCommand::Stake { validator, amount } | TxCommand::Delegate { validator, amount } => {
            Action::Bond {
                validator: key("--validator", &validator)?,
                amount,
            }
        }
        TxCommand::Unstake { validator, amount } => Action::Unbond {
            validator: key("--validator", &validator)?,
            amount,
        },
        TxCommand::LinkHotKey { hot } => {
            let hot_key = load_key(&hot).with_context(|| format!("--hot: cannot load key '{hot}'"))?;
            Action::LinkHotKey {
                hot: hot_key.public_key(),
                proof: cairn_types::sign_hot_key_link(&hot_key, chain_id, signer),
            }
        }
        TxCommand::UnlinkHotKey { hot } => Action::UnlinkHotKey {
            hot: key("--hot", &hot)?,
        },
        TxCommand::Unjail { validator } => Action::Unjail {
            validator: key("--validator", &validator)?,
        },
        TxCommand::SetMoniker { validator, moniker } => {
            check_moniker(&moniker)?;
            Action::SetValidatorMoniker {
                validator: key("--validator", &validator)?,
                moniker,
            }
        }
    })
}

fn check_moniker(moniker: &str) -> anyhow::Result<()> {
    if moniker.len() > limits::MEMO_MAX_BYTES {
        bail!(
            "--moniker is {} bytes; the limit is {} bytes",
            moniker.len(),
            limits::MEMO_MAX_BYTES
        );
    }
    Ok(())
}

fn key(flag: &str, text: &str) -> anyhow::Result<PublicKey> {
    parse_public_key(text).map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}

/// Signs `cmd` with `signer`, submits it through `client` and, unless `--no-wait`, waits for
/// its receipt; prints the outcome (JSON with `json`).
pub fn run(
    cmd: TxCommand,
    args: &TxArgs,
    client: &RpcClient,
    signer: &PrivateKey,
    load_key: KeyLoader<'_>,
    json: bool,
) -> anyhow::Result<()> {
    let status = client
        .status()
        .context("cannot read the chain id from the node")?;
    let signer_key = signer.public_key();
    let action = action(cmd, &signer_key, &status.chain_id, load_key)?;
    let nonce = match args.nonce {
        Some(nonce) => nonce,
        None => {
            let address = to_hex(&signer_key);
            client
                .account(&address)
                .with_context(|| format!("cannot read the nonce of {address}"))?
                .nonce
        }
    };
    let tx = Transaction {
        chain_id: status.chain_id,
        signer: signer_key,
        nonce,
        fee: args.fee,
        action,
    }
    .sign(signer);
    let summary = describe_action(&ActionView::from_action(&tx.tx.action));
    let tx_hash = client
        .submit_tx(&tx)
        .with_context(|| format!("{summary}: not accepted"))?;
    if args.no_wait {
        print_submitted(&summary, &tx_hash, json);
        return Ok(());
    }
    let wait = Duration::from_millis(TX_FINALIZE_WAIT_MAX_MS);
    let receipt = client.wait_for_receipt(&tx_hash, wait)?;
    print_finalized(&summary, &receipt, json)
}

/// What `cairn tx --json` prints: the hash, and the receipt unless `--no-wait`.
#[derive(Serialize)]
struct TxOutput<'a> {
    tx_hash: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt: Option<&'a Receipt>,
}

fn print_json(output: &TxOutput<'_>) {
    let text = serde_json::to_string_pretty(output).expect("plain data serializes");
    println!("{text}");
}

fn print_submitted(summary: &str, tx_hash: &str, json: bool) {
    if json {
        print_json(&TxOutput {
            tx_hash,
            receipt: None,
        });
        return;
    }
    println!("{summary}: submitted (tx {tx_hash})");
    println!("next: `cairn query tx {tx_hash}` shows its receipt once it is finalized");
}

fn print_finalized(summary: &str, receipt: &Receipt, json: bool) -> anyhow::Result<()> {
    if json {
        print_json(&TxOutput {
            tx_hash: &receipt.tx_hash,
            receipt: Some(receipt),
        });
    }
    let short_hash = short(&receipt.tx_hash);
    if let Some(error) = &receipt.error {
        bail!(
            "{summary}: failed in block {} (tx {short_hash}): {error}; the fee of {} was charged",
            receipt.height,
            receipt.fee
        );
    }
    if !json {
        println!(
            "{summary}: finalized in block {} (tx {short_hash})",
            receipt.height
        );
    }
    Ok(())
}
