/* Reading a decoded MessagePack map (libmsgpack's msgpack_object) by key. */
#ifndef HARNESS_MSGPACK_MAP_H
#define HARNESS_MSGPACK_MAP_H

#include <msgpack.h>

/* the value of the string key `key` in `map`; NULL when map is NULL, not a
 * map, or has no such key */
const msgpack_object *harness_msgpack_map_get(const msgpack_object *map, const char *key);

#endif
