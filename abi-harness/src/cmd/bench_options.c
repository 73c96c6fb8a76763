#include "bench_options.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output.h"
#include "xalloc.h"

void bench_options_usage(FILE *f)
{
    fputs("usage: abi-harness bench LIB [--config svc.yml] --call METHOD [PARAMS] [--call ...]\n"
          "                       [--threads N] [--seconds S | --count N] [--vs LIB2 [--vs-config svc2.yml]]\n"
          "       abi-harness bench LIB [--config svc.yml] --frame TOPIC PAYLOAD [same options]\n"
          "       abi-harness bench --bus PATH|HOST:PORT --target NAME --call METHOD [PARAMS] [...]: end to end\n"
          "                       through a real broker (abi-harness bench --bus --help)\n\n"
          "Measures what a library costs per call. LIB is started as the launcher does (svc_init, bus up,\n"
          "svc_prepare, svc_launch); then N bench threads call svc_on_rpc_call and, on the same thread,\n"
          "eva_svc_get_result with a buffer of exactly the returned size, directly (no pool in between).\n"
          "Every reply must be a success (code >= 0, fetch ok): the first failure ends the bench (exit 1).\n"
          "Several --call options form one iteration, made in order. With --frame, svc_on_frame is called\n"
          "instead (ingest rate). What the library publishes is counted and dropped, logs below warn too.\n\n"
          "With --vs both libraries are loaded in this one process (each has its own op function context)\n"
          "and measured in alternating rounds (A B, B A, ...), so that the ratio A/B of the time per call\n"
          "holds on a noisy machine: one line per round and the median ratio.\n\n"
          "options:\n"
          "  --config FILE              service template of LIB (config, workers, timeout, ...)\n"
          "  --call METHOD [PARAMS]     a call of the iteration; PARAMS is JSON/YAML flow text, none = no payload\n"
          "  --frame TOPIC PAYLOAD      frame mode: the frame every iteration delivers\n"
          "  --threads N                bench threads (default 1)\n"
          "  --seconds S                measured time per library (default 2), split over the rounds\n"
          "  --count N                  or: iterations per library, split over rounds and threads\n"
          "  --vs LIB2                  compare with LIB2 (the same file is loaded from a private copy)\n"
          "  --vs-config FILE           service template of LIB2 (default: the one of LIB)\n"
          "  --vs-call METHOD [PARAMS]  LIB2's own call (repeatable; default: LIB2 makes LIB's --call calls),\n"
          "                             to compare two libraries with different methods\n"
          "  --workers N                override the template's workers in the initial payload\n"
          "  --library-output FILE      the libraries' own stdout/stderr go here, never into the results\n"
          "                             (default: a temporary file, removed at exit; its size is said)\n"
          "  --data-path DIR            data_path of LIB, kept between runs (B's: DIR-vs); default: a fresh\n"
          "                             folder per library, removed at exit\n"
          "  --vs-threads N             bench threads of B (default: --threads); without --vs, B is LIB\n"
          "                             itself with N threads (e.g. the scaling from 1 to 2 threads)\n"
          "  --rounds N                 measured rounds per library (default 1; 10 with --vs)\n"
          "  --warmup S                 unmeasured seconds per library first (default 0.2)\n"
          "  --sample-every N           time one call in N for the latency figures (default 8)\n"
          "  --rss-at N                 also print the process RSS once N calls were made\n"
          "  --action-wait S            after a round of action/run calls, wait up to S seconds (default 60)\n"
          "                             for as many terminal ACT events as calls were accepted; the wait\n"
          "                             counts in the round's time\n"
          "  --log-level LEVEL          core.log_level (default info); library logs at warn and above are shown\n"
          "  --id SVC_ID                service id (default eva.controller.bench; B gets \"-vs\" appended)\n"
          "  --sender NAME              primary_sender of calls and frames (default eva.core)\n"
          "  --result-mode swap|copy    how GET_RPC_RESULT answers the library's own RPC calls (default swap)\n"
          "  --quiet                    no per-round lines\n"
          "  --help                     this help\n\n"
          "values: {\"$bin\": \"hex\"} is bin, {\"$uuid\": \"name\"} a 16-byte uuid per name, and\n"
          "{\"$uuid\": \"$fresh\"} a new uuid for every call (e.g. the uuid of `action`).\n\n"
          "output (stdout), one line each:\n"
          "  startup A: dlopen_ms=.. init_ms=.. ready_ms=.. file_bytes=..   (init_ms: dlopen start to svc_init return)\n"
          "  reply A METHOD: JSON                   the first reply of each call of the iteration\n"
          "  round N: A .. calls/s (.. ns/call), B ..., A/B ..\n"
          "  result A: calls=.. seconds=.. calls_per_s=.. ns_per_call=.. p50_ns=.. p99_ns=.. cpu_s=..\n"
          "  ratio A/B: median=.. min=.. max=.. rounds=..\n"
          "  published A: frames=.. act=.. act_terminal=..   actions A: accepted=.. terminal=..\n"
          "  rss: before_kib=.. after_kib=..     rss A after N calls: kib=..\n"
          "ns_per_call is wall time / calls (all threads together); p50/p99 are per call latencies;\n"
          "cpu_s is the CPU time the bench threads got (less than threads x seconds on a busy machine).\n\n"
          "exit codes: 0 ok, 1 a reply failed or actions did not end, 2 usage, 3 launch failed\n",
          f);
}

