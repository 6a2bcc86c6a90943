//! `cairn model register|list|show`: the model registry.

use super::{LoadedModel, check_graph, load_model};
use crate::fl::{DataSource, Participant};
use crate::query::short;
use anyhow::{Context, bail};
use cairn_infer::Graph;
use cairn_rpc::client::RpcClient;
use cairn_rpc::infer_api::ModelView;
use cairn_types::{Action, Lineage, ModelRegistration, PrivateKey, to_hex};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// Calibration samples for post-training quantization.
const CALIBRATION_SAMPLES: usize = 256;

#[derive(Subcommand, Debug)]
pub enum ModelCommand {
    /// Quantize a training task's checkpoint to int8 (or take a graph file), upload the graph
    /// and register it with its lineage, licence and price.
    Register(RegisterArgs),
    /// Every registered model.
    List,
    /// One model; fetches its graph and checks it against every commitment on chain.
    Show {
        /// Model id (the graph's BLAKE3 hash).
        id: String,
    },
}

#[derive(Args, Debug)]
pub struct RegisterArgs {
    /// Training task whose checkpoint to quantize (its last checkpoint unless --round).
    #[arg(long, required_unless_present = "graph", conflicts_with = "graph")]
    pub task: Option<u64>,
    /// Round of --task whose checkpoint to take.
    #[arg(long, requires = "task")]
    pub round: Option<u32>,
    /// A graph file already quantized (cairn-infer's canonical bytes) instead of --task.
    #[arg(long)]
    pub graph: Option<PathBuf>,
    /// MNIST IDX directory for calibration and the accuracy report (default: the built-in
    /// synthetic data, as `cairn demo` trains on).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Name [default: task-<ID>-round-<R>, or the file name].
    #[arg(long)]
    pub name: Option<String>,
    /// Licence terms (an SPDX id or a short URL).
    #[arg(long, default_value = "CC-BY-4.0")]
    pub licence: String,
    /// Paid to you for every settled inference.
    #[arg(long, default_value_t = 10)]
    pub price: u64,
    /// Also write the quantized graph to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(
    cmd: ModelCommand,
    client: &RpcClient,
    signer: impl FnOnce() -> anyhow::Result<PrivateKey>,
    json: bool,
) -> anyhow::Result<()> {
    match cmd {
        ModelCommand::List => {
            let models = client.models()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&models)?);
                return Ok(());
            }
            if models.is_empty() {
                println!(
                    "no models yet; register one with `cairn model register --task ID --from KEY`"
                );
            }
            for m in &models {
                println!("{}", line(m));
            }
            Ok(())
        }
        ModelCommand::Show { id } => {
            let id = canonical_id(&id)?;
            let loaded = load_model(client, &id)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&loaded.view)?);
                return Ok(());
            }
            show(&loaded);
            Ok(())
        }
        ModelCommand::Register(args) => {
            let (graph, lineage, default_name) = match (&args.graph, args.task) {
                (Some(path), _) => {
                    let bytes = std::fs::read(path)
                        .with_context(|| format!("cannot read graph file {}", path.display()))?;
                    let graph = cairn_infer::decode(&bytes).with_context(|| {
                        format!("{} is not a valid model graph", path.display())
                    })?;
                    let name = path
                        .file_stem()
                        .map(|s| s.to_string_lossy().replace(' ', "-"))
                        .unwrap_or_else(|| "model".into());
                    (graph, None, name)
                }
                (None, Some(task)) => {
                    let (graph, lineage) = quantize_task(client, task, args.round, &args)?;
                    (
                        graph,
                        Some(lineage),
                        format!("task-{task}-round-{}", lineage.round),
                    )
                }
                (None, None) => bail!("say what to register: --task ID or --graph FILE"),
            };
            if let Some(out) = &args.out {
                crate::fl::write_atomic(out, &graph.encode())?;
                println!("graph written to {}", out.display());
            }
            let registration = ModelRegistration {
                graph: graph.blob_id(),
                graph_bytes: graph.encode().len() as u64,
                model_root: cairn_infer::ModelCommitment::new(&graph).root,
                node_count: graph.len() as u32,
                input_shape: graph.input().shape.clone(),
                output_shape: graph.output().shape.clone(),
                name: args.name.clone().unwrap_or(default_name),
                licence: args.licence.clone(),
                price: args.price,
                lineage,
            };
            registration
                .validate()
                .map_err(|(field, reason)| anyhow::anyhow!("model {field}: {reason}"))?;
            check_graph(&registration, &graph)?;
            let me = Participant::new(RpcClient::new(client.url()), signer()?)?;
            client
                .put_blob(&graph.encode())
                .context("cannot upload the graph blob")?;
            let owner = commonware_cryptography::Signer::public_key(&me.key);
            let id = to_hex(cairn_types::infer::model_id(&owner, &registration.graph));
            me.send(Action::RegisterModel {
                model: registration.clone(),
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&client.model(&id)?)?);
            } else {
                println!(
                    "registered model {id}\n  name {} | {} nodes | input {:?} → output {:?} | price {} | licence {}",
                    registration.name,
                    registration.node_count,
                    registration.input_shape,
                    registration.output_shape,
                    registration.price,
                    registration.licence
                );
                if let Some(l) = lineage {
                    println!("  lineage: task {} round {}", l.task, l.round);
                }
            }
            Ok(())
        }
    }
}

