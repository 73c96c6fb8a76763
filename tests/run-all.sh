#!/usr/bin/env bash
# Runs every test suite and ends with one line: "N passed, M failed".
# Each suite contributes one PASS/FAIL per test it runs.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-$ROOT/build}
SWIFT=${SWIFT:-swift}
LIB=$BUILD/libeva-virtual-controller.so
HARNESS=$BUILD/abi-harness
LOGS=$BUILD/test-logs
mkdir -p "$LOGS"
passed=0
failed=0

pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1${2:+: $2}"; }

# Counts a Swift Testing run's per-test results; a run that failed without a
# failing test line (a crash, a build error) counts as one failure.
count_swift_tests() { # suite-name log exit-code
    local name=$1 log=$2 rc=$3 p f
    p=$(grep -cE '^✔ Test .* passed after' "$log")
    f=$(grep -E '^✘ Test .* failed after' "$log" | grep -vc '^✘ Test run with')
    passed=$((passed + p))
    failed=$((failed + f))
    echo "$name: $p passed, $f failed (log: $log)"
    grep -E '^✘ Test .* (failed after|recorded an issue)' "$log" | head -20
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then fail "$name" "exit code $rc, see $log"; fi
    if [ "$p" = 0 ] && [ "$f" = 0 ] && [ "$rc" = 0 ]; then fail "$name" "ran no test"; fi
}

# Counts PASS/FAIL lines printed by a suite script; a non-zero exit with no
# FAIL line counts as one failure.
count_lines() { # suite-name log exit-code
    local name=$1 log=$2 rc=$3 p f
    p=$(grep -cE '^PASS ' "$log")
    f=$(grep -cE '^(FAIL|SKIP) ' "$log")
    passed=$((passed + p))
    failed=$((failed + f))
    echo "$name: $p passed, $f failed (log: $log)"
    grep -E '^(FAIL|SKIP) ' "$log" | head -20
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then fail "$name" "exit code $rc, see $log"; fi
    if [ "$p" = 0 ] && [ "$f" = 0 ]; then fail "$name" "ran no test"; fi
}

# As count_lines, for a suite that needs ../shared/real: a NEEDS line and a
# zero exit (the components are missing) count nothing.
count_real() { # suite-name log exit-code
    if grep -q '^NEEDS ' "$2" && [ "$3" = 0 ]; then return 0; fi
    count_lines "$@"
}

echo "== swift test"
$SWIFT test >"$LOGS/swift-test.log" 2>&1; rc=$?
count_swift_tests swift-test "$LOGS/swift-test.log" $rc

# Every Swift test also runs under TSan, in tests/sanitize.sh below.

echo "== library linkage"
bash tests/link-check.sh "$LIB" >"$LOGS/link.log" 2>&1; rc=$?
cat "$LOGS/link.log"
count_lines link "$LOGS/link.log" $rc

echo "== example service (examples/hello-service): linkage, check with workers 1 and 2, script"
BUILD=$BUILD bash tests/example-service.sh >"$LOGS/example-service.log" 2>&1; rc=$?
cat "$LOGS/example-service.log"
count_lines example-service "$LOGS/example-service.log" $rc

echo "== Swift SDK at compile time (FFIService spellings) and the README's guide, built and run"
BUILD=$BUILD SWIFT=$SWIFT bash tests/sdk-compile.sh >"$LOGS/sdk-compile.log" 2>&1; rc=$?
grep -vE '^PASS sdk-compile/' "$LOGS/sdk-compile.log"
count_lines sdk-compile "$LOGS/sdk-compile.log" $rc

echo "== harness self-tests (C reference service and its broken variants)"
bash abi-harness/tests/run.sh "$BUILD" >"$LOGS/harness-self.log" 2>&1; rc=$?
count_lines harness-self "$LOGS/harness-self.log" $rc

# With workers: 1 (EVA ICS 4.2: one thread) and 2; each check gets a fresh data_path.
for w in 1 2; do
    echo "== abi-harness check on our library, workers: $w"
    "$HARNESS" check "$LIB" --config examples/virtual.yml --workers $w \
        >"$LOGS/check-w$w.log" 2>&1; rc=$?
    sed -E "s#^(PASS|FAIL|SKIP|WARN) #\1 workers$w/#" "$LOGS/check-w$w.log" >"$LOGS/check-w$w.lines"
    cat "$LOGS/check-w$w.lines"
    count_lines check-workers$w "$LOGS/check-w$w.lines" $rc
done

echo "== scenarios"
BUILD=$BUILD bash tests/scenarios.sh >"$LOGS/scenarios.log" 2>&1; rc=$?
count_lines scenarios "$LOGS/scenarios.log" $rc

echo "== bench mode smoke (correctness only, no timing)"
BUILD=$BUILD bash tests/bench-suite.sh --smoke >"$LOGS/bench-smoke.log" 2>&1; rc=$?
count_lines bench-smoke "$LOGS/bench-smoke.log" $rc

echo "== crash and restart (SIGKILL, then the same registry)"
BUILD=$BUILD bash tests/crash-restart.sh >"$LOGS/crash-restart.log" 2>&1; rc=$?
cat "$LOGS/crash-restart.log"
count_lines crash-restart "$LOGS/crash-restart.log" $rc

echo "== sanitizers (tests/sanitize.sh, as make sanitize): valgrind, ASan/UBSan harness, library under ASan and TSan, Swift tests under TSan"
BUILD=$BUILD SWIFT=$SWIFT bash tests/sanitize.sh >"$LOGS/sanitize.log" 2>&1; rc=$?
cat "$LOGS/sanitize.log"
count_lines sanitize "$LOGS/sanitize.log" $rc

# Against the real components (../shared/real: busrtd, eva-ffi, the shipped
# controller); each script prints PASS/FAIL lines, or one NEEDS line where
# they are missing (then it counts nothing; under CI=true that is a FAIL).
echo "== real node (tests/realnode/test_*.py)"
for t in tests/realnode/test_*.py; do
    [ -e "$t" ] || continue
    name=$(basename "$t" .py)
    BUILD=$BUILD python3 "$t" >"$LOGS/realnode-$name.log" 2>&1; rc=$?
    cat "$LOGS/realnode-$name.log" | grep -E '^(PASS|FAIL|SKIP|NEEDS) '
    count_real "realnode/$name" "$LOGS/realnode-$name.log" $rc
done

echo "== BUS/RT client and the bus commands against busrtd (abi-harness/tests/busrt.sh)"
bash abi-harness/tests/busrt.sh "$BUILD" >"$LOGS/busrt.log" 2>&1; rc=$?
grep -E '^(FAIL|SKIP|NEEDS) ' "$LOGS/busrt.log"
count_real busrt "$LOGS/busrt.log" $rc

echo "== fuzz smoke (libFuzzer, each target ${FUZZ_SMOKE_SECONDS:-20} s; make fuzz runs longer)"
BUILD=$BUILD SWIFT=$SWIFT bash fuzz/run.sh --smoke --jobs 3 --seconds "${FUZZ_SMOKE_SECONDS:-20}" \
    >"$LOGS/fuzz.log" 2>&1; rc=$?
cat "$LOGS/fuzz.log"
count_lines fuzz "$LOGS/fuzz.log" $rc

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
