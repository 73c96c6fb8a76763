#include "check.h"

#include <msgpack.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "check_cases.h"
#include "check_fork.h"
#include "clock.h"
#include "exit_codes.h"
#include "initial_payload.h"
#include "mock_core.h"
#include "output.h"
#include "payload_json.h"
#include "payload_yaml.h"
#include "rng.h"
#include "rpc_pool.h"
#include "runtime.h"
#include "launch_setup.h"
#include "service.h"
#include "svc_template.h"
#include "xalloc.h"

/* FAIL: breaks or hangs on a node; WARN: breaks the ABI text but the
 * launcher accepts it; PASS otherwise; SKIP: nothing to check */
enum harness_verdict { HARNESS_PASS, HARNESS_WARN, HARNESS_FAIL, HARNESS_SKIP };

/* what every child gets from the parent (built before the forks) */
struct harness_check_ctx {
    struct harness_options *o;
    const char *lib_path;
    struct harness_initial initial;
    struct harness_initial initial_one_worker; /* the same with workers: 1 */
    int one_worker;                            /* this child uses initial_one_worker */
};

static const struct harness_initial *harness_check_initial(const struct harness_check_ctx *ctx)
{
    return ctx->one_worker ? &ctx->initial_one_worker : &ctx->initial;
}

/* one child's working state */
struct harness_check_child {
    struct harness_check_ctx *ctx;
    int fd;
    struct harness_mock_core core;
    struct harness_service svc;
    atomic_int terminate_asked;
    struct harness_check_methods methods;
    pthread_t main_thread;
    int env_ready;
};

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

