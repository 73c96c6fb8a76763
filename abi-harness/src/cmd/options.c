#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "initial_payload.h"
#include "output.h"
#include "rng.h"
#include "strbuf.h"
#include "xalloc.h"

enum harness_opt_id {
    OPT_CONFIG, OPT_ID, OPT_FAIL_MODE, OPT_LOG_LEVEL, OPT_POOL, OPT_QUEUE_SIZE, OPT_RESULT_MODE, OPT_REGISTRY,
    OPT_CORE_INACTIVE, OPT_FAULT, OPT_SEED, OPT_CALL, OPT_FRAME, OPT_SCRIPT, OPT_KEEP_RUNNING, OPT_DRAIN,
    OPT_CHECK_ACTIONS, OPT_NO_FRAMES, OPT_SENDER, OPT_DELIVER_UNSUBSCRIBED, OPT_SYSTEM_NAME, OPT_DATA_PATH,
    OPT_EVA_DIR, OPT_FIPS, OPT_CALL_TRACING, OPT_INITIAL_EXTRA, OPT_ONLY, OPT_TIME_LIMIT, OPT_ITERATIONS,
    OPT_VERBOSE, OPT_LIST, OPT_HELP, OPT_WORKERS, OPT_CORE_DELAY, OPT_SKIP,
};

#define R HARNESS_CMD_RUN
#define C HARNESS_CMD_CHECK
#define B HARNESS_CMD_BENCH

static const struct harness_opt {
    enum harness_opt_id id;
    const char *name;
    const char *arg; /* NULL: a flag */
    unsigned cmds;
    const char *help;
} harness_opts[] = {
    {OPT_CONFIG, "config", "FILE", R | C | B, "service template YAML (as for `eva svc create`): config, workers, user, timeout, react_to_fail, bus"},
    {OPT_ID, "id", "SVC_ID", R | C | B, "service id in the initial payload (default " HARNESS_DEFAULT_SVC_ID ")"},
    {OPT_FAIL_MODE, "fail-mode", NULL, R | C | B, "set fail_mode in the initial payload (the previous instance failed)"},
    {OPT_LOG_LEVEL, "log-level", "LEVEL", R | C | B, "trace|debug|info|warn|error|off: core.log_level and the stderr filter (default info)"},
    {OPT_WORKERS, "workers", "N", R | C | B, "override the template's workers (default 1, as on a node): <= 1 models the one-thread runtime of EVA ICS 4.2"},
    {OPT_POOL, "pool", "N", R | C | B, "threads that run calls and frames in the library (default 4)"},
    {OPT_QUEUE_SIZE, "queue-size", "N", R | C | B, "the launcher's command queue bound; full -> BUSY (default: --command-queue-size of command:, else 8192)"},
    {OPT_RESULT_MODE, "result-mode", "MODE", R | B, "GET_RPC_RESULT: swap (repoint, as the node does; default) or copy (into the caller's buffer)"},
    {OPT_REGISTRY, "registry", "FILE", R | C | B, "keep eva.registry in FILE (MessagePack map) across runs; check only reads it"},
    {OPT_CORE_INACTIVE, "core-inactive", NULL, R | C | B, "the core never becomes active (eva.core test answers active: false, RAW/ACT dropped)"},
    {OPT_CORE_DELAY, "core-delay", "SECONDS", R, "the core becomes active this long after the service is ready (default 0: right after svc_launch returned)"},
    {OPT_FAULT, "fault", "SPEC", R | B, "inject faults: publish=busy:P, subscribe=busy:P, rpc=error:P[:CODE], rpc=timeout:P, registry=down (repeatable)"},
    {OPT_SEED, "seed", "N", R | C | B, "seed for fault injection and the check's random data (default: random, printed)"},
    {OPT_CALL, "call", "METHOD [PARAMS]", R, "call METHOD after ready; PARAMS is JSON/YAML flow text, none = no payload (repeatable)"},
    {OPT_FRAME, "frame", "TOPIC PAYLOAD", R, "deliver a bus frame to the library after ready (repeatable, in order with --call)"},
    {OPT_SCRIPT, "script", "FILE", R, "run the YAML script FILE after the --call/--frame steps"},
    {OPT_KEEP_RUNNING, "keep-running", NULL, R, "after the steps, stay up until SIGINT/SIGTERM/TERMINATE"},
    {OPT_DRAIN, "drain", "SECONDS", R, "after the last step, wait this long for late frames before stopping (default 0.2)"},
    {OPT_CHECK_ACTIONS, "check-actions", NULL, R, "fail the run when an accepted action/run did not get exactly one terminal event"},
    {OPT_NO_FRAMES, "no-frames", NULL, R, "do not print frame lines on stdout (replies are still printed)"},
    {OPT_SENDER, "sender", "NAME", R | C | B, "primary_sender of calls and frames (default eva.core)"},
    {OPT_DELIVER_UNSUBSCRIBED, "deliver-unsubscribed", NULL, R, "deliver --frame/frame steps even when the library did not subscribe to the topic"},
    {OPT_SYSTEM_NAME, "system-name", "NAME", R | C | B, "system_name in the initial payload (default: host name)"},
    {OPT_DATA_PATH, "data-path", "DIR", R | C | B, "data_path, kept between runs (default: a fresh folder of this run, removed at exit; with --eva-dir: EVA_DIR/runtime/svc_data/ID, as on a node; empty for user nobody)"},
    {OPT_EVA_DIR, "eva-dir", "DIR", R | C | B, "the EVA ICS dir: core.path, data_path's root (kept between runs), relative library paths of command:, ^include files (default: the template's folder, else the current one)"},
    {OPT_FIPS, "fips", NULL, R | C | B, "set fips in the initial payload"},
    {OPT_CALL_TRACING, "call-tracing", NULL, R | C | B, "set call_tracing in the initial payload"},
    {OPT_INITIAL_EXTRA, "initial-extra", "YAML", R | C | B, "a map merged over the initial payload's top level (e.g. '{realtime: {}}')"},
    {OPT_ONLY, "only", "IDS", C, "run only these checks (comma-separated ids)"},
    {OPT_SKIP, "skip", "METHOD", C, "never call METHOD (one that stops or crashes the service by design; repeatable)"},
    {OPT_TIME_LIMIT, "time-limit", "SECONDS", C, "time limit of each check's child process (default 60)"},
    {OPT_ITERATIONS, "iterations", "N", C, "thread-local-results: calls per thread (default 20000)"},
    {OPT_VERBOSE, "verbose", NULL, C, "show the library's stdout/stderr of every check, not only of failed ones"},
    {OPT_LIST, "list", NULL, C, "list the check ids and exit"},
    {OPT_HELP, "help", NULL, R | C | B, "this help"},
};

