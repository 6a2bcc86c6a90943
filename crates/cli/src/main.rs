//! `cairn`: run a node, manage keys, send transactions and query the chain.

mod bench;
mod fl;
mod infer;
mod keys;
mod node_cmd;
mod query;
mod testnet;
mod tx;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "cairn",
    version,
    about = "Cairn: a chain on which AI models are trained, validated and served verifiably"
)]
struct Cli {
    /// Node JSON-RPC endpoint.
    #[arg(
        long,
        global = true,
        env = "CAIRN_RPC",
        default_value = "http://127.0.0.1:8545"
    )]
    rpc: String,
    /// Encrypted keystore directory (default: $CAIRN_HOME/keys or ~/.cairn/keys).
    #[arg(long, global = true, env = "CAIRN_KEYSTORE")]
    keystore: Option<PathBuf>,
    /// Print machine-readable JSON instead of human output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a validator node.
    Node {
        /// Single-validator development chain with zero configuration.
        #[arg(long, conflicts_with = "config")]
        dev: bool,
        /// Node config file (from `cairn testnet init`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Home directory for --dev (default: a fresh temporary directory).
        #[arg(long, requires = "dev")]
        home: Option<PathBuf>,
        /// RPC listen address for --dev.
        #[arg(long, default_value = "127.0.0.1:8545", requires = "dev")]
        rpc_listen: SocketAddr,
        /// p2p listen address for --dev.
        #[arg(long, default_value = "127.0.0.1:26656", requires = "dev")]
        p2p_listen: SocketAddr,
    },
    /// Local multi-validator networks on 127.0.0.1.
    Testnet {
        #[command(subcommand)]
        command: TestnetCommand,
    },
    /// Manage the encrypted keystore (cold and hot keys).
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
        #[command(flatten)]
        password: keys::PasswordArgs,
    },
    /// Sign and submit a transaction.
    Tx {
        #[command(subcommand)]
        command: tx::TxCommand,
        #[command(flatten)]
        args: tx::TxArgs,
        #[command(flatten)]
        password: keys::PasswordArgs,
    },
    /// Read chain state from a node.
    Query {
        #[command(subcommand)]
        command: query::QueryCommand,
    },
    /// Run a whole federated-learning task on a fresh local dev chain (no flags needed).
    Demo(fl::demo::DemoArgs),
    /// Federated-learning tasks: list, show, rounds, propose, vote, join.
    Task {
        #[command(subcommand)]
        command: fl::task_cmd::TaskCommand,
        /// Key that signs (propose, vote, join).
        #[arg(long, global = true, env = "CAIRN_FROM", value_name = "KEY")]
        from: Option<String>,
        #[command(flatten)]
        password: keys::PasswordArgs,
    },
    /// Trainer daemon: train on your shard and submit an update every round of a task.
    Train {
        #[command(flatten)]
        args: fl::task_cmd::RoleArgs,
        /// Key that signs (a cold key, or a hot key linked to it).
        #[arg(long, env = "CAIRN_FROM", value_name = "KEY")]
        from: String,
        #[command(flatten)]
        password: keys::PasswordArgs,
    },
    /// Validator daemon: score, commit, reveal and attest the aggregate every round of a task.
    Validate {
        #[command(flatten)]
        args: fl::task_cmd::RoleArgs,
        /// Key that signs (a cold key, or a hot key linked to it).
        #[arg(long, env = "CAIRN_FROM", value_name = "KEY")]
        from: String,
        #[command(flatten)]
        password: keys::PasswordArgs,
    },
    /// Model registry: register a quantized model (from a task's checkpoint or a graph file), list, show.
    Model {
        #[command(subcommand)]
        command: infer::model_cmd::ModelCommand,
        /// Key that signs (register).
        #[arg(long, global = true, env = "CAIRN_FROM", value_name = "KEY")]
        from: Option<String>,
        #[command(flatten)]
        password: keys::PasswordArgs,
    },
    /// Pay for one inference of a registered model and wait for an answer the chain stands behind.
    Infer {
        #[command(flatten)]
        args: infer::request::InferArgs,
        /// Key that pays.
        #[arg(long, env = "CAIRN_FROM", value_name = "KEY")]
        from: String,
        #[command(flatten)]
        password: keys::PasswordArgs,
    },
    /// Provider daemon: answer inference requests with bonded results and defend them in disputes.
    Serve {
        #[command(flatten)]
        args: infer::serve::ServeArgs,
        /// Key that posts results and bonds.
        #[arg(long, env = "CAIRN_FROM", value_name = "KEY")]
        from: String,
        #[command(flatten)]
        password: keys::PasswordArgs,
    },
    /// Challenger daemon: re-execute posted results, challenge wrong ones and win the dispute.
    Watch {
        #[command(flatten)]
        args: infer::watch::WatchArgs,
        /// Key that posts challenges and bonds.
        #[arg(long, env = "CAIRN_FROM", value_name = "KEY")]
        from: String,
        #[command(flatten)]
        password: keys::PasswordArgs,
    },
    /// Opt-in benchmarks (they take the whole machine while they run).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Validator processes on 127.0.0.1 under signed-transfer load: tx/s and finality latency.
    Ledger(bench::LedgerBenchArgs),
    /// The same federated training with and without the chain: accuracy gap and overhead.
    Fl(fl::bench::FlBenchArgs),
}