static void harness_check_stage(struct harness_check_child *ch, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* the child's current stage, for verdicts that come from elsewhere (POC) */
static char harness_check_stage_now[200];

static void harness_check_stage(struct harness_check_child *ch, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(harness_check_stage_now, sizeof harness_check_stage_now, fmt, ap);
    va_end(ap);
    va_start(ap, fmt);
    harness_check_line(ch->fd, "stage", fmt, ap);
    va_end(ap);
}

static void harness_check_verdict(struct harness_check_child *ch, enum harness_verdict v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
static void harness_check_verdict(struct harness_check_child *ch, enum harness_verdict v, const char *fmt, ...)
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

/* --------------------------------------------------------- child set-up */

static struct harness_check_child *harness_check_poc_child;

static void harness_check_on_poc(void *ud, const char *text, size_t len)
{
    (void)ud;
    struct harness_check_child *ch = harness_check_poc_child;
    harness_check_verdict(ch, HARNESS_FAIL, "the library raised POC during %s: %.*s", harness_check_stage_now,
                          (int)(len > 200 ? 200 : len), text);
}

/* the runtime rule: a call that never returns on a node */
static void harness_check_on_hang(void *ud, const char *report)
{
    (void)ud;
    struct harness_check_child *ch = harness_check_poc_child;
    /* one-worker-lifecycle forces workers: 1; a template that sets workers >= 2 runs on a
     * multi-thread runtime on a node, so there it only warns about the default */
    if (ch->ctx->one_worker && ch->ctx->initial.workers >= 2)
        harness_check_verdict(ch, HARNESS_WARN,
                              "%s -- fine with workers: %u as configured, but a template that omits workers (the "
                              "default, 1) hangs the service on EVA ICS 4.2",
                              report, ch->ctx->initial.workers);
    harness_check_verdict(ch, HARNESS_FAIL, "%s", report);
}

static void harness_check_on_terminate(void *ud)
{
    struct harness_check_child *ch = ud;
    atomic_store(&ch->terminate_asked, 1);
}

/* mock core and bus (not connected) for a child */
static void harness_check_env(struct harness_check_child *ch, struct harness_check_ctx *ctx, int fd,
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

enum harness_check_upto {
    HARNESS_UPTO_LOADED,
    HARNESS_UPTO_OPFN,
    HARNESS_UPTO_INIT,   /* svc_init + info fetched */
    HARNESS_UPTO_BUS,    /* bus connected, routing on, before svc_prepare */
    HARNESS_UPTO_READY,  /* svc_prepare, ready, svc_launch */
};

/* svc_init as the launcher calls it: a buffer whose max is larger than len */
static int32_t harness_check_svc_init(struct harness_check_child *ch)
{
    const struct harness_initial *initial = harness_check_initial(ch->ctx);
    size_t cap = initial->len + initial->len / 2 + 64;
    char *copy = harness_xcalloc(1, cap);
    memcpy(copy, initial->data, initial->len);
    struct EvaFFIBuffer ib = {initial->len, copy, cap};
    harness_runtime_enter("svc_init", initial->timeout_startup);
    int32_t n = ch->svc.lib.init(&ib);
    harness_runtime_leave();
    free(copy);
    return n;
}

/* drop the methods given with --skip (they stop or crash the service by design) */
static void harness_check_skip_methods(struct harness_check_child *ch)
{
    const struct harness_options *o = ch->ctx->o;
    size_t kept = 0;
    for (size_t i = 0; i < ch->methods.count; i++) {
        int skip = 0;
        for (size_t k = 0; k < o->skip_count && !skip; k++) skip = !strcmp(o->skips[k], ch->methods.names[i]);
        if (skip) continue;
        ch->methods.names[kept] = ch->methods.names[i];
        ch->methods.param_counts[kept] = ch->methods.param_counts[i];
        ch->methods.params[kept] = ch->methods.params[i];
        kept++;
    }
    ch->methods.count = kept;
}

static void harness_check_launch(struct harness_check_child *ch, enum harness_check_upto upto)
{
    struct harness_service *svc = &ch->svc;
    const struct harness_initial *initial = harness_check_initial(ch->ctx);
    struct harness_strbuf err = HARNESS_STRBUF_INIT;
    harness_check_stage(ch, "dlopen");
    if (harness_loader_open(&svc->lib, ch->ctx->lib_path, &err) < 0)
        harness_check_verdict(ch, HARNESS_FAIL, "%s", err.data);
    harness_strbuf_destroy(&err);
    if (upto == HARNESS_UPTO_LOADED) return;
    harness_check_stage(ch, "eva_svc_set_op_fn(1)");
    int16_t rc = svc->lib.set_op_fn(EVA_FFI_ABI_VERSION, harness_bus_op);
    if (rc != 0) harness_check_verdict(ch, HARNESS_FAIL, "eva_svc_set_op_fn(1) returned %d", (int)rc);
    if (upto == HARNESS_UPTO_OPFN) return;
    harness_check_stage(ch, "svc_init");
    int32_t n = harness_check_svc_init(ch);
    if (n < 0) harness_check_verdict(ch, HARNESS_FAIL, "svc_init returned %d", (int)n);
    if (n > 0) {
        harness_check_stage(ch, "eva_svc_get_result after svc_init");
        char *info = harness_xmalloc((size_t)n);
        struct EvaFFIBuffer rb = {(size_t)n, info, (size_t)n};
        int16_t grc = svc->lib.get_result(&rb);
        if (grc < 0)
            harness_check_verdict(ch, HARNESS_FAIL, "eva_svc_get_result after svc_init returned %d", (int)grc);
        svc->info = info;
        svc->info_len = rb.len <= (size_t)n ? rb.len : (size_t)n;
    }
    harness_check_methods_parse(&ch->methods, svc->info, svc->info_len);
    harness_check_skip_methods(ch);
    if (upto == HARNESS_UPTO_INIT) return;
    harness_bus_connect();
    svc->pool = harness_rpc_pool_start(&svc->lib, svc->pool_size);
    if (upto == HARNESS_UPTO_BUS) return;
    if (svc->lib.prepare) {
        harness_check_stage(ch, "svc_prepare");
        harness_runtime_enter("svc_prepare", initial->timeout_startup);
        rc = svc->lib.prepare();
        harness_runtime_leave();
        if (rc < 0) harness_check_verdict(ch, HARNESS_FAIL, "svc_prepare returned %d", (int)rc);
    }
    harness_service_publish_status("ready");
    harness_bus_set_active(1);
    if (svc->lib.launch) {
        harness_check_stage(ch, "svc_launch");
        harness_runtime_enter("svc_launch", initial->timeout_startup);
        rc = svc->lib.launch();
        harness_runtime_leave();
        if (rc < 0) harness_check_verdict(ch, HARNESS_FAIL, "svc_launch returned %d", (int)rc);
    }
    /* the core goes active right after the service is ready (a node's default) */
    harness_mock_core_activate(&ch->core);
    static const char ready[] = "\x81\xa6status\xa5ready";
    harness_service_frame_from(svc, HARNESS_CORE_TARGET, EVA_TOPIC_SERVICE_STATUS, ready, sizeof ready - 1, 0);
    /* what prepare/launch published reaches the core before any call */
    harness_bus_wait_processed(harness_bus_pushed(), 1.0);
    harness_check_stage(ch, "running");
}

static void harness_check_need_rpc(struct harness_check_child *ch)
{
    if (!ch->svc.lib.on_rpc_call) harness_check_verdict(ch, HARNESS_SKIP, "the library exports no svc_on_rpc_call");
}

static void harness_check_describe_reply(struct harness_strbuf *sb, const struct harness_reply *r)
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

/* --------------------------------------------------------------- checks */

static void harness_check_symbols(struct harness_check_child *ch)
{
    struct harness_strbuf err = HARNESS_STRBUF_INIT;
    struct harness_lib lib;
    harness_check_stage(ch, "dlopen");
    if (harness_loader_open(&lib, ch->ctx->lib_path, &err) < 0) harness_check_verdict(ch, HARNESS_FAIL, "%s", err.data);
    struct harness_strbuf present = HARNESS_STRBUF_INIT, missing = HARNESS_STRBUF_INIT;
    harness_loader_describe(&lib, &present, &missing);
    harness_check_verdict(ch, HARNESS_PASS, "required present; optional present: %s; missing: %s",
                          present.len ? present.data : "none", missing.len ? missing.data : "none");
}

static void harness_check_abi_version(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_LOADED);
    struct harness_strbuf bad = HARNESS_STRBUF_INIT;
    static const uint16_t wrong[] = {0, 2};
    for (size_t i = 0; i < 2; i++) {
        harness_check_stage(ch, "eva_svc_set_op_fn(%u)", wrong[i]);
        int16_t rc = ch->svc.lib.set_op_fn(wrong[i], harness_bus_op);
        if (rc != EVA_ERR_CODE_UNSUPPORTED)
            harness_strbuf_appendf(&bad, "%sversion %u returned %d, expected UNSUPPORTED (-32006)", bad.len ? "; " : "",
                                   wrong[i], (int)rc);
    }
    harness_check_stage(ch, "eva_svc_set_op_fn(1)");
    int16_t rc = ch->svc.lib.set_op_fn(1, harness_bus_op);
    if (rc != 0) harness_strbuf_appendf(&bad, "%sversion 1 returned %d, expected 0", bad.len ? "; " : "", (int)rc);
    if (bad.len) harness_check_verdict(ch, HARNESS_FAIL, "%s", bad.data);
    harness_check_verdict(ch, HARNESS_PASS, "versions 0 and 2 -> UNSUPPORTED, version 1 -> 0");
}

static void harness_check_init_info(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_OPFN);
    harness_check_stage(ch, "svc_init");
    int32_t n = harness_check_svc_init(ch);
    if (n < 0) harness_check_verdict(ch, HARNESS_FAIL, "svc_init returned %d", (int)n);
    if (n == 0)
        harness_check_verdict(ch, HARNESS_WARN, "svc_init returned 0: no service info (the launcher uses its dummy "
                                                "info; abi-and-launcher.md, point 3)");
    harness_check_stage(ch, "eva_svc_get_result(len = max = %d)", (int)n);
    char *buf = harness_xmalloc((size_t)n + 64);
    memset(buf + n, 0xcd, 64);
    struct EvaFFIBuffer rb = {(size_t)n, buf, (size_t)n};
    int16_t grc = ch->svc.lib.get_result(&rb);
    if (grc != 0) harness_check_verdict(ch, HARNESS_FAIL, "eva_svc_get_result returned %d", (int)grc);
    for (int i = 0; i < 64; i++) {
        if ((unsigned char)buf[n + i] != 0xcd)
            harness_check_verdict(ch, HARNESS_FAIL, "eva_svc_get_result wrote past max (%d bytes)", (int)n);
    }
    if (rb.data != buf) harness_check_verdict(ch, HARNESS_FAIL, "eva_svc_get_result repointed data instead of writing into it");
    if (rb.len > (size_t)n) harness_check_verdict(ch, HARNESS_FAIL, "eva_svc_get_result set len %zu > max %d", rb.len, (int)n);
    struct harness_strbuf why = HARNESS_STRBUF_INIT;
    struct harness_check_methods m;
    if (harness_check_info_validate(buf, rb.len, &why, &m) < 0) harness_check_verdict(ch, HARNESS_FAIL, "%s", why.data);
    const char *note = rb.len < (size_t)n ? " (note: len is smaller than svc_init's size)" : "";
    harness_check_verdict(ch, HARNESS_PASS, "%zu-byte info, %zu method%s%s", rb.len, m.count, m.count == 1 ? "" : "s",
                          note);
}

static void harness_check_result_bounds(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_OPFN);
    harness_check_stage(ch, "svc_init");
    int32_t n = harness_check_svc_init(ch);
    if (n <= 0) harness_check_verdict(ch, HARNESS_SKIP, "svc_init returned %d: no result to bound", (int)n);
    size_t size = (size_t)n, canary = 256;
    unsigned char *mem = harness_xmalloc(size + canary);
    struct harness_strbuf bad = HARNESS_STRBUF_INIT;
    struct {
        const char *what;
        size_t max;
        int null_data;
    } cases[] = {
        {"max = n-1", size - 1, 0},
        {"max = 0", 0, 0},
        {"data NULL, max 0", 0, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        if (c == 1 && size == 1) continue; /* same as max = n-1 */
        harness_check_stage(ch, "eva_svc_get_result(%s)", cases[c].what);
        memset(mem, 0xcd, size + canary);
        struct EvaFFIBuffer b = {0, cases[c].null_data ? NULL : (char *)mem, cases[c].max};
        int16_t rc = ch->svc.lib.get_result(&b);
        if (rc >= 0) harness_strbuf_appendf(&bad, "%s%s returned %d (expected an error)", bad.len ? "; " : "", cases[c].what, (int)rc);
        for (size_t i = cases[c].max; i < size + canary; i++) {
            if (mem[i] != 0xcd) {
                harness_strbuf_appendf(&bad, "%s%s wrote byte %zu past max", bad.len ? "; " : "", cases[c].what,
                                       i - cases[c].max);
                break;
            }
        }
    }
    harness_check_stage(ch, "eva_svc_get_result(max = n) after the failed ones");
    memset(mem, 0xcd, size + canary);
    struct EvaFFIBuffer b = {size, (char *)mem, size};
    int16_t rc = ch->svc.lib.get_result(&b);
    if (rc != 0) {
        harness_strbuf_appendf(&bad, "%sexact size returned %d after the failed attempts", bad.len ? "; " : "", (int)rc);
    } else {
        for (size_t i = size; i < size + canary; i++) {
            if (mem[i] != 0xcd) {
                harness_strbuf_appendf(&bad, "%sexact size wrote past max", bad.len ? "; " : "");
                break;
            }
        }
        size_t off = 0;
        msgpack_zone zone;
        msgpack_zone_init(&zone, 1024);
        msgpack_object obj;
        if (b.len != size || msgpack_unpack((const char *)mem, b.len, &off, &zone, &obj) != MSGPACK_UNPACK_SUCCESS)
            harness_strbuf_appendf(&bad, "%sthe full result (len %zu of %zu) is not one MessagePack value",
                                   bad.len ? "; " : "", b.len, size);
        msgpack_zone_destroy(&zone);
    }
    if (bad.len) harness_check_verdict(ch, HARNESS_FAIL, "%s", bad.data);
    harness_check_verdict(ch, HARNESS_PASS, "max n-1, max 0 and NULL data refused without writing past max; max n (%zu) "
                                            "still gives the full result", size);
}

/* calls whose reply is the same every time, for thread-local-results */
struct harness_tl_call {
    const char *method;
    size_t method_len;
    const char *payload;
    size_t payload_len;
    int32_t code;
    char *bytes;
    size_t len;
    int has_payload;
};

struct harness_tl_shared {
    struct harness_check_child *ch;
    struct harness_tl_call *calls;
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

static int harness_tl_same(const struct harness_tl_call *c, const struct harness_reply *r)
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
        const struct harness_tl_call *c = &sh->calls[harness_rng_below(&rng, sh->count)];
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

static size_t harness_check_candidates(struct harness_check_child *ch, struct harness_tl_call **out, int with_builtin)
{
    static const char empty_map[] = "\x80";
    size_t cap = ch->methods.count * 2 + 4, n = 0;
    for (size_t i = 0; i < ch->methods.count; i++) cap += ch->methods.param_counts[i];
    struct harness_tl_call *calls = harness_xcalloc(cap, sizeof *calls);
    for (size_t i = 0; i < ch->methods.count; i++) {
        const char *m = ch->methods.names[i];
        if (!strcmp(m, "stop")) continue; /* would ask for TERMINATE */
        if (!with_builtin && (!strcmp(m, "test") || !strcmp(m, "info"))) continue;
        calls[n++] = (struct harness_tl_call){m, strlen(m), NULL, 0, 0, NULL, 0, 0};
        calls[n++] = (struct harness_tl_call){m, strlen(m), empty_map, 1, 0, NULL, 0, 0};
        /* each param the info lists, alone, as a string: {param: "abi-harness"} */
        for (size_t k = 0; k < ch->methods.param_counts[i]; k++) {
            const char *pname = ch->methods.params[i][k];
            size_t plen = strlen(pname);
            if (plen > 31) continue;
            char *buf = harness_xmalloc(plen + 16);
            size_t off = 0;
            buf[off++] = (char)0x81;
            buf[off++] = (char)(0xa0 | plen);
            memcpy(buf + off, pname, plen);
            off += plen;
            buf[off++] = (char)(0xa0 | 11);
            memcpy(buf + off, "abi-harness", 11);
            off += 11;
            calls[n++] = (struct harness_tl_call){m, strlen(m), buf, off, 0, NULL, 0, 0};
        }
    }
    if (with_builtin) {
        static const char *const builtin[] = {"info", "test"};
        for (size_t b = 0; b < 2; b++) {
            int listed = 0;
            for (size_t i = 0; i < ch->methods.count; i++) listed |= !strcmp(ch->methods.names[i], builtin[b]);
            if (!listed) calls[n++] = (struct harness_tl_call){builtin[b], 4, NULL, 0, 0, NULL, 0, 0};
        }
    }
    *out = calls;
    return n;
}

static void harness_check_thread_local(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_READY);
    harness_check_need_rpc(ch);
    struct harness_tl_call *cand;
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
            struct harness_tl_call c = cand[i];
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

static void harness_check_not_ready(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_BUS);
    harness_check_need_rpc(ch);
    struct harness_strbuf bad = HARNESS_STRBUF_INIT;
    size_t tried = 0;
    for (size_t i = 0; i < ch->methods.count; i++) {
        const char *m = ch->methods.names[i];
        if (!strcmp(m, "test") || !strcmp(m, "info") || !strcmp(m, "stop")) continue;
        harness_check_stage(ch, "%s {} before svc_prepare", m);
        struct harness_reply r;
        harness_rpc_invoke(&ch->svc.lib, ch->ctx->o->sender, m, strlen(m), "\x80", 1, &r);
        tried++;
        if (r.code != EVA_ERR_CODE_NOT_READY) {
            harness_strbuf_appendf(&bad, "%s%s -> ", bad.len ? ", " : "", m);
            harness_check_describe_reply(&bad, &r);
        }
        harness_reply_clear(&r);
    }
    if (tried == 0) harness_check_verdict(ch, HARNESS_SKIP, "info lists no methods besides test/info/stop");
    if (bad.len)
        harness_check_verdict(ch, HARNESS_WARN,
                              "expected NOT_READY (-32005) before svc_prepare (the ABI says a library SHOULD answer it "
                              "until ready; calls can arrive before svc_prepare: abi-and-launcher.md, point 4): %s",
                              bad.data);
    harness_check_verdict(ch, HARNESS_PASS, "all %zu methods answered NOT_READY before svc_prepare", tried);
}

/* ---------------------------------------------------------- result-modes */

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
    struct harness_tl_call *cand;
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

static void harness_check_result_modes(struct harness_check_child *ch)
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

/* -------------------------------------------------------- method-bytes */

static void harness_check_method_bytes(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_READY);
    harness_check_need_rpc(ch);
    struct harness_check_case *cases;
    size_t n = harness_check_method_cases(&ch->methods, &cases);
    struct harness_strbuf bad = HARNESS_STRBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        harness_check_stage(ch, "method %s", cases[i].label);
        struct harness_guard g;
        const char *name = cases[i].guard ? harness_guard_place(&g, cases[i].data, cases[i].len) : cases[i].data;
        struct harness_reply r;
        harness_rpc_invoke(&ch->svc.lib, ch->ctx->o->sender, name, cases[i].len, NULL, 0, &r);
        if (cases[i].guard) harness_guard_free(&g);
        int ok = cases[i].expect_not_found ? r.code == EVA_ERR_CODE_METHOD_NOT_FOUND && !r.has_payload : 1;
        if (r.svc_return > 0 && r.code < 0) ok = 0;
        if (r.overrun) ok = 0;
        if (!ok && bad.len < 700) {
            harness_strbuf_appendf(&bad, "%s%s -> ", bad.len ? "; " : "", cases[i].label);
            harness_check_describe_reply(&bad, &r);
            if (r.svc_return > 0 && r.code < 0) harness_strbuf_append_str(&bad, " (returned a size but get_result failed)");
            if (r.overrun) harness_strbuf_append_str(&bad, " (get_result wrote past max)");
        }
        harness_reply_clear(&r);
    }
    if (bad.len) harness_check_verdict(ch, HARNESS_FAIL, "expected METHOD_NOT_FOUND (-32601): %s", bad.data);
    harness_check_verdict(ch, HARNESS_PASS, "%zu odd method names (empty, non-UTF-8, embedded NUL, 64 KiB, unterminated "
                                            "at a guard page, ...) answered METHOD_NOT_FOUND, no crash", n);
}

