#include "loader.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* dlsym returns void*; converting it to a function pointer is what POSIX
 * guarantees to work, but ISO C warns about it: copy the bits instead */
#define HARNESS_LOADER_SYM(lib, field, name)                                                                          \
    do {                                                                                                              \
        void *sym_ = dlsym((lib)->handle, name);                                                                      \
        memcpy(&(lib)->field, &sym_, sizeof sym_);                                                                    \
    } while (0)

/* eva4 svc/ffi/src/main.rs eva_svc_main: libloading::Library::new, then svc_init, eva_svc_get_result,
 * eva_svc_set_op_fn required (get(...)?), the other five optional (get(...).ok()) */
int harness_loader_open(struct harness_lib *lib, const char *path, struct harness_strbuf *err)
{
    memset(lib, 0, sizeof *lib);
    /* a bare file name would make dlopen search the library path instead of
     * the current directory, which is never what a user of a tool means */
    struct harness_strbuf p = HARNESS_STRBUF_INIT;
    if (!strchr(path, '/')) harness_strbuf_append_str(&p, "./");
    harness_strbuf_append_str(&p, path);
    dlerror();
    lib->handle = dlopen(p.data, RTLD_NOW | RTLD_LOCAL);
    if (!lib->handle) {
        const char *e = dlerror();
        harness_strbuf_appendf(err, "cannot load %s: %s", path, e ? e : "unknown error");
        harness_strbuf_destroy(&p);
        return -1;
    }
    lib->path = harness_strbuf_detach(&p, NULL);
    HARNESS_LOADER_SYM(lib, set_op_fn, "eva_svc_set_op_fn");
    HARNESS_LOADER_SYM(lib, get_result, "eva_svc_get_result");
    HARNESS_LOADER_SYM(lib, init, "svc_init");
    HARNESS_LOADER_SYM(lib, prepare, "svc_prepare");
    HARNESS_LOADER_SYM(lib, launch, "svc_launch");
    HARNESS_LOADER_SYM(lib, terminate, "svc_terminate");
    HARNESS_LOADER_SYM(lib, on_frame, "svc_on_frame");
    HARNESS_LOADER_SYM(lib, on_rpc_call, "svc_on_rpc_call");
    if (!lib->set_op_fn || !lib->get_result || !lib->init) {
        harness_strbuf_appendf(err, "%s lacks required symbols:%s%s%s", path, lib->init ? "" : " svc_init",
                               lib->get_result ? "" : " eva_svc_get_result",
                               lib->set_op_fn ? "" : " eva_svc_set_op_fn");
        dlclose(lib->handle);
        free(lib->path);
        memset(lib, 0, sizeof *lib);
        return -1;
    }
    return 0;
}

void harness_loader_describe(const struct harness_lib *lib, struct harness_strbuf *present,
                             struct harness_strbuf *missing)
{
    const struct {
        const char *name;
        int have;
    } optional[] = {
        {"svc_prepare", lib->prepare != NULL},         {"svc_launch", lib->launch != NULL},
        {"svc_terminate", lib->terminate != NULL},     {"svc_on_frame", lib->on_frame != NULL},
        {"svc_on_rpc_call", lib->on_rpc_call != NULL},
    };
    for (size_t i = 0; i < sizeof optional / sizeof optional[0]; i++) {
        struct harness_strbuf *sb = optional[i].have ? present : missing;
        if (!sb) continue;
        if (sb->len) harness_strbuf_append_char(sb, ' ');
        harness_strbuf_append_str(sb, optional[i].name);
    }
}

void harness_loader_forget(struct harness_lib *lib)
{
    free(lib->path);
    lib->path = NULL;
}
