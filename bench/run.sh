#!/usr/bin/env bash
# Side-by-side benchmark runner: starts wshub, Bun, Node `ws` and nginx+nchan one at a time on CPU 0, drives each
# with `wshub bench` on CPU 1 through scenarios S1-S5, and writes the medians into docs/benchmarks.md between
# markers. Not a test: it asserts nothing about wshub's behaviour. Everything runs on 127.0.0.1 only.
#
# Usage: bash bench/run.sh            (bash bench/install.sh first)
# Settings (environment):
#   RUNS=3                    repetitions of each (server, scenario); the table shows medians
#   SERVERS="wshub bun node nchan"   SCENARIOS="S1 S2 S3 S4 S5"
#   DURATION=10 WARMUP=2      seconds measured / discarded per run (S1, S2, S4, S5)
#   IDLE_DURATION=5           seconds S3 holds its idle connections
#   PAYLOAD=64                bytes of `data` per message
#   SOURCE_ADDRS=4            127.0.0.x source addresses the bench spreads many connections over
#   RUN_TIMEOUT               seconds before one bench run is killed (default WARMUP+DURATION+120)
#   BUILD_DIR=build           where wshub is built (Release); WSHUB_BIN=path uses that binary, unbuilt
#   OUT=docs/benchmarks.md    the document the table goes into; RESULTS=DIR keeps raw JSON and logs
#   PORT_BASE=18780           first port tried for the servers
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
RUNS="${RUNS:-3}"
SERVERS="${SERVERS:-wshub bun node nchan}"
SCENARIOS="${SCENARIOS:-S1 S2 S3 S4 S5}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
IDLE_DURATION="${IDLE_DURATION:-5}"
PAYLOAD="${PAYLOAD:-64}"
SOURCE_ADDRS="${SOURCE_ADDRS:-4}"
RUN_TIMEOUT="${RUN_TIMEOUT:-$((WARMUP + DURATION + 120))}"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
OUT="${OUT:-$ROOT/docs/benchmarks.md}"
PORT_BASE="${PORT_BASE:-18780}"
SERVER_CPU=0
BENCH_CPU=1
WANT_NOFILE=20000
RESULTS="${RESULTS:-$(mktemp -d /tmp/wshub-bench.XXXXXX)}"
mkdir -p "$RESULTS"
BUN="$BENCH/node_modules/@oven/bun-linux-x64/bin/bun"
WSHUB="$BUILD_DIR/wshub"
build_type=""

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- process bookkeeping: everything started here is stopped here, by PID -------------------------------------
PIDS=()
track() { PIDS+=("$1"); }
untrack() {
    local keep=() p
    for p in "${PIDS[@]}"; do [[ "$p" == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]+"${keep[@]}"}")
}
# stop PID: SIGTERM, wait up to 10 s for it to exit, then SIGKILL.
stop_pid() {
    local pid="$1" i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; untrack "$pid"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored SIGTERM for 10 s; SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    untrack "$pid"
}
cleanup() {
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# --- prerequisites ---------------------------------------------------------------------------------------------
command -v taskset >/dev/null || die "taskset missing (util-linux)"
command -v curl >/dev/null || die "curl missing"
[[ "$(nproc)" -ge 2 ]] || die "needs 2 CPUs: the server gets CPU $SERVER_CPU, the load generator CPU $BENCH_CPU"
for s in $SERVERS; do
    case "$s" in
        wshub) ;;
        bun) [[ -x "$BUN" ]] || die "no bun at $BUN: run bash bench/install.sh" ;;
        node) [[ -d "$BENCH/node_modules/ws" ]] || die "no ws in bench/node_modules: run bash bench/install.sh" ;;
        nchan) command -v nginx >/dev/null && [[ -f /usr/lib/nginx/modules/ngx_nchan_module.so ]] ||
            die "nginx or nchan missing: run bash bench/install.sh" ;;
        *) die "unknown server '$s' (wshub bun node nchan)" ;;
    esac
done
[[ " $SERVERS " == *" bun "* ]] || log "bun is not in SERVERS: the ratio columns will be empty"

# The machine's hard limit on open files is the ceiling; S3 needs 19,000 connections in one process.
hard="$(ulimit -Hn)"
if [[ "$hard" == unlimited || "$hard" -ge "$WANT_NOFILE" ]]; then ulimit -n "$WANT_NOFILE"; else ulimit -n "$hard"; fi
log "open files per process: $(ulimit -n)"

# Build wshub in Release; cmake --build is incremental, so a current binary costs nothing. WSHUB_BIN=path skips
# the build and benchmarks that binary instead (it also serves as the load generator).
if [[ -n "${WSHUB_BIN:-}" ]]; then
    WSHUB="$WSHUB_BIN"
    build_type="given as WSHUB_BIN"
