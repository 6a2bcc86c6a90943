#!/usr/bin/env bash
# The README's demo: build `cairn`, start a single-validator dev chain, make a new key, send it
# tokens from the pre-funded dev account, and show the finalized result with a light-client
# proof — then stop the node. Nothing but cargo is needed; everything lands in a temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked -p cairn-cli
CAIRN=target/release/cairn
HOME_DIR=$(mktemp -d -t cairn-demo-XXXXXX)
RPC_PORT=${CAIRN_DEMO_RPC_PORT:-8545}
P2P_PORT=${CAIRN_DEMO_P2P_PORT:-26656}
export CAIRN_RPC="http://127.0.0.1:${RPC_PORT}"
export CAIRN_KEYSTORE="$HOME_DIR/keys"
export CAIRN_PASSWORD=dev   # the dev chain's pre-funded key is sealed with this password

"$CAIRN" node --dev --home "$HOME_DIR" --rpc-listen "127.0.0.1:${RPC_PORT}" \
  --p2p-listen "127.0.0.1:${P2P_PORT}" >"$HOME_DIR/node.log" 2>&1 &
NODE_PID=$!
trap 'kill -INT $NODE_PID 2>/dev/null || true; wait $NODE_PID 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
  "$CAIRN" query status >/dev/null 2>&1 && break
  sleep 0.2
done
echo "== dev chain is up (node log: $HOME_DIR/node.log)"
"$CAIRN" query status

echo; echo "== a new cold key 'alice' in the encrypted keystore $CAIRN_KEYSTORE"
"$CAIRN" keys new alice
ALICE=$("$CAIRN" --json keys show alice | sed -n 's/.*"public_key": *"\([0-9a-f]*\)".*/\1/p')

echo; echo "== transfer 1000 from the pre-funded 'dev' account to alice (waits for finality)"
"$CAIRN" tx transfer --from dev --to "$ALICE" --amount 1000

echo; echo "== alice's account, then a Merkle proof of it checked offline against the state root"
"$CAIRN" query account "$ALICE"
"$CAIRN" query proof "$ALICE"

echo; echo "demo done; stopping the node. Run your own: $CAIRN node --dev"
