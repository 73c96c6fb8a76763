#include "bench_target.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "data_folder.h"
#include "exit_codes.h"
#include "output.h"
#include "service_info.h"
#include "strbuf.h"
#include "xalloc.h"

/* A private copy of a library file, so that dlopen maps a second instance
 * (dlopen of a path already loaded hands back the same one). NULL on error. */
static char *bench_private_copy(const char *path)
{
    const char *tmp = getenv("TMPDIR");
    struct harness_strbuf p = HARNESS_STRBUF_INIT;
    harness_strbuf_appendf(&p, "%s/abi-harness-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    char *name = harness_strbuf_detach(&p, NULL);
    int out = mkstemp(name);
    int in = open(path, O_RDONLY | O_CLOEXEC);
    int ok = out >= 0 && in >= 0;
    char buf[65536];
    while (ok) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n == 0) break;
        if (n < 0 || write(out, buf, (size_t)n) != n) ok = 0;
    }
    if (in >= 0) close(in);
    if (out >= 0 && close(out) != 0) ok = 0;
    if (!ok) {
        if (out >= 0) unlink(name);
        free(name);
        return NULL;
    }
    return name;
}

static int bench_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int bench_fail(struct bench_target *t, const char *what, int code)
{
    harness_log(HARNESS_LOG_ERROR, "%s (%s): launch failed: %s", t->label, t->path, what);
    return code;
}

