/* The core step: what the mock core holds for one OID (status/value
 * subset, or absent), waiting up to `within` seconds. This is how a script
 * tests that a state reached the core, which drops RAW events until it is
 * active. */
#include "script_steps.h"

#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "clock.h"
#include "item_store.h"
#include "mock_core.h"
#include "payload_json.h"
#include "payload_match.h"
#include "xalloc.h"

/* - core: {oid: OID, status: N, value: V, within: S} | {oid: OID, absent: true} */
int harness_script_parse_core(struct harness_script *script, struct harness_step *st, const msgpack_object *v,
                              const char *where, struct harness_strbuf *err)
{
    static const char *const keys[] = {"oid", "status", "value", "within", "absent", NULL};
    if (v->type != MSGPACK_OBJECT_MAP) {
        harness_strbuf_appendf(err, "%s: core must be a map {oid, status, value, within, absent}", where);
        return -1;
    }
    if (harness_script_check_keys(v, keys, where, err) < 0) return -1;
    const msgpack_object *oid = harness_script_field(v, "oid");
    if (!oid || oid->type != MSGPACK_OBJECT_STR || oid->via.str.size == 0) {
        harness_strbuf_appendf(err, "%s: core.oid (an item OID) is required", where);
        return -1;
    }
    st->oid = harness_script_str(oid);
    st->within = 0;
    const msgpack_object *within = harness_script_field(v, "within");
    if (within && (!harness_script_number(within, &st->within) || !(st->within >= 0))) {
        harness_strbuf_appendf(err, "%s: core.within must be a number of seconds", where);
        return -1;
    }
    const msgpack_object *absent = harness_script_field(v, "absent");
    if (absent && absent->type != MSGPACK_OBJECT_BOOLEAN) {
        harness_strbuf_appendf(err, "%s: core.absent must be a bool", where);
        return -1;
    }
    st->absent = absent && absent->via.boolean;
    const msgpack_object *status = harness_script_field(v, "status"), *value = harness_script_field(v, "value");
    if (st->absent && (status || value)) {
        harness_strbuf_appendf(err, "%s: core.absent takes no status or value", where);
        return -1;
    }
    if (status || value) {
        /* the subset to match against the core's {oid, status, value} */
        msgpack_object *m = msgpack_zone_malloc(&script->zone, sizeof *m);
        msgpack_object_kv *kv = msgpack_zone_malloc(&script->zone, 2 * sizeof *kv);
        uint32_t n = 0;
        if (status) {
            kv[n].key = (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {6, "status"}};
            kv[n++].val = *status;
        }
        if (value) {
            kv[n].key = (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {5, "value"}};
            kv[n++].val = *value;
        }
        m->type = MSGPACK_OBJECT_MAP;
        m->via.map.size = n;
        m->via.map.ptr = kv;
        st->core_expect = m;
    }
    struct harness_strbuf label = HARNESS_STRBUF_INIT;
    harness_strbuf_appendf(&label, "core %s%s", st->oid, st->absent ? " absent" : "");
    st->label = harness_strbuf_detach(&label, NULL);
    return 0;
}

/* the core's state of one OID as {oid, status, value} (packed), or NULL */
static char *harness_script_core_state(struct harness_mock_core *core, const char *oid, size_t *len)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    harness_item_store_pack_query(&core->items, &oid, 1, &pk);
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object list;
    size_t off = 0;
    char *out = NULL;
    if (msgpack_unpack(sbuf.data, sbuf.size, &off, &zone, &list) == MSGPACK_UNPACK_SUCCESS &&
        list.type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < list.via.array.size && !out; i++) {
            const msgpack_object *e = &list.via.array.ptr[i];
            const msgpack_object *o = harness_script_field(e, "oid");
            if (o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(oid) &&
                !memcmp(o->via.str.ptr, oid, o->via.str.size)) {
                msgpack_sbuffer one;
                msgpack_sbuffer_init(&one);
                msgpack_packer p1;
                msgpack_packer_init(&p1, &one, msgpack_sbuffer_write);
                msgpack_pack_object(&p1, *e);
                out = harness_xmemdup(one.data, one.size);
                *len = one.size;
                msgpack_sbuffer_destroy(&one);
            }
        }
    }
    msgpack_zone_destroy(&zone);
    msgpack_sbuffer_destroy(&sbuf);
    return out;
}

/* 1 when the mock core's state of st->oid matches (within st->within s) */
int harness_script_core(struct harness_script_env *env, const struct harness_step *st, struct harness_strbuf *why)
{
    if (!env->core) {
        harness_strbuf_append_str(why, "no core in this run");
        return 0;
    }
    double deadline = harness_clock_now() + st->within;
    for (;;) {
        harness_bus_wait_processed(harness_bus_pushed(), HARNESS_SCRIPT_DRAIN_WAIT);
        size_t len = 0;
        char *state = harness_script_core_state(env->core, st->oid, &len);
        int ok;
        harness_strbuf_reset(why);
        if (st->absent) {
            ok = state == NULL;
            if (!ok) {
                harness_strbuf_append_str(why, "the core holds ");
                harness_payload_json_describe(why, state, len);
            }
        } else if (!state) {
            ok = 0;
            harness_strbuf_appendf(why, "the core holds no state for %s%s", st->oid,
                                   harness_mock_core_is_active(env->core)
                                       ? ""
                                       : " (the core is not active yet: it drops RAW events)");
        } else {
            ok = !st->core_expect || harness_payload_match_packed(st->core_expect, NULL, state, len, NULL);
            if (!ok) {
                harness_strbuf_append_str(why, "the core holds ");
                harness_payload_json_describe(why, state, len);
            }
        }
        free(state);
        if (ok) {
            harness_strbuf_reset(why);
            return 1;
        }
        if (harness_clock_now() >= deadline) {
            if (st->within > 0) harness_strbuf_appendf(why, " (waited %g s)", st->within);
            return 0;
        }
        harness_clock_sleep(0.02);
    }
}
