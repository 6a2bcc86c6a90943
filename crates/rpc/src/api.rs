//! What the RPC returns, as serde types. Keys and digests are lower-case hex strings (no `0x`);
//! amounts are integers in the token's smallest unit; heights are block heights.

use cairn_types::{Action, Block, Evidence, EvidenceKind, SignedTx, to_hex};
use commonware_codec::Encode;
use serde::{Deserialize, Serialize};

/// A node's view of the chain (`cairn_status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub chain_id: String,
    /// The node's own public key (consensus and p2p identity).
    pub node_key: String,
    /// Height of the last finalized block.
    pub height: u64,
    pub last_block_hash: String,
    /// State root after the last finalized block.
    pub state_root: String,
    pub epoch: u64,
    /// Size of the current validator set.
    pub validators: u32,
    /// Whether this node's key is in that set (a node outside it follows the chain and votes
    /// from the epoch its bond puts it in).
    #[serde(default)]
    pub in_active_set: bool,
    /// Transactions waiting in this node's mempool.
    pub mempool_size: u32,
    /// Other validators in the p2p peer set this node tracks (not a live connection count).
    pub peers: u32,
}

/// A finalized block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockView {
    pub hash: String,
    pub height: u64,
    pub parent: String,
    /// The consensus leader of the round that proposed the block.
    pub proposer: String,
    pub epoch: u64,
    pub view: u64,
    /// Proposer's clock, ms since the Unix epoch (informational).
    pub timestamp_ms: u64,
    pub state_root: String,
    pub body_root: String,
    pub txs: Vec<TxView>,
    pub evidence: Vec<EvidenceView>,
}

impl BlockView {
    pub fn from_block(block: &Block) -> Self {
        BlockView {
            hash: to_hex(block.hash()),
            height: block.height,
            parent: to_hex(block.parent),
            proposer: to_hex(&block.context.leader),
            epoch: block.context.round.epoch().get(),
            view: block.context.round.view().get(),
            timestamp_ms: block.timestamp_ms,
            state_root: to_hex(block.state_root),
            body_root: to_hex(block.body_root),
            txs: block.txs.iter().map(TxView::from_signed).collect(),
            evidence: block
                .evidence
                .iter()
                .map(EvidenceView::from_evidence)
                .collect(),
        }
    }
}

/// A signed transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxView {
    pub hash: String,
    pub signer: String,
    pub nonce: u64,
    pub fee: u64,
    pub chain_id: String,
    pub action: ActionView,
    pub signature: String,
}

impl TxView {
    pub fn from_signed(tx: &SignedTx) -> Self {
        TxView {
            hash: to_hex(tx.hash()),
            signer: to_hex(&tx.tx.signer),
            nonce: tx.tx.nonce,
            fee: tx.tx.fee,
            chain_id: tx.tx.chain_id.clone(),
            action: ActionView::from_action(&tx.tx.action),
            signature: to_hex(&tx.signature),
        }
    }
}

/// [Action] in JSON: `{"type": "transfer", "to": "…", "amount": 5}`; `type` is [Action::name].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActionView {
    Transfer {
        to: String,
        amount: u64,
    },
    Bond {
        validator: String,
        amount: u64,
    },
    Unbond {
        validator: String,
        amount: u64,
    },
    LinkHotKey {
        hot: String,
    },
    UnlinkHotKey {
        hot: String,
    },
    SetValidatorMoniker {
        validator: String,
        moniker: String,
    },
    ProposeTask {
        spec: crate::task_api::TaskSpecView,
    },
    VoteTask {
        task: u64,
        validator: String,
        approve: bool,
    },
    JoinTask {
        task: u64,
        role: String,
        stake: u64,
    },
    SubmitUpdate {
        task: u64,
        round: u32,
        update: String,
    },
    CommitScores {
        task: u64,
        round: u32,
        commitment: String,
    },
    RevealScores {
        task: u64,
        round: u32,
        scores: Vec<u16>,
        salt: String,
    },
    AttestCheckpoint {
        task: u64,
        round: u32,
        model: String,
    },
    RegisterModel {
        /// The graph's blob id (the model's id also depends on the owner:
        /// `cairn_types::infer::model_id`).
        graph: String,
        graph_bytes: u64,
        name: String,
        licence: String,
        price: u64,
        model_root: String,
        node_count: u32,
        input_shape: Vec<u32>,
        output_shape: Vec<u32>,
        lineage: Option<crate::infer_api::LineageView>,
    },
    RequestInference {
        model: String,
        input: String,
        payment: u64,
        /// The only account that may post the result, if the client named one.
        provider: Option<String>,
    },
    PostResult {
        request: u64,
        output: Vec<i8>,
        exec_root: String,
        bond: u64,
    },
    Challenge {
        request: u64,
        output: Vec<i8>,
        exec_root: String,
        k: u8,
        bond: u64,
    },
    /// `bytes`: the move's encoded length (its content is cairn-dispute's binary move).
    DisputeMove {
        request: u64,
        dispute: u32,
        bytes: u64,
    },
    CreateValidator {
        consensus_key: String,
        moniker: String,
        self_bond: u64,
    },
    Unjail {
        validator: String,
    },
    RetireModel {
        model: String,
    },
}

