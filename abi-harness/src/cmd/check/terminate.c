/* check terminate: after a warm-up call of each method, svc_terminate
 * returns 0 within timeout.shutdown (the node kills the service after it),
 * and no op calls follow it (a node's launcher is exiting then: WARN). */
#include "checks.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "clock.h"
#include "runtime.h"

struct harness_term_arg {
    struct harness_check_child *ch;
    pthread_mutex_t mutex;
    pthread_cond_t done_cond;
    int done;
    int16_t rc;
};

static void *harness_term_main(void *arg)
{
    struct harness_term_arg *a = arg;
    harness_runtime_enter("svc_terminate", harness_check_initial(a->ch->ctx)->timeout_shutdown);
    int16_t rc = a->ch->svc.lib.terminate();
    harness_runtime_leave();
    harness_bus_mark_terminated();
    pthread_mutex_lock(&a->mutex);
    a->rc = rc;
    a->done = 1;
    pthread_cond_broadcast(&a->done_cond);
    pthread_mutex_unlock(&a->mutex);
    return NULL;
}

void harness_check_terminate(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_READY);
    if (!ch->svc.lib.terminate) harness_check_verdict(ch, HARNESS_SKIP, "the library exports no svc_terminate");
    if (ch->svc.lib.on_rpc_call) {
        struct harness_check_call *cand;
        size_t n = harness_check_candidates(ch, &cand, 0);
        for (size_t i = 0; i < n; i++) {
            harness_check_stage(ch, "warm-up call %.*s", (int)cand[i].method_len, cand[i].method);
            struct harness_reply r;
            harness_service_call(&ch->svc, cand[i].method, cand[i].method_len, cand[i].payload, cand[i].payload_len, &r);
            harness_reply_clear(&r);
        }
        free(cand);
    }
    harness_rpc_pool_stop(ch->svc.pool);
    ch->svc.pool = NULL;
    harness_check_stage(ch, "svc_terminate");
    harness_bus_set_active(0);
    harness_service_publish_status("terminating");
    struct harness_term_arg a;
    memset(&a, 0, sizeof a);
    a.ch = ch;
    pthread_mutex_init(&a.mutex, NULL);
    harness_clock_cond_init(&a.done_cond);
    double limit = ch->ctx->initial.timeout_shutdown, t0 = harness_clock_now();
    pthread_t t;
    pthread_create(&t, NULL, harness_term_main, &a);
    struct timespec deadline = harness_clock_deadline(limit);
    pthread_mutex_lock(&a.mutex);
    while (!a.done) {
        if (pthread_cond_timedwait(&a.done_cond, &a.mutex, &deadline) != 0) break;
    }
    int done = a.done;
    int16_t rc = a.rc;
    pthread_mutex_unlock(&a.mutex);
    double took = harness_clock_now() - t0;
    if (!done) harness_check_verdict(ch, HARNESS_FAIL, "svc_terminate did not return within timeout.shutdown (%g s)", limit);
    pthread_join(t, NULL);
    if (rc != 0) harness_check_verdict(ch, HARNESS_FAIL, "svc_terminate returned %d", (int)rc);
    harness_check_stage(ch, "watching op calls after svc_terminate");
    harness_clock_sleep(0.3);
    struct harness_bus_stats st;
    harness_bus_get_stats(&st);
    if (st.after_terminate)
        harness_check_verdict(ch, HARNESS_WARN, "%lu op call%s after svc_terminate returned (first: %s, %.0f ms after; "
                                                "a node's launcher is exiting then)",
                              st.after_terminate, st.after_terminate > 1 ? "s" : "",
                              harness_bus_op_name(st.after_terminate_first_op), st.after_terminate_first_delay * 1000);
    harness_check_verdict(ch, HARNESS_PASS, "svc_terminate returned 0 in %.0f ms (limit %g s); no op calls in 300 ms after",
                          took * 1000, limit);
}