fn canonical_id(id: &str) -> anyhow::Result<String> {
    Ok(to_hex(crate::fl::parse_hash("model id", id)?))
}

/// Quantizes a task round's checkpoint, calibrating on the training data, and reports the
/// accuracy of both models on the test split.
fn quantize_task(
    client: &RpcClient,
    task: u64,
    round: Option<u32>,
    args: &RegisterArgs,
) -> anyhow::Result<(Graph, Lineage)> {
    let view = crate::fl::read_task(client, task)?;
    let spec = crate::fl::model_spec(&view)?;
    let records = client.task_rounds(task)?;
    let record = match round {
        Some(r) => records
            .iter()
            .find(|rec| rec.round == r)
            .with_context(|| format!("task {task} has no record for round {r}"))?,
        None => records
            .iter()
            .rev()
            .find(|rec| rec.checkpoint.is_some())
            .with_context(|| format!("task {task} has no checkpoint yet"))?,
    };
    let checkpoint = record.checkpoint.clone().with_context(|| {
        format!(
            "round {} of task {task} closed without a checkpoint",
            record.round
        )
    })?;
    let fixed = crate::fl::fetch_model(client, &checkpoint)?;
    let float = cairn_fl::to_float(&spec, &fixed).with_context(|| {
        format!(
            "checkpoint {} does not fit model {spec}",
            short(&checkpoint)
        )
    })?;
    let data = DataSource::from_flag(args.data.as_deref()).load()?;
    if crate::fl::dataset_commitment(&data.train)
        != crate::fl::parse_hash("dataset", &view.spec.dataset)?
    {
        eprintln!(
            "warning: the calibration data is not task {task}'s training data (pass the --data the task used)"
        );
    }
    let calibration: Vec<usize> = (0..data.train.len().min(CALIBRATION_SAMPLES)).collect();
    let graph = cairn_infer::quantize::quantize_model(&float, &data.train, &calibration)
        .context("post-training quantization failed")?;
    let test: Vec<usize> = (0..data.test.len()).collect();
    let float_acc = cairn_fl::evaluate_fixed(&spec, &fixed, &data.test, 2)?.accuracy();
    let int_acc = cairn_infer::quantize::accuracy(&graph, &data.test, &test);
    println!(
        "quantized task {task} round {} ({spec}) to int8: test accuracy {:.2}% (float checkpoint {:.2}%), {} parameters, {} nodes",
        record.round,
        int_acc * 100.0,
        float_acc * 100.0,
        graph.parameter_count(),
        graph.len()
    );
    Ok((
        graph,
        Lineage {
            task,
            round: record.round,
        },
    ))
}

fn line(m: &ModelView) -> String {
    format!(
        "{}  {:<24} price {:>6}  {:>3} nodes  served {:>4}  refuted {:>3}{}",
        short(&m.id),
        m.name,
        m.price,
        m.node_count,
        m.served,
        m.refuted,
        m.lineage
            .as_ref()
            .map(|l| format!("  from task {} round {}", l.task, l.round))
            .unwrap_or_default()
    )
}

fn show(m: &LoadedModel) {
    let v = &m.view;
    println!("model {}", v.id);
    println!("  name:        {}", v.name);
    println!("  owner:       {}", v.owner);
    println!("  licence:     {}", v.licence);
    println!("  price:       {} per inference", v.price);
    println!(
        "  graph:       {} nodes, {} parameters, input {:?} → output {:?}",
        v.node_count,
        m.graph.parameter_count(),
        v.input_shape,
        v.output_shape
    );
    println!("  model root:  {}", v.model_root);
    match (&v.lineage, &v.checkpoint) {
        (Some(l), Some(cp)) => println!(
            "  lineage:     task {} round {} (checkpoint {})",
            l.task, l.round, cp
        ),
        _ => println!("  lineage:     none recorded"),
    }
    println!("  registered:  block {}", v.registered_at);
    println!("  inferences:  {} settled, {} refuted", v.served, v.refuted);
    println!(
        "  verified:    the graph blob matches the id, model root, node count and shapes on chain"
    );
}
