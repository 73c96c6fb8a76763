/* check result-modes: the real launcher overwrites the GET_RPC_RESULT
 * struct to point at its own copy; the ABI text describes a copy into the
 * caller's buffer. A library must work both ways: two whole lifecycles in
 * each mode (each a forked grandchild, sharing a registry per mode) must
 * give the same replies. */
#include "checks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "check_fork.h"
#include "payload_yaml.h"
#include "registry.h"
#include "xalloc.h"

struct harness_rm_arg {
    struct harness_check_ctx *ctx;
    enum harness_result_mode mode;
    const char *registry;
};

/* a grandchild: one whole lifecycle in one result mode, replies as lines */
static void harness_rm_lifecycle(void *arg, int fd)
{
    struct harness_rm_arg *a = arg;
    static struct harness_check_child ch;
    harness_check_env(&ch, a->ctx, fd, a->mode, a->registry, 1);
    harness_check_launch(&ch, HARNESS_UPTO_READY);
    struct harness_check_call *cand;
    size_t n = ch.svc.lib.on_rpc_call ? harness_check_candidates(&ch, &cand, 0) : 0;
    struct harness_strbuf line = HARNESS_STRBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        for (int attempt = 0; attempt < 2; attempt++) {
            harness_check_stage(&ch, "%.*s%s", (int)cand[i].method_len, cand[i].method, cand[i].payload_len ? " {}" : "");
            struct harness_reply r;
            harness_service_call(&ch.svc, cand[i].method, cand[i].method_len, cand[i].payload, cand[i].payload_len, &r);
            /* the core applies published state before the next call, so
             * both modes see the same item states */
            harness_bus_wait_processed(harness_bus_pushed(), 1.0);
            harness_strbuf_reset(&line);
            harness_strbuf_appendf(&line, "reply %zu %d %d ", i, attempt, (int)r.code);
            if (r.has_payload) harness_strbuf_append_hex(&line, r.payload, r.payload_len);
            else harness_strbuf_append_char(&line, '-');
            harness_strbuf_append_char(&line, '\n');
            harness_check_write(fd, line.data, line.len);
            harness_reply_clear(&r);
        }
    }
    if (n) free(cand);
    harness_check_stage(&ch, "shutdown");
    int rc = harness_service_shutdown(&ch.svc);
    harness_registry_save_as(&ch.core.registry, a->registry);
    struct harness_bus_stats st;
    harness_bus_get_stats(&st);
    harness_strbuf_reset(&line);
    harness_strbuf_appendf(&line, "rpc %lu\n", st.rpc_calls);
    harness_check_write(fd, line.data, line.len);
    if (rc) harness_check_verdict(&ch, HARNESS_FAIL, "svc_terminate failed");
    harness_check_verdict(&ch, HARNESS_PASS, "lifecycle done");
}

struct harness_rm_run {
    char **replies; /* [call*2 + attempt], "code hex" */
    size_t count;
    unsigned long rpc;
    char *error;
};

static void harness_rm_parse(const struct harness_fork_result *fr, struct harness_rm_run *run)
{
    memset(run, 0, sizeof *run);
    const char *p = harness_strbuf_cstr(&fr->data);
    const char *stage = "";
    size_t stage_len = 0;
    int got_result = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (!strncmp(p, "reply ", 6)) {
            size_t idx;
            int attempt, consumed = 0;
            if (sscanf(p + 6, "%zu %d %n", &idx, &attempt, &consumed) >= 2 && idx < 100000) {
                size_t slot = idx * 2 + (size_t)attempt;
                if (slot >= run->count) {
                    run->replies = harness_xrealloc(run->replies, (slot + 1) * sizeof *run->replies);
                    for (size_t k = run->count; k <= slot; k++) run->replies[k] = NULL;
                    run->count = slot + 1;
                }
                free(run->replies[slot]);
                run->replies[slot] = harness_xstrndup(p + 6 + consumed, len - 6 - (size_t)consumed);
            }
        } else if (!strncmp(p, "rpc ", 4)) {
            run->rpc = strtoul(p + 4, NULL, 10);
        } else if (!strncmp(p, "stage ", 6)) {
            stage = p + 6;
            stage_len = len - 6;
        } else if (!strncmp(p, "result ", 7)) {
            got_result = 1;
            if (strncmp(p + 7, "PASS", 4) != 0) run->error = harness_xstrndup(p + 12, len > 12 ? len - 12 : 0);
        }
        p += len + (nl ? 1 : 0);
    }
    if (!got_result && !run->error) {
        struct harness_strbuf sb = HARNESS_STRBUF_INIT;
        if (fr->end == HARNESS_FORK_SIGNALED) harness_strbuf_appendf(&sb, "crashed with signal %d (%s)", fr->signal, strsignal(fr->signal));
        else if (fr->end == HARNESS_FORK_TIMEOUT) harness_strbuf_append_str(&sb, "timed out");
        else harness_strbuf_appendf(&sb, "exited with %d", fr->exit_code);
        harness_strbuf_appendf(&sb, " during %.*s", (int)stage_len, stage);
        run->error = harness_strbuf_detach(&sb, NULL);
    }
}

