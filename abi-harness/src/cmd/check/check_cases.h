/* The inputs `check` throws at a library: odd method names, garbage
 * payloads (each marked whether it is MessagePack at all) built from the
 * methods its info lists, and garbage frames. */
#ifndef HARNESS_CHECK_CASES_H
#define HARNESS_CHECK_CASES_H

#include <stddef.h>

#include "info_methods.h"
#include "rng.h"

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
/* msgpack_unpack of data into a scratch zone: its msgpack_unpack_return */
int harness_check_unpack(const char *data, size_t len);

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
