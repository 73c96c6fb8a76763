/* How an expected value (a template, see payload_resolve.h) is compared with
 * what the library produced: maps as a subset at every depth (listed keys
 * must be present and match), arrays by length and element, numbers by
 * value (25 matches 25.0; a float32 reply is compared at float precision),
 * {"$bin"}/{"$uuid"} against bin bytes, everything else exactly. */
#ifndef HARNESS_PAYLOAD_MATCH_H
#define HARNESS_PAYLOAD_MATCH_H

#include <msgpack.h>

#include "payload_resolve.h"
#include "strbuf.h"

/* 1 on match; 0 with "at .path: expected X, seen Y" in why (may be NULL) */
int harness_payload_match(const msgpack_object *expected, const struct harness_subst *subst,
                          const msgpack_object *actual, struct harness_strbuf *why);
/* the same against packed bytes (which may not be MessagePack at all) */
int harness_payload_match_packed(const msgpack_object *expected, const struct harness_subst *subst,
                                 const char *data, size_t len, struct harness_strbuf *why);

#endif
