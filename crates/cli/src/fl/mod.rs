//! Federated-learning roles over the RPC: the trainer and validator daemons (`cairn train`,
//! `cairn validate`), `cairn task` and `cairn demo`.
//!
//! Roles are resumable by construction: each step reads what the chain already recorded (is
//! my update submitted? are my scores committed?) and does only what is missing. What the
//! chain cannot hold for them (a validator's salted scores between commit and reveal, a
//! trainer's trained update) is written to a state directory before the transaction that
//! depends on it is sent.

pub mod bench;
pub mod demo;
pub mod task_cmd;
pub mod trainer;
pub mod validator;

use anyhow::{Context, bail};
use cairn_fl::{Dataset, ModelSpec, QModel, Rule};
use cairn_rpc::api::Receipt;
use cairn_rpc::client::RpcClient;
use cairn_rpc::task_api::{TaskSpecView, TaskView};
use cairn_types::{Action, AggregationRule, PrivateKey, Transaction, to_hex};
use commonware_cryptography::Signer;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long a role waits for one of its transactions to be finalized.
pub const ROLE_TX_WAIT_MS: u64 = 15_000;
/// How often a role polls the chain for a phase change.
pub const ROLE_POLL_MS: u64 = 100;

/// Where role messages go (stdout for daemons, the progress display for the demo).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// An account that signs and submits transactions and waits for their receipts.
pub struct Participant {
    pub client: RpcClient,
    pub key: PrivateKey,
    pub address: String,
    chain_id: String,
}

impl Participant {
    pub fn new(client: RpcClient, key: PrivateKey) -> anyhow::Result<Self> {
        let chain_id = client
            .status()
            .with_context(|| format!("cannot reach the node at {}", client.url()))?
            .chain_id;
        let address = to_hex(key.public_key());
        Ok(Participant {
            client,
            key,
            address,
            chain_id,
        })
    }

    /// Signs `action` with the next nonce, submits it and waits for its receipt.
    pub fn send(&self, action: Action) -> anyhow::Result<Receipt> {
        let nonce = self
            .client
            .account(&self.address)
            .with_context(|| format!("cannot read the nonce of {}", self.address))?
            .nonce;
        let tx = Transaction {
            chain_id: self.chain_id.clone(),
            signer: self.key.public_key(),
            nonce,
            fee: 1,
            action,
        }
        .sign(&self.key);
        let name = tx.tx.action.name();
        let hash = self
            .client
            .submit_tx(&tx)
            .with_context(|| format!("{name} was refused"))?;
        let receipt = self.wait(&hash, name)?;
        if let Some(error) = &receipt.error {
            bail!("{name} failed in block {}: {error}", receipt.height);
        }
        Ok(receipt)
    }
}

impl Participant {
    /// Proposes a task (escrowing its pool) and returns its id and the block it landed in.
    pub fn propose(&self, spec: cairn_types::TaskSpec) -> anyhow::Result<(u64, u64)> {
        let receipt = self.send(Action::ProposeTask { spec })?;
        let id = self
            .client
            .tasks()?
            .into_iter()
            .filter(|t| t.proposer == self.address && t.proposed_at == receipt.height)
            .map(|t| t.id)
            .next_back()
            .context("the proposed task is not on chain")?;
        Ok((id, receipt.height))
    }

    /// Waits for `hash`'s receipt; gives up early when the node dropped the transaction (it
    /// is neither pending nor finalized: its phase closed before a block took it).
    // A client-side deadline, not consensus code.
    #[allow(clippy::disallowed_methods)]
    fn wait(&self, hash: &str, name: &str) -> anyhow::Result<Receipt> {
        let started = std::time::Instant::now();
        loop {
            if let Some(receipt) = self.client.tx_receipt(hash)? {
                return Ok(receipt);
            }
            if !self.client.is_tx_pending(hash)? {
                // It may have been finalized between the two calls.
                if let Some(receipt) = self.client.tx_receipt(hash)? {
                    return Ok(receipt);
                }
                bail!("{name} (tx {hash}) was dropped by the node before a block took it");
            }
            if started.elapsed() > Duration::from_millis(ROLE_TX_WAIT_MS) {
                bail!("{name} (tx {hash}) was not finalized within {ROLE_TX_WAIT_MS} ms");
            }
            std::thread::sleep(Duration::from_millis(ROLE_POLL_MS));
        }
    }
}

/// The chain's rule as cairn-fl's.
pub fn rule_of(rule: &AggregationRule) -> Rule {
    match *rule {
        AggregationRule::FedAvg => Rule::FedAvg,
        AggregationRule::Median => Rule::Median,
        AggregationRule::TrimmedMean { trim_per_mille } => Rule::TrimmedMean { trim_per_mille },
        AggregationRule::Krum { byzantine } => Rule::Krum { byzantine },
        AggregationRule::MultiKrum { byzantine, select } => Rule::MultiKrum { byzantine, select },
    }
}

/// The task's model architecture, with an error naming the task.
pub fn model_spec(task: &TaskView) -> anyhow::Result<ModelSpec> {
    task.spec.model.parse().map_err(|e| {
        anyhow::anyhow!(
            "task {} names model {:?}, which this build cannot run: {e}",
            task.id,
            task.spec.model
        )
    })
}