int bench_target_start(struct bench_target *t, int index, const char *label, const char *path,
                       const char *config_path, const struct bench_target_options *opts)
{
    memset(t, 0, sizeof *t);
    snprintf(t->label, sizeof t->label, "%s", label);
    t->path = path;
    t->config_path = config_path;
    struct harness_strbuf err = HARNESS_STRBUF_INIT;
    if (harness_svc_template_load(&t->tmpl, config_path, &err) < 0) {
        harness_log(HARNESS_LOG_ERROR, "%s: %s", t->label, err.data);
        harness_strbuf_destroy(&err);
        return HARNESS_EXIT_USAGE;
    }
    struct harness_launcher_args args;
    if (harness_svc_template_args(&t->tmpl, &args, &err) < 0) {
        harness_log(HARNESS_LOG_ERROR, "%s: %s", t->label, err.data);
        harness_strbuf_destroy(&err);
        return HARNESS_EXIT_USAGE;
    }
    char *eva_dir = t->tmpl.dir ? harness_xstrdup(t->tmpl.dir) : getcwd(NULL, 0);
    /* a fresh data_path unless one is given: a bench never loads an earlier run's journal */
    char *data_path = opts->data_path ? harness_xstrdup(opts->data_path) : NULL;
    if (!data_path && !harness_svc_template_user_nobody(&t->tmpl)) {
        const char *root = harness_data_folder_fresh();
        if (!root) {
            free(eva_dir);
            harness_launcher_args_destroy(&args);
            harness_strbuf_destroy(&err);
            return HARNESS_EXIT_USAGE;
        }
        struct harness_strbuf p = HARNESS_STRBUF_INIT;
        harness_strbuf_appendf(&p, "%s/%s", root, opts->svc_id);
        data_path = harness_strbuf_detach(&p, NULL);
    }
    struct harness_initial_options io = {
        .lib_path = path,
        .svc_id = opts->svc_id,
        .eva_dir = eva_dir,
        .data_path = data_path,
        .workers = opts->workers,
        .log_level = opts->log_level,
        .core_active = 1, /* the bench measures a running node: the core is active */
        .queue_size = args.command_queue_size,
    };
    harness_launcher_args_destroy(&args);
    int brc = harness_initial_payload_build(&t->tmpl, &io, &t->initial, &err);
    free(eva_dir);
    free(data_path);
    if (brc < 0) {
        harness_log(HARNESS_LOG_ERROR, "%s: %s", t->label, err.data);
        harness_strbuf_destroy(&err);
        return brc == -2 ? HARNESS_EXIT_LAUNCH : HARNESS_EXIT_USAGE;
    }
    struct harness_mock_core_config cc = {
        .system_name = t->initial.system_name,
        .svc_id = t->initial.svc_id,
        .core_version = HARNESS_CORE_VERSION,
        .core_build = HARNESS_CORE_BUILD,
        .eapi_version = HARNESS_EAPI_VERSION,
        .core_active = 1,
        .workers = t->initial.workers,
        .faults = NULL,
    };
    if (harness_mock_core_init(&t->bus.core, &cc, NULL, 0, &err) < 0) {
        harness_log(HARNESS_LOG_ERROR, "%s: %s", t->label, err.data);
        harness_strbuf_destroy(&err);
        return HARNESS_EXIT_USAGE;
    }
    t->core_ok = 1;
    bench_bus_init(&t->bus, index, label, HARNESS_LOG_WARN, opts->result_mode);

    struct stat st;
    t->file_bytes = stat(path, &st) == 0 ? (long long)st.st_size : -1;
    /* a second instance of a file already loaded (A vs A) needs a copy */
    t->load_path = harness_xstrdup(path);
    if (opts->loaded_path && bench_same_file(path, opts->loaded_path)) {
        {
            free(t->load_path);
            if (!(t->load_path = bench_private_copy(path))) {
                harness_strbuf_destroy(&err);
                return bench_fail(t, "cannot make a private copy of the library", HARNESS_EXIT_LAUNCH);
            }
        }
    }

    double t0 = harness_clock_now();
    int lrc = harness_loader_open(&t->lib, t->load_path, &err);
    double t1 = harness_clock_now();
    if (strcmp(t->load_path, path) != 0) unlink(t->load_path);
    if (lrc < 0) {
        harness_log(HARNESS_LOG_ERROR, "%s: launch failed: %s", t->label, err.data);
        harness_strbuf_destroy(&err);
        return HARNESS_EXIT_LAUNCH;
    }
    harness_strbuf_destroy(&err);
    if (t->lib.set_op_fn(EVA_FFI_ABI_VERSION, bench_bus_op_fn(&t->bus)) != 0)
        return bench_fail(t, "eva_svc_set_op_fn(1) did not return 0", HARNESS_EXIT_LAUNCH);
    /* as the launcher: max (the buffer's capacity) larger than len */
    size_t cap = t->initial.len + t->initial.len / 2 + 64;
    char *copy = harness_xcalloc(1, cap);
    memcpy(copy, t->initial.data, t->initial.len);
    struct EvaFFIBuffer ibuf = {t->initial.len, copy, cap};
    int32_t n = t->lib.init(&ibuf);
    double t2 = harness_clock_now();
    free(copy);
    if (n < 0) return bench_fail(t, "svc_init returned an error", HARNESS_EXIT_LAUNCH);
    if (n > 0) {
        char *info = harness_xmalloc((size_t)n);
        struct EvaFFIBuffer rbuf = {(size_t)n, info, (size_t)n};
        int16_t grc = t->lib.get_result(&rbuf);
        if (grc < 0) {
            free(info);
            return bench_fail(t, "eva_svc_get_result after svc_init failed", HARNESS_EXIT_LAUNCH);
        }
        /* eva4 svc/ffi/src/main.rs: info that does not decode as service info aborts the launch */
        struct harness_strbuf why = HARNESS_STRBUF_INIT;
        int bad = harness_service_info_decode(rbuf.data, rbuf.len, &why) < 0;
        free(info);
        if (bad) {
            harness_log(HARNESS_LOG_ERROR, "%s (%s): launch failed: service info: %s", t->label, t->path,
                        harness_strbuf_cstr(&why));
            harness_strbuf_destroy(&why);
            return HARNESS_EXIT_LAUNCH;
        }
        harness_strbuf_destroy(&why);
    }
    atomic_store(&t->bus.connected, 1);
    if (t->lib.prepare && t->lib.prepare() < 0) return bench_fail(t, "svc_prepare returned an error", HARNESS_EXIT_LAUNCH);
    atomic_store(&t->bus.active, 1); /* eva4-sdk svc_mark_ready: active from svc_launch on */
    if (t->lib.launch && t->lib.launch() < 0) return bench_fail(t, "svc_launch returned an error", HARNESS_EXIT_LAUNCH);
    double t3 = harness_clock_now();
    t->dlopen_ms = (t1 - t0) * 1e3;
    t->init_ms = (t2 - t0) * 1e3;
    t->ready_ms = (t3 - t0) * 1e3;
    t->started = 1;
    return 0;
}

int bench_target_stop(struct bench_target *t)
{
    if (!t->started) return 0;
    t->started = 0;
    atomic_store(&t->bus.active, 0);
    if (t->lib.terminate && t->lib.terminate() != 0) {
        harness_log(HARNESS_LOG_ERROR, "%s: svc_terminate returned an error", t->label);
        return HARNESS_EXIT_SHUTDOWN;
    }
    return 0;
}

void bench_target_destroy(struct bench_target *t)
{
    /* the mock core stays: library threads that outlive svc_terminate
     * could still reach it through the op function */
    harness_loader_forget(&t->lib);
    harness_initial_payload_destroy(&t->initial);
    harness_svc_template_destroy(&t->tmpl);
    free(t->load_path);
    t->load_path = NULL;
}
