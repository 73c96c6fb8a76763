#include "bus_serve.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "bus_real.h"
#include "busrt_client.h"
#include "clock.h"
#include "data_folder.h"
#include "exit_codes.h"
#include "output.h"
#include "rpc_result.h"
#include "runtime.h"
#include "service.h"
#include "signals.h"
#include "watchdog.h"

/* threads for calls and frames: eva-ffi's blocking pool grows to hundreds,
 * a fixed pool this size keeps a slow call from holding up the others */
#define HARNESS_SERVE_POOL 32
/* eva4-sdk src/service.rs poc(): the process exits 1 one second after POC */
#define HARNESS_SERVE_POC_DELAY 1.0

/* static: library threads that outlive the service may still reach these
 * through the op function until the bus is detached */
static struct harness_serve_ctx {
    struct harness_service svc;
    struct harness_bus_real *bus;
    atomic_int lost_err;
} harness_serve;

static void harness_serve_on_terminate(void *ud)
{
    struct harness_serve_ctx *ctx = ud;
    harness_service_request_stop(&ctx->svc, HARNESS_STOP_TERMINATE);
}

static void harness_serve_on_signal(int sig, void *ud)
{
    (void)sig;
    struct harness_serve_ctx *ctx = ud;
    harness_service_request_stop(&ctx->svc, HARNESS_STOP_SIGNAL);
}

static void harness_serve_on_lost(void *ud, int err)
{
    struct harness_serve_ctx *ctx = ud;
    atomic_store(&ctx->lost_err, err ? err : BUSRT_ERR_IO);
    harness_log(HARNESS_LOG_ERROR, "the broker went away (%d): stopping the service, then exiting with %d", err,
                HARNESS_EXIT_BUS_LOST);
    harness_service_request_stop(&ctx->svc, HARNESS_STOP_BUS_LOST);
}

static void harness_serve_on_hang(void *ud, const struct harness_hang *hang)
{
    (void)ud;
    (void)hang; /* already on stderr */
    harness_log(HARNESS_LOG_ERROR, "exiting with %d (would hang on a node) instead of hanging", HARNESS_EXIT_HANG);
    harness_data_folder_remove();
    harness_output_emergency_flush();
    _exit(HARNESS_EXIT_HANG);
}

/* the exits that skip atexit (_exit) take attach's fresh data folder with them, as run's do */
static void harness_serve_watchdog_hook(void *ud)
{
    (void)ud;
    harness_data_folder_remove();
}

static void *harness_serve_poc_timer(void *arg)
{
    (void)arg;
    harness_clock_sleep(HARNESS_SERVE_POC_DELAY);
    harness_data_folder_remove();
    harness_output_emergency_flush();
    _exit(HARNESS_EXIT_POC);
}

/* eva4-sdk src/service.rs poc(): stop the service as at a stop; exit 1 a second later unless the stop
 * ended first (then eva-ffi exits 0, observed) */
static void harness_serve_on_poc(void *ud, const char *text, size_t len)
{
    (void)text;
    (void)len;
    struct harness_serve_ctx *ctx = ud;
    harness_service_request_stop(&ctx->svc, HARNESS_STOP_POC);
    pthread_t t;
    if (pthread_create(&t, NULL, harness_serve_poc_timer, NULL) == 0) pthread_detach(t);
}

/* eva4-sdk src/service.rs: stdin carries 0x00 beacons; EOF or another byte ends the service */
static void *harness_serve_stdin_main(void *arg)
{
    struct harness_serve_ctx *ctx = arg;
    unsigned char b;
    for (;;) {
        ssize_t n = read(STDIN_FILENO, &b, 1);
        if (n == 1 && b == 0) continue;
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        break;
    }
    harness_log(HARNESS_LOG_INFO, "stdin closed or carried a byte other than 0x00: stopping the service");
    harness_service_request_stop(&ctx->svc, HARNESS_STOP_STDIN);
    return NULL;
}

