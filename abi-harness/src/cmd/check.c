/* `abi-harness check`, the driver: which checks run (--only, --list), one
 * forked child per check with a time limit (so a crash or a hang in the
 * library fails that check, not the harness), each child's verdict turned
 * into its line, and the summary. The checks themselves are in check/, one
 * file per check id. */
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_fork.h"
#include "checks.h"
#include "exit_codes.h"
#include "launch_setup.h"
#include "output.h"

/* what a check's child has set up before the check runs */
enum harness_check_setup {
    HARNESS_SETUP_ENV,         /* mock core and bus, the template's workers */
    HARNESS_SETUP_ONE_WORKER,  /* the same with workers: 1 */
    HARNESS_SETUP_NONE,        /* nothing: the check forks lifecycles of its own */
};

static const struct {
    const char *id;
    void (*fn)(struct harness_check_child *ch);
    enum harness_check_setup setup;
} harness_checks[] = {
    {"symbols", harness_check_symbols, HARNESS_SETUP_ENV},
    {"abi-version", harness_check_abi_version, HARNESS_SETUP_ENV},
    {"init-info", harness_check_init_info, HARNESS_SETUP_ENV},
    {"result-bounds", harness_check_result_bounds, HARNESS_SETUP_ENV},
    {"thread-local-results", harness_check_thread_local_results, HARNESS_SETUP_ENV},
    {"not-ready", harness_check_not_ready, HARNESS_SETUP_ENV},
    {"result-modes", harness_check_result_modes, HARNESS_SETUP_NONE},
    {"method-bytes", harness_check_method_bytes, HARNESS_SETUP_ENV},
    {"garbage-payloads", harness_check_garbage_payloads, HARNESS_SETUP_ENV},
    {"frames", harness_check_frames, HARNESS_SETUP_ENV},
    {"terminate", harness_check_terminate, HARNESS_SETUP_ENV},
    {"op-buffers", harness_check_op_buffers, HARNESS_SETUP_ENV},
    {"one-worker-lifecycle", harness_check_one_worker_lifecycle, HARNESS_SETUP_ONE_WORKER},
};

#define HARNESS_CHECK_COUNT (sizeof harness_checks / sizeof harness_checks[0])

struct harness_check_job {
    struct harness_check_ctx *ctx;
    size_t index;
};

static void harness_check_child_main(void *arg, int fd)
{
    struct harness_check_job *job = arg;
    static struct harness_check_child ch;
    if (harness_checks[job->index].setup == HARNESS_SETUP_NONE) {
        /* it only forks lifecycles: no threads here, so that fork() never
         * copies a lock some other thread holds */
        ch.ctx = job->ctx;
        ch.fd = fd;
    } else {
        job->ctx->one_worker = harness_checks[job->index].setup == HARNESS_SETUP_ONE_WORKER;
        harness_check_env(&ch, job->ctx, fd, HARNESS_RESULT_SWAP, job->ctx->o->registry_path, 0);
    }
    harness_checks[job->index].fn(&ch);
    harness_check_verdict(&ch, HARNESS_FAIL, "harness: the check ended without a verdict");
}

static int harness_check_selected(const char *only, const char *id)
{
    if (!only) return 1;
    size_t n = strlen(id);
    for (const char *p = only; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && !strncmp(p, id, n)) return 1;
        p += len + (comma ? 1 : 0);
    }
    return 0;
}

static void harness_check_show_output(const char *id, const struct harness_strbuf *out, size_t max_lines)
{
    if (!out->len) return;
    /* the last max_lines lines */
    const char *start = out->data;
    size_t lines = 0;
    for (const char *p = out->data + out->len; p > out->data; p--) {
        if (p[-1] == '\n' && p != out->data + out->len && ++lines >= max_lines) {
            start = p;
            break;
        }
    }
    fprintf(stderr, "  %s: library output%s:\n", id, start != out->data ? " (last lines)" : "");
    const char *p = start;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        fprintf(stderr, "  | %.*s\n", (int)len, p);
        p += len + (nl ? 1 : 0);
    }
}

