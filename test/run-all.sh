#!/usr/bin/env bash
# `npm test`: typecheck, lint, unit tests, then integration tests on the real components. Each mocha run
# prints its own "N passed, N failed[, N skipped]"; the last line of all is their sum, the count CI reads.
set -uo pipefail
cd "$(dirname "$0")/.."
tally=$(mktemp)
trap 'rm -f "$tally"' EXIT
# Not KUBESWAP_*: every such variable is a kubeswap setting.
export TEST_TALLY_FILE=$tally

status=0
npm run typecheck && npm run lint || status=1
if [ "$status" -eq 0 ]; then
  npx mocha || status=1
  # The integration run takes ~25 minutes: skip it when the unit tests already failed.
  if [ "$status" -eq 0 ]; then npx mocha --config integration/.mocharc.json || status=1; fi
fi

read -r passed failed skipped < <(awk '{p+=$1; f+=$2; s+=$3} END {print p+0, f+0, s+0}' "$tally")
# Typecheck or lint failures count as one failure each run, so the line never reads "0 failed" on a red run.
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "all suites (unit + integration):"
if [ "$skipped" -gt 0 ]; then echo "$passed passed, $failed failed, $skipped skipped"; else echo "$passed passed, $failed failed"; fi
exit "$status"
