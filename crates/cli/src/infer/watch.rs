//! `cairn watch`: the challenger daemon. It re-executes every posted result with the
//! registered graph, challenges any whose output differs from its own run (bonded), and plays
//! the dispute move by move until the chain's one-step check decides.

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
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

#[derive(Args, Debug, Clone)]
pub struct WatchArgs {
    /// Watch only this model [default: every registered model].
    #[arg(long)]
    pub model: Option<String>,
    /// Bond posted with each challenge (lost if the provider's result was right); raised to
    /// the chain's minimum for the request's payment when below it.
    #[arg(long, default_value_t = 2 * BOND_MIN)]
    pub bond: u64,
    /// Bisection arity of the disputes it opens: 2, 4, 8 or 16.
    #[arg(long, default_value_t = 4)]
    pub k: u8,
    /// Stop after this many of our disputes have ended.
    #[arg(long)]
    pub count: Option<u64>,
}

struct Watcher {
    me: Participant,
    args: WatchArgs,
    models: ModelCache,
    /// Our honest trace per request we re-executed.
    players: BTreeMap<u64, Player>,
    /// Requests whose result we checked and found right.
    verified: BTreeSet<u64>,
    /// Disputes we opened that have not been reported as ended: (request, dispute index).
    open: BTreeSet<(u64, u32)>,
    /// Requests we challenged (once each).
    challenged: BTreeSet<u64>,
    log: Log,
}

impl Watcher {
    fn model(&mut self, id: &str) -> anyhow::Result<Arc<LoadedModel>> {
        self.models.get(&self.me.client, id)
    }

    fn player(&mut self, view: &InferenceView, model: &LoadedModel) -> anyhow::Result<&Player> {
        use std::collections::btree_map::Entry;
        Ok(match self.players.entry(view.id) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let trace =
                    cairn_infer::run(&model.graph, &input_of(view)?).with_context(|| {
                        format!("request {}: the input does not fit the model", view.id)
                    })?;
                e.insert(Player::new(model.graph.clone(), trace))
            }
        })
    }

    /// Handles one request; returns how many of our disputes ended.
    fn step(&mut self, view: &InferenceView) -> anyhow::Result<u64> {
        let mut ended = 0;
        for d in &view.disputes {
            if let Some(end) = &d.end
                && self.open.remove(&(view.id, d.index))
            {
                (self.log)(&format!(
                    "request {}: dispute ended after {} moves — {} won ({}); {} bond to the winner",
                    view.id, d.moves, end.winner, end.reason, end.slashed
                ));
                ended += 1;
            }
        }
        let Some(result) = &view.result else {
            return Ok(ended);
        };
        if result.account == self.me.address
            || self.args.model.as_ref().is_some_and(|m| *m != view.model)
        {
            return Ok(ended);
        }
        let in_window = matches!(view.status.as_str(), "served" | "disputed");
        if in_window && !self.verified.contains(&view.id) && !self.challenged.contains(&view.id)
        {
            self.check_result(view, &result.account, &result.output)?;
        }
        if view.status == "disputed" {
            let mine: Vec<_> = open_disputes(view, &self.me.address, false).cloned().collect();
            if !mine.is_empty() {
                let model = self.model(&view.model)?;
                let player = self.player(view, &model)?.clone();
                for d in &mine {
                    self.open.insert((view.id, d.index));
                    play_turn(&self.me, &model, view, d, &player, Side::Challenger, &self.log)?;
                }
            }
        }
        Ok(ended)
    }

    /// Re-executes `view`'s request and challenges a result `output` from `provider` that
    /// differs from ours.
    fn check_result(
        &mut self,
        view: &InferenceView,
        provider: &str,
        claimed: &[i8],
    ) -> anyhow::Result<()> {
        let model = self.model(&view.model)?;
        let player = self.player(view, &model)?;
        let (output, exec_root, output_proof) = claim_parts(player);
        let mine: Vec<i8> = player.trace().output().to_vec();
        if mine == claimed {
            self.verified.insert(view.id);
            (self.log)(&format!(
                "request {}: re-executed; output {mine:?} matches the provider's",
                view.id
            ));
            return Ok(());
        }
        let bond = self.args.bond.max(bond_min(view.payment));
        self.me.send(Action::Challenge {
            request: view.id,
            output,
            exec_root,
            output_proof,
            k: self.args.k,
            bond,
        })?;
        self.challenged.insert(view.id);
        (self.log)(&format!(
            "request {}: provider {} claims {claimed:?}, re-execution gives {mine:?}: challenged (k = {}, bond {bond})",
            view.id,
            short(provider),
            self.args.k,
        ));
        Ok(())
    }
}

pub fn run(args: WatchArgs, client: &RpcClient, key: PrivateKey) -> anyhow::Result<()> {
    if !cairn_dispute::ARITIES.contains(&args.k) {
        anyhow::bail!("--k {} is not one of 2, 4, 8, 16", args.k);
    }
    let me = Participant::new(RpcClient::new(client.url()), key)?;
    println!("cairn watch: challenger {} on {}", me.address, client.url());
    if let Some(m) = &args.model {
        load_model(client, m)?;
    }
    let log: Log = Arc::new(|line: &str| println!("{line}"));
    let mut watcher = Watcher {
        me,
        args,
        models: ModelCache::default(),
        players: BTreeMap::new(),
        verified: BTreeSet::new(),
        open: BTreeSet::new(),
        challenged: BTreeSet::new(),
        log,
    };
    let mut ended = 0u64;
    let mut from = 0u64;
    loop {
        let views = inferences_from(&watcher.me.client, from)?;
        from = next_scan_start(&views, from, |id| {
            watcher.open.iter().any(|(r, _)| *r == id)
        });
        for view in &views {
            match watcher.step(view) {
                Ok(n) => ended += n,
                Err(e) => println!("request {}: {e:#}", view.id),
            }
        }
        if watcher.args.count.is_some_and(|n| ended >= n) {
            return Ok(());
        }
        pause();
    }
}
