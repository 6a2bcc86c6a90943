//! Verified inference from the command line: the model registry (`cairn model`), paid
//! requests (`cairn infer`), the provider daemon (`cairn serve`) and the challenger daemon
//! (`cairn watch`).
//!
//! Every party works from what the chain recorded: a model's graph is fetched from any node
//! and checked against the graph hash, model root, node count and shapes registered on chain;
//! a dispute is rebuilt from the request's canonical record with `cairn_state::dispute_game`,
//! the very function the state machine judges moves with, so a daemon and the chain never
//! disagree about whose turn it is or what must be posted.

pub mod model_cmd;
pub mod request;
pub mod serve;
pub mod watch;

use crate::fl::{Log, Participant};
use anyhow::{Context, bail};
use cairn_dispute::{Player, Side};
use cairn_infer::{Graph, ModelCommitment};
use cairn_rpc::client::RpcClient;
use cairn_rpc::infer_api::{DisputeView, InferenceView, ModelView};
use cairn_state::{DisputeRecord, Inference};
use cairn_types::{Action, ModelRegistration};
use commonware_codec::DecodeExt;
use std::time::Duration;

/// How often daemons poll the chain.
pub const POLL_MS: u64 = 200;

/// A registered model with its graph, fetched and checked against the chain.
pub struct LoadedModel {
    pub view: ModelView,
    pub registration: ModelRegistration,
    pub graph: Graph,
}

/// Decodes hex of a canonical record.
fn decode_hex<T: commonware_codec::Read<Cfg = ()>>(
    what: &str,
    hex_text: &str,
) -> anyhow::Result<T> {
    let bytes = hex::decode(hex_text).with_context(|| format!("{what} record is not hex"))?;
    T::decode(commonware_codec::Copying(bytes.as_slice()))
        .map_err(|e| anyhow::anyhow!("{what} record does not decode: {e}"))
}

/// Fetches model `id` and its graph blob; fails naming the first commitment the blob breaks.
pub fn load_model(client: &RpcClient, id: &str) -> anyhow::Result<LoadedModel> {
    let view = client
        .model(id)
        .with_context(|| format!("model {id} is not registered on this chain"))?;
    let registration: ModelRegistration = decode_hex("model", &view.record)?;
    let bytes = client
        .get_blob(&view.graph)
        .with_context(|| format!("cannot fetch the graph of model {id}"))?;
    let graph = cairn_infer::decode(&bytes)
        .with_context(|| format!("the graph blob of model {id} does not decode"))?;
    check_graph(&registration, &graph)?;
    Ok(LoadedModel {
        view,
        registration,
        graph,
    })
}

/// Checks that `graph` is what `r` registered.
pub fn check_graph(r: &ModelRegistration, graph: &Graph) -> anyhow::Result<()> {
    if graph.blob_id() != r.graph {
        bail!("the graph's content hash differs from the registered graph hash");
    }
    if graph.encode().len() as u64 != r.graph_bytes {
        bail!("the graph's size differs from the registered size");
    }
    if ModelCommitment::new(graph).root != r.model_root {
        bail!("the graph's model root differs from the registered model root");
    }
    if graph.len() as u32 != r.node_count {
        bail!(
            "the graph has {} nodes; the registration says {}",
            graph.len(),
            r.node_count
        );
    }
    if graph.input().shape != r.input_shape || graph.output().shape != r.output_shape {
        bail!("the graph's input or output shape differs from the registration");
    }
    Ok(())
}

/// A request's canonical record.
pub fn decode_inference(view: &InferenceView) -> anyhow::Result<Inference> {
    decode_hex("inference", &view.record)
}

/// The input of a request as int8 elements.
pub fn input_of(view: &InferenceView) -> anyhow::Result<Vec<i8>> {
    let bytes = hex::decode(&view.input).context("request input is not hex")?;
    Ok(bytes.iter().map(|&b| b as i8).collect())
}

/// What a claim posts: output bytes, execution root and the output's proof.
pub fn claim_parts(player: &Player) -> (Vec<u8>, [u8; 32], Vec<u8>) {
    let claim = player.claim();
    let mut proof = Vec::new();
    cairn_dispute::encode::encode_proof(&mut proof, &claim.output_proof);
    let output = player.trace().output().iter().map(|&v| v as u8).collect();
    (output, claim.exec_root, proof)
}

