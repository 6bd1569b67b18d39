#!/usr/bin/env bash
# Load benchmark of the web responder behind nginx, both ways it can answer, against nginx
# serving a kickstart as a static file, all in one run:
#
#   bash benches/serve.sh [SECONDS [CONNECTIONS [HOSTS [MEMORY_HOSTS]]]]   (defaults 30 256 1000 10000)
#
# - static:   nginx sends one host's kickstart as a plain file (the yardstick);
# - sendfile: `fastcgi --x-accel-redirect`: the responder decides who may have which file and
#             answers a header; nginx sends the built tree's file itself (examples/web/nginx.conf);
# - fastcgi:  the responder sends the kickstart in its answer (servers without a sendfile path).
#
# The cluster: HOSTS compute hosts (`host generate`) compiled with the Rocks corpus framework
# (core+base+hpc+sge+kvm+ganglia+area51 from ../shared/rocks-corpus, `--rocks7
# --eval-as-text`, the reference host's site attributes as global attributes): each kickstart
# is about 164 KB, and `build` writes them all into a tree. wrk sends every request as another
# host: nginx's realip module takes the client address from an `X-Real-IP` header that the
# wrk script cycles through the hosts' addresses, so each request is answered with that
# host's own kickstart.
#
# Prints requests/s, p50/p99 latency and errors (socket errors and non-2xx) of each run and
# the ratios to the static file, a 1,000-connection run of each path (every request must
# succeed), and the resident memory of the sendfile responder for HOSTS and for MEMORY_HOSTS
# hosts. Needs nginx, wrk, python3 (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
conns=${2:-256}
hosts=${3:-1000}
memory_hosts=${4:-10000}
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
"$bin" --db "$db" build --allow-default-password --only kickstart "${fw[@]}" --rocks7 --eval-as-text --out "$work/tree" >/dev/null

# The two responders: one sends the kickstarts itself, one names the tree's file.
responder() { # name, extra arguments...
    local name=$1
    shift
    "$bin" --db "$db" fastcgi --socket "$work/$name.sock" --socket-mode 666 "${fw[@]}" --rocks7 --eval-as-text \
        --tree "$work/tree" "$@" 2>"$work/$name.log" &
    pids+=("$!")
    eval "${name}_pid=$!"
    for _ in $(seq 600); do [ -S "$work/$name.sock" ] && return; sleep 0.1; done
    echo "!!! the $name responder did not start:" >&2
    cat "$work/$name.log" >&2
    exit 1
}
responder fastcgi
responder sendfile --prefix /sf --x-accel-redirect /internal

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
    sendfile on;
    client_body_temp_path $work/tmp/body;
    fastcgi_temp_path $work/tmp/fastcgi;
    proxy_temp_path $work/tmp/proxy;
    uwsgi_temp_path $work/tmp/uwsgi;
    scgi_temp_path $work/tmp/scgi;
    upstream fastcgi {
        server unix:$work/fastcgi.sock;
        keepalive 512;
    }
    upstream sendfile {
        server unix:$work/sendfile.sock;
        keepalive 512;
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
            fastcgi_pass fastcgi;
        }
        location = /sf/kickstart {
            include fastcgi_params;
            fastcgi_keep_conn on;
            fastcgi_pass sendfile;
        }
        location ^~ /internal/kickstart/ {
            internal;
            alias $work/tree/kickstart/;
            default_type text/plain;
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

# The first host's kickstart, both ways, is the file `kickstart --host` wrote.
for path in kickstart sf/kickstart; do
    curl -s -H "X-Real-IP: $(head -n 1 "$work/addrs")" "http://127.0.0.1:$port/$path" | cmp - "$work/www/compute.ks"
done

rss() { awk '/^VmRSS/ { print int($2 / 1024) " MB" }' "/proc/$1/status"; }
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
print(f"{label:<30} {rps:9.0f} req/s  p50 {p['50']:7.2f} ms  p99 {p['99']:7.2f} ms  errors {sock + non2xx} of {total}")
open(sys.argv[2] + ".nums", "w").write(f"{rps} {p['99']}")
PY
}
ratio() { # label, path's numbers, static's numbers
    python3 -c 'import sys
(d, dp), (s, sp) = ([float(x) for x in open(f).read().split()] for f in sys.argv[2:])
print(f"{sys.argv[1]:<30} {d / s:9.2f} x the static req/s, p99 {dp / sp:.2f} x the static p99")' "$@"
}

echo "rocks-compile behind nginx: $hosts hosts, kickstart $(stat -c %s "$work/www/compute.ks") bytes, wrk -t2 -c$conns -d${secs}s ($(nproc) cores)"
echo "responder memory after load: sendfile $(rss "$sendfile_pid"), fastcgi $(rss "$fastcgi_pid")"
run() { # name, URL, wrk arguments...
    local name=$1 url=$2
    shift 2
    wrk -t2 "$@" --latency -s "$work/hosts.lua" "$url" >"$work/$name.txt"
}
run static "http://127.0.0.1:$port/static/compute.ks" -c"$conns" -d"${secs}s"
run sendfile "http://127.0.0.1:$port/sf/kickstart" -c"$conns" -d"${secs}s"
run fastcgi "http://127.0.0.1:$port/kickstart" -c"$conns" -d"${secs}s"
report "static file" "$work/static.txt"
report "sendfile (per host)" "$work/sendfile.txt"
report "fastcgi answer (per host)" "$work/fastcgi.txt"
ratio "sendfile / static" "$work/sendfile.txt.nums" "$work/static.txt.nums"
ratio "fastcgi answer / static" "$work/fastcgi.txt.nums" "$work/static.txt.nums"
run sendfile-1000 "http://127.0.0.1:$port/sf/kickstart" -c1000 -d10s
run fastcgi-1000 "http://127.0.0.1:$port/kickstart" -c1000 -d10s
report "sendfile, 1000 connections" "$work/sendfile-1000.txt"
report "fastcgi, 1000 connections" "$work/fastcgi-1000.txt"
echo "responder memory at the end: sendfile $(rss "$sendfile_pid"), fastcgi $(rss "$fastcgi_pid")"

# The sendfile responder's memory for MEMORY_HOSTS hosts: nothing is compiled or held per
# kickstart, so it grows with the hosts' facts only.
more=$((memory_hosts - hosts))
if [ "$more" -gt 0 ]; then
    "$bin" --db "$db" host generate --hosts "$more" --appliances compute >/dev/null 2>&1
    kill -HUP "$sendfile_pid"
    for _ in $(seq 600); do grep -q "reloaded" "$work/sendfile.log" && break; sleep 0.1; done
    echo "sendfile responder memory with $memory_hosts hosts: $(rss "$sendfile_pid")"
fi
grep -v -e "^rocks-compile: loaded" -e "reloaded" "$work/"*.log | head -5 || true
