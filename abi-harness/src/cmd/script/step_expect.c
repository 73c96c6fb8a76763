/* The expect step: frames the library published, matched by topic mask
 * and payload subset, counted since the last mark (or, with none: true,
 * from now on); a failure shows the last frames on a matching topic. */
#include "script_steps.h"

#include <stdlib.h>

#include "bus.h"
#include "clock.h"
#include "payload_json.h"
#include "payload_match.h"
#include "topic.h"
#include "xalloc.h"

#define HARNESS_SCRIPT_DEFAULT_WITHIN 2.0

int harness_script_parse_expect_frame(struct harness_script *script, struct harness_step *st,
                                      const msgpack_object *v, const char *where, struct harness_strbuf *err)
{
    static const char *const keys[] = {"frame", "payload", "within", "count", "none", NULL};
    if (v->type != MSGPACK_OBJECT_MAP) {
        harness_strbuf_appendf(err, "%s: expect must be a map {frame, payload, within, count, none}", where);
        return -1;
    }
    if (harness_script_check_keys(v, keys, where, err) < 0) return -1;
    const msgpack_object *frame = harness_script_field(v, "frame");
    if (!frame || frame->type != MSGPACK_OBJECT_STR || frame->via.str.size == 0) {
        harness_strbuf_appendf(err, "%s: expect.frame (a topic or mask) is required", where);
        return -1;
    }
    st->topic = harness_script_str(frame);
    st->payload = harness_script_field(v, "payload");
    st->within = HARNESS_SCRIPT_DEFAULT_WITHIN;
    st->count = 1;
    const msgpack_object *within = harness_script_field(v, "within");
    if (within && (!harness_script_number(within, &st->within) || !(st->within >= 0))) {
        harness_strbuf_appendf(err, "%s: expect.within must be a number of seconds", where);
        return -1;
    }
    const msgpack_object *count = harness_script_field(v, "count");
    if (count) {
        if (count->type != MSGPACK_OBJECT_POSITIVE_INTEGER || count->via.u64 < 1) {
            harness_strbuf_appendf(err, "%s: expect.count must be a positive integer", where);
            return -1;
        }
        st->count = (unsigned long)count->via.u64;
    }
    const msgpack_object *none = harness_script_field(v, "none");
    if (none) {
        if (none->type != MSGPACK_OBJECT_BOOLEAN) {
            harness_strbuf_appendf(err, "%s: expect.none must be a bool", where);
            return -1;
        }
        st->none = none->via.boolean;
    }
    if (st->payload) {
        /* validate $bin/$uuid now */
        char *data;
        size_t len;
        struct harness_strbuf perr = HARNESS_STRBUF_INIT;
        int rc = harness_payload_pack_bytes(st->payload, NULL, &data, &len, &perr);
        if (rc < 0) harness_strbuf_appendf(err, "%s: expect.payload: %s", where, perr.data);
        else free(data);
        harness_strbuf_destroy(&perr);
        if (rc < 0) return -1;
    }
    script->has_frame_expects = 1;
    struct harness_strbuf label = HARNESS_STRBUF_INIT;
    harness_strbuf_appendf(&label, "expect %sframe %s", st->none ? "no " : "", st->topic);
    st->label = harness_strbuf_detach(&label, NULL);
    return 0;
}

static int harness_script_frame_matches(const struct harness_step *st, const struct harness_frame_rec *rec)
{
    if (!harness_topic_match(st->topic, rec->topic)) return 0;
    if (!st->payload) return 1;
    return harness_payload_match_packed(st->payload, NULL, rec->payload, rec->len, NULL);
}

/* 1 ok, 0 failed with why */
int harness_script_expect_frame(struct harness_script_state *state, const struct harness_step *st,
                                struct harness_strbuf *why)
{
    struct harness_frame_log *log = state->env->frames;
    harness_bus_wait_processed(harness_bus_pushed(), HARNESS_SCRIPT_DRAIN_WAIT);
    /* none: only what arrives from now on; otherwise since the mark */
    size_t from = st->none ? harness_frame_log_count(log) : state->mark;
    double deadline = harness_clock_now() + st->within;
    unsigned long matched = 0;
    size_t scanned = from;
    for (;;) {
        size_t n = harness_frame_log_count(log);
        for (; scanned < n; scanned++) {
            if (harness_script_frame_matches(st, harness_frame_log_get(log, scanned))) matched++;
        }
        if (st->none && matched) break;
        if (!st->none && matched >= st->count) return 1;
        if (harness_clock_now() >= deadline) break;
        harness_frame_log_wait(log, n, deadline);
    }
    if (st->none) {
        if (!matched) return 1;
        harness_strbuf_appendf(why, "expected no matching frame within %g s, seen %lu", st->within, matched);
        return 0;
    }
    harness_strbuf_appendf(why, "expected %s%lu frame%s on %s", st->count > 1 ? "at least " : "", st->count,
                           st->count > 1 ? "s" : "", st->topic);
    if (st->payload) {
        harness_strbuf_append_str(why, " with payload ");
        char *data;
        size_t len;
        struct harness_strbuf perr = HARNESS_STRBUF_INIT;
        if (harness_payload_pack_bytes(st->payload, NULL, &data, &len, &perr) == 0) {
            harness_payload_json_describe(why, data, len);
            free(data);
        }
        harness_strbuf_destroy(&perr);
    }
    harness_strbuf_appendf(why, " within %g s, seen %lu matching", st->within, matched);
    /* show the last few frames on a matching topic: usually the answer */
    size_t shown = 0, n = harness_frame_log_count(log);
    for (size_t i = n; i > state->mark && shown < 3; i--) {
        const struct harness_frame_rec *rec = harness_frame_log_get(log, i - 1);
        if (!harness_topic_match(st->topic, rec->topic)) continue;
        harness_strbuf_append_str(why, shown ? "; " : "; last on a matching topic: ");
        harness_strbuf_appendf(why, "%s ", rec->topic);
        harness_payload_json_describe(why, rec->payload, rec->len);
        shown++;
    }
    if (!shown) harness_strbuf_appendf(why, "; no frame on a matching topic (%zu frames in all)", n - state->mark);
    return 0;
}
