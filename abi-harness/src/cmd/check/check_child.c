/* A check's child process: its report lines to the driver, the hooks that
 * turn a POC or a would-be hang into a verdict, and the mock core and bus
 * it runs the library against. */
#include "check_child.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "check_fork.h"
#include "initial_payload.h"
#include "mock_core.h"
#include "output.h"
#include "payload_json.h"
#include "rpc_pool.h"
#include "runtime.h"

const struct harness_initial *harness_check_initial(const struct harness_check_ctx *ctx)
{
    return ctx->one_worker ? &ctx->initial_one_worker : &ctx->initial;
}

/* ------------------------------------------------------- child reporting */

static void harness_check_line(int fd, const char *kind, const char *fmt, va_list ap)
{
    struct harness_strbuf sb = HARNESS_STRBUF_INIT;
    harness_strbuf_vappendf(&sb, fmt, ap);
    for (size_t i = 0; i < sb.len; i++) {
        if (sb.data[i] == '\n' || sb.data[i] == '\r') sb.data[i] = ' ';
    }
    struct harness_strbuf line = HARNESS_STRBUF_INIT;
    harness_strbuf_appendf(&line, "%s %s\n", kind, harness_strbuf_cstr(&sb));
    harness_check_write(fd, line.data, line.len);
    harness_strbuf_destroy(&line);
    harness_strbuf_destroy(&sb);
}

/* the child's current stage, for verdicts that come from elsewhere (POC) */
static char harness_check_stage_now[200];

void harness_check_stage(struct harness_check_child *ch, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(harness_check_stage_now, sizeof harness_check_stage_now, fmt, ap);
    va_end(ap);
    va_start(ap, fmt);
    harness_check_line(ch->fd, "stage", fmt, ap);
    va_end(ap);
}

void harness_check_verdict(struct harness_check_child *ch, enum harness_verdict v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    harness_check_line(ch->fd,
                       v == HARNESS_PASS   ? "result PASS"
                       : v == HARNESS_WARN ? "result WARN"
                       : v == HARNESS_FAIL ? "result FAIL"
                                           : "result SKIP",
                       fmt, ap);
    va_end(ap);
    /* on the child's own thread, with nothing of the library running on
     * ours: join the harness's threads so leak checkers see a clean exit */
    if (ch->env_ready && pthread_equal(pthread_self(), ch->main_thread)) {
        if (ch->svc.pool && harness_rpc_pool_wait_idle(ch->svc.pool, 0.5) == 0) {
            harness_rpc_pool_stop(ch->svc.pool);
            ch->svc.pool = NULL;
        }
        if (!ch->svc.pool) harness_bus_stop();
    }
    fflush(stdout);
    fflush(stderr);
    /* no atexit handlers, no library destructors: the verdict is in */
    _exit(0);
}

void harness_check_describe_reply(struct harness_strbuf *sb, const struct harness_reply *r)
{
    harness_strbuf_appendf(sb, "code %d", (int)r->code);
    if (r->has_payload) {
        harness_strbuf_append_str(sb, " payload ");
        struct harness_strbuf j = HARNESS_STRBUF_INIT;
        harness_payload_json_describe(&j, r->payload, r->payload_len);
        if (j.len > 120) {
            j.len = 120;
            j.data[120] = '\0';
            harness_strbuf_append_str(&j, "...");
        }
        harness_strbuf_append_str(sb, j.data);
        harness_strbuf_destroy(&j);
    }
}

/* --------------------------------------------------------- child set-up */

static struct harness_check_child *harness_check_poc_child;

static void harness_check_on_poc(void *ud, const char *text, size_t len)
{
    (void)ud;
    struct harness_check_child *ch = harness_check_poc_child;
    harness_check_verdict(ch, HARNESS_FAIL, "the library raised POC during %s: %.*s", harness_check_stage_now,
                          (int)(len > 200 ? 200 : len), text);
}

/* the launcher model found a call or op that never returns on a node */
static void harness_check_on_hang(void *ud, const struct harness_hang *hang)
{
    (void)ud;
    struct harness_check_child *ch = harness_check_poc_child;
    /* one-worker-lifecycle forces workers: 1. With workers >= 2 in the
     * template the node runs a multi-thread runtime, where this call
     * returns: nothing breaks or hangs as configured, so not a FAIL; nor
     * is it against the ABI text, so not a WARN. The PASS says what a
     * template without workers would do. An empty topic hangs whatever
     * workers is: FAIL. */
    if (ch->ctx->one_worker && ch->ctx->initial.workers >= 2 && hang->one_thread_call)
        harness_check_verdict(ch, HARNESS_PASS,
                              "workers: %u as configured; with workers: 1 (a template without workers) it hangs: %s",
                              ch->ctx->initial.workers, hang->one_thread_call);
    harness_check_verdict(ch, HARNESS_FAIL, "%s", hang->report);
}

static void harness_check_on_terminate(void *ud)
{
    struct harness_check_child *ch = ud;
    atomic_store(&ch->terminate_asked, 1);
}

void harness_check_env(struct harness_check_child *ch, struct harness_check_ctx *ctx, int fd,
                       enum harness_result_mode mode, const char *registry, int persist)
{
    memset(ch, 0, sizeof *ch);
    ch->ctx = ctx;
    ch->fd = fd;
    harness_check_poc_child = ch;
    harness_output_set_level(ctx->o->log_level);
    const struct harness_initial *initial = harness_check_initial(ctx);
    harness_runtime_init(initial->workers, harness_check_on_hang, ch);
    struct harness_mock_core_config cc = {
        .system_name = initial->system_name,
        .svc_id = initial->svc_id,
        .core_version = HARNESS_CORE_VERSION,
        .core_build = HARNESS_CORE_BUILD,
        .eapi_version = HARNESS_EAPI_VERSION,
        .core_active = 0, /* inactive while services start; active after svc_launch */
        .workers = initial->workers,
        .faults = NULL,
    };
    struct harness_strbuf err = HARNESS_STRBUF_INIT;
    if (harness_mock_core_init(&ch->core, &cc, registry, persist, &err) < 0)
        harness_check_verdict(ch, HARNESS_FAIL, "harness: %s", err.data);
    harness_strbuf_destroy(&err);
    struct harness_bus_config bc = {
        .result_mode = mode,
        .queue_size = initial->queue_size,
        .core = &ch->core,
        .rpc_timeout = initial->timeout_default,
        .on_terminate = harness_check_on_terminate,
        .terminate_ud = ch,
        .on_poc = harness_check_on_poc,
    };
    harness_bus_start(&bc);
    harness_service_init(&ch->svc, ctx->lib_path, initial, ctx->o->pool_size, ctx->o->sender);
    ch->svc.quiet = 1;
    ch->main_thread = pthread_self();
    ch->env_ready = 1;
}
