//! Registered models and inference requests from the state, as the RPC shows them.

use cairn_rpc::infer_api::{
    ClaimView, DisputeEndView, DisputeView, InferenceView, LineageView, ModelView,
};
use cairn_state::{DisputeRecord, Inference, Model, ModelStatus, PostedClaim, State};
use cairn_types::to_hex;
use commonware_codec::Encode;

fn int8(bytes: &[u8]) -> Vec<i8> {
    // u8 → i8 is a bit-for-bit reinterpretation.
    bytes.iter().map(|&b| b as i8).collect()
}

fn claim_view(c: &PostedClaim) -> ClaimView {
    ClaimView {
        account: to_hex(&c.account),
        output: int8(&c.output),
        exec_root: to_hex(c.exec_root),
        output_root: to_hex(c.output_root),
        bond: c.bond,
        posted_at: c.posted_at,
    }
}

pub fn model_view(m: &Model) -> ModelView {
    let r = &m.registration;
    ModelView {
        id: to_hex(m.id),
        graph: to_hex(r.graph),
        graph_bytes: r.graph_bytes,
        owner: to_hex(&m.owner),
        name: r.name.clone(),
        licence: r.licence.clone(),
        price: r.price,
        model_root: to_hex(r.model_root),
        node_count: r.node_count,
        input_shape: r.input_shape.clone(),
        output_shape: r.output_shape.clone(),
        lineage: r.lineage.map(|l| LineageView {
            task: l.task,
            round: l.round,
        }),
        checkpoint: m.checkpoint.map(to_hex),
        registered_at: m.registered_at,
        served: m.served,
        refuted: m.refuted,
        deposit: m.deposit,
        status: m.status.name().into(),
        invalid_reason: match &m.status {
            ModelStatus::Invalid { reason, .. } => Some(reason.clone()),
            ModelStatus::Active | ModelStatus::Retired { .. } => None,
        },
        record: to_hex(r.encode()),
    }
}

fn dispute_view(d: &DisputeRecord) -> DisputeView {
    DisputeView {
        index: d.index,
        challenge: claim_view(&d.challenge),
        k: d.k,
        moves: u32::try_from(d.moves.len()).unwrap_or(u32::MAX),
        move_bytes: d.moves.iter().map(|(_, m)| m.len() as u64).sum(),
        deadline: d.deadline,
        end: d.end.as_ref().map(|e| DisputeEndView {
            winner: e.verdict.name().into(),
            reason: e.reason.clone(),
            height: e.height,
            slashed: e.slashed,
        }),
        record: to_hex(d.encode()),
    }
}

pub fn inference_view(state: &State, i: &Inference) -> InferenceView {
    InferenceView {
        id: i.id,
        client: to_hex(&i.client),
        model: to_hex(i.model),
        input: to_hex(&i.input),
        input_root: to_hex(i.input_root),
        payment: i.payment,
        price: i.price,
        provider: i.provider.as_ref().map(to_hex),
        requested_at: i.requested_at,
        status: i.status.name().into(),
        deadline: i.deadline,
        result: i.result.as_ref().map(claim_view),
        window_end: i.window_end,
        disputes: state.disputes_of(i.id).iter().map(dispute_view).collect(),
        record: to_hex(i.encode()),
    }
}
