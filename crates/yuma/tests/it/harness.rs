//! A tiny subnet simulator mirroring the reference's test harness (§4.0): it stores weights in their
//! max-upscaled form, persists permits and bonds between epochs, and advances blocks explicitly.

use cairn_yuma::{
    BondsMode, EpochInput, EpochOutput, EpochParams, LiquidAlpha, Neuron, activity_cutoff_blocks,
    max_upscale_weights, run_epoch,
};

/// The mock's `ActivityCutoffFactorMilli` (§2).
pub const CUTOFF_FACTOR_MILLI: u32 = 13_889;
/// Emission handed to each test epoch (§4.0).
pub const EMISSION: u64 = 1_000_000_000;

pub struct Subnet {
    pub params: EpochParams,
    pub input: EpochInput,
}

impl Subnet {
    /// `stakes.len()` uids registered at `reg_block`, permits all false, no weights or bonds.
    pub fn new(stakes: &[u64], reg_block: u64, tempo: u64, params: EpochParams) -> Self {
        let neurons = stakes
            .iter()
            .map(|&stake| Neuron {
                stake,
                last_update: reg_block,
                block_at_registration: reg_block,
                ..Neuron::default()
            })
            .collect();
        Self {
            params,
            input: EpochInput {
                current_block: reg_block,
                tempo,
                activity_cutoff_blocks: activity_cutoff_blocks(CUTOFF_FACTOR_MILLI, tempo),
                last_step_block: 0,
                owner_uid: None,
                emission: EMISSION,
                neurons,
            },
        }
    }

    /// `set_weights` at `block`: the stored row is the max-upscaled list, `last_update = block`.
    pub fn set_weights(&mut self, uid: usize, uids: &[u16], values: &[u16], block: u64) {
        let stored = max_upscale_weights(values);
        let neuron = &mut self.input.neurons[uid];
        neuron.weights = uids.iter().copied().zip(stored).collect();
        neuron.last_update = block;
    }

    /// Run an epoch at `block` and persist what subtensor persists (permits, bond rows).
    pub fn epoch(&mut self, block: u64) -> EpochOutput {
        self.input.current_block = block;
        let out = run_epoch(&self.params, &self.input).expect("valid epoch input");
        for (neuron, (permit, bonds)) in self
            .input
            .neurons
            .iter_mut()
            .zip(out.new_validator_permits.iter().zip(&out.bonds))
        {
            neuron.validator_permit = *permit;
            neuron.bonds.clone_from(bonds);
        }
        out
    }
}

/// Original-Yuma parameters of the test mock: κ = 32767, bma = 900 000, the given β.
pub fn original_params(bonds_penalty: u16, max_validators: u16) -> EpochParams {
    EpochParams::from_stored(
        32_767,
        bonds_penalty,
        900_000,
        max_validators,
        BondsMode::Original,
    )
}

/// `setup_yuma_3_scenario` (§4.4): β = 0, bma = 975 000, liquid α (0.1, 0.3) stored as (6553, 19660),
/// steepness 1000, κ = 32767, 3 validator permits.
pub fn yuma3_params(liquid: bool) -> EpochParams {
    let liquid_alpha = liquid.then(|| LiquidAlpha::from_stored(6_553, 19_660, 1_000));
    EpochParams::from_stored(32_767, 0, 975_000, 3, BondsMode::Yuma3 { liquid_alpha })
}

/// Proportion of a stored u16.
pub fn prop(v: u16) -> f64 {
    f64::from(v) / 65_535.0
}
