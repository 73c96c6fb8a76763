# Sourced by run.sh (uses its helpers and variables): the harness measured
# against the real FFI launcher, point by point (shared/spec/abi-and-launcher.md
# and issue 9). Each test drives a reference variant that relies on what the
# real launcher does (libeva-reference-rely-*.so) or breaks what it needs
# (libeva-reference-break-*.so); names start with "launcher-".

PROBE="$REF_DIR/libeva-reference-rely-probe.so"
SUMMARY_RE='^check: [0-9]+ passed, [0-9]+ warned, [0-9]+ failed, [0-9]+ skipped$'

# a fresh copy of the fake EVA dir (tests/eva) with lib -> the reference build
eva_dir() {
    local d="$WORK/eva-$1"
    rm -rf "$d"
    cp -r "$HERE/eva" "$d"
    ln -s "$REF_DIR" "$d/lib"
    echo "$d"
}

# run_check NAME LIB args...: check into $WORK/NAME.out.all; sets RC
run_check() {
    local name=$1
    shift
    run_h "$WORK/$name.log" "$WORK/$name.out" "$CHECK_TIMEOUT" check "$@"
    cat "$WORK/$name.out" "$WORK/$name.out.err" >"$WORK/$name.out.all"
}

# the value at a JSON path (a.b) of the payload of the first reply to METHOD
reply_field() {
    python3 - "$1" "$2" "$3" <<'PY'
import json, sys
path, method, field = sys.argv[1:4]
for line in open(path, encoding="utf-8"):
    try:
        o = json.loads(line)
    except ValueError:
        continue
    if o.get("reply") == method:
        v = o.get("payload")
        for k in [k for k in field.split(".") if k]:
            v = v.get(k) if isinstance(v, dict) else None
        print(json.dumps(v))
        break
PY
}

# ------------------------------------------------- 2. buffers as parsed

# RPC_CALL "eva.core NUL test" with no final NUL: the real launcher reads the
# method up to the end of the buffer (the C++ SDK sends calls so)
if selected launcher-rpc-no-nul-run; then
    n=launcher-rpc-no-nul-run
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run "$REF_DIR/libeva-reference-rely-rpc-no-nul.so" \
        --config "$SVC" --log-level debug --call list
    if [ "$RC" -ne 0 ]; then
        fail $n "exit $RC, expected 0" "$WORK/$n.log"
    elif ! grep -q 'eva.core test: .* fields' "$WORK/$n.out.err"; then
        fail $n "the call without a final NUL did not reach eva.core (no 'eva.core test: N fields' log)" "$WORK/$n.log"
    elif ! grep -q '^{"reply":"list","code":0,' "$WORK/$n.out"; then
        fail $n "no list reply with code 0" "$WORK/$n.log"
    else
        pass $n
    fi
fi

# check: a missing final NUL breaks the ABI text only: WARN, exit 0
for v in rpc-no-nul subscribe-no-nul; do
    n="launcher-$v-check"
    selected $n || continue
    run_check $n "$REF_DIR/libeva-reference-rely-$v.so" --config "$SVC"
    all="$WORK/$n.out.all"
    if [ "$RC" -ne 0 ]; then
        fail $n "exit $RC, expected 0 (a missing NUL is a WARN): $(grep -m1 '^FAIL ' "$all")" "$WORK/$n.log"
    elif ! grep -qiE '^WARN [^ ]+.*nul' "$all"; then
        fail $n "no WARN line about the missing NUL" "$WORK/$n.log"
    elif ! grep -qE "$SUMMARY_RE" "$all"; then
        fail $n "no 'check: N passed, N warned, N failed, N skipped' summary" "$WORK/$n.log"
    else
        pass $n "$(grep -m1 -iE '^WARN .*nul' "$all" | cut -c1-100)"
    fi
done

# SUBSCRIBE "SVC/ST" without a NUL is taken; the core's SVC/ST ready (sender
# eva.core, at activation) reaches the library
if selected launcher-subscribe-no-nul-run; then
    n=launcher-subscribe-no-nul-run
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run "$REF_DIR/libeva-reference-rely-subscribe-no-nul.so" \
        --config "$SVC" --call list --drain 0.5
    if [ "$RC" -ne 0 ]; then
        fail $n "exit $RC, expected 0" "$WORK/$n.log"
    elif ! grep -q 'frame on SVC/ST from eva.core' "$WORK/$n.out.err"; then
        fail $n "the library did not get SVC/ST from eva.core (its topic had no final NUL)" "$WORK/$n.log"
    else
        pass $n
    fi
fi

