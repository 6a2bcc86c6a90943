//! `cairn query`: read chain state from a node. Human output is aligned `key: value` lines;
//! `--json` prints the RPC's JSON unchanged.

use anyhow::{Context, bail};
use cairn_rpc::api::{AccountView, ActionView, BlockView, ValidatorView};
use cairn_rpc::client::RpcClient;
use cairn_types::{parse_digest, parse_public_key, to_hex};
use clap::Subcommand;
use serde::Serialize;

/// Hex characters shown of a key or hash in one-line summaries.
const SHORT_HEX_CHARS: usize = 8;

#[derive(Subcommand, Debug)]
pub enum QueryCommand {
    /// The node's view of the chain: height, last block, validators, peers.
    Status,
    /// A finalized block: by height, by --hash, or the latest.
    Block {
        /// Block height [default: the latest block].
        height: Option<u64>,
        /// Block hash (hex) instead of a height.
        #[arg(long, conflicts_with = "height")]
        hash: Option<String>,
    },
    /// An account's balance, nonce, hot keys and stake.
    Account {
        /// Address (hex public key).
        address: String,
    },
    /// The receipt of a finalized transaction.
    Tx {
        /// Transaction hash (hex).
        hash: String,
    },
    /// Every validator, with its stake and whether it is active.
    Validators,
    /// An account with its Merkle proof against the latest state root.
    Proof {
        /// Address (hex public key).
        address: String,
    },
    /// An inference request: its result, disputes and how it ended.
    Inference {
        /// Request id.
        id: u64,
    },
    /// Inference requests, newest last.
    Inferences {
        /// First request id to list.
        #[arg(long, default_value_t = 0)]
        from: u64,
    },
}

/// Runs `cmd` against `client` and prints the answer.
pub fn run(cmd: QueryCommand, client: &RpcClient, json: bool) -> anyhow::Result<()> {
    match cmd {
        QueryCommand::Inference { id } => {
            let v = client.inference(id)?;
            emit(json, &v, || {
                println!(
                    "request {} of model {} by {}: {}",
                    v.id,
                    short(&v.model),
                    short(&v.client),
                    v.status
                );
                println!(
                    "  payment {} (owner's price {}), requested at block {}, deadline/ended at block {}",
                    v.payment, v.price, v.requested_at, v.deadline
                );
                if let Some(r) = &v.result {
                    println!(
                        "  result {:?} by {} (bond {}, execution root {})",
                        r.output,
                        short(&r.account),
                        r.bond,
                        short(&r.exec_root)
                    );
                }
                for d in &v.disputes {
                    println!(
                        "  challenged by {} with {:?} (k = {}, bond {}): {} moves, {} bytes{}",
                        short(&d.challenge.account),
                        d.challenge.output,
                        d.k,
                        d.challenge.bond,
                        d.moves,
                        d.move_bytes,
                        d.end
                            .as_ref()
                            .map(|e| format!("; {} won: {}", e.winner, e.reason))
                            .unwrap_or_default()
                    );
                }
            })
        }
        QueryCommand::Inferences { from } => {
            let list = client.inferences(from)?;
            emit(json, &list, || {
                if list.is_empty() {
                    println!("no inference requests from id {from}");
                }
                for v in &list {
                    println!(
                        "{:>5}  {:<9} model {}  output {}  disputes {}",
                        v.id,
                        v.status,
                        short(&v.model),
                        v.result
                            .as_ref()
                            .map(|r| format!("{:?}", r.output))
                            .unwrap_or_else(|| "-".into()),
                        v.disputes.len()
                    );
                }
            })
        }
        QueryCommand::Status => {
            let status = client.status()?;
            emit(json, &status, || {
                print_fields(&[
                    ("chain id", status.chain_id.clone()),
                    ("node key", status.node_key.clone()),
                    ("height", status.height.to_string()),
                    ("last block", status.last_block_hash.clone()),
                    ("state root", status.state_root.clone()),
                    ("epoch", status.epoch.to_string()),
                    ("validators", status.validators.to_string()),
                    ("mempool", format!("{} txs", status.mempool_size)),
                    ("peer set", format!("{} other validators", status.peers)),
                ])
            })
        }
        QueryCommand::Block { height, hash } => {
            let block = match (height, hash) {
                (Some(height), _) => client.block_by_height(height)?,
                (None, Some(hash)) => client.block_by_hash(&canonical_hash("--hash", &hash)?)?,
                (None, None) => client.latest_block()?,
            };
            emit(json, &block, || print_block(&block))
        }
        QueryCommand::Account { address } => {
            let account = client.account(&canonical_address("ADDRESS", &address)?)?;
            emit(json, &account, || print_account(&account))
        }
        QueryCommand::Tx { hash } => {
            let hash = canonical_hash("HASH", &hash)?;
            let receipt = client.tx_receipt(&hash)?;
            if json {
                return emit(true, &receipt, || {});
            }
            let Some(receipt) = receipt else {
                bail!(
                    "transaction {hash} is not in a finalized block on this node; if you just sent it, it may still be pending — try again in a few seconds"
                );
            };
            let mut fields = vec![
                ("tx", receipt.tx_hash.clone()),
                ("status", format!("{:?}", receipt.status).to_lowercase()),
                (
                    "block",
                    format!("{} ({})", receipt.height, receipt.block_hash),
                ),
                ("index", receipt.index.to_string()),
                ("action", describe_action(&receipt.action)),
                ("signer", receipt.signer.clone()),
                ("account", receipt.account.clone()),
                ("fee", receipt.fee.to_string()),
            ];
            if let Some(error) = &receipt.error {
                fields.push(("failed", error.clone()));
            }
            print_fields(&fields);
            Ok(())
        }
        QueryCommand::Validators => {
            let validators = client.validators()?;
            emit(json, &validators, || print_validators(&validators))
        }
        QueryCommand::Proof { address } => {
            let proof = client.account_proof(&canonical_address("ADDRESS", &address)?)?;
            let header = client.block_by_height(proof.height)?;
            verify_proof(&proof, &header.state_root)?;
            let report = serde_json::json!({ "proof": &proof, "verified": true });
            emit(json, &report, || {
                print_fields(&[
                    ("address", proof.address.clone()),
                    ("balance", proof.balance.to_string()),
                    ("nonce", proof.nonce.to_string()),
                    (
                        "leaf",
                        format!("{} of {}", proof.leaf_index, proof.leaf_count),
                    ),
                    ("state root", proof.state_root.clone()),
                    ("height", proof.height.to_string()),
                    ("proof", proof.proof.clone()),
                    (
                        "verified",
                        format!(
                            "yes: the account hashes up to the state root in block {}'s header",
                            proof.height
                        ),
                    ),
                ])
            })
        }
    }
}