static void harness_rm_free(struct harness_rm_run *run)
{
    for (size_t i = 0; i < run->count; i++) free(run->replies[i]);
    free(run->replies);
    free(run->error);
}

static void harness_check_copy_file(const char *from, const char *to)
{
    struct harness_strbuf err = HARNESS_STRBUF_INIT;
    size_t len;
    char *data = from ? harness_payload_yaml_read_file(from, &len, &err) : NULL;
    FILE *f = fopen(to, "wb");
    if (f) {
        if (data) fwrite(data, 1, len, f);
        fclose(f);
    }
    if (!data) unlink(to);
    free(data);
    harness_strbuf_destroy(&err);
}

void harness_check_result_modes(struct harness_check_child *ch)
{
    char dir[] = "/tmp/abi-harness-check-XXXXXX";
    if (!mkdtemp(dir)) harness_check_verdict(ch, HARNESS_FAIL, "harness: cannot create a temporary directory");
    char regs[2][sizeof dir + 16];
    static const char *const names[2] = {"swap", "copy"};
    struct harness_rm_run runs[2][2];
    double limit = ch->ctx->o->time_limit / 5;
    for (int m = 0; m < 2; m++) {
        snprintf(regs[m], sizeof regs[m], "%s/%s.reg", dir, names[m]);
        harness_check_copy_file(ch->ctx->o->registry_path, regs[m]);
        for (int life = 0; life < 2; life++) {
            harness_check_stage(ch, "%s mode, lifecycle %d", names[m], life + 1);
            struct harness_rm_arg a = {ch->ctx, m ? HARNESS_RESULT_COPY : HARNESS_RESULT_SWAP, regs[m]};
            struct harness_fork_result fr;
            harness_check_fork(harness_rm_lifecycle, &a, limit, 0, &fr);
            harness_rm_parse(&fr, &runs[m][life]);
            harness_fork_result_destroy(&fr);
        }
        unlink(regs[m]);
    }
    rmdir(dir);
    struct harness_strbuf bad = HARNESS_STRBUF_INIT;
    unsigned long rpc[2] = {0, 0};
    size_t compared = 0, unstable = 0;
    for (int m = 0; m < 2; m++) {
        for (int life = 0; life < 2; life++) {
            if (runs[m][life].error)
                harness_strbuf_appendf(&bad, "%s%s mode, lifecycle %d: %s", bad.len ? "; " : "", names[m], life + 1,
                                       runs[m][life].error);
            rpc[m] += runs[m][life].rpc;
        }
    }
    for (int life = 0; life < 2 && !bad.len; life++) {
        const struct harness_rm_run *s = &runs[0][life], *c = &runs[1][life];
        size_t n = s->count > c->count ? s->count : c->count;
        for (size_t i = 0; i + 1 < n; i += 2) {
            const char *s0 = i < s->count ? s->replies[i] : NULL, *s1 = i + 1 < s->count ? s->replies[i + 1] : NULL;
            const char *c0 = i < c->count ? c->replies[i] : NULL, *c1 = i + 1 < c->count ? c->replies[i + 1] : NULL;
            if (!s0 || !s1 || !c0 || !c1) continue;
            int s_stable = !strcmp(s0, s1), c_stable = !strcmp(c0, c1);
            /* varying in both modes: the method is not deterministic. Stable
             * in one mode only: the mode makes the difference. */
            if (!s_stable && !c_stable) {
                unstable++;
                continue;
            }
            compared++;
            if ((!s_stable || !c_stable || strcmp(s0, c0)) && bad.len < 600) {
                const char *sv = s_stable ? s0 : strcmp(s0, c0) ? s0 : s1;
                const char *cv = c_stable ? c0 : strcmp(c0, s0) ? c0 : c1;
                harness_strbuf_appendf(&bad, "%slifecycle %d call %zu: swap gave \"%.60s\"%s, copy gave \"%.60s\"%s",
                                       bad.len ? "; " : "", life + 1, i / 2 + 1, sv, s_stable ? "" : " (varying)", cv,
                                       c_stable ? "" : " (varying)");
            }
        }
    }
    for (int m = 0; m < 2; m++)
        for (int life = 0; life < 2; life++) harness_rm_free(&runs[m][life]);
    if (bad.len) harness_check_verdict(ch, HARNESS_FAIL, "%s", bad.data);
    struct harness_strbuf note = HARNESS_STRBUF_INIT;
    if (rpc[0] == 0 && rpc[1] == 0) harness_strbuf_append_str(&note, "library made no RPC calls");
    else harness_strbuf_appendf(&note, "library made %lu RPC calls in swap mode and %lu in copy mode", rpc[0], rpc[1]);
    harness_check_verdict(ch, HARNESS_PASS, "2 lifecycles per mode, %zu identical replies (%zu not deterministic, not compared); %s",
                          compared, unstable, note.data);
}