else
    if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
        cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >"$RESULTS/build.log" 2>&1 || die "cmake failed: $RESULTS/build.log"
    fi
    build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")"
    [[ "$build_type" == Release ]] || die "$BUILD_DIR is a '$build_type' build; use a Release build dir (BUILD_DIR=...)"
    log "building wshub ($build_type) in $BUILD_DIR"
    cmake --build "$BUILD_DIR" --target wshub -j "$(nproc)" >>"$RESULTS/build.log" 2>&1 || die "build failed: $RESULTS/build.log"
    build_type="$build_type build"
fi
"$WSHUB" bench --help >/dev/null 2>&1 || die "$WSHUB has no working 'bench' subcommand"

# --- servers ---------------------------------------------------------------------------------------------------
port_is_free() { [[ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]]; }
pick_port() {
    local p="$PORT_BASE"
    while ! port_is_free "$p"; do p=$((p + 1)); done
    echo "$p"
}

# start_server NAME SCENARIO RUNDIR: sets SRV_PID (the process started), MEASURE_PID (the one that serves:
# nginx's worker for nchan), PORT, PROTO_ARGS (the bench's --url, --protocol, --publish-via) and SERVER_CMD.
start_server() {
    local name="$1" scen="$2" dir="$3" i
    PORT="$(pick_port)"
    PROTO_ARGS=(--url "ws://127.0.0.1:$PORT/ws" --protocol wshub --publish-via ws)
    case "$name" in
        wshub)
            SERVER_CMD=("$WSHUB" serve --listen "127.0.0.1:$PORT" --log-level warn)
            if [[ "$scen" == S5 ]]; then
                mkdir -p "$dir/data"
                SERVER_CMD+=(--data-dir "$dir/data")
            fi ;;
        bun) SERVER_CMD=("$BUN" "$BENCH/peers/bun-server.js" "$PORT") ;;
        node) SERVER_CMD=(node "$BENCH/peers/node-ws-server.js" "$PORT") ;;
        nchan)
            SERVER_CMD=("$BENCH/nginx/start.sh" "$PORT" "$dir/nginx")
            # nchan publishes over HTTP here; the bench subscribes at /sub/{channel} and POSTs to /pub/{channel}.
            PROTO_ARGS=(--url "ws://127.0.0.1:$PORT/" --protocol nchan --publish-via http) ;;
    esac
    taskset -c "$SERVER_CPU" "${SERVER_CMD[@]}" >"$dir/server.log" 2>&1 &
    SRV_PID=$!
    track "$SRV_PID"
    # Ready when /health answers; every server here has one. Deadline 15 s.
    for ((i = 0; i < 150; i++)); do
        kill -0 "$SRV_PID" 2>/dev/null || { log "$name exited at start: $(tail -3 "$dir/server.log")"; return 1; }
        curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/health" && break
        sleep 0.1
    done
    ((i < 150)) || { log "$name did not answer /health within 15 s"; return 1; }
    MEASURE_PID="$SRV_PID"
    if [[ "$name" == nchan ]]; then
        MEASURE_PID="$(pgrep -P "$SRV_PID" | head -1)"
        [[ -n "$MEASURE_PID" ]] || { log "nginx has no worker process"; return 1; }
        track "$MEASURE_PID"   # stopped with the master; tracked in case the master had to be killed
    fi
}

# --- scenarios (the issue's definitions) ------------------------------------------------------------------------
scenario_args() {
    case "$1" in
        S1) echo --subscribers 10000 --channels 1 --publishers 1 --rate 0 --inflight 16 --source-addrs "$SOURCE_ADDRS" \
            --duration "$DURATION" --warmup "$WARMUP" --payload "$PAYLOAD" ;;
        S2) echo --subscribers 10000 --channels 1000 --publishers 1 --rate 2000 --inflight 64 --source-addrs "$SOURCE_ADDRS" \
            --duration "$DURATION" --warmup "$WARMUP" --payload "$PAYLOAD" ;;
        S3) echo --subscribers 19000 --channels 1000 --idle --source-addrs "$SOURCE_ADDRS" --duration "$IDLE_DURATION" ;;
        S4 | S5) echo --subscribers 100 --channels 100 --publishers 10 --rate 0 --inflight 16 \
            --duration "$DURATION" --warmup "$WARMUP" --payload "$PAYLOAD" ;;
    esac
}

for scen in $SCENARIOS; do
    case "$scen" in S1 | S2 | S3 | S4 | S5) ;; *) die "unknown scenario '$scen' (S1 S2 S3 S4 S5)" ;; esac
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"

