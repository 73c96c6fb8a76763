#include "initial_payload.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "msgpack_map.h"
#include "config_expand.h"
#include "output.h"
#include "xalloc.h"

/* one top-level field, packed on its own so --initial-extra can replace it */
struct harness_initial_field {
    const char *key;
    msgpack_sbuffer value;
};

struct harness_initial_builder {
    struct harness_initial_field fields[24];
    size_t count;
    msgpack_packer pk; /* packs into the current field */
};

static msgpack_packer *harness_initial_field(struct harness_initial_builder *b, const char *key)
{
    struct harness_initial_field *f = &b->fields[b->count++];
    f->key = key;
    msgpack_sbuffer_init(&f->value);
    msgpack_packer_init(&b->pk, &f->value, msgpack_sbuffer_write);
    return &b->pk;
}

static void harness_initial_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void harness_initial_bool(msgpack_packer *pk, int v)
{
    if (v) msgpack_pack_true(pk);
    else msgpack_pack_false(pk);
}

static double harness_initial_timeout(const struct harness_svc_template *tmpl, const char *key, double dflt)
{
    const msgpack_object *v = tmpl->timeout ? harness_msgpack_map_get(tmpl->timeout, key) : NULL;
    double d;
    return v && harness_svc_template_number(v, &d) ? d : dflt;
}

static char *harness_initial_str_field(const msgpack_object *o, const char *dflt)
{
    return o ? harness_xstrndup(o->via.str.ptr, o->via.str.size) : harness_xstrdup(dflt);
}

static void harness_initial_mkdirs(const char *path)
{
    char *p = harness_xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        mkdir(p, 0700);
        *s = '/';
    }
    if (mkdir(p, 0700) != 0 && errno != EEXIST)
        harness_log(HARNESS_LOG_WARN, "cannot create data_path %s: %s", p, strerror(errno));
    free(p);
}

/* bus.<key> from the template when it is a number, else the default */
static void harness_initial_bus_number(msgpack_packer *pk, const struct harness_svc_template *tmpl, const char *key,
                                       double dflt, int as_int)
{
    const msgpack_object *v = tmpl->bus ? harness_msgpack_map_get(tmpl->bus, key) : NULL;
    harness_initial_str(pk, key);
    if (v && v->type != MSGPACK_OBJECT_NIL) {
        msgpack_pack_object(pk, *v);
        return;
    }
    if (as_int) msgpack_pack_uint64(pk, (uint64_t)dflt);
    else msgpack_pack_double(pk, dflt);
}

int harness_initial_payload_build(const struct harness_svc_template *tmpl, const struct harness_initial_options *opts,
                                  struct harness_initial *out, struct harness_strbuf *err)
{
    memset(out, 0, sizeof *out);
    if (opts->extra && opts->extra->type != MSGPACK_OBJECT_MAP) {
        harness_strbuf_append_str(err, "--initial-extra must be a map");
        return -1;
    }
    const char *eva_dir = opts->eva_dir ? opts->eva_dir : "/opt/eva4";
    out->timeout_default = harness_initial_timeout(tmpl, "default", HARNESS_DEFAULT_TIMEOUT);
    /* eva4-common Initial::into_legacy_compat: startup/shutdown fall back to the default timeout */
    out->timeout_startup = harness_initial_timeout(tmpl, "startup", out->timeout_default);
    out->timeout_shutdown = harness_initial_timeout(tmpl, "shutdown", out->timeout_default);
    /* eva4-common services.rs default_workers: 1 */
    out->workers = opts->workers >= 0 ? (unsigned)opts->workers : tmpl->workers ? (unsigned)tmpl->workers->via.u64 : 1;
    out->svc_id = harness_xstrdup(opts->svc_id ? opts->svc_id : HARNESS_DEFAULT_SVC_ID);
    out->queue_size = opts->queue_size ? opts->queue_size : HARNESS_DEFAULT_QUEUE_SIZE;

    int react_to_fail = tmpl->react_to_fail && tmpl->react_to_fail->via.boolean;
    if (opts->fail_mode && !react_to_fail) {
        harness_strbuf_append_str(err, "the service refuses to start: fail_mode is set and the template has no "
                                       "react_to_fail: true (as on a node)");
        return -2;
    }

    char host[256] = "abi-harness";
    if (!opts->system_name && gethostname(host, sizeof host) == 0) host[sizeof host - 1] = '\0';
    out->system_name = harness_xstrdup(opts->system_name ? opts->system_name : host);

