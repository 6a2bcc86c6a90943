//! `cairn infer MODEL INPUT`: pay for one inference and wait for an answer the chain stands
//! behind (a bonded result that survived its challenge window), or for its refutation.

use super::{LoadedModel, load_model, pause};
use crate::fl::{DataSource, Participant};
use crate::query::short;
use anyhow::{Context, bail};
use cairn_rpc::client::RpcClient;
use cairn_rpc::infer_api::InferenceView;
use cairn_types::{Action, PrivateKey, infer::elements};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct InferArgs {
    /// Model id (the graph's BLAKE3 hash; see `cairn model list`).
    pub model: String,
    /// The input: `synthetic:N` (test image N of the built-in data), `mnist:N` (needs
    /// --data), or a file of raw int8 bytes in the model's input shape.
    pub input: String,
    /// MNIST IDX directory for `mnist:N` inputs.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Payment escrowed with the request [default: the model's price + 10 for the provider].
    #[arg(long)]
    pub payment: Option<u64>,
    /// Only this provider (hex address) may answer: nobody can copy its result and take the
    /// payment [default: any provider; the first valid result wins].
    #[arg(long)]
    pub provider: Option<String>,
    /// Print the request id and return at once instead of waiting for the outcome.
    #[arg(long)]
    pub no_wait: bool,
    /// Longest wait for the outcome, in seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
}

/// Reads the input named by `spec` as int8 bytes, checking its size against the model.
pub fn read_input(
    spec: &str,
    data: Option<&std::path::Path>,
    model: &LoadedModel,
) -> anyhow::Result<Vec<u8>> {
    let shape = &model.registration.input_shape;
    let expected = elements(shape) as usize;
    let image = |source: DataSource, index: &str, what: &str| -> anyhow::Result<Vec<u8>> {
        let i: usize = index
            .parse()
            .with_context(|| format!("input {spec:?}: {what} index {index:?} is not a number"))?;
        let test = source.load()?.test;
        if i >= test.len() {
            bail!(
                "input {spec:?}: the {what} test split has {} images (0..{})",
                test.len(),
                test.len()
            );
        }
        Ok(cairn_infer::pixels_to_input(test.image(i))
            .iter()
            .map(|&v| v as u8)
            .collect())
    };
    let bytes = if let Some(index) = spec.strip_prefix("synthetic:") {
        image(DataSource::Synthetic { seed: 0 }, index, "synthetic")?
    } else if let Some(index) = spec.strip_prefix("mnist:") {
        let dir = data.context("mnist:N inputs need --data DIR (the MNIST IDX files)")?;
        image(
            DataSource::Mnist {
                dir: dir.to_path_buf(),
            },
            index,
            "MNIST",
        )?
    } else {
        std::fs::read(spec).with_context(|| {
            format!("input {spec:?} is neither synthetic:N, mnist:N nor a readable file")
        })?
    };
    if bytes.len() != expected {
        bail!(
            "input {spec:?} has {} bytes but model {} takes {expected} int8 values (shape {shape:?})",
            bytes.len(),
            short(&model.view.id)
        );
    }
    Ok(bytes)
}

