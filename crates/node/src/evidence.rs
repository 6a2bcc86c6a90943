//! Equivocation evidence: turns the consensus reporter's signed conflicts into [Evidence] for
//! the chain, and verifies evidence carried by a block before a node votes for it.

use crate::chain::LockChain;
use crate::{Scheme, chain::Chain, epochs::EpochSchemes};
use cairn_types::{Digest, Evidence, EvidenceKind, PublicKey};
use commonware_codec::{DecodeExt, Encode};
use commonware_consensus::{
    Epochable, Reporter, Viewable,
    simplex::types::{
        Activity, Attributable, ConflictingFinalize, ConflictingNotarize, NullifyFinalize,
    },
};
use commonware_cryptography::certificate::Scheme as _;
use commonware_parallel::Sequential;
use commonware_utils::Participant;
use std::sync::{Arc, Mutex};
use tracing::info;

/// Why a piece of evidence was refused.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("evidence proof does not decode: {0}")]
    Malformed(String),
    #[error("evidence signatures do not verify")]
    BadSignature,
    #[error("evidence names offender {named} but was signed by participant {signer}")]
    WrongOffender { named: String, signer: String },
    #[error(
        "evidence claims epoch {claimed_epoch} view {claimed_view}, proof is for epoch {epoch} view {view}"
    )]
    WrongRound {
        claimed_epoch: u64,
        claimed_view: u64,
        epoch: u64,
        view: u64,
    },
    #[error(
        "evidence from epoch {evidence} in a block of epoch {block}: a block carries its own epoch's evidence only"
    )]
    OtherEpoch { evidence: u64, block: u64 },
    #[error("no validator set known for epoch {0}")]
    UnknownEpoch(u64),
}

fn participant_key(scheme: &Scheme, index: Participant) -> Option<PublicKey> {
    scheme
        .participants()
        .iter()
        .nth(index.get() as usize)
        .cloned()
}

fn check_identity(
    scheme: &Scheme,
    evidence: &Evidence,
    signer: Participant,
    epoch: u64,
    view: u64,
) -> Result<(), EvidenceError> {
    let key = participant_key(scheme, signer);
    if key.as_ref() != Some(&evidence.offender) {
        return Err(EvidenceError::WrongOffender {
            named: cairn_types::to_hex(&evidence.offender),
            signer: key
                .map(cairn_types::to_hex)
                .unwrap_or_else(|| format!("#{}", signer.get())),
        });
    }
    if epoch != evidence.epoch || view != evidence.view {
        return Err(EvidenceError::WrongRound {
            claimed_epoch: evidence.epoch,
            claimed_view: evidence.view,
            epoch,
            view,
        });
    }
    Ok(())
}

/// Verifies `evidence` against the validator set held by `scheme`.
pub fn verify(
    scheme: &Scheme,
    evidence: &Evidence,
    rng: &mut impl rand_core::CryptoRng,
) -> Result<(), EvidenceError> {
    let malformed = |e: commonware_codec::Error| EvidenceError::Malformed(e.to_string());
    let bytes = evidence.proof.as_slice();
    macro_rules! check {
        ($ty:ty) => {{
            let proof = <$ty>::decode(commonware_codec::Copying(bytes)).map_err(malformed)?;
            if !proof.verify(rng, scheme, &Sequential) {
                return Err(EvidenceError::BadSignature);
            }
            check_identity(
                scheme,
                evidence,
                proof.signer(),
                proof.epoch().get(),
                proof.view().get(),
            )
        }};
    }
    match evidence.kind {
        EvidenceKind::ConflictingNotarize => check!(ConflictingNotarize<Scheme, Digest>),
        EvidenceKind::ConflictingFinalize => check!(ConflictingFinalize<Scheme, Digest>),
        EvidenceKind::NullifyFinalize => check!(NullifyFinalize<Scheme, Digest>),
    }
}

/// Verifies evidence carried by a block of `block_epoch`: it must be from that epoch, and is
/// checked against that epoch's validator set.
pub fn verify_in_epoch(
    schemes: &EpochSchemes,
    evidence: &Evidence,
    block_epoch: u64,
    rng: &mut impl rand_core::CryptoRng,
) -> Result<(), EvidenceError> {
    if evidence.epoch != block_epoch {
        return Err(EvidenceError::OtherEpoch {
            evidence: evidence.epoch,
            block: block_epoch,
        });
    }
    let scheme = schemes
        .get(block_epoch)
        .ok_or(EvidenceError::UnknownEpoch(block_epoch))?;
    verify(&scheme, evidence, rng)
}

/// Consensus reporter that queues every fault it sees as evidence for the next proposal.
#[derive(Clone)]
pub struct EvidenceReporter {
    pub chain: Arc<Mutex<Chain>>,
    pub schemes: EpochSchemes,
}

impl EvidenceReporter {
    fn queue(
        &self,
        kind: EvidenceKind,
        signer: Participant,
        epoch: u64,
        view: u64,
        proof: Vec<u8>,
    ) {
        let Some(offender) = self
            .schemes
            .get(epoch)
            .and_then(|scheme| participant_key(&scheme, signer))
        else {
            return;
        };
        info!(offender = %offender, epoch, view, ?kind, "equivocation observed; queueing evidence");
        self.chain.locked().add_evidence(Evidence {
            kind,
            offender,
            epoch,
            view,
            proof,
        });
    }
}

impl Reporter for EvidenceReporter {
    type Activity = Activity<Scheme, Digest>;

    fn report(&mut self, activity: Self::Activity) -> commonware_actor::Feedback {
        match activity {
            Activity::ConflictingNotarize(c) => self.queue(
                EvidenceKind::ConflictingNotarize,
                c.signer(),
                c.epoch().get(),
                c.view().get(),
                c.encode().to_vec(),
            ),
            Activity::ConflictingFinalize(c) => self.queue(
                EvidenceKind::ConflictingFinalize,
                c.signer(),
                c.epoch().get(),
                c.view().get(),
                c.encode().to_vec(),
            ),
            Activity::NullifyFinalize(c) => self.queue(
                EvidenceKind::NullifyFinalize,
                c.signer(),
                c.epoch().get(),
                c.view().get(),
                c.encode().to_vec(),
            ),
            _ => {}
        }
        commonware_actor::Feedback::Ok
    }
}
