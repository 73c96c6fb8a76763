#include "bench_team.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "eva_ffi.h"
#include "output.h"
#include "rpc_result.h"
#include "xalloc.h"

/* latency samples kept per thread and library (4 bytes each) */
#define BENCH_SAMPLES_CAP (1u << 17)
/* calls a thread makes between updates of the shared call count */
#define BENCH_COUNT_CHUNK 1024
/* iterations between clock reads in a timed round */
#define BENCH_CLOCK_EVERY 32
#define BENCH_RESULT_START (64u << 10)

/* each on cache lines of its own (see bench_team_start): a thread's
 * counters are written on every call and must not share a line with
 * another thread's */
struct bench_worker {
    struct bench_team *team;
    unsigned index;
    pthread_t thread;
    char **payloads[2]; /* per side, per call: the payload, a private copy when it has fresh uuids */
    char *res;
    size_t res_cap;
    struct bench_samples samples[BENCH_BUS_MAX];
    struct bench_uuid_source uuids;
    struct bench_round_result r;
    uint64_t unreported; /* calls not yet added to team->calls_made */
} __attribute__((aligned(128)));

struct bench_team {
    const struct bench_workload *ws[2]; /* A's and B's (--vs-call), maybe the same */
    const struct bench_options *o;
    unsigned count;
    struct bench_worker *workers;
    pthread_mutex_t mutex;
    pthread_cond_t go, done;
    uint64_t generation;
    unsigned finished;
    int stopping;
    struct bench_job job;
    uint64_t deadline_ns; /* timed rounds: when every thread stops */
    atomic_ullong calls_made;
    atomic_long rss_at_kib;
};

int32_t bench_call_once(const struct harness_lib *lib, const char *sender, const struct bench_call *c,
                        char *payload, char **res, size_t *res_cap, size_t *reply_len, const char **stage)
{
    struct EvaFFIRpcEvent ev;
    ev.primary_sender = (char *)sender;
    ev.method_size = c->method_len;
    ev.method = (char *)c->method;
    ev.payload_size = payload ? c->payload_len : 0;
    ev.payload = payload;
    *reply_len = 0;
    int32_t n = lib->on_rpc_call(&ev);
    if (n < 0) {
        *stage = "svc_on_rpc_call";
        return n;
    }
    if (n == 0) return 0;
    if ((size_t)n > *res_cap) {
        size_t cap = *res_cap ? *res_cap : 4096;
        while (cap < (size_t)n) cap *= 2;
        free(*res);
        *res = harness_xmalloc(cap);
        *res_cap = cap;
    }
    /* exactly the announced size, len = max = n, as the launcher does */
    struct EvaFFIBuffer b = {(size_t)n, *res, (size_t)n};
    int16_t rc = lib->get_result(&b);
    if (rc < 0) {
        *stage = "eva_svc_get_result";
        return rc;
    }
    if (b.data != *res || b.len > (size_t)n) {
        *stage = "eva_svc_get_result (moved data or len > max)";
        return EVA_ERR_CODE_INVALID_DATA;
    }
    *reply_len = b.len;
    return 0;
}

static void bench_worker_count(struct bench_worker *wk, uint64_t calls)
{
    wk->unreported += calls;
    if (wk->unreported < BENCH_COUNT_CHUNK) return;
    struct bench_team *team = wk->team;
    unsigned long long before = atomic_fetch_add(&team->calls_made, wk->unreported);
    unsigned long long at = team->o->rss_at;
    if (at && before < at && before + wk->unreported >= at) atomic_store(&team->rss_at_kib, bench_rss_kib());
    wk->unreported = 0;
}

static void bench_worker_fail(struct bench_worker *wk, int32_t code, const char *stage, const struct bench_call *c)
{
    wk->r.failed = 1;
    wk->r.code = code;
    wk->r.stage = stage;
    wk->r.call = c;
}