# an empty topic makes the real launcher loop for ever: a failure, no hang
if selected launcher-empty-topic-run; then
    n=launcher-empty-topic-run
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run "$REF_DIR/libeva-reference-break-empty-topic.so" \
        --config "$SVC" --call list
    if [ "$RC" -eq 0 ]; then
        fail $n "exit 0: an empty topic went unreported" "$WORK/$n.log"
    elif [ "$RC" -ge 124 ]; then
        fail $n "the harness did not finish (exit $RC)" "$WORK/$n.log"
    elif ! grep -qi 'empty topic' "$WORK/$n.out.err"; then
        fail $n "exit $RC but stderr does not say 'empty topic'" "$WORK/$n.log"
    else
        pass $n "exit $RC"
    fi
fi
# an empty topic in svc_launch, after SVC/ST ready: the ready frame and the
# launcher's "started" line are on stdout before exit 6, every time (the bus
# consumer prints frames on its own thread; issue 14 §6). 30 runs.
if selected launcher-empty-topic-after-ready; then
    n=launcher-empty-topic-after-ready
    printf 'config: {empty_topic: true}\nworkers: 1\nuser: nobody\n' >"$WORK/$n.yml"
    why=""
    for i in $(seq 1 30); do
        run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run "$PING" --config "$WORK/$n.yml" --call ping
        if [ "$RC" -ne 6 ]; then
            why="run $i: exit $RC, expected 6"
        elif ! has_line "$WORK/$n.out" '{"frame":"SVC/ST","payload":{"status":"ready"}}'; then
            why="run $i: no SVC/ST ready line before exit 6"
        elif ! has_line "$WORK/$n.out" '{"frame":"LOG/IN/info","text":"ping service started (eva.controller.test)"}'; then
            why="run $i: no LOG/IN/info started line before exit 6"
        fi
        [ -z "$why" ] || break
    done
    if [ -z "$why" ]; then pass $n "30 runs"; else fail $n "$why" "$WORK/$n.log"; fi
fi
if selected launcher-empty-topic-check; then
    n=launcher-empty-topic-check
    run_check $n "$REF_DIR/libeva-reference-break-empty-topic.so" --config "$SVC"
    if [ "$RC" -ne 1 ]; then
        fail $n "exit $RC, expected 1" "$WORK/$n.log"
    elif ! grep -qiE '^FAIL .*empty topic' "$WORK/$n.out.all"; then
        fail $n "no FAIL line naming the empty topic" "$WORK/$n.log"
    else
        pass $n "$(grep -m1 -iE '^FAIL .*empty topic' "$WORK/$n.out.all" | cut -c1-100)"
    fi
fi

# ------------------------------------------------- 1. the runtime rule

HANG_LINE='hangs on a 4.2 node: RPC_CALL eva.registry key_get during svc_prepare with workers: 1'
PREP="$REF_DIR/libeva-reference-break-prepare-rpc.so"
if selected launcher-one-worker-run; then
    n=launcher-one-worker-run
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run "$PREP" --config "$SVC" --call list
    if [ "$RC" -ne 6 ]; then
        fail $n "exit $RC, expected 6 (would hang on a node)" "$WORK/$n.log"
    elif ! grep -qF "$HANG_LINE" "$WORK/$n.out.err"; then
        fail $n "no line '$HANG_LINE'" "$WORK/$n.log"
    elif grep -q '"reply"' "$WORK/$n.out"; then
        fail $n "a call was answered: the service cannot have become ready" "$WORK/$n.log"
    else
        pass $n
    fi
fi
# check FAILs one-worker-lifecycle naming the call and the callback
if selected launcher-one-worker-check; then
    n=launcher-one-worker-check
    run_check $n "$PREP" --config "$SVC" --only one-worker-lifecycle
    line=$(grep -m1 -E '^FAIL one-worker-lifecycle' "$WORK/$n.out.all")
    if [ "$RC" -ne 1 ]; then
        fail $n "exit $RC, expected 1" "$WORK/$n.log"
    elif [ -z "$line" ]; then
        fail $n "no 'FAIL one-worker-lifecycle' line" "$WORK/$n.log"
    elif ! [[ $line == *"RPC_CALL eva.registry key_get"* && $line == *svc_prepare* ]]; then
        fail $n "the FAIL line does not name the call and the callback: $line" "$WORK/$n.log"
    else
        pass $n "$(cut -c1-100 <<<"$line")"
    fi
fi
if selected launcher-two-workers-run; then
    n=launcher-two-workers-run
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run "$PREP" --config "$SVC" --workers 2 --call list
    if [ "$RC" -ne 0 ]; then
        fail $n "exit $RC, expected 0 with --workers 2" "$WORK/$n.log"
    elif ! grep -q '^{"reply":"list","code":0,' "$WORK/$n.out"; then
        fail $n "no list reply" "$WORK/$n.log"
    elif grep -q 'hangs on a 4.2 node' "$WORK/$n.out.err"; then
        fail $n "reported a hang with workers: 2" "$WORK/$n.log"
    else
        pass $n
    fi
