#!/usr/bin/env bash
# The main job: set-up (idempotent), then the aegisbpf agent with its default pipeline.
# Extra arguments go to `aegisbpf run` (e.g. --config examples/file-archive.yml, --log-format=json).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh run
source scripts/lib/node.sh
aegis_use_node # the supported node that setup.sh chose (the machine's, or the one it installed)
exec node bin/aegisbpf.js run "$@"
