#!/usr/bin/env bash
# The benchmark suite (issue 5). See bench/README.md.
#
#   bench/run.sh            the full suite: 1,000,000 users, 20-second loads
#   bench/run.sh --quick    smoke mode: 10,000 users, 2-second loads, < 3 minutes
#   bench/run.sh --flood    only the sign-in flood: 10,000 users, 10-second loads
#   bench/run.sh --fleet    1, 2 and 3 nodes behind nginx on one PostgreSQL (bench/fleet.sh)
#
# Builds wxlogin in release mode, seeds a fresh SQLite and a fresh PostgreSQL
# database, runs wxlogin against bench/fake_wechat.rs and loads it with wrk
# on loopback only. Prints one Markdown table, with the machine before it
# (cores, memory, the disk under the databases: bench/machine.sh) and the CPU
# during each load after it. Exits non-zero when something breaks (a failed
# build, a failed request, a server that dies), never because a target is
# missed.
#
# Environment: BENCH_POSTGRES_URL (default postgres://postgres:postgres@127.0.0.1:5432/postgres,
# the server where a scratch database is created and dropped), BENCH_BACKENDS
# ("sqlite postgres"), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export BENCH_DIR=$ROOT/bench

QUICK=0 FLOOD_ONLY=0 FLEET=0
case "${1:-}" in
  --quick) QUICK=1 ;;
  --flood) FLOOD_ONLY=1 ;;
  --fleet) FLEET=1 ;;
  "") ;;
  *) echo "usage: bench/run.sh [--quick | --flood | --fleet]" >&2; exit 2 ;;
esac
if [ $QUICK = 1 ]; then
  USERS=10000 SECONDS_PER_LOAD=2 WARMUP=1 SAMPLES=10 DEPTH_PAGES=20
elif [ $FLOOD_ONLY = 1 ]; then
  USERS=10000 SECONDS_PER_LOAD=10 WARMUP=2 SAMPLES=10 DEPTH_PAGES=20
else
  USERS=1000000 SECONDS_PER_LOAD=20 WARMUP=3 SAMPLES=100 DEPTH_PAGES=200
fi
SECONDS_PER_LOAD=${BENCH_SECONDS:-$SECONDS_PER_LOAD}
SESSIONS=10000
[ "$SESSIONS" -gt "$USERS" ] && SESSIONS=$USERS
PG_URL=${BENCH_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
PORT=18080 FAKE_PORT=19100
BASE=http://127.0.0.1:$PORT
ADMIN_PASSWORD=bench-password-$RANDOM$RANDOM
export PGPASSWORD=${PGPASSWORD:-postgres} PGOPTIONS="-c client_min_messages=warning"

log() { printf '[bench %4ss] %s\n' "$SECONDS" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

# --- tools -------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  log "installing wrk"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y -qq wrk </dev/null >/dev/null 2>&1 \
    || { as_root apt-get update -qq </dev/null && as_root apt-get install -y -qq wrk </dev/null >/dev/null; }
fi
for tool in wrk python3 sqlite3 psql curl cargo; do
  command -v $tool >/dev/null || die "$tool is missing (sqlite3 and psql come from Debian's sqlite3 and postgresql-client)"
done
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# The fleet has its own script, once the tools are here.
[ $FLEET = 1 ] && exec bash "$BENCH_DIR/fleet.sh"

log "building wxlogin and the fake WeChat (release)"
cargo build --release --locked --quiet --bin wxlogin --example fake_wechat </dev/null || die "cargo build"
# BENCH_BIN measures another build of wxlogin (an older one, say) with the same suite.
BIN=${BENCH_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/wxlogin}
FAKE_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/fake_wechat

# The servers' key, and so the data key: `wxlogin seed` seals the session
# keys it writes under the same key as the servers that read them.
export WXLOGIN_SECRET_KEY=$(printf 'k%.0s' $(seq 64))
WORK=$(mktemp -d /tmp/wxlogin-bench.XXXXXX)
PIDS=()
PG_DB=wxlogin_bench_$$
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$PG_URL" -qAtc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
echo "$ADMIN_PASSWORD" > "$WORK/password"

# The machine, and the disk the databases live on (dd with direct I/O). A
# failed probe says so in the output and does not fail the suite.
log "probing the machine and the disk of $WORK"
if [ $QUICK = 1 ]; then PROBE_MIB=64 PROBE_SYNCS=64; else PROBE_MIB=256 PROBE_SYNCS=256; fi
bash "$BENCH_DIR/machine.sh" "$WORK" $PROBE_MIB $PROBE_SYNCS >"$WORK/machine.md" 2>"$WORK/machine.err" \
  || printf 'machine:\n\n- the probe failed: %s\n' "$(head -n 3 "$WORK/machine.err")" >"$WORK/machine.md"
: >"$WORK/cpu.tsv"

"$FAKE_BIN" --port $FAKE_PORT 2>"$WORK/fake.log" &
PIDS+=($!) FAKE_PID=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$FAKE_PORT/healthz" >/dev/null && break; sleep 0.1; done

# --- helpers -----------------------------------------------------------------
SERVER_PID=
start_server() { # database-url latency-ms
  stop_server
  DATABASE_URL=$1 WECHAT_APPID=wxbench00000000001 WECHAT_SECRET=bench-secret \
    WECHAT_API_BASE="http://127.0.0.1:$FAKE_PORT/lat$2" WXLOGIN_SECRET_KEY=$(printf 'k%.0s' $(seq 64)) \
    WXLOGIN_INSECURE_COOKIES=1 WXLOGIN_BIND=127.0.0.1:$PORT RUST_LOG=warn \
    "$BIN" serve </dev/null >>"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do curl -sf "$BASE/healthz" >/dev/null && return; sleep 0.1; done
  die "wxlogin did not start (see below)"$'\n'"$(tail -20 "$WORK/server.log")"
}
stop_server() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  SERVER_PID=
}
alive() { kill -0 "$SERVER_PID" 2>/dev/null || die "wxlogin died"$'\n'"$(tail -20 "$WORK/server.log")"; }
rss_mib() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" | head -n 1; } # key < line
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a ~ /^[0-9.]+$/) printf "%.2f", a / b; else print "n/a" }'; }