fi
if selected launcher-two-workers-check; then
    n=launcher-two-workers-check
    run_check $n "$PREP" --config "$SVC" --workers 2
    if [ "$RC" -ne 0 ]; then
        fail $n "exit $RC with --workers 2: $(grep -m1 '^FAIL ' "$WORK/$n.out.all")" "$WORK/$n.log"
    elif grep -qE '^FAIL ' "$WORK/$n.out.all"; then
        fail $n "a FAIL line with exit 0" "$WORK/$n.log"
    else
        pass $n "$(grep -E '^check: ' "$WORK/$n.out.all" | tail -n 1)"
    fi
fi

# ------------------------------------------------- 3. ops and their answers

if selected launcher-ops; then
    n=launcher-ops
    d=$(eva_dir $n)
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run --config "$d/svc-probe.yml" --eva-dir "$d" \
        --script "$HERE/scripts/probe-ops.yml"
    if [ "$RC" -ne 0 ]; then
        fail $n "exit $RC: $(grep -m1 FAILED "$WORK/$n.out.err")" "$WORK/$n.log"
    elif grep -q 'a log line from svc_init' <(grep -v '^probe: ' "$WORK/$n.out.err"); then
        fail $n "a LOG made during svc_init was not dropped" "$WORK/$n.log"
    else
        pass $n
    fi
fi

# GET_RPC_RESULT after an error gives the previous result (with a warning);
# a call to a target no one answers is TIMEOUT after timeout.default (0.5 s)
if selected launcher-rpc-results; then
    n=launcher-rpc-results
    d=$(eva_dir $n)
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run --config "$d/svc-probe.yml" --eva-dir "$d" \
        --call probe.rpc '{go: true}'
    o="$WORK/$n.out"
    ok=$(reply_field "$o" probe.rpc ok)
    err=$(reply_field "$o" probe.rpc error)
    after=$(reply_field "$o" probe.rpc fetch_after_error)
    prev=$(reply_field "$o" probe.rpc previous_result)
    lost=$(reply_field "$o" probe.rpc lost)
    ms=$(reply_field "$o" probe.rpc lost_ms)
    if [ "$RC" -ne 0 ]; then
        fail $n "exit $RC" "$WORK/$n.log"
    elif [ "$ok" != 1 ] || ! [[ $err =~ ^-[0-9]+$ ]]; then
        fail $n "eva.core test gave $ok (expected a result), the unknown method $err (expected an error)" "$WORK/$n.log"
    elif [ "$after" != 0 ] || [ "$prev" != true ]; then
        fail $n "GET_RPC_RESULT after an error: $after, previous result: $prev (expected 0, true)" "$WORK/$n.log"
    elif ! grep -qiE 'warn.*GET_RPC_RESULT|GET_RPC_RESULT.*(previous|no result|after)' "$WORK/$n.out.err"; then
        fail $n "no warning about GET_RPC_RESULT after a non-positive RPC_CALL" "$WORK/$n.log"
    elif [ "$lost" != -32008 ]; then
        fail $n "a call to a target no one answers gave $lost, expected TIMEOUT (-32008)" "$WORK/$n.log"
    elif [ "$ms" -lt 400 ] || [ "$ms" -gt 3000 ]; then
        fail $n "the TIMEOUT came after $ms ms, expected timeout.default (500 ms)" "$WORK/$n.log"
    else
        pass $n "TIMEOUT after $ms ms"
    fi
fi

# ------------------------------------------------- 4. POC

if selected launcher-poc; then
    n=launcher-poc
    d=$(eva_dir $n)
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run --config "$d/svc-probe.yml" --eva-dir "$d" \
        --call probe.poc '{go: true}'
    o="$WORK/$n.out"
    if [ "$RC" -ne 1 ]; then
        fail $n "exit $RC, expected 1" "$WORK/$n.log"
    elif ! grep -q 'critical: probe asked for it' "$o.err"; then
        fail $n "no 'critical: <text>' line" "$WORK/$n.log"
    elif [ "$(reply_field "$o" probe.poc poc)" != 0 ]; then
        fail $n "POC did not return 0 to the library" "$WORK/$n.log"
    elif ! grep -q '^{"frame":"probe/terminate"' "$o"; then
        fail $n "svc_terminate did not run after POC" "$WORK/$n.log"
    else
        pass $n
    fi
fi

# ------------------------------------------------- 5. the initial payload

