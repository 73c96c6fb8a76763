#!/usr/bin/env bash
# The fixed benchmark suite of `make bench`: our library against the C
# reference service (abi-harness/reference, msgpack-c linked in), one table.
# Every ratio comes from one process run that alternates rounds of both
# libraries (abi-harness bench --vs), so it holds on a shared, noisy machine.
#
#   tests/bench-suite.sh            the suite (about a minute and a half on 2 cores)
#   tests/bench-suite.sh --smoke    correctness of the bench mode only (make test):
#                                   PASS/FAIL lines, no timing assertion
#
# Environment: BUILD (default build/), QUICK=1 shortens every case (a rough table).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-$ROOT/build}
LIB=$BUILD/libeva-virtual-controller.so
REF=$BUILD/reference/libeva-reference-static.so
HARNESS=$BUILD/abi-harness
WORK=$BUILD/bench
mkdir -p "$WORK"

for f in "$LIB" "$REF" "$HARNESS"; do
    [ -e "$f" ] || { echo "FAIL bench: $f is missing (make library harness reference)"; exit 1; }
done

# ---------------------------------------------------------------- configs
items_config() { # file count
    {
        echo "config:"
        echo "  items:"
        for i in $(seq 1 "$2"); do echo "    - sensor:bench/s$i"; done
    } >"$1"
}
items_config "$WORK/items.yml" 1000
{
    echo "config:"
    echo "  items: [sensor:bench/s1, sensor:env/temp]"
    echo "  vars:"
    printf "    arr: ["; for i in $(seq 0 99); do printf "%s%d" "$([ "$i" = 0 ] || echo ", ")" "$i"; done; echo "]"
    echo "  bind:"
    echo "    env_temp: sensor:env/temp"
    echo "  persist_interval: 5"
} >"$WORK/vars.yml"
cat >"$WORK/actions.yml" <<'EOF'
workers: 2
config:
  units:
    unit:bench/u1: {action_time: 0}
EOF

GET='{"i": "sensor:bench/s500"}'
SET='{"i": "sensor:bench/s1", "status": 1, "value": 42.5}'
VSET='{"i": "arr[50]", "value": 1.5}'
VGET='{"i": "arr[50]"}'
FRAME_TOPIC=ST/LOC/sensor/env/temp
FRAME='{"status": 1, "value": 22.5}'
ACTION='{"uuid": {"$uuid": "$fresh"}, "i": "unit:bench/u1", "params": {"value": 1}}'

bench() { "$HARNESS" bench "$@" --quiet; }
# field VALUE of "PREFIX ... key=VALUE" in a log
field() { # log line-prefix key
    grep -E "^$2" "$1" | head -n 1 | tr ' ' '\n' | sed -n "s/^$3=//p" | head -n 1
}

