#!/usr/bin/env bash
# Whole-process time of one kickstart compile, beside the in-process figures:
#   - `rocks-compile --version` (the floor: process start, no work);
#   - the Rocks corpus compute kickstart (core+base+hpc+sge+kvm+ganglia+area51,
#     compute.attrs.py, --rocks7 --eval-as-text) written with -o, once over an unchanged
#     file and once to a new file each run;
#   - the built-in compute kickstart written with -o.
# Whole-process figures come from hyperfine (-N, no shell; Debian package `hyperfine`), or,
# without it, from a plain loop timing each run; the median is the figure to quote. Then
# `cargo bench --bench kickstart` prints the in-process figures (divan).
#
#   bash benches/whole-process.sh [RUNS]        (default 300; set NO_DIVAN=1 to skip divan)
#
# The corpus is read from ../shared/rocks-corpus next to the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-300}
cargo build --release --quiet
bin=$PWD/target/release/rocks-compile
corpus=$PWD/../shared/rocks-corpus
[ -d "$corpus/rocks" ] || { echo "the Rocks corpus is missing at $corpus" >&2; exit 1; }
work=$(mktemp -d -p "${BENCH_DIR:-$PWD/target}")
trap 'rm -rf "$work"' EXIT

fw=()
for r in core base hpc sge kvm ganglia area51; do fw+=(--framework "$corpus/rocks/$r"); done
corpus_ks=("$bin" kickstart --appliance compute "${fw[@]}" --attrs "$corpus/generated/rocks7/compute.attrs.py" --rocks7 --eval-as-text)
"${corpus_ks[@]}" -o "$work/compute.ks" 2>/dev/null
echo "corpus compute kickstart: $(wc -l <"$work/compute.ks") lines; $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"

# measure NAME PREPARE COMMAND...: median/mean/min wall time, user and system time (ms).
measure() {
    local name=$1 prepare=$2; shift 2
    if command -v hyperfine >/dev/null; then
        local args=(-N --warmup 20 --runs "$runs" --export-json "$work/h.json" --style none)
        [ -n "$prepare" ] && args+=(--prepare "$prepare")
        hyperfine "${args[@]}" -- "$(printf '%q ' "$@")" >/dev/null 2>&1
        python3 - "$name" "$work/h.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[2]))["results"][0]
ms = lambda s: s * 1000
print(f"{sys.argv[1]:<44} {ms(r['median']):7.2f} {ms(r['mean']):7.2f} {ms(r['min']):7.2f} {ms(r['user']):7.2f} {ms(r['system']):7.2f}")
EOF
    else
        python3 - "$name" "$runs" "$prepare" "$@" <<'EOF'
import os, resource, statistics, subprocess, sys, time
name, runs, prepare, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
walls = []
for i in range(runs + 20):
    if prepare:
        subprocess.run(prepare, shell=True, check=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    if i >= 20:
        walls.append(time.perf_counter() - t)
after = resource.getrusage(resource.RUSAGE_CHILDREN)
ms = lambda s: s * 1000
print(f"{name:<44} {ms(statistics.median(walls)):7.2f} {ms(statistics.mean(walls)):7.2f} {ms(min(walls)):7.2f} {ms(after.ru_utime / (runs + 20)):7.2f} {ms(after.ru_stime / (runs + 20)):7.2f}")
EOF
    fi
}

echo
printf '%-44s %7s %7s %7s %7s %7s\n' "whole process (ms)" median mean min user system
measure "rocks-compile --version" "" "$bin" --version
measure "corpus compute -o (unchanged file)" "" "${corpus_ks[@]}" -o "$work/compute.ks"
measure "corpus compute -o (new file each run)" "rm -f $work/new.ks" "${corpus_ks[@]}" -o "$work/new.ks"
measure "built-in compute -o" "" "$bin" kickstart --appliance compute -o "$work/builtin.ks"

if [ "${NO_DIVAN:-0}" != 1 ]; then
    echo
    echo "in process (cargo bench --bench kickstart):"
    cargo bench --quiet --bench kickstart 2>/dev/null | grep -E "end_to_end|first_compile|compile_only|^[├╰]|fastest" || true
fi