if selected launcher-initial-payload; then
    n=launcher-initial-payload
    d=$(eva_dir $n)
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run --config "$d/svc-probe.yml" --eva-dir "$d" --call test
    e="$WORK/$n.out.err"
    dp="$d/runtime/svc_data/eva.controller.test"
    len=$(sed -nE 's/^probe: initial buffer len=([0-9]+) max=([0-9]+)$/\1/p' "$e")
    max=$(sed -nE 's/^probe: initial buffer len=([0-9]+) max=([0-9]+)$/\2/p' "$e")
    why=""
    [ "$RC" -eq 0 ] || why="$why exit $RC;"
    for re in '^probe: initial core\.eapi_verion integer [0-9]+$' '^probe: initial env map [0-9]+$' \
        '^probe: initial realtime map [0-9]+$' '^probe: initial realtime\.priority ' '^probe: initial realtime\.cpu_ids array ' \
        '^probe: initial realtime\.prealloc_heap ' '^probe: initial restart_delay float ' '^probe: initial bus\.token nil$' \
        '^probe: initial prepare_command (nil|str )' '^probe: initial user str $' \
        '^probe: initial config\.items\[1\] str unit:tests/u1$' '^probe: initial config\.note str hello(\\x0a)?$' \
        '^probe: initial config\.piped\.p integer 7$' '^probe: initial config\.piped_text str piped(\\x0a)?$' \
        "^probe: initial data_path str $d/runtime/svc_data/eva\.controller\.test/?\$" '^probe: data_path writable$'; do
        grep -qE -- "$re" "$e" || why="$why no line /$re/;"
    done
    grep -qE '^probe: initial bus\.ping_interval ' "$e" && why="$why bus.ping_interval is there;"
    { [ -n "$len" ] && [ "$max" -gt "$len" ]; } || why="$why buffer max ${max:-?} not larger than len ${len:-?};"
    [ -d "$dp" ] || why="$why $dp was not created;"
    if [ -z "$why" ]; then pass $n; else fail $n "$why" "$WORK/$n.log"; fi
fi

# no config: {}; user nobody: data_path ""
if selected launcher-initial-nobody; then
    n=launcher-initial-nobody
    d=$(eva_dir $n)
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run --config "$d/svc-probe-nobody.yml" --eva-dir "$d" --call test
    e="$WORK/$n.out.err"
    if [ "$RC" -ne 0 ]; then
        fail $n "exit $RC" "$WORK/$n.log"
    elif ! grep -qxF 'probe: initial config map 0' "$e"; then
        fail $n "config is not {} when the template has none" "$WORK/$n.log"
    elif ! grep -qxF 'probe: initial data_path str ' "$e" || ! grep -qxF 'probe: data_path empty' "$e"; then
        fail $n "data_path is not \"\" for user nobody" "$WORK/$n.log"
    elif ! grep -qxF 'probe: initial user str nobody' "$e"; then
        fail $n "user is not nobody" "$WORK/$n.log"
    else
        pass $n
    fi
fi

# data_path without --data-path or --eva-dir: a fresh folder per run, named on
# stderr and removed at exit, so a run never sees what another left there
# (issue 14 §5); --data-path DIR keeps one between runs (the probe counts the
# entries it finds and leaves a file behind)
if selected launcher-data-path-fresh; then
    n=launcher-data-path-fresh
    d=$(eva_dir $n)
    tmp="$WORK/$n.tmp"
    mkdir -p "$tmp"
    why=""
    seen=""
    for i in 1 2; do
        TMPDIR=$tmp run_h "$WORK/$n-$i.log" "$WORK/$n-$i.out" "$RUN_TIMEOUT" run --config "$d/svc-probe.yml" --call test
        e="$WORK/$n-$i.out.err"
        said=$(sed -nE 's/^\[info\] harness: fresh data folder ([^ ]+) \(data_path\), removed at exit; --data-path DIR keeps one between runs$/\1/p' "$e")
        [ "$RC" -eq 0 ] || why="$why run $i: exit $RC;"
        case "$said" in "$tmp"/abi-harness-data-*) ;; *) why="$why run $i: no 'fresh data folder' line naming a folder in TMPDIR;" ;; esac
        grep -qxF "probe: initial data_path str $said" "$e" || why="$why run $i: the library did not get $said;"
        grep -qxF 'probe: data_path entries 0' "$e" || why="$why run $i: the fresh folder was not empty;"
        [ -e "$said" ] && why="$why run $i: $said is still there after the exit;"
        [ -n "$said" ] && [ "$said" = "$seen" ] && why="$why both runs got $said;"
        seen=$said
    done
    [ -z "$(ls -A "$tmp")" ] || why="$why TMPDIR is not empty after the runs: $(ls "$tmp" | head -3 | tr '\n' ' ');"
    for i in 1 2; do
        run_h "$WORK/$n-kept-$i.log" "$WORK/$n-kept-$i.out" "$RUN_TIMEOUT" run --config "$d/svc-probe.yml" \
            --data-path "$WORK/$n.kept" --call test
        e="$WORK/$n-kept-$i.out.err"
        [ "$RC" -eq 0 ] || why="$why --data-path run $i: exit $RC;"
        grep -q 'fresh data folder' "$e" && why="$why --data-path run $i: a fresh folder was made anyway;"
        grep -qxF "probe: data_path entries $((i - 1))" "$e" || why="$why --data-path run $i: expected $((i - 1)) entries left by the earlier run;"
    done
    [ -f "$WORK/$n.kept/probe-write" ] || why="$why the --data-path folder was not kept;"
    if [ -z "$why" ]; then pass $n; else fail $n "$why" "$WORK/$n-1.log"; fi
fi

