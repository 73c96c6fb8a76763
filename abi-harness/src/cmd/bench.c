#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_bus.h"
#include "bench_options.h"
#include "bench_stats.h"
#include "bench_target.h"
#include "bench_team.h"
#include "bench_workload.h"
#include "data_folder.h"
#include "svc_template.h"
#include "errcode.h"
#include "exit_codes.h"
#include "output.h"
#include "payload_json.h"
#include "strbuf.h"
#include "xalloc.h"

/* the first reply of each call is shown up to this many characters */
#define BENCH_REPLY_SHOWN 300

/* A or B: a library (B may be A's library itself, with other threads) */
struct bench_side {
    const struct bench_workload *w; /* what this side calls */
    struct bench_target own;
    struct bench_target *target;
    const char *label;
    int slot;
    unsigned threads;
    uint64_t calls, ns;       /* measured rounds only */
    uint64_t cpu_ns;          /* CPU time the bench threads got in them */
    double *round_ns_per_call;
};

void harness_bench_usage(FILE *f)
{
    bench_options_usage(f);
}

static const char *bench_code_name(int32_t code)
{
    const char *n = harness_errcode_name((int)code);
    return n ? n : "?";
}

static void bench_report_failure(const struct bench_side *s, const struct bench_call *c, const char *stage,
                                 int32_t code, const struct bench_workload *w)
{
    if (w->frame_mode) {
        bench_printf("FAIL %s frame: %s\n", s->label, stage);
    } else {
        struct harness_strbuf sb = HARNESS_STRBUF_INIT;
        if (c && c->payload) harness_payload_json_describe(&sb, c->payload, c->payload_len);
        bench_printf("FAIL %s %.*s %s: %s returned %d (%s)\n", s->label, c ? (int)c->method_len : 1,
               c ? c->method : "?", sb.len ? sb.data : "(no payload)", stage, (int)code, bench_code_name(code));
        harness_strbuf_destroy(&sb);
    }
    fflush(bench_results);
}

/* one iteration on this thread, each reply printed as JSON: shows that the
 * calls do what is meant before any is timed */
static int bench_probe(struct bench_side *s, const struct bench_workload *w, const struct bench_options *o)
{
    if (w->frame_mode) return 0;
    struct bench_uuid_source uuids;
    bench_uuid_source_init(&uuids, 0);
    char *res = NULL;
    size_t cap = 0;
    int rc = 0;
    for (size_t k = 0; k < w->call_count && rc == 0; k++) {
        const struct bench_call *c = &w->calls[k];
        char *payload = c->payload ? harness_xmemdup(c->payload, c->payload_len) : NULL;
        if (c->fresh_count) bench_uuid_renew(&uuids, c, payload);
        const char *stage = NULL;
        size_t len = 0;
        int32_t code = bench_call_once(&s->target->lib, o->sender, c, payload, &res, &cap, &len, &stage);
        free(payload);
        if (code < 0) {
            bench_report_failure(s, c, stage, code, w);
            rc = HARNESS_EXIT_FAILED;
            break;
        }
        if (c->is_action) s->target->accepted++;
        struct harness_strbuf sb = HARNESS_STRBUF_INIT;
        if (len) harness_payload_json_describe(&sb, res, len);
        else harness_strbuf_append_str(&sb, "(no payload)");
        if (sb.len > BENCH_REPLY_SHOWN) {
            sb.len = BENCH_REPLY_SHOWN;
            sb.data[sb.len] = '\0';
            harness_strbuf_append_str(&sb, "...");
        }
        bench_printf("reply %s %.*s: %s\n", s->label, (int)c->method_len, c->method, sb.data);
        harness_strbuf_destroy(&sb);
    }
    free(res);
    return rc;
}

/* after calls of action/run: wait until as many terminal ACT events came as
 * calls were accepted; 0, or -1 after the wait limit */
