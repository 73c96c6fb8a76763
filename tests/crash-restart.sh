#!/usr/bin/env bash
# Crash and restart: variables are set, the harness (and the library in it)
# is killed with SIGKILL, then started again on the same --registry FILE and
# the same --data-path (the service's folder, where the library journals its
# variables). What comes back is what the library had written through
# (journal, then registry) every persist_interval: with P, changes older
# than P seconds survive, younger ones may not; with 0 only a clean stop
# writes. The last cases stop cleanly (SIGTERM) instead: with a data_path
# nothing is lost; without one (user nobody) on a one-thread launcher the
# registry cannot be written at the stop, and the last P seconds are lost.
# One PASS/FAIL per case.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-$PWD/build}
LIB=${LIB:-$BUILD/libeva-virtual-controller.so}
HARNESS=${HARNESS:-$BUILD/abi-harness}
LOGS=$BUILD/test-logs/crash-restart
rm -rf "$LOGS"
mkdir -p "$LOGS"

# crash NAME CONFIG_YAML SCRIPT_YAML REPLIES KILL_AFTER [SIGNAL]: runs SCRIPT
# (the harness stays up after it), waits for REPLIES var.set replies, waits
# KILL_AFTER seconds more, then SIGNAL (default KILL). The registry:
# $LOGS/NAME.registry, the service's folder: $LOGS/NAME.data
crash() {
    local name=$1 config=$2 script=$3 replies=$4 after=$5 signal=${6:-KILL}
    printf '%s\n' "$config" >"$LOGS/$name.svc.yml"
    printf '%s\n' "$script" >"$LOGS/$name.yml"
    "$HARNESS" run "$LIB" --config "$LOGS/$name.svc.yml" --script "$LOGS/$name.yml" \
        --registry "$LOGS/$name.registry" --data-path "$LOGS/$name.data" --keep-running --no-frames \
        >"$LOGS/$name.out" 2>"$LOGS/$name.err" &
    local pid=$! waited=0 got
    while got=$(grep -c '"reply":"var.set","code":0' "$LOGS/$name.out" 2>/dev/null); [ "${got:-0}" -lt "$replies" ]; do
        sleep 0.1
        waited=$((waited + 1))
        if [ $waited -gt 300 ] || ! kill -0 $pid 2>/dev/null; then
            kill -9 $pid 2>/dev/null
            wait $pid 2>/dev/null
            return 1
        fi
    done
    sleep "$after"
    kill -"$signal" $pid
    wait $pid 2>/dev/null
    return 0
}

# restart NAME: the second life on the same registry; prints the variable
# names it found (sorted, space-separated) and the state of item sensor:cr/t
restart() {
    local name=$1
    "$HARNESS" run "$LIB" --config "$LOGS/$name.svc.yml" --registry "$LOGS/$name.registry" \
        --data-path "$LOGS/$name.data" --no-frames --call var.list '{full: true}' --call get '{i: "sensor:cr/t"}' \
        >"$LOGS/$name.restart.out" 2>"$LOGS/$name.restart.err" || return 1
    local vars item
    vars=$(grep '"reply":"var.list"' "$LOGS/$name.restart.out" | grep -o '"id":"[a-z_]*"' | cut -d'"' -f4 | sort | tr '\n' ' ')
    item=$(grep '"reply":"get"' "$LOGS/$name.restart.out" | grep -o '"status":[-0-9]*,"value":[^}]*')
    echo "vars: ${vars% } | item: $item"
}

# check NAME EXPECTED_VARS DESCRIPTION
check() {
    local name=$1 expected=$2 what=$3 got
    got=$(restart "$name") || { echo "FAIL crash-restart/$name: the restart failed, see $LOGS/$name.restart.err"; return; }
    if [ "$got" = "vars: $expected | item: \"status\":1,\"value\":null" ]; then
        echo "PASS crash-restart/$name: $what (after restart: ${got})"
    else
        echo "FAIL crash-restart/$name: expected vars: $expected and the item as configured, got: $got"
    fi
}

set_var() { printf -- '- call: var.set\n  params: {i: "%s", value: %s}\n  expect: {code: 0}\n' "$1" "$2"; }
set_item() { printf -- '- call: set\n  params: {i: "sensor:cr/t", value: %s}\n  expect: {code: 0}\n' "$1"; }
steps() { printf '%s\n' "$@"; }

# counter STEPS PAUSE: var n = 1..STEPS, PAUSE seconds apart
counter() {
    local k
    for k in $(seq 1 "$1"); do
        set_var n "$k"
        [ "$2" = 0 ] || printf -- '- sleep: %s\n' "$2"
    done
}

