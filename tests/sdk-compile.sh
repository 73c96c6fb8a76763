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
HARNESS=${HARNESS:-$BUILD/abi-harness}
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

# The exports under `.defaultIsolation(MainActor.self)` (SwiftPM 6.2, Xcode's
# new templates): they must stay callable from any thread, i.e. nonisolated
# (main-actor exports trap on the launcher's first call).
{ cat tests/sdk-compile/Service.swift.in; echo 'typealias ExportedService = CaseService'
  echo 'nonisolated func fromALauncherThread() { _ = svc_prepare(); _ = svc_launch(); _ = svc_terminate() }'; } >"$WORK/isolation.swift"
if "$SWIFTC" -typecheck "${FLAGS[@]}" -default-isolation MainActor "$WORK/isolation.swift" mk/FFIExports.swift >"$WORK/isolation.log" 2>&1; then
    echo "PASS sdk-compile/exports-nonisolated-with-MainActor-default"
else echo "FAIL sdk-compile/exports-nonisolated-with-MainActor-default: $(grep -m1 'error:' "$WORK/isolation.log" | sed -E 's/^.*error: //')"; fi

# 2. The guide, as a reader copies it. block HEADING LANG: the first fenced
# block of LANG after the line that starts with HEADING.
block() {
    awk -v head="$1" -v fence="\`\`\`$2" '
        index($0, head) == 1 { found = 1; next }
        found && !inside && $0 == fence { inside = 1; next }
        inside && /^```/ { exit }
        inside { print }' README.md
}
# The folders of "From an empty folder": this repository beside the service.
GUIDE=$WORK/guide/my-service
rm -rf "$WORK/guide" && mkdir -p "$GUIDE/Sources/MyService" "$GUIDE/build"
ln -s "$ROOT" "$WORK/guide/eva-virtual-controller"
block '`Package.swift`' swift >"$GUIDE/Package.swift"
block '`Makefile`' make >"$GUIDE/Makefile"
block '`Sources/MyService/MyService.swift`' swift >"$GUIDE/Sources/MyService/MyService.swift"
cp mk/FFIExports.swift "$GUIDE/Sources/MyService/FFIExports.swift"
block '`my-service.yml`' yaml >"$GUIDE/my-service.yml"
block '`my-service-workers2.yml`' yaml >"$GUIDE/my-service-workers2.yml"
# The guide's harness commands (continuation lines joined), each in cmd.N,
# and the "# " lines under it in expect.N.
awk -v dir="$GUIDE" '
    BEGIN { n = 0 }
    /^\.\.\/eva-virtual-controller\/build\/abi-harness (run|check) / { n++; cmd = $0; more = /\\$/
        while (more && (getline line) > 0) { cmd = cmd "\n" line; more = line ~ /\\$/ }
        print cmd > (dir "/cmd." n); close(dir "/cmd." n); printf "" > (dir "/expect." n); collecting = 1; next }
    collecting && /^# / { sub(/^# /, ""); print >> (dir "/expect." n); next }
    { collecting = 0 }' README.md
ncmd=$(ls "$GUIDE"/cmd.* 2>/dev/null | wc -l)
for f in Package.swift Makefile Sources/MyService/MyService.swift my-service.yml my-service-workers2.yml; do
    if [ ! -s "$GUIDE/$f" ]; then echo "FAIL sdk-guide/extract: the README section lost its $f block"; exit 0; fi
done
if [ "$ncmd" -lt 3 ]; then echo "FAIL sdk-guide/extract: $ncmd harness commands in the README section, 3 or more expected"; exit 0; fi
# The Makefile's rule is the one `make` runs (dry run: the release build
# with the static runtime takes minutes; `make examples` builds the example
# that way and tests/example-service.sh checks it).
if make -n -C "$GUIDE" SWIFT="$SWIFT" >"$GUIDE/make-n.log" 2>&1 && grep -q -- '--product my-service' "$GUIDE/make-n.log"; then
    echo "PASS sdk-guide/makefile"
else echo "FAIL sdk-guide/makefile: make -n does not build the product my-service, see $GUIDE/make-n.log"; fi
# The package built as SwiftPM builds it (debug; the scratch folder is kept
# between runs, so only the service is compiled again).
lib=$GUIDE/build/libmy-service.so
if ! $SWIFT build --package-path "$GUIDE" --scratch-path "$WORK/guide-scratch" >"$GUIDE/build.log" 2>&1; then
    echo "FAIL sdk-guide/build: the README's package does not build: $(grep -m1 'error:' "$GUIDE/build.log" | sed -E 's/^.*error: //')"
    exit 0
fi
cp "$($SWIFT build --package-path "$GUIDE" --scratch-path "$WORK/guide-scratch" --show-bin-path)/libmy-service.so" "$lib"
echo "PASS sdk-guide/build"
for cmd in "$GUIDE"/cmd.*; do
    i=${cmd##*.}
    what=$(head -1 "$cmd" | sed -E 's#^\.\./eva-virtual-controller/build/abi-harness (run|check) .*--config ([^ ]+).*#\1-\2#')
    name="sdk-guide/$i-$what"
    (cd "$GUIDE" && sed "s#\.\./eva-virtual-controller/build/abi-harness#$HARNESS#" "$cmd" | timeout 120 bash) \
        >"$GUIDE/out.$i" 2>"$GUIDE/err.$i"
    rc=$?
    grep '^{' "$GUIDE/expect.$i" >"$GUIDE/expect-stdout.$i"
    missing=$(grep '^\[' "$GUIDE/expect.$i" | while IFS= read -r l; do grep -qxF -- "$l" "$GUIDE/err.$i" || echo "$l"; done)
    if [ $rc != 0 ]; then echo "FAIL $name: exit $rc; $(grep -m2 -E '^FAIL|error' "$GUIDE/out.$i" "$GUIDE/err.$i" | tr '\n' ' ')"
    elif grep -q '^FAIL ' "$GUIDE/out.$i"; then echo "FAIL $name: $(grep -m1 '^FAIL ' "$GUIDE/out.$i")"
    elif [ -s "$GUIDE/expect.$i" ] && ! cmp -s "$GUIDE/expect-stdout.$i" <(grep '^{' "$GUIDE/out.$i"); then
        echo "FAIL $name: stdout differs from the README: $(diff "$GUIDE/expect-stdout.$i" <(grep '^{' "$GUIDE/out.$i") | grep '^[<>]' | head -3 | tr '\n' ' ')"
    elif [ -n "$missing" ]; then echo "FAIL $name: not on stderr: $missing"
    else echo "PASS $name"; fi
done
# the refusal's line is debug: not shown at the default level (info)
(cd "$GUIDE" && timeout 60 "$HARNESS" run build/libmy-service.so --config my-service.yml --call set '{"value": "hot"}') \
    >/dev/null 2>"$GUIDE/refused-info.err"
if grep -qF 'call "set" from' "$GUIDE/refused-info.err"; then
    echo "FAIL sdk-guide/refusal-hidden-at-info: logged although core.log_level is info"
else echo "PASS sdk-guide/refusal-hidden-at-info"; fi
