/* What a bench iteration sends: the calls (method + packed params) or the
 * frame, packed once from the command line's JSON/YAML text. A uuid given as
 * {"$uuid": "$fresh"} is a new one for every call: its offsets in the packed
 * bytes are remembered and each bench thread rewrites them in its own copy. */
#ifndef HARNESS_BENCH_WORKLOAD_H
#define HARNESS_BENCH_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "bench_options.h"
#include "strbuf.h"

#define BENCH_FRESH_MAX 8
#define BENCH_FRESH_NAME "$fresh"

struct bench_call {
    const char *method;
    size_t method_len;
    char *payload;   /* NULL: the call has no payload */
    size_t payload_len;
    size_t fresh[BENCH_FRESH_MAX]; /* offsets of the 16 uuid bytes to renew per call */
    size_t fresh_count;
    int is_action;   /* action/run: its accepted calls end with a terminal ACT event */
};

struct bench_workload {
    struct bench_call *calls;
    size_t call_count;
    int frame_mode;
    const char *topic;
    char *frame_payload;
    size_t frame_len;
    int has_actions;
};

int bench_workload_build(struct bench_workload *w, const struct bench_options *o, struct harness_strbuf *err);
void bench_workload_destroy(struct bench_workload *w);

/* a per-thread uuid source: unique across threads and calls of one run */
struct bench_uuid_source {
    uint64_t prefix;
    uint64_t counter;
};
void bench_uuid_source_init(struct bench_uuid_source *src, unsigned thread_index);
/* writes a new uuid at every fresh offset of the call's payload copy */
void bench_uuid_renew(struct bench_uuid_source *src, const struct bench_call *call, char *payload_copy);

#endif
