#!/usr/bin/env bash
# Benchmark of `rocks-compile build` over generated clusters:
#   1. 10k and 100k hosts without kickstarts (every other kind): a new tree;
#   2. 10k hosts with kickstarts: a new tree;
#   3. one host changed in the 10k tree (with kickstarts): the rebuild;
# each with wall time, peak memory, files and bytes of the tree, files rewritten, and for new
# trees the ratio to `cp -r` of the produced tree on the same disk.
#
#   bash benches/build.sh [SMALL [LARGE]]       (defaults 10000 100000)
#
# Needs GNU time (/usr/bin/time, Debian package `time`).
set -euo pipefail
cd "$(dirname "$0")/.."
small=${1:-10000}
large=${2:-100000}
cargo build --release --quiet
bin=$PWD/target/release/rocks-compile
work=$(mktemp -d -p "${BENCH_DIR:-$PWD/target}")
trap 'rm -rf "$work"' EXIT

# run LABEL DB OUT [build args...]: one build, measured.
run() {
    local label=$1 db=$2 out=$3; shift 3
    sync
    /usr/bin/time -f "%e %M" -o "$work/time" "$bin" --db "$db" build --out "$out" --json "$@" >"$work/report.json" 2>"$work/err" \
        || { cat "$work/err"; exit 1; }
    read -r secs kb <"$work/time"
    local files bytes written
    files=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["files"])' "$work/report.json")
    written=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["written"])' "$work/report.json")
    bytes=$(du -sb "$out" | cut -f1)
    printf '%-46s %7.2f s %6d MiB %8d files %6d MiB %8d rewritten' "$label" "$secs" $((kb / 1024)) "$files" $((bytes / 1048576)) "$written"
}

# copy OUT: the time `cp -r` takes for the tree, and the ratio of the build to it.
ratio() {
    local out=$1 secs=$2
    sync
    local start end
    start=$(date +%s.%N)
    cp -r "$out" "$work/copy"
    sync
    end=$(date +%s.%N)
    rm -rf "$work/copy"
    python3 -c 'import sys; c=float(sys.argv[2])-float(sys.argv[1]); print(f"   cp -r {c:.2f} s, build/cp {float(sys.argv[3])/c:.1f}x")' "$start" "$end" "$secs"
}

cluster() { # DB HOSTS
    "$bin" --db "$1" host add frontend --appliance frontend --ip 10.1.1.1 --mac 52:54:00:ff:ff:01 >/dev/null
    "$bin" --db "$1" host generate --hosts "$2" --appliances compute >/dev/null 2>&1
}

echo "rocks-compile build ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
printf '%-46s %9s %10s %14s %10s %17s\n' "" wall "peak RSS" "" size ""
for n in "$small" "$large"; do
    db=$work/c$n.db
    cluster "$db" "$n"
    out=$work/tree$n
    run "$n hosts, no kickstarts, new tree" "$db" "$out" --only dhcp,hosts,dns,pxe,scheduler
    ratio "$out" "$secs"
    run "$n hosts, no kickstarts, unchanged rerun" "$db" "$out" --only dhcp,hosts,dns,pxe,scheduler; echo
done
db=$work/c$small.db
out=$work/ks$small
run "$small hosts with kickstarts, new tree" "$db" "$out"
ratio "$out" "$secs"
run "$small hosts with kickstarts, unchanged rerun" "$db" "$out"; echo
"$bin" --db "$db" host set compute-0-5 --cpus 64 >/dev/null
run "$small hosts with kickstarts, one host changed" "$db" "$out"; echo
run "$small hosts, no kickstarts, one host changed" "$db" "$work/tree$small" --only dhcp,hosts,dns,pxe,scheduler; echo
