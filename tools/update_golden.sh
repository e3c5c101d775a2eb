#!/usr/bin/env bash
# Regenerates the golden files of tests/golden from the current build and shows the diff.
# Review it like code before committing: every changed number needs a reason.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SERVESIM:-build/release/sim/cli/servesim}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# case name | servesim run arguments
while IFS='|' read -r name args; do
  [ -z "$name" ] && continue
  # shellcheck disable=SC2086
  "$bin" run --quiet --out "$tmp/$name" $args
  dst=tests/golden/data/$name
  mkdir -p "$dst"
  cp "$tmp/$name/summary.json" "$tmp/$name/resolved_config.json" "$dst/"
  head -n 101 "$tmp/$name/requests.csv" > "$dst/requests_head.csv"
done <<'CASES'
default|
disagg_1p1d|--scenario tests/golden/scenarios/disagg_1p1d.json
hetero_a100_h100|--scenario tests/golden/scenarios/hetero_a100_h100.json
mooncake_prefix_aware|--scenario tests/golden/scenarios/mooncake_prefix_aware.json
CASES
git --no-pager diff --stat -- tests/golden/data || true
