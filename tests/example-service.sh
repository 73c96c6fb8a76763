#!/usr/bin/env bash
# The SDK's example service (examples/hello-service) built like the product:
# linkage, `abi-harness check` on the one-thread (workers: 1) and the
# multi-thread (workers: 2) runtime, and its script (hello, an action and
# its events, exactly one terminal event per action). One PASS/FAIL line each.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-$PWD/build}
LIB=${HELLO_LIB:-$BUILD/libhello-service.so}
HARNESS=$BUILD/abi-harness
E=examples/hello-service
LOGS=$BUILD/test-logs/example-service
mkdir -p "$LOGS"

bash tests/link-check.sh "$LIB" | sed -E 's#^(PASS|FAIL) #\1 hello/link/#'

# check_on NAME TEMPLATE [harness args...]: check's own lines, prefixed
check_on() {
    local name=$1 config=$2
    shift 2
    timeout 600 "$HARNESS" check "$LIB" --config "$config" "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.err"
    local rc=$?
    sed -nE "s#^(PASS|FAIL|SKIP|WARN) #\1 hello/$name/#p" "$LOGS/$name.out"
    if [ "$rc" != 0 ] && ! grep -qE '^FAIL ' "$LOGS/$name.out"; then echo "FAIL hello/$name: exit $rc, see $LOGS/$name.err"; fi
}
check_on check-workers1 $E/hello.svc.yml
check_on check-workers2 $E/hello-workers2.svc.yml

for t in hello.svc.yml hello-workers2.svc.yml; do
    name=script-${t%.svc.yml}
    if timeout 120 "$HARNESS" run "$LIB" --config $E/$t --script $E/hello.yml --check-actions \
        >"$LOGS/$name.out" 2>"$LOGS/$name.err"; then
        echo "PASS hello/$name"
    else
        echo "FAIL hello/$name: exit $?; $(grep -iE 'expect|fail|error' "$LOGS/$name.err" | head -3 | tr '\n' ' ')"
    fi
done
# a refused call's reason is logged (debug: seen with --log-level debug only)
if timeout 120 "$HARNESS" run "$LIB" --config $E/hello.svc.yml --script $E/hello.yml --log-level debug \
    >"$LOGS/script-debug.out" 2>"$LOGS/script-debug.err" &&
    grep -qxF '[debug] call "hello" from eva.core: INVALID_PARAMS (-32602): params.name must be a string' "$LOGS/script-debug.err" &&
    grep -qxF '[debug] call "nope" from eva.core: METHOD_NOT_FOUND (-32601)' "$LOGS/script-debug.err"; then
    echo "PASS hello/log/refusal-reason-at-debug"
else echo "FAIL hello/log/refusal-reason-at-debug: no [debug] line naming the refused calls, see $LOGS/script-debug.err"; fi
if grep -q '^\[debug\] call ' "$LOGS/script-hello.err"; then
    echo "FAIL hello/log/refusal-hidden-at-info: refusals logged at the default level (info)"
else echo "PASS hello/log/refusal-hidden-at-info"; fi
# every lifecycle step logged (stderr during svc_init, the bus after)
for step in "init:" "prepare:" "launch:" "terminate:"; do
    if grep -q "\] $step" "$LOGS/script-hello.err"; then echo "PASS hello/log/$step"
    else echo "FAIL hello/log/$step: no log line"; fi
done
# the exports file is used unchanged: in this repository the controller and the
# example link to mk/FFIExports.swift (a service elsewhere copies it)
for copy in $E/FFIExports.swift Sources/EvaVirtualController/FFIExports.swift; do
    if cmp -s mk/FFIExports.swift "$copy"; then echo "PASS exports-copy/$copy"
    else echo "FAIL exports-copy/$copy: differs from mk/FFIExports.swift"; fi
done
