#include "runtime.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "output.h"

static struct {
    pthread_mutex_t mutex;
    pthread_cond_t left;
    unsigned workers;
    void (*on_hang)(void *ud, const struct harness_hang *hang);
    void *ud;
    const char *callback; /* NULL: no lifecycle callback runs */
    pthread_t callback_thread;
    double hang_after;
    int cond_ready;
} harness_runtime = {.mutex = PTHREAD_MUTEX_INITIALIZER, .workers = 2};

void harness_runtime_init(unsigned workers, void (*on_hang)(void *ud, const struct harness_hang *hang), void *ud)
{
    pthread_mutex_lock(&harness_runtime.mutex);
    if (!harness_runtime.cond_ready) {
        harness_clock_cond_init(&harness_runtime.left);
        harness_runtime.cond_ready = 1;
    }
    harness_runtime.workers = workers;
    harness_runtime.on_hang = on_hang;
    harness_runtime.ud = ud;
    harness_runtime.callback = NULL;
    pthread_mutex_unlock(&harness_runtime.mutex);
}

unsigned harness_runtime_workers(void)
{
    return harness_runtime.workers;
}

/* eva4-sdk src/service.rs svc_launch: workers > 1 -> multi-thread runtime, else current-thread */
int harness_runtime_one_thread(void)
{
    return harness_runtime.workers <= 1;
}

/* eva4 svc/ffi/src/main.rs eva_svc_main: svc_init/prepare/launch/terminate run on the main task */
void harness_runtime_enter(const char *callback, double hang_after)
{
    pthread_mutex_lock(&harness_runtime.mutex);
    harness_runtime.callback = callback;
    harness_runtime.callback_thread = pthread_self();
    harness_runtime.hang_after = hang_after;
    pthread_mutex_unlock(&harness_runtime.mutex);
}

void harness_runtime_leave(void)
{
    pthread_mutex_lock(&harness_runtime.mutex);
    harness_runtime.callback = NULL;
    if (harness_runtime.cond_ready) pthread_cond_broadcast(&harness_runtime.left);
    pthread_mutex_unlock(&harness_runtime.mutex);
}

const char *harness_runtime_callback(void)
{
    pthread_mutex_lock(&harness_runtime.mutex);
    const char *c = harness_runtime.callback;
    pthread_mutex_unlock(&harness_runtime.mutex);
    return c;
}

static void harness_runtime_hang(const struct harness_hang *hang) __attribute__((noreturn));
static void harness_runtime_hang(const struct harness_hang *hang)
{
    harness_log(HARNESS_LOG_ERROR, "%s", hang->report);
    if (harness_runtime.on_hang) harness_runtime.on_hang(harness_runtime.ud, hang);
    /* on_hang must not return; if it does, never let the call succeed */
    for (;;) harness_clock_sleep(3600);
}

void harness_runtime_report_hang(const char *report)
{
    struct harness_hang hang = {report, NULL};
    harness_runtime_hang(&hang);
}

/* an RPC_CALL that hangs because the one-thread runtime cannot serve it */
static void harness_runtime_call_hangs(const char *target, size_t target_len, const char *method, size_t method_len,
                                       const char *callback, unsigned workers, const char *note)
{
    struct harness_strbuf call = HARNESS_STRBUF_INIT, report = HARNESS_STRBUF_INIT;
    harness_strbuf_appendf(&call, "RPC_CALL %.*s %.*s during %s", (int)target_len, target, (int)method_len, method,
                           callback);
    harness_strbuf_appendf(&report, "hangs on a 4.2 node: %s with workers: %u%s", call.data, workers, note);
    harness_strbuf_append_str(&call, note);
    /* a report line stays under 512 bytes (a library may send a huge method name) */
    if (report.len > 511) {
        report.len = 511;
        report.data[511] = '\0';
    }
    struct harness_hang hang = {report.data, call.data};
    harness_runtime_hang(&hang); /* does not return: nothing to free */
}

/* eva4 svc/ffi/src/main.rs svc_op RpcCall: rx.recv() blocks the caller until the bus task (same runtime) answers */
void harness_runtime_before_rpc(const char *target, size_t target_len, const char *method, size_t method_len)
{
    if (!harness_runtime_one_thread()) return;
    pthread_mutex_lock(&harness_runtime.mutex);
    if (!harness_runtime.callback) {
        pthread_mutex_unlock(&harness_runtime.mutex);
        return;
    }
    const char *cb = harness_runtime.callback;
    if (pthread_equal(harness_runtime.callback_thread, pthread_self())) {
        pthread_mutex_unlock(&harness_runtime.mutex);
        harness_runtime_call_hangs(target, target_len, method, method_len, cb, harness_runtime.workers, "");
    }
    /* another thread: served once the callback returns, unless the
     * callback waits for this thread */
    struct timespec deadline = harness_clock_deadline(harness_runtime.hang_after);
    while (harness_runtime.callback) {
        if (pthread_cond_timedwait(&harness_runtime.left, &harness_runtime.mutex, &deadline) == ETIMEDOUT &&
            harness_runtime.callback) {
            cb = harness_runtime.callback;
            double waited = harness_runtime.hang_after;
            pthread_mutex_unlock(&harness_runtime.mutex);
            char note[160];
            snprintf(note, sizeof note, " (made on another thread; %s did not return within %g s while the call waited)",
                     cb, waited);
            harness_runtime_call_hangs(target, target_len, method, method_len, cb, harness_runtime.workers, note);
        }
    }
    pthread_mutex_unlock(&harness_runtime.mutex);
}

/* eva4 svc/ffi/src/main.rs Handlers: calls and frames go through spawn_blocking from the bus task */
void harness_runtime_before_route(void)
{
    if (!harness_runtime_one_thread()) return;
    pthread_mutex_lock(&harness_runtime.mutex);
    while (harness_runtime.callback && harness_runtime.cond_ready)
        pthread_cond_wait(&harness_runtime.left, &harness_runtime.mutex);
    pthread_mutex_unlock(&harness_runtime.mutex);
}