static int bench_options_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bench_options_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("abi-harness bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see --help)\n", stderr);
    va_end(ap);
    return -1;
}

static int bench_parse_ull(const char *s, unsigned long long min, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || v < min || v > max) return -1;
    *out = v;
    return 0;
}

static int bench_parse_seconds(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0) || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* the value of an option that takes one: "--x=v" or the next argument */
static const char *bench_value(const char *arg, const char *eq, int argc, char **argv, int *i)
{
    if (eq) return eq + 1;
    if (*i + 1 < argc) return argv[++*i];
    bench_options_error("%s needs a value", arg);
    return NULL;
}

int bench_options_parse(struct bench_options *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->threads = 1;
    o->workers = -1;
    o->warmup = 0.2;
    o->sample_every = 8;
    o->action_wait = 60;
    o->log_level = HARNESS_LOG_INFO;
    o->sender = "eva.core";
    o->result_mode = HARNESS_RESULT_SWAP;
    int seconds_given = 0, only_positional = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (only_positional || a[0] != '-' || !strcmp(a, "-")) {
            if (o->lib_path) return bench_options_error("unexpected argument %s", a);
            o->lib_path = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_positional = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bench_options_usage(stdout);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) return bench_options_error("unknown option %s", a);
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
#define IS(opt) (nlen == sizeof(opt) - 1 && !strncmp(name, opt, nlen))
        const char *v = NULL;
        unsigned long long n;
        if (IS("quiet")) {
            o->quiet = 1;
            continue;
        }
        if (IS("call") || IS("vs-call")) {
            int vs = IS("vs-call");
            if (!(v = bench_value(a, eq, argc, argv, &i))) return -1;
            struct bench_cli_item it = {v, NULL};
            /* PARAMS is optional; while LIB is not known yet, an existing
             * file after METHOD is LIB */
            if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0 &&
                (o->lib_path || access(argv[i + 1], F_OK) != 0))
                it.text = argv[++i];
            struct bench_cli_item **list = vs ? &o->vs_calls : &o->calls;
            size_t *count = vs ? &o->vs_call_count : &o->call_count;
            *list = harness_xrealloc(*list, (*count + 1) * sizeof **list);
            (*list)[(*count)++] = it;
            continue;
        }
        if (!(v = bench_value(a, eq, argc, argv, &i))) return -1;
        if (IS("config")) {
            o->config_path = v;
        } else if (IS("frame")) {
            if (i + 1 >= argc) return bench_options_error("--frame %s needs a PAYLOAD", v);
            o->frame.name = v;
            o->frame.text = argv[++i];
        } else if (IS("threads")) {
            if (bench_parse_ull(v, 1, 256, &n) < 0) return bench_options_error("--threads %s: use 1..256", v);
            o->threads = (unsigned)n;
        } else if (IS("seconds")) {
            if (bench_parse_seconds(v, &o->seconds) < 0 || o->seconds <= 0)
                return bench_options_error("--seconds %s: a positive number", v);
            seconds_given = 1;
        } else if (IS("count")) {
            if (bench_parse_ull(v, 1, 1ULL << 50, &o->count) < 0) return bench_options_error("--count %s: a positive integer", v);
        } else if (IS("vs")) {
            o->vs_path = v;
        } else if (IS("vs-threads")) {
            if (bench_parse_ull(v, 1, 256, &n) < 0) return bench_options_error("--vs-threads %s: use 1..256", v);
            o->vs_threads = (unsigned)n;
        } else if (IS("vs-config")) {
            o->vs_config = v;
        } else if (IS("workers")) {
            if (bench_parse_ull(v, 0, 1024, &n) < 0) return bench_options_error("--workers %s: use 0..1024", v);
            o->workers = (long)n;
        } else if (IS("data-path")) {
            o->data_path = v;
        } else if (IS("library-output")) {
            o->library_output = v;
        } else if (IS("rounds")) {
            if (bench_parse_ull(v, 1, 1000, &n) < 0) return bench_options_error("--rounds %s: use 1..1000", v);
            o->rounds = (unsigned)n;
        } else if (IS("warmup")) {
            if (bench_parse_seconds(v, &o->warmup) < 0) return bench_options_error("--warmup %s: seconds", v);
        } else if (IS("sample-every")) {
            if (bench_parse_ull(v, 1, 1000000, &n) < 0) return bench_options_error("--sample-every %s: use 1..1000000", v);
            o->sample_every = (unsigned)n;
        } else if (IS("rss-at")) {
            if (bench_parse_ull(v, 1, 1ULL << 50, &o->rss_at) < 0) return bench_options_error("--rss-at %s: a positive integer", v);
        } else if (IS("action-wait")) {
            if (bench_parse_seconds(v, &o->action_wait) < 0) return bench_options_error("--action-wait %s: seconds", v);
        } else if (IS("log-level")) {
            o->log_level = harness_output_level_parse(v);
            if (o->log_level < 0) return bench_options_error("--log-level %s: trace, debug, info, warn, error or off", v);
        } else if (IS("id")) {
            if (!*v) return bench_options_error("--id needs a service id");
            o->svc_id = v;
        } else if (IS("sender")) {
            o->sender = v;
        } else if (IS("result-mode")) {
            if (!strcmp(v, "swap")) o->result_mode = HARNESS_RESULT_SWAP;
            else if (!strcmp(v, "copy")) o->result_mode = HARNESS_RESULT_COPY;
            else return bench_options_error("--result-mode %s: swap or copy", v);
        } else {
            return bench_options_error("unknown option %s", a);
        }
#undef IS
    }
    if (!o->lib_path && !o->config_path) return bench_options_error("no LIB given (nor a --config with command:)");
    if (!o->call_count && !o->frame.name) return bench_options_error("nothing to measure: give --call or --frame");
    if (o->call_count && o->frame.name) return bench_options_error("--call and --frame do not mix");
    if (o->count && seconds_given) return bench_options_error("--seconds and --count do not mix");
    if (o->vs_config && !o->vs_path) return bench_options_error("--vs-config without --vs");
    if (o->vs_call_count && !o->vs_path) return bench_options_error("--vs-call without --vs");
    if (o->vs_call_count && o->frame.name) return bench_options_error("--vs-call is for calls, not --frame");
    if (!o->count && !seconds_given) o->seconds = 2;
    if (!o->rounds) o->rounds = o->vs_path || o->vs_threads ? 10 : 1;
    unsigned most = o->vs_threads > o->threads ? o->vs_threads : o->threads;
    if (o->count && o->count < (unsigned long long)o->rounds * most)
        return bench_options_error("--count %llu is less than one call per thread and round", o->count);
    return 0;
}

void bench_options_free(struct bench_options *o)
{
    free(o->calls);
    free(o->vs_calls);
    o->calls = NULL;
}