int harness_check_main(struct harness_options *o)
{
    if (o->list_checks) {
        for (size_t i = 0; i < HARNESS_CHECK_COUNT; i++) puts(harness_checks[i].id);
        return HARNESS_EXIT_OK;
    }
    if (o->only) {
        for (const char *p = o->only; *p;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            int known = 0;
            for (size_t i = 0; i < HARNESS_CHECK_COUNT; i++)
                known |= strlen(harness_checks[i].id) == len && !strncmp(harness_checks[i].id, p, len);
            if (!known) {
                fprintf(stderr, "abi-harness: unknown check id %.*s (see check --list)\n", (int)len, p);
                return HARNESS_EXIT_USAGE;
            }
            p += len + (comma ? 1 : 0);
        }
    }
    harness_output_set_level(o->log_level);
    struct harness_check_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.o = o;
    static struct harness_launch_setup ls, ls1;
    int rc = harness_launch_setup(&ls, o);
    if (rc) {
        harness_launch_setup_destroy(&ls);
        return rc == HARNESS_EXIT_LAUNCH ? HARNESS_EXIT_FAILED : rc;
    }
    /* one-worker-lifecycle: the same payload with workers: 1 */
    struct harness_options o1 = *o;
    o1.workers = 1;
    int quiet = harness_output_level();
    harness_output_set_level(HARNESS_LOG_OFF); /* the same messages were just given */
    rc = harness_launch_setup(&ls1, &o1);
    harness_output_set_level(quiet);
    if (rc) {
        harness_launch_setup_destroy(&ls);
        harness_launch_setup_destroy(&ls1);
        return rc;
    }
    ctx.initial = ls.initial;
    ctx.initial_one_worker = ls1.initial;
    ctx.lib_path = ls.lib_path;
    const char *lib = ls.lib_path;
    struct harness_strbuf err = HARNESS_STRBUF_INIT;
    rc = HARNESS_EXIT_USAGE;
    fprintf(stderr, "[info] harness: checking %s (seed %llu; --seed repeats the random cases)\n", lib,
            (unsigned long long)o->seed);

    unsigned passed = 0, warned = 0, failed = 0, skipped = 0;
    for (size_t i = 0; i < HARNESS_CHECK_COUNT; i++) {
        if (!harness_check_selected(o->only, harness_checks[i].id)) continue;
        struct harness_check_job job = {&ctx, i};
        struct harness_fork_result fr;
        harness_check_fork(harness_check_child_main, &job, o->time_limit, 1, &fr);
        /* the child's last stage and its verdict */
        const char *p = harness_strbuf_cstr(&fr.data);
        struct harness_strbuf stage = HARNESS_STRBUF_INIT, verdict = HARNESS_STRBUF_INIT;
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) : strlen(p);
            if (!strncmp(p, "stage ", 6)) {
                harness_strbuf_reset(&stage);
                harness_strbuf_append(&stage, p + 6, len - 6);
            } else if (!strncmp(p, "result ", 7)) {
                harness_strbuf_reset(&verdict);
                harness_strbuf_append(&verdict, p + 7, len - 7);
            }
            p += len + (nl ? 1 : 0);
        }
        const char *id = harness_checks[i].id;
        int is_fail = 1;
        if (verdict.len >= 4 && !strncmp(verdict.data, "PASS", 4)) {
            printf("PASS %s:%s\n", id, verdict.data + 4);
            passed++;
            is_fail = 0;
        } else if (verdict.len >= 4 && !strncmp(verdict.data, "WARN", 4)) {
            printf("WARN %s:%s\n", id, verdict.data + 4);
            warned++;
            is_fail = 0;
        } else if (verdict.len >= 4 && !strncmp(verdict.data, "SKIP", 4)) {
            printf("SKIP %s:%s\n", id, verdict.data + 4);
            skipped++;
            is_fail = 0;
        } else if (verdict.len >= 4) {
            printf("FAIL %s:%s\n", id, verdict.data + 4);
            failed++;
        } else if (fr.end == HARNESS_FORK_SIGNALED) {
            printf("FAIL %s: crashed with signal %d (%s) during %s\n", id, fr.signal, strsignal(fr.signal),
                   stage.len ? stage.data : "start-up");
            failed++;
        } else if (fr.end == HARNESS_FORK_TIMEOUT) {
            printf("FAIL %s: no result within the time limit (%g s): hung during %s\n", id, o->time_limit,
                   stage.len ? stage.data : "start-up");
            failed++;
        } else if (fr.end == HARNESS_FORK_FAILED) {
            printf("FAIL %s: harness: cannot fork a child process\n", id);
            failed++;
        } else {
            printf("FAIL %s: the process exited with %d during %s (the library called exit?)\n", id, fr.exit_code,
                   stage.len ? stage.data : "start-up");
            failed++;
        }
        fflush(stdout);
        if (o->verbose || is_fail) harness_check_show_output(id, &fr.output, o->verbose ? 1000000 : 12);
        harness_strbuf_destroy(&stage);
        harness_strbuf_destroy(&verdict);
        harness_fork_result_destroy(&fr);
    }
    printf("check: %u passed, %u warned, %u failed, %u skipped\n", passed, warned, failed, skipped);
    fflush(stdout);
    rc = failed ? HARNESS_EXIT_FAILED : HARNESS_EXIT_OK;
    if (err.len) fprintf(stderr, "[error] harness: %s\n", err.data);
    harness_strbuf_destroy(&err);
    harness_launch_setup_destroy(&ls);
    harness_launch_setup_destroy(&ls1);
    return rc;
}