fn int8(bytes: &[u8]) -> Vec<i8> {
    // u8 → i8 is a bit-for-bit reinterpretation.
    bytes.iter().map(|&b| b as i8).collect()
}

impl ActionView {
    pub fn from_action(action: &Action) -> Self {
        match action {
            Action::Transfer { to, amount } => ActionView::Transfer {
                to: to_hex(to),
                amount: *amount,
            },
            Action::Bond { validator, amount } => ActionView::Bond {
                validator: to_hex(validator),
                amount: *amount,
            },
            Action::Unbond { validator, amount } => ActionView::Unbond {
                validator: to_hex(validator),
                amount: *amount,
            },
            Action::LinkHotKey { hot, .. } => ActionView::LinkHotKey { hot: to_hex(hot) },
            Action::UnlinkHotKey { hot } => ActionView::UnlinkHotKey { hot: to_hex(hot) },
            Action::SetValidatorMoniker { validator, moniker } => ActionView::SetValidatorMoniker {
                validator: to_hex(validator),
                moniker: moniker.clone(),
            },
            Action::ProposeTask { spec } => ActionView::ProposeTask {
                spec: crate::task_api::TaskSpecView::from_spec(spec),
            },
            Action::VoteTask {
                task,
                validator,
                approve,
            } => ActionView::VoteTask {
                task: *task,
                validator: to_hex(validator),
                approve: *approve,
            },
            Action::JoinTask { task, role, stake } => ActionView::JoinTask {
                task: *task,
                role: role.name().into(),
                stake: *stake,
            },
            Action::SubmitUpdate {
                task,
                round,
                update,
            } => ActionView::SubmitUpdate {
                task: *task,
                round: *round,
                update: to_hex(update),
            },
            Action::CommitScores {
                task,
                round,
                commitment,
            } => ActionView::CommitScores {
                task: *task,
                round: *round,
                commitment: to_hex(commitment),
            },
            Action::RevealScores {
                task,
                round,
                scores,
                salt,
            } => ActionView::RevealScores {
                task: *task,
                round: *round,
                scores: scores.clone(),
                salt: to_hex(salt),
            },
            Action::AttestCheckpoint { task, round, model } => ActionView::AttestCheckpoint {
                task: *task,
                round: *round,
                model: to_hex(model),
            },
            Action::RegisterModel { model: m } => ActionView::RegisterModel {
                graph: to_hex(m.graph),
                graph_bytes: m.graph_bytes,
                name: m.name.clone(),
                licence: m.licence.clone(),
                price: m.price,
                model_root: to_hex(m.model_root),
                node_count: m.node_count,
                input_shape: m.input_shape.clone(),
                output_shape: m.output_shape.clone(),
                lineage: m.lineage.map(|l| crate::infer_api::LineageView {
                    task: l.task,
                    round: l.round,
                }),
            },
            Action::RequestInference {
                model,
                input,
                payment,
                provider,
            } => ActionView::RequestInference {
                model: to_hex(model),
                input: to_hex(input),
                payment: *payment,
                provider: provider.as_ref().map(to_hex),
            },
            Action::PostResult {
                request,
                output,
                exec_root,
                bond,
                ..
            } => ActionView::PostResult {
                request: *request,
                output: int8(output),
                exec_root: to_hex(exec_root),
                bond: *bond,
            },
            Action::Challenge {
                request,
                output,
                exec_root,
                k,
                bond,
                ..
            } => ActionView::Challenge {
                request: *request,
                output: int8(output),
                exec_root: to_hex(exec_root),
                k: *k,
                bond: *bond,
            },
            Action::DisputeMove {
                request,
                dispute,
                mv,
            } => ActionView::DisputeMove {
                request: *request,
                dispute: *dispute,
                bytes: mv.len() as u64,
            },
            Action::CreateValidator {
                consensus_key,
                moniker,
                self_bond,
                ..
            } => ActionView::CreateValidator {
                consensus_key: to_hex(consensus_key),
                moniker: moniker.clone(),
                self_bond: *self_bond,
            },
            Action::Unjail { validator } => ActionView::Unjail {
                validator: to_hex(validator),
            },
            Action::RetireModel { model } => ActionView::RetireModel {
                model: to_hex(model),
            },
        }
    }

    /// The action's name, as [Action::name] gives it.
    pub fn name(&self) -> &'static str {
        match self {
            ActionView::Transfer { .. } => "transfer",
            ActionView::Bond { .. } => "bond",
            ActionView::Unbond { .. } => "unbond",
            ActionView::LinkHotKey { .. } => "link_hot_key",
            ActionView::UnlinkHotKey { .. } => "unlink_hot_key",
            ActionView::SetValidatorMoniker { .. } => "set_validator_moniker",
            ActionView::ProposeTask { .. } => "propose_task",
            ActionView::VoteTask { .. } => "vote_task",
            ActionView::JoinTask { .. } => "join_task",
            ActionView::SubmitUpdate { .. } => "submit_update",
            ActionView::CommitScores { .. } => "commit_scores",
            ActionView::RevealScores { .. } => "reveal_scores",
            ActionView::AttestCheckpoint { .. } => "attest_checkpoint",
            ActionView::RegisterModel { .. } => "register_model",
            ActionView::RequestInference { .. } => "request_inference",
            ActionView::PostResult { .. } => "post_result",
            ActionView::Challenge { .. } => "challenge",
            ActionView::DisputeMove { .. } => "dispute_move",
            ActionView::CreateValidator { .. } => "create_validator",
            ActionView::Unjail { .. } => "unjail",
            ActionView::RetireModel { .. } => "retire_model",
        }
    }
}

