//! The keystore's error type.

use std::{io, path::PathBuf};

/// Everything that can go wrong with a key file or the key directory.
///
/// Every variant names the key or the file, so the message alone tells the user what to fix.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// The name is empty, too long, or has a character outside `[A-Za-z0-9_-]`.
    #[error(
        "invalid key name '{name}': use 1 to {max} characters from A-Z, a-z, 0-9, '_' and '-'",
        max = crate::NAME_LEN_MAX
    )]
    InvalidName { name: String },

    /// A key with this name exists; keys are never overwritten.
    #[error("key '{name}' already exists ({path}); pick another name or remove the file yourself")]
    AlreadyExists { name: String, path: PathBuf },

    /// No key file with this name.
    #[error("no key named '{name}' in {dir}")]
    NotFound { name: String, dir: PathBuf },

    /// The password does not match the one the key was encrypted with.
    #[error("wrong password for key '{name}'")]
    WrongPassword { name: String },

    /// A secret key given for import is not 32 bytes of hex.
    #[error("invalid secret key: {reason}")]
    InvalidSecret { reason: String },

    /// A new key must be protected by a non-empty password.
    #[error("refusing to store key '{name}' under an empty password")]
    EmptyPassword { name: String },

    /// The key file is malformed or was modified after it was written.
    #[error("key file {path} is corrupt or was tampered with: {reason}")]
    Corrupt { path: PathBuf, reason: String },

    /// KDF parameters outside the accepted bounds.
    #[error("invalid KDF parameters: {reason}")]
    InvalidKdfParams { reason: String },

    /// The operating system's random number generator failed.
    #[error("OS random number generator failed: {reason}")]
    Random { reason: String },

    /// A filesystem operation failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Shorthand for results in this crate.
pub type Result<T, E = KeystoreError> = std::result::Result<T, E>;

/// Builds a closure mapping an [`io::Error`] to [`KeystoreError::Io`] (for `map_err`).
pub(crate) fn io_err(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> KeystoreError {
    let path = path.into();
    move |source| KeystoreError::Io {
        action,
        path,
        source,
    }
}