#undef R
#undef C
#undef B

#define HARNESS_OPT_COUNT (sizeof harness_opts / sizeof harness_opts[0])

static const char *harness_cmd_name(enum harness_subcommand cmd)
{
    return cmd == HARNESS_CMD_RUN ? "run" : cmd == HARNESS_CMD_CHECK ? "check" : "bench";
}

void harness_options_usage(enum harness_subcommand cmd, int to_stderr)
{
    FILE *f = to_stderr ? stderr : stdout;
    if (cmd == HARNESS_CMD_RUN) {
        fputs("usage: abi-harness run LIB [--config svc.yml] [--call METHOD [PARAMS]]... [--frame TOPIC PAYLOAD]...\n"
              "                           [--script FILE] [options]\n\n"
              "Launch LIB as the EVA ICS v4 FFI launcher does, run the calls, frames and script steps in order\n"
              "once the service is ready, print one JSON line per reply and per published frame on stdout:\n"
              "  {\"reply\":\"get\",\"code\":0,\"payload\":{...}}\n"
              "  {\"frame\":\"RAW/sensor/tests/temp\",\"payload\":{\"status\":1,\"value\":25}}\n"
              "then stop the service in order. With no steps it stays up until SIGTERM/SIGHUP, the stop method\n"
              "or TERMINATE; Ctrl-C (SIGINT) stops it too, although a node's launcher ignores SIGINT.\n"
              "The model follows the real launcher: workers (template or --workers, default 1) <= 1 is the\n"
              "one-thread runtime of EVA ICS 4.2, where an RPC_CALL made in a lifecycle callback never returns\n"
              "(reported, exit 6); the core starts inactive and drops RAW/ACT events until --core-delay after\n"
              "the service is ready.\n"
              "Logs go to stderr as \"[level] text\"; the end of the run prints an \"actions: ...\" line.\n"
              "LIB may be left out when --config has \"command: svc/eva-ffi /path/lib.so\".\n\n",
              f);
    } else if (cmd == HARNESS_CMD_CHECK) {
        fputs("usage: abi-harness check LIB [--config svc.yml] [options]\n\n"
              "ABI conformance of any FFI service library. Each check runs in a child process of its own\n"
              "(a crash or hang fails that check only) and prints one verdict per check, then\n"
              "\"check: N passed, N warned, N failed, N skipped\". Exit non-zero only on a FAIL.\n"
              "  FAIL  breaks or hangs on a node      WARN  breaks the ABI text, the launcher accepts it\n"
              "  PASS  otherwise                      SKIP  nothing to check (e.g. no svc_on_rpc_call)\n\n"
              "checks:\n"
              "  symbols               required symbols present; which optional ones exist\n"
              "  abi-version           eva_svc_set_op_fn: versions 0 and 2 -> UNSUPPORTED, 1 -> 0\n"
              "  init-info             svc_init > 0; the exact-size result is a valid service info map\n"
              "  result-bounds         get_result with max n-1 / 0 / NULL data fails and writes nothing past max\n"
              "  thread-local-results  8 threads: every reply is the call's own (needs 2 distinct replies)\n"
              "  not-ready             before svc_prepare every listed method answers NOT_READY (WARN: a SHOULD)\n"
              "  result-modes          full lifecycles in swap and copy GET_RPC_RESULT modes agree\n"
              "  method-bytes          odd method names (empty, non-UTF-8, NUL, 64 KiB, guard page) -> METHOD_NOT_FOUND\n"
              "  garbage-payloads      garbage params: FAIL on a crash, a hang, a reply that is not MessagePack, a\n"
              "                        result not fetchable, or a method that answers otherwise after the garbage;\n"
              "                        WARN when a method whose info lists params accepts non-MessagePack; a\n"
              "                        method that answers garbage as it answers no payload takes none: PASS\n"
              "  frames                garbage frames from several threads: no crash\n"
              "  terminate             svc_terminate returns 0 in time, then no op calls for 300 ms\n"
              "  op-buffers            op buffers of a lifecycle and a call of each method, read as the launcher\n"
              "                        reads them: a missing final NUL WARNs, an empty topic FAILs (hangs a node)\n"
              "  one-worker-lifecycle  the lifecycle with workers: 1 (EVA ICS 4.2's one-thread runtime): FAILs\n"
              "                        naming an RPC_CALL made in a lifecycle callback; with workers >= 2 in\n"
              "                        the template it PASSes and says what workers: 1 would do\n\n",
              f);
    } else {
        harness_bench_usage(f); /* bench has a parser of its own (bench_options.c) */
        return;
    }
    fputs("options:\n", f);
    for (size_t i = 0; i < HARNESS_OPT_COUNT; i++) {
        const struct harness_opt *op = &harness_opts[i];
        if (!(op->cmds & cmd)) continue;
        char head[64];
        snprintf(head, sizeof head, "--%s%s%s", op->name, op->arg ? " " : "", op->arg ? op->arg : "");
        fprintf(f, "  %-26s %s\n", head, op->help);
    }
    if (cmd == HARNESS_CMD_RUN) {
        fputs("\nscript (--script FILE): a YAML list of steps, run in order; a failed step ends the run\n"
              "  - call: METHOD                 params: VALUE (absent: no payload; null: nil)\n"
              "    expect: {code: N|NAME, payload: SUBSET|absent}\n"
              "  - frame: TOPIC                 payload: VALUE (delivered when the library subscribed)\n"
              "  - sleep: SECONDS\n"
              "  - expect: {frame: TOPIC|MASK, payload: SUBSET, within: S (2), count: N, none: true}\n"
              "  - mark                         later frame expects look only at frames after it\n"
              "  - stress: {threads: N, iterations: N, steps: [call/frame/sleep steps]}\n"
              "                                 \"{t}\"/\"{n}\" in strings: thread index / iteration\n"
              "  - core: {oid: OID, status: N, value: V, within: S (0)}\n"
              "                                 the mock core's state of OID matches (status/value optional)\n"
              "  - core: {oid: OID, absent: true}  the core holds no state for OID\n"
              "  - stop\n"
              "values: JSON or YAML; {\"$bin\": \"hex\"} is bin, {\"$uuid\": \"name\"} a 16-byte uuid per name;\n"
              "maps in expects match as subsets, numbers by value\n",
              f);
        fputs("\nexit codes: 0 ok, 1 a step/expect failed, --check-actions found violations, or POC (the\n"
              "            service is stopped first, as the launcher does), 2 usage, 3 launch failed,\n"
              "            4 shutdown failed or overran timeout.shutdown, 6 would hang on a node\n",
              f);
    } else if (cmd == HARNESS_CMD_CHECK) {
        fputs("\nexit codes: 0 nothing failed, 1 a check failed, 2 usage\n", f);
    }
}

