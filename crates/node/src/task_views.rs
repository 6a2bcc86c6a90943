//! Tasks and round records from the state, as the RPC shows them.

use cairn_rpc::task_api::{
    AttestationView, MemberView, RoundRecordView, RoundView, SubmissionView, TaskSpecView,
    TaskView, UpdateOutcomeView, ValidatorOutcomeView, VoteView,
};
use cairn_state::{Member, RoundRecord, Task, TaskStatus};
use cairn_types::{Address, to_hex};
use std::collections::BTreeMap;

fn members(map: &BTreeMap<Address, Member>) -> Vec<MemberView> {
    map.iter()
        .map(|(a, m)| MemberView {
            address: to_hex(a),
            stake: m.stake,
            joined_at: m.joined_at,
            rewards: m.rewards,
            penalties: m.penalties,
        })
        .collect()
}

pub fn task_view(t: &Task) -> TaskView {
    TaskView {
        id: t.id,
        proposer: to_hex(&t.proposer),
        status: t.status.name().into(),
        review_deadline: match t.status {
            TaskStatus::Review { deadline } => Some(deadline),
            _ => None,
        },
        proposed_at: t.proposed_at,
        spec: TaskSpecView::from_spec(&t.spec),
        escrow: t.escrow,
        votes: t
            .votes
            .iter()
            .map(|(v, approve)| VoteView {
                validator: to_hex(v),
                approve: *approve,
            })
            .collect(),
        trainers: members(&t.trainers),
        validators: members(&t.validators),
        global_model: to_hex(t.global_model),
        rounds_closed: t.rounds_closed,
        round: t.round.as_ref().map(|r| RoundView {
            index: r.index,
            global_model: to_hex(r.global_model),
            phase: r.phase.name().into(),
            phase_deadline: r.phase_deadline,
            submissions: r
                .submissions
                .iter()
                .map(|s| SubmissionView {
                    trainer: to_hex(&s.trainer),
                    update: to_hex(s.update),
                    height: s.height,
                })
                .collect(),
            score_commits: r.score_commits.keys().map(to_hex).collect(),
            reveals: r.reveals.keys().map(to_hex).collect(),
            attestations: r
                .attestations
                .iter()
                .map(|(v, m)| AttestationView {
                    validator: to_hex(v),
                    model: to_hex(m),
                })
                .collect(),
        }),
    }
}

pub fn round_record_view(task: u64, round: u32, r: &RoundRecord) -> RoundRecordView {
    RoundRecordView {
        task,
        round,
        global_in: to_hex(r.global_in),
        checkpoint: r.checkpoint.map(to_hex),
        scored_at: r.scored_at,
        closed_at: r.closed_at,
        outcomes: r
            .outcomes
            .iter()
            .map(|o| UpdateOutcomeView {
                trainer: to_hex(&o.trainer),
                update: to_hex(o.update),
                consensus: o.consensus,
                accepted: o.accepted,
                weight: o.weight,
                reward: o.reward,
                penalty: o.penalty,
            })
            .collect(),
        validators: r
            .validators
            .iter()
            .map(|v| ValidatorOutcomeView {
                validator: to_hex(&v.validator),
                revealed: v.revealed,
                reward: v.reward,
                penalty: v.penalty,
            })
            .collect(),
    }
}