    char *user = harness_initial_str_field(tmpl->user, "");
    if (!strcmp(user, "nobody")) {
        /* eva4-common Initial::data_path: None for user nobody, "" after into_legacy_compat */
        out->data_path = harness_xstrdup("");
    } else if (opts->data_path) {
        out->data_path = harness_xstrdup(opts->data_path);
        harness_initial_mkdirs(out->data_path);
    } else {
        /* the node gives every service EVA_DIR/runtime/svc_data/<id>, created */
        struct harness_strbuf p = HARNESS_STRBUF_INIT;
        harness_strbuf_appendf(&p, "%s/runtime/svc_data/%s", eva_dir, out->svc_id);
        out->data_path = harness_strbuf_detach(&p, NULL);
        harness_initial_mkdirs(out->data_path);
    }

    struct harness_initial_builder b;
    memset(&b, 0, sizeof b);
    msgpack_packer *pk;

    pk = harness_initial_field(&b, "version");
    msgpack_pack_uint8(pk, 4);
    pk = harness_initial_field(&b, "system_name");
    harness_initial_str(pk, out->system_name);
    pk = harness_initial_field(&b, "id");
    harness_initial_str(pk, out->svc_id);
    pk = harness_initial_field(&b, "command");
    if (tmpl->command) {
        msgpack_pack_object(pk, *tmpl->command);
    } else {
        struct harness_strbuf c = HARNESS_STRBUF_INIT;
        harness_strbuf_appendf(&c, "svc/eva-ffi %s", opts->lib_path ? opts->lib_path : "");
        harness_initial_str(pk, c.data);
        harness_strbuf_destroy(&c);
    }
    pk = harness_initial_field(&b, "env");
    if (tmpl->env) msgpack_pack_object(pk, *tmpl->env);
    else msgpack_pack_map(pk, 0);
    pk = harness_initial_field(&b, "prepare_command");
    if (tmpl->prepare_command) msgpack_pack_object(pk, *tmpl->prepare_command);
    else msgpack_pack_nil(pk);
    pk = harness_initial_field(&b, "data_path");
    harness_initial_str(pk, out->data_path);

    pk = harness_initial_field(&b, "timeout");
    msgpack_pack_map(pk, 3);
    harness_initial_str(pk, "startup");
    msgpack_pack_double(pk, out->timeout_startup);
    harness_initial_str(pk, "shutdown");
    msgpack_pack_double(pk, out->timeout_shutdown);
    harness_initial_str(pk, "default");
    msgpack_pack_double(pk, out->timeout_default);

    /* eva4-common services.rs CoreInfo: the key is eapi_verion (an old typo kept) */
    pk = harness_initial_field(&b, "core");
    msgpack_pack_map(pk, 6);
    harness_initial_str(pk, "build");
    msgpack_pack_uint64(pk, HARNESS_CORE_BUILD);
    harness_initial_str(pk, "version");
    harness_initial_str(pk, HARNESS_CORE_VERSION);
    harness_initial_str(pk, "eapi_verion");
    msgpack_pack_uint16(pk, HARNESS_EAPI_VERSION);
    harness_initial_str(pk, "path");
    harness_initial_str(pk, eva_dir);
    harness_initial_str(pk, "log_level");
    msgpack_pack_uint8(pk, (uint8_t)opts->log_level);
    out->log_level = opts->log_level;
    harness_initial_str(pk, "active");
    harness_initial_bool(pk, opts->core_active);

    /* eva4-common services.rs BusConfig: ping_interval is skip_serializing, token Option */
    pk = harness_initial_field(&b, "bus");
    msgpack_pack_map(pk, 7);
    harness_initial_str(pk, "type");
    harness_initial_str(pk, "native");
    const msgpack_object *bus_path = tmpl->bus ? harness_msgpack_map_get(tmpl->bus, "path") : NULL;
    if (opts->bus_path) out->bus_path = harness_xstrdup(opts->bus_path);
    else if (bus_path && bus_path->type == MSGPACK_OBJECT_STR)
        out->bus_path = harness_xstrndup(bus_path->via.str.ptr, bus_path->via.str.size);
    else out->bus_path = harness_xstrdup("var/bus.ipc");
    harness_initial_str(pk, "path");
    harness_initial_str(pk, out->bus_path);
    /* eva4-common services.rs bus_config: timeout nil -> timeout.default */
    const msgpack_object *bus_timeout = tmpl->bus ? harness_msgpack_map_get(tmpl->bus, "timeout") : NULL;
    if (!bus_timeout || !harness_svc_template_number(bus_timeout, &out->bus_timeout) || !(out->bus_timeout > 0))
        out->bus_timeout = out->timeout_default;
    harness_initial_bus_number(pk, tmpl, "timeout", out->timeout_default, 0);
    harness_initial_bus_number(pk, tmpl, "buf_size", 8192, 1);
    harness_initial_bus_number(pk, tmpl, "buf_ttl", 10, 1);
    harness_initial_bus_number(pk, tmpl, "queue_size", 8192, 1);
    harness_initial_str(pk, "token");
    const msgpack_object *token = tmpl->bus ? harness_msgpack_map_get(tmpl->bus, "token") : NULL;
    if (token && token->type == MSGPACK_OBJECT_STR) msgpack_pack_object(pk, *token);
    else msgpack_pack_nil(pk);

