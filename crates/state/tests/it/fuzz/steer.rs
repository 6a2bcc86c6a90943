//! Steering: an op whose target does not exist yet becomes the op that would create it (a
//! dispute move with no dispute open becomes a challenge, a challenge with nothing served a
//! result, …; a task op with no task in its phase becomes the op the nearest live task
//! needs). Random bytes so walk the market and the task rounds to their deep states instead
//! of piling up refusals of the same shallow kind. One op in eight is never steered, so
//! wrong-phase and wrong-target attempts keep coming.

use super::ops::{Kind, Op};
use super::world::World;
use cairn_state::{InferenceStatus, Phase, State, Task, TaskStatus};

/// Where a task is: in review (`Some(None)`), or running with its open round in a phase.
pub type Stage = Option<Option<Phase>>;

pub fn stage(t: &Task) -> Stage {
    match t.status {
        TaskStatus::Review { .. } => Some(None),
        TaskStatus::Running => Some(t.round.as_ref().map(|r| r.phase)),
        TaskStatus::Completed | TaskStatus::Rejected => None,
    }
}

/// The stage a task op acts in.
pub fn wants(op: &Op) -> Stage {
    match op.kind {
        Kind::VoteTask | Kind::JoinTask => Some(None),
        Kind::SubmitUpdate => Some(Some(Phase::Submit)),
        Kind::CommitScores => Some(Some(Phase::CommitScores)),
        Kind::RevealScores => Some(Some(Phase::RevealScores)),
        Kind::AttestCheckpoint => Some(Some(Phase::Aggregate)),
        _ => None,
    }
}

/// The id `sel` picks: mostly a task in `stage`, else a live one; with `sel`'s top bit set,
/// any id up to one past the last.
pub fn pick_task(s: &State, sel: u8, wanted: Stage) -> u64 {
    let tasks = s.tasks();
    let at = |want: Stage| -> Vec<u64> {
        let ids = tasks.iter().filter(|t| want.is_none() || stage(t) == want);
        ids.filter(|t| stage(t).is_some()).map(|t| t.id).collect()
    };
    let mut ids = at(wanted);
    if ids.is_empty() {
        ids = at(None);
    }
    match ids.get(usize::from(sel) % ids.len().max(1)) {
        Some(id) if sel & 0x80 == 0 => *id,
        _ => 1 + u64::from(sel & 0x7f) % (tasks.len() as u64 + 1),
    }
}

/// The task op that `stage` needs (a proposal when no task is live), with `op`'s selectors.
fn task_op(stage: Stage, op: Op) -> Op {
    let second = op.x & 0x100 != 0;
    let kind = match stage {
        None => {
            return Op {
                target: op.target | 1,
                ..op.as_kind(Kind::ProposeTask)
            };
        }
        Some(None) if second => Kind::VoteTask,
        Some(None) | Some(Some(Phase::Submit)) if !second => Kind::JoinTask,
        Some(None) | Some(Some(Phase::Submit)) => Kind::SubmitUpdate,
        Some(Some(Phase::CommitScores)) => Kind::CommitScores,
        Some(Some(Phase::RevealScores)) => Kind::RevealScores,
        Some(Some(Phase::Aggregate)) => Kind::AttestCheckpoint,
    };
    Op {
        target: op.target & 0x7f,
        ..op.as_kind(kind)
    }
}

impl World {
    /// `op`, or the op that creates what it needs (see the module docs).
    pub fn steer(&self, s: &State, op: Op) -> Op {
        if !op.is_tx() || op.x.is_multiple_of(8) {
            return op;
        }
        let wanted = wants(&op);
        if wanted.is_some() {
            let stages: Vec<Stage> = s
                .tasks()
                .iter()
                .map(stage)
                .filter(Option::is_some)
                .collect();
            if stages.contains(&wanted) {
                return op;
            }
            let nearest = stages.get(usize::from(op.target) % stages.len().max(1));
            return task_op(nearest.cloned().unwrap_or(None), op);
        }
        self.steer_market(s, op)
    }

    fn steer_market(&self, s: &State, mut op: Op) -> Op {
        let height = s.height() + 1;
        let requests = s.inferences(0, usize::MAX);
        let any_open = requests
            .iter()
            .any(|i| s.disputes_of(i.id).iter().any(|d| d.is_open()));
        let challengeable = requests.iter().any(|i| {
            matches!(
                i.status,
                InferenceStatus::Served | InferenceStatus::Disputed
            ) && i.window_end >= height
        });
        let requested = requests
            .iter()
            .any(|i| i.status == InferenceStatus::Requested);
        let model = s.models().iter().any(|m| m.is_active());
        loop {
            op = match op.kind {
                Kind::DisputeMove if !any_open => op.as_kind(Kind::Challenge),
                Kind::Challenge if !challengeable => op.as_kind(Kind::PostResult),
                Kind::PostResult if !requested => op.as_kind(Kind::RequestInference),
                Kind::RequestInference if !model => Op {
                    target: op.target % self.fx.catalogue.len() as u8,
                    ..op.as_kind(Kind::RegisterModel)
                },
                _ => return op,
            };
        }
    }
}