/// Equivocation evidence carried by a block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceView {
    /// `conflicting_notarize`, `conflicting_finalize` or `nullify_finalize`.
    pub kind: String,
    pub offender: String,
    pub epoch: u64,
    pub view: u64,
    /// Hex of the encoded pair of conflicting votes.
    pub proof: String,
}

impl EvidenceView {
    pub fn from_evidence(evidence: &Evidence) -> Self {
        let kind = match evidence.kind {
            EvidenceKind::ConflictingNotarize => "conflicting_notarize",
            EvidenceKind::ConflictingFinalize => "conflicting_finalize",
            EvidenceKind::NullifyFinalize => "nullify_finalize",
        };
        EvidenceView {
            kind: kind.to_string(),
            offender: to_hex(&evidence.offender),
            epoch: evidence.epoch,
            view: evidence.view,
            proof: to_hex(&evidence.proof),
        }
    }
}

/// Outcome of a transaction included in a finalized block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxStatus {
    Finalized,
}

/// Where and how a transaction was finalized (`cairn_getTxReceipt`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub tx_hash: String,
    pub height: u64,
    pub block_hash: String,
    /// Position of the transaction in the block.
    pub index: u32,
    pub signer: String,
    /// The account the transaction acted for: the signer, or the cold account of a hot key.
    pub account: String,
    pub action: ActionView,
    pub fee: u64,
    pub status: TxStatus,
    /// Why the action failed, when it did (the fee is charged whatever the outcome).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An account (`cairn_getAccount`); an unknown account is all zeroes and empty lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub address: String,
    /// Liquid balance (bonded and unbonding amounts are not included).
    pub balance: u64,
    /// The nonce this key's next transaction must carry.
    pub nonce: u64,
    /// When this key is a linked hot key: the cold account it acts for.
    pub hot_key_of: Option<String>,
    /// Hot keys linked to this (cold) account.
    pub hot_keys: Vec<String>,
    pub delegations: Vec<DelegationView>,
    pub unbonding: Vec<UnbondingView>,
}

impl AccountView {
    /// The view of an account the chain has never seen.
    pub fn empty(address: impl Into<String>) -> Self {
        AccountView {
            address: address.into(),
            ..AccountView::default()
        }
    }
}

/// Stake bonded by an account to one validator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegationView {
    /// The validator's consensus key.
    pub validator: String,
    pub amount: u64,
}

/// Stake on its way back to an account's balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnbondingView {
    pub validator: String,
    pub amount: u64,
    /// Block height at which `amount` returns to the balance.
    pub matures_at: u64,
}

/// A validator (`cairn_getValidators`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorView {
    pub consensus_key: String,
    /// The cold account that operates the validator.
    pub operator: String,
    pub moniker: String,
    pub self_bond: u64,
    pub delegated: u64,
    pub total_bond: u64,
    pub jailed: bool,
    /// Stake burnt by slashing over the validator's lifetime.
    pub slashed_total: u64,
    /// Whether it is in the current validator set.
    pub active: bool,
    /// Leader slots it missed so far this epoch.
    #[serde(default)]
    pub missed_this_epoch: u32,
    /// The height that jailed it for inactivity, while it may still unjail (`cairn tx unjail`).
    #[serde(default)]
    pub jailed_for_inactivity_at: Option<u64>,
}

/// An account with a Merkle proof against a state root (`cairn_getAccountProof`). The server
/// does not verify it; clients check it against `state_root` with the state crate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountProofView {
    pub address: String,
    pub balance: u64,
    pub nonce: u64,
    pub leaf_index: u64,
    pub leaf_count: u64,
    /// Hex of the encoded proof.
    pub proof: String,
    pub state_root: String,
    /// Height of the block whose state root the proof is against.
    pub height: u64,
}

/// Answer to `cairn_submitTx`: the transaction was accepted into the mempool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitResult {
    pub tx_hash: String,
}

/// Hex of a transaction's canonical encoding, as `cairn_submitTx` takes it.
pub fn encode_tx_hex(tx: &SignedTx) -> String {
    to_hex(tx.encode())
}

// --- Blobs (`PUT /blobs`, `GET /blobs/{id}`, `cairn_hasBlob`) ---

/// A stored blob: its id (BLAKE3 hash of the bytes, lower-case hex) and size in bytes. The
/// answer to `PUT /blobs` and `PUT /blobs/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobInfo {
    pub id: String,
    pub size: u64,
}
