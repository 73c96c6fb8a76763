/* YAML (and so JSON, which is YAML flow text) -> a msgpack_object tree kept
 * in a msgpack_zone. Plain scalars are typed as the YAML core schema: null/~,
 * true/false, ints (decimal, 0x, 0o), floats (incl. .inf/.nan); anything
 * quoted is a string. Tags !!str !!int !!float !!bool !!null !!binary work.
 * The special maps {"$bin": hex} and {"$uuid": name} are kept as maps here:
 * payload_resolve turns them into bin when a value is packed. */
#ifndef HARNESS_PAYLOAD_YAML_H
#define HARNESS_PAYLOAD_YAML_H

#include <msgpack.h>
#include <stddef.h>

#include "strbuf.h"

/* parse one document; an empty one is nil. -1 with a message in err. */
int harness_payload_yaml_parse(const char *text, size_t len, msgpack_zone *zone, msgpack_object *out,
                               struct harness_strbuf *err);
int harness_payload_yaml_parse_file(const char *path, msgpack_zone *zone, msgpack_object *out,
                                    struct harness_strbuf *err);
/* read a whole file; NULL with a message in err */
char *harness_payload_yaml_read_file(const char *path, size_t *len, struct harness_strbuf *err);

#endif