pub fn run(args: InferArgs, client: &RpcClient, key: PrivateKey, json: bool) -> anyhow::Result<()> {
    let id = cairn_types::to_hex(crate::fl::parse_hash("model id", &args.model)?);
    let model = load_model(client, &id)?;
    let input = read_input(&args.input, args.data.as_deref(), &model)?;
    let payment = args.payment.unwrap_or(model.registration.price + 10);
    let provider = match &args.provider {
        Some(p) => Some(
            cairn_types::parse_public_key(p).map_err(|e| anyhow::anyhow!("--provider: {e}"))?,
        ),
        None => None,
    };
    let me = Participant::new(RpcClient::new(client.url()), key)?;
    let receipt = me.send(Action::RequestInference {
        model: crate::fl::parse_hash("model id", &model.view.id)?,
        input: input.clone(),
        payment,
        provider,
    })?;
    let request = super::all_inferences(client)?
        .into_iter()
        .filter(|i| i.client == me.address && i.requested_at == receipt.height)
        .map(|i| i.id)
        .next_back()
        .context("the request is not on chain")?;
    if !json {
        println!(
            "request {request}: model {} on {} ({} bytes), {payment} escrowed",
            short(&id),
            args.input,
            input.len()
        );
    }
    if args.no_wait {
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&client.inference(request)?)?
            );
        }
        return Ok(());
    }
    // A client-side deadline, not consensus code.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let mut last = String::new();
    let view = loop {
        let view = client.inference(request)?;
        let line = progress(&view);
        if line != last && !json {
            println!("  {line}");
            last = line;
        }
        if !matches!(view.status.as_str(), "requested" | "served" | "disputed") {
            break view;
        }
        if started.elapsed() > Duration::from_secs(args.timeout_secs) {
            bail!(
                "request {request} is still {} after {} s; follow it with `cairn query` or rerun with a longer --timeout-secs",
                view.status,
                args.timeout_secs
            );
        }
        pause();
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(());
    }
    verdict(&model, &view, &input)
}

fn progress(v: &InferenceView) -> String {
    match v.status.as_str() {
        "requested" => format!("waiting for a provider (until block {})", v.deadline),
        "served" => {
            let r = v.result.as_ref();
            format!(
                "served by {} with output {:?} (bond {}); challenge window open until block {}",
                r.map_or("?".into(), |r| short(&r.account)),
                r.map_or(Vec::new(), |r| r.output.clone()),
                r.map_or(0, |r| r.bond),
                v.deadline
            )
        }
        "disputed" => {
            let open: Vec<String> = v
                .disputes
                .iter()
                .filter(|d| d.end.is_none())
                .map(|d| {
                    format!(
                        "{} (output {:?}, k = {}, {} moves)",
                        short(&d.challenge.account),
                        d.challenge.output,
                        d.k,
                        d.moves
                    )
                })
                .collect();
            format!(
                "disputed by {}; next move due by block {}",
                open.join(", "),
                v.deadline
            )
        }
        other => format!("{other} at block {}", v.deadline),
    }
}

fn verdict(model: &LoadedModel, v: &InferenceView, input: &[u8]) -> anyhow::Result<()> {
    for d in &v.disputes {
        if let Some(end) = &d.end {
            println!(
                "dispute {}: {} won after {} moves ({} bytes on chain): {}; {} bond paid to the winner",
                d.index,
                end.winner,
                d.moves,
                d.move_bytes,
                end.reason,
                end.slashed
            );
        }
    }
    match v.status.as_str() {
        "settled" => {
            let r = v
                .result
                .as_ref()
                .context("a settled request has a result")?;
            let local = cairn_infer::run(
                &model.graph,
                &input.iter().map(|&b| b as i8).collect::<Vec<_>>(),
            )?;
            let agrees = local.output() == r.output.as_slice();
            // A one-element output is an argmax: name it as the class it is.
            let answer = match r.output.as_slice() {
                [class] => format!("class {}", *class as u8),
                output => format!("{output:?}"),
            };
            println!(
                "answer: {answer} — it stood through the challenge window against a bond of {}; owner paid {}, provider paid {}",
                r.bond,
                v.price,
                v.payment - v.price
            );
            println!(
                "local re-execution of the registered graph {}",
                if agrees {
                    "agrees, bit for bit"
                } else {
                    "DISAGREES (nobody challenged in time)"
                }
            );
        }
        "refuted" => println!(
            "the provider's answer was proven wrong on chain; your payment of {} was refunded",
            v.payment
        ),
        "expired" => println!(
            "no provider answered in time; your payment of {} was refunded",
            v.payment
        ),
        other => println!("request ended as {other}"),
    }
    Ok(())
}