static int harness_options_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int harness_options_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("abi-harness: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see --help)\n", stderr);
    va_end(ap);
    return -1;
}

static int harness_parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || v < min || v > max) return -1;
    *out = (unsigned long)v;
    return 0;
}

static int harness_parse_seconds(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0) || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int harness_options_apply(struct harness_options *o, const struct harness_opt *op, const char *val,
                                 int argc, char **argv, int *i)
{
    unsigned long n;
    struct harness_strbuf err = HARNESS_STRBUF_INIT;
    switch (op->id) {
    case OPT_CONFIG: o->config_path = val; break;
    case OPT_ID:
        if (!*val) return harness_options_error("--id needs a service id%s%s", "", "");
        o->svc_id = val;
        break;
    case OPT_FAIL_MODE: o->fail_mode = 1; break;
    case OPT_LOG_LEVEL:
        o->log_level = harness_output_level_parse(val);
        if (o->log_level < 0) return harness_options_error("--log-level %s: use trace, debug, info, warn, error or off%s", val, "");
        break;
    case OPT_POOL:
        if (harness_parse_ulong(val, 1, 1024, &n) < 0) return harness_options_error("--pool %s: use 1..1024%s", val, "");
        o->pool_size = (unsigned)n;
        break;
    case OPT_QUEUE_SIZE:
        if (harness_parse_ulong(val, 1, 100000000, &n) < 0)
            return harness_options_error("--queue-size %s: use 1..100000000%s", val, "");
        o->queue_size = n;
        break;
    case OPT_RESULT_MODE:
        if (!strcmp(val, "swap")) o->result_mode = HARNESS_RESULT_SWAP;
        else if (!strcmp(val, "copy")) o->result_mode = HARNESS_RESULT_COPY;
        else return harness_options_error("--result-mode %s: use swap or copy%s", val, "");
        break;
    case OPT_REGISTRY: o->registry_path = val; break;
    case OPT_CORE_INACTIVE: o->core_inactive = 1; break;
    case OPT_FAULT:
        if (harness_fault_parse(&o->faults, val, &err) < 0) {
            harness_options_error("%s%s", err.data, "");
            harness_strbuf_destroy(&err);
            return -1;
        }
        break;
    case OPT_SEED: {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(val, &end, 0);
        if (errno || end == val || *end) return harness_options_error("--seed %s: not a number%s", val, "");
        o->seed = v;
        o->seed_given = 1;
        break;
    }
    case OPT_CALL:
    case OPT_FRAME: {
        struct harness_cli_step st = {op->id == OPT_FRAME, val, NULL};
        if (op->id == OPT_FRAME) {
            if (*i + 1 >= argc) return harness_options_error("--frame %s needs a PAYLOAD%s", val, "");
            st.text = argv[++*i];
        } else if (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0 &&
                   (o->lib_path || access(argv[*i + 1], F_OK) != 0)) {
            /* PARAMS is optional (without it the call has no payload); while
             * LIB is not known yet, an existing file after METHOD is LIB */
            st.text = argv[++*i];
        }
        o->steps = harness_xrealloc(o->steps, (o->step_count + 1) * sizeof *o->steps);
        o->steps[o->step_count++] = st;
        break;
    }
    case OPT_SCRIPT: o->script_path = val; break;
    case OPT_KEEP_RUNNING: o->keep_running = 1; break;
    case OPT_DRAIN:
        if (harness_parse_seconds(val, &o->drain) < 0) return harness_options_error("--drain %s: not a number of seconds%s", val, "");
        break;
    case OPT_CHECK_ACTIONS: o->check_actions = 1; break;
    case OPT_NO_FRAMES: o->no_frames = 1; break;
    case OPT_SENDER: o->sender = val; break;
    case OPT_DELIVER_UNSUBSCRIBED: o->deliver_unsubscribed = 1; break;
    case OPT_SYSTEM_NAME: o->system_name = val; break;
    case OPT_DATA_PATH: o->data_path = val; break;
    case OPT_EVA_DIR: o->eva_dir = val; break;
    case OPT_FIPS: o->fips = 1; break;
    case OPT_CALL_TRACING: o->call_tracing = 1; break;
    case OPT_INITIAL_EXTRA: o->initial_extra = val; break;
    case OPT_ONLY: o->only = val; break;
    case OPT_TIME_LIMIT:
        if (harness_parse_seconds(val, &o->time_limit) < 0 || o->time_limit <= 0)
            return harness_options_error("--time-limit %s: a positive number of seconds%s", val, "");
        break;
    case OPT_ITERATIONS:
        if (harness_parse_ulong(val, 1, 100000000, &n) < 0)
            return harness_options_error("--iterations %s: use 1..100000000%s", val, "");
        o->iterations = n;
        break;
    case OPT_VERBOSE: o->verbose = 1; break;
    case OPT_WORKERS:
        if (harness_parse_ulong(val, 0, 1024, &n) < 0) return harness_options_error("--workers %s: use 0..1024%s", val, "");
        o->workers = (long)n;
        break;
    case OPT_CORE_DELAY:
        if (harness_parse_seconds(val, &o->core_delay) < 0)
            return harness_options_error("--core-delay %s: not a number of seconds%s", val, "");
        break;
    case OPT_SKIP:
        o->skips = harness_xrealloc(o->skips, (o->skip_count + 1) * sizeof *o->skips);
        o->skips[o->skip_count++] = val;
        break;
    case OPT_LIST: o->list_checks = 1; break;
    case OPT_HELP: break;
    }
    return 0;
}