# ---------------------------------------------------------------- smoke
if [ "${1:-}" = --smoke ]; then
    pass=0
    fail=0
    ok() { pass=$((pass + 1)); echo "PASS bench-smoke/$1"; }
    bad() { fail=$((fail + 1)); echo "FAIL bench-smoke/$1: $2"; sed 's/^/    /' "$3" | tail -n 15; }
    smoke() { # name expected-exit log -- bench args...
        local name=$1 want=$2 log=$WORK/smoke-$1.log
        shift 4
        timeout 60 "$HARNESS" bench "$@" >"$log" 2>&1
        local rc=$?
        if [ "$rc" != "$want" ]; then bad "$name" "exit $rc, expected $want" "$log"; return 1; fi
        return 0
    }
    has() { # name log regex...
        local name=$1 log=$2
        shift 2
        for re in "$@"; do
            if ! grep -qE "$re" "$log"; then bad "$name" "no line matching /$re/" "$log"; return 1; fi
        done
        ok "$name"
    }
    L=$WORK/smoke
    smoke get 0 x -- "$LIB" --config "$WORK/items.yml" --call get "$GET" --count 1000 --warmup 0 &&
        has get "$L-get.log" '^startup A: dlopen_ms=[0-9.]+ init_ms=[0-9.]+ ready_ms=[0-9.]+ file_bytes=[0-9]+$' \
            '^reply A get: \{"oid":"sensor:bench/s500","status":1,"value":null\}$' \
            '^result A: calls=1000 seconds=[0-9.]+ calls_per_s=[0-9]+ ns_per_call=[0-9.]+ p50_ns=[0-9]+ p99_ns=[0-9]+ cpu_s=[0-9.]+$' \
            '^rss: before_kib=[0-9]+ after_kib=[0-9]+$'
    smoke vs-reference 0 x -- "$LIB" --config "$WORK/items.yml" --call get "$GET" --count 1000 --warmup 0 --vs "$REF" &&
        has vs-reference "$L-vs-reference.log" '^reply B get: \{"oid":"sensor:bench/s500","status":1,"value":null\}$' \
            '^round 10: A [0-9]+ calls/s \([0-9.]+ ns/call\), B [0-9]+ calls/s \([0-9.]+ ns/call\), A/B [0-9.]+$' \
            '^result B: calls=1000 ' '^ratio A/B: median=[0-9.]+ min=[0-9.]+ max=[0-9.]+ rounds=10$'
    # 1000 RAW frames, plus the log lines, counted as frames too (one or two:
    # "waiting for the core" only when it was not yet active at the first poll)
    smoke set-raw 0 x -- "$LIB" --config "$WORK/items.yml" --call set "$SET" --count 1000 --warmup 0 --vs "$REF" --threads 2 &&
        has set-raw "$L-set-raw.log" '^reply A set: \(no payload\)$' \
            '^published A: frames=100(1 .* logs=1|2 .* logs=2) ' '^published B: frames=100(1 .* logs=1|2 .* logs=2) '
    smoke list 0 x -- "$LIB" --config "$WORK/items.yml" --call list --count 20 --warmup 0 --vs "$REF" --rounds 2 &&
        has list "$L-list.log" '^reply A list: \[\{"oid":"sensor:bench/s1","status":1,"value":null\},' '^result A: calls=20 '
    smoke two-calls 0 x -- "$LIB" --config "$WORK/vars.yml" --call var.set "$VSET" --call var.get "$VGET" --count 500 --warmup 0 &&
        has two-calls "$L-two-calls.log" '^reply A var.get: 1.5$' '^result A: calls=1000 '
    smoke frames 0 x -- "$LIB" --config "$WORK/vars.yml" --frame "$FRAME_TOPIC" "$FRAME" --count 1000 --threads 2 --warmup 0 &&
        has frames "$L-frames.log" '^result A: frames=1000 seconds=[0-9.]+ frames_per_s=[0-9]+ ns_per_frame='
    smoke actions 0 x -- "$LIB" --config "$WORK/actions.yml" --call action "$ACTION" --count 300 --threads 2 --warmup 0 &&
        has actions "$L-actions.log" '^actions A: accepted=301 terminal=301$'
    smoke threads 0 x -- "$LIB" --config "$WORK/items.yml" --call get "$GET" --count 400 --warmup 0 --threads 2 --vs-threads 1 &&
        has threads "$L-threads.log" '^target B: A with 1 thread' '^result A: calls=400 ' '^result B: calls=400 '
    smoke same-file 0 x -- "$LIB" --config "$WORK/items.yml" --call get "$GET" --count 200 --warmup 0 --vs "$LIB" --rounds 2 &&
        has same-file "$L-same-file.log" '^startup B: ' '^ratio A/B: median='
    smoke rss-at 0 x -- "$LIB" --config "$WORK/items.yml" --call get "$GET" --count 5000 --warmup 0 --rss-at 2000 &&
        has rss-at "$L-rss-at.log" '^rss after 2000 calls: kib=[0-9]+$'
    # a reply that is not a success ends the bench: exit 1 and a FAIL line
    smoke failure 1 x -- "$LIB" --config "$WORK/items.yml" --call get '{"i": "sensor:bench/none"}' --count 10 --warmup 0 &&
        has failure "$L-failure.log" '^FAIL A get \{"i":"sensor:bench/none"\}: svc_on_rpc_call returned -32001 \(NOT_FOUND\)$'
    smoke usage 2 x -- "$LIB" --count 10 &&
        has usage "$L-usage.log" 'nothing to measure'
    echo "bench-smoke: $pass passed, $fail failed"
    [ "$fail" = 0 ]
    exit
fi

