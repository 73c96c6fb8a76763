#!/usr/bin/env bash
# The harness's BUS/RT client and its bus commands (call, bench --bus,
# serve-test) against the real broker (../shared/real/bin/busrtd, or
# $BUSRTD), the shipped controller and a Python busrt service.
#
#   abi-harness/tests/busrt.sh [BUILD_DIR]     (default: the repository's build/)
#
# One PASS/FAIL line per test. Where busrtd is missing: one `NEEDS busrtd:`
# line and nothing counted (under CI=true a FAIL line). The driver is
# busrt_suite.py (Python: it plays the node with tests/realnode/node.py).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=${1:-$REPO/build}
mkdir -p "$BUILD" && BUILD=$(cd "$BUILD" && pwd)
[ -x "$BUILD/abi-harness" ] || make -s -C "$REPO/abi-harness" BUILD="$BUILD" >/dev/null || {
    echo "FAIL busrt/build: make abi-harness"; exit 1; }
# the client alone, built with its test probe under TSan (the concurrent
# calls) and ASan+UBSan
SRC=$REPO/abi-harness/src/busrt
mkdir -p "$BUILD/busrt-probe"
for san in thread address,undefined; do
    out=$BUILD/busrt-probe/probe-${san%%,*}
    if ! ${CC:-cc} -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 -fsanitize=$san -I"$SRC" -I"$SRC/.." \
        "$HERE/busrt/probe.c" "$SRC"/*.c "$SRC/../clock.c" -lpthread -lm -o "$out" 2>"$out.log"; then
        echo "FAIL busrt/build-probe-${san%%,*}: see $out.log"; exit 1
    fi
done
exec python3 "$HERE/busrt_suite.py" "$BUILD"
