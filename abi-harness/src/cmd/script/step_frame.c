/* The frame step: a frame to the library, delivered as the bus would
 * deliver it (only on a topic it subscribed to, unless
 * --deliver-unsubscribed). */
#include "script_steps.h"

#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "payload_resolve.h"

/* how long a frame step waits for svc_on_frame to finish */
#define HARNESS_SCRIPT_FRAME_WAIT 5.0

/* - frame: TOPIC   payload: ... */
int harness_script_parse_frame(struct harness_step *st, const msgpack_object *o, const msgpack_object *v,
                               const char *where, struct harness_strbuf *err)
{
    static const char *const keys[] = {"frame", "payload", NULL};
    if (harness_script_check_keys(o, keys, where, err) < 0) return -1;
    if (v->type != MSGPACK_OBJECT_STR || v->via.str.size == 0) {
        harness_strbuf_appendf(err, "%s: frame needs a topic", where);
        return -1;
    }
    st->kind = HARNESS_STEP_FRAME;
    st->topic = harness_script_str(v);
    st->params = harness_script_field(o, "payload");
    st->has_params = st->params != NULL;
    struct harness_strbuf label = HARNESS_STRBUF_INIT;
    harness_strbuf_appendf(&label, "frame %s", st->topic);
    st->label = harness_strbuf_detach(&label, NULL);
    return harness_script_prepare_params(st, err, where);
}

int harness_script_frame(struct harness_script_env *env, const struct harness_step *st,
                         const struct harness_subst *subst, int wait, struct harness_strbuf *why)
{
    struct harness_strbuf topic = HARNESS_STRBUF_INIT;
    int whole;
    long long iv;
    harness_payload_subst_text(st->topic, strlen(st->topic), subst, &topic, &whole, &iv);
    char *payload = st->params_packed, *dyn = NULL;
    size_t len = st->has_params ? st->params_len : 0;
    if (st->has_params && st->params_dynamic) {
        if (harness_payload_pack_bytes(st->params, subst, &dyn, &len, why) < 0) {
            harness_strbuf_destroy(&topic);
            return -1;
        }
        payload = dyn;
    }
    int delivered = harness_service_frame(env->svc, topic.data, payload, len, env->deliver_unsubscribed);
    /* the bus would not deliver it either: say so, but it is not a failure
     * (a test may inject frames the library is meant to ignore) */
    if (!delivered && why && wait) {
        harness_strbuf_append_str(why, "not delivered: the library has no matching subscription; "
                                       "--deliver-unsubscribed delivers it anyway");
    }
    if (delivered && wait && harness_rpc_pool_wait_idle(env->svc->pool, HARNESS_SCRIPT_FRAME_WAIT) < 0)
        harness_log(HARNESS_LOG_WARN, "svc_on_frame still running after %g s", HARNESS_SCRIPT_FRAME_WAIT);
    free(dyn);
    harness_strbuf_destroy(&topic);
    return 1;
}
