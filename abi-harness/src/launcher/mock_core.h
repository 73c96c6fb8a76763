/* The node side of the library's outgoing RPC calls: eva.core (test,
 * item.state) and eva.registry (key_get, key_set, key_delete). Any other
 * target is not on the bus: BUS_CLIENT_NOT_REGISTERED. */
#ifndef HARNESS_MOCK_CORE_H
#define HARNESS_MOCK_CORE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "fault.h"
#include "item_store.h"
#include "registry.h"
#include "strbuf.h"

#define HARNESS_CORE_TARGET "eva.core"
#define HARNESS_REGISTRY_TARGET "eva.registry"

struct harness_mock_core_config {
    const char *system_name;
    const char *svc_id;
    const char *core_version;
    uint64_t core_build;
    unsigned eapi_version;
    int core_active; /* eva.core test answers {"active": this} */
    unsigned workers;
    const struct harness_faults *faults;
};

struct harness_mock_core {
    struct harness_mock_core_config cfg;
    struct harness_item_store items;
    struct harness_registry registry;
    double started;
    atomic_ulong calls;
};

/* registry_path may be NULL; persist 0 only reads it. -1 with err set. */
int harness_mock_core_init(struct harness_mock_core *core, const struct harness_mock_core_config *cfg,
                           const char *registry_path, int persist, struct harness_strbuf *err);
void harness_mock_core_destroy(struct harness_mock_core *core);
/* params/params_len: the MessagePack params, params_len 0 = no payload.
 * Returns a negative error code, or 0 with *out (malloc'd, may be NULL and
 * *out_len 0 for no payload). */
int32_t harness_mock_core_call(struct harness_mock_core *core, const char *target, const char *method,
                               const char *params, size_t params_len, char **out, size_t *out_len);

#endif
