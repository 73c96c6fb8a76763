/* Inside the script runner (script.h is its interface): what the step
 * kinds share. Each kind has a file of its own with its parser and how it
 * runs: step_call.c, step_frame.c, step_expect.c (expect: frame), step_core.c,
 * step_stress.c; sleep, mark and stop are small enough for script.c (parsed)
 * and script_run.c (run). */
#ifndef HARNESS_SCRIPT_STEPS_H
#define HARNESS_SCRIPT_STEPS_H

#include <msgpack.h>
#include <stddef.h>

#include "payload_resolve.h"
#include "script.h"
#include "strbuf.h"

/* how long a step waits for the frames the library published so far to be
 * processed (printed, logged, applied by the core) before it looks at them */
#define HARNESS_SCRIPT_DRAIN_WAIT 1.0

/* what the steps of one run share */
struct harness_script_state {
    struct harness_script_env *env;
    size_t mark; /* frame expects look at frames from this index on */
};

/* ---------------------------------------------------- reading the YAML
 * (script_fields.c): a step is a map whose values are msgpack objects */
int harness_script_key_is(const msgpack_object *k, const char *name);
const msgpack_object *harness_script_field(const msgpack_object *map, const char *key);
/* every key of map must be one of allowed (NULL-terminated) */
int harness_script_check_keys(const msgpack_object *map, const char *const *allowed, const char *where,
                              struct harness_strbuf *err);
int harness_script_number(const msgpack_object *o, double *out);
char *harness_script_str(const msgpack_object *o);

/* ------------------------------------------------------- building steps
 * (script.c) */
struct harness_step *harness_script_push(struct harness_step **steps, size_t *count, size_t *cap);
/* one step of a list; in_stress allows only what a stress step repeats */
int harness_script_parse_step(struct harness_script *script, struct harness_step *st, const msgpack_object *o,
                              const char *where, int in_stress, struct harness_strbuf *err);
/* call params / frame payload packed once now (a bad $bin is reported before the run) */
int harness_script_prepare_params(struct harness_step *st, struct harness_strbuf *err, const char *where);

/* ----------------------------------------------------------- step kinds
 * parse: -1 with err; o is the step's map, v the value of its kind key.
 * run: 1 ok, 0 failed (why); a call or frame also -1: cannot run (why). */
int harness_script_parse_call(struct harness_step *st, const msgpack_object *o, const msgpack_object *v,
                              const char *where, struct harness_strbuf *err);
/* 2: ok, but the call answered an error that no expect asked about */
int harness_script_call(struct harness_script_env *env, const struct harness_step *st,
                        const struct harness_subst *subst, int print, struct harness_strbuf *why);

int harness_script_parse_frame(struct harness_step *st, const msgpack_object *o, const msgpack_object *v,
                               const char *where, struct harness_strbuf *err);
/* wait: until svc_on_frame is done, and say when nothing subscribed */
int harness_script_frame(struct harness_script_env *env, const struct harness_step *st,
                         const struct harness_subst *subst, int wait, struct harness_strbuf *why);

int harness_script_parse_expect_frame(struct harness_script *script, struct harness_step *st,
                                      const msgpack_object *v, const char *where, struct harness_strbuf *err);
int harness_script_expect_frame(struct harness_script_state *state, const struct harness_step *st,
                                struct harness_strbuf *why);

int harness_script_parse_core(struct harness_script *script, struct harness_step *st, const msgpack_object *v,
                              const char *where, struct harness_strbuf *err);
int harness_script_core(struct harness_script_env *env, const struct harness_step *st, struct harness_strbuf *why);

int harness_script_parse_stress(struct harness_script *script, struct harness_step *st, const msgpack_object *v,
                                const char *where, struct harness_strbuf *err);
int harness_script_stress(struct harness_script_env *env, const struct harness_step *st, struct harness_strbuf *why);

#endif
