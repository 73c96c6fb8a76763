#include "run.h"

#include <msgpack.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "action_ledger.h"
#include "bus.h"
#include "data_folder.h"
#include "exit_codes.h"
#include "frame_log.h"
#include "initial_payload.h"
#include "json_lines.h"
#include "launch_setup.h"
#include "mock_core.h"
#include "output.h"
#include "payload_json.h"
#include "payload_resolve.h"
#include "payload_yaml.h"
#include "runtime.h"
#include "script.h"
#include "service.h"
#include "signals.h"
#include "svc_template.h"
#include "watchdog.h"
#include "xalloc.h"

/* frames kept for frame expects (a stress run can publish millions) */
#define HARNESS_RUN_FRAME_LIMIT 4000000

/* static: library threads that outlive the run may still reach these
 * through the op function until the bus is detached */
static struct harness_run_ctx {
    struct harness_options *o;
    struct harness_frame_log frames;
    int record_frames;
    struct harness_action_ledger ledger;
    struct harness_service svc;
    struct harness_mock_core core;
    const char *svc_id;
} harness_run;

static void harness_run_frame_sink(void *ud, const struct harness_out_frame *f)
{
    struct harness_run_ctx *ctx = ud;
    if (!ctx->o->no_frames) harness_json_lines_frame(f->topic, f->payload, f->payload_len);
    if (ctx->record_frames) harness_frame_log_add(&ctx->frames, f->topic, f->payload, f->payload_len);
    harness_action_ledger_on_frame(&ctx->ledger, f->topic, f->payload, f->payload_len);
    /* spec "Routing": a service receives its own publications on topics it subscribed to (the bus
     * delivers them back to the publishing client, sender = its own id) */
    harness_service_frame_from(&ctx->svc, ctx->svc_id, f->topic, f->payload, f->payload_len, 0);
}

static void harness_run_on_terminate(void *ud)
{
    struct harness_run_ctx *ctx = ud;
    harness_service_request_stop(&ctx->svc, HARNESS_STOP_TERMINATE);
}

static void harness_run_on_signal(int sig, void *ud)
{
    (void)sig;
    struct harness_run_ctx *ctx = ud;
    harness_service_request_stop(&ctx->svc, HARNESS_STOP_SIGNAL);
}

static void harness_run_watchdog_hook(void *ud)
{
    struct harness_run_ctx *ctx = ud;
    harness_action_ledger_report(&ctx->ledger, 0);
    harness_data_folder_remove(); /* the watchdog exits next */
}

/* the runtime rule found a call that never returns on a node */
static void harness_run_on_hang(void *ud, const struct harness_hang *hang)
{
    (void)ud;
    (void)hang; /* already on stderr */
    /* what was published before the hang (SVC/ST ready, when the hang is in svc_launch) is printed
     * before the exit, every time: the bus consumer prints frames on its own thread */
    harness_bus_wait_processed(harness_bus_pushed(), 1.0);
    harness_log(HARNESS_LOG_ERROR, "exiting with %d (would hang on a node) instead of hanging", HARNESS_EXIT_HANG);
    harness_data_folder_remove();
    harness_output_emergency_flush();
    _exit(HARNESS_EXIT_HANG);
}

/* eva4-sdk src/service.rs poc(): the service stops as at a stop, the launcher exits 1 */
static void harness_run_on_poc(void *ud, const char *text, size_t len)
{
    (void)text;
    (void)len;
    struct harness_run_ctx *ctx = ud;
    harness_log(HARNESS_LOG_ERROR, "the library raised POC: stopping the service, then exiting with %d",
                HARNESS_EXIT_POC);
    harness_service_request_stop(&ctx->svc, HARNESS_STOP_POC);
}

/* eva4 eva/src/core.rs mark_loaded: the core goes active once all services started and
 * announces it with SVC/ST ready as eva.core */
static void harness_run_core_activate(struct harness_run_ctx *ctx)
{
    harness_mock_core_activate(&ctx->core);
    unsigned long dropped = atomic_load(&ctx->core.dropped);
    harness_log(HARNESS_LOG_INFO, "core: active%s", dropped ? " (RAW/ACT events published before were dropped)" : "");
    static const char ready[] = "\x81\xa6status\xa5ready";
    harness_service_frame_from(&ctx->svc, HARNESS_CORE_TARGET, EVA_TOPIC_SERVICE_STATUS, ready, sizeof ready - 1, 0);
}

static void *harness_run_core_timer(void *arg)
{
    struct harness_run_ctx *ctx = arg;
    if (harness_service_wait_stop(&ctx->svc, ctx->o->core_delay) == HARNESS_STOP_NONE) harness_run_core_activate(ctx);
    return NULL;
}

