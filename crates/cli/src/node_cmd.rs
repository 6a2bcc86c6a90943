//! `cairn node` and `cairn testnet init`: home-directory layouts and starting a validator.

use anyhow::{Context, bail};
use cairn_node::config::{Bootstrapper, NodeConfig, write_key_file};
use cairn_types::{
    Genesis, GenesisAccount, GenesisValidator, Params, PrivateKey, PublicKey, to_hex,
};
use commonware_cryptography::Signer;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Password of the dev node's pre-funded account key (dev chains only; printed at start).
pub const DEV_PASSWORD: &str = "dev";
/// Extra funded cold keys a dev home's keystore holds besides `dev` (the validator's
/// operator), so a user can play several parties (a model owner, a provider, a challenger, a
/// client) from the CLI alone.
pub const DEV_USERS: [&str; 3] = ["alice", "bob", "carol"];
/// Balance of each pre-funded account.
pub const FUNDED_BALANCE: u64 = 1_000_000_000_000;
/// Self-bond of each genesis validator.
pub const GENESIS_STAKE: u64 = 1_000_000;

pub fn random_key() -> PrivateKey {
    cairn_keystore::random_private_key()
}

// Genesis creation stamps the wall clock once; consensus only reads it from the genesis file.
#[allow(clippy::disallowed_methods)]
fn genesis_for(
    chain_id: &str,
    validators: &[(PrivateKey, PrivateKey)],
    extra: &[PublicKey],
) -> Genesis {
    Genesis {
        chain_id: chain_id.to_string(),
        genesis_time_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        accounts: validators
            .iter()
            .map(|(_, operator)| GenesisAccount {
                address: to_hex(operator.public_key()),
                balance: FUNDED_BALANCE,
            })
            .chain(extra.iter().map(|key| GenesisAccount {
                address: to_hex(key),
                balance: FUNDED_BALANCE,
            }))
            .collect(),
        validators: validators
            .iter()
            .enumerate()
            .map(|(i, (validator, operator))| GenesisValidator {
                consensus_key: to_hex(validator.public_key()),
                operator: to_hex(operator.public_key()),
                stake: GENESIS_STAKE,
                moniker: format!("validator-{i}"),
            })
            .collect(),
        params: Params::default(),
    }
}

/// Creates (or reuses) a single-validator dev home in `dir`; returns its config path.
pub fn dev_home(
    dir: &Path,
    rpc_listen: SocketAddr,
    p2p_listen: SocketAddr,
) -> anyhow::Result<PathBuf> {
    let config_path = dir.join("node.toml");
    if config_path.exists() {
        // A home written with port 0 (as `cairn demo` writes its own, so it never collides)
        // gets the given addresses on restart: a restarted node should be easy to find.
        let mut config = NodeConfig::load(&config_path)?;
        if config.rpc_listen.port() == 0 || config.p2p_listen.port() == 0 {
            config.rpc_listen = rpc_listen;
            config.p2p_listen = p2p_listen;
            config.save(&config_path)?;
        }
        return Ok(config_path);
    }
    let home = new_dev_home(dir, rpc_listen, p2p_listen, &[], "info")?;
    Ok(home.config)
}

/// A freshly written single-validator dev home.
pub struct DevHome {
    pub config: PathBuf,
    /// The validator's consensus key.
    pub validator: PublicKey,
    /// The funded account that operates the validator (also in the keystore as `dev`).
    pub operator: PrivateKey,
}

