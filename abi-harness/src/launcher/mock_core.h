/* The node's core as a service sees it: eva.core (test, item.state) and
 * eva.registry (key_get, key_set, key_delete); any other target is not on
 * the bus (BUS_CLIENT_NOT_REGISTERED here; the op function turns it into a
 * wait of timeout.default and TIMEOUT, as a node does). The core starts
 * inactive and ignores RAW and ACT events until it is activated
 * (eva4 eva/src/eapi.rs, eva/src/core.rs mark_loaded). */
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
    int core_active; /* active from the start (else: harness_mock_core_activate) */
    unsigned workers;
    const struct harness_faults *faults;
};

struct harness_mock_core {
    struct harness_mock_core_config cfg;
    struct harness_item_store items;
    struct harness_registry registry;
    double started;
    atomic_ulong calls;
    atomic_int active;     /* eva.core test answers {"active": this}; RAW/ACT applied only then */
    atomic_ulong dropped;  /* RAW/ACT events ignored while inactive */
};

/* registry_path may be NULL; persist 0 only reads it. -1 with err set. */
int harness_mock_core_init(struct harness_mock_core *core, const struct harness_mock_core_config *cfg,
                           const char *registry_path, int persist, struct harness_strbuf *err);
void harness_mock_core_destroy(struct harness_mock_core *core);
/* the core marks itself active (all services started) */
void harness_mock_core_activate(struct harness_mock_core *core);
int harness_mock_core_is_active(struct harness_mock_core *core);
/* a frame the library published reaches the core: RAW/ACT ignored while
 * inactive (1 returned: dropped; a line on stderr per event, then a count),
 * item states applied otherwise */
int harness_mock_core_on_frame(struct harness_mock_core *core, const char *topic, const char *payload, size_t len);
/* params/params_len: the MessagePack params, params_len 0 = no payload.
 * Returns a negative error code, or 0 with *out (malloc'd, may be NULL and
 * *out_len 0 for no payload). */
int32_t harness_mock_core_call(struct harness_mock_core *core, const char *target, const char *method,
                               const char *params, size_t params_len, char **out, size_t *out_len);

#endif