/// Checks an account proof offline: the claimed account must hash, through the proof, to the
/// state root committed in the header of the block at `proof.height`.
fn verify_proof(proof: &cairn_rpc::api::AccountProofView, header_root: &str) -> anyhow::Result<()> {
    if proof.state_root != header_root {
        anyhow::bail!(
            "proof is against state root {} but block {}'s header commits to {header_root}",
            proof.state_root,
            proof.height
        );
    }
    let root = cairn_types::parse_digest(&proof.state_root).map_err(anyhow::Error::msg)?;
    let checked = cairn_state::AccountProof {
        address: cairn_types::parse_public_key(&proof.address).map_err(anyhow::Error::msg)?,
        account: cairn_state::Account {
            balance: proof.balance,
            nonce: proof.nonce,
        },
        leaf_index: u32::try_from(proof.leaf_index).context("leaf index out of range")?,
        leaf_count: u32::try_from(proof.leaf_count).context("leaf count out of range")?,
        proof: hex::decode(&proof.proof).context("proof is not hex")?,
    };
    checked
        .verify(&root)
        .map_err(|e| anyhow::anyhow!("the node's proof does NOT verify: {e}"))
}

/// Prints `value` as JSON, or runs `human`.
fn emit(json: bool, value: &impl Serialize, human: impl FnOnce()) -> anyhow::Result<()> {
    if json {
        let text = serde_json::to_string_pretty(value).context("cannot render JSON")?;
        println!("{text}");
    } else {
        human();
    }
    Ok(())
}

fn canonical_address(what: &str, text: &str) -> anyhow::Result<String> {
    let key = parse_public_key(text).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    Ok(to_hex(&key))
}

fn canonical_hash(what: &str, text: &str) -> anyhow::Result<String> {
    let digest = parse_digest(text).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    Ok(to_hex(digest))
}

/// Prints `key: value` lines with the values aligned.
pub fn print_fields(fields: &[(&str, String)]) {
    let width = fields
        .iter()
        .map(|(key, _)| key.len() + 1)
        .max()
        .unwrap_or(0);
    for (key, value) in fields {
        println!("{:<width$} {value}", format!("{key}:"));
    }
}

fn print_block(block: &BlockView) {
    print_fields(&[
        ("height", block.height.to_string()),
        ("hash", block.hash.clone()),
        ("parent", block.parent.clone()),
        ("proposer", block.proposer.clone()),
        ("epoch/view", format!("{}/{}", block.epoch, block.view)),
        ("timestamp ms", block.timestamp_ms.to_string()),
        ("state root", block.state_root.clone()),
        ("body root", block.body_root.clone()),
        ("txs", block.txs.len().to_string()),
        ("evidence", block.evidence.len().to_string()),
    ]);
    for (index, tx) in block.txs.iter().enumerate() {
        println!(
            "  tx {index}: {} {} (signer {}, nonce {}, fee {})",
            short(&tx.hash),
            describe_action(&tx.action),
            short(&tx.signer),
            tx.nonce,
            tx.fee
        );
    }
    for item in &block.evidence {
        println!(
            "  evidence: {} by {} at epoch {} view {}",
            item.kind,
            short(&item.offender),
            item.epoch,
            item.view
        );
    }
}