# The CPU during a load, from cpu_begin to cpu_end NAME, as one row of
# $WORK/cpu.tsv. The machine from /proc/stat's aggregate line: busy
# (user+nice+system+irq+softirq), iowait, steal, idle. Cores used, from the
# processes' utime+stime in /proc/PID/stat: the server; the client, that is
# the children this shell waited for in between (wrk, admin_bench.py and the
# native CLI, wxlogin seed); every PostgreSQL process, plus the backends that
# exited (the postmaster's cutime+cstime); the fake WeChat and the flood's
# attacker; and the rest of the machine's busy time. Builtins only, so that
# the probes add no processes to the client's time. Works in a subshell too
# (wrk_run runs in one): the row goes to a file.
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
CPU_BACKEND= FLOOD_PID= # FAKE_PID is set where the fake WeChat starts, above
now() { if [ -n "${EPOCHREALTIME:-}" ]; then printf -v "$1" '%s' "${EPOCHREALTIME/,/.}"; else printf -v "$1" '%s' "$(date +%s.%N)"; fi; }
proc_ticks() { # var pid self|children: utime+stime (or cutime+cstime) in clock ticks; empty if the process is gone
  local line f
  printf -v "$1" '%s' ""
  [ -n "$2" ] || return 0
  read -r line 2>/dev/null <"/proc/$2/stat" || return 0
  read -ra f <<<"${line##*) }" # the fields after the command name, from state on
  if [ "$3" = children ]; then printf -v "$1" '%s' $((f[13] + f[14])); else printf -v "$1" '%s' $((f[11] + f[12])); fi
}
pg_ticks() { # var: every local postgres process's CPU and its reaped children's; empty if none runs here
  local st line c f t=0 n=0
  for st in /proc/[0-9]*/stat; do
    read -r line 2>/dev/null <"$st" || continue
    c=${line#*\(}; c=${c%\)*}
    [ "$c" = postgres ] || continue
    read -ra f <<<"${line##*) }"
    t=$((t + f[11] + f[12] + f[13] + f[14])) n=$((n + 1))
  done
  if [ $n = 0 ]; then printf -v "$1" '%s' ""; else printf -v "$1" '%s' $t; fi
}
cpu_snapshot() { # prefix
  local v
  proc_ticks v "$BASHPID" children; printf -v "${1}_cli" '%s' "$v"
  proc_ticks v "$SERVER_PID" self; printf -v "${1}_srv" '%s' "$v"
  pg_ticks v; printf -v "${1}_pg" '%s' "$v"
  local fake flood
  proc_ticks fake "$FAKE_PID" self; proc_ticks flood "$FLOOD_PID" self
  printf -v "${1}_aux" '%s' $((${fake:-0} + ${flood:-0}))
  read -r v </proc/stat; printf -v "${1}_stat" '%s' "$v"
  now v; printf -v "${1}_t" '%s' "$v"
}
cpu_begin() { cpu_snapshot CPU0; }
cpu_end() { # load-name
  local CPU1_cli CPU1_srv CPU1_pg CPU1_aux CPU1_stat CPU1_t
  cpu_snapshot CPU1
  awk -v b="$CPU_BACKEND" -v name="$1" -v hz="$CLK_TCK" -v t0="$CPU0_t" -v t1="$CPU1_t" -v a="$CPU0_stat" -v z="$CPU1_stat" \
      -v srv0="$CPU0_srv" -v srv1="$CPU1_srv" -v cli0="$CPU0_cli" -v cli1="$CPU1_cli" \
      -v pg0="$CPU0_pg" -v pg1="$CPU1_pg" -v aux0="$CPU0_aux" -v aux1="$CPU1_aux" '
    function cores(x0, x1) { if (x0 == "" || x1 == "") return -1; c = (x1 - x0) / hz / wall; return c < 0 ? 0 : c }
    function show(c) { return c < 0 ? "-" : sprintf("%.2f", c) }
    BEGIN {
      wall = t1 - t0; n = split(a, x); split(z, y)
      for (i = 2; i <= 9 && i <= n; i++) { d[i] = y[i] - x[i]; tot += d[i] } # user nice system idle iowait irq softirq steal
      if (wall <= 0 || tot <= 0) { printf "%s\t%s\t%.1f\t-\t-\t-\t-\t-\t-\t-\t-\t-\n", b, name, wall; exit }
      busy = d[2] + d[3] + d[4] + d[7] + d[8]
      srv = cores(srv0, srv1); cli = cores(cli0, cli1); pg = cores(pg0, pg1); aux = cores(aux0, aux1)
      rest = busy / hz / wall
      if (srv > 0) rest -= srv; if (cli > 0) rest -= cli; if (pg > 0) rest -= pg; if (aux > 0) rest -= aux
      printf "%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t%.2f\t%.0f\t%.1f\t%.1f\t%.0f\n", b, name, wall,
        show(srv), show(cli), show(pg), show(aux), rest < 0 ? 0 : rest,
        100 * busy / tot, 100 * d[6] / tot, 100 * d[9] / tot, 100 * d[5] / tot }' >>"$WORK/cpu.tsv"
}

wrk_run() { # name connections script
  local name=$1 conns=$2 script=$3 out
  # A short warm-up first: connections, caches and the allocator settle.
  wrk -t2 -c"$conns" -d"${WARMUP}s" --timeout 10s -s "$BENCH_DIR/$script" "$BASE" >/dev/null 2>&1 || true
  cpu_begin
  out=$(wrk -t2 -c"$conns" -d"${SECONDS_PER_LOAD}s" --timeout 10s -s "$BENCH_DIR/$script" "$BASE" 2>"$WORK/wrk-$name.err") \
    || die "wrk $name"$'\n'"$(cat "$WORK/wrk-$name.err")"
  alive
  cpu_end "$name"
  echo "$out" >"$WORK/wrk-$name.out"
  echo "$out" | grep '^WRK '
}

declare -A R # results, keyed "backend.figure"

# The sign-in flood: 16 attackers from 150 loopback addresses post wrong
# admin passwords while 4 paced connections (a request every 10 ms each, a
# load the server carries easily) time /api/me and /api/login; the same
# probes without the flood come first. Medians of wrk's latencies. Unpaced
# probes would saturate the server, and their medians would measure its
# queue, not the flood.
flood_section() { # backend
  local b=$1 line
  start_server "$2" 0
  export BENCH_DELAY_MS=10
  line=$(TOKENS=$WORK/tokens wrk_run probe_me 4 me.lua); R[$b.me_p50]=$(field p50_ms <<<"$line")
  line=$(wrk_run probe_login 4 login.lua); R[$b.login_p50]=$(field p50_ms <<<"$line")
  local flood_s=$((2 * (SECONDS_PER_LOAD + WARMUP) + 4))
  python3 "$BENCH_DIR/sign_in_flood.py" --base "$BASE" --seconds $flood_s >"$WORK/flood.out" 2>&1 &
  local flood=$!
  FLOOD_PID=$flood
  sleep 2
  line=$(TOKENS=$WORK/tokens wrk_run flood_me 4 me.lua); R[$b.me_p50_flood]=$(field p50_ms <<<"$line")
  line=$(wrk_run flood_login 4 login.lua); R[$b.login_p50_flood]=$(field p50_ms <<<"$line")
  unset BENCH_DELAY_MS
  FLOOD_PID=
  wait $flood || die "the flood failed: $(cat "$WORK/flood.out")"
  line=$(grep '^FLOOD ' "$WORK/flood.out") || die "the flood printed nothing: $(cat "$WORK/flood.out")"
  R[$b.flood]="$(field per_s <<<"$line")/s: $(field s401 <<<"$line") checked, $(field s429 <<<"$line") throttled, $(field s503 <<<"$line") busy, $(field other <<<"$line") other"
  alive
}

bench_backend() { # backend
  local b=$1 url native_cmd openid line
  CPU_BACKEND=$b
  if [ "$b" = sqlite ]; then
    url=sqlite://$WORK/bench.db
  else
    psql "$PG_URL" -qAtc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null
    psql "$PG_URL" -qAtc "CREATE DATABASE $PG_DB" >/dev/null
    url=${PG_URL%/*}/$PG_DB
  fi

  log "$b: seeding $USERS users, $SESSIONS sessions"
  local t0=$SECONDS started
  started=$(date +%s.%N)
  cpu_begin
  # A build with accounts gives a fifth of the users a second app's identity
  # too: 1,000,000 accounts with 1,200,000 identities.
  local second=()
  if "$BIN" seed --help 2>/dev/null | grep -q -- --second-app; then
    second=(--second-app wxbench00000000002 --second-app-share 20)
  fi
  "$BIN" seed --database-url "$url" --appid wxbench00000000001 --users $USERS "${second[@]}" \
    --sessions-per-user 1 --session-users $SESSIONS --tokens-out "$WORK/tokens" </dev/null 2>"$WORK/seed.log" \
    || die "seed: $(cat "$WORK/seed.log")"
  cpu_end seed
  R[$b.seed_s]=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  [ "$(wc -l <"$WORK/tokens")" -eq $SESSIONS ] || die "seed wrote $(wc -l <"$WORK/tokens") tokens"
  DATABASE_URL=$url "$BIN" admin create bench --password-stdin <"$WORK/password" >/dev/null || die "admin create"
  # Backend services (introspection), where the binary has them: an older
  # build measured with BENCH_BIN may not.
  BASIC=
  if "$BIN" service --help >/dev/null 2>&1; then
    local created
    created=$(DATABASE_URL=$url "$BIN" service create bench </dev/null) || die "service create"
    BASIC=$(printf '%s:%s' "$(sed -n 's/^client_id: *//p' <<<"$created")" \
      "$(sed -n 's/^client_secret: *//p' <<<"$created")" | base64 -w0)
  fi
  # The native export reads what the CSV holds: one row per identity once
  # there are accounts, one per user before.
  local people pick export
  if [ ${#second[@]} -gt 0 ]; then
    people=identities
    export="SELECT i.id, i.account_id, i.appid, i.openid, a.unionid, a.nickname, a.gender, a.country, a.province, a.city, a.language, a.created_at, a.last_login_at, a.login_count FROM accounts a JOIN identities i ON i.account_id = a.id ORDER BY a.created_at DESC, a.id DESC"
  else
    people=users
    export="SELECT id, openid, unionid, nickname, gender, country, province, city, language, created_at, last_login_at, login_count FROM users ORDER BY created_at DESC, id DESC"
  fi
  if [ "$b" = sqlite ]; then
    openid=$(sqlite3 "$WORK/bench.db" "SELECT openid FROM $people WHERE id = (SELECT MAX(id) / 3 FROM $people)")
    native_cmd=(sqlite3 -csv "$WORK/bench.db" "$export")
  else
    openid=$(psql "$url" -qAtc "SELECT openid FROM $people ORDER BY id OFFSET $((USERS / 3)) LIMIT 1")
    native_cmd=(psql "$url" -qc "\\copy ($export) TO STDOUT CSV")
  fi

  if [ $FLOOD_ONLY = 1 ]; then
    flood_section "$b" "$url"
    stop_server
    return
  fi

  start_server "$url" 0
  sleep 1
  R[$b.idle_rss]=$(rss_mib $SERVER_PID)

  # The admin pages and the export first, on the 1,000,000 seeded users: the
  # login loads below add more than 100,000 users without nicknames, newest first,
  # which a nickname search then has to read past (bench/README.md).
  log "$b: admin list"
  cpu_begin
  python3 "$BENCH_DIR/admin_bench.py" list --base "$BASE" --user bench --password-file "$WORK/password" \
    --openid "$openid" --samples $SAMPLES --depth-pages $DEPTH_PAGES >"$WORK/admin.out" \
    || die "admin list: $(cat "$WORK/admin.out")"
  alive
  cpu_end admin_list
  for c in first deep openid nickname province overview; do
    line=$(grep "^CASE name=$c " "$WORK/admin.out")
    R[$b.$c]="$(field median_ms <<<"$line") / $(field p99_ms <<<"$line")"
  done
  R[$b.walk]=$(field per_page_ms <"$WORK/admin.out")

  log "$b: CSV export"
  # One unmeasured pass first, so that both timed exports find the table in
  # the OS page cache: otherwise whichever runs first pays for the disk.
  "${native_cmd[@]}" >/dev/null
  cpu_begin
  python3 "$BENCH_DIR/admin_bench.py" csv --base "$BASE" --user bench --password-file "$WORK/password" \
    --pid $SERVER_PID --native "${native_cmd[@]}" >"$WORK/csv.out" || die "CSV: $(cat "$WORK/csv.out")"
  alive
  cpu_end csv
  local w n
  w=$(grep 'who=wxlogin' "$WORK/csv.out"); n=$(grep 'who=native' "$WORK/csv.out")
  R[$b.csv_s]="$(field seconds <<<"$w") / $(field seconds <<<"$n")"
  R[$b.csv_rate]="$(field rows_per_s <<<"$w") / $(field rows_per_s <<<"$n")"
  R[$b.csv_ratio]=$(ratio "$(field rows_per_s <<<"$w")" "$(field rows_per_s <<<"$n")")
  R[$b.csv_rss]="$(field peak_rss_mib <<<"$w") / $(field peak_rss_mib <<<"$n")"
  R[$b.csv_rss_w]=$(field peak_rss_mib <<<"$w")

  # A fresh server for the loads.
  start_server "$url" 0
  log "$b: GET /healthz"
  line=$(wrk_run healthz 64 healthz.lua)
  R[$b.healthz]=$(field rps <<<"$line")
  [ "$(field non2xx <<<"$line")" = 0 ] || die "/healthz answered errors: $line"

  # The fair baseline is measured just before and just after /api/me, and
  # averaged: the loads move by ±20 % from one minute to the next here.
  log "$b: GET /healthz, requests made like /api/me's"
  line=$(TOKENS=$WORK/tokens BENCH_PATH=/healthz wrk_run healthz_lua_before 64 me.lua)
  local lua1
  lua1=$(field rps <<<"$line")

  log "$b: GET /api/me over $SESSIONS tokens"
  local peak=0 sampler
  ( while kill -0 $SERVER_PID 2>/dev/null; do rss_mib $SERVER_PID; echo; sleep 0.2; done ) >"$WORK/rss" 2>/dev/null &
  sampler=$!
  line=$(TOKENS=$WORK/tokens wrk_run me 64 me.lua)
  kill $sampler 2>/dev/null || true; wait $sampler 2>/dev/null || true
  R[$b.me]=$(field rps <<<"$line")
  R[$b.load_rss]=$(sort -n "$WORK/rss" | tail -n 1)
  [ "$(field errors <<<"$line")" = 0 ] || die "/api/me answered errors: $line"

  R[$b.verify]=n/a R[$b.introspect]=n/a
  if [ -n "$BASIC" ]; then
    log "$b: GET /auth/verify over $SESSIONS tokens"
    line=$(TOKENS=$WORK/tokens BENCH_PATH=/auth/verify wrk_run verify 64 me.lua)
    R[$b.verify]=$(field rps <<<"$line")
    [ "$(field errors <<<"$line")" = 0 ] || die "/auth/verify answered errors: $line"
    log "$b: POST /oauth/introspect over $SESSIONS tokens"
    line=$(TOKENS=$WORK/tokens BASIC=$BASIC wrk_run introspect 64 introspect.lua)
    R[$b.introspect]=$(field rps <<<"$line")
    [ "$(field errors <<<"$line")" = 0 ] || die "/oauth/introspect answered errors: $line"
  fi

  log "$b: GET /healthz, requests made like /api/me's, again"
  line=$(TOKENS=$WORK/tokens BENCH_PATH=/healthz wrk_run healthz_lua_after 64 me.lua)
  R[$b.healthz_lua]=$(awk -v a="$lua1" -v b="$(field rps <<<"$line")" 'BEGIN { printf "%.1f", (a + b) / 2 }')
  R[$b.healthz_lua_both]="$lua1, $(field rps <<<"$line")"

  log "$b: POST /api/login, WeChat at 0 ms"
  line=$(wrk_run login0 64 login.lua)
  R[$b.login0]=$(field rps <<<"$line")
  R[$b.login0_err]=$(field errors <<<"$line")
  [ "${R[$b.login0_err]}" = 0 ] || die "login at 0 ms answered errors: $line"

  log "$b: POST /api/login, WeChat at 100 ms, 500 connections"
  start_server "$url" 100
  line=$(wrk_run login100 500 login.lua)
  R[$b.login100]=$(field rps <<<"$line")
  R[$b.login100_err]=$(field errors <<<"$line")
  R[$b.login100_p99]=$(field p99_ms <<<"$line")

  log "$b: sign-in flood"
  flood_section "$b" "$url"
  stop_server
}

for b in $BACKENDS; do bench_backend "$b"; done

# --- the table ---------------------------------------------------------------
# The second table: the CPU during each load, one row per load, in the order run.
cpu_table() {
  echo
  echo "CPU during each load (cores: CPU seconds per second of wall time, from /proc/PID/stat; %: of all $(nproc) cores, from /proc/stat):"
  echo
  echo "- wall: the measured part of the load, after its warm-up"
  echo "- client: wrk; for the admin list and the CSV export admin_bench.py (and the native CLI it runs); for the seed wxlogin seed"
  echo "- PostgreSQL: every local postgres process, with the backends that exited (the whole server: another user's databases too)"
  echo "- helpers: the fake WeChat and the sign-in flood's attacker"
  echo "- rest: the machine's busy time less all these: other processes on the machine, and interrupt time charged to none"
  echo "- busy: user+nice+system+irq+softirq"
  echo
  echo "| load | backend | wall s | wxlogin cores | client cores | PostgreSQL cores | helpers cores | rest cores | busy % | iowait % | steal % | idle % |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  local label
  while IFS=$'\t' read -r b name wall srv cli pg aux rest busy iow steal idle; do
    case $name in
      seed) label="seed $USERS users (no server)" ;;
      admin_list) label="admin list, sequential" ;;
      csv) label="CSV export, wxlogin then the native CLI" ;;
      healthz) label="GET /healthz, 64 conns" ;;
      healthz_lua_before) label="GET /healthz in Lua like /api/me's, before /api/me" ;;
      me) label="GET /api/me, 64 conns" ;;
      healthz_lua_after) label="GET /healthz in Lua like /api/me's, after /api/me" ;;
      login0) label="POST /api/login, WeChat 0 ms, 64 conns" ;;
      login100) label="POST /api/login, WeChat 100 ms, 500 conns" ;;
      probe_me) label="GET /api/me, 4 paced conns, alone" ;;
      probe_login) label="POST /api/login, 4 paced conns, alone" ;;
      flood_me) label="GET /api/me, 4 paced conns, under the sign-in flood" ;;
      flood_login) label="POST /api/login, 4 paced conns, under the sign-in flood" ;;
      *) label=$name ;;
    esac
    echo "| $label | $b | $wall | $srv | $cli | $pg | $aux | $rest | $busy | $iow | $steal | $idle |"
  done <"$WORK/cpu.tsv"
}
row() { # label target value-per-backend...
  local label=$1 target=$2; shift 2
  printf '| %s | %s |' "$label" "$target"
  for b in $BACKENDS; do printf ' %s |' "$(eval "echo \"$1\"")"; done
  echo
}
{
  echo
  echo "wxlogin bench: $USERS users$([ $QUICK = 1 ] && echo ' (--quick: short runs, figures are smoke only)'), ${SECONDS_PER_LOAD}s loads, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  cat "$WORK/machine.md"
  echo
  printf '| figure | target |'; for b in $BACKENDS; do printf ' %s |' "$b"; done; echo
  printf '|---|---|'; for b in $BACKENDS; do printf '%s' '---|'; done; echo
  flood_rows() {
    row "GET /api/me p50 ms (4 paced conns): alone, under a sign-in flood" "" '${R[$b.me_p50]}, ${R[$b.me_p50_flood]}'
    row "**/api/me under the flood / alone**" "< 2" '$(ratio ${R[$b.me_p50_flood]} ${R[$b.me_p50]})'
    row "POST /api/login p50 ms (4 paced conns): alone, under a sign-in flood" "" '${R[$b.login_p50]}, ${R[$b.login_p50_flood]}'
    row "**/api/login under the flood / alone**" "< 2" '$(ratio ${R[$b.login_p50_flood]} ${R[$b.login_p50]})'
    row "the flood: sign-in posts answered, by kind" "" '${R[$b.flood]}'
  }
  if [ $FLOOD_ONLY = 1 ]; then flood_rows; cpu_table; exit 0; fi
  row "seed $USERS users (s)" "well under 60 on SQLite" '${R[$b.seed_s]}'
  row "GET /healthz req/s (64 conns)" "baseline" '${R[$b.healthz]}'
  row "GET /api/me req/s, $SESSIONS tokens" "" '${R[$b.me]}'
  row "GET /healthz req/s, each request made in Lua like /api/me's: before, after /api/me" "" '${R[$b.healthz_lua_both]}'
  row "the same, mean of the two" "fair baseline" '${R[$b.healthz_lua]}'
  row "**me / healthz**, same client work" "≥ 0.6" '$(ratio ${R[$b.me]} ${R[$b.healthz_lua]})'
  row "me / healthz, against static wrk requests" "" '$(ratio ${R[$b.me]} ${R[$b.healthz]})'
  row "GET /auth/verify req/s, $SESSIONS tokens" "" '${R[$b.verify]}'
  row "**verify / healthz**, same client work" "≥ 0.8" '$(ratio ${R[$b.verify]} ${R[$b.healthz_lua]})'
  row "POST /oauth/introspect req/s, $SESSIONS tokens" "" '${R[$b.introspect]}'
  row "**introspect / healthz**, same client work" "≥ 0.5" '$(ratio ${R[$b.introspect]} ${R[$b.healthz_lua]})'
  row "POST /api/login req/s, WeChat 0 ms (64 conns)" "" '${R[$b.login0]}'
  row "**login / healthz**" "≥ 0.2 (SQLite)" '$(ratio ${R[$b.login0]} ${R[$b.healthz]})'
  row "login req/s, WeChat 100 ms, 500 conns (errors, p99 ms)" "" '${R[$b.login100]} (${R[$b.login100_err]}, ${R[$b.login100_p99]})'
  row "**login at 100 ms / 5,000**" "≥ 0.8, no errors" '$(ratio ${R[$b.login100]} 5000)'
  row "admin first page, median / p99 ms" "≤ 50 / ≤ 200" '${R[$b.first]}'
  row "admin page $((DEPTH_PAGES * 50)) rows deep (via next links), median / p99 ms" "≤ 50 / ≤ 200" '${R[$b.deep]}'
  row "admin search by exact openid, median / p99 ms" "≤ 50 / ≤ 200" '${R[$b.openid]}'
  row "admin nickname substring “明”, median / p99 ms" "≤ 50 / ≤ 200" '${R[$b.nickname]}'
  row "admin province 广东 by last_login_at, median / p99 ms" "≤ 50 / ≤ 200" '${R[$b.province]}'
  row "admin overview with its charts, median / p99 ms" "≤ 50 / ≤ 200" '${R[$b.overview]}'
  row "CSV export s, wxlogin / native CLI" "" '${R[$b.csv_s]}'
  row "CSV rows/s, wxlogin / native CLI" "" '${R[$b.csv_rate]}'
  row "**CSV rate wxlogin / native**" "≥ 0.5" '${R[$b.csv_ratio]}'
  row "CSV peak RSS MiB, wxlogin server / native CLI" "wxlogin ≤ 100" '${R[$b.csv_rss]}'
  row "**idle RSS MiB**" "≤ 30" '${R[$b.idle_rss]}'
  row "RSS MiB under the /api/me load" "" '${R[$b.load_rss]}'
  flood_rows
  cpu_table
}