int harness_options_parse(struct harness_options *o, enum harness_subcommand cmd, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->cmd = cmd;
    o->log_level = HARNESS_LOG_INFO;
    o->pool_size = 4;
    o->result_mode = HARNESS_RESULT_SWAP;
    o->drain = 0.2;
    o->sender = "eva.core";
    o->time_limit = 60;
    o->iterations = 20000;
    o->workers = -1;
    harness_fault_init(&o->faults, 0);
    int only_positional = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (only_positional || a[0] != '-' || !strcmp(a, "-")) {
            if (o->lib_path) return harness_options_error("unexpected argument %s%s", a, "");
            o->lib_path = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_positional = 1;
            continue;
        }
        if (!strcmp(a, "-h")) a = "--help";
        if (!strcmp(a, "-v")) a = "--verbose";
        if (!strcmp(a, "-c")) a = "--config";
        if (strncmp(a, "--", 2) != 0) return harness_options_error("unknown option %s%s", a, "");
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct harness_opt *op = NULL;
        for (size_t k = 0; k < HARNESS_OPT_COUNT && !op; k++) {
            if (strlen(harness_opts[k].name) == nlen && !strncmp(harness_opts[k].name, name, nlen)) op = &harness_opts[k];
        }
        if (!op) return harness_options_error("unknown option %s%s", a, "");
        if (!(op->cmds & cmd)) return harness_options_error("%s is not an option of %s", a, harness_cmd_name(cmd));
        if (op->id == OPT_HELP) {
            harness_options_usage(cmd, 0);
            return 1;
        }
        const char *val = NULL;
        if (op->arg) {
            if (eq) val = eq + 1;
            else if (i + 1 < argc) val = argv[++i];
            else return harness_options_error("%s needs %s", a, op->arg);
        } else if (eq) {
            return harness_options_error("%s takes no value%s", a, "");
        }
        if (harness_options_apply(o, op, val, argc, argv, &i) < 0) return -1;
    }
    if (!o->seed_given) o->seed = harness_rng_os_seed();
    o->faults.seed = o->seed;
    return 0;
}

void harness_options_free(struct harness_options *o)
{
    free(o->steps);
    o->steps = NULL;
    free(o->skips);
    o->skips = NULL;
}
