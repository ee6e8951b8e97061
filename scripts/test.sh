#!/usr/bin/env bash
# The whole test suite, from a fresh machine: set-up (idempotent), lint, then every test.
# Services the tests need (rsyslog, Elasticsearch, the HEC receiver, …) are started and stopped by the tests themselves.
#   bash scripts/test.sh            everything
#   bash scripts/test.sh sinks/file only test files whose path contains this
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/steps.sh
source scripts/lib/node.sh
aegis_log_open setup # one log for the set-up and the test services; setup.sh appends to it
bash scripts/setup.sh test
aegis_use_node
# Real receivers the tests start on loopback ports: provisioned (downloaded from Maven Central / built from the Go
# module proxy) once and cached under ${AEGIS_CACHE_DIR:-~/.cache/aegisbpf}; warm runs take well under a second.
es_home="$(bash scripts/services/elasticsearch.sh info | sed -n 's/^home=//p')"
es_version="$(bash scripts/services/elasticsearch.sh info | sed -n 's/^version=//p')"
AEGIS_STEP_DONE=""
[ -f "$es_home/.aegis-installed" ] && AEGIS_STEP_DONE="already have Elasticsearch $es_version (Maven Central) in $es_home"
AEGIS_STEP_DONE="$AEGIS_STEP_DONE" aegis_step "Elasticsearch $es_version (Maven Central, sha512-pinned) for the Elasticsearch sink tests" \
  bash scripts/services/elasticsearch.sh install
AEGIS_STEP_DONE=""
hec_info="$(bash scripts/services/otelcol-hec.sh info 2>/dev/null || true)"
grep -q '^built=yes$' <<<"$hec_info" &&
  AEGIS_STEP_DONE="already have the OTel HEC receiver in $(sed -n 's/^binary=//p' <<<"$hec_info")"
AEGIS_STEP_DONE="$AEGIS_STEP_DONE" aegis_step "OTel collector with the Splunk HEC receiver (built with Go from the module proxy) for the HEC sink tests" \
  bash scripts/services/otelcol-hec.sh install
AEGIS_STEP_DONE=""
siem_info="$(bash scripts/services/siem-tools.sh info 2>/dev/null || true)"
grep -q '^splunk_appinspect=/' <<<"$siem_info" && grep -q '^sigma=/' <<<"$siem_info" && grep -q '^python_wazuh=/' <<<"$siem_info" &&
  AEGIS_STEP_DONE="already have wazuhregex, sigma-cli and splunk-appinspect in $(sed -n 's/^root=//p' <<<"$siem_info")"
AEGIS_STEP_DONE="$AEGIS_STEP_DONE" aegis_step "SIEM content checkers from PyPI (wazuhregex, sigma-cli, splunk-appinspect; pinned) for test/rules" \
  bash scripts/services/siem-tools.sh install
AEGIS_STEP_DONE=""
command -v nats-server >/dev/null && AEGIS_STEP_DONE="already have nats-server $(bash scripts/services/nats.sh info | sed -n 's/^version=//p') (Debian)"
AEGIS_STEP_DONE="$AEGIS_STEP_DONE" aegis_step "nats-server with JetStream (Debian package) for the NATS sink tests" \
  bash scripts/services/nats.sh install
AEGIS_STEP_DONE=""
grep -q '^installed=yes$' <(bash scripts/services/analytics-tools.sh info) &&
  AEGIS_STEP_DONE="already have scikit-learn (PyPI) in $(bash scripts/services/analytics-tools.sh info | sed -n 's/^python=//p')"
AEGIS_STEP_DONE="$AEGIS_STEP_DONE" aegis_step "scikit-learn and numpy (PyPI, pinned) for the isolation-forest reference test" \
  bash scripts/services/analytics-tools.sh install --optional
AEGIS_STEP_DONE=""
grep -q '^installed=yes$' <<<"$(bash scripts/services/kafka.sh info)" &&
  AEGIS_STEP_DONE="already have Apache Kafka $(bash scripts/services/kafka.sh info | sed -n 's/^version=//p') (Maven Central jars)"
AEGIS_STEP_DONE="$AEGIS_STEP_DONE" aegis_step "Apache Kafka broker jars (Maven Central, sha256-pinned) for the Kafka sink and source tests" \
  bash scripts/services/kafka.sh install
unset AEGIS_STEP_DONE
echo "test: import layers (scripts/check-imports.js)" >&2
node scripts/check-imports.js
echo "test: formatting (prettier --check)" >&2
./node_modules/.bin/prettier --check --log-level=warn .
echo "test: eslint" >&2
./node_modules/.bin/eslint --max-warnings=0 . # not npx: npm warns about each unknown key in ~/.npmrc
echo "test: node --test ($(node --version))" >&2
node scripts/run-tests.js "$@"
