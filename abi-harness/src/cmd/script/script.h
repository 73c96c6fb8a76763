/* Run scripts: the steps `run` performs after the service is ready, from
 * --call/--frame options (in order) and then --script FILE (a YAML list):
 *   - call: METHOD            params: (absent = no payload; null = nil)
 *     expect: {code: N|NAME, payload: SUBSET | absent}
 *   - frame: TOPIC            payload: VALUE (absent = no payload)
 *   - sleep: SECONDS
 *   - expect: {frame: TOPIC|MASK, payload: SUBSET, within: S (2),
 *              count: N, none: true}
 *   - mark
 *   - stress: {threads: N, iterations: N, steps: [call/frame/sleep...]}
 *   - stop
 *   - core: {oid: OID, status: N, value: V, within: S (0)} | {oid: OID, absent: true}
 * Each step's outcome is printed on stderr; a failed step ends the run.
 * Files: script.c (building the steps), script_run.c (running them), one
 * step_*.c per step kind, script_steps.h (what they share). */
#ifndef HARNESS_SCRIPT_H
#define HARNESS_SCRIPT_H

#include <msgpack.h>
#include <stddef.h>

#include "action_ledger.h"
#include "frame_log.h"
#include "mock_core.h"
#include "service.h"
#include "strbuf.h"

enum harness_step_kind {
    HARNESS_STEP_CALL,
    HARNESS_STEP_FRAME,
    HARNESS_STEP_SLEEP,
    HARNESS_STEP_EXPECT_FRAME,
    HARNESS_STEP_MARK,
    HARNESS_STEP_STRESS,
    HARNESS_STEP_STOP,
    HARNESS_STEP_CORE, /* the mock core's state of an OID */
};

enum harness_expect_payload {
    HARNESS_EXPECT_PAYLOAD_ANY = 0, /* not checked */
    HARNESS_EXPECT_PAYLOAD_ABSENT,  /* must have no payload */
    HARNESS_EXPECT_PAYLOAD_VALUE,   /* must match the template */
};

struct harness_step {
    enum harness_step_kind kind;
    char *label;
    /* call */
    char *method;
    size_t method_len;
    int has_params;
    const msgpack_object *params;
    char *params_packed; /* packed once when there are no placeholders */
    size_t params_len;
    int params_dynamic;
    int has_expect;
    int expect_has_code;
    int expect_code;
    enum harness_expect_payload expect_payload;
    const msgpack_object *expect_value;
    /* frame (topic) and expect frame (topic is a mask) */
    char *topic;
    const msgpack_object *payload; /* NULL: no payload / not checked */
    /* sleep */
    double seconds;
    /* expect frame */
    double within;
    unsigned long count;
    int none;
    /* core: oid, expected {status, value} subset (NULL: any), absent */
    char *oid;
    const msgpack_object *core_expect;
    int absent;
    /* stress */
    unsigned threads;
    unsigned long iterations;
    struct harness_step *steps;
    size_t step_count;
};

struct harness_script {
    msgpack_zone zone;
    struct harness_step *steps;
    size_t count, cap;
    int has_frame_expects;
};

struct harness_script_env {
    struct harness_service *svc;
    struct harness_frame_log *frames; /* NULL when there are no frame expects */
    struct harness_action_ledger *ledger;
    int deliver_unsubscribed;
    struct harness_mock_core *core; /* for core steps */
};

void harness_script_init(struct harness_script *script);
void harness_script_destroy(struct harness_script *script);
/* -1 with a message in err */
int harness_script_add_call(struct harness_script *script, const char *method, const char *params_text,
                            struct harness_strbuf *err);
int harness_script_add_frame(struct harness_script *script, const char *topic, const char *payload_text,
                             struct harness_strbuf *err);
int harness_script_load(struct harness_script *script, const char *path, struct harness_strbuf *err);
/* HARNESS_EXIT_OK, or HARNESS_EXIT_FAILED when a step failed or the run was
 * stopped with steps left */
int harness_script_run(struct harness_script *script, struct harness_script_env *env);

#endif
