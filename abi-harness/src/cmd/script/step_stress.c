/* The stress step: its call/frame/sleep steps repeated by N threads for
 * N iterations, with {t} (the thread) and {n} (the iteration) substituted;
 * failures are counted and the first few shown, with one "stress: ..."
 * line of figures. */
#include "script_steps.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "output.h"
#include "xalloc.h"

#define HARNESS_SCRIPT_STRESS_SHOWN 5

int harness_script_parse_stress(struct harness_script *script, struct harness_step *st, const msgpack_object *v,
                                const char *where, struct harness_strbuf *err)
{
    static const char *const keys[] = {"threads", "iterations", "steps", NULL};
    if (v->type != MSGPACK_OBJECT_MAP) {
        harness_strbuf_appendf(err, "%s: stress must be a map {threads, iterations, steps}", where);
        return -1;
    }
    if (harness_script_check_keys(v, keys, where, err) < 0) return -1;
    const msgpack_object *threads = harness_script_field(v, "threads");
    const msgpack_object *iterations = harness_script_field(v, "iterations");
    const msgpack_object *steps = harness_script_field(v, "steps");
    st->threads = 1;
    st->iterations = 1;
    if (threads) {
        if (threads->type != MSGPACK_OBJECT_POSITIVE_INTEGER || threads->via.u64 < 1 || threads->via.u64 > 1024) {
            harness_strbuf_appendf(err, "%s: stress.threads must be 1..1024", where);
            return -1;
        }
        st->threads = (unsigned)threads->via.u64;
    }
    if (iterations) {
        if (iterations->type != MSGPACK_OBJECT_POSITIVE_INTEGER || iterations->via.u64 < 1) {
            harness_strbuf_appendf(err, "%s: stress.iterations must be a positive integer", where);
            return -1;
        }
        st->iterations = (unsigned long)iterations->via.u64;
    }
    if (!steps || steps->type != MSGPACK_OBJECT_ARRAY || steps->via.array.size == 0) {
        harness_strbuf_appendf(err, "%s: stress.steps must be a non-empty list", where);
        return -1;
    }
    size_t cap = 0;
    for (uint32_t i = 0; i < steps->via.array.size; i++) {
        struct harness_step *sub = harness_script_push(&st->steps, &st->step_count, &cap);
        char w[96];
        snprintf(w, sizeof w, "%s, stress step %u", where, i + 1);
        if (harness_script_parse_step(script, sub, &steps->via.array.ptr[i], w, 1, err) < 0) return -1;
    }
    st->label = harness_xstrdup("stress");
    return 0;
}

struct harness_stress {
    struct harness_script_env *env;
    const struct harness_step *st;
    atomic_ulong calls;
    atomic_ulong failures;
    pthread_mutex_t mutex;
    struct harness_strbuf shown;
    unsigned shown_count;
};

struct harness_stress_thread {
    struct harness_stress *stress;
    unsigned index;
    pthread_t thread;
};

static void *harness_stress_main(void *arg)
{
    struct harness_stress_thread *th = arg;
    struct harness_stress *s = th->stress;
    struct harness_strbuf why = HARNESS_STRBUF_INIT;
    for (unsigned long n = 0; n < s->st->iterations; n++) {
        if (harness_service_stop_requested(s->env->svc) != HARNESS_STOP_NONE) break;
        struct harness_subst subst = {1, (long long)th->index, (long long)n};
        for (size_t i = 0; i < s->st->step_count; i++) {
            const struct harness_step *sub = &s->st->steps[i];
            harness_strbuf_reset(&why);
            int ok = 1;
            if (sub->kind == HARNESS_STEP_CALL) {
                atomic_fetch_add(&s->calls, 1);
                ok = harness_script_call(s->env, sub, &subst, 0, &why) > 0;
            } else if (sub->kind == HARNESS_STEP_FRAME) {
                ok = harness_script_frame(s->env, sub, &subst, 0, &why) > 0;
            } else if (sub->kind == HARNESS_STEP_SLEEP) {
                harness_clock_sleep(sub->seconds);
            }
            if (ok) continue;
            atomic_fetch_add(&s->failures, 1);
            pthread_mutex_lock(&s->mutex);
            if (s->shown_count < HARNESS_SCRIPT_STRESS_SHOWN) {
                harness_strbuf_appendf(&s->shown, "\n    thread %u iteration %lu %s: %s", th->index, n, sub->label,
                                       harness_strbuf_cstr(&why));
            }
            s->shown_count++;
            pthread_mutex_unlock(&s->mutex);
        }
    }
    harness_strbuf_destroy(&why);
    return NULL;
}

int harness_script_stress(struct harness_script_env *env, const struct harness_step *st, struct harness_strbuf *why)
{
    struct harness_stress s;
    memset(&s, 0, sizeof s);
    s.env = env;
    s.st = st;
    pthread_mutex_init(&s.mutex, NULL);
    struct harness_stress_thread *threads = harness_xcalloc(st->threads, sizeof *threads);
    double t0 = harness_clock_now();
    unsigned started = 0;
    for (unsigned i = 0; i < st->threads; i++) {
        threads[i].stress = &s;
        threads[i].index = i;
        if (pthread_create(&threads[i].thread, NULL, harness_stress_main, &threads[i]) != 0) break;
        started++;
    }
    for (unsigned i = 0; i < started; i++) pthread_join(threads[i].thread, NULL);
    double elapsed = harness_clock_now() - t0;
    unsigned long calls = atomic_load(&s.calls), failures = atomic_load(&s.failures);
    char line[256];
    snprintf(line, sizeof line, "stress: %u threads x %lu iterations: %lu calls, %lu failures, %.0f calls/s",
             st->threads, st->iterations, calls, failures, elapsed > 0 ? (double)calls / elapsed : 0.0);
    harness_output_stderr_line(line);
    int ok = failures == 0 && started == st->threads;
    if (started != st->threads) harness_strbuf_appendf(why, "could only start %u threads", started);
    if (failures) {
        harness_strbuf_appendf(why, "%lu failed expects; first %u:%s", failures,
                               s.shown_count < HARNESS_SCRIPT_STRESS_SHOWN ? s.shown_count : HARNESS_SCRIPT_STRESS_SHOWN,
                               harness_strbuf_cstr(&s.shown));
    }
    harness_strbuf_destroy(&s.shown);
    pthread_mutex_destroy(&s.mutex);
    free(threads);
    return ok;
}
