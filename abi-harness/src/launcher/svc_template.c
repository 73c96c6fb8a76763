#include "svc_template.h"

#include <stdlib.h>
#include <string.h>

#include "msgpack_map.h"
#include "payload_yaml.h"
#include "xalloc.h"

int harness_svc_template_number(const msgpack_object *o, double *out)
{
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)o->via.u64; return 1;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)o->via.i64; return 1;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *out = o->via.f64; return 1;
    default: return 0;
    }
}

/* a present-but-null field counts as absent, as in the node's templates */
static const msgpack_object *harness_svc_template_get(const msgpack_object *root, const char *key)
{
    const msgpack_object *o = harness_msgpack_map_get(root, key);
    return o && o->type == MSGPACK_OBJECT_NIL ? NULL : o;
}

static int harness_svc_template_check(struct harness_svc_template *t, const char *path, struct harness_strbuf *err)
{
#define HARNESS_TEMPLATE_TYPE(field, cond, what)                                                                      \
    if (t->field && !(cond)) {                                                                                        \
        harness_strbuf_appendf(err, "%s: %s must be %s", path, #field, what);                                         \
        return -1;                                                                                                    \
    }
    HARNESS_TEMPLATE_TYPE(command, t->command->type == MSGPACK_OBJECT_STR, "a string");
    HARNESS_TEMPLATE_TYPE(prepare_command, t->prepare_command->type == MSGPACK_OBJECT_STR, "a string");
    HARNESS_TEMPLATE_TYPE(bus, t->bus->type == MSGPACK_OBJECT_MAP, "a map");
    HARNESS_TEMPLATE_TYPE(user, t->user->type == MSGPACK_OBJECT_STR, "a string");
    HARNESS_TEMPLATE_TYPE(workers,
                          t->workers->type == MSGPACK_OBJECT_POSITIVE_INTEGER && t->workers->via.u64 <= 0xffffffffULL,
                          "a non-negative integer (u32)");
    HARNESS_TEMPLATE_TYPE(timeout, t->timeout->type == MSGPACK_OBJECT_MAP, "a map");
    HARNESS_TEMPLATE_TYPE(react_to_fail, t->react_to_fail->type == MSGPACK_OBJECT_BOOLEAN, "a bool");
    HARNESS_TEMPLATE_TYPE(call_tracing, t->call_tracing->type == MSGPACK_OBJECT_BOOLEAN, "a bool");
    HARNESS_TEMPLATE_TYPE(env, t->env->type == MSGPACK_OBJECT_MAP, "a map of strings");
    HARNESS_TEMPLATE_TYPE(realtime, t->realtime->type == MSGPACK_OBJECT_MAP, "a map");
    double rd;
    HARNESS_TEMPLATE_TYPE(restart_delay, harness_svc_template_number(t->restart_delay, &rd) && rd >= 0,
                          "a number of seconds");
#undef HARNESS_TEMPLATE_TYPE
    static const char *const timeouts[] = {"startup", "shutdown", "default"};
    for (size_t i = 0; t->timeout && i < 3; i++) {
        const msgpack_object *v = harness_svc_template_get(t->timeout, timeouts[i]);
        double d;
        if (v && (!harness_svc_template_number(v, &d) || !(d > 0))) {
            harness_strbuf_appendf(err, "%s: timeout.%s must be a positive number of seconds", path, timeouts[i]);
            return -1;
        }
    }
    return 0;
}

static int harness_svc_template_fill(struct harness_svc_template *tmpl, const char *what, struct harness_strbuf *err);

int harness_svc_template_load(struct harness_svc_template *tmpl, const char *path, struct harness_strbuf *err)
{
    memset(tmpl, 0, sizeof *tmpl);
    msgpack_zone_init(&tmpl->zone, 4096);
    tmpl->root.type = MSGPACK_OBJECT_NIL;
    if (!path) return 0;
    char *abs = realpath(path, NULL);
    if (abs) {
        char *slash = strrchr(abs, '/');
        if (slash == abs) slash[1] = '\0';
        else if (slash) *slash = '\0';
        tmpl->dir = abs;
    }
    if (harness_payload_yaml_parse_file(path, &tmpl->zone, &tmpl->root, err) < 0) return -1;
    if (tmpl->root.type == MSGPACK_OBJECT_NIL) return 0;
    if (tmpl->root.type != MSGPACK_OBJECT_MAP) {
        harness_strbuf_appendf(err, "%s: a service template is a YAML map", path);
        return -1;
    }
    return harness_svc_template_fill(tmpl, path, err);
}

/* the fields a template shares with the initial payload, by the same names */
static int harness_svc_template_fill(struct harness_svc_template *tmpl, const char *what, struct harness_strbuf *err)
{
    tmpl->command = harness_svc_template_get(&tmpl->root, "command");
    tmpl->prepare_command = harness_svc_template_get(&tmpl->root, "prepare_command");
    tmpl->bus = harness_svc_template_get(&tmpl->root, "bus");
    tmpl->config = harness_svc_template_get(&tmpl->root, "config");
    tmpl->user = harness_svc_template_get(&tmpl->root, "user");
    tmpl->workers = harness_svc_template_get(&tmpl->root, "workers");
    tmpl->timeout = harness_svc_template_get(&tmpl->root, "timeout");
    tmpl->react_to_fail = harness_svc_template_get(&tmpl->root, "react_to_fail");
    tmpl->call_tracing = harness_svc_template_get(&tmpl->root, "call_tracing");
    tmpl->env = harness_svc_template_get(&tmpl->root, "env");
    tmpl->realtime = harness_svc_template_get(&tmpl->root, "realtime");
    tmpl->restart_delay = harness_svc_template_get(&tmpl->root, "restart_delay");
    return harness_svc_template_check(tmpl, what, err);
}

int harness_svc_template_from_payload(struct harness_svc_template *tmpl, const char *data, size_t len,
                                      struct harness_strbuf *err)
{
    memset(tmpl, 0, sizeof *tmpl);
    msgpack_zone_init(&tmpl->zone, 4096);
    size_t off = 0;
    if (msgpack_unpack(data, len, &off, &tmpl->zone, &tmpl->root) != MSGPACK_UNPACK_SUCCESS ||
        tmpl->root.type != MSGPACK_OBJECT_MAP) {
        tmpl->root.type = MSGPACK_OBJECT_NIL;
        harness_strbuf_append_str(err, "the initial payload is not a MessagePack map");
        return -1;
    }
    return harness_svc_template_fill(tmpl, "the initial payload", err);
}

void harness_svc_template_destroy(struct harness_svc_template *tmpl)
{
    msgpack_zone_destroy(&tmpl->zone);
    free(tmpl->dir);
    tmpl->dir = NULL;
}

/* eva4 svc/ffi/src/main.rs Args (clap): library_path, --command-queue-size N (8192), --blocking-fp */
int harness_svc_template_args(const struct harness_svc_template *tmpl, struct harness_launcher_args *args,
                              struct harness_strbuf *err)
{
    memset(args, 0, sizeof *args);
    args->command_queue_size = 8192;
    if (!tmpl->command) return 0;
    /* words split at spaces; the first is the launcher itself */
    char *line = harness_xstrndup(tmpl->command->via.str.ptr, tmpl->command->via.str.size);
    char *save = NULL;
    int rc = 0;
    char *w = strtok_r(line, " \t", &save);
    while (rc == 0 && (w = strtok_r(NULL, " \t", &save)) != NULL) {
        if (!strcmp(w, "--blocking-fp")) {
            args->blocking_fp = 1;
        } else if (!strncmp(w, "--command-queue-size", 20) && (w[20] == '\0' || w[20] == '=')) {
            const char *v = w[20] == '=' ? w + 21 : strtok_r(NULL, " \t", &save);
            char *end;
            unsigned long long n = v ? strtoull(v, &end, 10) : 0;
            if (!v || end == v || *end || *v == '-') {
                harness_strbuf_appendf(err, "command: --command-queue-size needs a number, got %s", v ? v : "nothing");
                rc = -1;
            } else {
                args->command_queue_size = (size_t)n;
            }
        } else if (w[0] == '-' && w[1]) {
            harness_strbuf_appendf(err, "command: %s is not an option of the FFI launcher (it takes "
                                        "--command-queue-size N and --blocking-fp)", w);
            rc = -1;
        } else if (args->library_path) {
            harness_strbuf_appendf(err, "command: unexpected argument %s (the launcher takes one library path)", w);
            rc = -1;
        } else {
            args->library_path = harness_xstrdup(w);
        }
    }
    free(line);
    if (rc == 0 && args->command_queue_size == 0) {
        harness_strbuf_append_str(err, "command: --command-queue-size 0 (a bounded queue needs room for one task)");
        rc = -1;
    }
    if (rc < 0) harness_launcher_args_destroy(args);
    return rc;
}

void harness_launcher_args_destroy(struct harness_launcher_args *args)
{
    free(args->library_path);
    args->library_path = NULL;
}

/* eva4 svc/ffi/src/main.rs: starts_with('/') ? path : eva_dir + path */
char *harness_svc_template_resolve_library(const char *library_path, const char *eva_dir)
{
    if (library_path[0] == '/' || !eva_dir) return harness_xstrdup(library_path);
    struct harness_strbuf p = HARNESS_STRBUF_INIT;
    harness_strbuf_appendf(&p, "%s/%s", eva_dir, library_path);
    return harness_strbuf_detach(&p, NULL);
}

int harness_svc_template_user_nobody(const struct harness_svc_template *tmpl)
{
    const msgpack_object *u = tmpl->user;
    return u && u->type == MSGPACK_OBJECT_STR && u->via.str.size == 6 && !memcmp(u->via.str.ptr, "nobody", 6);
}
