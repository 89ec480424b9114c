#!/usr/bin/env bash
# Runs the README demo (examples/demo.sh) as a test: it must succeed within
# its time bound, and leave nothing behind in its temp dir (step 5: "stops
# everything and cleans up").
#
#   tests/examples/demo_test.sh <build-dir>
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/ringraft-demo-test.XXXXXX")"

TMPDIR="$SCRATCH" bash "$ROOT/examples/demo.sh" "$1"
rc=$?
leftovers="$(ls -A "$SCRATCH")"
rm -rf "$SCRATCH"
if [[ $rc != 0 ]]; then
  echo "demo_test: the demo failed (exit $rc)" >&2
  exit 1
fi
if [[ -n "$leftovers" ]]; then
  echo "demo_test: the demo left files behind: $leftovers" >&2
  exit 1
fi
echo "demo_test: ok, nothing left behind"
