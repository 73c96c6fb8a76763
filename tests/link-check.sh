#!/usr/bin/env bash
# The library must load on a node with no Swift toolchain and no libmsgpack,
# and export only the ABI functions.
set -uo pipefail
LIB=${1:?usage: link-check.sh LIB}
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1: $2"; }

deps=$(ldd "$LIB" 2>&1)
if echo "$deps" | grep -qiE 'swift|/opt/'; then bad no-swift-runtime "$(echo "$deps" | grep -iE 'swift|/opt/')"
else ok no-swift-runtime; fi
if echo "$deps" | grep -q msgpack; then bad static-msgpack "$(echo "$deps" | grep msgpack)"
else ok static-msgpack; fi
extra=$(echo "$deps" | awk '{print $1}' | grep -vE '^(linux-vdso|/lib64/ld-linux|libc\.so|libm\.so|libstdc\+\+\.so|libgcc_s\.so)' || true)
if [ -n "$extra" ]; then bad c-runtime-only "also needs: $extra"; else ok c-runtime-only; fi

expected="eva_svc_get_result eva_svc_set_op_fn svc_init svc_launch svc_on_frame svc_on_rpc_call svc_prepare svc_terminate"
exported=$(nm -D --defined-only "$LIB" | awk '{print $3}' | sed 's/@.*//' | sort | tr '\n' ' ' | sed 's/ $//')
if [ "$exported" = "$expected" ]; then ok exports-abi-only; else bad exports-abi-only "exports: $exported"; fi

size=$(stat -c %s "$LIB")
if [ "$size" -le $((8 * 1024 * 1024)) ]; then ok "size-under-8MB ($size bytes)"; else bad size-under-8MB "$size bytes"; fi

# It loads and answers through a plain dlopen, with no toolchain on the path.
if env -i PATH=/usr/bin:/bin python3 -c "
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
lib.eva_svc_set_op_fn.restype = ctypes.c_int16
assert lib.eva_svc_set_op_fn(2, None) == -32006, 'abi version 2 accepted'
assert lib.eva_svc_set_op_fn(1, None) == 0
" "$LIB"; then ok loads-without-toolchain; else bad loads-without-toolchain "dlopen or set_op_fn failed"; fi
