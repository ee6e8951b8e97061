#!/usr/bin/env bash
# Benchmarks: set-up, then each benchmark under bench/ (or the ones named: pipeline, …).
#   bash scripts/bench.sh            all
#   bash scripts/bench.sh pipeline   one
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
source scripts/lib/node.sh
aegis_use_node # the supported node that setup.sh chose (the machine's, or the one it installed)
names=("$@")
if [ "${#names[@]}" -eq 0 ]; then
  for f in dist/bench/*.js; do names+=("$(basename "$f" .js)"); done
fi
for n in "${names[@]}"; do
  echo "== bench: $n ($(node --version))" >&2
  node "dist/bench/$n.js"
done
