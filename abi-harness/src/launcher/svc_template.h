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
};

/* path NULL: an empty template. -1 with a message in err. */
int harness_svc_template_load(struct harness_svc_template *tmpl, const char *path, struct harness_strbuf *err);
void harness_svc_template_destroy(struct harness_svc_template *tmpl);
/* a field of a map by string key, NULL when absent */
const msgpack_object *harness_svc_template_field(const msgpack_object *map, const char *key);
/* a number (int or float) as double; 0 when it is not one */
int harness_svc_template_number(const msgpack_object *o, double *out);
/* the library path from "command: svc/eva-ffi /path/lib.so" (malloc'd), or NULL */
char *harness_svc_template_library(const struct harness_svc_template *tmpl);

#endif
