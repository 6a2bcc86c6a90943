//! The bridge between the state's records and cairn-dispute's game: claims checked from the
//! posted bytes, and a dispute rebuilt by replaying its recorded moves.

use crate::error::{InferError, TxError};
use crate::infer::{DisputeRecord, Inference, PostedClaim};
use cairn_dispute::{Claim, Clock, Dispute, Move, Params as GameParams, Reason};
use cairn_types::Address;
use cairn_types::infer::{self as limits, ModelRegistration, elements};

pub(crate) fn err(e: InferError) -> TxError {
    TxError::Infer(e)
}

pub(crate) fn as_i8(bytes: &[u8]) -> Vec<i8> {
    // u8 → i8 is a bit-for-bit reinterpretation.
    bytes.iter().map(|&b| b as i8).collect()
}

/// The output's tensor root, after checking its element count against the model.
fn output_root(model: &ModelRegistration, output: &[u8]) -> Result<[u8; 32], TxError> {
    let expected = elements(&model.output_shape);
    let mismatch = || {
        err(InferError::ShapeMismatch {
            what: "output",
            shape: model.output_shape.clone(),
            expected,
            got: output.len(),
        })
    };
    if u64::try_from(output.len()).ok() != Some(expected) {
        return Err(mismatch());
    }
    cairn_infer::commit::tensor_root(&model.output_shape, &as_i8(output)).ok_or_else(mismatch)
}

/// Decodes a claim's proof and checks the output root under the execution root.
pub(crate) fn checked_claim(
    model: &ModelRegistration,
    output: &[u8],
    exec_root: &[u8; 32],
    proof: &[u8],
) -> Result<Claim, TxError> {
    let output_root = output_root(model, output)?;
    let output_proof = cairn_dispute::encode::decode_proof(proof).map_err(|e| {
        err(InferError::Malformed {
            what: "output proof",
            reason: e.to_string(),
        })
    })?;
    // Registrations hold 2..=MODEL_NODES_MAX nodes (validated), so `n - 1` cannot wrap.
    let n = model.node_count as usize;
    let last = n.saturating_sub(1);
    cairn_infer::commit::verify_node_root(exec_root, n, last, &output_root, &output_proof)
        .map_err(|e| {
            err(InferError::BadProof {
                what: "output root under the execution root",
                reason: e.to_string(),
            })
        })?;
    Ok(Claim {
        exec_root: *exec_root,
        output_root,
        output_proof,
    })
}

pub(crate) fn claim_of(posted: &PostedClaim) -> Result<Claim, String> {
    Ok(Claim {
        exec_root: posted.exec_root,
        output_root: posted.output_root,
        output_proof: cairn_dispute::encode::decode_proof(&posted.output_proof)
            .map_err(|e| e.to_string())?,
    })
}

/// The game's opening parameters for a challenge `challenger` (bond `bond`) of request `i`'s
/// result `result`, opened at `start_height`.
pub(crate) fn game_params(
    model: &ModelRegistration,
    i: &Inference,
    result: &PostedClaim,
    challenger: Claim,
    k: u8,
    bond: u64,
    start_height: u64,
) -> Result<GameParams, String> {
    Ok(GameParams {
        model_root: model.model_root,
        node_count: model.node_count,
        input_root: i.input_root,
        provider: claim_of(result)?,
        challenger,
        provider_bond: result.bond,
        challenger_bond: bond,
        k,
        clock: Clock {
            move_blocks_max: limits::MOVE_BLOCKS_MAX,
            budget_blocks: limits::DISPUTE_BUDGET_BLOCKS,
        },
        start_height,
    })
}

/// Dispute `d` over request `i` (whose model is `model`), rebuilt by replaying its recorded
/// moves, with the provider's and the challenger's accounts. Parties off chain use it to see
/// whose turn it is and what to post; the chain uses it to judge each move.
pub fn dispute_game(
    model: &ModelRegistration,
    i: &Inference,
    d: &DisputeRecord,
) -> Result<(Dispute, Address, Address), String> {
    let result = i.result.as_ref().ok_or("no result")?;
    let challenger = claim_of(&d.challenge)?;
    let bond = d.challenge.bond;
    let params = game_params(model, i, result, challenger, d.k, bond, d.challenge.posted_at)?;
    let mut game = Dispute::open(params).map_err(|e| e.to_string())?;
    for (height, bytes) in &d.moves {
        let side = game.turn().ok_or("a move after the end")?;
        let mv = Move::decode(bytes).map_err(|e| e.to_string())?;
        game.apply(side, &mv, *height).map_err(|e| e.to_string())?;
    }
    Ok((game, result.account.clone(), d.challenge.account.clone()))
}

/// Why a dispute ended, in words (recorded on chain).
pub(crate) fn reason_text(reason: &Reason) -> String {
    match reason {
        Reason::Timeout => "the side to move let its clock run out".into(),
        Reason::InputMismatch => {
            "the provider's trace does not start from the request's input".into()
        }
        Reason::StepMismatch {
            committed,
            recomputed,
        } => format!(
            "one-step check: the provider committed {committed} where the chain recomputes {recomputed}"
        ),
        Reason::StepConsistent { value } => {
            format!(
                "one-step check: the provider's element {value} is right; the challenge was false"
            )
        }
        Reason::InvalidModel { node } => format!(
            "the registered model root commits to node {node}, which no valid graph has: the model cannot run, so no result for it stands"
        ),
    }
}
