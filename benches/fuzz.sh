#!/usr/bin/env bash
# Fuzz each target of tests/fuzz.rs for MINUTES minutes (default 10), one after another, in a
# release build: `bash benches/fuzz.sh 10`. Prints one line per target (executions, and the
# crashes, hangs over 1 s and nondeterministic outputs found: a run stops at the first one and
# writes its input to target/fuzz/).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-10}"
cargo test --release --test fuzz --no-run
for target in xml syntax cond framework; do
  ROCKS_FUZZ_SECONDS=$((minutes * 60)) cargo test -q --release --test fuzz -- --exact "fuzz_$target" --nocapture --test-threads 1 \
    | grep -a '^fuzz target'
done
