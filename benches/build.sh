#!/usr/bin/env bash
# Benchmark of `rocks-compile build` (with kickstarts, built-in framework) over generated
# clusters of each size given (default 1,000, 10,000 and 100,000 compute hosts plus a
# frontend):
#   1. a new tree;
#   2. the unchanged rerun;
#   3. one host changed (`host set compute-0-5 --cpus N`): its kickstart and the aggregates
#      that name it are made again, every other kickstart is kept;
# each with wall time, peak memory (GNU time), files of the tree, files rewritten,
# kickstarts compiled and kept, and the size of compute-0-0's kickstart.
#
#   bash benches/build.sh [SIZE...]
#
# Trees are written to a fresh ext4 file system (a loop-mounted image) when run as root
# with mkfs.ext4 at hand, so that no run pays for the inodes an earlier run deleted (ext4
# scans recently deleted inodes when it creates files); otherwise to BENCH_DIR.
# Needs GNU time (/usr/bin/time, Debian package `time`).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 100000)
cargo build --release --quiet
bin=$PWD/target/release/rocks-compile
work=$(mktemp -d -p "${BENCH_DIR:-$PWD/target}")
mnt=
cleanup() {
    if [ -n "$mnt" ]; then umount "$mnt" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# fresh: sets `out` to a directory on a new, empty file system (or a new directory in $work).
fresh() {
    if [ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null; then
        if [ -n "$mnt" ]; then umount "$mnt"; rm -f "$work/fs.img"; fi
        mnt=$work/fs
        mkdir -p "$mnt"
        truncate -s 16G "$work/fs.img"
        mkfs.ext4 -q -F -N 2000000 "$work/fs.img"
        mount -o loop "$work/fs.img" "$mnt"
        out=$mnt/tree
    else
        out=$(mktemp -d -u -p "$work" tree.XXXXXX)
    fi
}

# run LABEL DB OUT: one build, measured.
run() {
    local label=$1 db=$2 out=$3
    sync
    /usr/bin/time -f "%e %M" -o "$work/time" "$bin" --db "$db" build --out "$out" --json >"$work/report.json" 2>"$work/err" \
        || { cat "$work/err"; exit 1; }
    local secs kb
    read -r secs kb <"$work/time"
    python3 - "$work/report.json" "$label" "$secs" "$kb" "$out" <<'EOF'
import json, os, sys
r = json.load(open(sys.argv[1]))
label, secs, kb, out = sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
ks = os.path.getsize(os.path.join(out, "kickstart/compute-0-0.ks"))
k = r.get("kickstarts", {})
print(f"| {label} | {secs:.2f} s | {kb // 1024} MiB | {r['files']:,} | {r['written']:,} | {k.get('compiled', 0):,} / {k.get('kept', 0):,} | {ks:,} B |")
EOF
}

echo "rocks-compile build ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
echo
echo "| build | wall | peak memory | files | rewritten | kickstarts compiled / kept | compute-0-0.ks |"
echo "|---|---|---|---|---|---|---|"
for n in "${sizes[@]}"; do
    db=$work/c$n.db
    "$bin" --db "$db" host add frontend --appliance frontend --ip 10.1.1.1 --mac 52:54:00:ff:ff:01 >/dev/null
    "$bin" --db "$db" host generate --hosts "$n" --appliances compute >/dev/null 2>&1
    printf '%s\n' bench-password | "$bin" --db "$db" attr set Kickstart_PrivateRootPassword --secret >/dev/null 2>&1
    fresh
    run "$n hosts, new tree" "$db" "$out"
    run "$n hosts, unchanged rerun" "$db" "$out"
    "$bin" --db "$db" host set compute-0-5 --cpus 64 >/dev/null
    run "$n hosts, one host changed" "$db" "$out"
done