static void bench_worker_calls(struct bench_worker *wk, const struct bench_job *job)
{
    struct bench_team *team = wk->team;
    const struct bench_workload *w = team->ws[job->slot];
    char **payloads = wk->payloads[job->slot];
    const struct harness_lib *lib = &job->target->lib;
    const char *sender = team->o->sender;
    struct bench_samples *samples = &wk->samples[job->slot];
    unsigned every = team->o->sample_every, countdown = 1 + wk->index;
    /* one deadline for all: a thread that started late makes fewer calls,
     * rather than stretching the round */
    uint64_t end = team->deadline_ns;
    for (uint64_t it = 0; job->iterations ? it < job->iterations : 1; it++) {
        if (!job->iterations && it % BENCH_CLOCK_EVERY == 0 && it && bench_now_ns() >= end) break;
        for (size_t k = 0; k < w->call_count; k++) {
            const struct bench_call *c = &w->calls[k];
            if (c->fresh_count) bench_uuid_renew(&wk->uuids, c, payloads[k]);
            const char *stage = NULL;
            size_t len;
            int32_t rc;
            if (job->measure && --countdown == 0) {
                countdown = every;
                uint64_t t0 = bench_now_ns();
                rc = bench_call_once(lib, sender, c, payloads[k], &wk->res, &wk->res_cap, &len, &stage);
                bench_samples_add(samples, bench_now_ns() - t0);
            } else {
                rc = bench_call_once(lib, sender, c, payloads[k], &wk->res, &wk->res_cap, &len, &stage);
            }
            if (rc < 0) {
                bench_worker_fail(wk, rc, stage, c);
                return;
            }
            wk->r.calls++;
            if (c->is_action) wk->r.accepted++;
        }
        wk->r.iterations++;
        bench_worker_count(wk, w->call_count);
    }
}

static void bench_worker_frames(struct bench_worker *wk, const struct bench_job *job)
{
    struct bench_team *team = wk->team;
    const struct bench_workload *w = team->ws[0];
    const struct harness_lib *lib = &job->target->lib;
    if (!lib->on_frame) {
        bench_worker_fail(wk, EVA_ERR_CODE_UNSUPPORTED, "svc_on_frame (not exported)", NULL);
        return;
    }
    struct bench_samples *samples = &wk->samples[job->slot];
    unsigned every = team->o->sample_every, countdown = 1 + wk->index;
    /* one deadline for all: a thread that started late makes fewer calls,
     * rather than stretching the round */
    uint64_t end = team->deadline_ns;
    for (uint64_t it = 0; job->iterations ? it < job->iterations : 1; it++) {
        if (!job->iterations && it % BENCH_CLOCK_EVERY == 0 && it && bench_now_ns() >= end) break;
        /* a fresh struct each time: the library may not keep or change it */
        struct EvaFFIFrame fr;
        fr.kind = 1; /* publish */
        fr.primary_sender = (char *)team->o->sender;
        fr.topic = (char *)w->topic;
        fr.payload_size = w->frame_len;
        fr.payload = w->frame_len ? wk->payloads[0][0] : NULL;
        if (job->measure && --countdown == 0) {
            countdown = every;
            uint64_t t0 = bench_now_ns();
            lib->on_frame(&fr);
            bench_samples_add(samples, bench_now_ns() - t0);
        } else {
            lib->on_frame(&fr);
        }
        wk->r.calls++;
        wk->r.iterations++;
        bench_worker_count(wk, 1);
    }
}

static void *bench_worker_main(void *arg)
{
    struct bench_worker *wk = arg;
    struct bench_team *team = wk->team;
    uint64_t seen = 0;
    pthread_mutex_lock(&team->mutex);
    for (;;) {
        while (team->generation == seen && !team->stopping) pthread_cond_wait(&team->go, &team->mutex);
        if (team->stopping) break;
        seen = team->generation;
        struct bench_job job = team->job;
        pthread_mutex_unlock(&team->mutex);

        memset(&wk->r, 0, sizeof wk->r);
        if (wk->index < job.threads) {
            uint64_t cpu0 = bench_thread_cpu_ns();
            wk->r.start_ns = bench_now_ns();
            if (team->ws[0]->frame_mode) bench_worker_frames(wk, &job);
            else bench_worker_calls(wk, &job);
            wk->r.end_ns = bench_now_ns();
            wk->r.cpu_ns = bench_thread_cpu_ns() - cpu0;
        }

        pthread_mutex_lock(&team->mutex);
        team->finished++;
        pthread_cond_signal(&team->done);
    }
    pthread_mutex_unlock(&team->mutex);
    harness_rpc_result_release_thread();
    return NULL;
}

static char **bench_team_payloads(const struct bench_workload *w)
{
    size_t items = w->frame_mode ? 1 : w->call_count;
    char **payloads = harness_xcalloc(items ? items : 1, sizeof *payloads);
    if (w->frame_mode) {
        payloads[0] = w->frame_len ? harness_xmemdup(w->frame_payload, w->frame_len) : NULL;
    } else {
        for (size_t k = 0; k < items; k++)
            payloads[k] = w->calls[k].payload ? harness_xmemdup(w->calls[k].payload, w->calls[k].payload_len) : NULL;
    }
    return payloads;
}

