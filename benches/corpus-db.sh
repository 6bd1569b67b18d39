# Sourced by the benchmark scripts: the Rocks corpus framework and a database for it.
#
#   corpus_db BIN CORPUS DB WORK
#
# sets `fw` to the --framework arguments of core+base+hpc+sge+kvm+ganglia+area51 and creates
# DB with the reference compute host's site attributes (compute.attrs.py) stored as global
# attributes (per-host facts left out; keys the database derives itself are refused and
# skipped). WORK is a scratch directory.
corpus_db() {
    local bin=$1 corpus=$2 db=$3 work=$4
    fw=()
    for roll in core base hpc sge kvm ganglia area51; do fw+=(--framework "$corpus/rocks/$roll"); done
    "$bin" --db "$db" init "${fw[@]}" >/dev/null
    python3 - "$corpus/generated/rocks7/compute.attrs.py" >"$work/attrs.tsv" <<'PY'
import ast, sys
per_host = {"hostname", "rack", "rank", "appliance", "membership", "hostaddr", "ksmac", "arch", "os", "distribution", "graph"}
for k, v in sorted(ast.literal_eval(open(sys.argv[1]).read()).items()):
    if k not in per_host:
        print(f"{k}\t{v}")
PY
    while IFS=$'\t' read -r k v; do "$bin" --db "$db" attr set "$k" "$v" >/dev/null 2>&1 || true; done <"$work/attrs.tsv"
}
