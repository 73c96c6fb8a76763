#!/usr/bin/env bash
# Scenario scripts for our library, run through the harness the way a node
# drives it. One PASS/FAIL line per scenario.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-$PWD/build}
LIB=$BUILD/libeva-virtual-controller.so
HARNESS=$BUILD/abi-harness
S=tests/scenarios
LOGS=$BUILD/test-logs/scenarios
mkdir -p "$LOGS"

# scenario NAME CONFIG SCRIPT [extra harness args...]
# Each scenario gets a fresh data_path (the service's folder, where the
# library keeps its variable journal) unless it passes --data-path: runs of
# one service that must see each other's variables share one.
scenario() {
    local name=$1 config=$2 script=$3
    shift 3
    local own=(--data-path "$LOGS/data/$name")
    case " $* " in *" --data-path "* | *" --eva-dir "*) own=() ;; *) rm -rf "$LOGS/data/$name" ;; esac
    if timeout 300 "$HARNESS" run "$LIB" --config "$config" --script "$script" "${own[@]}" "$@" \
        >"$LOGS/$name.out" 2>"$LOGS/$name.err"; then
        echo "PASS scenario/$name"
    else
        echo "FAIL scenario/$name: exit $?; $(grep -iE 'expect|fail|error' "$LOGS/$name.err" | head -3 | tr '\n' ' ')"
    fi
}

scenario demo examples/virtual.yml examples/demo.yml
scenario items $S/items.svc.yml $S/items.yml
scenario autocreate $S/autocreate.svc.yml $S/autocreate.yml
scenario stress-8x100k $S/stress.svc.yml $S/stress.yml --pool 8
scenario vars $S/vars.svc.yml $S/vars.yml
scenario pull $S/pull.svc.yml $S/pull.yml
scenario bind $S/bind.svc.yml $S/bind.yml
scenario failmode $S/failmode.svc.yml $S/failmode.yml --fail-mode

registry=$(mktemp -u "$LOGS/registry.XXXXXX")
folder=$(mktemp -d "$LOGS/svc-data.XXXXXX")
scenario persist-first-run $S/persist.svc.yml $S/persist-1.yml --registry "$registry" --data-path "$folder"
scenario persist-second-run $S/persist-2.svc.yml $S/persist-2.yml --registry "$registry" --data-path "$folder"
rm -rf "$registry" "$folder"

scenario actions $S/actions.svc.yml $S/actions.yml --check-actions

# Both runtimes (the template's workers: 1 is EVA ICS 4.2's one thread, where
# a bus call inside a lifecycle callback hangs: the harness exits 6 on one):
# start, serve, stop by the `stop` method and by the launcher; the core
# becomes active 2 s after ready and must end up with every item's state;
# nothing set before a clean stop is lost (two runs on one registry and one
# EVA dir, so one service folder).
for w in 1 2; do
    scenario runtime-serve-w$w $S/runtime.svc.yml $S/runtime-serve.yml --workers $w
    scenario runtime-sigterm-w$w $S/runtime.svc.yml $S/runtime-sigterm.yml --workers $w
    scenario core-activation-w$w $S/core-activation.svc.yml $S/core-activation.yml --workers $w --core-delay 2
    registry=$(mktemp -u "$LOGS/registry.XXXXXX")
    eva=$(mktemp -d "$LOGS/eva.XXXXXX")
    scenario stop-keeps-first-w$w $S/stop-keeps.svc.yml $S/stop-keeps-1.yml --workers $w \
        --registry "$registry" --eva-dir "$eva"
    scenario stop-keeps-second-w$w $S/stop-keeps.svc.yml $S/stop-keeps-2.yml --workers $w \
        --registry "$registry" --eva-dir "$eva"
    rm -rf "$registry" "$eva"
done
# No service folder (user nobody): the registry alone, written at the stop
# where that cannot hang (workers 2).
registry=$(mktemp -u "$LOGS/registry.XXXXXX")
eva=$(mktemp -d "$LOGS/eva.XXXXXX")
scenario stop-keeps-nobody-first $S/stop-keeps-nobody.svc.yml $S/stop-keeps-1.yml --registry "$registry" --eva-dir "$eva"
scenario stop-keeps-nobody-second $S/stop-keeps-nobody.svc.yml $S/stop-keeps-2.yml --registry "$registry" --eva-dir "$eva"
rm -rf "$registry" "$eva"