/// Writes a new dev home in `dir` (which must not hold one): genesis with one validator, its
/// operator, every key of `extra` and the [DEV_USERS] funded, the validator key, and the
/// operator (as `dev`) and the users in the keystore.
pub fn new_dev_home(
    dir: &Path,
    rpc_listen: SocketAddr,
    p2p_listen: SocketAddr,
    extra: &[PublicKey],
    log: &str,
) -> anyhow::Result<DevHome> {
    let config_path = dir.join("node.toml");
    if config_path.exists() {
        bail!("{} already holds a node home", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let validator = random_key();
    let operator = random_key();
    let users: Vec<(&str, PrivateKey)> =
        DEV_USERS.iter().map(|name| (*name, random_key())).collect();
    let mut funded = extra.to_vec();
    funded.extend(users.iter().map(|(_, k)| k.public_key()));
    let genesis = genesis_for(
        "cairn-dev",
        &[(validator.clone(), operator.clone())],
        &funded,
    );
    genesis.save(&dir.join("genesis.json"))?;
    write_key_file(&dir.join("validator.key"), &validator)?;
    let keystore = cairn_keystore::Keystore::open(dir.join("keys"))?;
    keystore.import(
        "dev",
        cairn_keystore::KeyKind::Cold,
        &operator,
        DEV_PASSWORD,
    )?;
    for (name, key) in &users {
        keystore.import(name, cairn_keystore::KeyKind::Cold, key, DEV_PASSWORD)?;
    }
    let config = NodeConfig {
        genesis: "genesis.json".into(),
        key_file: "validator.key".into(),
        data_dir: "data".into(),
        p2p_listen,
        rpc_listen,
        bootstrappers: Vec::new(),
        log: log.into(),
    };
    config.save(&config_path)?;
    Ok(DevHome {
        config: config_path,
        validator: validator.public_key(),
        operator,
    })
}

/// `cairn testnet init`: configs, keys and a shared genesis for `n` validators on 127.0.0.1.
pub fn testnet_init(
    dir: &Path,
    n: usize,
    p2p_base: u16,
    rpc_base: u16,
    password: &str,
    extra_accounts: &[PublicKey],
    epoch_blocks: u64,
) -> anyhow::Result<()> {
    if n == 0 || n > 100 {
        bail!("--validators must be between 1 and 100, got {n}");
    }
    if epoch_blocks < 2 {
        bail!("--epoch-blocks must be at least 2, got {epoch_blocks}");
    }
    if dir.join("genesis.json").exists() {
        bail!(
            "{} already holds a testnet (genesis.json exists); choose another --dir or delete it",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let keys: Vec<(PrivateKey, PrivateKey)> =
        (0..n).map(|_| (random_key(), random_key())).collect();
    let mut genesis = genesis_for("cairn-testnet", &keys, extra_accounts);
    genesis.params.epoch_length_blocks = epoch_blocks;
    genesis.save(&dir.join("genesis.json"))?;
    let keystore = cairn_keystore::Keystore::open(dir.join("keys"))?;
    let bootstrappers: Vec<Bootstrapper> = keys
        .iter()
        .enumerate()
        .map(|(i, (validator, _))| Bootstrapper {
            public_key: to_hex(validator.public_key()),
            address: SocketAddr::from(([127, 0, 0, 1], p2p_base + i as u16)),
        })
        .collect();
    for (i, (validator, operator)) in keys.iter().enumerate() {
        let home = dir.join(format!("node-{i}"));
        std::fs::create_dir_all(&home)?;
        write_key_file(&home.join("validator.key"), validator)?;
        keystore.import(
            &format!("operator-{i}"),
            cairn_keystore::KeyKind::Cold,
            operator,
            password,
        )?;
        let config = NodeConfig {
            genesis: "genesis.json".into(),
            key_file: format!("node-{i}/validator.key").into(),
            data_dir: format!("node-{i}/data").into(),
            p2p_listen: SocketAddr::from(([127, 0, 0, 1], p2p_base + i as u16)),
            rpc_listen: SocketAddr::from(([127, 0, 0, 1], rpc_base + i as u16)),
            bootstrappers: bootstrappers.clone(),
            log: "info".into(),
        };
        config.save(&dir.join(format!("node-{i}.toml")))?;
    }
    println!("testnet with {n} validators written to {}", dir.display());
    println!("  genesis:  {}", dir.join("genesis.json").display());
    println!(
        "  keystore: {} (operator-0..operator-{}; funded, cold)",
        dir.join("keys").display(),
        n - 1
    );
    for i in 0..n {
        println!(
            "  node-{i}:   cairn node --config {}   # RPC http://127.0.0.1:{}",
            dir.join(format!("node-{i}.toml")).display(),
            rpc_base + i as u16
        );
    }
    println!(
        "next: `cairn testnet up --dir {}` starts them all in the background (or run each line above), then",
        dir.display()
    );
    println!("  cairn --rpc http://127.0.0.1:{rpc_base} query status");
    Ok(())
}

/// Starts the node described by `config_path` and blocks until Ctrl-C.
pub fn run_node(config_path: &Path, dev: Option<&Path>) -> anyhow::Result<i32> {
    let config = NodeConfig::load(config_path)?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log)),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let dev_home = dev.map(Path::to_path_buf);
    let on_ready: cairn_node::run::OnReady = Box::new(move |handle, rpc_addr| {
        let url = format!("http://{rpc_addr}");
        println!("cairn node running");
        println!("  validator:  {}", to_hex(&handle.public_key));
        println!("  RPC:        {url}   (metrics: {url}/metrics)");
        if let Some(home) = &dev_home {
            let keys = home.join("keys");
            println!("  home:       {}", home.display());
            println!(
                "  funded keys 'dev', {} in keystore {} (password '{DEV_PASSWORD}')",
                DEV_USERS.map(|u| format!("'{u}'")).join(", "),
                keys.display()
            );
            println!("try:");
            println!(
                "  CAIRN_PASSWORD={DEV_PASSWORD} cairn --rpc {url} --keystore {} tx transfer --from dev --to <PUBKEY> --amount 100",
                keys.display()
            );
            println!("  cairn --rpc {url} query status");
        }
        println!("Ctrl-C stops the node; restarting with the same home resumes where it stopped.");
    });
    Ok(cairn_node::run::run(config, on_ready)?)
}