/// Local training settings from the task (single-threaded unless `threads` says otherwise).
pub fn train_config(spec: &TaskSpecView, seed: u64, threads: usize) -> cairn_fl::TrainConfig {
    cairn_fl::TrainConfig {
        threads,
        batch_size: spec.batch_size as usize,
        epochs: spec.local_epochs as usize,
        // Off-chain: the learning rate only steers local training.
        lr: spec.learning_rate_micro as f32 / 1e6,
        momentum: 0.0,
        seed,
    }
}

/// Parses a 32-byte hex hash.
pub fn parse_hash(what: &str, text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(text.trim().trim_start_matches("0x"))
        .with_context(|| format!("{what} '{text}' is not hex"))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        anyhow::anyhow!(
            "{what} must be 32 bytes (64 hex characters), got {}",
            bytes.len()
        )
    })
}

/// Fetches blob `id` and decodes it as a model.
pub fn fetch_model(client: &RpcClient, id: &str) -> anyhow::Result<QModel> {
    let bytes = client
        .get_blob(id)
        .with_context(|| format!("cannot fetch model blob {id}"))?;
    QModel::decode(&bytes).with_context(|| format!("blob {id} is not a model"))
}

/// Uploads `model` and returns its hash (hex).
pub fn upload_model(client: &RpcClient, model: &QModel) -> anyhow::Result<String> {
    client
        .put_blob(&model.encode())
        .context("cannot upload the model blob")
}

/// BLAKE3 commitment to a dataset's contents: shape, every image and every label.
pub fn dataset_commitment(data: &Dataset) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"cairn-dataset-v1");
    for n in [data.len(), data.rows(), data.cols(), data.classes()] {
        h.update(&(n as u64).to_le_bytes());
    }
    for i in 0..data.len() {
        h.update(data.image(i));
    }
    h.update(data.labels());
    *h.finalize().as_bytes()
}

/// Where a role's data comes from.
#[derive(Clone, Debug)]
pub enum DataSource {
    /// The built-in synthetic set ([cairn_fl::demo_dataset]).
    Synthetic { seed: u64 },
    /// MNIST IDX files: train = the first 55,000 training images, validation = the last
    /// 5,000, test = the 10,000 test images.
    Mnist { dir: PathBuf },
}

/// Samples of MNIST's training split held out for validation.
pub const MNIST_VALIDATION_SAMPLES: usize = 5_000;

/// Train, validation and test splits.
pub struct TaskData {
    pub train: Dataset,
    pub validation: Dataset,
    pub test: Dataset,
}

impl DataSource {
    pub fn from_flag(data: Option<&Path>) -> DataSource {
        match data {
            Some(dir) => DataSource::Mnist {
                dir: dir.to_path_buf(),
            },
            None => DataSource::Synthetic { seed: 0 },
        }
    }

    pub fn load(&self) -> anyhow::Result<TaskData> {
        match self {
            DataSource::Synthetic { seed } => {
                let (train, validation, test) = cairn_fl::demo_dataset(*seed);
                Ok(TaskData {
                    train,
                    validation,
                    test,
                })
            }
            DataSource::Mnist { dir } => {
                let (all, test) = cairn_fl::load_mnist(dir).with_context(|| {
                    format!("cannot load MNIST IDX files from {} (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-…)", dir.display())
                })?;
                let cut = all.len().saturating_sub(MNIST_VALIDATION_SAMPLES);
                let train = cairn_fl::subset(&all, &(0..cut).collect::<Vec<_>>());
                let validation = cairn_fl::subset(&all, &(cut..all.len()).collect::<Vec<_>>());
                Ok(TaskData {
                    train,
                    validation,
                    test,
                })
            }
        }
    }
}

/// A role's seed for one round: depends on the task, round and account only.
pub fn round_seed(task: u64, round: u32, address: &str) -> u64 {
    let h = blake3::hash(format!("{task}/{round}/{address}").as_bytes());
    u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or([0; 8]))
}

/// Writes `bytes` to `path` atomically (temp file + rename), creating the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Reads the task or fails with a message naming it.
pub fn read_task(client: &RpcClient, id: u64) -> anyhow::Result<TaskView> {
    client
        .task(id)
        .with_context(|| format!("cannot read task {id}"))
}

/// Whether round `index` of `task` is still in `phase` (work such as training or
/// aggregating takes time; a phase that closed meanwhile makes the transaction pointless).
pub fn still_in_phase(client: &RpcClient, task: u64, index: u32, phase: &str) -> bool {
    client
        .task(task)
        .ok()
        .and_then(|t| t.round)
        .is_some_and(|r| r.index == index && r.phase == phase)
}

/// Whether the task is over (nothing left to do for any role).
pub fn finished(task: &TaskView) -> bool {
    matches!(task.status.as_str(), "completed" | "rejected")
}

/// Joins `task` in `role` with the task's minimum stake (or `stake`) unless already a member.
pub fn ensure_joined(
    me: &Participant,
    task: &TaskView,
    role: cairn_types::Role,
    stake: Option<u64>,
    log: &Log,
) -> anyhow::Result<()> {
    let (members, min) = match role {
        cairn_types::Role::Trainer => (&task.trainers, task.spec.min_trainer_stake),
        cairn_types::Role::Validator => (&task.validators, task.spec.min_validator_stake),
    };
    if members.iter().any(|m| m.address == me.address) {
        return Ok(());
    }
    let stake = stake.unwrap_or(min);
    me.send(Action::JoinTask {
        task: task.id,
        role,
        stake,
    })?;
    log(&format!(
        "joined task {} as {} with stake {stake}",
        task.id,
        role.name()
    ));
    Ok(())
}
