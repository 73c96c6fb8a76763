#!/usr/bin/env bash
# The Swift SDK at compile time, and the guide's own code.
#  1. Every spelling of an FFIService member in tests/sdk-compile/cases.txt
#     either builds or fails to build with the error the case names: a
#     lifecycle method an author misspells (async, static, a typo, ...) must
#     not compile and be ignored.
#  2. The README's "Write your own FFI service in Swift": its service code is
#     built into a library with mk/FFIExports.swift, run by the harness with
#     the README's template and call, and the output must be the README's;
#     a refused call's reason must reach the log (--log-level debug).
# One PASS/FAIL line each. Cases are typechecked against the EvaFFI module of
# the debug build (`swift build --target EvaFFI`, shared with `swift test`),
# so each costs a fraction of a second.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-$ROOT/build}
SWIFT=${SWIFT:-swift}
SWIFTC=${SWIFTC:-$(dirname "$(command -v "$SWIFT")")/swiftc}
HARNESS=$BUILD/abi-harness
WORK=$BUILD/sdk-compile
mkdir -p "$WORK"

if ! $SWIFT build --target EvaFFI >"$WORK/build.log" 2>&1; then
    echo "FAIL sdk-compile/build: swift build --target EvaFFI failed, see $WORK/build.log"
    exit 1
fi
BIN=$($SWIFT build --show-bin-path)
FLAGS=(-swift-version 6 -I "$BIN/Modules" -I "$ROOT/Sources/CEvaFFI")

# 1. FFIService spellings
n=0
while IFS= read -r line; do
    case "$line" in '#'* | '') continue ;; esac
    n=$((n + 1))
    member=$(sed -E 's/^ *([^|]*[^| ]) *\|.*/\1/' <<<"$line")
    spelling=$(sed -E 's/^[^|]*\| *(.*[^ ])? *\|[^|]*$/\1/' <<<"$line")
    expect=$(sed -E 's/.*\| *//' <<<"$line")
    name="sdk-compile/$member/$n${spelling:+ $spelling}"
    [ -n "$spelling" ] || name="$name (left out)"
    src=$WORK/case.swift
    # the tagged line replaced by the spelling (or dropped)
    awk -v tag="// @$member" -v with="$spelling" '
        index($0, tag) { if (with != "") print "    " with; next } { print }' \
        tests/sdk-compile/Service.swift.in >"$src"
    if ! grep -qF "// @$member" tests/sdk-compile/Service.swift.in; then
        echo "FAIL $name: no line tagged @$member in Service.swift.in"; continue
    fi
    "$SWIFTC" -typecheck "${FLAGS[@]}" "$src" >"$WORK/case.log" 2>&1; rc=$?
    first_error=$(grep -m1 'error:' "$WORK/case.log" | sed -E 's/^.*error: //')
    if [ "$expect" = build ]; then
        if [ $rc = 0 ]; then echo "PASS $name: builds"
        else echo "FAIL $name: must build, got: $first_error"; fi
    else
        want=${expect#fail: }
        if [ $rc = 0 ]; then echo "FAIL $name: builds, but must fail with \"$want\""
        elif grep -qF -- "$want" "$WORK/case.log"; then echo "PASS $name: fails ($want)"
        else echo "FAIL $name: fails, but not with \"$want\": $first_error"; fi
    fi
done <tests/sdk-compile/cases.txt

# 2. The guide, as a reader copies it. block HEADING LANG: the first fenced
# block of LANG after the line that starts with HEADING.
block() {
    awk -v head="$1" -v fence="\`\`\`$2" '
        index($0, head) == 1 { found = 1; next }
        found && !inside && $0 == fence { inside = 1; next }
        inside && /^```/ { exit }
        inside { print }' README.md
}
GUIDE=$WORK/guide
rm -rf "$GUIDE" && mkdir -p "$GUIDE"
block '`Sources/MyService/MyService.swift`' swift >"$GUIDE/MyService.swift"
block '`my-service.yml`' yaml >"$GUIDE/my-service.yml"
# the expected output: the commented JSON lines under the run command
awk '/abi-harness run build\/libmy-service.so/ { found = 1; next }
     found && /^# \{/ { sub(/^# /, ""); print; next }
     found && /^```/ { exit }' README.md >"$GUIDE/expected.out"
call_args=$(awk '/abi-harness run build\/libmy-service.so/ { found = 1; next }
     found && /--call/ { sub(/^ *--call /, ""); print; exit }' README.md)
lib=$GUIDE/libmy-service.so
if [ ! -s "$GUIDE/MyService.swift" ] || [ ! -s "$GUIDE/my-service.yml" ] || [ ! -s "$GUIDE/expected.out" ] || [ -z "$call_args" ]; then
    echo "FAIL sdk-guide/extract: the README section lost a block (service, template, run command or its output)"
elif ! "$SWIFTC" -emit-library "${FLAGS[@]}" -module-name MyService "$GUIDE/MyService.swift" mk/FFIExports.swift \
        "$BIN"/EAPI.build/*.o "$BIN"/EvaFFI.build/*.o -lmsgpackc -o "$lib" >"$GUIDE/build.log" 2>&1; then
    echo "FAIL sdk-guide/build: the README's service does not build: $(grep -m1 'error:' "$GUIDE/build.log" | sed -E 's/^.*error: //')"
else
    echo "PASS sdk-guide/build"
    method=${call_args%% *}
    params=$(sed -E "s/^[^ ]+ '(.*)'\$/\\1/" <<<"$call_args")
    timeout 60 "$HARNESS" run "$lib" --config "$GUIDE/my-service.yml" --call "$method" "$params" \
        >"$GUIDE/run.out" 2>"$GUIDE/run.err"
    rc=$?
    if [ $rc = 0 ] && cmp -s "$GUIDE/expected.out" "$GUIDE/run.out"; then echo "PASS sdk-guide/run-output"
    else echo "FAIL sdk-guide/run-output: exit $rc; differs from the README: $(diff "$GUIDE/expected.out" "$GUIDE/run.out" | grep '^[<>]' | head -3 | tr '\n' ' ')"; fi
    # a refused call: its reason reaches the log at debug, and not at info
    timeout 60 "$HARNESS" run "$lib" --config "$GUIDE/my-service.yml" --call "$method" '{"value": "hot"}' \
        --log-level debug >"$GUIDE/refused.out" 2>"$GUIDE/refused.err"
    want="[debug] call \"$method\" from eva.core: INVALID_PARAMS (-32602): params.value must be a number"
    if grep -qxF "$want" "$GUIDE/refused.err" && grep -q '"code":-32602' "$GUIDE/refused.out"; then
        echo "PASS sdk-guide/refusal-logged-at-debug"
    else echo "FAIL sdk-guide/refusal-logged-at-debug: no line \"$want\" (see $GUIDE/refused.err)"; fi
    timeout 60 "$HARNESS" run "$lib" --config "$GUIDE/my-service.yml" --call "$method" '{"value": "hot"}' \
        >/dev/null 2>"$GUIDE/refused-info.err"
    if grep -qF "call \"$method\" from" "$GUIDE/refused-info.err"; then
        echo "FAIL sdk-guide/refusal-hidden-at-info: logged although core.log_level is info"
    else echo "PASS sdk-guide/refusal-hidden-at-info"; fi
fi