/* ------------------------------------------------------ garbage-payloads */

static void harness_check_garbage(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_READY);
    harness_check_need_rpc(ch);
    struct harness_strbuf bad = HARNESS_STRBUF_INIT;
    size_t total = 0, methods = 0;
    unsigned long failures = 0;
    struct harness_rng rng;
    harness_rng_seed(&rng, ch->ctx->o->seed);
    for (size_t mi = 0; mi < ch->methods.count; mi++) {
        const char *m = ch->methods.names[mi];
        if (!strcmp(m, "test") || !strcmp(m, "info") || !strcmp(m, "stop")) continue;
        methods++;
        struct harness_check_case *cases;
        size_t n = harness_check_payload_cases(&ch->methods, mi, &rng, &cases);
        for (size_t i = 0; i < n; i++) {
            harness_check_stage(ch, "%s with %s", m, cases[i].label);
            struct harness_guard g;
            const char *payload = cases[i].len ? harness_guard_place(&g, cases[i].data, cases[i].len) : NULL;
            struct harness_reply r;
            harness_rpc_invoke(&ch->svc.lib, ch->ctx->o->sender, m, strlen(m), payload, cases[i].len, &r);
            if (cases[i].len) harness_guard_free(&g);
            total++;
            const char *why = NULL;
            if (!cases[i].is_msgpack && r.code >= 0) why = "accepted a payload that is not MessagePack";
            else if (r.svc_return > 0 && r.code < 0) why = "returned a size but eva_svc_get_result failed";
            else if (r.overrun) why = "eva_svc_get_result wrote past max";
            if (why) {
                failures++;
                if (bad.len < 700) {
                    harness_strbuf_appendf(&bad, "%s%s with %s: %s (", bad.len ? "; " : "", m, cases[i].label, why);
                    harness_check_describe_reply(&bad, &r);
                    harness_strbuf_append_char(&bad, ')');
                }
            }
            harness_reply_clear(&r);
        }
        harness_check_cases_free(cases, n);
    }
    if (methods == 0) harness_check_verdict(ch, HARNESS_SKIP, "info lists no methods besides test/info/stop");
    if (bad.len) harness_check_verdict(ch, HARNESS_FAIL, "%lu of %zu: %s", failures, total, bad.data);
    harness_check_verdict(ch, HARNESS_PASS, "%zu garbage payloads to %zu methods: no crash, non-MessagePack refused", total,
                          methods);
}