# fail_mode without react_to_fail: the launcher refuses to start
if selected launcher-fail-mode-refused; then
    n=launcher-fail-mode-refused
    d=$(eva_dir $n)
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run --config "$d/svc-fail-mode.yml" --eva-dir "$d" \
        --fail-mode --call list
    if [ "$RC" -ne 3 ]; then
        fail $n "exit $RC, expected 3 (launch refused)" "$WORK/$n.log"
    elif ! grep -q 'react_to_fail' "$WORK/$n.out.err"; then
        fail $n "stderr does not say why (react_to_fail)" "$WORK/$n.log"
    elif grep -q '"reply"' "$WORK/$n.out"; then
        fail $n "a call was answered" "$WORK/$n.log"
    else
        pass $n
    fi
fi

# ------------------------------------------------- 6. the command: line

# launcher options before the library; the library path relative to the EVA
# dir; --command-queue-size 4 bounds the outgoing queue: a flood gets BUSY
if selected launcher-command-line; then
    n=launcher-command-line
    d=$(eva_dir $n)
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run --config "$d/svc-command.yml" --eva-dir "$d" \
        --call probe.flood '{go: true, n: 3000}'
    busy=$(reply_field "$WORK/$n.out" probe.flood busy)
    if [ "$RC" -ne 0 ]; then
        fail $n "exit $RC" "$WORK/$n.log"
    elif ! [[ $busy =~ ^[0-9]+$ ]] || [ "$busy" -eq 0 ]; then
        fail $n "3000 publications with --command-queue-size 4 got ${busy:-no reply} BUSY" "$WORK/$n.log"
    else
        pass $n "$busy BUSY"
    fi
fi
# bus.queue_size is not the launcher's queue: 3000 fit in the default 8192
if selected launcher-queue-size; then
    n=launcher-queue-size
    d=$(eva_dir $n)
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run --config "$d/svc-queue.yml" --eva-dir "$d" \
        --call probe.flood '{go: true, n: 3000}'
    busy=$(reply_field "$WORK/$n.out" probe.flood busy)
    if [ "$RC" -ne 0 ]; then
        fail $n "exit $RC" "$WORK/$n.log"
    elif [ "$busy" != 0 ]; then
        fail $n "bus.queue_size 4 bounded the outgoing queue (${busy:-no reply} BUSY of 3000)" "$WORK/$n.log"
    else
        pass $n
    fi
fi
# without --eva-dir the EVA dir is the template's folder
if selected launcher-eva-dir-default; then
    n=launcher-eva-dir-default
    d=$(eva_dir $n)
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run --config "$d/svc-probe.yml" --call test
    if [ "$RC" -ne 0 ]; then
        fail $n "exit $RC (lib/... relative to the template's folder)" "$WORK/$n.log"
    elif ! grep -qE "^probe: initial core\.path str $d/?\$" "$WORK/$n.out.err"; then
        fail $n "core.path is not the template's folder" "$WORK/$n.log"
    else
        pass $n
    fi
fi

# ------------------------------------------------- 7. stop order, signals

# IS_ACTIVE 0, then "terminating", then svc_terminate (which publishes
# probe/terminate); TERMINATE from a call returns 0
if selected launcher-stop-order; then
    n=launcher-stop-order
    d=$(eva_dir $n)
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run --config "$d/svc-probe.yml" --eva-dir "$d" \
        --call probe.stop '{go: true}'
    o="$WORK/$n.out"
    term=$(line_no "$o" '{"frame":"SVC/ST","payload":{"status":"terminating"}}')
    probe=$(grep -n '^{"frame":"probe/terminate"' "$o" | head -n 1 | cut -d: -f1)
    if [ "$RC" -ne 0 ]; then
        fail $n "exit $RC" "$WORK/$n.log"
    elif [ "$(reply_field "$o" probe.stop terminate)" != 0 ]; then
        fail $n "TERMINATE did not return 0" "$WORK/$n.log"
    elif [ -z "$term" ] || [ -z "$probe" ]; then
        fail $n "missing the terminating frame (${term:-none}) or the svc_terminate frame (${probe:-none})" "$WORK/$n.log"
    elif [ "$term" -gt "$probe" ]; then
        fail $n "svc_terminate ran before 'terminating' was published" "$WORK/$n.log"
    elif ! grep -q '^{"frame":"probe/terminate","payload":{"is_active":0,' "$o"; then
        fail $n "IS_ACTIVE in svc_terminate: $(sed -n "${probe}p" "$o") (expected 0)" "$WORK/$n.log"
    else
        pass $n
    fi
fi

