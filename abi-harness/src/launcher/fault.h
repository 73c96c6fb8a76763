/* Fault injection into what the library sees from the node (--fault):
 *   publish=busy:P     PUBLISH answers BUSY with probability P
 *   subscribe=busy:P   SUBSCRIBE/UNSUBSCRIBE answer BUSY with probability P
 *   rpc=error:P[:CODE] the library's RPC calls fail with CODE (FUNC_FAILED)
 *   rpc=timeout:P      they block timeout.default seconds, then TIMEOUT
 *   registry=down      eva.registry is not on the bus
 * P is a probability in [0, 1] (default 1). The bus and the mock core ask
 * harness_fault_hit at their hook points. */
#ifndef HARNESS_FAULT_H
#define HARNESS_FAULT_H

#include <stdint.h>

#include "strbuf.h"

enum harness_fault_kind {
    HARNESS_FAULT_PUBLISH_BUSY,
    HARNESS_FAULT_SUBSCRIBE_BUSY,
    HARNESS_FAULT_RPC_ERROR,
    HARNESS_FAULT_RPC_TIMEOUT,
    HARNESS_FAULT_REGISTRY_DOWN,
    HARNESS_FAULT_COUNT
};

struct harness_faults {
    double probability[HARNESS_FAULT_COUNT];
    int rpc_error_code;
    uint64_t seed;
};

void harness_fault_init(struct harness_faults *faults, uint64_t seed);
/* one --fault spec; -1 with a message in err */
int harness_fault_parse(struct harness_faults *faults, const char *spec, struct harness_strbuf *err);
/* 1 when this occurrence should fail (thread-safe, per-thread sequence) */
int harness_fault_hit(const struct harness_faults *faults, enum harness_fault_kind kind);
int harness_fault_any(const struct harness_faults *faults);
/* "publish=busy:0.1 ..." for the startup log */
void harness_fault_describe(const struct harness_faults *faults, struct harness_strbuf *out);

#endif
