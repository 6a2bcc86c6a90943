//! The RPC server over a fake node, driven through real HTTP by the real client.

mod blobs;
mod fake;
mod limits;
mod uploads;

use cairn_rpc::api::{ActionView, TxStatus};
use cairn_rpc::error::{
    CODE_INVALID_PARAMS, CODE_INVALID_REQUEST, CODE_METHOD_NOT_FOUND, CODE_NOT_FOUND,
    CODE_PARSE_ERROR, CODE_TX_REJECTED,
};
use cairn_rpc::{ClientError, RPC_BODY_MAX_BYTES, RpcClient, RpcLimits, RpcServer, RpcStats};
use cairn_types::{Action, PrivateKey, Transaction, to_hex};
use commonware_cryptography::Signer;
use fake::{CHAIN_ID, FakeNode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const RECEIPT_TIMEOUT: Duration = Duration::from_secs(5);

struct Harness {
    url: String,
    client: RpcClient,
    alice: PrivateKey,
    node_key: PrivateKey,
    /// The fake behind the server (shared state), for tests that poke it directly.
    node: FakeNode,
    /// The server's counters.
    stats: Arc<RpcStats>,
    /// `host:port` of the server, for raw sockets.
    addr: std::net::SocketAddr,
}

/// Starts the server on an ephemeral port, on its own runtime thread, over a fresh fake node.
fn start() -> Harness {
    start_with(RpcLimits::default())
}

/// [start] with `limits`.
fn start_with(limits: RpcLimits) -> Harness {
    let alice = PrivateKey::from_seed(1);
    let node_key = PrivateKey::from_seed(2);
    let node = FakeNode::new(node_key.public_key(), &alice.public_key(), 10_000);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let addr = listener.local_addr().expect("local address");
    let url = format!("http://{addr}");
    let served = node.clone();
    let server = RpcServer::new(limits);
    let stats = server.stats();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        runtime.expect("tokio runtime").block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let router = server.router(served);
            let forever = std::future::pending();
            server
                .serve(listener, router, forever)
                .await
                .expect("server runs");
        });
    });
    Harness {
        client: RpcClient::new(url.clone()),
        url,
        alice,
        node_key,
        node,
        stats,
        addr,
    }
}

impl Harness {
    fn sign(&self, nonce: u64, action: Action) -> cairn_types::SignedTx {
        let tx = Transaction {
            chain_id: CHAIN_ID.to_string(),
            signer: self.alice.public_key(),
            nonce,
            fee: 1,
            action,
        };
        tx.sign(&self.alice)
    }

    /// POSTs `body` verbatim; returns the HTTP status and the body parsed as JSON (or Null).
    fn post_raw(&self, body: impl Into<Vec<u8>>) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent
            .post(format!("{}/", self.url))
            .send(body.into())
            .expect("post");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn call_raw(&self, method: &str, params: Value) -> Value {
        let request = json!({ "jsonrpc": "2.0", "id": 7, "method": method, "params": params });
        let (status, reply) = self.post_raw(request.to_string());
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["id"], 7, "{reply}");
        reply
    }
}

fn rpc_error(result: Result<impl std::fmt::Debug, ClientError>) -> (i64, String) {
    match result.expect_err("call should fail") {
        ClientError::Rpc { code, message, .. } => (code, message),
        other => panic!("expected a JSON-RPC error, got {other}"),
    }
}

#[test]
fn status_reports_chain_and_node() {
    let h = start();
    let status = h.client.status().expect("status");
    assert_eq!(status.chain_id, CHAIN_ID);
    assert_eq!(status.node_key, to_hex(h.node_key.public_key()));
    assert_eq!(status.height, 0);
    assert_eq!(status.peers, 3);
}

#[test]
fn transfer_is_submitted_finalized_and_visible() {
    let h = start();
    let bob = PrivateKey::from_seed(3).public_key();
    let tx = h.sign(
        0,
        Action::Transfer {
            to: bob.clone(),
            amount: 100,
        },
    );
    let hash = h.client.submit_tx(&tx).expect("submit");
    assert_eq!(hash, to_hex(tx.hash()));

    // The fake hides the receipt for two polls: wait_for_receipt must keep asking.
    let receipt = h
        .client
        .wait_for_receipt(&hash, RECEIPT_TIMEOUT)
        .expect("receipt");
    assert_eq!(receipt.height, 1);
    assert_eq!(receipt.status, TxStatus::Finalized);
    assert_eq!(
        receipt.action,
        ActionView::Transfer {
            to: to_hex(&bob),
            amount: 100
        }
    );
    assert_eq!(receipt.signer, to_hex(h.alice.public_key()));

    let block = h.client.block_by_height(1).expect("block 1");
    assert_eq!(block.hash, receipt.block_hash);
    assert_eq!(block.proposer, to_hex(h.node_key.public_key()));
    assert_eq!(block.view, 1);
    assert_eq!(block.txs.len(), 1);
    assert_eq!(block.txs[0].hash, hash);
    assert_eq!(block.txs[0].action.name(), "transfer");
    assert_eq!(h.client.block_by_hash(&block.hash).expect("by hash"), block);
    assert_eq!(h.client.latest_block().expect("latest"), block);

    let alice = h
        .client
        .account(&to_hex(h.alice.public_key()))
        .expect("alice");
    assert_eq!((alice.balance, alice.nonce), (10_000 - 101, 1));
    assert_eq!(h.client.account(&to_hex(&bob)).expect("bob").balance, 100);
}

