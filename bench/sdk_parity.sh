#!/usr/bin/env bash
# Each SDK's (Java, Go, Python) sustained reports/s with 100 reports in flight
# against the same server, side by side, with the ratio to the fastest. Bounded:
# a 2 s warm-up and a 10 s measurement per SDK (IN_FLIGHT, WARMUP, DURATION override), on
# 127.0.0.1 only. Exits 1 when an SDK is slower than 0.5x the fastest.
set -euo pipefail
cd "$(dirname "$0")/.."
export IN_FLIGHT=${IN_FLIGHT:-100} WARMUP=${WARMUP:-2} DURATION=${DURATION:-10}

# Builds happen before the server starts, outside any measurement.
mvn -q -B -f sdk/java/pom.xml install -DskipTests
mvn -q -B -f bench/sdk_parity/java/pom.xml compile dependency:build-classpath \
    -Dmdep.outputFile=target/classpath.txt
(cd bench/sdk_parity/go && go build -o target/sdk-parity-go .)
# The Python SDK as the Makefile installs it, so the working tree's code is measured.
.venv/bin/pip install -q ./sdk/python 2>/dev/null
rm -rf sdk/python/build

exec .venv/bin/python sdk/conformance/harness.py run --extension-id sdk-parity -- \
    bash bench/sdk_parity/run.sh
