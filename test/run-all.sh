#!/usr/bin/env bash
# `npm test`: typecheck, lint, unit tests, then integration tests on the real components. The sandbox's components
# build meanwhile in the background (cold: 20-30 minutes; warm: seconds), and the integration files run side by side
# (integration/run-files.ts). Each mocha run prints its own "N passed, N failed[, N skipped]"; the last line of all is
# their sum, the count CI reads.
set -uo pipefail
cd "$(dirname "$0")/.."
tally=$(mktemp)
failures=$(mktemp)
build_log=$(mktemp)
build_pid=
runner_pid=
stop_build() { if [ -n "$build_pid" ]; then kill -- -"$build_pid" 2>/dev/null; wait "$build_pid" 2>/dev/null; build_pid=; fi; }
# A TERM meant for the whole run (CI cancelling) reaches the runner too: its mochas then stop their sandboxes.
on_signal() { [ -n "$runner_pid" ] && kill -TERM "$runner_pid" 2>/dev/null && wait "$runner_pid"; exit 130; }
trap 'stop_build; rm -f "$tally" "$failures" "$build_log"' EXIT
trap on_signal INT TERM
# Not KUBESWAP_*: every such variable is a kubeswap setting.
export TEST_TALLY_FILE=$tally TEST_FAILURES_FILE=$failures

# Its own process group (to stop it when the unit tests fail) and a low priority, so that the unit tests'
# timeouts keep the cores they need. build.sh moves a binary into the cache only once it is complete.
setsid nice -n 10 bash integration/components/build-all.sh >"$build_log" 2>&1 &
build_pid=$!

status=0
npm run typecheck && npm run lint || status=1
if [ "$status" -eq 0 ]; then npx mocha || status=1; fi
if [ "$status" -eq 0 ]; then
  # The integration run needs every component: wait for the build, and a failed build fails the run.
  echo "components: waiting for the build (log: $build_log)"
  wait "$build_pid"; build_status=$?; build_pid=
  cat "$build_log"
  if [ "$build_status" -ne 0 ]; then echo "components: build failed (exit $build_status)"; status=1; fi
else
  # The integration run is skipped when the unit tests already failed; a half-done build leaves nothing behind.
  stop_build
fi
if [ "$status" -eq 0 ]; then
  node --import tsx integration/run-files.ts &
  runner_pid=$!
  wait "$runner_pid" || status=1
  runner_pid=
fi

read -r passed failed skipped < <(awk '{p+=$1; f+=$2; s+=$3} END {print p+0, f+0, s+0}' "$tally")
# Typecheck, lint or build failures count as one failure each run, so the line never reads "0 failed" on a red run.
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
# The failed tests last, right above the count: a CI log is often read from its end only.
if [ -s "$failures" ]; then
  echo "failed tests ($(wc -l <"$failures")):"
  head -n 20 "$failures" | sed 's/^/  /'
fi
echo "all suites (unit + integration):"
if [ "$skipped" -gt 0 ]; then echo "$passed passed, $failed failed, $skipped skipped"; else echo "$passed passed, $failed failed"; fi
exit "$status"