/* --------------------------------------------------------------- frames */

struct harness_fr_shared {
    struct harness_check_child *ch;
    char **subs;
    size_t sub_count;
    double deadline;
    atomic_ulong sent;
};

struct harness_fr_thread {
    struct harness_fr_shared *sh;
    unsigned index;
    pthread_t thread;
};

static void *harness_fr_main(void *arg)
{
    struct harness_fr_thread *th = arg;
    struct harness_fr_shared *sh = th->sh;
    struct harness_rng rng;
    harness_rng_seed(&rng, sh->ch->ctx->o->seed ^ (0x9e37u * (th->index + 1)));
    while (harness_clock_now() < sh->deadline && atomic_load(&sh->sent) < 200000) {
        struct harness_check_frame f;
        harness_check_frame_make(&f, &rng, sh->subs, sh->sub_count);
        struct EvaFFIFrame fr = {f.kind, f.sender, f.topic, f.payload_len, f.payload};
        sh->ch->svc.lib.on_frame(&fr);
        harness_check_frame_free(&f);
        atomic_fetch_add(&sh->sent, 1);
    }
    return NULL;
}

static void harness_check_frames(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_READY);
    if (!ch->svc.lib.on_frame) harness_check_verdict(ch, HARNESS_SKIP, "the library exports no svc_on_frame");
    struct harness_fr_shared sh;
    memset(&sh, 0, sizeof sh);
    sh.ch = ch;
    sh.subs = harness_topic_set_list(harness_bus_subscriptions(), &sh.sub_count);
    double budget = ch->ctx->o->time_limit / 4;
    sh.deadline = harness_clock_now() + (budget < 2 ? budget : 2);
    enum { THREADS = 4 };
    struct harness_fr_thread th[THREADS];
    harness_check_stage(ch, "garbage frames from %d threads", THREADS);
    for (unsigned i = 0; i < THREADS; i++) {
        th[i].sh = &sh;
        th[i].index = i;
        pthread_create(&th[i].thread, NULL, harness_fr_main, &th[i]);
    }
    for (unsigned i = 0; i < THREADS; i++) pthread_join(th[i].thread, NULL);
    harness_check_verdict(ch, HARNESS_PASS, "%lu garbage frames from %d threads (random topics%s, non-map, empty and "
                                            "NULL payloads): no crash",
                          atomic_load(&sh.sent), THREADS, sh.sub_count ? " and the subscribed ones" : "");
}

