#!/usr/bin/env bash
# Fuzz each target of tests/fuzz.rs for MINUTES minutes (default 10) in a release build:
# `bash benches/fuzz.sh 10`, or only some targets: `bash benches/fuzz.sh 10 xml cond`.
# Targets run one after another; on a 2-core machine two invocations with different targets
# can run side by side (the limit is CPU time, so they do not change each other's verdicts).
# Prints one line per target: executions, seeds, rounds, the slowest run's CPU time, and the
# crashes, hangs (over 1 s of CPU time) and nondeterministic outputs found. A target stops at
# its first failure, writes the input to target/fuzz/<target>-<what>.txt and the whole log to
# target/fuzz/<target>.log; replay an input with
# `ROCKS_FUZZ_REPLAY=target/fuzz/<target>-<what>.txt cargo test --release --test fuzz`.
set -uo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-10}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(xml syntax cond framework)
# The test binary is run directly: `cargo test` would hold the build directory's lock for
# the whole run.
bin=$(cargo test --release --test fuzz --no-run --message-format=json |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[ -x "$bin" ] || { echo "fuzz: could not build the fuzz tests" >&2; exit 2; }
mkdir -p target/fuzz
failed=0
for target in "${targets[@]}"; do
  log="target/fuzz/$target.log"
  if ROCKS_FUZZ_SECONDS=$((minutes * 60)) "$bin" --quiet --exact "fuzz_$target" --nocapture --test-threads 1 >"$log" 2>&1; then
    grep -a '^fuzz target' "$log"
  else
    failed=1
    echo "fuzz target $target: FAILED (see $log)"
    grep -a -E "^fuzz target|failed|panicked|input written" "$log" | head -5
  fi
done
exit "$failed"