static void bench_team_payloads_free(const struct bench_workload *w, char **payloads)
{
    size_t items = w->frame_mode ? 1 : w->call_count;
    for (size_t k = 0; k < items; k++) free(payloads[k]);
    free(payloads);
}

struct bench_team *bench_team_start(unsigned threads, const struct bench_workload *w, const struct bench_workload *wb,
                                    const struct bench_options *o)
{
    struct bench_team *team = harness_xcalloc(1, sizeof *team);
    team->ws[0] = w;
    team->ws[1] = wb ? wb : w;
    team->o = o;
    team->count = threads;
    atomic_init(&team->calls_made, 0);
    atomic_init(&team->rss_at_kib, -1);
    pthread_mutex_init(&team->mutex, NULL);
    pthread_cond_init(&team->go, NULL);
    pthread_cond_init(&team->done, NULL);
    if (posix_memalign((void **)&team->workers, 128, threads * sizeof *team->workers) != 0) {
        harness_log(HARNESS_LOG_CRITICAL, "out of memory");
        abort();
    }
    memset(team->workers, 0, threads * sizeof *team->workers);
    for (unsigned i = 0; i < threads; i++) {
        struct bench_worker *wk = &team->workers[i];
        wk->team = team;
        wk->index = i;
        for (int side = 0; side < 2; side++) wk->payloads[side] = bench_team_payloads(team->ws[side]);
        wk->res_cap = BENCH_RESULT_START;
        wk->res = harness_xmalloc(wk->res_cap);
        memset(wk->res, 0, wk->res_cap);
        for (int t = 0; t < BENCH_BUS_MAX; t++) bench_samples_init(&wk->samples[t], BENCH_SAMPLES_CAP);
        bench_uuid_source_init(&wk->uuids, i + 1);
    }
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&team->workers[i].thread, NULL, bench_worker_main, &team->workers[i]) != 0) {
            harness_log(HARNESS_LOG_CRITICAL, "cannot start bench thread %u", i);
            abort();
        }
    }
    return team;
}

void bench_team_run(struct bench_team *team, const struct bench_job *job, struct bench_round_result *out)
{
    pthread_mutex_lock(&team->mutex);
    team->job = *job;
    team->deadline_ns = bench_now_ns() + job->duration_ns;
    team->finished = 0;
    team->generation++;
    pthread_cond_broadcast(&team->go);
    while (team->finished < team->count) pthread_cond_wait(&team->done, &team->mutex);
    pthread_mutex_unlock(&team->mutex);
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < team->count && i < job->threads; i++) {
        const struct bench_round_result *r = &team->workers[i].r;
        if (i == 0 || r->start_ns < out->start_ns) out->start_ns = r->start_ns;
        if (r->end_ns > out->end_ns) out->end_ns = r->end_ns;
        out->calls += r->calls;
        out->cpu_ns += r->cpu_ns;
        out->iterations += r->iterations;
        out->accepted += r->accepted;
        if (r->failed && !out->failed) {
            out->failed = 1;
            out->code = r->code;
            out->stage = r->stage;
            out->call = r->call;
        }
    }
}

void bench_team_percentiles(struct bench_team *team, int slot, double *p50, double *p99)
{
    struct bench_samples **sets = harness_xcalloc(team->count, sizeof *sets);
    for (unsigned i = 0; i < team->count; i++) sets[i] = &team->workers[i].samples[slot];
    bench_percentiles(sets, team->count, p50, p99);
    free(sets);
}

long bench_team_rss_at(struct bench_team *team)
{
    return atomic_load(&team->rss_at_kib);
}

void bench_team_stop(struct bench_team *team)
{
    pthread_mutex_lock(&team->mutex);
    team->stopping = 1;
    pthread_cond_broadcast(&team->go);
    pthread_mutex_unlock(&team->mutex);
    for (unsigned i = 0; i < team->count; i++) {
        struct bench_worker *wk = &team->workers[i];
        pthread_join(wk->thread, NULL);
        for (int side = 0; side < 2; side++) bench_team_payloads_free(team->ws[side], wk->payloads[side]);
        free(wk->res);
        for (int t = 0; t < BENCH_BUS_MAX; t++) bench_samples_destroy(&wk->samples[t]);
    }
    free(team->workers);
    pthread_cond_destroy(&team->go);
    pthread_cond_destroy(&team->done);
    pthread_mutex_destroy(&team->mutex);
    free(team);
}
