#!/usr/bin/env bash
# Load benchmark of the FastCGI responder behind nginx, against nginx serving the same bytes as
# a static file.
#
#   bash benches/serve.sh [SECONDS [CONNECTIONS [HOSTS]]]     (defaults 30 256 1000)
#
# The cluster: HOSTS compute hosts (`host generate`) compiled with the Rocks corpus framework
# (core+base+hpc+sge+kvm+ganglia+area51 from ../shared/rocks-corpus, `--rocks7
# --eval-as-text`, the reference host's site attributes as global attributes): each kickstart
# is about 164 KB. wrk sends every request as another host: nginx's realip module takes the
# client address from an `X-Real-IP` header that the wrk script cycles through the hosts'
# addresses, so each request is answered with that host's own kickstart.
#
# Prints requests/s, p50/p99 latency, errors (socket errors and non-2xx) of both runs, their
# ratio, the responder's resident memory before, during and after, and a 1,000-connection run
# (every request must succeed). Needs nginx, wrk, python3 (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
conns=${2:-256}
hosts=${3:-1000}
corpus=../shared/rocks-corpus
if [ ! -d "$corpus/rocks" ]; then
    echo "!!! $corpus is missing: the load benchmark needs the Rocks corpus and did NOT run" >&2
    exit 1
fi
cargo build --release --quiet
bin=$PWD/target/release/rocks-compile
work=$(mktemp -d -p "${BENCH_DIR:-$PWD/target}")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5; rm -rf "$work"' EXIT

db=$work/cluster.db
. benches/corpus-db.sh
corpus_db "$bin" "$corpus" "$db" "$work"
"$bin" --db "$db" host generate --hosts "$hosts" --appliances compute >/dev/null 2>&1
"$bin" --db "$db" host list | awk 'NR > 1 && $6 ~ /^[0-9.]+$/ { print $6 }' >"$work/addrs"
first=$("$bin" --db "$db" host list | awk 'NR == 2 { print $1 }')
mkdir -p "$work/www" "$work/tmp"
"$bin" --db "$db" kickstart --host "$first" "${fw[@]}" --rocks7 --eval-as-text -o "$work/www/compute.ks"

"$bin" --db "$db" fastcgi --socket "$work/fastcgi.sock" --socket-mode 666 "${fw[@]}" --rocks7 --eval-as-text \
    2>"$work/fastcgi.log" &
fcgi=$!
pids+=("$fcgi")
for _ in $(seq 600); do [ -S "$work/fastcgi.sock" ] && break; sleep 0.1; done

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cp /etc/nginx/fastcgi_params "$work/"
cat >"$work/nginx.conf" <<EOF
daemon off;
worker_processes $(nproc);
user root;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $work/tmp/body;
    fastcgi_temp_path $work/tmp/fastcgi;
    proxy_temp_path $work/tmp/proxy;
    uwsgi_temp_path $work/tmp/uwsgi;
    scgi_temp_path $work/tmp/scgi;
    upstream rocks_compile {
        server unix:$work/fastcgi.sock;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$port backlog=4096;
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Real-IP;
        location = /static/compute.ks {
            alias $work/www/compute.ks;
        }
        location = /kickstart {
            include fastcgi_params;
            fastcgi_keep_conn on;
            fastcgi_buffer_size 64k;
            fastcgi_buffers 8 64k;
            fastcgi_pass rocks_compile;
        }
    }
}
EOF
nginx -p "$work/" -c "$work/nginx.conf" &
pids+=("$!")
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/static/compute.ks" && break; sleep 0.1; done

cat >"$work/hosts.lua" <<EOF
local addrs = {}
for line in io.lines("$work/addrs") do addrs[#addrs + 1] = line end
local i = math.random(#addrs)
request = function()
    i = i % #addrs + 1
    return wrk.format("GET", nil, { ["X-Real-IP"] = addrs[i] })
end
EOF

# The first host's kickstart through the responder is the file `kickstart --host` wrote.
curl -s -H "X-Real-IP: $(head -n 1 "$work/addrs")" "http://127.0.0.1:$port/kickstart" | cmp - "$work/www/compute.ks"

rss() { awk '/^VmRSS/ { print int($2 / 1024) " MB" }' "/proc/$fcgi/status"; }
report() { # label, wrk output file
    python3 - "$1" "$2" <<'PY'
import re, sys
label, text = sys.argv[1], open(sys.argv[2]).read()
def num(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p = {m.group(1): num(m.group(2), m.group(3)) for m in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)", text, re.M)}
sock = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
non2xx = int((re.search(r"Non-2xx or 3xx responses: (\d+)", text) or [0, 0])[1])
total = int(re.search(r"(\d+) requests in", text).group(1))
print(f"{label:<28} {rps:9.0f} req/s  p50 {p['50']:7.2f} ms  p99 {p['99']:7.2f} ms  errors {sock + non2xx} of {total}")
open(sys.argv[2] + ".rps", "w").write(str(rps))
PY
}

echo "rocks-compile fastcgi behind nginx: $hosts hosts, kickstart $(stat -c %s "$work/www/compute.ks") bytes, wrk -t2 -c$conns -d${secs}s ($(nproc) cores)"
echo "responder memory before: $(rss)"
wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$work/hosts.lua" "http://127.0.0.1:$port/kickstart" >"$work/dynamic.txt" &
w=$!
sleep $((secs / 2))
mid=$(rss)
wait "$w"
echo "responder memory during: $mid, after: $(rss)"
wrk -t2 -c"$conns" -d"${secs}s" --latency "http://127.0.0.1:$port/static/compute.ks" >"$work/static.txt"
report "fastcgi (per host)" "$work/dynamic.txt"
report "static file" "$work/static.txt"
python3 -c 'import sys; d, s = (float(open(f).read()) for f in sys.argv[1:]); print(f"ratio fastcgi/static: {d / s:.2f}")' \
    "$work/dynamic.txt.rps" "$work/static.txt.rps"
wrk -t2 -c1000 -d10s --latency -s "$work/hosts.lua" "http://127.0.0.1:$port/kickstart" >"$work/thousand.txt"
report "1000 connections (10 s)" "$work/thousand.txt"
echo "responder memory at the end: $(rss)"
grep -v "^rocks-compile: loaded" "$work/fastcgi.log" | head -5 || true
