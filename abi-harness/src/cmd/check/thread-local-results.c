/* check thread-local-results: the launcher fetches a call's result with
 * eva_svc_get_result on the thread that made the call, while other threads
 * call too; a library that keeps one shared result buffer hands out another
 * call's reply. Calls whose reply is the same every time are made from 8
 * threads at random and each reply is compared with the call's own. */
#include "checks.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "rng.h"

struct harness_tl_shared {
    struct harness_check_child *ch;
    struct harness_check_call *calls;
    size_t count;
    unsigned long iterations;
    double deadline;
    atomic_ulong done;
    atomic_ulong mismatches;
    pthread_mutex_t mutex;
    struct harness_strbuf first;
};

struct harness_tl_thread {
    struct harness_tl_shared *sh;
    unsigned index;
    pthread_t thread;
};

static int harness_tl_same(const struct harness_check_call *c, const struct harness_reply *r)
{
    if (r->code != c->code || r->has_payload != c->has_payload || r->overrun) return 0;
    return !r->has_payload || (r->payload_len == c->len && memcmp(r->payload, c->bytes, c->len) == 0);
}

static void *harness_tl_main(void *arg)
{
    struct harness_tl_thread *th = arg;
    struct harness_tl_shared *sh = th->sh;
    struct harness_rng rng;
    harness_rng_seed(&rng, sh->ch->ctx->o->seed + th->index * 7919u);
    for (unsigned long i = 0; i < sh->iterations; i++) {
        if ((i & 255) == 0 && harness_clock_now() > sh->deadline) break;
        const struct harness_check_call *c = &sh->calls[harness_rng_below(&rng, sh->count)];
        struct harness_reply r;
        harness_rpc_invoke(&sh->ch->svc.lib, sh->ch->ctx->o->sender, c->method, c->method_len, c->payload,
                           c->payload_len, &r);
        atomic_fetch_add(&sh->done, 1);
        if (!harness_tl_same(c, &r) && atomic_fetch_add(&sh->mismatches, 1) == 0) {
            pthread_mutex_lock(&sh->mutex);
            harness_strbuf_appendf(&sh->first, "thread %u, %.*s%s: expected ", th->index, (int)c->method_len,
                                   c->method, c->payload_len ? " {}" : "");
            struct harness_reply want = {c->code, c->has_payload, c->bytes, c->len, 0, 0, 0};
            harness_check_describe_reply(&sh->first, &want);
            harness_strbuf_append_str(&sh->first, ", seen ");
            harness_check_describe_reply(&sh->first, &r);
            if (r.overrun) harness_strbuf_append_str(&sh->first, " (wrote past max)");
            pthread_mutex_unlock(&sh->mutex);
        }
        harness_reply_clear(&r);
    }
    return NULL;
}

void harness_check_thread_local_results(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_READY);
    harness_check_need_rpc(ch);
    struct harness_check_call *cand;
    size_t n = harness_check_candidates(ch, &cand, 1), kept = 0;
    for (size_t i = 0; i < n; i++) {
        harness_check_stage(ch, "baseline %.*s%s", (int)cand[i].method_len, cand[i].method,
                            cand[i].payload_len ? " {}" : "");
        struct harness_reply a, b;
        harness_rpc_invoke(&ch->svc.lib, ch->ctx->o->sender, cand[i].method, cand[i].method_len, cand[i].payload,
                           cand[i].payload_len, &a);
        harness_rpc_invoke(&ch->svc.lib, ch->ctx->o->sender, cand[i].method, cand[i].method_len, cand[i].payload,
                           cand[i].payload_len, &b);
        int same = a.code == b.code && a.has_payload == b.has_payload && !a.overrun && !b.overrun &&
                   (!a.has_payload || (a.payload_len == b.payload_len && !memcmp(a.payload, b.payload, a.payload_len)));
        if (same) {
            struct harness_check_call c = cand[i];
            c.code = a.code;
            c.has_payload = a.has_payload;
            c.bytes = a.payload;
            c.len = a.payload_len;
            a.payload = NULL;
            cand[kept++] = c;
        }
        harness_reply_clear(&a);
        harness_reply_clear(&b);
    }
    /* distinct payload replies: the thing a shared buffer would mix up */
    size_t distinct = 0;
    for (size_t i = 0; i < kept; i++) {
        if (!cand[i].has_payload) continue;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = cand[j].has_payload && cand[j].len == cand[i].len && !memcmp(cand[j].bytes, cand[i].bytes, cand[i].len);
        if (!seen) distinct++;
    }
    if (distinct < 2)
        harness_check_verdict(ch, HARNESS_SKIP,
                              "needs at least 2 distinct deterministic payload replies, found %zu (of %zu calls tried)",
                              distinct, n);
    struct harness_tl_shared sh;
    memset(&sh, 0, sizeof sh);
    sh.ch = ch;
    sh.calls = cand;
    sh.count = kept;
    sh.iterations = ch->ctx->o->iterations;
    double budget = ch->ctx->o->time_limit / 3;
    sh.deadline = harness_clock_now() + (budget < 10 ? budget : 10);
    pthread_mutex_init(&sh.mutex, NULL);
    enum { THREADS = 8 };
    struct harness_tl_thread th[THREADS];
    harness_check_stage(ch, "%d threads calling %zu methods at random", THREADS, kept);
    double t0 = harness_clock_now();
    for (unsigned i = 0; i < THREADS; i++) {
        th[i].sh = &sh;
        th[i].index = i;
        pthread_create(&th[i].thread, NULL, harness_tl_main, &th[i]);
    }
    for (unsigned i = 0; i < THREADS; i++) pthread_join(th[i].thread, NULL);
    double dt = harness_clock_now() - t0;
    unsigned long done = atomic_load(&sh.done), bad = atomic_load(&sh.mismatches);
    if (bad)
        harness_check_verdict(ch, HARNESS_FAIL, "%lu of %lu replies were not the call's own (first: %s)", bad, done,
                              sh.first.data);
    harness_check_verdict(ch, HARNESS_PASS, "%lu calls on %d threads over %zu deterministic calls (%zu distinct payloads), "
                                            "every reply the call's own (%.0f calls/s)",
                          done, THREADS, kept, distinct, dt > 0 ? (double)done / dt : 0.0);
}
