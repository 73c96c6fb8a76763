/* The inputs `check` throws at a library: the methods its info lists, odd
 * method names, garbage payloads (each marked whether it is MessagePack at
 * all), garbage frames, and guard pages so that reading past a buffer
 * faults at once instead of going unnoticed. */
#ifndef HARNESS_CHECK_CASES_H
#define HARNESS_CHECK_CASES_H

#include <stddef.h>

#include "rng.h"
#include "strbuf.h"

struct harness_check_methods {
    size_t count;
    char **names;
    size_t *param_counts;
    char ***params;
};

/* tolerant: an info that is not a valid map gives no methods */
void harness_check_methods_parse(struct harness_check_methods *m, const char *info, size_t len);
/* strict, for init-info: -1 with the problems in why */
int harness_check_info_validate(const char *info, size_t len, struct harness_strbuf *why,
                                struct harness_check_methods *m);

struct harness_check_case {
    char *label;
    char *data;
    size_t len;
    int is_msgpack;       /* payloads: exactly one MessagePack value */
    int expect_not_found; /* method names: must be METHOD_NOT_FOUND */
    int guard;            /* method names: place at the end of a guard page */
};

size_t harness_check_method_cases(const struct harness_check_methods *m, struct harness_check_case **out);
size_t harness_check_payload_cases(const struct harness_check_methods *m, size_t method_index, struct harness_rng *rng,
                                   struct harness_check_case **out);
void harness_check_cases_free(struct harness_check_case *cases, size_t n);

struct harness_guard {
    void *base;
    size_t total;
};

/* a copy of data that ends exactly where a PROT_NONE page begins */
const char *harness_guard_place(struct harness_guard *g, const void *data, size_t len);
void harness_guard_free(struct harness_guard *g);

struct harness_check_frame {
    unsigned char kind;
    char *sender;
    char *topic;
    char *payload; /* may be NULL with payload_len 0 */
    size_t payload_len;
};

/* a random frame: random or subscribed topics, garbage or odd payloads */
void harness_check_frame_make(struct harness_check_frame *f, struct harness_rng *rng, char **subs, size_t sub_count);
void harness_check_frame_free(struct harness_check_frame *f);

#endif
