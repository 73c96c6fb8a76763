#!/usr/bin/env bash
# The bus figures of `make bench`: calls through a real busrtd, measured with
# `abi-harness bench --bus` (tests/bench_bus.py drives the node). One busrtd,
# same run, QoS 3 and QoS 1: p50 with 1 client and calls/s with 8 clients,
# for the broker alone (serve-test answering `test`), the shipped controller
# `get`, our library `get` under eva-ffi (workers 4) and eva-ffi-42rt
# (workers 1), and under `abi-harness launch` (workers 4 and 1) when it is
# built; 1,000 items; then issue 15's targets, met or missed.
#
#   tests/bench-bus.sh   (BENCH_BUS_ROUNDS rounds, default 3, of BENCH_BUS_SECONDS s per
#                         figure, default 2; the cases interleave; medians)
#   BENCH_BUS_SOAK=60     then 8 clients for 60 s under launch: failed calls, its RSS
#
# Without busrtd (../shared/real, $REAL_DIR, $BUSRTD): one NEEDS line.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-$PWD/build}
for f in "$BUILD/abi-harness" "$BUILD/libeva-virtual-controller.so"; do
    [ -e "$f" ] || { echo "FAIL bench-bus: $f is missing (make library harness)"; exit 1; }
done
exec python3 tests/bench_bus.py "$BUILD"