# with workers: 2, frames keep being routed while svc_terminate runs: the
# probe publishes probe/echo there (it subscribed to it) and gets it back
# (a service receives its own publications on topics it subscribed to)
if selected launcher-stop-routes-frames; then
    n=launcher-stop-routes-frames
    d=$(eva_dir $n)
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run --config "$d/svc-probe.yml" --eva-dir "$d" --workers 2 \
        --call test
    if [ "$RC" -ne 0 ]; then
        fail $n "exit $RC" "$WORK/$n.log"
    elif ! has_line "$WORK/$n.out" '{"frame":"probe/terminate","payload":{"is_active":0,"echo":true}}'; then
        fail $n "the probe's own probe/echo did not reach it during svc_terminate: $(grep -m1 'probe/terminate' "$WORK/$n.out")" "$WORK/$n.log"
    else
        pass $n
    fi
fi

# SIGTERM and SIGHUP stop the service in order, exit 0
for sig in TERM HUP; do
    n="launcher-sig$sig"
    selected $n || continue
    d=$(eva_dir $n)
    o="$WORK/$n.out"
    {
        echo "\$ abi-harness run --config svc-probe.yml (no steps), then SIG$sig"
        "$H" run --config "$d/svc-probe.yml" --eva-dir "$d" >"$o" 2>"$o.err" &
        pid=$!
        for _ in $(seq 1 100); do
            grep -q '"status":"ready"' "$o" 2>/dev/null && break
            sleep 0.1
        done
        kill -s "$sig" "$pid"
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid"
            echo "[still running 10 s after SIG$sig]"
        fi
        wait "$pid"
        RC=$?
        cat "$o" "$o.err"
        echo "[exit $RC]"
    } >"$WORK/$n.log" 2>&1
    if [ "$RC" -ne 0 ]; then
        fail $n "exit $RC after SIG$sig, expected 0" "$WORK/$n.log"
    elif ! has_line "$o" '{"frame":"SVC/ST","payload":{"status":"terminating"}}' || ! grep -q '^{"frame":"probe/terminate"' "$o"; then
        fail $n "no ordered stop (terminating frame, svc_terminate) after SIG$sig" "$WORK/$n.log"
    else
        pass $n
    fi
done

if selected launcher-help-sigint; then
    n=launcher-help-sigint
    "$H" run --help >"$WORK/$n.out" 2>&1
    if grep -qiE 'SIGINT.*ignore|ignore.*SIGINT' "$WORK/$n.out"; then
        pass $n
    else
        fail $n "run --help does not say that a node ignores SIGINT" "$WORK/$n.out"
    fi
fi

# ------------------------------------------------- 8. the core

# RAW published in svc_launch, before the core is active: dropped, reported
if selected launcher-core-drops; then
    n=launcher-core-drops
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run "$REF_DIR/libeva-reference-rely-early-raw.so" \
        --config "$SVC" --core-delay 1 --script "$HERE/scripts/core-early-raw.yml"
    if [ "$RC" -ne 0 ]; then
        fail $n "exit $RC: $(grep -m1 FAILED "$WORK/$n.out.err")" "$WORK/$n.log"
    elif ! grep -qiE 'drop.*RAW|RAW.*drop' "$WORK/$n.out.err"; then
        fail $n "the RAW events published before the core was active were not reported as dropped" "$WORK/$n.log"
    else
        pass $n "$(grep -m1 -iE 'drop.*RAW|RAW.*drop' "$WORK/$n.out.err" | cut -c1-100)"
    fi
fi

# --core-delay: eva.core test says active: false, then true; at activation
# SVC/ST ready comes from eva.core
if selected launcher-core-delay; then
    n=launcher-core-delay
    d=$(eva_dir $n)
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run --config "$d/svc-probe.yml" --eva-dir "$d" \
        --core-delay 1.5 --script "$HERE/scripts/probe-core-delay.yml"
    if [ "$RC" -ne 0 ]; then
        fail $n "exit $RC: $(grep -m1 FAILED "$WORK/$n.out.err")" "$WORK/$n.log"
    elif ! grep -qxF 'probe: frame SVC/ST from eva.core: ready' "$WORK/$n.out.err"; then
        fail $n "no SVC/ST ready from eva.core at activation" "$WORK/$n.log"
    else
        pass $n
    fi
fi

# the mock registry answers key_set and key_delete with a nil payload (one
# byte, c0), as eva.registry does
if selected launcher-registry-nil; then
    n=launcher-registry-nil
    d=$(eva_dir $n)
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run --config "$d/svc-probe.yml" --eva-dir "$d" \
        --call probe.registry '{go: true}'
    got=$(reply_field "$WORK/$n.out" probe.registry "")
    if [ "$RC" -ne 0 ]; then
        fail $n "exit $RC" "$WORK/$n.log"
    elif [ "$got" != '{"set": 1, "set_result": "c0", "delete": 1, "delete_result": "c0"}' ]; then
        fail $n "key_set/key_delete answered $got, expected a nil payload (1 byte, c0) each" "$WORK/$n.log"
    else
        pass $n
    fi
fi

# ------------------------------------------------- 9. service info

