#!/usr/bin/env bash
# The OpenAI-compatible endpoint driven by the official `openai` Python SDK (from PyPI, in a virtual
# environment under target/) against a local stand-in upstream (tests/openai/standin.py), through a
# fresh `rapport serve` on 127.0.0.1. Usage: scripts/openai-sdk-tests.sh [PATH-TO-rapport-BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/debug/rapport}")
venv=target/openai-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import openai" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "openai>=1.40,<3"
fi
data=$(mktemp -d)
port=18095
standin_port=18096
# The example policy with a short upstream timeout (the slow stand-in must time out quickly).
sed 's/^timeout_ms = [0-9]*/timeout_ms = 1500/' examples/policy.toml >"$data/policy.toml"
export RAPPORT_DATA_DIR=$data RAPPORT_LISTEN=127.0.0.1:$port RAPPORT_LOG=warn
export RAPPORT_POLICY=$data/policy.toml
export RAPPORT_MASTER_KEY=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
export RAPPORT_LLM_BASE_URL=http://127.0.0.1:$standin_port/v1
key=$("$bin" keys create --tenant openai-sdk --role service | tail -1)
python3 tests/openai/standin.py $standin_port &
standin=$!
"$bin" serve >"$data/serve.log" 2>&1 &
server=$!
trap 'kill $server $standin 2>/dev/null; wait $server $standin 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 50); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    sleep 0.2
done
RAPPORT_URL="http://127.0.0.1:$port" RAPPORT_KEY=$key STANDIN_URL="http://127.0.0.1:$standin_port" \
    "$venv/bin/python" tests/openai/test_sdk.py || { cat "$data/serve.log" >&2; exit 1; }
