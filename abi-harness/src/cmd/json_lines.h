/* The JSON lines `run` prints on stdout, one per reply or published frame:
 *   {"reply":"get","code":0,"payload":{...}}   (payload absent: no payload)
 *   {"frame":"RAW/sensor/tests/temp","payload":{"status":1,"value":25}}
 * A payload msgpack-c cannot decode is shown as "invalid_payload":"<hex>". */
#ifndef HARNESS_JSON_LINES_H
#define HARNESS_JSON_LINES_H

#include <stddef.h>

#include "rpc_pool.h"

void harness_json_lines_reply(const void *method, size_t method_len, const struct harness_reply *reply);
void harness_json_lines_frame(const char *topic, const char *payload, size_t payload_len);

#endif
