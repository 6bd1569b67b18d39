#!/usr/bin/env bash
# Benchmark: kickstarts for every host of a generated 10,000-host cluster database, with the
# built-in framework and with the Rocks corpus framework (../shared/rocks-corpus). Prints wall
# time and peak memory of each whole `rocks-compile kickstart --query ... -o DIR` run.
#
#   bash benches/cluster-10k.sh [HOSTS]
#
# Needs GNU time (/usr/bin/time, Debian package `time`) and python3 for the corpus attributes.
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=${1:-10000}
cargo build --release --quiet
bin=$PWD/target/release/rocks-compile
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

measure() { # label, then the command
    local label=$1; shift
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" 2>"$work/err" >/dev/null || { cat "$work/err"; exit 1; }
    read -r secs kb <"$work/time"
    printf '%-44s %6.2f s  %6d MB   %s\n' "$label" "$secs" $((kb / 1024)) "$(tail -n 1 "$work/err")"
}

echo "rocks-compile: kickstarts for $hosts hosts ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"

# Built-in framework: frontend/compute/login/nas appliances.
db=$work/builtin.db
"$bin" --db "$db" host generate --hosts "$hosts" --appliances compute,login,nas 2>/dev/null
"$bin" --db "$db" host add frontend --appliance frontend --ip 10.1.1.1 --mac 52:54:00:ff:ff:01
measure "built-in framework, new output dir" "$bin" --db "$db" kickstart --query "SELECT name FROM hosts" -o "$work/out-builtin"
measure "built-in framework, unchanged rerun" "$bin" --db "$db" kickstart --query "SELECT name FROM hosts" -o "$work/out-builtin"

# Rocks corpus framework: core+base+hpc+sge+kvm+ganglia+area51, compute appliance, the
# reference host's site attributes stored as global attributes.
corpus=../shared/rocks-corpus
if [ ! -d "$corpus/rocks" ]; then
    echo "!!! $corpus is missing: the corpus benchmark did NOT run"
    exit 0
fi
db=$work/corpus.db
. benches/corpus-db.sh
corpus_db "$bin" "$corpus" "$db" "$work"
"$bin" --db "$db" host generate --hosts "$hosts" --appliances compute 2>/dev/null
measure "Rocks corpus framework (--rocks7), new dir" "$bin" --db "$db" kickstart "${fw[@]}" --rocks7 --eval-as-text --query "SELECT name FROM hosts" -o "$work/out-corpus"
measure "Rocks corpus framework, unchanged rerun" "$bin" --db "$db" kickstart "${fw[@]}" --rocks7 --eval-as-text --query "SELECT name FROM hosts" -o "$work/out-corpus"
du -sh "$work/out-builtin" "$work/out-corpus" | sed 's|'"$work"'/||'