#[test]
fn action_json_is_tagged_with_the_action_name() {
    let h = start();
    let hot_key = PrivateKey::from_seed(9);
    let hot = hot_key.public_key();
    let proof = cairn_types::sign_hot_key_link(&hot_key, CHAIN_ID, &h.alice.public_key());
    let tx = h.sign(
        0,
        Action::LinkHotKey {
            hot: hot.clone(),
            proof,
        },
    );
    let hash = h.client.submit_tx(&tx).expect("submit");
    h.client
        .wait_for_receipt(&hash, RECEIPT_TIMEOUT)
        .expect("receipt");
    let block = h.call_raw("cairn_getBlockByHeight", json!([1]));
    let action = &block["result"]["txs"][0]["action"];
    assert_eq!(
        action,
        &json!({ "type": "link_hot_key", "hot": to_hex(&hot) })
    );
    let alice = h
        .client
        .account(&to_hex(h.alice.public_key()))
        .expect("alice");
    assert_eq!(alice.hot_keys, vec![to_hex(&hot)]);
}

#[test]
fn stale_nonce_is_rejected_with_the_nodes_reason() {
    let h = start();
    let bob = PrivateKey::from_seed(3).public_key();
    let first = h.sign(
        0,
        Action::Transfer {
            to: bob.clone(),
            amount: 1,
        },
    );
    h.client.submit_tx(&first).expect("first submit");
    let replay = h.sign(0, Action::Transfer { to: bob, amount: 2 });
    let (code, message) = rpc_error(h.client.submit_tx(&replay));
    assert_eq!(code, CODE_TX_REJECTED);
    assert!(message.starts_with("nonce 0 is stale"), "{message}");
}

#[test]
fn unknown_account_is_empty_not_an_error() {
    let h = start();
    let nobody = to_hex(PrivateKey::from_seed(42).public_key());
    let account = h.client.account(&nobody).expect("account");
    assert_eq!(
        (account.balance, account.nonce, account.hot_key_of),
        (0, 0, None)
    );
    assert_eq!(account.address, nobody);
}

#[test]
fn addresses_are_canonicalized_before_the_backend() {
    let h = start();
    let alice = to_hex(h.alice.public_key());
    let shouted = format!("0x{}", alice.to_uppercase());
    assert_eq!(h.client.account(&shouted).expect("account").balance, 10_000);
}

#[test]
fn validators_and_account_proof() {
    let h = start();
    let validators = h.client.validators().expect("validators");
    assert_eq!(validators.len(), 1);
    assert_eq!(validators[0].moniker, "alpha");
    assert!(validators[0].active);

    let alice = to_hex(h.alice.public_key());
    let proof = h.client.account_proof(&alice).expect("proof");
    assert_eq!(
        (proof.address.as_str(), proof.balance, proof.proof.as_str()),
        (alice.as_str(), 10_000, "00ff")
    );

    let nobody = to_hex(PrivateKey::from_seed(42).public_key());
    assert_eq!(rpc_error(h.client.account_proof(&nobody)).0, CODE_NOT_FOUND);
}

#[test]
fn missing_block_is_not_found() {
    let h = start();
    let (code, message) = rpc_error(h.client.block_by_height(99));
    assert_eq!(code, CODE_NOT_FOUND);
    assert_eq!(message, "block at height 99 not found");
    let (code, _) = rpc_error(h.client.block_by_hash(&"ab".repeat(32)));
    assert_eq!(code, CODE_NOT_FOUND);
}

