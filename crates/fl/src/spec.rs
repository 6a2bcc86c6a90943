//! [`ModelSpec`]: the architecture a federation trains, as a short string that fits in a CLI
//! flag or an on-chain config (`2nn`, `cnn`, `mlp:784-64-10`).

use std::fmt;
use std::str::FromStr;

use cairn_fixed::limits::ELEMENTS_MAX;
use cairn_ml::model::MAX_LAYER_WIDTH;
use cairn_ml::{Arch, Model};

use crate::FlError;

/// Most hidden layers an `mlp:` spec may list.
pub const MLP_HIDDEN_LAYERS_MAX: usize = 16;

/// A network architecture by name.
///
/// `Display` and `FromStr` round-trip: `s.parse::<ModelSpec>()?.to_string()` is `s` in canonical
/// form (lower case, no spaces). `mlp:784-200-200-10` has the same [`Arch`] as `2nn` but stays a
/// distinct spec so that the string round-trips.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSpec {
    /// McMahan et al.'s "2NN": 784-200-200-10, 199 210 parameters.
    TwoNn,
    /// McMahan et al.'s MNIST CNN (5x5x32, 5x5x64, fc512, fc10), 1 663 370 parameters.
    Cnn,
    /// A ReLU MLP `input-hidden...-classes` (no hidden layer is multinomial logistic regression).
    Mlp {
        /// Input features.
        input: usize,
        /// Hidden widths, in order.
        hidden: Vec<usize>,
        /// Output classes.
        classes: usize,
    },
}

impl ModelSpec {
    /// The network's shape, for [`cairn_ml::Model::new`].
    pub fn arch(&self) -> Arch {
        match self {
            ModelSpec::TwoNn => Arch::two_nn(),
            ModelSpec::Cnn => Arch::mnist_cnn(),
            ModelSpec::Mlp {
                input,
                hidden,
                classes,
            } => Arch::Mlp {
                input: *input,
                hidden: hidden.clone(),
                classes: *classes,
            },
        }
    }

    /// Parameter names and shapes in model order (what a fixed-point model must hold).
    pub fn layout(&self) -> Result<Vec<(String, Vec<u32>)>, FlError> {
        crate::convert::layout_of(&Model::new(self.arch(), 0)?)
    }

    /// Number of scalar parameters.
    pub fn parameter_count(&self) -> u64 {
        match self {
            ModelSpec::TwoNn | ModelSpec::Cnn => Model::new(self.arch(), 0)
                .map(|m| m.parameter_count() as u64)
                .unwrap_or(0),
            ModelSpec::Mlp {
                input,
                hidden,
                classes,
            } => mlp_parameter_count(*input, hidden, *classes),
        }
    }
}

/// Weights plus biases of a dense stack, saturating (every width is ≤ 2^16, so it never does).
fn mlp_parameter_count(input: usize, hidden: &[usize], classes: usize) -> u64 {
    let widths: Vec<u64> = std::iter::once(input)
        .chain(hidden.iter().copied())
        .chain([classes])
        .map(|w| w as u64)
        .collect();
    widths.windows(2).fold(0u64, |acc, pair| {
        acc.saturating_add(pair[0].saturating_mul(pair[1]).saturating_add(pair[1]))
    })
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSpec::TwoNn => f.write_str("2nn"),
            ModelSpec::Cnn => f.write_str("cnn"),
            ModelSpec::Mlp {
                input,
                hidden,
                classes,
            } => {
                write!(f, "mlp:{input}")?;
                for h in hidden {
                    write!(f, "-{h}")?;
                }
                write!(f, "-{classes}")
            }
        }
    }
}

impl FromStr for ModelSpec {
    type Err = FlError;

    /// Accepts `2nn`, `cnn` and `mlp:IN-H1-...-CLASSES`, case-insensitively, surrounding spaces
    /// ignored. Every width must be in `1..=`[`MAX_LAYER_WIDTH`], at most
    /// [`MLP_HIDDEN_LAYERS_MAX`] hidden layers, and at most `ELEMENTS_MAX` parameters in all.
    fn from_str(input: &str) -> Result<Self, FlError> {
        let bad = |reason: String| FlError::BadSpec {
            input: input.to_string(),
            reason,
        };
        let s = input.trim().to_ascii_lowercase();
        match s.as_str() {
            "2nn" => return Ok(ModelSpec::TwoNn),
            "cnn" => return Ok(ModelSpec::Cnn),
            "" => return Err(bad("empty".into())),
            _ => {}
        }
        let Some(widths) = s.strip_prefix("mlp:") else {
            return Err(bad("unknown architecture".into()));
        };
        let widths: Vec<usize> = widths
            .split('-')
            .map(|w| {
                let w = w.trim();
                match w.parse::<usize>() {
                    Ok(n) if (1..=MAX_LAYER_WIDTH).contains(&n) => Ok(n),
                    Ok(n) => Err(bad(format!("width {n} is not in 1..={MAX_LAYER_WIDTH}"))),
                    Err(_) if w.is_empty() => Err(bad("empty width (two dashes?)".into())),
                    Err(_) => Err(bad(format!("width {w:?} is not a number"))),
                }
            })
            .collect::<Result<_, _>>()?;
        let [input, hidden @ .., classes] = widths.as_slice() else {
            return Err(bad(
                "an MLP needs at least an input and a class count".into()
            ));
        };
        if hidden.len() > MLP_HIDDEN_LAYERS_MAX {
            return Err(bad(format!(
                "{} hidden layers, at most {MLP_HIDDEN_LAYERS_MAX}",
                hidden.len()
            )));
        }
        let params = mlp_parameter_count(*input, hidden, *classes);
        if params > ELEMENTS_MAX {
            return Err(bad(format!(
                "{params} parameters, a fixed-point model holds at most {ELEMENTS_MAX}"
            )));
        }
        Ok(ModelSpec::Mlp {
            input: *input,
            hidden: hidden.to_vec(),
            classes: *classes,
        })
    }
}
