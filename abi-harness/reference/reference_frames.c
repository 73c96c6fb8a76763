/* svc_on_frame: frames are validated and ignored. */
#include "reference_service.h"

#ifdef BREAK_FRAMES
static atomic_uint g_frames_seen;
#endif

EXPORT void svc_on_frame(struct EvaFFIFrame *fr)
{
    if (!fr)
        return;
#ifdef RELY_PROBE
    probe_frame(fr);
#endif
#ifdef RELY_SUBSCRIBE_NO_NUL
    if (fr->topic && !strcmp(fr->topic, "SVC/ST"))
        log_info("frame on SVC/ST from %s (%zu bytes)", fr->primary_sender ? fr->primary_sender : "?",
                 fr->payload_size);
#endif
    struct tls_state *t = tls_get();
    if (!t)
        return;
    const char *topic = fr->topic ? fr->topic : "";
    int tlen = (int)strnlen(topic, 200);
    msgpack_object o;
    memset(&o, 0, sizeof o);
#ifdef BREAK_FRAMES
    /* Broken: assumes every payload is a non-empty map. */
    (void)unpack_one(t, fr->payload, fr->payload_size, &o);
    atomic_fetch_add_explicit(&g_frames_seen, (unsigned)o.via.map.ptr[0].key.type, memory_order_relaxed);
    (void)tlen;
#else
    if (fr->payload_size > 0 && !fr->payload) {
        log_debug("frame on %.*s ignored: no payload data", tlen, topic);
    } else if (!unpack_one(t, fr->payload, fr->payload_size, &o)) {
        log_debug("frame on %.*s ignored: the payload is not MessagePack", tlen, topic);
    } else if (o.type != MSGPACK_OBJECT_MAP) {
        log_debug("frame on %.*s ignored: the payload is a %s, not a map", tlen, topic, obj_type_name(o.type));
    } else {
        /* nothing is subscribed: any frame is unexpected */
        log_trace("frame on %.*s ignored", tlen, topic);
    }
#endif
    msgpack_zone_clear(&t->zone);
}
