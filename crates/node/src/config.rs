//! Node configuration files (TOML) and the on-disk layout of a node's home directory.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A peer to dial at start-up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bootstrapper {
    /// Hex ed25519 public key of the peer (its validator key).
    pub public_key: String,
    pub address: SocketAddr,
}

/// `node-i.toml`. Relative paths are resolved against the file's directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeConfig {
    /// Genesis file (JSON).
    pub genesis: PathBuf,
    /// Validator key file: 64 hex chars of the ed25519 secret, mode 0600 (like a Tendermint
    /// priv_validator_key; account keys live in the encrypted keystore instead).
    pub key_file: PathBuf,
    /// Where consensus journals, block archives and the state snapshot live.
    pub data_dir: PathBuf,
    /// p2p listen address (also the address peers dial).
    pub p2p_listen: SocketAddr,
    /// JSON-RPC / metrics listen address.
    pub rpc_listen: SocketAddr,
    #[serde(default)]
    pub bootstrappers: Vec<Bootstrapper>,
    /// `tracing` filter, e.g. "info" or "cairn_node=debug,info".
    #[serde(default = "default_log")]
    pub log: String,
}

fn default_log() -> String {
    "info".to_string()
}

/// What is wrong with a config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("config {path} is not valid: {source}")]
    Toml {
        path: String,
        source: toml::de::Error,
    },
    #[error("key file {path}: {reason}")]
    Key { path: String, reason: String },
}

impl NodeConfig {
    /// Reads a config and resolves its relative paths against the file's directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: shown.clone(),
            source,
        })?;
        let mut config: NodeConfig = toml::from_str(&text).map_err(|source| ConfigError::Toml {
            path: shown,
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut config.genesis,
            &mut config.key_file,
            &mut config.data_dir,
        ] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(config)
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(
            path,
            toml::to_string_pretty(self).map_err(std::io::Error::other)?,
        )
    }
}

/// Reads a validator key file (hex secret).
pub fn read_key_file(path: &Path) -> Result<cairn_types::PrivateKey, ConfigError> {
    use commonware_codec::DecodeExt;
    let err = |reason: String| ConfigError::Key {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let bytes = hex::decode(text.trim()).map_err(|e| err(format!("not hex: {e}")))?;
    cairn_types::PrivateKey::decode(bytes).map_err(|e| err(format!("not an ed25519 secret: {e}")))
}

/// Writes a validator key file with owner-only permissions.
pub fn write_key_file(path: &Path, key: &cairn_types::PrivateKey) -> std::io::Result<()> {
    use commonware_codec::Encode;
    let text = hex::encode(key.encode());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    options.open(path)?.write_all(text.as_bytes())
}