fn print_account(account: &AccountView) {
    let mut fields = vec![
        ("address", account.address.clone()),
        ("balance", account.balance.to_string()),
        ("next nonce", account.nonce.to_string()),
    ];
    if let Some(cold) = &account.hot_key_of {
        fields.push(("hot key of", cold.clone()));
    }
    for hot in &account.hot_keys {
        fields.push(("hot key", hot.clone()));
    }
    for delegation in &account.delegations {
        fields.push((
            "bonded",
            format!("{} to {}", delegation.amount, delegation.validator),
        ));
    }
    for entry in &account.unbonding {
        let text = format!(
            "{} from {} (returns at height {})",
            entry.amount, entry.validator, entry.matures_at
        );
        fields.push(("unbonding", text));
    }
    print_fields(&fields);
}

fn print_validators(validators: &[ValidatorView]) {
    if validators.is_empty() {
        println!("no validators");
        return;
    }
    println!(
        "{:<10} {:<10} {:<16} {:>12} {:>12} {:>12} {:>7}  state",
        "validator", "operator", "moniker", "self bond", "delegated", "slashed", "missed"
    );
    for v in validators {
        let state = match (v.active, v.jailed, v.jailed_for_inactivity_at) {
            (_, true, Some(at)) => format!("jailed for inactivity at {at} (cairn tx unjail)"),
            (_, true, None) => "jailed".to_string(),
            (true, false, _) => "active".to_string(),
            (false, false, _) => "inactive".to_string(),
        };
        println!(
            "{:<10} {:<10} {:<16} {:>12} {:>12} {:>12} {:>7}  {state}",
            short(&v.consensus_key),
            short(&v.operator),
            v.moniker,
            v.self_bond,
            v.delegated,
            v.slashed_total,
            v.missed_this_epoch
        );
    }
}

/// The first hex characters of a key or hash, for one-line summaries.
pub fn short(hex: &str) -> String {
    match hex.get(..SHORT_HEX_CHARS) {
        Some(prefix) if hex.len() > SHORT_HEX_CHARS => format!("{prefix}…"),
        _ => hex.to_string(),
    }
}

/// One line for an action, e.g. `transfer 100 → 5f3a9b2c…`.
pub fn describe_action(action: &ActionView) -> String {
    match action {
        ActionView::Transfer { to, amount } => format!("transfer {amount} → {}", short(to)),
        ActionView::Bond { validator, amount } => {
            format!("bond {amount} to validator {}", short(validator))
        }
        ActionView::Unbond { validator, amount } => {
            format!("unbond {amount} from validator {}", short(validator))
        }
        ActionView::LinkHotKey { hot } => format!("link hot key {}", short(hot)),
        ActionView::UnlinkHotKey { hot } => format!("unlink hot key {}", short(hot)),
        ActionView::SetValidatorMoniker { validator, moniker } => {
            format!(
                "set moniker of validator {} to {moniker:?}",
                short(validator)
            )
        }
        ActionView::ProposeTask { spec } => format!(
            "propose task: {} for {} rounds, {} aggregation, pool {}",
            spec.model, spec.rounds, spec.rule, spec.reward_pool
        ),
        ActionView::VoteTask { task, approve, .. } => {
            format!(
                "{} task {task}",
                if *approve { "approve" } else { "reject" }
            )
        }
        ActionView::JoinTask { task, role, stake } => {
            format!("join task {task} as {role} with stake {stake}")
        }
        ActionView::SubmitUpdate {
            task,
            round,
            update,
        } => {
            format!(
                "submit update {} to task {task} round {round}",
                short(update)
            )
        }
        ActionView::CommitScores { task, round, .. } => {
            format!("commit scores for task {task} round {round}")
        }
        ActionView::RevealScores {
            task,
            round,
            scores,
            ..
        } => {
            format!(
                "reveal {} scores for task {task} round {round}",
                scores.len()
            )
        }
        ActionView::AttestCheckpoint { task, round, model } => {
            format!(
                "attest checkpoint {} for task {task} round {round}",
                short(model)
            )
        }
        ActionView::RegisterModel {
            graph,
            graph_bytes,
            name,
            price,
            ..
        } => {
            format!(
                "register model {name} (graph {}, {graph_bytes} bytes) at price {price}",
                short(graph)
            )
        }
        ActionView::RequestInference { model, payment, .. } => {
            format!(
                "request an inference of model {} paying {payment}",
                short(model)
            )
        }
        ActionView::PostResult {
            request,
            output,
            bond,
            ..
        } => {
            format!("post result {output:?} for request {request} with bond {bond}")
        }
        ActionView::Challenge {
            request,
            output,
            k,
            bond,
            ..
        } => {
            format!("challenge request {request} with output {output:?} (k = {k}, bond {bond})")
        }
        ActionView::DisputeMove {
            request,
            dispute,
            bytes,
        } => {
            format!("dispute move ({bytes} bytes) in dispute {dispute} of request {request}")
        }
        ActionView::CreateValidator {
            consensus_key,
            moniker,
            self_bond,
        } => {
            format!(
                "create validator {} ({moniker:?}) with self-bond {self_bond}",
                short(consensus_key)
            )
        }
        ActionView::Unjail { validator } => format!("unjail validator {}", short(validator)),
        ActionView::RetireModel { model } => format!("retire model {}", short(model)),
    }
}