# --- versions and machine ---------------------------------------------------------------------------------------
meta="$RESULTS/meta.tsv"
{
    printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf 'nproc\t%s\n' "$(nproc)"
    printf 'cpu\t%s\n' "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    printf 'kernel\t%s\n' "$(uname -sr)"
    printf 'memory\t%s\n' "$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
    printf 'nofile\t%s\n' "$(ulimit -n)"
    rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    printf 'version.wshub\t%s (commit %s, %s)\n' "$("$WSHUB" version)" "$rev" "$build_type"
    [[ -x "$BUN" ]] && printf 'version.bun\tBun %s (npm @oven/bun-linux-x64)\n' "$("$BUN" --version)"
    [[ -d "$BENCH/node_modules/ws" ]] && printf 'version.node\tNode %s, ws %s\n' "$(node --version)" \
        "$(node -p 'require(process.argv[1]).version' "$BENCH/node_modules/ws/package.json")"
    command -v nginx >/dev/null && printf 'version.nchan\t%s, nchan %s (Debian libnginx-mod-nchan)\n' \
        "$(nginx -v 2>&1 | sed 's/^nginx version: //')" "$(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null || echo '?')"
    printf 'settings\tRUNS=%s DURATION=%s WARMUP=%s IDLE_DURATION=%s PAYLOAD=%s SOURCE_ADDRS=%s\n' \
        "$RUNS" "$DURATION" "$WARMUP" "$IDLE_DURATION" "$PAYLOAD" "$SOURCE_ADDRS"
} >"$meta"

# --- the runs ---------------------------------------------------------------------------------------------------
runs="$RESULTS/runs.tsv"
printf 'server\tscenario\trun\tstatus\tjson\tserver_cmd\tbench_cmd\n' >"$runs"
failed=0
# Runs are interleaved (run 1 of every server, then run 2 of every server, ...) rather than one server's runs back
# to back: a disturbance of the shared machine, or the kernel reaping the previous scenario's TIME_WAIT sockets,
# then lands on every server alike instead of on whichever server happens to come first.
for scen in $SCENARIOS; do
    read -r -a sargs <<<"$(scenario_args "$scen")"
    for name in $SERVERS; do
        if [[ "$scen" == S5 && "$name" != wshub ]]; then
            printf '%s\t%s\t0\tn/a\t\t\t\n' "$name" "$scen" >>"$runs"
        fi
    done
    for ((r = 1; r <= RUNS; r++)); do
        for name in $SERVERS; do
            if [[ "$scen" == S5 && "$name" != wshub ]]; then continue; fi
            dir="$RESULTS/$scen-$name-$r"
            mkdir -p "$dir"
            log "$scen $name run $r/$RUNS"
            status=ok
            bench_cmd=()
            MEASURE_PID=none
            if start_server "$name" "$scen" "$dir"; then
                bench_cmd=(taskset -c "$BENCH_CPU" "$WSHUB" bench "${PROTO_ARGS[@]}" "${sargs[@]}" --server-pid "$MEASURE_PID")
                timeout -k 5 "$RUN_TIMEOUT" "${bench_cmd[@]}" >"$dir/bench.json" 2>"$dir/bench.log" &
                bpid=$!
                track "$bpid"
                rc=0
                wait "$bpid" || rc=$?
                untrack "$bpid"
                if ((rc == 124 || rc == 137)); then
                    status="timeout after ${RUN_TIMEOUT}s"
                elif ((rc != 0)); then
                    # The bench exits 1 when its errors pass its threshold: the JSON is kept but the run does not count.
                    status="bench exit $rc: $(grep '^wshub bench: ' "$dir/bench.log" | tail -n +2 | tail -2 | tr '\t\n' '  ' | cut -c1-200)"
                elif ! kill -0 "$SRV_PID" 2>/dev/null; then
                    status="server died"
                elif ! node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$dir/bench.json" 2>/dev/null; then
                    status="no JSON summary"
                fi
            else
                status="server did not start"
            fi
            stop_pid "$SRV_PID"
            [[ "$MEASURE_PID" == none || "$MEASURE_PID" == "$SRV_PID" ]] || stop_pid "$MEASURE_PID"
            [[ "$status" == ok ]] || { failed=$((failed + 1)); log "$scen $name run $r: $status (logs in $dir)"; }
            # Record the commands with the port and PID as placeholders, so they read the same in every run.
            scmd="taskset -c $SERVER_CPU ${SERVER_CMD[*]}"
            bcmd="${bench_cmd[*]:-}"
            scmd="${scmd//$RESULTS\/$scen-$name-$r/\$RUNDIR}"; scmd="${scmd//$PORT/\$PORT}"
            bcmd="${bcmd//--server-pid $MEASURE_PID/--server-pid \$PID}"; bcmd="${bcmd//:$PORT\//:\$PORT\/}"
            scmd="${scmd//$ROOT\//}"; bcmd="${bcmd//$ROOT\//}"
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$scen" "$r" "$status" "$dir/bench.json" "$scmd" "$bcmd" >>"$runs"
        done
    done
done

node "$BENCH/report.js" "$RESULTS" "$OUT"
log "table written to $OUT; raw results in $RESULTS"
((failed == 0)) || { log "$failed run(s) failed"; exit 1; }
