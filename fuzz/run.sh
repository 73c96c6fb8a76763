#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/Package.swift; busrt: the harness's C
# BUS/RT decoders, fuzz/busrt, built with clang) and runs each for a while;
# one PASS/FAIL line per target, with its exec count, execs/s and coverage.
#
#   fuzz/run.sh [--seconds N] [--jobs J] [--smoke] [TARGET...]
#
# TARGETs: rpc, frame, init, busrt (default: all). --seconds: per target (default
# 60). --jobs: targets run at once (default 2). --smoke: a fresh work corpus
# (as make test wants), else build/fuzz/corpus/TARGET grows from run to run.
# Seeds: fuzz/corpus/TARGET (regenerate with fuzz/gen-corpus.py) and
# fuzz/regressions/TARGET (inputs that once found something: replayed first).
# A finding leaves its input in build/fuzz/artifacts/ and the log in
# build/fuzz/logs/ (build/fuzz/smoke/... for --smoke); reproduce it with
#   SWIFT_BACKTRACE=enable=no FUZZ_RESET_EVERY=1 .build-fuzz/release/fuzz-TARGET ARTIFACT
# (a finding of rpc/frame may need the state earlier inputs left: then the
# log's last inputs tell what to put in a regression input).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-$ROOT/build}
SWIFT=${SWIFT:-swift}
SCRATCH=${FUZZ_SCRATCH:-$ROOT/.build-fuzz}
OUT=$BUILD/fuzz
# Swift's own crash backtracer would catch a finding's signal first and hide
# the stack the sanitizer prints.
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}
seconds=60
jobs=2
smoke=0
targets=()
while [ $# -gt 0 ]; do
    case $1 in
        --seconds) seconds=$2; shift 2 ;;
        --jobs) jobs=$2; shift 2 ;;
        --smoke) smoke=1; shift ;;
        rpc|frame|init|busrt) targets+=("$1"); shift ;;
        *) echo "usage: fuzz/run.sh [--seconds N] [--jobs J] [--smoke] [rpc|frame|init|busrt]..." >&2; exit 2 ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(rpc frame init busrt)
# a smoke run (make test) keeps its logs apart from a long run's
[ "$smoke" = 1 ] && OUT=$OUT/smoke
mkdir -p "$OUT/logs" "$OUT/artifacts"

swift_targets=0
BIN=
for t in "${targets[@]}"; do [ "$t" = busrt ] || swift_targets=1; done

FLAGS=(-c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -g)
build() { $SWIFT build --package-path fuzz --scratch-path "$SCRATCH" "${FLAGS[@]}" >"$OUT/logs/build.log" 2>&1; }
if [ "$swift_targets" = 1 ]; then
    # (a source edited while it compiled: build again)
    for attempt in 1 2 3; do
        build && break
        grep -q 'was modified during the build' "$OUT/logs/build.log" || break
        sleep 10
    done
    if ! build; then
        echo "FAIL fuzz/build: see $OUT/logs/build.log"
        grep -E 'error:' "$OUT/logs/build.log" | head -5
        exit 1
    fi
    BIN=$($SWIFT build --package-path fuzz --scratch-path "$SCRATCH" "${FLAGS[@]}" --show-bin-path)
fi

# the C target: the harness's BUS/RT decoders (abi-harness/src/busrt), with
# the clang that ships libFuzzer (Swift's, when the system one has none)
for t in "${targets[@]}"; do
    [ "$t" = busrt ] || continue
    CLANG=${CLANG:-$(command -v clang || echo "$(dirname "$(command -v "$SWIFT")")/clang")}
    mkdir -p "$OUT/bin"
    src=abi-harness/src/busrt
    if ! "$CLANG" -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$src" \
        fuzz/busrt/fuzz_busrt.c "$src/busrt_frame.c" "$src/busrt_rpc_codec.c" "$src/busrt_errors.c" \
        -o "$OUT/bin/fuzz-busrt" >"$OUT/logs/build-busrt.log" 2>&1; then
        echo "FAIL fuzz/build-busrt: see $OUT/logs/build-busrt.log"
        grep -E 'error' "$OUT/logs/build-busrt.log" | head -5
        exit 1
    fi
done

# run_target NAME: runs it, prints its PASS/FAIL line
run_target() {
    local t=$1 work log opts=()
    if [ "$smoke" = 1 ]; then
        work=$OUT/corpus/$t
        rm -rf "$work"
    else
        work=$OUT/corpus/$t
    fi
    mkdir -p "$work"
    log=$OUT/logs/$t.log
    case $t in
        # Against a running controller libFuzzer's per-input leak check sees
        # queued jobs as leaked (see SharedController): the target checks for
        # leaks itself, after each controller it terminated.
        rpc|frame) opts=(-detect_leaks=0) ;;
        # svc_init writes why it refused a payload on stderr, for every input.
        init) opts=(-close_fd_mask=2) ;;
    esac
    local exe=$BIN/fuzz-$t
    [ "$t" = busrt ] && exe=$OUT/bin/fuzz-busrt
    local seeds=(fuzz/corpus/$t)
    [ -d fuzz/regressions/$t ] && seeds+=(fuzz/regressions/$t)
    "$exe" "${opts[@]}" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
        -print_final_stats=1 -dict=fuzz/dict/$t.dict -artifact_prefix="$OUT/artifacts/$t-" \
        "$work" "${seeds[@]}" >"$log" 2>&1
    local rc=$?
    local execs cov ft corp
    execs=$(grep -a 'stat::number_of_executed_units' "$log" | tail -1 | awk '{print $2}')
    cov=$(grep -aE '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1 |
        sed -nE 's/.*cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+).*/\1 \2 \3/p')
    read -r cov ft corp <<<"${cov:-? ? ?}"
    if [ "$rc" = 0 ] && ! grep -aqE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|^finding:' "$log"; then
        local rate
        rate=$(grep -a 'stat::average_exec_per_sec' "$log" | tail -1 | awk '{print $2}')
        echo "PASS fuzz/$t: ${execs:-?} execs in ${seconds}s (${rate:-?} execs/s), cov $cov, ft $ft, corpus $corp"
    else
        local what
        what=$(grep -aE '^finding:|ERROR: |SUMMARY: ' "$log" | head -2 | tr '\n' ' ')
        echo "FAIL fuzz/$t: exit $rc after ${execs:-?} execs; ${what:-see $log}; artifact: $(ls -t "$OUT"/artifacts/"$t"-* 2>/dev/null | head -1)"
    fi
}

running=0
for t in "${targets[@]}"; do
    run_target "$t" >"$OUT/logs/$t.result" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait
status=0
for t in "${targets[@]}"; do
    cat "$OUT/logs/$t.result"
    grep -q '^PASS ' "$OUT/logs/$t.result" || status=1
done
exit $status