/// The open disputes over `view` in which `account` is the challenger (or, with
/// `as_provider`, every open dispute: the provider is a party to all of them).
pub fn open_disputes<'a>(
    view: &'a InferenceView,
    account: &'a str,
    as_provider: bool,
) -> impl Iterator<Item = &'a DisputeView> {
    view.disputes
        .iter()
        .filter(move |d| d.end.is_none() && (as_provider || d.challenge.account == account))
}

/// Plays `side`'s move in dispute `dispute` over `view` when it is `side`'s turn. Returns
/// whether a move was sent.
pub fn play_turn(
    me: &Participant,
    model: &LoadedModel,
    view: &InferenceView,
    dispute: &DisputeView,
    player: &Player,
    side: Side,
    log: &Log,
) -> anyhow::Result<bool> {
    let inference = decode_inference(view)?;
    let record: DisputeRecord = decode_hex("dispute", &dispute.record)?;
    let (game, _, _) = cairn_state::dispute_game(&model.registration, &inference, &record)
        .map_err(|e| anyhow::anyhow!("request {} dispute {}: {e}", view.id, dispute.index))?;
    if game.turn() != Some(side) {
        return Ok(false);
    }
    let Some(mv) = player.respond(side, &game.request()) else {
        log(&format!(
            "request {}: nothing to post for {} (the dispute will time out)",
            view.id,
            mv_side(side)
        ));
        return Ok(false);
    };
    let name = mv.name();
    let bytes = mv.encode();
    let size = bytes.len();
    me.send(Action::DisputeMove {
        request: view.id,
        dispute: dispute.index,
        mv: bytes,
    })
    .with_context(|| format!("request {}: {name} move", view.id))?;
    log(&format!(
        "request {}: posted {name} ({size} bytes) as {}",
        view.id,
        mv_side(side)
    ));
    Ok(true)
}

fn mv_side(side: Side) -> &'static str {
    match side {
        Side::Provider => "provider",
        Side::Challenger => "challenger",
    }
}

/// Sleeps one poll interval.
pub fn pause() {
    std::thread::sleep(Duration::from_millis(POLL_MS));
}

/// Every request from id 1 on (following pages).
pub fn all_inferences(client: &RpcClient) -> anyhow::Result<Vec<InferenceView>> {
    inferences_from(client, 0)
}

/// Every request with id ≥ `from` (following pages).
pub fn inferences_from(client: &RpcClient, from: u64) -> anyhow::Result<Vec<InferenceView>> {
    let mut out: Vec<InferenceView> = Vec::new();
    loop {
        let next = out.last().map_or(from, |i| i.id + 1);
        let page = client.inferences(next)?;
        if page.is_empty() {
            return Ok(out);
        }
        out.extend(page);
    }
}

/// Whether a request can still change (it holds escrow).
pub fn is_live(view: &InferenceView) -> bool {
    matches!(view.status.as_str(), "requested" | "served" | "disputed")
}

/// Where a daemon's next scan starts: the first request that is live or that `keep` still
/// follows; past the last one when none is (earlier requests never change again).
pub fn next_scan_start(views: &[InferenceView], from: u64, keep: impl Fn(u64) -> bool) -> u64 {
    match views.iter().find(|v| is_live(v) || keep(v.id)) {
        Some(first) => first.id,
        None => views.last().map_or(from, |v| v.id + 1),
    }
}

/// Registered models a daemon has fetched and checked, by id.
#[derive(Default)]
pub struct ModelCache(std::collections::BTreeMap<String, std::sync::Arc<LoadedModel>>);

impl ModelCache {
    /// Model `id`, fetched and checked on first use.
    pub fn get(
        &mut self,
        client: &RpcClient,
        id: &str,
    ) -> anyhow::Result<std::sync::Arc<LoadedModel>> {
        if let Some(m) = self.0.get(id) {
            return Ok(m.clone());
        }
        let m = std::sync::Arc::new(load_model(client, id)?);
        self.0.insert(id.to_string(), m.clone());
        Ok(m)
    }
}