#[derive(Subcommand)]
enum TestnetCommand {
    /// Write genesis, keys and one config per validator.
    Init {
        #[arg(long, default_value_t = 4)]
        validators: usize,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 26600)]
        p2p_base_port: u16,
        #[arg(long, default_value_t = 8600)]
        rpc_base_port: u16,
        /// Blocks per epoch: the validator set changes with stake at each epoch's last block.
        #[arg(long, default_value_t = testnet::EPOCH_BLOCKS_DEFAULT)]
        epoch_blocks: u64,
        #[command(flatten)]
        password: keys::PasswordArgs,
    },
    /// Start every node as a background process (creating the testnet first if needed).
    Up(testnet::UpArgs),
    /// Stop every node (Ctrl-C, then SIGKILL after 10 s).
    Down(testnet::DirArgs),
    /// Each node's process, height, tip, state root and mempool.
    Status(testnet::DirArgs),
    /// Stop one node (Ctrl-C, or SIGKILL with --kill9) and start it again.
    Restart(testnet::RestartArgs),
    /// Add a node with a fresh validator key and start it: it follows the chain, and validates
    /// from the epoch after `cairn tx create-validator` registers its key.
    AddNode(testnet::DirArgs),
}

fn main() {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::exit(1);
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let keystore = cli
        .keystore
        .clone()
        .unwrap_or_else(keys::default_keystore_dir);
    match cli.command {
        Command::Node {
            dev: true,
            home,
            rpc_listen,
            p2p_listen,
            ..
        } => {
            let home = home.unwrap_or_else(|| {
                std::env::temp_dir().join(format!("cairn-dev-{}", std::process::id()))
            });
            let config = node_cmd::dev_home(&home, rpc_listen, p2p_listen)?;
            node_cmd::run_node(&config, Some(&home))
        }
        Command::Node {
            config: Some(config),
            ..
        } => node_cmd::run_node(&config, None),
        Command::Node { .. } => {
            anyhow::bail!(
                "say which node to run: `cairn node --dev` for a local dev chain, or `cairn node --config FILE` (make files with `cairn testnet init`)"
            )
        }
        Command::Testnet {
            command:
                TestnetCommand::Init {
                    validators,
                    dir,
                    p2p_base_port,
                    rpc_base_port,
                    epoch_blocks,
                    password,
                },
        } => {
            let password = password.read("password for the operator keys", true)?;
            node_cmd::testnet_init(
                &dir,
                validators,
                p2p_base_port,
                rpc_base_port,
                &password,
                &[],
                epoch_blocks,
            )?;
            Ok(0)
        }
        Command::Testnet {
            command: TestnetCommand::Up(args),
        } => testnet::up(args),
        Command::Testnet {
            command: TestnetCommand::Down(args),
        } => testnet::down(args),
        Command::Testnet {
            command: TestnetCommand::Status(args),
        } => testnet::status(args, cli.json),
        Command::Testnet {
            command: TestnetCommand::Restart(args),
        } => testnet::restart(args),
        Command::Testnet {
            command: TestnetCommand::AddNode(args),
        } => testnet::add_node(args),
        Command::Keys { command, password } => {
            keys::run(command, &keystore, &password, cli.json)?;
            Ok(0)
        }
        Command::Tx {
            command,
            args,
            password,
        } => {
            let from = args.from.clone().context(
                "say which key signs: --from NAME (a key in the keystore; see `cairn keys list`) or set CAIRN_FROM",
            )?;
            let signer = keys::load_signer(&keystore, &from, &password)
                .with_context(|| format!("cannot load key '{from}' from {}", keystore.display()))?;
            let client = cairn_rpc::client::RpcClient::new(&cli.rpc);
            let load_key = |name: &str| keys::load_signer(&keystore, name, &password);
            tx::run(command, &args, &client, &signer, &load_key, cli.json)?;
            Ok(0)
        }
        Command::Bench {
            command: BenchCommand::Ledger(args),
        } => {
            bench::ledger(args)?;
            Ok(0)
        }
        Command::Bench {
            command: BenchCommand::Fl(args),
        } => {
            fl::bench::run(args)?;
            Ok(0)
        }
        Command::Demo(args) => {
            fl::demo::run(args)?;
            Ok(0)
        }
        Command::Task {
            command,
            from,
            password,
        } => {
            let client = cairn_rpc::client::RpcClient::new(&cli.rpc);
            let signer = || {
                let from = from
                    .clone()
                    .context("say which key signs: --from NAME or CAIRN_FROM")?;
                keys::load_signer(&keystore, &from, &password).with_context(|| {
                    format!("cannot load key '{from}' from {}", keystore.display())
                })
            };
            fl::task_cmd::run_task(command, &client, signer, cli.json)?;
            Ok(0)
        }
        Command::Train {
            args,
            from,
            password,
        } => {
            let key = keys::load_signer(&keystore, &from, &password)
                .with_context(|| format!("cannot load key '{from}' from {}", keystore.display()))?;
            fl::task_cmd::train(args, &cairn_rpc::client::RpcClient::new(&cli.rpc), key)?;
            Ok(0)
        }
        Command::Validate {
            args,
            from,
            password,
        } => {
            let key = keys::load_signer(&keystore, &from, &password)
                .with_context(|| format!("cannot load key '{from}' from {}", keystore.display()))?;
            fl::task_cmd::validate(args, &cairn_rpc::client::RpcClient::new(&cli.rpc), key)?;
            Ok(0)
        }
        Command::Model {
            command,
            from,
            password,
        } => {
            let client = cairn_rpc::client::RpcClient::new(&cli.rpc);
            let signer = || {
                let from = from
                    .clone()
                    .context("say which key signs: --from NAME or CAIRN_FROM")?;
                keys::load_signer(&keystore, &from, &password).with_context(|| {
                    format!("cannot load key '{from}' from {}", keystore.display())
                })
            };
            infer::model_cmd::run(command, &client, signer, cli.json)?;
            Ok(0)
        }
        Command::Infer {
            args,
            from,
            password,
        } => {
            let key = keys::load_signer(&keystore, &from, &password)
                .with_context(|| format!("cannot load key '{from}' from {}", keystore.display()))?;
            infer::request::run(
                args,
                &cairn_rpc::client::RpcClient::new(&cli.rpc),
                key,
                cli.json,
            )?;
            Ok(0)
        }
        Command::Serve {
            args,
            from,
            password,
        } => {
            let key = keys::load_signer(&keystore, &from, &password)
                .with_context(|| format!("cannot load key '{from}' from {}", keystore.display()))?;
            infer::serve::run(args, &cairn_rpc::client::RpcClient::new(&cli.rpc), key)?;
            Ok(0)
        }
        Command::Watch {
            args,
            from,
            password,
        } => {
            let key = keys::load_signer(&keystore, &from, &password)
                .with_context(|| format!("cannot load key '{from}' from {}", keystore.display()))?;
            infer::watch::run(args, &cairn_rpc::client::RpcClient::new(&cli.rpc), key)?;
            Ok(0)
        }
        Command::Query { command } => {
            let client = cairn_rpc::client::RpcClient::new(&cli.rpc);
            query::run(command, &client, cli.json)?;
            Ok(0)
        }
    }
}