static int bench_wait_actions(struct bench_side *s, const struct bench_options *o, uint64_t *end_ns)
{
    uint64_t deadline = bench_now_ns() + (uint64_t)(o->action_wait * 1e9);
    struct bench_bus_counts c;
    for (;;) {
        bench_bus_counts(&s->target->bus, &c);
        uint64_t now = bench_now_ns();
        if (c.act_terminal >= s->target->accepted) {
            *end_ns = now;
            return 0;
        }
        if (now >= deadline) {
            bench_printf("FAIL %s actions: %llu accepted, only %lu terminal ACT events after %.1f s\n", s->label,
                   s->target->accepted, c.act_terminal, o->action_wait);
            fflush(bench_results);
            return -1;
        }
        nanosleep(&(struct timespec){0, 50000}, NULL);
    }
}

/* one round (or the warmup) of one library; 0 or an exit code */
static int bench_round(struct bench_team *team, struct bench_side *s, const struct bench_workload *w,
                       const struct bench_options *o, uint64_t iterations, uint64_t duration_ns, int measure,
                       uint64_t *calls, uint64_t *ns, uint64_t *cpu_ns)
{
    struct bench_job job = {s->target, s->slot, s->threads, iterations, duration_ns, measure};
    struct bench_round_result r;
    bench_team_run(team, &job, &r);
    s->target->accepted += r.accepted;
    if (r.failed) {
        bench_report_failure(s, r.call, r.stage, r.code, w);
        return HARNESS_EXIT_FAILED;
    }
    uint64_t end = r.end_ns;
    if (w->has_actions && bench_wait_actions(s, o, &end) < 0) return HARNESS_EXIT_FAILED;
    *calls = r.calls;
    *ns = end > r.start_ns ? end - r.start_ns : 1;
    *cpu_ns = r.cpu_ns;
    return 0;
}

static void bench_print_result(struct bench_team *team, const struct bench_side *s, const struct bench_workload *w)
{
    double p50, p99;
    bench_team_percentiles(team, s->slot, &p50, &p99);
    double secs = (double)s->ns / 1e9;
    bench_printf("result %s: %s=%llu seconds=%.3f %s_per_s=%.0f ns_per_%s=%.1f p50_ns=%.0f p99_ns=%.0f cpu_s=%.3f\n",
           s->label, w->frame_mode ? "frames" : "calls", (unsigned long long)s->calls, secs,
           w->frame_mode ? "frames" : "calls", secs > 0 ? (double)s->calls / secs : 0, w->frame_mode ? "frame" : "call",
           s->calls ? (double)s->ns / (double)s->calls : 0, p50, p99, (double)s->cpu_ns / 1e9);
}

static void bench_print_published(struct bench_side *s, const struct bench_workload *w)
{
    struct bench_bus_counts c;
    bench_bus_counts(&s->target->bus, &c);
    bench_printf("published %s: frames=%lu act=%lu act_terminal=%lu logs=%lu rpc_calls=%lu invalid=%lu\n", s->label,
           c.publish, c.act, c.act_terminal, c.logs, c.rpc_calls, c.invalid);
    if (w->has_actions)
        bench_printf("actions %s: accepted=%llu terminal=%lu\n", s->label, s->target->accepted, c.act_terminal);
}

