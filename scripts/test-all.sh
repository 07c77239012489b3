#!/usr/bin/env bash
# The whole suite: lint, types, Python tests on SQLite and PostgreSQL, SDK suites.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
pgdir=$(mktemp -d /tmp/unitledger-pg.XXXXXX)
pgport=${UNITLEDGER_TEST_PG_PORT:-55432}
cleanup() { scripts/postgres.sh stop "$pgdir"; rm -rf "$pgdir"; }
trap cleanup EXIT
export UNITLEDGER_TEST_POSTGRES_URL=$(scripts/postgres.sh start "$pgdir" "$pgport")
echo "PostgreSQL for tests at $UNITLEDGER_TEST_POSTGRES_URL"

status=0
step() { echo "== $*"; "$@" || { echo "FAILED: $*"; status=1; }; }
step ruff check src tests bench sdk/python examples/python
step ruff format --check src tests bench sdk/python examples/python
step mypy
step env MYPYPATH=tests:tests/unit mypy --strict --explicit-package-bases tests
step mypy --strict sdk/python/src sdk/python/tests
# pytest exits 5 when it collected nothing: that is a failure here, like any other non-zero.
step pytest -p no:cacheprovider
# Java and Go SDKs: shared conformance vectors, and behaviour against a real nats-server.
step go -C sdk/go vet ./...
step go -C sdk/go vet -tags live ./...
step go -C sdk/go test -count=1 ./...
step mvn -q -B -f sdk/java/pom.xml install
step mvn -q -B -f sdk/java/pom.xml javadoc:javadoc
step go -C examples/go vet ./...
step go -C bench/sdk_parity/go vet ./...
step mvn -q -B -f examples/java/pom.xml compile
# The live conformance scenario (sdk/conformance/scenario.md): each SDK against a real
# `unitledger serve` started by the harness; `timeout` bounds each run (about 30 s each).
step timeout 300 python sdk/conformance/harness.py run --extension-id conformance-python -- pytest -p no:cacheprovider sdk/python/tests
step timeout 300 python sdk/conformance/harness.py run --extension-id conformance-go -- go -C sdk/go test -count=1 -tags live ./...
step timeout 600 python sdk/conformance/harness.py run --extension-id conformance-java -- mvn -q -B -f sdk/java/pom.xml test -Plive -Dtest=LiveConformanceTest
# The Go and Java example extensions against a real server (the Python one runs in tests/e2e).
step timeout 180 python sdk/conformance/harness.py run --extension-id oracle-cdc -- go -C examples/go run . -reports 2 -interval 200ms
step timeout 300 python sdk/conformance/harness.py run --extension-id oracle-cdc -- mvn -q -B -f examples/java/pom.xml compile exec:java -Dexec.args=2
exit $status
