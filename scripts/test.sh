#!/usr/bin/env bash
# The whole test suite, from a fresh machine: set-up (idempotent), lint, then every test.
# Services the tests need (rsyslog, Elasticsearch, the HEC receiver, …) are started and stopped by the tests themselves.
#   bash scripts/test.sh            everything
#   bash scripts/test.sh sinks/file only test files whose path contains this
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
# Real receivers the tests start on loopback ports: provisioned (downloaded from Maven Central / built from the Go
# module proxy) once and cached under ${AEGIS_CACHE_DIR:-~/.cache/aegisbpf}; warm runs take well under a second.
echo "test: provisioning test services (cached)" >&2
bash scripts/services/elasticsearch.sh install >&2
bash scripts/services/otelcol-hec.sh install >&2
echo "test: import layers (scripts/check-imports.js)" >&2
node scripts/check-imports.js
echo "test: eslint" >&2
npx --no-install eslint --max-warnings=0 .
echo "test: node --test" >&2
node scripts/run-tests.js "$@"
