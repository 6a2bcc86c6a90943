//! `cairn serve`: the provider daemon. It answers inference requests for registered models
//! with a bonded result (output, execution root, output proof), and defends its results in
//! disputes move by move until the chain decides.
//!
//! `--lie-at NODE` makes it a careful cheat for demonstrations: it changes one node's output
//! and recomputes everything after it, so its trace is consistent everywhere but there —
//! exactly what `cairn watch` must catch with the one-step check.

use super::{
    LoadedModel, ModelCache, claim_parts, inferences_from, input_of, load_model, next_scan_start,
    open_disputes, pause, play_turn,
};
use crate::fl::{Log, Participant};
use crate::query::short;
use anyhow::Context;
use cairn_dispute::{Player, Side};
use cairn_rpc::client::RpcClient;
use cairn_rpc::infer_api::InferenceView;
use cairn_types::{Action, PrivateKey, infer::BOND_MIN, infer::bond_min};
use clap::Args;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Serve only this model [default: every registered model].
    #[arg(long)]
    pub model: Option<String>,
    /// Bond posted with each result (lost to a challenger who proves it wrong); raised to the
    /// chain's minimum for the request's payment when below it.
    #[arg(long, default_value_t = 2 * BOND_MIN)]
    pub bond: u64,
    /// Dishonest provider, for demonstrations: change this graph node's output (recomputing
    /// every later node consistently) — a lie `cairn watch` proves wrong on chain.
    #[arg(long)]
    pub lie_at: Option<usize>,
    /// Stop after this many of our results have ended (settled or refuted).
    #[arg(long)]
    pub count: Option<u64>,
}

/// The provider's state: models it loaded, and the trace behind each posted result.
struct Provider {
    me: Participant,
    args: ServeArgs,
    models: ModelCache,
    players: BTreeMap<u64, Player>,
    log: Log,
}

impl Provider {
    fn model(&mut self, id: &str) -> anyhow::Result<Arc<LoadedModel>> {
        self.models.get(&self.me.client, id)
    }

    /// The trace we commit to for `view` (the truth, or the lie `--lie-at` asks for).
    fn player(&mut self, view: &InferenceView, model: &LoadedModel) -> anyhow::Result<&Player> {
        if !self.players.contains_key(&view.id) {
            let truth = cairn_infer::run(&model.graph, &input_of(view)?).with_context(|| {
                format!("request {}: the input does not fit the model", view.id)
            })?;
            let trace = match self.args.lie_at {
                Some(at) => cairn_dispute::forge::lie_at(&model.graph, &truth, at, view.id)
                    .with_context(|| {
                        format!(
                            "--lie-at {at}: the model has nodes 1..{}",
                            model.graph.len() - 1
                        )
                    })?,
                None => truth,
            };
            self.players
                .insert(view.id, Player::new(model.graph.clone(), trace));
        }
        Ok(&self.players[&view.id])
    }

    /// A request for a model we serve, open to any provider or naming us.
    fn wanted(&self, view: &InferenceView) -> bool {
        self.args.model.as_ref().is_none_or(|m| *m == view.model)
            && view.provider.as_ref().is_none_or(|p| *p == self.me.address)
    }

    /// Handles one request; returns true when one of our results ended.
    fn step(&mut self, view: &InferenceView) -> anyhow::Result<bool> {
        let ours = view
            .result
            .as_ref()
            .is_some_and(|r| r.account == self.me.address);
        match view.status.as_str() {
            "requested" if self.wanted(view) => {
                let model = self.model(&view.model)?;
                let bond = self.args.bond.max(bond_min(view.payment));
                let player = self.player(view, &model)?;
                let (output, exec_root, output_proof) = claim_parts(player);
                let shown: Vec<i8> = player.trace().output().to_vec();
                self.me.send(Action::PostResult {
                    request: view.id,
                    output,
                    exec_root,
                    output_proof,
                    bond,
                })?;
                (self.log)(&format!(
                    "request {}: posted output {shown:?} with execution root {} and bond {bond}{}",
                    view.id,
                    short(&cairn_types::to_hex(exec_root)),
                    if self.args.lie_at.is_some() {
                        " (a deliberate lie)"
                    } else {
                        ""
                    }
                ));
                Ok(false)
            }
            "disputed" if ours => {
                let model = self.model(&view.model)?;
                let player = self.player(view, &model)?.clone();
                for d in open_disputes(view, &self.me.address, true) {
                    play_turn(&self.me, &model, view, d, &player, Side::Provider, &self.log)?;
                }
                Ok(false)
            }
            "settled" | "refuted" if ours && self.players.remove(&view.id).is_some() => {
                (self.log)(&format!(
                    "request {}: {} ({})",
                    view.id,
                    view.status,
                    match view.status.as_str() {
                        "settled" => format!(
                            "paid {} and bond {} returned",
                            view.payment - view.price,
                            view.result.as_ref().map_or(0, |r| r.bond)
                        ),
                        _ => "our bond went to the challenger".into(),
                    }
                ));
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

pub fn run(args: ServeArgs, client: &RpcClient, key: PrivateKey) -> anyhow::Result<()> {
    let me = Participant::new(RpcClient::new(client.url()), key)?;
    println!(
        "cairn serve: provider {} on {}{}",
        me.address,
        client.url(),
        args.lie_at
            .map(|n| format!(" — DISHONEST: lying at node {n}"))
            .unwrap_or_default()
    );
    if let Some(m) = &args.model {
        load_model(client, m)?;
    }
    let log: Log = Arc::new(|line: &str| println!("{line}"));
    let mut provider = Provider {
        me,
        args,
        models: ModelCache::default(),
        players: BTreeMap::new(),
        log,
    };
    let mut ended = 0u64;
    // Requests below `from` have all ended: never scanned again.
    let mut from = 0u64;
    loop {
        let views = inferences_from(&provider.me.client, from)?;
        from = next_scan_start(&views, from, |id| provider.players.contains_key(&id));
        for view in &views {
            match provider.step(view) {
                Ok(true) => ended += 1,
                Ok(false) => {}
                // A refused transaction (a window that just closed, a race with another
                // provider) is not fatal: the next poll sees the new state.
                Err(e) => println!("request {}: {e:#}", view.id),
            }
        }
        if provider.args.count.is_some_and(|n| ended >= n) {
            return Ok(());
        }
        pause();
    }
}
