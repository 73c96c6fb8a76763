#include "fault.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "errcode.h"
#include "eva_ffi.h"
#include "rng.h"

static const struct {
    const char *target;
    const char *kind;
    enum harness_fault_kind id;
} harness_fault_names[] = {
    {"publish", "busy", HARNESS_FAULT_PUBLISH_BUSY},
    {"subscribe", "busy", HARNESS_FAULT_SUBSCRIBE_BUSY},
    {"rpc", "error", HARNESS_FAULT_RPC_ERROR},
    {"rpc", "timeout", HARNESS_FAULT_RPC_TIMEOUT},
    {"registry", "down", HARNESS_FAULT_REGISTRY_DOWN},
};

#define HARNESS_FAULT_NAMES (sizeof harness_fault_names / sizeof harness_fault_names[0])

static atomic_uint harness_fault_thread_counter;
static _Thread_local struct harness_rng harness_fault_rng;
static _Thread_local int harness_fault_rng_ready;

void harness_fault_init(struct harness_faults *faults, uint64_t seed)
{
    memset(faults, 0, sizeof *faults);
    faults->rpc_error_code = EVA_ERR_CODE_FUNC_FAILED;
    faults->seed = seed;
}

int harness_fault_parse(struct harness_faults *faults, const char *spec, struct harness_strbuf *err)
{
    const char *eq = strchr(spec, '=');
    if (!eq) {
        harness_strbuf_appendf(err, "--fault %s: expected TARGET=KIND[:P]", spec);
        return -1;
    }
    size_t tlen = (size_t)(eq - spec);
    const char *kind = eq + 1;
    const char *colon = strchr(kind, ':');
    size_t klen = colon ? (size_t)(colon - kind) : strlen(kind);
    for (size_t i = 0; i < HARNESS_FAULT_NAMES; i++) {
        if (strlen(harness_fault_names[i].target) != tlen || strncmp(spec, harness_fault_names[i].target, tlen) ||
            strlen(harness_fault_names[i].kind) != klen || strncmp(kind, harness_fault_names[i].kind, klen))
            continue;
        double p = 1.0;
        if (colon) {
            char *end;
            p = strtod(colon + 1, &end);
            if (end == colon + 1 || !(p >= 0 && p <= 1)) {
                harness_strbuf_appendf(err, "--fault %s: the probability must be a number in [0, 1]", spec);
                return -1;
            }
            if (*end == ':' && harness_fault_names[i].id == HARNESS_FAULT_RPC_ERROR) {
                if (harness_errcode_parse(end + 1, &faults->rpc_error_code) < 0 || faults->rpc_error_code >= 0) {
                    harness_strbuf_appendf(err, "--fault %s: unknown error code %s", spec, end + 1);
                    return -1;
                }
            } else if (*end) {
                harness_strbuf_appendf(err, "--fault %s: junk after the probability", spec);
                return -1;
            }
        }
        faults->probability[harness_fault_names[i].id] = p;
        return 0;
    }
    harness_strbuf_appendf(err,
                           "--fault %s: unknown fault (publish=busy, subscribe=busy, rpc=error, rpc=timeout, "
                           "registry=down)",
                           spec);
    return -1;
}

int harness_fault_hit(const struct harness_faults *faults, enum harness_fault_kind kind)
{
    if (!faults) return 0;
    double p = faults->probability[kind];
    if (p <= 0) return 0;
    if (p >= 1) return 1;
    if (!harness_fault_rng_ready) {
        /* each thread its own stream, derived from the run's seed */
        unsigned idx = atomic_fetch_add(&harness_fault_thread_counter, 1);
        harness_rng_seed(&harness_fault_rng, faults->seed ^ (0x5bd1e995ULL * (idx + 1)));
        harness_fault_rng_ready = 1;
    }
    return harness_rng_unit(&harness_fault_rng) < p;
}

int harness_fault_any(const struct harness_faults *faults)
{
    for (int i = 0; i < HARNESS_FAULT_COUNT; i++) {
        if (faults->probability[i] > 0) return 1;
    }
    return 0;
}

void harness_fault_describe(const struct harness_faults *faults, struct harness_strbuf *out)
{
    for (size_t i = 0; i < HARNESS_FAULT_NAMES; i++) {
        double p = faults->probability[harness_fault_names[i].id];
        if (p <= 0) continue;
        if (out->len) harness_strbuf_append_char(out, ' ');
        harness_strbuf_appendf(out, "%s=%s:%g", harness_fault_names[i].target, harness_fault_names[i].kind, p);
    }
}