if selected launcher-info-undecodable; then
    n=launcher-info-undecodable
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run "$REF_DIR/libeva-reference-break-info-params.so" \
        --config "$SVC" --call list
    if [ "$RC" -ne 3 ]; then
        fail $n "exit $RC, expected 3 (info without params aborts the launch)" "$WORK/$n.log"
    elif grep -q '"reply"' "$WORK/$n.out"; then
        fail $n "a call was answered" "$WORK/$n.log"
    elif ! grep -qi 'info' "$WORK/$n.out.err"; then
        fail $n "stderr does not say the service info is at fault" "$WORK/$n.log"
    else
        pass $n
    fi
fi
if selected launcher-info-dummy; then
    n=launcher-info-dummy
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run "$REF_DIR/libeva-reference-rely-info-zero.so" \
        --config "$SVC" --call info --call list
    if [ "$RC" -ne 0 ]; then
        fail $n "exit $RC, expected 0 (svc_init returning 0 is allowed)" "$WORK/$n.log"
    elif [ "$(reply_field "$WORK/$n.out" info description)" != '"FFI launcher dummy"' ]; then
        fail $n "info is not the launcher's dummy info" "$WORK/$n.log"
    elif ! grep -q '^{"reply":"list","code":0,' "$WORK/$n.out"; then
        fail $n "no list reply" "$WORK/$n.log"
    else
        pass $n
    fi
fi

# ------------------------------------------------- check: --skip

# --skip METHOD: methods that stop the service by design (probe.poc,
# probe.stop with {go: true}, which the garbage cases find in the info) or
# are slow on purpose (probe.rpc waits out a timeout) are skipped; probe.crash
# aborts: left in, a FAIL names it; skipped too, the probe passes
if selected launcher-check-skip; then
    n=launcher-check-skip
    d=$(eva_dir $n)
    skips=(--skip probe.poc --skip probe.stop --skip probe.rpc)
    run_check $n.1 "$PROBE" --config "$d/svc-probe.yml" --eva-dir "$d" "${skips[@]}"
    rc1=$RC
    run_check $n.2 "$PROBE" --config "$d/svc-probe.yml" --eva-dir "$d" "${skips[@]}" --skip probe.crash
    rc2=$RC
    cat "$WORK/$n.1.log" "$WORK/$n.2.log" >"$WORK/$n.log"
    if [ "$rc1" -ne 1 ] || ! grep -qE '^FAIL .*probe\.crash' "$WORK/$n.1.out.all"; then
        fail $n "without --skip probe.crash: exit $rc1 and no FAIL line naming probe.crash" "$WORK/$n.log"
    elif [ "$rc2" -ne 0 ] || grep -qE '^FAIL ' "$WORK/$n.2.out.all"; then
        fail $n "with --skip probe.crash: exit $rc2: $(grep -m1 '^FAIL ' "$WORK/$n.2.out.all")" "$WORK/$n.log"
    elif ! grep -qE "$SUMMARY_RE" "$WORK/$n.2.out.all"; then
        fail $n "no 'check: N passed, N warned, N failed, N skipped' summary" "$WORK/$n.log"
    else
        pass $n "$(grep -E '^check: ' "$WORK/$n.2.out.all" | tail -n 1)"
    fi
fi

# ------------------------------------------------- run: errors said so

if selected launcher-error-names; then
    n=launcher-error-names
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run "$REF" --config "$SVC" --call get '{i: sensor:tests/missing}' \
        --call no.such.method
    if [ "$RC" -ne 0 ]; then
        fail $n "exit $RC" "$WORK/$n.log"
    elif ! cat "$WORK/$n.out" "$WORK/$n.out.err" | grep -q -- '-32001.*NOT_FOUND\|NOT_FOUND.*-32001'; then
        fail $n "the NOT_FOUND reply does not carry the code's name" "$WORK/$n.log"
    elif ! cat "$WORK/$n.out" "$WORK/$n.out.err" | grep -q -- '-32601.*METHOD_NOT_FOUND\|METHOD_NOT_FOUND.*-32601'; then
        fail $n "the METHOD_NOT_FOUND reply does not carry the code's name" "$WORK/$n.log"
    else
        pass $n
    fi
fi
if selected launcher-call-step-error; then
    n=launcher-call-step-error
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run "$REF" --config "$SVC" \
        --script "$HERE/scripts/call-error.yml"
    step=$(grep -E '^step 1/2 call get' "$WORK/$n.out.err" | head -n 1)
    if [ -z "$step" ]; then
        fail $n "no step line for the call" "$WORK/$n.log"
    elif [[ $step =~ :\ ok$ ]] || ! [[ $step =~ (-32001|NOT_FOUND) ]]; then
        fail $n "the step that got NOT_FOUND says: $step" "$WORK/$n.log"
    else
        pass $n "$step"
    fi
fi

