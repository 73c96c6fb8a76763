/* MessagePack -> JSON text, for the JSON lines on stdout and for messages.
 * nil->null, bool, ints, finite floats (NaN/inf as "NaN"/"inf"/"-inf"),
 * str JSON-escaped (invalid UTF-8 bytes as \u00XX), bin -> {"$bin":"hex"},
 * ext -> {"$ext":[type,"hex"]}, non-string map keys -> their JSON text. */
#ifndef HARNESS_PAYLOAD_JSON_H
#define HARNESS_PAYLOAD_JSON_H

#include <msgpack.h>
#include <stddef.h>

#include "strbuf.h"

void harness_payload_json_append(struct harness_strbuf *sb, const msgpack_object *obj);
/* a JSON string literal (with quotes) of arbitrary bytes */
void harness_payload_json_append_string(struct harness_strbuf *sb, const char *s, size_t len);
/* decode one MessagePack value from bytes and append it; -1 (nothing
 * appended) when the bytes are not exactly one value msgpack-c can decode */
int harness_payload_json_append_packed(struct harness_strbuf *sb, const char *data, size_t len);
/* JSON of packed bytes, or "<N bytes, not MessagePack: hex...>" for messages */
void harness_payload_json_describe(struct harness_strbuf *sb, const char *data, size_t len);

#endif