#[test]
fn unknown_models_and_requests_are_not_found_and_bad_ids_name_the_param() {
    let h = start();
    let (code, message) = rpc_error(h.client.model(&"ab".repeat(32)));
    assert_eq!(code, CODE_NOT_FOUND);
    assert!(message.contains("model abab"), "{message}");
    let (code, message) = rpc_error(h.client.inference(7));
    assert_eq!(code, CODE_NOT_FOUND);
    assert_eq!(message, "inference request 7 not found");
    assert!(h.client.models().expect("models").is_empty());
    assert!(h.client.inferences(0).expect("inferences").is_empty());
    for (method, params, param) in [
        ("cairn_getModel", json!(["nothex"]), "id"),
        ("cairn_getModel", json!(["ab"]), "id"),
        ("cairn_getInference", json!(["x"]), "id"),
        ("cairn_getInferences", json!([-1]), "from"),
    ] {
        let reply = h.call_raw(method, params.clone());
        assert_eq!(
            reply["error"]["code"], CODE_INVALID_PARAMS,
            "{method} {params}: {reply}"
        );
        assert_eq!(
            reply["error"]["data"]["param"], param,
            "{method} {params}: {reply}"
        );
    }
    // `from` may be left out.
    assert_eq!(
        h.call_raw("cairn_getInferences", json!([]))["result"],
        json!([])
    );
}

#[test]
fn unknown_receipt_is_null_and_waiting_times_out() {
    let h = start();
    let hash = "cd".repeat(32);
    assert_eq!(h.client.tx_receipt(&hash).expect("receipt query"), None);
    let error = h
        .client
        .wait_for_receipt(&hash, Duration::from_millis(300))
        .expect_err("timeout");
    assert!(
        matches!(error, ClientError::ReceiptTimeout { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("cairn query tx"), "{error}");
}

#[test]
fn metrics_and_health() {
    let h = start();
    assert!(
        h.client
            .metrics()
            .expect("metrics")
            .contains("cairn_height 0")
    );
    h.client.health().expect("health");
    let response = ureq::get(format!("{}/metrics", h.url))
        .call()
        .expect("metrics");
    let content_type = response.headers()["content-type"].to_str().expect("ascii");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
}

#[test]
fn malformed_json_is_a_parse_error() {
    let h = start();
    let (status, reply) = h.post_raw("{\"jsonrpc\": \"2.0\", \"method\": ");
    assert_eq!(status, 200);
    assert_eq!(reply["error"]["code"], CODE_PARSE_ERROR);
    assert_eq!(reply["id"], Value::Null);
}

#[test]
fn malformed_requests_are_invalid() {
    let h = start();
    let cases = [
        json!({ "id": 1, "method": "cairn_status" }),
        json!({ "jsonrpc": "1.0", "id": 1, "method": "cairn_status" }),
        json!({ "jsonrpc": "2.0", "id": 1, "method": 5 }),
        json!({ "jsonrpc": "2.0", "id": 1, "method": "cairn_status", "params": "x" }),
        json!("cairn_status"),
        json!([]),
    ];
    for case in cases {
        let (status, reply) = h.post_raw(case.to_string());
        assert_eq!(status, 200, "{case}");
        assert_eq!(
            reply["error"]["code"], CODE_INVALID_REQUEST,
            "{case}: {reply}"
        );
    }
}

#[test]
fn unknown_method_is_method_not_found() {
    let h = start();
    let reply = h.call_raw("cairn_mint", json!([]));
    assert_eq!(reply["error"]["code"], CODE_METHOD_NOT_FOUND);
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cairn_mint")
    );
}

#[test]
fn bad_params_name_the_param() {
    let h = start();
    // (method, params, the param the error must name, a fragment of the message)
    let cases = [
        (
            "cairn_getBlockByHeight",
            json!(["abc"]),
            "height",
            "non-negative integer",
        ),
        (
            "cairn_getBlockByHeight",
            json!([-1]),
            "height",
            "non-negative integer",
        ),
        ("cairn_getBlockByHeight", json!([]), "height", "missing"),
        ("cairn_getBlockByHash", json!(["zz"]), "hash", "not hex"),
        ("cairn_getTxReceipt", json!(["abcd"]), "hash", "32-byte"),
        ("cairn_getAccount", json!([12]), "address", "hex public key"),
        ("cairn_getAccount", json!(["00"]), "address", "public key"),
        (
            "cairn_getAccount",
            json!({ "addr": "00" }),
            "addr",
            "takes [address]",
        ),
        (
            "cairn_getAccountProof",
            json!(["a", "b"]),
            "params",
            "takes [address]",
        ),
        ("cairn_status", json!([1]), "params", "takes []"),
        ("cairn_submitTx", json!(["nothex"]), "tx", "not hex"),
        (
            "cairn_submitTx",
            json!(["00ff"]),
            "tx",
            "not a signed transaction",
        ),
        (
            "cairn_submitTx",
            json!(["00".repeat(cairn_types::limits::TX_SIZE_MAX_BYTES + 1)]),
            "tx",
            "the limit is",
        ),
    ];
    for (method, params, param, fragment) in cases {
        let reply = h.call_raw(method, params.clone());
        let error = &reply["error"];
        assert_eq!(
            error["code"], CODE_INVALID_PARAMS,
            "{method} {params}: {reply}"
        );
        assert_eq!(error["data"]["param"], param, "{method} {params}: {reply}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(&format!("`{param}`")), "{message}");
        assert!(message.contains(fragment), "{method} {params}: {message}");
    }
}

#[test]
fn named_params_work_like_positional() {
    let h = start();
    let alice = to_hex(h.alice.public_key());
    let named = h.call_raw("cairn_getAccount", json!({ "address": alice }));
    let positional = h.call_raw("cairn_getAccount", json!([alice]));
    assert_eq!(named["result"], positional["result"]);
    assert_eq!(named["result"]["balance"], 10_000);
    let block = h.call_raw("cairn_getBlockByHeight", json!({ "height": "0" }));
    assert_eq!(block["result"]["height"], 0);
}

#[test]
fn batch_answers_each_request_by_id_and_skips_notifications() {
    let h = start();
    let batch = json!([
        { "jsonrpc": "2.0", "id": "a", "method": "cairn_status" },
        { "jsonrpc": "2.0", "method": "cairn_status" },
        { "jsonrpc": "2.0", "id": 2, "method": "cairn_nope" },
        { "jsonrpc": "2.0", "id": 3, "method": "cairn_getBlockByHeight", "params": [0] },
        42,
    ]);
    let (status, reply) = h.post_raw(batch.to_string());
    assert_eq!(status, 200);
    let replies = reply.as_array().expect("a batch reply is an array");
    assert_eq!(replies.len(), 4, "{reply}");
    assert_eq!(replies[0]["id"], "a");
    assert_eq!(replies[0]["result"]["chain_id"], CHAIN_ID);
    assert_eq!(replies[1]["id"], 2);
    assert_eq!(replies[1]["error"]["code"], CODE_METHOD_NOT_FOUND);
    assert_eq!(replies[2]["result"]["height"], 0);
    assert_eq!(replies[3]["error"]["code"], CODE_INVALID_REQUEST);
}

#[test]
fn notification_alone_gets_no_content() {
    let h = start();
    let (status, _) = h.post_raw(json!({ "jsonrpc": "2.0", "method": "cairn_status" }).to_string());
    assert_eq!(status, 204);
}

#[test]
fn oversize_body_is_refused() {
    let h = start();
    let padding = "x".repeat(RPC_BODY_MAX_BYTES + 1);
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "cairn_status", "padding": padding });
    let (status, reply) = h.post_raw(body.to_string());
    assert_eq!(status, 413);
    assert_eq!(reply["error"]["code"], CODE_INVALID_REQUEST);
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limit"),
        "{reply}"
    );
}