/* ------------------------------------------------------------ terminate */

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

static void harness_check_terminate(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_READY);
    if (!ch->svc.lib.terminate) harness_check_verdict(ch, HARNESS_SKIP, "the library exports no svc_terminate");
    if (ch->svc.lib.on_rpc_call) {
        struct harness_tl_call *cand;
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

/* ------------------------------------------------- one-worker-lifecycle */

/* the whole lifecycle on the one-thread runtime of EVA ICS 4.2 (workers: 1):
 * any RPC_CALL inside a lifecycle callback never returns there */
static void harness_check_one_worker(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_READY);
    /* let the library's own threads run a while (they may call out) */
    harness_check_stage(ch, "running with workers: 1");
    harness_clock_sleep(1.0);
    harness_check_stage(ch, "stop (svc_terminate with workers: 1)");
    int rc = harness_service_shutdown(&ch->svc);
    if (rc) harness_check_verdict(ch, HARNESS_FAIL, "svc_terminate failed with workers: 1");
    harness_check_verdict(ch, HARNESS_PASS, "svc_init, svc_prepare, svc_launch and svc_terminate made no RPC_CALL that "
                                            "would hang a one-worker EVA ICS 4.2 node");
}

/* ----------------------------------------------------------- op-buffers */

/* every op buffer the library sends in a lifecycle and a call of each
 * method, read as the launcher reads it */