static int bench_run(const struct bench_options *o, struct bench_workload *w, struct bench_side *sides, int nsides)
{
    long rss_before = bench_rss_kib();
    for (int i = 0; i < nsides; i++) {
        if (i && sides[i].target == sides[0].target) continue;
        int rc = bench_probe(&sides[i], sides[i].w, o);
        if (rc) return rc;
    }
    unsigned most = nsides == 2 && sides[1].threads > sides[0].threads ? sides[1].threads : sides[0].threads;
    struct bench_team *team = bench_team_start(most, w, nsides == 2 ? sides[1].w : NULL, o);
    int rc = 0;
    uint64_t calls, ns, cpu;
    /* warmup: unmeasured, per library */
    for (int i = 0; i < nsides && rc == 0 && o->warmup > 0; i++)
        rc = bench_round(team, &sides[i], sides[i].w, o, 0, (uint64_t)(o->warmup * 1e9), 0, &calls, &ns, &cpu);
    uint64_t duration = o->count ? 0 : (uint64_t)(o->seconds / o->rounds * 1e9);
    double *ratios = harness_xcalloc(o->rounds, sizeof *ratios);
    for (unsigned r = 0; r < o->rounds && rc == 0; r++) {
        /* A B, then B A: a drift of the machine hits both alike */
        for (int k = 0; k < nsides && rc == 0; k++) {
            struct bench_side *s = &sides[r % 2 && nsides == 2 ? nsides - 1 - k : k];
            uint64_t per_thread = o->count ? o->count / o->rounds / s->threads : 0;
            rc = bench_round(team, s, s->w, o, per_thread, duration, 1, &calls, &ns, &cpu);
            if (rc) break;
            s->calls += calls;
            s->ns += ns;
            s->cpu_ns += cpu;
            s->round_ns_per_call[r] = (double)ns / (double)(calls ? calls : 1);
        }
        if (rc) break;
        if (!o->quiet) {
            bench_printf("round %u:", r + 1);
            for (int k = 0; k < nsides; k++) {
                double npc = sides[k].round_ns_per_call[r];
                bench_printf("%s %s %.0f %s/s (%.1f ns/%s)", k ? "," : "", sides[k].label, 1e9 / npc,
                       w->frame_mode ? "frames" : "calls", npc, w->frame_mode ? "frame" : "call");
            }
            if (nsides == 2)
                bench_printf(", A/B %.3f", sides[0].round_ns_per_call[r] / sides[1].round_ns_per_call[r]);
            bench_printf("\n");
            fflush(bench_results);
        }
        if (nsides == 2) ratios[r] = sides[0].round_ns_per_call[r] / sides[1].round_ns_per_call[r];
    }
    if (rc == 0) {
        for (int i = 0; i < nsides; i++) bench_print_result(team, &sides[i], w);
        if (nsides == 2) {
            double lo = ratios[0], hi = ratios[0];
            for (unsigned r = 1; r < o->rounds; r++) {
                if (ratios[r] < lo) lo = ratios[r];
                if (ratios[r] > hi) hi = ratios[r];
            }
            bench_printf("ratio A/B: median=%.3f min=%.3f max=%.3f rounds=%u\n", bench_median(ratios, o->rounds), lo, hi,
                   o->rounds);
        }
        for (int i = 0; i < nsides; i++)
            if (!i || sides[i].target != sides[0].target) bench_print_published(&sides[i], sides[i].w);
        long at = bench_team_rss_at(team);
        if (o->rss_at)
            bench_printf("rss after %llu calls: kib=%ld\n", o->rss_at, at);
        bench_printf("rss: before_kib=%ld after_kib=%ld\n", rss_before, bench_rss_kib());
    }
    free(ratios);
    bench_team_stop(team);
    return rc;
}

/* The libraries' own stdout and stderr (printf, std::cout) go to a file, so
 * that they never mix with the result lines: the bench's stdout and stderr
 * become private duplicates of fds 1 and 2, which are pointed at the file. */
FILE *bench_results;

struct bench_library_output {
    char *path;
    int own_path; /* a temporary file: removed at the end (--library-output FILE keeps one) */
    int active;
};

