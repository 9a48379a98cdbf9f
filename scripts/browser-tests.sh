#!/usr/bin/env bash
# Browser tests of the dashboard and the `rapport score` report: headless Chromium (Debian's chromium,
# installed when missing) driven by playwright-core (tests/browser, npm ci). Starts a fresh `rapport
# serve` on 127.0.0.1 with agent and analyst keys; screenshots go to target/browser-artifacts/.
# Usage: scripts/browser-tests.sh [PATH-TO-rapport-BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/debug/rapport}")
if ! command -v chromium >/dev/null; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get install -y --no-install-recommends chromium chromium-driver >/dev/null
fi
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error >/dev/null

data=$(mktemp -d)
port=18093
export RAPPORT_DATA_DIR=$data RAPPORT_LISTEN=127.0.0.1:$port RAPPORT_LOG=warn
export RAPPORT_MASTER_KEY=fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210
agent=$("$bin" keys create --tenant browser --role agent | tail -1)
analyst=$("$bin" keys create --tenant browser --role analyst | tail -1)
"$bin" serve >"$data/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 50); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    sleep 0.2
done
mkdir -p target/browser-artifacts
RAPPORT_URL="http://127.0.0.1:$port" RAPPORT_AGENT_KEY=$agent RAPPORT_ANALYST_KEY=$analyst \
    RAPPORT_BIN=$bin ARTIFACTS=$(realpath target/browser-artifacts) \
    node --test --test-concurrency=1 tests/browser/