#[test]
fn unreachable_node_says_what_to_check() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = RpcClient::new(format!("http://127.0.0.1:{port}"));
    let error = client.status().expect_err("nothing listens");
    let message = error.to_string();
    assert!(
        matches!(error, ClientError::Unreachable { .. }),
        "{message}"
    );
    assert!(
        message.starts_with(&format!("cannot reach node at http://127.0.0.1:{port}: ")),
        "{message}"
    );
    let expected = format!(
        "cannot reach node at http://127.0.0.1:{port}: connection refused — is `cairn node` running"
    );
    assert!(message.starts_with(&expected), "{message}");
}

#[test]
fn batch_over_the_limit_is_refused() {
    let h = start();
    let request = json!({ "jsonrpc": "2.0", "id": 1, "method": "cairn_status" });
    let batch = Value::Array(vec![request; cairn_rpc::RPC_BATCH_MAX + 1]);
    let (status, reply) = h.post_raw(batch.to_string());
    assert_eq!(status, 200);
    assert_eq!(reply["error"]["code"], CODE_INVALID_REQUEST, "{reply}");
}

#[test]
fn an_unknown_task_is_not_found_and_the_task_list_is_empty() {
    let h = start();
    let err = h.client.task(7).unwrap_err();
    assert_eq!(err.rpc_code(), Some(CODE_NOT_FOUND), "{err}");
    assert!(err.to_string().contains("task 7"), "{err}");
    assert!(h.client.tasks().unwrap().is_empty());
    assert!(h.client.task_rounds(7).unwrap().is_empty());
}