/* a refused name and a broker that is not there are told apart */
static int harness_serve_bus_exit(int err)
{
    switch (err) {
    case BUSRT_ERR_BUSY:
    case BUSRT_ERR_DATA:
    case BUSRT_ERR_ACCESS:
    case BUSRT_ERR_NOT_REGISTERED:
        harness_log(HARNESS_LOG_ERROR, "the broker refused the name: exiting with %d", HARNESS_EXIT_BUS_REFUSED);
        return HARNESS_EXIT_BUS_REFUSED;
    default:
        harness_log(HARNESS_LOG_ERROR, "no broker to talk to: exiting with %d", HARNESS_EXIT_BUS_LOST);
        return HARNESS_EXIT_BUS_LOST;
    }
}

int harness_bus_serve_main(const struct harness_bus_serve *s)
{
    struct harness_serve_ctx *ctx = &harness_serve;
    memset(ctx, 0, sizeof *ctx);
    const struct harness_initial *initial = s->initial;
    /* the one difference from eva-ffi, on purpose: the bus client reads on a thread of its own, so
     * an RPC_CALL inside svc_prepare/launch/terminate returns whatever workers is */
    harness_runtime_init(initial->workers > 2 ? initial->workers : 2, harness_serve_on_hang, ctx);
    harness_service_init(&ctx->svc, s->lib_path, initial, HARNESS_SERVE_POOL, "");
    struct harness_bus_real_config rc = {
        .addr = s->addr,
        .name = initial->svc_id,
        .timeout = initial->bus_timeout,
        .rpc_timeout = initial->timeout_default,
        .log_level = s->log_level,
        .blocking_fp = s->blocking_fp,
        .echo_logs = s->echo_logs,
        .svc = &ctx->svc,
        .on_lost = harness_serve_on_lost,
        .lost_ud = ctx,
    };
    ctx->bus = harness_bus_real_new(&rc);
    struct harness_bus_backend backend;
    harness_bus_real_backend(ctx->bus, &backend);
    struct harness_bus_config bc = {
        .result_mode = HARNESS_RESULT_SWAP,
        .queue_size = initial->queue_size,
        .rpc_timeout = initial->timeout_default,
        .on_terminate = harness_serve_on_terminate,
        .terminate_ud = ctx,
        .on_poc = harness_serve_on_poc,
        .poc_ud = ctx,
        .backend = &backend,
    };
    harness_bus_start(&bc);
    harness_signals_ignore_sigint(!s->sigint_stops);
    harness_signals_start(harness_serve_on_signal, ctx);
    /* the node's deadlines: not ready within timeout.startup, or not gone within timeout.shutdown
     * (a call stuck in the library), and the node kills the process; the watchdog ends it then */
    harness_watchdog_start();
    harness_watchdog_set_hook(harness_serve_watchdog_hook, NULL);
    if (s->watch_stdin) {
        pthread_t t;
        if (pthread_create(&t, NULL, harness_serve_stdin_main, ctx) == 0) pthread_detach(t);
    }

    int exit_code = harness_service_launch(&ctx->svc);
    if (exit_code == 0) {
        enum harness_stop_reason reason = harness_service_wait_stop(&ctx->svc, -1);
        harness_log(HARNESS_LOG_INFO, "stopping: requested by %s", harness_service_stop_reason_name(reason));
        /* after POC too: eva-ffi exits 0 when the stop ends before its one-second timer (observed) */
        exit_code = harness_service_shutdown(&ctx->svc);
        if (reason == HARNESS_STOP_BUS_LOST && exit_code == 0) exit_code = HARNESS_EXIT_BUS_LOST;
    } else {
        if (ctx->svc.bus_error) exit_code = harness_serve_bus_exit(ctx->svc.bus_error);
        harness_service_abandon(&ctx->svc);
    }
    harness_watchdog_stop();
    harness_signals_stop();
    if (harness_bus_detach(1.0) == 0) {
        harness_service_destroy(&ctx->svc);
        harness_bus_real_free(ctx->bus);
    }
    harness_rpc_result_release_thread();
    /* eva4 svc/ffi/src/main.rs: any error out of eva_svc_main is exit code 1 */
    if (s->ffi_exit_codes && (exit_code == HARNESS_EXIT_LAUNCH || exit_code == HARNESS_EXIT_SHUTDOWN))
        exit_code = HARNESS_EXIT_FAILED;
    return exit_code;
}