static void harness_check_op_buffers(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_READY);
    if (ch->svc.lib.on_rpc_call) {
        struct harness_tl_call *cand;
        size_t n = harness_check_candidates(ch, &cand, 0);
        for (size_t i = 0; i < n; i++) {
            harness_check_stage(ch, "call %.*s%s", (int)cand[i].method_len, cand[i].method,
                                cand[i].payload_len ? " {}" : "");
            struct harness_reply r;
            harness_service_call(&ch->svc, cand[i].method, cand[i].method_len, cand[i].payload, cand[i].payload_len,
                                 &r);
            harness_reply_clear(&r);
        }
        free(cand);
    }
    harness_check_stage(ch, "running");
    harness_clock_sleep(1.2);
    harness_check_stage(ch, "stop");
    harness_service_shutdown(&ch->svc);
    struct harness_bus_stats st;
    harness_bus_get_stats(&st);
    struct harness_strbuf warn = HARNESS_STRBUF_INIT;
    for (int i = 0; i < HARNESS_NUL_SLOTS; i++) {
        if (st.no_nul[i])
            harness_strbuf_appendf(&warn, "%s%s without a final NUL (%lu)", warn.len ? ", " : "",
                                   harness_nul_slot_names[i], st.no_nul[i]);
    }
    if (warn.len)
        harness_strbuf_append_str(&warn, ": the ABI text asks for NUL-terminated text, the launcher accepts it "
                                         "(abi-and-launcher.md, \"Buffers passed through the op function\")");
    if (st.stale_results)
        harness_strbuf_appendf(&warn, "%s%lu GET_RPC_RESULT after an RPC_CALL that returned <= 0 (the launcher hands "
                                      "back the previous result: abi-and-launcher.md, GET_RPC_RESULT)",
                               warn.len ? "; " : "", st.stale_results);
    if (warn.len) harness_check_verdict(ch, HARNESS_WARN, "%s", warn.data);
    harness_check_verdict(ch, HARNESS_PASS, "%lu op calls, every buffer as the ABI text has it", st.ops);
}

/* --------------------------------------------------------------- parent */

static const struct {
    const char *id;
    void (*fn)(struct harness_check_child *ch);
} harness_checks[] = {
    {"symbols", harness_check_symbols},
    {"abi-version", harness_check_abi_version},
    {"init-info", harness_check_init_info},
    {"result-bounds", harness_check_result_bounds},
    {"thread-local-results", harness_check_thread_local},
    {"not-ready", harness_check_not_ready},
    {"result-modes", harness_check_result_modes},
    {"method-bytes", harness_check_method_bytes},
    {"garbage-payloads", harness_check_garbage},
    {"frames", harness_check_frames},
    {"terminate", harness_check_terminate},
    {"op-buffers", harness_check_op_buffers},
    {"one-worker-lifecycle", harness_check_one_worker},
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
    if (harness_checks[job->index].fn == harness_check_result_modes) {
        /* it only forks lifecycles: no threads here, so that fork() never
         * copies a lock some other thread holds */
        ch.ctx = job->ctx;
        ch.fd = fd;
    } else {
        job->ctx->one_worker = harness_checks[job->index].fn == harness_check_one_worker;
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