/* everything that can fail before the library is touched: exit code or 0 */
static int harness_run_prepare(struct harness_options *o, struct harness_launch_setup *ls,
                               struct harness_script *script)
{
    int rc = harness_launch_setup(ls, o);
    if (rc) return rc;
    struct harness_strbuf err = HARNESS_STRBUF_INIT;
    rc = HARNESS_EXIT_USAGE;
    for (size_t i = 0; i < o->step_count; i++) {
        const struct harness_cli_step *s = &o->steps[i];
        int r = s->is_frame ? harness_script_add_frame(script, s->name, s->text, &err)
                            : harness_script_add_call(script, s->name, s->text, &err);
        if (r < 0) goto fail;
    }
    if (o->script_path && harness_script_load(script, o->script_path, &err) < 0) goto fail;
    rc = 0;
fail:
    if (rc) harness_log(HARNESS_LOG_ERROR, "%s", harness_strbuf_cstr(&err));
    harness_strbuf_destroy(&err);
    return rc;
}

int harness_run_main(struct harness_options *o)
{
    struct harness_run_ctx *ctx = &harness_run;
    memset(ctx, 0, sizeof *ctx);
    ctx->o = o;
    harness_output_set_level(o->log_level);
    harness_output_claim_stdout();

    static struct harness_launch_setup ls;
    struct harness_script script;
    harness_script_init(&script);
    int rc = harness_run_prepare(o, &ls, &script);
    if (rc) {
        harness_launch_setup_destroy(&ls);
        harness_script_destroy(&script);
        harness_output_release_stdout();
        return rc;
    }
    struct harness_initial initial = ls.initial; /* a view; ls owns it */
    const char *lib_path = ls.lib_path;
    if (harness_output_level() <= HARNESS_LOG_DEBUG) {
        struct harness_strbuf sb = HARNESS_STRBUF_INIT;
        harness_payload_json_describe(&sb, initial.data, initial.len);
        harness_log(HARNESS_LOG_DEBUG, "initial payload: %s", sb.data);
        harness_strbuf_destroy(&sb);
    }

    struct harness_strbuf err = HARNESS_STRBUF_INIT;
    struct harness_mock_core_config cc = {
        .system_name = initial.system_name,
        .svc_id = initial.svc_id,
        .core_version = HARNESS_CORE_VERSION,
        .core_build = HARNESS_CORE_BUILD,
        .eapi_version = HARNESS_EAPI_VERSION,
        .core_active = 0, /* inactive while services start */
        .workers = initial.workers,
        .faults = &o->faults,
    };
    if (harness_mock_core_init(&ctx->core, &cc, o->registry_path, 1, &err) < 0) {
        harness_log(HARNESS_LOG_ERROR, "%s", err.data);
        harness_strbuf_destroy(&err);
        harness_launch_setup_destroy(&ls);
        harness_script_destroy(&script);
        harness_output_release_stdout();
        return HARNESS_EXIT_USAGE;
    }
    harness_strbuf_destroy(&err);
    if (harness_fault_any(&o->faults)) {
        struct harness_strbuf sb = HARNESS_STRBUF_INIT;
        harness_fault_describe(&o->faults, &sb);
        harness_log(HARNESS_LOG_INFO, "fault injection: %s (--seed %llu)", sb.data, (unsigned long long)o->seed);
        harness_strbuf_destroy(&sb);
    }

    ctx->record_frames = script.has_frame_expects;
    harness_frame_log_init(&ctx->frames, HARNESS_RUN_FRAME_LIMIT);
    harness_action_ledger_init(&ctx->ledger);
    ctx->svc_id = initial.svc_id;
    struct harness_bus_config bc = {
        .result_mode = o->result_mode,
        .queue_size = initial.queue_size,
        .core = &ctx->core,
        .faults = &o->faults,
        .rpc_timeout = initial.timeout_default,
        .frame_sink = harness_run_frame_sink,
        .sink_ud = ctx,
        .on_terminate = harness_run_on_terminate,
        .terminate_ud = ctx,
        .on_poc = harness_run_on_poc,
        .poc_ud = ctx,
    };
    harness_runtime_init(initial.workers, harness_run_on_hang, ctx);
    harness_log(HARNESS_LOG_DEBUG, "workers: %u (%s runtime)", initial.workers,
                initial.workers <= 1 ? "one-thread, as EVA ICS 4.2" : "multi-thread");
    harness_service_init(&ctx->svc, lib_path, &initial, o->pool_size, o->sender);
    harness_bus_start(&bc);
    harness_signals_start(harness_run_on_signal, ctx);
    harness_watchdog_start();
    harness_watchdog_set_hook(harness_run_watchdog_hook, ctx);

    int launch = harness_service_launch(&ctx->svc);
    int script_rc = HARNESS_EXIT_OK, shutdown_rc = HARNESS_EXIT_OK;
    pthread_t core_timer;
    int core_timer_started = 0;
    if (launch == 0 && !o->core_inactive) {
        if (o->core_delay <= 0) harness_run_core_activate(ctx);
        else core_timer_started = pthread_create(&core_timer, NULL, harness_run_core_timer, ctx) == 0;
    }
    if (launch == 0) {
        /* what prepare/launch published reaches the core and the screen
         * before the first step */
        harness_bus_wait_processed(harness_bus_pushed(), 1.0);
        if (script.count > 0) {
            struct harness_script_env env = {&ctx->svc, ctx->record_frames ? &ctx->frames : NULL, &ctx->ledger,
                                             o->deliver_unsubscribed, &ctx->core};
            script_rc = harness_script_run(&script, &env);
            if (harness_service_stop_requested(&ctx->svc) == HARNESS_STOP_NONE) {
                /* a short drain: late frames of the last step still show */
                harness_rpc_pool_wait_idle(ctx->svc.pool, 2.0);
                harness_service_wait_stop(&ctx->svc, o->drain);
                harness_bus_wait_processed(harness_bus_pushed(), 1.0);
                if (o->keep_running) {
                    harness_log(HARNESS_LOG_INFO, "steps done; running until SIGINT/SIGTERM (--keep-running)");
                    harness_service_wait_stop(&ctx->svc, -1);
                }
            }
        } else {
            harness_log(HARNESS_LOG_INFO, "running until SIGINT/SIGTERM or the library's TERMINATE");
            harness_service_wait_stop(&ctx->svc, -1);
        }
        enum harness_stop_reason reason = harness_service_stop_requested(&ctx->svc);
        if (reason != HARNESS_STOP_NONE && reason != HARNESS_STOP_END)
            harness_log(HARNESS_LOG_INFO, "stopping: requested by %s", harness_service_stop_reason_name(reason));
        shutdown_rc = harness_service_shutdown(&ctx->svc);
        if (reason == HARNESS_STOP_POC && shutdown_rc == 0) shutdown_rc = HARNESS_EXIT_POC;
    } else {
        harness_watchdog_disarm();
        harness_service_abandon(&ctx->svc);
    }
    if (core_timer_started) {
        harness_service_request_stop(&ctx->svc, HARNESS_STOP_END);
        pthread_join(core_timer, NULL);
    }
    harness_watchdog_stop();
    harness_signals_stop();
    unsigned long dropped = atomic_load(&ctx->core.dropped);
    if (dropped)
        harness_log(HARNESS_LOG_WARN, "core: %lu RAW/ACT event%s dropped while the core was inactive", dropped,
                    dropped > 1 ? "s" : "");

    unsigned long violations = harness_action_ledger_report(&ctx->ledger, o->check_actions);
    struct harness_bus_stats stats;
    harness_bus_get_stats(&stats);
    harness_log(HARNESS_LOG_INFO,
                "library ops: %lu published, %lu subscribe, %lu rpc calls, %lu BUSY, %lu NOT_READY, "
                "%lu ABI misuse, %lu after svc_terminate",
                stats.publish, stats.subscribe, stats.rpc_calls, stats.busy, stats.not_ready, stats.misuse,
                stats.after_terminate);

    int exit_code = launch ? launch : shutdown_rc ? shutdown_rc : script_rc;
    if (exit_code == HARNESS_EXIT_OK && o->check_actions && violations) {
        harness_log(HARNESS_LOG_ERROR, "%lu action violation%s (--check-actions)", violations,
                    violations > 1 ? "s" : "");
        exit_code = HARNESS_EXIT_FAILED;
    }

    /* free what the library can no longer reach */
    int quiet_bus = harness_bus_detach(1.0) == 0;
    harness_service_destroy(&ctx->svc);
    if (quiet_bus) harness_mock_core_destroy(&ctx->core);
    harness_frame_log_destroy(&ctx->frames);
    harness_action_ledger_destroy(&ctx->ledger);
    harness_script_destroy(&script);
    harness_launch_setup_destroy(&ls);
    harness_payload_uuid_reset();
    harness_rpc_result_release_thread();
    harness_output_release_stdout();
    return exit_code;
}
