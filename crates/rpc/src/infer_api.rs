//! The model registry and inference market as the RPC returns them (`cairn_getModel`,
//! `cairn_getModels`, `cairn_getInference`, `cairn_getInferences`). Hashes are lower-case hex
//! (graph ids BLAKE3, roots cairn-infer's BLAKE3 Merkle roots); outputs are int8 values.
//!
//! Each view also carries `record`: the hex of the entry's canonical encoding in the state,
//! so a provider or challenger can rebuild the dispute game exactly as the chain does
//! (`cairn_state::dispute_game`) instead of re-deriving it from the JSON fields.

use serde::{Deserialize, Serialize};

/// The training checkpoint a model came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineageView {
    pub task: u64,
    pub round: u32,
}

/// A registered model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelView {
    /// The model's id: `cairn_types::infer::model_id` of its owner and graph.
    pub id: String,
    /// BLAKE3 of the graph bytes (the blob id to fetch the graph by).
    pub graph: String,
    /// The graph's declared size in bytes.
    pub graph_bytes: u64,
    pub owner: String,
    pub name: String,
    pub licence: String,
    /// Paid to the owner for every settled inference.
    pub price: u64,
    pub model_root: String,
    pub node_count: u32,
    pub input_shape: Vec<u32>,
    pub output_shape: Vec<u32>,
    pub lineage: Option<LineageView>,
    /// The checkpoint the lineage round recorded.
    pub checkpoint: Option<String>,
    pub registered_at: u64,
    pub served: u64,
    pub refuted: u64,
    /// Blob deposit held for the graph.
    pub deposit: u64,
    /// `active`, `retired` or `invalid`.
    pub status: String,
    /// Why the model was found invalid, when it was.
    pub invalid_reason: Option<String>,
    /// Hex of the registration's canonical encoding (`cairn_types::ModelRegistration`).
    pub record: String,
}

/// An output claimed by a provider (the result) or a challenger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimView {
    pub account: String,
    pub output: Vec<i8>,
    pub exec_root: String,
    pub output_root: String,
    pub bond: u64,
    pub posted_at: u64,
}

/// How a dispute ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeEndView {
    /// `provider`, `challenger`, or `cancelled` (closed without a winner, bond returned).
    pub winner: String,
    pub reason: String,
    pub height: u64,
    /// The loser's bond, paid to the winner.
    pub slashed: u64,
}

/// One dispute over a result (disputes over one result run in parallel).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeView {
    /// Its index among the request's disputes (what `DisputeMove` names).
    pub index: u32,
    pub challenge: ClaimView,
    pub k: u8,
    /// Accepted moves so far.
    pub moves: u32,
    /// Bytes of those moves (what the dispute posted on chain).
    pub move_bytes: u64,
    /// While open: the last height the side to move may move at; else the end height.
    pub deadline: u64,
    pub end: Option<DisputeEndView>,
    /// Hex of the dispute's canonical encoding (`cairn_state::DisputeRecord`), to rebuild
    /// the game with `cairn_state::dispute_game`.
    pub record: String,
}

/// A paid inference request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InferenceView {
    pub id: u64,
    pub client: String,
    pub model: String,
    /// The input's int8 elements as hex bytes.
    pub input: String,
    pub input_root: String,
    pub payment: u64,
    pub price: u64,
    /// The only account that may post the result, if the client named one.
    pub provider: Option<String>,
    pub requested_at: u64,
    /// `requested`, `served`, `disputed`, `settled`, `refuted` or `expired`.
    pub status: String,
    /// The next height something is due: result deadline (requested), challenge window end
    /// (served), earliest move deadline (disputed); or the height the request ended at.
    pub deadline: u64,
    pub result: Option<ClaimView>,
    /// Last height a challenge is accepted (once a result is posted).
    pub window_end: u64,
    pub disputes: Vec<DisputeView>,
    /// Hex of the entry's canonical encoding (`cairn_state::Inference`).
    pub record: String,
}
