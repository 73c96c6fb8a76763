#!/usr/bin/env bash
# Sanitizer and valgrind runs (make sanitize); one PASS/FAIL line per run.
#
#   tests/sanitize.sh [--quick]
#
#   asan-harness/*   the harness built with ASan+UBSan (make -C abi-harness
#                    asan) drives the shipped library
#   asan-library/*   the library built with ASan, in a clang ASan harness
#   tsan-library/*   the library built with TSan, in a clang TSan harness
#                    (the code locks with pthread mutexes, which TSan sees;
#                    Synchronization.Mutex it would not, on Linux)
#   swift-tsan       every Swift test under TSan
#   valgrind/*       memcheck of the harness + shipped library through
#                    tests/scenarios/every-method.yml: 0 errors and 0 bytes
#                    definitely lost (possibly lost / still reachable: the
#                    Swift runtime's metadata caches; reported, not gated);
#                    suppressions in tests/valgrind.supp (ld.so only)
# --quick: the valgrind run only (what make test runs).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-$ROOT/build}
SWIFT=${SWIFT:-swift}
LIB=$BUILD/libeva-virtual-controller.so
HARNESS=$BUILD/abi-harness
OUT=$BUILD/sanitize
LOGS=$BUILD/test-logs/sanitize
S=tests/scenarios
mkdir -p "$OUT" "$LOGS"
quick=0
[ "${1:-}" = --quick ] && quick=1

# A clang that can link the toolchain's sanitizer runtimes (the Swift
# library's instrumentation needs the same runtime in the process).
CLANG=${CLANG:-$(dirname "$(command -v "$SWIFT")")/clang}
SWIFT_LIBS=$(dirname "$(command -v "$SWIFT")")/../lib/swift/linux

# report LINE: one PASS/FAIL line; the script exits non-zero after any FAIL
failures=0
report() {
    echo "$1"
    case $1 in FAIL*) failures=$((failures + 1)) ;; esac
}

