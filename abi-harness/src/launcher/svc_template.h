/* The service template YAML, the same file a user gives `eva svc create`:
 * command, prepare_command, bus{...}, config, user, workers,
 * timeout{startup, shutdown, default}, react_to_fail, call_tracing.
 * Other keys (launcher, realtime, ...) are accepted and ignored. */
#ifndef HARNESS_SVC_TEMPLATE_H
#define HARNESS_SVC_TEMPLATE_H

#include <msgpack.h>

#include "strbuf.h"

struct harness_svc_template {
    msgpack_zone zone;
    msgpack_object root;
    /* pointers into root; NULL when absent */
    const msgpack_object *command;
    const msgpack_object *prepare_command;
    const msgpack_object *bus;
    const msgpack_object *config;
    const msgpack_object *user;
    const msgpack_object *workers;
    const msgpack_object *timeout;
    const msgpack_object *react_to_fail;
    const msgpack_object *call_tracing;
    const msgpack_object *env;
    const msgpack_object *realtime;
    const msgpack_object *restart_delay;
    char *dir; /* the template's folder (absolute), NULL without a template */
};

/* the launcher's own command line, from "command: svc/eva-ffi [options] LIB"
 * (eva4 svc/ffi/src/main.rs Args) */
struct harness_launcher_args {
    char *library_path;        /* as written; NULL when absent */
    size_t command_queue_size; /* --command-queue-size, default 8192 */
    int blocking_fp;           /* --blocking-fp */
};

/* path NULL: an empty template. -1 with a message in err. */
int harness_svc_template_load(struct harness_svc_template *tmpl, const char *path, struct harness_strbuf *err);
void harness_svc_template_destroy(struct harness_svc_template *tmpl);
/* the same fields from an initial payload a node sent (launch): the payload
 * and the template share their names; -1 with a message in err */
int harness_svc_template_from_payload(struct harness_svc_template *tmpl, const char *data, size_t len,
                                      struct harness_strbuf *err);
/* a number (int or float) as double; 0 when it is not one */
int harness_svc_template_number(const msgpack_object *o, double *out);
/* parse command: as the launcher's command line; -1 with a message in err
 * (unknown option, bad number). No command: defaults, library_path NULL. */
int harness_svc_template_args(const struct harness_svc_template *tmpl, struct harness_launcher_args *args,
                              struct harness_strbuf *err);
void harness_launcher_args_destroy(struct harness_launcher_args *args);
/* user: nobody (the node then gives no data_path) */
int harness_svc_template_user_nobody(const struct harness_svc_template *tmpl);
/* eva4 svc/ffi/src/main.rs: a relative library path is taken from the EVA dir (malloc'd) */
char *harness_svc_template_resolve_library(const char *library_path, const char *eva_dir);

#endif
