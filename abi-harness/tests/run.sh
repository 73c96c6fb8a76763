#!/usr/bin/env bash
# abi-harness's own tests, run against the C reference service and its
# deliberately broken variants (abi-harness/reference/).
#
#   abi-harness/tests/run.sh [BUILD_DIR]     (default: the repository's build/)
#
# Builds the reference libraries into BUILD_DIR/reference (and the harness
# when BUILD_DIR/abi-harness is missing), then:
#   - `abi-harness check` on the reference service: every check PASSes;
#   - `abi-harness check` on each broken variant: non-zero exit and the line
#     `FAIL <id>` for the check that variant breaks (or exit 0 and `WARN <id>`
#     where it breaks only a SHOULD of the ABI text);
#   - `abi-harness run` scenarios: JSON reply/frame lines, RAW frames, error
#     codes, --registry persistence across runs, --script expects (passing and
#     failing), a refused launch, both GET_RPC_RESULT modes, and valgrind;
#   - `check` on the reference with both built with ASan+UBSan (BUILD_DIR/asan;
#     HARNESS_TESTS_NO_SANITIZERS=1 skips it);
#   - launcher-*: the harness against the real launcher's behaviour, point by
#     point, with the rely-* and break-* variants (tests/launcher.sh).
# Prints `PASS <name>` or `FAIL <name>: why` per test, then exactly one line
# `N passed, M failed`; exits non-zero when M > 0.
# Environment: HARNESS_TESTS_ONLY=regex runs only the tests whose names match;
# HARNESS_TESTS_KEEP=1 keeps the work directory (logs of every test).

