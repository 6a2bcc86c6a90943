//! Which blobs the ledger pins on every node, and how large each may be.
//!
//! The chain never reads blob bytes, but every blob it names is declared with a size bound
//! that someone escrowed a deposit for ([cairn_types::limits::blob_deposit]): a model's graph
//! its exact size (`graph_bytes`), a task's models and updates its `blob_max_bytes`. Nodes
//! store a declared blob only if it fits its bound, keep it while it is pinned, and accept
//! anything else only within a small per-client quota.

use crate::state::State;
use cairn_types::Action;
use cairn_types::task::BlobHash;
use std::collections::BTreeMap;

/// Records `bound` for `hash`, keeping the larger bound if it is declared twice.
fn declare(out: &mut BTreeMap<BlobHash, u64>, hash: BlobHash, bound: u64) {
    let entry = out.entry(hash).or_insert(bound);
    *entry = (*entry).max(bound);
}

impl State {
    /// Every blob the finalized ledger pins, with the most bytes it may have: the initial
    /// and global models, round inputs, checkpoints, accepted updates and the open round's
    /// updates of every task that was not rejected (bounded by its `blob_max_bytes`), and the
    /// graph of every active model or model with a live request (its declared size).
    pub fn declared_blobs(&self) -> BTreeMap<BlobHash, u64> {
        let mut out = BTreeMap::new();
        for t in self.tasks.values().filter(|t| t.pins_blobs()) {
            let bound = t.spec.blob_max_bytes;
            declare(&mut out, t.spec.initial_model, bound);
            declare(&mut out, t.global_model, bound);
            if let Some(round) = &t.round {
                declare(&mut out, round.global_model, bound);
                for s in &round.submissions {
                    declare(&mut out, s.update, bound);
                }
            }
            for (_, rec) in self.round_records.range((t.id, 0)..=(t.id, u32::MAX)) {
                declare(&mut out, rec.global_in, bound);
                if let Some(checkpoint) = rec.checkpoint {
                    declare(&mut out, checkpoint, bound);
                }
                for o in rec.outcomes.iter().filter(|o| o.accepted) {
                    declare(&mut out, o.update, bound);
                }
            }
        }
        // Providers and challengers fetch a model's graph from any node while it serves.
        for m in self.models.values().filter(|m| m.is_active()) {
            let r = &m.registration;
            declare(&mut out, r.graph, r.graph_bytes);
        }
        for (_, id) in &self.inference_deadlines {
            let model = self.inferences.get(id).and_then(|i| self.models.get(&i.model));
            if let Some(m) = model {
                let r = &m.registration;
                declare(&mut out, r.graph, r.graph_bytes);
            }
        }
        out
    }

    /// Every blob the finalized ledger pins (what blob pruning must keep).
    pub fn referenced_blobs(&self) -> Vec<BlobHash> {
        self.declared_blobs().into_keys().collect()
    }

    /// The blobs `action` would pin if it executed, with their size bounds (what a node may
    /// accept for a pending transaction before it is final). Empty for actions that name no
    /// blob, and for task actions on tasks this state does not know.
    pub fn blobs_declared_by(&self, action: &Action) -> Vec<(BlobHash, u64)> {
        let task_bound = |task: &u64| self.tasks.get(task).map(|t| t.spec.blob_max_bytes);
        match action {
            Action::RegisterModel { model } => vec![(model.graph, model.graph_bytes)],
            Action::ProposeTask { spec } => vec![(spec.initial_model, spec.blob_max_bytes)],
            Action::SubmitUpdate { task, update, .. } => {
                task_bound(task).map(|b| (*update, b)).into_iter().collect()
            }
            Action::AttestCheckpoint { task, model, .. } => {
                task_bound(task).map(|b| (*model, b)).into_iter().collect()
            }
            Action::Transfer { .. }
            | Action::Bond { .. }
            | Action::Unbond { .. }
            | Action::LinkHotKey { .. }
            | Action::UnlinkHotKey { .. }
            | Action::SetValidatorMoniker { .. }
            | Action::VoteTask { .. }
            | Action::JoinTask { .. }
            | Action::CommitScores { .. }
            | Action::RevealScores { .. }
            | Action::RequestInference { .. }
            | Action::PostResult { .. }
            | Action::Challenge { .. }
            | Action::DisputeMove { .. }
            | Action::CreateValidator { .. }
            | Action::Unjail { .. }
            | Action::RetireModel { .. } => Vec::new(),
        }
    }
}