static int bench_library_output_open(struct bench_library_output *lo, const char *path)
{
    memset(lo, 0, sizeof *lo);
    int fd;
    if (path) {
        lo->path = harness_xstrdup(path);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    } else {
        const char *tmp = getenv("TMPDIR");
        struct harness_strbuf p = HARNESS_STRBUF_INIT;
        harness_strbuf_appendf(&p, "%s/abi-harness-bench-output-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        lo->path = harness_strbuf_detach(&p, NULL);
        fd = mkstemp(lo->path);
        lo->own_path = 1;
    }
    if (fd < 0) {
        fprintf(stderr, "abi-harness bench: --library-output %s: %s\n", lo->path, strerror(errno));
        free(lo->path);
        lo->path = NULL;
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    int out = dup(1);
    FILE *fout = out >= 0 ? fdopen(out, "w") : NULL;
    if (!fout || dup2(fd, 1) < 0) {
        fprintf(stderr, "abi-harness bench: cannot redirect the libraries' output\n");
        close(fd);
        return -1;
    }
    close(fd);
    /* a library writes to fd 1 through whatever FILE it holds (stdout, std::cout);
     * the results go to their own FILE. The libraries' stderr stays stderr. */
    setvbuf(fout, NULL, _IOLBF, 0);
    bench_results = fout;
    lo->active = 1;
    return 0;
}

static void bench_library_output_close(struct bench_library_output *lo)
{
    if (!lo->active) return;
    lo->active = 0;
    struct stat st;
    long long size = stat(lo->path, &st) == 0 ? (long long)st.st_size : -1;
    if (lo->own_path) {
        unlink(lo->path);
        if (size > 0)
            bench_printf("library output: %lld bytes (the libraries' own stdout, kept out of the results; "
                         "removed: --library-output FILE keeps it)\n",
                         size);
    } else if (size >= 0) {
        bench_printf("library output: %lld bytes in %s (the libraries' own stdout, kept out of the results)\n", size,
                     lo->path);
    }
    fflush(stdout);
    fflush(bench_results);
    free(lo->path);
    lo->path = NULL;
}

int harness_bench_main(int argc, char **argv)
{
    /* main blocked these for `run`'s signal thread; bench has none, so a
     * ^C simply ends it */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    struct bench_options o;
    int prc = bench_options_parse(&o, argc, argv);
    if (prc != 0) {
        bench_options_free(&o);
        return prc > 0 ? HARNESS_EXIT_OK : HARNESS_EXIT_USAGE;
    }
    harness_output_set_level(o.log_level > HARNESS_LOG_WARN ? o.log_level : HARNESS_LOG_WARN);
    /* LIB from the template's command:, a relative path taken from the template's folder
     * (the EVA dir), as the launcher does */
    char *template_lib = NULL;
    if (!o.lib_path) {
        struct harness_svc_template tmpl;
        struct harness_launcher_args args;
        struct harness_strbuf terr = HARNESS_STRBUF_INIT;
        if (harness_svc_template_load(&tmpl, o.config_path, &terr) == 0 &&
            harness_svc_template_args(&tmpl, &args, &terr) == 0) {
            if (args.library_path) template_lib = harness_svc_template_resolve_library(args.library_path, tmpl.dir);
            harness_launcher_args_destroy(&args);
        }
        harness_svc_template_destroy(&tmpl);
        if (!template_lib) {
            fprintf(stderr, "abi-harness bench: no LIB given and %s%s\n", o.config_path,
                    terr.len ? terr.data : " has no \"command: svc/eva-ffi LIB\"");
            harness_strbuf_destroy(&terr);
            bench_options_free(&o);
            return HARNESS_EXIT_USAGE;
        }
        harness_strbuf_destroy(&terr);
        o.lib_path = template_lib;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    struct bench_workload w;
    struct harness_strbuf err = HARNESS_STRBUF_INIT;
    if (bench_workload_build(&w, &o, &err) < 0) {
        fprintf(stderr, "abi-harness bench: %s\n", harness_strbuf_cstr(&err));
        harness_strbuf_destroy(&err);
        bench_workload_destroy(&w);
        bench_options_free(&o);
        return HARNESS_EXIT_USAGE;
    }
    harness_strbuf_destroy(&err);

    struct bench_workload wb;
    memset(&wb, 0, sizeof wb);
    if (o.vs_call_count) {
        struct bench_options ob = o;
        ob.calls = o.vs_calls;
        ob.call_count = o.vs_call_count;
        if (bench_workload_build(&wb, &ob, &err) < 0) {
            fprintf(stderr, "abi-harness bench: --vs-call: %s\n", harness_strbuf_cstr(&err));
            harness_strbuf_destroy(&err);
            bench_workload_destroy(&wb);
            bench_workload_destroy(&w);
            bench_options_free(&o);
            return HARNESS_EXIT_USAGE;
        }
    }
    struct bench_library_output lo;
    if (bench_library_output_open(&lo, o.library_output) < 0) {
        bench_workload_destroy(&wb);
        bench_workload_destroy(&w);
        bench_options_free(&o);
        return HARNESS_EXIT_USAGE;
    }

    int nsides = o.vs_path || o.vs_threads ? 2 : 1;
    struct bench_side sides[2];
    memset(sides, 0, sizeof sides);
    for (int i = 0; i < nsides; i++) {
        sides[i].label = i ? "B" : "A";
        sides[i].slot = i;
        sides[i].threads = i && o.vs_threads ? o.vs_threads : o.threads;
        sides[i].round_ns_per_call = harness_xcalloc(o.rounds, sizeof(double));
        sides[i].w = i && o.vs_call_count ? &wb : &w;
    }
    const char *base_id = o.svc_id ? o.svc_id : "eva.controller.bench";
    char *vs_id = harness_xmalloc(strlen(base_id) + 4);
    sprintf(vs_id, "%s-vs", base_id);
    char *vs_data_path = NULL;
    if (o.data_path) {
        vs_data_path = harness_xmalloc(strlen(o.data_path) + 4);
        sprintf(vs_data_path, "%s-vs", o.data_path);
    }
    int rc = 0;
    for (int i = 0; i < nsides && rc == 0; i++) {
        if (i && !o.vs_path) {
            sides[i].target = sides[0].target; /* A itself, with other threads */
            bench_printf("target B: A with %u thread(s)\n", sides[i].threads);
            continue;
        }
        sides[i].target = &sides[i].own;
        struct bench_target_options to = {
            .svc_id = i ? vs_id : base_id,
            .log_level = o.log_level,
            .result_mode = o.result_mode,
            .loaded_path = i ? o.lib_path : NULL,
            .workers = o.workers,
            .data_path = i ? vs_data_path : o.data_path,
        };
        const char *path = i ? o.vs_path : o.lib_path;
        const char *cfg = i ? (o.vs_config ? o.vs_config : o.config_path) : o.config_path;
        rc = bench_target_start(sides[i].target, i, sides[i].label, path, cfg, &to);
        if (rc == HARNESS_EXIT_LAUNCH) {
            /* a half-started library may abort in its static destructors at exit
             * (a joinable std::thread, ...): the launch failed, say so and end here */
            bench_library_output_close(&lo);
            harness_data_folder_remove();
            fflush(NULL);
            _exit(HARNESS_EXIT_LAUNCH);
        }
        if (rc == 0) {
            const struct bench_target *t = sides[i].target;
            bench_printf("target %s: %s%s%s\n", t->label, path, cfg ? " --config " : "", cfg ? cfg : "");
            bench_printf("startup %s: dlopen_ms=%.2f init_ms=%.2f ready_ms=%.2f file_bytes=%lld\n", t->label, t->dlopen_ms,
                   t->init_ms, t->ready_ms, t->file_bytes);
        }
    }
    if (rc == 0) {
        bench_printf("bench: %s, %u thread(s)", w.frame_mode ? "frames" : "calls", o.threads);
        if (nsides == 2 && sides[1].threads != o.threads) bench_printf(" (B: %u)", sides[1].threads);
        bench_printf(", %u round(s), ", o.rounds);
        if (o.count) bench_printf("%llu %s per library\n", o.count, w.frame_mode ? "frames" : "iterations");
        else bench_printf("%.2f s per library\n", o.seconds);
        rc = bench_run(&o, &w, sides, nsides);
    }
    for (int i = nsides - 1; i >= 0; i--) {
        if (sides[i].target == &sides[i].own) {
            int src = bench_target_stop(&sides[i].own);
            if (!rc) rc = src;
            bench_target_destroy(&sides[i].own);
        }
        free(sides[i].round_ns_per_call);
    }
    free(vs_id);
    free(vs_data_path);
    bench_library_output_close(&lo);
    if (o.vs_call_count) bench_workload_destroy(&wb);
    bench_workload_destroy(&w);
    bench_options_free(&o);
    free(template_lib);
    return rc;
}