# run NAME PATTERN HARNESS LIB CONFIG SCRIPT [args...]: PASS when the run
# exits 0 and its stderr has no line matching PATTERN
run() {
    local name=$1 pattern=$2 harness=$3 lib=$4 config=$5 script=$6
    shift 6
    local log=$LOGS/${name//\//-}
    timeout 600 "$harness" run "$lib" --config "$config" --script "$script" --no-frames "$@" \
        >"$log.out" 2>"$log.err"
    local rc=$?
    local found
    found=$(grep -E "$pattern" "$log.err" | head -2 | tr '\n' ' ')
    if [ $rc = 0 ] && [ -z "$found" ]; then
        local ledger
        ledger=$(grep -E '^actions: [1-9]' "$log.err" | head -1)
        report "PASS $name: ${ledger:-no sanitizer report}"
    else
        report "FAIL $name: exit $rc; ${found:-$(grep -iE 'FAILED|error' "$log.err" | head -2 | tr '\n' ' ')} (see $log.err)"
    fi
}

valgrind_run() {
    local name=valgrind/every-method log=$LOGS/valgrind.log
    if ! command -v valgrind >/dev/null; then
        report "FAIL $name: valgrind is not installed (apt-get install valgrind)"
        return
    fi
    valgrind --leak-check=full --show-leak-kinds=definite,possible --errors-for-leak-kinds=definite \
        --error-exitcode=99 --num-callers=40 --suppressions=tests/valgrind.supp --log-file="$log" \
        "$HARNESS" run "$LIB" --config $S/every-method.svc.yml --script $S/every-method.yml \
        --check-actions --no-frames >"$LOGS/valgrind.out" 2>"$LOGS/valgrind.err"
    local rc=$?
    local errors definite possibly reachable
    errors=$(sed -nE 's/.*ERROR SUMMARY: ([0-9]+) errors.*/\1/p' "$log" | tail -1)
    definite=$(sed -nE 's/.*definitely lost: ([0-9,]+) bytes.*/\1/p' "$log" | tail -1)
    possibly=$(sed -nE 's/.*possibly lost: ([0-9,]+ bytes in [0-9,]+ blocks).*/\1/p' "$log" | tail -1)
    reachable=$(sed -nE 's/.*still reachable: ([0-9,]+ bytes in [0-9,]+ blocks).*/\1/p' "$log" | tail -1)
    local summary="${errors:-?} errors, ${definite:-0} bytes definitely lost; possibly lost ${possibly:-0}, still reachable ${reachable:-0} (Swift runtime caches)"
    if [ $rc = 0 ] && [ "${errors:-1}" = 0 ] && [ "${definite:-0}" = 0 ]; then
        report "PASS $name: $summary"
    else
        report "FAIL $name: exit $rc; $summary; see $log"
    fi
}

valgrind_run
[ $quick = 1 ] && exit $((failures > 0))

# The stress script the runs share: the actions stress, smaller.
python3 tests/gen-actions-stress.py --seed 11 --actions 600 --second 200 >"$OUT/actions-stress.yml" 2>/dev/null
cat >"$OUT/calls-stress.yml" <<'EOF'
- stress:
    threads: 4
    iterations: 2000
    steps:
      - call: set
        params: {i: "sensor:load/t{t}", value: "{n}"}
        expect: {code: 0}
      - call: get
        params: {i: "sensor:load/t{t}"}
        expect: {code: 0, payload: {oid: "sensor:load/t{t}", status: 1, value: "{n}"}}
      - call: var.set
        params: {i: "v{t}[3]", value: "{n}"}
        expect: {code: 0}
      - call: var.get
        params: {i: "v{t}[3]"}
        expect: {code: 0, payload: "{n}"}
- stop
EOF


# ASan + UBSan harness (gcc), shipped library.
if make -C abi-harness asan BUILD="$BUILD" >"$LOGS/asan-harness-build.log" 2>&1; then
    AH=$BUILD/asan/abi-harness
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    SAN='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:'
    run asan-harness/every-method "$SAN" "$AH" "$LIB" $S/every-method.svc.yml $S/every-method.yml --check-actions
    run asan-harness/actions "$SAN" "$AH" "$LIB" $S/actions.svc.yml $S/actions.yml --check-actions
    run asan-harness/actions-stress-faults "$SAN" "$AH" "$LIB" $S/actions-stress-faults.svc.yml \
        "$OUT/actions-stress.yml" --check-actions --fault publish=busy:0.1 --fault rpc=error:0.05 --seed 11
    run asan-harness/calls-stress "$SAN" "$AH" "$LIB" $S/stress.svc.yml "$OUT/calls-stress.yml" --pool 8
    unset ASAN_OPTIONS UBSAN_OPTIONS
else
    report "FAIL asan-harness/build: see $LOGS/asan-harness-build.log"
fi

# sanitized_pair KIND SHORT (address asan | thread tsan): the library built
# with the sanitizer, and a clang-built harness with the same runtime, shared
# (-shared-libsan), which the toolchain's runtime wants libdispatch for.
# Sets SLIB and SH.
sanitized_pair() {
    local kind=$1 short=$2
    local scratch=$ROOT/.build-sanitize-$short hdir=$OUT/$short-harness
    if ! $SWIFT build --scratch-path "$scratch" -c release --product eva-virtual-controller \
        --sanitize="$kind" >"$LOGS/$short-library-build.log" 2>&1; then
        report "FAIL $short-library/build: see $LOGS/$short-library-build.log"
        return 1
    fi
    SLIB=$($SWIFT build --scratch-path "$scratch" -c release --product eva-virtual-controller \
        --sanitize="$kind" --show-bin-path)/libeva-virtual-controller.so
    local rt
    rt=$("$CLANG" -print-resource-dir)/lib/linux
    rm -rf "$hdir"
    if ! make -f abi-harness/Makefile BUILD="$hdir" CC="$CLANG" \
        CFLAGS="-Wall -Wextra -O1 -g -fno-omit-frame-pointer -fsanitize=$kind" \
        LDFLAGS="-fsanitize=$kind -shared-libsan -Wl,-rpath,$rt" \
        LDLIBS="-lmsgpackc -lyaml -lpthread -ldl -lm -L$SWIFT_LIBS -Wl,-rpath,$SWIFT_LIBS -ldispatch -lBlocksRuntime" \
        >"$LOGS/$short-harness-build.log" 2>&1; then
        report "FAIL $short-library/harness-build: see $LOGS/$short-harness-build.log"
        return 1
    fi
    SH=$hdir/abi-harness
}

# The library under ASan.
if sanitized_pair address asan; then
    # the action engine's queued jobs sit in a Swift enum whose tag lives in
    # the pointer's spare bits, where LeakSanitizer does not see the pointer:
    # leaks are valgrind's job here (valgrind/every-method)
    export ASAN_OPTIONS=detect_leaks=0
    SAN='ERROR: AddressSanitizer'
    run asan-library/every-method "$SAN" "$SH" "$SLIB" $S/every-method.svc.yml $S/every-method.yml --check-actions
    run asan-library/actions-stress-faults "$SAN" "$SH" "$SLIB" $S/actions-stress-faults.svc.yml \
        "$OUT/actions-stress.yml" --check-actions --fault publish=busy:0.1 --fault rpc=error:0.05 --seed 11
    run asan-library/calls-stress "$SAN" "$SH" "$SLIB" $S/stress.svc.yml "$OUT/calls-stress.yml" --pool 8
    unset ASAN_OPTIONS
fi

# The library under TSan.
if sanitized_pair thread tsan; then
    export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0}
    SAN='WARNING: ThreadSanitizer'
    run tsan-library/every-method "$SAN" "$SH" "$SLIB" $S/every-method.svc.yml $S/every-method.yml --check-actions
    run tsan-library/actions-stress-faults "$SAN" "$SH" "$SLIB" $S/actions-stress-faults.svc.yml \
        "$OUT/actions-stress.yml" --check-actions --fault publish=busy:0.1 --fault rpc=error:0.05 --seed 11
    run tsan-library/calls-stress "$SAN" "$SH" "$SLIB" $S/stress.svc.yml "$OUT/calls-stress.yml" --pool 8
    run tsan-library/bind "$SAN" "$SH" "$SLIB" $S/bind.svc.yml $S/bind.yml
    run tsan-library/pull "$SAN" "$SH" "$SLIB" $S/pull.svc.yml $S/pull.yml
    unset TSAN_OPTIONS
fi

# Every Swift test under TSan (make test runs the concurrent ones only).
$SWIFT test --scratch-path "$ROOT/.build-tsan" --sanitize=thread >"$LOGS/swift-tsan.log" 2>&1
rc=$?
p=$(grep -cE '^✔ Test .* passed after' "$LOGS/swift-tsan.log")
f=$(grep -E '^✘ Test .* failed after' "$LOGS/swift-tsan.log" | grep -vc '^✘ Test run with')
if [ $rc = 0 ] && [ "$f" = 0 ] && [ "$p" -gt 0 ] && ! grep -q 'WARNING: ThreadSanitizer' "$LOGS/swift-tsan.log"; then
    report "PASS swift-tsan: $p tests, no race reported"
else
    report "FAIL swift-tsan: exit $rc, $p passed, $f failed$(grep -q 'WARNING: ThreadSanitizer' "$LOGS/swift-tsan.log" && echo ', a race reported'); see $LOGS/swift-tsan.log"
fi
[ "$failures" = 0 ]