# window NAME STEPS PAUSE INTERVAL [SLACK]: after the restart, how many
# seconds of counter updates were lost; at most INTERVAL + SLACK (default
# 0.5 s of scheduling slack)
window() {
    local name=$1 steps=$2 pause=$3 interval=$4 slack=${5:-0.5} n lost
    n=$(grep '"reply":"var.list"' "$LOGS/$name.restart.out" | grep -o '"id":"n","value":[0-9]*' | cut -d: -f3)
    n=${n:-0}
    lost=$(awk -v s="$steps" -v n="$n" -v p="$pause" 'BEGIN { printf "%.2f", (s - n) * p }')
    if awk -v l="$lost" -v i="$interval" -v s="$slack" 'BEGIN { exit !(l <= i + s) }'; then
        echo "PASS crash-restart/$name-window: counter at $n of $steps after the restart: lost the last ${lost} s of changes (persist_interval $interval s)"
    else
        echo "FAIL crash-restart/$name-window: counter at $n of $steps: lost ${lost} s of changes, more than persist_interval $interval s"
    fi
}

# 1. The default persist_interval (5 s): a counter updated every 0.1 s for
#    7 s, killed right after its last update: what was set more than 5 s
#    before the kill survives, the last seconds may not.
cfg='config:
  items: [sensor:cr/t]
  vars: {seed: 0}'
script=$(steps "$(set_var old 1)" "$(set_item 5)" "$(counter 70 0.1)")
if crash default "$cfg" "$script" 71 0; then
    check default "n old seed" "default persist_interval (5 s): kept what was written through before the kill; item state back to config"
    window default 70 0.1 5
else
    echo "FAIL crash-restart/default: the first run did not get its replies, see $LOGS/default.err"
fi

# 2. A short persist_interval (0.2 s): a counter every 0.05 s for 1 s,
#    killed right after its last update: at most the last 0.2 s are lost.
cfg='config:
  items: [sensor:cr/t]
  vars: {seed: 0}
  persist_interval: 0.2'
script=$(steps "$(set_var old 1)" "$(set_item 5)" "$(counter 20 0.05)")
if crash short "$cfg" "$script" 21 0; then
    check short "n old seed" "persist_interval 0.2 s: kept what was set before the last write-through"
    window short 20 0.05 0.2
else
    echo "FAIL crash-restart/short: the first run did not get its replies, see $LOGS/short.err"
fi

# 3. persist_interval 0: only a clean stop writes; a SIGKILL loses every
#    change of that life (the seeds come back).
cfg='config:
  items: [sensor:cr/t]
  vars: {seed: 0}
  persist_interval: 0'
script=$(steps "$(set_var old 1)" "- sleep: 1" "$(set_var young 2)")
if crash zero "$cfg" "$script" 2 0.5; then
    check zero "seed" "persist_interval 0: lost every change of the killed run (only a clean stop writes)"
else
    echo "FAIL crash-restart/zero: the first run did not get its replies, see $LOGS/zero.err"
fi

# 4. A clean stop (SIGTERM) with a data_path, write-throughs far apart
#    (60 s): the stop journals everything, the restart takes the journal.
cfg='config:
  items: [sensor:cr/t]
  vars: {seed: 0}
  persist_interval: 60'
script=$(steps "$(set_var old 1)" "$(counter 20 0.05)")
if crash stop-journal "$cfg" "$script" 21 0 TERM; then
    check stop-journal "n old seed" "clean stop with a data_path (persist_interval 60 s): nothing lost"
    window stop-journal 20 0.05 0 0
else
    echo "FAIL crash-restart/stop-journal: the first run did not get its replies, see $LOGS/stop-journal.err"
fi

# 5. A clean stop without a data_path (user nobody) on the one-thread
#    runtime (workers 1): only the write-throughs reach the registry, so the
#    stop loses the changes of the last persist_interval (2 s here), as
#    the library warns at start.
cfg='config:
  items: [sensor:cr/t]
  vars: {seed: 0}
  persist_interval: 2
user: nobody
workers: 1'
script=$(steps "$(set_var old 1)" "$(counter 60 0.05)")
if crash stop-nobody "$cfg" "$script" 61 0 TERM; then
    check stop-nobody "n old seed" "clean stop, workers 1, no data_path: kept what was written through"
    window stop-nobody 60 0.05 2
    if grep -q 'workers: 1 and no data_path' "$LOGS/stop-nobody.err"; then
        echo "PASS crash-restart/stop-nobody-warning: the start-up warning states the bound"
    else
        echo "FAIL crash-restart/stop-nobody-warning: no start-up warning about what a stop loses"
    fi
else
    echo "FAIL crash-restart/stop-nobody: the first run did not get its replies, see $LOGS/stop-nobody.err"
fi