# ---------------------------------------------------------------- suite
if [ "${QUICK:-0}" = 1 ]; then S=0.6; ROUNDS=6; RSS_COUNT=250000; RSS_AT=25000; else S=3; ROUNDS=20; RSS_COUNT=2500000; RSS_AT=100000; fi
started=$(date +%s)
rows=()
failed_runs=0
row() { rows+=("| $1 | $2 | $3 | $4 |"); }
verdict() { # awk-expression -> met / not met
    if awk "BEGIN { exit !($1) }"; then echo met; else echo "not met"; fi
}
run() { # name -- bench args
    local name=$1 log=$WORK/$1.log
    shift 2
    echo "== $name: abi-harness bench $*" | sed "s|$ROOT/||g"
    if ! timeout 120 "$HARNESS" bench "$@" --quiet >"$log" 2>&1; then
        echo "   failed, see $log"
        tail -n 5 "$log" | sed 's/^/   /'
        failed_runs=$((failed_runs + 1))
        return 1
    fi
    grep -E '^(result|ratio|rss|actions)' "$log" | sed 's/^/   /'
}
fmt_ns() { awk -v v="$1" 'BEGIN { if (v >= 10000) printf "%.1f µs", v / 1000; else printf "%.0f ns", v }'; }
fmt_rate() { printf '%.0f' "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }

ratio_row() { # case-name log target
    local ratio a b
    ratio=$(field "$2" 'ratio A/B' median)
    a=$(field "$2" 'result A' ns_per_call)
    b=$(field "$2" 'result B' ns_per_call)
    if [ -z "$ratio" ]; then row "$1" "(run failed)" "≤ $3× C" "not met"; return; fi
    row "$1" "${ratio}× C (median of $ROUNDS rounds; ours $(fmt_ns "$a"), C $(fmt_ns "$b") per call)" "≤ $3× C" \
        "$(verdict "$ratio <= $3")"
}

run get -- "$LIB" --config "$WORK/items.yml" --call get "$GET" --vs "$REF" --seconds "$S" --rounds "$ROUNDS"
ratio_row '`get` of one of 1,000 items, 1 thread' "$WORK/get.log" 1.3

run set -- "$LIB" --config "$WORK/items.yml" --call set "$SET" --vs "$REF" --seconds "$S" --rounds "$ROUNDS"
ratio_row '`set` with RAW publish, 1 thread' "$WORK/set.log" 1.3

run get-threads -- "$LIB" --config "$WORK/items.yml" --call get "$GET" --threads 2 --vs-threads 1 --seconds "$S" --rounds "$ROUNDS"
r=$(field "$WORK/get-threads.log" 'ratio A/B' median)
if [ -n "$r" ]; then
    scale=$(awk -v r="$r" 'BEGIN { printf "%.2f", 1 / r }')
    a=$(field "$WORK/get-threads.log" 'result A' calls_per_s)
    b=$(field "$WORK/get-threads.log" 'result B' calls_per_s)
    # How much CPU the threads got: on a machine other jobs share, fewer than
    # 2 CPUs for the 2 threads, which caps the ratio whatever the library does.
    cpus=$(awk -v c="$(field "$WORK/get-threads.log" 'result A' cpu_s)" -v s="$(field "$WORK/get-threads.log" 'result A' seconds)" 'BEGIN { printf "%.2f", c / s }')
    per_cpu=$(awk -v ca="$(field "$WORK/get-threads.log" 'result A' calls)" -v ta="$(field "$WORK/get-threads.log" 'result A' cpu_s)" \
        -v cb="$(field "$WORK/get-threads.log" 'result B' calls)" -v tb="$(field "$WORK/get-threads.log" 'result B' cpu_s)" \
        'BEGIN { printf "%.2f", (ca / ta) / (cb / tb) }')
    row '`get`, 2 threads vs 1 thread' "${scale}× ($(fmt_rate "$a") vs $(fmt_rate "$b") calls/s; the 2 threads got $cpus CPUs, and made ${per_cpu}× as many calls per CPU-second as 1 thread)" "≥ 1.8×" "$(verdict "$scale >= 1.8")"
else
    row '`get`, 2 threads vs 1 thread' "(run failed)" "≥ 1.8×" "not met"
fi

run list -- "$LIB" --config "$WORK/items.yml" --call list --vs "$REF" --seconds "$S" --rounds 10
ROUNDS_SAVED=$ROUNDS; ROUNDS=10
ratio_row '`list` of 1,000 items' "$WORK/list.log" 1.5
ROUNDS=$ROUNDS_SAVED

run vars -- "$LIB" --config "$WORK/vars.yml" --call var.set "$VSET" --call var.get "$VGET" --seconds "$(awk -v s="$S" 'BEGIN { print s / 2 }')"
v=$(field "$WORK/vars.log" 'result A' ns_per_call)
p50=$(field "$WORK/vars.log" 'result A' p50_ns)
if [ -n "$v" ]; then row '`var.set` + `var.get` of a 100-element array element' "$(fmt_ns "$v") per call (p50 $(fmt_ns "$p50"))" "report" "reported"
else row '`var.set` + `var.get` of a 100-element array element' "(run failed)" "report" "not met"; fi

run frames -- "$LIB" --config "$WORK/vars.yml" --frame "$FRAME_TOPIC" "$FRAME" --threads 2 --seconds "$S"
v=$(field "$WORK/frames.log" 'result A' frames_per_s)
if [ -n "$v" ]; then row 'bound state frames ingested (frame mode), 2 threads' "$(fmt_rate "$v") per second" "≥ 1,000,000 /s" "$(verdict "$v >= 1000000")"
else row 'bound state frames ingested (frame mode), 2 threads' "(run failed)" "≥ 1,000,000 /s" "not met"; fi

run actions -- "$LIB" --config "$WORK/actions.yml" --call action "$ACTION" --threads 2 --seconds "$S"
v=$(field "$WORK/actions.log" 'result A' calls_per_s)
ev=$(field "$WORK/actions.log" 'published A' act)
if [ -n "$v" ]; then row 'actions with `action_time: 0`, all events published (2 threads)' "$(fmt_rate "$v") per second ($(fmt_rate "$ev") ACT events in all)" "≥ 100,000 /s" "$(verdict "$v >= 100000")"
else row 'actions with `action_time: 0`, all events published (2 threads)' "(run failed)" "≥ 100,000 /s" "not met"; fi

run rss -- "$LIB" --config "$WORK/vars.yml" --call get '{"i": "sensor:bench/s1"}' --call set "$SET" --call var.set "$VSET" --call var.get "$VGET" \
    --threads 2 --count "$RSS_COUNT" --warmup 0 --rss-at "$RSS_AT" --sample-every 64
at=$(grep -E '^rss after' "$WORK/rss.log" | sed -n 's/.*kib=//p')
after=$(field "$WORK/rss.log" 'rss:' after_kib)
calls=$(field "$WORK/rss.log" 'result A' calls)
if [ -n "$at" ] && [ -n "$after" ]; then
    grow=$((after - at))
    row "RSS after $(fmt_rate "$calls") mixed calls (get, set, var.set, var.get) vs after $(fmt_rate "$RSS_AT")" \
        "$(awk -v g="$grow" 'BEGIN { printf "%+d KiB", g }') ($at → $after KiB)" "grows < 1 MB" "$(verdict "$grow < 1024")"
else
    row "RSS after mixed calls" "(run failed)" "grows < 1 MB" "not met"
fi

# startup: the median of 5 launches, with the 1,000-item config
inits=()
for i in 1 2 3 4 5; do
    "$HARNESS" bench "$LIB" --config "$WORK/items.yml" --call test --count 1 --warmup 0 --quiet >"$WORK/startup.log" 2>&1 &&
        inits+=("$(field "$WORK/startup.log" 'startup A' init_ms)")
done
size=$(stat -c %s "$LIB")
if [ "${#inits[@]}" -gt 0 ]; then
    init=$(printf '%s\n' "${inits[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    row '`dlopen` to `svc_init` returned (1,000 items); library file' "$init ms (median of ${#inits[@]}); $(awk -v s="$size" 'BEGIN { printf "%.1f MB", s / 1e6 }') ($size bytes)" \
        "≤ 20 ms; ≤ 8 MB" "$(verdict "$init <= 20 && $size <= 8000000")"
else
    row '`dlopen` to `svc_init` returned; library file' "(run failed)" "≤ 20 ms; ≤ 8 MB" "not met"
fi

took=$(( $(date +%s) - started ))
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr); $(date -u '+%Y-%m-%d %H:%M UTC'); suite took ${took} s"
echo "C baseline: $(basename "$REF") (abi-harness/reference, msgpack-c linked in); ours: $(basename "$LIB")"
echo
echo "| case | measured | target | result |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
[ "$failed_runs" = 0 ]
