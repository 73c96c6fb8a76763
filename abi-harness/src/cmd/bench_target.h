/* A library under bench: loaded, initialised and brought up the way the
 * launcher does it (dlopen, eva_svc_set_op_fn(1), svc_init + exact-size
 * get_result, bus up, svc_prepare, svc_launch), with its own op function
 * context, and stopped the same way (IS_ACTIVE 0, svc_terminate). */
#ifndef HARNESS_BENCH_TARGET_H
#define HARNESS_BENCH_TARGET_H

#include <stddef.h>

#include "bench_bus.h"
#include "initial_payload.h"
#include "loader.h"
#include "svc_template.h"

struct bench_target {
    char label[8];
    const char *path;      /* as given */
    char *load_path;       /* what was dlopen'd (a private copy for --vs of the same file) */
    const char *config_path;
    struct harness_svc_template tmpl;
    struct harness_initial initial;
    struct harness_lib lib;
    struct bench_bus bus;
    long long file_bytes;
    double dlopen_ms;      /* dlopen alone */
    double init_ms;        /* from before dlopen to svc_init's return */
    double ready_ms;       /* from before dlopen to svc_launch's return */
    int started;
    int core_ok;
    unsigned long long accepted; /* successful action/run calls (their terminal ACT events are awaited) */
};

struct bench_target_options {
    const char *svc_id;
    int log_level;
    enum harness_result_mode result_mode;
    const char *loaded_path; /* a library already loaded: the same file is loaded from a copy */
    long workers;            /* --workers, or -1: the template's */
    const char *data_path;   /* kept; NULL: a folder of the fresh one (cmd/data_folder) */
};

/* load and bring up; 0, or an exit code after logging why */
int bench_target_start(struct bench_target *t, int index, const char *label, const char *path,
                       const char *config_path, const struct bench_target_options *opts);
/* svc_terminate (as the launcher: IS_ACTIVE 0 first); 0 or an exit code */
int bench_target_stop(struct bench_target *t);
/* the bookkeeping; the library stays mapped */
void bench_target_destroy(struct bench_target *t);

#endif
