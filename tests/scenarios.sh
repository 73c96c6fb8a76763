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
scenario() {
    local name=$1 config=$2 script=$3
    shift 3
    if timeout 300 "$HARNESS" run "$LIB" --config "$config" --script "$script" "$@" \
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
scenario persist-first-run $S/persist.svc.yml $S/persist-1.yml --registry "$registry"
scenario persist-second-run $S/persist-2.svc.yml $S/persist-2.yml --registry "$registry"
rm -f "$registry"

scenario actions $S/actions.svc.yml $S/actions.yml --check-actions