# Faults from the launcher (--fault): the library keeps serving calls, logs
# what failed, retries action events on BUSY, and starts on the config seeds
# when the registry is down.
# logged NAME PATTERN WHAT: the scenario's stderr has a line matching PATTERN
logged() {
    if grep -qE "$2" "$LOGS/$1.err"; then
        echo "PASS scenario/$1/log: $3"
    else
        echo "FAIL scenario/$1/log: no line matching '$2' ($3)"
    fi
}
scenario faults-serve $S/faults-serve.svc.yml $S/faults-serve.yml --fault publish=busy:1 --fault rpc=error:1
logged faults-serve 'publish to RAW/sensor/f/a failed' "a RAW event the bus refused"
logged faults-serve 'cannot read variables from .*using the configured ones' "the failed registry read"
logged faults-serve 'cannot persist variables' "the failed write-through"
# The first and third runs share a folder (the journal of the first run's
# stop); the second gets its own, so that it shows the registry-down path
# (the config seeds) rather than the journal it would otherwise fall back to.
registry=$(mktemp -u "$LOGS/registry.XXXXXX")
folder=$(mktemp -d "$LOGS/svc-data.XXXXXX")
scenario faults-registry-first $S/faults-registry-down.svc.yml $S/faults-registry-1.yml --registry "$registry" \
    --data-path "$folder"
scenario faults-registry-down $S/faults-registry-down.svc.yml $S/faults-registry-down.yml \
    --registry "$registry" --fault registry=down
logged faults-registry-down 'cannot read variables .*using the configured ones' "started on the config seeds"
logged faults-registry-down 'cannot persist variables' "the write-through it could not make"
scenario faults-registry-back $S/faults-registry-down.svc.yml $S/faults-registry-3.yml --registry "$registry" \
    --data-path "$folder"
rm -rf "$registry" "$folder"
scenario faults-rpc-timeout $S/faults-timeout.svc.yml $S/faults-timeout.yml --fault rpc=timeout:1 --check-actions
logged faults-rpc-timeout 'failed: step 1 \(call\).*timeout' "the macro's timed-out call"
scenario faults-subscribe-busy $S/bind.svc.yml $S/bind.yml --fault subscribe=busy:0.8 --seed 4
logged faults-subscribe-busy 'library ops: .* [1-9][0-9]* BUSY' "SUBSCRIBE answered BUSY, then retried"

# The actions stress (tests/gen-actions-stress.py): thousands of actions over
# 20 units with terminate/kill and a stop in the second burst; under 10% BUSY
# publishes and 5% RPC errors, then under 50% BUSY publishes, every accepted
# uuid gets exactly one terminal event (--check-actions).
# ledger NAME: prints the harness's action ledger line as a PASS line
ledger() {
    local line
    line=$(grep -E '^actions: ' "$LOGS/$1.err" | tail -1)
    if [ -n "$line" ] && echo "$line" | grep -q ' 0 violations'; then
        echo "PASS scenario/$1/ledger: $line"
    else
        echo "FAIL scenario/$1/ledger: ${line:-no actions line}"
    fi
}
python3 tests/gen-actions-stress.py --seed 6 >"$LOGS/actions-stress-faults.yml" 2>/dev/null
scenario actions-stress-faults $S/actions-stress-faults.svc.yml "$LOGS/actions-stress-faults.yml" \
    --check-actions --fault publish=busy:0.1 --fault rpc=error:0.05 --seed 6 --no-frames
ledger actions-stress-faults
python3 tests/gen-actions-stress.py --seed 7 --actions 600 --second 300 >"$LOGS/actions-stress-busy.yml" 2>/dev/null
scenario actions-stress-busy $S/actions-stress-faults.svc.yml "$LOGS/actions-stress-busy.yml" \
    --check-actions --fault publish=busy:0.5 --fault rpc=error:0.2 --seed 7 --no-frames
ledger actions-stress-busy
