/* Running a script: its steps in order, each outcome one line on stderr;
 * a failed step or a stop (signal, TERMINATE, the stop method or step)
 * ends the run, and the steps left are counted. */
#include "script.h"

#include <stdio.h>

#include "bus.h"
#include "exit_codes.h"
#include "output.h"
#include "script_steps.h"

/* ok: 0 failed, 1 ok, 2 a call answered an error that no expect asked about */
static void harness_script_outcome(size_t index, size_t total, const struct harness_step *st, int ok,
                                   const struct harness_strbuf *why)
{
    struct harness_strbuf line = HARNESS_STRBUF_INIT;
    if (ok == 2) {
        harness_strbuf_appendf(&line, "step %zu/%zu %s: error reply %s (no expect given: the step does not fail)",
                               index + 1, total, st->label, why->data);
        harness_output_stderr_line(line.data);
        harness_strbuf_destroy(&line);
        return;
    }
    harness_strbuf_appendf(&line, "step %zu/%zu %s: %s", index + 1, total, st->label, ok ? "ok" : "FAILED");
    if (why->len) harness_strbuf_appendf(&line, "%s%s", ok ? " (" : ": ", why->data);
    if (ok && why->len) harness_strbuf_append_char(&line, ')');
    harness_output_stderr_line(line.data);
    harness_strbuf_destroy(&line);
}

int harness_script_run(struct harness_script *script, struct harness_script_env *env)
{
    struct harness_script_state state = {env, 0};
    struct harness_strbuf why = HARNESS_STRBUF_INIT;
    int rc = HARNESS_EXIT_OK;
    size_t i;
    for (i = 0; i < script->count; i++) {
        enum harness_stop_reason reason = harness_service_stop_requested(env->svc);
        if (reason != HARNESS_STOP_NONE) {
            struct harness_strbuf line = HARNESS_STRBUF_INIT;
            harness_strbuf_appendf(&line, "run stopped by %s before step %zu/%zu: %zu step%s not run",
                                   harness_service_stop_reason_name(reason), i + 1, script->count, script->count - i,
                                   script->count - i > 1 ? "s" : "");
            harness_output_stderr_line(line.data);
            harness_strbuf_destroy(&line);
            rc = HARNESS_EXIT_FAILED;
            break;
        }
        const struct harness_step *st = &script->steps[i];
        harness_strbuf_reset(&why);
        int ok = 1;
        switch (st->kind) {
        case HARNESS_STEP_CALL: {
            int r = harness_script_call(env, st, NULL, 1, &why);
            ok = r > 0 ? r : 0;
            break;
        }
        case HARNESS_STEP_FRAME:
            ok = harness_script_frame(env, st, NULL, 1, &why) > 0;
            break;
        case HARNESS_STEP_SLEEP:
            /* a stop request (signal, TERMINATE) cuts a sleep short */
            harness_service_wait_stop(env->svc, st->seconds);
            break;
        case HARNESS_STEP_EXPECT_FRAME:
            ok = harness_script_expect_frame(&state, st, &why);
            break;
        case HARNESS_STEP_MARK:
            harness_bus_wait_processed(harness_bus_pushed(), HARNESS_SCRIPT_DRAIN_WAIT);
            state.mark = env->frames ? harness_frame_log_count(env->frames) : 0;
            break;
        case HARNESS_STEP_STRESS:
            ok = harness_script_stress(env, st, &why);
            break;
        case HARNESS_STEP_STOP:
            harness_service_request_stop(env->svc, HARNESS_STOP_END);
            break;
        case HARNESS_STEP_CORE:
            ok = harness_script_core(env, st, &why);
            break;
        }
        harness_script_outcome(i, script->count, st, ok, &why);
        if (!ok) {
            rc = HARNESS_EXIT_FAILED;
            i++;
            break;
        }
        if (st->kind == HARNESS_STEP_STOP) {
            i++;
            break;
        }
        /* `stop` as a call ends the run too, as it would on a node */
        if (harness_service_stop_requested(env->svc) == HARNESS_STOP_CALL) {
            i++;
            break;
        }
    }
    if (i < script->count && rc == HARNESS_EXIT_OK) {
        char line[160];
        snprintf(line, sizeof line, "%zu step%s after the stop not run", script->count - i,
                 script->count - i > 1 ? "s" : "");
        harness_output_stderr_line(line);
    }
    harness_strbuf_destroy(&why);
    return rc;
}
