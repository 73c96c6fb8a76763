/* Loading a service library: dlopen and the ABI's symbols. Required:
 * svc_init, eva_svc_get_result, eva_svc_set_op_fn; the rest are optional. */
#ifndef HARNESS_LOADER_H
#define HARNESS_LOADER_H

#include "eva_ffi.h"
#include "strbuf.h"

struct harness_lib {
    void *handle;
    char *path;
    eva_svc_set_op_fn_t set_op_fn;
    eva_svc_get_result_t get_result;
    svc_init_t init;
    svc_prepare_t prepare;
    svc_launch_t launch;
    svc_terminate_t terminate;
    svc_on_frame_t on_frame;
    svc_on_rpc_call_t on_rpc_call;
};

/* -1 with a message in err when dlopen fails or a required symbol is
 * missing (lib is then closed) */
int harness_loader_open(struct harness_lib *lib, const char *path, struct harness_strbuf *err);
/* "svc_prepare svc_launch ..." and the missing ones, for messages */
void harness_loader_describe(const struct harness_lib *lib, struct harness_strbuf *present,
                             struct harness_strbuf *missing);
/* frees the bookkeeping; the library stays mapped (its threads may still run) */
void harness_loader_forget(struct harness_lib *lib);

#endif
