#!/usr/bin/env bash
# Runs inside sdk/conformance/harness.py (server up, UNITLEDGER_* set): one SDK
# after the other against the same server, then the comparison table.
set -euo pipefail
cd "$(dirname "$0")"
results=$(mktemp)
trap 'rm -f "$results"' EXIT

java -cp "java/target/classes:$(cat java/target/classpath.txt)" bench.SdkParity \
    "$IN_FLIGHT" "$WARMUP" "$DURATION" >>"$results"
go/target/sdk-parity-go -in-flight "$IN_FLIGHT" -warmup "${WARMUP}s" -duration "${DURATION}s" >>"$results"
../../.venv/bin/python python_sdk.py --in-flight "$IN_FLIGHT" --warmup "$WARMUP" --duration "$DURATION" \
    >>"$results"

../../.venv/bin/python compare.py <"$results"
