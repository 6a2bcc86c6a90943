//! Checkpoints in the safetensors format, readable by PyTorch, JAX and the `safetensors` tools.
//!
//! Tensor names are the model's parameter names (`conv1.weight`, `fc2.bias`, ...), dtype F32,
//! PyTorch layouts. Loading checks every name, dtype and shape before changing the model.

use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::model::{Model, ModelError, NamedTensor};

/// Largest checkpoint file read.
pub const MAX_CHECKPOINT_BYTES: u64 = 1 << 30;

/// Why a checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// File I/O failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not a valid safetensors buffer.
    #[error("not a safetensors file: {0}")]
    Format(String),
    /// A tensor is not F32.
    #[error("tensor `{name}` has dtype {dtype}, expected F32")]
    Dtype {
        /// The tensor.
        name: String,
        /// Its dtype.
        dtype: String,
    },
    /// The file is larger than [`MAX_CHECKPOINT_BYTES`].
    #[error("{path}: {bytes} bytes exceeds the {max}-byte checkpoint limit")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// Names or shapes do not match the model.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Serialises the model's parameters.
pub fn to_bytes(model: &Model) -> Result<Vec<u8>, CheckpointError> {
    let params = model.parameters();
    let bytes: Vec<Vec<u8>> = params
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = params
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), data)| {
            TensorView::new(Dtype::F32, shape.clone(), data)
                .map(|view| (name.clone(), view))
                .map_err(|e| CheckpointError::Format(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize(views, None).map_err(|e| CheckpointError::Format(e.to_string()))
}

/// Parses safetensors bytes into named F32 tensors (sorted by name).
pub fn parse(bytes: &[u8]) -> Result<Vec<NamedTensor>, CheckpointError> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| CheckpointError::Format(e.to_string()))?;
    let mut names: Vec<&str> = st.names();
    names.sort_unstable();
    names
        .into_iter()
        .map(|name| {
            let view = st
                .tensor(name)
                .map_err(|e| CheckpointError::Format(e.to_string()))?;
            if view.dtype() != Dtype::F32 {
                return Err(CheckpointError::Dtype {
                    name: name.to_string(),
                    dtype: format!("{:?}", view.dtype()),
                });
            }
            let values = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Ok((name.to_string(), view.shape().to_vec(), values))
        })
        .collect()
}

/// Replaces `model`'s parameters with those in `bytes` (all-or-nothing).
pub fn load_bytes(model: &mut Model, bytes: &[u8]) -> Result<(), CheckpointError> {
    model.set_parameters(&parse(bytes)?)?;
    Ok(())
}

/// Writes `model` to `path`.
pub fn save(model: &Model, path: &Path) -> Result<(), CheckpointError> {
    std::fs::write(path, to_bytes(model)?).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Loads `path` into `model` (all-or-nothing).
pub fn load(model: &mut Model, path: &Path) -> Result<(), CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_CHECKPOINT_BYTES {
        return Err(CheckpointError::TooLarge {
            path: path.to_path_buf(),
            bytes: len,
            max: MAX_CHECKPOINT_BYTES,
        });
    }
    load_bytes(model, &std::fs::read(path).map_err(io)?)
}
