#!/usr/bin/env bash
# The scale-out benchmark (issue 13): `bench/run.sh --fleet` runs here.
#
# 1, 2 and 3 `wxlogin serve` nodes on one PostgreSQL database, behind
# Debian's nginx (keep-alive to the nodes), loaded with wrk: GET /api/me
# over 10,000 tokens, and POST /api/login with WeChat at 0 ms. Two routings
# for more than one node: `round-robin`, and `by-token`, where nginx hashes
# the Authorization header (consistent hashing) so that each token goes to
# one node, and logins still go round robin.
# Prints one Markdown table: requests a second, errors, token-cache hits and
# why the others missed, the PostgreSQL connections the nodes held, and the
# cores each part used. On a machine of 2 cores more nodes only share the
# same cores: bench/README.md says what the figures do and do not show.
#
# Environment: BENCH_POSTGRES_URL, BENCH_BIN, CARGO_TARGET_DIR (as run.sh),
# FLEET_USERS (100000), FLEET_SECONDS (20), FLEET_NODES ("1 2 3"),
# FLEET_ROUTINGS ("round-robin by-token").
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export BENCH_DIR=$ROOT/bench

USERS=${FLEET_USERS:-100000} SECONDS_PER_LOAD=${FLEET_SECONDS:-20} WARMUP=3
NODES=${FLEET_NODES:-1 2 3}
ROUTINGS=${FLEET_ROUTINGS:-round-robin by-token}
SESSIONS=10000
[ "$SESSIONS" -gt "$USERS" ] && SESSIONS=$USERS
PG_URL=${BENCH_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
NGINX_PORT=18080 NODE_PORT0=18090 FAKE_PORT=19100
BASE=http://127.0.0.1:$NGINX_PORT
export PGPASSWORD=${PGPASSWORD:-postgres} PGOPTIONS="-c client_min_messages=warning"

log() { printf '[fleet %4ss] %s\n' "$SECONDS" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" | head -n 1; }

command -v wrk >/dev/null || die "wrk is not installed (bench/run.sh installs it)"
NGINX=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null) || die "nginx is not installed (apt-get install nginx)"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

log "building wxlogin and the fake WeChat (release)"
cargo build --release --locked --quiet --bin wxlogin --example fake_wechat </dev/null || die "cargo build"
BIN=${BENCH_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/wxlogin}
FAKE_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/fake_wechat

# The servers' key, and so the data key: `wxlogin seed` seals the session
# keys it writes under the same key as the servers that read them.
export WXLOGIN_SECRET_KEY=$(printf 'k%.0s' $(seq 64))
WORK=$(mktemp -d /tmp/wxlogin-fleet.XXXXXX)
PG_DB=wxlogin_fleet_$$
URL=${PG_URL%/*}/$PG_DB
PIDS=() NODE_PIDS=() NGINX_PID=
cleanup() {
  for pid in "${NODE_PIDS[@]}" $NGINX_PID "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$PG_URL" -qAtc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"$FAKE_BIN" --port $FAKE_PORT 2>"$WORK/fake.log" &
PIDS+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$FAKE_PORT/healthz" >/dev/null && break; sleep 0.1; done

log "seeding $USERS users, $SESSIONS sessions on PostgreSQL"
psql "$PG_URL" -qAtc "CREATE DATABASE $PG_DB" >/dev/null
"$BIN" seed --database-url "$URL" --appid wxbench00000000001 --users "$USERS" \
  --sessions-per-user 1 --session-users $SESSIONS --tokens-out "$WORK/tokens" </dev/null 2>"$WORK/seed.log" \
  || die "seed: $(cat "$WORK/seed.log")"

start_nodes() { # count
  local i port
  for i in $(seq 0 $(($1 - 1))); do
    port=$((NODE_PORT0 + i))
    DATABASE_URL=$URL WECHAT_APPID=wxbench00000000001 WECHAT_SECRET=bench-secret \
      WECHAT_API_BASE="http://127.0.0.1:$FAKE_PORT/lat0" WXLOGIN_SECRET_KEY=$(printf 'k%.0s' $(seq 64)) \
      WXLOGIN_INSECURE_COOKIES=1 WXLOGIN_BIND=127.0.0.1:$port RUST_LOG=warn \
      WXLOGIN_METRICS_BIND=127.0.0.1:$((port + 100)) \
      "$BIN" serve </dev/null >>"$WORK/node$i.log" 2>&1 &
    NODE_PIDS+=($!)
  done
  for i in $(seq 0 $(($1 - 1))); do
    port=$((NODE_PORT0 + i))
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && continue 2; sleep 0.1; done
    die "node $i did not start: $(tail -5 "$WORK/node$i.log")"
  done
}
stop_nodes() {
  for pid in "${NODE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  NODE_PIDS=()
}
start_nginx() { # count routing
  local d=$WORK/nginx servers="" i api_upstream=wxlogin
  mkdir -p "$d"
  for i in $(seq 0 $(($1 - 1))); do servers+="    server 127.0.0.1:$((NODE_PORT0 + i));"$'\n'; done
  [ "$2" = by-token ] && api_upstream=wxlogin_by_token
  # One worker: the machine's cores are what is measured, and the nodes
  # need them more than nginx does.
  cat >"$d/nginx.conf" <<EOF
worker_processes 1;
daemon off;
error_log $d/error.log warn;
pid $d/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $d/body; proxy_temp_path $d/proxy; fastcgi_temp_path $d/fastcgi;
  uwsgi_temp_path $d/uwsgi; scgi_temp_path $d/scgi;
  upstream wxlogin {
$servers    keepalive 128;
  }
  upstream wxlogin_by_token {
    hash \$http_authorization consistent;
$servers    keepalive 128;
  }
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header X-Forwarded-For \$remote_addr;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { proxy_pass http://wxlogin; }
    location /api/me { proxy_pass http://$api_upstream; }
  }
}
EOF
  "$NGINX" -p "$d" -c "$d/nginx.conf" 2>>"$d/error.log" &
  NGINX_PID=$!
  for _ in $(seq 50); do curl -sf "$BASE/healthz" >/dev/null && return; sleep 0.1; done
  die "nginx did not start: $(cat "$d/error.log")"
}
stop_nginx() {
  [ -n "$NGINX_PID" ] && { kill "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; }
  NGINX_PID=
}

# CPU ticks (utime+stime) of every process whose command is $1, and of the
# PostgreSQL backends that exited (the postmaster's children).
ticks_of() {
  local st line c f t=0
  for st in /proc/[0-9]*/stat; do
    read -r line 2>/dev/null <"$st" || continue
    c=${line#*\(}; c=${c%\)*}
    [ "$c" = "$1" ] || continue
    read -ra f <<<"${line##*) }"
    t=$((t + f[11] + f[12]))
    [ "$1" = postgres ] && t=$((t + f[13] + f[14]))
  done
  echo $t
}
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
# Token-cache lookups of every node so far, one "result reason count" per
# line, summed over the nodes.
cache_lookups() { # count
  local i
  for i in $(seq 0 $(($1 - 1))); do
    curl -sf "http://127.0.0.1:$((NODE_PORT0 + 100 + i))/metrics" | grep '^wxlogin_token_cache_lookups_total' || true
  done | awk '{ r = $0 ~ /result="hit"/ ? "hit" : "miss"; why = "-";
                if (match($0, /reason="[a-z_]+"/)) why = substr($0, RSTART + 8, RLENGTH - 9);
                n[r " " why] += $NF }
              END { for (k in n) print k, n[k] }'
}
# The hit share between two cache_lookups files, then each miss reason's
# share of the misses: "97.1 | aged 80%, absent 20%".
cache_summary() { # before after
  awk 'NR == FNR { before[$1 " " $2] = $3; next }
       { d = $3 - before[$1 " " $2]; if ($1 == "hit") h += d; else { m += d; why[$2] += d } }
       END { if (h + m == 0) { print "- | -"; exit }
             out = ""; for (w in why) if (why[w] > 0) out = out sprintf("%s%s %.0f%%", out == "" ? "" : ", ", w, 100 * why[w] / m);
             printf "%.1f | %s\n", 100 * h / (h + m), out == "" ? "-" : out }' "$1" "$2"
}
# The PostgreSQL connections the nodes hold, at the end of a load.
pg_connections() {
  psql "$PG_URL" -qAtc "SELECT count(*) FROM pg_stat_activity WHERE datname = '$PG_DB'"
}

ROWS=()
load() { # nodes routing name connections script
  local n=$1 routing=$2 name=$3 conns=$4 script=$5 out w0 n0 p0 t0 t1 wall
  wrk -t2 -c"$conns" -d"${WARMUP}s" --timeout 10s -s "$BENCH_DIR/$script" "$BASE" >/dev/null 2>&1 || true
  cache_lookups "$n" >"$WORK/lookups.before"
  w0=$(ticks_of wxlogin) n0=$(ticks_of nginx) p0=$(ticks_of postgres) t0=$(date +%s.%N)
  out=$(wrk -t2 -c"$conns" -d"${SECONDS_PER_LOAD}s" --timeout 10s -s "$BENCH_DIR/$script" "$BASE" 2>"$WORK/wrk.err") \
    || die "wrk $name: $(cat "$WORK/wrk.err")"
  t1=$(date +%s.%N)
  local conns_held cache
  conns_held=$(pg_connections)
  cache_lookups "$n" >"$WORK/lookups.after"
  cache=$(cache_summary "$WORK/lookups.before" "$WORK/lookups.after")
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  local line rps errors p99 cores
  line=$(grep '^WRK ' <<<"$out")
  rps=$(field rps <<<"$line") errors=$(field errors <<<"$line") p99=$(field p99_ms <<<"$line")
  cores=$(awk -v w="$wall" -v hz="$HZ" -v a="$(($(ticks_of wxlogin) - w0))" -v b="$(($(ticks_of nginx) - n0))" \
    -v c="$(($(ticks_of postgres) - p0))" 'BEGIN { printf "%.2f | %.2f | %.2f", a / hz / w, b / hz / w, c / hz / w }')
  ROWS+=("| $n | $routing | $name | $rps | $errors | $p99 | $cache | $conns_held | $cores |")
  log "$n node(s), $routing, $name: $rps req/s, $errors errors, cache $cache"
}

for n in $NODES; do
  for routing in $ROUTINGS; do
    # With one node, every routing is the same.
    [ "$n" = 1 ] && [ "$routing" != "${ROUTINGS%% *}" ] && continue
    log "$n node(s) behind nginx, $routing"
    start_nodes "$n"
    start_nginx "$n" "$routing"
    TOKENS=$WORK/tokens load "$n" "$routing" "GET /api/me" 64 me.lua
    load "$n" "$routing" "POST /api/login, WeChat 0 ms" 64 login.lua
    stop_nginx
    stop_nodes
  done
done

{
  echo "fleet: $USERS users on PostgreSQL, ${SECONDS_PER_LOAD}-second loads of 64 connections through nginx (one worker), $(nproc) cores"
  echo
  echo "| nodes | routing | load | req/s | errors | p99 ms | token cache hits % | why the others missed | PostgreSQL connections | wxlogin cores | nginx cores | PostgreSQL cores |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
}