set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=${1:-$REPO/build}
mkdir -p "$BUILD" && BUILD=$(cd "$BUILD" && pwd)
H="$BUILD/abi-harness"
REF_DIR="$BUILD/reference"
REF="$REF_DIR/libeva-reference.so"
ONLY=${HARNESS_TESTS_ONLY:-}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/abi-harness-tests.XXXXXX")
cleanup() {
    if [ -n "${HARNESS_TESTS_KEEP:-}" ]; then
        echo "work directory kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

PASSED=0
FAILED=0
pass() { echo "PASS $1${2:+ ($2)}"; PASSED=$((PASSED + 1)); }
fail() {
    echo "FAIL $1: $2"
    FAILED=$((FAILED + 1))
    # the end of the test's log, to see why without rerunning
    if [ -n "${3:-}" ] && [ -f "$3" ]; then tail -n 15 "$3" | sed 's/^/    | /'; fi
}
selected() { [ -z "$ONLY" ] || [[ $1 =~ $ONLY ]]; }

# variant -> the check it must fail (the variants are built by
# reference/Makefile from BREAK_<VARIANT> in reference/reference_*.c);
# variant:WARN:id -> exit 0 and `WARN <id>` (the ABI says SHOULD)
VARIANTS=(
    "symbols:symbols"
    "abi-version:abi-version"
    "info:init-info"
    "bounds:result-bounds"
    "global-result:thread-local-results"
    "ready:WARN:not-ready"
    "result-mode:result-modes"
    "method-bytes:method-bytes"
    "garbage:garbage-payloads"
    "frames:frames"
    "terminate:WARN:terminate"
    "prepare-rpc:one-worker-lifecycle"
    "info-params:init-info"
)
CHECK_IDS=(symbols abi-version init-info result-bounds thread-local-results not-ready result-modes
    method-bytes garbage-payloads frames terminate one-worker-lifecycle)

# time limits (seconds) for one harness process
CHECK_TIMEOUT=${HARNESS_TESTS_CHECK_TIMEOUT:-900}
RUN_TIMEOUT=${HARNESS_TESTS_RUN_TIMEOUT:-120}

# ---------------------------------------------------------------- building

build_log="$WORK/build.log"
if selected build; then
    if make -s -C "$REPO/abi-harness/reference" BUILD="$BUILD" >"$build_log" 2>&1 &&
        make -s -C "$HERE/ping-service" BUILD="$BUILD" >>"$build_log" 2>&1; then
        if grep -qi 'warning' "$build_log"; then
            fail build "the reference build printed warnings" "$build_log"
        else
            pass build
        fi
    else
        fail build "make -C abi-harness/reference (or tests/ping-service) failed" "$build_log"
    fi
    if [ ! -x "$H" ]; then
        make -s -C "$REPO/abi-harness" BUILD="$BUILD" >>"$build_log" 2>&1 ||
            echo "note: building abi-harness failed (see below)" >&2
    fi
else
    make -s -C "$REPO/abi-harness/reference" BUILD="$BUILD" >"$build_log" 2>&1
    make -s -C "$HERE/ping-service" BUILD="$BUILD" >>"$build_log" 2>&1
fi
PING="$BUILD/ping-service/libping-service.so"

if [ ! -x "$H" ]; then
    fail harness-present "$H is missing (make -C abi-harness BUILD=$BUILD)" "$build_log"
    echo "$PASSED passed, $FAILED failed"
    exit 1
fi
if [ ! -f "$REF" ]; then
    fail reference-present "$REF is missing" "$build_log"
    echo "$PASSED passed, $FAILED failed"
    exit 1
fi

# ---------------------------------------------------------------- helpers

# run_h LOG STDOUT_FILE TIMEOUT args...: runs the harness, stdout to
# STDOUT_FILE, stdout+stderr to LOG; sets RC
run_h() {
    local log=$1 out=$2 limit=$3
    shift 3
    {
        echo "\$ abi-harness $*"
        timeout --kill-after=10 "$limit" "$H" "$@" >"$out" 2>"$out.err"
        RC=$?
        cat "$out" "$out.err"
        echo "[exit $RC]"
    } >"$log" 2>&1
    return 0
}

# every line of FILE is one JSON object (python3 when available)
all_json_lines() {
    local f=$1
    [ -s "$f" ] || return 1
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$f" <<'PY'
import json, sys
with open(sys.argv[1], encoding="utf-8") as fh:
    for n, line in enumerate(fh, 1):
        obj = json.loads(line)
        if not isinstance(obj, dict) or not ("reply" in obj or "frame" in obj):
            sys.exit("line %d is not a reply/frame object" % n)
PY
    else
        ! grep -qv '^{"\(reply\|frame\)":.*}$' "$f"
    fi
}

has_line() { grep -qxF -- "$2" "$1"; }
line_no() { grep -nxF -- "$2" "$1" | head -n 1 | cut -d: -f1; }

# The templates are used from a copy in WORK: the EVA dir defaults to the
# template's folder, and data_path (runtime/svc_data/<id>) is created there.
for t in svc-reference.yml svc-reference-strict.yml svc-bad-key.yml; do cp "$HERE/$t" "$WORK/$t"; done
SVC="$WORK/svc-reference.yml"

# ---------------------------------------------------------------- check

check_ok_ids() {
    # every fixed check id has a PASS line
    local out=$1 missing=""
    for id in "${CHECK_IDS[@]}"; do
        grep -qE "^PASS ${id}(:| |$)" "$out" || missing="$missing $id"
    done
    echo "$missing"
}

if selected check-reference; then
    log="$WORK/check-reference.log"
    run_h "$log" "$WORK/check-reference.out" "$CHECK_TIMEOUT" check "$REF" --config "$SVC"
    cat "$WORK/check-reference.out" "$WORK/check-reference.out.err" >"$WORK/check-reference.out.all"
    missing=$(check_ok_ids "$WORK/check-reference.out.all")
    summary=$(grep -E '^check: [0-9]+ passed, [0-9]+ warned, [0-9]+ failed, [0-9]+ skipped$' "$WORK/check-reference.out.all" | tail -n 1)
    if [ "$RC" -ne 0 ]; then
        fail check-reference "exit $RC, expected 0" "$log"
    elif grep -qE '^(FAIL|WARN) ' "$WORK/check-reference.out.all"; then
        fail check-reference "a check did not pass: $(grep -E '^(FAIL|WARN) ' "$WORK/check-reference.out.all" | head -n 1)" "$log"
    elif [ -n "$missing" ]; then
        fail check-reference "no PASS line for:$missing" "$log"
    elif [ -z "$summary" ]; then
        fail check-reference "no 'check: N passed, N warned, N failed, N skipped' summary line" "$log"
    else
        pass check-reference "$summary"
    fi
fi

for entry in "${VARIANTS[@]}"; do
    variant=${entry%%:*}
    id=${entry##*:}
    verdict=FAIL
    [[ $entry == *:WARN:* ]] && verdict=WARN
    name="check-break-$variant"
    selected "$name" || continue
    lib="$REF_DIR/libeva-reference-break-$variant.so"
    log="$WORK/$name.log"
    if [ ! -f "$lib" ]; then
        fail "$name" "$lib is missing" "$build_log"
        continue
    fi
    run_h "$log" "$WORK/$name.out" "$CHECK_TIMEOUT" check "$lib" --config "$SVC"
    all="$WORK/$name.out.all"
    cat "$WORK/$name.out" "$WORK/$name.out.err" >"$all"
    others=$(grep -E '^FAIL ' "$all" | sed -E 's/^FAIL ([^: ]+).*/\1/' | grep -vxF "$id" | tr '\n' ' ' | sed 's/ $//')
    if [ "$verdict" = WARN ]; then
        if [ "$RC" -ne 0 ]; then
            fail "$name" "exit $RC, expected 0 (WARN $id only)${others:+ (failed: $others)}" "$log"
        elif ! grep -qE "^WARN ${id}(:| |$)" "$all"; then
            fail "$name" "no 'WARN $id' line" "$log"
        else
            pass "$name" "WARN $id"
        fi
    elif [ "$RC" -eq 0 ]; then
        fail "$name" "exit 0, expected non-zero (check $id should fail)" "$log"
    elif [ "$RC" -ge 124 ]; then
        fail "$name" "the harness did not finish (exit $RC)" "$log"
    elif ! grep -qE "^FAIL ${id}(:| |$)" "$all"; then
        fail "$name" "no 'FAIL $id' line${others:+ (failed instead: $others)}" "$log"
    else
        pass "$name" "FAIL $id${others:+; also failed: $others}"
    fi
done

# ---------------------------------------------------------------- run

# replies and frames are JSON lines; list/get replies carry the state
if selected run-json-lines; then
    log="$WORK/run-json-lines.log"
    out="$WORK/run-json-lines.out"
    run_h "$log" "$out" "$RUN_TIMEOUT" run "$REF" --config "$SVC" \
        --call list --call get '{i: sensor:tests/temp}' --call test
    started='{"frame":"LOG/IN/info","text":"C reference service: virtual items (list/get/set) started (eva.controller.test)"}'
    if [ "$RC" -ne 0 ]; then
        fail run-json-lines "exit $RC" "$log"
    elif ! all_json_lines "$out"; then
        fail run-json-lines "stdout has a line that is not a JSON reply/frame object" "$log"
    elif ! has_line "$out" '{"reply":"list","code":0,"payload":[{"oid":"sensor:tests/temp","status":1,"value":null},{"oid":"unit:tests/u1","status":1,"value":null}]}'; then
        fail run-json-lines "no list reply with both configured items (ordered by OID)" "$log"
    elif ! has_line "$out" '{"reply":"get","code":0,"payload":{"oid":"sensor:tests/temp","status":1,"value":null}}'; then
        fail run-json-lines "no get reply" "$log"
    elif ! has_line "$out" '{"reply":"test","code":0}'; then
        fail run-json-lines "no test reply without payload" "$log"
    elif ! has_line "$out" '{"frame":"SVC/ST","payload":{"status":"ready"}}'; then
        fail run-json-lines "no SVC/ST ready frame" "$log"
    elif ! has_line "$out" "$started"; then
        # abi-and-launcher.md step 5: after SVC/ST ready the launcher logs "<description> started (<id>)"
        fail run-json-lines "no LOG/IN/info \"<description> started (<id>)\" frame" "$log"
    elif [ "$(line_no "$out" "$started")" -ne $(($(line_no "$out" '{"frame":"SVC/ST","payload":{"status":"ready"}}') + 1)) ]; then
        fail run-json-lines "the LOG/IN/info started line is not the frame right after SVC/ST ready" "$log"
    else
        pass run-json-lines
    fi
fi

# set publishes a RAW frame, printed before the call's reply
if selected run-raw-frame; then
    log="$WORK/run-raw-frame.log"
    out="$WORK/run-raw-frame.out"
    run_h "$log" "$out" "$RUN_TIMEOUT" run "$REF" --config "$SVC" \
        --call set '{i: sensor:tests/temp, status: 2, value: [25, "C"]}' --call set '{i: unit:tests/u1, value: null}'
    frame='{"frame":"RAW/sensor/tests/temp","payload":{"status":2,"value":[25,"C"]}}'
    frame2='{"frame":"RAW/unit/tests/u1","payload":{"status":1,"value":null}}'
    reply='{"reply":"set","code":0}'
    if [ "$RC" -ne 0 ]; then
        fail run-raw-frame "exit $RC" "$log"
    elif ! has_line "$out" "$frame"; then
        fail run-raw-frame "no RAW/sensor/tests/temp frame line" "$log"
    elif ! has_line "$out" "$frame2"; then
        fail run-raw-frame "no RAW/unit/tests/u1 frame line" "$log"
    elif ! has_line "$out" "$reply"; then
        fail run-raw-frame "no set reply without payload" "$log"
    elif [ "$(line_no "$out" "$frame")" -gt "$(line_no "$out" "$reply")" ]; then
        fail run-raw-frame "the frame was printed after the reply of the call that caused it" "$log"
    else
        pass run-raw-frame
    fi
fi

# the error codes reach the reply line as numbers, with their names
if selected run-error-codes; then
    log="$WORK/run-error-codes.log"
    out="$WORK/run-error-codes.out"
    run_h "$log" "$out" "$RUN_TIMEOUT" run "$REF" --config "$SVC" \
        --call get '{i: sensor:tests/missing}' --call no.such.method --call list '{}' --call get '{i: 12}'
    if [ "$RC" -ne 0 ]; then
        fail run-error-codes "exit $RC" "$log"
    elif ! has_line "$out" '{"reply":"get","code":-32001,"error":"NOT_FOUND"}'; then
        fail run-error-codes "get of an unknown OID did not reply NOT_FOUND (-32001)" "$log"
    elif ! has_line "$out" '{"reply":"no.such.method","code":-32601,"error":"METHOD_NOT_FOUND"}'; then
        fail run-error-codes "an unknown method did not reply METHOD_NOT_FOUND (-32601)" "$log"
    elif ! has_line "$out" '{"reply":"list","code":-32602,"error":"INVALID_PARAMS"}'; then
        fail run-error-codes "list with a payload did not reply INVALID_PARAMS (-32602)" "$log"
    elif [ "$(grep -cxF '{"reply":"get","code":-32602,"error":"INVALID_PARAMS"}' "$out")" -ne 1 ]; then
        fail run-error-codes "get {i: 12} did not reply INVALID_PARAMS once" "$log"
    else
        pass run-error-codes
    fi
fi

# without auto_create, set on an unknown OID is NOT_FOUND and publishes nothing
if selected run-no-auto-create; then
    log="$WORK/run-no-auto-create.log"
    out="$WORK/run-no-auto-create.out"
    run_h "$log" "$out" "$RUN_TIMEOUT" run "$REF" --config "$WORK/svc-reference-strict.yml" \
        --call set '{i: lvar:tests/new, value: 1}' --call list
    if [ "$RC" -ne 0 ]; then
        fail run-no-auto-create "exit $RC" "$log"
    elif ! has_line "$out" '{"reply":"set","code":-32001,"error":"NOT_FOUND"}'; then
        fail run-no-auto-create "set on an unknown OID did not reply NOT_FOUND" "$log"
    elif grep -q '"frame":"RAW/' "$out"; then
        fail run-no-auto-create "a RAW frame was published for a refused set" "$log"
    elif ! has_line "$out" '{"reply":"list","code":0,"payload":[{"oid":"sensor:tests/temp","status":1,"value":null}]}'; then
        fail run-no-auto-create "list does not show exactly the configured item" "$log"
    else
        pass run-no-auto-create
    fi
fi

# --registry FILE: what the service stores at stop is there at the next start
if selected run-registry; then
    log="$WORK/run-registry.log"
    reg="$WORK/registry.msgpack"
    rm -f "$reg"
    run_h "$log.1" "$WORK/run-registry.1.out" "$RUN_TIMEOUT" run "$REF" --config "$SVC" --registry "$reg" \
        --call set '{i: lvar:tests/kept, status: 3, value: {a: [1, 2.5, "x"]}}'
    rc1=$RC
    run_h "$log.2" "$WORK/run-registry.2.out" "$RUN_TIMEOUT" run "$REF" --config "$SVC" --registry "$reg" \
        --call get '{i: lvar:tests/kept}'
    rc2=$RC
    # the same without --registry: nothing is restored
    run_h "$log.3" "$WORK/run-registry.3.out" "$RUN_TIMEOUT" run "$REF" --config "$SVC" \
        --call get '{i: lvar:tests/kept}'
    rc3=$RC
    cat "$log.1" "$log.2" "$log.3" >"$log"
    if [ "$rc1" -ne 0 ] || [ "$rc2" -ne 0 ] || [ "$rc3" -ne 0 ]; then
        fail run-registry "exit codes $rc1/$rc2/$rc3, expected 0/0/0" "$log"
    elif [ ! -s "$reg" ]; then
        fail run-registry "the first run left no registry file" "$log"
    elif ! has_line "$WORK/run-registry.2.out" '{"reply":"get","code":0,"payload":{"oid":"lvar:tests/kept","status":3,"value":{"a":[1,2.5,"x"]}}}'; then
        fail run-registry "the second run did not get the state stored by the first" "$log"
    elif ! has_line "$WORK/run-registry.3.out" '{"reply":"get","code":-32001,"error":"NOT_FOUND"}'; then
        fail run-registry "without --registry the state was there anyway" "$log"
    else
        pass run-registry
    fi
fi

# a script whose expects all hold: exit 0, every step ok
if selected run-script-pass; then
    log="$WORK/run-script-pass.log"
    out="$WORK/run-script-pass.out"
    run_h "$log" "$out" "$RUN_TIMEOUT" run "$REF" --config "$SVC" --deliver-unsubscribed \
        --script "$HERE/scripts/expect-pass.yml"
    steps=$(grep -cE '^step [0-9]+/[0-9]+ .*: ok' "$out.err")
    total=$(grep -oE '^step [0-9]+/[0-9]+' "$out.err" | head -n 1 | cut -d/ -f2)
    if [ "$RC" -ne 0 ]; then
        fail run-script-pass "exit $RC, expected 0" "$log"
    elif grep -q 'FAILED' "$out.err"; then
        fail run-script-pass "a step failed: $(grep -m1 FAILED "$out.err")" "$log"
    elif [ -z "$total" ] || [ "$steps" -ne "$total" ]; then
        fail run-script-pass "$steps steps ok of ${total:-?}" "$log"
    elif ! has_line "$out" '{"reply":"get","code":0,"payload":{"oid":"lvar:stress/t3","status":1,"value":49}}'; then
        fail run-script-pass "the last reply is not the state left by the stress step" "$log"
    else
        pass run-script-pass "$steps steps"
    fi
fi

# a script with a wrong expect: exit 1, the step is reported, later steps skipped
if selected run-script-fail; then
    log="$WORK/run-script-fail.log"
    out="$WORK/run-script-fail.out"
    run_h "$log" "$out" "$RUN_TIMEOUT" run "$REF" --config "$SVC" --script "$HERE/scripts/expect-fail.yml"
    if [ "$RC" -ne 1 ]; then
        fail run-script-fail "exit $RC, expected 1" "$log"
    elif ! grep -qE '^step 2/3 call get: FAILED' "$out.err"; then
        fail run-script-fail "step 2 (the wrong expect) was not reported FAILED" "$log"
    elif has_line "$out" '{"reply":"test","code":0}'; then
        fail run-script-fail "the step after the failed one ran" "$log"
    else
        pass run-script-fail
    fi
fi

# svc_init refuses an unknown config key: launch fails (exit 3), key named
if selected run-launch-refused; then
    log="$WORK/run-launch-refused.log"
    out="$WORK/run-launch-refused.out"
    run_h "$log" "$out" "$RUN_TIMEOUT" run "$REF" --config "$WORK/svc-bad-key.yml" --call list
    if [ "$RC" -ne 3 ]; then
        fail run-launch-refused "exit $RC, expected 3 (launch failed)" "$log"
    elif ! grep -q 'no_such_option' "$out.err"; then
        fail run-launch-refused "stderr does not name the unknown key" "$log"
    elif grep -q '"reply"' "$out"; then
        fail run-launch-refused "a call was made although the launch failed" "$log"
    else
        pass run-launch-refused
    fi
fi

# both GET_RPC_RESULT modes (prepare reads eva.core test and the registry)
if selected run-result-modes; then
    log="$WORK/run-result-modes.log"
    reg="$WORK/registry-modes.msgpack"
    rm -f "$reg"
    ok=1
    why=""
    for mode in swap copy; do
        run_h "$log.$mode" "$WORK/run-result-modes.$mode.out" "$RUN_TIMEOUT" run "$REF" --config "$SVC" \
            --registry "$reg" --result-mode "$mode" --log-level debug --no-frames \
            --call set "{i: lvar:modes/$mode, value: $mode}" --call list
        cat "$log.$mode" >>"$log"
        if [ "$RC" -ne 0 ]; then
            ok=0
            why="$why $mode: exit $RC;"
        elif ! grep -q 'eva.core test: .* fields' "$WORK/run-result-modes.$mode.out.err"; then
            ok=0
            why="$why $mode: the eva.core test result was not read;"
        fi
    done
    # the copy run restored what the swap run saved
    if [ "$ok" = 1 ] && ! grep -q '"oid":"lvar:modes/swap","status":1,"value":"swap"' "$WORK/run-result-modes.copy.out"; then
        ok=0
        why="copy mode did not restore the registry state saved in swap mode"
    fi
    if [ "$ok" = 1 ]; then pass run-result-modes; else fail run-result-modes "$why" "$log"; fi
fi

# the reference service under valgrind, driven by the harness: no errors in
# or leaks from the library (the harness's own allocations are not judged)
if selected run-valgrind; then
    log="$WORK/run-valgrind.log"
    out="$WORK/run-valgrind.out"
    if ! command -v valgrind >/dev/null 2>&1; then
        pass run-valgrind "skipped: valgrind is not installed"
    else
        vg="$WORK/valgrind.txt"
        {
            echo "\$ valgrind abi-harness run ... --script expect-pass.yml"
            timeout --kill-after=10 600 valgrind --error-exitcode=97 --leak-check=full \
                --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
                --log-file="$vg" "$H" run "$REF" --config "$SVC" --deliver-unsubscribed \
                --script "$HERE/scripts/expect-pass.yml" >"$out" 2>"$out.err"
            RC=$?
            cat "$out.err" "$vg"
            echo "[exit $RC]"
        } >"$log" 2>&1
        lib_errors=$(grep -cE 'reference_[a-z_]+\.c:|\(in [^)]*libeva-reference' "$vg")
        if [ "$RC" -ne 0 ] && [ "$RC" -ne 97 ]; then
            fail run-valgrind "exit $RC" "$log"
        elif [ "$lib_errors" -ne 0 ]; then
            fail run-valgrind "valgrind reports errors or leaks in the reference library" "$log"
        elif [ "$RC" -eq 97 ]; then
            pass run-valgrind "library clean; valgrind reports the harness itself: $(grep -m1 'ERROR SUMMARY' "$vg" | sed 's/^==[0-9]*== //')"
        else
            pass run-valgrind
        fi
    fi
fi

# the reference service and the harness built with AddressSanitizer and
# UBSan (the harness's `make asan`): every check passes with no report.
# allocator_may_return_null: msgpack-c reserves count x 24 bytes up front for
# a container header (the garbage case "array32 declaring 4G items"); plain
# malloc returns NULL there and the library answers INVALID_PARAMS, the
# sanitizer allocator would abort instead.
if selected check-reference-asan; then
    log="$WORK/check-reference-asan.log"
    if [ -n "${HARNESS_TESTS_NO_SANITIZERS:-}" ]; then
        pass check-reference-asan "skipped: HARNESS_TESTS_NO_SANITIZERS is set"
    elif ! make -s -C "$REPO/abi-harness" asan BUILD="$BUILD" >"$log" 2>&1; then
        fail check-reference-asan "make -C abi-harness asan failed" "$log"
    elif ! make -s -C "$REPO/abi-harness/reference" BUILD="$BUILD/asan" \
        CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
        LDFLAGS="-fsanitize=address,undefined" "$BUILD/asan/reference/libeva-reference.so" >>"$log" 2>&1; then
        fail check-reference-asan "building the reference with sanitizers failed" "$log"
    else
        out="$WORK/check-reference-asan.out"
        {
            echo "\$ abi-harness(asan) check libeva-reference.so(asan)"
            ASAN_OPTIONS="allocator_may_return_null=1:detect_leaks=0" timeout --kill-after=10 "$CHECK_TIMEOUT" \
                "$BUILD/asan/abi-harness" check "$BUILD/asan/reference/libeva-reference.so" --config "$SVC" \
                --verbose >"$out" 2>&1
            RC=$?
            cat "$out"
            echo "[exit $RC]"
        } >>"$log" 2>&1
        if [ "$RC" -ne 0 ]; then
            fail check-reference-asan "exit $RC: $(grep -m1 '^FAIL ' "$out")" "$log"
        elif grep -qE 'ERROR: AddressSanitizer|runtime error:' "$out"; then
            fail check-reference-asan "a sanitizer report: $(grep -m1 -E 'ERROR: AddressSanitizer|runtime error:' "$out")" "$log"
        else
            pass check-reference-asan "$(grep -E '^check: ' "$out" | tail -n 1)"
        fi
    fi
fi

# ---------------------------------------------------- check garbage-payloads
# A third-party-style library (tests/ping-service) whose `ping` takes no
# payload and ignores any: a node runs it, so no FAIL (issue 14 §4). Each
# config key turns on one behaviour with the verdict it must get.
# ping_check NAME CONFIG VERDICT EXIT PATTERN [WORKERS]
ping_check() {
    local n=$1 config=$2 verdict=$3 want=$4 pattern=$5 workers=${6:-1}
    selected "$n" || return 0
    printf 'config: %s\nworkers: %s\n' "$config" "$workers" >"$WORK/$n.yml"
    run_h "$WORK/$n.log" "$WORK/$n.out" "$CHECK_TIMEOUT" check "$PING" --config "$WORK/$n.yml"
    local line
    line=$(grep -m1 -E '^[A-Z]+ garbage-payloads:' "$WORK/$n.out")
    if [ "$RC" -ne "$want" ]; then
        fail "$n" "exit $RC, expected $want ($line)" "$WORK/$n.log"
    elif [[ ! $line =~ ^$verdict\ garbage-payloads:\ $pattern ]]; then
        fail "$n" "expected '$verdict garbage-payloads: ...$pattern', got: ${line:-no garbage-payloads line}" "$WORK/$n.log"
    elif grep -qE '^FAIL ' "$WORK/$n.out" && [ "$verdict" != FAIL ]; then
        fail "$n" "another check FAILed: $(grep -m1 '^FAIL ' "$WORK/$n.out")" "$WORK/$n.log"
    else
        pass "$n" "$(echo "$line" | cut -c1-110)"
    fi
}
ping_check check-ping-payload-free '{}' PASS 0 '.*ignored by methods that take no payload \(ping\)'
ping_check check-ping-payload-free-workers2 '{}' PASS 0 '.*ignored by methods that take no payload \(ping\)' 2
ping_check check-ping-params-accept-garbage '{echo: true}' WARN 0 \
    '.*payloads are MessagePack unless a method says otherwise.*echo with [^:]*: accepted a payload that is not MessagePack although its info lists params'
ping_check check-ping-reply-not-msgpack '{raw_reply: true}' FAIL 1 '.*ping with no payload: the reply is not one MessagePack value'
ping_check check-ping-stops-answering '{wedge: true}' FAIL 1 \
    '.*ping with no payload after the garbage: stopped answering as before it: no payload answered code 0 then, now \(code -32005\)'

# the launcher model, point by point
# shellcheck source=launcher.sh
. "$HERE/launcher.sh"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