    /* eva4-common services.rs RealtimeConfig: priority, cpu_ids, prealloc_heap */
    pk = harness_initial_field(&b, "realtime");
    msgpack_pack_map(pk, 3);
    static const char *const rt_keys[] = {"priority", "cpu_ids", "prealloc_heap"};
    for (size_t i = 0; i < 3; i++) {
        const msgpack_object *v = tmpl->realtime ? harness_msgpack_map_get(tmpl->realtime, rt_keys[i]) : NULL;
        harness_initial_str(pk, rt_keys[i]);
        if (v && v->type != MSGPACK_OBJECT_NIL) msgpack_pack_object(pk, *v);
        else if (i == 1) msgpack_pack_array(pk, 0);
        else msgpack_pack_nil(pk);
    }

    pk = harness_initial_field(&b, "config");
    if (tmpl->config) {
        if (harness_config_expand_pack(pk, tmpl->config, eva_dir, err) < 0) {
            for (size_t f = 0; f < b.count; f++) msgpack_sbuffer_destroy(&b.fields[f].value);
            free(user);
            return -1;
        }
    } else {
        msgpack_pack_map(pk, 0);
    }
    pk = harness_initial_field(&b, "workers");
    msgpack_pack_uint32(pk, out->workers);
    pk = harness_initial_field(&b, "user");
    harness_initial_str(pk, user);
    pk = harness_initial_field(&b, "react_to_fail");
    harness_initial_bool(pk, react_to_fail);
    pk = harness_initial_field(&b, "fail_mode");
    harness_initial_bool(pk, opts->fail_mode);
    pk = harness_initial_field(&b, "fips");
    harness_initial_bool(pk, opts->fips);
    pk = harness_initial_field(&b, "call_tracing");
    harness_initial_bool(pk, opts->call_tracing || (tmpl->call_tracing && tmpl->call_tracing->via.boolean));
    /* eva4-common services.rs default_restart_delay: 2 s, sent as float seconds */
    pk = harness_initial_field(&b, "restart_delay");
    double rd = 2.0;
    if (tmpl->restart_delay) harness_svc_template_number(tmpl->restart_delay, &rd);
    msgpack_pack_double(pk, rd);
    free(user);

    /* assemble: extra keys replace fields of the same name, new ones follow */
    const msgpack_object *extra = opts->extra;
    uint32_t extra_n = extra ? extra->via.map.size : 0;
    size_t total = b.count;
    char *used = harness_xcalloc(extra_n + 1, 1);
    for (uint32_t i = 0; i < extra_n; i++) {
        const msgpack_object *k = &extra->via.map.ptr[i].key;
        int replaces = 0;
        for (size_t f = 0; f < b.count && k->type == MSGPACK_OBJECT_STR; f++) {
            if (strlen(b.fields[f].key) == k->via.str.size && !memcmp(b.fields[f].key, k->via.str.ptr, k->via.str.size))
                replaces = 1;
        }
        if (!replaces) total++;
    }
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer top;
    msgpack_packer_init(&top, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_map(&top, (uint32_t)total);
    for (size_t f = 0; f < b.count; f++) {
        harness_initial_str(&top, b.fields[f].key);
        const msgpack_object *override = NULL;
        for (uint32_t i = 0; i < extra_n; i++) {
            const msgpack_object *k = &extra->via.map.ptr[i].key;
            if (k->type == MSGPACK_OBJECT_STR && strlen(b.fields[f].key) == k->via.str.size &&
                !memcmp(b.fields[f].key, k->via.str.ptr, k->via.str.size)) {
                override = &extra->via.map.ptr[i].val;
                used[i] = 1;
            }
        }
        if (override) msgpack_pack_object(&top, *override);
        else msgpack_sbuffer_write(&sbuf, b.fields[f].value.data, b.fields[f].value.size);
        msgpack_sbuffer_destroy(&b.fields[f].value);
    }
    for (uint32_t i = 0; i < extra_n; i++) {
        if (used[i]) continue;
        msgpack_pack_object(&top, extra->via.map.ptr[i].key);
        msgpack_pack_object(&top, extra->via.map.ptr[i].val);
    }
    free(used);
    out->data = harness_xmemdup(sbuf.data, sbuf.size);
    out->len = sbuf.size;
    msgpack_sbuffer_destroy(&sbuf);
    return 0;
}

void harness_initial_payload_destroy(struct harness_initial *initial)
{
    free(initial->data);
    free(initial->svc_id);
    free(initial->system_name);
    free(initial->data_path);
    free(initial->bus_path);
    memset(initial, 0, sizeof *initial);
}