# --check-actions: a terminal event for a uuid that no call carried
if selected launcher-check-actions-unknown; then
    n=launcher-check-actions-unknown
    d=$(eva_dir $n)
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" run --config "$d/svc-probe.yml" --eva-dir "$d" \
        --check-actions --call probe.act '{go: true}'
    viol=$(sed -nE 's/^actions: .* ([0-9]+) violations$/\1/p' "$WORK/$n.out.err" | tail -n 1)
    if [ "$RC" -ne 1 ]; then
        fail $n "exit $RC, expected 1" "$WORK/$n.log"
    elif [ -z "$viol" ] || [ "$viol" -lt 1 ]; then
        fail $n "no violation counted for the unknown uuid" "$WORK/$n.log"
    elif ! grep -qi 'abababab' "$WORK/$n.out.err"; then
        fail $n "the report does not name the uuid (abababab...)" "$WORK/$n.log"
    else
        pass $n
    fi
fi

# ------------------------------------------------- bench

if selected launcher-bench-launch-failed; then
    n=launcher-bench-launch-failed
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" bench "$REF" --config "$WORK/svc-bad-key.yml" --call list \
        --seconds 0.2
    rc1=$RC
    run_h "$WORK/$n.2.log" "$WORK/$n.2.out" "$RUN_TIMEOUT" bench "$REF_DIR/libeva-reference-break-info-params.so" \
        --config "$SVC" --call list --seconds 0.2
    cat "$WORK/$n.2.log" >>"$WORK/$n.log"
    if [ "$rc1" -ne 3 ] || [ "$RC" -ne 3 ]; then
        fail $n "exit $rc1 (refused config) and $RC (undecodable info), expected 3 and 3" "$WORK/$n.log"
    else
        pass $n
    fi
fi
# what the library writes on stdout (the probe does, in svc_init) stays out
# of the bench's results
if selected launcher-bench-library-output; then
    n=launcher-bench-library-output
    d=$(eva_dir $n)
    tmp="$WORK/$n.tmp"
    mkdir -p "$tmp"
    # the library's stdout goes to a temporary file, removed at exit (issue 14
    # §6), and the data folder is a fresh one, removed too
    TMPDIR=$tmp run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" bench "$PROBE" --config "$d/svc-probe.yml" \
        --call probe.report --seconds 0.2 --warmup 0.05
    rc1=$RC
    # --library-output FILE keeps it
    run_h "$WORK/$n.2.log" "$WORK/$n.2.out" "$RUN_TIMEOUT" bench "$PROBE" --config "$d/svc-probe.yml" \
        --call probe.report --seconds 0.2 --warmup 0.05 --library-output "$WORK/$n.library"
    if [ "$rc1" -ne 0 ] || [ "$RC" -ne 0 ]; then
        fail $n "exit $rc1 / $RC (--library-output)" "$WORK/$n.log"
    elif ! grep -qE '^result A: calls=' "$WORK/$n.out"; then
        fail $n "no 'result A:' line" "$WORK/$n.log"
    elif grep -q '^probe: ' "$WORK/$n.out" "$WORK/$n.2.out"; then
        fail $n "the library's stdout is in the bench results" "$WORK/$n.log"
    elif ! grep -qE '^library output: [0-9]+ bytes \(.*removed: --library-output FILE keeps it\)$' "$WORK/$n.out"; then
        fail $n "no 'library output: N bytes (... removed ...)' line" "$WORK/$n.log"
    elif [ -n "$(ls -A "$tmp")" ]; then
        fail $n "files left in TMPDIR: $(ls "$tmp" | tr '\n' ' ')" "$WORK/$n.log"
    elif ! grep -q '^probe: a line on stdout' "$WORK/$n.library"; then
        fail $n "--library-output $WORK/$n.library does not hold the library's stdout" "$WORK/$n.2.log"
    elif ! grep -qF 'fresh data folder' "$WORK/$n.out.err"; then
        fail $n "no 'fresh data folder' line on stderr" "$WORK/$n.log"
    else
        pass $n
    fi
fi
if selected launcher-bench-vs-call; then
    n=launcher-bench-vs-call
    d=$(eva_dir $n)
    run_h "$WORK/$n.log" "$WORK/$n.out" "$RUN_TIMEOUT" bench "$REF" --config "$SVC" --call list \
        --vs "$PROBE" --vs-config "$d/svc-probe.yml" --vs-call probe.report --seconds 0.4 --rounds 2 --warmup 0.05
    o="$WORK/$n.out"
    if [ "$RC" -ne 0 ]; then
        fail $n "exit $RC" "$WORK/$n.log"
    elif ! grep -qE '^reply B probe\.report: \{' "$o"; then
        fail $n "B did not make its own call (no 'reply B probe.report:' line)" "$WORK/$n.log"
    elif ! grep -qE '^reply A list: \[' "$o"; then
        fail $n "no 'reply A list:' line" "$WORK/$n.log"
    elif ! grep -qE '^ratio A/B: median=' "$o"; then
        fail $n "no ratio line" "$WORK/$n.log"
    else
        pass $n "$(grep -m1 '^ratio' "$o")"
    fi
fi
